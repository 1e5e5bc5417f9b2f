//! The bundled demo guest boots through vx86's own BIOS on the interpreter and tells its whole story.

use vx86_devices::MemDisk;
use vx86_machine::capture::SerialCapture;
use vx86_machine::{Outcome, Vm, VmConfig};

fn demo_config(serial: SerialCapture) -> VmConfig {
    VmConfig {
        disk: Some(Box::new(MemDisk::new(vx86_firmware::demo::disk_image()))),
        serial_out: Some(Box::new(serial)),
        no_reboot: true,
        deterministic: true,
        instruction_limit: Some(2_000_000_000),
        ..VmConfig::new(32 << 20, vx86_firmware::bios::image())
    }
}

#[test]
fn demo_boots_through_our_bios_and_powers_off_cleanly() {
    let serial = SerialCapture::new();
    let mut vm = Vm::new(demo_config(serial.clone())).expect("machine builds");
    let (outcome, stats) = vm.run();
    let text = serial.text();
    assert_eq!(outcome, Outcome::PowerOff, "guest output:\n{text}");
    assert!(text.contains("vx86 BIOS"), "BIOS banner missing:\n{text}");
    for step in ["Step 1", "Step 2", "Step 3", "Step 4", "Step 5", "Step 6"] {
        assert!(text.contains(step), "{step} missing:\n{text}");
    }
    assert!(text.contains("#PF (vector 14): CR2 = 0x00300000"), "{text}");
    assert!(text.contains("ring 3 tried CLI: #GP"), "{text}");
    assert!(text.contains("tick 5"), "{text}");
    assert!(
        text.trim_end().ends_with(vx86_firmware::demo::SUCCESS_LINE),
        "{text}"
    );
    assert!(
        vm.cpu.unimplemented.is_empty(),
        "unimplemented: {:?}",
        vm.cpu.unimplemented
    );
    assert!(stats.instructions > 10_000);
}

#[test]
fn deterministic_runs_replay_identically() {
    let run = || {
        let serial = SerialCapture::new();
        let mut vm = Vm::new(demo_config(serial.clone())).expect("machine builds");
        let (outcome, stats) = vm.run();
        (
            outcome,
            stats.instructions,
            serial.text(),
            vm.cpu.state.clone(),
        )
    };
    let (a, b) = (run(), run());
    assert_eq!(a.0, b.0);
    assert_eq!(a.1, b.1, "instruction counts differ");
    assert_eq!(a.2, b.2);
    assert_eq!(a.3, b.3);
}
