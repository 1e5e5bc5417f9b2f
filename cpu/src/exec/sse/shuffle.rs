//! Shuffles and unpacks: SHUFPS/SHUFPD, UNPCKLPS/UNPCKHPS/UNPCKLPD/UNPCKHPD, PSHUFD/PSHUFLW/PSHUFHW, and the
//! word inserts/extracts and PSHUFW shared with MMX (PEXTRW, PINSRW).

use super::{lane, set_lane};
use crate::bus::Bus;
use crate::fault::Fault;
use crate::Cpu;
use iced_x86::{Instruction, Mnemonic as M, OpKind};

/// Selects lanes of `src` by two-bit fields of `imm`, for lanes `first..first + 4` of width `bits`.
fn select4(src: u128, dst: u128, bits: u32, first: u32, imm: u64) -> u128 {
    (0..4).fold(dst, |r, k| {
        let from = first + ((imm >> (2 * k)) & 3) as u32;
        set_lane(r, bits, first + k, lane(src, bits, from))
    })
}

fn interleave(a: u128, b: u128, bits: u32, high: bool) -> u128 {
    let n = 128 / bits;
    let first = if high { n / 2 } else { 0 };
    (0..n / 2).fold(0, |r, k| {
        let r = set_lane(r, bits, 2 * k, lane(a, bits, first + k));
        set_lane(r, bits, 2 * k + 1, lane(b, bits, first + k))
    })
}

impl Cpu {
    /// Shuffle-class instructions on XMM or (PSHUFW, PEXTRW, PINSRW) MMX registers.
    pub(in crate::exec) fn sse_shuffle<B: Bus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Option<Result<(), Fault>> {
        match i.mnemonic() {
            M::Shufps
            | M::Shufpd
            | M::Unpcklps
            | M::Unpckhps
            | M::Unpcklpd
            | M::Unpckhpd
            | M::Pshufd
            | M::Pshuflw
            | M::Pshufhw
            | M::Pshufw
            | M::Pextrw
            | M::Pinsrw => Some(self.shuffle(bus, i)),
            _ => None,
        }
    }

    fn shuffle<B: Bus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let m = i.mnemonic();
        let imm = if i.op_count() == 3 { i.immediate(2) } else { 0 };
        if m == M::Pextrw {
            let src = self.read_vec(bus, i, 1)?;
            let words = if i.op_register(1).is_xmm() { 8 } else { 4 };
            self.set_reg(i.op0_register(), lane(src, 16, (imm % words) as u32));
            return Ok(());
        }
        let a = self.read_vec(bus, i, 0)?;
        let b = self.read_vec(bus, i, 1)?;
        let r = match m {
            M::Shufps => {
                let lo = select4(a, 0, 32, 0, imm);
                set_lane(
                    set_lane(lo, 32, 2, lane(b, 32, ((imm >> 4) & 3) as u32)),
                    32,
                    3,
                    lane(b, 32, (imm >> 6) as u32 & 3),
                )
            }
            M::Shufpd => {
                let lo = lane(a, 64, (imm & 1) as u32);
                let hi = lane(b, 64, ((imm >> 1) & 1) as u32);
                u128::from(lo) | u128::from(hi) << 64
            }
            M::Unpcklps => interleave(a, b, 32, false),
            M::Unpckhps => interleave(a, b, 32, true),
            M::Unpcklpd => interleave(a, b, 64, false),
            M::Unpckhpd => interleave(a, b, 64, true),
            M::Pshufd => select4(b, 0, 32, 0, imm),
            M::Pshuflw => select4(b, b, 16, 0, imm),
            M::Pshufhw => select4(b, b, 16, 4, imm),
            M::Pshufw => select4(b, 0, 16, 0, imm),
            _ => {
                // PINSRW: the low word of a register or a 16-bit memory operand.
                let words = if i.op0_register().is_xmm() { 8 } else { 4 };
                let w = if i.op1_kind() == OpKind::Register {
                    b & 0xFFFF
                } else {
                    b
                };
                set_lane(a, 16, (imm % words) as u32, w as u64)
            }
        };
        self.write_vec(bus, i, 0, r)
    }
}
