//! The end of the story: a summary and a clean power-off, or a loud failure.
//!
//! ACPI powers a PC off when the OS writes SLP_TYP and SLP_EN to the PM1a control register; on the PIIX4 chipset
//! that QEMU and vx86 model, SLP_TYP = 0 means soft-off. If an exception arrives that the demo did not plan for, it
//! prints the frame and writes to the isa-debug-exit port, so a test run fails with a nonzero status, never silently.

use super::super::asm::Asm;
use super::super::gdt::KERNEL_DATA_SELECTOR;
use super::super::{
    ACPI_PM1A_CNT_OFFSET, ACPI_POWER_OFF, DEBUG_EXIT_PORT, FAILURE_EXIT_BASE, FAILURE_LINE,
    PIIX4_PMBA_CONFIG_ADDRESS, SUCCESS_LINE,
};
use super::idt::{FRAME_CS, FRAME_EIP, FRAME_ERROR, FRAME_VECTOR};
use super::{Entries, FAULTS_HANDLED, SYSCALLS_SERVED, TICKS};
use iced_x86::code_asm::*;

/// Emits the halt loop used when power-off or debug-exit did not stop the machine.
fn emit_halt_forever(asm: &mut Asm) -> Result<(), IcedError> {
    let halt = asm.a.create_label();
    asm.place(halt)?;
    asm.a.cli()?;
    asm.a.hlt()?;
    asm.a.jmp(halt)
}

/// Emits step 6 at `entries.power_off`: summary, success line, ACPI soft-off.
pub(super) fn emit_power_off(asm: &mut Asm, entries: &Entries) -> Result<(), IcedError> {
    asm.place(entries.power_off)?;
    let a = &mut asm.a;
    a.cli()?;
    a.mov(ax, u32::from(KERNEL_DATA_SELECTOR))?;
    a.mov(ds, ax)?;
    a.mov(es, ax)?;
    asm.say("\nStep 6: summary.\n Timer ticks counted: ")?;
    for (var, text) in [
        (TICKS, ", faults handled: "),
        (FAULTS_HANDLED, ", system calls served: "),
        (SYSCALLS_SERVED, ".\n"),
    ] {
        asm.a.mov(eax, dword_ptr(var))?;
        asm.say_dec()?;
        asm.say(text)?;
    }
    asm.say(concat!(
        " Every refusal above came from the CPU: rings, gates and page bits are checked in hardware,\n",
        " and the kernel only chose what to do after each trap. A hypervisor builds on exactly this.\n",
        " Powering off: the firmware chose where the ACPI PM block lives and wrote it to the PIIX4's\n",
        " PMBA register (PCI 00:01.3, offset 0x40), so read it there; then a 16-bit OUT of 0x2000\n",
        " (SLP_EN, SLP_TYP=0) to PM1a control, at that base + 4.\n",
    ))?;
    asm.say(&format!("{SUCCESS_LINE}\n"))?;
    let a = &mut asm.a;
    a.mov(eax, PIIX4_PMBA_CONFIG_ADDRESS)?;
    a.mov(dx, 0xCF8u32)?;
    a.out(dx, eax)?;
    a.mov(dx, 0xCFCu32)?;
    a.in_(eax, dx)?;
    a.and(eax, 0xFFC0)?;
    a.add(eax, u32::from(ACPI_PM1A_CNT_OFFSET))?;
    a.mov(edx, eax)?;
    a.mov(ax, u32::from(ACPI_POWER_OFF))?;
    a.out(dx, ax)?;
    // Give the power-off a moment (10 ticks) to take effect before saying it did not.
    let wait = asm.a.create_label();
    let a = &mut asm.a;
    a.mov(ebx, dword_ptr(TICKS))?;
    a.add(ebx, 10)?;
    a.sti()?;
    asm.place(wait)?;
    asm.a.hlt()?;
    asm.a.cmp(dword_ptr(TICKS), ebx)?;
    asm.a.jb(wait)?;
    asm.say("demo: the power-off request did not take effect; halting.\n")?;
    emit_halt_forever(asm)
}

/// Emits `entries.fatal`: EBP = exception frame; prints it and exits through isa-debug-exit.
pub(super) fn emit_fatal(asm: &mut Asm, entries: &Entries) -> Result<(), IcedError> {
    asm.place(entries.fatal)?;
    asm.say("\n!! Unexpected exception: vector ")?;
    asm.a.mov(eax, dword_ptr(ebp + FRAME_VECTOR))?;
    asm.say_dec()?;
    for (offset, text, digits) in [
        (FRAME_ERROR, ", error code 0x", 8),
        (FRAME_CS, ", CS 0x", 4),
        (FRAME_EIP, ", EIP 0x", 8),
    ] {
        asm.say(text)?;
        asm.a.mov(eax, dword_ptr(ebp + offset))?;
        asm.say_hex(digits)?;
    }
    asm.say(", CR2 0x")?;
    asm.a.mov(eax, cr2)?;
    asm.say_hex(8)?;
    asm.say(&format!(
        "\n{FAILURE_LINE} (port 0xF4, value 0x20 + vector)\n"
    ))?;
    let a = &mut asm.a;
    a.mov(eax, dword_ptr(ebp + FRAME_VECTOR))?;
    a.add(al, i32::from(FAILURE_EXIT_BASE))?;
    a.out(u32::from(DEBUG_EXIT_PORT), al)?;
    emit_halt_forever(asm)
}
