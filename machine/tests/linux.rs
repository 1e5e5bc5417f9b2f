//! Debian 12's stock kernel with the busybox initramfs from `guests/debian-linux.sh`, booted directly on the
//! interpreter: the kernel reaches /init, the workload's results match values computed on the host, and the guest
//! powers off cleanly. Skipped (with a message) when the guest has not been fetched.

use std::path::PathBuf;
use vx86_machine::capture::SerialCapture;
use vx86_machine::loader::KernelRequest;
use vx86_machine::{boot, Outcome, Vm, VmConfig};

fn cache() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../guests/cache")
}

#[test]
fn debian_kernel_boots_to_init_runs_the_workload_and_powers_off() {
    let (kernel, initrd) = (cache().join("vmlinuz"), cache().join("initramfs.cpio.gz"));
    if !kernel.exists() || !initrd.exists() {
        eprintln!(
            "skipped: run guests/debian-linux.sh first (no {})",
            kernel.display()
        );
        return;
    }
    let kernel = std::fs::read(kernel).unwrap();
    let initrd = std::fs::read(initrd).unwrap();
    let serial = SerialCapture::new();
    let mut vm = Vm::new(VmConfig {
        ram_bytes: 256 << 20,
        bios: vx86_firmware::bios::image(),
        disk: None,
        serial_out: Some(Box::new(serial.clone())),
        serial_in: None,
        no_reboot: true,
        deterministic: true,
        trace: Default::default(),
        trace_post: false,
        instruction_limit: Some(
            std::env::var("VX86_LINUX_LIMIT")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(20_000_000_000),
        ),
    })
    .unwrap();
    let request = KernelRequest {
        kernel: &kernel,
        initrd: Some(&initrd),
        cmdline: "console=ttyS0 earlyprintk=serial,ttyS0,115200 panic=-1",
    };
    boot::prepare(&mut vm, &request).unwrap();
    let (outcome, stats) = vm.run();
    let text = serial.text();
    eprintln!(
        "{} instructions; unimplemented: {:?}",
        stats.instructions, vm.cpu.unimplemented
    );
    assert!(
        text.contains("VX86-INIT-START"),
        "outcome {outcome:?}; console:\n{text}"
    );
    assert_eq!(outcome, Outcome::PowerOff, "console:\n{text}");
    // The workload's results, computed on the host by the same busybox from the same data.
    let expected = std::fs::read_to_string(cache().join("expected.txt")).unwrap();
    for line in expected.lines().filter(|l| l.starts_with("RESULT ")) {
        assert!(
            text.contains(line),
            "missing or different: {line}\nconsole:\n{text}"
        );
    }
    // No oops, no unknown-MSR or invalid-opcode reports, no clocksource or TSC calibration complaints.
    for bad in [
        "Oops",
        "invalid opcode",
        "unchecked MSR access error",
        "Kernel panic",
        "Marking TSC unstable",
        "TSC calibration failed",
        "Unable to calibrate",
        "timekeeping watchdog",
    ] {
        assert!(!text.contains(bad), "kernel log mentions '{bad}':\n{text}");
    }
}
