//! Helpers shared by the machine's integration tests.

// Each test binary compiles this module and uses only some of it.
#![allow(dead_code)]

use iced_x86::code_asm::*;

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
