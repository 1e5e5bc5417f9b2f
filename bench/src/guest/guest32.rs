//! The 32-bit protected-mode flavour: flat segments, a 32-bit TSS, 8-byte IDT gates, SYSENTER/SYSEXIT, and two-level
//! paging (the first 4 MiB mapped one to one, user-accessible) turned on only for the operations that need it.
//!
//! PVM refuses much of this guest: a 32-bit IRETD (so every ring-3 operation), CR0.PG with 32-bit paging, and the
//! SYSENTER MSR writes; so the set-up writes the MSRs and turns paging on only when a selected operation needs them.

use super::descriptors::{self, desc, gdt_bytes, tss, KCODE, KDATA, TSS_AVAILABLE};
use super::kernel::{if_selected, wrmsrs, Base, Emit, Flavour, Sym, Syms};
use super::{
    mask_of, op, Op, KERNEL_STACK_TOP, PF_PAGE_A, SAVED_SP_ADDR, TSS_ADDR, USER_STACK_TOP,
};
use super::{
    CALL_RET, CLI_STI, COMPUTE, CR3_WRITE, DIV_ZERO, INT80, PAGE_FAULT, PORT_IO, PTE_INVLPG,
};
use iced_x86::code_asm::*;
use vx86_cpu::cpuid::msr;
use vx86_cpu::state::{attr, cr0};
use vx86_cpu::CpuState;

/// The page directory the guest turns paging on with.
pub const PAGE_DIR_ADDR: u32 = 0x3000;
/// The page table mapping linear 0-4 MiB one to one, user-accessible.
pub const PAGE_TABLE_ADDR: u32 = 0x4000;
/// The copy of the page directory (the CR3-write benchmark alternates between them).
pub const PAGE_DIR2_ADDR: u32 = 0x5000;

const UCODE: u16 = 0x18 | 3;
const UDATA: u16 = 0x20 | 3;
const TSS_SEL: u16 = 0x28;

/// The operations of this flavour, in order.
pub const OPS: [Op; 10] = [
    INT80,
    op(
        "sysenter",
        "system call round trip: SYSENTER from ring 3, SYSEXIT back",
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
pub struct Protected32;

impl Flavour for Protected32 {
    const BITS: u32 = 32;
    const OPS: &'static [Op] = &OPS;
    const GATE_BYTES: u32 = 8;
    const ROOTS: [u32; 2] = [PAGE_DIR_ADDR, PAGE_DIR2_ADDR];
    const PAGE_TABLE: u32 = PAGE_TABLE_ADDR;
    const PAGE_TABLE_MAPS: u32 = 0;
    const PTE_SHIFT: u32 = 2;

    fn setup(a: &mut CodeAssembler, fast_entry: u32) -> Emit {
        a.mov(ax, u32::from(TSS_SEL))?;
        a.ltr(ax)?;
        if_selected(a, mask_of(&OPS, &["sysenter"]), |a| {
            wrmsrs(
                a,
                &[
                    (msr::SYSENTER_CS, u64::from(KCODE)),
                    (msr::SYSENTER_ESP, u64::from(KERNEL_STACK_TOP)),
                    (msr::SYSENTER_EIP, u64::from(fast_entry)),
                ],
            )
        })?;
        let paging_ops = mask_of(&OPS, &["cr3_write", "page_fault", "pte_invlpg"]);
        if_selected(a, paging_ops, |a| {
            a.mov(eax, PAGE_DIR_ADDR)?;
            a.mov(cr3, eax)?;
            a.mov(eax, cr0)?;
            a.or(eax, 0x8000_0000u32)?;
            a.mov(cr0, eax)
        })
    }

    fn user_switch(
        a: &mut CodeAssembler,
        syms: &mut Syms,
        enter_user: &mut CodeLabel,
        exit: Sym,
    ) -> Emit {
        a.set_label(enter_user)?;
        a.mov(dword_ptr(SAVED_SP_ADDR), esp)?;
        a.push(u32::from(UDATA))?;
        a.push(USER_STACK_TOP)?;
        a.push(0x2u32)?;
        a.push(u32::from(UCODE))?;
        a.push(eax)?;
        a.mov(bx, u32::from(UDATA))?;
        a.mov(ds, bx)?;
        a.mov(es, bx)?;
        a.iretd()?;
        syms.place(a, exit)?;
        a.mov(bx, u32::from(KDATA))?;
        a.mov(ds, bx)?;
        a.mov(es, bx)?;
        a.mov(esp, dword_ptr(SAVED_SP_ADDR))?;
        a.ret()
    }

    /// SYSEXIT returns to EDX with ESP = ECX.
    fn fast_call(a: &mut CodeAssembler, syms: &mut Syms) -> Emit {
        let back = syms.symbol(a);
        a.mov(ecx, esp)?;
        a.mov(edx, back.addr)?;
        a.sysenter()?;
        syms.place(a, back)?;
        a.nop()
    }

    fn fast_return(a: &mut CodeAssembler) -> Emit {
        a.sysexit()
    }

    fn iret(a: &mut CodeAssembler) -> Emit {
        a.iretd()
    }

    fn push_scratch(a: &mut CodeAssembler) -> Emit {
        a.push(eax)?;
        a.push(ebx)
    }

    fn pop_scratch(a: &mut CodeAssembler) -> Emit {
        a.pop(ebx)?;
        a.pop(eax)
    }

    fn eax_from_cr2(a: &mut CodeAssembler) -> Emit {
        a.mov(eax, cr2)
    }

    fn cr3_from_eax(a: &mut CodeAssembler) -> Emit {
        a.mov(cr3, eax)
    }

    fn skip_return(a: &mut CodeAssembler, bytes: i32) -> Emit {
        a.add(dword_ptr(esp), bytes)
    }

    fn drop_error_code(a: &mut CodeAssembler) -> Emit {
        a.add(esp, 4)
    }

    fn at(base: Base, disp: u32) -> AsmMemoryOperand {
        match base {
            Base::Ax => eax + disp,
            Base::Bx => ebx + disp,
        }
    }
}

/// GDT (null, kernel code 0x08, kernel data 0x10, user code 0x18, user data 0x20, TSS 0x28), TSS, page directory
/// (twice) and page table.
pub fn tables() -> Vec<(u32, Vec<u8>)> {
    // Accessed bits preset, so loading a selector never writes the GDT.
    let gdt = [
        0,
        desc(0, 0xF_FFFF, 0x9B, 0xC),
        desc(0, 0xF_FFFF, 0x93, 0xC),
        desc(0, 0xF_FFFF, 0xFB, 0xC),
        desc(0, 0xF_FFFF, 0xF3, 0xC),
        desc(TSS_ADDR, 103, TSS_AVAILABLE, 0),
    ];
    let tss = tss(&[
        (4, &KERNEL_STACK_TOP.to_le_bytes()),
        (8, &KDATA.to_le_bytes()),
    ]);
    let pde = (PAGE_TABLE_ADDR | 7).to_le_bytes().to_vec();
    let mut pt = Vec::with_capacity(4096);
    for i in 0..1024u32 {
        let present = u32::from(i << 12 != PF_PAGE_A);
        pt.extend_from_slice(&((i << 12) | 6 | present).to_le_bytes());
    }
    vec![
        (super::GDT_ADDR, gdt_bytes(&gdt)),
        (TSS_ADDR, tss),
        (PAGE_DIR_ADDR, pde.clone()),
        (PAGE_DIR2_ADDR, pde),
        (PAGE_TABLE_ADDR, pt),
    ]
}

/// 32-bit protected mode, CPL 0, flat segments from the GDT, paging off.
pub fn start_state() -> CpuState {
    let code = attr::P | attr::S | attr::RW | attr::ACCESSED | attr::CODE | attr::DB | attr::G;
    let mut s = descriptors::flat_state(code, 6);
    s.cr0 = cr0::PE | cr0::ET;
    s
}
