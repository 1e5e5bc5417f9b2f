//! The task-state segment and the first descent into ring 3.
//!
//! A 32-bit TSS was meant for hardware task switching, which nobody uses; what remains essential is SS0:ESP0, the
//! stack the CPU switches to when an interrupt or exception takes it from ring 3 to ring 0 (a user stack can't be
//! trusted). The only way *down* to a less privileged ring is a return: IRET pops EIP, CS, EFLAGS and, since the new
//! CS has RPL 3, also ESP and SS. EFLAGS.IOPL stays 0, so ring 3 may not use CLI, STI, IN or OUT.

use super::super::asm::Asm;
use super::super::gdt::{
    KERNEL_DATA_SELECTOR, TSS_SELECTOR, TSS_SIZE, USER_CODE_SELECTOR, USER_DATA_SELECTOR,
};
use super::super::{RING0_STACK_TOP, TSS_ADDR, USER_CODE_VA, USER_STACK_TOP_VA};
use iced_x86::code_asm::*;

/// Offset of ESP0 in the TSS.
const TSS_ESP0: u32 = 4;
/// Offset of SS0 in the TSS.
const TSS_SS0: u32 = 8;
/// Offset of the I/O map base; pointing it past the TSS limit means "no bitmap: every port needs CPL <= IOPL".
const TSS_IOMAP_BASE: u32 = 102;
/// EFLAGS for ring 3: IF = 1 (timer interrupts keep coming), IOPL = 0, reserved bit 1 set.
const USER_EFLAGS: u32 = 0x202;

/// Emits step 5: fill the TSS, LTR, then IRET to the user program. Does not return.
pub(super) fn emit_enter_ring3(asm: &mut Asm) -> Result<(), IcedError> {
    asm.say(concat!(
        "\nStep 5: ring 3.\n",
        " TSS.SS0:ESP0 = 0010:00007000 is the stack the CPU switches to when a trap takes it from\n",
        " ring 3 to ring 0; LTR 0x28 loads the TSS. The way down is IRET with CS = 0x1B (RPL 3):\n",
        " it pops EIP 0x00400000, CS, EFLAGS (IF=1, IOPL=0), ESP 0x00402000 and SS 0x23.\n",
    ))?;
    let a = &mut asm.a;
    a.mov(edi, TSS_ADDR)?;
    a.xor(eax, eax)?;
    a.mov(ecx, TSS_SIZE / 4)?;
    a.rep().stosd()?;
    a.mov(dword_ptr(TSS_ADDR + TSS_ESP0), RING0_STACK_TOP)?;
    a.mov(
        dword_ptr(TSS_ADDR + TSS_SS0),
        u32::from(KERNEL_DATA_SELECTOR),
    )?;
    a.mov(word_ptr(TSS_ADDR + TSS_IOMAP_BASE), TSS_SIZE)?;
    a.mov(ax, u32::from(TSS_SELECTOR))?;
    a.ltr(ax)?;
    // Data segments must be usable at CPL 3, or IRET would load them with null.
    a.mov(ax, u32::from(USER_DATA_SELECTOR))?;
    for seg in [ds, es, fs, gs] {
        a.mov(seg, ax)?;
    }
    a.push(u32::from(USER_DATA_SELECTOR))?;
    a.push(USER_STACK_TOP_VA)?;
    a.push(USER_EFLAGS)?;
    a.push(u32::from(USER_CODE_SELECTOR))?;
    a.push(USER_CODE_VA)?;
    a.iretd()
}
