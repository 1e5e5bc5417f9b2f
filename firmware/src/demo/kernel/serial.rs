//! The 16550 UART (COM1) driven by port I/O.
//!
//! Without the BIOS, the kernel talks to hardware itself: IN and OUT on the UART's eight registers at 0x3F8. An
//! emulator sees each of these as an I/O exit, which is why a polled UART is the simplest console to virtualize.

use super::super::asm::Asm;
use iced_x86::code_asm::*;

/// COM1's base port: data register (THR/RBR), or divisor low byte while LCR.DLAB = 1.
const COM1: u32 = 0x3F8;
/// Interrupt enable register (divisor high byte while DLAB = 1).
const IER: u32 = COM1 + 1;
/// FIFO control register.
const FCR: u32 = COM1 + 2;
/// Line control register: word length, parity, stop bits, DLAB.
const LCR: u32 = COM1 + 3;
/// Modem control register: DTR, RTS, OUT2.
const MCR: u32 = COM1 + 4;
/// Line status register; bit 5 (THRE) = the transmitter can take a byte.
const LSR: u32 = COM1 + 5;
/// LSR bit 5: transmit holding register empty.
const LSR_THRE: u32 = 0x20;

/// Emits inline code that programs 115200 baud, 8N1, FIFOs on, interrupts off.
pub(super) fn emit_init(asm: &mut Asm) -> Result<(), IcedError> {
    let a = &mut asm.a;
    for (port, value) in [
        (IER, 0x00),
        (LCR, 0x80),
        (COM1, 0x01),
        (IER, 0x00),
        (LCR, 0x03),
        (FCR, 0xC7),
        (MCR, 0x03),
    ] {
        a.mov(dx, port)?;
        a.mov(al, value)?;
        a.out(dx, al)?;
    }
    Ok(())
}

/// Emits the raw character output at `label`: AL = character; waits for THRE, then writes it. Preserves registers.
pub(super) fn emit_putc(asm: &mut Asm, label: CodeLabel) -> Result<(), IcedError> {
    let wait = asm.a.create_label();
    asm.place(label)?;
    let a = &mut asm.a;
    a.push(edx)?;
    a.push(eax)?;
    a.mov(dx, LSR)?;
    asm.place(wait)?;
    let a = &mut asm.a;
    a.in_(al, dx)?;
    a.test(al, LSR_THRE)?;
    a.jz(wait)?;
    a.pop(eax)?;
    a.mov(dx, COM1)?;
    a.out(dx, al)?;
    a.pop(edx)?;
    a.ret()
}
