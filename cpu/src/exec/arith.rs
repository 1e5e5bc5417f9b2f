//! Integer arithmetic: ADD/ADC/SUB/SBB/CMP, INC/DEC/NEG, MUL/IMUL/DIV/IDIV, XADD, CMPXCHG and CMPXCHG8B.

use crate::alu;
use crate::bus::Bus;
use crate::fault::Fault;
use crate::flags::{ARITH, CF, OF, ZF};
use crate::interp::operands::{mask, sign_extend};
use crate::Cpu;
use iced_x86::{Instruction, Mnemonic as M, OpKind, Register};

impl Cpu {
    pub(super) fn exec_arith<B: Bus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        match i.mnemonic() {
            M::Add | M::Adc | M::Sub | M::Sbb | M::Cmp => {
                let size = Self::op_size(i, 0);
                let a = self.read_op(bus, i, 0, size)?;
                let b = sign_extend(
                    self.read_op(bus, i, 1, Self::op_size(i, 1))?,
                    Self::op_size(i, 1),
                ) & mask(size);
                let carry = self.state.rflags & CF != 0;
                let (r, f) = match i.mnemonic() {
                    M::Add => alu::add(a, b, false, size),
                    M::Adc => alu::add(a, b, carry, size),
                    M::Sub | M::Cmp => alu::sub(a, b, false, size),
                    _ => alu::sub(a, b, carry, size),
                };
                if i.mnemonic() != M::Cmp {
                    self.write_op(bus, i, 0, size, r)?;
                }
                self.set_flags(f, ARITH);
                Ok(())
            }
            M::Inc | M::Dec => {
                let size = Self::op_size(i, 0);
                let a = self.read_op(bus, i, 0, size)?;
                let (r, f) = if i.mnemonic() == M::Inc {
                    alu::inc(a, size)
                } else {
                    alu::dec(a, size)
                };
                self.write_op(bus, i, 0, size, r)?;
                self.set_flags(f, ARITH & !CF);
                Ok(())
            }
            M::Neg => {
                let size = Self::op_size(i, 0);
                let a = self.read_op(bus, i, 0, size)?;
                let (r, f) = alu::sub(0, a, false, size);
                self.write_op(bus, i, 0, size, r)?;
                self.set_flags(f, ARITH);
                Ok(())
            }
            M::Mul | M::Imul if i.op_count() == 1 => self.mul_accumulator(bus, i),
            M::Imul => {
                let size = Self::op_size(i, 0);
                let (a, b) = if i.op_count() == 3 {
                    (self.read_op(bus, i, 1, size)?, i.immediate(2))
                } else {
                    (
                        self.read_op(bus, i, 0, size)?,
                        self.read_op(bus, i, 1, size)?,
                    )
                };
                let product = i128::from(sign_extend(a, size) as i64)
                    * i128::from(sign_extend(b, size) as i64);
                let r = (product as u64) & mask(size);
                let overflow = i128::from(sign_extend(r, size) as i64) != product;
                self.set_reg(i.op0_register(), r);
                self.set_mul_flags(r, size, overflow);
                Ok(())
            }
            M::Div | M::Idiv => self.divide(bus, i),
            M::Xadd => {
                let size = Self::op_size(i, 0);
                let dst = self.read_op(bus, i, 0, size)?;
                let src = self.read_op(bus, i, 1, size)?;
                let (sum, f) = alu::add(dst, src, false, size);
                // SRC <- DEST, then DEST <- SUM (so XADD r, r leaves the sum). A memory destination is written
                // first, so a fault there changes no register.
                if i.op0_kind() == OpKind::Memory {
                    self.write_op(bus, i, 0, size, sum)?;
                    self.write_op(bus, i, 1, size, dst)?;
                } else {
                    self.write_op(bus, i, 1, size, dst)?;
                    self.write_op(bus, i, 0, size, sum)?;
                }
                self.set_flags(f, ARITH);
                Ok(())
            }
            M::Cmpxchg => {
                let size = Self::op_size(i, 0);
                let dst = self.read_op(bus, i, 0, size)?;
                let acc = self.state.gpr[0] & mask(size);
                let (_, f) = alu::sub(acc, dst, false, size);
                if acc == dst {
                    let src = self.read_op(bus, i, 1, size)?;
                    self.write_op(bus, i, 0, size, src)?;
                } else {
                    // The destination is written back even when unequal (a locked read-modify-write).
                    if i.op0_kind() == OpKind::Memory {
                        self.write_op(bus, i, 0, size, dst)?;
                    }
                    let acc_reg = match size {
                        1 => Register::AL,
                        2 => Register::AX,
                        4 => Register::EAX,
                        _ => Register::RAX,
                    };
                    self.set_reg(acc_reg, dst);
                }
                self.set_flags(f, ARITH);
                Ok(())
            }
            M::Cmpxchg16b => {
                let ea = self.effective_address(i);
                if ea & 0xF != 0 {
                    return Err(Fault::GeneralProtection(0));
                }
                let seg = Self::memory_segment(i);
                let low = self.read_mem(bus, seg, ea, 8)?;
                let high = self.read_mem(bus, seg, ea.wrapping_add(8), 8)?;
                let (rax, rdx) = (self.state.gpr[0], self.state.gpr[2]);
                if low == rax && high == rdx {
                    let (rbx, rcx) = (self.state.gpr[3], self.state.gpr[1]);
                    self.write_mem(bus, seg, ea, 8, rbx)?;
                    self.write_mem(bus, seg, ea.wrapping_add(8), 8, rcx)?;
                    self.state.rflags |= ZF;
                } else {
                    self.write_mem(bus, seg, ea, 8, low)?;
                    self.write_mem(bus, seg, ea.wrapping_add(8), 8, high)?;
                    self.state.gpr[0] = low;
                    self.state.gpr[2] = high;
                    self.state.rflags &= !ZF;
                }
                Ok(())
            }
            M::Cmpxchg8b => {
                let ea = self.effective_address(i);
                let seg = Self::memory_segment(i);
                let current = self.read_mem(bus, seg, ea, 8)?;
                let expected =
                    (self.state.gpr[2] & 0xFFFF_FFFF) << 32 | (self.state.gpr[0] & 0xFFFF_FFFF);
                if current == expected {
                    let new =
                        (self.state.gpr[1] & 0xFFFF_FFFF) << 32 | (self.state.gpr[3] & 0xFFFF_FFFF);
                    self.write_mem(bus, seg, ea, 8, new)?;
                    self.state.rflags |= ZF;
                } else {
                    self.write_mem(bus, seg, ea, 8, current)?;
                    self.set_reg(Register::EAX, current & 0xFFFF_FFFF);
                    self.set_reg(Register::EDX, current >> 32);
                    self.state.rflags &= !ZF;
                }
                Ok(())
            }
            _ => Err(self.unimplemented(i)),
        }
    }

    /// CF = OF = overflow; SF, ZF, PF from the low half (what Intel hardware leaves), AF clear.
    fn set_mul_flags(&mut self, low: u64, size: usize, overflow: bool) {
        let mut f = alu::szp(low, size);
        if overflow {
            f |= CF | OF;
        }
        self.set_flags(f, ARITH);
    }

    /// One-operand MUL/IMUL: AL/AX/EAX times the operand into AX, DX:AX or EDX:EAX.
    fn mul_accumulator<B: Bus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let size = Self::op_size(i, 0);
        let src = self.read_op(bus, i, 0, size)?;
        let acc = self.state.gpr[0] & mask(size);
        let signed = i.mnemonic() == M::Imul;
        let product: u128 = if signed {
            (i128::from(sign_extend(acc, size) as i64) * i128::from(sign_extend(src, size) as i64))
                as u128
        } else {
            u128::from(acc) * u128::from(src)
        };
        let bits = 8 * size as u32;
        let low = (product as u64) & mask(size);
        let high = ((product >> bits) as u64) & mask(size);
        let overflow = if signed {
            sign_extend(low, size) as i64 as i128 != product as i128
        } else {
            high != 0
        };
        match size {
            1 => self.set_reg(Register::AX, (high << 8) | low),
            2 => {
                self.set_reg(Register::AX, low);
                self.set_reg(Register::DX, high);
            }
            4 => {
                self.set_reg(Register::EAX, low);
                self.set_reg(Register::EDX, high);
            }
            _ => {
                self.set_reg(Register::RAX, low);
                self.set_reg(Register::RDX, high);
            }
        }
        self.set_mul_flags(low, size, overflow);
        Ok(())
    }

    /// DIV/IDIV of AX, DX:AX or EDX:EAX by the operand; #DE on a zero divisor or a quotient that does not fit.
    fn divide<B: Bus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let size = Self::op_size(i, 0);
        let divisor = self.read_op(bus, i, 0, size)?;
        if divisor == 0 {
            return Err(Fault::DivideError);
        }
        let bits = 8 * size as u32;
        let dividend: u128 = match size {
            1 => u128::from(self.state.gpr[0] & 0xFFFF),
            8 => u128::from(self.state.gpr[2]) << 64 | u128::from(self.state.gpr[0]),
            _ => {
                u128::from(self.state.gpr[2] & mask(size)) << bits
                    | u128::from(self.state.gpr[0] & mask(size))
            }
        };
        let (quotient, remainder) = if i.mnemonic() == M::Div {
            let q = dividend / u128::from(divisor);
            if q > u128::from(mask(size)) {
                return Err(Fault::DivideError);
            }
            (q as u64, (dividend % u128::from(divisor)) as u64)
        } else {
            let shift = 128 - 2 * bits;
            let n = ((dividend << shift) as i128) >> shift;
            let d = i128::from(sign_extend(divisor, size) as i64);
            let q = n.checked_div(d).ok_or(Fault::DivideError)?;
            let limit = 1i128 << (bits - 1);
            if q >= limit || q < -limit {
                return Err(Fault::DivideError);
            }
            ((q as u64) & mask(size), ((n % d) as u64) & mask(size))
        };
        match size {
            1 => self.set_reg(Register::AX, (remainder << 8) | quotient),
            2 => {
                self.set_reg(Register::AX, quotient);
                self.set_reg(Register::DX, remainder);
            }
            4 => {
                self.set_reg(Register::EAX, quotient);
                self.set_reg(Register::EDX, remainder);
            }
            _ => {
                self.set_reg(Register::RAX, quotient);
                self.set_reg(Register::RDX, remainder);
            }
        }
        Ok(())
    }
}
