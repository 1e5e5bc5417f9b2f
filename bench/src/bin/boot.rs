//! `boot`: times the Debian guest (`guests/debian-linux.sh`) from power-on to the `/init` marker and to power-off,
//! on vx86's software engines and on QEMU's TCG where `qemu-system-x86_64` is installed, one after the other in the
//! same run, with the same kernel, initramfs, memory and command line. For vx86's engines it also splits the run
//! into boot phases (decompressor, kernel init, user: [`vx86_cpu::phase`]) with their time and instructions, and
//! it ends with each engine's times as a ratio to QEMU's.
//!
//! With `--runs N` it does that N times, each round running every engine once (so a host that slows down for a
//! while slows them alike), and ends with the ratio of each round and their median.
//!
//! Usage: `cargo run --release -p vx86-bench --bin boot -- [--engines interp,bt,qemu] [--runs N] [--cache DIR]`

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
    let mut runs = 1usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--engines", Some(list)) => engines = list.split(',').map(str::to_string).collect(),
            ("--cache", Some(dir)) => cache = PathBuf::from(dir),
            ("--runs", Some(n)) if n.parse::<usize>().is_ok_and(|n| n > 0) => {
                runs = n.parse().unwrap_or(1)
            }
            _ => {
                eprintln!("usage: boot [--engines interp,bt,qemu] [--runs N] [--cache DIR]");
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
    // Each round runs every engine once, so a host that slows down for a while slows every engine alike.
    let mut done: Vec<(String, Vec<Option<Times>>)> =
        engines.iter().map(|e| (e.clone(), Vec::new())).collect();
    for _ in 0..runs {
        for (engine, times) in &mut done {
            let run = match engine.as_str() {
                "interp" => run_vx86(EngineKind::Interp, &kernel, &initrd),
                "bt" => run_vx86(EngineKind::Bt, &kernel, &initrd),
                "qemu" => run_qemu(&kernel_path, &initrd_path),
                other => Err(format!("unknown engine '{other}'")),
            };
            match run {
                Ok(t) => {
                    print_run(engine, &t);
                    times.push(Some(t));
                }
                Err(why) => {
                    println!("{engine:<8} skipped: {why}");
                    times.push(None);
                }
            }
        }
    }
    done.retain(|(_, times)| times.iter().any(Option::is_some));
    print!("{}", ratios_to_qemu(&done));
}

/// One run's line: its times and instructions, then its boot phases (vx86 only).
fn print_run(engine: &str, t: &Times) {
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
}

/// Seconds with two decimals, or `-` for a milestone not reached.
fn secs(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{:.2}", d.as_secs_f64()))
}

/// The median of `values` (the mean of the middle two for an even count); `None` when empty.
fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// Each vx86 engine's times as a fraction of QEMU's (below 1: faster than QEMU), when QEMU ran: per round (the
/// engine's run over QEMU's run of the same round), then, with several rounds, the median of those ratios.
fn ratios_to_qemu(done: &[(String, Vec<Option<Times>>)]) -> String {
    let Some((_, qemu)) = done.iter().find(|(e, _)| e == "qemu") else {
        return String::new();
    };
    let ratio = |ours: Option<Duration>, theirs: Option<Duration>| match (ours, theirs) {
        (Some(a), Some(b)) if !b.is_zero() => Some(a.as_secs_f64() / b.as_secs_f64()),
        _ => None,
    };
    let show = |r: Option<f64>| r.map_or("-".to_string(), |r| format!("{r:.2}"));
    let mut out = String::from("time as a fraction of QEMU's (below 1 is faster):\n");
    for (engine, runs) in done.iter().filter(|(e, _)| e != "qemu") {
        // Rounds where both ran.
        let pairs: Vec<_> = (runs.iter().zip(qemu).enumerate())
            .filter_map(|(round, (t, q))| Some((round + 1, t.as_ref()?, q.as_ref()?)))
            .collect();
        let init: Vec<_> = pairs
            .iter()
            .map(|(_, t, q)| ratio(t.init, q.init))
            .collect();
        let end: Vec<_> = pairs.iter().map(|(_, t, q)| ratio(t.end, q.end)).collect();
        for ((round, _, _), (i, e)) in pairs.iter().zip(init.iter().zip(&end)) {
            let label = if runs.len() > 1 {
                format!("{engine} #{round}")
            } else {
                engine.clone()
            };
            out.push_str(&format!("{label:<10} {:>8} {:>12}\n", show(*i), show(*e)));
        }
        if runs.len() > 1 {
            let median_of = |v: &[Option<f64>]| median(v.iter().flatten().copied().collect());
            out.push_str(&format!(
                "{:<10} {:>8} {:>12}\n",
                format!("{engine} median"),
                show(median_of(&init)),
                show(median_of(&end))
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times(init: f64, end: f64) -> Option<Times> {
        Some(Times {
            init: Some(Duration::from_secs_f64(init)),
            end: Some(Duration::from_secs_f64(end)),
            ..Times::default()
        })
    }

    #[test]
    fn the_median_is_the_middle_value_or_the_mean_of_the_middle_two() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }

    #[test]
    fn ratios_pair_each_round_with_qemus_run_of_the_same_round() {
        let done = vec![
            (
                "bt".to_string(),
                vec![times(1.0, 2.0), None, times(3.0, 3.0)],
            ),
            (
                "qemu".to_string(),
                vec![times(2.0, 4.0), times(9.0, 9.0), times(4.0, 6.0)],
            ),
        ];
        let table = ratios_to_qemu(&done);
        let lines: Vec<&str> = table.lines().collect();
        // Round 2 has no bt run: rounds 1 and 3 pair, 0.5 and 0.75 (median 0.625, shown rounded).
        assert!(
            lines[1].starts_with("bt #1") && lines[1].ends_with("0.50         0.50"),
            "{table}"
        );
        assert!(
            lines[2].starts_with("bt #3") && lines[2].contains("0.75"),
            "{table}"
        );
        assert!(lines[3].starts_with("bt median"), "{table}");
        assert_eq!(lines.len(), 4, "{table}");
    }
}
