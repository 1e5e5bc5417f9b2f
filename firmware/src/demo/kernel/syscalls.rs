//! System calls through INT 0x80.
//!
//! Ring 3 can't call kernel code directly: a far call or jump to a DPL 0 segment raises #GP. It can execute
//! `INT 0x80` because that IDT gate has DPL 3. The CPU then switches to the ring-0 stack named by TSS.SS0:ESP0,
//! pushes the user's SS, ESP, EFLAGS, CS and EIP, and jumps to the handler at CPL 0. Arguments travel in registers
//! (EAX = call number, EBX = argument), the result goes back in the saved EAX, and IRET returns to ring 3.

use super::super::asm::Asm;
use super::super::{USER_CODE_VA, USER_STACK_TOP_VA};
use super::{Entries, SYSCALLS_SERVED, TICKS};
use iced_x86::code_asm::*;

/// `exit(code in EBX)`: the user program is done.
pub(crate) const SYS_EXIT: u32 = 0;
/// `write(EBX = NUL-terminated string in user memory)`, returns 0 or -1.
pub(crate) const SYS_WRITE: u32 = 1;
/// `getpid()`, returns the task id (1).
pub(crate) const SYS_GETPID: u32 = 2;
/// `uptime()`, returns timer ticks since the clock started.
pub(crate) const SYS_UPTIME: u32 = 3;

/// Offsets from EBP after the entry's PUSHAD: saved EAX, EBX, then the CPU's EIP and CS.
const SAVED_EAX: i32 = 28;
/// Saved EBX (the argument).
const SAVED_EBX: i32 = 16;
/// The user's EIP, just after the `INT 0x80`.
const SAVED_EIP: i32 = 32;
/// The user's CS.
const SAVED_CS: i32 = 36;

/// Emits the INT 0x80 handler.
pub(super) fn emit_entry(asm: &mut Asm, entries: &Entries) -> Result<(), IcedError> {
    let mut label = || asm.a.create_label();
    let (write, bad_pointer, getpid, uptime, exit, done) =
        (label(), label(), label(), label(), label(), label());
    asm.place(entries.syscall.label)?;
    let a = &mut asm.a;
    a.pushad()?;
    a.mov(ebp, esp)?;
    a.inc(dword_ptr(SYSCALLS_SERVED))?;
    a.mov(eax, dword_ptr(ebp + SAVED_EAX))?;
    for (number, target) in [
        (SYS_EXIT, exit),
        (SYS_WRITE, write),
        (SYS_GETPID, getpid),
        (SYS_UPTIME, uptime),
    ] {
        a.cmp(eax, number)?;
        a.je(target)?;
    }
    asm.say("  [kernel] unknown system call; returning -1.\n")?;
    asm.a.mov(dword_ptr(ebp + SAVED_EAX), -1)?;
    asm.a.jmp(done)?;

    // write: never trust a user pointer; it must point into the user's pages.
    asm.place(write)?;
    let a = &mut asm.a;
    a.mov(esi, dword_ptr(ebp + SAVED_EBX))?;
    a.cmp(esi, USER_CODE_VA)?;
    a.jb(bad_pointer)?;
    a.cmp(esi, USER_STACK_TOP_VA)?;
    a.jae(bad_pointer)?;
    a.call(asm.print)?;
    asm.a.mov(dword_ptr(ebp + SAVED_EAX), 0)?;
    asm.a.jmp(done)?;
    asm.place(bad_pointer)?;
    asm.say("  [kernel] write() got a pointer outside user memory; returning -1.\n")?;
    asm.a.mov(dword_ptr(ebp + SAVED_EAX), -1)?;
    asm.a.jmp(done)?;

    asm.place(getpid)?;
    asm.say("  [kernel] INT 0x80 from CS=0x")?;
    asm.a.mov(eax, dword_ptr(ebp + SAVED_CS))?;
    asm.say_hex(4)?;
    asm.say(" (CPL 3), return EIP=0x")?;
    asm.a.mov(eax, dword_ptr(ebp + SAVED_EIP))?;
    asm.say_hex(8)?;
    asm.say(": getpid() -> 1.\n           Now at CPL 0 on the TSS stack (ESP=0x")?;
    asm.a.mov(eax, ebp)?;
    asm.say_hex(8)?;
    asm.say("); IRET takes the CPU back to ring 3.\n")?;
    asm.a.mov(dword_ptr(ebp + SAVED_EAX), 1)?;
    asm.a.jmp(done)?;

    asm.place(uptime)?;
    asm.say("  [kernel] uptime() -> ")?;
    asm.a.mov(eax, dword_ptr(TICKS))?;
    asm.a.mov(dword_ptr(ebp + SAVED_EAX), eax)?;
    asm.say_dec()?;
    asm.say(" ticks of 10 ms since STI.\n")?;

    asm.place(done)?;
    asm.a.popad()?;
    asm.a.iretd()?;

    asm.place(exit)?;
    asm.say("  [kernel] exit(")?;
    asm.a.mov(eax, dword_ptr(ebp + SAVED_EBX))?;
    asm.say_dec()?;
    asm.say(") from ring 3. The user program is done.\n")?;
    asm.a.jmp(entries.power_off)
}
