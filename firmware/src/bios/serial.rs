//! COM1, the BIOS's second console: everything printed goes out here too, and keys typed on it feed INT 16h.
//!
//! A real BIOS programs the UARTs it finds, records their ports in the BDA, and offers INT 14h; most modern
//! firmware also mirrors the console to a serial port ("console redirection"). Ours sets COM1 to 115200 8N1 with
//! FIFOs, polls the line status register (no interrupts), and mirrors every character INT 10h prints.

use super::common::outb;
use super::layout::*;
use super::{Ctx, Emit};
use iced_x86::code_asm::*;

/// Line status: receive data ready.
const LSR_DATA_READY: u32 = 0x01;
/// Line status: transmit holding register empty.
const LSR_THR_EMPTY: u32 = 0x20;

/// Emits, inline, the POST code that programs COM1: 115200 baud (divisor 1), 8 data bits, no parity, 1 stop bit,
/// FIFOs on and cleared, interrupts off, DTR and RTS raised.
pub(crate) fn init(a: &mut CodeAssembler) -> Emit {
    outb(a, COM1_IER, 0x00)?; // no UART interrupts: we poll
    outb(a, COM1_LCR, 0x80)?; // DLAB = 1: ports 0/1 are the baud divisor
    outb(a, COM1_DATA, 0x01)?; // divisor 1 = 115200 baud
    outb(a, COM1_IER, 0x00)?;
    outb(a, COM1_LCR, 0x03)?; // DLAB = 0, 8N1
    outb(a, COM1_FCR, 0xC7)?; // FIFO on, clear both, 14-byte trigger
    outb(a, COM1_MCR, 0x03) // DTR + RTS
}

/// Emits the COM1 subroutines.
pub(crate) fn emit(c: &mut Ctx) -> Emit {
    let Ctx { a, l, .. } = c;

    // serial_putc: AL = byte to send. Waits (bounded) until the transmitter is free. Preserves all registers.
    a.set_label(&mut l.serial_putc)?;
    let mut wait = a.create_label();
    let mut ready = a.create_label();
    a.push(ax)?;
    a.push(cx)?;
    a.push(dx)?;
    a.mov(ah, al)?;
    a.mov(dx, COM1_LSR)?;
    a.mov(cx, 0xFFFF)?; // give up after 64K polls, so a missing UART cannot hang the BIOS
    a.set_label(&mut wait)?;
    a.in_(al, dx)?;
    a.test(al, LSR_THR_EMPTY)?;
    a.jnz(ready)?;
    a.loop_(wait)?;
    a.set_label(&mut ready)?;
    a.mov(al, ah)?;
    a.mov(dx, COM1_DATA)?;
    a.out(dx, al)?;
    a.pop(dx)?;
    a.pop(cx)?;
    a.pop(ax)?;
    a.ret()?;

    // serial_getc: if a byte has arrived, AL = byte and ZF = 0; otherwise ZF = 1. Preserves the other registers.
    a.set_label(&mut l.serial_getc)?;
    let mut empty = a.create_label();
    a.push(dx)?;
    a.mov(dx, COM1_LSR)?;
    a.in_(al, dx)?;
    a.cmp(al, 0xFF)?; // no UART at all reads as all ones
    a.je(empty)?;
    a.test(al, LSR_DATA_READY)?;
    a.jz(empty)?;
    a.mov(dx, COM1_DATA)?;
    a.in_(al, dx)?;
    a.or(dx, dx)?; // DX is nonzero: ZF = 0
    a.pop(dx)?;
    a.ret()?;
    a.set_label(&mut empty)?;
    a.cmp(al, al)?; // ZF = 1
    a.pop(dx)?;
    a.ret()
}
