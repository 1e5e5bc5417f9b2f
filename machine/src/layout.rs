//! The PC memory map: every guest-physical address the board uses, in one place.
//!
//! ```text
//! 0x0000_0000 .. 0x000A_0000   conventional RAM (IVT, BIOS data area, boot sector at 0x7C00)
//! 0x000A_0000 .. 0x000C_0000   VGA window (plain memory here: the text buffer at 0xB8000)
//! 0x000C_0000 .. BIOS low      option-ROM area (RAM)
//! BIOS low    .. 0x0010_0000   the last 128 KiB (or less) of the BIOS image, read-only
//! 0x0010_0000 .. RAM top       extended RAM (up to the PCI hole)
//! RAM top     .. 4 GiB - ROM   PCI hole: MMIO, open bus for now
//! 4 GiB - ROM .. 4 GiB         the whole BIOS image, read-only (the reset vector is at 0xFFFF_FFF0)
//! 4 GiB       .. 4 GiB + rest  RAM that did not fit below the hole
//! ```

/// Start of the VGA window.
pub const VGA_WINDOW: u64 = 0xA_0000;
/// End of conventional memory and of the BIOS-visible first megabyte.
pub const ONE_MIB: u64 = 0x10_0000;
/// 4 GiB: the top of 32-bit physical address space and the start of high RAM.
pub const FOUR_GIB: u64 = 0x1_0000_0000;
/// The most of the BIOS image that is also visible just below 1 MiB.
pub const BIOS_LOW_WINDOW_MAX: u64 = 128 * 1024;
/// Smallest guest RAM the board accepts (the BIOS and its data need the first megabyte plus room above it).
pub const MIN_RAM: u64 = 2 * 1024 * 1024;
/// Page size of the memory map's granularity.
pub const PAGE_SIZE: u64 = 4096;
