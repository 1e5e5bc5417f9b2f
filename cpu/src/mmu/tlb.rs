//! The soft TLB: a direct-mapped cache from linear page to physical page, its backing and its permissions.

/// Entry flag: user-mode (CPL 3) accesses are allowed on every level of the walk.
pub const USER: u8 = 1 << 0;
/// Entry flag: the page is writable on every level of the walk.
pub const WRITABLE: u8 = 1 << 1;
/// Entry flag: the leaf entry's dirty bit is already set, so writes need no walk.
pub const DIRTY: u8 = 1 << 2;
/// Entry flag: instruction fetches are forbidden (NX).
pub const NO_EXEC: u8 = 1 << 3;
/// Entry flag: the translation is global (survives CR3 writes when CR4.PGE).
pub const GLOBAL: u8 = 1 << 4;
/// Entry flag: the translation comes from a 4 MiB or 2 MiB page (cached as 4 KiB pieces).
pub const LARGE: u8 = 1 << 5;
/// Entry flag: the page is backed by read-only memory (writes are dropped, so they take the slow path).
pub const ROM: u8 = 1 << 6;
/// `host` of an entry whose page is not backed by host memory (MMIO or nothing).
pub const NO_HOST: usize = usize::MAX;

const ENTRIES: usize = 256;
const VALID: u64 = 1 << 63;

/// One cached translation.
#[derive(Clone, Copy, Debug, Default)]
pub struct TlbEntry {
    /// Linear page number with the valid bit (bit 63); 0 means empty.
    pub tag: u64,
    /// Guest-physical address of the page (A20 already applied).
    pub phys: u64,
    /// Permission flags, see the constants in this module.
    pub flags: u8,
    /// Offset of the page in the bus's host memory, or [`NO_HOST`].
    pub host: usize,
}

/// A direct-mapped soft TLB.
#[derive(Clone)]
pub struct Tlb {
    entries: Box<[TlbEntry; ENTRIES]>,
}

impl Default for Tlb {
    fn default() -> Self {
        Tlb {
            entries: Box::new([TlbEntry::default(); ENTRIES]),
        }
    }
}

impl Tlb {
    fn slot(linear: u64) -> usize {
        ((linear >> 12) as usize) & (ENTRIES - 1)
    }

    /// The cached entry for `linear`, if any.
    #[inline]
    pub fn lookup(&self, linear: u64) -> Option<&TlbEntry> {
        let e = &self.entries[Self::slot(linear)];
        (e.tag == (linear >> 12) | VALID).then_some(e)
    }

    /// Caches a translation of the page holding `linear`, with the page's host-memory offset.
    pub fn insert(&mut self, linear: u64, phys: u64, flags: u8, host: usize) {
        self.entries[Self::slot(linear)] = TlbEntry {
            tag: (linear >> 12) | VALID,
            phys: phys & !0xFFF,
            host,
            flags,
        };
    }

    /// INVLPG: drops the translation of one page. A large page is cached as 4 KiB pieces, so invalidating any part
    /// of one drops every large-page piece (conservative, but never stale).
    pub fn invalidate_page(&mut self, linear: u64) {
        let e = &mut self.entries[Self::slot(linear)];
        let large = e.flags & LARGE != 0;
        if e.tag == (linear >> 12) | VALID {
            *e = TlbEntry::default();
        }
        if large || self.entries.iter().any(|e| e.flags & LARGE != 0) {
            for e in self.entries.iter_mut().filter(|e| e.flags & LARGE != 0) {
                *e = TlbEntry::default();
            }
        }
    }

    /// Drops every translation, or every non-global one when `keep_global`.
    pub fn flush(&mut self, keep_global: bool) {
        for e in self.entries.iter_mut() {
            if !(keep_global && e.flags & GLOBAL != 0) {
                *e = TlbEntry::default();
            }
        }
    }
}
