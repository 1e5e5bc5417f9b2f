//! `bench`: runs the nanobenchmark guest on every available engine and prints ns per operation for each, with the
//! ratio to the fastest. `--json FILE` writes the same figures; `--plot FILE.svg` draws them as a grouped bar chart;
//! `--iterations N` sets the loop count (default 20000); `--engines interp,bt,kvm,qemu` picks engines (`qemu` is
//! QEMU's TCG, where `qemu-system-x86_64` is installed); `--guest 32|64` picks the guest's flavour (default 64);
//! `--ops compute,call_ret` runs only the operations named.

use std::process::ExitCode;
use vx86_bench::guest::Guest;
use vx86_bench::qemu::{self, Qemu};
use vx86_bench::report::{self, Column};
use vx86_bench::{host_tsc, runner};
use vx86_machine::engine::HostVirt;
use vx86_machine::EngineKind;

const USAGE: &str = "\
usage: bench [--guest 32|64] [--iterations N] [--engines interp,bt,kvm,qemu] [--ops LIST] [--json FILE]
             [--plot FILE.svg]

  --guest 64      the 64-bit long-mode guest (default: it runs on the most engines, PVM included)
  --guest 32      the 32-bit protected-mode guest (SYSENTER instead of SYSCALL; PVM refuses most of it)
  --iterations N  loop iterations per operation (default 20000)
  --engines LIST  engines to run, from interp,bt,kvm,qemu (default: every one this host offers; qemu is QEMU's
                  TCG, booting the guest as a multiboot image, where qemu-system-x86_64 is installed)
  --ops LIST      only the operations named, comma separated (default: all; a long run of one operation
                  measures it with less start-up cost, e.g. --ops compute,call_ret --iterations 20000000)
  --json FILE     also write the figures as JSON
  --plot FILE     also draw them as an SVG bar chart
";

/// The names `--engines` takes.
const ENGINES: [&str; 4] = ["interp", "bt", "kvm", "qemu"];

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::from(1)
        }
    }
}

fn run() -> Result<(), String> {
    let mut json = None;
    let mut plot = None;
    let mut iterations = 20_000u32;
    let mut engines: Option<Vec<String>> = None;
    let mut guest = Guest::default();
    let mut only: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--json" => json = Some(value()?),
            "--plot" => plot = Some(value()?),
            "--iterations" => {
                iterations = value()?.parse().map_err(|e| format!("--iterations: {e}"))?
            }
            "--engines" => {
                let list: Vec<String> = value()?.split(',').map(str::to_string).collect();
                if let Some(bad) = list.iter().find(|e| !ENGINES.contains(&e.as_str())) {
                    return Err(format!("unknown engine '{bad}': use {}", ENGINES.join(",")));
                }
                engines = Some(list);
            }
            "--ops" => only = value()?.split(',').map(str::to_string).collect(),
            "--guest" => guest = value()?.parse().map_err(|e| format!("--guest: {e}"))?,
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    if let Some(bad) = only
        .iter()
        .find(|o| guest.ops().iter().all(|op| op.name != o.as_str()))
    {
        let names: Vec<&str> = guest.ops().iter().map(|op| op.name).collect();
        return Err(format!(
            "unknown operation '{bad}' for {guest}: use {}",
            names.join(",")
        ));
    }
    let wanted = |name: &str| {
        engines
            .as_ref()
            .is_none_or(|list| list.iter().any(|e| e == name))
    };
    let host = HostVirt::probe();
    let mut kinds = vec![EngineKind::Interp];
    if vx86_machine::engine::software_engine() == EngineKind::Bt {
        kinds.push(EngineKind::Bt);
    }
    match &host.kvm {
        Ok(()) => kinds.push(EngineKind::Kvm),
        Err(why) if wanted("kvm") => eprintln!("bench: kvm skipped: {why}"),
        Err(_) => {}
    }
    kinds.retain(|k| wanted(&k.to_string()));
    let qemu = match wanted("qemu").then(Qemu::probe) {
        Some(Ok(qemu)) => Some(qemu),
        Some(Err(why)) => {
            eprintln!("bench: qemu skipped: {why}");
            None
        }
        None => None,
    };
    let mut columns = Vec::new();
    for kind in kinds {
        eprintln!("bench: {guest}: {iterations} iterations per operation on {kind}");
        let (results, failures) = runner::run_all(kind, guest, iterations, &only);
        columns.push(Column {
            engine: kind.to_string(),
            label: match kind {
                EngineKind::Kvm => host.kvm_label().to_string(),
                EngineKind::Interp | EngineKind::Bt => kind.to_string(),
            },
            results,
            failures,
        });
    }
    if let Some(qemu) = qemu {
        let khz = host_tsc::khz();
        eprintln!(
            "bench: {guest}: {iterations} iterations per operation on {}, host TSC measured at {:.1} MHz",
            qemu.label(),
            f64::from(khz) / 1e3
        );
        let (results, failures) = qemu::run_all(guest, iterations, khz, &only);
        columns.push(Column {
            engine: "qemu".to_string(),
            label: qemu.label(),
            results,
            failures,
        });
    }
    print!("{}", report::table(guest, &columns));
    if let Some(path) = json {
        std::fs::write(&path, report::json(guest, &columns)).map_err(|e| format!("{path}: {e}"))?;
    }
    if let Some(path) = plot {
        std::fs::write(&path, report::svg(guest, &columns)).map_err(|e| format!("{path}: {e}"))?;
    }
    Ok(())
}
