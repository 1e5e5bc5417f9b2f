//! Host code for one guest block, emitted in one pass with dynasm (no IR).
//!
//! Block layout: the budget check; each guest instruction in order (native code, or a callout to the CPU's step);
//! the exits; then, out of line, the slow paths of memory accesses that missed the TLB (each a callout for its
//! instruction, which lets the interpreter's code do the walk, the fault, MMIO or the write to a code page).
//!
//! Flags: the guest's arithmetic flags live either in the host's RFLAGS or in `JitCtx::saved_flags`, tracked at
//! translation time. They are saved before anything that may clobber them or observe them (a TLB lookup, a
//! callout, an exit), so every fault and every exit sees the exact flags of its instruction's start.

mod flag_remat;
mod rep_string;
mod self_loop;
mod shift_flags;
mod stack;

use flag_remat::{remat_recipe, Remat};
use self_loop::{hoisted_indexed, IndexedAccess, LoopExit, LoopShape, SelfLoop};

use crate::callout;
use crate::ctx::offsets as ctx;
use crate::group::{self, Groups, PageGroup};
use crate::mode::Mode;
use crate::plan::{self, MemOperand, Native, Plan, Source, StackOp};
use crate::regs::{self, Pool, RegSet, ALL, CALLER_SAVED, RESIDENT};
use dynasmrt::x64::X64Relocation;
use dynasmrt::{dynasm, AssemblyOffset, DynamicLabel, DynasmApi, DynasmLabelApi, VecAssembler};
use iced_x86::{ConditionCode, Encoder, Instruction, OpKind, Register};
use vx86_cpu::mmu::tlb::{entry_offsets, ENTRIES, ENTRY_SHIFT};
use vx86_cpu::state::offsets as state;

/// One guest instruction's record, which its callout receives: what to run and where it stands in its block.
#[derive(Debug)]
pub struct Site {
    /// The decoded guest instruction.
    pub instr: Instruction,
    /// Instructions of the block not yet retired when this one starts, itself included.
    pub remaining: u32,
    /// It ends the block: the block is left after it whatever happens.
    pub ends_block: bool,
    /// Guest-physical page of the block.
    pub phys: u64,
    /// The mode the block was translated for.
    pub mode: Mode,
    /// That page's code generation when the block was translated, or last found unchanged since.
    pub generation: std::cell::Cell<u32>,
    /// How the instruction reaches its callout.
    pub via: Via,
    /// For a [`Via::Fetch`] or crossing site: the instruction as last fetched, valid while the TLB's any-change
    /// epoch is `kept_epoch` (fetching marked the pages it came from as code, so rewriting them moves the epoch,
    /// as does any change of mapping).
    pub kept: std::cell::Cell<Instruction>,
    /// The epoch `kept` is valid in (`u64::MAX`: none yet).
    pub kept_epoch: std::cell::Cell<u64>,
    /// The block's last instruction crosses into the next page, whose mapping and bytes may change without the
    /// block's page changing: it was fetched when the block was translated (`kept`), and its host code runs only
    /// while `kept_epoch` is the TLB's current epoch; else its callout fetches it afresh, and makes the epoch
    /// current again when the bytes are still those translated.
    pub crossing: bool,
    /// When it leads a page group ([`crate::group`]), the group's range: a step of it is the group's fallback.
    pub leads_group: std::cell::Cell<Option<group::Range>>,
    /// Times its group's range failed by crossing a page (see [`crate::group::FALLBACK_LIMIT`]).
    pub group_fallbacks: std::cell::Cell<u32>,
}

impl Site {
    /// The guest-physical address of the instruction's first byte (on its block's page, as all of a block's
    /// instructions begin).
    pub fn phys_of_instr(&self) -> u64 {
        (self.phys & !0xFFF) | (self.mode.cs_base.wrapping_add(self.instr.ip()) & 0xFFF)
    }
}

/// Why a site's callout runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// The instruction is never translated.
    Callout,
    /// The instruction is translated, and this run missed the TLB.
    TlbMiss,
    /// The instruction is fetched and decoded afresh each time it runs (it crosses the page or the code-segment
    /// limit, or its bytes are invalid): the block's last site, whose `instr` only holds its address.
    Fetch,
}

/// Code every block shares, placed with the entry trampoline, as host addresses.
#[derive(Clone, Copy, Debug)]
pub struct SharedCode {
    /// The way back to the dispatcher.
    pub epilogue: usize,
    /// Stores the resident registers (all in their host registers), then the epilogue.
    pub storing_epilogue: usize,
    /// A subroutine that stores every resident register.
    pub store_resident: usize,
    /// A subroutine that loads every resident register.
    pub load_resident: usize,
    /// A subroutine that calls the step callout with the site in RSI.
    pub call_step: usize,
    /// A subroutine that calls the fill callout with the address in RSI and the access word in RDX.
    pub call_fill: usize,
    /// A subroutine that calls the steps callout with the first site in RSI and their count in RDX.
    pub call_steps: usize,
}

/// Callout entry points called straight from blocks, as host addresses (the step, steps and fill callouts, far more
/// frequent in blocks, are called through [`SharedCode::call_step`], [`SharedCode::call_steps`] and
/// [`SharedCode::call_fill`], which find them in the context).
#[derive(Clone, Copy, Debug)]
pub struct Callouts {
    /// `extern "sysv64" fn(*mut JitCtx) -> u64`: the host address of the translated block at RIP, or 0.
    pub lookup: usize,
    /// `extern "sysv64" fn(*mut JitCtx, *const Site) -> u64`: the guest's TSC for a RDTSC site.
    pub read_tsc: usize,
}

/// The exit reasons blocks return to the dispatcher in RAX.
pub mod exit {
    /// Left normally: `CpuState::rip` holds the next guest instruction.
    pub const NEXT: u64 = 0;
    /// A callout asked to leave (RIP set, instruction count fixed).
    pub const CALLOUT: u64 = 1;
    /// The budget did not cover the block: nothing ran.
    pub const BUDGET: u64 = 2;
    /// This and above: left through direct exit number `value - DIRECT` (RIP set), which may be linked.
    pub const DIRECT: u64 = 16;
}

/// A direct exit of a block (to a guest address known at translation time): its jump can be patched to go straight
/// to the target's translation (block chaining).
#[derive(Clone, Copy, Debug)]
pub struct DirectExit {
    /// Where the rel32 field of the exit's jump (a `jmp` or a `jcc`, which ends right after the field) starts,
    /// from the block's start; until linked, the jump goes to the exit's code, which leaves for the dispatcher.
    pub rel32: AssemblyOffset,
    /// The guest address the exit leaves for.
    pub target: u64,
}

/// What [`BlockEmitter::emit`] produced.
pub struct Emitted {
    /// Where the block's code starts, from the start of `ops`.
    pub entry: AssemblyOffset,
    /// Per site, where its host code starts from the start of `ops` (for `-d out_asm`).
    pub starts: Vec<usize>,
    /// The block's direct exits, numbered from the emitter's first exit number.
    pub exits: Vec<DirectExit>,
    /// Page groups emitted.
    pub page_groups: u64,
    /// Their members beyond the leaders.
    pub grouped_accesses: u64,
    /// Page groups and table ranges looked up once per run of a self-loop rather than once per pass.
    pub hoisted_groups: u64,
    /// The block runs as a self-loop.
    pub self_loop: bool,
}

/// Where the guest's arithmetic flags are at a point of the block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FlagsAt {
    /// The host's RFLAGS holds them.
    in_host: bool,
    /// `JitCtx::saved_flags` holds them.
    saved: bool,
}

/// The out-of-line path of a memory access that missed the TLB: a TLB fill and a second try, else the step.
struct SlowPath {
    label: DynamicLabel,
    /// Where the access's address computation starts, to run it again once the TLB is filled.
    retry: DynamicLabel,
    /// The register that holds the linear address at the miss.
    addr: u8,
    /// The access, as the fill callout takes it: size in bits 0..7, bit 8 for a write.
    access: u32,
    /// Host registers the code at `retry` expects to hold their guest registers.
    cached_at_retry: RegSet,
    /// What runs when no fill helps.
    to_step: StepPath,
    /// The flags were not saved before the lookup: the slow path rebuilds them first ([`flag_remat`]).
    remat: Option<Remat>,
}

impl SlowPath {
    /// The slow path of a lookup that missed at `label` (its address in host register `addr`, the fill callout's
    /// access word `access`), retrying from `retry` with `cached_at_retry` held, else stepping by `to_step`; the
    /// flags were saved before the lookup.
    fn new(
        label: DynamicLabel,
        retry: DynamicLabel,
        addr: u8,
        access: u32,
        cached_at_retry: RegSet,
        to_step: StepPath,
    ) -> SlowPath {
        SlowPath {
            label,
            retry,
            addr,
            access,
            cached_at_retry,
            to_step,
            remat: None,
        }
    }
}

/// The out-of-line path that runs an instruction in the CPU's step (for what no TLB fill can satisfy, or a check
/// the fast path does not pass: a misaligned operand, a non-canonical target, a divide that faults).
struct StepPath {
    /// Where it starts.
    step: DynamicLabel,
    site: usize,
    /// The last site it runs (`site` but for a page group's fallback, which runs the group's whole range).
    through: usize,
    /// Where the fast path goes on afterwards.
    join: DynamicLabel,
    /// The code at `join` expects the guest's flags in the host's.
    restore_flags: bool,
    /// Host registers the code at `join` expects to hold their guest registers.
    cached_at_join: RegSet,
    /// Host registers whose guest values `CpuState` does not have yet: stored before the step runs.
    dirty: RegSet,
}

impl StepPath {
    /// The step path of site `k` alone, from `step`, back to `join`, which expects the flags saved.
    fn one(
        step: DynamicLabel,
        k: usize,
        join: DynamicLabel,
        cached_at_join: RegSet,
        dirty: RegSet,
    ) -> Self {
        StepPath {
            step,
            site: k,
            through: k,
            join,
            restore_flags: false,
            cached_at_join,
            dirty,
        }
    }
}

/// The condition that holds exactly when `cc` does not.
fn negated(cc: ConditionCode) -> ConditionCode {
    use ConditionCode as C;
    match cc {
        C::o => C::no,
        C::no => C::o,
        C::b => C::ae,
        C::ae => C::b,
        C::e => C::ne,
        C::ne => C::e,
        C::be => C::a,
        C::a => C::be,
        C::s => C::ns,
        C::ns => C::s,
        C::p => C::np,
        C::np => C::p,
        C::l => C::ge,
        C::ge => C::l,
        C::le => C::g,
        C::g => C::le,
        C::None => C::None,
    }
}

/// For each site, whether the arithmetic flags it leaves are all overwritten before anything could see them: the
/// sites after it, up to one that writes every arithmetic flag without reading any, run natively without reading
/// flags, and without a memory access that could fault (one of their own: `looks_up_nothing` says which sites use
/// a range looked up earlier). A branch, a callout, an exit or the block's end sees them. One pass, from the end.
fn flags_dead_after(plans: &[Plan], looks_up_nothing: impl Fn(usize) -> bool) -> Vec<bool> {
    let mut dead = vec![false; plans.len()];
    // Whether the flags coming into the site after the current one are dead.
    let mut dead_in = false;
    for (j, plan) in plans.iter().enumerate().rev() {
        dead[j] = dead_in;
        dead_in = match plan {
            Plan::Native(n) if n.needs_flags => false,
            Plan::Native(n) if n.memory.is_some() && !looks_up_nothing(j) => false,
            Plan::Native(n) if n.writes_flags => true,
            Plan::Native(_) => dead_in,
            _ => false,
        };
    }
    dead
}

/// Where a page group's lookup starts, and the register state there (for its slow path).
struct GroupStart {
    /// The label the lookup runs again from after a TLB fill.
    retry: DynamicLabel,
    /// Host registers holding their guest registers there.
    cached: RegSet,
    /// Those of them whose stores are deferred.
    dirty: RegSet,
}

/// Offset of the selector in a `Segment` (`#[repr(C)]`: base, limit, selector, attributes).
const SELECTOR: usize = 12;

/// Every guest register in the host register of its own number (for instructions that name no renamed one).
const IDENTITY: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

/// The displacement of guest register `g`'s slot in `CpuState` from R15, as generated code addresses it: 8 bits
/// (`[BYTE r15 + ...]`, three bytes shorter than dynasm's default for a displacement it cannot see at compile
/// time), since all 16 slots lie within 127 bytes.
pub(crate) fn gpr_slot(g: u8) -> i8 {
    const _: () = assert!(state::GPR + 8 * 15 <= 127);
    (state::GPR + 8 * usize::from(g)) as i8
}
/// The most instructions a block charges its budget with in one 8-bit immediate.
const _: () = assert!(crate::MAX_BLOCK_INSTRUCTIONS < 127);

/// An assembler for one block, placed at the host address it will run at.
pub type Ops = VecAssembler<X64Relocation>;

/// Emits one block's host code.
pub struct BlockEmitter<'a> {
    ops: &'a mut Ops,
    /// Host address `ops` starts at.
    base: usize,
    /// The code blocks share: the epilogues that return to the dispatcher, the resident registers' moves.
    shared: SharedCode,
    /// The block's own jump to the epilogue, at its end.
    leave: DynamicLabel,
    /// The block's own jump to the epilogue that stores the resident registers first.
    leave_storing: DynamicLabel,
    callouts: Callouts,
    mode: Mode,
    flags: FlagsAt,
    slow: Vec<SlowPath>,
    /// Step paths not behind a TLB fill.
    steps: Vec<StepPath>,
    /// Host registers that hold the current value of the guest register of the same number (loaded or stored by an
    /// earlier instruction of the block and not clobbered since), whose loads can be skipped.
    cached: RegSet,
    /// Those of `cached` whose value `CpuState` does not have yet: stores are deferred until something reads
    /// `CpuState` (a callout, a slow path, an exit) or the host register is about to be reused.
    dirty: RegSet,
    /// The number the block's first direct exit gets.
    first_exit: usize,
    /// The mode's id in the jump table, if it has one: exits that cannot be chained look their target up there.
    mode_id: Option<u16>,
    /// Linear address of the page the block starts in (direct exits to it can be chained).
    page: u64,
    /// When the block branches back to its own start: the loop it runs without leaving.
    self_loop: Option<SelfLoop>,
    /// The self-loop's way out, once its check is emitted.
    loop_exit: Option<LoopExit>,
    exits: Vec<DirectExit>,
    /// The block's page groups ([`crate::group`]).
    groups: Groups,
    /// The slow path of the page group being emitted, queued once its last member is (which fixes its join).
    open_group: Option<SlowPath>,
    /// Re-encodes guest instructions for the host (one for the block, its buffer reused).
    encoder: Encoder,
    /// A self-loop's page group whose lookup runs once, before the first pass (`self_loop::hoisted_group`).
    hoisted: Option<PageGroup>,
    /// A self-loop's table access whose range is looked up once, before the first pass ([`hoisted_indexed`]).
    indexed: Option<IndexedAccess>,
    /// For each site: every arithmetic flag it leaves is overwritten before anything could see it (see
    /// [`flags_dead_after`]); only worked out when a site has a [`plan::ShiftFix`].
    flags_dead: Vec<bool>,
    /// Until a self-loop's check instruction: how the flags the pass started with can be rebuilt, so that they
    /// need not be saved before each lookup ([`flag_remat`]).
    remat: Option<Remat>,
}

impl<'a> BlockEmitter<'a> {
    /// An emitter that appends to `ops`, which starts at host address `base`; blocks leave through the epilogue at
    /// host address `epilogue`.
    pub fn new(
        ops: &'a mut Ops,
        base: usize,
        shared: SharedCode,
        callouts: Callouts,
        mode: Mode,
        mode_id: Option<u16>,
        first_exit: usize,
    ) -> Self {
        let (leave, leave_storing) = (ops.new_dynamic_label(), ops.new_dynamic_label());
        BlockEmitter {
            base,
            leave,
            leave_storing,
            first_exit,
            mode_id,
            page: 0,
            self_loop: None,
            loop_exit: None,
            exits: Vec::new(),
            groups: Groups::default(),
            open_group: None,
            encoder: Encoder::new(64),
            hoisted: None,
            indexed: None,
            flags_dead: Vec::new(),
            remat: None,
            ops,
            shared,
            callouts,
            mode,
            flags: FlagsAt {
                in_host: false,
                saved: true,
            },
            slow: Vec::new(),
            steps: Vec::new(),
            // A block is entered with the resident registers in place and possibly newer than CpuState's.
            cached: RESIDENT,
            dirty: RESIDENT,
        }
    }

    /// Emits the block whose instructions are `sites`, planned as `plans` (one per site); `may_lead` says whether
    /// a site may lead a page group.
    pub fn emit(
        mut self,
        sites: &[Site],
        plans: &[Plan],
        may_lead: &dyn Fn(&Site) -> bool,
    ) -> Emitted {
        let entry = self.ops.offset();
        self.page = self.linear_page(sites.first().map_or(0, |s| s.instr.ip()));
        let n = sites.len() as i32;
        let no_budget = self.ops.new_dynamic_label();
        dynasm!(self.ops
            ; .arch x64
            ; sub QWORD [BYTE r14 + ctx::BUDGET as i8], BYTE n
            ; js =>no_budget
        );
        let shape = self.plan_loop_and_groups(sites, plans, may_lead);
        for g in &self.groups.list {
            sites[g.leader].leads_group.set(Some(g.range));
        }
        if let Some((lp, LoopShape { regs, written, .. })) = shape {
            let budget = lp.budget;
            self.self_loop = Some(lp);
            dynasm!(self.ops ; .arch x64 ; mov Rq(budget), [BYTE r14 + ctx::BUDGET as i8]);
            let last = sites.len() - 1;
            if let Some(g) = self.hoisted {
                self.look_up_before_the_loop(
                    g.range,
                    g.holder,
                    g.writes,
                    Some(group_access_code(&g)),
                    last,
                );
            }
            let holders = RegSet(self.groups.list.iter().fold(0, |m, g| m | 1 << g.holder));
            self.indexed = hoisted_indexed(sites, plans, (regs, budget), holders, may_lead);
            if let Some(x) = self.indexed {
                sites[x.site].leads_group.set(Some(x.range));
                self.look_up_before_the_loop(x.range, x.holder, x.writes, None, last);
            }
            // Every pass starts as the back edge leaves it: with the flags in the host's (when they may be read)
            // and the loop's guest registers in host registers, those it writes counting as deferred stores, so
            // every way out stores them.
            if lp.flags_live_at_head() {
                self.load_flags();
                self.flags.saved = false;
            }
            self.reload(RegSet(regs.0 & !self.cached.0));
            self.cached = RegSet(regs.0 | RESIDENT.0);
            self.dirty = RegSet(written.0 | RESIDENT.0);
            dynasm!(self.ops ; .arch x64 ; =>lp.head);
            if !lp.check_keeps_cf {
                self.remat = remat_recipe(sites, plans, budget);
            }
        }
        if plans
            .iter()
            .any(|p| matches!(p, Plan::Native(n) if n.shift_fix.is_some()))
        {
            self.flags_dead = flags_dead_after(plans, |j| self.looks_up_nothing(j));
        }
        let mut starts = Vec::with_capacity(sites.len());
        // Whether the code so far always leaves the block (a branch's exits, or a block-ending callout).
        let mut left = false;
        for (k, site) in sites.iter().enumerate() {
            starts.push(self.ops.offset().0);
            if let Some(lp) = self.self_loop.filter(|lp| lp.check == k) {
                self.loop_check(lp);
            }
            if site.crossing && !matches!(plans[k], Plan::Callout) {
                self.crossing_guard(site);
            }
            match plans[k].clone() {
                Plan::DirectBranch => {
                    self.branch(&site.instr);
                    left = true;
                }
                Plan::InnerBranch { continue_taken } => self.inner_branch(sites, k, continue_taken),
                // The target's code comes next.
                Plan::Followed => {}
                Plan::KnownReturn { to, goes_on } => {
                    self.release_return_slot(k);
                    if !goes_on {
                        self.exit_to(to);
                        left = true;
                    }
                }
                Plan::Stack(op) => {
                    self.stack(sites, k, op);
                    left |= matches!(
                        op,
                        StackOp::CallRel
                            | StackOp::CallReg(_)
                            | StackOp::CallMem(_)
                            | StackOp::Ret(_)
                    );
                }
                Plan::IndirectJump(mem) => {
                    self.indirect_jump(sites, k, mem);
                    left = true;
                }
                Plan::BitScan { dst, src, size } => self.bit_scan(sites, k, dst, src, size),
                Plan::Divide { divisor, size } => self.divide(sites, k, divisor, size),
                Plan::RepString { moves, size } => self.rep_string(k, moves, size),
                Plan::ClearInterrupts => {
                    // The AND clobbers the host's flags.
                    self.save_flags();
                    self.flags.in_host = false;
                    let rflags = state::RFLAGS as i32;
                    let if_flag = vx86_cpu::flags::IF as i32;
                    dynasm!(self.ops ; .arch x64 ; and QWORD [r15 + rflags], !if_flag);
                }
                Plan::ReadTsc { aux } => self.read_tsc(site, aux),
                Plan::ReadSelector { dst, seg, size } => {
                    let at = (state::SEGS + 16 * seg as usize + SELECTOR) as i32;
                    let d = RegSet(1 << dst);
                    if size == 2 {
                        self.load_regs(d, &IDENTITY);
                        dynasm!(self.ops ; .arch x64 ; mov Rw(dst), WORD [r15 + at]);
                    } else {
                        dynasm!(self.ops ; .arch x64 ; movzx Rd(dst), WORD [r15 + at]);
                    }
                    self.store_regs(d, &IDENTITY);
                }
                Plan::Native(native) if self.native(sites, k, &native) => {}
                _ => {
                    // A group whose leader could not be run natively does without the group.
                    self.groups.dissolve(k);
                    site.leads_group.set(None);
                    self.callout(site);
                    if site.ends_block {
                        self.leave_after_callout();
                        left = true;
                    }
                }
            }
            if self.groups.list.iter().any(|g| g.last == k) {
                self.close_group();
            }
            if self.remat.is_some_and(|r| r.end == k) {
                self.remat = None;
            }
        }
        if !left {
            let next = sites.last().map_or(0, |s| s.instr.next_ip());
            self.exit_to(next);
        }
        let first_ip = sites.first().map_or(0, |s| s.instr.ip());
        dynasm!(self.ops
            ; .arch x64
            ; =>no_budget
            ; add QWORD [r14 + ctx::BUDGET], n
        );
        self.set_rip(first_ip);
        // Nothing has run: the resident registers are as the block was entered, CpuState perhaps behind.
        dynasm!(self.ops
            ; .arch x64
            ; mov eax, exit::BUDGET as i32
            ; jmp =>self.leave_storing
        );
        for slow in std::mem::take(&mut self.slow) {
            // First try to fill the TLB and run the fast path again; what cannot go fast (MMIO, a fault, a write
            // to a code page, a page-crossing access) runs in the CPU's step.
            let stored = self.ops.new_dynamic_label();
            dynasm!(self.ops ; .arch x64 ; =>slow.label);
            self.store_raw(slow.to_step.dirty);
            if let Some(r) = slow.remat {
                self.emit_remat(r);
            }
            dynasm!(self.ops
                ; .arch x64
                ; mov rsi, Rq(slow.addr)
                ; mov edx, slow.access as i32
            );
            self.call_shared(self.shared.call_fill);
            dynasm!(self.ops
                ; .arch x64
                ; test eax, eax
                ; jnz =>stored
            );
            self.reload(RegSet(slow.cached_at_retry.0 & CALLER_SAVED.0));
            dynasm!(self.ops ; .arch x64 ; jmp =>slow.retry);
            self.step_path(&slow.to_step, Some(stored), sites);
        }
        for path in std::mem::take(&mut self.steps) {
            self.step_path(&path, None, sites);
        }
        if let (Some(lp), Some(out)) = (self.self_loop, self.loop_exit.take()) {
            self.loop_way_out(lp, out, sites);
        }
        // Every way out of the block meets here: a jmp rel32 to a shared epilogue.
        for (label, to) in [
            (self.leave, self.shared.epilogue),
            (self.leave_storing, self.shared.storing_epilogue),
        ] {
            dynasm!(self.ops ; .arch x64 ; =>label);
            let from = self.base + self.ops.offset().0 + 5;
            let rel = (to as i64 - from as i64) as i32;
            let rel = rel.to_le_bytes();
            self.ops.extend([0xE9, rel[0], rel[1], rel[2], rel[3]]);
        }
        let members = self
            .groups
            .roles
            .iter()
            .filter(|r| **r != group::Role::Outside);
        let page_groups = self.groups.list.len() as u64;
        Emitted {
            entry,
            starts,
            exits: self.exits,
            page_groups,
            grouped_accesses: members.count() as u64 - page_groups,
            hoisted_groups: u64::from(self.hoisted.is_some()) + u64::from(self.indexed.is_some()),
            self_loop: self.self_loop.is_some(),
        }
    }

    /// Emits a step path; `stored` is where a caller that already stored the deferred registers comes in.
    fn step_path(&mut self, path: &StepPath, stored: Option<DynamicLabel>, sites: &[Site]) {
        dynasm!(self.ops ; .arch x64 ; =>path.step);
        self.store_raw(path.dirty);
        if let Some(stored) = stored {
            dynasm!(self.ops ; .arch x64 ; =>stored);
        }
        // The step counts instructions by the budget in the context.
        self.store_budget();
        match &sites[path.site..=path.through] {
            [site] => self.call_step(site),
            run => self.call_steps(run),
        }
        if path.restore_flags {
            self.restore_flags_raw();
        }
        // The step may have written any guest register.
        self.reload(path.cached_at_join);
        dynasm!(self.ops ; .arch x64 ; jmp =>path.join);
    }

    /// Saves the host's flags as the guest's (LAHF for SF ZF AF PF CF, SETO for OF: far cheaper than PUSHFQ).
    /// Uses RAX. The image is stored and loaded as 32 bits, its upper half whatever EAX held: as 16 bits, the
    /// partial-register merges and the narrow store-to-load forwarding made each save and the next restore a long
    /// dependency chain (a loop that saves and restores its flags ran at half the speed).
    fn save_flags(&mut self) {
        if let (false, false, Some(r)) = (self.flags.saved, self.flags.in_host, self.remat) {
            self.materialize_remat(r);
        }
        if !self.flags.saved {
            self.free_rax();
            dynasm!(self.ops
                ; .arch x64
                ; lahf
                ; seto al
                ; mov [BYTE r14 + ctx::SAVED_FLAGS as i8], eax
            );
            self.flags.saved = true;
        }
    }

    /// [`Self::save_flags`], keeping a guest value in RAX there: it waits in `spare` (a free scratch register)
    /// meanwhile, rather than being stored and loaded again later.
    fn save_flags_keeping_rax(&mut self, spare: u8) {
        if self.flags.saved || !self.flags.in_host || !self.cached.contains(0) {
            self.save_flags();
            return;
        }
        dynasm!(self.ops
            ; .arch x64
            ; mov Rq(spare), rax
            ; lahf
            ; seto al
            ; mov [BYTE r14 + ctx::SAVED_FLAGS as i8], eax
            ; mov rax, Rq(spare)
        );
        self.flags.saved = true;
    }

    /// Loads the guest's saved flags into the host's: OF by an addition that overflows exactly when it was set, the
    /// rest by SAHF. Uses RAX, which the register pool never hands out as a scratch register for this reason.
    fn restore_flags_now(&mut self) {
        self.free_rax();
        self.restore_flags_raw();
    }

    /// Stores the guest's RAX if its store is deferred and forgets that host RAX holds it, for code that uses RAX.
    fn free_rax(&mut self) {
        self.flush(RegSet(1));
        self.cached.remove(0);
    }

    /// The code of [`Self::restore_flags_now`] alone, for slow paths (which keep their own register bookkeeping).
    fn restore_flags_raw(&mut self) {
        dynasm!(self.ops
            ; .arch x64
            ; mov eax, [BYTE r14 + ctx::SAVED_FLAGS as i8]
            ; add al, 0x7F
            ; sahf
        );
    }

    fn load_flags(&mut self) {
        if !self.flags.in_host {
            if let (false, Some(r)) = (self.flags.saved, self.remat) {
                self.materialize_remat(r);
            }
            self.restore_flags_now();
            self.flags.in_host = true;
        }
    }

    fn set_rip(&mut self, rip: u64) {
        let rip_off = state::RIP as i32;
        if let Ok(imm) = i32::try_from(rip as i64) {
            dynasm!(self.ops ; .arch x64 ; mov QWORD [r15 + rip_off], imm);
        } else {
            dynasm!(self.ops
                ; .arch x64
                ; mov rax, QWORD rip as i64
                ; mov [r15 + rip_off], rax
            );
        }
    }

    /// The linear page of guest address `rip` in the block's mode.
    fn linear_page(&self, rip: u64) -> u64 {
        self.mode.cs_base.wrapping_add(rip) & !0xFFF
    }

    /// Leaves the block for guest address `rip`: on the block's own page through a jump that chaining may later
    /// point at the target's translation (which expects the flags saved, as every block entry does); on another
    /// page (whose mapping may change) through the jump table.
    fn exit_to(&mut self, rip: u64) {
        self.prepare_exit();
        if self.linear_page(rip) != self.page {
            let target = 5;
            dynasm!(self.ops ; .arch x64 ; mov Rq(target), QWORD rip as i64);
            self.goto_register(target);
            return;
        }
        // jmp rel32 to the next instruction, until linked.
        self.ops.extend([0xE9, 0, 0, 0, 0]);
        self.direct_exit_code(rip, AssemblyOffset(self.ops.offset().0 - 4));
    }

    /// Makes the state what every block entry expects before a block exit: the resident registers in their host
    /// registers, the other guest registers stored, flags saved and the budget in the context.
    fn prepare_exit(&mut self) {
        self.settle();
        self.save_flags();
        self.store_budget();
    }

    /// The registers as a block entry expects them: the other guest registers stored, and the resident ones in
    /// their host registers (those used for something else meanwhile loaded back; CpuState has them).
    fn settle(&mut self) {
        self.flush(RegSet(!RESIDENT.0));
        self.reload(RegSet(RESIDENT.0 & !self.cached.0));
        self.cached.0 |= RESIDENT.0;
    }

    /// Records a direct exit for `rip` whose jump's rel32 field is at `rel32`, and emits the code it runs until
    /// linked (here, where that jump leads): RIP set, then back to the dispatcher with the exit's number.
    fn direct_exit_code(&mut self, rip: u64, rel32: AssemblyOffset) {
        let number = self.first_exit + self.exits.len();
        self.exits.push(DirectExit { rel32, target: rip });
        self.set_rip(rip);
        let code = (exit::DIRECT + number as u64) as i32;
        // Until linked, the exit goes to the dispatcher, which reads every register in CpuState (the resident ones
        // are all in their host registers here).
        dynasm!(self.ops
            ; .arch x64
            ; mov eax, code
            ; jmp =>self.leave_storing
        );
    }

    /// Leaves for the guest address in host register `target` (flags saved): straight into its translation when
    /// the jump table has it, else to the dispatcher with RIP set.
    fn goto_register(&mut self, target: u8) {
        // A self-loop's budget is stored already: its register may be `target` now.
        self.settle();
        let miss = self.ops.new_dynamic_label();
        if let Some(id) = self.mode_id {
            crate::jump_table::emit_lookup(self.ops, target, id, miss);
        }
        let rip_off = state::RIP as i32;
        dynasm!(self.ops ; .arch x64 ; =>miss);
        // The lookup callout clobbers the resident registers, and the dispatcher reads them in CpuState.
        self.store_raw(RegSet(self.dirty.0 & RESIDENT.0));
        dynasm!(self.ops ; .arch x64 ; mov [r15 + rip_off], Rq(target));
        if self.mode_id.is_some() {
            // Not in the table (or no longer valid there): a translated block may still be current.
            let found = self.ops.new_dynamic_label();
            dynasm!(self.ops
                ; .arch x64
                ; mov rdi, r14
                ; mov rax, QWORD self.callouts.lookup as i64
                ; call rax
                ; test rax, rax
                ; jnz =>found
                ; jmp =>self.leave
                ; =>found
            );
            self.reload(RESIDENT);
            dynasm!(self.ops ; .arch x64 ; jmp rax);
        } else {
            dynasm!(self.ops ; .arch x64 ; xor eax, eax ; jmp =>self.leave);
        }
    }

    /// Calls the step callout for `site` and leaves the block if it says so; RAX holds its verdict.
    fn call_step(&mut self, site: &Site) {
        self.call_step_only(site);
        dynasm!(self.ops
            ; .arch x64
            ; test eax, eax
            ; jnz =>self.leave
        );
    }

    /// Calls the steps callout for the sites of `run` (consecutive, more than one), leaving for the epilogue if it
    /// says to.
    fn call_steps(&mut self, run: &[Site]) {
        let first = run.as_ptr() as i64;
        dynasm!(self.ops
            ; .arch x64
            ; mov rsi, QWORD first
            ; mov edx, run.len() as i32
        );
        self.call_shared(self.shared.call_steps);
        dynasm!(self.ops
            ; .arch x64
            ; test eax, eax
            ; jnz =>self.leave
        );
    }

    /// Calls the step callout for `site`, leaving its verdict in RAX.
    fn call_step_only(&mut self, site: &Site) {
        let site_ptr = site as *const Site as i64;
        dynasm!(self.ops ; .arch x64 ; mov rsi, QWORD site_ptr);
        self.call_shared(self.shared.call_step);
    }

    /// After a block-ending callout, which always leaves with RIP set: for the dispatcher, or when nothing needs
    /// it, for the next block through the jump table, or straight to the translation the callout found (after a
    /// change of mode, see [`callout::step`]).
    fn leave_after_callout(&mut self) {
        let rip_off = state::RIP as i32;
        let target = 5;
        let goto_rip = self.ops.new_dynamic_label();
        dynasm!(self.ops
            ; .arch x64
            ; cmp rax, callout::GOTO_RIP as i32
            ; je =>goto_rip
            ; cmp rax, callout::LEAVE as i32
            ; jbe =>self.leave
        );
        // Into the block the callout found, which expects the resident registers (CpuState has them: the callout
        // stored every register first).
        self.reload(RESIDENT);
        dynasm!(self.ops
            ; .arch x64
            ; jmp rax
            ; =>goto_rip
            ; mov Rq(target), [r15 + rip_off]
        );
        self.goto_register(target);
    }

    /// Before a crossing site's host code: unless the TLB's epoch is still the one its bytes were fetched in, the
    /// site goes to its callout instead (which fetches it afresh) and the block is left.
    fn crossing_guard(&mut self, site: &Site) {
        self.save_flags();
        self.free_rax();
        let current = self.ops.new_dynamic_label();
        let kept_epoch = site.kept_epoch.as_ptr() as i64;
        dynasm!(self.ops
            ; .arch x64
            ; mov rax, QWORD kept_epoch
            ; mov rax, [rax]
            ; shl rax, 16
            ; cmp rax, [BYTE r14 + ctx::EPOCH_TAGS as i8]
            ; je =>current
        );
        self.flags.in_host = false;
        let at_guard = (self.cached, self.dirty, self.flags);
        self.callout(site);
        self.leave_after_callout();
        (self.cached, self.dirty, self.flags) = at_guard;
        dynasm!(self.ops ; .arch x64 ; =>current);
    }

    fn callout(&mut self, site: &Site) {
        self.flush(ALL);
        self.save_flags();
        self.store_budget();
        if site.ends_block {
            self.call_step_only(site);
        } else {
            self.call_step(site);
        }
        self.cached = RegSet::default();
        self.dirty = RegSet::default();
        self.flags = FlagsAt {
            in_host: false,
            saved: true,
        };
    }

    /// A relative JMP or Jcc: exits to its target and, for Jcc, to the next instruction.
    fn branch(&mut self, i: &Instruction) {
        let target = i.near_branch_target();
        let next = i.next_ip();
        if let Some(lp) = self.self_loop.filter(|lp| lp.start == target) {
            if i.mnemonic() == iced_x86::Mnemonic::Jmp {
                self.back_edge(lp);
                return;
            }
            // The back edge falls through from the branch, so a pass costs one taken jump.
            self.load_flags();
            let not_taken = self.ops.new_dynamic_label();
            self.jcc(negated(i.condition_code()), not_taken);
            let (cached, dirty, flags) = (self.cached, self.dirty, self.flags);
            self.back_edge(lp);
            (self.cached, self.dirty, self.flags) = (cached, dirty, flags);
            dynasm!(self.ops ; .arch x64 ; =>not_taken);
            self.exit_to(next);
            return;
        }
        if i.mnemonic() == iced_x86::Mnemonic::Jmp {
            self.exit_to(target);
            return;
        }
        self.settle();
        self.load_flags();
        self.save_flags();
        let taken = self.ops.new_dynamic_label();
        self.jcc(i.condition_code(), taken);
        if self.linear_page(target) != self.page {
            self.exit_to(next);
            dynasm!(self.ops ; .arch x64 ; =>taken);
            self.exit_to(target);
            return;
        }
        // The Jcc is the taken way's patchable jump (its rel32 ends the instruction), so a linked taken branch
        // costs one host jump, not a jump to a jump.
        let rel32 = AssemblyOffset(self.ops.offset().0 - 4);
        self.exit_to(next);
        dynasm!(self.ops ; .arch x64 ; =>taken);
        self.prepare_exit();
        self.direct_exit_code(target, rel32);
    }

    /// A conditional branch in the middle of the block ([`Plan::InnerBranch`]): one way goes on with the next site,
    /// the other leaves the block, refunding the instructions after this one to the budget (a block and a
    /// self-loop's pass are charged whole).
    fn inner_branch(&mut self, sites: &[Site], k: usize, continue_taken: bool) {
        let i = &sites[k].instr;
        let cc = i.condition_code();
        let (go_on, leave_for) = if continue_taken {
            (cc, i.next_ip())
        } else {
            (negated(cc), i.near_branch_target())
        };
        self.load_flags();
        let on = self.ops.new_dynamic_label();
        self.jcc(go_on, on);
        let kept = (self.cached, self.dirty, self.flags);
        self.settle();
        self.save_flags();
        let refund = (sites.len() - k - 1) as i32;
        match self.self_loop {
            Some(lp) => dynasm!(self.ops ; .arch x64 ; add Rq(lp.budget), refund),
            None => {
                dynasm!(self.ops ; .arch x64 ; add QWORD [BYTE r14 + ctx::BUDGET as i8], refund)
            }
        }
        self.flags.in_host = false;
        self.exit_to(leave_for);
        (self.cached, self.dirty, self.flags) = kept;
        dynasm!(self.ops ; .arch x64 ; =>on);
    }

    fn jcc(&mut self, cc: ConditionCode, to: DynamicLabel) {
        use ConditionCode as C;
        match cc {
            C::o => dynasm!(self.ops ; .arch x64 ; jo =>to),
            C::no => dynasm!(self.ops ; .arch x64 ; jno =>to),
            C::b => dynasm!(self.ops ; .arch x64 ; jb =>to),
            C::ae => dynasm!(self.ops ; .arch x64 ; jae =>to),
            C::e => dynasm!(self.ops ; .arch x64 ; je =>to),
            C::ne => dynasm!(self.ops ; .arch x64 ; jne =>to),
            C::be => dynasm!(self.ops ; .arch x64 ; jbe =>to),
            C::a => dynasm!(self.ops ; .arch x64 ; ja =>to),
            C::s => dynasm!(self.ops ; .arch x64 ; js =>to),
            C::ns => dynasm!(self.ops ; .arch x64 ; jns =>to),
            C::p => dynasm!(self.ops ; .arch x64 ; jp =>to),
            C::np => dynasm!(self.ops ; .arch x64 ; jnp =>to),
            C::l => dynasm!(self.ops ; .arch x64 ; jl =>to),
            C::ge => dynasm!(self.ops ; .arch x64 ; jge =>to),
            C::le => dynasm!(self.ops ; .arch x64 ; jle =>to),
            C::g => dynasm!(self.ops ; .arch x64 ; jg =>to),
            C::None => dynasm!(self.ops ; .arch x64 ; jmp =>to),
        }
    }

    /// Whether site `k`'s memory access goes through a range looked up by another site (a page group's member, a
    /// self-loop's hoisted group or table access), so it has no lookup, slow path or fault of its own.
    fn looks_up_nothing(&self, k: usize) -> bool {
        self.follows_in_group(k) || self.indexed.is_some_and(|x| x.site == k)
    }

    /// Whether site `k` is a page group's member that reaches memory through the group's holder: any member but
    /// the leader, and the leader too when the group is looked up before a self-loop.
    fn follows_in_group(&self, k: usize) -> bool {
        self.groups
            .member(k)
            .is_some_and(|(g, _)| g.leader != k || self.hoisted == Some(*g))
    }

    /// Emits `sites[k]` natively; false (having emitted nothing) when it cannot be encoded on the host.
    fn native(&mut self, sites: &[Site], k: usize, n: &Native) -> bool {
        let unfixed;
        let n = if n.shift_fix.is_some() && self.flags_dead.get(k) == Some(&true) {
            // Nothing sees the shift's AF and OF.
            unfixed = Native {
                shift_fix: None,
                ..n.clone()
            };
            &unfixed
        } else {
            n
        };
        let i = &sites[k].instr;
        let mut pool = Pool::new(RegSet(n.used.0 | self.reserved(k).0), n.high_byte);
        // A page group's member reaches memory through the group's holder; only the leader looks the range up.
        let member = self.groups.member(k).map(|(g, offset)| (*g, offset));
        let follower = member.filter(|_| self.follows_in_group(k));
        let indexed = self.indexed.filter(|x| x.site == k);
        // Keep registers that hold guest values, and those the address is computed from, out of scratch use.
        let mut keep = self.cached;
        for r in [i.memory_base(), i.memory_index()] {
            if r.is_gpr() {
                keep.insert(regs::number(r));
            }
        }
        pool.spare(keep);
        // Host register for each guest register the instruction names.
        let mut host = [0u8; 16];
        for g in n.used.iter() {
            host[usize::from(g)] = if regs::needs_rename(g) {
                match pool.take() {
                    Some(r) => r,
                    None => return false,
                }
            } else {
                g
            };
        }
        let needs_address =
            (n.memory.is_some() && follower.is_none() && indexed.is_none()) || n.lea;
        // A 32- or 64-bit LEA computes straight into its destination, unless that is its index (which a base
        // loaded into the destination would overwrite first).
        let lea_into_destination = n.lea && {
            let dst = i.op0_register();
            let index = i.memory_index();
            dst.size() != 2 && !(index.is_gpr() && regs::number(index) == regs::number(dst))
        };
        let scratch = if lea_into_destination {
            let d = host[usize::from(regs::number(i.op0_register()))];
            match pool.take() {
                Some(t) => Some((d, t, t)),
                None => return false,
            }
        } else if needs_address {
            match (pool.take(), pool.take(), pool.take()) {
                (Some(a), Some(b), Some(c)) => Some((a, b, c)),
                _ => return false,
            }
        } else {
            None
        };
        // The pointer to the guest's XMM registers, for an SSE instruction.
        let xmm_base = if n.xmm_loaded | n.xmm_written != 0 {
            match pool.take() {
                Some(r) => Some(r),
                None => return false,
            }
        } else {
            None
        };
        // A hoisted table access: its index in a register of its own (loaded from CpuState when renamed).
        let index = match indexed {
            Some(x) => match pool.take() {
                Some(t) => Some((x, t)),
                None => return false,
            },
            None => None,
        };
        let host_address = match (member, index) {
            (Some((g, offset)), _) => Some(HostAddress::at(g.holder, offset)),
            (None, Some((x, t))) => Some(HostAddress {
                base: x.holder,
                index: Some((t, x.scale)),
                disp: 0,
            }),
            (None, None) => scratch.map(|s| HostAddress::at(s.0, 0)),
        };
        let Some(bytes) = host_bytes(&mut self.encoder, i, n, &host, host_address) else {
            return false;
        };
        // Renamed registers and scratch registers are about to hold something else.
        self.flush(pool.taken);
        self.cached.0 &= !pool.taken.0;
        if let Some((x, t)) = index {
            // The MOVZX that bounds the index zero-extended it: its whole register is the element number.
            let home = self.home(x.index, t, pool.taken);
            if home != t {
                dynasm!(self.ops ; .arch x64 ; mov Rq(t), Rq(home));
            }
        }
        if follower.is_some() || index.is_some() {
            self.body(n, &host, bytes, xmm_base);
            return true;
        }
        if let (Some((tmp, t1, t2)), Some((g, _))) = (scratch, member) {
            let start = self.open_group(&g, Some(t2));
            let base = self.home(g.range.base, tmp, pool.taken);
            self.look_up_group(&g, base, (t1, t2), start);
            self.body(n, &host, bytes, xmm_base);
            return true;
        }
        if let (Some((addr, t1, t2)), Some(mem)) = (scratch, n.memory) {
            // In a self-loop's pass before its check, the slow path can rebuild the flags instead.
            let remat = self.remat.filter(|_| !n.align16 && !self.flags.saved);
            if remat.is_none() {
                self.save_flags_keeping_rax(t2);
            }
            let retry = self.ops.new_dynamic_label();
            dynasm!(self.ops ; .arch x64 ; =>retry);
            let cached_at_retry = self.cached;
            let dirty_at_miss = self.dirty;
            self.address(i, (addr, t1), pool.taken, mem.wrap32, mem.add_base);
            let (miss, step) = (self.ops.new_dynamic_label(), self.ops.new_dynamic_label());
            if n.align16 {
                // A misaligned operand is the step's #GP.
                dynasm!(self.ops ; .arch x64 ; test Rb(addr), 15 ; jnz =>step);
            }
            self.tlb_lookup(addr, t1, t2, &mem, miss);
            self.flags.in_host = false;
            let join = self.ops.new_dynamic_label();
            self.body(n, &host, bytes, xmm_base);
            dynasm!(self.ops ; .arch x64 ; =>join);
            let to_step = StepPath {
                restore_flags: self.flags.in_host,
                ..StepPath::one(step, k, join, self.cached, dirty_at_miss)
            };
            self.slow.push(SlowPath {
                remat,
                ..SlowPath::new(
                    miss,
                    retry,
                    addr,
                    access_code(&mem),
                    cached_at_retry,
                    to_step,
                )
            });
            return true;
        }
        if let (Some((addr, t1, _)), true) = (scratch, n.lea) {
            // LEA: the address (no segment base) goes to the destination at its size.
            let wrap32 = Self::address_wraps32(i);
            self.address(i, (addr, t1), pool.taken, wrap32, None);
            let dst = regs::number(i.op0_register());
            let size = i.op0_register().size();
            let d = host[usize::from(dst)];
            match size {
                2 => {
                    // A 16-bit LEA keeps the destination's upper bits.
                    self.load_regs(RegSet(1 << dst), &host);
                    dynasm!(self.ops ; .arch x64 ; mov Rw(d), Rw(addr));
                }
                4 if addr == d && wrap32 => {}
                4 => dynasm!(self.ops ; .arch x64 ; mov Rd(d), Rd(addr)),
                _ if addr == d => {}
                _ => dynasm!(self.ops ; .arch x64 ; mov Rq(d), Rq(addr)),
            }
            self.store_regs(RegSet(1 << dst), &host);
            return true;
        }
        self.body(n, &host, bytes, xmm_base);
        true
    }

    /// Starts page group `g` at its leader: the flags saved (the lookup clobbers them; a guest value in RAX waits
    /// in `spare`, when given, meanwhile), the holder's guest twin stored and forgotten, and the label where the
    /// lookup runs again after a TLB fill, which is returned.
    fn open_group(&mut self, g: &PageGroup, spare: Option<u8>) -> GroupStart {
        match spare {
            Some(spare) => self.save_flags_keeping_rax(spare),
            None => self.save_flags(),
        }
        self.flags.in_host = false;
        self.flush(RegSet(1 << g.holder));
        self.cached.remove(g.holder);
        let retry = self.ops.new_dynamic_label();
        dynasm!(self.ops ; .arch x64 ; =>retry);
        GroupStart {
            retry,
            cached: self.cached,
            dirty: self.dirty,
        }
    }

    /// Page group `g`'s lookup, its base's value (at the leader's start) in host register `base`: the holder gets
    /// the host address of the range's low end; a miss goes to the group's slow path (a fill, else the step for
    /// the whole range), queued by [`Self::close_group`] once the last member is emitted.
    fn look_up_group(&mut self, g: &PageGroup, base: u8, scratch: (u8, u8), start: GroupStart) {
        let holder = g.holder;
        dynasm!(self.ops ; .arch x64 ; lea Rq(holder), [Rq(base) + g.range.low]);
        let (miss, step, join) = (
            self.ops.new_dynamic_label(),
            self.ops.new_dynamic_label(),
            self.ops.new_dynamic_label(),
        );
        self.range_lookup(holder, scratch, g.range.span, g.writes, miss);
        let to_step = StepPath {
            step,
            site: g.leader,
            through: g.last,
            join,
            restore_flags: false,
            cached_at_join: RegSet::default(),
            dirty: start.dirty,
        };
        self.open_group = Some(SlowPath::new(
            miss,
            start.retry,
            holder,
            group_access_code(g),
            start.cached,
            to_step,
        ));
    }

    /// After a page group's last member: its slow path's step rejoins here, with the registers and flags this
    /// point expects.
    fn close_group(&mut self) {
        if let Some(mut slow) = self.open_group.take() {
            dynasm!(self.ops ; .arch x64 ; =>slow.to_step.join);
            slow.to_step.restore_flags = self.flags.in_host;
            slow.to_step.cached_at_join = self.cached;
            self.slow.push(slow);
        }
    }

    /// Host registers that are never scratch at site `k`: a self-loop's budget register, and the holders of the
    /// page group around it, of a self-loop's hoisted group and of its table access.
    fn reserved(&self, k: usize) -> RegSet {
        RegSet(
            self.self_loop.map_or(0, |lp| 1u16 << lp.budget)
                | self.groups.around(k).map_or(0, |g| 1u16 << g.holder)
                | self.hoisted.map_or(0, |g| 1u16 << g.holder)
                | self.indexed.map_or(0, |x| 1u16 << x.holder),
        )
    }

    /// Jumps to `step` unless the address in host register `value` is canonical (using `scratch`): a control
    /// transfer to a non-canonical address faults in the transferring instruction, which the step raises.
    fn canonical_or(&mut self, value: u8, scratch: u8, step: DynamicLabel) {
        dynasm!(self.ops
            ; .arch x64
            ; mov Rq(scratch), Rq(value)
            ; shl Rq(scratch), 16
            ; sar Rq(scratch), 16
            ; cmp Rq(scratch), Rq(value)
            ; jne =>step
        );
    }

    /// Where a control transfer's slow path rejoins (`join`): its step set RIP, and the block leaves for the
    /// dispatcher.
    fn leave_at(&mut self, join: DynamicLabel) {
        dynasm!(self.ops
            ; .arch x64
            ; =>join
            ; xor eax, eax
            ; jmp =>self.leave
        );
    }

    /// BSF/BSR between registers as the interpreter runs them: a zero source sets ZF and leaves the destination
    /// alone; otherwise the index is written and ZF cleared; the other flags stay. The guest's flags are kept in
    /// the context, whose ZF is set or cleared in place.
    fn bit_scan(&mut self, sites: &[Site], k: usize, dst: u8, src: Source, size: u32) {
        let i = &sites[k].instr;
        self.save_flags();
        self.flags.in_host = false;
        let done = self.ops.new_dynamic_label();
        let (src, slow) = self.source(sites, k, src, size, RegSet(1 << dst), done);
        // The destination is loaded too: a zero source leaves it as it was.
        self.load_regs(RegSet(1 << dst), &IDENTITY);
        let zero = self.ops.new_dynamic_label();
        let zf_byte = ctx::SAVED_FLAGS + 1;
        let zf = (vx86_cpu::flags::ZF as i32) as i8;
        let forward = i.mnemonic() == iced_x86::Mnemonic::Bsf;
        match (size, forward) {
            (8, true) => {
                dynasm!(self.ops ; .arch x64 ; test Rq(src), Rq(src) ; jz =>zero ; bsf Rq(dst), Rq(src))
            }
            (8, false) => {
                dynasm!(self.ops ; .arch x64 ; test Rq(src), Rq(src) ; jz =>zero ; bsr Rq(dst), Rq(src))
            }
            (4, true) => {
                dynasm!(self.ops ; .arch x64 ; test Rd(src), Rd(src) ; jz =>zero ; bsf Rd(dst), Rd(src))
            }
            (4, false) => {
                dynasm!(self.ops ; .arch x64 ; test Rd(src), Rd(src) ; jz =>zero ; bsr Rd(dst), Rd(src))
            }
            (_, true) => {
                dynasm!(self.ops ; .arch x64 ; test Rw(src), Rw(src) ; jz =>zero ; bsf Rw(dst), Rw(src))
            }
            (_, false) => {
                dynasm!(self.ops ; .arch x64 ; test Rw(src), Rw(src) ; jz =>zero ; bsr Rw(dst), Rw(src))
            }
        }
        dynasm!(self.ops
            ; .arch x64
            ; and BYTE [r14 + zf_byte], !zf
            ; jmp =>done
            ; =>zero
            ; or BYTE [r14 + zf_byte], zf
        );
        self.store_regs(RegSet(1 << dst), &IDENTITY);
        dynasm!(self.ops ; .arch x64 ; =>done);
        self.push_slow(slow);
    }

    /// RDTSC through its short callout: the registers a call clobbers are stored first, then EAX and EDX take
    /// the counter's halves (zero-extended, as a 32-bit write does), and for RDTSCP (`aux`) ECX takes TSC_AUX.
    /// The flags stay saved in the context.
    fn read_tsc(&mut self, site: &Site, aux: bool) {
        self.save_flags();
        self.flags.in_host = false;
        self.flush(CALLER_SAVED);
        self.cached.0 &= !CALLER_SAVED.0;
        let site_ptr = site as *const Site as i64;
        dynasm!(self.ops
            ; .arch x64
            ; mov rdi, r14
            ; mov rsi, QWORD site_ptr
            ; mov rax, QWORD self.callouts.read_tsc as i64
            ; call rax
            ; mov rdx, rax
            ; shr rdx, 32
            ; mov eax, eax
        );
        if aux {
            let tsc_aux = state::TSC_AUX as i32;
            dynasm!(self.ops ; .arch x64 ; mov ecx, [r15 + tsc_aux]);
            self.store_regs(RegSet(0b111), &IDENTITY);
        } else {
            self.store_regs(RegSet(0b101), &IDENTITY);
        }
    }

    /// The value of `src` (`size` bytes) in a host register, for `sites[k]`: a guest register's own, or a
    /// scratch register (none of `keep`) loaded through the TLB. A miss that no fill serves runs the whole
    /// instruction in the step, which continues at `join` (whose register state the caller gives
    /// [`Self::push_slow`] with the path returned here).
    fn source(
        &mut self,
        sites: &[Site],
        k: usize,
        src: Source,
        size: u32,
        keep: RegSet,
        join: DynamicLabel,
    ) -> (u8, Option<SlowPath>) {
        let mem = match src {
            Source::Reg(r) => {
                self.load_regs(RegSet(1 << r), &IDENTITY);
                return (r, None);
            }
            Source::Mem(mem) => mem,
        };
        let mut pool = Pool::new(keep, false);
        pool.spare(self.cached);
        let taken = [pool.take(), pool.take(), pool.take(), pool.take()];
        let [Some(addr), Some(entry), Some(last), Some(value)] = taken else {
            unreachable!("four of eleven registers are free beside at most three kept");
        };
        self.flush(pool.taken);
        self.cached.0 &= !pool.taken.0;
        let (retry, miss, step) = (
            self.ops.new_dynamic_label(),
            self.ops.new_dynamic_label(),
            self.ops.new_dynamic_label(),
        );
        let (cached_at_retry, dirty) = (self.cached, self.dirty);
        dynasm!(self.ops ; .arch x64 ; =>retry);
        self.address(
            &sites[k].instr,
            (addr, entry),
            pool.taken,
            mem.wrap32,
            mem.add_base,
        );
        self.tlb_lookup(addr, entry, last, &mem, miss);
        match size {
            8 => dynasm!(self.ops ; .arch x64 ; mov Rq(value), [Rq(addr)]),
            4 => dynasm!(self.ops ; .arch x64 ; mov Rd(value), [Rq(addr)]),
            _ => dynasm!(self.ops ; .arch x64 ; movzx Rd(value), WORD [Rq(addr)]),
        }
        let slow = SlowPath::new(
            miss,
            retry,
            addr,
            access_code(&mem),
            cached_at_retry,
            StepPath::one(step, k, join, RegSet::default(), dirty),
        );
        (value, Some(slow))
    }

    /// Queues a slow path from [`Self::source`], now that the register state at its join is known.
    fn push_slow(&mut self, slow: Option<SlowPath>) {
        if let Some(mut slow) = slow {
            slow.to_step.cached_at_join = self.cached;
            self.slow.push(slow);
        }
    }

    /// Unsigned DIV of RDX:RAX (EDX:EAX) by a register; a zero divisor or a quotient too wide for RAX goes to the
    /// step, which raises #DE. The guest's flags stay saved in the context (DIV leaves them as they were).
    fn divide(&mut self, sites: &[Site], k: usize, divisor: Source, size: u32) {
        self.save_flags();
        self.flags.in_host = false;
        let (step, join) = (self.ops.new_dynamic_label(), self.ops.new_dynamic_label());
        let (divisor, slow) = self.source(sites, k, divisor, size, RegSet(0b101), join);
        self.load_regs(RegSet(0b101), &IDENTITY);
        let cached_before = self.cached;
        let dirty = self.dirty;
        if size == 8 {
            dynasm!(self.ops
                ; .arch x64
                ; test Rq(divisor), Rq(divisor)
                ; jz =>step
                ; cmp rdx, Rq(divisor)
                ; jae =>step
                ; div Rq(divisor)
            );
        } else {
            dynasm!(self.ops
                ; .arch x64
                ; test Rd(divisor), Rd(divisor)
                ; jz =>step
                ; cmp edx, Rd(divisor)
                ; jae =>step
                ; div Rd(divisor)
            );
        }
        self.store_regs(RegSet(0b101), &IDENTITY);
        dynasm!(self.ops ; .arch x64 ; =>join);
        self.push_slow(slow);
        self.steps.push(StepPath::one(
            step,
            k,
            join,
            RegSet(self.cached.0 | cached_before.0),
            dirty,
        ));
    }

    /// JMP through a register or memory: the block is left for the target, through the jump table. A
    /// non-canonical target faults in the JMP itself, which the step raises; so does a memory operand that misses
    /// the TLB and cannot be filled.
    fn indirect_jump(&mut self, sites: &[Site], k: usize, mem: Option<MemOperand>) {
        let i = &sites[k].instr;
        let (addr, entry, last, value) = (1u8, 2u8, 3u8, 5u8);
        self.save_flags();
        self.flags.in_host = false;
        let mut clobbered = RegSet::default();
        for scratch in [addr, entry, last, value] {
            clobbered.insert(scratch);
        }
        if mem.is_none() {
            // The target register is read from CpuState.
            clobbered.insert(regs::number(i.op0_register()));
        }
        self.flush(clobbered);
        self.cached.0 &= !clobbered.0;
        let dirty_at_miss = self.dirty;
        let (retry, miss, step, join) = (
            self.ops.new_dynamic_label(),
            self.ops.new_dynamic_label(),
            self.ops.new_dynamic_label(),
            self.ops.new_dynamic_label(),
        );
        let cached_at_retry = self.cached;
        dynasm!(self.ops ; .arch x64 ; =>retry);
        match mem {
            Some(mem) => {
                self.address(i, (addr, entry), clobbered, mem.wrap32, mem.add_base);
                self.tlb_lookup(addr, entry, last, &mem, miss);
                dynasm!(self.ops ; .arch x64 ; mov Rq(value), [Rq(addr)]);
            }
            None => {
                let off = gpr_slot(regs::number(i.op0_register()));
                dynasm!(self.ops ; .arch x64 ; mov Rq(value), [BYTE r15 + off]);
            }
        }
        self.canonical_or(value, last, step);
        self.goto_register(value);
        self.leave_at(join);
        let access = mem.map_or(0, |m| access_code(&m));
        self.slow.push(SlowPath::new(
            miss,
            retry,
            addr,
            access,
            cached_at_retry,
            StepPath::one(step, k, join, RegSet::default(), dirty_at_miss),
        ));
    }

    fn address_wraps32(i: &Instruction) -> bool {
        vx86_cpu::Cpu::address_size(i) == 4
    }

    /// Flags in, registers in, the instruction, registers out. An SSE instruction's XMM registers come from and go
    /// back to the guest's through host register `xmm_base`, which points at them.
    fn body(&mut self, n: &Native, host: &[u8; 16], mut bytes: Vec<u8>, xmm_base: Option<u8>) {
        if n.needs_flags {
            self.load_flags();
        }
        self.load_regs(n.loaded, host);
        if let Some(base) = xmm_base {
            dynasm!(self.ops ; .arch x64 ; mov Rq(base), [BYTE r14 + ctx::XMM as i8]);
            for x in RegSet(n.xmm_loaded).iter() {
                let off = 16 * i32::from(x);
                dynasm!(self.ops ; .arch x64 ; movdqu Rx(x), [Rq(base) + off]);
            }
        }
        self.ops.extend(bytes.iter().copied());
        if let Some(fix) = n.shift_fix {
            self.fix_shift_flags(fix, host);
        }
        // The encoder's buffer, back for the next instruction.
        bytes.clear();
        self.encoder.set_buffer(bytes);
        if let Some(base) = xmm_base {
            for x in RegSet(n.xmm_written).iter() {
                let off = 16 * i32::from(x);
                dynasm!(self.ops ; .arch x64 ; movdqu [Rq(base) + off], Rx(x));
            }
        }
        self.store_regs(n.written, host);
        if n.writes_flags {
            self.flags = FlagsAt {
                in_host: true,
                saved: false,
            };
        }
    }

    /// Loads the guest registers in `set` into their host registers, skipping those already there.
    fn load_regs(&mut self, set: RegSet, host: &[u8; 16]) {
        for g in set.iter() {
            let h = host[usize::from(g)];
            if h == g && self.cached.contains(g) {
                continue;
            }
            let off = gpr_slot(g);
            dynasm!(self.ops ; .arch x64 ; mov Rq(h), [BYTE r15 + off]);
            if h == g {
                self.cached.insert(g);
            }
        }
    }

    /// Notes that the guest registers in `set` were written to their host registers: those of their own number
    /// then hold them (their stores deferred), renamed ones are stored at once.
    fn store_regs(&mut self, set: RegSet, host: &[u8; 16]) {
        for g in set.iter() {
            let h = host[usize::from(g)];
            if h == g {
                self.cached.insert(g);
                self.dirty.insert(g);
            } else {
                let off = gpr_slot(g);
                dynasm!(self.ops ; .arch x64 ; mov [BYTE r15 + off], Rq(h));
            }
        }
    }

    /// Stores the deferred guest registers among `set` to `CpuState`.
    fn flush(&mut self, set: RegSet) {
        let due = RegSet(set.0 & self.dirty.0);
        self.store_raw(due);
        self.dirty.0 &= !due.0;
    }

    /// Stores every guest register in `set` from the host register of its number.
    fn store_raw(&mut self, set: RegSet) {
        let set = self.call_for_resident(set, self.shared.store_resident);
        for g in set.iter() {
            let off = gpr_slot(g);
            dynasm!(self.ops ; .arch x64 ; mov [BYTE r15 + off], Rq(g));
        }
    }

    /// Loads every guest register in `set` into its host register (after a call, on the way back to code that
    /// expects them there).
    fn reload(&mut self, set: RegSet) {
        let set = self.call_for_resident(set, self.shared.load_resident);
        for g in set.iter() {
            let off = gpr_slot(g);
            dynasm!(self.ops ; .arch x64 ; mov Rq(g), [BYTE r15 + off]);
        }
    }

    /// When `set` holds every resident register, a call of `subroutine` (the shared store or load of them all)
    /// instead of their moves; returns the registers left to move.
    fn call_for_resident(&mut self, set: RegSet, subroutine: usize) -> RegSet {
        if set.0 & RESIDENT.0 != RESIDENT.0 {
            return set;
        }
        self.call_shared(subroutine);
        RegSet(set.0 & !RESIDENT.0)
    }

    /// Calls `subroutine`, code the blocks share (a CALL rel32: the cache is far smaller than 2 GiB).
    fn call_shared(&mut self, subroutine: usize) {
        let from = self.base + self.ops.offset().0 + 5;
        let rel = ((subroutine as i64 - from as i64) as i32).to_le_bytes();
        self.ops.extend([0xE8, rel[0], rel[1], rel[2], rel[3]]);
    }

    /// The linear address of `i`'s memory operand into host register `addr` (using `tmp`), from the guest
    /// registers in their host registers: those already there, else loaded there (and then kept) unless that host
    /// register is in `scratch`, in which case `addr` or `tmp` takes the value from `CpuState`.
    fn address(
        &mut self,
        i: &Instruction,
        (addr, tmp): (u8, u8),
        scratch: RegSet,
        wrap32: bool,
        seg: Option<vx86_cpu::SegReg>,
    ) {
        let (base, index) = (i.memory_base(), i.memory_index());
        // iced gives a 32-bit address's displacement as its 32 bits (so -1 reads 0xFFFF_FFFF): sign-extend it, as
        // the address arithmetic wraps at 32 bits anyway.
        let disp = if vx86_cpu::Cpu::address_size(i) == 8 {
            i.memory_displacement64() as i64
        } else {
            i64::from(i.memory_displacement32() as i32)
        };
        // iced resolves RIP-relative operands to absolute addresses.
        let base = (base.is_gpr()).then(|| self.home(regs::number(base), addr, scratch));
        let index = (index.is_gpr()).then(|| self.home(regs::number(index), tmp, scratch));
        let (base, disp32) = match (base, i32::try_from(disp)) {
            (_, Ok(d)) => (base, d),
            // Only an absolute address (no base, no index) has a displacement beyond 32 bits.
            (_, Err(_)) => {
                dynasm!(self.ops ; .arch x64 ; mov Rq(addr), QWORD disp);
                (Some(addr), 0)
            }
        };
        match (base, index) {
            (None, None) => dynasm!(self.ops ; .arch x64 ; mov Rq(addr), QWORD disp),
            (Some(b), None) if b == addr && disp32 == 0 => {}
            (Some(b), None) if disp32 == 0 => dynasm!(self.ops ; .arch x64 ; mov Rq(addr), Rq(b)),
            (Some(b), None) => dynasm!(self.ops ; .arch x64 ; lea Rq(addr), [Rq(b) + disp32]),
            (b, Some(x)) => {
                let scale = i.memory_index_scale();
                match (b, scale) {
                    (Some(b), 1) => {
                        dynasm!(self.ops ; .arch x64 ; lea Rq(addr), [Rq(b) + Rq(x) + disp32])
                    }
                    (Some(b), 2) => {
                        dynasm!(self.ops ; .arch x64 ; lea Rq(addr), [Rq(b) + Rq(x) * 2 + disp32])
                    }
                    (Some(b), 4) => {
                        dynasm!(self.ops ; .arch x64 ; lea Rq(addr), [Rq(b) + Rq(x) * 4 + disp32])
                    }
                    (Some(b), _) => {
                        dynasm!(self.ops ; .arch x64 ; lea Rq(addr), [Rq(b) + Rq(x) * 8 + disp32])
                    }
                    (None, 1) => dynasm!(self.ops ; .arch x64 ; lea Rq(addr), [Rq(x) + disp32]),
                    (None, 2) => dynasm!(self.ops ; .arch x64 ; lea Rq(addr), [Rq(x) * 2 + disp32]),
                    (None, 4) => dynasm!(self.ops ; .arch x64 ; lea Rq(addr), [Rq(x) * 4 + disp32]),
                    (None, _) => dynasm!(self.ops ; .arch x64 ; lea Rq(addr), [Rq(x) * 8 + disp32]),
                }
            }
        }
        if wrap32 {
            dynasm!(self.ops ; .arch x64 ; mov Rd(addr), Rd(addr));
        }
        if let Some(seg) = seg {
            let off = (state::SEGS + 16 * seg as usize) as i32;
            if wrap32 {
                dynasm!(self.ops ; .arch x64 ; add Rd(addr), [r15 + off]);
            } else {
                dynasm!(self.ops ; .arch x64 ; add Rq(addr), [r15 + off]);
            }
        }
    }

    /// The host register holding guest register `g` for an address: its own when it holds it or can be loaded
    /// there (it is not in `scratch` and not renamed), else `fallback`, loaded from `CpuState`.
    fn home(&mut self, g: u8, fallback: u8, scratch: RegSet) -> u8 {
        if self.cached.contains(g) {
            return g;
        }
        let off = gpr_slot(g);
        if regs::needs_rename(g) || scratch.contains(g) {
            dynasm!(self.ops ; .arch x64 ; mov Rq(fallback), [BYTE r15 + off]);
            return fallback;
        }
        dynasm!(self.ops ; .arch x64 ; mov Rq(g), [BYTE r15 + off]);
        self.cached.insert(g);
        g
    }

    /// The inline soft-TLB lookup: on a hit `addr` becomes the host address; a miss jumps to `miss`.
    fn tlb_lookup(&mut self, addr: u8, entry: u8, last: u8, mem: &MemOperand, miss: DynamicLabel) {
        self.range_lookup(addr, (entry, last), mem.size, mem.write, miss);
    }

    /// The inline soft-TLB lookup of `size` bytes at the address in `addr` (which becomes their host address on a
    /// hit), using `entry` and `last`: the write tag when `write` (a write-tag hit implies a read-tag hit, since
    /// every page that may be written may be read), else the read tag.
    fn range_lookup(
        &mut self,
        addr: u8,
        (entry, last): (u8, u8),
        size: u32,
        write: bool,
        miss: DynamicLabel,
    ) {
        let table = ctx::TLB + 8 * i32::from(self.mode.user);
        let tag = if write {
            entry_offsets::WRITE_TAG
        } else {
            entry_offsets::READ_TAG
        } as i32;
        let addend = entry_offsets::ADDEND as i32;
        let size_minus_one = size as i32 - 1;
        dynasm!(self.ops
            ; .arch x64
            ; mov Rd(entry), Rd(addr)
            ; shr Rd(entry), 12 - ENTRY_SHIFT as i8
            ; and Rd(entry), ((ENTRIES - 1) << ENTRY_SHIFT) as i32
            ; add Rq(entry), [BYTE r14 + table as i8]
        );
        // The page of the access's last byte: a tag match also says the access does not cross the page.
        if size_minus_one == 0 {
            dynasm!(self.ops ; .arch x64 ; mov Rq(last), Rq(addr));
        } else {
            dynasm!(self.ops ; .arch x64 ; lea Rq(last), [Rq(addr) + size_minus_one]);
        }
        dynasm!(self.ops
            ; .arch x64
            ; and Rq(last), -4096
            ; cmp Rq(last), [Rq(entry) + tag]
            ; jne =>miss
            ; add Rq(addr), [Rq(entry) + addend]
        );
    }
}

/// A memory access as the fill callout takes it ([`callout::ACCESS_SIZE`] and the write bits).
fn access_code(mem: &MemOperand) -> u32 {
    let write = (callout::WALK_WRITE | callout::FAST_WRITE) as u32;
    mem.size | if mem.write { write } else { 0 }
}

/// A page group's range as the fill callout takes it: walked as the leader's own access when that is the range's
/// low end (else as a read), served fast only if every member's kind of access is.
fn group_access_code(g: &PageGroup) -> u32 {
    let walk = if g.walk_write { callout::WALK_WRITE } else { 0 };
    let fast = if g.writes { callout::FAST_WRITE } else { 0 };
    g.range.span | (walk | fast) as u32
}

/// The guest instruction re-encoded for the host: registers renamed, the memory operand replaced by `[addr]`.
/// Where a host instruction's memory operand points: `[base + index * scale + disp]`.
#[derive(Clone, Copy)]
struct HostAddress {
    base: u8,
    index: Option<(u8, u32)>,
    disp: i32,
}

impl HostAddress {
    /// `[base + disp]`.
    fn at(base: u8, disp: i32) -> HostAddress {
        HostAddress {
            base,
            index: None,
            disp,
        }
    }
}

fn host_bytes(
    encoder: &mut Encoder,
    i: &Instruction,
    n: &Native,
    host: &[u8; 16],
    addr: Option<HostAddress>,
) -> Option<Vec<u8>> {
    if n.lea || plan::does_nothing(i.mnemonic()) {
        return Some(Vec::new());
    }
    let mut h = *i;
    h.set_code(plan::host_code(i.code()));
    for k in 0..i.op_count() {
        if i.op_kind(k) == OpKind::Register && i.op_register(k).is_gpr() {
            let r = i.op_register(k);
            if !n.used.contains(regs::number(r)) {
                return None;
            }
            if !regs::is_high_byte(r) {
                h.set_op_register(k, regs::resized(r, host[usize::from(regs::number(r))]));
            }
        }
    }
    if n.memory.is_some() {
        let HostAddress { base, index, disp } = addr?;
        h.set_memory_base(regs::resized(Register::RAX, base));
        let (index, scale) = index.map_or((Register::None, 1), |(x, scale)| {
            (regs::resized(Register::RAX, x), scale)
        });
        h.set_memory_index(index);
        h.set_memory_index_scale(scale);
        h.set_memory_displacement64(disp as i64 as u64);
        // iced's sizes for a 64-bit address: 1 for a disp8, 8 for a sign-extended disp32.
        h.set_memory_displ_size(match disp {
            0 => 0,
            -128..=127 => 1,
            _ => 8,
        });
        h.set_segment_prefix(Register::None);
    }
    let encoded = encoder.encode(&h, 0).is_ok();
    let bytes = encoder.take_buffer();
    if !encoded {
        // A failed encoding may leave part of the instruction behind: the next starts from an empty buffer.
        encoder.set_buffer(Vec::new());
        return None;
    }
    Some(bytes)
}
