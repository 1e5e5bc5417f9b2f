//! The reference interpreter: fetch through the decoded-instruction cache, execute one instruction, deliver
//! exceptions and interrupts, and return to the machine when something needs it.

pub mod decode_cache;
pub mod operands;

use crate::bus::{Bus, PageBacking};
use crate::code_pages::CodePages;
use crate::fault::Fault;
use crate::mmu::Access;
use crate::state::SegReg;
use crate::step::Flow;
use crate::{Cpu, Exit};
use decode_cache::{ends_block, Block};
use iced_x86::{Decoder, DecoderError, DecoderOptions, Formatter, Instruction, IntelFormatter};
use std::sync::Arc;

/// How the decoder reads ambiguous encodings for our CPU model: without BMI1/LZCNT (not advertised), F3 0F BC and
/// F3 0F BD are BSF and BSR with an ignored REP prefix, as on the processors we model, not TZCNT/LZCNT.
const DECODER_OPTIONS: u32 = DecoderOptions::NO_MPFX_0FBC | DecoderOptions::NO_MPFX_0FBD;

/// The most instructions one decoded block holds.
const MAX_BLOCK_INSTRUCTIONS: usize = 64;

/// Which execution traces to print on stderr (the `-d` flag).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// Every executed guest instruction, disassembled (under the translator: each translated block, once).
    pub in_asm: bool,
    /// The host code generated for each translated block (engines that generate code).
    pub out_asm: bool,
    /// Every interrupt and exception delivered.
    pub interrupts: bool,
    /// Every unimplemented instruction met.
    pub unimplemented: bool,
}

/// What the interpreter counts, for `-d stats` and for tuning: the work behind the instruction count.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InterpStats {
    /// Blocks decoded, that is decode-cache misses (a new block, an evicted one, or one whose page was written).
    pub blocks_decoded: u64,
    /// Instructions run one at a time outside the block cache (page- or limit-crossing, undecodable).
    pub single_steps: u64,
    /// Exceptions delivered, by vector (each step of a double fault counts).
    pub exceptions: [u64; 32],
}

impl Cpu {
    /// Runs guest code until `budget` instructions have retired or something needs the machine.
    pub fn run<B: Bus>(&mut self, bus: &mut B, budget: u64) -> Exit {
        self.sync_address_map(bus);
        let end = self.instructions.saturating_add(budget);
        while self.instructions < end {
            if let Some(exit) = self.run_next_block(bus, end, true) {
                return exit;
            }
        }
        Exit::BudgetExhausted
    }

    /// Runs the block at CS:RIP once, within `budget` instructions, without keeping its decoded instructions (a
    /// translator's first sight of code it translates only if it runs again; most of a kernel's start-up code
    /// runs once). Interrupts are taken first, as [`Cpu::run`] takes them.
    pub fn run_block_uncached<B: Bus>(&mut self, bus: &mut B, budget: u64) -> Exit {
        self.sync_address_map(bus);
        let end = self.instructions.saturating_add(budget);
        self.run_next_block(bus, end, false)
            .unwrap_or(Exit::BudgetExhausted)
    }

    /// One turn of the interpreter's loop: an interrupt if one is due, else the block at CS:RIP (taken from the
    /// decode cache, or decoded and, with `cache`, kept there), run until `end` at most. Returns why the engine
    /// must stop, if it must.
    fn run_next_block<B: Bus>(&mut self, bus: &mut B, end: u64, cache: bool) -> Option<Exit> {
        if let Some(exit) = self.accept_interrupt(bus) {
            return Some(exit);
        }
        match self.fetch_block(bus, cache) {
            Ok(Some(block)) => self.run_block(bus, &block, end),
            // An instruction that crosses a page or the code-segment limit runs on its own.
            Ok(None) => {
                self.stats.single_steps += 1;
                self.run_one(bus)
            }
            Err(fault) => self.deliver_fault(bus, fault),
        }
        self.take_exit()
    }

    /// Executes a cached block from its first instruction for as long as control flows straight through it.
    fn run_block<B: Bus>(&mut self, bus: &mut B, block: &Block, end: u64) {
        let page_generation = self.code_pages.generation(self.block_phys);
        // An interrupt held back by an STI or MOV SS shadow is taken after this block's first instruction.
        self.recheck_interrupts = self.state.interrupt_shadow;
        for (k, (instr, fast)) in block.instrs.iter().zip(&block.fast).enumerate() {
            if k > 0 {
                // Between instructions: the budget, or a block that rewrote its own page. Interrupts are taken at
                // block boundaries, and within a block only where something may have changed: after an MMIO access
                // (an APIC EOI or TPR write, say) or at the end of an interrupt shadow. Port I/O, MSR and CR8
                // writes, STI, POPF and IRET end blocks.
                let interrupt =
                    std::mem::take(&mut self.recheck_interrupts) && self.interrupt_deliverable(bus);
                if interrupt
                    || self.instructions >= end
                    || self.code_pages.generation(self.block_phys) != page_generation
                {
                    return;
                }
            }
            match self.execute_with(bus, instr, *fast) {
                Flow::Next if !self.stop => {}
                _ => return,
            }
        }
    }

    /// Runs the one instruction at CS:RIP outside the block cache, fetched and decoded afresh (it may cross a page
    /// or the code-segment limit, or be invalid), delivering its fault if it has one.
    fn run_one<B: Bus>(&mut self, bus: &mut B) {
        let mut instr = Instruction::default();
        match self.fetch(bus, &mut instr) {
            Ok(()) => {
                self.execute_decoded(bus, &instr);
            }
            Err(fault) => self.deliver_fault(bus, fault),
        }
    }

    /// Fetches and decodes the instruction at CS:RIP as `Cpu::run_one` does (it may cross a page or the limit)
    /// and marks the physical pages its bytes come from as code pages, so that a write to either moves the TLB's
    /// epoch. With `true`, a caller may keep the decoded instruction for as long as that epoch stays
    /// ([`Cpu::tlb_epochs`]); with `false` (memory that is not tracked), only for this one run.
    pub fn fetch_to_keep<B: Bus>(&mut self, bus: &mut B) -> Result<(Instruction, bool), Fault> {
        let mut instr = Instruction::default();
        self.fetch(bus, &mut instr)?;
        let keep = self.mark_fetched_pages(bus, &instr)?;
        Ok((instr, keep))
    }

    /// The instruction at `rip` (in the current mode), fetched and decoded ahead of running it, for a translator
    /// that keeps it as [`Cpu::fetch_to_keep`] does: `None` when it cannot be fetched, is invalid, or comes from
    /// memory that is not tracked. Nothing is recorded and no fault is raised.
    pub fn peek_to_keep<B: Bus>(&mut self, bus: &mut B, rip: u64) -> Option<Instruction> {
        let running = std::mem::replace(&mut self.state.rip, rip);
        let peeked = match self.decode_at_rip(bus) {
            Ok(Ok(instr)) => self
                .mark_fetched_pages(bus, &instr)
                .is_ok_and(|keep| keep)
                .then_some(instr),
            _ => None,
        };
        self.state.rip = running;
        peeked
    }

    /// Marks the physical pages the bytes of `instr` (at CS:RIP) come from as code pages; false when one of them
    /// is not tracked.
    fn mark_fetched_pages<B: Bus>(
        &mut self,
        bus: &mut B,
        instr: &Instruction,
    ) -> Result<bool, Fault> {
        let user = self.user_mode();
        let first = self.fetch_linear(1)?;
        let mut keep = true;
        let last = first.wrapping_add(instr.len() as u64 - 1);
        for (linear, bytes) in [(first, instr.len() as u64), (last, 1)] {
            let phys = self.translate(bus, linear, Access::Fetch, user)?;
            if CodePages::trackable(phys) {
                // The bytes on the first page run from `first` (marking stops at the page's end); those on the
                // last page end at `last`.
                let from = if linear == first { phys } else { phys & !0xFFF };
                self.mark_kept_code(from, phys - from + bytes);
            } else {
                keep = false;
            }
        }
        Ok(keep)
    }

    /// Fetches, decodes and executes one instruction without the block cache (for callers that single-step, such
    /// as the translator's callouts). On a fault, RIP may already point past the instruction; the caller restores
    /// it.
    pub fn step<B: Bus>(&mut self, bus: &mut B) -> Result<(), Fault> {
        let mut instr = Instruction::default();
        self.fetch(bus, &mut instr)?;
        if self.trace.in_asm {
            self.print_instruction(&instr);
        }
        self.state.rip = instr.next_ip() & self.ip_mask();
        self.execute(bus, &instr)
    }

    /// Mask of the instruction pointer for the current code size.
    pub(crate) fn ip_mask(&self) -> u64 {
        match self.state.code_bitness() {
            16 => 0xFFFF,
            32 => 0xFFFF_FFFF,
            _ => u64::MAX,
        }
    }

    /// The linear address of the instruction at CS:RIP after the code-segment checks for `len` bytes.
    fn fetch_linear(&self, len: usize) -> Result<u64, Fault> {
        self.seg_linear(SegReg::Cs, self.state.rip, len, Access::Fetch)
    }

    /// Looks up or decodes the block at CS:RIP, keeping a decoded one in the decode cache when `cache` says so.
    /// `None` means the first instruction crosses a page or the code segment's limit and must be fetched on its
    /// own.
    fn fetch_block<B: Bus>(
        &mut self,
        bus: &mut B,
        cache: bool,
    ) -> Result<Option<Arc<Block>>, Fault> {
        let bitness = self.state.code_bitness();
        let rip = self.state.rip;
        let phys = self.fetch_physical(bus)?;
        self.block_phys = phys;
        // On every lookup, not only when decoding: the decode cache is not keyed by privilege, so code decoded in
        // kernel mode may run in user mode first from the cache.
        self.phases.note(rip, self.state.cpl, self.instructions);
        if let Some(block) = self
            .decode_cache
            .lookup(&self.code_pages, phys, rip, bitness)
        {
            if rip.wrapping_add(block.len - 1) <= self.code_limit() {
                return Ok(Some(Arc::clone(block)));
            }
            return Ok(None);
        }
        let instrs = self.decode_straight_line(bus, rip, phys, MAX_BLOCK_INSTRUCTIONS);
        if instrs.is_empty() {
            return Ok(None);
        }
        self.stats.blocks_decoded += 1;
        let len = instrs.iter().map(|i| i.len() as u64).sum();
        let fast = instrs.iter().map(crate::exec::fast::classify).collect();
        let block = Arc::new(Block { instrs, fast, len });
        if CodePages::trackable(phys) {
            // Marked even when not kept: a write to the block's own code stops it (see `run_block`).
            self.mark_code(phys, len);
            if cache {
                let generation = self.code_pages.generation(phys);
                self.decode_cache
                    .insert(generation, phys, rip, bitness, Arc::clone(&block));
            }
        }
        Ok(Some(block))
    }

    /// The guest-physical address of the instruction at CS:RIP, after the code-segment and paging checks.
    pub fn fetch_physical<B: Bus>(&mut self, bus: &mut B) -> Result<u64, Fault> {
        let linear = self.fetch_linear(1)?;
        self.translate(bus, linear, Access::Fetch, self.user_mode())
    }

    /// The highest offset code may be fetched from: the CS limit, which 64-bit mode does not check.
    pub fn code_limit(&self) -> u64 {
        if self.state.code_bitness() == 64 {
            u64::MAX
        } else {
            u64::from(self.state.seg(SegReg::Cs).limit)
        }
    }

    /// Decodes up to `max` straight-line instructions at CS:`rip`, whose physical address is `phys`: up to the
    /// first that ends a block ([`ends_block`]), the page end or the code segment's limit. Invalid bytes and
    /// instructions that cross the page or the limit are left out (the single-instruction path faults precisely on
    /// them), so the result may be empty. Every engine that caches code decodes it here.
    pub fn decode_straight_line<B: Bus>(
        &mut self,
        bus: &mut B,
        rip: u64,
        phys: u64,
        max: usize,
    ) -> Vec<Instruction> {
        let bitness = self.state.code_bitness();
        let cs_limit = self.code_limit();
        let in_page = 0x1000 - (phys & 0xFFF) as usize;
        // RAM and ROM decode in place; MMIO (rare: code run from a device window) is read out first.
        let mmio_copy: Vec<u8>;
        let code: &[u8] = if bus.backing(phys) == PageBacking::Mmio {
            let mut bytes = vec![0u8; in_page];
            self.copy_code(bus, phys, &mut bytes);
            mmio_copy = bytes;
            &mmio_copy
        } else {
            bus.page_bytes(phys).unwrap_or(&[])
        };
        let mut decoder = Decoder::with_ip(bitness, code, rip, DECODER_OPTIONS);
        let mut instrs = Vec::new();
        let mut len = 0u64;
        while instrs.len() < max {
            let instr = decoder.decode();
            let fits_page =
                !instr.is_invalid() || decoder.last_error() != DecoderError::NoMoreBytes;
            let fits_segment = rip.wrapping_add(len + instr.len() as u64 - 1) <= cs_limit;
            if !fits_page || !fits_segment || instr.is_invalid() {
                break;
            }
            len += instr.len() as u64;
            let last = ends_block(&instr);
            instrs.push(instr);
            if last {
                break;
            }
        }
        instrs
    }

    /// Fetches and decodes the single instruction at CS:RIP (no caching): for instructions that cross a page or
    /// the code-segment limit, for undecodable bytes, and for single-stepping.
    fn fetch<B: Bus>(&mut self, bus: &mut B, out: &mut Instruction) -> Result<(), Fault> {
        self.phases
            .note(self.state.rip, self.state.cpl, self.instructions);
        match self.decode_at_rip(bus)? {
            Ok(instr) => {
                *out = instr;
                Ok(())
            }
            Err(bytes) => Err(self.note_invalid(&bytes, self.state.rip)),
        }
    }

    /// Fetches and decodes the instruction at CS:RIP: the instruction, the bytes iced-x86 could not decode
    /// (`Ok(Err(..))`), or the fault of the fetch.
    fn decode_at_rip<B: Bus>(
        &mut self,
        bus: &mut B,
    ) -> Result<Result<Instruction, Vec<u8>>, Fault> {
        let bitness = self.state.code_bitness();
        let rip = self.state.rip;
        let linear = self.fetch_linear(1)?;
        let user = self.user_mode();
        let phys = self.translate(bus, linear, Access::Fetch, user)?;
        let mut bytes = [0u8; 15];
        let in_page = (0x1000 - (linear & 0xFFF) as usize).min(15);
        self.copy_code(bus, phys, &mut bytes[..in_page]);
        let mut available = in_page;
        let mut second_page_fault = None;
        if in_page < 15 {
            match self.translate(bus, linear + in_page as u64, Access::Fetch, user) {
                Ok(p2) => {
                    self.copy_code(bus, p2, &mut bytes[in_page..]);
                    available = 15;
                }
                Err(f) => second_page_fault = Some(f),
            }
        }
        let mut decoder = Decoder::with_ip(bitness, &bytes[..available], rip, DECODER_OPTIONS);
        let instr = decoder.decode();
        if instr.is_invalid() {
            return match (decoder.last_error(), second_page_fault) {
                (DecoderError::NoMoreBytes, Some(f)) => Err(f),
                _ => Ok(Err(bytes[..available].to_vec())),
            };
        }
        // The whole instruction must lie within the code segment.
        self.fetch_linear(instr.len())?;
        Ok(Ok(instr))
    }

    fn copy_code<B: Bus>(&mut self, bus: &mut B, phys: u64, out: &mut [u8]) {
        match bus.backing(phys) {
            PageBacking::Ram(off) | PageBacking::Rom(off) => {
                let at = off + (phys & 0xFFF) as usize;
                if let Some(src) = bus.memory().get(at..at + out.len()) {
                    out.copy_from_slice(src);
                    return;
                }
                out.fill(0xFF);
            }
            PageBacking::Mmio => {
                for (k, b) in out.iter_mut().enumerate() {
                    *b = bus.mmio_read(phys + k as u64, 1) as u8;
                }
            }
        }
    }

    /// Records bytes iced-x86 cannot decode (garbage or an instruction set we do not model) and returns #UD.
    fn note_invalid(&mut self, bytes: &[u8], rip: u64) -> Fault {
        let key = format!("(undecodable) {:02x}", bytes.first().copied().unwrap_or(0));
        self.note_unimplemented_key(key, rip);
        Fault::InvalidOpcode
    }

    /// Records an instruction the interpreter does not implement and returns #UD for the guest.
    pub(crate) fn unimplemented(&mut self, i: &Instruction) -> Fault {
        let key = format!("{:?}", i.mnemonic()).to_lowercase();
        self.note_unimplemented_key(key, i.ip());
        Fault::InvalidOpcode
    }

    fn note_unimplemented_key(&mut self, key: String, rip: u64) {
        if self.trace.unimplemented {
            eprintln!(
                "unimp: {key} at {:04x}:{rip:08x}",
                self.state.seg(SegReg::Cs).selector
            );
        }
        *self.unimplemented.entry(key).or_insert(0) += 1;
    }

    pub(crate) fn print_instruction(&self, i: &Instruction) {
        let mut text = String::new();
        IntelFormatter::new().format(i, &mut text);
        eprintln!(
            "{:04x}:{:08x}  {text}",
            self.state.seg(SegReg::Cs).selector,
            i.ip()
        );
    }
}
