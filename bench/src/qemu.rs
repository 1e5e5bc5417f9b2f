//! QEMU's TCG as one more column of the engine comparison: the nanobenchmark guest booted by
//! `qemu-system-x86_64 -accel tcg` from its multiboot image ([`Guest::multiboot_image`]), its result lines read
//! from COM1 on QEMU's stdout.
//!
//! QEMU's PC is close enough to vx86's board for the guest: COM1 at 0x3F8, port 0x61, the POST port 0x80, and the
//! ACPI PM1a control register at 0x604 (SeaBIOS puts the PIIX4's PM block at 0x600, and SLP_EN with SLP_TYP 0 powers
//! off), plus the isa-debug-exit device at 0xF4 added on the command line, so an unexpected exception ends QEMU at
//! once, as it ends vx86. QEMU's default CPU model has all the guests use (long mode, NX, SYSCALL, SYSENTER).
//!
//! Each operation runs alone in a QEMU of its own, as on vx86's engines: an operation that fails costs only its
//! row, and each loop starts from translation caches as cold as vx86's. A boot takes about a quarter of a second.
//! QEMU is killed if it has not finished within [`timeout`], so a hung guest cannot hang the bench, and
//! [`GRACE`] after the guest's done line if the guest's power-off did not end it.

use crate::guest::{Guest, DONE_LINE};
use crate::runner::{self, OpFailure, OpResult};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// The QEMU binary, looked up on `PATH`.
pub const BINARY: &str = "qemu-system-x86_64";
/// How long QEMU may take to exit after the guest's done line before it is killed.
pub const GRACE: Duration = Duration::from_secs(2);
/// The guest RAM, as on vx86's board ([`runner::config`]).
const RAM: &str = "32M";

/// An installed QEMU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Qemu {
    /// Its version, as `--version` prints it (`7.2.22`).
    pub version: String,
}

impl Qemu {
    /// The QEMU on `PATH`, or why there is none usable.
    pub fn probe() -> Result<Qemu, String> {
        let out = Command::new(BINARY)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => format!("{BINARY} is not installed (not on PATH)"),
                _ => format!("{BINARY} --version: {e}"),
            })?;
        let text = String::from_utf8_lossy(&out.stdout);
        let first = text.lines().next().unwrap_or("");
        match first
            .split_whitespace()
            .skip_while(|w| *w != "version")
            .nth(1)
        {
            Some(version) if out.status.success() => Ok(Qemu {
                version: version.to_string(),
            }),
            _ => Err(format!(
                "{BINARY} --version printed no version ({}): {first}",
                out.status
            )),
        }
    }

    /// The column's label: `QEMU 7.2.22 TCG`.
    pub fn label(&self) -> String {
        format!("QEMU {} TCG", self.version)
    }
}

/// QEMU with the TCG, no display, no monitor, no reboot, and COM1 on its stdout (piped); stdin closed.
pub fn tcg_command() -> Command {
    let mut qemu = Command::new(BINARY);
    qemu.args(["-accel", "tcg", "-display", "none", "-serial", "stdio"])
        .args(["-monitor", "none", "-no-reboot"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    qemu
}

/// How long one run may take: 30 s to start QEMU, plus 100 µs per iteration (30 times the slowest operation under
/// TCG, a CR3 write at about 3 µs).
pub fn timeout(iterations: u32) -> Duration {
    Duration::from_secs(30) + Duration::from_micros(100) * iterations
}

/// Runs every operation of `guest` under QEMU, each in a QEMU of its own; `tsc_khz` is the host's TSC rate
/// ([`crate::host_tsc::khz`]).
pub fn run_all(
    guest: Guest,
    iterations: u32,
    tsc_khz: u32,
    only: &[String],
) -> (Vec<OpResult>, Vec<OpFailure>) {
    runner::run_each(guest, only, |k| run_op(guest, k, iterations, tsc_khz))
}

/// Runs operation `k` of `guest` alone under QEMU.
pub fn run_op(guest: Guest, k: usize, iterations: u32, tsc_khz: u32) -> Result<OpResult, String> {
    let image = std::env::temp_dir().join(format!(
        "vx86-bench-{}-{}-{k}.multiboot",
        std::process::id(),
        guest.bits()
    ));
    std::fs::write(&image, guest.multiboot_image(1 << k, iterations))
        .map_err(|e| format!("{}: {e}", image.display()))?;
    let run = boot(&image, timeout(iterations));
    // Best effort: a leftover file in the temporary directory is harmless.
    let _ = std::fs::remove_file(&image);
    let run = run?;
    if !run.done {
        let status = run.status.map_or("killed".to_string(), |s| s.to_string());
        let stderr = run
            .stderr
            .lines()
            .next()
            .map_or(String::new(), |l| format!(": {l}"));
        return Err(runner::ended(
            format!("QEMU ended ({status}){stderr}"),
            &run.serial,
        ));
    }
    let (iters, ticks) = runner::reported(guest, k, &run.serial)?;
    let ns = runner::tsc_ns(ticks, tsc_khz);
    Ok(OpResult::new(
        guest.ops()[k].name,
        iters,
        ticks,
        ns as u64,
        ns,
    ))
}

/// What one QEMU run produced.
struct Run {
    /// The guest printed its done line.
    done: bool,
    /// How QEMU exited, or `None` if it had to be killed after the done line.
    status: Option<ExitStatus>,
    /// COM1 up to the done line.
    serial: String,
    /// QEMU's own messages.
    stderr: String,
}

/// Boots the multiboot `image` in QEMU and reads COM1 until the done line or QEMU's exit, killing QEMU at
/// `timeout`.
fn boot(image: &Path, timeout: Duration) -> Result<Run, String> {
    let mut child = tcg_command()
        .args([
            "-m",
            RAM,
            "-device",
            "isa-debug-exit,iobase=0xf4,iosize=0x04",
        ])
        .arg("-kernel")
        .arg(image)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{BINARY}: {e}"))?;
    let (Some(stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        stop(&mut child);
        return Err("QEMU's stdout and stderr are not piped".into());
    };
    let (lines, serial_lines) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let messages = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + timeout;
    let mut serial = String::new();
    let mut done = false;
    while !done {
        match serial_lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                done = line.trim_end() == DONE_LINE;
                serial.push_str(&line);
                serial.push('\n');
            }
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                stop(&mut child);
                return Err(format!(
                    "QEMU did not finish within {} s; COM1 had: {serial}",
                    timeout.as_secs()
                ));
            }
        }
    }
    let status = exit_within(&mut child, GRACE);
    Ok(Run {
        done,
        status,
        serial,
        stderr: messages.join().unwrap_or_default(),
    })
}

/// QEMU's exit status if it exits within `grace`; else it is killed and `None`.
fn exit_within(child: &mut Child, grace: Duration) -> Option<ExitStatus> {
    let until = Instant::now() + grace;
    while Instant::now() < until {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) => thread::sleep(Duration::from_millis(10)),
            Err(_) => break,
        }
    }
    stop(child);
    None
}

/// Kills QEMU and reaps it.
fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}
