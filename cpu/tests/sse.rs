//! SSE/SSE2 on edge values: NaN propagation, infinities, signed zeros, denormals with and without DAZ/FTZ, the
//! four rounding modes, integer saturation, alignment and availability faults, FXSAVE/FXRSTOR.

mod common;

use common::{fault, lanes32, pd, ps, run, DATA};
use iced_x86::code_asm::*;
use vx86_cpu::flags::{CF, PF, ZF};
use vx86_cpu::fpu::mxcsr;
use vx86_cpu::state::{cr0, cr4};

const QNAN1: u32 = 0x7FC0_0001;
const QNAN2: u32 = 0x7FC0_0002;
const SNAN1: u32 = 0x7F80_0001;
const ONE: u32 = 0x3F80_0000;
const TWO: u32 = 0x4000_0000;
const INF: u32 = 0x7F80_0000;
const NEG_ZERO: u32 = 0x8000_0000;
const INDEFINITE: u32 = 0xFFC0_0000;
const IE: u32 = 1;
const DE: u32 = 2;
const ZE: u32 = 4;
const OE: u32 = 8;
const UE: u32 = 16;
const PE: u32 = 32;

/// Runs `op xmm0, xmm1` with the given inputs and MXCSR; returns (xmm0, MXCSR flags).
fn binop(a: u128, b: u128, csr: u32, op: impl FnOnce(&mut CodeAssembler)) -> (u128, u32) {
    let (cpu, _) = run(
        |cpu, _| {
            cpu.fpu.xmm.regs[0] = a;
            cpu.fpu.xmm.regs[1] = b;
            cpu.fpu.xmm.mxcsr = csr;
        },
        |asm| {
            op(asm);
            asm.hlt().unwrap();
        },
    );
    (cpu.fpu.xmm.regs[0], cpu.fpu.xmm.mxcsr & mxcsr::FLAGS)
}

fn rc(mode: u32) -> u32 {
    mxcsr::RESET | mode << 13
}

#[test]
fn moves_merge_zero_extend_and_store() {
    let (cpu, bus) = run(
        |cpu, bus| {
            bus.load(DATA, &(0..32).collect::<Vec<u8>>());
            cpu.fpu.xmm.regs[7] = u128::MAX;
        },
        |a| {
            a.movaps(xmm0, xmmword_ptr(DATA)).unwrap();
            a.movups(xmm1, xmmword_ptr(DATA + 1)).unwrap();
            a.movaps(xmm2, xmm7).unwrap();
            a.movss(xmm2, dword_ptr(DATA)).unwrap(); // load: upper lanes zeroed
            a.movaps(xmm3, xmm7).unwrap();
            a.movss(xmm3, xmm0).unwrap(); // register: merge
            a.movaps(xmm4, xmm7).unwrap();
            a.movhps(xmm4, qword_ptr(DATA)).unwrap();
            a.movaps(xmm5, xmm7).unwrap();
            a.movhlps(xmm5, xmm0).unwrap();
            a.movd(xmm6, ecx).unwrap();
            a.movups(xmmword_ptr(DATA + 0x101), xmm0).unwrap();
            a.movsd_2(qword_ptr(DATA + 0x200), xmm0).unwrap();
            a.movq(xmm7, xmm0).unwrap();
            a.movmskps(eax, xmm1).unwrap();
            a.pmovmskb(edx, xmm0).unwrap();
            a.hlt().unwrap();
        },
    );
    let x = &cpu.fpu.xmm.regs;
    let data0 = u128::from_le_bytes((0..16).collect::<Vec<u8>>().try_into().unwrap());
    let data1 = u128::from_le_bytes((1..17).collect::<Vec<u8>>().try_into().unwrap());
    assert_eq!(x[0], data0);
    assert_eq!(x[1], data1);
    assert_eq!(x[2], 0x0302_0100);
    assert_eq!(x[3], u128::MAX << 32 | 0x0302_0100);
    assert_eq!(
        x[4],
        (data0 & u128::from(u64::MAX)) << 64 | u128::from(u64::MAX)
    );
    assert_eq!(x[5], u128::MAX << 64 | data0 >> 64);
    assert_eq!(x[6], 0, "movd zero-extends (ECX is 0)");
    assert_eq!(x[7], data0 & u128::from(u64::MAX));
    assert_eq!(
        &bus.ram[DATA as usize + 0x101..DATA as usize + 0x111],
        &(0..16).collect::<Vec<u8>>()[..]
    );
    assert_eq!(bus.read_u32(DATA + 0x200), 0x0302_0100);
    assert_eq!(bus.read_u32(DATA + 0x204), 0x0706_0504);
    assert_eq!(bus.read_u32(DATA + 0x208), 0, "movsd stores only 8 bytes");
    assert_eq!(cpu.state.gpr[0], 0, "no sign bits in bytes 1..16");
    assert_eq!(cpu.state.gpr[2], 0);
}

#[test]
fn movaps_misaligned_raises_gp_but_movups_does_not() {
    let (v, m) = fault(
        |_| {},
        |a| {
            a.movups(xmm0, xmmword_ptr(0x40008)).unwrap();
            a.movaps(xmm0, xmmword_ptr(0x40008)).unwrap();
            a.hlt().unwrap();
        },
    );
    assert_eq!(v, Some(13));
    assert_eq!(m.stack(0), 0, "#GP(0)");
    let (v, _) = fault(
        |_| {},
        |a| {
            a.addps(xmm0, xmmword_ptr(0x40004)).unwrap();
            a.hlt().unwrap();
        },
    );
    assert_eq!(
        v,
        Some(13),
        "legacy SSE arithmetic requires 16-byte alignment too"
    );
}

#[test]
fn nan_propagation_follows_the_first_source_rule() {
    let (r, f) = binop(
        ps([ONE, QNAN1, SNAN1, ONE]),
        ps([QNAN2, TWO, QNAN2, 0xFF80_0003]),
        mxcsr::RESET,
        |a| a.addps(xmm0, xmm1).unwrap(),
    );
    assert_eq!(lanes32(r), [QNAN2, QNAN1, 0x7FC0_0001, 0xFFC0_0003]);
    assert_eq!(f, IE);
    let (r, f) = binop(
        ps([ONE, QNAN1, 0, 0]),
        ps([QNAN2, TWO, 0, 0]),
        mxcsr::RESET,
        |a| a.mulps(xmm0, xmm1).unwrap(),
    );
    assert_eq!(lanes32(r)[..2], [QNAN2, QNAN1]);
    assert_eq!(f, 0, "quiet NaNs raise nothing");
}

#[test]
fn invalid_operations_give_the_default_nan_and_division_by_zero_infinity() {
    let (r, f) = binop(
        ps([INF, 0, 0, ONE]),
        ps([INF, INF, 0, 0]),
        mxcsr::RESET,
        |a| a.subps(xmm0, xmm1).unwrap(),
    );
    assert_eq!(lanes32(r), [INDEFINITE, 0xFF80_0000, 0, ONE]);
    assert_eq!(f, IE);
    let (r, f) = binop(
        ps([0, 0, ONE, 0x8000_0000 | ONE]),
        ps([INF, 0, 0, 0]),
        mxcsr::RESET,
        |a| a.mulps(xmm0, xmm1).unwrap(),
    );
    assert_eq!(lanes32(r), [INDEFINITE, 0, 0, NEG_ZERO]);
    assert_eq!(f, IE);
    let (r, f) = binop(
        ps([ONE, 0x8000_0000 | ONE, 0, 0]),
        ps([0, 0, 0, NEG_ZERO]),
        mxcsr::RESET,
        |a| a.divps(xmm0, xmm1).unwrap(),
    );
    assert_eq!(lanes32(r), [INF, 0xFF80_0000, INDEFINITE, INDEFINITE]);
    assert_eq!(f, ZE | IE);
    let (r, f) = binop(0, ps([0xBF80_0000, 0, 0, 0]), mxcsr::RESET, |a| {
        a.sqrtss(xmm0, xmm1).unwrap()
    });
    assert_eq!(lanes32(r)[0], INDEFINITE);
    assert_eq!(f, IE);
    let (r, _) = binop(0, ps([NEG_ZERO, 0, 0, 0]), mxcsr::RESET, |a| {
        a.sqrtss(xmm0, xmm1).unwrap()
    });
    assert_eq!(lanes32(r)[0], NEG_ZERO, "sqrt(-0) = -0");
    // Signed zero sums: +0 + -0 = +0, except -0 when rounding down.
    let (r, _) = binop(ps([0, 0, 0, 0]), ps([NEG_ZERO; 4]), mxcsr::RESET, |a| {
        a.addps(xmm0, xmm1).unwrap()
    });
    assert_eq!(lanes32(r)[0], 0);
    let (r, _) = binop(ps([0, 0, 0, 0]), ps([NEG_ZERO; 4]), rc(1), |a| {
        a.addps(xmm0, xmm1).unwrap()
    });
    assert_eq!(lanes32(r)[0], NEG_ZERO);
}

#[test]
fn rounding_modes_single_and_double() {
    let third = |mode: u32, neg: bool| {
        let one = if neg { 0xBF80_0000 } else { ONE };
        let (r, f) = binop(
            ps([one, 0, 0, 0]),
            ps([0x4040_0000, 0, 0, 0]),
            rc(mode),
            |a| a.divss(xmm0, xmm1).unwrap(),
        );
        assert_eq!(f, PE);
        lanes32(r)[0]
    };
    assert_eq!(
        [
            third(0, false),
            third(1, false),
            third(2, false),
            third(3, false)
        ],
        [0x3EAA_AAAB, 0x3EAA_AAAA, 0x3EAA_AAAB, 0x3EAA_AAAA]
    );
    assert_eq!(
        [
            third(0, true),
            third(1, true),
            third(2, true),
            third(3, true)
        ],
        [0xBEAA_AAAB, 0xBEAA_AAAB, 0xBEAA_AAAA, 0xBEAA_AAAA]
    );
    // Double: 1 + 2^-53 is a tie, to even (1.0) under nearest, up to the next double under RC=up.
    let eps = (2f64).powi(-53).to_bits();
    let (r, _) = binop(pd([1f64.to_bits(), 0]), pd([eps, 0]), rc(0), |a| {
        a.addsd(xmm0, xmm1).unwrap()
    });
    assert_eq!(r as u64, 1f64.to_bits());
    let (r, _) = binop(pd([1f64.to_bits(), 0]), pd([eps, 0]), rc(2), |a| {
        a.addsd(xmm0, xmm1).unwrap()
    });
    assert_eq!(r as u64, 1f64.to_bits() + 1);
    // Overflow: to infinity when nearest, to the largest finite when truncating.
    let big = f64::MAX.to_bits();
    let (r, f) = binop(pd([big, big]), pd([big, big]), rc(0), |a| {
        a.addpd(xmm0, xmm1).unwrap()
    });
    assert_eq!(r as u64, f64::INFINITY.to_bits());
    assert_eq!(f, OE | PE);
    let (r, _) = binop(pd([big, big]), pd([big, big]), rc(3), |a| {
        a.addpd(xmm0, xmm1).unwrap()
    });
    assert_eq!(r as u64, big);
}

#[test]
fn denormals_with_and_without_daz_and_ftz() {
    let min_normal = 0x0080_0000;
    let half = 0x3F00_0000;
    // Exact denormal result: no UE when masked and exact.
    let (r, f) = binop(
        ps([min_normal, 0, 0, 0]),
        ps([half, 0, 0, 0]),
        mxcsr::RESET,
        |a| a.mulss(xmm0, xmm1).unwrap(),
    );
    assert_eq!(lanes32(r)[0], 0x0040_0000);
    assert_eq!(f, 0);
    // Inexact denormal result: UE and PE.
    let (r, f) = binop(
        ps([min_normal | 1, 0, 0, 0]),
        ps([half, 0, 0, 0]),
        mxcsr::RESET,
        |a| a.mulss(xmm0, xmm1).unwrap(),
    );
    assert_eq!(lanes32(r)[0], 0x0040_0000, "ties to even");
    assert_eq!(f, UE | PE);
    // FTZ flushes the tiny result.
    let (r, f) = binop(
        ps([min_normal, 0, 0, 0]),
        ps([half, 0, 0, 0]),
        mxcsr::RESET | mxcsr::FTZ,
        |a| a.mulss(xmm0, xmm1).unwrap(),
    );
    assert_eq!(lanes32(r)[0], 0);
    assert_eq!(f, UE | PE);
    // A denormal operand raises DE, or reads as zero under DAZ.
    let (r, f) = binop(ps([1, 0, 0, 0]), ps([0, 0, 0, 0]), mxcsr::RESET, |a| {
        a.addss(xmm0, xmm1).unwrap()
    });
    assert_eq!((lanes32(r)[0], f), (1, DE));
    let (r, f) = binop(
        ps([1, 0, 0, 0]),
        ps([0, 0, 0, 0]),
        mxcsr::RESET | mxcsr::DAZ,
        |a| a.addss(xmm0, xmm1).unwrap(),
    );
    assert_eq!((lanes32(r)[0], f), (0, 0));
}

#[test]
fn min_max_return_the_second_operand_on_nan_and_equal_zeros() {
    let a = ps([QNAN1, ONE, 0, 0x4040_0000]);
    let b = ps([TWO, QNAN2, NEG_ZERO, 0x4080_0000]);
    let (r, f) = binop(a, b, mxcsr::RESET, |x| x.minps(xmm0, xmm1).unwrap());
    assert_eq!(lanes32(r), [TWO, QNAN2, NEG_ZERO, 0x4040_0000]);
    assert_eq!(f, IE);
    let (r, _) = binop(a, b, mxcsr::RESET, |x| x.maxps(xmm0, xmm1).unwrap());
    assert_eq!(lanes32(r), [TWO, QNAN2, NEG_ZERO, 0x4080_0000]);
}

#[test]
fn cmpps_all_predicates_and_signalling_rules() {
    let a = ps([ONE, ONE, TWO, QNAN1]);
    let b = ps([ONE, TWO, ONE, ONE]);
    let expect = [
        [1, 0, 0, 0],
        [0, 1, 0, 0],
        [1, 1, 0, 0],
        [0, 0, 0, 1],
        [0, 1, 1, 1],
        [1, 0, 1, 1],
        [0, 0, 1, 1],
        [1, 1, 1, 0],
    ];
    for (p, e) in expect.iter().enumerate() {
        let (r, f) = binop(a, b, mxcsr::RESET, |x| {
            x.cmpps(xmm0, xmm1, p as u32).unwrap()
        });
        let want = e.map(|t| if t == 1 { u32::MAX } else { 0 });
        assert_eq!(lanes32(r), want, "predicate {p}");
        let signalling = matches!(p, 1 | 2 | 5 | 6);
        assert_eq!(f, if signalling { IE } else { 0 }, "predicate {p} flags");
    }
    let (r, _) = binop(
        pd([1f64.to_bits(), 7]),
        pd([2f64.to_bits(), 9]),
        mxcsr::RESET,
        |x| x.cmpsd_3(xmm0, xmm1, 1u32).unwrap(),
    );
    assert_eq!(r, pd([u64::MAX, 7]), "scalar compare keeps the upper lane");
}

#[test]
fn comiss_and_ucomiss_set_eflags() {
    let flags = |a: u32, b: u32, unordered_signals: bool| {
        let (cpu, _) = run(
            |cpu, _| {
                cpu.fpu.xmm.regs[0] = u128::from(a);
                cpu.fpu.xmm.regs[1] = u128::from(b);
            },
            |x| {
                if unordered_signals {
                    x.comiss(xmm0, xmm1).unwrap();
                } else {
                    x.ucomiss(xmm0, xmm1).unwrap();
                }
                x.hlt().unwrap();
            },
        );
        (
            cpu.state.rflags & (ZF | PF | CF),
            cpu.fpu.xmm.mxcsr & mxcsr::FLAGS,
        )
    };
    assert_eq!(flags(ONE, TWO, true), (CF, 0));
    assert_eq!(flags(TWO, ONE, true), (0, 0));
    assert_eq!(flags(0, NEG_ZERO, true), (ZF, 0));
    assert_eq!(flags(QNAN1, ONE, false), (ZF | PF | CF, 0));
    assert_eq!(flags(QNAN1, ONE, true), (ZF | PF | CF, IE));
    assert_eq!(flags(SNAN1, ONE, false), (ZF | PF | CF, IE));
}

#[test]
fn conversions_round_truncate_and_saturate_to_indefinite() {
    let to_int = |v: f32, mode: u32, truncate: bool| {
        let (cpu, _) = run(
            |cpu, _| {
                cpu.fpu.xmm.regs[0] = u128::from(v.to_bits());
                cpu.fpu.xmm.mxcsr = rc(mode);
            },
            |a| {
                if truncate {
                    a.cvttss2si(eax, xmm0).unwrap();
                } else {
                    a.cvtss2si(eax, xmm0).unwrap();
                }
                a.hlt().unwrap();
            },
        );
        (
            cpu.state.gpr[0] as u32 as i32,
            cpu.fpu.xmm.mxcsr & mxcsr::FLAGS,
        )
    };
    assert_eq!([0, 1, 2, 3].map(|m| to_int(2.5, m, false).0), [2, 2, 3, 2]);
    assert_eq!(
        [0, 1, 2, 3].map(|m| to_int(-2.5, m, false).0),
        [-2, -3, -2, -2]
    );
    assert_eq!(to_int(-2.7, 0, true), (-2, PE));
    assert_eq!(to_int(3e9, 0, false), (i32::MIN, IE));
    assert_eq!(to_int(f32::NAN, 0, true), (i32::MIN, IE));
    assert_eq!(to_int(-2147483648.0, 0, false), (i32::MIN, 0));

    let from_int = |v: u32, mode: u32| {
        let (cpu, _) = run(
            |cpu, _| {
                cpu.state.gpr[0] = u64::from(v);
                cpu.fpu.xmm.mxcsr = rc(mode);
                cpu.fpu.xmm.regs[0] = u128::MAX;
            },
            |a| {
                a.cvtsi2ss(xmm0, eax).unwrap();
                a.hlt().unwrap();
            },
        );
        cpu.fpu.xmm.regs[0]
    };
    assert_eq!(from_int(16_777_217, 0), u128::MAX << 32 | 0x4B80_0000);
    assert_eq!(from_int(16_777_217, 2) as u32, 0x4B80_0001);
    assert_eq!(from_int(-3i32 as u32, 0) as u32, (-3f32).to_bits());

    // Double to single: overflow to infinity, or to the largest finite when truncating.
    let (r, f) = binop(0, pd([1e300f64.to_bits(), 0]), rc(0), |a| {
        a.cvtsd2ss(xmm0, xmm1).unwrap()
    });
    assert_eq!((r as u32, f), (INF, OE | PE));
    let (r, _) = binop(0, pd([1e300f64.to_bits(), 0]), rc(3), |a| {
        a.cvtsd2ss(xmm0, xmm1).unwrap()
    });
    assert_eq!(r as u32, 0x7F7F_FFFF);
    // Packed forms.
    let (r, f) = binop(
        0,
        ps([0x3FC0_0000, NEG_ZERO, SNAN1, 0]),
        mxcsr::RESET,
        |a| a.cvtps2pd(xmm0, xmm1).unwrap(),
    );
    assert_eq!(r, pd([1.5f64.to_bits(), (-0.0f64).to_bits()]));
    assert_eq!(f, 0);
    let halves = ps([
        0.5f32.to_bits(),
        1.5f32.to_bits(),
        (-0.5f32).to_bits(),
        2.5f32.to_bits(),
    ]);
    let (r, _) = binop(0, halves, mxcsr::RESET, |a| a.cvtps2dq(xmm0, xmm1).unwrap());
    assert_eq!(lanes32(r), [0, 2, 0, 2]);
    let (r, _) = binop(0, ps([5, -7i32 as u32, 0, 0]), mxcsr::RESET, |a| {
        a.cvtdq2pd(xmm0, xmm1).unwrap()
    });
    assert_eq!(r, pd([5f64.to_bits(), (-7f64).to_bits()]));
    let (r, _) = binop(
        u128::MAX,
        pd([2.5f64.to_bits(), (-1.5f64).to_bits()]),
        mxcsr::RESET,
        |a| a.cvttpd2dq(xmm0, xmm1).unwrap(),
    );
    assert_eq!(r, u128::from(-1i32 as u32) << 32 | 2, "upper half zeroed");
}

#[test]
fn integer_ops_wrap_and_saturate() {
    let bytes = |v: &[u8]| {
        let mut b = [0u8; 16];
        b[..v.len()].copy_from_slice(v);
        u128::from_le_bytes(b)
    };
    let words = |v: &[u16]| v.iter().rev().fold(0u128, |r, &x| r << 16 | u128::from(x));
    let a = bytes(&[0x7F, 0x80, 0xFF, 0x01, 0x00, 0x10]);
    let b = bytes(&[0x01, 0xFF, 0x01, 0xFF, 0x00, 0xF0]);
    assert_eq!(
        binop(a, b, mxcsr::RESET, |x| x.paddb(xmm0, xmm1).unwrap()).0,
        bytes(&[0x80, 0x7F, 0x00, 0x00, 0, 0])
    );
    assert_eq!(
        binop(a, b, mxcsr::RESET, |x| x.paddsb(xmm0, xmm1).unwrap()).0,
        bytes(&[0x7F, 0x80, 0x00, 0x00, 0, 0])
    );
    assert_eq!(
        binop(a, b, mxcsr::RESET, |x| x.paddusb(xmm0, xmm1).unwrap()).0,
        bytes(&[0x80, 0xFF, 0xFF, 0xFF, 0, 0xFF])
    );
    assert_eq!(
        binop(a, b, mxcsr::RESET, |x| x.psubusb(xmm0, xmm1).unwrap()).0,
        bytes(&[0x7E, 0, 0xFE, 0, 0, 0])
    );
    assert_eq!(
        binop(a, b, mxcsr::RESET, |x| x.psubsb(xmm0, xmm1).unwrap()).0,
        bytes(&[0x7E, 0x81, 0xFE, 0x02, 0, 0x20])
    );
    assert_eq!(
        binop(a, b, mxcsr::RESET, |x| x.pcmpgtb(xmm0, xmm1).unwrap()).0,
        bytes(&[0xFF, 0, 0, 0xFF, 0, 0xFF])
    );
    assert_eq!(
        binop(a, b, mxcsr::RESET, |x| x.pavgb(xmm0, xmm1).unwrap()).0,
        bytes(&[0x40, 0xC0, 0x80, 0x80, 0, 0x80])
    );
    assert_eq!(
        binop(a, b, mxcsr::RESET, |x| x.psadbw(xmm0, xmm1).unwrap()).0,
        u128::from(0x7Eu32 + 0x7F + 0xFE + 0xFE + 0xE0)
    );

    let w1 = words(&[0x8000, 0x7FFF, 0xFFFF, 3]);
    let w2 = words(&[0x8000, 0x0002, 0xFFFF, 0xFFFE]);
    assert_eq!(
        binop(w1, w2, mxcsr::RESET, |x| x.pmullw(xmm0, xmm1).unwrap()).0,
        words(&[0, 0xFFFE, 1, 0xFFFA])
    );
    assert_eq!(
        binop(w1, w2, mxcsr::RESET, |x| x.pmulhw(xmm0, xmm1).unwrap()).0,
        words(&[0x4000, 0, 0, 0xFFFF])
    );
    assert_eq!(
        binop(w1, w2, mxcsr::RESET, |x| x.pmulhuw(xmm0, xmm1).unwrap()).0,
        words(&[0x4000, 0, 0xFFFE, 2])
    );
    assert_eq!(
        binop(w1, w2, mxcsr::RESET, |x| x.pmaddwd(xmm0, xmm1).unwrap()).0 as u64,
        0xFFFF_FFFB_4000_FFFE
    );
    let m = words(&[0x8000, 0x8000]);
    assert_eq!(
        binop(m, m, mxcsr::RESET, |x| x.pmaddwd(xmm0, xmm1).unwrap()).0,
        0x8000_0000,
        "wraps"
    );
    assert_eq!(
        binop(w1, w2, mxcsr::RESET, |x| x.paddsw(xmm0, xmm1).unwrap()).0,
        words(&[0x8000, 0x7FFF, 0xFFFE, 1])
    );
    assert_eq!(
        binop(w1, w2, mxcsr::RESET, |x| x.pminsw(xmm0, xmm1).unwrap()).0,
        words(&[0x8000, 2, 0xFFFF, 0xFFFE])
    );
    let packed = binop(w1, w2, mxcsr::RESET, |x| x.packsswb(xmm0, xmm1).unwrap()).0;
    assert_eq!(packed, 0xFEFF_0280u128 << 64 | 0x03FF_7F80);
    assert_eq!(
        binop(w1, w2, mxcsr::RESET, |x| x.packuswb(xmm0, xmm1).unwrap()).0 as u32,
        0x0300_FF00
    );
    let (r, _) = binop(
        u128::from(u64::MAX) | 7 << 64,
        u128::from(3u32),
        mxcsr::RESET,
        |x| x.pmuludq(xmm0, xmm1).unwrap(),
    );
    assert_eq!(r, u128::from(0xFFFF_FFFFu64 * 3));

    // Shifts: counts at or above the lane width clear (or fill with the sign for PSRA).
    let v = words(&[0x8001, 0x0100, 0, 0, 0, 0, 0, 0x4000]);
    assert_eq!(
        binop(v, 16, mxcsr::RESET, |x| x.psllw(xmm0, xmm1).unwrap()).0,
        0
    );
    assert_eq!(
        binop(v, 20, mxcsr::RESET, |x| x.psraw(xmm0, xmm1).unwrap()).0,
        words(&[0xFFFF])
    );
    assert_eq!(
        binop(v, 0, mxcsr::RESET, |x| x.psrlw(xmm0, 8).unwrap()).0,
        words(&[0x80, 1, 0, 0, 0, 0, 0, 0x40])
    );
    assert_eq!(
        binop(v, 0, mxcsr::RESET, |x| x.pslldq(xmm0, 2).unwrap()).0,
        v << 16
    );
    assert_eq!(
        binop(v, 0, mxcsr::RESET, |x| x.psrldq(xmm0, 15).unwrap()).0,
        0x40
    );
    assert_eq!(
        binop(v, 0, mxcsr::RESET, |x| x.psrldq(xmm0, 16).unwrap()).0,
        0
    );
    assert_eq!(
        binop(v, 1, mxcsr::RESET, |x| x.psllq(xmm0, xmm1).unwrap()).0,
        (v & u128::from(u64::MAX)) << 1 & u128::from(u64::MAX)
            | (v >> 64 << 1 & u128::from(u64::MAX)) << 64
    );
}

#[test]
fn shuffles_unpacks_and_word_insert_extract() {
    let a = ps([0, 1, 2, 3]);
    let b = ps([4, 5, 6, 7]);
    assert_eq!(
        lanes32(
            binop(a, b, mxcsr::RESET, |x| x
                .shufps(xmm0, xmm1, 0b00_01_10_11)
                .unwrap())
            .0
        ),
        [3, 2, 5, 4]
    );
    assert_eq!(
        lanes32(binop(a, b, mxcsr::RESET, |x| x.unpcklps(xmm0, xmm1).unwrap()).0),
        [0, 4, 1, 5]
    );
    assert_eq!(
        lanes32(binop(a, b, mxcsr::RESET, |x| x.unpckhps(xmm0, xmm1).unwrap()).0),
        [2, 6, 3, 7]
    );
    assert_eq!(
        lanes32(binop(a, b, mxcsr::RESET, |x| x.pshufd(xmm0, xmm1, 0x1B).unwrap()).0),
        [7, 6, 5, 4]
    );
    assert_eq!(
        lanes32(binop(a, b, mxcsr::RESET, |x| x.punpckhqdq(xmm0, xmm1).unwrap()).0),
        [2, 3, 6, 7]
    );
    assert_eq!(
        lanes32(binop(a, b, mxcsr::RESET, |x| x.shufpd(xmm0, xmm1, 1).unwrap()).0),
        [2, 3, 4, 5]
    );
    let w = 0x0007_0006_0005_0004_0003_0002_0001_0000u128;
    assert_eq!(
        binop(0, w, mxcsr::RESET, |x| x.pshuflw(xmm0, xmm1, 0x1B).unwrap()).0,
        0x0007_0006_0005_0004_0000_0001_0002_0003
    );
    assert_eq!(
        binop(0, w, mxcsr::RESET, |x| x.pshufhw(xmm0, xmm1, 0x1B).unwrap()).0,
        0x0004_0005_0006_0007_0003_0002_0001_0000
    );
    assert_eq!(
        binop(0, w, mxcsr::RESET, |x| x.punpcklwd(xmm0, xmm1).unwrap()).0,
        0x0003_0000_0002_0000_0001_0000_0000_0000
    );
    let (cpu, _) = run(
        |cpu, _| {
            cpu.fpu.xmm.regs[0] = w;
            cpu.state.gpr[1] = 0xABCD_1234;
        },
        |x| {
            x.pextrw(eax, xmm0, 5).unwrap();
            x.pinsrw(xmm0, ecx, 9).unwrap();
            x.hlt().unwrap();
        },
    );
    assert_eq!(cpu.state.gpr[0], 5);
    assert_eq!(cpu.fpu.xmm.regs[0], w & !(0xFFFFu128 << 16) | 0x1234 << 16);
}

#[test]
fn logic_ops() {
    let (a, b) = (0xF0F0u128 << 100 | 0xFF00, 0xFF00u128 << 100 | 0x0FF0);
    assert_eq!(
        binop(a, b, mxcsr::RESET, |x| x.andps(xmm0, xmm1).unwrap()).0,
        a & b
    );
    assert_eq!(
        binop(a, b, mxcsr::RESET, |x| x.andnpd(xmm0, xmm1).unwrap()).0,
        !a & b
    );
    assert_eq!(
        binop(a, b, mxcsr::RESET, |x| x.xorps(xmm0, xmm1).unwrap()).0,
        a ^ b
    );
    assert_eq!(
        binop(a, b, mxcsr::RESET, |x| x.por(xmm0, xmm1).unwrap()).0,
        a | b
    );
}

#[test]
fn unmasked_simd_exception_raises_xm_or_ud_and_keeps_the_destination() {
    for (osxmmexcpt, vector) in [(true, 19), (false, 6)] {
        let (v, m) = fault(
            |m| {
                if !osxmmexcpt {
                    m.cpu.state.cr4 &= !cr4::OSXMMEXCPT;
                }
                m.cpu.fpu.xmm.mxcsr = mxcsr::RESET & !(ZE << 7);
                m.cpu.fpu.xmm.regs[0] = u128::from(ONE);
            },
            |a| {
                a.divss(xmm0, xmm1).unwrap();
                a.hlt().unwrap();
            },
        );
        assert_eq!(v, Some(vector));
        assert_eq!(m.cpu.fpu.xmm.regs[0], u128::from(ONE));
        assert_eq!(m.cpu.fpu.xmm.mxcsr & mxcsr::FLAGS, ZE);
        assert_eq!(m.stack(0), 0x1000, "the fault points at the instruction");
    }
}

#[test]
fn availability_faults() {
    let sse = |a: &mut CodeAssembler| {
        a.addps(xmm0, xmm1).unwrap();
        a.hlt().unwrap();
    };
    assert_eq!(
        fault(|m| m.cpu.state.cr4 &= !cr4::OSFXSR, sse).0,
        Some(6),
        "no OSFXSR: #UD"
    );
    assert_eq!(
        fault(|m| m.cpu.state.cr0 |= cr0::EM, sse).0,
        Some(6),
        "EM: #UD for SSE"
    );
    assert_eq!(
        fault(|m| m.cpu.state.cr0 |= cr0::TS, sse).0,
        Some(7),
        "TS: #NM"
    );
    assert_eq!(fault(|_| {}, sse).0, None);
    let mmx = |a: &mut CodeAssembler| {
        a.paddb(mm0, mm1).unwrap();
        a.hlt().unwrap();
    };
    assert_eq!(
        fault(|m| m.cpu.state.cr0 |= cr0::EM, mmx).0,
        Some(6),
        "EM: #UD for MMX"
    );
    assert_eq!(fault(|m| m.cpu.state.cr0 |= cr0::TS, mmx).0, Some(7));
    let x87 = |a: &mut CodeAssembler| {
        a.fld1().unwrap();
        a.hlt().unwrap();
    };
    assert_eq!(
        fault(|m| m.cpu.state.cr0 |= cr0::EM, x87).0,
        Some(7),
        "EM: #NM for x87"
    );
    assert_eq!(fault(|m| m.cpu.state.cr0 |= cr0::TS, x87).0, Some(7));
    let wait = |a: &mut CodeAssembler| {
        a.wait().unwrap();
        a.hlt().unwrap();
    };
    assert_eq!(
        fault(|m| m.cpu.state.cr0 |= cr0::TS, wait).0,
        None,
        "WAIT ignores TS without MP"
    );
    assert_eq!(
        fault(|m| m.cpu.state.cr0 |= cr0::TS | cr0::MP, wait).0,
        Some(7)
    );
    let fx = |a: &mut CodeAssembler| {
        a.fxsave(ptr(0x40000)).unwrap();
        a.hlt().unwrap();
    };
    assert_eq!(fault(|m| m.cpu.state.cr0 |= cr0::TS, fx).0, Some(7));
}

#[test]
fn ldmxcsr_rejects_reserved_bits() {
    let (v, m) = fault(
        |m| {
            m.bus.write_u32(0x40000, 0x1F80 | 0x6000);
            m.bus.write_u32(0x40004, 0x1_0000);
        },
        |a| {
            a.ldmxcsr(dword_ptr(0x40000)).unwrap();
            a.stmxcsr(dword_ptr(0x40008)).unwrap();
            a.ldmxcsr(dword_ptr(0x40004)).unwrap();
            a.hlt().unwrap();
        },
    );
    assert_eq!(v, Some(13));
    assert_eq!(m.bus.read_u32(0x40008), 0x7F80);
    assert_eq!(m.cpu.fpu.xmm.mxcsr, 0x7F80);
}

#[test]
fn fxsave_fxrstor_round_trip_and_layout() {
    let (cpu, bus) = run(
        |cpu, _| {
            for k in 0..8 {
                cpu.fpu.xmm.regs[k] =
                    0x1111_1111_1111_1111_2222_2222_2222_2222u128.wrapping_mul(k as u128 + 1);
            }
            cpu.fpu.xmm.mxcsr = 0x3F80 | PE;
        },
        |a| {
            a.fld1().unwrap();
            a.fldpi().unwrap();
            a.fxsave(ptr(DATA)).unwrap();
            a.fninit().unwrap();
            for r in [xmm0, xmm1, xmm2, xmm3, xmm4, xmm5, xmm6, xmm7] {
                a.pxor(r, r).unwrap();
            }
            a.fxrstor(ptr(DATA)).unwrap();
            a.fxsave(ptr(DATA + 0x200)).unwrap();
            a.hlt().unwrap();
        },
    );
    let img = &bus.ram[DATA as usize..DATA as usize + 512];
    assert_eq!(u16::from_le_bytes([img[0], img[1]]), 0x037F, "FCW");
    assert_eq!(u16::from_le_bytes([img[2], img[3]]) >> 11 & 7, 6, "TOP");
    assert_eq!(img[4], 0b1100_0000, "abridged tag: R6 and R7 valid");
    assert_eq!(bus.read_u32(DATA + 24), 0x3F80 | PE, "MXCSR");
    assert_eq!(bus.read_u32(DATA + 28), 0xFFFF, "MXCSR_MASK");
    assert_eq!(
        &img[32..42],
        &[0x35, 0xC2, 0x68, 0x21, 0xA2, 0xDA, 0x0F, 0xC9, 0x00, 0x40],
        "ST0 = pi"
    );
    assert_eq!(
        &img[48..58],
        &[0, 0, 0, 0, 0, 0, 0, 0x80, 0xFF, 0x3F],
        "ST1 = 1"
    );
    assert_eq!(
        &img[160..176],
        &0x1111_1111_1111_1111_2222_2222_2222_2222u128.to_le_bytes()
    );
    assert_eq!(
        &bus.ram[DATA as usize + 0x200..DATA as usize + 0x400],
        img,
        "restore then save is identical"
    );
    assert_eq!(
        cpu.fpu.xmm.regs[7],
        0x1111_1111_1111_1111_2222_2222_2222_2222u128.wrapping_mul(8)
    );
    assert_eq!(cpu.fpu.top, 6);

    let (v, _) = fault(
        |_| {},
        |a| {
            a.fxsave(ptr(0x40008)).unwrap();
            a.hlt().unwrap();
        },
    );
    assert_eq!(v, Some(13), "misaligned FXSAVE");
    let (v, _) = fault(
        |m| m.bus.write_u32(0x40000 + 24, 0x1_0000),
        |a| {
            a.fxrstor(ptr(0x40000)).unwrap();
            a.hlt().unwrap();
        },
    );
    assert_eq!(v, Some(13), "FXRSTOR with reserved MXCSR bits");
}

#[test]
fn mmx_aliases_the_x87_registers() {
    let (cpu, _) = run(
        |cpu, _| {
            cpu.state.gpr[0] = 0x8000_00FF;
        },
        |a| {
            a.fld1().unwrap();
            a.movd(mm1, eax).unwrap();
            a.movq(mm2, mm1).unwrap();
            a.paddusb(mm2, mm1).unwrap();
            a.punpcklbw(mm2, mm1).unwrap();
            a.fnstsw(ax).unwrap();
            a.emms().unwrap();
            a.hlt().unwrap();
        },
    );
    assert_eq!(cpu.fpu.regs[1].mant, 0x8000_00FF);
    assert_eq!(
        cpu.fpu.regs[1].se, 0xFFFF,
        "MMX writes set the exponent to all ones"
    );
    // mm2 = paddusb(ff 00 00 80, ...) = ff 00 00 ff; unpack low bytes with mm1's.
    assert_eq!(cpu.fpu.regs[2].mant, 0x80FF_0000_0000_FFFF);
    assert_eq!(cpu.state.gpr[0] >> 11 & 7, 0, "MMX sets TOP to 0");
    assert_eq!(cpu.fpu.valid, 0, "EMMS empties every register");
}
