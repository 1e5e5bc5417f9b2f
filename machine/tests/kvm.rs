//! The KVM engine: the demo guest under `-accel kvm`, and how `-accel` picks an engine. Tests that need a working
//! /dev/kvm say why they skipped where it is missing or unusable (and fail there under `CI=true`).

mod common;

use std::process::Command;
use vx86_devices::{IdeDevice, MemDisk};
use vx86_machine::capture::SerialCapture;
use vx86_machine::engine::HostVirt;
use vx86_machine::{EngineKind, Outcome, Vm, VmConfig};

fn demo_config(serial: SerialCapture) -> VmConfig {
    VmConfig {
        ide: [
            Some(IdeDevice::Disk(Box::new(MemDisk::new(
                vx86_firmware::demo::disk_image(),
            )))),
            None,
            None,
            None,
        ],
        serial_out: Some(Box::new(serial)),
        no_reboot: true,
        deterministic: false,
        instruction_limit: None,
        ..VmConfig::new(32 << 20, vx86_firmware::bios::image())
    }
}

#[test]
fn demo_boots_under_kvm_where_the_host_can_run_it() {
    let Some(host) = common::usable_kvm() else {
        return;
    };
    let serial = SerialCapture::new();
    let mut vm =
        Vm::with_engine(demo_config(serial.clone()), EngineKind::Kvm).expect("machine builds");
    let (outcome, stats) = vm.run();
    let text = serial.text();
    // Whatever the host, the BIOS runs in real mode under kvm and hands over to the demo's boot sector.
    assert!(text.contains("vx86 BIOS"), "BIOS banner missing:\n{text}");
    assert!(text.contains("Step 1"), "{text}");
    let exits = vm.kvm_exits().expect("kvm engine");
    assert!(exits.io_out > 100 && exits.injected > 0, "{exits}");
    if let (false, Outcome::EngineFailed(why)) = (host.hardware, &outcome) {
        // PVM emulates guest kernel mode in the host kernel, whose emulator cannot do a 32-bit IRET.
        eprintln!("skipped the rest: this paravirtual KVM stopped the demo: {why}");
        return;
    }
    assert_eq!(outcome, Outcome::PowerOff, "guest output:\n{text}");
    assert!(
        text.trim_end().ends_with(vx86_firmware::demo::SUCCESS_LINE),
        "{text}"
    );
    assert!(stats.exits.unwrap_or(0) > 0);
}

#[test]
fn kvm_rejects_options_it_cannot_honour_with_one_line() {
    if common::usable_kvm().is_none() {
        return;
    }
    let mut config = demo_config(SerialCapture::new());
    config.deterministic = true;
    let e = Vm::with_engine(config, EngineKind::Kvm)
        .err()
        .expect("-icount refused");
    assert!(
        e.to_string().contains("-icount needs -accel interp or bt"),
        "{e}"
    );
}

#[test]
fn accel_auto_says_which_engine_it_picked_and_why() {
    let out = Command::new(env!("CARGO_BIN_EXE_vx86"))
        .args([
            "-accel",
            "auto",
            "-serial",
            "none",
            "-max-instructions",
            "1000",
        ])
        .output()
        .expect("vx86 runs");
    let err = String::from_utf8_lossy(&out.stderr);
    let host = HostVirt::probe();
    let line = err
        .lines()
        .find(|l| l.contains("-accel auto picked"))
        .expect(&err);
    if host.kvm.is_ok() && host.hardware {
        assert!(line.contains("picked kvm"), "{line}");
    } else {
        let software = vx86_machine::engine::software_engine();
        assert!(line.contains(&format!("picked {software}")), "{line}");
        assert_eq!(out.status.code(), Some(8), "{err}");
    }
}

#[test]
fn an_unknown_accelerator_is_one_clear_line() {
    let out = Command::new(env!("CARGO_BIN_EXE_vx86"))
        .args(["-accel", "xen"])
        .output()
        .expect("vx86 runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("use interp, bt (or tcg), kvm or auto"),
        "{err}"
    );
}
