//! Helpers shared by the machine's integration tests.

/// A 64 KiB BIOS image holding `code` (real-mode code assembled at offset 0) at F000:0000, HLT bytes elsewhere,
/// and at the reset vector F000:FFF0 a far JMP to F000:0000.
pub fn bios_with_code(code: &[u8]) -> Vec<u8> {
    let mut image = vec![0xF4u8; 64 * 1024];
    image[..code.len()].copy_from_slice(code);
    image[0xFFF0..0xFFF5].copy_from_slice(&[0xEA, 0x00, 0x00, 0x00, 0xF0]);
    image
}
