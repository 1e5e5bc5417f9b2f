//! The soft TLB: a direct-mapped cache from linear page to physical page, its backing and its permissions.
//!
//! A MOV to CR3 drops every non-global translation. Rather than clearing thousands of entries each time (Linux with
//! page-table isolation writes CR3 on every system call), entries carry the epoch they were made in, and such a
//! flush just starts a new epoch: a non-global entry from an older epoch no longer matches. Global entries match
//! in any epoch. Full flushes (CR4, CR0, mode and A20 changes), which are rare, clear the table.

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

/// Entries: enough for a Linux kernel's working set of pages (256 missed often enough to show in profiles).
const ENTRIES: usize = 4096;
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
    /// The flush epoch the translation was made in (see the module docs).
    pub epoch: u32,
}

/// A direct-mapped soft TLB.
#[derive(Clone)]
pub struct Tlb {
    entries: Box<[TlbEntry; ENTRIES]>,
    /// The current epoch: non-global entries of other epochs are stale.
    epoch: u32,
    /// Slots filled with a large-page piece since INVLPG last looked (some may have been refilled since), so that
    /// INVLPG finds a large page's other pieces without scanning the whole table.
    large_slots: Vec<u16>,
}

impl Default for Tlb {
    fn default() -> Self {
        Tlb {
            entries: Box::new([TlbEntry::default(); ENTRIES]),
            epoch: 0,
            large_slots: Vec::new(),
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
        (e.tag == (linear >> 12) | VALID && (e.epoch == self.epoch || e.flags & GLOBAL != 0))
            .then_some(e)
    }

    /// Caches a translation of the page holding `linear`, with the page's host-memory offset.
    pub fn insert(&mut self, linear: u64, phys: u64, flags: u8, host: usize) {
        let slot = Self::slot(linear);
        if flags & LARGE != 0 {
            if self.large_slots.len() >= 2 * ENTRIES {
                // Refilled slots repeat: keep each slot that holds a large piece once.
                self.large_slots.clear();
                let large = (0..ENTRIES).filter(|&k| self.entries[k].flags & LARGE != 0);
                self.large_slots.extend(large.map(|k| k as u16));
            }
            self.large_slots.push(slot as u16);
        }
        self.entries[slot] = TlbEntry {
            tag: (linear >> 12) | VALID,
            phys: phys & !0xFFF,
            host,
            flags,
            epoch: self.epoch,
        };
    }

    /// INVLPG: drops the translation of one page. A large page is cached as 4 KiB pieces, so invalidating any part
    /// of one drops every large-page piece (conservative, but never stale).
    pub fn invalidate_page(&mut self, linear: u64) {
        let e = &mut self.entries[Self::slot(linear)];
        if e.tag == (linear >> 12) | VALID {
            *e = TlbEntry::default();
        }
        for slot in self.large_slots.drain(..) {
            let e = &mut self.entries[usize::from(slot)];
            if e.flags & LARGE != 0 {
                *e = TlbEntry::default();
            }
        }
    }

    /// Drops every translation, or every non-global one when `keep_global` (by starting a new epoch).
    pub fn flush(&mut self, keep_global: bool) {
        self.epoch = self.epoch.wrapping_add(1);
        // A wrapped epoch would make entries 2^32 flushes old match again: clear them instead.
        if !keep_global || self.epoch == 0 {
            self.entries.fill(TlbEntry::default());
            self.large_slots.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KERNEL: u64 = 0xFFFF_FFFF_8100_0000;
    const USER: u64 = 0x40_0000;

    fn filled() -> Tlb {
        let mut t = Tlb::default();
        t.insert(KERNEL, 0x100_0000, GLOBAL, 0);
        t.insert(USER, 0x200_0000, 0, 0);
        t
    }

    #[test]
    fn a_cr3_style_flush_keeps_global_entries_and_drops_the_rest() {
        let mut t = filled();
        t.flush(true);
        assert_eq!(t.lookup(KERNEL).map(|e| e.phys), Some(0x100_0000));
        assert!(t.lookup(USER).is_none());
        // A translation made after the flush is valid in the new epoch.
        t.insert(USER, 0x300_0000, 0, 0);
        assert_eq!(t.lookup(USER).map(|e| e.phys), Some(0x300_0000));
    }

    #[test]
    fn a_full_flush_drops_everything() {
        let mut t = filled();
        t.flush(false);
        assert!(t.lookup(KERNEL).is_none() && t.lookup(USER).is_none());
    }

    #[test]
    fn invlpg_drops_every_piece_of_a_large_page() {
        let mut t = Tlb::default();
        let base = 0x20_0000u64;
        t.insert(base, base, LARGE, 0);
        t.insert(base + 0x5000, base + 0x5000, LARGE, 0);
        t.insert(USER, 0x200_0000, 0, 0);
        t.invalidate_page(base + 0x1000);
        assert!(t.lookup(base).is_none() && t.lookup(base + 0x5000).is_none());
        assert!(
            t.lookup(USER).is_some(),
            "4 KiB translations elsewhere stay"
        );
    }

    #[test]
    fn invlpg_finds_large_pieces_however_many_were_cached_since_the_last_one() {
        let mut t = Tlb::default();
        // Three passes over the whole table: the list of large slots is compacted on the way.
        for k in 0..(3 * ENTRIES as u64) {
            t.insert(k << 12, k << 12, LARGE, 0);
        }
        assert!(t.large_slots.len() <= 2 * ENTRIES);
        t.invalidate_page(0x1234_5000);
        assert!((0..ENTRIES as u64).all(|k| t.lookup((2 * ENTRIES as u64 + k) << 12).is_none()));
    }

    #[test]
    fn a_wrapping_epoch_clears_the_table_rather_than_reviving_old_entries() {
        let mut t = filled();
        t.epoch = u32::MAX;
        t.insert(USER, 0x200_0000, 0, 0);
        t.flush(true);
        assert_eq!(t.epoch, 0);
        assert!(t.lookup(USER).is_none() && t.lookup(KERNEL).is_none());
    }
}
