//! vx86's dynamic binary translator: guest x86 code, block by block, into host x86-64 code.
//!
//! A block (straight-line guest code up to a control transfer, a mode-changing instruction or a page end) is
//! decoded by the CPU's own block decoder, planned instruction by instruction ([`plan`]) and emitted in one pass
//! with dynasm ([`emit`]): ordinary integer and SSE instructions run on the host as themselves, with guest
//! registers loaded from `CpuState` into host registers and kept there for the rest of the block (their stores
//! deferred to the block's exits, callouts and slow paths) and the guest's arithmetic flags kept in the host's
//! RFLAGS; memory operands go through an inline lookup of the CPU's soft TLB; everything else, privileged and
//! sensitive instructions first, is a callout to the CPU's one-instruction step ([`callout`]), which applies the
//! architectural rules. A block that branches back to its own start runs as a loop without leaving its code.
//!
//! Blocks go to each other without the dispatcher: direct exits within a page are patched into jumps, and every
//! other transfer (returns, indirect jumps and calls, exits to other pages, block-ending callouts) looks its
//! target up in the [`jump_table`] from generated code. The dispatcher ([`Translator::run`]) keeps the
//! interpreter's contract: the same exits, the same instruction counts, interrupts taken at the same boundaries.

pub mod callout;
pub mod code_buffer;
pub mod ctx;
pub mod emit;
mod follow;
pub mod group;
mod host_flags;
pub mod jump_table;
mod loops;
pub mod mode;
pub mod plan;
pub mod regs;
mod trace;

use callout::{flags_from_image, flags_image, CalloutStats};
use code_buffer::CodeBuffer;
use ctx::JitCtx;
use dynasmrt::{dynasm, DynasmApi};
use emit::{exit, gpr_slot, BlockEmitter, Callouts, Ops, Site, Via};
use jump_table::JumpTable;
use mode::Mode;
use rustc_hash::{FxHashMap, FxHashSet};
use vx86_cpu::code_pages::CodePages;
use vx86_cpu::flags::ARITH;
use vx86_cpu::interp::decode_cache::ends_block;
use vx86_cpu::{Bus, Cpu, CpuState, Exit};

/// The most guest instructions one block holds.
const MAX_BLOCK_INSTRUCTIONS: usize = 64;
/// The blocks run once by the interpreter ([`Translator::interpret_first_sights`]) are remembered by physical
/// address and RIP in a direct-mapped table of this many slots: a block whose slot another took is interpreted
/// once more, and one whose tag another block shares (or seen in another mode) is translated at its first run, as
/// without the table.
const FIRST_SIGHTS: usize = 1 << 17;
/// The code cache's default size: room for a Debian boot's 80 MB of host code without a flush (memory is only
/// committed as it is written; QEMU's `-tb-size` default is larger still).
pub const DEFAULT_CACHE_BYTES: usize = 256 << 20;

/// What the translator counts, for `-d stats`.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Blocks translated.
    pub blocks_translated: u64,
    /// Host code bytes emitted.
    pub code_bytes: u64,
    /// Times the code cache filled and was flushed whole.
    pub flushes: u64,
    /// Blocks found stale because their page was written (self-modifying code), and translated again.
    pub smc_invalidations: u64,
    /// Blocks whose page was written elsewhere than their own bytes: kept, and run again without translating.
    pub smc_survivals: u64,
    /// Blocks entered from the dispatcher.
    pub dispatches: u64,
    /// Instructions run by the interpreter instead (first sights, page-crossing, interrupt shadows, the slice's
    /// last few).
    pub interpreted: u64,
    /// Blocks run once by the interpreter when first seen, before any translation
    /// ([`Translator::interpret_first_sights`]).
    pub first_sights: u64,
    /// Direct exits patched to jump straight to their target's translation.
    pub links: u64,
    /// Host time spent translating, in nanoseconds.
    pub translate_ns: u64,
    /// Jump-table misses in generated code served by a lookup callout (without the dispatcher).
    pub lookups: u64,
    /// Page groups translated: accesses sharing one TLB lookup ([`group`]).
    pub page_groups: u64,
    /// Their members beyond the leaders: lookups saved each time the groups run.
    pub grouped_accesses: u64,
    /// Blocks translated together with the block that closes a loop through them (see `loops.rs`).
    pub joined_loops: u64,
    /// Blocks translated as self-loops: branching back to their own start, they run pass after pass without
    /// leaving generated code.
    pub self_loops: u64,
    /// Page groups and table ranges of self-loops looked up once before the loop instead of in every pass.
    pub hoisted_groups: u64,
    /// JMPs, CALLs and RETs whose code at the target follows them in their block (see `follow.rs`).
    pub followed_transfers: u64,
}

/// Which traces to print on stderr when a block is translated.
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceOptions {
    /// Each new block's guest instructions (`-d in_asm`).
    pub in_asm: bool,
    /// The host code generated for each guest instruction (`-d out_asm`).
    pub out_asm: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    phys: u64,
    rip: u64,
    mode: Mode,
}

impl Key {
    /// The physical address of `rip` when it lies on the block's linear page (which maps to the block's physical
    /// page).
    fn phys_on_page(&self, rip: u64) -> u64 {
        (self.phys & !0xFFF) | (self.mode.cs_base.wrapping_add(rip) & 0xFFF)
    }
}

/// A direct exit, for linking: where its jump is and what it leaves for.
struct ExitRecord {
    /// Host address of the rel32 field of the exit's jump (which ends right after it).
    rel32: usize,
    /// The guest address it leaves for.
    target: u64,
    /// Linear page of the block it leaves (chains stay within a page, whose mapping the block was entered through).
    linear_page: u64,
    mode: Mode,
    /// The rel32 the jump had when emitted (to the exit's own code), restored to unlink it.
    unlinked: i32,
    /// It jumps straight to its target's translation.
    linked: bool,
}

/// What the block map holds for the code at CS:RIP ([`Translator::find`]).
enum Cached {
    /// Its block, current.
    Current(Found),
    /// A block whose code was written since it was translated.
    Stale,
    /// No block.
    Absent,
}

/// How the code at CS:RIP runs next ([`Translator::block_at`]).
enum Next {
    /// Its translated block.
    Translated(Found),
    /// The interpreter's pass of a block run for the first time ([`Translator::interpret_first_sights`]).
    FirstSight,
    /// The interpreter's single instruction: the code cannot be translated, or must run one instruction at a time.
    Interpreted,
}

/// A block found for the dispatcher: its key, where its code is, and how many guest instructions it holds.
#[derive(Clone, Copy, Debug)]
struct Found {
    key: Key,
    entry: usize,
    len: u64,
    /// Its mode's jump-table id, if the mode has one.
    mode_id: Option<u16>,
}

/// Slots of the jump cache: a direct-mapped cache by guest RIP in front of the block map, small enough to stay in
/// the host's caches (the map's probes missed them on most dispatches).
const JUMP_CACHE: usize = 4096;

/// A jump-cache slot: a found block and its page's generation when it was cached.
#[derive(Clone, Copy, Debug)]
struct JumpSlot {
    found: Found,
    generation: u32,
}

fn jump_slot(rip: u64) -> usize {
    ((rip ^ (rip >> 12)) as usize) & (JUMP_CACHE - 1)
}

struct Block {
    /// Host address of the block's code.
    entry: usize,
    /// Its page's code generation when it was translated, or last found unchanged since.
    generation: u32,
    /// The chunks of its page its code came from ([`vx86_cpu::code_pages::chunks_of`]).
    chunks: u64,
    /// Its direct exits: these records in [`Translator::exits`].
    exits: std::ops::Range<usize>,
    /// Guest instructions in the block.
    len: u64,
    mode_id: Option<u16>,
    /// The block's instructions; callouts hold pointers into this allocation.
    sites: Box<[Site]>,
}

/// The entry trampoline: `fn(state, ctx, code) -> exit reason`.
type Enter = unsafe extern "sysv64" fn(*mut CpuState, *mut JitCtx, *const u8) -> u64;

/// The code cache and its dispatcher.
pub struct Translator {
    code: CodeBuffer,
    /// Host address of the entry trampoline.
    enter: usize,
    /// The code blocks share (the epilogues that return from the trampoline, the resident registers' moves).
    shared: emit::SharedCode,
    blocks: FxHashMap<Key, Block>,
    jump_cache: Box<[Option<JumpSlot>]>,
    /// What generated code looks its indirect targets up in.
    jump_table: JumpTable,
    /// Jump-table ids of the modes blocks were translated in.
    mode_ids: FxHashMap<Mode, u16>,
    /// The RIPs of the blocks translated from each physical page (more than once, some), whose jump-table entries
    /// go when the page's code is written ([`Translator::forget_written_code`]).
    rips_by_page: FxHashMap<u64, Vec<u64>>,
    exits: Vec<ExitRecord>,
    /// The direct exit the last block left through, if any: linked once its target is found.
    last_exit: Option<usize>,
    /// What the translator counted.
    pub stats: Stats,
    /// What its callouts counted.
    pub callouts: CalloutStats,
    /// The counts as they stood when each boot phase after the first began ([`vx86_cpu::phase`]).
    pub phase_starts: Vec<(Stats, CalloutStats)>,
    /// Traces to print.
    pub trace: TraceOptions,
    /// Whether code is translated the second time it runs, not the first: the interpreter runs a block it has not
    /// seen before once, keeping nothing of it. Much of a kernel's start-up code runs once (a Debian kernel's init
    /// ran 24k of its 66k blocks once), and interpreting a block costs a fraction of translating it (about 4 µs a
    /// block in kernel init); code that runs again pays one interpreted pass and one more dispatcher entry. Off,
    /// every block is translated when first reached, as also while guest code is traced (`-d in_asm` or `out_asm`
    /// lists every block it runs).
    pub interpret_first_sights: bool,
    /// When set, each translated block's full listing (guest and host code) is kept here, for tests that pin the
    /// generated code.
    pub listings: Option<Vec<String>>,
    /// Page-group leaders whose range kept failing (by the block's physical page and the leader's address): they
    /// no longer lead a group ([`group::FALLBACK_LIMIT`]).
    ungrouped: FxHashSet<(u64, u64)>,
    /// The blocks run once by the interpreter, to be translated when they run again: a tag per slot
    /// ([`FIRST_SIGHTS`]).
    seen: Box<[u64]>,
    /// The assembler blocks are emitted with, and the last block's bytes, kept so that their buffers are reused
    /// (growing them each time showed in translation profiles). Generated code's relocations are all relative, so
    /// the assembler's base address does not matter.
    ops: Ops,
    block_bytes: Vec<u8>,
    /// Tells the planner what each instruction reads and writes (its buffers reused from block to block).
    info: iced_x86::InstructionInfoFactory,
}

impl Translator {
    /// A translator whose code cache holds up to `cache_bytes` of host code before it is flushed.
    pub fn new(cache_bytes: usize) -> std::io::Result<Translator> {
        if !host_has_lahf_in_64_bit_mode() {
            return Err(std::io::Error::other(
                "the host CPU lacks LAHF/SAHF in 64-bit mode, which translated code uses for the guest's flags",
            ));
        }
        let mut code = CodeBuffer::new(cache_bytes.max(1 << 20))?;
        let (enter, shared) = emit_trampoline(&mut code)?;
        Ok(Translator {
            code,
            enter,
            shared,
            // Room for the blocks a full cache holds (about 600 bytes of host code each in a Linux boot), so the map
            // does not grow, moving every entry, while a boot translates tens of thousands of them.
            blocks: FxHashMap::with_capacity_and_hasher(
                (cache_bytes / 2048).clamp(1 << 10, 1 << 17),
                Default::default(),
            ),
            jump_cache: vec![None; JUMP_CACHE].into_boxed_slice(),
            jump_table: JumpTable::default(),
            mode_ids: FxHashMap::default(),
            rips_by_page: FxHashMap::default(),
            exits: Vec::new(),
            last_exit: None,
            stats: Stats::default(),
            callouts: CalloutStats {
                by_mnemonic: vec![0; iced_x86::Mnemonic::values().count()],
                tlb_misses_by_mnemonic: vec![0; iced_x86::Mnemonic::values().count()],
                ..CalloutStats::default()
            },
            trace: TraceOptions::default(),
            interpret_first_sights: false,
            listings: None,
            phase_starts: Vec::new(),
            ungrouped: FxHashSet::default(),
            seen: vec![0; FIRST_SIGHTS].into_boxed_slice(),
            ops: Ops::new(0),
            block_bytes: Vec::new(),
            info: iced_x86::InstructionInfoFactory::new(),
        })
    }

    /// Runs guest code until `budget` instructions have retired or something needs the machine: the same contract
    /// as the interpreter's `Cpu::run`.
    pub fn run<B: Bus>(&mut self, cpu: &mut Cpu, bus: &mut B, budget: u64) -> Exit {
        cpu.sync_address_map(bus);
        let end = cpu.instructions.saturating_add(budget);
        while cpu.instructions < end {
            self.forget_written_code(cpu);
            if let Some(exit) = cpu.accept_interrupt(bus) {
                return exit;
            }
            let left = end - cpu.instructions;
            // An interrupt shadow ends after one instruction, which the interpreter runs; with the debug checks on
            // (single-stepping, RF, breakpoints), every instruction runs in the CPU's step.
            let block = if cpu.state.interrupt_shadow || cpu.state.debug_active() {
                Next::Interpreted
            } else {
                match self.block_at(cpu, bus) {
                    Ok(block) => block,
                    Err(fault) => {
                        cpu.deliver_fault(bus, fault);
                        if let Some(exit) = cpu.take_exit() {
                            return exit;
                        }
                        continue;
                    }
                }
            };
            let came_through = self.last_exit.take();
            match block {
                Next::FirstSight => {
                    let before = cpu.instructions;
                    let exit = cpu.run_block_uncached(bus, left);
                    self.stats.interpreted += cpu.instructions - before;
                    self.stats.first_sights += 1;
                    if exit != Exit::BudgetExhausted {
                        return exit;
                    }
                }
                Next::Translated(found) if found.len <= left => {
                    if let Some(number) = came_through {
                        self.link(number, &found);
                    }
                    self.remember(cpu, &found);
                    self.last_exit = self.execute::<B>(cpu, bus, found.entry, left);
                }
                other => {
                    // The interpreter takes what the translator does not: one instruction, or the slice's rest
                    // when the block is longer than the budget, so slices end where the interpreter's do.
                    let n = if matches!(other, Next::Translated(_)) {
                        left
                    } else {
                        1
                    };
                    let before = cpu.instructions;
                    let exit = cpu.run(bus, n);
                    self.stats.interpreted += cpu.instructions - before;
                    if exit != Exit::BudgetExhausted {
                        return exit;
                    }
                }
            }
            if let Some(exit) = cpu.take_exit() {
                return exit;
            }
        }
        Exit::BudgetExhausted
    }

    /// How the code at CS:RIP runs next: its block, translated if need be and seen before; the interpreter's pass
    /// of a block first seen; or the interpreter's single instruction when the block cannot be translated (its
    /// first instruction crosses the page or is invalid, or the page is beyond what is tracked).
    fn block_at<B: Bus>(&mut self, cpu: &mut Cpu, bus: &mut B) -> Result<Next, vx86_cpu::Fault> {
        let (key, cached) = self.find(cpu, bus)?;
        let stale = match cached {
            Cached::Current(found) => return Ok(Next::Translated(found)),
            Cached::Stale => true,
            Cached::Absent => false,
        };
        if stale {
            self.stats.smc_invalidations += 1;
        }
        if !CodePages::trackable(key.phys) {
            return Ok(Next::Interpreted);
        }
        let tracing = self.trace.in_asm || self.trace.out_asm;
        if self.interpret_first_sights && !tracing && !stale && self.first_sight(key) {
            return Ok(Next::FirstSight);
        }
        let Some(found) = self.translate::<B>(cpu, bus, key) else {
            return Ok(Next::Interpreted);
        };
        // Translating may have flushed the cache: read the generation now.
        let generation = cpu.code_generation(key.phys);
        self.jump_cache[jump_slot(key.rip)] = Some(JumpSlot { found, generation });
        Ok(Next::Translated(found))
    }

    /// Whether the block at `key` runs for the first time (as far as the table of blocks seen remembers), noting
    /// it.
    fn first_sight(&mut self, key: Key) -> bool {
        // Two blocks whose tags agree (or a tag of 0, an empty slot's) only have a block translated at once.
        let tag = key.phys.rotate_left(32) ^ key.rip;
        let hash = tag.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - FIRST_SIGHTS.trailing_zeros());
        let slot = &mut self.seen[hash as usize];
        let first = *slot != tag;
        *slot = tag;
        first
    }

    /// The key of the code at CS:RIP, and what the block map holds for it (never translating).
    fn find<B: Bus>(
        &mut self,
        cpu: &mut Cpu,
        bus: &mut B,
    ) -> Result<(Key, Cached), vx86_cpu::Fault> {
        let phys = cpu.fetch_physical(bus)?;
        let key = Key {
            phys,
            rip: cpu.state.rip,
            mode: Mode::of(&cpu.state),
        };
        let generation = cpu.code_generation(phys);
        let slot = jump_slot(key.rip);
        if let Some(cached) = self.jump_cache[slot] {
            if cached.found.key == key && cached.generation == generation {
                return Ok((key, Cached::Current(cached.found)));
            }
        }
        let Some(block) = self.blocks.get_mut(&key) else {
            return Ok((key, Cached::Absent));
        };
        let found = Found {
            key,
            entry: block.entry,
            len: block.len,
            mode_id: block.mode_id,
        };
        if block.generation != generation {
            if !cpu.code_unchanged_since(phys, block.generation, block.chunks) {
                return Ok((key, Cached::Stale));
            }
            // The page was written, but not where this block's code came from: the block is current again. Its
            // direct exits may lead to blocks that the write did make stale, so they leave through their own code
            // until linked anew.
            block.generation = generation;
            block
                .sites
                .iter()
                .for_each(|site| site.generation.set(generation));
            let exits = block.exits.clone();
            self.stats.smc_survivals += 1;
            self.unlink(exits);
        }
        self.jump_cache[slot] = Some(JumpSlot { found, generation });
        Ok((key, Cached::Current(found)))
    }

    /// For generated code whose jump-table lookup missed: the host address of the current block at CS:RIP if one
    /// is translated (it is put in the jump table), else 0 and the dispatcher takes over (it translates: code must
    /// not be translated while generated code is on the stack, since a translation may flush the cache).
    pub(crate) fn find_for_code<B: Bus>(&mut self, cpu: &mut Cpu, bus: &mut B) -> u64 {
        match self.find(cpu, bus) {
            Ok((_, Cached::Current(found))) if found.mode_id.is_some() => {
                self.remember(cpu, &found);
                self.stats.lookups += 1;
                found.entry as u64
            }
            _ => 0,
        }
    }

    /// Stops the page-group leader at `ip` on physical page `phys` from leading a group (its range kept failing);
    /// the caller makes the page's blocks stale, so they are translated again.
    pub(crate) fn ungroup(&mut self, phys: u64, ip: u64) {
        self.ungrouped.insert((phys, ip));
    }

    /// Translates the block at `key`, timing it, and notes a new boot phase if the block begins one (the counts
    /// so far are kept as the phase's start; a phase the interpreter began, at a slice's end, is noted at the next
    /// translation).
    fn translate<B: Bus>(&mut self, cpu: &mut Cpu, bus: &mut B, key: Key) -> Option<Found> {
        let started = std::time::Instant::now();
        cpu.phases.note(key.rip, cpu.state.cpl, cpu.instructions);
        while self.phase_starts.len() < cpu.phases.current() as usize {
            self.phase_starts
                .push((self.stats.clone(), self.callouts.clone()));
        }
        let found = self.translate_block(cpu, bus, key);
        self.stats.translate_ns += started.elapsed().as_nanos() as u64;
        found
    }

    fn translate_block<B: Bus>(&mut self, cpu: &mut Cpu, bus: &mut B, key: Key) -> Option<Found> {
        let mut instrs = cpu.decode_straight_line(bus, key.rip, key.phys, MAX_BLOCK_INSTRUCTIONS);
        let (followed, last_piece) = follow::follow_transfers(
            cpu,
            bus,
            key,
            &mut instrs,
            MAX_BLOCK_INSTRUCTIONS,
            &mut self.info,
        );
        let inner = loops::join_successor(cpu, bus, key, &mut instrs, MAX_BLOCK_INSTRUCTIONS);
        let fetched = ends_before_an_undecodable(&instrs, last_piece, key);
        // An instruction that crosses into the next page is translated from its bytes as they are now, guarded by
        // the TLB's epoch ([`Site::crossing`]); one that cannot be fetched now is fetched each time it runs.
        let crossing = fetched.and_then(|rip| cpu.peek_to_keep(bus, rip));
        if let Some(rip) = fetched {
            instrs.push(crossing.unwrap_or_else(|| {
                let mut placeholder = iced_x86::Instruction::default();
                placeholder.set_ip(rip);
                placeholder
            }));
        }
        let epoch_now = cpu.tlb_epochs()[vx86_cpu::mmu::tlb::ANY_EPOCH];
        if instrs.is_empty() {
            return None;
        }
        // A block's code is a few KiB at most: flush with room to spare.
        if self.code.free() < 256 << 10 {
            self.flush().ok()?;
        }
        let (from, len) = bytes_on_page(&instrs, key);
        cpu.mark_code(from, len);
        let generation = cpu.code_generation(key.phys);
        let n = instrs.len();
        let sites: Box<[Site]> = instrs
            .into_iter()
            .enumerate()
            .map(|(k, instr)| {
                let last_fetched = fetched.is_some() && k == n - 1;
                let crosses = last_fetched && crossing.is_some();
                Site {
                    ends_block: last_fetched
                        || ends_block(&instr)
                            && inner != Some(k)
                            && !followed.iter().any(|&(f, _)| f == k),
                    remaining: (n - k) as u32,
                    phys: key.phys,
                    mode: key.mode,
                    generation: std::cell::Cell::new(generation),
                    via: if last_fetched && !crosses {
                        Via::Fetch
                    } else {
                        Via::Callout
                    },
                    instr,
                    kept: std::cell::Cell::new(instr),
                    kept_epoch: std::cell::Cell::new(if crosses { epoch_now } else { u64::MAX }),
                    crossing: crosses,
                    leads_group: std::cell::Cell::new(None),
                    group_fallbacks: std::cell::Cell::new(0),
                }
            })
            .collect();
        let (sites, mut plans) = plan_sites(sites, &key.mode, &mut self.info);
        for &(k, how) in &followed {
            plans[k] = how.plan(&sites[k].instr);
        }
        if let Some(k) = inner {
            plans[k] = plan::Plan::InnerBranch {
                continue_taken: sites[k].instr.near_branch_target() == sites[k + 1].instr.ip(),
            };
        }
        let callouts = Callouts {
            lookup: callout::lookup::<B> as *const () as usize,
            read_tsc: callout::read_tsc::<B> as *const () as usize,
        };
        let base = self.code.next_address();
        let first_exit = self.exits.len();
        let mode_id = self.mode_id(key.mode);
        let ungrouped = &self.ungrouped;
        let emitted = BlockEmitter::new(
            &mut self.ops,
            base,
            self.shared,
            callouts,
            key.mode,
            mode_id,
            first_exit,
        )
        .emit(&sites, &plans, &|site| {
            !ungrouped.contains(&(site.phys, site.instr.ip()))
        });
        let mut bytes = std::mem::take(&mut self.block_bytes);
        bytes.clear();
        let drained = match self.ops.drain() {
            Ok(code) => {
                bytes.extend(code);
                true
            }
            Err(_) => false,
        };
        if !drained {
            // Nothing of the failed block may be left for the next.
            self.ops = Ops::new(0);
            return None;
        }
        let placed = self.code.append(&bytes).ok()?;
        debug_assert_eq!(placed, base);
        let linear_page = key.mode.cs_base.wrapping_add(key.rip) & !0xFFF;
        self.exits.extend(emitted.exits.iter().map(|exit| {
            ExitRecord {
                rel32: base + exit.rel32.0,
                target: exit.target,
                linear_page,
                mode: key.mode,
                unlinked: i32::from_le_bytes(
                    bytes[exit.rel32.0..exit.rel32.0 + 4]
                        .try_into()
                        .expect("four bytes"),
                ),
                linked: false,
            }
        }));
        self.stats.blocks_translated += 1;
        self.stats.joined_loops += u64::from(inner.is_some());
        self.stats.followed_transfers += followed.len() as u64;
        self.stats.page_groups += emitted.page_groups;
        self.stats.grouped_accesses += emitted.grouped_accesses;
        self.stats.hoisted_groups += emitted.hoisted_groups;
        self.stats.self_loops += u64::from(emitted.self_loop);
        self.stats.code_bytes += bytes.len() as u64;
        let listing = |trace| trace::listing(&bytes, base, &sites, &emitted.starts, trace);
        if let Some(kept) = &mut self.listings {
            kept.push(listing(TraceOptions {
                in_asm: true,
                out_asm: true,
            }));
        }
        if self.trace.in_asm || self.trace.out_asm {
            eprint!("{}", listing(self.trace));
        }
        let entry = base + emitted.entry.0;
        self.rips_by_page
            .entry(key.phys & !0xFFF)
            .or_default()
            .push(key.rip);
        self.blocks.insert(
            key,
            Block {
                entry,
                generation,
                chunks: vx86_cpu::code_pages::chunks_of(from, len),
                exits: first_exit..self.exits.len(),
                len: n as u64,
                mode_id,
                sites,
            },
        );
        self.block_bytes = bytes;
        Some(Found {
            key,
            entry,
            len: n as u64,
            mode_id,
        })
    }

    /// The jump-table id of `mode`, given one if it is new (while ids last; a mode without one never looks up).
    fn mode_id(&mut self, mode: Mode) -> Option<u16> {
        if let Some(&id) = self.mode_ids.get(&mode) {
            return Some(id);
        }
        let id = u16::try_from(self.mode_ids.len())
            .ok()
            .filter(|&id| id <= jump_table::MAX_MODE_ID)?;
        self.mode_ids.insert(mode, id);
        Some(id)
    }

    /// Puts a block the dispatcher is about to enter (just fetched through the current mapping, and current) in the
    /// jump table, tagged with the TLB epoch that keeps it valid.
    fn remember(&mut self, cpu: &Cpu, found: &Found) {
        let Some(id) = found.mode_id else {
            return;
        };
        let linear = found.key.mode.cs_base.wrapping_add(found.key.rip);
        let global = cpu.code_mapping_is_global(linear);
        let tag = jump_table::tag(cpu.tlb_epochs(), id, global);
        self.jump_table.insert(found.key.rip, tag, found.entry);
    }

    /// Drops every translation and starts an empty code cache.
    fn flush(&mut self) -> std::io::Result<()> {
        self.blocks.clear();
        self.seen.fill(0);
        self.jump_cache.fill(None);
        self.jump_table.clear();
        self.rips_by_page.clear();
        self.exits.clear();
        self.last_exit = None;
        self.code.clear();
        (self.enter, self.shared) = emit_trampoline(&mut self.code)?;
        self.stats.flushes += 1;
        Ok(())
    }

    /// Runs the block whose code is at host address `entry` (and whatever it is chained to); returns the direct exit
    /// it left through, if any.
    fn execute<B: Bus>(
        &mut self,
        cpu: &mut Cpu,
        bus: &mut B,
        entry: usize,
        budget: u64,
    ) -> Option<usize> {
        self.stats.dispatches += 1;
        // Generated code counts the budget down as a signed number: a larger one (a caller's u64::MAX) is capped.
        let budget = budget.min(i64::MAX as u64);
        // SAFETY: the trampoline at `self.enter` was emitted with the `Enter` signature.
        let enter: Enter = unsafe { std::mem::transmute::<usize, Enter>(self.enter) };
        let code = entry as *const u8;
        let cpu_ptr: *mut Cpu = cpu;
        let mut ctx = JitCtx {
            budget: budget as i64,
            saved_flags: flags_image(cpu.state.rflags),
            tlb: [cpu.tlb_table(false), cpu.tlb_table(true)],
            cpu: cpu_ptr,
            bus: (bus as *mut B).cast(),
            base_instructions: cpu.instructions,
            start_budget: budget as i64,
            stats: &mut self.callouts,
            xmm: std::ptr::addr_of_mut!(cpu.fpu.xmm.regs),
            jump_table: self.jump_table.as_ptr(),
            translator: self,
            epoch_tags: jump_table::epoch_tags(cpu.tlb_epochs()),
            step: callout::step::<B> as *const () as usize,
            fill: callout::fill::<B> as *const () as usize,
            steps: callout::steps::<B> as *const () as usize,
        };
        // SAFETY: `code` is a committed block of this cache, entered through the trampoline with the CPU's state
        // and a context whose pointers outlive the call; callouts are instantiated for `B`.
        let reason = unsafe {
            let state = std::ptr::addr_of_mut!((*cpu_ptr).state);
            enter(state, &mut ctx, code)
        };
        cpu.state.rflags = (cpu.state.rflags & !ARITH) | flags_from_image(ctx.saved_flags);
        cpu.instructions = ctx.base_instructions + ctx.retired();
        reason
            .checked_sub(exit::DIRECT)
            .map(|number| number as usize)
    }

    /// Points direct exit `number` straight at the translation of `key`, its target, when that is safe: the same
    /// mode, and the same linear page (whose mapping the source block was entered through). After a write to their
    /// page, blocks are entered only through [`Self::find`] again (a write to code moves the TLB's epoch, which the
    /// jump table's entries carry), which checks them against the write and unlinks the exits of those it keeps.
    fn link(&mut self, number: usize, found: &Found) {
        let Some(record) = self.exits.get(number) else {
            return;
        };
        let key = found.key;
        let linear = key.mode.cs_base.wrapping_add(key.rip);
        if record.target != key.rip
            || record.mode != key.mode
            || linear & !0xFFF != record.linear_page
        {
            return;
        }
        let target = found.entry;
        let rel = (target as i64 - (record.rel32 as i64 + 4)) as i32;
        let patched = self.code.patch(record.rel32, &rel.to_le_bytes());
        if patched.is_ok() {
            self.stats.links += 1;
            self.exits[number].linked = true;
        }
    }

    /// Drops the jump-table entries of the blocks of every page whose code was written since the last call, so
    /// that generated code reaches them only through [`Self::find`] again, which checks them against the write.
    /// (Code writes do not move the TLB's epochs, which would make every entry stale.)
    pub(crate) fn forget_written_code(&mut self, cpu: &mut Cpu) {
        if !cpu.code_was_written() {
            return;
        }
        cpu.take_written_code(|page| {
            if let Some(rips) = self.rips_by_page.get_mut(&page) {
                rips.sort_unstable();
                rips.dedup();
                rips.iter().for_each(|&rip| self.jump_table.remove(rip));
            }
        });
    }

    /// Points the linked ones of direct exits `numbers` back at their own code (which leaves for the dispatcher).
    fn unlink(&mut self, numbers: std::ops::Range<usize>) {
        for record in self.exits[numbers]
            .iter_mut()
            .filter(|record| record.linked)
        {
            // Linking patched it, so it lies in the code: patching it back cannot fail.
            let restored = self
                .code
                .patch(record.rel32, &record.unlinked.to_le_bytes());
            debug_assert!(restored.is_ok());
            record.linked = false;
        }
    }
}

/// The physical range a block's instructions `instrs` (all on the page of `key`, though a joined loop's second
/// block may lie before the first, and the last instruction may run into the next page) take on `key`'s page.
fn bytes_on_page(instrs: &[iced_x86::Instruction], key: Key) -> (u64, u64) {
    let offset = |ip: u64| (key.phys & 0xFFF) as i64 + ip.wrapping_sub(key.rip) as i64;
    let low = instrs.iter().map(|i| offset(i.ip())).min().unwrap_or(0);
    let high = instrs
        .iter()
        .map(|i| offset(i.next_ip()))
        .max()
        .unwrap_or(0);
    let (low, high) = (low.clamp(0, 0xFFF), high.clamp(low + 1, 0x1000));
    ((key.phys & !0xFFF) + low as u64, (high - low) as u64)
}

/// Where the block's decoding stopped short of the page's end at an instruction it could not take (one that crosses
/// into the next page or the code-segment limit, or invalid bytes): that instruction's RIP, which the block then
/// ends with rather than leaving for the dispatcher and the interpreter: translated from its bytes when it can be
/// fetched at translation ([`Site::crossing`]), else as a site fetched afresh each time ([`Via::Fetch`]).
/// The block's last piece of straight-line code starts at `instrs[last_piece]` ([`follow`]).
fn ends_before_an_undecodable(
    instrs: &[iced_x86::Instruction],
    last_piece: usize,
    key: Key,
) -> Option<u64> {
    if instrs.len() >= MAX_BLOCK_INSTRUCTIONS || instrs.last().is_some_and(ends_block) {
        return None;
    }
    let piece = &instrs[last_piece..];
    let start = piece.first().map_or(key.rip, |i| i.ip());
    let len: u64 = piece.iter().map(|i| i.len() as u64).sum();
    let phys = key.phys_on_page(start);
    ((phys + len) & 0xFFF != 0).then(|| start.wrapping_add(len))
}

/// Plans each site and notes which are translated (their callout, if any, is a TLB miss's slow path).
fn plan_sites(
    mut sites: Box<[Site]>,
    mode: &Mode,
    info: &mut iced_x86::InstructionInfoFactory,
) -> (Box<[Site]>, Vec<plan::Plan>) {
    let plans = sites
        .iter_mut()
        .map(|site| {
            if site.via == Via::Fetch {
                return plan::Plan::Callout;
            }
            let planned = plan::plan(&site.instr, mode, info);
            if let plan::Plan::Native(_) | plan::Plan::Stack(_) = planned {
                site.via = Via::TlbMiss;
            }
            planned
        })
        .collect();
    (sites, plans)
}

/// Places the entry trampoline and the code blocks share in `code`; returns their host addresses.
fn emit_trampoline(code: &mut CodeBuffer) -> std::io::Result<(usize, emit::SharedCode)> {
    let base = code.next_address();
    let mut ops = Ops::new(base);
    // Callee-saved registers, then a 16-byte-aligned stack for callouts (6 pushes + the return address + 8).
    dynasm!(ops
        ; .arch x64
        ; push rbx
        ; push rbp
        ; push r12
        ; push r13
        ; push r14
        ; push r15
        ; sub rsp, 8
        ; mov r15, rdi
        ; mov r14, rsi
        ; mov rax, rdx
    );
    // Every block expects the resident guest registers in their host registers.
    move_resident(&mut ops, false);
    dynasm!(ops ; .arch x64 ; jmp rax);
    // The way out for code whose resident registers CpuState may not have yet: stores them, then the epilogue.
    let storing_epilogue = base + ops.offset().0;
    move_resident(&mut ops, true);
    let epilogue = base + ops.offset().0;
    dynasm!(ops
        ; .arch x64
        ; add rsp, 8
        ; pop r15
        ; pop r14
        ; pop r13
        ; pop r12
        ; pop rbp
        ; pop rbx
        ; ret
    );
    // Subroutines generated code calls to store or load all the resident registers (smaller than the moves).
    let store_resident = base + ops.offset().0;
    move_resident(&mut ops, true);
    dynasm!(ops ; .arch x64 ; ret);
    let load_resident = base + ops.offset().0;
    move_resident(&mut ops, false);
    dynasm!(ops ; .arch x64 ; ret);
    // The step and fill callouts' common part, called (so with the stack 8 bytes off its alignment) with the
    // other arguments in RSI (and RDX): the callout's verdict is left in RAX.
    let [call_step, call_fill, call_steps] =
        [ctx::offsets::STEP, ctx::offsets::FILL, ctx::offsets::STEPS].map(|callout| {
            let at = base + ops.offset().0;
            dynasm!(ops
                ; .arch x64
                ; mov rdi, r14
                ; sub rsp, 8
                ; call QWORD [r14 + callout]
                ; add rsp, 8
                ; ret
            );
            at
        });
    let bytes = ops
        .finalize()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let enter = code.append(&bytes)?;
    Ok((
        enter,
        emit::SharedCode {
            epilogue,
            storing_epilogue,
            store_resident,
            load_resident,
            call_step,
            call_fill,
            call_steps,
        },
    ))
}

/// Emits the moves of every resident register to `CpuState` (`store`) or from it (R15 pointing at it).
fn move_resident(ops: &mut Ops, store: bool) {
    for g in regs::RESIDENT.iter() {
        let off = gpr_slot(g);
        if store {
            dynasm!(ops ; .arch x64 ; mov [BYTE r15 + off], Rq(g));
        } else {
            dynasm!(ops ; .arch x64 ; mov Rq(g), [BYTE r15 + off]);
        }
    }
}

/// CPUID 8000_0001h ECX bit 0: LAHF and SAHF work in 64-bit mode (every x86-64 CPU since 2005 has it).
fn host_has_lahf_in_64_bit_mode() -> bool {
    let extended = std::arch::x86_64::__cpuid(0x8000_0000).eax;
    extended >= 0x8000_0001 && std::arch::x86_64::__cpuid(0x8000_0001).ecx & 1 != 0
}
