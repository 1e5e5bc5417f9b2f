//! Fast paths for the hottest instruction forms, classified once when a block is decoded.
//!
//! The generic handlers decode operand kinds on every execution; the forms here (register, immediate and memory
//! ALU operations, INC/DEC, Jcc, moves, PUSH/POP of a register, near CALL/RET) are common enough in real code that resolving
//! their operands at decode time pays. Each fast form computes exactly what its generic handler computes, through
//! the same `alu` functions. `tests/fast_paths.rs` runs random sequences of these forms both ways (blocks with fast
//! paths, and single steps through the generic handlers) and compares the final state.

use crate::alu;
use crate::bus::Bus;
use crate::fault::Fault;
use crate::flags::{ARITH, CF};
use crate::interp::operands::mask;
use crate::state::SegReg;
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
    /// MOV from a memory operand into a register.
    Load { dst: u8, size: u8 },
    /// MOV of a register to a memory operand.
    Store { src: u8, size: u8 },
    /// ALU op of a register with a memory source operand.
    AluRegMem { op: AluOp, dst: u8, size: u8 },
    /// PUSH of a 32- or 64-bit register onto a stack of the same width.
    PushReg { src: u8, size: u8 },
    /// POP into a 32- or 64-bit register (not the stack pointer) from a stack of the same width.
    PopReg { dst: u8, size: u8 },
    /// Near relative CALL with a return address of `size` bytes.
    CallRel { size: u8 },
    /// Near RET without an immediate, popping `size` bytes.
    Ret { size: u8 },
    /// SHL/SHR/SAR of a register by an immediate count (already masked, non-zero).
    ShiftImm {
        kind: ShiftKind,
        reg: u8,
        count: u8,
        size: u8,
    },
    /// MOVZX from a register (any width, AH..BH included).
    MovzxReg { dst: u8, size: u8, src: Register },
    /// MOVZX from memory of `src_size` bytes.
    MovzxLoad { dst: u8, size: u8, src_size: u8 },
    /// LEA into a register.
    Lea { dst: u8, size: u8 },
}

/// The shifts that have a fast form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShiftKind {
    /// SHL/SAL.
    Shl,
    /// SHR.
    Shr,
    /// SAR.
    Sar,
}

/// GPR index and size of a 16-, 32- or 64-bit register, if it is one.
fn wide_gpr(r: Register) -> Option<(u8, u8)> {
    if r.is_gpr64() {
        Some((r.number() as u8, 8))
    } else if r.is_gpr32() {
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
    let mem1 = i.op_count() == 2 && i.op1_kind() == OpKind::Memory;
    let mem0 = i.op_count() == 2 && i.op0_kind() == OpKind::Memory;
    match m {
        M::Mov if mem1 => match reg0 {
            Some((dst, size)) if i.memory_size().size() == size as usize => {
                Fast::Load { dst, size }
            }
            _ => Fast::Generic,
        },
        M::Mov if mem0 && i.op1_kind() == OpKind::Register => match wide_gpr(i.op1_register()) {
            Some((src, size)) if i.memory_size().size() == size as usize => {
                Fast::Store { src, size }
            }
            _ => Fast::Generic,
        },
        M::Push if i.op0_kind() == OpKind::Register => match wide_gpr(i.op0_register()) {
            Some((src, size)) if size >= 4 => Fast::PushReg { src, size },
            _ => Fast::Generic,
        },
        M::Pop if i.op0_kind() == OpKind::Register => match wide_gpr(i.op0_register()) {
            Some((dst, size)) if size >= 4 && dst != 4 => Fast::PopReg { dst, size },
            _ => Fast::Generic,
        },
        M::Call if i.op0_kind() == OpKind::NearBranch32 => Fast::CallRel { size: 4 },
        M::Call if i.op0_kind() == OpKind::NearBranch64 => Fast::CallRel { size: 8 },
        M::Ret if i.code() == iced_x86::Code::Retnd => Fast::Ret { size: 4 },
        M::Ret if i.code() == iced_x86::Code::Retnq => Fast::Ret { size: 8 },
        M::Shl | M::Sal | M::Shr | M::Sar
            if i.op_count() == 2 && i.op1_kind() == OpKind::Immediate8 =>
        {
            let kind = match m {
                M::Shr => ShiftKind::Shr,
                M::Sar => ShiftKind::Sar,
                _ => ShiftKind::Shl,
            };
            match reg0 {
                Some((reg, size)) => {
                    let count = i.immediate8() & if size == 8 { 0x3F } else { 0x1F };
                    if count == 0 {
                        Fast::Generic
                    } else {
                        Fast::ShiftImm {
                            kind,
                            reg,
                            count,
                            size,
                        }
                    }
                }
                None => Fast::Generic,
            }
        }
        M::Movzx => match (reg0, i.op1_kind()) {
            (Some((dst, size)), OpKind::Register) => Fast::MovzxReg {
                dst,
                size,
                src: i.op1_register(),
            },
            (Some((dst, size)), OpKind::Memory) => Fast::MovzxLoad {
                dst,
                size,
                src_size: i.memory_size().size() as u8,
            },
            _ => Fast::Generic,
        },
        M::Lea => match reg0 {
            Some((dst, size)) => Fast::Lea { dst, size },
            None => Fast::Generic,
        },
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
            && matches!(
                i.op0_kind(),
                OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64
            )
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
    #[inline(always)]
    fn gpr_part(&self, index: u8, size: u8) -> u64 {
        self.state.gpr[index as usize] & mask(size as usize)
    }

    #[inline(always)]
    fn set_gpr_part(&mut self, index: u8, size: u8, value: u64) {
        let slot = &mut self.state.gpr[index as usize];
        *slot = match size {
            8 => value,
            4 => value & 0xFFFF_FFFF,
            _ => (*slot & !0xFFFF) | (value & 0xFFFF),
        };
    }

    #[inline(always)]
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

    /// Executes a pre-resolved fast form: `None` when the generic handler must run it (no fast form, or a case the
    /// fast form leaves to it, such as a jump past the CS limit or a stack that is not 32-bit), else its result.
    #[inline]
    pub(crate) fn execute_fast<B: Bus>(
        &mut self,
        bus: &mut B,
        fast: Fast,
        i: &Instruction,
    ) -> Option<Result<(), Fault>> {
        match fast {
            Fast::Generic => return None,
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
                    let cs = *self.state.seg(SegReg::Cs);
                    if !self.target_in_segment(&cs, target) {
                        return None;
                    }
                    self.state.rip = target;
                }
            }
            Fast::MovRegReg { dst, src, size } => {
                let v = self.gpr_part(src, size);
                self.set_gpr_part(dst, size, v);
            }
            Fast::MovRegImm { dst, imm, size } => self.set_gpr_part(dst, size, u64::from(imm)),
            Fast::Load { dst, size } => {
                let ea = self.effective_address(i);
                match self.read_mem(bus, Self::memory_segment(i), ea, size as usize) {
                    Ok(v) => self.set_gpr_part(dst, size, v),
                    Err(f) => return Some(Err(f)),
                }
            }
            Fast::Store { src, size } => {
                let ea = self.effective_address(i);
                let v = self.gpr_part(src, size);
                return Some(self.write_mem(bus, Self::memory_segment(i), ea, size as usize, v));
            }
            Fast::AluRegMem { op, dst, size } => {
                let ea = self.effective_address(i);
                match self.read_mem(bus, Self::memory_segment(i), ea, size as usize) {
                    Ok(b) => self.alu(op, dst, b, size),
                    Err(f) => return Some(Err(f)),
                }
            }
            Fast::PushReg { src, size } => {
                if self.state.stack_bytes() != size as usize {
                    return None;
                }
                let v = self.gpr_part(src, size);
                return Some(self.push(bus, size as usize, v));
            }
            Fast::PopReg { dst, size } => {
                if self.state.stack_bytes() != size as usize {
                    return None;
                }
                match self.peek_stack(bus, 0, size as usize) {
                    Ok(v) => {
                        self.adjust_sp(u64::from(size));
                        self.set_gpr_part(dst, size, v);
                    }
                    Err(f) => return Some(Err(f)),
                }
            }
            Fast::CallRel { size } => {
                let target = i.near_branch_target();
                let cs = *self.state.seg(SegReg::Cs);
                if self.state.stack_bytes() != size as usize || !self.target_in_segment(&cs, target)
                {
                    return None;
                }
                let ret = self.state.rip;
                if let Err(f) = self.push(bus, size as usize, ret) {
                    return Some(Err(f));
                }
                self.state.rip = target;
            }
            Fast::Ret { size } => {
                if self.state.stack_bytes() != size as usize {
                    return None;
                }
                let cs = *self.state.seg(SegReg::Cs);
                match self.peek_stack(bus, 0, size as usize) {
                    Ok(target) if self.target_in_segment(&cs, target) => {
                        self.adjust_sp(u64::from(size));
                        self.state.rip = target;
                    }
                    Ok(_) => return None,
                    Err(f) => return Some(Err(f)),
                }
            }
            Fast::ShiftImm {
                kind,
                reg,
                count,
                size,
            } => {
                let a = self.gpr_part(reg, size);
                let (r, f) = match kind {
                    ShiftKind::Shl => alu::shl(a, u32::from(count), size as usize),
                    ShiftKind::Shr => alu::shr(a, u32::from(count), size as usize),
                    ShiftKind::Sar => alu::sar(a, u32::from(count), size as usize),
                };
                self.set_gpr_part(reg, size, r);
                self.set_flags(f, ARITH);
            }
            Fast::MovzxReg { dst, size, src } => {
                let v = self.reg(src);
                self.set_gpr_part(dst, size, v);
            }
            Fast::MovzxLoad {
                dst,
                size,
                src_size,
            } => {
                let ea = self.effective_address(i);
                match self.read_mem(bus, Self::memory_segment(i), ea, src_size as usize) {
                    Ok(v) => self.set_gpr_part(dst, size, v),
                    Err(f) => return Some(Err(f)),
                }
            }
            Fast::Lea { dst, size } => {
                let ea = self.effective_address(i);
                self.set_gpr_part(dst, size, ea);
            }
        }
        Some(Ok(()))
    }
}
