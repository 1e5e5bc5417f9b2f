//! Debian's unmodified SeaBIOS (`-bios bios-256k.bin`, fetched by `guests/debian-firmware.sh`) on the PC board:
//! it finds QEMU's i440FX chipset, reads fw_cfg, shadows itself through the PAM registers, places the ACPI tables,
//! prints its banner on the serial port, probes the IDE disk and boots the bundled demo guest from it, which runs
//! every step and powers off. The interpreter and the
//! translator print the same console and retire the same instructions under `-icount`. With `-boot d` it boots an
//! El Torito (no emulation) CD-ROM built here from the ATAPI drive on the secondary master instead. Skipped (with
//! a message) when the firmware has not been fetched, and failed under `CI=true`.

mod common;

use iced_x86::code_asm::*;
use vx86_devices::{IdeDevice, MemDisk};
use vx86_machine::capture::SerialCapture;
use vx86_machine::{EngineKind, Outcome, Vm, VmConfig};

/// Boots SeaBIOS with the demo disk under `engine`: how it ended, the console, the instructions retired.
fn boot(engine: EngineKind, seabios: &[u8]) -> (Outcome, String, u64) {
    let demo = IdeDevice::Disk(Box::new(MemDisk::new(vx86_firmware::demo::disk_image())));
    run(engine, seabios, [Some(demo), None, None, None], false)
}

/// Runs SeaBIOS with `ide` under `engine` (`boot_cdrom`: `-boot d`): how it ended, the console, the instructions
/// retired.
fn run(
    engine: EngineKind,
    seabios: &[u8],
    ide: [Option<IdeDevice>; 4],
    boot_cdrom: bool,
) -> (Outcome, String, u64) {
    let serial = SerialCapture::new();
    let config = VmConfig {
        serial_out: Some(Box::new(serial.clone())),
        ide,
        boot_cdrom,
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

/// What the CD's boot image prints on COM1 before it powers off.
const CD_BOOT_LINE: &str = "booted from the CD-ROM";

/// A bootable CD image (ISO 9660 volume descriptors with El Torito's boot record): a no-emulation boot image of
/// one 2048-byte sector at LBA 20 that prints [`CD_BOOT_LINE`] on COM1 and powers off.
fn el_torito_iso() -> Vec<u8> {
    const SECTOR: usize = 2048;
    const CATALOG: usize = 19;
    const IMAGE: usize = 20;
    let mut iso = vec![0u8; 21 * SECTOR];
    let descriptor = |kind: u8| {
        let mut d = vec![kind];
        d.extend_from_slice(b"CD001\x01");
        d
    };
    // Sector 16: primary volume descriptor (the identifier only: SeaBIOS reads no file system).
    iso[16 * SECTOR..][..7].copy_from_slice(&descriptor(1));
    // Sector 17: the boot record, naming El Torito and the boot catalog's sector.
    let boot_record = &mut iso[17 * SECTOR..18 * SECTOR];
    boot_record[..7].copy_from_slice(&descriptor(0));
    boot_record[7..30].copy_from_slice(b"EL TORITO SPECIFICATION");
    boot_record[0x47..0x4B].copy_from_slice(&(CATALOG as u32).to_le_bytes());
    // Sector 18: the terminator.
    iso[18 * SECTOR..][..7].copy_from_slice(&descriptor(0xFF));
    // Sector 19: the catalog: a validation entry (platform x86, key bytes 55 AA, words summing to 0), then the
    // initial entry: bootable, no emulation, default segment 07C0, 4 virtual sectors from LBA 20.
    let catalog = &mut iso[CATALOG * SECTOR..][..64];
    catalog[0] = 1;
    catalog[0x1E] = 0x55;
    catalog[0x1F] = 0xAA;
    let sum = catalog[..32].chunks(2).fold(0u16, |s, w| {
        s.wrapping_add(u16::from_le_bytes([w[0], w[1]]))
    });
    catalog[0x1C..0x1E].copy_from_slice(&sum.wrapping_neg().to_le_bytes());
    catalog[0x20] = 0x88;
    catalog[0x26] = 4;
    catalog[0x28..0x2C].copy_from_slice(&(IMAGE as u32).to_le_bytes());
    let mut a = CodeAssembler::new(16).unwrap();
    a.mov(dx, 0x3F8u32).unwrap();
    for b in CD_BOOT_LINE.bytes().chain(*b"\r\n") {
        a.mov(al, u32::from(b)).unwrap();
        a.out(dx, al).unwrap();
    }
    common::acpi_power_off(&mut a);
    let code = a.assemble(0x7C00).unwrap();
    iso[IMAGE * SECTOR..][..code.len()].copy_from_slice(&code);
    iso
}

#[test]
fn seabios_boots_an_el_torito_cdrom_under_boot_d_on_interp_and_bt() {
    let Some(seabios) = common::debian_seabios() else {
        return;
    };
    for engine in [EngineKind::Interp, EngineKind::Bt] {
        let demo = IdeDevice::Disk(Box::new(MemDisk::new(vx86_firmware::demo::disk_image())));
        let cd = IdeDevice::Cdrom(Box::new(MemDisk::new(el_torito_iso())));
        let (outcome, text, _) = run(engine, &seabios, [Some(demo), None, Some(cd), None], true);
        assert_eq!(outcome, Outcome::PowerOff, "{engine}: console:\n{text}");
        assert!(text.contains("Booting from DVD/CD"), "{engine}: {text}");
        assert!(
            text.trim_end().ends_with(CD_BOOT_LINE),
            "{engine}: the CD's boot image ran, not the disk's: {text}"
        );
    }
}
