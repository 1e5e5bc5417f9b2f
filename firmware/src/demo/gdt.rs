//! The Global Descriptor Table: segments and privilege levels.
//!
//! In protected mode a segment register holds a *selector*: `index << 3 | TI << 2 | RPL`. The index picks an 8-byte
//! *descriptor* from the GDT (TI = 0) that gives the segment's base, limit, type and DPL (descriptor privilege level,
//! 0 = most privileged). The CPU's current privilege level (CPL) is the low two bits of CS. Our segments are all flat
//! (base 0, limit 4 GiB), so segmentation only carries privilege, and paging does the real protection work.

/// Selector of the flat ring-0 code segment (GDT entry 1).
pub const KERNEL_CODE_SELECTOR: u16 = 0x08;
/// Selector of the flat ring-0 data and stack segment (GDT entry 2).
pub const KERNEL_DATA_SELECTOR: u16 = 0x10;
/// Selector of the flat ring-3 code segment (GDT entry 3, RPL 3).
pub const USER_CODE_SELECTOR: u16 = 0x18 | 3;
/// Selector of the flat ring-3 data and stack segment (GDT entry 4, RPL 3).
pub const USER_DATA_SELECTOR: u16 = 0x20 | 3;
/// Selector of the task-state segment (GDT entry 5), loaded with `LTR`.
pub const TSS_SELECTOR: u16 = 0x28;
/// Size in bytes of a 32-bit TSS without an I/O permission bitmap.
pub const TSS_SIZE: u32 = 104;

/// Encodes one segment descriptor. `access` is P | DPL | S | type; `flags` is G | D/B (the high nibble of byte 6).
fn descriptor(base: u32, limit: u32, access: u8, flags: u8) -> [u8; 8] {
    let [b0, b1, b2, b3] = base.to_le_bytes();
    let [l0, l1, l2, _] = limit.to_le_bytes();
    [l0, l1, b0, b1, b2, access, (flags << 4) | (l2 & 0x0F), b3]
}

/// The GDT's bytes: null, kernel code/data (DPL 0), user code/data (DPL 3), and a TSS at `tss_addr`.
pub(crate) fn table(tss_addr: u32) -> Vec<u8> {
    const PAGES_32BIT: u8 = 0b1100; // G = limit counts 4 KiB pages, D = 32-bit segment
    [
        [0; 8],
        descriptor(0, 0xF_FFFF, 0x9A, PAGES_32BIT), // present, DPL 0, code, execute/read
        descriptor(0, 0xF_FFFF, 0x92, PAGES_32BIT), // present, DPL 0, data, read/write
        descriptor(0, 0xF_FFFF, 0xFA, PAGES_32BIT), // present, DPL 3, code, execute/read
        descriptor(0, 0xF_FFFF, 0xF2, PAGES_32BIT), // present, DPL 3, data, read/write
        descriptor(tss_addr, TSS_SIZE - 1, 0x89, 0), // present, DPL 0, available 32-bit TSS
    ]
    .concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_code_descriptor_matches_the_textbook_encoding() {
        let gdt = table(0x1000);
        assert_eq!(
            u64::from_le_bytes(gdt[8..16].try_into().unwrap()),
            0x00CF_9A00_0000_FFFF
        );
        assert_eq!(
            u64::from_le_bytes(gdt[40..48].try_into().unwrap()),
            0x0000_8900_1000_0067
        );
    }
}
