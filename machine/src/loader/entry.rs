//! The CPU state a directly loaded kernel starts in, and the boot GDT and identity-mapped page tables behind it.
//!
//! Linux's boot protocol (boot.rst, "32-bit/64-bit boot protocol") asks for flat segments from a GDT holding
//! `__BOOT_CS` (0x10) and `__BOOT_DS` (0x18), interrupts off, and for the 64-bit entry paging on with an identity
//! map covering the kernel, the zero page and the command line. Multiboot asks for the same flat 32-bit state. The
//! loaders write the tables here into guest RAM; the CPU setup applies the returned [`BootState`].

use super::{write, LoadError, BOOT_PDPT_ADDR, BOOT_PD_ADDR, BOOT_PML4_ADDR};
use crate::layout::PAGE_SIZE;
use crate::memory::GuestMemory;
use vx86_cpu::state::Segment;

/// Selector of the boot code segment (Linux's `__BOOT_CS`).
pub const BOOT_CS: u16 = 0x10;
/// Selector of the boot data segment (Linux's `__BOOT_DS`).
pub const BOOT_DS: u16 = 0x18;

/// Flat 4 GiB 64-bit code: present, DPL 0, execute/read, accessed, L = 1, G = 1.
pub const GDT_CODE64: u64 = 0x00AF_9B00_0000_FFFF;
/// Flat 4 GiB 32-bit code: present, DPL 0, execute/read, accessed, D = 1, G = 1.
pub const GDT_CODE32: u64 = 0x00CF_9B00_0000_FFFF;
/// Flat 4 GiB data: present, DPL 0, read/write, accessed, B = 1, G = 1.
pub const GDT_DATA: u64 = 0x00CF_9300_0000_FFFF;

/// CR0.PE: protected mode.
pub const CR0_PE: u64 = 1 << 0;
/// CR0.ET: extension type (hard-wired 1 on every CPU since the 486).
pub const CR0_ET: u64 = 1 << 4;
/// CR0.PG: paging.
pub const CR0_PG: u64 = 1 << 31;
/// CR4.PAE: physical address extension (required for long mode).
pub const CR4_PAE: u64 = 1 << 5;
/// EFER.LME: long mode enable.
pub const EFER_LME: u64 = 1 << 8;
/// EFER.LMA: long mode active.
pub const EFER_LMA: u64 = 1 << 10;

/// Page-table entry bits: present, writable, page size (a 2 MiB page in a page directory).
const PTE_P: u64 = 1 << 0;
const PTE_RW: u64 = 1 << 1;
const PTE_PS: u64 = 1 << 7;

/// Which mode the kernel is entered in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryMode {
    /// 32-bit protected mode, paging off (Linux's 32-bit entry, multiboot).
    Protected32,
    /// 64-bit long mode with the identity map (Linux's 64-bit entry).
    Long64,
}

/// The CPU state to start a loaded kernel in. Apply every field; the rest of the CPU stays at its reset values
/// (general registers 0, interrupts off, no IDT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootState {
    /// Protected or long mode.
    pub mode: EntryMode,
    /// Entry point.
    pub rip: u64,
    /// Stack pointer ([`super::BOOT_STACK_TOP`], or in multiboot's moved boot area).
    pub rsp: u64,
    /// Linux: the zero page address. Otherwise 0.
    pub rsi: u64,
    /// Multiboot: the magic 0x2BADB002. Otherwise 0.
    pub rax: u64,
    /// Multiboot: the information structure's address. Otherwise 0.
    pub rbx: u64,
    /// RFLAGS: 0x2 (IF clear).
    pub rflags: u64,
    /// CR0: PE | ET, plus PG for long mode.
    pub cr0: u64,
    /// CR3: the PML4 for long mode, else 0.
    pub cr3: u64,
    /// CR4: PAE for long mode, else 0.
    pub cr4: u64,
    /// EFER: LME | LMA for long mode, else 0.
    pub efer: u64,
    /// GDTR base ([`super::BOOT_GDT_ADDR`], or in multiboot's moved boot area).
    pub gdt_base: u64,
    /// GDTR limit.
    pub gdt_limit: u16,
    /// CS, with its descriptor cache filled from the GDT entry it selects.
    pub code: Segment,
    /// DS, ES, FS, GS and SS, likewise.
    pub data: Segment,
    /// Guest-physical range the kernel was loaded to (for traces and tests).
    pub kernel: (u64, u64),
    /// Guest-physical range of the initrd or multiboot module, if any.
    pub initrd: Option<(u64, u64)>,
}

/// The descriptor cache that loading `selector` from a GDT entry `desc` produces (flat: base 0, 4 GiB limit).
fn segment(selector: u16, desc: u64) -> Segment {
    let access = ((desc >> 40) & 0xFF) as u16;
    let flags = ((desc >> 52) & 0xF) as u16;
    Segment {
        base: 0,
        limit: 0xFFFF_FFFF,
        selector,
        attrs: access | flags << 12,
    }
}

/// Writes the boot GDT for `mode` at `gdt_addr` (normally [`super::BOOT_GDT_ADDR`]) and, for long mode, the identity map of 0..4 GiB (2 MiB
/// pages) at [`BOOT_PML4_ADDR`]; returns the state to enter `rip` with, `rsi`/`rax`/`rbx` still 0.
pub(crate) fn setup(
    mem: &mut GuestMemory,
    mode: EntryMode,
    rip: u64,
    kernel: (u64, u64),
    gdt_addr: u64,
) -> Result<BootState, LoadError> {
    let code = match mode {
        EntryMode::Protected32 => GDT_CODE32,
        EntryMode::Long64 => GDT_CODE64,
    };
    let gdt = [0, 0, code, GDT_DATA];
    let bytes: Vec<u8> = gdt.iter().flat_map(|d| d.to_le_bytes()).collect();
    write(mem, "the boot GDT", gdt_addr, &bytes)?;
    let (cr0, cr3, cr4, efer) = match mode {
        EntryMode::Protected32 => (CR0_PE | CR0_ET, 0, 0, 0),
        EntryMode::Long64 => {
            write_identity_map(mem)?;
            (
                CR0_PE | CR0_ET | CR0_PG,
                BOOT_PML4_ADDR,
                CR4_PAE,
                EFER_LME | EFER_LMA,
            )
        }
    };
    Ok(BootState {
        mode,
        rip,
        rsp: super::BOOT_STACK_TOP,
        rsi: 0,
        rax: 0,
        rbx: 0,
        rflags: 0x2,
        cr0,
        cr3,
        cr4,
        efer,
        gdt_base: gdt_addr,
        gdt_limit: (bytes.len() - 1) as u16,
        code: segment(BOOT_CS, code),
        data: segment(BOOT_DS, GDT_DATA),
        kernel,
        initrd: None,
    })
}

/// PML4[0] -> PDPT, PDPT[0..4] -> four page directories, each of 512 2 MiB pages: 0..4 GiB maps to itself.
fn write_identity_map(mem: &mut GuestMemory) -> Result<(), LoadError> {
    let table = |entries: &mut dyn Iterator<Item = u64>| -> Vec<u8> {
        let mut page = vec![0u8; PAGE_SIZE as usize];
        for (k, e) in entries.enumerate() {
            page[k * 8..k * 8 + 8].copy_from_slice(&e.to_le_bytes());
        }
        page
    };
    let pml4 = table(&mut std::iter::once(BOOT_PDPT_ADDR | PTE_P | PTE_RW));
    write(mem, "the boot page tables", BOOT_PML4_ADDR, &pml4)?;
    let pdpt = table(&mut (0..4).map(|k| (BOOT_PD_ADDR + k * PAGE_SIZE) | PTE_P | PTE_RW));
    write(mem, "the boot page tables", BOOT_PDPT_ADDR, &pdpt)?;
    for k in 0..4u64 {
        let pd = table(&mut (0..512).map(|j| ((k * 512 + j) << 21) | PTE_P | PTE_RW | PTE_PS));
        write(
            mem,
            "the boot page tables",
            BOOT_PD_ADDR + k * PAGE_SIZE,
            &pd,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vx86_cpu::state::attr;

    #[test]
    fn segments_match_their_descriptors() {
        let cs = segment(BOOT_CS, GDT_CODE64);
        assert!(cs.is_code() && cs.present() && !cs.big());
        assert_eq!(cs.attrs & attr::L, attr::L);
        let cs32 = segment(BOOT_CS, GDT_CODE32);
        assert!(cs32.big() && cs32.attrs & attr::L == 0);
        let ds = segment(BOOT_DS, GDT_DATA);
        assert!(!ds.is_code() && ds.big() && ds.dpl() == 0);
    }
}
