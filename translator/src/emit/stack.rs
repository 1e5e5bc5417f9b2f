//! The 64-bit guest stack in generated code ([`Plan::Stack`](crate::plan::Plan::Stack) and
//! [`Plan::KnownReturn`](crate::plan::Plan::KnownReturn)): PUSH, POP, CALL and RET reach the slot through the TLB
//! like any access (or through a page group's holder), RSP lives in `CpuState`, and a miss runs the instruction in
//! the CPU's step, which faults precisely. A CALL or RET then leaves the block for its target.

use super::{access_code, gpr_slot, BlockEmitter, SlowPath, StepPath};
use crate::ctx::offsets as ctx;
use crate::plan::{MemOperand, StackOp};
use crate::regs::{self, RegSet};
use crate::Site;
use dynasmrt::{dynasm, DynamicLabel, DynasmApi, DynasmLabelApi};
use vx86_cpu::state::offsets as state;

impl BlockEmitter<'_> {
    /// A RET whose return address is known ([`Plan::KnownReturn`]): RSP moves past the slot, which is not read (the
    /// CALL's push just wrote it, so reading it could not fault either). With the guest's flags in the host's it
    /// moves by a LEA, which leaves them there.
    pub(super) fn release_return_slot(&mut self, k: usize) {
        let rsp_off = gpr_slot(regs::RSP);
        if !self.flags.in_host {
            dynasm!(self.ops ; .arch x64 ; add QWORD [BYTE r15 + rsp_off], 8);
            return;
        }
        let rsp = self.stack_scratch(k).next().expect("a scratch register");
        self.flush(RegSet(1 << rsp));
        self.cached.remove(rsp);
        dynasm!(self.ops
            ; .arch x64
            ; mov Rq(rsp), [BYTE r15 + rsp_off]
            ; lea Rq(rsp), [Rq(rsp) + 8]
            ; mov [BYTE r15 + rsp_off], Rq(rsp)
        );
    }

    /// The registers code for stack operations at site `k` may use as scratch: of RAX, RCX, RBX, RBP, R12 and
    /// R13, those neither a holder nor a self-loop's budget, the ones holding no guest value first.
    fn stack_scratch(&self, k: usize) -> impl Iterator<Item = u8> {
        let reserved = self.reserved(k);
        let cached = self.cached;
        let free = [0u8, 1, 3, 5, 12, 13]
            .into_iter()
            .filter(move |&r| !reserved.contains(r));
        let idle = free.clone().filter(move |&r| !cached.contains(r));
        idle.chain(free.filter(move |&r| cached.contains(r)))
    }

    /// PUSH, POP, CALL rel and RET on the 64-bit guest stack: the slot goes through the TLB like any access; a
    /// miss runs the instruction in the CPU's step (which faults precisely).
    pub(super) fn stack(&mut self, sites: &[Site], k: usize, op: StackOp) {
        let i = &sites[k].instr;
        let member = self.groups.member(k).map(|(g, offset)| (*g, offset));
        let follower = member.filter(|_| self.follows_in_group(k));
        // Scratch: the slot's address, the TLB entry, the last byte's page, the new RSP, the value. Outside a
        // self-loop one holder at most is reserved; in one, every stack operation is a PUSH or POP following in
        // the hoisted group (see `plan_loop_and_groups`), which needs only the address, the new RSP and the value.
        // A CALL or RET leaves with its target in `value`, which the jump-table lookup's scratch (RAX, RCX)
        // must not be.
        let transfers = matches!(
            op,
            StackOp::CallRel | StackOp::CallReg(_) | StackOp::CallMem(_) | StackOp::Ret(_)
        );
        let value = self
            .stack_scratch(k)
            .find(|&r| !transfers || r > 1)
            .expect("scratch for a stack operation");
        let mut free = self.stack_scratch(k).filter(|&r| r != value);
        let mut next = || free.next().expect("scratch for a stack operation");
        let (addr, rsp) = (next(), next());
        let (entry, last) = if follower.is_some() && op != StackOp::PushFlags {
            (value, value)
        } else {
            (next(), next())
        };
        let rsp_off = gpr_slot(regs::RSP);
        let write = !matches!(op, StackOp::Pop(_) | StackOp::Ret(_));
        // A page group's follower needs no lookup, and its own code leaves the flags alone (PUSHFQ's does not).
        if follower.is_none() || op == StackOp::PushFlags {
            self.save_flags();
            self.flags.in_host = false;
        }
        let mut clobbered = RegSet::default();
        for scratch in [addr, entry, last, rsp, value] {
            clobbered.insert(scratch);
        }
        if let StackOp::Push(reg) | StackOp::Pop(reg) | StackOp::CallReg(reg) = op {
            // PUSH and CALL read the guest register from CpuState, POP writes it there.
            clobbered.insert(reg);
        }
        self.flush(clobbered);
        self.cached.0 &= !clobbered.0;
        let dirty_at_miss = self.dirty;
        let join = self.ops.new_dynamic_label();
        if let StackOp::CallMem(target) = op {
            self.call_target(sites, k, target, clobbered, (entry, last, rsp, value), join);
        }
        let cached_at_retry = self.cached;
        let (retry, miss, step) = (
            self.ops.new_dynamic_label(),
            self.ops.new_dynamic_label(),
            self.ops.new_dynamic_label(),
        );
        let release = match op {
            StackOp::Ret(extra) => 8 + i32::from(extra),
            _ => 8,
        };
        let mem = MemOperand {
            size: 8,
            write,
            add_base: None,
            wrap32: false,
        };
        if let Some((g, offset)) = member {
            // The slot through the group's holder, looked up by the leader (here, when this is it).
            if follower.is_none() {
                // The flags are saved already.
                let start = self.open_group(&g, None);
                dynasm!(self.ops ; .arch x64 ; mov Rq(rsp), [BYTE r15 + rsp_off]);
                self.look_up_group(&g, rsp, (entry, last), start);
            } else {
                dynasm!(self.ops ; .arch x64 ; mov Rq(rsp), [BYTE r15 + rsp_off]);
            }
            let holder = g.holder;
            let moved = if write { -8 } else { release };
            dynasm!(self.ops
                ; .arch x64
                ; lea Rq(addr), [Rq(holder) + offset]
                ; lea Rq(rsp), [Rq(rsp) + moved]
            );
        } else {
            dynasm!(self.ops ; .arch x64 ; =>retry ; mov Rq(rsp), [BYTE r15 + rsp_off]);
            if write {
                dynasm!(self.ops ; .arch x64 ; sub Rq(rsp), 8 ; mov Rq(addr), Rq(rsp));
            } else {
                dynasm!(self.ops ; .arch x64 ; mov Rq(addr), Rq(rsp) ; add Rq(rsp), release);
            }
            self.tlb_lookup(addr, entry, last, &mem, miss);
        }
        // What a write pushes: its value into `value` (`entry` is free as scratch now the lookup hit).
        match op {
            StackOp::Push(reg) => {
                let off = gpr_slot(reg);
                dynasm!(self.ops ; .arch x64 ; mov Rq(value), [BYTE r15 + off]);
            }
            StackOp::PushImm(imm) => dynasm!(self.ops ; .arch x64 ; mov Rq(value), QWORD imm),
            StackOp::PushFlags => {
                // RFLAGS without its arithmetic flags, RF and VM, then the guest's from the context: SF ZF AF PF CF
                // in LAHF's byte, OF as SETO left it.
                let (rflags, saved) = (state::RFLAGS as i32, ctx::SAVED_FLAGS as i8);
                let keep =
                    !((vx86_cpu::flags::ARITH | vx86_cpu::flags::RF | vx86_cpu::flags::VM) as i32);
                dynasm!(self.ops
                    ; .arch x64
                    ; mov Rq(value), [r15 + rflags]
                    ; and Rq(value), keep
                    ; movzx Rd(entry), BYTE [BYTE r14 + saved + 1]
                    ; or Rq(value), Rq(entry)
                    ; movzx Rd(entry), BYTE [BYTE r14 + saved]
                    ; shl Rd(entry), 11
                    ; or Rq(value), Rq(entry)
                );
            }
            StackOp::CallRel => {
                dynasm!(self.ops ; .arch x64 ; mov Rq(value), QWORD i.next_ip() as i64);
            }
            StackOp::CallReg(reg) => {
                // A non-canonical target faults in the CALL itself, before the push: the slow path raises it. The
                // target stays in `value`; the return address goes through `entry`.
                let off = gpr_slot(reg);
                dynasm!(self.ops ; .arch x64 ; mov Rq(value), [BYTE r15 + off]);
                self.canonical_or(value, last, step);
            }
            // The target is in `value` already (checked by `call_target`).
            StackOp::CallMem(_) | StackOp::Pop(_) | StackOp::Ret(_) => {}
        }
        match op {
            StackOp::CallReg(_) | StackOp::CallMem(_) => dynasm!(self.ops
                ; .arch x64
                ; mov Rq(entry), QWORD i.next_ip() as i64
                ; mov [Rq(addr)], Rq(entry)
            ),
            StackOp::Pop(reg) => {
                let off = gpr_slot(reg);
                // POP RSP leaves the popped value in RSP: the register is written last.
                dynasm!(self.ops
                    ; .arch x64
                    ; mov Rq(value), [Rq(addr)]
                    ; mov [BYTE r15 + rsp_off], Rq(rsp)
                    ; mov [BYTE r15 + off], Rq(value)
                );
            }
            StackOp::Ret(_) => {
                // A non-canonical return address faults in the RET itself: the slow path raises it.
                dynasm!(self.ops ; .arch x64 ; mov Rq(value), [Rq(addr)]);
                self.canonical_or(value, last, step);
            }
            _ => dynasm!(self.ops ; .arch x64 ; mov [Rq(addr)], Rq(value)),
        }
        if !matches!(op, StackOp::Pop(_)) {
            dynasm!(self.ops ; .arch x64 ; mov [BYTE r15 + rsp_off], Rq(rsp));
        }
        match op {
            StackOp::CallRel | StackOp::CallReg(_) | StackOp::CallMem(_) | StackOp::Ret(_) => {
                if let StackOp::CallRel = op {
                    self.exit_to(i.near_branch_target());
                } else {
                    self.goto_register(value);
                }
                self.leave_at(join);
            }
            _ => dynasm!(self.ops ; .arch x64 ; =>join),
        }
        if member.is_some() {
            return;
        }
        self.slow.push(SlowPath::new(
            miss,
            retry,
            addr,
            access_code(&mem),
            cached_at_retry,
            StepPath::one(step, k, join, self.cached, dirty_at_miss),
        ));
    }

    /// The target of a CALL through memory (`sites[k]`), read through the TLB into `value` (with `addr`, `entry`
    /// and `last` as scratch) before anything is pushed; a miss that no fill serves, or a non-canonical target,
    /// runs the CALL in the step, which then leaves through `join`.
    fn call_target(
        &mut self,
        sites: &[Site],
        k: usize,
        target: MemOperand,
        scratch: RegSet,
        (addr, entry, last, value): (u8, u8, u8, u8),
        join: DynamicLabel,
    ) {
        let (retry, miss, step) = (
            self.ops.new_dynamic_label(),
            self.ops.new_dynamic_label(),
            self.ops.new_dynamic_label(),
        );
        let cached_at_retry = self.cached;
        let dirty = self.dirty;
        dynasm!(self.ops ; .arch x64 ; =>retry);
        self.address(
            &sites[k].instr,
            (addr, entry),
            scratch,
            target.wrap32,
            target.add_base,
        );
        self.tlb_lookup(addr, entry, last, &target, miss);
        dynasm!(self.ops
            ; .arch x64
            ; mov Rq(value), [Rq(addr)]
        );
        self.canonical_or(value, last, step);
        self.slow.push(SlowPath::new(
            miss,
            retry,
            addr,
            access_code(&target),
            cached_at_retry,
            StepPath::one(step, k, join, RegSet::default(), dirty),
        ));
    }
}
