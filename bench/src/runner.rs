//! Runs the nanobenchmark guest on an engine and turns its figures into host nanoseconds per operation.
//!
//! How ticks become nanoseconds, per engine:
//! - **kvm**: the guest's RDTSC is the host's TSC (KVM adds only an offset), so ns = ticks / TSC kHz (KVM_GET_TSC_KHZ).
//! - **interp** and **bt**: the guest's RDTSC reads the board's clock (host time, or retired instructions with
//!   [`GuestTime::Instructions`]), which these engines sample only when asked. The guest writes a marker to port
//!   0x80 before and after each loop; the board logs the host time of each write, and ns = (end - start) /
//!   iterations. The two writes add one port access each to a loop of thousands of iterations.
//! - **qemu** (QEMU's TCG, [`crate::qemu`]): the guest's RDTSC is the host's TSC plus an offset, so ns = ticks /
//!   the host's TSC rate, which the bench measures against the monotonic clock ([`crate::host_tsc`]).
//!
//! Each operation runs in a fresh machine of its own, so an operation an engine refuses costs only its own row.

use crate::guest::{self, Guest};
use std::fmt;
use std::time::Duration;
use vx86_machine::board::MarkerLog;
use vx86_machine::capture::SerialCapture;
use vx86_machine::{EngineKind, Outcome, Vm, VmConfig};

/// One operation's figures on one engine.
#[derive(Clone, Debug, PartialEq)]
pub struct OpResult {
    /// Operation name (see [`Guest::ops`]).
    pub name: &'static str,
    /// Loop iterations.
    pub iterations: u64,
    /// Guest TSC ticks for the whole loop, as the guest measured them.
    pub ticks: u64,
    /// Host nanoseconds the loop took: between the two markers around it (vx86's engines), or its ticks at the
    /// host's TSC rate (qemu).
    pub wall_ns: u64,
    /// Host nanoseconds per operation (see the module documentation for the method).
    pub ns_per_op: f64,
}

impl OpResult {
    /// The figures of operation `name` whose loop of `iterations` took `ticks` on the guest's TSC, `wall_ns` of host
    /// time as [`OpResult::wall_ns`] says, and `ns` by the engine's method (see the module documentation).
    pub fn new(name: &'static str, iterations: u64, ticks: u64, wall_ns: u64, ns: f64) -> OpResult {
        OpResult {
            name,
            iterations,
            ticks,
            wall_ns,
            ns_per_op: ns / iterations.max(1) as f64,
        }
    }
}

/// An operation an engine could not run, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpFailure {
    /// Operation name.
    pub name: &'static str,
    /// How the run ended, or the engine's reason.
    pub why: String,
}

/// What one guest run produced.
pub struct GuestRun {
    /// How the run ended.
    pub outcome: Outcome,
    /// Everything the guest printed.
    pub serial: String,
    /// (marker value, host time since the first marker).
    pub markers: Vec<(u32, Duration)>,
    /// The guest's TSC rate in kHz, where the engine knows it (kvm).
    pub tsc_khz: Option<u32>,
    /// The machine after the run (registers, memory, counters).
    pub vm: Vm,
}

/// How guest time passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestTime {
    /// With host time (what the benchmark uses).
    Host,
    /// One nanosecond per retired instruction, so runs replay exactly and the interpreter's TSC counts instructions
    /// (the interpreter only: KVM cannot count instructions).
    Instructions,
}

/// The board the guests run on: 32 MiB of RAM, COM1 into `serial`, no disk; a reset ends the run.
pub fn config(serial: Option<SerialCapture>, time: GuestTime) -> VmConfig {
    VmConfig {
        serial_out: serial.map(|s| Box::new(s) as _),
        no_reboot: true,
        deterministic: time == GuestTime::Instructions,
        ..VmConfig::new(32 << 20, vx86_firmware::bios::image())
    }
}

/// A machine with the nanobenchmark `guest` loaded for `op_mask` (bit k: operation k), `iterations` each, and its
/// markers logged.
pub fn machine(
    engine: EngineKind,
    time: GuestTime,
    guest: Guest,
    op_mask: u32,
    iterations: u32,
) -> Result<(Vm, SerialCapture), String> {
    let serial = SerialCapture::new();
    let mut vm =
        Vm::with_engine(config(Some(serial.clone()), time), engine).map_err(|e| e.to_string())?;
    for (addr, bytes) in guest.memory_image(op_mask, iterations) {
        vm.write_phys(u64::from(addr), &bytes);
    }
    vm.cpu.state = guest.start_state();
    vm.board.marker = Some(MarkerLog {
        port: guest::MARKER_PORT,
        writes: Vec::new(),
    });
    Ok((vm, serial))
}

/// Runs `guest` for `op_mask` on `engine` with host time.
pub fn run_guest(
    engine: EngineKind,
    guest: Guest,
    op_mask: u32,
    iterations: u32,
) -> Result<GuestRun, String> {
    run_guest_with(engine, GuestTime::Host, guest, op_mask, iterations)
}

/// Runs `guest` for `op_mask` on `engine` with `time`.
pub fn run_guest_with(
    engine: EngineKind,
    time: GuestTime,
    guest: Guest,
    op_mask: u32,
    iterations: u32,
) -> Result<GuestRun, String> {
    let (mut vm, serial) = machine(engine, time, guest, op_mask, iterations)?;
    let (outcome, _) = vm.run();
    let log = vm.board.marker.take().map(|l| l.writes).unwrap_or_default();
    let first = log.first().map(|w| w.1);
    let markers = log
        .iter()
        .map(|&(v, t)| (v, first.map_or(Duration::ZERO, |f| t - f)))
        .collect();
    Ok(GuestRun {
        outcome,
        serial: serial.text(),
        markers,
        tsc_khz: vm.engine().kvm().and_then(|k| k.tsc_khz()),
        vm,
    })
}

/// Runs every operation of `guest` on `engine`, each in its own machine.
pub fn run_all(
    engine: EngineKind,
    guest: Guest,
    iterations: u32,
    only: &[String],
) -> (Vec<OpResult>, Vec<OpFailure>) {
    run_each(guest, only, |k| run_op(engine, guest, k, iterations))
}

/// Runs the operations of `guest` named in `only` (every one when it is empty) with `run_op(k)` for operation k,
/// sorting out results and failures.
pub fn run_each(
    guest: Guest,
    only: &[String],
    mut run_op: impl FnMut(usize) -> Result<OpResult, String>,
) -> (Vec<OpResult>, Vec<OpFailure>) {
    let mut results = Vec::new();
    let mut failures = Vec::new();
    let chosen = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    for (k, op) in guest
        .ops()
        .iter()
        .enumerate()
        .filter(|(_, op)| chosen(op.name))
    {
        match run_op(k) {
            Ok(r) => results.push(r),
            Err(why) => failures.push(OpFailure { name: op.name, why }),
        }
    }
    (results, failures)
}

/// Runs operation `k` of `guest` alone on `engine`.
pub fn run_op(
    engine: EngineKind,
    guest: Guest,
    k: usize,
    iterations: u32,
) -> Result<OpResult, String> {
    let run = run_guest(engine, guest, 1 << k, iterations)?;
    if run.outcome != Outcome::PowerOff {
        return Err(match &run.outcome {
            Outcome::EngineFailed(why) => why.clone(),
            other => ended(format!("the guest ended with {other:?}"), &run.serial),
        });
    }
    let (iters, ticks) = reported(guest, k, &run.serial)?;
    let at = |v: u32| run.markers.iter().find(|m| m.0 == v).map(|m| m.1);
    let wall = match (at(2 * k as u32), at(2 * k as u32 + 1)) {
        (Some(a), Some(b)) => b - a,
        _ => return Err("markers missing".into()),
    };
    let wall_ns = wall.as_nanos() as u64;
    let ns = match (engine, run.tsc_khz) {
        (EngineKind::Kvm, Some(khz)) => tsc_ns(ticks, khz),
        _ => wall_ns as f64,
    };
    Ok(OpResult::new(
        guest.ops()[k].name,
        iters,
        ticks,
        wall_ns,
        ns,
    ))
}

/// Why a run that did not power off failed: `how` it ended, and the unexpected exception the guest reported, if
/// it did.
pub fn ended(how: impl fmt::Display, serial: &str) -> String {
    match guest::unexpected_exception(serial) {
        Some(v) => format!(
            "{how} after an unexpected {} (vector {v})",
            guest::exception_name(v)
        ),
        None => how.to_string(),
    }
}

/// The (iterations, ticks) of the result line that operation `k` of `guest`, run alone, printed on `serial`.
pub fn reported(guest: Guest, k: usize, serial: &str) -> Result<(u64, u64), String> {
    let (name, iters, ticks) = guest::parse_results(serial)
        .into_iter()
        .next()
        .ok_or_else(|| format!("no result line in: {serial}"))?;
    let op = guest.ops()[k];
    if name != op.name {
        return Err(format!("expected {}, the guest reported {name}", op.name));
    }
    Ok((iters, ticks))
}

/// Host nanoseconds of `ticks` of a guest TSC that runs at `tsc_khz` of host time (kvm, qemu).
pub fn tsc_ns(ticks: u64, tsc_khz: u32) -> f64 {
    ticks as f64 * 1e6 / f64::from(tsc_khz.max(1))
}
