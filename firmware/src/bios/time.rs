//! Time: the IRQ0 timer tick (INT 08h), INT 1Ah (tick count and the RTC), and the POST tick initialisation.
//!
//! The PIT's channel 0 fires IRQ0 18.2 times a second (1193182 Hz / 65536). A real BIOS counts those ticks in
//! the BDA (0x46C) as "time since midnight", wraps the count after 24 hours (0x1800B0 ticks) setting a flag at
//! 0x470, lets programs hook the tick through INT 1Ch, and reads or sets the battery-backed RTC in CMOS for
//! INT 1Ah. Ours does all that, starting the tick count from the RTC's time of day.

use super::common::{clear_cf, enter, leave, load_seg, set_cf, F_AX, F_CX, F_DX};
use super::layout::*;
use super::{Ctx, Emit};
use iced_x86::code_asm::*;

/// PIT input clock in Hz.
pub const PIT_HZ: u32 = 1_193_182;

/// Emits the timer interrupt, INT 1Ah and `ticks_from_rtc`.
pub(crate) fn emit(c: &mut Ctx) -> Emit {
    let Ctx { a, l, .. } = c;
    let mut rtc_wait = a.create_label();

    // ---- INT 08h (IRQ0): one timer tick. ----------------------------------------------------------------------
    a.set_label(&mut l.int08_timer)?;
    let mut same_day = a.create_label();
    a.push(ax)?;
    a.push(ds)?;
    load_seg(a, ds, BDA_SEG)?;
    a.inc(dword_ptr(BDA_TICKS))?;
    a.cmp(dword_ptr(BDA_TICKS), TICKS_PER_DAY)?;
    a.jb(same_day)?;
    a.mov(dword_ptr(BDA_TICKS), 0)?;
    a.mov(byte_ptr(BDA_MIDNIGHT), 1)?;
    a.set_label(&mut same_day)?;
    a.int(0x1C)?; // the user timer hook (ours is a bare IRET)
    a.mov(al, PIC_EOI)?;
    a.out(PIC1_CMD, al)?;
    a.pop(ds)?;
    a.pop(ax)?;
    a.iret()?;

    // ---- rtc_wait: wait (bounded) until the RTC is not in the middle of an update. Preserves all but flags. ---
    a.set_label(&mut rtc_wait)?;
    let mut again = a.create_label();
    let mut done = a.create_label();
    a.push(ax)?;
    a.push(cx)?;
    a.mov(cx, 0xFFFF)?;
    a.set_label(&mut again)?;
    a.mov(al, CMOS_STATUS_A)?;
    a.call(l.cmos_read)?;
    a.test(al, 0x80)?; // UIP: update in progress
    a.jz(done)?;
    a.loop_(again)?;
    a.set_label(&mut done)?;
    a.pop(cx)?;
    a.pop(ax)?;
    a.ret()?;

    // ---- ticks_from_rtc (POST): BDA tick count = RTC time of day in ticks. DS = BDA. ------------------------
    a.set_label(&mut l.ticks_from_rtc)?;
    a.call(rtc_wait)?;
    a.xor(ebx, ebx)?; // seconds since midnight
    for (reg, unit) in [(CMOS_HOURS, 3600u32), (CMOS_MINUTES, 60), (CMOS_SECONDS, 1)] {
        a.mov(al, reg)?;
        a.call(l.cmos_read)?;
        a.call(l.bcd_to_bin)?;
        a.movzx(eax, al)?;
        a.imul_3(eax, eax, unit as i32)?;
        a.add(ebx, eax)?;
    }
    a.mov(eax, PIT_HZ)?;
    a.mul(ebx)?; // EDX:EAX = seconds * PIT_HZ
    a.shrd(eax, edx, 16)?;
    a.mov(dword_ptr(BDA_TICKS), eax)?;
    a.ret()?;

    // ---- INT 1Ah --------------------------------------------------------------------------------------------
    a.set_label(&mut l.int1a_time)?;
    enter(a)?;
    a.push(ax)?;
    load_seg(a, ds, BDA_SEG)?;
    a.pop(ax)?;
    let mut get_ticks = a.create_label();
    let mut set_ticks = a.create_label();
    let mut get_time = a.create_label();
    let mut set_time = a.create_label();
    let mut get_date = a.create_label();
    let mut set_date = a.create_label();
    let mut ok = a.create_label();
    for (ah_value, target) in [
        (0, get_ticks),
        (1, set_ticks),
        (2, get_time),
        (3, set_time),
        (4, get_date),
        (5, set_date),
    ] {
        a.cmp(ah, ah_value)?;
        a.je(target)?;
    }
    set_cf(a)?;
    leave(a)?;
    a.set_label(&mut ok)?;
    clear_cf(a)?;
    leave(a)?;

    // AH=00h: CX:DX = ticks since midnight, AL = midnight flag (then cleared).
    a.set_label(&mut get_ticks)?;
    a.cli()?; // read the dword without a tick in between
    a.mov(ax, word_ptr(BDA_TICKS))?;
    a.mov(word_ptr(bp + F_DX), ax)?;
    a.mov(ax, word_ptr(BDA_TICKS + 2))?;
    a.mov(word_ptr(bp + F_CX), ax)?;
    a.mov(al, 0)?;
    a.xchg(byte_ptr(BDA_MIDNIGHT), al)?;
    a.mov(byte_ptr(bp + F_AX), al)?;
    a.jmp(ok)?;

    // AH=01h: set ticks from CX:DX, clear the midnight flag.
    a.set_label(&mut set_ticks)?;
    a.cli()?;
    a.mov(word_ptr(BDA_TICKS), dx)?;
    a.mov(word_ptr(BDA_TICKS + 2), cx)?;
    a.mov(byte_ptr(BDA_MIDNIGHT), 0)?;
    a.jmp(ok)?;

    // AH=02h: RTC time in BCD: CH = hours, CL = minutes, DH = seconds, DL = 1 if daylight saving.
    a.set_label(&mut get_time)?;
    a.call(rtc_wait)?;
    read_into(a, l.cmos_read, CMOS_HOURS, F_CX + 1)?;
    read_into(a, l.cmos_read, CMOS_MINUTES, F_CX)?;
    read_into(a, l.cmos_read, CMOS_SECONDS, F_DX + 1)?;
    a.mov(al, CMOS_STATUS_B)?;
    a.call(l.cmos_read)?;
    a.and(al, 1)?;
    a.mov(byte_ptr(bp + F_DX), al)?;
    a.jmp(ok)?;

    // AH=03h: set the RTC time from CH/CL/DH (BCD).
    a.set_label(&mut set_time)?;
    a.call(rtc_wait)?;
    write_from(a, CMOS_HOURS, ch)?;
    write_from(a, CMOS_MINUTES, cl)?;
    write_from(a, CMOS_SECONDS, dh)?;
    a.jmp(ok)?;

    // AH=04h: RTC date in BCD: CH = century, CL = year, DH = month, DL = day.
    a.set_label(&mut get_date)?;
    a.call(rtc_wait)?;
    read_into(a, l.cmos_read, CMOS_CENTURY, F_CX + 1)?;
    read_into(a, l.cmos_read, CMOS_YEAR, F_CX)?;
    read_into(a, l.cmos_read, CMOS_MONTH, F_DX + 1)?;
    read_into(a, l.cmos_read, CMOS_DAY, F_DX)?;
    a.jmp(ok)?;

    // AH=05h: set the RTC date from CH/CL/DH/DL (BCD).
    a.set_label(&mut set_date)?;
    a.call(rtc_wait)?;
    write_from(a, CMOS_CENTURY, ch)?;
    write_from(a, CMOS_YEAR, cl)?;
    write_from(a, CMOS_MONTH, dh)?;
    write_from(a, CMOS_DAY, dl)?;
    a.jmp(ok)
}

/// Emits: frame byte at `frame_offset` = CMOS register `reg`.
fn read_into(a: &mut CodeAssembler, cmos_read: CodeLabel, reg: u32, frame_offset: u32) -> Emit {
    a.mov(al, reg)?;
    a.call(cmos_read)?;
    a.mov(byte_ptr(bp + frame_offset), al)
}

/// Emits: CMOS register `reg` = `value`.
fn write_from(a: &mut CodeAssembler, reg: u32, value: AsmRegister8) -> Emit {
    a.mov(al, reg)?;
    a.out(CMOS_INDEX, al)?;
    a.mov(al, value)?;
    a.out(CMOS_DATA, al)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ticks since midnight for a time of day in seconds, as POST computes it: seconds * PIT_HZ / 65536.
    fn ticks_for_seconds(seconds: u32) -> u32 {
        ((u64::from(seconds) * u64::from(PIT_HZ)) >> 16) as u32
    }

    #[test]
    fn a_day_of_ticks() {
        assert_eq!(ticks_for_seconds(0), 0);
        assert_eq!(ticks_for_seconds(3600), 65543);
        // A whole day is (almost exactly) the BIOS's wrap-around count.
        assert!(ticks_for_seconds(86_400).abs_diff(TICKS_PER_DAY) <= 3);
    }
}
