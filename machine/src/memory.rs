//! Guest memory: one anonymous host mapping holding guest RAM followed by the BIOS ROM, and the memory map that
//! says which guest-physical page is backed by which part of it.

use crate::layout::{BIOS_LOW_WINDOW_MAX, FOUR_GIB, MIN_RAM, ONE_MIB, PAGE_SIZE};
use memmap2::MmapMut;
use vx86_cpu::PageBacking;

/// Why guest memory could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// The requested RAM size is too small or too large.
    #[error("guest RAM of {0} bytes is not supported: give -m at least 2M and at most 64G")]
    BadSize(u64),
    /// The BIOS image size is not one a PC can map.
    #[error("BIOS image is {0} bytes; a PC BIOS must be 64 KiB, 128 KiB or 256 KiB")]
    BadBiosSize(usize),
    /// The host refused the mapping.
    #[error("cannot allocate guest memory: {0}")]
    Map(#[from] std::io::Error),
}

/// Guest RAM and ROM with the board's memory map.
pub struct GuestMemory {
    host: MmapMut,
    ram_bytes: u64,
    /// RAM below the PCI hole.
    ram_below_4g: u64,
    rom_bytes: u64,
}

impl GuestMemory {
    /// Allocates `ram_bytes` of zeroed RAM and maps `bios` (64, 128 or 256 KiB) below 1 MiB and below 4 GiB.
    pub fn new(ram_bytes: u64, bios: &[u8]) -> Result<GuestMemory, MemoryError> {
        if !(MIN_RAM..=64 << 30).contains(&ram_bytes) || !ram_bytes.is_multiple_of(PAGE_SIZE) {
            return Err(MemoryError::BadSize(ram_bytes));
        }
        if ![64 * 1024, 128 * 1024, 256 * 1024].contains(&bios.len()) {
            return Err(MemoryError::BadBiosSize(bios.len()));
        }
        let rom_bytes = bios.len() as u64;
        let mut host = MmapMut::map_anon((ram_bytes + rom_bytes) as usize)?;
        host[ram_bytes as usize..].copy_from_slice(bios);
        let (ram_below_4g, _) = vx86_devices::ram_split(ram_bytes);
        Ok(GuestMemory {
            host,
            ram_bytes,
            ram_below_4g,
            rom_bytes,
        })
    }

    /// Total guest RAM in bytes.
    pub fn ram_bytes(&self) -> u64 {
        self.ram_bytes
    }

    /// All host-backed guest memory (RAM, then ROM).
    pub fn host(&mut self) -> &mut [u8] {
        &mut self.host
    }

    /// How the page holding guest-physical `paddr` is backed.
    #[inline]
    pub fn backing(&self, paddr: u64) -> PageBacking {
        let page = paddr & !(PAGE_SIZE - 1);
        let low_window = self.rom_bytes.min(BIOS_LOW_WINDOW_MAX);
        if page < ONE_MIB - low_window {
            return PageBacking::Ram(page as usize);
        }
        if page < ONE_MIB {
            let rom_offset = self.rom_bytes - (ONE_MIB - page);
            return PageBacking::Rom((self.ram_bytes + rom_offset) as usize);
        }
        if page < self.ram_below_4g {
            return PageBacking::Ram(page as usize);
        }
        if page < FOUR_GIB {
            if page >= FOUR_GIB - self.rom_bytes {
                return PageBacking::Rom(
                    (self.ram_bytes + page - (FOUR_GIB - self.rom_bytes)) as usize,
                );
            }
            return PageBacking::Mmio;
        }
        let high = page - FOUR_GIB;
        if high < self.ram_bytes - self.ram_below_4g {
            return PageBacking::Ram((self.ram_below_4g + high) as usize);
        }
        PageBacking::Mmio
    }

    /// Reads guest-physical RAM or ROM (for tests and traces); unbacked bytes read as 0xFF.
    pub fn read_phys(&self, paddr: u64, out: &mut [u8]) {
        for (k, b) in out.iter_mut().enumerate() {
            let a = paddr + k as u64;
            *b = match self.backing(a) {
                PageBacking::Ram(off) | PageBacking::Rom(off) => {
                    self.host[off + (a % PAGE_SIZE) as usize]
                }
                PageBacking::Mmio => 0xFF,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bios_is_visible_below_1_mib_and_4_gib_and_read_only_regions_map_to_rom() {
        let mut bios = vec![0u8; 64 * 1024];
        bios[0xFFF0] = 0xEA;
        let mem = GuestMemory::new(8 << 20, &bios).unwrap();
        let mut b = [0u8; 1];
        mem.read_phys(0xFFFF0, &mut b);
        assert_eq!(b[0], 0xEA);
        mem.read_phys(0xFFFF_FFF0, &mut b);
        assert_eq!(b[0], 0xEA);
        assert!(matches!(mem.backing(0xF0000), PageBacking::Rom(_)));
        assert!(matches!(mem.backing(0xE0000), PageBacking::Ram(_)));
        assert_eq!(mem.backing(0x10_0000), PageBacking::Ram(0x10_0000));
        assert_eq!(mem.backing(0x80_0000), PageBacking::Mmio);
    }

    #[test]
    fn bad_sizes_are_rejected_with_a_clear_error() {
        assert!(matches!(
            GuestMemory::new(1 << 20, &[0; 65536]),
            Err(MemoryError::BadSize(_))
        ));
        let e = GuestMemory::new(8 << 20, &[0; 1000]).err().unwrap();
        assert!(e.to_string().contains("64 KiB"));
    }
}
