//! Self-loops: a block that branches back to its own start runs pass after pass in generated code, its guest
//! registers kept in host registers and its budget in a host register ([`SelfLoop`]). What makes a block one
//! ([`self_loop_shape`]), the page group and table access looked up once before the first pass instead of in every
//! pass ([`hoisted_group`], [`hoisted_indexed`]), the budget test of each pass and the way out when the budget runs
//! short.

use super::{gpr_slot, BlockEmitter, FlagsAt, SlowPath, StepPath};
use crate::ctx::offsets as ctx;
use crate::group::{self, Groups, PageGroup, Range};
use crate::plan::{Plan, StackOp};
use crate::regs::{self, RegSet, RESIDENT};
use crate::Site;
use dynasmrt::{dynasm, DynamicLabel, DynasmApi, DynasmLabelApi};
use iced_x86::OpKind;

/// A block that branches back to its own start, run as a loop in generated code.
///
/// The budget lives in a host register while the loop runs. The back edge charges the next pass with a LEA, which
/// leaves the guest's flags alone; whether the budget covers that pass is tested earlier in the pass, just before
/// the *check* instruction: the first that writes every arithmetic flag without reading one and cannot fault, so
/// the test's compare clobbers only flags nobody will see (or, in a loop with no such instruction, its first INC or
/// DEC of a register, with a test that keeps CF). When the budget runs short, the way out runs the check
/// instruction in the CPU's step (which sets the flags it would have set) and leaves after it.
#[derive(Clone, Copy, Debug)]
pub(super) struct SelfLoop {
    /// Where each pass starts (after the block's budget check and the loop's register loads).
    pub(super) head: DynamicLabel,
    /// The guest registers kept in host registers across passes.
    pub(super) regs: RegSet,
    /// Guest instructions per pass.
    pub(super) length: i32,
    /// The block's first guest address.
    pub(super) start: u64,
    /// A callee-saved host register the loop does not use, holding the budget while the loop runs (stored back
    /// to the context before anything reads it there: an exit, a callout, a slow path).
    pub(super) budget: u8,
    /// The index of the check instruction.
    pub(super) check: usize,
    /// The check instruction is an INC or DEC, which keeps CF: the test must keep it too.
    pub(super) check_keeps_cf: bool,
}

impl SelfLoop {
    /// Whether the guest's flags at the start of a pass may be read (the check instruction is not the first, or
    /// keeps CF).
    pub(super) fn flags_live_at_head(&self) -> bool {
        self.check > 0 || self.check_keeps_cf
    }
}

/// What [`self_loop_shape`] finds: the guest registers kept in host registers across passes, those of them the
/// loop writes, and its check instruction.
#[derive(Clone, Copy, Debug)]
pub(super) struct LoopShape {
    pub(super) regs: RegSet,
    pub(super) written: RegSet,
    pub(super) check: usize,
    pub(super) check_keeps_cf: bool,
}

/// How a block runs as a loop in generated code, when it does: it branches back to its own start, everything
/// before the branch runs natively (or is a stack operation, which only a page group looked up before the loop
/// may serve: see [`BlockEmitter::emit`]), and one instruction of the body can be its check ([`SelfLoop`]): the
/// first that writes every arithmetic flag without reading one and cannot fault, else the first INC or DEC of a
/// register (which keeps CF).
fn self_loop_shape(sites: &[Site], plans: &[Plan]) -> Option<LoopShape> {
    let (last, body) = sites.split_last()?;
    let loops = matches!(plans.last()?, Plan::DirectBranch)
        && last.instr.near_branch_target() == sites[0].instr.ip();
    if !loops || body.is_empty() {
        return None;
    }
    let (mut regs, mut written) = (RegSet::default(), RegSet::default());
    let (mut clean, mut keeps_cf) = (None, None);
    for (k, (site, plan)) in body.iter().zip(plans).enumerate() {
        let n = match plan {
            Plan::Native(n) => n,
            // A loop through two blocks ([`crate::loops`]) leaves by its inner branch too.
            Plan::InnerBranch { .. } | Plan::Followed => continue,
            Plan::Stack(StackOp::Push(_) | StackOp::PushImm(_) | StackOp::Pop(_))
            | Plan::KnownReturn { goes_on: true, .. } => continue,
            _ => return None,
        };
        let pure = n.memory.is_none() && !n.lea;
        if pure && !n.needs_flags && n.writes_flags {
            clean.get_or_insert(k);
        }
        let mnemonic = site.instr.mnemonic();
        if pure && matches!(mnemonic, iced_x86::Mnemonic::Inc | iced_x86::Mnemonic::Dec) {
            keeps_cf.get_or_insert(k);
        }
        regs.0 |= n.used.0;
        written.0 |= n.written.0;
        for r in [site.instr.memory_base(), site.instr.memory_index()] {
            if r.is_gpr() {
                regs.insert(regs::number(r));
            }
        }
    }
    for renamed in [regs::RSP, regs::CTX, regs::STATE] {
        regs.remove(renamed);
    }
    let (check, check_keeps_cf) = match (clean, keeps_cf) {
        (Some(k), _) => (k, false),
        (None, Some(k)) => (k, true),
        (None, None) => return None,
    };
    Some(LoopShape {
        regs,
        written: RegSet(written.0 & regs.0),
        check,
        check_keeps_cf,
    })
}

/// Whether a site planned as `plan` (one a self-loop may hold) writes guest register `r`: a native instruction,
/// or a POP.
fn writes(plan: &Plan, r: u8) -> bool {
    match plan {
        Plan::Native(n) => n.written.contains(r),
        Plan::Stack(StackOp::Pop(popped)) => *popped == r,
        _ => false,
    }
}

/// Whether some site of a self-loop planned as `plans` writes guest register `r`.
fn writes_register(plans: &[Plan], r: u8) -> bool {
    plans.iter().any(|p| writes(p, r))
}

/// The page group of a self-loop (planned as `plans`) whose lookup can run once before the loop rather than in
/// every pass: one led by the pass's first memory access (so nothing before it in a pass can see when the lookup
/// ran: accessed and dirty bits, faults), through a base register whose value is the same at the leader in every
/// pass, and whose holder no other group uses. That base is one the loop never writes and generated code keeps
/// under its own number, or RSP when every pass moves it by known amounts that add up to nothing, none of them
/// before the leader (a loop that calls a function, or pushes and pops).
fn hoisted_group(groups: &Groups, sites: &[Site], plans: &[Plan]) -> Option<PageGroup> {
    let first_access = first_access(plans)?;
    let g = groups.list.iter().find(|g| g.leader == first_access)?;
    let base = g.range.base;
    let shared = groups.list.iter().any(|o| o != g && o.holder == g.holder);
    let steady = if base == regs::RSP {
        rsp_comes_back(sites, plans, first_access)
    } else {
        !writes_register(plans, base) && !regs::needs_rename(base)
    };
    (steady && !shared).then_some(*g)
}

/// The first site of a block (planned as `plans`) that accesses memory.
fn first_access(plans: &[Plan]) -> Option<usize> {
    plans.iter().position(|p| match p {
        Plan::Native(n) => n.memory.is_some() && !n.lea,
        Plan::Stack(_) => true,
        _ => false,
    })
}

/// Whether every site of a self-loop (planned as `plans`) moves RSP by a known amount, the moves add up to nothing
/// over a pass, and none comes before site `leader`.
fn rsp_comes_back(sites: &[Site], plans: &[Plan], leader: usize) -> bool {
    let mut moved = 0i64;
    for (k, (site, plan)) in sites.iter().zip(plans).enumerate() {
        match group::rsp_move(site, plan) {
            Some(0) => {}
            Some(_) if k < leader => return false,
            Some(by) => moved += by,
            None => return false,
        }
    }
    moved == 0
}

/// A self-loop's access through a base register the loop never writes and an index register that a MOVZX from 8
/// bits wrote earlier in the same pass (a table lookup, as CRC32's `[table + byte * 4]`): every pass's access lies
/// in one range, looked up once before the first pass.
#[derive(Clone, Copy, Debug)]
pub(super) struct IndexedAccess {
    /// The access's site.
    pub(super) site: usize,
    /// Its range from the base register: the displacement, over 256 elements.
    pub(super) range: Range,
    /// The index register and its scale.
    pub(super) index: u8,
    pub(super) scale: u32,
    /// The access writes.
    pub(super) writes: bool,
    /// The callee-saved host register holding the range's host address for the whole loop.
    pub(super) holder: u8,
}

/// The [`IndexedAccess`] of a self-loop (its sites planned as `plans`, its guest registers `regs`, its budget in
/// host register `budget`), if it has one that `may_lead` allows and a holder is free for; `taken` are holders
/// already used.
pub(super) fn hoisted_indexed(
    sites: &[Site],
    plans: &[Plan],
    (regs, budget): (RegSet, u8),
    taken: RegSet,
    may_lead: &dyn Fn(&Site) -> bool,
) -> Option<IndexedAccess> {
    let bounded_by_movzx8 = |k: usize, index: u8| {
        let writer = (0..k).rev().find(|&j| writes(&plans[j], index))?;
        if !matches!(plans[writer], Plan::Native(_)) {
            return None;
        }
        let w = &sites[writer].instr;
        let from_byte = w.op1_kind() == OpKind::Register && w.op1_register().size() == 1
            || w.op1_kind() == OpKind::Memory && w.memory_size().size() == 1;
        (w.mnemonic() == iced_x86::Mnemonic::Movzx && from_byte && w.op0_register().size() >= 4)
            .then_some(())
    };
    plans.iter().enumerate().find_map(|(k, p)| {
        let Plan::Native(n) = p else { return None };
        let m = n
            .memory
            .filter(|m| m.add_base.is_none() && !m.wrap32 && !n.lea)?;
        let i = &sites[k].instr;
        let (base, index) = (i.memory_base(), i.memory_index());
        if !base.is_gpr()
            || !index.is_gpr()
            || vx86_cpu::Cpu::address_size(i) != 8
            || !may_lead(&sites[k])
        {
            return None;
        }
        let (base, index) = (regs::number(base), regs::number(index));
        if regs::needs_rename(base) || writes_register(plans, base) {
            return None;
        }
        bounded_by_movzx8(k, index)?;
        let low = i32::try_from(i.memory_displacement64() as i64).ok()?;
        let scale = i.memory_index_scale();
        let holder = group::HOLDERS
            .into_iter()
            .find(|&h| !regs.contains(h) && h != budget && !taken.contains(h))?;
        Some(IndexedAccess {
            site: k,
            range: Range {
                base,
                low,
                span: 255 * scale + m.size,
            },
            index,
            scale,
            writes: m.write,
            holder,
        })
    })
}

/// A self-loop's way out when the budget cannot cover another pass: the check instruction in the step, then an
/// exit to the instruction after it.
pub(super) struct LoopExit {
    /// Where it starts.
    pub(super) label: DynamicLabel,
    /// Host registers whose guest values `CpuState` does not have yet at the check.
    pub(super) dirty: RegSet,
    /// The guest's flags are only in the host's at the check: the way out saves them.
    pub(super) save_flags: bool,
}

impl BlockEmitter<'_> {
    /// Whether the block (`sites`, planned as `plans`, `n` of them) runs as a self-loop, and how; plans its page
    /// groups (`may_lead`: whether a site may lead one) and a self-loop's hoisted group. A self-loop's stack
    /// operations must all go through its hoisted group (they have no registers to spare for lookups of their
    /// own): when they cannot, the block is an ordinary one. Lone groups (a self-loop's first access) that are not
    /// hoisted after all are dissolved.
    pub(super) fn plan_loop_and_groups(
        &mut self,
        sites: &[Site],
        plans: &[Plan],
        may_lead: &dyn Fn(&Site) -> bool,
    ) -> Option<(SelfLoop, LoopShape)> {
        let ordinary = |this: &mut Self| {
            this.hoisted = None;
            this.groups = group::plan(sites, plans, RegSet::default(), None, None, may_lead);
            None
        };
        let Some((shape, budget)) = self_loop_shape(sites, plans).and_then(|shape| {
            let budget = [3u8, 5, 12, 13]
                .into_iter()
                .find(|&r| !shape.regs.contains(r))?;
            Some((shape, budget))
        }) else {
            return ordinary(self);
        };
        // A self-loop's registers and budget stay put for the whole block, and its budget test must run.
        let taken = RegSet(shape.regs.0 | 1 << budget);
        let lone = first_access(plans);
        self.groups = group::plan(sites, plans, taken, Some(shape.check), lone, may_lead);
        self.hoisted = hoisted_group(&self.groups, sites, plans);
        let unhoisted_lone: Vec<usize> = (self.groups.list.iter())
            .filter(|g| g.leader == g.last && Some(**g) != self.hoisted)
            .map(|g| g.leader)
            .collect();
        for leader in unhoisted_lone {
            self.groups.dissolve(leader);
        }
        let served = plans.iter().enumerate().all(|(k, p)| {
            !matches!(p, Plan::Stack(_))
                || (self.groups.member(k)).is_some_and(|(g, _)| Some(*g) == self.hoisted)
        });
        if !served {
            return ordinary(self);
        }
        let lp = SelfLoop {
            head: self.ops.new_dynamic_label(),
            regs: shape.regs,
            length: sites.len() as i32,
            start: sites[0].instr.ip(),
            budget,
            check: shape.check,
            check_keeps_cf: shape.check_keeps_cf,
        };
        Some((lp, shape))
    }

    /// Stores a self-loop's budget register to the context, for code that reads the budget there.
    pub(super) fn store_budget(&mut self) {
        if let Some(b) = self.self_loop.map(|lp| lp.budget) {
            dynasm!(self.ops ; .arch x64 ; mov [BYTE r14 + ctx::BUDGET as i8], Rq(b));
        }
    }

    /// The branch back to the start of a self-loop block: the flags and the loop's registers where the start
    /// expects them, the next pass charged to the budget (the check made sure it covers it) with a LEA, which
    /// leaves the flags alone, and straight on.
    pub(super) fn back_edge(&mut self, lp: SelfLoop) {
        if lp.flags_live_at_head() {
            self.load_flags();
        }
        let kept = RegSet(lp.regs.0 | RESIDENT.0);
        self.store_raw(RegSet(self.dirty.0 & !kept.0));
        self.reload(RegSet(kept.0 & !self.cached.0));
        let b = lp.budget;
        dynasm!(self.ops
            ; .arch x64
            ; lea Rq(b), [Rq(b) - lp.length]
            ; jmp =>lp.head
        );
    }

    /// Before a self-loop's check instruction: whether the budget covers the next pass. The compare clobbers
    /// flags that the check instruction overwrites without reading. For an INC or DEC, which keeps CF, the test
    /// keeps it too: a DEC of the budget less the pass but one gives the sign of what the compare would, and a LEA
    /// puts the budget back (the way out sets it back itself, and saves the flags when they are only in the host's).
    pub(super) fn loop_check(&mut self, lp: SelfLoop) {
        let label = self.ops.new_dynamic_label();
        let b = lp.budget;
        let save_flags = lp.check_keeps_cf && self.flags.in_host && !self.flags.saved;
        if lp.check_keeps_cf {
            dynasm!(self.ops
                ; .arch x64
                ; lea Rq(b), [Rq(b) - (lp.length - 1)]
                ; dec Rq(b)
                ; js =>label
                ; lea Rq(b), [Rq(b) + lp.length]
            );
        } else {
            dynasm!(self.ops
                ; .arch x64
                ; cmp Rq(b), lp.length
                ; jl =>label
            );
            self.flags = FlagsAt {
                in_host: false,
                saved: true,
            };
        }
        self.loop_exit = Some(LoopExit {
            label,
            dirty: self.dirty,
            save_flags,
        });
    }

    /// A self-loop's way out: the check instruction in the step (the pass is already charged to the budget), the
    /// rest of the pass refunded, and an exit to the instruction after the check.
    pub(super) fn loop_way_out(&mut self, lp: SelfLoop, out: LoopExit, sites: &[Site]) {
        dynasm!(self.ops ; .arch x64 ; =>out.label);
        if lp.check_keeps_cf {
            dynasm!(self.ops ; .arch x64 ; lea Rq(lp.budget), [Rq(lp.budget) + lp.length]);
        }
        if out.save_flags {
            // RAX may hold a guest value: it is stored with the others just below, from the stack.
            dynasm!(self.ops
                ; .arch x64
                ; push rax
                ; lahf
                ; seto al
                ; mov [BYTE r14 + ctx::SAVED_FLAGS as i8], eax
                ; pop rax
            );
        }
        self.store_raw(out.dirty);
        self.cached = RegSet::default();
        self.dirty = RegSet::default();
        self.store_budget();
        self.call_step(&sites[lp.check]);
        self.flags = FlagsAt {
            in_host: false,
            saved: true,
        };
        let refund = lp.length - 1 - lp.check as i32;
        dynasm!(self.ops ; .arch x64 ; add Rq(lp.budget), refund);
        self.exit_to(sites[lp.check].instr.next_ip());
    }

    /// Looks up `range` (from its base register's value; written to when `write`) before a self-loop's first pass,
    /// into host register `holder`, which keeps it for every pass (the base register does not change in the loop,
    /// and nothing in a self-loop can change a mapping). Nothing has run yet and the flags are saved, as at any
    /// block entry. When the range cannot be served, a TLB fill for the access word `fill` is tried, if given (only
    /// for the pass's first access: a walk before the others would set accessed and dirty bits early); else the
    /// step runs the whole first pass (through site `last`, which leaves the block), so faults and accessed and
    /// dirty bits come in order, and the next entry looks again.
    pub(super) fn look_up_before_the_loop(
        &mut self,
        range: Range,
        holder: u8,
        write: bool,
        fill: Option<u32>,
        last: usize,
    ) {
        let (retry, miss) = (self.ops.new_dynamic_label(), self.ops.new_dynamic_label());
        dynasm!(self.ops ; .arch x64 ; =>retry);
        if RESIDENT.contains(range.base) {
            dynasm!(self.ops ; .arch x64 ; lea Rq(holder), [Rq(range.base) + range.low]);
        } else {
            let base = gpr_slot(range.base);
            dynasm!(self.ops
                ; .arch x64
                ; mov Rq(holder), [BYTE r15 + base]
                ; lea Rq(holder), [Rq(holder) + range.low]
            );
        }
        // Only the resident registers hold guest values yet: any other is scratch.
        self.range_lookup(holder, (0, 1), range.span, write, miss);
        let step = StepPath {
            step: self.ops.new_dynamic_label(),
            site: 0,
            through: last,
            // The last site leaves the block: the step path never gets this far.
            join: retry,
            restore_flags: false,
            cached_at_join: RESIDENT,
            dirty: RESIDENT,
        };
        match fill {
            Some(access) => self
                .slow
                .push(SlowPath::new(miss, retry, holder, access, RESIDENT, step)),
            None => self.steps.push(StepPath { step: miss, ..step }),
        }
    }
}
