//! The Debian guest booted the way a PC boots Linux from its hard disk or CD-ROM.
//!
//! From the hard disk: Debian's unmodified SeaBIOS reads the MBR of the disk `guests/debian-syslinux.sh` builds
//! (SYSLINUX's `mbr.bin`, one active FAT16 partition), which chains to SYSLINUX's boot sector; SYSLINUX loads
//! `ldlinux.sys` through the BIOS's EDD disk services, reads its `syslinux.cfg`, loads the kernel and initramfs from
//! the FAT file system and starts the kernel by the Linux boot protocol. The kernel then runs the workload to the
//! host's results and powers off through ACPI. The raw disk boots under the interpreter and the binary translator
//! side by side (under `-icount` their console logs must be identical; the interpreter takes about three minutes),
//! the qcow2 copy of it under the translator.
//!
//! From the CD-ROM (`-cdrom isolinux.iso -boot d`): SeaBIOS finds the El Torito no-emulation boot entry of the ISO
//! `guests/debian-isolinux.sh` builds on the ATAPI drive and starts ISOLINUX, which reads its `isolinux.cfg`, the
//! kernel and the initramfs from the ISO 9660 file system through the BIOS's CD services (INT 13h on 2048-byte
//! sectors) and boots the same guest with the same command line.
//!
//! Our own BIOS boots the same disk through SYSLINUX to the workload and power-off too, under the translator (the
//! board puts the ACPI tables below it, where Linux's RSDP scan finds them).
//!
//! Skipped (with a message) when the firmware or the image has not been built, and failed under `CI=true`.

mod common;

use std::path::PathBuf;
use vx86_cpu::testing::skip_outside_ci;
use vx86_devices::{open_image, IdeDevice, ImageFormat, ImageOptions};
use vx86_machine::capture::SerialCapture;
use vx86_machine::{EngineKind, Outcome, Vm, VmConfig};

/// A boot image of the guest and where the machine holds it.
#[derive(Clone, Copy, Debug)]
enum Medium {
    /// The SYSLINUX hard disk in this format, on the primary master.
    Disk(ImageFormat),
    /// The ISOLINUX CD, in the ATAPI drive on the secondary master, booted first (`-boot d`).
    Cdrom,
}

impl Medium {
    /// The image's file in the guest cache and the script that builds it.
    fn file_and_script(self) -> (&'static str, &'static str) {
        match self {
            Medium::Disk(ImageFormat::Raw) => ("syslinux.img", "guests/debian-syslinux.sh"),
            Medium::Disk(ImageFormat::Qcow2) => ("syslinux.qcow2", "guests/debian-syslinux.sh"),
            Medium::Cdrom => ("isolinux.iso", "guests/debian-isolinux.sh"),
        }
    }

    /// The image's path; `None`, after [`skip_outside_ci`] says why, when it has not been built.
    fn image(self) -> Option<PathBuf> {
        let (name, script) = self.file_and_script();
        let path = common::guest_cache().join(name);
        if path.is_file() {
            Some(path)
        } else {
            skip_outside_ci(format_args!("run {script} first (no {})", path.display()));
            None
        }
    }

    /// The boot loader's banner and the command line it gives the kernel.
    fn loader_lines(self) -> [&'static str; 2] {
        let banner = match self {
            Medium::Disk(_) => "SYSLINUX 6.04 EDD",
            Medium::Cdrom => "ISOLINUX 6.04 ",
        };
        [
            banner,
            "Command line: BOOT_IMAGE=/vmlinuz console=ttyS0 panic=-1 initrd=/initrd.gz",
        ]
    }
}

/// Boots `firmware` with the image of `medium` (its writes kept in memory) under `engine`: how the run ended and
/// the console; `None` (after saying why) when the image is not there.
fn boot(engine: EngineKind, firmware: Vec<u8>, medium: Medium) -> Option<(Outcome, String)> {
    let path = medium.image()?;
    let format = match medium {
        Medium::Disk(format) => format,
        Medium::Cdrom => ImageFormat::Raw,
    };
    let options = ImageOptions {
        format: Some(format),
        snapshot: true,
        ..ImageOptions::default()
    };
    let image = open_image(&path, &options).unwrap();
    let ide = match medium {
        Medium::Disk(_) => [Some(IdeDevice::Disk(image)), None, None, None],
        Medium::Cdrom => [None, None, Some(IdeDevice::Cdrom(image)), None],
    };
    let serial = SerialCapture::new();
    let config = VmConfig {
        serial_out: Some(Box::new(serial.clone())),
        ide,
        boot_cdrom: matches!(medium, Medium::Cdrom),
        no_reboot: true,
        deterministic: true,
        instruction_limit: Some(20_000_000_000),
        ..VmConfig::new(256 << 20, firmware)
    };
    let mut vm = Vm::with_engine(config, engine).unwrap();
    let (outcome, stats) = vm.run();
    eprintln!(
        "{engine} from {medium:?}: {} instructions",
        stats.instructions
    );
    Some((outcome, serial.text()))
}

/// The boot loader of `medium` started, loaded the kernel and initramfs its configuration names, and the kernel
/// got the configuration's command line.
fn assert_loader_loaded_the_guest(medium: Medium, outcome: &Outcome, text: &str) {
    for line in medium
        .loader_lines()
        .into_iter()
        .chain(["Loading /vmlinuz", "Loading /initrd.gz"])
    {
        assert!(
            text.contains(line),
            "missing '{line}'; outcome {outcome:?}; console:\n{text}"
        );
    }
}

/// Boots SeaBIOS with the image of `medium` under `engine`: how the run ended and the console; `None` (after
/// saying why) when the firmware or the image is not there.
fn boot_seabios(engine: EngineKind, medium: Medium) -> Option<(Outcome, String)> {
    boot(engine, common::debian_seabios()?, medium)
}

/// The SeaBIOS boot went the whole way: from `medium` through its boot loader to the workload and power-off.
fn assert_seabios_booted(engine: EngineKind, medium: Medium, (outcome, text): &(Outcome, String)) {
    eprintln!("checking the {engine} boot from {medium:?}");
    let seabios_says = match medium {
        Medium::Disk(_) => "Booting from Hard Disk",
        Medium::Cdrom => "Booting from DVD/CD",
    };
    assert!(
        text.contains(seabios_says),
        "outcome {outcome:?}; console:\n{text}"
    );
    assert_loader_loaded_the_guest(medium, outcome, text);
    common::assert_workload_ran(outcome, text);
}

/// Boots SeaBIOS from `medium` under the interpreter and the translator side by side; both boots must go the whole
/// way and, under `-icount`, print the same console log.
fn seabios_boots_alike_on_interp_and_bt(medium: Medium) {
    let translated = std::thread::spawn(move || boot_seabios(EngineKind::Bt, medium));
    let Some(interpreted) = boot_seabios(EngineKind::Interp, medium) else {
        return;
    };
    let translated = translated
        .join()
        .unwrap()
        .expect("the firmware and image were there a moment ago");
    assert_seabios_booted(EngineKind::Interp, medium, &interpreted);
    assert_seabios_booted(EngineKind::Bt, medium, &translated);
    assert!(
        interpreted.1 == translated.1,
        "-icount boots print different console logs:\ninterp:\n{}\nbt:\n{}",
        interpreted.1,
        translated.1
    );
}

#[test]
fn seabios_boots_syslinux_from_the_raw_disk_to_the_workload_and_power_off_alike_on_interp_and_bt() {
    seabios_boots_alike_on_interp_and_bt(Medium::Disk(ImageFormat::Raw));
}

#[test]
fn seabios_boots_syslinux_from_the_qcow2_disk_to_the_workload_and_power_off_under_bt() {
    seabios_boots_under_bt(Medium::Disk(ImageFormat::Qcow2));
}

/// SeaBIOS boots `medium` under bt to the workload and power-off.
fn seabios_boots_under_bt(medium: Medium) {
    if let Some(boot) = boot_seabios(EngineKind::Bt, medium) {
        assert_seabios_booted(EngineKind::Bt, medium, &boot);
    }
}

#[test]
fn seabios_boots_isolinux_from_the_cd_to_the_workload_and_power_off_under_bt() {
    // Under bt only: the interpreter's SeaBIOS boot is the raw disk's test above (about three minutes of CI).
    seabios_boots_under_bt(Medium::Cdrom);
}

#[test]
fn our_bios_boots_syslinux_to_the_workload_and_power_off_under_bt() {
    let raw = Medium::Disk(ImageFormat::Raw);
    let Some((outcome, text)) = boot(EngineKind::Bt, vx86_firmware::bios::image(), raw) else {
        return;
    };
    assert!(
        text.contains("Booting from hard disk 0x80"),
        "outcome {outcome:?}; console:\n{text}"
    );
    assert_loader_loaded_the_guest(raw, &outcome, &text);
    common::assert_workload_ran(&outcome, &text);
}
