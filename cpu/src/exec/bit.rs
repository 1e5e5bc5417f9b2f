//! Bit instructions: BT/BTS/BTR/BTC, BSF/BSR, SETcc and CMOVcc.

use crate::alu;
use crate::bus::Bus;
use crate::fault::Fault;
use crate::flags::{CF, ZF};
use crate::interp::operands::{mask, sign_extend};
use crate::Cpu;
use iced_x86::{Instruction, Mnemonic as M, OpKind};

impl Cpu {
    pub(super) fn exec_bit<B: Bus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        match i.mnemonic() {
            M::Bt | M::Bts | M::Btr | M::Btc => self.bit_test(bus, i),
            M::Bsf | M::Bsr => {
                // The source is zero: ZF = 1 and the destination is left unchanged (what Intel hardware does; the
                // SDM calls it undefined). CF, OF, SF, AF and PF are undefined: left unchanged.
                let size = Self::op_size(i, 0);
                let src = self.read_op(bus, i, 1, size)?;
                if src == 0 {
                    self.state.rflags |= ZF;
                    return Ok(());
                }
                let index = if i.mnemonic() == M::Bsf {
                    src.trailing_zeros()
                } else {
                    63 - src.leading_zeros()
                };
                self.set_reg(i.op0_register(), u64::from(index));
                self.state.rflags &= !ZF;
                Ok(())
            }
            _ => {
                // iced's ConditionCode counts from `None` = 0, so `cc - 1` is the opcode's low nibble.
                let cc = (i.condition_code() as u8).wrapping_sub(1);
                if cc > 0xF {
                    return Err(self.unimplemented(i));
                }
                let taken = alu::condition(cc, self.state.rflags);
                if i.op_count() == 1 {
                    return self.write_op(bus, i, 0, 1, u64::from(taken));
                }
                // CMOVcc reads its source even when the condition is false (a memory source can fault).
                let size = Self::op_size(i, 0);
                let src = self.read_op(bus, i, 1, size)?;
                let dst = i.op0_register();
                if taken {
                    self.set_reg(dst, src);
                } else if size == 4 && self.state.code_bitness() == 64 {
                    // A false 32-bit CMOV still writes (zero-extends) its destination in 64-bit mode only.
                    let old = self.reg(dst);
                    self.set_reg(dst, old);
                }
                Ok(())
            }
        }
    }

    /// BT/BTS/BTR/BTC. CF = the selected bit; ZF unchanged; OF, SF, AF and PF are undefined and left unchanged.
    ///
    /// An immediate offset, or any offset into a register, is taken modulo the operand width. A register offset into
    /// a memory operand is a signed bit index from the operand's address: it selects the word, dword or qword at
    /// `address + (offset >> log2(width)) * (width / 8)`.
    fn bit_test<B: Bus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let size = Self::op_size(i, 0);
        let width = 8 * size as u64;
        let offset = if i.op1_kind() == OpKind::Register {
            self.reg(i.op1_register())
        } else {
            i.immediate8().into()
        };
        let bit = offset & (width - 1);
        let location = if i.op0_kind() == OpKind::Memory && i.op1_kind() == OpKind::Register {
            let index = (sign_extend(offset, size) as i64) >> width.trailing_zeros();
            let ea = self
                .effective_address(i)
                .wrapping_add((index as u64).wrapping_mul(size as u64));
            Some(ea & mask(Self::address_size(i)))
        } else if i.op0_kind() == OpKind::Memory {
            Some(self.effective_address(i))
        } else {
            None
        };
        let seg = Self::memory_segment(i);
        let value = match location {
            Some(ea) => self.read_mem(bus, seg, ea, size)?,
            None => self.reg(i.op0_register()),
        };
        let set = (value >> bit) & 1 != 0;
        let new = match i.mnemonic() {
            M::Bts => Some(value | 1 << bit),
            M::Btr => Some(value & !(1 << bit)),
            M::Btc => Some(value ^ 1 << bit),
            _ => None,
        };
        if let Some(new) = new {
            match location {
                Some(ea) => self.write_mem(bus, seg, ea, size, new)?,
                None => self.set_reg(i.op0_register(), new),
            }
        }
        self.set_flags(if set { CF } else { 0 }, CF);
        Ok(())
    }
}
