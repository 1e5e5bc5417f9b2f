//! Two-level 32-bit paging (4 KiB pages, no PAE).
//!
//! With CR0.PG set, every linear address is translated: bits 31-22 index the page directory (found through CR3),
//! bits 21-12 index a page table, bits 11-0 are the offset in the 4 KiB page. Each entry holds a physical frame
//! address and flags: P (present), R/W (writable), U/S (user may access). Touching a page whose P bit is clear raises
//! #PF with the address in CR2, and the handler may map it and return: the faulting instruction then runs again.

use super::super::asm::Asm;
use super::super::{
    DEMAND_PAGE_VA, FREE_FRAMES_ADDR, PAGE_DIR_ADDR, PAGE_TABLE_LOW_ADDR, PAGE_TABLE_USER_ADDR,
    USER_IMAGE_ADDR, USER_STACK_FRAME,
};
use super::NEXT_FRAME;
use iced_x86::code_asm::*;

/// Page-table entry flag: present.
pub(super) const PTE_PRESENT: u32 = 1;
/// Page-table entry flag: writable.
pub(super) const PTE_WRITABLE: u32 = 2;
/// Page-table entry flag: user-accessible (U/S).
pub(super) const PTE_USER: u32 = 4;
/// CR0.PG: paging enable.
const CR0_PG: u32 = 0x8000_0000;
/// The value step 4 writes into the demand-mapped page.
const TEST_VALUE: u32 = 0x1BAD_B002;

/// Emits step 4: build the tables, enable paging, then touch the not-present page.
pub(super) fn emit_enable(asm: &mut Asm) -> Result<(), IcedError> {
    asm.say(concat!(
        "\nStep 4: paging.\n",
        " A linear address splits into directory index (10 bits), table index (10) and offset (12).\n",
        " The page directory at 0x2000 points to page tables whose entries map 4 KiB pages with flags\n",
        " P (present), R/W and U/S (user allowed). We identity-map 0-4 MiB for the kernel, supervisor\n",
        " only, leaving the page at 0x00300000 not present on purpose. The user program's page at\n",
        " 0x00400000 maps to physical 0x0000C000 and its stack page to 0x00005000, both with U/S = 1.\n",
    ))?;
    let fill = asm.a.create_label();
    let a = &mut asm.a;
    a.mov(edi, PAGE_TABLE_LOW_ADDR)?;
    a.mov(eax, PTE_PRESENT | PTE_WRITABLE)?;
    a.mov(ecx, 1024)?;
    asm.place(fill)?;
    let a = &mut asm.a;
    a.stosd()?;
    a.add(eax, 0x1000)?;
    a.dec(ecx)?;
    a.jnz(fill)?;
    a.mov(
        dword_ptr(PAGE_TABLE_LOW_ADDR + (DEMAND_PAGE_VA >> 12) * 4),
        0,
    )?;
    for table in [PAGE_TABLE_USER_ADDR, PAGE_DIR_ADDR] {
        a.mov(edi, table)?;
        a.xor(eax, eax)?;
        a.mov(ecx, 1024)?;
        a.rep().stosd()?;
    }
    let user = PTE_PRESENT | PTE_USER;
    for (entry, value) in [
        (PAGE_TABLE_USER_ADDR, USER_IMAGE_ADDR | user), // code: read-only for ring 3
        (
            PAGE_TABLE_USER_ADDR + 4,
            USER_STACK_FRAME | user | PTE_WRITABLE,
        ),
        (
            PAGE_DIR_ADDR,
            PAGE_TABLE_LOW_ADDR | PTE_PRESENT | PTE_WRITABLE,
        ), // 0-4 MiB: U/S = 0
        (
            PAGE_DIR_ADDR + 4,
            PAGE_TABLE_USER_ADDR | user | PTE_WRITABLE,
        ), // 4-8 MiB
    ] {
        a.mov(dword_ptr(entry), value)?;
    }
    a.mov(dword_ptr(NEXT_FRAME), FREE_FRAMES_ADDR)?;
    a.mov(eax, PAGE_DIR_ADDR)?;
    a.mov(cr3, eax)?;
    a.mov(eax, cr0)?;
    a.or(eax, CR0_PG as i32)?;
    a.mov(cr0, eax)?;
    asm.say(concat!(
        " CR3 = 0x00002000, CR0.PG = 1: paging is on (this code keeps running: it is identity-mapped).\n",
        " Now writing 0x1BADB002 to 0x00300000...\n",
    ))?;
    asm.a.mov(dword_ptr(DEMAND_PAGE_VA), TEST_VALUE)?;
    asm.say(" The write went through on its second try. Reading it back: 0x")?;
    asm.a.mov(eax, dword_ptr(DEMAND_PAGE_VA))?;
    asm.say_hex(8)?;
    asm.say(".\n")
}
