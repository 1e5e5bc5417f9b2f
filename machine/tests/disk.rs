//! Disk images through the `vx86` binary: qcow2 images made by qemu-img boot, `readonly=on` gives the guest an
//! I/O error and leaves the file alone, `snapshot=on` keeps writes in memory, a second writer is locked out, a
//! CD-ROM and more disks are accepted, and bad drive input gives one clear line with status 2. Parts that need
//! qemu-img say they skipped without it (and fail under `CI=true`).

mod common;

use common::{have_qemu_img, qemu_img, s, stderr_of, vx86, Scratch};
use iced_x86::code_asm::*;
use std::path::Path;
use std::process::Output;

/// Exit status of the write guest when INT 13h reported success: isa-debug-exit `(0x11 << 1) | 1`.
const WRITE_OK: i32 = 0x23;
/// Exit status of the write guest when INT 13h reported an error: `(0x22 << 1) | 1`.
const WRITE_FAILED: i32 = 0x45;

/// The bytes of LBA 1, where the write guest copies its boot sector.
const COPY: std::ops::Range<usize> = 512..1024;

/// A 64-sector disk whose boot sector copies itself to LBA 1 (CHS 0/0/2) with INT 13h AH=03h and reports the
/// outcome through isa-debug-exit: [`WRITE_OK`] or [`WRITE_FAILED`].
fn write_guest_disk() -> Vec<u8> {
    let mut a = CodeAssembler::new(16).unwrap();
    let mut failed = a.create_label();
    a.xor(ax, ax).unwrap();
    a.mov(es, ax).unwrap();
    a.mov(bx, 0x7C00u32).unwrap();
    a.mov(ax, 0x0301u32).unwrap();
    a.mov(cx, 0x0002u32).unwrap();
    a.mov(dx, 0x0080u32).unwrap();
    a.int(0x13).unwrap();
    a.jc(failed).unwrap();
    a.mov(al, 0x11u32).unwrap();
    a.out(0xF4i32, al).unwrap();
    a.hlt().unwrap();
    a.set_label(&mut failed).unwrap();
    a.mov(al, 0x22u32).unwrap();
    a.out(0xF4i32, al).unwrap();
    a.hlt().unwrap();
    let code = a.assemble(0x7C00).unwrap();
    let mut disk = vec![0u8; 64 * 512];
    disk[..code.len()].copy_from_slice(&code);
    disk[510] = 0x55;
    disk[511] = 0xAA;
    disk
}

/// Runs vx86 on `drive_args` with the serial port off and no reboot.
fn run(drive_args: &[&str]) -> Output {
    vx86()
        .args(drive_args)
        .args(["-serial", "none", "-no-reboot", "-quiet"])
        .output()
        .unwrap()
}

/// Runs the write guest from `img` with `-drive file=IMG,<extra>` and returns the exit status.
fn run_write_guest(img: &Path, extra: &str) -> i32 {
    let spec = format!("file={}{extra}", s(img));
    let out = run(&["-drive", &spec]);
    out.status
        .code()
        .unwrap_or_else(|| panic!("{}", stderr_of(&out)))
}

#[test]
fn readonly_on_gives_the_guest_an_io_error_and_leaves_the_file_alone() {
    let scratch = Scratch::new("ro");
    let disk = write_guest_disk();
    let img = scratch.file("disk.raw", &disk);
    assert_eq!(
        run_write_guest(&img, ",format=raw,readonly=on"),
        WRITE_FAILED
    );
    assert!(
        std::fs::read(&img).unwrap() == disk,
        "the file is unchanged"
    );
}

#[test]
fn snapshot_on_keeps_guest_writes_off_the_file_and_plain_drives_take_them() {
    let scratch = Scratch::new("snap");
    let disk = write_guest_disk();
    let img = scratch.file("disk.raw", &disk);
    assert_eq!(run_write_guest(&img, ",format=raw,snapshot=on"), WRITE_OK);
    assert!(
        std::fs::read(&img).unwrap() == disk,
        "snapshot=on wrote nothing"
    );
    assert_eq!(run_write_guest(&img, ",if=ide,media=disk"), WRITE_OK);
    let after = std::fs::read(&img).unwrap();
    assert!(
        after[COPY] == disk[..512],
        "the guest's write reached the file"
    );
}

#[test]
fn qcow2_images_made_by_qemu_img_boot_and_take_guest_writes() {
    if !have_qemu_img() {
        return;
    }
    let scratch = Scratch::new("qcow2");
    let disk = write_guest_disk();
    let raw = scratch.file("disk.raw", &disk);
    for compat in ["0.10", "1.1"] {
        let img = scratch.0.join(format!("disk-{compat}.qcow2"));
        qemu_img(&[
            "convert",
            "-O",
            "qcow2",
            "-o",
            &format!("compat={compat}"),
            s(&raw),
            s(&img),
        ]);
        let before = std::fs::read(&img).unwrap();
        assert_eq!(
            run_write_guest(&img, ",readonly=on"),
            WRITE_FAILED,
            "{compat}"
        );
        assert!(
            std::fs::read(&img).unwrap() == before,
            "{compat}: read only"
        );
        assert_eq!(run_write_guest(&img, ",snapshot=on"), WRITE_OK, "{compat}");
        assert!(std::fs::read(&img).unwrap() == before, "{compat}: snapshot");
        assert_eq!(run_write_guest(&img, ",format=qcow2"), WRITE_OK, "{compat}");
        let check = qemu_img(&["check", s(&img)]);
        assert!(check.contains("No errors were found"), "{compat}: {check}");
        let back = scratch.0.join("back.raw");
        qemu_img(&["convert", "-O", "raw", s(&img), s(&back)]);
        let back = std::fs::read(&back).unwrap();
        assert!(
            back[COPY] == disk[..512],
            "{compat}: the write is in the image"
        );
    }
}

#[test]
fn the_demo_guest_boots_from_a_qcow2_copy_of_its_disk() {
    if !have_qemu_img() {
        return;
    }
    let scratch = Scratch::new("demo");
    let raw = scratch.file("demo.raw", &vx86_firmware::demo::disk_image());
    let img = scratch.0.join("demo.qcow2");
    qemu_img(&["convert", "-O", "qcow2", s(&raw), s(&img)]);
    let out = vx86()
        .args(["-hda", s(&img), "-serial", "stdio", "-no-reboot", "-quiet"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr_of(&out));
    assert!(
        text.trim_end().ends_with(vx86_firmware::demo::SUCCESS_LINE),
        "{text}"
    );
}

/// Runs vx86 with `args` and asserts status 2 (it could not start) with one line containing `message`, and no panic.
#[test]
fn a_cdrom_and_more_disks_are_accepted_and_vx86s_bios_boots_the_primary_master_even_under_boot_d() {
    let scratch = Scratch::new("cdrom");
    let disk = scratch.file("disk.raw", &write_guest_disk());
    let slave = scratch.file("slave.raw", &[0; 4096]);
    let iso = scratch.file("cd.iso", &[0; 4 * 2048]);
    let out = run(&[
        "-drive",
        &format!("file={}", s(&disk)),
        "-hdb",
        s(&slave),
        "-cdrom",
        s(&iso),
        "-boot",
        "d",
    ]);
    assert_eq!(out.status.code(), Some(WRITE_OK), "{}", stderr_of(&out));
    assert_eq!(
        std::fs::read(&iso).unwrap(),
        [0; 4 * 2048],
        "the ISO is read only"
    );
    // A CD-ROM alone: the primary channel is absent, so vx86's BIOS finds no disk and halts.
    let out = run(&["-drive", &format!("file={},media=cdrom", s(&iso))]);
    assert_eq!(out.status.code(), Some(10), "{}", stderr_of(&out));
}

fn assert_rejected(args: &[&str], message: &str) {
    let out = run(args);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(
        err.contains(message),
        "{args:?}: expected '{message}' in: {err}"
    );
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "{args:?}: one line: {err}"
    );
    assert!(!err.contains("panicked"), "{args:?}: {err}");
}

#[test]
fn bad_drive_input_gives_one_clear_line() {
    let scratch = Scratch::new("bad");
    let raw = scratch.file("disk.raw", &write_guest_disk());
    let mut truncated = b"QFI\xfb\0\0\0\x03".to_vec();
    truncated.resize(60, 0);
    let truncated = scratch.file("truncated.qcow2", &truncated);
    let iso = scratch.file("cd.iso", &[0; 2048]);
    let drive = |spec: String| vec!["-drive".to_string(), spec];
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            drive(format!("file={},format=vmdk", s(&raw))),
            "unknown disk format 'vmdk'".into(),
        ),
        (
            drive(format!("file={}", s(&truncated))),
            format!("disk image {}: truncated qcow2 header", s(&truncated)),
        ),
        (
            vec!["-cdrom".into(), "/nonexistent/vx86.iso".into()],
            "cannot open disk image /nonexistent/vx86.iso".into(),
        ),
        (
            vec![
                "-hdb".into(),
                s(&raw).into(),
                "-drive".into(),
                format!("file={},index=1,snapshot=on", s(&raw)),
            ],
            "two drives for IDE index 1".into(),
        ),
        (
            [0, 1, 2, 3, 4]
                .iter()
                .flat_map(|_| drive(format!("file={},media=cdrom", s(&iso))))
                .collect(),
            format!("{} is one drive too many", s(&iso)),
        ),
        (
            drive(format!("file={},index=4", s(&iso))),
            "invalid -drive".into(),
        ),
        (
            vec!["-hda".into(), s(&raw).into(), "-boot".into(), "n".into()],
            "invalid -boot 'n'".into(),
        ),
        (
            drive(format!("file={},cache=none", s(&raw))),
            "invalid -drive".into(),
        ),
    ];
    for (args, message) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_rejected(&args, &message);
    }
}

#[test]
fn a_qcow2_whose_l2_table_lies_past_the_end_is_refused() {
    if !have_qemu_img() {
        return;
    }
    let scratch = Scratch::new("l1");
    let img = scratch.0.join("disk.qcow2");
    qemu_img(&["create", "-q", "-f", "qcow2", s(&img), "1M"]);
    let mut bytes = std::fs::read(&img).unwrap();
    let l1 = u64::from_be_bytes(bytes[40..48].try_into().unwrap()) as usize;
    bytes[l1..l1 + 8].copy_from_slice(&(1u64 << 63 | 1 << 30).to_be_bytes());
    std::fs::write(&img, &bytes).unwrap();
    assert_rejected(
        &["-hda", s(&img)],
        "L1 entry 0 points at an L2 table at 0x40000000, past the end of the file",
    );
}

#[test]
fn a_second_writer_is_refused_with_the_file_named() {
    let scratch = Scratch::new("lock");
    let img = scratch.file("disk.raw", &write_guest_disk());
    let held = vx86_devices::open_image(&img, &vx86_devices::ImageOptions::default()).unwrap();
    assert_rejected(
        &["-hda", s(&img)],
        &format!("cannot lock disk image {} for writing", s(&img)),
    );
    drop(held);
    assert_eq!(run_write_guest(&img, ""), WRITE_OK, "free again");
}
