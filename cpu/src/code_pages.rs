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
//!
//! A write that does reach a chunk of code bumps the page's generation, but the page keeps its marks, and the
//! page remembers the generation at which each chunk was last written. An engine holding a block of the page from
//! before the write asks [`CodePages::unchanged_since`] whether the block's own chunks were written since its
//! generation: when they were not, the block is still good and need not be translated again (QEMU, likewise,
//! invalidates only the blocks a write overlaps). Linux patches its text a site at a time (alternatives, static
//! keys, static calls) while running code from the same pages: dropping a page's every block at each patch had
//! some blocks of a Debian boot translated 27 times.

/// Bit in a page's word meaning "some engine cached code from this page".
const HAS_CODE: u32 = 1 << 31;
/// Bit in a page's word meaning "an engine keeps an instruction from this page by its linear address" (one
/// fetched afresh, or crossing into the page), valid while the TLB's epoch stands: a write to the page's code must
/// move the epoch.
const KEPT: u32 = 1 << 30;
/// The generation bits of a page's word.
const GENERATION: u32 = !(HAS_CODE | KEPT);
/// Chunks per page.
const CHUNKS: usize = 64;
/// Pages above this are never tracked (far above any RAM we model); code there is never cached.
pub const MAX_TRACKED_PAGES: usize = 1 << 24;
/// log2 of the bytes one bit of a page's chunk mask stands for.
const CHUNK_SHIFT: u32 = 6;
/// Writes that miss a code page's code before the page is given up (its code dropped, its writes fast again).
pub const MISSES_BEFORE_GIVING_UP: u32 = 64;
/// The same once the page's code has been written: a page written all over (memory freed and reused as data, say)
/// is given up at its first write to code, or soon after, as it would be were its code dropped at once.
pub const MISSES_ONCE_REWRITTEN: u32 = 8;

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
            word: self.generation().wrapping_add(1) & GENERATION,
            misses: 0,
            chunks: 0,
        };
    }

    fn generation(&self) -> u32 {
        self.word & GENERATION
    }
}

/// When the chunks of a page whose code was written were last written, so that code from its other chunks can
/// outlive the write.
#[derive(Clone)]
struct Rewrites {
    /// The generation the page had when the first such write came: code from before it is not vouched for.
    since: u32,
    /// The generation each chunk was last written at (`since` if never).
    chunk: [u32; CHUNKS],
    /// The chunks written since `since`.
    rewritten: u64,
}

/// How many generations `generation` lies behind `now` (generations count modulo 2^30).
fn age(now: u32, generation: u32) -> u32 {
    now.wrapping_sub(generation) & GENERATION
}

/// The chunk mask of the `len` bytes at `phys` that lie in its page (`len` > 0).
fn chunk_mask(phys: u64, len: u64) -> u64 {
    let first = (phys & 0xFFF) >> CHUNK_SHIFT;
    let last = ((phys & 0xFFF) + len - 1).min(0xFFF) >> CHUNK_SHIFT;
    (u64::MAX >> (63 - last)) & (u64::MAX << first)
}

/// What a write did to the code cached from its page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeWrite {
    /// Nothing cached from the page changed.
    Beside,
    /// Code cached from the page is stale (the page's generation moved). `kept`: the page holds bytes of an
    /// instruction kept by its linear address, valid while the TLB's epoch stands, so the epoch must move.
    Stale {
        /// The page holds bytes of a kept instruction.
        kept: bool,
    },
}

impl CodeWrite {
    /// Whether code cached from the page is stale.
    pub fn is_stale(self) -> bool {
        self != CodeWrite::Beside
    }
}

/// Per-page code marks and generations.
#[derive(Clone, Default)]
pub struct CodePages {
    pages: Vec<Page>,
    /// For pages whose code was written since they were marked: when each chunk was last written.
    rewrites: std::collections::HashMap<usize, Box<Rewrites>>,
}

/// The chunks (bit k: bytes 64k..64k+63 of the page) that the `len` bytes at `phys` (`len` > 0) take on its page.
pub fn chunks_of(phys: u64, len: u64) -> u64 {
    chunk_mask(phys, len)
}

impl CodePages {
    /// The current generation of the physical page holding `phys`.
    #[inline]
    pub fn generation(&self, phys: u64) -> u32 {
        self.pages
            .get((phys >> 12) as usize)
            .map_or(0, |p| p.generation())
    }

    /// Whether code taken at `generation` from `chunks` (see [`chunks_of`]) of the page of `phys` is still what the
    /// page holds: no write has reached those chunks since, and the page's code was not dropped whole.
    pub fn unchanged_since(&self, phys: u64, generation: u32, chunks: u64) -> bool {
        let now = self.generation(phys);
        if now == generation {
            return true;
        }
        let Some(rewrites) = self.rewrites.get(&((phys >> 12) as usize)) else {
            return false;
        };
        let since_then = age(now, generation);
        since_then <= age(now, rewrites.since)
            && (0..CHUNKS)
                .filter(|&k| chunks & (1 << k) != 0)
                .all(|k| age(now, rewrites.chunk[k]) >= since_then)
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
    /// before (then the caller withdraws the TLB's fast writes to it). Untrackable pages are never marked. `kept`:
    /// the bytes belong to an instruction kept by its linear address (see [`CodeWrite::Stale`]).
    pub fn mark(&mut self, phys: u64, len: u64, kept: bool) -> bool {
        let page = (phys >> 12) as usize;
        if page >= MAX_TRACKED_PAGES || len == 0 {
            return false;
        }
        if page >= self.pages.len() {
            self.pages.resize(page + 1, Page::default());
        }
        let p = &mut self.pages[page];
        let newly = p.word & HAS_CODE == 0;
        p.word |= HAS_CODE | if kept { KEPT } else { 0 };
        p.chunks |= chunk_mask(phys, len);
        newly
    }

    /// Records a write of `len` bytes (> 0) at `phys` (those in its page): whether code cached from the page is
    /// now stale, because the write reached it or because the page is given up.
    #[inline]
    pub fn note_write(&mut self, phys: u64, len: u64) -> CodeWrite {
        let Some(p) = self.pages.get_mut((phys >> 12) as usize) else {
            return CodeWrite::Beside;
        };
        if p.word & HAS_CODE == 0 {
            return CodeWrite::Beside;
        }
        let stale = CodeWrite::Stale {
            kept: p.word & KEPT != 0,
        };
        let page = (phys >> 12) as usize;
        let mask = chunk_mask(phys, len);
        let written = p.chunks & mask;
        let rewrites = self.rewrites.get(&page);
        // A write beside the code; one to a chunk whose code was rewritten before is the same patch going on.
        if written == 0 && rewrites.is_none_or(|r| r.rewritten & mask == 0) {
            p.misses += 1;
        }
        let limit = if rewrites.is_some() || written != 0 {
            MISSES_ONCE_REWRITTEN
        } else {
            MISSES_BEFORE_GIVING_UP
        };
        if p.misses >= limit {
            p.bump();
            self.rewrites.remove(&page);
            return stale;
        }
        if written == 0 {
            return CodeWrite::Beside;
        }
        // Code from the written chunks is stale (code taken from them again marks them again); code from the
        // page's other chunks stays good ([`Self::unchanged_since`]).
        let before = p.generation();
        let now = before.wrapping_add(1) & GENERATION;
        p.chunks &= !written;
        if p.chunks == 0 {
            p.word = now;
            self.rewrites.remove(&page);
            return stale;
        }
        p.word = (p.word & KEPT) | HAS_CODE | now;
        let rewrites = self.rewrites.entry(page).or_insert_with(|| {
            Box::new(Rewrites {
                since: before,
                chunk: [before; CHUNKS],
                rewritten: 0,
            })
        });
        for k in (0..CHUNKS).filter(|&k| written & (1 << k) != 0) {
            rewrites.chunk[k] = now;
        }
        rewrites.rewritten |= written;
        stale
    }

    /// Forgets every mark (on reset); generations keep counting so no stale block can match again.
    pub fn clear_marks(&mut self) {
        self.pages.iter_mut().for_each(Page::bump);
        self.rewrites.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_to_marked_bytes_bumps_the_generation_and_stales_their_code_only() {
        let mut c = CodePages::default();
        assert!(!c.note_write(0x5000, 1).is_stale(), "not code yet");
        assert!(c.mark(0x5123, 4, false));
        assert!(!c.mark(0x5FFF, 1, false), "already marked");
        let g = c.generation(0x5000);
        let (written, other) = (chunks_of(0x5123, 4), chunks_of(0x5FFF, 1));
        assert!(c.unchanged_since(0x5000, g, written | other));
        assert!(
            c.note_write(0x5120, 4).is_stale(),
            "bytes 0x120..0x123 share a chunk with the code"
        );
        assert_ne!(c.generation(0x5000), g);
        assert!(c.is_code(0x5000), "the page keeps its other code");
        assert!(!c.unchanged_since(0x5000, g, written));
        assert!(!c.unchanged_since(0x5000, g, written | other));
        assert!(
            c.unchanged_since(0x5000, g, other),
            "the last chunk was not written"
        );
        assert!(
            !c.note_write(0x5121, 1).is_stale(),
            "the chunk's code is stale already: a second write there changes nothing"
        );
        let g2 = c.generation(0x5000);
        assert!(!c.mark(0x5123, 4, false), "the code taken again");
        assert!(
            c.note_write(0x5FF0, 16).is_stale(),
            "each write to code bumps"
        );
        assert!(!c.unchanged_since(0x5000, g, other));
        assert!(
            c.unchanged_since(0x5000, g2, written),
            "code taken after the first write outlives the second"
        );
        assert!(c.unchanged_since(0x5000, c.generation(0x5000), written | other));
    }

    #[test]
    fn code_from_before_a_page_was_dropped_whole_is_stale_whatever_its_chunks() {
        let mut c = CodePages::default();
        c.mark(0x6000, 16, false);
        let old = c.generation(0x6000);
        assert!(c.note_write(0x6000, 16).is_stale(), "all its code");
        assert!(!c.is_code(0x6000), "dropped whole");
        c.mark(0x6000, 16, false);
        c.mark(0x6800, 16, false);
        let g = c.generation(0x6000);
        assert!(c.note_write(0x6800, 1).is_stale());
        let first = chunks_of(0x6000, 16);
        assert!(c.unchanged_since(0x6000, g, first));
        assert!(
            !c.unchanged_since(0x6000, old, first),
            "the page was dropped after it"
        );
        c.clear_marks();
        assert!(!c.unchanged_since(0x6000, g, first), "reset drops all code");
    }

    #[test]
    fn a_write_beside_the_code_leaves_it_valid() {
        let mut c = CodePages::default();
        c.mark(0x7040, 0x40, false);
        let g = c.generation(0x7000);
        assert!(!c.note_write(0x703F, 1).is_stale(), "the chunk before");
        assert!(!c.note_write(0x7080, 8).is_stale(), "the chunk after");
        assert!(
            !c.note_write(0x7000, 0x40).is_stale(),
            "the whole chunk before"
        );
        assert_eq!(c.generation(0x7000), g);
        assert!(
            c.is_code(0x7000),
            "writes to the page still take the slow path"
        );
        assert!(
            c.note_write(0x703E, 3).is_stale(),
            "its last two bytes reach the code"
        );
        assert_ne!(c.generation(0x7000), g);
    }

    #[test]
    fn a_mark_or_write_at_the_end_of_a_page_stays_in_it() {
        let mut c = CodePages::default();
        c.mark(0x8FFE, 16, false);
        let g = c.generation(0x9000);
        assert!(
            !c.note_write(0x8000, 0xFC0).is_stale(),
            "every chunk but the last"
        );
        assert!(c.note_write(0x8FFF, 1).is_stale());
        assert_eq!(c.generation(0x9000), g, "the next page is not marked");
    }

    #[test]
    fn a_page_whose_other_bytes_keep_being_written_is_given_up() {
        let mut c = CodePages::default();
        c.mark(0x3000, 16, false);
        let g = c.generation(0x3000);
        for k in 1..MISSES_BEFORE_GIVING_UP {
            assert!(!c.note_write(0x3800, 4).is_stale(), "miss {k}");
        }
        assert!(
            c.note_write(0x3800, 4).is_stale(),
            "the last miss gives the page up"
        );
        assert_ne!(c.generation(0x3000), g);
        assert!(!c.is_code(0x3000), "fast writes again");
        c.mark(0x3000, 16, false);
        assert!(
            !c.note_write(0x3800, 4).is_stale(),
            "a new marking counts afresh"
        );
    }

    #[test]
    fn a_page_written_all_over_once_its_code_was_written_is_given_up_soon() {
        let mut c = CodePages::default();
        c.mark(0x3000, 16, false);
        c.mark(0x3400, 16, false);
        assert!(
            c.note_write(0x3000, 8).is_stale(),
            "a patch to the first code"
        );
        for k in 1..MISSES_BEFORE_GIVING_UP {
            assert!(
                !c.note_write(0x3008, 8).is_stale(),
                "the patch goes on in its chunk ({k})"
            );
        }
        assert!(c.is_code(0x3000));
        for k in 1..MISSES_ONCE_REWRITTEN {
            assert!(
                !c.note_write(0x3800, 8).is_stale(),
                "a write beside the code ({k})"
            );
        }
        let g = c.generation(0x3000);
        assert!(c.note_write(0x3800, 8).is_stale(), "given up");
        assert!(!c.is_code(0x3000));
        assert!(!c.unchanged_since(0x3000, g - 1, chunks_of(0x3400, 16)));
    }
}
