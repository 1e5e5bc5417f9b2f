//! x87 loads and stores: FLD/FST/FSTP (m32, m64, m80, ST(i)), FILD/FIST/FISTP/FISTTP (m16, m32, m64),
//! FBLD/FBSTP, the constants (FLD1, FLDZ, FLDPI, FLDL2E, FLDLN2, FLDL2T, FLDLG2), FXCH and FCMOVcc.

use super::{int_num, st_index, to_f80, INDEFINITE};
use crate::bus::Bus;
use crate::fault::Fault;
use crate::flags::{CF, PF, ZF};
use crate::fpu::soft::{self, Format, Num, Rounding};
use crate::fpu::{sw, F80};
use crate::Cpu;
use iced_x86::{Instruction, MemorySize as S, Mnemonic as M, OpKind};

/// A constant as (exponent, truncated 64-bit significand, whether round-to-nearest rounds it up); the significands
/// are the 66-bit internal constants the x87 rounds per RC.
fn constant(m: M) -> Option<(u16, u64, bool)> {
    Some(match m {
        M::Fld1 => (0x3FFF, 1 << 63, false),
        M::Fldz => (0, 0, false),
        M::Fldpi => (0x4000, 0xC90F_DAA2_2168_C234, true),
        M::Fldl2t => (0x4000, 0xD49A_784B_CD1B_8AFE, false),
        M::Fldl2e => (0x3FFF, 0xB8AA_3B29_5C17_F0BB, true),
        M::Fldlg2 => (0x3FFD, 0x9A20_9A84_FBCF_F798, true),
        M::Fldln2 => (0x3FFE, 0xB172_17F7_D1CF_79AB, true),
        _ => return None,
    })
}

/// Encodes an integer as 10-byte packed BCD (18 digits and a sign byte).
fn to_bcd(v: i64) -> [u8; 10] {
    let mut b = [0u8; 10];
    let mut a = v.unsigned_abs();
    for byte in b.iter_mut().take(9) {
        *byte = (a % 10) as u8 | (((a / 10) % 10) as u8) << 4;
        a /= 100;
    }
    b[9] = if v < 0 { 0x80 } else { 0 };
    b
}

fn from_bcd(b: &[u8; 10]) -> i64 {
    let v = b[..9].iter().rev().fold(0i64, |v, &x| {
        v * 100 + i64::from(x >> 4) * 10 + i64::from(x & 0xF)
    });
    if b[9] & 0x80 != 0 {
        -v
    } else {
        v
    }
}

impl Cpu {
    pub(super) fn x87_load_store<B: Bus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Option<Result<(), Fault>> {
        let m = i.mnemonic();
        if let Some((se, mant, nearest_up)) = constant(m) {
            let up = match Rounding::from_bits(u32::from(self.fpu.cw) >> 10) {
                Rounding::Nearest => nearest_up,
                Rounding::Up => m != M::Fld1 && m != M::Fldz,
                _ => false,
            };
            self.fpush(F80 {
                mant: mant + u64::from(up),
                se,
            });
            return Some(Ok(()));
        }
        Some(match m {
            M::Fld | M::Fild | M::Fbld => self.fld(bus, i),
            M::Fst | M::Fstp | M::Fist | M::Fistp | M::Fisttp | M::Fbstp => self.fst(bus, i),
            M::Fxch => {
                let j = st_index(i.op1_register());
                let (a, b) = (self.st(0), self.st(j));
                if (a.is_none() || b.is_none()) && !self.stack_underflow() {
                    return Some(Ok(()));
                }
                self.set_st(0, b.unwrap_or(INDEFINITE));
                self.set_st(j, a.unwrap_or(INDEFINITE));
                self.fpu.sw &= !sw::C1;
                Ok(())
            }
            M::Fcmovb
            | M::Fcmove
            | M::Fcmovbe
            | M::Fcmovu
            | M::Fcmovnb
            | M::Fcmovne
            | M::Fcmovnbe
            | M::Fcmovnu => {
                let f = self.state.rflags;
                let cond = match m {
                    M::Fcmovb => f & CF != 0,
                    M::Fcmove => f & ZF != 0,
                    M::Fcmovbe => f & (CF | ZF) != 0,
                    M::Fcmovu => f & PF != 0,
                    M::Fcmovnb => f & CF == 0,
                    M::Fcmovne => f & ZF == 0,
                    M::Fcmovnbe => f & (CF | ZF) == 0,
                    _ => f & PF == 0,
                };
                let j = st_index(i.op1_register());
                match (self.st(0), self.st(j)) {
                    (Some(_), Some(v)) => {
                        if cond {
                            self.set_st(0, v);
                        }
                    }
                    _ => {
                        if self.stack_underflow() {
                            self.set_st(0, INDEFINITE);
                        }
                    }
                }
                Ok(())
            }
            _ => return None,
        })
    }

    fn fld<B: Bus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let mut ctx = self.x87_ctx(false);
        let v = if i.op0_kind() == OpKind::Register {
            match self.st(st_index(i.op0_register())) {
                Some(v) => v,
                None => {
                    if self.stack_underflow() {
                        self.fpush(INDEFINITE);
                    }
                    return Ok(());
                }
            }
        } else {
            let (seg, ea) = (Self::memory_segment(i), self.effective_address(i));
            match i.memory_size() {
                S::Float80 => {
                    let mut b = [0u8; 10];
                    self.read_block(bus, seg, ea, &mut b)?;
                    F80::from_bytes(&b)
                }
                S::Bcd => {
                    let mut b = [0u8; 10];
                    self.read_block(bus, seg, ea, &mut b)?;
                    to_f80(int_num(from_bcd(&b)), &mut ctx)
                }
                _ => {
                    let n = self.x87_read_mem(bus, i, &mut ctx)?;
                    F80::from_bits(soft::convert(n, Format::F80, &mut ctx))
                }
            }
        };
        if !self.x87_post(ctx.flags) {
            return Ok(());
        }
        self.fpush(v);
        Ok(())
    }

    fn fst<B: Bus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let m = i.mnemonic();
        let pop = matches!(m, M::Fstp | M::Fistp | M::Fisttp | M::Fbstp);
        if i.op0_kind() == OpKind::Register {
            let j = st_index(i.op0_register());
            match self.st(0) {
                Some(v) => self.set_st(j, v),
                None => {
                    if !self.stack_underflow() {
                        return Ok(());
                    }
                    self.set_st(j, INDEFINITE);
                }
            }
            self.fpu.sw &= !sw::C1;
            if pop {
                self.fpop();
            }
            return Ok(());
        }
        let mut ctx = self.x87_ctx(false);
        let src = self.st(0);
        let empty = src.is_none();
        let flags;
        let size = i.memory_size();
        let bytes: Vec<u8> = match src {
            None => {
                flags = crate::fpu::soft::flag::IE;
                match size {
                    S::Float32 => (Format::F32.indefinite() as u32).to_le_bytes().to_vec(),
                    S::Float64 => (Format::F64.indefinite() as u64).to_le_bytes().to_vec(),
                    S::Float80 => INDEFINITE.to_bytes().to_vec(),
                    S::Int16 => 0x8000u16.to_le_bytes().to_vec(),
                    S::Int32 => 0x8000_0000u32.to_le_bytes().to_vec(),
                    S::Int64 => (1u64 << 63).to_le_bytes().to_vec(),
                    _ => [0, 0, 0, 0, 0, 0, 0, 0xC0, 0xFF, 0xFF].to_vec(),
                }
            }
            Some(v) => {
                let n = Num::unpack(v.to_bits(), Format::F80, &mut ctx);
                // Stores do not signal the denormal-operand exception.
                ctx.flags &= !crate::fpu::soft::flag::DE;
                let rc = if m == M::Fisttp {
                    Rounding::Zero
                } else {
                    ctx.rc
                };
                let out = match size {
                    S::Float32 => (soft::convert(n, Format::F32, &mut ctx) as u32)
                        .to_le_bytes()
                        .to_vec(),
                    S::Float64 => (soft::convert(n, Format::F64, &mut ctx) as u64)
                        .to_le_bytes()
                        .to_vec(),
                    S::Float80 => v.to_bytes().to_vec(),
                    S::Int16 => (soft::to_int(n, 16, rc, &mut ctx) as u16)
                        .to_le_bytes()
                        .to_vec(),
                    S::Int32 => (soft::to_int(n, 32, rc, &mut ctx) as u32)
                        .to_le_bytes()
                        .to_vec(),
                    S::Int64 => (soft::to_int(n, 64, rc, &mut ctx) as u64)
                        .to_le_bytes()
                        .to_vec(),
                    _ => {
                        let r = soft::to_int(n, 64, rc, &mut ctx);
                        if r.unsigned_abs() > 999_999_999_999_999_999 {
                            ctx.flags |= crate::fpu::soft::flag::IE;
                            [0, 0, 0, 0, 0, 0, 0, 0xC0, 0xFF, 0xFF].to_vec()
                        } else {
                            to_bcd(r).to_vec()
                        }
                    }
                };
                flags = ctx.flags;
                out
            }
        };
        // An unmasked exception other than PE leaves memory unchanged.
        let unmasked = flags as u16 & !self.fpu.cw & 0x1F;
        if unmasked == 0 {
            let (seg, ea) = (Self::memory_segment(i), self.effective_address(i));
            self.write_block(bus, seg, ea, &bytes)?;
        }
        if empty {
            self.fpu.sw = (self.fpu.sw | sw::SF) & !sw::C1;
        } else {
            self.set_c1(ctx.rounded_up);
        }
        self.x87_post(flags);
        if pop && unmasked == 0 {
            self.fpop();
        }
        Ok(())
    }
}
