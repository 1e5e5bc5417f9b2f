//! The operations' routines, shared by both flavours: each times its loop with RDTSC around N iterations of one
//! body. A body that depends on the mode calls the flavour ([`Flavour`]).

use super::kernel::{Base, Emit, Flavour, Sym, Syms};
use super::{Op, INVLPG_PAGE, ITERATIONS_ADDR, PF_PAGE_A, PF_PAGE_B, RESULTS_ADDR};
use iced_x86::code_asm::*;

/// Operation `i`'s routine: times its loop with RDTSC, stores the ticks at RESULTS + 8i, and returns (RET in ring
/// 0, INT3 to the exit gate in ring 3). EBP counts iterations down; ESI:EDI hold the start TSC.
pub(super) fn emit_op<F: Flavour>(
    a: &mut CodeAssembler,
    syms: &mut Syms,
    routine: Sym,
    i: usize,
    op: &Op,
) -> Emit {
    syms.place(a, routine)?;
    a.rdtsc()?;
    a.mov(esi, eax)?;
    a.mov(edi, edx)?;
    a.mov(ebp, dword_ptr(ITERATIONS_ADDR))?;
    emit_op_setup::<F>(a, op.name)?;
    let mut top = a.create_label();
    a.set_label(&mut top)?;
    emit_op_body::<F>(a, syms, op.name)?;
    a.dec(ebp)?;
    a.jnz(top)?;
    a.rdtsc()?;
    a.sub(eax, esi)?;
    a.sbb(edx, edi)?;
    a.mov(dword_ptr(RESULTS_ADDR + 8 * i as u32), eax)?;
    a.mov(dword_ptr(RESULTS_ADDR + 8 * i as u32 + 4), edx)?;
    if op.user {
        a.int3()
    } else {
        a.ret()
    }
}

/// Registers before the loop.
fn emit_op_setup<F: Flavour>(a: &mut CodeAssembler, name: &str) -> Emit {
    match name {
        "page_fault" => a.mov(ebx, PF_PAGE_A)?,
        "div_zero" => a.xor(ecx, ecx)?,
        "cr3_write" => {
            a.mov(eax, F::ROOTS[0])?;
            a.mov(ebx, F::ROOTS[1])?;
        }
        "compute" => {
            a.xor(eax, eax)?;
            a.xor(edx, edx)?;
        }
        // The SYSCALL entry returns with SYSRETQ when RAX is 0, with IRETQ otherwise.
        "syscall" => a.xor(eax, eax)?,
        "syscall_iret" => a.mov(eax, 1)?,
        _ => {}
    }
    Ok(())
}

/// One iteration of an operation (the loop's DEC/JNZ follow).
fn emit_op_body<F: Flavour>(a: &mut CodeAssembler, syms: &mut Syms, name: &str) -> Emit {
    match name {
        "int80" => a.int(0x80)?,
        "sysenter" | "syscall" | "syscall_iret" => F::fast_call(a, syms)?,
        "port_io" => a.in_(al, 0x61)?,
        "cr3_write" => {
            F::cr3_from_eax(a)?;
            a.xchg(eax, ebx)?;
        }
        "page_fault" => {
            a.mov(eax, dword_ptr(F::at(Base::Bx, 0)))?;
            a.xor(ebx, PF_PAGE_A ^ PF_PAGE_B)?;
        }
        "call_ret" => {
            let (mut f, mut after) = (a.create_label(), a.create_label());
            a.call(f)?;
            a.jmp(after)?;
            a.set_label(&mut f)?;
            a.ret()?;
            a.set_label(&mut after)?;
        }
        "div_zero" => {
            a.xor(edx, edx)?;
            a.mov(eax, 1)?;
            a.div(ecx)?;
        }
        "pte_invlpg" => {
            a.xor(dword_ptr(pte_addr::<F>(INVLPG_PAGE)), 0x20)?;
            a.invlpg(ptr(INVLPG_PAGE))?;
        }
        "cli_sti" => {
            a.cli()?;
            a.sti()?;
        }
        "compute" => {
            a.add(eax, ebp)?;
            a.xor(edx, eax)?;
        }
        other => unreachable!("no operation {other}"),
    }
    Ok(())
}

/// Where the PTE of `page` (in the range of [`Flavour::PAGE_TABLE`]) is.
fn pte_addr<F: Flavour>(page: u32) -> u32 {
    F::PAGE_TABLE + ((page - F::PAGE_TABLE_MAPS) >> (12 - F::PTE_SHIFT))
}

/// EAX = the offset in [`Flavour::PAGE_TABLE`] of the PTE of the page at EAX (page-aligned).
pub(super) fn emit_pte_offset<F: Flavour>(a: &mut CodeAssembler) -> Emit {
    if F::PAGE_TABLE_MAPS != 0 {
        a.sub(eax, F::PAGE_TABLE_MAPS)?;
    }
    a.shr(eax, 12 - F::PTE_SHIFT)
}
