//! Decoded-block cache keyed by guest-physical address, so hot code is decoded once.
//!
//! A block is a run of straight-line instructions decoded from one physical page, starting at a given instruction
//! pointer and ending at the first instruction that may change control flow or the machine's mode (see
//! [`ends_block`]) or at the page end. The cache is direct-mapped; each slot is tagged with the block's physical
//! address, the instruction pointer it was decoded at (branch targets are absolute), the code size, and the
//! generation of its physical page ([`CodePages`]). A write to a page that holds cached code bumps the page's
//! generation, which invalidates every block from that page at once (self-modifying code works); the interpreter
//! also re-checks the generation after each instruction of a block, so a block that rewrites its own tail stops
//! there.

use crate::code_pages::CodePages;
use iced_x86::{FlowControl, Instruction, Mnemonic as M, OpKind};
use std::sync::Arc;

const SLOTS: usize = 1 << 13;

/// Straight-line decoded instructions from one physical page.
#[derive(Debug)]
pub struct Block {
    /// The instructions, in order; only the last may end the block.
    pub instrs: Vec<Instruction>,
    /// Each instruction's fast-path form, resolved at decode time.
    pub fast: Vec<crate::exec::fast::Fast>,
    /// Bytes the block covers from its first instruction.
    pub len: u64,
}

#[derive(Clone, Default)]
struct Slot {
    phys: u64,
    rip: u64,
    generation: u32,
    bitness: u32,
    block: Option<Arc<Block>>,
}

/// The cache of decoded blocks. Page generations come from [`CodePages`], which the caller passes in.
#[derive(Clone)]
pub struct DecodeCache {
    slots: Vec<Slot>,
}

impl Default for DecodeCache {
    fn default() -> Self {
        DecodeCache {
            slots: vec![
                Slot {
                    phys: u64::MAX,
                    ..Slot::default()
                };
                SLOTS
            ],
        }
    }
}

impl DecodeCache {
    fn slot(phys: u64) -> usize {
        (phys as usize ^ (phys >> 13) as usize) & (SLOTS - 1)
    }

    /// The block cached for this physical address, instruction pointer and code size, if its page is unchanged.
    #[inline]
    pub fn lookup(
        &self,
        pages: &CodePages,
        phys: u64,
        rip: u64,
        bitness: u32,
    ) -> Option<&Arc<Block>> {
        let s = &self.slots[Self::slot(phys)];
        if s.phys == phys
            && s.rip == rip
            && s.bitness == bitness
            && s.generation == pages.generation(phys)
        {
            s.block.as_ref()
        } else {
            None
        }
    }

    /// Caches a block decoded from `phys` (which lies within one page) at the page's current generation; the
    /// caller has marked the page as holding code.
    pub fn insert(
        &mut self,
        generation: u32,
        phys: u64,
        rip: u64,
        bitness: u32,
        block: Arc<Block>,
    ) {
        self.slots[Self::slot(phys)] = Slot {
            phys,
            rip,
            generation,
            bitness,
            block: Some(block),
        };
    }

    /// Drops everything (used on reset).
    pub fn clear(&mut self) {
        *self = DecodeCache::default();
    }
}

/// Whether an instruction must be the last of its block: it may change control flow, the code segment, paging,
/// the interrupt flag, the A20 gate or a device's request to stop, or repeat itself.
pub fn ends_block(i: &Instruction) -> bool {
    if i.flow_control() != FlowControl::Next || i.has_rep_prefix() || i.has_repne_prefix() {
        return true;
    }
    let segment_or_control_register = (0..i.op_count()).any(|n| {
        i.op_kind(n) == OpKind::Register && {
            let r = i.op_register(n);
            r.is_segment_register() || r.is_cr() || r.is_dr()
        }
    });
    segment_or_control_register
        || matches!(
            i.mnemonic(),
            M::Lgdt
                | M::Lidt
                | M::Lldt
                | M::Ltr
                | M::Lmsw
                | M::Clts
                | M::Invlpg
                | M::Cli
                | M::Sti
                | M::Popf
                | M::Popfd
                | M::Popfq
                | M::Swapgs
                | M::Hlt
                | M::In
                | M::Out
                | M::Insb
                | M::Insw
                | M::Insd
                | M::Outsb
                | M::Outsw
                | M::Outsd
                | M::Lds
                | M::Les
                | M::Lfs
                | M::Lgs
                | M::Lss
                | M::Wrmsr
                | M::Wbinvd
                | M::Invd
        )
}
