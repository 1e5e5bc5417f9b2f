//! Which guest-physical pages hold decoded or translated code, and a generation per page that every write to such
//! a page bumps: the one mechanism behind self-modifying code for every engine.
//!
//! An engine that caches code from a page marks the page ([`CodePages::mark`]) and remembers its generation; a
//! cached block is valid while the generation is unchanged. Marking a page also withdraws the TLB's fast write path
//! to it (the caller does that when `mark` says the page is newly marked), so every write to a code page reaches
//! [`CodePages::note_write`] through the slow path.

/// Bit in a page's word meaning "some engine cached code from this page".
const HAS_CODE: u32 = 1 << 31;
/// Pages above this are never tracked (far above any RAM we model); code there is never cached.
pub const MAX_TRACKED_PAGES: usize = 1 << 24;

/// Per-page code marks and generations.
#[derive(Clone, Default)]
pub struct CodePages {
    /// Per 4 KiB physical page: generation in bits 0..30, [`HAS_CODE`] in bit 31.
    pages: Vec<u32>,
}

impl CodePages {
    /// The current generation of the physical page holding `phys`.
    #[inline]
    pub fn generation(&self, phys: u64) -> u32 {
        self.pages.get((phys >> 12) as usize).copied().unwrap_or(0) & !HAS_CODE
    }

    /// Whether code from this page may be cached at all.
    pub fn trackable(phys: u64) -> bool {
        ((phys >> 12) as usize) < MAX_TRACKED_PAGES
    }

    /// Whether some engine holds code from the page of `phys`.
    #[inline]
    pub fn is_code(&self, phys: u64) -> bool {
        self.pages
            .get((phys >> 12) as usize)
            .is_some_and(|g| g & HAS_CODE != 0)
    }

    /// Marks the page of `phys` as holding cached code; true if it was not marked before (then the caller withdraws
    /// the TLB's fast writes to it). Untrackable pages are never marked.
    pub fn mark(&mut self, phys: u64) -> bool {
        let page = (phys >> 12) as usize;
        if page >= MAX_TRACKED_PAGES {
            return false;
        }
        if page >= self.pages.len() {
            self.pages.resize(page + 1, 0);
        }
        let newly = self.pages[page] & HAS_CODE == 0;
        self.pages[page] |= HAS_CODE;
        newly
    }

    /// Records a write to guest-physical memory: code cached from that page becomes stale. True if it held code.
    #[inline]
    pub fn note_write(&mut self, phys: u64) -> bool {
        if let Some(g) = self.pages.get_mut((phys >> 12) as usize) {
            if *g & HAS_CODE != 0 {
                *g = (*g & !HAS_CODE).wrapping_add(1) & !HAS_CODE;
                return true;
            }
        }
        false
    }

    /// Forgets every mark (on reset); generations keep counting so no stale block can match again.
    pub fn clear_marks(&mut self) {
        for g in &mut self.pages {
            *g = (*g & !HAS_CODE).wrapping_add(1) & !HAS_CODE;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_to_a_code_page_bumps_its_generation_and_clears_the_mark() {
        let mut c = CodePages::default();
        assert!(!c.note_write(0x5000), "not code yet");
        assert!(c.mark(0x5123));
        assert!(!c.mark(0x5FFF), "already marked");
        let g = c.generation(0x5000);
        assert!(c.note_write(0x5800));
        assert_ne!(c.generation(0x5000), g);
        assert!(!c.is_code(0x5000));
        assert!(!c.note_write(0x5800), "one bump per marking");
    }
}
