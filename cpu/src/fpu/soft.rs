//! A small IEEE 754 soft-float core shared by the x87 unit (80-bit extended, with precision control) and SSE
//! (single and double precision): unpacking, exactly rounded add/sub/mul/div/sqrt, conversions and compares, with
//! the x86 rules for NaN propagation, the default "indefinite" NaN, tininess after rounding, DAZ and FTZ.
//!
//! Every operation computes the exact result (or enough of it: a 128-bit significand with a sticky bit) and rounds
//! once in [`round_pack`], so results are bit-exact for all four rounding modes.

use core::cmp::Ordering;

/// Exception flags, in the bit positions of both the x87 status word and MXCSR.
pub mod flag {
    /// Invalid operation.
    pub const IE: u32 = 1 << 0;
    /// Denormal operand.
    pub const DE: u32 = 1 << 1;
    /// Divide by zero.
    pub const ZE: u32 = 1 << 2;
    /// Overflow.
    pub const OE: u32 = 1 << 3;
    /// Underflow.
    pub const UE: u32 = 1 << 4;
    /// Precision (inexact result).
    pub const PE: u32 = 1 << 5;
}

/// Rounding mode, in the encoding of x87 CW.RC and MXCSR.RC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rounding {
    /// Round to nearest, ties to even.
    Nearest,
    /// Toward negative infinity.
    Down,
    /// Toward positive infinity.
    Up,
    /// Toward zero (truncate).
    Zero,
}

impl Rounding {
    /// The mode a two-bit RC field selects.
    pub fn from_bits(rc: u32) -> Rounding {
        match rc & 3 {
            0 => Rounding::Nearest,
            1 => Rounding::Down,
            2 => Rounding::Up,
            _ => Rounding::Zero,
        }
    }
}

/// A binary floating-point interchange format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Format {
    /// Width of the biased exponent.
    pub exp_bits: u32,
    /// Fraction bits after the binary point.
    pub frac_bits: u32,
    /// Whether the integer bit is stored (x87 extended) rather than implied.
    pub explicit: bool,
}

impl Format {
    /// IEEE single precision.
    pub const F32: Format = Format {
        exp_bits: 8,
        frac_bits: 23,
        explicit: false,
    };
    /// IEEE double precision.
    pub const F64: Format = Format {
        exp_bits: 11,
        frac_bits: 52,
        explicit: false,
    };
    /// x87 double-extended precision (80 bits, explicit integer bit).
    pub const F80: Format = Format {
        exp_bits: 15,
        frac_bits: 63,
        explicit: true,
    };

    fn bias(self) -> i32 {
        (1 << (self.exp_bits - 1)) - 1
    }

    fn max_e(self) -> u32 {
        (1 << self.exp_bits) - 1
    }

    /// Width of the stored significand field (fraction plus an explicit integer bit).
    fn field_bits(self) -> u32 {
        self.frac_bits + u32::from(self.explicit)
    }

    fn sign_shift(self) -> u32 {
        self.exp_bits + self.field_bits()
    }

    fn encode(self, sign: bool, biased: u32, field: u128) -> u128 {
        let field = if self.explicit {
            field
        } else {
            field & ((1u128 << self.frac_bits) - 1)
        };
        (u128::from(sign) << self.sign_shift()) | (u128::from(biased) << self.field_bits()) | field
    }

    /// Signed zero.
    pub fn zero(self, sign: bool) -> u128 {
        self.encode(sign, 0, 0)
    }

    /// Signed infinity.
    pub fn inf(self, sign: bool) -> u128 {
        let field = if self.explicit { 1u128 << 63 } else { 0 };
        self.encode(sign, self.max_e(), field)
    }

    /// The default QNaN ("real indefinite"): negative, only the quiet bit set.
    pub fn indefinite(self) -> u128 {
        Num::indefinite().pack_special(self)
    }

    /// The sign bit of an encoded value.
    pub fn sign(self, bits: u128) -> bool {
        (bits >> self.sign_shift()) & 1 != 0
    }
}

/// Rounding and exception context of one operation.
#[derive(Clone, Copy, Debug)]
pub struct Ctx {
    /// Rounding mode.
    pub rc: Rounding,
    /// Significand bits to round to (x87 precision control: 24, 53 or 64), further limited by the format.
    pub prec: u32,
    /// Flush tiny results to zero (MXCSR.FTZ with underflow masked).
    pub ftz: bool,
    /// Treat denormal inputs as zero (MXCSR.DAZ).
    pub daz: bool,
    /// Underflow unmasked: tiny results signal UE even when exact.
    pub underflow_unmasked: bool,
    /// Exception flags raised so far.
    pub flags: u32,
    /// The last rounding increased the magnitude (x87 C1).
    pub rounded_up: bool,
}

impl Ctx {
    /// A context with full precision, no DAZ/FTZ and no flags.
    pub fn new(rc: Rounding) -> Ctx {
        Ctx {
            rc,
            prec: 64,
            ftz: false,
            daz: false,
            underflow_unmasked: false,
            flags: 0,
            rounded_up: false,
        }
    }
}

/// Class of an unpacked value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// ±0 (also a denormal under DAZ).
    Zero,
    /// A finite nonzero value (denormals are normalised).
    Normal,
    /// ±infinity.
    Inf,
    /// Quiet NaN.
    QNan,
    /// Signalling NaN (also unsupported x87 encodings).
    SNan,
}

/// An unpacked value: for `Normal`, `sig * 2^(exp - 63)` with bit 63 of `sig` set; for NaNs, `sig` holds the
/// payload left-justified as in the x87 format (integer bit 63, quiet bit 62).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Num {
    /// Class.
    pub class: Class,
    /// Sign (true = negative).
    pub sign: bool,
    /// Unbiased exponent of bit 63 of `sig`.
    pub exp: i32,
    /// Significand.
    pub sig: u64,
}

const QUIET: u64 = 1 << 62;
const INT_BIT: u64 = 1 << 63;

impl Num {
    /// The default NaN.
    pub fn indefinite() -> Num {
        Num {
            class: Class::QNan,
            sign: true,
            exp: 0,
            sig: INT_BIT | QUIET,
        }
    }

    /// A signed zero.
    pub fn zero(sign: bool) -> Num {
        Num {
            class: Class::Zero,
            sign,
            exp: 0,
            sig: 0,
        }
    }

    /// Whether this is a NaN of either kind.
    pub fn is_nan(&self) -> bool {
        matches!(self.class, Class::QNan | Class::SNan)
    }

    /// Decodes `bits` in `fmt`; a denormal raises DE (or reads as zero under DAZ).
    pub fn unpack(bits: u128, fmt: Format, ctx: &mut Ctx) -> Num {
        let sign = fmt.sign(bits);
        let biased = ((bits >> fmt.field_bits()) as u32) & fmt.max_e();
        let field = bits & ((1u128 << fmt.field_bits()) - 1);
        let frac = (field & ((1u128 << fmt.frac_bits) - 1)) as u64;
        let frac_left = frac << (63 - fmt.frac_bits);
        let int_bit = !fmt.explicit || (field >> 63) & 1 != 0;
        let mut n = Num {
            class: Class::Normal,
            sign,
            exp: 0,
            sig: 0,
        };
        if biased == fmt.max_e() {
            if !int_bit {
                // Pseudo-infinity / pseudo-NaN: unsupported, invalid as an operand.
                n.class = Class::SNan;
                n.sig = INT_BIT;
            } else if frac == 0 {
                n.class = Class::Inf;
            } else {
                n.sig = INT_BIT | frac_left;
                n.class = if n.sig & QUIET != 0 {
                    Class::QNan
                } else {
                    Class::SNan
                };
            }
        } else if biased == 0 {
            let m = if fmt.explicit { field as u64 } else { frac };
            if m == 0 || ctx.daz {
                n.class = Class::Zero;
            } else {
                ctx.flags |= flag::DE;
                let sig = if fmt.explicit { m } else { frac_left };
                let lz = sig.leading_zeros();
                n.sig = sig << lz;
                n.exp = 1 - fmt.bias() - lz as i32;
            }
        } else if !int_bit {
            // Unnormal: unsupported.
            n.class = Class::SNan;
            n.sig = INT_BIT;
        } else {
            n.sig = INT_BIT | frac_left;
            n.exp = biased as i32 - fmt.bias();
        }
        n
    }

    /// Encodes a zero, infinity or NaN exactly (NaN payloads truncated to the format).
    fn pack_special(self, fmt: Format) -> u128 {
        match self.class {
            Class::Zero => fmt.zero(self.sign),
            Class::Inf => fmt.inf(self.sign),
            _ => {
                let field = if fmt.explicit {
                    u128::from(self.sig)
                } else {
                    u128::from((self.sig & !INT_BIT) >> (63 - fmt.frac_bits))
                };
                fmt.encode(self.sign, fmt.max_e(), field)
            }
        }
    }

    /// Encodes in `fmt`, rounding a finite value per `ctx`.
    pub fn pack(self, fmt: Format, ctx: &mut Ctx) -> u128 {
        if self.class == Class::Normal {
            round_pack(self.sign, self.exp, u128::from(self.sig) << 64, fmt, ctx)
        } else {
            self.pack_special(fmt)
        }
    }

    fn quieted(mut self) -> Num {
        self.class = Class::QNan;
        self.sig |= QUIET | INT_BIT;
        self
    }
}

/// Which NaN an operation with two NaN operands returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NanRule {
    /// SSE: the first source operand if it is a NaN, else the second.
    First,
    /// x87: a QNaN over an SNaN, else the one with the larger significand.
    Larger,
}

/// If an operand is a NaN, the (quieted) NaN the operation returns; IE when one is signalling.
fn propagate(a: &Num, b: &Num, rule: NanRule, ctx: &mut Ctx) -> Option<Num> {
    if !a.is_nan() && !b.is_nan() {
        return None;
    }
    if a.class == Class::SNan || b.class == Class::SNan {
        ctx.flags |= flag::IE;
    }
    let pick = if a.is_nan() && b.is_nan() {
        match rule {
            NanRule::First => a,
            NanRule::Larger if a.class != b.class => {
                if a.class == Class::QNan {
                    a
                } else {
                    b
                }
            }
            NanRule::Larger => {
                if (b.sig | QUIET) > (a.sig | QUIET) {
                    b
                } else {
                    a
                }
            }
        }
    } else if a.is_nan() {
        a
    } else {
        b
    };
    Some(pick.quieted())
}

/// One operand NaN check (unary operations).
pub fn propagate1(a: &Num, ctx: &mut Ctx) -> Option<Num> {
    propagate(a, a, NanRule::First, ctx)
}

fn invalid(ctx: &mut Ctx) -> Num {
    ctx.flags |= flag::IE;
    Num::indefinite()
}

/// Shifts `s` right by `shift` bits, rounding per `rc`: (quotient, inexact, rounded up in magnitude).
pub fn round_shift(s: u128, shift: u64, sign: bool, rc: Rounding) -> (u128, bool, bool) {
    if shift == 0 {
        return (s, false, false);
    }
    let (q, half_cmp, inexact) = if shift > 128 {
        (0, Ordering::Less, s != 0)
    } else if shift == 128 {
        (0, s.cmp(&(1u128 << 127)), s != 0)
    } else {
        let rem = s & ((1u128 << shift) - 1);
        (s >> shift, rem.cmp(&(1u128 << (shift - 1))), rem != 0)
    };
    let up = inexact
        && match rc {
            Rounding::Nearest => {
                half_cmp == Ordering::Greater || (half_cmp == Ordering::Equal && q & 1 == 1)
            }
            Rounding::Zero => false,
            Rounding::Down => sign,
            Rounding::Up => !sign,
        };
    (q + u128::from(up), inexact, up)
}

/// Rounds the exact value `(-1)^sign * s * 2^(x - 127)` (sticky bits folded into bit 0 of `s`) to `fmt` with
/// `ctx`'s precision and rounding, raising OE/UE/PE; tininess is detected after rounding, as x86 does.
pub fn round_pack(sign: bool, x: i32, s: u128, fmt: Format, ctx: &mut Ctx) -> u128 {
    ctx.rounded_up = false;
    if s == 0 {
        return fmt.zero(sign);
    }
    let lz = s.leading_zeros();
    let s = s << lz;
    let e = x - lz as i32;
    let p = ctx.prec.min(fmt.frac_bits + 1);
    let align = fmt.frac_bits + 1 - p;
    let biased = e + fmt.bias();
    if biased >= 1 {
        let (mut q, inexact, up) = round_shift(s, u64::from(128 - p), sign, ctx.rc);
        let mut biased = biased as u32;
        if q >> p != 0 {
            q >>= 1;
            biased += 1;
        }
        if biased >= fmt.max_e() {
            ctx.flags |= flag::OE | flag::PE;
            let to_inf = match ctx.rc {
                Rounding::Nearest => true,
                Rounding::Zero => false,
                Rounding::Up => !sign,
                Rounding::Down => sign,
            };
            ctx.rounded_up = to_inf;
            if to_inf {
                return fmt.inf(sign);
            }
            return fmt.encode(sign, fmt.max_e() - 1, ((1u128 << p) - 1) << align);
        }
        if inexact {
            ctx.flags |= flag::PE;
            ctx.rounded_up = up;
        }
        return fmt.encode(sign, biased, q << align);
    }
    let (unbounded, _, _) = round_shift(s, u64::from(128 - p), sign, ctx.rc);
    let tiny = !(biased == 0 && unbounded >> p != 0);
    let shift = u64::from(128 - p) + (1 - i64::from(biased)) as u64;
    let (q, inexact, up) = round_shift(s, shift, sign, ctx.rc);
    if tiny && (inexact || ctx.underflow_unmasked) {
        ctx.flags |= flag::UE;
    }
    if inexact {
        ctx.flags |= flag::PE;
        ctx.rounded_up = up;
    }
    if ctx.ftz && tiny {
        ctx.flags |= flag::UE | flag::PE;
        ctx.rounded_up = false;
        return fmt.zero(sign);
    }
    let biased = u32::from(q >> (p - 1) != 0);
    fmt.encode(sign, biased, q << align)
}

/// `a + b` (or `a - b` when `negate_b`).
pub fn add(a: Num, b: Num, negate_b: bool, fmt: Format, rule: NanRule, ctx: &mut Ctx) -> u128 {
    if let Some(n) = propagate(&a, &b, rule, ctx) {
        return n.pack_special(fmt);
    }
    let mut b = b;
    b.sign ^= negate_b;
    match (a.class, b.class) {
        (Class::Inf, Class::Inf) if a.sign != b.sign => invalid(ctx).pack_special(fmt),
        (Class::Inf, _) => a.pack_special(fmt),
        (_, Class::Inf) => b.pack_special(fmt),
        (Class::Zero, Class::Zero) => {
            let sign = if a.sign == b.sign {
                a.sign
            } else {
                ctx.rc == Rounding::Down
            };
            fmt.zero(sign)
        }
        (Class::Zero, _) => b.pack(fmt, ctx),
        (_, Class::Zero) => a.pack(fmt, ctx),
        _ => {
            let (a, b) = if a.exp >= b.exp { (a, b) } else { (b, a) };
            let d = (a.exp - b.exp) as u32;
            let big = u128::from(a.sig) << 62;
            let small = u128::from(b.sig) << 62;
            let small = if d >= 128 {
                1
            } else {
                let lost = small & ((1u128 << d) - 1) != 0;
                (small >> d) | u128::from(lost)
            };
            let (sign, s) = if a.sign == b.sign {
                (a.sign, big + small)
            } else if big >= small {
                (a.sign, big - small)
            } else {
                (b.sign, small - big)
            };
            if s == 0 {
                return fmt.zero(ctx.rc == Rounding::Down);
            }
            round_pack(sign, a.exp + 2, s, fmt, ctx)
        }
    }
}

/// `a * b`.
pub fn mul(a: Num, b: Num, fmt: Format, rule: NanRule, ctx: &mut Ctx) -> u128 {
    if let Some(n) = propagate(&a, &b, rule, ctx) {
        return n.pack_special(fmt);
    }
    let sign = a.sign ^ b.sign;
    match (a.class, b.class) {
        (Class::Inf, Class::Zero) | (Class::Zero, Class::Inf) => invalid(ctx).pack_special(fmt),
        (Class::Inf, _) | (_, Class::Inf) => fmt.inf(sign),
        (Class::Zero, _) | (_, Class::Zero) => fmt.zero(sign),
        _ => {
            let p = u128::from(a.sig) * u128::from(b.sig);
            round_pack(sign, a.exp + b.exp + 1, p, fmt, ctx)
        }
    }
}

/// `a / b`.
pub fn div(a: Num, b: Num, fmt: Format, rule: NanRule, ctx: &mut Ctx) -> u128 {
    if let Some(n) = propagate(&a, &b, rule, ctx) {
        return n.pack_special(fmt);
    }
    let sign = a.sign ^ b.sign;
    match (a.class, b.class) {
        (Class::Inf, Class::Inf) | (Class::Zero, Class::Zero) => invalid(ctx).pack_special(fmt),
        (Class::Inf, _) => fmt.inf(sign),
        (_, Class::Inf) => fmt.zero(sign),
        (Class::Zero, _) => fmt.zero(sign),
        (_, Class::Zero) => {
            ctx.flags |= flag::ZE;
            fmt.inf(sign)
        }
        _ => {
            let n = u128::from(a.sig) << 64;
            let d = u128::from(b.sig);
            let (q1, r) = (n / d, n % d);
            let (q2, r2) = ((r << 2) / d, (r << 2) % d);
            let q = (q1 << 2) | q2 | u128::from(r2 != 0);
            round_pack(sign, a.exp - b.exp + 61, q, fmt, ctx)
        }
    }
}

/// Square root.
pub fn sqrt(a: Num, fmt: Format, ctx: &mut Ctx) -> u128 {
    if let Some(n) = propagate1(&a, ctx) {
        return n.pack_special(fmt);
    }
    match a.class {
        Class::Zero => fmt.zero(a.sign),
        _ if a.sign => invalid(ctx).pack_special(fmt),
        Class::Inf => fmt.inf(false),
        _ => {
            let m = a.exp - 63;
            let s = if (m - 64) % 2 == 0 { 64 } else { 63 };
            let n = u128::from(a.sig) << s;
            let r = n.isqrt();
            let rem = n - r * r;
            let round = rem > r;
            let q = (r << 2) | (u128::from(round) << 1) | u128::from(round || rem != 0);
            round_pack(false, (m - s) / 2 + 125, q, fmt, ctx)
        }
    }
}

/// Converts to another format (SNaN quietened with IE; finite values rounded).
pub fn convert(a: Num, fmt: Format, ctx: &mut Ctx) -> u128 {
    if let Some(n) = propagate1(&a, ctx) {
        return n.pack_special(fmt);
    }
    a.pack(fmt, ctx)
}

/// Converts to a signed integer of `bits` bits rounding per `rc`; NaN, infinity or out of range raise IE and give
/// the integer indefinite (only the sign bit set).
pub fn to_int(a: Num, bits: u32, rc: Rounding, ctx: &mut Ctx) -> i64 {
    let indefinite = i64::MIN >> (64 - bits);
    match a.class {
        Class::Zero => return 0,
        Class::Normal => {}
        _ => {
            ctx.flags |= flag::IE;
            return indefinite;
        }
    }
    if a.exp >= 64 {
        ctx.flags |= flag::IE;
        return indefinite;
    }
    let (q, inexact, _) = round_shift(u128::from(a.sig), (63 - a.exp.min(63)) as u64, a.sign, rc);
    let q = (q as i128) << (a.exp.max(63) - 63);
    let v = if a.sign { -q } else { q };
    let limit = 1i128 << (bits - 1);
    if v >= limit || v < -limit {
        ctx.flags |= flag::IE;
        return indefinite;
    }
    if inexact {
        ctx.flags |= flag::PE;
    }
    v as i64
}

/// Rounds to an integral value in the same format (FRNDINT).
pub fn round_int(a: Num, fmt: Format, rc: Rounding, ctx: &mut Ctx) -> u128 {
    if let Some(n) = propagate1(&a, ctx) {
        return n.pack_special(fmt);
    }
    if a.class != Class::Normal || a.exp >= 63 {
        return a.pack(fmt, ctx);
    }
    let (q, inexact, up) = round_shift(u128::from(a.sig), (63 - a.exp) as u64, a.sign, rc);
    if inexact {
        ctx.flags |= flag::PE;
        ctx.rounded_up = up;
    }
    if q == 0 {
        return fmt.zero(a.sign);
    }
    round_pack(a.sign, 127, q, fmt, ctx)
}

/// Converts a signed integer, rounding per `ctx`.
pub fn from_int(v: i64, fmt: Format, ctx: &mut Ctx) -> u128 {
    if v == 0 {
        return fmt.zero(false);
    }
    round_pack(v < 0, 127, u128::from(v.unsigned_abs()), fmt, ctx)
}

/// Compares two values (no flags): `None` when unordered; ±0 compare equal.
pub fn compare(a: &Num, b: &Num) -> Option<Ordering> {
    if a.is_nan() || b.is_nan() {
        return None;
    }
    let key = |n: &Num| -> (i32, i32, u64) {
        match n.class {
            Class::Zero => (0, 0, 0),
            Class::Inf => (1, i32::MAX, 0),
            _ => (1, n.exp, n.sig),
        }
    };
    let (ka, kb) = (key(a), key(b));
    if ka.0 == 0 && kb.0 == 0 {
        return Some(Ordering::Equal);
    }
    let sa = if ka.0 == 0 { b.sign } else { a.sign };
    let sb = if kb.0 == 0 { a.sign } else { b.sign };
    Some(match (sa, sb) {
        (false, true) => Ordering::Greater,
        (true, false) => Ordering::Less,
        (false, false) => ka.cmp(&kb),
        (true, true) => kb.cmp(&ka),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f64op(a: f64, b: f64, op: fn(Num, Num, Format, NanRule, &mut Ctx) -> u128) -> f64 {
        let mut c = Ctx::new(Rounding::Nearest);
        let x = Num::unpack(u128::from(a.to_bits()), Format::F64, &mut c);
        let y = Num::unpack(u128::from(b.to_bits()), Format::F64, &mut c);
        f64::from_bits(op(x, y, Format::F64, NanRule::First, &mut c) as u64)
    }

    #[test]
    fn matches_host_double_arithmetic() {
        let vals = [
            1.0,
            -3.5,
            0.1,
            1e300,
            -1e-300,
            4.9e-324,
            2.2250738585072014e-308,
            123456.789,
            -0.0,
            7.0 / 3.0,
        ];
        for &a in &vals {
            for &b in &vals {
                assert_eq!(f64op(a, b, mul).to_bits(), (a * b).to_bits(), "{a} * {b}");
                assert_eq!(f64op(a, b, div).to_bits(), (a / b).to_bits(), "{a} / {b}");
                let sum = f64op(a, b, |x, y, f, r, c| add(x, y, false, f, r, c));
                assert_eq!(sum.to_bits(), (a + b).to_bits(), "{a} + {b}");
                let diff = f64op(a, b, |x, y, f, r, c| add(x, y, true, f, r, c));
                assert_eq!(diff.to_bits(), (a - b).to_bits(), "{a} - {b}");
            }
            let mut c = Ctx::new(Rounding::Nearest);
            let x = Num::unpack(u128::from(a.to_bits()), Format::F64, &mut c);
            let r = f64::from_bits(sqrt(x, Format::F64, &mut c) as u64);
            assert_eq!(r.to_bits(), a.sqrt().to_bits(), "sqrt {a}");
        }
    }

    #[test]
    fn int_conversion_rounds_per_mode() {
        let mut c = Ctx::new(Rounding::Nearest);
        let x = Num::unpack(u128::from((-2.5f64).to_bits()), Format::F64, &mut c);
        assert_eq!(to_int(x, 32, Rounding::Nearest, &mut c), -2);
        assert_eq!(to_int(x, 32, Rounding::Down, &mut c), -3);
        assert_eq!(to_int(x, 32, Rounding::Up, &mut c), -2);
        assert_eq!(to_int(x, 32, Rounding::Zero, &mut c), -2);
        let big = Num::unpack(u128::from(3e9f64.to_bits()), Format::F64, &mut c);
        assert_eq!(
            to_int(big, 32, Rounding::Nearest, &mut c),
            i64::from(i32::MIN)
        );
        assert_eq!(to_int(big, 64, Rounding::Nearest, &mut c), 3_000_000_000);
    }
}
