//! The `vx86` binary: exit statuses and one clear line for bad input, never a panic.

mod common;

use iced_x86::code_asm::*;
use std::process::Command;

fn vx86() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vx86"))
}

fn temp_file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("vx86-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A 64 KiB BIOS whose reset vector jumps to code that loads an empty IVT and raises INT3: #GP, #DF, shutdown.
fn triple_fault_bios() -> Vec<u8> {
    let mut a = CodeAssembler::new(16).unwrap();
    a.mov(ax, 0xF000u32).unwrap();
    a.mov(ds, ax).unwrap();
    a.lidt(ptr(0x100)).unwrap();
    a.int3().unwrap();
    a.hlt().unwrap();
    let mut image = common::bios_with_code(&a.assemble(0).unwrap());
    // The IDTR image at F000:0100: limit 0, base 0.
    image[0x100..0x106].fill(0);
    image
}

#[test]
fn a_triple_faulting_guest_ends_with_a_clear_line_and_status_4() {
    let bios = temp_file("triple.bin", &triple_fault_bios());
    let out = vx86()
        .args([
            "-bios",
            bios.to_str().unwrap(),
            "-serial",
            "none",
            "-no-reboot",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("triple-faulted"),
        "{}",
        stderr_of(&out)
    );
}

/// Runs vx86 with `args` and asserts it exits with status 2 (a usage error, even so that no guest's isa-debug-exit
/// can give it) and a line containing `message`, without a panic.
fn assert_rejected(args: &[&str], message: &str) {
    let out = vx86().args(args).output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(
        err.contains(message),
        "{args:?}: expected '{message}' in: {err}"
    );
    assert!(!err.contains("panicked"), "{args:?}: {err}");
}

#[test]
fn a_bios_of_the_wrong_size_is_rejected() {
    let bios = temp_file("short.bin", &[0x90; 1000]);
    assert_rejected(
        &["-bios", bios.to_str().unwrap(), "-serial", "none"],
        "BIOS image is 1000 bytes",
    );
}

#[test]
fn missing_files_are_named_in_the_error() {
    assert_rejected(
        &["-bios", "/nonexistent/bios.bin"],
        "cannot read BIOS image /nonexistent/bios.bin",
    );
    assert_rejected(
        &["-hda", "/nonexistent/disk.img", "-serial", "none"],
        "/nonexistent/disk.img",
    );
}

#[test]
fn bad_flags_and_values_give_status_2() {
    assert_rejected(&["-bogus"], "unexpected argument");
    assert_rejected(&["-m", "lots"], "invalid memory size");
    assert_rejected(&["-accel", "warp"], "unknown accelerator");
    assert_rejected(&["-d", "everything"], "unknown trace");
    assert_rejected(&["-serial", "tty"], "invalid -serial");
    assert_rejected(&["-debugcon", "tty"], "invalid -debugcon");
    assert_rejected(&["-device", "e1000"], "unknown -device 'e1000'");
    assert_rejected(
        &["-device", "isa-debug-exit,iobase=0x501"],
        "unknown -device 'isa-debug-exit,iobase=0x501'",
    );
}

#[test]
fn garbage_bios_images_run_without_panicking() {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    for k in 0..4 {
        let image: Vec<u8> = (0..64 * 1024)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        let bios = temp_file(&format!("garbage{k}.bin"), &image);
        let out = vx86()
            .args([
                "-bios",
                bios.to_str().unwrap(),
                "-serial",
                "none",
                "-no-reboot",
                "-icount",
                "-max-instructions",
                "300000",
            ])
            .output()
            .unwrap();
        let err = stderr_of(&out);
        assert!(!err.contains("panicked"), "{err}");
        // Whatever the garbage did (power-off, a debug exit, a triple fault, the limit, a halt), never a usage
        // error or a failure of vx86 itself.
        assert!(
            matches!(out.status.code(), Some(c) if c != 2 && c != 14),
            "status {:?}: {err}",
            out.status.code()
        );
    }
}

/// A multiboot v1 kernel loaded at 1 MiB (header with address fields) that prints "MB:" plus EAX==magic and
/// whether EBX points at the info structure, on COM1, then powers off.
fn multiboot_kernel() -> Vec<u8> {
    const BASE: u32 = 0x10_0000;
    const MAGIC: u32 = 0x1BAD_B002;
    const FLAGS: u32 = 1 << 16;
    let mut a = CodeAssembler::new(32).unwrap();
    let mut ok = a.create_label();
    a.mov(esi, eax).unwrap();
    a.mov(dx, 0x3F8u32).unwrap();
    for b in *b"MB:" {
        a.mov(al, u32::from(b)).unwrap();
        a.out(dx, al).unwrap();
    }
    a.cmp(esi, 0x2BAD_B002u32).unwrap();
    a.mov(al, u32::from(b'N')).unwrap();
    a.jne(ok).unwrap();
    a.mov(al, u32::from(b'Y')).unwrap();
    a.set_label(&mut ok).unwrap();
    a.out(dx, al).unwrap();
    a.mov(al, u32::from(b'\n')).unwrap();
    a.out(dx, al).unwrap();
    a.mov(dx, 0x604u32).unwrap();
    a.mov(ax, 0x2000u32).unwrap();
    a.out(dx, ax).unwrap();
    a.hlt().unwrap();
    let code = a.assemble(u64::from(BASE) + 32).unwrap();
    let header = [
        MAGIC,
        FLAGS,
        0u32.wrapping_sub(MAGIC + FLAGS),
        BASE,
        BASE,
        0,
        0,
        BASE + 32,
    ];
    let mut image: Vec<u8> = header.iter().flat_map(|w| w.to_le_bytes()).collect();
    image.extend_from_slice(&code);
    image
}

#[test]
fn a_multiboot_kernel_boots_directly_with_kernel() {
    let kernel = temp_file("multiboot.bin", &multiboot_kernel());
    let serial =
        std::env::temp_dir().join(format!("vx86-cli-{}/mb-serial.txt", std::process::id()));
    let out = vx86()
        .args([
            "-kernel",
            kernel.to_str().unwrap(),
            "-serial",
            &format!("file:{}", serial.display()),
            "-quiet",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(std::fs::read_to_string(serial).unwrap(), "MB:Y\n");
}

#[test]
fn malformed_kernels_and_lonely_initrds_are_rejected() {
    let junk = temp_file("junk-kernel.bin", &[0x5A; 4096]);
    assert_rejected(
        &["-kernel", junk.to_str().unwrap(), "-serial", "none"],
        "junk-kernel.bin",
    );
    assert_rejected(
        &["-initrd", junk.to_str().unwrap(), "-serial", "none"],
        "-initrd needs -kernel",
    );
    assert_rejected(
        &["-kernel", "/nonexistent/bzImage"],
        "cannot read kernel image /nonexistent/bzImage",
    );
}

#[test]
fn append_takes_a_value_that_begins_with_a_dash() {
    let image = common::multiboot_image(0x10_0000, common::print_cmdline_and_shut_down);
    let kernel = temp_file("args.flat", &image);
    let log = kernel.with_file_name("debugcon.txt");
    for (append, expected) in [("-quiet -x", " -quiet -x"), ("--no-reboot", " --no-reboot")] {
        let out = vx86()
            .args([
                "-kernel",
                kernel.to_str().unwrap(),
                "-append",
                append,
                "-debugcon",
                &format!("file:{}", log.display()),
                "-serial",
                "none",
                "-accel",
                "interp",
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            format!("{}{expected}", kernel.display()),
            "the kernel's name, then -append's value as given"
        );
        assert!(
            stderr_of(&out).contains("guest instructions"),
            "{append}: -append's value is not taken for -quiet"
        );
    }
}

#[test]
fn guest_debug_exits_are_odd_and_qemus_device_flags_are_accepted() {
    for (value, status) in [(0u32, 1), (2, 5), (0x7F, 255), (0x80, 1)] {
        let image = common::multiboot_image(0x10_0000, |a| {
            a.mov(al, value).unwrap();
            a.out(0xF4, al).unwrap();
            a.cli().unwrap();
            a.hlt().unwrap();
        });
        let kernel = temp_file(&format!("exit{value}.flat"), &image);
        let out = vx86()
            .args([
                "-kernel",
                kernel.to_str().unwrap(),
                "-device",
                "pc-testdev",
                "-device",
                "isa-debug-exit,iobase=0xf4,iosize=0x4",
                "-serial",
                "none",
                "-quiet",
                "-accel",
                "interp",
            ])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(status),
            "isa-debug-exit {value:#x}: {}",
            stderr_of(&out)
        );
    }
}
