//! The board's memory map as E820 entries: the one source every loader (the Linux zero page, the multiboot
//! memory map) and the ACPI builder read.
//!
//! It is derived from the same facts as [`GuestMemory::backing`]: the RAM split around the PCI hole
//! ([`vx86_devices::ram_split`]), the BIOS ROM below 1 MiB and below 4 GiB, and the EBDA our BIOS keeps just below
//! the VGA window. Tables a loader or the ACPI builder puts in RAM are carved out with [`MemoryMap::reserve`].
//!
//! ```text
//! 0             .. EBDA_BASE      RAM
//! EBDA_BASE     .. 0xA0000        reserved (EBDA)
//! 0xE0000       .. 0xF0000        reserved (the ACPI tables, layout::ACPI_TABLES_BASE)
//! 1 MiB - ROM   .. 1 MiB          reserved (BIOS low window, at most 128 KiB)
//! 1 MiB         .. RAM below 4G   RAM
//! 4 GiB - ROM   .. 4 GiB          reserved (BIOS alias at the reset vector)
//! 4 GiB         .. 4 GiB + rest   RAM (only when RAM does not fit below the PCI hole)
//! ```

use crate::layout::{
    ACPI_TABLES_BASE, ACPI_TABLES_SIZE, BIOS_LOW_WINDOW_MAX, FOUR_GIB, ONE_MIB, VGA_WINDOW,
};
use crate::memory::GuestMemory;
pub use vx86_firmware::bios::memory::{E820Entry, E820_ENTRY_SIZE, E820_RAM, E820_RESERVED};

/// E820 type: ACPI tables, reclaimable by the OS once it has read them.
pub const E820_ACPI: u32 = 3;
/// E820 type: ACPI non-volatile storage.
pub const E820_NVS: u32 = 4;

/// The board's physical memory map, sorted by base, entries never overlapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryMap {
    entries: Vec<E820Entry>,
}

impl MemoryMap {
    /// The map of `mem`'s board: its RAM size and ROM size.
    pub fn for_board(mem: &GuestMemory) -> MemoryMap {
        MemoryMap::from_sizes(mem.ram_bytes(), mem.rom_bytes())
    }

    /// The map of a board with `ram_bytes` of RAM and a `rom_bytes` BIOS image.
    pub fn from_sizes(ram_bytes: u64, rom_bytes: u64) -> MemoryMap {
        let (below, above) = vx86_devices::ram_split(ram_bytes);
        let ebda = u64::from(vx86_firmware::bios::layout::EBDA_BASE);
        let low_rom = rom_bytes.min(BIOS_LOW_WINDOW_MAX);
        let entry = |base, len, kind| E820Entry { base, len, kind };
        let mut entries = vec![
            entry(0, ebda, E820_RAM),
            entry(ebda, VGA_WINDOW - ebda, E820_RESERVED),
        ];
        if low_rom > 0 {
            entries.push(entry(ONE_MIB - low_rom, low_rom, E820_RESERVED));
        }
        if below > ONE_MIB {
            entries.push(entry(ONE_MIB, below - ONE_MIB, E820_RAM));
        }
        if rom_bytes > 0 {
            entries.push(entry(FOUR_GIB - rom_bytes, rom_bytes, E820_RESERVED));
        }
        if above > 0 {
            entries.push(entry(FOUR_GIB, above, E820_RAM));
        }
        let mut map = MemoryMap { entries };
        map.reserve(ACPI_TABLES_BASE, ACPI_TABLES_SIZE, E820_RESERVED);
        map
    }

    /// The entries, sorted by base.
    pub fn entries(&self) -> &[E820Entry] {
        &self.entries
    }

    /// Marks `[base, base + len)` as `kind` (e.g. [`E820_ACPI`] for the ACPI tables), cutting it out of any RAM
    /// entry it overlaps. A range already inside one non-RAM entry changes nothing; others are added as they are.
    pub fn reserve(&mut self, base: u64, len: u64, kind: u32) {
        let end = base.saturating_add(len);
        let covered = self
            .entries
            .iter()
            .any(|e| e.kind != E820_RAM && e.base <= base && end <= e.base + e.len);
        if len == 0 || covered {
            return;
        }
        let mut out = Vec::with_capacity(self.entries.len() + 2);
        for e in &self.entries {
            let e_end = e.base + e.len;
            if e.kind != E820_RAM || e_end <= base || e.base >= end {
                out.push(*e);
                continue;
            }
            if e.base < base {
                out.push(E820Entry {
                    base: e.base,
                    len: base - e.base,
                    kind: E820_RAM,
                });
            }
            if e_end > end {
                out.push(E820Entry {
                    base: end,
                    len: e_end - end,
                    kind: E820_RAM,
                });
            }
        }
        out.push(E820Entry {
            base,
            len: end - base,
            kind,
        });
        out.sort_by_key(|e| e.base);
        self.entries = out;
    }

    /// Whether `[base, base + len)` lies entirely inside one RAM entry.
    pub fn is_ram(&self, base: u64, len: u64) -> bool {
        let Some(end) = base.checked_add(len) else {
            return false;
        };
        self.entries
            .iter()
            .any(|e| e.kind == E820_RAM && e.base <= base && end <= e.base + e.len)
    }

    /// End of the RAM entry that contains `addr`.
    pub fn ram_end_containing(&self, addr: u64) -> Option<u64> {
        self.entries
            .iter()
            .find(|e| e.kind == E820_RAM && e.base <= addr && addr < e.base + e.len)
            .map(|e| e.base + e.len)
    }

    /// The highest `align`-aligned address `a` with `[a, a + len)` inside one RAM entry, `a >= min` and
    /// `a + len <= limit`; `align` must be a power of two.
    pub fn highest_fit(&self, len: u64, align: u64, min: u64, limit: u64) -> Option<u64> {
        self.entries
            .iter()
            .filter(|e| e.kind == E820_RAM)
            .filter_map(|e| {
                let end = (e.base + e.len).min(limit);
                let a = end.checked_sub(len)? & !(align - 1);
                (a >= e.base.max(min)).then_some(a)
            })
            .max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(base: u64, len: u64, kind: u32) -> E820Entry {
        E820Entry { base, len, kind }
    }

    #[test]
    fn small_board_has_low_ram_the_bios_windows_and_extended_ram() {
        let map = MemoryMap::from_sizes(64 << 20, 128 * 1024);
        assert_eq!(
            map.entries(),
            &[
                e(0, 0x9_FC00, E820_RAM),
                e(0x9_FC00, 0x400, E820_RESERVED),
                e(0xE_0000, 0x2_0000, E820_RESERVED),
                e(0x10_0000, (64 << 20) - 0x10_0000, E820_RAM),
                e(0xFFFE_0000, 0x2_0000, E820_RESERVED),
            ]
        );
    }

    #[test]
    fn the_acpi_tables_are_reserved_below_a_64k_bios() {
        let map = MemoryMap::from_sizes(64 << 20, 64 * 1024);
        assert_eq!(
            &map.entries()[..4],
            &[
                e(0, 0x9_FC00, E820_RAM),
                e(0x9_FC00, 0x400, E820_RESERVED),
                e(0xE_0000, 0x1_0000, E820_RESERVED),
                e(0xF_0000, 0x1_0000, E820_RESERVED),
            ]
        );
    }

    #[test]
    fn big_board_splits_ram_around_the_pci_hole() {
        let map = MemoryMap::from_sizes(5 << 30, 64 * 1024);
        let last = *map.entries().last().unwrap();
        assert_eq!(last, e(FOUR_GIB, (5 << 30) - 0xC000_0000, E820_RAM));
        assert!(map.is_ram(0xBFFF_F000, 0x1000));
        assert!(!map.is_ram(0xBFFF_F000, 0x1001));
        assert_eq!(map.ram_end_containing(0x10_0000), Some(0xC000_0000));
    }

    #[test]
    fn reserve_cuts_ram_and_highest_fit_avoids_the_cut() {
        let mut map = MemoryMap::from_sizes(32 << 20, 64 * 1024);
        map.reserve(0x1FF_0000, 0x1_0000, E820_ACPI);
        assert!(map.entries().contains(&e(0x1FF_0000, 0x1_0000, E820_ACPI)));
        assert!(map
            .entries()
            .contains(&e(0x10_0000, 0x1FF_0000 - 0x10_0000, E820_RAM)));
        assert_eq!(
            map.highest_fit(0x1800, 0x1000, 0x10_0000, u64::MAX),
            Some(0x1FE_E000)
        );
        assert_eq!(map.highest_fit(0x1000, 0x1000, 0x1FF_0000, u64::MAX), None);
        assert_eq!(map.highest_fit(64 << 20, 0x1000, 0, u64::MAX), None);
        for w in map.entries().windows(2) {
            assert!(w[0].base + w[0].len <= w[1].base, "{w:?}");
        }
    }
}
