//! Decoded-instruction cache keyed by guest-physical address, so hot code is decoded once.
//!
//! Direct-mapped: each slot holds one decoded instruction tagged with its physical address, the instruction pointer
//! it was decoded at (branch targets are absolute), the code size, and the generation of its physical page. A write
//! to a page that holds cached code bumps the page's generation, which invalidates every entry from that page at
//! once (self-modifying code works).

use iced_x86::Instruction;

const SLOTS: usize = 1 << 14;
/// Bit in a page's generation word meaning "some cached instruction was decoded from this page".
const HAS_CODE: u32 = 1 << 31;

#[derive(Clone, Default)]
struct Slot {
    phys: u64,
    rip: u64,
    generation: u32,
    bitness: u32,
    instr: Instruction,
}

/// The cache of decoded instructions.
#[derive(Clone)]
pub struct DecodeCache {
    slots: Vec<Slot>,
    /// Per 4 KiB physical page: generation in bits 0..30, [`HAS_CODE`] in bit 31.
    pages: Vec<u32>,
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
            pages: Vec::new(),
        }
    }
}

impl DecodeCache {
    fn slot(phys: u64) -> usize {
        (phys as usize ^ (phys >> 14) as usize) & (SLOTS - 1)
    }

    fn generation(&self, phys: u64) -> u32 {
        self.pages.get((phys >> 12) as usize).copied().unwrap_or(0) & !HAS_CODE
    }

    /// The instruction cached for this physical address, instruction pointer and code size.
    #[inline]
    pub fn lookup(&self, phys: u64, rip: u64, bitness: u32) -> Option<&Instruction> {
        let s = &self.slots[Self::slot(phys)];
        (s.phys == phys
            && s.rip == rip
            && s.bitness == bitness
            && s.generation == self.generation(phys))
        .then_some(&s.instr)
    }

    /// Caches an instruction decoded from `phys` (which must not cross into another page).
    pub fn insert(&mut self, phys: u64, rip: u64, bitness: u32, instr: Instruction) {
        let page = (phys >> 12) as usize;
        if page >= self.pages.len() {
            // Pages beyond what we track (far above RAM) are simply not cached.
            if page >= 1 << 24 {
                return;
            }
            self.pages.resize(page + 1, 0);
        }
        self.pages[page] |= HAS_CODE;
        let generation = self.pages[page] & !HAS_CODE;
        self.slots[Self::slot(phys)] = Slot {
            phys,
            rip,
            generation,
            bitness,
            instr,
        };
    }

    /// Records a write to guest-physical memory: decoded code on that page becomes stale.
    #[inline]
    pub fn note_write(&mut self, phys: u64) {
        if let Some(g) = self.pages.get_mut((phys >> 12) as usize) {
            if *g & HAS_CODE != 0 {
                *g = (*g & !HAS_CODE).wrapping_add(1) & !HAS_CODE;
            }
        }
    }

    /// Drops everything (used on reset).
    pub fn clear(&mut self) {
        *self = DecodeCache::default();
    }
}
