//! Pieces every service shares: the register frame, the default interrupt handlers, CMOS access and printing.

use super::layout::*;
use super::{Ctx, Emit};
use iced_x86::code_asm::*;

// ---- The register frame ---------------------------------------------------------------------------------------
//
// A BIOS service returns its results in the caller's registers and flags. Our services start with `enter` (PUSHA,
// PUSH DS, PUSH ES, MOV BP,SP), which leaves this frame on the caller's stack; a service writes its results into
// the frame, and `leave` pops them back into the registers and IRETs with the (possibly changed) flags.

/// Frame offset of the saved ES.
pub(crate) const F_ES: u32 = 0;
/// Frame offset of the saved DS.
pub(crate) const F_DS: u32 = 2;
/// Frame offset of the saved BP.
pub(crate) const F_BP: u32 = 8;
/// Frame offset of the saved BX (BL, then BH at +1).
pub(crate) const F_BX: u32 = 12;
/// Frame offset of the saved DX (DL, then DH at +1).
pub(crate) const F_DX: u32 = 14;
/// Frame offset of the saved CX (CL, then CH at +1).
pub(crate) const F_CX: u32 = 16;
/// Frame offset of the saved AX (AL, then AH at +1).
pub(crate) const F_AX: u32 = 18;
/// Frame offset of the FLAGS pushed by the INT instruction.
pub(crate) const F_FLAGS: u32 = 24;
/// Carry flag bit in FLAGS.
pub(crate) const CF: u32 = 0x01;
/// Zero flag bit in FLAGS.
pub(crate) const ZF: u32 = 0x40;

/// Saves all registers and points BP at the frame.
pub(crate) fn enter(a: &mut CodeAssembler) -> Emit {
    a.pusha()?;
    a.push(ds)?;
    a.push(es)?;
    a.mov(bp, sp)
}

/// Restores the (possibly updated) registers from the frame and returns from the interrupt.
pub(crate) fn leave(a: &mut CodeAssembler) -> Emit {
    a.mov(sp, bp)?;
    a.pop(es)?;
    a.pop(ds)?;
    a.popa()?;
    a.iret()
}

/// Sets the caller's carry flag (error) in the frame.
pub(crate) fn set_cf(a: &mut CodeAssembler) -> Emit {
    a.or(byte_ptr(bp + F_FLAGS), CF)
}

/// Clears the caller's carry flag (success) in the frame.
pub(crate) fn clear_cf(a: &mut CodeAssembler) -> Emit {
    a.and(byte_ptr(bp + F_FLAGS), !CF & 0xFF)
}

/// Emits `mov <seg>, value` through AX.
pub(crate) fn load_seg(a: &mut CodeAssembler, seg: AsmRegisterSegment, value: u32) -> Emit {
    a.mov(ax, value)?;
    a.mov(seg, ax)
}

/// Emits `out port, al` with AL = value.
pub(crate) fn outb(a: &mut CodeAssembler, port: u32, value: u32) -> Emit {
    a.mov(al, value)?;
    if port < 0x100 {
        a.out(port, al)
    } else {
        a.mov(dx, port)?;
        a.out(dx, al)
    }
}

/// Emits a POST progress code to port 0x80.
pub(crate) fn post_code(a: &mut CodeAssembler, code: u32) -> Emit {
    outb(a, PORT_POST, code)
}

/// Emits the shared subroutines and the default interrupt handlers.
pub(crate) fn emit(c: &mut Ctx) -> Emit {
    let Ctx { a, l, .. } = c;

    // Default handler for software interrupts nobody implements: a real BIOS points unused vectors at a lone
    // IRET so that a stray INT returns harmlessly. So do we.
    a.set_label(&mut l.int_default)?;
    a.iret()?;

    // An IRQ arrived that no driver claimed. The PIC keeps the line "in service" until it hears an EOI, which
    // would block every lower-priority IRQ, so acknowledge it and return.
    a.set_label(&mut l.irq_master_default)?;
    a.push(ax)?;
    a.mov(al, PIC_EOI)?;
    a.out(PIC1_CMD, al)?;
    a.pop(ax)?;
    a.iret()?;

    // A slave IRQ (8-15) needs an EOI at both controllers: the slave, and the master's cascade input (IRQ2).
    a.set_label(&mut l.irq_slave_default)?;
    a.push(ax)?;
    a.mov(al, PIC_EOI)?;
    a.out(PIC2_CMD, al)?;
    a.out(PIC1_CMD, al)?;
    a.pop(ax)?;
    a.iret()?;

    // INT 11h: a real BIOS returns the equipment word it built during POST. Ours too (from BDA 0x410).
    a.set_label(&mut l.int11_equipment)?;
    a.push(ds)?;
    load_seg(a, ds, BDA_SEG)?;
    a.mov(ax, word_ptr(BDA_EQUIPMENT))?;
    a.pop(ds)?;
    a.iret()?;

    // cmos_read: AL = CMOS register -> AL = its value. Clobbers nothing else.
    a.set_label(&mut l.cmos_read)?;
    a.out(CMOS_INDEX, al)?;
    a.in_(al, CMOS_DATA)?;
    a.ret()?;

    // bcd_to_bin: AL = BCD byte -> AL = binary. Clobbers nothing else.
    a.set_label(&mut l.bcd_to_bin)?;
    a.push(cx)?;
    a.mov(ch, al)?;
    a.and(ch, 0x0F)?; // ones
    a.shr(al, 4)?; // tens
    a.mov(cl, 10)?;
    a.mul(cl)?; // AX = tens * 10
    a.add(al, ch)?;
    a.pop(cx)?;
    a.ret()?;

    // print_str: prints the NUL-terminated string at CS:SI on screen and COM1. Preserves all registers.
    a.set_label(&mut l.print_str)?;
    let mut next = a.create_label();
    let mut done = a.create_label();
    a.push(ax)?;
    a.push(si)?;
    a.set_label(&mut next)?;
    a.mov(al, byte_ptr(si).cs())?;
    a.test(al, al)?;
    a.jz(done)?;
    a.call(l.tty_putc)?;
    a.inc(si)?;
    a.jmp(next)?;
    a.set_label(&mut done)?;
    a.pop(si)?;
    a.pop(ax)?;
    a.ret()?;

    // print_dec: prints EAX in decimal. Preserves all registers.
    a.set_label(&mut l.print_dec)?;
    let mut divide = a.create_label();
    let mut emit_digit = a.create_label();
    a.push(eax)?;
    a.push(ecx)?;
    a.push(edx)?;
    a.mov(ecx, 10)?;
    a.mov(dx, 0xFFFF)?;
    a.push(dx)?; // end marker below the digits
    a.set_label(&mut divide)?;
    a.xor(edx, edx)?;
    a.div(ecx)?;
    a.push(dx)?; // remainder = next digit, least significant first
    a.test(eax, eax)?;
    a.jnz(divide)?;
    a.set_label(&mut emit_digit)?;
    let mut finished = a.create_label();
    a.pop(ax)?;
    a.cmp(ax, 0xFFFF)?;
    a.je(finished)?;
    a.add(al, b'0' as u32)?;
    a.call(l.tty_putc)?;
    a.jmp(emit_digit)?;
    a.set_label(&mut finished)?;
    a.pop(edx)?;
    a.pop(ecx)?;
    a.pop(eax)?;
    a.ret()
}
