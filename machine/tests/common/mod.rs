//! Helpers shared by the machine's integration tests.

// Each test binary compiles this module and uses only some of it.
#![allow(dead_code)]

pub mod bzimage;
pub mod flat;

use iced_x86::code_asm::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use vx86_cpu::testing::skip_outside_ci;
use vx86_machine::engine::HostVirt;
use vx86_machine::Outcome;

/// Emits a power-off through the ACPI PM1a control port (SLP_EN with the `\_S5` sleep type 0), then CLI/HLT.
pub fn acpi_power_off(a: &mut CodeAssembler) {
    a.mov(dx, 0x604u32).unwrap();
    a.mov(ax, 0x2000u32).unwrap();
    a.out(dx, ax).unwrap();
    a.cli().unwrap();
    a.hlt().unwrap();
}

/// A 64 KiB BIOS image holding `code` (real-mode code assembled at offset 0) at F000:0000, HLT bytes elsewhere,
/// and at the reset vector F000:FFF0 a far JMP to F000:0000.
pub fn bios_with_code(code: &[u8]) -> Vec<u8> {
    let mut image = vec![0xF4u8; 64 * 1024];
    image[..code.len()].copy_from_slice(code);
    image[0xFFF0..0xFFF5].copy_from_slice(&[0xEA, 0x00, 0x00, 0x00, 0xF0]);
    image
}

/// The directory `guests/debian-linux.sh` fills: `VX86_GUEST_CACHE` when set and not empty, as the script reads it
/// (a relative path is taken from the repository root, where the script is run), else `guests/cache`.
pub fn guest_cache() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("machine/ is in the repository");
    match std::env::var_os("VX86_GUEST_CACHE").filter(|dir| !dir.is_empty()) {
        Some(dir) => root.join(dir),
        None => root.join("guests/cache"),
    }
}

/// The Debian guest's kernel and initramfs from [`guest_cache`]; `None`, after [`skip_outside_ci`] says why, when
/// they have not been fetched.
pub fn debian_guest() -> Option<(Vec<u8>, Vec<u8>)> {
    let read = |name: &str| {
        let path = guest_cache().join(name);
        std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))
    };
    match read("vmlinuz").and_then(|kernel| Ok((kernel, read("initramfs.cpio.gz")?))) {
        Ok(guest) => Some(guest),
        Err(why) => {
            skip_outside_ci(format_args!("run guests/debian-linux.sh first ({why})"));
            None
        }
    }
}

/// The Debian guest's kernel and its initramfs with the archive `name` from [`guest_cache`] appended (the kernel
/// unpacks concatenated archives: the archive's modules and script join the usual initramfs); `None`, after
/// [`skip_outside_ci`] says why, when they have not been built.
pub fn debian_guest_with(name: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    let (kernel, mut initrd) = debian_guest()?;
    let path = guest_cache().join(name);
    match std::fs::read(&path) {
        Ok(archive) => {
            initrd.extend_from_slice(&archive);
            Some((kernel, initrd))
        }
        Err(why) => {
            skip_outside_ci(format_args!(
                "run guests/debian-linux.sh first ({}: {why})",
                path.display()
            ));
            None
        }
    }
}

/// Debian's SeaBIOS image from [`guest_cache`] (`guests/debian-firmware.sh` fetches it); `None`, after
/// [`skip_outside_ci`] says why, when it has not been fetched.
pub fn debian_seabios() -> Option<Vec<u8>> {
    debian_firmware("bios-256k.bin")
}

/// Debian's std-vga video BIOS from [`guest_cache`] (`guests/debian-firmware.sh` fetches it); `None`, after
/// [`skip_outside_ci`] says why, when it has not been fetched.
pub fn debian_vgabios() -> Option<Vec<u8>> {
    debian_firmware("vgabios-stdvga.bin")
}

/// The firmware image `name` that `guests/debian-firmware.sh` put in [`guest_cache`]`/firmware`.
fn debian_firmware(name: &str) -> Option<Vec<u8>> {
    let path = guest_cache().join("firmware").join(name);
    match std::fs::read(&path) {
        Ok(image) => Some(image),
        Err(why) => {
            skip_outside_ci(format_args!(
                "run guests/debian-firmware.sh first ({}: {why})",
                path.display()
            ));
            None
        }
    }
}

/// The host's virtualisation support when KVM is usable; `None`, after [`skip_outside_ci`] says why, when not.
pub fn usable_kvm() -> Option<HostVirt> {
    let host = HostVirt::probe();
    match &host.kvm {
        Ok(()) => Some(host),
        Err(why) => {
            skip_outside_ci(format_args!("kvm unavailable: {why}"));
            None
        }
    }
}

/// A multiboot v1 image loaded by its address fields at `base`, entered at the 32-bit code `code` emits (assembled
/// right after the 32-byte header).
pub fn multiboot_image(base: u32, code: impl FnOnce(&mut CodeAssembler)) -> Vec<u8> {
    const MAGIC: u32 = 0x1BAD_B002;
    const FLAGS: u32 = 1 << 16;
    let mut a = CodeAssembler::new(32).unwrap();
    code(&mut a);
    let code = a.assemble(u64::from(base) + 32).unwrap();
    let header = [
        MAGIC,
        FLAGS,
        0u32.wrapping_sub(MAGIC + FLAGS),
        base,
        base,
        0,
        0,
        base + 32,
    ];
    let mut image: Vec<u8> = header.iter().flat_map(|w| w.to_le_bytes()).collect();
    image.extend_from_slice(&code);
    image
}

/// Emits Bochs' power-off: "Shutdown" to port 0x8900 a byte at a time, then CLI/HLT.
pub fn bochs_shutdown(a: &mut CodeAssembler) {
    a.mov(dx, 0x8900u32).unwrap();
    for b in *b"Shutdown" {
        a.mov(al, u32::from(b)).unwrap();
        a.out(dx, al).unwrap();
    }
    a.cli().unwrap();
    a.hlt().unwrap();
}

/// Emits a multiboot kernel's body that prints its command line (from the information structure at EBX) on the
/// debug console at port 0xE9, after a '!' if EAX is not the boot loader's magic, then powers off through Bochs'
/// port.
pub fn print_cmdline_and_shut_down(a: &mut CodeAssembler) {
    let mut magic_ok = a.create_label();
    let mut next = a.create_label();
    let mut done = a.create_label();
    a.mov(dx, 0xE9u32).unwrap();
    a.cmp(eax, 0x2BAD_B002u32).unwrap();
    a.je(magic_ok).unwrap();
    a.mov(al, u32::from(b'!')).unwrap();
    a.out(dx, al).unwrap();
    a.set_label(&mut magic_ok).unwrap();
    a.mov(esi, dword_ptr(ebx + 16)).unwrap();
    a.set_label(&mut next).unwrap();
    a.mov(al, byte_ptr(esi)).unwrap();
    a.test(al, al).unwrap();
    a.jz(done).unwrap();
    a.out(dx, al).unwrap();
    a.inc(esi).unwrap();
    a.jmp(next).unwrap();
    a.set_label(&mut done).unwrap();
    bochs_shutdown(a);
}

/// The `vx86` binary under test.
pub fn vx86() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vx86"))
}

/// A scratch folder for one test, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// A fresh folder named after the process and `tag`.
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("vx86-test-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// Writes `bytes` to `name` in the folder and returns its path.
    pub fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A path as a command-line argument.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// What a process printed on stderr.
pub fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Whether qemu-img runs here; if not, says the test skipped (a failure under `CI=true`).
pub fn have_qemu_img() -> bool {
    let ok = Command::new("qemu-img").arg("--version").output().is_ok();
    if !ok {
        vx86_cpu::testing::skip_outside_ci(
            "qemu-img (apt-get install qemu-utils) is not installed",
        );
    }
    ok
}

/// Runs qemu-img with `args`, which must succeed; returns its stdout.
pub fn qemu_img(args: &[&str]) -> String {
    let out = Command::new("qemu-img").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "qemu-img {args:?}: {}",
        stderr_of(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The Debian guest's boot reached /init, found the PCI functions, ran the workload to the host's results with a
/// clean kernel log, and powered off.
pub fn assert_workload_ran(outcome: &Outcome, text: &str) {
    assert_workload_results(outcome, text);
    assert_eq!(*outcome, Outcome::PowerOff, "console:\n{text}");
}

/// The Debian guest's boot reached /init, found the PCI functions and ran the workload to its end with the host's
/// results and a clean kernel log, however the run then ended (`outcome` is for the messages).
pub fn assert_workload_results(outcome: &Outcome, text: &str) {
    assert!(
        text.contains("VX86-INIT-START"),
        "outcome {outcome:?}; console:\n{text}"
    );
    // The workload's results, computed on the host by the same busybox from the same data.
    let expected = std::fs::read_to_string(guest_cache().join("expected.txt")).unwrap();
    for line in expected.lines().filter(|l| l.starts_with("RESULT ")) {
        assert!(
            text.contains(line),
            "missing or different: {line}\noutcome {outcome:?}; console:\n{text}"
        );
    }
    assert!(
        text.contains("VX86-WORKLOAD-DONE"),
        "outcome {outcome:?}; console:\n{text}"
    );
    // The PCI functions the kernel found (as `lspci -n` would list them): QEMU's `pc` chipset and its std-vga,
    // with their IDs.
    let found: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("VX86-PCI "))
        .collect();
    assert_eq!(
        found,
        [
            "VX86-PCI 0000:00:00.0 0x060000 0x8086:0x1237",
            "VX86-PCI 0000:00:01.0 0x060100 0x8086:0x7000",
            "VX86-PCI 0000:00:01.1 0x010180 0x8086:0x7010",
            "VX86-PCI 0000:00:01.3 0x068000 0x8086:0x7113",
            "VX86-PCI 0000:00:02.0 0x030000 0x1234:0x1111",
        ],
        "console:\n{text}"
    );
    // No oops, warnings or failed self-tests; no unknown-MSR or invalid-opcode reports; no clocksource, TSC or
    // PMU complaints.
    for bad in [
        "Oops",
        "WARNING:",
        "BUG",
        "failed",
        "invalid opcode",
        "unchecked MSR access error",
        "Kernel panic",
        "Marking TSC unstable",
        "TSC calibration failed",
        "Unable to calibrate",
        "timekeeping watchdog",
        "Broken PMU",
    ] {
        assert!(!text.contains(bad), "kernel log mentions '{bad}':\n{text}");
    }
}
