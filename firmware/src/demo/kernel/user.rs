//! The user program: ring-3 code that can only ask.
//!
//! It runs at CPL 3 in its own pages (linear 0x00400000, U/S = 1). It prints through the `write` system call and then
//! tries three things only ring 0 may do: CLI, IN from a port, and reading kernel memory. Each attempt traps into the
//! kernel, which reports it and lets the program go on. It finishes with `exit(0)`.

use super::super::asm::{assemble as assemble_code, Asm, Assembled};
use super::super::{KERNEL_LOAD_ADDR, USER_CODE_VA};
use super::idt::SYSCALL_VECTOR;
use super::syscalls::{SYS_EXIT, SYS_GETPID, SYS_UPTIME, SYS_WRITE};
use iced_x86::code_asm::*;

/// The UART's line status register, which ring 3 tries to read.
const UART_LSR: u32 = 0x3FD;

/// Assembles the user program to run at [`USER_CODE_VA`].
pub(crate) fn assemble() -> Result<Assembled, IcedError> {
    assemble_code(32, USER_CODE_VA, emit)
}

/// Emits `EAX = number, EBX = argument, INT 0x80`.
fn syscall(asm: &mut Asm, number: u32, argument: u32) -> Result<(), IcedError> {
    asm.a.mov(eax, number)?;
    asm.a.mov(ebx, argument)?;
    asm.a.int(SYSCALL_VECTOR)
}

/// Emits a `write` system call of `text`.
fn write(asm: &mut Asm, text: &str) -> Result<(), IcedError> {
    let text = asm.msg(text);
    syscall(asm, SYS_WRITE, text)
}

fn emit(asm: &mut Asm) -> Result<(), IcedError> {
    write(
        asm,
        concat!(
            "  [ring 3] Hello from user mode (CPL 3). I may not touch the hardware, so even this line\n",
            "           is a system call: write() through INT 0x80.\n",
        ),
    )?;
    syscall(asm, SYS_GETPID, 0)?;
    syscall(asm, SYS_UPTIME, 0)?;

    write(asm, "  [ring 3] Trying CLI (disable interrupts)...\n")?;
    asm.a.cli()?;
    write(
        asm,
        "  [ring 3] Still running after the CLI, with interrupts still on.\n",
    )?;

    write(
        asm,
        "  [ring 3] Trying IN AL,DX from port 0x3FD, the UART's line status...\n",
    )?;
    let (emulated, after_in) = (asm.a.create_label(), asm.a.create_label());
    asm.a.mov(edx, UART_LSR)?;
    asm.a.xor(eax, eax)?;
    asm.a.in_(al, dx)?;
    asm.a.cmp(al, 0xFF)?;
    asm.a.je(emulated)?;
    write(
        asm,
        "  [ring 3] IN returned a real value?! The port was not protected.\n",
    )?;
    asm.a.jmp(after_in)?;
    asm.place(emulated)?;
    write(
        asm,
        "  [ring 3] IN gave me 0xFF: the kernel emulated it, the UART never saw me.\n",
    )?;

    asm.place(after_in)?;
    write(
        asm,
        "  [ring 3] Trying to read kernel memory at 0x00008000...\n",
    )?;
    asm.a.mov(eax, 0x600D_600D)?;
    asm.a.mov(eax, dword_ptr(KERNEL_LOAD_ADDR))?;
    write(asm, "  [ring 3] Done. Calling exit(0).\n")?;
    syscall(asm, SYS_EXIT, 0)?;
    let hang = asm.a.create_label();
    asm.place(hang)?;
    asm.a.jmp(hang)
}
