//! x87 arithmetic: FADD/FSUB/FSUBR/FMUL/FDIV/FDIVR (register, memory, P and I forms), FSQRT, FABS, FCHS,
//! FRNDINT, FSCALE, FXTRACT, FPREM and FPREM1. Results are rounded to CW.PC (add, sub, mul, div, sqrt) with CW.RC.

use super::{st_index, INDEFINITE};
use crate::bus::Bus;
use crate::fault::Fault;
use crate::fpu::soft::{self, flag, Class, Ctx, Format, NanRule, Num, Rounding};
use crate::fpu::{sw, F80};
use crate::Cpu;
use iced_x86::{Instruction, Mnemonic as M, OpKind};

const F: Format = Format::F80;

/// FPREM/FPREM1 on finite nonzero operands: (remainder bits, quotient low bits, complete).
fn partial_remainder(a: Num, b: Num, nearest: bool, ctx: &mut Ctx) -> (u128, u64, bool) {
    let d = a.exp - b.exp;
    if d >= 64 {
        // Reduce by a multiple of b scaled to 2^(d - 63): the exponent falls by at least 32 per step.
        let n = u128::from(a.sig) << 63;
        let r = n % u128::from(b.sig);
        let bits = soft::round_pack(a.sign, b.exp + (d - 63) + 64, r, F, ctx);
        return (bits, 0, false);
    }
    if d < -1 || (d == -1 && !nearest) {
        return (Num { ..a }.pack(F, ctx), 0, true);
    }
    let (n, den, scale_exp) = if d >= 0 {
        (u128::from(a.sig) << d, u128::from(b.sig), b.exp)
    } else {
        (u128::from(a.sig), u128::from(b.sig) << 1, a.exp)
    };
    let mut q = n / den;
    let mut r = n % den;
    let mut sign = a.sign;
    if nearest && (2 * r > den || (2 * r == den && q & 1 == 1)) {
        r = den - r;
        q += 1;
        sign = !sign;
    }
    if r == 0 {
        return (F.zero(a.sign), q as u64, true);
    }
    // r is in units of 2^(scale_exp - 63); round_pack's value is r * 2^(x - 127).
    (
        soft::round_pack(sign, scale_exp + 64, r, F, ctx),
        q as u64,
        true,
    )
}

impl Cpu {
    pub(super) fn x87_arith<B: Bus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Option<Result<(), Fault>> {
        Some(match i.mnemonic() {
            M::Fadd
            | M::Faddp
            | M::Fiadd
            | M::Fsub
            | M::Fsubp
            | M::Fisub
            | M::Fsubr
            | M::Fsubrp
            | M::Fisubr
            | M::Fmul
            | M::Fmulp
            | M::Fimul
            | M::Fdiv
            | M::Fdivp
            | M::Fidiv
            | M::Fdivr
            | M::Fdivrp
            | M::Fidivr => self.x87_binary(bus, i),
            M::Fchs | M::Fabs => match self.st(0) {
                Some(v) => {
                    let se = if i.mnemonic() == M::Fchs {
                        v.se ^ 0x8000
                    } else {
                        v.se & 0x7FFF
                    };
                    self.set_st(0, F80 { se, ..v });
                    self.fpu.sw &= !sw::C1;
                    Ok(())
                }
                None => self.underflow_to(0, false),
            },
            M::Fsqrt | M::Frndint => {
                if self.st(0).is_none() {
                    return Some(self.underflow_to(0, false));
                }
                let mut ctx = self.x87_ctx(i.mnemonic() == M::Fsqrt);
                let a = self.st_num(0, &mut ctx);
                let bits = if i.mnemonic() == M::Fsqrt {
                    soft::sqrt(a, F, &mut ctx)
                } else {
                    let rc = ctx.rc;
                    soft::round_int(a, F, rc, &mut ctx)
                };
                self.x87_result(0, bits, &ctx);
                Ok(())
            }
            M::Fscale => self.fscale(),
            M::Fxtract => self.fxtract(),
            M::Fprem | M::Fprem1 => self.fprem(i.mnemonic() == M::Fprem1),
            _ => return None,
        })
    }

    /// Stores a computed result in ST(i) unless an unmasked pre-computation exception forbids it; sets C1.
    pub(super) fn x87_result(&mut self, i: usize, bits: u128, ctx: &Ctx) -> bool {
        let ok = self.x87_post(ctx.flags);
        if ok {
            self.set_st(i, F80::from_bits(bits));
            self.set_c1(ctx.rounded_up);
        }
        ok
    }

    /// Stack underflow on an operand: the indefinite goes to ST(i) if IE is masked; `pop` pops afterwards.
    pub(super) fn underflow_to(&mut self, i: usize, pop: bool) -> Result<(), Fault> {
        if self.stack_underflow() {
            self.set_st(i, INDEFINITE);
            if pop {
                self.fpop();
            }
        }
        Ok(())
    }

    fn x87_binary<B: Bus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let m = i.mnemonic();
        let mut ctx = self.x87_ctx(true);
        let reverse = matches!(
            m,
            M::Fsubr | M::Fsubrp | M::Fisubr | M::Fdivr | M::Fdivrp | M::Fidivr
        );
        let pop = matches!(
            m,
            M::Faddp | M::Fsubp | M::Fsubrp | M::Fmulp | M::Fdivp | M::Fdivrp
        );
        let (dst, a, b) = if i.op0_kind() == OpKind::Memory {
            let b = self.x87_read_mem(bus, i, &mut ctx)?;
            if self.st(0).is_none() {
                return self.underflow_to(0, false);
            }
            (0, self.st_num(0, &mut ctx), b)
        } else {
            let (d, s) = (st_index(i.op0_register()), st_index(i.op1_register()));
            if self.st(d).is_none() || self.st(s).is_none() {
                return self.underflow_to(d, pop);
            }
            (d, self.st_num(d, &mut ctx), self.st_num(s, &mut ctx))
        };
        let (x, y) = if reverse { (b, a) } else { (a, b) };
        let rule = NanRule::Larger;
        let bits = match m {
            M::Fadd | M::Faddp | M::Fiadd => soft::add(x, y, false, F, rule, &mut ctx),
            M::Fsub | M::Fsubp | M::Fisub | M::Fsubr | M::Fsubrp | M::Fisubr => {
                soft::add(x, y, true, F, rule, &mut ctx)
            }
            M::Fmul | M::Fmulp | M::Fimul => soft::mul(x, y, F, rule, &mut ctx),
            _ => soft::div(x, y, F, rule, &mut ctx),
        };
        if self.x87_result(dst, bits, &ctx) && pop {
            self.fpop();
        }
        Ok(())
    }

    fn fscale(&mut self) -> Result<(), Fault> {
        if self.st(0).is_none() || self.st(1).is_none() {
            return self.underflow_to(0, false);
        }
        let mut ctx = self.x87_ctx(false);
        let a = self.st_num(0, &mut ctx);
        let b = self.st_num(1, &mut ctx);
        let bits = if let Some(n) = nan2(&a, &b, &mut ctx) {
            n
        } else {
            match (a.class, b.class) {
                (Class::Zero, Class::Inf) if !b.sign => invalid(&mut ctx),
                (Class::Inf, Class::Inf) if b.sign => invalid(&mut ctx),
                (Class::Normal, Class::Inf) => {
                    if b.sign {
                        F.zero(a.sign)
                    } else {
                        F.inf(a.sign)
                    }
                }
                (Class::Normal, Class::Normal) => {
                    let n = if b.exp >= 20 {
                        if b.sign {
                            -(1 << 20)
                        } else {
                            1 << 20
                        }
                    } else {
                        soft::to_int(b, 32, Rounding::Zero, &mut Ctx::new(Rounding::Zero)) as i32
                    };
                    soft::round_pack(a.sign, a.exp + n, u128::from(a.sig) << 64, F, &mut ctx)
                }
                _ => a.pack(F, &mut ctx),
            }
        };
        self.x87_result(0, bits, &ctx);
        Ok(())
    }

    fn fxtract(&mut self) -> Result<(), Fault> {
        if self.st(0).is_none() {
            return self.underflow_to(0, false);
        }
        if self.st(7).is_some() {
            self.fpu.sw |= sw::SF | sw::C1;
            if self.x87_post(flag::IE) {
                self.set_st(0, INDEFINITE);
                self.fpush(INDEFINITE);
            }
            return Ok(());
        }
        let mut ctx = self.x87_ctx(false);
        let a = self.st_num(0, &mut ctx);
        let (exp, sig) = match a.class {
            Class::QNan | Class::SNan => {
                let n = nan2(&a, &a, &mut ctx).unwrap_or(INDEFINITE.to_bits());
                (n, n)
            }
            Class::Zero => {
                ctx.flags |= flag::ZE;
                (F.inf(true), F.zero(a.sign))
            }
            Class::Inf => (F.inf(false), F.inf(a.sign)),
            Class::Normal => {
                let e = soft::from_int(i64::from(a.exp), F, &mut ctx);
                let s = F80 {
                    mant: a.sig,
                    se: 0x3FFF | if a.sign { 0x8000 } else { 0 },
                };
                (e, s.to_bits())
            }
        };
        if self.x87_post(ctx.flags) {
            self.set_st(0, F80::from_bits(exp));
            self.fpush(F80::from_bits(sig));
        }
        Ok(())
    }

    fn fprem(&mut self, nearest: bool) -> Result<(), Fault> {
        if self.st(0).is_none() || self.st(1).is_none() {
            return self.underflow_to(0, false);
        }
        let mut ctx = self.x87_ctx(false);
        let a = self.st_num(0, &mut ctx);
        let b = self.st_num(1, &mut ctx);
        let (bits, q, complete) = if let Some(n) = nan2(&a, &b, &mut ctx) {
            (n, 0, true)
        } else {
            match (a.class, b.class) {
                (Class::Inf, _) | (_, Class::Zero) => (invalid(&mut ctx), 0, true),
                (Class::Zero, _) | (_, Class::Inf) => (a.pack(F, &mut ctx), 0, true),
                _ => partial_remainder(a, b, nearest, &mut ctx),
            }
        };
        if self.x87_post(ctx.flags) {
            self.set_st(0, F80::from_bits(bits));
            self.fpu.sw &= !sw::CC;
            if complete {
                if q & 4 != 0 {
                    self.fpu.sw |= sw::C0;
                }
                if q & 2 != 0 {
                    self.fpu.sw |= sw::C3;
                }
                if q & 1 != 0 {
                    self.fpu.sw |= sw::C1;
                }
            } else {
                self.fpu.sw |= sw::C2;
            }
        }
        Ok(())
    }
}

/// NaN propagation for x87 two-operand operations.
pub(super) fn nan2(a: &Num, b: &Num, ctx: &mut Ctx) -> Option<u128> {
    if !a.is_nan() && !b.is_nan() {
        return None;
    }
    // An add of the two NaNs applies the x87 selection rule and quietens.
    Some(soft::add(*a, *b, false, F, NanRule::Larger, ctx))
}

fn invalid(ctx: &mut Ctx) -> u128 {
    ctx.flags |= flag::IE;
    F.indefinite()
}
