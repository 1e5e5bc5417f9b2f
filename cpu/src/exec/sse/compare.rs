//! SSE/SSE2 compares: CMPPS/CMPSS/CMPPD/CMPSD with the eight predicates (lane masks), and COMISS/UCOMISS/
//! COMISD/UCOMISD (EFLAGS).

use super::arith::{float_shape, is_nan, unpack_lane};
use super::set_lane;
use crate::bus::Bus;
use crate::fault::Fault;
use crate::flags::{ARITH, CF, PF, ZF};
use crate::fpu::soft::{self, flag, Class, Num};
use crate::Cpu;
use core::cmp::Ordering;
use iced_x86::{Instruction, Mnemonic as M};

/// Evaluates CMPcc predicate `p` (0..7) and raises IE: signalling predicates (LT, LE, NLT, NLE) on any NaN, the
/// others on a signalling NaN only.
pub(super) fn predicate(a: &Num, b: &Num, p: u8, ctx_flags: &mut u32) -> bool {
    let ord = soft::compare(a, b);
    let signalling = matches!(p & 7, 1 | 2 | 5 | 6);
    if (signalling && (is_nan(a) || is_nan(b))) || a.class == Class::SNan || b.class == Class::SNan
    {
        *ctx_flags |= flag::IE;
    }
    match p & 7 {
        0 => ord == Some(Ordering::Equal),
        1 => ord == Some(Ordering::Less),
        2 => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
        3 => ord.is_none(),
        4 => ord != Some(Ordering::Equal),
        5 => ord != Some(Ordering::Less),
        6 => !matches!(ord, Some(Ordering::Less | Ordering::Equal)),
        _ => ord.is_some(),
    }
}

impl Cpu {
    pub(super) fn sse_compare<B: Bus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Option<Result<(), Fault>> {
        match i.mnemonic() {
            M::Cmpps | M::Cmpss | M::Cmppd | M::Cmpsd => Some(self.sse_cmp(bus, i)),
            M::Comiss | M::Ucomiss | M::Comisd | M::Ucomisd => Some(self.sse_comis(bus, i)),
            _ => None,
        }
    }

    fn sse_cmp<B: Bus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let (fmt, bits, lanes) = float_shape(i.mnemonic());
        let d = Self::xmm_of(i, 0);
        let a = self.fpu.xmm.regs[d];
        let b = self.read_vec(bus, i, 1)?;
        let p = i.immediate(2) as u8;
        let mut ctx = self.sse_ctx();
        let mut r = a;
        for k in 0..lanes {
            let x = unpack_lane(a, fmt, bits, k, &mut ctx);
            let y = unpack_lane(b, fmt, bits, k, &mut ctx);
            let t = predicate(&x, &y, p, &mut ctx.flags);
            r = set_lane(r, bits, k, if t { u64::MAX } else { 0 });
        }
        self.sse_finish(&ctx)?;
        self.fpu.xmm.regs[d] = r;
        Ok(())
    }

    fn sse_comis<B: Bus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let (fmt, bits, _) = float_shape(i.mnemonic());
        let a = self.fpu.xmm.regs[Self::xmm_of(i, 0)];
        let b = self.read_vec(bus, i, 1)?;
        let mut ctx = self.sse_ctx();
        let x = unpack_lane(a, fmt, bits, 0, &mut ctx);
        let y = unpack_lane(b, fmt, bits, 0, &mut ctx);
        let signalling = matches!(i.mnemonic(), M::Comiss | M::Comisd);
        if (signalling && (is_nan(&x) || is_nan(&y)))
            || x.class == Class::SNan
            || y.class == Class::SNan
        {
            ctx.flags |= flag::IE;
        }
        self.sse_finish(&ctx)?;
        let f = match soft::compare(&x, &y) {
            None => ZF | PF | CF,
            Some(Ordering::Greater) => 0,
            Some(Ordering::Less) => CF,
            Some(Ordering::Equal) => ZF,
        };
        self.state.rflags = (self.state.rflags & !ARITH) | f;
        Ok(())
    }
}
