//! The Interrupt Descriptor Table and the exception entry path.
//!
//! On an exception, an IRQ or an `INT n`, the CPU reads gate `n` of the IDT (its base and limit are in IDTR) and jumps
//! to the handler it names, pushing EFLAGS, CS and EIP (and first SS and ESP, taken from the TSS, when it leaves ring 3
//! for ring 0). Some exceptions also push an error code. Our stubs even the frame out by pushing a dummy error code
//! where the CPU pushes none, then the vector, so one common handler can see everything.

use super::super::asm::Asm;
use super::super::gdt::KERNEL_CODE_SELECTOR;
use super::Entries;
use iced_x86::code_asm::*;

/// The system-call vector.
pub(super) const SYSCALL_VECTOR: u32 = 0x80;
/// Number of IDT entries (vectors 0 to 0x80); an `INT` beyond the limit raises #GP.
const IDT_ENTRIES: u32 = SYSCALL_VECTOR + 1;
/// Gate type: 32-bit interrupt gate (IF is cleared on entry), present.
const INTERRUPT_GATE: u32 = 0x8E00;
/// Gate DPL 3: ring 3 may reach it with `INT n`.
const DPL3: u32 = 3 << 13;

/// Exception-frame offsets from EBP after the common entry's PUSHAD (EDI is at +0).
pub(super) const FRAME_EAX: i32 = 28;
/// Offset of the vector pushed by the stub.
pub(super) const FRAME_VECTOR: i32 = 32;
/// Offset of the error code (pushed by the CPU, or a dummy 0 by the stub).
pub(super) const FRAME_ERROR: i32 = 36;
/// Offset of the saved EIP: the faulting instruction, where IRET resumes.
pub(super) const FRAME_EIP: i32 = 40;
/// Offset of the saved CS; its low 2 bits are the CPL the exception came from.
pub(super) const FRAME_CS: i32 = 44;

/// Vectors for which the CPU pushes an error code: #DF, #TS, #NP, #SS, #GP, #PF, #AC.
fn has_error_code(vector: u32) -> bool {
    matches!(vector, 8 | 10..=14 | 17)
}

/// Encodes an IDT gate for `handler` in the kernel code segment.
fn gate(handler: u32, flags: u32) -> [u8; 8] {
    let low = (handler & 0xFFFF) | (u32::from(KERNEL_CODE_SELECTOR) << 16);
    let high = (handler & 0xFFFF_0000) | flags;
    let mut bytes = [0; 8];
    bytes[..4].copy_from_slice(&low.to_le_bytes());
    bytes[4..].copy_from_slice(&high.to_le_bytes());
    bytes
}

/// Emits step 3's introduction and LIDT of a table built at assembly time.
pub(super) fn emit_load(asm: &mut Asm, entries: &Entries) -> Result<(), IcedError> {
    let mut table = Vec::new();
    for vector in 0..IDT_ENTRIES {
        let entry = match vector {
            0..=31 => gate(entries.exceptions[vector as usize].addr, INTERRUPT_GATE),
            0x20 => gate(entries.timer.addr, INTERRUPT_GATE),
            0x21..=0x2F => gate(entries.irq_other.addr, INTERRUPT_GATE),
            SYSCALL_VECTOR => gate(entries.syscall.addr, INTERRUPT_GATE | DPL3),
            _ => [0; 8],
        };
        table.extend_from_slice(&entry);
    }
    let table_addr = asm.data(table);
    let mut idtr = ((IDT_ENTRIES * 8 - 1) as u16).to_le_bytes().to_vec();
    idtr.extend_from_slice(&table_addr.to_le_bytes());
    let idtr = asm.data(idtr);
    asm.say(concat!(
        "\nStep 3: interrupts.\n",
        " LIDT: the IDT maps each vector to a gate. Vectors 0-31 are CPU exceptions (#DE 0, #UD 6,\n",
        " #GP 13, #PF 14, ...); ours print the vector, error code and EIP. 0x20-0x2F will be IRQs,\n",
        " and 0x80 is the system call gate, the only one with DPL 3 so ring 3 may use INT 0x80.\n",
    ))?;
    asm.a.lidt(ptr(idtr))
}

/// Emits the 32 exception stubs and the common entry that dispatches #GP and #PF and treats the rest as fatal.
pub(super) fn emit_handlers(asm: &mut Asm, entries: &Entries) -> Result<(), IcedError> {
    let common = asm.a.create_label();
    for (vector, stub) in entries.exceptions.iter().enumerate() {
        asm.place(stub.label)?;
        if !has_error_code(vector as u32) {
            asm.a.push(0)?;
        }
        asm.a.push(vector as i32)?;
        asm.a.jmp(common)?;
    }
    asm.place(common)?;
    let a = &mut asm.a;
    a.pushad()?;
    a.mov(ebp, esp)?;
    a.mov(eax, dword_ptr(ebp + FRAME_VECTOR))?;
    a.cmp(eax, 13)?;
    a.je(entries.gp)?;
    a.cmp(eax, 14)?;
    a.je(entries.pf)?;
    a.jmp(entries.fatal)?;

    asm.place(entries.resume)?;
    let a = &mut asm.a;
    a.popad()?;
    a.add(esp, 8)?;
    a.iretd()
}
