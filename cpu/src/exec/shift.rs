//! Shifts and rotates: SHL/SAL, SHR, SAR, ROL, ROR, RCL, RCR, SHLD, SHRD.
//!
//! The count (an imm8, CL, or the implicit 1 that iced reports as an Immediate8 of value 1) is masked to 5 bits, or
//! 6 for 64-bit operands. A masked count of 0 changes neither the operand nor any flag; the destination is still
//! read (a memory operand can fault) but not written. The flag rules, including the choices for undefined flags,
//! live in [`alu`] beside each operation.

use crate::alu;
use crate::bus::Bus;
use crate::fault::Fault;
use crate::flags::{ARITH, CF, OF};
use crate::Cpu;
use iced_x86::{Instruction, Mnemonic as M};

impl Cpu {
    pub(super) fn exec_shift<B: Bus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let size = Self::op_size(i, 0);
        let count_mask = if size == 8 { 0x3F } else { 0x1F };
        let double = matches!(i.mnemonic(), M::Shld | M::Shrd);
        let count_op = if double { 2 } else { 1 };
        let count = (self.read_op(bus, i, count_op, 1)? & count_mask) as u32;
        let value = self.read_op(bus, i, 0, size)?;
        if count == 0 {
            // Flags and value stay, but a 32-bit register is still written, so its upper half is cleared (as the
            // host CPU does).
            if size == 4 && i.op0_kind() == iced_x86::OpKind::Register {
                self.write_op(bus, i, 0, 4, value)?;
            }
            return Ok(());
        }
        let carry = self.state.rflags & CF != 0;
        let (result, flags, which) = match i.mnemonic() {
            M::Shl | M::Sal => with(alu::shl(value, count, size), ARITH),
            M::Shr => with(alu::shr(value, count, size), ARITH),
            M::Sar => with(alu::sar(value, count, size), ARITH),
            M::Rol => with(alu::rol(value, count, size), CF | OF),
            M::Ror => with(alu::ror(value, count, size), CF | OF),
            M::Rcl => with(alu::rcl(value, count, carry, size), CF | OF),
            M::Rcr => with(alu::rcr(value, count, carry, size), CF | OF),
            M::Shld | M::Shrd => {
                let src = self.reg(i.op1_register());
                let op = if i.mnemonic() == M::Shld {
                    alu::shld
                } else {
                    alu::shrd
                };
                with(op(value, src, count, size), ARITH)
            }
            _ => return Err(self.unimplemented(i)),
        };
        self.write_op(bus, i, 0, size, result)?;
        self.set_flags(flags, which);
        Ok(())
    }
}

/// Pairs an ALU result with the flags it defines.
#[inline]
fn with((result, flags): (u64, u64), which: u64) -> (u64, u64, u64) {
    (result, flags, which)
}
