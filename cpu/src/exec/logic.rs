//! Bitwise logic: AND, OR, XOR, NOT and TEST.

use crate::alu;
use crate::bus::Bus;
use crate::fault::Fault;
use crate::flags::ARITH;
use crate::interp::operands::{mask, sign_extend};
use crate::Cpu;
use iced_x86::{Instruction, Mnemonic as M};

impl Cpu {
    pub(super) fn exec_logic<B: Bus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let size = Self::op_size(i, 0);
        let a = self.read_op(bus, i, 0, size)?;
        if i.mnemonic() == M::Not {
            return self.write_op(bus, i, 0, size, !a & mask(size));
        }
        let b = sign_extend(
            self.read_op(bus, i, 1, Self::op_size(i, 1))?,
            Self::op_size(i, 1),
        ) & mask(size);
        let r = match i.mnemonic() {
            M::And | M::Test => a & b,
            M::Or => a | b,
            _ => a ^ b,
        };
        let (r, f) = alu::logic(r, size);
        if i.mnemonic() != M::Test {
            self.write_op(bus, i, 0, size, r)?;
        }
        self.set_flags(f, ARITH);
        Ok(())
    }
}
