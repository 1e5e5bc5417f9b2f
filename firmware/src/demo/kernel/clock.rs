//! The 8259 interrupt controllers and the 8254 timer: hardware interrupts.
//!
//! Devices raise IRQ lines; the two cascaded 8259 PICs turn IRQ n into an interrupt vector. At reset they use
//! vectors 8-15 and 0x70-0x77, and 8-15 collide with CPU exceptions, so every protected-mode OS reprograms them with
//! four initialization words (ICW1-4). The PIT's channel 0 divides a 1.193182 MHz clock and pulses IRQ 0.

use super::super::asm::Asm;
use super::{Entries, TICKS};
use iced_x86::code_asm::*;

/// Master PIC command and data ports.
const PIC1_CMD: u32 = 0x20;
/// Master PIC data port (ICW2-4, then the interrupt mask).
const PIC1_DATA: u32 = 0x21;
/// Slave PIC command port.
const PIC2_CMD: u32 = 0xA0;
/// Slave PIC data port.
const PIC2_DATA: u32 = 0xA1;
/// Non-specific end of interrupt.
const EOI: u32 = 0x20;
/// PIT channel 0 data port.
const PIT_CH0: u32 = 0x40;
/// PIT mode/command port.
const PIT_CMD: u32 = 0x43;
/// Channel 0, lobyte/hibyte, mode 2 (rate generator), binary.
const PIT_CH0_MODE2: u32 = 0x34;
/// 1193182 Hz / 11932 = 100 Hz.
const PIT_DIVISOR: u32 = 11932;
/// How many ticks step 3 waits for.
const TICKS_TO_WAIT: u32 = 5;

/// Emits the PIC remap, PIT setup, STI and a HLT loop that waits for [`TICKS_TO_WAIT`] ticks.
pub(super) fn emit_start(asm: &mut Asm) -> Result<(), IcedError> {
    asm.say(concat!(
        " The 8259 PICs deliver IRQs 0-7 on vectors 8-15 after reset, the same as CPU exceptions,\n",
        " so ICW1-4 remap them to 0x20-0x2F; then we mask every IRQ but 0 (the timer).\n",
    ))?;
    let a = &mut asm.a;
    for (port, value) in [
        (PIC1_CMD, 0x11), // ICW1: edge triggered, cascade, ICW4 follows
        (PIC2_CMD, 0x11),
        (PIC1_DATA, 0x20), // ICW2: vector base
        (PIC2_DATA, 0x28),
        (PIC1_DATA, 0x04), // ICW3: the slave hangs off IRQ 2
        (PIC2_DATA, 0x02),
        (PIC1_DATA, 0x01), // ICW4: 8086 mode
        (PIC2_DATA, 0x01),
        (PIC1_DATA, 0xFE), // OCW1: mask all but IRQ 0
        (PIC2_DATA, 0xFF),
        (PIT_CMD, PIT_CH0_MODE2),
        (PIT_CH0, PIT_DIVISOR & 0xFF),
        (PIT_CH0, PIT_DIVISOR >> 8),
    ] {
        a.mov(al, value)?;
        a.out(port, al)?;
    }
    asm.say(concat!(
        " PIT channel 0: 1193182 Hz / 11932 = 100 Hz, mode 2 (rate generator), on IRQ 0 = vector 0x20.\n",
        " STI, then HLT until 5 ticks have arrived:",
    ))?;
    let wait = asm.a.create_label();
    asm.a.mov(ebx, 1)?;
    asm.a.sti()?;
    asm.place(wait)?;
    asm.a.hlt()?;
    asm.a.cmp(dword_ptr(TICKS), ebx)?;
    asm.a.jb(wait)?;
    asm.say(" tick ")?;
    asm.a.mov(eax, ebx)?;
    asm.say_dec()?;
    asm.a.inc(ebx)?;
    asm.a.cmp(ebx, TICKS_TO_WAIT)?;
    asm.a.jbe(wait)?;
    asm.say(concat!(
        "\n The clock works: each HLT slept until IRQ 0 woke the CPU, whose handler counted the tick\n",
        " and sent EOI (end of interrupt) to the PIC so it may deliver the next one.\n",
    ))
}

/// Emits the IRQ handlers: IRQ 0 counts a tick; any other IRQ is acknowledged and ignored.
pub(super) fn emit_handlers(asm: &mut Asm, entries: &Entries) -> Result<(), IcedError> {
    asm.place(entries.timer.label)?;
    let a = &mut asm.a;
    a.push(eax)?;
    a.inc(dword_ptr(TICKS))?;
    a.mov(al, EOI)?;
    a.out(PIC1_CMD, al)?;
    a.pop(eax)?;
    a.iretd()?;

    asm.place(entries.irq_other.label)?;
    let a = &mut asm.a;
    a.push(eax)?;
    a.mov(al, EOI)?;
    a.out(PIC2_CMD, al)?;
    a.out(PIC1_CMD, al)?;
    a.pop(eax)?;
    a.iretd()
}
