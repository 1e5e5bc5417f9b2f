//! Rebuilding a self-loop's flags instead of saving them: before its check instruction, a pass of a self-loop
//! needs the guest's flags only if one of its memory accesses misses the TLB (a fault must see them), yet each
//! access's lookup clobbers the host's flags, so every pass used to save them (LAHF, SETO and a store, and RAX
//! parked meanwhile) before its first lookup.
//!
//! Until its first instruction that touches the flags, a pass holds the flags of the last flag writer of the pass
//! before ([`Remat`]), or, on the first pass, those the block was entered with (still in the context). When that writer is a CMP, TEST, ADD or SUB of registers the window leaves alone, a slow path can
//! run it again on the values in `CpuState` and save what it sets ([`BlockEmitter::emit_remat`]); the main path
//! saves nothing. The first pass is told apart by the budget: the budget register equals the context's budget
//! until a back edge charges the next pass (and a step path, which stores the budget, also saves the flags).
//! On this host the saves cost the decompressor's loops about 2% of its time.

use super::{gpr_slot, BlockEmitter};
use crate::ctx::offsets as ctx;
use crate::plan::Plan;
use crate::regs::{self, RegSet};
use crate::Site;
use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi};
use iced_x86::{Mnemonic, OpKind};

/// How to rebuild the flags a self-loop's pass starts with: run `op dst, src` again (at `size` bytes) on the
/// values in `CpuState`, the destination first set back for an ADD or SUB.
#[derive(Clone, Copy, Debug)]
pub(super) struct Remat {
    op: Op,
    /// 4 or 8.
    size: u32,
    dst: u8,
    src: Src,
    /// The loop's budget register.
    budget: u8,
    /// The first site of the pass that touches the flags (or is not run natively): the last whose lookup may
    /// leave the flags to be rebuilt.
    pub(super) end: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Cmp,
    Test,
    Add,
    Sub,
}

#[derive(Clone, Copy, Debug)]
enum Src {
    Reg(u8),
    Imm(i32),
}

/// How the flags a pass of the self-loop (`sites`, `plans`; budget register `budget`) starts with can be
/// rebuilt, if they can: the pass's last flag writer is a CMP, TEST, ADD or SUB of 32 or 64 bits whose registers
/// (other than RSP) nothing after it in the pass writes, nor anything before the pass's first site that touches the
/// flags (that site's own lookups come before its writes).
pub(super) fn remat_recipe(sites: &[Site], plans: &[Plan], budget: u8) -> Option<Remat> {
    let body = plans.len().checked_sub(1)?;
    let end = (0..body)
        .find(|&k| !matches!(&plans[k], Plan::Native(n) if !n.needs_flags && !n.writes_flags))?;
    let last = (0..body).rev().find(|&k| match &plans[k] {
        Plan::Native(n) => n.writes_flags,
        _ => true,
    })?;
    let Plan::Native(n) = &plans[last] else {
        return None;
    };
    if n.memory.is_some() || n.lea {
        return None;
    }
    let i = &sites[last].instr;
    let op = match i.mnemonic() {
        Mnemonic::Cmp => Op::Cmp,
        Mnemonic::Test => Op::Test,
        Mnemonic::Add => Op::Add,
        Mnemonic::Sub => Op::Sub,
        _ => return None,
    };
    if i.op0_kind() != OpKind::Register || !i.op0_register().is_gpr() {
        return None;
    }
    let size = i.op0_register().size() as u32;
    if size != 4 && size != 8 {
        return None;
    }
    let dst = regs::number(i.op0_register());
    let src = match i.op1_kind() {
        OpKind::Register if i.op1_register().is_gpr() => Src::Reg(regs::number(i.op1_register())),
        // Its low 32 bits: a 64-bit operation sign-extends them again.
        OpKind::Immediate8to32
        | OpKind::Immediate8to64
        | OpKind::Immediate32
        | OpKind::Immediate32to64 => Src::Imm(i.immediate(1) as i32),
        _ => return None,
    };
    let mut operands = RegSet(1 << dst);
    if let Src::Reg(r) = src {
        if r == dst && op != Op::Cmp && op != Op::Test {
            return None;
        }
        operands.insert(r);
    }
    if operands.contains(regs::RSP) {
        return None;
    }
    let writes = |k: usize| matches!(&plans[k], Plan::Native(n) if n.written.0 & operands.0 != 0);
    if (0..end).chain(last + 1..body).any(writes) {
        return None;
    }
    Some(Remat {
        op,
        size,
        dst,
        src,
        budget,
        end,
    })
}

impl BlockEmitter<'_> {
    /// Saves the flags a self-loop's pass started with, from `CpuState` (every guest register there is current)
    /// by `r`, unless this is the first pass (the context holds them already). Uses RAX.
    pub(super) fn emit_remat(&mut self, r: Remat) {
        let first_pass = self.ops.new_dynamic_label();
        let dst = gpr_slot(r.dst);
        dynasm!(self.ops
            ; .arch x64
            ; cmp Rq(r.budget), [BYTE r14 + ctx::BUDGET as i8]
            ; je =>first_pass
        );
        match (r.size, r.src) {
            (8, Src::Reg(s)) => {
                let src = gpr_slot(s);
                dynasm!(self.ops ; .arch x64 ; mov rax, [BYTE r15 + dst]);
                match r.op {
                    Op::Cmp => dynasm!(self.ops ; .arch x64 ; cmp rax, [BYTE r15 + src]),
                    Op::Test => dynasm!(self.ops ; .arch x64 ; test [BYTE r15 + src], rax),
                    Op::Add => {
                        dynasm!(self.ops ; .arch x64 ; sub rax, [BYTE r15 + src] ; add rax, [BYTE r15 + src])
                    }
                    Op::Sub => {
                        dynasm!(self.ops ; .arch x64 ; add rax, [BYTE r15 + src] ; sub rax, [BYTE r15 + src])
                    }
                }
            }
            (_, Src::Reg(s)) => {
                let src = gpr_slot(s);
                dynasm!(self.ops ; .arch x64 ; mov eax, [BYTE r15 + dst]);
                match r.op {
                    Op::Cmp => dynasm!(self.ops ; .arch x64 ; cmp eax, [BYTE r15 + src]),
                    Op::Test => dynasm!(self.ops ; .arch x64 ; test [BYTE r15 + src], eax),
                    Op::Add => {
                        dynasm!(self.ops ; .arch x64 ; sub eax, [BYTE r15 + src] ; add eax, [BYTE r15 + src])
                    }
                    Op::Sub => {
                        dynasm!(self.ops ; .arch x64 ; add eax, [BYTE r15 + src] ; sub eax, [BYTE r15 + src])
                    }
                }
            }
            (8, Src::Imm(v)) => {
                dynasm!(self.ops ; .arch x64 ; mov rax, [BYTE r15 + dst]);
                match r.op {
                    Op::Cmp => dynasm!(self.ops ; .arch x64 ; cmp rax, v),
                    Op::Test => dynasm!(self.ops ; .arch x64 ; test rax, v),
                    Op::Add => dynasm!(self.ops ; .arch x64 ; sub rax, v ; add rax, v),
                    Op::Sub => dynasm!(self.ops ; .arch x64 ; add rax, v ; sub rax, v),
                }
            }
            (_, Src::Imm(v)) => {
                dynasm!(self.ops ; .arch x64 ; mov eax, [BYTE r15 + dst]);
                match r.op {
                    Op::Cmp => dynasm!(self.ops ; .arch x64 ; cmp eax, v),
                    Op::Test => dynasm!(self.ops ; .arch x64 ; test eax, v),
                    Op::Add => dynasm!(self.ops ; .arch x64 ; sub eax, v ; add eax, v),
                    Op::Sub => dynasm!(self.ops ; .arch x64 ; add eax, v ; sub eax, v),
                }
            }
        }
        dynasm!(self.ops
            ; .arch x64
            ; lahf
            ; seto al
            ; mov [BYTE r14 + ctx::SAVED_FLAGS as i8], eax
            ; =>first_pass
        );
    }

    /// Saves the flags of a pass being rebuilt by `r` here, in the main path, for code that needs them after all
    /// (a page group, a stack operation): the recipe's registers stored first, RAX kept.
    pub(super) fn materialize_remat(&mut self, r: Remat) {
        let mut operands = RegSet(1 << r.dst);
        if let Src::Reg(s) = r.src {
            operands.insert(s);
        }
        self.flush(operands);
        dynasm!(self.ops ; .arch x64 ; push rax);
        self.emit_remat(r);
        dynasm!(self.ops ; .arch x64 ; pop rax);
        self.flags.saved = true;
    }
}
