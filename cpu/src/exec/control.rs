//! Near control transfers: Jcc, JMP, CALL, RET, LOOP/JCXZ, software interrupts (INT n, INT3, INTO, INT1) and
//! BOUND. Far forms of JMP and CALL are routed to `far.rs`.

use crate::alu;
use crate::bus::Bus;
use crate::fault::Fault;
use crate::flags::OF;
use crate::interp::operands::{mask, sign_extend};
use crate::interrupts::Source;
use crate::Cpu;
use iced_x86::{ConditionCode, Instruction, Mnemonic as M, OpKind, Register};

impl Cpu {
    pub(super) fn exec_control<B: Bus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Result<(), Fault> {
        match i.mnemonic() {
            M::Jmp | M::Call if is_far(i) => self.exec_far(bus, i),
            M::Jmp => {
                let target = self.near_target(bus, i)?;
                self.jump_near(target)
            }
            M::Call => {
                let target = self.near_target(bus, i)?;
                let size = operand_bytes(i);
                let ret = self.state.rip;
                self.check_near_target(target)?;
                self.push(bus, size, ret)?;
                self.state.rip = target & mask(size);
                Ok(())
            }
            M::Ret => {
                let size = operand_bytes(i);
                let target = self.peek_stack(bus, 0, size)?;
                self.check_near_target(target)?;
                let extra = if i.op_count() == 1 { i.immediate(0) } else { 0 };
                self.adjust_sp(size as u64 + extra);
                self.state.rip = target;
                Ok(())
            }
            M::Loop | M::Loope | M::Loopne | M::Jcxz | M::Jecxz | M::Jrcxz => {
                let count_reg = match i.mnemonic() {
                    M::Jrcxz => Register::RCX,
                    M::Jecxz => Register::ECX,
                    M::Jcxz => Register::CX,
                    _ if counter_is_cx(i) => Register::CX,
                    _ if counter_is_rcx(i) => Register::RCX,
                    _ => Register::ECX,
                };
                let zf = self.state.rflags & crate::flags::ZF != 0;
                let taken = match i.mnemonic() {
                    M::Jcxz | M::Jecxz | M::Jrcxz => self.reg(count_reg) == 0,
                    m => {
                        let count = self.reg(count_reg).wrapping_sub(1) & mask(count_reg.size());
                        self.set_reg(count_reg, count);
                        count != 0 && (m == M::Loop || (m == M::Loope) == zf)
                    }
                };
                if taken {
                    self.jump_near(i.near_branch_target())?;
                }
                Ok(())
            }
            M::Int => self.software_interrupt(bus, i.immediate8(), true),
            M::Int3 => self.software_interrupt(bus, 3, false),
            M::Into => {
                if self.state.rflags & OF != 0 {
                    self.software_interrupt(bus, 4, false)?;
                }
                Ok(())
            }
            // ICEBP raises #DB like a hardware debug exception (no gate DPL check, EXT set in error codes), as a
            // trap after the instruction, leaving DR6 alone.
            M::Int1 => self.deliver(bus, 1, None, Source::Exception),
            M::Bound => {
                let size = i.op0_register().size();
                let index = sign_extend(self.reg(i.op0_register()), size) as i64;
                let ea = self.effective_address(i);
                let seg = Self::memory_segment(i);
                let lower = sign_extend(self.read_mem(bus, seg, ea, size)?, size) as i64;
                let upper_at = ea.wrapping_add(size as u64) & mask(Self::address_size(i));
                let upper = sign_extend(self.read_mem(bus, seg, upper_at, size)?, size) as i64;
                if index < lower || index > upper {
                    return Err(Fault::BoundRange);
                }
                Ok(())
            }
            _ => {
                let cc = i.condition_code();
                if cc != ConditionCode::None && alu::condition(cc as u8 - 1, self.state.rflags) {
                    self.jump_near(i.near_branch_target())?;
                }
                Ok(())
            }
        }
    }

    /// Target of a near JMP/CALL: relative (already absolute from the decoder) or indirect through a register or
    /// memory.
    fn near_target<B: Bus>(&mut self, bus: &mut B, i: &Instruction) -> Result<u64, Fault> {
        match i.op0_kind() {
            OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64 => {
                Ok(i.near_branch_target())
            }
            _ => {
                let size = operand_bytes(i);
                self.read_op(bus, i, 0, size)
            }
        }
    }

    /// A near target must lie within the CS limit (#GP(0) otherwise).
    fn check_near_target(&self, target: u64) -> Result<(), Fault> {
        let cs = *self.state.seg(crate::state::SegReg::Cs);
        if !self.target_in_segment(&cs, target) {
            return Err(Fault::GeneralProtection(0));
        }
        Ok(())
    }

    fn jump_near(&mut self, target: u64) -> Result<(), Fault> {
        self.check_near_target(target)?;
        self.state.rip = target;
        Ok(())
    }
}

/// Whether a JMP/CALL is a far transfer (direct ptr16:16/32 or indirect m16:16/32).
pub(crate) fn is_far(i: &Instruction) -> bool {
    matches!(i.op0_kind(), OpKind::FarBranch16 | OpKind::FarBranch32)
        || (i.op0_kind() == OpKind::Memory
            && matches!(
                i.memory_size(),
                iced_x86::MemorySize::SegPtr16
                    | iced_x86::MemorySize::SegPtr32
                    | iced_x86::MemorySize::SegPtr64
            ))
}

/// Operand size of a near branch, call or return in bytes.
fn operand_bytes(i: &Instruction) -> usize {
    if i.mnemonic() == M::Ret {
        return match i.code() {
            iced_x86::Code::Retnw | iced_x86::Code::Retnw_imm16 => 2,
            iced_x86::Code::Retnq | iced_x86::Code::Retnq_imm16 => 8,
            _ => 4,
        };
    }
    match i.op0_kind() {
        OpKind::NearBranch16 => 2,
        OpKind::NearBranch32 => 4,
        OpKind::NearBranch64 => 8,
        OpKind::Register => i.op0_register().size(),
        OpKind::Memory => i.memory_size().size(),
        _ => match i.stack_pointer_increment().unsigned_abs() {
            2 => 2,
            8 => 8,
            _ => 4,
        },
    }
}

/// LOOP's counter is RCX under a 64-bit address size.
fn counter_is_rcx(i: &Instruction) -> bool {
    matches!(
        i.code(),
        iced_x86::Code::Loop_rel8_16_RCX
            | iced_x86::Code::Loop_rel8_64_RCX
            | iced_x86::Code::Loope_rel8_16_RCX
            | iced_x86::Code::Loope_rel8_64_RCX
            | iced_x86::Code::Loopne_rel8_16_RCX
            | iced_x86::Code::Loopne_rel8_64_RCX
    )
}

/// LOOP's counter is CX under a 16-bit address size.
fn counter_is_cx(i: &Instruction) -> bool {
    matches!(
        i.code(),
        iced_x86::Code::Loop_rel8_16_CX
            | iced_x86::Code::Loop_rel8_32_CX
            | iced_x86::Code::Loope_rel8_16_CX
            | iced_x86::Code::Loope_rel8_32_CX
            | iced_x86::Code::Loopne_rel8_16_CX
            | iced_x86::Code::Loopne_rel8_32_CX
    )
}
