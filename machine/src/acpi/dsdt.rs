//! The DSDT and FACS: the smallest AML that lets Linux power the machine off, and the firmware control structure
//! every non-hardware-reduced ACPI system has.
//!
//! The DSDT's AML is one statement, `Name (\_S5, Package (0x04) { Zero, Zero, Zero, Zero })`, hand-assembled (ACPI
//! 6.x chapter 20):
//!
//! | bytes | AML | meaning |
//! |---|---|---|
//! | `08` | DefName := NameOp NameString DataRefObject | NameOp |
//! | `5C` | RootChar `\` | the name is in the root scope |
//! | `5F 53 35 5F` | NameSeg `_S5_` | the S5 (soft off) sleep object |
//! | `12` | DefPackage := PackageOp PkgLength NumElements PackageElementList | PackageOp |
//! | `06` | PkgLength (one byte, bits 0-5) | 6 bytes: this byte, NumElements and the four elements |
//! | `04` | NumElements | 4 |
//! | `00` | ZeroOp | SLP_TYPa = 0: the value PM1a_CNT.SLP_TYP takes for S5 (devices' `SLP_TYP_S5`) |
//! | `00` | ZeroOp | SLP_TYPb = 0 (there is no PM1b block) |
//! | `00 00` | ZeroOp ZeroOp | reserved |
//!
//! To power off, Linux reads SLP_TYPa from `\_S5` and writes `SLP_TYPa << 10 | SLP_EN` to PM1a_CNT (0x604).

use super::sdt::Sdt;

/// DSDT revision: 2 means AML integers are 64 bits wide.
pub const DSDT_REVISION: u8 = 2;

/// The AML of `Name (\_S5, Package (0x04) { Zero, Zero, Zero, Zero })` (see the module docs, byte by byte).
pub const AML_S5: [u8; 13] = [
    0x08, // NameOp
    0x5C, // RootChar '\'
    b'_', b'S', b'5', b'_', // NameSeg "_S5_"
    0x12, // PackageOp
    0x06, // PkgLength: 6
    0x04, // NumElements: 4
    0x00, // ZeroOp: SLP_TYPa
    0x00, // ZeroOp: SLP_TYPb
    0x00, // ZeroOp: reserved
    0x00, // ZeroOp: reserved
];

/// Builds the DSDT: the header and [`AML_S5`].
pub fn build_dsdt() -> Vec<u8> {
    let mut t = Sdt::new(b"DSDT", DSDT_REVISION);
    t.bytes(&AML_S5);
    t.finish()
}

/// Length of the FACS.
pub const FACS_LEN: usize = 64;
/// Required alignment of the FACS.
pub const FACS_ALIGN: usize = 64;
/// FACS version (ACPI 5.0 and later).
pub const FACS_VERSION: u8 = 2;

/// Builds the FACS (ACPI 6.x 5.2.10; it has no checksum): Signature "FACS" at 0, Length u32 at 4, Hardware
/// Signature u32 at 8, Firmware Waking Vector u32 at 12, Global Lock u32 at 16, Flags u32 at 20, X Firmware Waking
/// Vector u64 at 24, Version u8 at 32, reserved\[3\], OSPM Flags u32 at 36, reserved\[24\]. All zero but the
/// signature, length and version: no S4BIOS, no 64-bit wake, no waking vector (we never resume).
pub fn build_facs() -> Vec<u8> {
    let mut f = vec![0u8; FACS_LEN];
    f[0..4].copy_from_slice(b"FACS");
    f[4..8].copy_from_slice(&(FACS_LEN as u32).to_le_bytes());
    f[32] = FACS_VERSION;
    f
}
