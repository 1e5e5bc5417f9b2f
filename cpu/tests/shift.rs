//! Shifts and rotates on edge counts and values, with exact flags.

use iced_x86::code_asm::*;
use vx86_cpu::flags::{AF, ARITH, CF, OF, PF, SF, ZF};
use vx86_cpu::testing::run32;

/// Loads the six arithmetic flags with `flags_in` and EAX with `value`, runs `op`, returns EAX and those flags.
fn run(value: u32, flags_in: u64, op: impl FnOnce(&mut CodeAssembler)) -> (u32, u64) {
    let (cpu, _) = run32(|a| {
        a.mov(eax, value).unwrap();
        a.push(flags_in as u32 | 2).unwrap();
        a.popfd().unwrap();
        op(a);
        a.hlt().unwrap();
    });
    (cpu.state.gpr[0] as u32, cpu.state.rflags & ARITH)
}

#[test]
fn masked_count_zero_changes_nothing() {
    for count in [0u32, 32, 64] {
        let (r, f) = run(0x80, ARITH, |a| {
            a.mov(ecx, count).unwrap();
            a.shl(al, cl).unwrap();
            a.rcr(eax, cl).unwrap();
            a.shld(eax, ecx, cl).unwrap();
        });
        assert_eq!((r, f), (0x80, ARITH), "count {count}");
    }
}

#[test]
fn shl_by_one_of_the_sign_bit() {
    let want = CF | OF | ZF | PF | AF;
    assert_eq!(run(0x80, 0, |a| a.shl(al, 1u32).unwrap()), (0, want));
    assert_eq!(run(0x8000, 0, |a| a.shl(ax, 1u32).unwrap()), (0, want));
    assert_eq!(
        run(0x8000_0000, 0, |a| a.sal(eax, 1u32).unwrap()),
        (0, want)
    );
}

#[test]
fn shl_counts_up_to_and_past_the_width() {
    // size - 1: the last bit out is bit 1 of 0x03; OF = MSB ^ CF = 0.
    assert_eq!(
        run(0x03, 0, |a| a.shl(al, 7u32).unwrap()),
        (0x80, CF | SF | AF)
    );
    // size: the last bit out is bit 0.
    assert_eq!(
        run(0x01, 0, |a| a.shl(al, 8u32).unwrap()),
        (0, CF | OF | ZF | PF | AF)
    );
    // past the width (8-bit, count 9): only zeros remain, the last bit out is a shifted-in zero.
    assert_eq!(
        run(0xFF, CF | OF, |a| a.shl(al, 9u32).unwrap()),
        (0, ZF | PF | AF)
    );
    // 32-bit, count 31 from CL.
    assert_eq!(
        run(1, 0, |a| {
            a.mov(ecx, 31u32).unwrap();
            a.shl(eax, cl).unwrap();
        }),
        (0x8000_0000, OF | SF | PF | AF)
    );
    // The upper bytes of EAX are untouched by an 8-bit shift.
    assert_eq!(
        run(0x1234_5681, 0, |a| a.shl(al, 1u32).unwrap()),
        (0x1234_5602, CF | OF | AF)
    );
}

#[test]
fn shr_flags() {
    assert_eq!(
        run(0x81, 0, |a| a.shr(al, 1u32).unwrap()),
        (0x40, CF | OF | AF)
    );
    assert_eq!(run(0x8000_0000, 0, |a| a.shr(eax, 31u32).unwrap()), (1, AF));
    assert_eq!(
        run(0x8000, 0, |a| a.shr(ax, 16u32).unwrap()),
        (0, CF | ZF | PF | AF)
    );
    assert_eq!(
        run(0x8000, 0, |a| a.shr(ax, 17u32).unwrap()),
        (0, ZF | PF | AF)
    );
    // Count > 1: OF is that of the final 1-bit step (0 for SHR).
    assert_eq!(run(0x80, OF, |a| a.shr(al, 2u32).unwrap()), (0x20, AF));
}

#[test]
fn sar_keeps_the_sign() {
    assert_eq!(
        run(0x80, OF, |a| a.sar(al, 1u32).unwrap()),
        (0xC0, SF | PF | AF)
    );
    assert_eq!(
        run(0x80, 0, |a| a.sar(al, 9u32).unwrap()),
        (0xFF, CF | SF | PF | AF)
    );
    assert_eq!(
        run(0x8000_0000, 0, |a| a.sar(eax, 31u32).unwrap()),
        (0xFFFF_FFFF, SF | PF | AF)
    );
    assert_eq!(
        run(0x7FFF, 0, |a| a.sar(ax, 15u32).unwrap()),
        (0, CF | ZF | PF | AF)
    );
}

#[test]
fn rotates_touch_only_cf_and_of() {
    // ZF/SF/PF/AF are kept whatever the result.
    let keep = ZF | SF | PF | AF;
    assert_eq!(
        run(0x80, keep, |a| a.rol(al, 1u32).unwrap()),
        (0x01, keep | CF | OF)
    );
    // A count that is a multiple of the width rotates nothing but still sets CF from the result.
    assert_eq!(run(0x81, 0, |a| a.rol(al, 8u32).unwrap()), (0x81, CF));
    assert_eq!(
        run(0x1234_5678, 0, |a| a.rol(eax, 4u32).unwrap()),
        (0x2345_6781, CF | OF)
    );
    assert_eq!(
        run(0x0001, keep, |a| a.ror(ax, 1u32).unwrap()),
        (0x8000, keep | CF | OF)
    );
    assert_eq!(
        run(0x1234_5678, 0, |a| a.ror(eax, 4u32).unwrap()),
        (0x8123_4567, CF | OF)
    );
    assert_eq!(
        run(0x40, CF | OF, |a| a.ror(al, 7u32).unwrap()),
        (0x80, CF | OF)
    );
    assert_eq!(
        run(0x02, CF | OF, |a| a.ror(al, 2u32).unwrap()),
        (0x80, CF | OF)
    );
    assert_eq!(
        run(0x01, CF | OF, |a| a.ror(al, 1u32).unwrap()),
        (0x80, CF | OF)
    );
    assert_eq!(run(0x03, 0, |a| a.ror(al, 1u32).unwrap()), (0x81, CF | OF));
}

#[test]
fn rotates_through_carry() {
    assert_eq!(run(0x80, 0, |a| a.rcl(al, 1u32).unwrap()), (0x00, CF | OF));
    assert_eq!(run(0x40, CF, |a| a.rcl(al, 2u32).unwrap()), (0x02, CF | OF));
    // 8-bit by 9 is a full turn of CF:AL: nothing moves; OF = MSB ^ CF.
    assert_eq!(run(0x55, CF, |a| a.rcl(al, 9u32).unwrap()), (0x55, CF | OF));
    assert_eq!(run(0x01, CF, |a| a.rcr(al, 1u32).unwrap()), (0x80, CF | OF));
    // 16-bit by 17 is a full turn; the stale OF is recomputed (0).
    assert_eq!(
        run(0x1234, OF | ZF, |a| a.rcr(ax, 17u32).unwrap()),
        (0x1234, ZF)
    );
    assert_eq!(
        run(0x0000_0003, 0, |a| a.rcr(eax, 2u32).unwrap()),
        (0x8000_0000, CF | OF)
    );
    assert_eq!(
        run(0x8000_0000, CF, |a| a.rcl(eax, 31u32).unwrap()),
        (0x6000_0000, 0)
    );
    // RCL AX by 16: CF:AX = 1:0x0001 -> AX = 0x8000 (the old CF) | 0, CF = bit 0.
    assert_eq!(run(0x0001, CF, |a| a.rcl(ax, 16u32).unwrap()), (0x8000, CF));
}

#[test]
fn double_precision_shifts() {
    let shld = |count: u32| {
        move |a: &mut CodeAssembler| {
            a.mov(ebx, 0x9ABC_DEF0u32).unwrap();
            a.shld(eax, ebx, count).unwrap();
        }
    };
    assert_eq!(run(0x1234_5678, 0, shld(4)), (0x2345_6789, CF | OF));
    assert_eq!(run(0x1234_5678, 0, shld(31)), (0x4D5E_6F78, PF));
    assert_eq!(
        run(0x1234_5678, 0, |a| {
            a.mov(ebx, 0x9ABC_DEF0u32).unwrap();
            a.mov(ecx, 4u32).unwrap();
            a.shrd(eax, ebx, cl).unwrap();
        }),
        (0x0123_4567, CF)
    );
    assert_eq!(
        run(0x0000_0001, 0, |a| {
            a.mov(ebx, 0u32).unwrap();
            a.shrd(eax, ebx, 1u32).unwrap();
        }),
        (0, CF | ZF | PF)
    );
    // 16-bit by exactly 16: the source replaces the destination; the last bit out is bit 0 of the destination.
    assert_eq!(
        run(0x1234, 0, |a| {
            a.mov(bx, 0xABCDu32).unwrap();
            a.shld(ax, bx, 16u32).unwrap();
        }),
        (0xABCD, OF | SF)
    );
    // 16-bit by 20 (undefined): dst:src:dst shifted, as P6 and later do.
    assert_eq!(
        run(0x1234, 0, |a| {
            a.mov(bx, 0xABCDu32).unwrap();
            a.shld(ax, bx, 20u32).unwrap();
        }),
        (0xBCD1, OF | SF | PF)
    );
    assert_eq!(
        run(0x1234, 0, |a| {
            a.mov(bx, 0xABCDu32).unwrap();
            a.shrd(ax, bx, 20u32).unwrap();
        }),
        (0x4ABC, CF | OF)
    );
}

#[test]
fn memory_destination() {
    let (cpu, bus) = run32(|a| {
        a.mov(dword_ptr(0x3000), 0x0F00_0001u32).unwrap();
        a.shl(dword_ptr(0x3000), 4u32).unwrap();
        a.mov(byte_ptr(0x3004), 0x81u32).unwrap();
        a.mov(ecx, 1u32).unwrap();
        a.rol(byte_ptr(0x3004), cl).unwrap();
        a.hlt().unwrap();
    });
    assert_eq!(bus.read_u32(0x3000), 0xF000_0010);
    assert_eq!(bus.ram[0x3004], 0x03);
    // SHL: CF = 0, OF = 1, SF = 1, PF from 0x10 odd, AF set; then ROL sets CF = 1 and OF = 0 ^ 1.
    assert_eq!(cpu.state.rflags & ARITH, CF | OF | SF | AF);
}

#[test]
fn sixty_four_bit_operands_in_the_alu() {
    use vx86_cpu::alu;
    assert_eq!(alu::shl(1, 63, 8), (1 << 63, OF | SF | PF | AF));
    assert_eq!(alu::sar(1 << 63, 63, 8), (u64::MAX, SF | PF | AF));
    assert_eq!(alu::rcl(1 << 63, 1, false, 8), (0, CF | OF));
    assert_eq!(alu::rcr(1, 1, true, 8), (1 << 63, CF | OF));
    assert_eq!(alu::shld(1, 1 << 63, 1, 8), (3, PF));
    assert_eq!(alu::shrd(1, 1, 63, 8), (2, 0));
}
