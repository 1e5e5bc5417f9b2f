//! The Debian guest writes a FAT file system on an IDE disk through bus-master DMA: Linux's ata_piix configures the
//! disk and the CD-ROM drive for multiword DMA, the guest copies a file the host put on the disk, writes another,
//! copies the start of the CD there, syncs and powers off, and on the host mtools reads back exactly the bytes
//! expected. With the disk image read only, the guest's writes fail with I/O errors and the file is unchanged.
//! Skipped (with a message) when the guest or mtools is missing, and failed under `CI=true`; `.ci/run` provides
//! both.

mod common;

use common::{s, Scratch};
use std::path::{Path, PathBuf};
use std::process::Command;
use vx86_cpu::testing::skip_outside_ci;
use vx86_devices::{Disk, FileDisk, IdeDevice, MemDisk};
use vx86_machine::capture::SerialCapture;
use vx86_machine::loader::KernelRequest;
use vx86_machine::{boot, EngineKind, Outcome, Vm, VmConfig};

/// Size of the FAT image (sectors of 512 bytes: 8 MiB, FAT12 as mformat lays it out).
const IMAGE_SECTORS: u64 = 16_384;

/// The file the host puts on the disk for the guest to copy: 150 KB of numbered lines, more than one PRD region
/// (64 KiB) and more than one DMA chunk.
fn host_file() -> Vec<u8> {
    (0..5000)
        .flat_map(|n| format!("host line {n:05} of the vx86 DMA test file\n").into_bytes())
        .collect()
}

/// Sectors (2048 bytes) of the CD image.
const CD_SECTORS: usize = 64;

/// The CD image: every byte different from its neighbours, no two sectors alike.
fn cd_image() -> Vec<u8> {
    (0..CD_SECTORS * 2048)
        .map(|i| (i * 7 + i / 2048) as u8)
        .collect()
}

/// What the guest's `seq 1 20000` writes.
fn seq_file() -> Vec<u8> {
    (1..=20_000)
        .flat_map(|n| format!("{n}\n").into_bytes())
        .collect()
}

/// Runs an mtools command on `image` with `args`, which must succeed.
fn mtools(tool: &str, image: &Path, args: &[&str]) {
    let out = Command::new(tool)
        .env("MTOOLS_SKIP_CHECK", "1")
        .arg("-i")
        .arg(image)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        common::stderr_of(&out)
    );
}

/// Whether mtools runs here; if not, says the test skipped (a failure under `CI=true`).
fn have_mtools() -> bool {
    let ok = Command::new("mformat").arg("--version").output().is_ok();
    if !ok {
        skip_outside_ci("mtools (apt-get install mtools) is not installed");
    }
    ok
}

/// The guest's kernel with the disk archive appended, and a fresh FAT image holding IN.TXT; None (after saying
/// so) when something is missing.
fn prepare(tag: &str) -> Option<(Vec<u8>, Vec<u8>, Scratch, PathBuf)> {
    let (kernel, initrd) = common::debian_guest_with("disk-modules.cpio.gz")?;
    if !have_mtools() {
        return None;
    }
    let scratch = Scratch::new(tag);
    let image = scratch.file("fat.img", &[]);
    std::fs::File::options()
        .write(true)
        .open(&image)
        .unwrap()
        .set_len(IMAGE_SECTORS * 512)
        .unwrap();
    mtools(
        "mformat",
        &image,
        &["-T", "16384", "-h", "16", "-s", "32", "::"],
    );
    let input = scratch.file("in.txt", &host_file());
    mtools("mcopy", &image, &[s(&input), "::IN.TXT"]);
    Some((kernel, initrd, scratch, image))
}

/// Boots the guest's disk test under bt with `disk` as the primary master and the CD image as the secondary
/// master; returns the outcome, the console and the bus-master transfers per channel.
fn run_disk_test(kernel: &[u8], initrd: &[u8], disk: Box<dyn Disk>) -> (Outcome, String, [u64; 2]) {
    let serial = SerialCapture::new();
    let mut ide: [Option<IdeDevice>; 4] = Default::default();
    ide[0] = Some(IdeDevice::Disk(disk));
    ide[2] = Some(IdeDevice::Cdrom(Box::new(MemDisk::new(cd_image()))));
    let config = VmConfig {
        serial_out: Some(Box::new(serial.clone())),
        no_reboot: true,
        deterministic: true,
        instruction_limit: Some(20_000_000_000),
        ide,
        ..VmConfig::new(256 << 20, vx86_firmware::bios::image())
    };
    let mut vm = Vm::with_engine(config, EngineKind::Bt).unwrap();
    let request = KernelRequest {
        kernel,
        initrd: Some(initrd),
        cmdline: "console=ttyS0 panic=-1 vx86.disk",
        ..KernelRequest::default()
    };
    boot::prepare(&mut vm, &request).unwrap();
    let (outcome, _) = vm.run();
    let transfers = vm.board.devices.ide_dma_transfers();
    (outcome, serial.text(), transfers)
}

#[test]
fn linux_writes_a_fat_disk_through_ide_dma_and_mtools_reads_the_same_bytes() {
    let Some((kernel, initrd, scratch, image)) = prepare("ide-dma") else {
        return;
    };
    let disk = Box::new(FileDisk::open(&image).unwrap());
    let (outcome, text, transfers) = run_disk_test(&kernel, &initrd, disk);

    for line in [
        "VX86-DISK-MOUNTED",
        "VX86-DISK-READBACK-SAME",
        "VX86-DISK-DONE",
    ] {
        assert!(
            text.contains(line),
            "missing '{line}'; outcome {outcome:?}; console:\n{text}"
        );
    }
    for drive in ["DISK", "CD"] {
        assert!(
            text.contains(&format!("VX86-{drive}-XFER XFER_MW_DMA_2")),
            "libata did not pick multiword DMA for the {drive}; console:\n{text}"
        );
    }
    for bad in ["VX86-DISK-ERROR", "BMDMA", "failed command", "I/O error"] {
        assert!(!text.contains(bad), "'{bad}' in:\n{text}");
    }
    assert_eq!(outcome, Outcome::PowerOff, "console:\n{text}");
    assert!(
        transfers.iter().all(|&n| n > 0),
        "bus-master transfers on the primary and secondary channel: {transfers:?}"
    );
    eprintln!("bus-master DMA transfers on the primary and secondary channel: {transfers:?}");

    // The host reads the image the guest left.
    let cd_start = cd_image()[..32 * 2048].to_vec();
    for (name, expected) in [
        ("OUT.TXT", host_file()),
        ("SEQ.TXT", seq_file()),
        ("CD.BIN", cd_start),
    ] {
        let copy = scratch.0.join(name);
        mtools("mcopy", &image, &[&format!("::{name}"), s(&copy)]);
        let got = std::fs::read(&copy).unwrap();
        assert!(
            got == expected,
            "{name}: {} bytes on the disk, {} expected (first difference at {:?})",
            got.len(),
            expected.len(),
            got.iter().zip(&expected).position(|(a, b)| a != b)
        );
    }
}

#[test]
fn linux_writing_a_read_only_disk_by_dma_sees_io_errors_and_the_image_stays_unchanged() {
    let Some((kernel, initrd, _scratch, image)) = prepare("ide-dma-ro") else {
        return;
    };
    let before = std::fs::read(&image).unwrap();
    let disk = Box::new(FileDisk::open_read_only(&image).unwrap());
    let (outcome, text, transfers) = run_disk_test(&kernel, &initrd, disk);
    for line in ["VX86-DISK-MOUNTED", "I/O error, dev sda", "VX86-DISK-DONE"] {
        assert!(
            text.contains(line),
            "missing '{line}'; outcome {outcome:?}; console:\n{text}"
        );
    }
    assert_eq!(outcome, Outcome::PowerOff, "console:\n{text}");
    assert!(transfers[0] > 0, "the disk was read by DMA");
    assert!(
        std::fs::read(&image).unwrap() == before,
        "the image changed"
    );
}
