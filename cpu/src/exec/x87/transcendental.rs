//! x87 transcendental instructions: F2XM1, FYL2X, FYL2XP1, FPTAN, FPATAN, FSIN, FCOS, FSINCOS.
//!
//! Precision caveat: these are computed in host f64 (53-bit significand) and widened, so results carry about 53
//! correct bits instead of the x87's 64; PE is always raised for nonzero finite results. Operands beyond 2^63 for
//! the trigonometric instructions set C2 and leave the stack unchanged, as the hardware does.

use super::INDEFINITE;
use crate::fault::Fault;
use crate::fpu::soft::{self, flag, Ctx, Format, Num, Rounding};
use crate::fpu::{sw, F80};
use crate::Cpu;
use iced_x86::{Instruction, Mnemonic as M};

fn to_f64(n: Num) -> f64 {
    let mut c = Ctx::new(Rounding::Nearest);
    f64::from_bits(soft::convert(n, Format::F64, &mut c) as u64)
}

fn from_f64(v: f64, ctx: &mut Ctx) -> F80 {
    let mut c = Ctx::new(Rounding::Nearest);
    let n = Num::unpack(u128::from(v.to_bits()), Format::F64, &mut c);
    if v.is_nan() {
        ctx.flags |= flag::IE;
        return INDEFINITE;
    }
    if v != 0.0 && v.is_finite() {
        ctx.flags |= flag::PE;
    }
    F80::from_bits(soft::convert(n, Format::F80, &mut c))
}

impl Cpu {
    pub(super) fn x87_transcendental(&mut self, i: &Instruction) -> Option<Result<(), Fault>> {
        let m = i.mnemonic();
        let binary = matches!(m, M::Fyl2x | M::Fyl2xp1 | M::Fpatan);
        if !matches!(m, M::F2xm1 | M::Fsin | M::Fcos | M::Fsincos | M::Fptan) && !binary {
            return None;
        }
        if self.st(0).is_none() || (binary && self.st(1).is_none()) {
            return Some(self.underflow_to(if binary { 1 } else { 0 }, binary));
        }
        let mut ctx = self.x87_ctx(false);
        let a = self.st_num(0, &mut ctx);
        let x = to_f64(a);
        if a.is_nan() || (binary && self.st_num(1, &mut ctx).is_nan()) {
            let b = if binary { self.st_num(1, &mut ctx) } else { a };
            let n = super::arith::nan2(&a, &b, &mut ctx).unwrap_or(INDEFINITE.to_bits());
            let dst = usize::from(binary);
            if self.x87_post(ctx.flags) {
                self.set_st(dst, F80::from_bits(n));
                if binary {
                    self.fpop();
                }
            }
            return Some(Ok(()));
        }
        if matches!(m, M::Fsin | M::Fcos | M::Fsincos | M::Fptan) {
            self.fpu.sw &= !sw::C2;
            if x.abs() >= 2f64.powi(63) {
                self.fpu.sw |= sw::C2;
                return Some(Ok(()));
            }
            if x.is_infinite() {
                ctx.flags |= flag::IE;
            }
        }
        let y = if binary {
            to_f64(self.st_num(1, &mut ctx))
        } else {
            0.0
        };
        let (r0, push) = match m {
            M::F2xm1 => (x.exp2() - 1.0, None),
            M::Fsin => (x.sin(), None),
            M::Fcos => (x.cos(), None),
            M::Fsincos => (x.sin(), Some(x.cos())),
            M::Fptan => (x.tan(), Some(1.0)),
            M::Fyl2x => {
                if x < 0.0 {
                    ctx.flags |= flag::IE;
                } else if x == 0.0 && y != 0.0 {
                    ctx.flags |= flag::ZE;
                }
                (y * x.log2(), None)
            }
            M::Fyl2xp1 => (y * x.ln_1p() / core::f64::consts::LN_2, None),
            _ => (y.atan2(x), None),
        };
        let v0 = from_f64(r0, &mut ctx);
        let v1 = push.map(|p| from_f64(p, &mut ctx));
        if !self.x87_post(ctx.flags) {
            return Some(Ok(()));
        }
        if binary {
            self.set_st(1, v0);
            self.fpop();
        } else {
            self.set_st(0, v0);
            if let Some(v) = v1 {
                self.fpush(v);
            }
        }
        Some(Ok(()))
    }
}
