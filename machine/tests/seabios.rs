//! Debian's unmodified SeaBIOS (`-bios bios-256k.bin`, fetched by `guests/debian-firmware.sh`) on the PC board:
//! it finds QEMU's i440FX chipset, reads fw_cfg, shadows itself through the PAM registers, places the ACPI tables,
//! prints its banner on the serial port, probes the IDE disk and boots the bundled demo guest from it, which runs
//! every step and powers off. The interpreter and the
//! translator print the same console and retire the same instructions under `-icount`. Skipped (with a message)
//! when the firmware has not been fetched, and failed under `CI=true`.

mod common;

use vx86_machine::capture::SerialCapture;
use vx86_machine::{EngineKind, Outcome, Vm, VmConfig};

/// Boots SeaBIOS with the demo disk under `engine`: how it ended, the console, the instructions retired.
fn boot(engine: EngineKind, seabios: &[u8]) -> (Outcome, String, u64) {
    let serial = SerialCapture::new();
    let config = VmConfig {
        serial_out: Some(Box::new(serial.clone())),
        ide: [
            Some(vx86_devices::IdeDevice::Disk(Box::new(
                vx86_devices::MemDisk::new(vx86_firmware::demo::disk_image()),
            ))),
            None,
            None,
            None,
        ],
        no_reboot: true,
        deterministic: true,
        instruction_limit: Some(100_000_000),
        ..VmConfig::new(128 << 20, seabios.to_vec())
    };
    let mut vm = Vm::with_engine(config, engine).unwrap();
    let (outcome, stats) = vm.run();
    (outcome, serial.text(), stats.instructions)
}

#[test]
fn seabios_boots_the_demo_disk_to_power_off_alike_on_interp_and_bt() {
    let Some(seabios) = common::debian_seabios() else {
        return;
    };
    let interpreted = boot(EngineKind::Interp, &seabios);
    let (outcome, text, _) = &interpreted;
    assert_eq!(*outcome, Outcome::PowerOff, "console:\n{text}");
    assert!(
        text.trim_end().ends_with(vx86_firmware::demo::SUCCESS_LINE),
        "{text}"
    );
    assert!(text.contains("Step 6: summary."), "{text}");
    // With no display, fw_cfg's `etc/sercon-port` has SeaBIOS mirror its screen on COM1, as under QEMU's
    // -nographic: its banner and boot messages come before the demo's.
    let banner = text
        .find("SeaBIOS (version")
        .expect("the banner on the serial port");
    let booting = text
        .find("Booting from Hard Disk")
        .expect("the boot message");
    assert!(
        banner < booting && booting < text.find("Step 6").unwrap(),
        "{text}"
    );
    assert_eq!(
        boot(EngineKind::Bt, &seabios),
        interpreted,
        "bt differs from interp"
    );
}
