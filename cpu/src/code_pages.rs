//! Which guest-physical pages hold decoded or translated code, and a generation per page that every write to that
//! code bumps: the one mechanism behind self-modifying code for every engine.
//!
//! An engine that caches code marks the bytes it took ([`CodePages::mark`]) and remembers their page's generation;
//! a cached block is valid while the generation is unchanged. Marking a page also withdraws the TLB's fast write
//! path to it (the caller does that when `mark` says the page is newly marked), so every write to a code page
//! reaches [`CodePages::note_write`] through the slow path.
//!
//! Marks are kept per 64-byte chunk, as QEMU keeps a bitmap of a page's translated bytes: a write to a chunk no
//! engine took code from leaves the page's code valid. Linux patches its text (alternatives, static keys) while it
//! runs code on the same pages, and kernels keep data beside code; without chunks, every such write threw away all
//! the code of its page, to be translated again. A page whose other chunks keep being written is given up after
//! [`MISSES_BEFORE_GIVING_UP`] such writes (its code is dropped and its writes go fast again), since each of them
//! takes the slow path.

/// Bit in a page's word meaning "some engine cached code from this page".
const HAS_CODE: u32 = 1 << 31;
/// Pages above this are never tracked (far above any RAM we model); code there is never cached.
pub const MAX_TRACKED_PAGES: usize = 1 << 24;
/// log2 of the bytes one bit of a page's chunk mask stands for.
const CHUNK_SHIFT: u32 = 6;
/// Writes that miss a code page's code before the page is given up (its code dropped, its writes fast again).
pub const MISSES_BEFORE_GIVING_UP: u32 = 64;

/// One page's marks.
#[derive(Clone, Copy, Default)]
struct Page {
    /// Generation in bits 0..30, [`HAS_CODE`] in bit 31.
    word: u32,
    /// Writes since the page was marked that missed its code.
    misses: u32,
    /// Bit k: some engine took code from bytes 64k..64k+63 of the page.
    chunks: u64,
}

impl Page {
    /// Drops the page's code: a new generation, no marks.
    fn bump(&mut self) {
        *self = Page {
            word: (self.word & !HAS_CODE).wrapping_add(1) & !HAS_CODE,
            misses: 0,
            chunks: 0,
        };
    }
}

/// The chunk mask of the `len` bytes at `phys` that lie in its page (`len` > 0).
fn chunk_mask(phys: u64, len: u64) -> u64 {
    let first = (phys & 0xFFF) >> CHUNK_SHIFT;
    let last = ((phys & 0xFFF) + len - 1).min(0xFFF) >> CHUNK_SHIFT;
    (u64::MAX >> (63 - last)) & (u64::MAX << first)
}

/// Per-page code marks and generations.
#[derive(Clone, Default)]
pub struct CodePages {
    pages: Vec<Page>,
}

impl CodePages {
    /// The current generation of the physical page holding `phys`.
    #[inline]
    pub fn generation(&self, phys: u64) -> u32 {
        self.pages
            .get((phys >> 12) as usize)
            .map_or(0, |p| p.word & !HAS_CODE)
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
            .is_some_and(|p| p.word & HAS_CODE != 0)
    }

    /// Marks the `len` bytes at `phys` (those in its page; `len` > 0) as cached code; true if the page held none
    /// before (then the caller withdraws the TLB's fast writes to it). Untrackable pages are never marked.
    pub fn mark(&mut self, phys: u64, len: u64) -> bool {
        let page = (phys >> 12) as usize;
        if page >= MAX_TRACKED_PAGES || len == 0 {
            return false;
        }
        if page >= self.pages.len() {
            self.pages.resize(page + 1, Page::default());
        }
        let p = &mut self.pages[page];
        let newly = p.word & HAS_CODE == 0;
        p.word |= HAS_CODE;
        p.chunks |= chunk_mask(phys, len);
        newly
    }

    /// Records a write of `len` bytes (> 0) at `phys` (those in its page): true if code cached from the page is
    /// now stale, because the write reached it or because the page is given up.
    #[inline]
    pub fn note_write(&mut self, phys: u64, len: u64) -> bool {
        let Some(p) = self.pages.get_mut((phys >> 12) as usize) else {
            return false;
        };
        if p.word & HAS_CODE == 0 {
            return false;
        }
        p.misses += 1;
        if p.chunks & chunk_mask(phys, len) != 0 || p.misses >= MISSES_BEFORE_GIVING_UP {
            p.bump();
            return true;
        }
        false
    }

    /// Drops the code cached from the page of `phys`, if any; true if there was some.
    pub fn forget(&mut self, phys: u64) -> bool {
        match self.pages.get_mut((phys >> 12) as usize) {
            Some(p) if p.word & HAS_CODE != 0 => {
                p.bump();
                true
            }
            _ => false,
        }
    }

    /// Forgets every mark (on reset); generations keep counting so no stale block can match again.
    pub fn clear_marks(&mut self) {
        self.pages.iter_mut().for_each(Page::bump);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_to_marked_bytes_bumps_the_generation_and_clears_the_marks() {
        let mut c = CodePages::default();
        assert!(!c.note_write(0x5000, 1), "not code yet");
        assert!(c.mark(0x5123, 4));
        assert!(!c.mark(0x5FFF, 1), "already marked");
        let g = c.generation(0x5000);
        assert!(
            c.note_write(0x5120, 4),
            "bytes 0x120..0x123 share a chunk with the code"
        );
        assert_ne!(c.generation(0x5000), g);
        assert!(!c.is_code(0x5000));
        assert!(!c.note_write(0x5123, 1), "one bump per marking");
    }

    #[test]
    fn a_write_beside_the_code_leaves_it_valid() {
        let mut c = CodePages::default();
        c.mark(0x7040, 0x40);
        let g = c.generation(0x7000);
        assert!(!c.note_write(0x703F, 1), "the chunk before");
        assert!(!c.note_write(0x7080, 8), "the chunk after");
        assert!(!c.note_write(0x7000, 0x40), "the whole chunk before");
        assert_eq!(c.generation(0x7000), g);
        assert!(
            c.is_code(0x7000),
            "writes to the page still take the slow path"
        );
        assert!(c.note_write(0x703E, 3), "its last two bytes reach the code");
        assert_ne!(c.generation(0x7000), g);
    }

    #[test]
    fn a_mark_or_write_at_the_end_of_a_page_stays_in_it() {
        let mut c = CodePages::default();
        c.mark(0x8FFE, 16);
        let g = c.generation(0x9000);
        assert!(!c.note_write(0x8000, 0xFC0), "every chunk but the last");
        assert!(c.note_write(0x8FFF, 1));
        assert_eq!(c.generation(0x9000), g, "the next page is not marked");
    }

    #[test]
    fn a_page_whose_other_bytes_keep_being_written_is_given_up() {
        let mut c = CodePages::default();
        c.mark(0x3000, 16);
        let g = c.generation(0x3000);
        for k in 1..MISSES_BEFORE_GIVING_UP {
            assert!(!c.note_write(0x3800, 4), "miss {k}");
        }
        assert!(c.note_write(0x3800, 4), "the last miss gives the page up");
        assert_ne!(c.generation(0x3000), g);
        assert!(!c.is_code(0x3000), "fast writes again");
        c.mark(0x3000, 16);
        assert!(!c.note_write(0x3800, 4), "a new marking counts afresh");
    }

    #[test]
    fn forgetting_a_page_drops_its_code_whatever_was_written() {
        let mut c = CodePages::default();
        assert!(!c.forget(0x4000));
        c.mark(0x4010, 1);
        let g = c.generation(0x4000);
        assert!(c.forget(0x4F00));
        assert_ne!(c.generation(0x4000), g);
        assert!(!c.is_code(0x4000));
    }
}
