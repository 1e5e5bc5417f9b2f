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
    if (r as u8).count_ones() % 2 == 0 {
        f |= PF;
    }
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
    let wide = u128::from(a & m) + u128::from(b & m) + u128::from(carry);
    let r = (wide as u64) & m;
    let mut f = szp(r, bytes);
    if wide > u128::from(m) {
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
    if u128::from(a) < u128::from(b) + u128::from(borrow) {
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
