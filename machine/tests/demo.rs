//! The bundled demo guest boots through vx86's own BIOS and tells its whole story, on the interpreter and on the
//! binary translator; under `-icount` both engines give the same output, instruction count and final state.

use vx86_devices::{IdeDevice, MemDisk};
use vx86_machine::capture::SerialCapture;
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
        deterministic: true,
        instruction_limit: Some(2_000_000_000),
        ..VmConfig::new(32 << 20, vx86_firmware::bios::image())
    }
}

/// The software engines, which count instructions (kvm has its own tests).
const ENGINES: [EngineKind; 2] = [EngineKind::Interp, EngineKind::Bt];

#[test]
fn demo_boots_through_our_bios_and_powers_off_cleanly() {
    for engine in ENGINES {
        demo_tells_its_whole_story(engine);
    }
}

fn demo_tells_its_whole_story(engine: EngineKind) {
    let serial = SerialCapture::new();
    let mut vm = Vm::with_engine(demo_config(serial.clone()), engine).expect("machine builds");
    let (outcome, stats) = vm.run();
    let text = serial.text();
    assert_eq!(
        outcome,
        Outcome::PowerOff,
        "{engine}: guest output:\n{text}"
    );
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
fn deterministic_runs_replay_identically_on_every_software_engine() {
    let run = |engine| {
        let serial = SerialCapture::new();
        let mut vm = Vm::with_engine(demo_config(serial.clone()), engine).expect("machine builds");
        let (outcome, stats) = vm.run();
        (
            outcome,
            stats.instructions,
            serial.text(),
            vm.cpu.state.clone(),
        )
    };
    let reference = run(EngineKind::Interp);
    for (engine, again) in [
        (EngineKind::Interp, run(EngineKind::Interp)),
        (EngineKind::Bt, run(EngineKind::Bt)),
    ] {
        assert_eq!(reference.0, again.0, "{engine}: outcome");
        assert_eq!(reference.1, again.1, "{engine}: instruction counts differ");
        assert_eq!(reference.2, again.2, "{engine}: serial output differs");
        assert_eq!(reference.3, again.3, "{engine}: final state differs");
    }
}
