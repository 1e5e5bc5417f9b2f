//! The soft TLB: direct-mapped caches from linear page to physical page, its backing and its permissions, one for
//! supervisor and one for user accesses (as QEMU keeps one per MMU index), so that a hit needs no privilege check.
//!
//! Each entry is laid out for generated code ([`TlbEntry`], `#[repr(C)]`, offsets in [`entry_offsets`]): beside the
//! translation's own tag it holds a *read tag* and a *write tag*, the linear page address when that kind of access
//! may go straight to host memory, and an invalid value otherwise. Every reason to take the slow path is folded into
//! them: an MMIO page, ROM (for writes), no write permission, a dirty bit not yet set, a page holding decoded or
//! translated code (writes must invalidate it). So the fast path of a data access is one compare, then
//! `host = linear + addend`. The interpreter's fast path uses the same tags.
//!
//! A MOV to CR3 drops every non-global translation. Rather than clearing thousands of entries each time (Linux with
//! page-table isolation writes CR3 on every system call), the TLB remembers which slots it filled with non-global
//! translations since the last such flush and clears only those.

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

/// Entries per table: enough for a Linux kernel's working set of pages (256 missed often enough to show in profiles).
pub const ENTRIES: usize = 4096;
/// log2 of `size_of::<TlbEntry>()`: generated code scales a slot index by it.
pub const ENTRY_SHIFT: u32 = 5;
/// A read or write tag that no page-aligned address equals: that access takes the slow path.
pub const INVALID_TAG: u64 = 1;
/// Low bit of [`TlbEntry::tag`] marking a valid translation (page addresses have it clear).
const VALID: u64 = 1;

/// One cached translation, as generated code reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct TlbEntry {
    /// The linear page address when reads may use host memory directly, else [`INVALID_TAG`].
    pub read_tag: u64,
    /// The linear page address when writes may use host memory directly, else [`INVALID_TAG`].
    pub write_tag: u64,
    /// Host address of the page minus its linear address (wrapping): `host = linear + addend` on a tag hit.
    pub addend: u64,
    /// The linear page address with the valid bit (bit 0) for any access, 0 when empty.
    pub tag: u64,
}

const EMPTY: TlbEntry = TlbEntry {
    read_tag: INVALID_TAG,
    write_tag: INVALID_TAG,
    addend: 0,
    tag: 0,
};

/// Byte offsets of [`TlbEntry`] fields, for generated code.
pub mod entry_offsets {
    use super::TlbEntry;
    use core::mem::offset_of;
    /// Offset of [`TlbEntry::read_tag`].
    pub const READ_TAG: usize = offset_of!(TlbEntry, read_tag);
    /// Offset of [`TlbEntry::write_tag`].
    pub const WRITE_TAG: usize = offset_of!(TlbEntry, write_tag);
    /// Offset of [`TlbEntry::addend`].
    pub const ADDEND: usize = offset_of!(TlbEntry, addend);
}

/// What the interpreter and the page-fault logic need of a translation beyond the fast-path tags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TlbInfo {
    /// Guest-physical address of the page (A20 already applied).
    pub phys: u64,
    /// Permission flags, see the constants in this module.
    pub flags: u8,
    /// Offset of the page in the bus's host memory, or [`NO_HOST`].
    pub host: usize,
}

/// What a new translation is, for [`Tlb::insert`].
#[derive(Clone, Copy, Debug)]
pub struct Fill {
    /// Linear address in the page.
    pub linear: u64,
    /// Guest-physical page.
    pub phys: u64,
    /// Permission flags.
    pub flags: u8,
    /// Offset in host memory, or [`NO_HOST`].
    pub host: usize,
    /// Address of host memory's first byte (the base `host` offsets count from).
    pub host_base: usize,
    /// Reads at this privilege may go to host memory.
    pub fast_read: bool,
    /// Writes at this privilege may go to host memory.
    pub fast_write: bool,
}

/// One privilege level's table.
#[derive(Clone)]
struct Table {
    entries: Box<[TlbEntry]>,
    info: Box<[TlbInfo]>,
    /// Slots filled with non-global translations since the last CR3-style flush (may repeat or be stale).
    non_global: Vec<u16>,
    /// Slots filled with a large-page piece since INVLPG last looked, so INVLPG finds a large page's other pieces
    /// without scanning the table.
    large: Vec<u16>,
}

impl Default for Table {
    fn default() -> Self {
        Table {
            entries: vec![EMPTY; ENTRIES].into_boxed_slice(),
            info: vec![TlbInfo::default(); ENTRIES].into_boxed_slice(),
            non_global: Vec::new(),
            large: Vec::new(),
        }
    }
}

impl Table {
    fn clear_slot(&mut self, slot: usize) {
        self.entries[slot] = EMPTY;
    }

    fn clear_all(&mut self) {
        self.entries.fill(EMPTY);
        self.non_global.clear();
        self.large.clear();
    }
}

/// The soft TLB: a supervisor table and a user table.
#[derive(Clone, Default)]
pub struct Tlb {
    tables: [Table; 2],
    /// Counters of the events after which a linear address may no longer reach the same code: `[ANY_EPOCH]` moves on
    /// every flush, INVLPG and write to a code page; `[GLOBAL_EPOCH]` on all of those but a flush that keeps global
    /// translations. Engines that cache code by linear address (the translator's jump table) validate against them.
    epochs: [u64; 2],
}

/// Index of [`Tlb::epochs`] that moves on any change.
pub const ANY_EPOCH: usize = 0;
/// Index of [`Tlb::epochs`] that moves on changes that may affect global translations.
pub const GLOBAL_EPOCH: usize = 1;

/// The slot of a linear address.
#[inline]
pub fn slot(linear: u64) -> usize {
    ((linear >> 12) as usize) & (ENTRIES - 1)
}

impl Tlb {
    /// The cached translation of `linear` for accesses at user privilege (`user`) or supervisor privilege.
    #[inline]
    pub fn lookup(&self, linear: u64, user: bool) -> Option<&TlbInfo> {
        let t = &self.tables[usize::from(user)];
        let s = slot(linear);
        (t.entries[s].tag == (linear & !0xFFF) | VALID).then(|| &t.info[s])
    }

    /// The host-memory offset of `size` bytes at `linear` when they lie in one page whose read tag (or write tag,
    /// when `write`) hits: the interpreter's fast path.
    #[inline]
    pub fn fast_offset(&self, linear: u64, size: usize, user: bool, write: bool) -> Option<usize> {
        let t = &self.tables[usize::from(user)];
        let s = slot(linear);
        let e = &t.entries[s];
        let tag = if write { e.write_tag } else { e.read_tag };
        let last_page = linear.wrapping_add(size as u64 - 1) & !0xFFF;
        (tag == last_page).then(|| t.info[s].host + (linear & 0xFFF) as usize)
    }

    /// Caches a translation made for accesses at user privilege (`user`) or supervisor privilege.
    pub fn insert(&mut self, user: bool, fill: Fill) {
        let t = &mut self.tables[usize::from(user)];
        let s = slot(fill.linear);
        let page = fill.linear & !0xFFF;
        if fill.flags & GLOBAL == 0 {
            if t.non_global.len() >= 2 * ENTRIES {
                // Refilled slots repeat: keep each slot that holds a non-global translation once. At most ENTRIES
                // remain, so this scan comes at most once per ENTRIES fills.
                t.non_global = (0..ENTRIES)
                    .filter(|&k| t.entries[k].tag != 0 && t.info[k].flags & GLOBAL == 0)
                    .map(|k| k as u16)
                    .collect();
            }
            t.non_global.push(s as u16);
        }
        if fill.flags & LARGE != 0 {
            if t.large.len() >= 2 * ENTRIES {
                t.large = (0..ENTRIES)
                    .filter(|&k| t.entries[k].tag != 0 && t.info[k].flags & LARGE != 0)
                    .map(|k| k as u16)
                    .collect();
            }
            t.large.push(s as u16);
        }
        let backed = fill.host != NO_HOST;
        t.entries[s] = TlbEntry {
            read_tag: if backed && fill.fast_read {
                page
            } else {
                INVALID_TAG
            },
            write_tag: if backed && fill.fast_write {
                page
            } else {
                INVALID_TAG
            },
            addend: (fill.host_base.wrapping_add(fill.host) as u64).wrapping_sub(page),
            tag: page | VALID,
        };
        t.info[s] = TlbInfo {
            phys: fill.phys & !0xFFF,
            flags: fill.flags,
            host: fill.host,
        };
    }

    /// INVLPG: drops the translation of one page in both tables. A large page is cached as 4 KiB pieces, so
    /// invalidating any part of one drops every large-page piece (conservative, but never stale).
    pub fn invalidate_page(&mut self, linear: u64) {
        self.bump_epochs(false);
        let s = slot(linear);
        for t in &mut self.tables {
            if t.entries[s].tag == (linear & !0xFFF) | VALID {
                t.clear_slot(s);
            }
            for k in std::mem::take(&mut t.large) {
                let k = usize::from(k);
                if t.info[k].flags & LARGE != 0 {
                    t.clear_slot(k);
                }
            }
        }
    }

    /// Drops every translation, or every non-global one when `keep_global`.
    pub fn flush(&mut self, keep_global: bool) {
        self.bump_epochs(keep_global);
        for t in &mut self.tables {
            if !keep_global {
                t.clear_all();
                continue;
            }
            for k in std::mem::take(&mut t.non_global) {
                let k = usize::from(k);
                if t.info[k].flags & GLOBAL == 0 {
                    t.clear_slot(k);
                }
            }
        }
    }

    /// A physical page now holds decoded or translated code: writes to it must take the slow path, which notices
    /// them, so every write tag that maps it is withdrawn.
    pub fn protect_code_page(&mut self, phys: u64) {
        let page = phys & !0xFFF;
        for t in &mut self.tables {
            for (e, info) in t.entries.iter_mut().zip(t.info.iter()) {
                if info.phys == page && e.tag != 0 {
                    e.write_tag = INVALID_TAG;
                }
            }
        }
    }

    /// A page holding code was written: code cached by linear address may be stale.
    pub fn note_code_write(&mut self) {
        self.bump_epochs(false);
    }

    fn bump_epochs(&mut self, only_non_global: bool) {
        self.epochs[ANY_EPOCH] += 1;
        if !only_non_global {
            self.epochs[GLOBAL_EPOCH] += 1;
        }
    }

    /// The epoch counters now.
    pub fn epochs(&self) -> [u64; 2] {
        self.epochs
    }

    /// The first entry of the table for user (`user`) or supervisor accesses, for generated code.
    pub fn table_ptr(&self, user: bool) -> *const TlbEntry {
        self.tables[usize::from(user)].entries.as_ptr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KERNEL: u64 = 0xFFFF_FFFF_8100_0000;
    const USER_PAGE: u64 = 0x40_0000;

    fn fill(linear: u64, phys: u64, flags: u8) -> Fill {
        Fill {
            linear,
            phys,
            flags,
            host: phys as usize,
            host_base: 0x1000_0000,
            fast_read: true,
            fast_write: true,
        }
    }

    fn filled() -> Tlb {
        let mut t = Tlb::default();
        t.insert(false, fill(KERNEL, 0x100_0000, GLOBAL));
        t.insert(false, fill(USER_PAGE, 0x200_0000, 0));
        t
    }

    #[test]
    fn entry_layout_is_what_generated_code_assumes() {
        assert_eq!(1 << ENTRY_SHIFT, std::mem::size_of::<TlbEntry>());
        assert_eq!(
            (
                entry_offsets::READ_TAG,
                entry_offsets::WRITE_TAG,
                entry_offsets::ADDEND
            ),
            (0, 8, 16)
        );
    }

    #[test]
    fn a_hit_gives_host_addresses_through_the_addend() {
        let t = filled();
        let e = t.tables[0].entries[slot(USER_PAGE + 0x10)];
        assert_eq!(e.read_tag, USER_PAGE);
        assert_eq!(
            (USER_PAGE + 0x10).wrapping_add(e.addend),
            0x1000_0000 + 0x200_0010
        );
        assert_eq!(
            t.fast_offset(USER_PAGE + 0x10, 4, false, true),
            Some(0x200_0010)
        );
        // The same page is not cached for user accesses, and an access crossing the page's end misses.
        assert_eq!(t.fast_offset(USER_PAGE + 0x10, 4, true, false), None);
        assert_eq!(t.fast_offset(USER_PAGE + 0xFFE, 4, false, false), None);
    }

    #[test]
    fn a_cr3_style_flush_keeps_global_entries_and_drops_the_rest() {
        let mut t = filled();
        t.flush(true);
        assert_eq!(t.lookup(KERNEL, false).map(|e| e.phys), Some(0x100_0000));
        assert!(t.lookup(USER_PAGE, false).is_none());
        t.insert(false, fill(USER_PAGE, 0x300_0000, 0));
        assert_eq!(t.lookup(USER_PAGE, false).map(|e| e.phys), Some(0x300_0000));
    }

    #[test]
    fn a_full_flush_drops_everything() {
        let mut t = filled();
        t.flush(false);
        assert!(t.lookup(KERNEL, false).is_none() && t.lookup(USER_PAGE, false).is_none());
    }

    #[test]
    fn invlpg_drops_every_piece_of_a_large_page() {
        let mut t = Tlb::default();
        let base = 0x20_0000u64;
        t.insert(false, fill(base, base, LARGE));
        t.insert(true, fill(base + 0x5000, base + 0x5000, LARGE | USER));
        t.insert(false, fill(USER_PAGE, 0x200_0000, 0));
        t.invalidate_page(base + 0x1000);
        assert!(t.lookup(base, false).is_none() && t.lookup(base + 0x5000, true).is_none());
        assert!(
            t.lookup(USER_PAGE, false).is_some(),
            "4 KiB translations elsewhere stay"
        );
    }

    #[test]
    fn non_global_slots_are_found_however_many_fills_came_since_the_last_flush() {
        let mut t = Tlb::default();
        for k in 0..(3 * ENTRIES as u64) {
            t.insert(false, fill(k << 12, k << 12, 0));
        }
        assert!(t.tables[0].non_global.len() <= 2 * ENTRIES);
        t.flush(true);
        assert!(
            (0..ENTRIES as u64).all(|k| t.lookup((2 * ENTRIES as u64 + k) << 12, false).is_none())
        );
    }

    #[test]
    fn a_code_page_loses_its_write_tags_only() {
        let mut t = filled();
        t.protect_code_page(0x200_0123);
        assert_eq!(t.fast_offset(USER_PAGE, 1, false, true), None);
        assert!(t.fast_offset(USER_PAGE, 1, false, false).is_some());
        assert!(t.fast_offset(KERNEL, 1, false, true).is_some());
    }
}
