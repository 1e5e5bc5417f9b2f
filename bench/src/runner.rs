//! Runs the nanobenchmark guest on an engine and turns its figures into host nanoseconds per operation.
//!
//! How ticks become nanoseconds, per engine:
//! - **kvm**: the guest's RDTSC is the host's TSC (KVM adds only an offset), so ns = ticks / TSC kHz (KVM_GET_TSC_KHZ).
//! - **interp**: the guest's RDTSC counts retired instructions, not time, and a trap costs the host far more than an
//!   ADD, so ticks say nothing about host time. The guest writes a marker to port 0x80 before and after each loop;
//!   the board logs the host time of each write, and ns = (end - start) / iterations. The two writes add one port
//!   access each to a loop of thousands of iterations.
//!
//! Each operation runs in a fresh machine of its own, so an operation an engine refuses costs only its own row.

use crate::guest::{self, OPS};
use std::time::Duration;
use vx86_machine::board::MarkerLog;
use vx86_machine::capture::SerialCapture;
use vx86_machine::{EngineKind, Outcome, Vm, VmConfig};

/// One operation's figures on one engine.
#[derive(Clone, Debug, PartialEq)]
pub struct OpResult {
    /// Operation name (see [`guest::OPS`]).
    pub name: &'static str,
    /// Loop iterations.
    pub iterations: u64,
    /// Guest TSC ticks for the whole loop, as the guest measured them.
    pub ticks: u64,
    /// Host nanoseconds between the two markers around the loop.
    pub wall_ns: u64,
    /// Host nanoseconds per operation (see the module documentation for the method).
    pub ns_per_op: f64,
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

/// A machine with the nanobenchmark guest loaded for `op_mask` (bit k: operation k), `iterations` each.
pub fn machine(
    engine: EngineKind,
    op_mask: u32,
    iterations: u32,
) -> Result<(Vm, SerialCapture), String> {
    let serial = SerialCapture::new();
    let config = VmConfig {
        ram_bytes: 32 << 20,
        bios: vx86_firmware::bios::image(),
        disk: None,
        serial_out: Some(Box::new(serial.clone())),
        serial_in: None,
        no_reboot: true,
        deterministic: false,
        trace: Default::default(),
        trace_post: false,
        instruction_limit: None,
    };
    let mut vm = Vm::with_engine(config, engine).map_err(|e| e.to_string())?;
    for (addr, bytes) in guest::memory_image(op_mask, iterations) {
        vm.write_phys(u64::from(addr), &bytes);
    }
    vm.cpu.state = guest::start_state();
    vm.board.marker = Some(MarkerLog {
        port: guest::MARKER_PORT,
        writes: Vec::new(),
    });
    Ok((vm, serial))
}

/// Runs the guest for `op_mask` on `engine`.
pub fn run_guest(engine: EngineKind, op_mask: u32, iterations: u32) -> Result<GuestRun, String> {
    let (mut vm, serial) = machine(engine, op_mask, iterations)?;
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
        tsc_khz: vm.kvm().and_then(|k| k.tsc_khz()),
        vm,
    })
}

/// Runs every operation on `engine`, each in its own machine.
pub fn run_all(engine: EngineKind, iterations: u32) -> (Vec<OpResult>, Vec<OpFailure>) {
    let mut results = Vec::new();
    let mut failures = Vec::new();
    for (k, op) in OPS.iter().enumerate() {
        match run_op(engine, k, iterations) {
            Ok(r) => results.push(r),
            Err(why) => failures.push(OpFailure { name: op.name, why }),
        }
    }
    (results, failures)
}

/// Runs operation `k` alone on `engine`.
pub fn run_op(engine: EngineKind, k: usize, iterations: u32) -> Result<OpResult, String> {
    let run = run_guest(engine, 1 << k, iterations)?;
    if run.outcome != Outcome::PowerOff {
        return Err(match &run.outcome {
            Outcome::EngineFailed(why) => why.clone(),
            other => format!("the guest ended with {other:?}"),
        });
    }
    let (name, iters, ticks) = guest::parse_results(&run.serial)
        .into_iter()
        .next()
        .ok_or_else(|| format!("no result line in: {}", run.serial))?;
    let op = OPS[k];
    if name != op.name {
        return Err(format!("expected {}, the guest reported {name}", op.name));
    }
    let at = |v: u32| run.markers.iter().find(|m| m.0 == v).map(|m| m.1);
    let wall = match (at(2 * k as u32), at(2 * k as u32 + 1)) {
        (Some(a), Some(b)) => b - a,
        _ => return Err("markers missing".into()),
    };
    let wall_ns = wall.as_nanos() as u64;
    let iters_f = iters.max(1) as f64;
    let ns_per_op = match (engine, run.tsc_khz) {
        (EngineKind::Kvm, Some(khz)) => ticks as f64 * 1e6 / f64::from(khz) / iters_f,
        _ => wall_ns as f64 / iters_f,
    };
    Ok(OpResult {
        name: op.name,
        iterations: iters,
        ticks,
        wall_ns,
        ns_per_op,
    })
}
