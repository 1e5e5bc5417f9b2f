//! The CPU's view of video memory: the legacy window at 0xA0000-0xBFFFF (decoded as the graphics controller's
//! memory map select says, reaching the planes through chain-4, odd/even or the latches and write modes, or a
//! 64 KiB bank of the linear memory while a Bochs VBE mode is on), the linear framebuffer, and which pages were
//! written since the last render.

use super::graphics::{plane_byte, Latches};
use super::{Vga, DIRTY_PAGE, VRAM_SIZE};

/// First address of the legacy window.
pub const WINDOW_START: u64 = 0xA_0000;
/// End (exclusive) of the legacy window.
pub const WINDOW_END: u64 = 0xC_0000;
/// Bytes of one plane the legacy modes address (256 KiB in all).
const PLANE_SIZE: usize = 0x1_0000;
/// Size of a Bochs VBE bank in the window.
const BANK_SIZE: usize = 0x1_0000;

/// How a CPU address in the window reaches video memory.
enum Route {
    /// Straight to this byte of video memory (chain-4, VBE banks).
    Linear(usize),
    /// Odd/even: the even (planes 0, 2) or odd (planes 1, 3) pair at this planar offset.
    OddEven { offset: usize, odd: bool },
    /// Through the latches at this planar offset.
    Planar(usize),
}

impl Vga {
    /// Where the window address `paddr` goes, or None where the card does not decode it.
    fn route(&self, paddr: u64) -> Option<Route> {
        if self.vbe.enabled() {
            let off = paddr
                .checked_sub(WINDOW_START)
                .filter(|&o| o < BANK_SIZE as u64)?;
            return Some(Route::Linear(
                (self.vbe.bank() * BANK_SIZE + off as usize) % VRAM_SIZE,
            ));
        }
        let (base, size) = self.graphics.window();
        let off = paddr.checked_sub(base).filter(|&o| o < size)? as usize;
        Some(if self.sequencer.chain4() {
            Route::Linear(off % (4 * PLANE_SIZE))
        } else if self.sequencer.odd_even() {
            Route::OddEven {
                offset: (off & !1) % PLANE_SIZE,
                odd: off & 1 != 0,
            }
        } else {
            Route::Planar(off % PLANE_SIZE)
        })
    }

    /// A CPU byte read at `paddr` in the legacy window (0xFF where the card does not decode it).
    pub fn window_read(&mut self, paddr: u64) -> u8 {
        match self.route(paddr) {
            None => 0xFF,
            Some(Route::Linear(at)) => self.vram[at],
            Some(Route::OddEven { offset, odd }) => {
                let plane = (self.graphics.read_map() & 2) | u8::from(odd);
                self.vram[4 * offset + usize::from(plane)]
            }
            Some(Route::Planar(offset)) => {
                self.latches = self.planes_at(offset);
                self.graphics.read(self.latches)
            }
        }
    }

    /// A CPU byte write at `paddr` in the legacy window (dropped where the card does not decode it).
    pub fn window_write(&mut self, paddr: u64, value: u8) {
        let map_mask = self.sequencer.map_mask();
        match self.route(paddr) {
            None => {}
            Some(Route::Linear(at)) if self.vbe.enabled() || map_mask & (1 << (at & 3)) != 0 => {
                self.store(at, value)
            }
            Some(Route::Linear(_)) => {}
            Some(Route::OddEven { offset, odd }) => {
                let planes = map_mask & if odd { 0b1010 } else { 0b0101 };
                for p in (0..4).filter(|p| planes & (1 << p) != 0) {
                    self.store(4 * offset + p, value);
                }
            }
            Some(Route::Planar(offset)) => {
                let planes = self.graphics.write(value, self.latches);
                for p in (0..4u8).filter(|p| map_mask & (1 << p) != 0) {
                    self.store(4 * offset + usize::from(p), plane_byte(planes, p));
                }
            }
        }
    }

    /// A read of `size` bytes at `offset` in the linear framebuffer (BAR 0); past the end reads all ones.
    pub fn lfb_read(&self, offset: u64, size: u8) -> u64 {
        (0..u64::from(size.min(8))).fold(0, |v, k| {
            let b = usize::try_from(offset + k)
                .ok()
                .and_then(|at| self.vram.get(at))
                .copied()
                .unwrap_or(0xFF);
            v | u64::from(b) << (8 * k)
        })
    }

    /// A write of `size` bytes at `offset` in the linear framebuffer (BAR 0); bytes past the end are dropped.
    pub fn lfb_write(&mut self, offset: u64, size: u8, value: u64) {
        for k in 0..u64::from(size.min(8)) {
            if let Ok(at) = usize::try_from(offset + k) {
                if at < VRAM_SIZE {
                    self.store(at, (value >> (8 * k)) as u8);
                }
            }
        }
    }

    /// The four plane bytes at planar `offset`.
    fn planes_at(&self, offset: usize) -> Latches {
        let at = 4 * offset;
        u32::from_le_bytes([
            self.vram[at],
            self.vram[at + 1],
            self.vram[at + 2],
            self.vram[at + 3],
        ])
    }

    /// Sets byte `offset` of plane `plane` (loading fonts, tests).
    pub fn poke_plane(&mut self, plane: u8, offset: usize, value: u8) {
        self.store(4 * (offset % PLANE_SIZE) + usize::from(plane & 3), value);
    }

    /// Byte `offset` of plane `plane`.
    pub fn peek_plane(&self, plane: u8, offset: usize) -> u8 {
        self.vram[4 * (offset % PLANE_SIZE) + usize::from(plane & 3)]
    }

    /// Writes one byte of video memory and marks its page dirty.
    fn store(&mut self, at: usize, value: u8) {
        if self.vram[at] != value {
            self.vram[at] = value;
            let page = at / DIRTY_PAGE;
            self.dirty[page / 64] |= 1 << (page % 64);
            // Plane 2 shares its pages with the text it is the font of: it is tracked on its own.
            self.font_written |= at % 4 == 2 && at < 4 * PLANE_SIZE;
            self.generation += 1;
        }
    }

    /// Whether any page overlapping video memory bytes `range` was written since the last render.
    pub(super) fn dirty_in(&self, dirty: &[u64], range: std::ops::Range<usize>) -> bool {
        if range.is_empty() {
            return false;
        }
        let first = range.start / DIRTY_PAGE;
        let last = (range.end - 1).min(VRAM_SIZE - 1) / DIRTY_PAGE;
        (first..=last).any(|page| dirty[page / 64] & (1 << (page % 64)) != 0)
    }

    /// Takes the dirty-page bitmap (all clean afterwards) and whether the whole picture changed (a text mode's
    /// font counts as the whole picture).
    pub(super) fn take_changes(&mut self) -> (Vec<u64>, bool) {
        let dirty = std::mem::replace(&mut self.dirty, vec![0; VRAM_SIZE / DIRTY_PAGE / 64]);
        let font = std::mem::take(&mut self.font_written) && !self.attribute.graphics();
        (dirty, std::mem::take(&mut self.display_changed) || font)
    }
}
