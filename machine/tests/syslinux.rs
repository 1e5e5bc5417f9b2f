//! The Debian guest booted the way a PC boots Linux from its hard disk: Debian's unmodified SeaBIOS reads the MBR
//! of the disk `guests/debian-syslinux.sh` builds (SYSLINUX's `mbr.bin`, one active FAT16 partition), which chains
//! to SYSLINUX's boot sector; SYSLINUX loads `ldlinux.sys` through the BIOS's EDD disk services, reads its
//! `syslinux.cfg`, loads the kernel and initramfs from the FAT file system and starts the kernel by the Linux boot
//! protocol. The kernel then runs the workload to the host's results and powers off through ACPI. The raw disk
//! boots under the interpreter and the binary translator side by side (under `-icount` their console logs must be
//! identical; the interpreter takes about three minutes), the qcow2 copy of it under the translator.
//!
//! Our own BIOS boots the same disk through SYSLINUX to the workload and power-off too, under the translator (the
//! board puts the ACPI tables below it, where Linux's RSDP scan finds them).
//!
//! Skipped (with a message) when the firmware or the disk has not been built, and failed under `CI=true`.

mod common;

use std::path::{Path, PathBuf};
use vx86_cpu::testing::skip_outside_ci;
use vx86_devices::{open_image, IdeDevice, ImageFormat, ImageOptions};
use vx86_machine::capture::SerialCapture;
use vx86_machine::{EngineKind, Outcome, Vm, VmConfig};

/// The disk image in `format` from `guests/debian-syslinux.sh`; `None`, after [`skip_outside_ci`] says why, when it
/// has not been built.
fn syslinux_disk(format: ImageFormat) -> Option<PathBuf> {
    let name = match format {
        ImageFormat::Raw => "syslinux.img",
        ImageFormat::Qcow2 => "syslinux.qcow2",
    };
    let path = common::guest_cache().join(name);
    if path.is_file() {
        Some(path)
    } else {
        skip_outside_ci(format_args!(
            "run guests/debian-syslinux.sh first (no {})",
            path.display()
        ));
        None
    }
}

/// Boots `firmware` with the disk at `disk` (in `format`, its writes kept in memory) under `engine`: how the run
/// ended and the console.
fn boot(
    engine: EngineKind,
    firmware: Vec<u8>,
    disk: &Path,
    format: ImageFormat,
) -> (Outcome, String) {
    let options = ImageOptions {
        format: Some(format),
        snapshot: true,
        ..ImageOptions::default()
    };
    let serial = SerialCapture::new();
    let config = VmConfig {
        serial_out: Some(Box::new(serial.clone())),
        ide: [
            Some(IdeDevice::Disk(open_image(disk, &options).unwrap())),
            None,
            None,
            None,
        ],
        no_reboot: true,
        deterministic: true,
        instruction_limit: Some(20_000_000_000),
        ..VmConfig::new(256 << 20, firmware)
    };
    let mut vm = Vm::with_engine(config, engine).unwrap();
    let (outcome, stats) = vm.run();
    eprintln!("{engine}: {} instructions", stats.instructions);
    (outcome, serial.text())
}

/// SYSLINUX started from the disk with EDD, loaded the kernel and initramfs its configuration names, and the
/// kernel got the configuration's command line.
fn assert_syslinux_loaded_the_guest(outcome: &Outcome, text: &str) {
    for line in [
        "SYSLINUX 6.04 EDD",
        "Loading /vmlinuz",
        "Loading /initrd.gz",
        "Command line: BOOT_IMAGE=/vmlinuz console=ttyS0 panic=-1 initrd=/initrd.gz",
    ] {
        assert!(
            text.contains(line),
            "missing '{line}'; outcome {outcome:?}; console:\n{text}"
        );
    }
}

/// Boots SeaBIOS with the disk in `format` under `engine`: how the run ended and the console; `None` (after
/// saying why) when the firmware or the disk is not there.
fn boot_seabios(engine: EngineKind, format: ImageFormat) -> Option<(Outcome, String)> {
    let seabios = common::debian_seabios()?;
    let disk = syslinux_disk(format)?;
    Some(boot(engine, seabios, &disk, format))
}

/// The SeaBIOS boot went the whole way: from the disk through SYSLINUX to the workload and power-off.
fn assert_seabios_booted_syslinux(engine: EngineKind, (outcome, text): &(Outcome, String)) {
    eprintln!("checking the {engine} boot");
    assert!(
        text.contains("Booting from Hard Disk"),
        "outcome {outcome:?}; console:\n{text}"
    );
    assert_syslinux_loaded_the_guest(outcome, text);
    common::assert_workload_ran(outcome, text);
}

#[test]
fn seabios_boots_syslinux_from_the_raw_disk_to_the_workload_and_power_off_alike_on_interp_and_bt() {
    let translated = std::thread::spawn(|| boot_seabios(EngineKind::Bt, ImageFormat::Raw));
    let Some(interpreted) = boot_seabios(EngineKind::Interp, ImageFormat::Raw) else {
        return;
    };
    let translated = translated
        .join()
        .unwrap()
        .expect("the firmware and disk were there a moment ago");
    assert_seabios_booted_syslinux(EngineKind::Interp, &interpreted);
    assert_seabios_booted_syslinux(EngineKind::Bt, &translated);
    assert!(
        interpreted.1 == translated.1,
        "-icount boots print different console logs:\ninterp:\n{}\nbt:\n{}",
        interpreted.1,
        translated.1
    );
}

#[test]
fn seabios_boots_syslinux_from_the_qcow2_disk_to_the_workload_and_power_off_under_bt() {
    if let Some(boot) = boot_seabios(EngineKind::Bt, ImageFormat::Qcow2) {
        assert_seabios_booted_syslinux(EngineKind::Bt, &boot);
    }
}

#[test]
fn our_bios_boots_syslinux_to_the_workload_and_power_off_under_bt() {
    let Some(disk) = syslinux_disk(ImageFormat::Raw) else {
        return;
    };
    let (outcome, text) = boot(
        EngineKind::Bt,
        vx86_firmware::bios::image(),
        &disk,
        ImageFormat::Raw,
    );
    assert!(
        text.contains("Booting from hard disk 0x80"),
        "outcome {outcome:?}; console:\n{text}"
    );
    assert_syslinux_loaded_the_guest(&outcome, &text);
    common::assert_workload_ran(&outcome, &text);
}
