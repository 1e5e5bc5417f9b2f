//! Recoverable faults: trap-and-emulate in miniature.
//!
//! Privilege is enforced by the CPU, not by the kernel: when ring 3 executes CLI or IN/OUT with IOPL = 0, or touches a
//! page with U/S = 0, the instruction does not run. The CPU raises #GP or #PF instead and enters the kernel through the
//! IDT with the faulting EIP saved. The kernel decides what happens next: here it decodes the opcode, emulates or
//! skips the instruction, and returns. A hypervisor runs its guest kernel the same way, deprivileged, and emulates
//! each sensitive instruction that traps. A not-present page is the other use of #PF: demand paging.

use super::super::asm::Asm;
use super::super::{DEMAND_PAGE_VA, PAGE_TABLE_LOW_ADDR};
use super::idt::{FRAME_CS, FRAME_EAX, FRAME_EIP, FRAME_ERROR};
use super::paging::{PTE_PRESENT, PTE_WRITABLE};
use super::{Entries, FAULTS_HANDLED, NEXT_FRAME};
use iced_x86::code_asm::*;

/// #PF error code bit 0: the page was present (a protection violation).
const PF_PRESENT: i32 = 1;
/// #PF error code bit 1: the access was a write.
const PF_WRITE: i32 = 2;
/// #PF error code bit 2: the access came from ring 3.
const PF_USER: i32 = 4;

/// Emits code printing "#GP error 0x.... at EIP 0x........" for the frame at EBP.
fn emit_error_and_eip(asm: &mut Asm, what: &str) -> Result<(), IcedError> {
    asm.say(&format!("  [kernel] ring 3 tried {what}: #GP error 0x"))?;
    asm.a.mov(eax, dword_ptr(ebp + FRAME_ERROR))?;
    asm.say_hex(4)?;
    asm.say(" at EIP 0x")?;
    asm.a.mov(eax, dword_ptr(ebp + FRAME_EIP))?;
    asm.say_hex(8)?;
    asm.say("\n")
}

/// Emits the #GP handler: from ring 3, CLI is skipped and IN/OUT emulated; anything else is fatal.
pub(super) fn emit_gp(asm: &mut Asm, entries: &Entries) -> Result<(), IcedError> {
    let (cli, io, io_short, skip) = (
        asm.a.create_label(),
        asm.a.create_label(),
        asm.a.create_label(),
        asm.a.create_label(),
    );
    asm.place(entries.gp)?;
    let a = &mut asm.a;
    a.test(byte_ptr(ebp + FRAME_CS), 3)?;
    a.jz(entries.fatal)?;
    a.mov(esi, dword_ptr(ebp + FRAME_EIP))?;
    a.movzx(ebx, byte_ptr(esi))?;
    a.cmp(bl, 0xFA)?;
    a.je(cli)?;
    a.mov(al, bl)?;
    a.and(al, 0xF4)?; // E4-E7 and EC-EF are the IN/OUT forms
    a.cmp(al, 0xE4)?;
    a.jne(entries.fatal)?;
    a.jmp(io)?;

    asm.place(cli)?;
    emit_error_and_eip(asm, "CLI")?;
    asm.say(concat!(
        "  [kernel] CPL 3 > IOPL 0, so the CPU refused to clear IF and trapped to ring 0 instead.\n",
        "           Skipping the 1-byte CLI (saved EIP += 1) and returning with IRET.\n",
    ))?;
    asm.a.mov(ecx, 1)?;
    asm.a.jmp(skip)?;

    asm.place(io)?;
    emit_error_and_eip(asm, "port I/O")?;
    asm.say(concat!(
        "  [kernel] CPL 3 > IOPL 0 and our TSS has no I/O permission bitmap, so every port is denied.\n",
        "           Emulating it as a hypervisor would: IN reads 0xFF (no device there), OUT is dropped.\n",
    ))?;
    let a = &mut asm.a;
    a.test(bl, 2)?; // bit 1 clear: IN
    a.jnz(io_short)?;
    a.mov(byte_ptr(ebp + FRAME_EAX), 0xFF)?;
    asm.place(io_short)?;
    let a = &mut asm.a;
    a.mov(ecx, 2)?; // E4-E7 carry an imm8 port
    a.test(bl, 8)?;
    a.jz(skip)?;
    a.mov(ecx, 1)?; // EC-EF take the port from DX

    asm.place(skip)?;
    let a = &mut asm.a;
    a.add(dword_ptr(ebp + FRAME_EIP), ecx)?;
    a.inc(dword_ptr(FAULTS_HANDLED))?;
    a.jmp(entries.resume)
}

/// Emits the #PF handler: maps a fresh frame at the demand page, skips a ring-3 read of kernel memory, else fatal.
pub(super) fn emit_pf(asm: &mut Asm, entries: &Entries) -> Result<(), IcedError> {
    let mut label = || asm.a.create_label();
    let (present, write_bit, user_bit, origin) = (label(), label(), label(), label());
    let (user_fault, long_mov, skip) = (label(), label(), label());
    asm.place(entries.pf)?;
    asm.a.mov(edi, cr2)?;
    asm.say("  [kernel] #PF (vector 14): CR2 = 0x")?;
    asm.a.mov(eax, edi)?;
    asm.say_hex(8)?;
    asm.say(", error 0x")?;
    asm.a.mov(eax, dword_ptr(ebp + FRAME_ERROR))?;
    asm.say_hex(1)?;
    // Decode the three error-code bits.
    asm.a.test(byte_ptr(ebp + FRAME_ERROR), PF_PRESENT)?;
    asm.a.jnz(present)?;
    asm.say(" = page not present")?;
    asm.a.jmp(write_bit)?;
    asm.place(present)?;
    asm.say(" = protection violation")?;
    asm.place(write_bit)?;
    asm.a.test(byte_ptr(ebp + FRAME_ERROR), PF_WRITE)?;
    asm.a.jnz(user_bit)?;
    asm.say(", read")?;
    asm.a.jmp(origin)?;
    asm.place(user_bit)?;
    asm.say(", write")?;
    asm.place(origin)?;
    asm.a.test(byte_ptr(ebp + FRAME_ERROR), PF_USER)?;
    asm.a.jnz(user_fault)?;
    asm.say(", in ring 0\n")?;

    // Ring 0 touched the not-present demand page: allocate, zero, map, flush, retry.
    let a = &mut asm.a;
    a.test(byte_ptr(ebp + FRAME_ERROR), PF_PRESENT)?;
    a.jnz(entries.fatal)?;
    a.mov(eax, edi)?;
    a.and(eax, 0xFFFF_F000u32 as i32)?;
    a.cmp(eax, DEMAND_PAGE_VA)?;
    a.jne(entries.fatal)?;
    a.mov(ebx, dword_ptr(NEXT_FRAME))?;
    a.add(dword_ptr(NEXT_FRAME), 0x1000)?;
    a.push(edi)?;
    a.mov(edi, ebx)?;
    a.xor(eax, eax)?;
    a.mov(ecx, 1024)?;
    a.rep().stosd()?;
    a.pop(edi)?;
    a.mov(eax, edi)?;
    a.shr(eax, 12)?;
    a.and(eax, 0x3FF)?;
    a.mov(ecx, ebx)?;
    a.or(ecx, (PTE_PRESENT | PTE_WRITABLE) as i32)?;
    a.mov(dword_ptr(eax * 4 + PAGE_TABLE_LOW_ADDR), ecx)?;
    a.mov(eax, cr3)?;
    a.mov(cr3, eax)?;
    asm.say("  [kernel] Demand paging: took the zeroed frame 0x")?;
    asm.a.mov(eax, ebx)?;
    asm.say_hex(8)?;
    asm.say(", mapped it at 0x")?;
    asm.a.mov(eax, edi)?;
    asm.say_hex(8)?;
    asm.say(concat!(
        ", reloaded CR3\n",
        "           (flushing the TLB) and returned: the CPU restarts the faulting MOV.\n",
    ))?;
    asm.a.inc(dword_ptr(FAULTS_HANDLED))?;
    asm.a.jmp(entries.resume)?;

    // Ring 3 touched a supervisor page: skip the MOV (A1 moffs32, 5 bytes, or 8B 05 disp32, 6 bytes).
    asm.place(user_fault)?;
    asm.say(", from ring 3\n")?;
    let a = &mut asm.a;
    a.test(byte_ptr(ebp + FRAME_ERROR), PF_PRESENT)?;
    a.jz(entries.fatal)?;
    a.mov(esi, dword_ptr(ebp + FRAME_EIP))?;
    a.mov(ecx, 5)?;
    a.cmp(byte_ptr(esi), 0xA1)?;
    a.je(skip)?;
    a.cmp(word_ptr(esi), 0x058B)?;
    a.jne(entries.fatal)?;
    asm.place(long_mov)?;
    asm.a.mov(ecx, 6)?;
    asm.place(skip)?;
    asm.say(concat!(
        "  [kernel] Ring 3 read a page whose U/S bit is 0: the MMU refused, the kernel only hears of it.\n",
        "           Skipping the MOV (saved EIP += its length); its register keeps its old value.\n",
    ))?;
    asm.a.add(dword_ptr(ebp + FRAME_EIP), ecx)?;
    asm.a.inc(dword_ptr(FAULTS_HANDLED))?;
    asm.a.jmp(entries.resume)
}
