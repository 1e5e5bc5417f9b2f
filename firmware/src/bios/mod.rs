//! The vx86 BIOS (work in progress).

/// Size of the BIOS image in bytes; it is mapped at 0xF0000 and aliased below 4 GiB.
pub const BIOS_SIZE: usize = 64 * 1024;

/// Assembles the BIOS image.
pub fn image() -> Vec<u8> {
    vec![0; BIOS_SIZE]
}
