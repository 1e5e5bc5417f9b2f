//! SSE/SSE2 conversions (CVT*): integer to float rounds per MXCSR.RC, float to integer rounds per MXCSR.RC or
//! truncates (CVTT*); out-of-range, NaN and infinity give the integer indefinite (0x80000000...) with IE.

use super::{lane, set_lane};
use crate::bus::Bus;
use crate::fault::Fault;
use crate::fpu::soft::{self, Ctx, Format, Num, Rounding};
use crate::Cpu;
use iced_x86::{Instruction, Mnemonic as M, OpKind};

#[derive(Clone, Copy, PartialEq, Eq)]
enum K {
    I32,
    I64,
    F32,
    F64,
}

impl K {
    fn bits(self) -> u32 {
        match self {
            K::I32 | K::F32 => 32,
            _ => 64,
        }
    }

    fn fmt(self) -> Format {
        if self == K::F32 {
            Format::F32
        } else {
            Format::F64
        }
    }

    fn is_int(self) -> bool {
        matches!(self, K::I32 | K::I64)
    }
}

fn convert_lane(x: u64, from: K, to: K, truncate: bool, ctx: &mut Ctx) -> u64 {
    if from.is_int() {
        let v = if from == K::I32 {
            i64::from(x as i32)
        } else {
            x as i64
        };
        return soft::from_int(v, to.fmt(), ctx) as u64;
    }
    let n = Num::unpack(u128::from(x), from.fmt(), ctx);
    if to.is_int() {
        let rc = if truncate { Rounding::Zero } else { ctx.rc };
        let v = soft::to_int(n, to.bits(), rc, ctx) as u64;
        return v & super::lane_mask(to.bits());
    }
    soft::convert(n, to.fmt(), ctx) as u64
}

impl Cpu {
    pub(super) fn sse_convert<B: Bus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Option<Result<(), Fault>> {
        let int_of = |n: u32| {
            let size = match i.op_kind(n) {
                OpKind::Register => i.op_register(n).size(),
                _ => i.memory_size().size(),
            };
            if size == 8 {
                K::I64
            } else {
                K::I32
            }
        };
        // (source lane kind, destination lane kind, lanes, keep the destination's other bits, truncate)
        let (from, to, n, keep, trunc) = match i.mnemonic() {
            M::Cvtpi2ps => (K::I32, K::F32, 2, true, false),
            M::Cvtps2pi => (K::F32, K::I32, 2, false, false),
            M::Cvttps2pi => (K::F32, K::I32, 2, false, true),
            M::Cvtsi2ss => (int_of(1), K::F32, 1, true, false),
            M::Cvtsi2sd => (int_of(1), K::F64, 1, true, false),
            M::Cvtss2si => (K::F32, int_of(0), 1, false, false),
            M::Cvttss2si => (K::F32, int_of(0), 1, false, true),
            M::Cvtsd2si => (K::F64, int_of(0), 1, false, false),
            M::Cvttsd2si => (K::F64, int_of(0), 1, false, true),
            M::Cvtpi2pd | M::Cvtdq2pd => (K::I32, K::F64, 2, false, false),
            M::Cvtpd2pi | M::Cvtpd2dq => (K::F64, K::I32, 2, false, false),
            M::Cvttpd2pi | M::Cvttpd2dq => (K::F64, K::I32, 2, false, true),
            M::Cvtps2pd => (K::F32, K::F64, 2, false, false),
            M::Cvtpd2ps => (K::F64, K::F32, 2, false, false),
            M::Cvtss2sd => (K::F32, K::F64, 1, true, false),
            M::Cvtsd2ss => (K::F64, K::F32, 1, true, false),
            M::Cvtdq2ps => (K::I32, K::F32, 4, false, false),
            M::Cvtps2dq => (K::F32, K::I32, 4, false, false),
            M::Cvttps2dq => (K::F32, K::I32, 4, false, true),
            _ => return None,
        };
        Some(self.sse_cvt(bus, i, from, to, n, keep, trunc))
    }

    #[allow(clippy::too_many_arguments)]
    fn sse_cvt<B: Bus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
        from: K,
        to: K,
        n: u32,
        keep: bool,
        trunc: bool,
    ) -> Result<(), Fault> {
        let src = self.read_vec(bus, i, 1)?;
        let mut r = if keep { self.read_vec(bus, i, 0)? } else { 0 };
        let mut ctx = self.sse_ctx();
        for k in 0..n {
            let x = lane(src, from.bits(), k);
            r = set_lane(r, to.bits(), k, convert_lane(x, from, to, trunc, &mut ctx));
        }
        self.sse_finish(&ctx)?;
        self.write_vec(bus, i, 0, r)
    }
}
