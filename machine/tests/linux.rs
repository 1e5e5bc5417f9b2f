//! Debian 12's stock kernel with the busybox initramfs from `guests/debian-linux.sh`, booted directly on the
//! interpreter and on the binary translator: the kernel reaches /init, the workload's results match values computed
//! on the host, the guest powers off cleanly, and under `-icount` both engines print exactly the same console log
//! and begin each boot phase (kernel init, user) at the same instruction. With `-smp 2` the kernel brings up both
//! processors and runs the same workload, and with `acpi=off` it finds them in the MP table. A kernel panic is
//! reported through the pvpanic device and ends the run with a non-zero status. Skipped (with a message) when the
//! guest has not been fetched, and failed under `CI=true`; `.ci/run` fetches it.

mod common;

use vx86_cpu::phase::Phase;
use vx86_machine::capture::SerialCapture;
use vx86_machine::loader::KernelRequest;
use vx86_machine::{boot, EngineKind, Outcome, Vm, VmConfig};

/// How a boot went: its outcome, its console and the instruction counts at which each boot phase after the first
/// began.
struct Boot {
    outcome: Outcome,
    text: String,
    phase_starts: Vec<Option<u64>>,
}

/// Boots the Debian guest under `engine` on `cpus` processors with `extra` appended to the command line; None
/// (after saying so) when it is not fetched.
fn boot_debian(engine: EngineKind, cpus: usize, extra: &str) -> Option<Boot> {
    let (kernel, initrd) = common::debian_guest()?;
    let serial = SerialCapture::new();
    let config = VmConfig {
        serial_out: Some(Box::new(serial.clone())),
        no_reboot: true,
        deterministic: true,
        instruction_limit: Some(
            std::env::var("VX86_LINUX_LIMIT")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(20_000_000_000),
        ),
        cpus,
        ..VmConfig::new(256 << 20, vx86_firmware::bios::image())
    };
    let mut vm = Vm::with_engine(config, engine).unwrap();
    let cmdline = format!("console=ttyS0 panic=-1 {extra}");
    let request = KernelRequest {
        kernel: &kernel,
        initrd: Some(&initrd),
        cmdline: &cmdline,
        ..KernelRequest::default()
    };
    boot::prepare(&mut vm, &request).unwrap();
    let (outcome, stats) = vm.run();
    eprintln!(
        "{engine}: {} instructions; unimplemented: {:?}",
        stats.instructions, vm.cpu.unimplemented
    );
    let phase_starts = [Phase::KernelInit, Phase::User]
        .map(|p| vm.cpu.phases.start(p).map(|s| s.instructions))
        .to_vec();
    Some(Boot {
        outcome,
        text: serial.text(),
        phase_starts,
    })
}

#[test]
fn debian_kernel_boots_to_init_runs_the_workload_and_powers_off_alike_on_interp_and_bt() {
    let translated = std::thread::spawn(|| boot_debian(EngineKind::Bt, 1, ""));
    let Some(interpreted) = boot_debian(EngineKind::Interp, 1, "") else {
        return;
    };
    let translated = translated
        .join()
        .unwrap()
        .expect("the guest was there a moment ago");
    for (engine, boot) in [
        (EngineKind::Interp, &interpreted),
        (EngineKind::Bt, &translated),
    ] {
        eprintln!("checking the {engine} boot");
        common::assert_workload_ran(&boot.outcome, &boot.text);
        assert!(
            boot.phase_starts.iter().all(Option::is_some),
            "{engine}: every boot phase begins: {:?}",
            boot.phase_starts
        );
    }
    assert!(
        interpreted.text == translated.text,
        "-icount boots print different console logs:\ninterp:\n{}\nbt:\n{}",
        interpreted.text,
        translated.text
    );
    assert_eq!(
        interpreted.phase_starts, translated.phase_starts,
        "-icount boots begin their phases at the same instructions"
    );
}

#[test]
fn debian_kernel_brings_up_two_processors_and_runs_the_workload_with_smp_2() {
    let Some(boot) = boot_debian(EngineKind::Bt, 2, "") else {
        return;
    };
    assert!(
        boot.text
            .contains("smpboot: Total of 2 processors activated"),
        "outcome {:?}; console:\n{}",
        boot.outcome,
        boot.text
    );
    assert!(boot.text.contains("smp: Brought up 1 node, 2 CPUs"));
    common::assert_workload_ran(&boot.outcome, &boot.text);
}

#[test]
fn debian_kernel_without_acpi_finds_both_processors_in_the_mp_table() {
    let Some(boot) = boot_debian(EngineKind::Bt, 2, "acpi=off") else {
        return;
    };
    for line in [
        "found SMP MP-table at [mem 0x0009fc00-0x0009fc0f]",
        "Intel MultiProcessor Specification v1.4",
        "Processors: 2",
        "smpboot: Total of 2 processors activated",
        "VX86-INIT-START",
    ] {
        assert!(
            boot.text.contains(line),
            "missing '{line}'; outcome {:?}; console:\n{}",
            boot.outcome,
            boot.text
        );
    }
    for bad in ["not setup in hardware", "BUG", "WARNING:"] {
        assert!(!boot.text.contains(bad), "'{bad}' in:\n{}", boot.text);
    }
}

#[test]
fn debian_kernel_panic_is_reported_through_pvpanic_and_ends_the_run() {
    let Some(Boot { outcome, text, .. }) = boot_debian(EngineKind::Bt, 1, "vx86.panic") else {
        return;
    };
    assert!(
        text.contains("Kernel panic - not syncing: sysrq triggered crash"),
        "outcome {outcome:?}; console:\n{text}"
    );
    assert_eq!(outcome, Outcome::GuestPanicked, "console:\n{text}");
    assert_ne!(outcome.exit_status(), 0);
}
