//! Fast paths for the hottest instruction forms, classified once when a block is decoded.
//!
//! The generic handlers decode operand kinds on every execution; the forms here (register and immediate ALU
//! operations, INC/DEC, Jcc, register moves, PUSH/POP of a register) are common enough in real code that resolving
//! their operands at decode time pays. Each fast form computes exactly what its generic handler computes, through
//! the same `alu` functions. `tests/fast_paths.rs` runs random sequences of these forms both ways (blocks with fast
//! paths, and single steps through the generic handlers) and compares the final state.

use crate::alu;
use crate::flags::{ARITH, CF};
use crate::interp::operands::mask;
use crate::Cpu;
use iced_x86::{ConditionCode, Instruction, Mnemonic as M, OpKind, Register};

/// A two-operand ALU operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AluOp {
    /// ADD.
    Add,
    /// ADC.
    Adc,
    /// SUB.
    Sub,
    /// SBB.
    Sbb,
    /// CMP (SUB without writing).
    Cmp,
    /// AND.
    And,
    /// OR.
    Or,
    /// XOR.
    Xor,
    /// TEST (AND without writing).
    Test,
}

/// A pre-resolved instruction form; `Generic` means "use the ordinary handler".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fast {
    /// No fast path.
    Generic,
    /// ALU op between two registers of `size` bytes (16 or 32 bit), by GPR index.
    AluRegReg {
        op: AluOp,
        dst: u8,
        src: u8,
        size: u8,
    },
    /// ALU op of a register with an immediate (already sign-extended to the operand size).
    AluRegImm {
        op: AluOp,
        dst: u8,
        imm: u32,
        size: u8,
    },
    /// INC or DEC of a register.
    IncDec { inc: bool, reg: u8, size: u8 },
    /// Conditional near jump (condition-code nibble), target from the instruction.
    Jcc { cc: u8 },
    /// MOV between registers.
    MovRegReg { dst: u8, src: u8, size: u8 },
    /// MOV of an immediate into a register.
    MovRegImm { dst: u8, imm: u32, size: u8 },
}

/// GPR index of a 16- or 32-bit register, if it is one.
fn wide_gpr(r: Register) -> Option<(u8, u8)> {
    if r.is_gpr32() {
        Some((r.number() as u8, 4))
    } else if r.is_gpr16() {
        Some((r.number() as u8, 2))
    } else {
        None
    }
}

fn alu_op(m: M) -> Option<AluOp> {
    Some(match m {
        M::Add => AluOp::Add,
        M::Adc => AluOp::Adc,
        M::Sub => AluOp::Sub,
        M::Sbb => AluOp::Sbb,
        M::Cmp => AluOp::Cmp,
        M::And => AluOp::And,
        M::Or => AluOp::Or,
        M::Xor => AluOp::Xor,
        M::Test => AluOp::Test,
        _ => return None,
    })
}

/// Classifies an instruction for the fast paths.
pub fn classify(i: &Instruction) -> Fast {
    let m = i.mnemonic();
    let reg0 = if i.op_count() >= 1 && i.op0_kind() == OpKind::Register {
        wide_gpr(i.op0_register())
    } else {
        None
    };
    let imm1 = matches!(
        i.op1_kind(),
        OpKind::Immediate8to16 | OpKind::Immediate8to32 | OpKind::Immediate16 | OpKind::Immediate32
    );
    if let Some(op) = alu_op(m) {
        if let (Some((dst, size)), 2) = (reg0, i.op_count()) {
            if i.op1_kind() == OpKind::Register {
                if let Some((src, s2)) = wide_gpr(i.op1_register()) {
                    if s2 == size {
                        return Fast::AluRegReg { op, dst, src, size };
                    }
                }
            } else if imm1 {
                return Fast::AluRegImm {
                    op,
                    dst,
                    imm: i.immediate(1) as u32,
                    size,
                };
            }
        }
        return Fast::Generic;
    }
    match m {
        M::Inc | M::Dec => match reg0 {
            Some((reg, size)) if i.op_count() == 1 => Fast::IncDec {
                inc: m == M::Inc,
                reg,
                size,
            },
            _ => Fast::Generic,
        },
        M::Mov => match (reg0, i.op_count()) {
            (Some((dst, size)), 2) if i.op1_kind() == OpKind::Register => {
                match wide_gpr(i.op1_register()) {
                    Some((src, s2)) if s2 == size => Fast::MovRegReg { dst, src, size },
                    _ => Fast::Generic,
                }
            }
            (Some((dst, size)), 2) if imm1 => Fast::MovRegImm {
                dst,
                imm: i.immediate(1) as u32,
                size,
            },
            _ => Fast::Generic,
        },
        _ if i.condition_code() != ConditionCode::None
            && matches!(i.op0_kind(), OpKind::NearBranch16 | OpKind::NearBranch32)
            && !matches!(m, M::Loop | M::Loope | M::Loopne | M::Jcxz | M::Jecxz) =>
        {
            Fast::Jcc {
                cc: i.condition_code() as u8 - 1,
            }
        }
        _ => Fast::Generic,
    }
}

impl Cpu {
    #[inline]
    fn gpr_part(&self, index: u8, size: u8) -> u64 {
        self.state.gpr[index as usize] & mask(size as usize)
    }

    #[inline]
    fn set_gpr_part(&mut self, index: u8, size: u8, value: u64) {
        let slot = &mut self.state.gpr[index as usize];
        *slot = if size == 4 {
            value & 0xFFFF_FFFF
        } else {
            (*slot & !0xFFFF) | (value & 0xFFFF)
        };
    }

    #[inline]
    fn alu(&mut self, op: AluOp, dst: u8, b: u64, size: u8) {
        let bytes = size as usize;
        let a = self.gpr_part(dst, size);
        let carry = self.state.rflags & CF != 0;
        let (r, f) = match op {
            AluOp::Add => alu::add(a, b, false, bytes),
            AluOp::Adc => alu::add(a, b, carry, bytes),
            AluOp::Sub | AluOp::Cmp => alu::sub(a, b, false, bytes),
            AluOp::Sbb => alu::sub(a, b, carry, bytes),
            AluOp::And | AluOp::Test => alu::logic(a & b, bytes),
            AluOp::Or => alu::logic(a | b, bytes),
            AluOp::Xor => alu::logic(a ^ b, bytes),
        };
        if !matches!(op, AluOp::Cmp | AluOp::Test) {
            self.set_gpr_part(dst, size, r);
        }
        self.set_flags(f, ARITH);
    }

    /// Executes a pre-resolved fast form. None of these can fault, except a Jcc to beyond the CS limit, which is
    /// left to the generic path (the return value says whether the instruction was handled).
    #[inline]
    pub(crate) fn execute_fast(&mut self, fast: Fast, i: &Instruction) -> bool {
        match fast {
            Fast::Generic => return false,
            Fast::AluRegReg { op, dst, src, size } => {
                let b = self.gpr_part(src, size);
                self.alu(op, dst, b, size);
            }
            Fast::AluRegImm { op, dst, imm, size } => {
                self.alu(op, dst, u64::from(imm) & mask(size as usize), size)
            }
            Fast::IncDec { inc, reg, size } => {
                let a = self.gpr_part(reg, size);
                let (r, f) = if inc {
                    alu::inc(a, size as usize)
                } else {
                    alu::dec(a, size as usize)
                };
                self.set_gpr_part(reg, size, r);
                self.set_flags(f, ARITH & !CF);
            }
            Fast::Jcc { cc } => {
                if alu::condition(cc, self.state.rflags) {
                    let target = i.near_branch_target();
                    if target > u64::from(self.state.seg(crate::state::SegReg::Cs).limit) {
                        return false;
                    }
                    self.state.rip = target;
                }
            }
            Fast::MovRegReg { dst, src, size } => {
                let v = self.gpr_part(src, size);
                self.set_gpr_part(dst, size, v);
            }
            Fast::MovRegImm { dst, imm, size } => self.set_gpr_part(dst, size, u64::from(imm)),
        }
        true
    }
}
