//! Packed-integer operations, written once for both widths: MMX (8-byte registers) and SSE2 (16-byte XMM).
//! PADD/PSUB (wrapping and saturating), PMUL*, PMADDWD, PSADBW, PAVG, PMIN/PMAX, PCMPEQ/PCMPGT, PAND/PANDN/POR/
//! PXOR, the shifts (PSLL/PSRL/PSRA by register, memory or immediate; PSLLDQ/PSRLDQ), PACK* and PUNPCK*.

use super::{lane, lane_mask, map2, set_lane};
use crate::bus::Bus;
use crate::fault::Fault;
use crate::Cpu;
use iced_x86::{Instruction, Mnemonic as M};

fn sx(v: u64, bits: u32) -> i64 {
    let s = 64 - bits;
    ((v << s) as i64) >> s
}

fn sat_signed(v: i64, bits: u32) -> u64 {
    let max = (1i64 << (bits - 1)) - 1;
    (v.clamp(-max - 1, max) as u64) & lane_mask(bits)
}

fn sat_unsigned(v: i64, bits: u32) -> u64 {
    v.clamp(0, lane_mask(bits) as i64) as u64
}

/// Lane width of a mnemonic's B/W/D/Q suffix.
fn width(m: M) -> u32 {
    match m {
        M::Paddb
        | M::Paddsb
        | M::Paddusb
        | M::Psubb
        | M::Psubsb
        | M::Psubusb
        | M::Pavgb
        | M::Pminub
        | M::Pmaxub
        | M::Pcmpeqb
        | M::Pcmpgtb => 8,
        M::Paddd | M::Psubd | M::Pcmpeqd | M::Pcmpgtd | M::Pslld | M::Psrld | M::Psrad => 32,
        M::Paddq | M::Psubq | M::Psllq | M::Psrlq => 64,
        _ => 16,
    }
}

/// Shift of every lane by a count (counts of the lane width or more give zero, or the sign for PSRA).
fn shift(m: M, a: u128, count: u64, bytes: u32) -> u128 {
    let w = width(m);
    map2(a, 0, w, bytes, |x, _| match m {
        M::Psllw | M::Pslld | M::Psllq if count < u64::from(w) => (x << count) & lane_mask(w),
        M::Psrlw | M::Psrld | M::Psrlq if count < u64::from(w) => x >> count,
        M::Psraw | M::Psrad => (sx(x, w) >> count.min(u64::from(w) - 1)) as u64 & lane_mask(w),
        _ => 0,
    })
}

/// Interleaves the low (or high) lanes of `a` and `b`.
fn unpack(a: u128, b: u128, w: u32, bytes: u32, high: bool) -> u128 {
    let n = bytes * 8 / w;
    let first = if high { n / 2 } else { 0 };
    (0..n / 2).fold(0, |r, k| {
        let r = set_lane(r, w, 2 * k, lane(a, w, first + k));
        set_lane(r, w, 2 * k + 1, lane(b, w, first + k))
    })
}

/// Narrows the lanes of `a` then `b` from `w` to `w / 2` bits with saturation.
fn pack(a: u128, b: u128, w: u32, bytes: u32, signed: bool) -> u128 {
    let n = bytes * 8 / w;
    let narrow = |v: u64| {
        if signed {
            sat_signed(sx(v, w), w / 2)
        } else {
            sat_unsigned(sx(v, w), w / 2)
        }
    };
    (0..n).fold(0, |r, k| {
        let r = set_lane(r, w / 2, k, narrow(lane(a, w, k)));
        set_lane(r, w / 2, n + k, narrow(lane(b, w, k)))
    })
}

/// The result of a two-operand packed-integer instruction over the low `bytes` bytes, or `None` if `m` is not one.
pub(in crate::exec) fn int_op(m: M, a: u128, b: u128, bytes: u32) -> Option<u128> {
    let w = width(m);
    let mask = lane_mask(w);
    Some(
        match m {
            M::Paddb | M::Paddw | M::Paddd | M::Paddq => {
                map2(a, b, w, bytes, |x, y| x.wrapping_add(y) & mask)
            }
            M::Psubb | M::Psubw | M::Psubd | M::Psubq => {
                map2(a, b, w, bytes, |x, y| x.wrapping_sub(y) & mask)
            }
            M::Paddsb | M::Paddsw => {
                map2(a, b, w, bytes, |x, y| sat_signed(sx(x, w) + sx(y, w), w))
            }
            M::Psubsb | M::Psubsw => {
                map2(a, b, w, bytes, |x, y| sat_signed(sx(x, w) - sx(y, w), w))
            }
            M::Paddusb | M::Paddusw => map2(a, b, w, bytes, |x, y| sat_unsigned((x + y) as i64, w)),
            M::Psubusb | M::Psubusw => {
                map2(a, b, w, bytes, |x, y| sat_unsigned(x as i64 - y as i64, w))
            }
            M::Pmullw => map2(a, b, 16, bytes, |x, y| x.wrapping_mul(y) & 0xFFFF),
            M::Pmulhw => map2(a, b, 16, bytes, |x, y| {
                ((sx(x, 16) * sx(y, 16)) >> 16) as u64 & 0xFFFF
            }),
            M::Pmulhuw => map2(a, b, 16, bytes, |x, y| (x * y) >> 16),
            M::Pmuludq => map2(a, b, 64, bytes, |x, y| {
                (x & 0xFFFF_FFFF) * (y & 0xFFFF_FFFF)
            }),
            M::Pmaddwd => map2(a, b, 32, bytes, |x, y| {
                let lo = sx(x & 0xFFFF, 16) * sx(y & 0xFFFF, 16);
                let hi = sx(x >> 16, 16) * sx(y >> 16, 16);
                (lo + hi) as u64 & 0xFFFF_FFFF
            }),
            M::Psadbw => map2(a, b, 64, bytes, |x, y| {
                (0..8)
                    .map(|k| ((x >> (8 * k)) & 0xFF).abs_diff((y >> (8 * k)) & 0xFF))
                    .sum()
            }),
            M::Pavgb | M::Pavgw => map2(a, b, w, bytes, |x, y| (x + y + 1) >> 1),
            M::Pminub => map2(a, b, 8, bytes, |x, y| x.min(y)),
            M::Pmaxub => map2(a, b, 8, bytes, |x, y| x.max(y)),
            M::Pminsw => map2(
                a,
                b,
                16,
                bytes,
                |x, y| if sx(x, 16) < sx(y, 16) { x } else { y },
            ),
            M::Pmaxsw => map2(
                a,
                b,
                16,
                bytes,
                |x, y| if sx(x, 16) > sx(y, 16) { x } else { y },
            ),
            M::Pcmpeqb | M::Pcmpeqw | M::Pcmpeqd => {
                map2(a, b, w, bytes, |x, y| if x == y { mask } else { 0 })
            }
            M::Pcmpgtb | M::Pcmpgtw | M::Pcmpgtd => {
                map2(
                    a,
                    b,
                    w,
                    bytes,
                    |x, y| if sx(x, w) > sx(y, w) { mask } else { 0 },
                )
            }
            M::Pand => a & b,
            M::Pandn => !a & b & full(bytes),
            M::Por => a | b,
            M::Pxor => a ^ b,
            M::Psllw
            | M::Pslld
            | M::Psllq
            | M::Psrlw
            | M::Psrld
            | M::Psrlq
            | M::Psraw
            | M::Psrad => shift(m, a, b as u64, bytes),
            M::Pslldq | M::Psrldq => {
                let n = (b as u64).min(16) as u32 * 8;
                match (n, m) {
                    (128, _) => 0,
                    (_, M::Pslldq) => a << n,
                    _ => a >> n,
                }
            }
            M::Packsswb => pack(a, b, 16, bytes, true),
            M::Packssdw => pack(a, b, 32, bytes, true),
            M::Packuswb => pack(a, b, 16, bytes, false),
            M::Punpcklbw => unpack(a, b, 8, bytes, false),
            M::Punpcklwd => unpack(a, b, 16, bytes, false),
            M::Punpckldq => unpack(a, b, 32, bytes, false),
            M::Punpcklqdq => unpack(a, b, 64, bytes, false),
            M::Punpckhbw => unpack(a, b, 8, bytes, true),
            M::Punpckhwd => unpack(a, b, 16, bytes, true),
            M::Punpckhdq => unpack(a, b, 32, bytes, true),
            M::Punpckhqdq => unpack(a, b, 64, bytes, true),
            _ => return None,
        } & full(bytes),
    )
}

fn full(bytes: u32) -> u128 {
    if bytes >= 16 {
        u128::MAX
    } else {
        (1u128 << (8 * bytes)) - 1
    }
}

impl Cpu {
    /// A two-operand packed-integer instruction on `bytes`-byte registers (8 for MMX, 16 for XMM); `None` if the
    /// mnemonic is not one.
    pub(in crate::exec) fn packed_int<B: Bus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
        bytes: u32,
    ) -> Option<Result<(), Fault>> {
        int_op(i.mnemonic(), 0, 0, bytes)?;
        Some(self.packed_int_exec(bus, i, bytes))
    }

    fn packed_int_exec<B: Bus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
        bytes: u32,
    ) -> Result<(), Fault> {
        let a = self.read_vec(bus, i, 0)?;
        let b = self.read_vec(bus, i, 1)?;
        let r = int_op(i.mnemonic(), a, b, bytes).unwrap_or(a);
        self.write_vec(bus, i, 0, r)
    }
}
