//! `boot`: times the Debian guest (`guests/debian-linux.sh`) from power-on to the `/init` marker and to power-off,
//! on vx86's software engines and on QEMU's TCG where `qemu-system-x86_64` is installed, one after the other in the
//! same run, with the same kernel, initramfs, memory and command line. For vx86's engines it also splits the run
//! into boot phases (decompressor, kernel init, user: [`vx86_cpu::phase`]) with their time and instructions, and
//! it ends with each engine's times as a ratio to QEMU's.
//!
//! Usage: `cargo run --release -p vx86-bench --bin boot -- [--engines interp,bt,qemu] [--cache DIR]`

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vx86_bench::qemu;
use vx86_cpu::phase::PhaseSpan;
use vx86_machine::loader::KernelRequest;
use vx86_machine::{boot, EngineKind, Vm, VmConfig};

/// The line `/init` prints first.
const MARKER: &str = "VX86-INIT-START";
/// The kernel command line every run gets.
const CMDLINE: &str = "console=ttyS0 panic=-1";
/// Guest RAM.
const RAM_MIB: u64 = 256;

/// When a run reached its milestones.
#[derive(Debug, Default)]
struct Times {
    init: Option<Duration>,
    end: Option<Duration>,
    instructions: Option<u64>,
    /// Per boot phase (vx86 only).
    phases: Vec<PhaseSpan>,
}

/// Serial output that notes when the marker first appears.
#[derive(Clone)]
struct MarkerWatch {
    start: Instant,
    seen: Arc<Mutex<(String, Option<Duration>)>>,
}

impl Write for MarkerWatch {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut seen) = self.seen.lock() {
            if seen.1.is_none() {
                seen.0.push_str(&String::from_utf8_lossy(bytes));
                if seen.0.contains(MARKER) {
                    seen.1 = Some(self.start.elapsed());
                }
                let keep = seen.0.len().saturating_sub(MARKER.len());
                seen.0.drain(..keep);
            }
        }
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn run_vx86(engine: EngineKind, kernel: &[u8], initrd: &[u8]) -> Result<Times, String> {
    let start = Instant::now();
    let watch = MarkerWatch {
        start,
        seen: Arc::default(),
    };
    let config = VmConfig {
        serial_out: Some(Box::new(watch.clone())),
        no_reboot: true,
        ..VmConfig::new(RAM_MIB << 20, vx86_firmware::bios::image())
    };
    let mut vm = Vm::with_engine(config, engine).map_err(|e| e.to_string())?;
    let request = KernelRequest {
        kernel,
        initrd: Some(initrd),
        cmdline: CMDLINE,
        ..KernelRequest::default()
    };
    boot::prepare(&mut vm, &request).map_err(|e| e.to_string())?;
    let (outcome, stats) = vm.run();
    let end = start.elapsed();
    let phases = vm.cpu.phases.spans(vm.cpu.instructions, Instant::now());
    let init = watch.seen.lock().ok().and_then(|s| s.1);
    eprintln!("boot: {engine}: {outcome:?}");
    Ok(Times {
        init,
        end: Some(end),
        instructions: Some(stats.instructions),
        phases,
    })
}

fn run_qemu(kernel: &PathBuf, initrd: &PathBuf) -> Result<Times, String> {
    let start = Instant::now();
    let mut child = qemu::tcg_command()
        .args(["-m", &format!("{RAM_MIB}M"), "-kernel"])
        .arg(kernel)
        .arg("-initrd")
        .arg(initrd)
        .args(["-append", CMDLINE])
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", qemu::BINARY))?;
    let mut times = Times::default();
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if times.init.is_none() && line.contains(MARKER) {
                times.init = Some(start.elapsed());
            }
        }
    }
    child.wait().map_err(|e| e.to_string())?;
    times.end = Some(start.elapsed());
    Ok(times)
}

fn main() {
    let mut engines = vec!["interp".to_string(), "bt".to_string(), "qemu".to_string()];
    let mut cache = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../guests/cache");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--engines", Some(list)) => engines = list.split(',').map(str::to_string).collect(),
            ("--cache", Some(dir)) => cache = PathBuf::from(dir),
            _ => {
                eprintln!("usage: boot [--engines interp,bt,qemu] [--cache DIR]");
                std::process::exit(2);
            }
        }
    }
    let (kernel_path, initrd_path) = (cache.join("vmlinuz"), cache.join("initramfs.cpio.gz"));
    let (Ok(kernel), Ok(initrd)) = (std::fs::read(&kernel_path), std::fs::read(&initrd_path))
    else {
        eprintln!(
            "boot: no guest in {} (run guests/debian-linux.sh)",
            cache.display()
        );
        std::process::exit(1);
    };
    println!("Debian guest, {RAM_MIB} MiB, \"{CMDLINE}\": seconds from power-on");
    println!(
        "{:<8} {:>10} {:>12} {:>16}",
        "engine", "to /init", "to power-off", "guest instrs"
    );
    let secs = |d: Option<Duration>| d.map_or("-".into(), |d| format!("{:.2}", d.as_secs_f64()));
    let mut done = Vec::new();
    for engine in engines {
        let times = match engine.as_str() {
            "interp" => run_vx86(EngineKind::Interp, &kernel, &initrd),
            "bt" => run_vx86(EngineKind::Bt, &kernel, &initrd),
            "qemu" => run_qemu(&kernel_path, &initrd_path),
            other => Err(format!("unknown engine '{other}'")),
        };
        match times {
            Ok(t) => {
                println!(
                    "{engine:<8} {:>10} {:>12} {:>16}",
                    secs(t.init),
                    secs(t.end),
                    t.instructions.map_or("n/a".into(), |n| n.to_string())
                );
                for span in &t.phases {
                    let secs = span.time.as_secs_f64();
                    println!(
                        "  {:<14} {secs:>8.2} s {:>14} instrs {:>8.0} MIPS",
                        span.phase.name(),
                        span.instructions,
                        span.instructions as f64 / secs.max(1e-9) / 1e6
                    );
                }
                done.push((engine, t));
            }
            Err(why) => println!("{engine:<8} skipped: {why}"),
        }
    }
    print!("{}", ratios_to_qemu(&done));
}

/// Each vx86 engine's times as a fraction of QEMU's (below 1: faster than QEMU), when QEMU ran.
fn ratios_to_qemu(done: &[(String, Times)]) -> String {
    let Some((_, qemu)) = done.iter().find(|(e, _)| e == "qemu") else {
        return String::new();
    };
    let ratio = |ours: Option<Duration>, theirs: Option<Duration>| match (ours, theirs) {
        (Some(a), Some(b)) if !b.is_zero() => format!("{:.2}", a.as_secs_f64() / b.as_secs_f64()),
        _ => "-".to_string(),
    };
    let mut out = String::from("time as a fraction of QEMU's (below 1 is faster):\n");
    for (engine, t) in done.iter().filter(|(e, _)| e != "qemu") {
        out.push_str(&format!(
            "{engine:<8} {:>10} {:>12}\n",
            ratio(t.init, qemu.init),
            ratio(t.end, qemu.end)
        ));
    }
    out
}
