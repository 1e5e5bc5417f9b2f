//! `-kernel`, `-initrd` and `-append` with `-bios`, as QEMU boots them: vx86 hands the Debian guest's kernel to
//! Debian's unmodified SeaBIOS through fw_cfg with vx86's Linux loader option ROM first in the boot order; SeaBIOS
//! boots the ROM, which loads the setup, kernel, initrd and command line and enters the kernel's real-mode setup.
//! The kernel runs the workload to the host's results and powers off. Without `-bios` the same flags still boot the
//! kernel directly, with no firmware in the way. Both through the `vx86` binary under the translator. A multiboot
//! image cannot go through the firmware: vx86 says so.
//!
//! Skipped (with a message) when the guest or the firmware has not been fetched, and failed under `CI=true`.

mod common;

use common::{s, stderr_of, Scratch};
use vx86_machine::Outcome;

/// Runs `vx86` under the translator with the Debian guest's kernel and initramfs, the workload's command line and
/// `firmware` (a `-bios` image, or none for our own BIOS): the console, and how the run ended as vx86 reports it.
/// `None` (after saying why) when the guest or the firmware is not there.
fn boot_kernel(scratch: &Scratch, firmware: Option<Vec<u8>>) -> Option<(String, String)> {
    let (kernel, initrd) = common::debian_guest()?;
    let kernel = scratch.file("vmlinuz", &kernel);
    let initrd = scratch.file("initrd.gz", &initrd);
    let console = scratch.0.join("console.txt");
    let mut vx86 = common::vx86();
    if let Some(image) = firmware {
        vx86.args(["-bios", s(&scratch.file("bios.bin", &image))]);
    }
    let out = vx86
        .args(["-kernel", s(&kernel), "-initrd", s(&initrd)])
        .args(["-append", "console=ttyS0 panic=-1", "-m", "256"])
        .args(["-serial", &format!("file:{}", s(&console))])
        .args(["-accel", "bt", "-icount", "-no-reboot"])
        .args(["-max-instructions", "20000000000"])
        .output()
        .unwrap();
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    Some((std::fs::read_to_string(&console).unwrap(), stderr))
}

/// The kernel got the command line, ran the workload and powered off (which vx86 reported).
fn assert_booted_to_power_off(text: &str, stderr: &str) {
    assert!(
        stderr.contains("exit: PowerOff"),
        "{stderr}\nconsole:\n{text}"
    );
    assert!(
        text.contains("Command line: console=ttyS0 panic=-1"),
        "console:\n{text}"
    );
    common::assert_workload_ran(&Outcome::PowerOff, text);
}

#[test]
fn seabios_boots_kernel_initrd_and_append_through_the_loader_rom_to_the_workload_and_power_off() {
    let Some(seabios) = common::debian_seabios() else {
        return;
    };
    let scratch = Scratch::new("kernel-seabios");
    let Some((text, stderr)) = boot_kernel(&scratch, Some(seabios)) else {
        return;
    };
    eprintln!("{stderr}");
    for line in ["SeaBIOS (version", "Booting from ROM"] {
        assert!(text.contains(line), "missing '{line}'; console:\n{text}");
    }
    assert_booted_to_power_off(&text, &stderr);
}

#[test]
fn without_bios_the_kernel_still_boots_directly_with_no_firmware_in_the_way() {
    let scratch = Scratch::new("kernel-direct");
    let Some((text, stderr)) = boot_kernel(&scratch, None) else {
        return;
    };
    for firmware in ["SeaBIOS", "vx86 BIOS", "Booting from"] {
        assert!(
            !text.contains(firmware),
            "'{firmware}' ran; console:\n{text}"
        );
    }
    assert_booted_to_power_off(&text, &stderr);
}

#[test]
fn a_multiboot_kernel_with_bios_is_refused_with_a_line_saying_what_to_do() {
    let scratch = Scratch::new("kernel-multiboot-bios");
    let kernel = common::multiboot_image(0x10_0000, common::bochs_shutdown);
    let kernel = scratch.file("kernel.flat", &kernel);
    let bios = scratch.file("bios.bin", &vx86_firmware::bios::image());
    let out = common::vx86()
        .args(["-bios", s(&bios), "-kernel", s(&kernel), "-serial", "none"])
        .output()
        .unwrap();
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("with a BIOS, -kernel must be a Linux bzImage"),
        "{stderr}"
    );
}
