//! x87 FPU on edge values: exact 80-bit round trips, precision and rounding control, integer conversions, stack
//! overflow/underflow and the tag word, compares and FXAM, constants, FPREM, environments, #MF.

mod common;

use common::{fault, run, DATA};
use iced_x86::code_asm::*;
use vx86_cpu::flags::{CF, PF, ZF};
use vx86_cpu::fpu::{sw, F80};
use vx86_cpu::Cpu;

const IE: u16 = 1;
const DE: u16 = 2;
const ZE: u16 = 4;
const OE: u16 = 8;
const PE: u16 = 32;

fn st(cpu: &Cpu, i: usize) -> F80 {
    cpu.fpu.regs[cpu.fpu.phys(i)]
}

fn f80(se: u16, mant: u64) -> F80 {
    F80 { mant, se }
}

/// Runs a snippet with f64 values at DATA, DATA + 8, ...
fn with_f64(vals: &[f64], build: impl FnOnce(&mut CodeAssembler)) -> Cpu {
    let vals = vals.to_vec();
    run(
        move |_, bus| {
            for (k, v) in vals.iter().enumerate() {
                bus.write_u64(DATA + 8 * k as u64, v.to_bits());
            }
        },
        |a| {
            build(a);
            a.hlt().unwrap();
        },
    )
    .0
}

fn set_cw(a: &mut CodeAssembler, cw: u16) {
    a.mov(word_ptr(DATA + 0x800), u32::from(cw)).unwrap();
    a.fldcw(word_ptr(DATA + 0x800)).unwrap();
}

#[test]
fn loads_and_stores_round_trip_exactly() {
    let (cpu, bus) = run(
        |_, bus| {
            bus.load(DATA, &f80(0x7FFF, 0x8000_0000_0000_0001).to_bytes());
            bus.write_u32(DATA + 0x10, 0x3FC0_0000);
            bus.write_u64(DATA + 0x20, (-0.1f64).to_bits());
            bus.load(DATA + 0x30, &f80(0x0000, 0x0000_0000_0000_0001).to_bytes());
        },
        |a| {
            a.fld(tword_ptr(DATA)).unwrap();
            a.fstp(tword_ptr(DATA + 0x100)).unwrap();
            a.fld(dword_ptr(DATA + 0x10)).unwrap();
            a.fstp(qword_ptr(DATA + 0x110)).unwrap();
            a.fld(qword_ptr(DATA + 0x20)).unwrap();
            a.fst(qword_ptr(DATA + 0x120)).unwrap();
            a.fstp(tword_ptr(DATA + 0x130)).unwrap();
            a.fld(tword_ptr(DATA + 0x30)).unwrap();
            a.fstp(tword_ptr(DATA + 0x140)).unwrap();
            a.hlt().unwrap();
        },
    );
    let ram = |at: u64, n: usize| bus.ram[at as usize..at as usize + n].to_vec();
    assert_eq!(
        ram(DATA + 0x100, 10),
        ram(DATA, 10),
        "an SNaN in m80 is copied untouched"
    );
    assert_eq!(ram(DATA + 0x110, 8), 1.5f64.to_le_bytes());
    assert_eq!(ram(DATA + 0x120, 8), (-0.1f64).to_le_bytes());
    assert_eq!(
        ram(DATA + 0x130, 10),
        f80(0xBFFB, 0xCCCC_CCCC_CCCC_D000).to_bytes()
    );
    assert_eq!(
        ram(DATA + 0x140, 10),
        ram(DATA + 0x30, 10),
        "denormal m80 round trip"
    );
    assert_eq!(cpu.fpu.sw & 0x3F, 0);
    assert_eq!(cpu.fpu.valid, 0);
}

#[test]
fn loading_a_signalling_nan_or_denormal_from_m32_m64_flags_it() {
    let (cpu, _) = run(
        |_, bus| {
            bus.write_u32(DATA, 0x7F80_0001);
            bus.write_u32(DATA + 4, 1);
        },
        |a| {
            a.fld(dword_ptr(DATA)).unwrap();
            a.fld(dword_ptr(DATA + 4)).unwrap();
            a.hlt().unwrap();
        },
    );
    assert_eq!(
        st(&cpu, 1),
        f80(0x7FFF, 0xC000_0100_0000_0000),
        "SNaN quietened"
    );
    assert_eq!(
        st(&cpu, 0),
        f80(0x3F6A, 1 << 63),
        "single denormal 2^-149 normalised"
    );
    assert_eq!(cpu.fpu.sw & 0x3F, IE | DE);
}

#[test]
fn precision_and_rounding_control() {
    let third = |cw: u16| {
        let cpu = with_f64(&[3.0], |a| {
            set_cw(a, cw);
            a.fld1().unwrap();
            a.fdiv(qword_ptr(DATA)).unwrap();
        });
        assert_eq!(cpu.fpu.sw & PE, PE);
        st(&cpu, 0)
    };
    assert_eq!(third(0x037F), f80(0x3FFD, 0xAAAA_AAAA_AAAA_AAAB));
    assert_eq!(third(0x077F), f80(0x3FFD, 0xAAAA_AAAA_AAAA_AAAA), "down");
    assert_eq!(third(0x0B7F), f80(0x3FFD, 0xAAAA_AAAA_AAAA_AAAB), "up");
    assert_eq!(
        third(0x0F7F),
        f80(0x3FFD, 0xAAAA_AAAA_AAAA_AAAA),
        "truncate"
    );
    assert_eq!(
        third(0x027F),
        f80(0x3FFD, 0xAAAA_AAAA_AAAA_A800),
        "PC = double"
    );
    assert_eq!(
        third(0x007F),
        f80(0x3FFD, 0xAAAA_AB00_0000_0000),
        "PC = single"
    );
    // C1 reports rounding up.
    let cpu = with_f64(&[3.0], |a| {
        a.fld1().unwrap();
        a.fdiv(qword_ptr(DATA)).unwrap();
    });
    assert_eq!(cpu.fpu.sw & sw::C1, sw::C1);
}

#[test]
fn integer_conversions_round_and_saturate() {
    let run_one = |v: f64, cw: u16| {
        let (cpu, bus) = run(
            |_, bus| bus.write_u64(DATA, v.to_bits()),
            |a| {
                set_cw(a, cw);
                a.fld(qword_ptr(DATA)).unwrap();
                a.fistp(dword_ptr(DATA + 0x100)).unwrap();
                a.fld(qword_ptr(DATA)).unwrap();
                a.fisttp(dword_ptr(DATA + 0x104)).unwrap();
                a.fld(qword_ptr(DATA)).unwrap();
                a.fistp(word_ptr(DATA + 0x108)).unwrap();
                a.hlt().unwrap();
            },
        );
        (
            bus.read_u32(DATA + 0x100) as i32,
            bus.read_u32(DATA + 0x104) as i32,
            bus.read_u32(DATA + 0x108) as u16,
            cpu.fpu.sw & 0x3F,
        )
    };
    assert_eq!(run_one(2.5, 0x037F), (2, 2, 2, PE));
    assert_eq!(run_one(2.5, 0x077F).0, 2);
    assert_eq!(run_one(2.5, 0x0B7F).0, 3);
    assert_eq!(run_one(-2.5, 0x077F).0, -3);
    assert_eq!(run_one(-2.7, 0x037F), (-3, -2, 0xFFFD, PE));
    assert_eq!(
        run_one(40000.0, 0x037F),
        (40000, 40000, 0x8000, IE),
        "m16 overflow stores the integer indefinite"
    );
    assert_eq!(run_one(f64::NAN, 0x037F), (i32::MIN, i32::MIN, 0x8000, IE));
    let cpu = with_f64(&[], |a| {
        a.mov(dword_ptr(DATA), -7i32).unwrap();
        a.mov(word_ptr(DATA + 4), 10u32).unwrap();
        a.fild(dword_ptr(DATA)).unwrap();
        a.fiadd(word_ptr(DATA + 4)).unwrap();
        a.fimul(word_ptr(DATA + 4)).unwrap();
        a.fisubr(dword_ptr(DATA)).unwrap();
    });
    assert_eq!(
        st(&cpu, 0),
        f80(0xC004, 0x9400_0000_0000_0000),
        "-7 - 30 = -37"
    );
}

#[test]
fn stack_overflow_and_underflow() {
    let (cpu, bus) = run(
        |_, _| {},
        |a| {
            for _ in 0..9 {
                a.fld1().unwrap();
            }
            a.fnstsw(word_ptr(DATA)).unwrap();
            a.fninit().unwrap();
            a.fadd_2(st0, st1).unwrap();
            a.fnstsw(word_ptr(DATA + 2)).unwrap();
            a.hlt().unwrap();
        },
    );
    let over = bus.read_u32(DATA) as u16;
    assert_eq!(over & (IE | sw::SF | sw::C1), IE | sw::SF | sw::C1);
    let under = bus.read_u32(DATA + 2) as u16;
    assert_eq!(under & (IE | sw::SF | sw::C1), IE | sw::SF);
    assert_eq!(
        st(&cpu, 0),
        f80(0xFFFF, 0xC000_0000_0000_0000),
        "masked underflow stores the indefinite"
    );
    // After the overflow the top of stack also holds the indefinite.
    let cpu = with_f64(&[], |a| {
        for _ in 0..9 {
            a.fld1().unwrap();
        }
    });
    assert_eq!(st(&cpu, 0), f80(0xFFFF, 0xC000_0000_0000_0000));
    assert_eq!(cpu.fpu.top, 7, "the overflowing push still decrements TOP");
}

#[test]
fn tag_word_and_environment_layout() {
    let (_, bus) = run(
        |_, _| {},
        |a| {
            a.fld1().unwrap();
            a.fldz().unwrap();
            a.fnstenv(ptr(DATA)).unwrap();
            a.fninit().unwrap();
            a.fldenv(ptr(DATA)).unwrap();
            a.fnstenv(ptr(DATA + 0x40)).unwrap();
            a.hlt().unwrap();
        },
    );
    assert_eq!(bus.read_u32(DATA) as u16, 0x037F);
    assert_eq!((bus.read_u32(DATA + 4) as u16) >> 11 & 7, 6, "TOP");
    assert_eq!(
        bus.read_u32(DATA + 8) as u16,
        0x1FFF,
        "R7 valid, R6 zero, the rest empty"
    );
    assert_eq!(bus.read_u32(DATA + 12), 0x1002, "FIP of FLDZ");
    assert_eq!(bus.read_u32(DATA + 16) & 0xFFFF, 0x08, "FCS");
    assert_eq!(
        bus.read_u32(DATA + 0x48) as u16,
        0x1FFF,
        "FLDENV restored the tags"
    );
}

#[test]
fn fsave_frstor_round_trip() {
    let (cpu, bus) = run(
        |_, _| {},
        |a| {
            a.fld1().unwrap();
            a.fldpi().unwrap();
            a.fnsave(ptr(DATA)).unwrap();
            a.fldz().unwrap();
            a.frstor(ptr(DATA)).unwrap();
            a.hlt().unwrap();
        },
    );
    assert_eq!(
        &bus.ram[DATA as usize + 28..DATA as usize + 38],
        &f80(0x4000, 0xC90F_DAA2_2168_C235).to_bytes()
    );
    assert_eq!(cpu.fpu.top, 6);
    assert_eq!(st(&cpu, 0), f80(0x4000, 0xC90F_DAA2_2168_C235));
    assert_eq!(st(&cpu, 1), f80(0x3FFF, 1 << 63));
    assert_eq!(cpu.fpu.valid, 0xC0);
}

#[test]
fn compares_set_condition_codes_and_eflags() {
    let cc = |build: fn(&mut CodeAssembler)| {
        let cpu = with_f64(&[2.0, 1.0, f64::NAN], build);
        (
            cpu.fpu.sw & (sw::CC | 0x3F),
            cpu.state.rflags & (ZF | PF | CF),
        )
    };
    assert_eq!(
        cc(|a| {
            a.fld(qword_ptr(DATA)).unwrap();
            a.fld(qword_ptr(DATA + 8)).unwrap();
            a.fcom_2(st0, st1).unwrap();
        })
        .0,
        sw::C0,
        "1 < 2"
    );
    assert_eq!(
        cc(|a| {
            a.fld(qword_ptr(DATA)).unwrap();
            a.fld(qword_ptr(DATA + 8)).unwrap();
            a.fcomi(st0, st1).unwrap();
        })
        .1,
        CF
    );
    assert_eq!(
        cc(|a| {
            a.fld(qword_ptr(DATA + 8)).unwrap();
            a.fcomp(qword_ptr(DATA + 8)).unwrap();
        })
        .0,
        sw::C3
    );
    assert_eq!(
        cc(|a| {
            a.fld(qword_ptr(DATA)).unwrap();
            a.fld(qword_ptr(DATA + 16)).unwrap();
            a.fucom(st0, st1).unwrap();
        })
        .0,
        sw::C3 | sw::C2 | sw::C0,
        "FUCOM: unordered, no IE for a QNaN"
    );
    assert_eq!(
        cc(|a| {
            a.fld(qword_ptr(DATA)).unwrap();
            a.fld(qword_ptr(DATA + 16)).unwrap();
            a.fcom_2(st0, st1).unwrap();
        })
        .0,
        sw::C3 | sw::C2 | sw::C0 | IE,
        "FCOM signals on a QNaN"
    );
    assert_eq!(
        cc(|a| {
            a.fld(qword_ptr(DATA)).unwrap();
            a.fld(qword_ptr(DATA + 16)).unwrap();
            a.fucomip(st0, st1).unwrap();
        })
        .1,
        ZF | PF | CF
    );
    assert_eq!(
        cc(|a| {
            a.fldz().unwrap();
            a.fchs().unwrap();
            a.ftst().unwrap();
        })
        .0,
        sw::C3,
        "-0 equals 0"
    );
    let cpu = with_f64(&[2.0, 1.0], |a| {
        a.fld(qword_ptr(DATA)).unwrap();
        a.fld(qword_ptr(DATA + 8)).unwrap();
        a.fcompp().unwrap();
    });
    assert_eq!(cpu.fpu.valid, 0, "FCOMPP pops twice");
}

#[test]
fn fxam_classifies() {
    let fxam = |bytes: Option<F80>| {
        let (cpu, _) = run(
            |_, bus| {
                if let Some(v) = bytes {
                    bus.load(DATA, &v.to_bytes());
                }
            },
            |a| {
                if bytes.is_some() {
                    a.fld(tword_ptr(DATA)).unwrap();
                }
                a.fxam().unwrap();
                a.hlt().unwrap();
            },
        );
        cpu.fpu.sw & sw::CC
    };
    assert_eq!(fxam(None), sw::C3 | sw::C0, "empty");
    assert_eq!(fxam(Some(f80(0x8000, 0))), sw::C3 | sw::C1, "-0");
    assert_eq!(fxam(Some(f80(0x3FFF, 1 << 63))), sw::C2, "normal");
    assert_eq!(
        fxam(Some(f80(0xFFFF, 1 << 63))),
        sw::C2 | sw::C0 | sw::C1,
        "-inf"
    );
    assert_eq!(
        fxam(Some(f80(0x7FFF, 0xC000_0000_0000_0000))),
        sw::C0,
        "NaN"
    );
    assert_eq!(fxam(Some(f80(0, 1))), sw::C3 | sw::C2, "denormal");
    assert_eq!(fxam(Some(f80(0x3FFF, 1))), 0, "unnormal is unsupported");
}

#[test]
fn constants_follow_the_rounding_mode() {
    let konst = |cw: u16, op: fn(&mut CodeAssembler)| {
        let cpu = with_f64(&[], |a| {
            set_cw(a, cw);
            op(a);
        });
        st(&cpu, 0)
    };
    let pi = |a: &mut CodeAssembler| a.fldpi().unwrap();
    let l2t = |a: &mut CodeAssembler| a.fldl2t().unwrap();
    assert_eq!(konst(0x037F, pi), f80(0x4000, 0xC90F_DAA2_2168_C235));
    assert_eq!(konst(0x077F, pi), f80(0x4000, 0xC90F_DAA2_2168_C234));
    assert_eq!(konst(0x037F, l2t), f80(0x4000, 0xD49A_784B_CD1B_8AFE));
    assert_eq!(konst(0x0B7F, l2t), f80(0x4000, 0xD49A_784B_CD1B_8AFF));
    assert_eq!(
        konst(0x037F, |a| a.fldlg2().unwrap()),
        f80(0x3FFD, 0x9A20_9A84_FBCF_F799)
    );
    assert_eq!(
        konst(0x037F, |a| a.fldln2().unwrap()),
        f80(0x3FFE, 0xB172_17F7_D1CF_79AC)
    );
    assert_eq!(
        konst(0x037F, |a| a.fldl2e().unwrap()),
        f80(0x3FFF, 0xB8AA_3B29_5C17_F0BC)
    );
}

#[test]
fn sqrt_rndint_scale_xtract() {
    let cpu = with_f64(&[2.0], |a| {
        a.fld(qword_ptr(DATA)).unwrap();
        a.fsqrt().unwrap();
    });
    assert_eq!(st(&cpu, 0), f80(0x3FFF, 0xB504_F333_F9DE_6484));
    let rnd = |v: f64, cw: u16| {
        let cpu = with_f64(&[v], |a| {
            set_cw(a, cw);
            a.fld(qword_ptr(DATA)).unwrap();
            a.frndint().unwrap();
            a.fstp(qword_ptr(DATA + 8)).unwrap();
            a.fld(qword_ptr(DATA + 8)).unwrap();
        });
        let f = st(&cpu, 0);
        let mut c = vx86_cpu::fpu::soft::Ctx::new(vx86_cpu::fpu::soft::Rounding::Nearest);
        let n =
            vx86_cpu::fpu::soft::Num::unpack(f.to_bits(), vx86_cpu::fpu::soft::Format::F80, &mut c);
        f64::from_bits(
            vx86_cpu::fpu::soft::convert(n, vx86_cpu::fpu::soft::Format::F64, &mut c) as u64,
        )
    };
    assert_eq!(
        [0x037F, 0x077F, 0x0B7F, 0x0F7F].map(|cw| rnd(2.5, cw)),
        [2.0, 2.0, 3.0, 2.0]
    );
    assert_eq!(
        [0x037F, 0x077F, 0x0B7F, 0x0F7F].map(|cw| rnd(-2.5, cw)),
        [-2.0, -3.0, -2.0, -2.0]
    );
    assert_eq!(rnd(-0.25, 0x037F).to_bits(), (-0.0f64).to_bits());
    let cpu = with_f64(&[3.7, 1.5], |a| {
        a.fld(qword_ptr(DATA)).unwrap();
        a.fld(qword_ptr(DATA + 8)).unwrap();
        a.fscale().unwrap();
    });
    assert_eq!(
        st(&cpu, 0),
        f80(0x4002, 0xC000_0000_0000_0000),
        "1.5 * 2^3 = 12"
    );
    let cpu = with_f64(&[12.0], |a| {
        a.fld(qword_ptr(DATA)).unwrap();
        a.fxtract().unwrap();
    });
    assert_eq!(
        st(&cpu, 0),
        f80(0x3FFF, 0xC000_0000_0000_0000),
        "significand 1.5"
    );
    assert_eq!(
        st(&cpu, 1),
        f80(0x4000, 0xC000_0000_0000_0000),
        "exponent 3"
    );
}

#[test]
fn partial_remainders() {
    let prem = |a: f64, b: f64, ieee: bool| {
        let cpu = with_f64(&[b, a], |x| {
            x.fld(qword_ptr(DATA)).unwrap();
            x.fld(qword_ptr(DATA + 8)).unwrap();
            if ieee {
                x.fprem1().unwrap();
            } else {
                x.fprem().unwrap();
            }
        });
        (st(&cpu, 0), cpu.fpu.sw & sw::CC)
    };
    assert_eq!(
        prem(10.0, 3.0, false),
        (f80(0x3FFF, 1 << 63), sw::C3 | sw::C1),
        "q = 3"
    );
    assert_eq!(
        prem(11.0, 3.0, true),
        (f80(0xBFFF, 1 << 63), sw::C0),
        "q = 4, remainder -1"
    );
    assert_eq!(
        prem(-7.0, 2.0, false),
        (f80(0xBFFF, 1 << 63), sw::C3 | sw::C1),
        "sign of the dividend"
    );
    let (_, cc) = prem(1e300, 3.0, false);
    assert_eq!(cc & sw::C2, sw::C2, "incomplete reduction");
    let cpu = with_f64(&[3.0, 1e30], |x| {
        x.fld(qword_ptr(DATA)).unwrap();
        x.fld(qword_ptr(DATA + 8)).unwrap();
        let mut again = x.create_label();
        x.set_label(&mut again).unwrap();
        x.fprem().unwrap();
        x.fnstsw(ax).unwrap();
        x.test(ax, 0x400u32).unwrap();
        x.jnz(again).unwrap();
    });
    // 1e30 mod 3 = 1 (1e30 = 10^30 and 10 = 1 mod 3), computed exactly.
    assert_eq!(st(&cpu, 0), f80(0x3FFF, 1 << 63));
}

#[test]
fn unmasked_exception_is_delivered_as_mf_on_the_next_waiting_instruction() {
    let (v, m) = fault(
        |_| {},
        |a| {
            a.mov(word_ptr(0x40000), 0x037Bu32).unwrap();
            a.fldcw(word_ptr(0x40000)).unwrap(); // 0x1000 + 9, 7 bytes
            a.fld1().unwrap();
            a.fldz().unwrap();
            a.fdivp(st1, st0).unwrap();
            a.fnstsw(ax).unwrap();
            a.fld1().unwrap();
            a.hlt().unwrap();
        },
    );
    assert_eq!(v, Some(16));
    let sw_ = m.cpu.state.gpr[0] as u16;
    assert_eq!(
        sw_ & (ZE | sw::ES | sw::B),
        ZE | sw::ES | sw::B,
        "FNSTSW does not wait"
    );
    // MOV (9 bytes), FLDCW (6), FLD1, FLDZ, FDIVP, FNSTSW (2 each): the second FLD1 is at 0x1017.
    assert_eq!(m.stack(0), 0x1017, "#MF points at the waiting FLD1");
    assert_eq!(
        st(&m.cpu, 0),
        f80(0, 0),
        "the unmasked divide by zero wrote nothing and did not pop"
    );
    assert_eq!(st(&m.cpu, 1), f80(0x3FFF, 1 << 63));
    // With CR0.NE clear there is no #MF (the FERR# path is not modelled).
    let (v, _) = fault(
        |m| m.cpu.state.cr0 &= !vx86_cpu::state::cr0::NE,
        |a| {
            a.mov(word_ptr(0x40000), 0x037Bu32).unwrap();
            a.fldcw(word_ptr(0x40000)).unwrap();
            a.fld1().unwrap();
            a.fldz().unwrap();
            a.fdivp(st1, st0).unwrap();
            a.fld1().unwrap();
            a.hlt().unwrap();
        },
    );
    assert_eq!(v, None);
}

#[test]
fn exchange_cmov_sign_and_overflowing_store() {
    let cpu = with_f64(&[], |a| {
        a.fld1().unwrap();
        a.fldz().unwrap();
        a.fxch(st0, st1).unwrap();
        a.fchs().unwrap();
    });
    assert_eq!(st(&cpu, 0), f80(0xBFFF, 1 << 63));
    assert_eq!(st(&cpu, 1), f80(0, 0));
    let cpu = with_f64(&[], |a| {
        a.fld1().unwrap();
        a.fldz().unwrap();
        a.stc().unwrap();
        a.fcmovb(st0, st1).unwrap();
        a.fcmove(st0, st1).unwrap();
    });
    assert_eq!(
        st(&cpu, 0),
        f80(0x3FFF, 1 << 63),
        "FCMOVB moved, FCMOVE (ZF clear) did not"
    );
    let (cpu, bus) = run(
        |_, bus| bus.write_u64(DATA, 1e300f64.to_bits()),
        |a| {
            a.fld(qword_ptr(DATA)).unwrap();
            a.fst(dword_ptr(DATA + 8)).unwrap();
            a.fabs().unwrap();
            a.hlt().unwrap();
        },
    );
    assert_eq!(bus.read_u32(DATA + 8), 0x7F80_0000);
    assert_eq!(cpu.fpu.sw & 0x3F, OE | PE);
}

#[test]
fn transcendentals_are_close() {
    let (_, bus) = run(
        |_, bus| bus.write_u64(DATA, 0.5f64.to_bits()),
        |a| {
            a.fld(qword_ptr(DATA)).unwrap();
            a.fsincos().unwrap();
            a.fstp(qword_ptr(DATA + 8)).unwrap();
            a.fstp(qword_ptr(DATA + 16)).unwrap();
            a.fld(qword_ptr(DATA)).unwrap();
            a.fptan().unwrap();
            a.fstp(qword_ptr(DATA + 24)).unwrap();
            a.fstp(qword_ptr(DATA + 32)).unwrap();
            a.fld1().unwrap();
            a.fld(qword_ptr(DATA)).unwrap();
            a.fyl2x().unwrap();
            a.fstp(qword_ptr(DATA + 40)).unwrap();
            a.hlt().unwrap();
        },
    );
    let f = |at: u64| {
        f64::from_bits(
            u64::from(bus.read_u32(DATA + at)) | u64::from(bus.read_u32(DATA + at + 4)) << 32,
        )
    };
    assert!((f(8) - 0.5f64.cos()).abs() < 1e-15);
    assert!((f(16) - 0.5f64.sin()).abs() < 1e-15);
    assert_eq!(f(24), 1.0, "FPTAN pushes 1");
    assert!((f(32) - 0.5f64.tan()).abs() < 1e-15);
    assert_eq!(f(40), -1.0, "log2(0.5)");
}
