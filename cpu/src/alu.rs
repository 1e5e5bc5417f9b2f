//! Integer ALU semantics and their flags, written once for every engine (the interpreter and the translator's
//! helpers). Each function takes operands zero-extended in a `u64`, an operand size in bytes (1, 2, 4 or 8) and
//! returns the result with the new arithmetic flags (only the six status bits; callers merge them).
//!
//! Undefined flags follow what Intel hardware produces where that is known (noted per function).

use crate::flags::{AF, CF, OF, PF, SF, ZF};

/// Low `bytes` bytes mask.
#[inline]
fn mask(bytes: usize) -> u64 {
    if bytes >= 8 {
        u64::MAX
    } else {
        (1u64 << (8 * bytes)) - 1
    }
}

#[inline]
fn sign_bit(bytes: usize) -> u64 {
    1u64 << (8 * bytes - 1)
}

/// PF, ZF and SF of a result.
#[inline]
pub fn szp(result: u64, bytes: usize) -> u64 {
    let r = result & mask(bytes);
    let mut f = 0;
    // Even parity of the low byte: fold to a nibble, then look it up in a 16-bit table.
    let nibble = (r ^ (r >> 4)) & 0xF;
    f |= ((0x9669u64 >> nibble) & 1) << 2;
    if r == 0 {
        f |= ZF;
    }
    if r & sign_bit(bytes) != 0 {
        f |= SF;
    }
    f
}

/// ADD / ADC: `a + b + carry`.
#[inline]
pub fn add(a: u64, b: u64, carry: bool, bytes: usize) -> (u64, u64) {
    let m = mask(bytes);
    let (partial, c1) = (a & m).overflowing_add(b & m);
    let (sum, c2) = partial.overflowing_add(u64::from(carry));
    let r = sum & m;
    let mut f = szp(r, bytes);
    if c1 || c2 || sum > m {
        f |= CF;
    }
    if (a ^ b ^ r) & 0x10 != 0 {
        f |= AF;
    }
    if (!(a ^ b) & (a ^ r)) & sign_bit(bytes) != 0 {
        f |= OF;
    }
    (r, f)
}

/// SUB / SBB / CMP / NEG: `a - b - borrow`.
#[inline]
pub fn sub(a: u64, b: u64, borrow: bool, bytes: usize) -> (u64, u64) {
    let m = mask(bytes);
    let (a, b) = (a & m, b & m);
    let r = a.wrapping_sub(b).wrapping_sub(u64::from(borrow)) & m;
    let mut f = szp(r, bytes);
    if a < b || (a == b && borrow) {
        f |= CF;
    }
    if (a ^ b ^ r) & 0x10 != 0 {
        f |= AF;
    }
    if ((a ^ b) & (a ^ r)) & sign_bit(bytes) != 0 {
        f |= OF;
    }
    (r, f)
}

/// AND / OR / XOR / TEST result flags: CF = OF = 0, AF undefined (Intel leaves it clear).
#[inline]
pub fn logic(result: u64, bytes: usize) -> (u64, u64) {
    let r = result & mask(bytes);
    (r, szp(r, bytes))
}

/// INC: like ADD 1 but CF is preserved (the caller keeps the old CF; the returned flags never have CF).
#[inline]
pub fn inc(a: u64, bytes: usize) -> (u64, u64) {
    let (r, f) = add(a, 1, false, bytes);
    (r, f & !CF)
}

/// DEC: like SUB 1 but CF is preserved (the caller keeps the old CF).
#[inline]
pub fn dec(a: u64, bytes: usize) -> (u64, u64) {
    let (r, f) = sub(a, 1, false, bytes);
    (r, f & !CF)
}

/// Evaluates a condition code (the low nibble of Jcc/SETcc/CMOVcc opcodes) against RFLAGS.
#[inline]
pub fn condition(cc: u8, rflags: u64) -> bool {
    let cf = rflags & CF != 0;
    let zf = rflags & ZF != 0;
    let sf = rflags & SF != 0;
    let of = rflags & OF != 0;
    let pf = rflags & PF != 0;
    let base = match cc >> 1 {
        0 => of,
        1 => cf,
        2 => zf,
        3 => cf || zf,
        4 => sf,
        5 => pf,
        6 => sf != of,
        _ => zf || sf != of,
    };
    base != (cc & 1 != 0)
}

/// Width of an operand in bits.
#[inline]
fn bits(bytes: usize) -> u32 {
    8 * bytes as u32
}

/// Bit `n` of `v` as a flag value (`flag` or 0).
#[inline]
fn bit_flag(v: u64, n: u32, flag: u64) -> u64 {
    if n < 64 && (v >> n) & 1 != 0 {
        flag
    } else {
        0
    }
}

/// SHL / SAL by `count` (already masked, non-zero). CF = the last bit shifted out (0 once `count` exceeds the width
/// of an 8- or 16-bit operand: the bit shifted out last is a shifted-in zero). OF = MSB(result) XOR CF for every
/// count (defined for 1; for larger counts it is the 1-bit rule applied to the final step, as Intel computes it).
/// AF is undefined: set, as a 386 does for any non-zero count (per test386.asm's notes; QEMU clears it instead).
#[inline]
pub fn shl(a: u64, count: u32, bytes: usize) -> (u64, u64) {
    let w = bits(bytes);
    let a = a & mask(bytes);
    let r = if count >= 64 {
        0
    } else {
        (a << count) & mask(bytes)
    };
    let cf = if count <= w {
        bit_flag(a, w - count, CF)
    } else {
        0
    };
    let of = if (r & sign_bit(bytes) != 0) != (cf != 0) {
        OF
    } else {
        0
    };
    (r, szp(r, bytes) | cf | of | AF)
}

/// SHR by `count` (masked, non-zero). CF = the last bit shifted out (0 past the width). OF = MSB of the value
/// before the final 1-bit step: MSB(original) for a count of 1, and 0 for larger counts. AF set (see [`shl`]).
#[inline]
pub fn shr(a: u64, count: u32, bytes: usize) -> (u64, u64) {
    let a = a & mask(bytes);
    let r = if count >= 64 { 0 } else { a >> count };
    let cf = bit_flag(a, count - 1, CF);
    let of = if count == 1 && a & sign_bit(bytes) != 0 {
        OF
    } else {
        0
    };
    (r, szp(r, bytes) | cf | of | AF)
}

/// SAR by `count` (masked, non-zero). CF = the last bit shifted out (the sign once the count reaches the width);
/// OF = 0 (defined for 1; a 1-bit arithmetic step never changes the sign). AF set (see [`shl`]).
#[inline]
pub fn sar(a: u64, count: u32, bytes: usize) -> (u64, u64) {
    let s = sign_extend(a, bytes) as i64;
    let r = (s >> count.min(63)) as u64 & mask(bytes);
    let cf = if (s >> (count - 1).min(63)) & 1 != 0 {
        CF
    } else {
        0
    };
    (r, szp(r, bytes) | cf | AF)
}

/// ROL by `count` (masked, non-zero; the rotation itself is modulo the width). Only CF and OF are meaningful:
/// CF = LSB(result); OF = MSB(result) XOR CF (defined for a count of 1, the same rule for larger counts).
#[inline]
pub fn rol(a: u64, count: u32, bytes: usize) -> (u64, u64) {
    let w = bits(bytes);
    let a = a & mask(bytes);
    let n = count % w;
    let r = if n == 0 {
        a
    } else {
        ((a << n) | (a >> (w - n))) & mask(bytes)
    };
    let cf = r & 1 != 0;
    let msb = r & sign_bit(bytes) != 0;
    (r, if cf { CF } else { 0 } | if msb != cf { OF } else { 0 })
}

/// ROR by `count` (masked, non-zero). Only CF and OF are meaningful: CF = MSB(result); OF = XOR of the two most
/// significant result bits (defined for a count of 1, the same rule for larger counts).
#[inline]
pub fn ror(a: u64, count: u32, bytes: usize) -> (u64, u64) {
    let w = bits(bytes);
    let a = a & mask(bytes);
    let n = count % w;
    let r = if n == 0 {
        a
    } else {
        ((a >> n) | (a << (w - n))) & mask(bytes)
    };
    (r, rotate_right_flags(r, bytes))
}

/// CF and OF after a right rotate: CF = MSB(result), OF = MSB(result) XOR the bit below it.
#[inline]
fn rotate_right_flags(r: u64, bytes: usize) -> u64 {
    let w = bits(bytes);
    let msb = (r >> (w - 1)) & 1;
    let next = (r >> (w - 2)) & 1;
    (if msb != 0 { CF } else { 0 }) | if msb != next { OF } else { 0 }
}

/// RCL by `count` (masked, non-zero): a rotate of the (width + 1)-bit value CF:operand, modulo width + 1. Only CF
/// and OF are meaningful: CF = the bit rotated into the carry; OF = MSB(result) XOR CF (defined for a count of 1,
/// the same rule otherwise, including a count that is a multiple of 9 or 17, where the value and CF are unchanged).
#[inline]
pub fn rcl(a: u64, count: u32, carry: bool, bytes: usize) -> (u64, u64) {
    let (r, cf) = rotate_through_carry(a, count, carry, bytes, true);
    let msb = r & sign_bit(bytes) != 0;
    (r, if cf { CF } else { 0 } | if msb != cf { OF } else { 0 })
}

/// Rotates the (width + 1)-bit value CF:operand by `count` modulo width + 1, left or right; returns the operand
/// part and the new carry.
#[inline]
fn rotate_through_carry(a: u64, count: u32, carry: bool, bytes: usize, left: bool) -> (u64, bool) {
    let w = bits(bytes);
    let n = count % (w + 1);
    let v = u128::from(carry) << w | u128::from(a & mask(bytes));
    let all = (1u128 << (w + 1)) - 1;
    let rot = match (n, left) {
        (0, _) => v,
        (_, true) => ((v << n) | (v >> (w + 1 - n))) & all,
        (_, false) => ((v >> n) | (v << (w + 1 - n))) & all,
    };
    (rot as u64 & mask(bytes), (rot >> w) & 1 != 0)
}

/// RCR by `count` (masked, non-zero), modulo width + 1. Only CF and OF are meaningful: CF = the bit rotated into
/// the carry; OF = XOR of the two most significant result bits, which for a count of 1 is the SDM's
/// MSB(original) XOR CF(original), and for larger counts the same rule applied to the final step.
#[inline]
pub fn rcr(a: u64, count: u32, carry: bool, bytes: usize) -> (u64, u64) {
    let (r, cf) = rotate_through_carry(a, count, carry, bytes, false);
    (
        r,
        if cf { CF } else { 0 } | (rotate_right_flags(r, bytes) & OF),
    )
}

/// SHLD by `count` (masked to 5 or 6 bits, non-zero): `dst` shifted left, filled from the top of `src`.
///
/// A 16-bit count above 16 is undefined; this follows P6 and later Intel parts, which shift the 48-bit
/// dst:src:dst left and keep the top 16 bits. CF = the last bit shifted out; OF = MSB(result) XOR CF (defined for
/// 1, the 1-bit rule on the final step otherwise); SF, ZF, PF from the result; AF (undefined) cleared.
#[inline]
pub fn shld(dst: u64, src: u64, count: u32, bytes: usize) -> (u64, u64) {
    let w = bits(bytes);
    let (d, s) = (u128::from(dst & mask(bytes)), u128::from(src & mask(bytes)));
    // 48- or 96-bit dst:src:dst for 16/32-bit operands, 128-bit dst:src for 64-bit ones (count < 64 there).
    let (v, total) = if w <= 32 {
        (d << (2 * w) | s << w | d, 3 * w)
    } else {
        (d << 64 | s, 128)
    };
    let r = ((v << count) >> (total - w)) as u64 & mask(bytes);
    let cf = (v >> (total - count)) & 1 != 0;
    let msb = r & sign_bit(bytes) != 0;
    (
        r,
        szp(r, bytes) | if cf { CF } else { 0 } | if msb != cf { OF } else { 0 },
    )
}

/// SHRD by `count` (masked, non-zero): `dst` shifted right, filled from the bottom of `src`.
///
/// A 16-bit count above 16 is undefined; as for [`shld`], the 48-bit dst:src:dst is shifted right and the low 16
/// bits kept. CF = the last bit shifted out; OF = XOR of the two most significant result bits (the sign change of
/// the final 1-bit step); SF, ZF, PF from the result; AF (undefined) cleared.
#[inline]
pub fn shrd(dst: u64, src: u64, count: u32, bytes: usize) -> (u64, u64) {
    let w = bits(bytes);
    let (d, s) = (u128::from(dst & mask(bytes)), u128::from(src & mask(bytes)));
    let v = if w <= 32 {
        d << (2 * w) | s << w | d
    } else {
        s << 64 | d
    };
    let r = (v >> count) as u64 & mask(bytes);
    let cf = if (v >> (count - 1)) & 1 != 0 { CF } else { 0 };
    (r, szp(r, bytes) | cf | (rotate_right_flags(r, bytes) & OF))
}

/// Sign-extends the low `bytes` bytes of `v`.
#[inline]
fn sign_extend(v: u64, bytes: usize) -> u64 {
    let shift = 64 - bits(bytes);
    (((v << shift) as i64) >> shift) as u64
}

/// DAA on AL with the incoming CF and AF (SDM pseudo-code). Returns the new AL and all six flags: CF and AF as
/// documented, SF/ZF/PF from AL; OF (undefined) is the signed overflow of the adjusting addition (AL went from
/// positive to negative), which is what the adder produces.
#[inline]
pub fn daa(al: u8, cf: bool, af: bool) -> (u8, u64) {
    let mut r = al;
    let mut f = 0;
    if al & 0x0F > 9 || af {
        r = r.wrapping_add(6);
        f |= AF;
    }
    if al > 0x99 || cf {
        r = r.wrapping_add(0x60);
        f |= CF;
    }
    if al & 0x80 == 0 && r & 0x80 != 0 {
        f |= OF;
    }
    (r, f | szp(u64::from(r), 1))
}

/// DAS on AL with the incoming CF and AF (SDM pseudo-code: a borrow out of the low adjustment sets CF too). OF
/// (undefined) is the signed overflow of the adjusting subtraction (AL went from negative to positive).
#[inline]
pub fn das(al: u8, cf: bool, af: bool) -> (u8, u64) {
    let mut r = al;
    let mut f = 0;
    if al & 0x0F > 9 || af {
        r = r.wrapping_sub(6);
        f |= AF;
        if cf || al < 6 {
            f |= CF;
        }
    }
    if al > 0x99 || cf {
        r = r.wrapping_sub(0x60);
        f |= CF;
    }
    if al & 0x80 != 0 && r & 0x80 == 0 {
        f |= OF;
    }
    (r, f | szp(u64::from(r), 1))
}

/// AAA (`subtract == false`) or AAS on AX with the incoming AF. Returns the new AX and all six flags: CF = AF =
/// whether an adjustment happened; the undefined SF, ZF, PF follow the final (masked) AL as Intel hardware sets
/// them, so SF is always clear; OF (undefined) is cleared.
#[inline]
pub fn aaa_aas(ax: u16, af: bool, subtract: bool) -> (u16, u64) {
    let adjust = ax & 0x0F > 9 || af;
    let mut r = ax;
    if adjust {
        // AX ± 6 carries or borrows into AH, then AH ± 1.
        r = if subtract {
            r.wrapping_sub(6).wrapping_sub(0x100)
        } else {
            r.wrapping_add(0x106)
        };
    }
    r &= 0xFF0F;
    let f = szp(u64::from(r & 0xFF), 1) | if adjust { CF | AF } else { 0 };
    (r, f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_sets_carry_overflow_aux_exactly() {
        assert_eq!(add(0xFF, 1, false, 1), (0, CF | ZF | PF | AF));
        assert_eq!(add(0x7F, 1, false, 1), (0x80, OF | SF | AF));
        assert_eq!(add(0xFFFF_FFFF, 0, true, 4), (0, CF | ZF | PF | AF));
        assert_eq!(add(0x8000, 0x8000, false, 2), (0, CF | OF | ZF | PF));
        assert_eq!(add(u64::MAX, 1, false, 8), (0, CF | ZF | PF | AF));
    }

    #[test]
    fn sub_sets_borrow_and_signed_overflow() {
        assert_eq!(sub(0, 1, false, 1), (0xFF, CF | SF | PF | AF));
        assert_eq!(sub(0x80, 1, false, 1), (0x7F, OF | AF));
        assert_eq!(sub(5, 5, false, 4), (0, ZF | PF));
        assert_eq!(sub(0, 0, true, 2), (0xFFFF, CF | SF | PF | AF));
        assert_eq!(sub(0xFF, 0xFF, true, 1), (0xFF, CF | SF | PF | AF));
    }

    #[test]
    fn inc_dec_never_report_carry() {
        assert_eq!(inc(0xFF, 1), (0, ZF | PF | AF));
        assert_eq!(dec(0, 2), (0xFFFF, SF | PF | AF));
        assert_eq!(inc(0x7FFF_FFFF, 4).1 & OF, OF);
    }

    #[test]
    fn parity_counts_only_the_low_byte() {
        assert_eq!(szp(0x0103, 2) & PF, PF);
        assert_eq!(szp(0x0101, 2) & PF, 0);
    }

    #[test]
    fn condition_codes_follow_the_opcode_table() {
        assert!(condition(0x4, ZF)); // E
        assert!(!condition(0x5, ZF)); // NE
        assert!(condition(0xC, SF)); // L: SF != OF
        assert!(!condition(0xC, SF | OF));
        assert!(condition(0x6, CF)); // BE
        assert!(condition(0xF, 0)); // G
        assert!(!condition(0xF, ZF));
    }
}
