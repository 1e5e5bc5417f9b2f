//! Helpers shared by the machine's integration tests.

// Each test binary compiles this module and uses only some of it.
#![allow(dead_code)]

use iced_x86::code_asm::*;
use std::path::{Path, PathBuf};
use vx86_cpu::testing::skip_outside_ci;
use vx86_machine::engine::HostVirt;

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
