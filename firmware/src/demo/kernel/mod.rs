//! The 32-bit protected-mode kernel: everything after the far jump.
//!
//! The far jump loaded CS with selector 0x08, so the CPU now fetches 32-bit code at CPL 0. The kernel reloads the
//! data segment registers, takes a stack, and walks through interrupts, paging and ring 3 in order; each step lives in
//! its own file. The BIOS is out of reach from here (its services are real-mode code), so output goes straight to the
//! UART (`serial.rs`).

mod clock;
mod faults;
mod idt;
mod paging;
mod power;
mod serial;
mod syscalls;
mod tasks;
pub(crate) mod user;

use super::asm::{assemble as assemble_code, Asm, Assembled, Sym};
use super::gdt::KERNEL_DATA_SELECTOR;
use super::text::emit_routines;
use super::{KERNEL32_ADDR, KERNEL_STACK_TOP, KERNEL_VARS_ADDR};
use iced_x86::code_asm::*;

/// Timer interrupts counted by the IRQ 0 handler.
const TICKS: u32 = KERNEL_VARS_ADDR;
/// Faults the kernel handled and recovered from.
const FAULTS_HANDLED: u32 = KERNEL_VARS_ADDR + 4;
/// System calls served.
const SYSCALLS_SERVED: u32 = KERNEL_VARS_ADDR + 8;
/// Next physical frame the page-fault handler hands out.
const NEXT_FRAME: u32 = KERNEL_VARS_ADDR + 12;
/// Bytes of kernel counters to clear at start.
const VARS_SIZE: u32 = 16;

/// Code entry points that several steps refer to: IDT targets and shared exits.
struct Entries {
    /// Handlers for exception vectors 0-31.
    exceptions: Vec<Sym>,
    /// IRQ 0 (PIT) handler, vector 0x20.
    timer: Sym,
    /// Handler for the other (masked) IRQs, vectors 0x21-0x2F.
    irq_other: Sym,
    /// INT 0x80 system call entry.
    syscall: Sym,
    /// Reports an unexpected exception (EBP = exception frame) and exits through isa-debug-exit.
    fatal: CodeLabel,
    /// Returns from an exception frame: POPAD, drop vector and error code, IRETD.
    resume: CodeLabel,
    /// #GP handler body (EBP = exception frame).
    gp: CodeLabel,
    /// #PF handler body (EBP = exception frame).
    pf: CodeLabel,
    /// Prints the summary and powers off.
    power_off: CodeLabel,
}

impl Entries {
    fn new(asm: &mut Asm) -> Self {
        Self {
            exceptions: (0..32).map(|_| asm.sym()).collect(),
            timer: asm.sym(),
            irq_other: asm.sym(),
            syscall: asm.sym(),
            fatal: asm.a.create_label(),
            resume: asm.a.create_label(),
            gp: asm.a.create_label(),
            pf: asm.a.create_label(),
            power_off: asm.a.create_label(),
        }
    }
}

/// Assembles the kernel at [`KERNEL32_ADDR`].
pub(crate) fn assemble() -> Result<Assembled, IcedError> {
    assemble_code(32, KERNEL32_ADDR, emit)
}

fn emit(asm: &mut Asm) -> Result<(), IcedError> {
    let entries = Entries::new(asm);
    let uart_putc = asm.a.create_label();
    let a = &mut asm.a;
    a.mov(ax, u32::from(KERNEL_DATA_SELECTOR))?;
    for seg in [ds, es, fs, gs, ss] {
        a.mov(seg, ax)?;
    }
    a.mov(esp, KERNEL_STACK_TOP)?;
    a.cld()?;
    a.mov(edi, KERNEL_VARS_ADDR)?;
    a.xor(eax, eax)?;
    a.mov(ecx, VARS_SIZE / 4)?;
    a.rep().stosd()?;
    serial::emit_init(asm)?;
    asm.say(concat!(
        " Now in 32-bit protected mode at CPL 0, printing straight to the 16550 UART at port 0x3F8\n",
        " (wait for LSR bit 5, transmitter empty, then OUT the byte).\n",
        " A segment register now holds a selector: index*8 + TI (0 = GDT) + RPL. Each selects an\n",
        " 8-byte descriptor with base, limit, type and DPL (privilege 0 = kernel ... 3 = user). Our GDT:\n",
        "   0x08 kernel code DPL 0   0x10 kernel data DPL 0   0x1B user code DPL 3\n",
        "   0x23 user data DPL 3     0x28 TSS\n",
        " All are flat (base 0, limit 4 GiB). The CPL, our privilege, is the low 2 bits of CS: now 0.\n",
    ))?;

    idt::emit_load(asm, &entries)?;
    clock::emit_start(asm)?;
    paging::emit_enable(asm)?;
    tasks::emit_enter_ring3(asm)?;

    serial::emit_putc(asm, uart_putc)?;
    emit_routines(asm, uart_putc)?;
    idt::emit_handlers(asm, &entries)?;
    clock::emit_handlers(asm, &entries)?;
    faults::emit_gp(asm, &entries)?;
    faults::emit_pf(asm, &entries)?;
    syscalls::emit_entry(asm, &entries)?;
    power::emit_power_off(asm, &entries)?;
    power::emit_fatal(asm, &entries)
}
