//! SSE/SSE2 floating-point arithmetic: ADD, SUB, MUL, DIV, MIN, MAX, SQRT (PS/SS/PD/SD) and the RCP/RSQRT
//! approximations, with MXCSR rounding, DAZ/FTZ and exception flags.

use super::{lane, set_lane};
use crate::bus::Bus;
use crate::fault::Fault;
use crate::fpu::soft::{self, flag, Class, Ctx, Format, NanRule, Num};
use crate::Cpu;
use core::cmp::Ordering;
use iced_x86::{Instruction, Mnemonic as M};

/// The lane format, lane width in bits and lane count of a floating-point mnemonic's PS/SS/PD/SD suffix.
pub(super) fn float_shape(m: M) -> (Format, u32, u32) {
    match m {
        M::Addps
        | M::Subps
        | M::Mulps
        | M::Divps
        | M::Minps
        | M::Maxps
        | M::Sqrtps
        | M::Rcpps
        | M::Rsqrtps
        | M::Cmpps => (Format::F32, 32, 4),
        M::Addss
        | M::Subss
        | M::Mulss
        | M::Divss
        | M::Minss
        | M::Maxss
        | M::Sqrtss
        | M::Rcpss
        | M::Rsqrtss
        | M::Cmpss
        | M::Comiss
        | M::Ucomiss => (Format::F32, 32, 1),
        M::Addpd | M::Subpd | M::Mulpd | M::Divpd | M::Minpd | M::Maxpd | M::Sqrtpd | M::Cmppd => {
            (Format::F64, 64, 2)
        }
        _ => (Format::F64, 64, 1),
    }
}

/// Unpacks lane `k`.
pub(super) fn unpack_lane(v: u128, fmt: Format, bits: u32, k: u32, ctx: &mut Ctx) -> Num {
    Num::unpack(u128::from(lane(v, bits, k)), fmt, ctx)
}

fn min_max(a: Num, b: Num, ra: u64, rb: u64, max: bool, ctx: &mut Ctx) -> u64 {
    if a.is_nan() || b.is_nan() {
        ctx.flags |= flag::IE;
        return rb;
    }
    let want = if max {
        Ordering::Greater
    } else {
        Ordering::Less
    };
    if soft::compare(&a, &b) == Some(want) {
        ra
    } else {
        rb
    }
}

/// RCPPS/RSQRTPS-style approximation (computed exactly, then rounded to single); no flags, denormals as zero.
fn approx(x: u64, rsqrt: bool) -> u64 {
    let v = f32::from_bits(x as u32);
    let v = if v.is_subnormal() {
        0.0f32.copysign(v)
    } else {
        v
    };
    let r = if rsqrt {
        if v.is_nan() {
            return u64::from(x as u32 | 0x0040_0000);
        }
        if v < 0.0 {
            return 0xFFC0_0000;
        }
        (1.0 / f64::from(v).sqrt()) as f32
    } else {
        if v.is_nan() {
            return u64::from(x as u32 | 0x0040_0000);
        }
        (1.0 / f64::from(v)) as f32
    };
    let r = if r.is_subnormal() {
        0.0f32.copysign(r)
    } else {
        r
    };
    u64::from(r.to_bits())
}

impl Cpu {
    pub(super) fn sse_arith<B: Bus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Option<Result<(), Fault>> {
        match i.mnemonic() {
            M::Addps
            | M::Addss
            | M::Addpd
            | M::Addsd
            | M::Subps
            | M::Subss
            | M::Subpd
            | M::Subsd
            | M::Mulps
            | M::Mulss
            | M::Mulpd
            | M::Mulsd
            | M::Divps
            | M::Divss
            | M::Divpd
            | M::Divsd
            | M::Minps
            | M::Minss
            | M::Minpd
            | M::Minsd
            | M::Maxps
            | M::Maxss
            | M::Maxpd
            | M::Maxsd
            | M::Sqrtps
            | M::Sqrtss
            | M::Sqrtpd
            | M::Sqrtsd
            | M::Rcpps
            | M::Rcpss
            | M::Rsqrtps
            | M::Rsqrtss => Some(self.sse_float_op(bus, i)),
            _ => None,
        }
    }

    fn sse_float_op<B: Bus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let m = i.mnemonic();
        let (fmt, bits, lanes) = float_shape(m);
        let d = Self::xmm_of(i, 0);
        let a = self.fpu.xmm.regs[d];
        let b = self.read_vec(bus, i, 1)?;
        let mut ctx = self.sse_ctx();
        let mut r = a;
        for k in 0..lanes {
            let (ra, rb) = (lane(a, bits, k), lane(b, bits, k));
            let res = match m {
                M::Rcpps | M::Rcpss => approx(rb, false),
                M::Rsqrtps | M::Rsqrtss => approx(rb, true),
                M::Sqrtps | M::Sqrtss | M::Sqrtpd | M::Sqrtsd => {
                    let y = unpack_lane(b, fmt, bits, k, &mut ctx);
                    soft::sqrt(y, fmt, &mut ctx) as u64
                }
                _ => {
                    let x = unpack_lane(a, fmt, bits, k, &mut ctx);
                    let y = unpack_lane(b, fmt, bits, k, &mut ctx);
                    let rule = NanRule::First;
                    match m {
                        M::Addps | M::Addss | M::Addpd | M::Addsd => {
                            soft::add(x, y, false, fmt, rule, &mut ctx) as u64
                        }
                        M::Subps | M::Subss | M::Subpd | M::Subsd => {
                            soft::add(x, y, true, fmt, rule, &mut ctx) as u64
                        }
                        M::Mulps | M::Mulss | M::Mulpd | M::Mulsd => {
                            soft::mul(x, y, fmt, rule, &mut ctx) as u64
                        }
                        M::Divps | M::Divss | M::Divpd | M::Divsd => {
                            soft::div(x, y, fmt, rule, &mut ctx) as u64
                        }
                        M::Minps | M::Minss | M::Minpd | M::Minsd => {
                            min_max(x, y, ra, rb, false, &mut ctx)
                        }
                        _ => min_max(x, y, ra, rb, true, &mut ctx),
                    }
                }
            };
            r = set_lane(r, bits, k, res);
        }
        self.sse_finish(&ctx)?;
        self.fpu.xmm.regs[d] = r;
        Ok(())
    }
}

/// Whether a lane is a NaN (for compares that only need the class).
pub(super) fn is_nan(n: &Num) -> bool {
    matches!(n.class, Class::QNan | Class::SNan)
}
