//! The 64-bit long-mode flavour: started in 64-bit mode with paging on (4-level identity map of the first 4 MiB,
//! user-accessible: a 2 MiB page, then 4 KiB pages for the page-fault and INVLPG pages), a 64-bit TSS already in
//! TR, 16-byte IDT gates, and SYSCALL/SYSRETQ as the fast system call.
//!
//! This is the mode PVM is built for (64-bit Linux guests), so on a PVM host it runs where the 32-bit flavour is
//! refused.

use super::descriptors::{self, desc, gdt_bytes, tss, KCODE, TSS_BUSY};
use super::kernel::{if_selected, wrmsrs, Base, Emit, Flavour, Sym, Syms};
use super::{
    mask_of, op, Op, GDT_ADDR, KERNEL_STACK_TOP, PF_PAGE_A, SAVED_SP_ADDR, TSS_ADDR, USER_STACK_TOP,
};
use super::{
    CALL_RET, CLI_STI, COMPUTE, CR3_WRITE, DIV_ZERO, INT80, PAGE_FAULT, PORT_IO, PTE_INVLPG,
};
use iced_x86::code_asm::*;
use vx86_cpu::cpuid::msr;
use vx86_cpu::flags::{DF, IF, NT, TF};
use vx86_cpu::state::{attr, cr0, cr4, efer, Segment};
use vx86_cpu::CpuState;

/// The PML4 the guest starts with.
pub const PML4_ADDR: u32 = 0x3000;
/// The page-directory-pointer table (entry 0: the first GiB).
pub const PDPT_ADDR: u32 = 0x4000;
/// The page directory: a 2 MiB page at 0, then the page table.
pub const PAGE_DIR_ADDR: u32 = 0x5000;
/// The page table for linear 2-4 MiB (4 KiB pages: the page-fault and INVLPG pages).
pub const PAGE_TABLE_ADDR: u32 = 0x6000;
/// The copy of the PML4 (the CR3-write benchmark alternates between them).
pub const PML4_2_ADDR: u32 = 0x7000;
/// The linear address the page table's first entry maps.
const PAGE_TABLE_MAPS: u32 = 0x20_0000;

/// The SYSRET selector base: SYSRETQ loads CS = base + 16 (user code 64) and SS = base + 8 (user data).
const SYSRET_BASE: u16 = 0x18;
const UDATA: u16 = 0x20 | 3;
const UCODE: u16 = 0x28 | 3;
/// A 16-byte TSS descriptor (two GDT slots).
const TSS_SEL: u16 = 0x30;
/// GDT slots, the TSS's two included.
const GDT_ENTRIES: usize = 8;

/// The operations of this flavour, in order. Two system call round trips through SYSCALL: the entry returns with
/// SYSRETQ when RAX is 0 (`syscall`, the fast path) and with IRETQ otherwise (`syscall_iret`, the path Linux takes
/// when SYSRET cannot be used, and the one PVM allows).
pub const OPS: [Op; 11] = [
    INT80,
    op(
        "syscall",
        "system call round trip: SYSCALL from ring 3, SYSRETQ back",
        true,
    ),
    op(
        "syscall_iret",
        "system call round trip: SYSCALL from ring 3, IRETQ back",
        true,
    ),
    PORT_IO,
    CR3_WRITE,
    PAGE_FAULT,
    CALL_RET,
    DIV_ZERO,
    PTE_INVLPG,
    CLI_STI,
    COMPUTE,
];

/// The flavour's hooks into the shared kernel.
pub struct Long64;

impl Flavour for Long64 {
    const BITS: u32 = 64;
    const OPS: &'static [Op] = &OPS;
    const GATE_BYTES: u32 = 16;
    const ROOTS: [u32; 2] = [PML4_ADDR, PML4_2_ADDR];
    const PAGE_TABLE: u32 = PAGE_TABLE_ADDR;
    const PAGE_TABLE_MAPS: u32 = PAGE_TABLE_MAPS;
    const PTE_SHIFT: u32 = 3;

    /// TR and paging are set by the start state; only the SYSCALL MSRs remain, written when a SYSCALL operation
    /// runs.
    fn setup(a: &mut CodeAssembler, fast_entry: u32) -> Emit {
        if_selected(a, mask_of(&OPS, &["syscall", "syscall_iret"]), |a| {
            wrmsrs(
                a,
                &[
                    (
                        msr::STAR,
                        (u64::from(SYSRET_BASE) << 48) | (u64::from(KCODE) << 32),
                    ),
                    (msr::LSTAR, u64::from(fast_entry)),
                    (msr::SFMASK, TF | IF | DF | NT),
                ],
            )
        })
    }

    fn user_switch(
        a: &mut CodeAssembler,
        syms: &mut Syms,
        enter_user: &mut CodeLabel,
        exit: Sym,
    ) -> Emit {
        a.set_label(enter_user)?;
        a.mov(qword_ptr(SAVED_SP_ADDR), rsp)?;
        a.push(i32::from(UDATA))?;
        a.push(USER_STACK_TOP as i32)?;
        a.push(0x2i32)?;
        a.push(i32::from(UCODE))?;
        a.push(rax)?;
        a.iretq()?;
        syms.place(a, exit)?;
        a.mov(rsp, qword_ptr(SAVED_SP_ADDR))?;
        a.ret()
    }

    /// SYSCALL saves RIP in RCX and RFLAGS in R11; RAX (set before the loop) picks the way back.
    fn fast_call(a: &mut CodeAssembler, _: &mut Syms) -> Emit {
        a.syscall()
    }

    /// RAX = 0: SYSRETQ. Else IRETQ from the kernel stack, with the frame SYSCALL's state makes.
    fn fast_return(a: &mut CodeAssembler) -> Emit {
        let mut iret = a.create_label();
        a.test(eax, eax)?;
        a.jnz(iret)?;
        a.sysretq()?;
        a.set_label(&mut iret)?;
        a.mov(r10, rsp)?;
        a.mov(esp, KERNEL_STACK_TOP)?;
        a.push(i32::from(UDATA))?;
        a.push(r10)?;
        a.push(r11)?;
        a.push(i32::from(UCODE))?;
        a.push(rcx)?;
        a.iretq()
    }

    fn iret(a: &mut CodeAssembler) -> Emit {
        a.iretq()
    }

    fn push_scratch(a: &mut CodeAssembler) -> Emit {
        a.push(rax)?;
        a.push(rbx)
    }

    fn pop_scratch(a: &mut CodeAssembler) -> Emit {
        a.pop(rbx)?;
        a.pop(rax)
    }

    fn eax_from_cr2(a: &mut CodeAssembler) -> Emit {
        a.mov(rax, cr2)
    }

    fn cr3_from_eax(a: &mut CodeAssembler) -> Emit {
        a.mov(cr3, rax)
    }

    fn skip_return(a: &mut CodeAssembler, bytes: i32) -> Emit {
        a.add(qword_ptr(rsp), bytes)
    }

    fn drop_error_code(a: &mut CodeAssembler) -> Emit {
        a.add(rsp, 8)
    }

    fn at(base: Base, disp: u32) -> AsmMemoryOperand {
        match base {
            Base::Ax => rax + disp,
            Base::Bx => rbx + disp,
        }
    }
}

/// GDT (null, kernel code 0x08, kernel data 0x10, user code 32 0x18, user data 0x20, user code 64 0x28, TSS 0x30),
/// TSS (RSP0), PML4 (twice), PDPT, page directory and page table.
pub fn tables() -> Vec<(u32, Vec<u8>)> {
    // Accessed bits preset, so loading a selector never writes the GDT; the TSS is busy, as it is in TR.
    let gdt: [u64; GDT_ENTRIES] = [
        0,
        desc(0, 0xF_FFFF, 0x9B, 0xA),
        desc(0, 0xF_FFFF, 0x93, 0xC),
        desc(0, 0xF_FFFF, 0xFB, 0xC),
        desc(0, 0xF_FFFF, 0xF3, 0xC),
        desc(0, 0xF_FFFF, 0xFB, 0xA),
        desc(TSS_ADDR, 103, TSS_BUSY, 0),
        0, // Base bits 63:32 of the TSS.
    ];
    let tss = tss(&[(4, &u64::from(KERNEL_STACK_TOP).to_le_bytes())]);
    let entry = |addr: u32, flags: u64| (u64::from(addr) | flags).to_le_bytes().to_vec();
    // Present, writable, user.
    const PWU: u64 = 7;
    const PAGE_2M: u64 = 1 << 7;
    let pml4 = entry(PDPT_ADDR, PWU);
    let mut pd = entry(0, PWU | PAGE_2M);
    pd.extend(entry(PAGE_TABLE_ADDR, PWU));
    let pt = (0..512u32)
        .flat_map(|i| {
            let page = PAGE_TABLE_MAPS + (i << 12);
            entry(page, if page == PF_PAGE_A { PWU & !1 } else { PWU })
        })
        .collect();
    vec![
        (GDT_ADDR, gdt_bytes(&gdt)),
        (TSS_ADDR, tss),
        (PML4_ADDR, pml4.clone()),
        (PML4_2_ADDR, pml4),
        (PDPT_ADDR, entry(PAGE_DIR_ADDR, PWU)),
        (PAGE_DIR_ADDR, pd),
        (PAGE_TABLE_ADDR, pt),
    ]
}

/// 64-bit mode, CPL 0: CR0.PE|PG, CR4.PAE, EFER.LME|LMA|SCE|NXE, CR3 = [`PML4_ADDR`], CS.L, TR the 64-bit TSS.
pub fn start_state() -> CpuState {
    let code = attr::P | attr::S | attr::RW | attr::ACCESSED | attr::CODE | attr::L | attr::G;
    let mut s = descriptors::flat_state(code, GDT_ENTRIES);
    s.tr = Segment {
        base: u64::from(TSS_ADDR),
        limit: 103,
        selector: TSS_SEL,
        attrs: attr::P | u16::from(TSS_BUSY & 0xF),
    };
    s.cr0 = cr0::PE | cr0::ET | cr0::PG;
    s.cr3 = u64::from(PML4_ADDR);
    s.cr4 = cr4::PAE;
    s.efer = efer::SCE | efer::LME | efer::LMA | efer::NXE;
    s
}
