//! Guest memory: one anonymous host mapping holding guest RAM followed by the BIOS ROM, and the memory map that
//! says which guest-physical page is backed by which part of it.

use crate::layout::{BIOS_LOW_WINDOW_MAX, FOUR_GIB, MIN_RAM, ONE_MIB, PAGE_SIZE, VGA_WINDOW};
use crate::shadow::{Shadow, SHADOW_END, SHADOW_START};
use memmap2::MmapMut;
use vx86_cpu::PageBacking;
use vx86_devices::pci::chipset::PamMode;
use vx86_devices::{DmaError, DmaMemory};

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
    /// A write touched guest-physical memory that is not RAM (ROM, the PCI hole, or past the end of RAM).
    #[error("guest-physical address {0:#x} is not RAM")]
    NotRam(u64),
}

/// Guest RAM and ROM with the board's memory map.
pub struct GuestMemory {
    host: MmapMut,
    ram_bytes: u64,
    /// RAM below the PCI hole.
    ram_below_4g: u64,
    rom_bytes: u64,
    /// How the chipset routes the BIOS area 0xC0000-0xFFFFF.
    shadow: Shadow,
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
            shadow: Shadow::default(),
        })
    }

    /// Total guest RAM in bytes.
    pub fn ram_bytes(&self) -> u64 {
        self.ram_bytes
    }

    /// Size of the BIOS ROM in bytes (mapped below 4 GiB, and its last 128 KiB or less below 1 MiB).
    pub fn rom_bytes(&self) -> u64 {
        self.rom_bytes
    }

    /// All host-backed guest memory (RAM, then ROM).
    pub fn host(&mut self) -> &mut [u8] {
        &mut self.host
    }

    /// How the page holding guest-physical `paddr` is backed.
    #[inline]
    pub fn backing(&self, paddr: u64) -> PageBacking {
        let page = paddr & !(PAGE_SIZE - 1);
        if page < SHADOW_START {
            if page >= VGA_WINDOW {
                // The VGA's planes: the board hands every access to the card (`mmio_read`/`_write`).
                return PageBacking::Mmio;
            }
            return PageBacking::Ram(page as usize);
        }
        if page < SHADOW_END {
            return match self.shadow.mode(page) {
                PamMode::Pci => self.pci_side(page),
                PamMode::ReadWrite => PageBacking::Ram(page as usize),
                PamMode::ReadOnly => PageBacking::Rom(page as usize),
                // Reads and writes go different ways: the board serves each access (`shadow_read`/`_write`).
                PamMode::WriteOnly => PageBacking::Mmio,
            };
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

    /// What the PCI side holds at `page` below 1 MiB: the BIOS ROM in its window, RAM elsewhere (see
    /// [`crate::shadow`]).
    fn pci_side(&self, page: u64) -> PageBacking {
        let low_window = self.rom_bytes.min(BIOS_LOW_WINDOW_MAX);
        if page < ONE_MIB - low_window {
            return PageBacking::Ram(page as usize);
        }
        let rom_offset = self.rom_bytes - (ONE_MIB - page);
        PageBacking::Rom((self.ram_bytes + rom_offset) as usize)
    }

    /// Takes the host bridge's PAM registers after a configuration write; true if the memory map changed.
    pub fn update_shadow(&mut self, host_bridge: &vx86_devices::pci::ConfigSpace) -> bool {
        self.shadow.update(host_bridge)
    }

    /// Moves whenever the memory map changes (the CPU then drops what it cached about it).
    pub fn map_generation(&self) -> u64 {
        self.shadow.generation()
    }

    /// A read of `size` bytes at `paddr` in a write-only shadow segment: from the PCI side. None elsewhere.
    pub fn shadow_read(&self, paddr: u64, size: u8) -> Option<u64> {
        if !(SHADOW_START..SHADOW_END).contains(&paddr)
            || self.shadow.mode(paddr) != PamMode::WriteOnly
        {
            return None;
        }
        let (PageBacking::Ram(off) | PageBacking::Rom(off)) =
            self.pci_side(paddr & !(PAGE_SIZE - 1))
        else {
            return None;
        };
        let at = off + (paddr % PAGE_SIZE) as usize;
        let mut bytes = [0u8; 8];
        let n = usize::from(size.min(8));
        bytes[..n].copy_from_slice(&self.host[at..at + n]);
        Some(u64::from_le_bytes(bytes))
    }

    /// A write of `size` bytes at `paddr` in a write-only shadow segment: to the RAM underneath. False elsewhere.
    pub fn shadow_write(&mut self, paddr: u64, size: u8, value: u64) -> bool {
        if !(SHADOW_START..SHADOW_END).contains(&paddr)
            || self.shadow.mode(paddr) != PamMode::WriteOnly
        {
            return false;
        }
        let at = paddr as usize;
        let n = usize::from(size.min(8));
        self.host[at..at + n].copy_from_slice(&value.to_le_bytes()[..n]);
        true
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

    /// Copies `bytes` into guest-physical RAM at `paddr`, page by page (the range may be unaligned and span any
    /// number of pages). Nothing is written unless the whole range is RAM: ROM, MMIO and addresses past the end
    /// of RAM give [`MemoryError::NotRam`] with the first such address.
    pub fn write_phys(&mut self, paddr: u64, bytes: &[u8]) -> Result<(), MemoryError> {
        let end = paddr
            .checked_add(bytes.len() as u64)
            .ok_or(MemoryError::NotRam(paddr))?;
        let mut chunks = Vec::new();
        let mut a = paddr;
        while a < end {
            let page_end = (a | (PAGE_SIZE - 1)) + 1;
            let n = page_end.min(end) - a;
            match self.backing(a) {
                PageBacking::Ram(off) => {
                    chunks.push((off + (a % PAGE_SIZE) as usize, (a - paddr) as usize, n))
                }
                _ => return Err(MemoryError::NotRam(a)),
            }
            a += n;
        }
        for (host_off, src_off, n) in chunks {
            let n = n as usize;
            self.host[host_off..host_off + n].copy_from_slice(&bytes[src_off..src_off + n]);
        }
        Ok(())
    }
}

/// Device DMA sees RAM and ROM (reads) and RAM (writes); the PCI hole and addresses past RAM fail.
impl DmaMemory for GuestMemory {
    fn dma_read(&mut self, paddr: u64, buf: &mut [u8]) -> Result<(), DmaError> {
        let end = paddr.checked_add(buf.len() as u64).ok_or(DmaError(paddr))?;
        let mut page = paddr;
        while page < end {
            if self.backing(page) == PageBacking::Mmio {
                return Err(DmaError(page.max(paddr)));
            }
            page = (page | (PAGE_SIZE - 1)) + 1;
        }
        self.read_phys(paddr, buf);
        Ok(())
    }

    fn dma_write(&mut self, paddr: u64, data: &[u8]) -> Result<(), DmaError> {
        self.write_phys(paddr, data).map_err(|e| match e {
            MemoryError::NotRam(at) => DmaError(at),
            _ => DmaError(paddr),
        })
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
        assert_eq!(mem.backing(0x9F000), PageBacking::Ram(0x9F000));
        assert_eq!(mem.backing(0xA0000), PageBacking::Mmio, "the VGA window");
        assert_eq!(mem.backing(0xBF000), PageBacking::Mmio);
        assert_eq!(mem.backing(0x10_0000), PageBacking::Ram(0x10_0000));
        assert_eq!(mem.backing(0x80_0000), PageBacking::Mmio);
    }

    #[test]
    fn write_phys_spans_pages_and_rejects_rom_mmio_and_the_end_of_ram() {
        let mut mem = GuestMemory::new(8 << 20, &[0; 64 * 1024]).unwrap();
        let data: Vec<u8> = (0..10_000u32).map(|k| k as u8).collect();
        mem.write_phys(0x10_0FFD, &data).unwrap();
        let mut back = vec![0u8; data.len()];
        mem.read_phys(0x10_0FFD, &mut back);
        assert_eq!(back, data);
        assert!(matches!(
            mem.write_phys(0xF_0000, &[1]),
            Err(MemoryError::NotRam(0xF_0000))
        ));
        assert!(matches!(
            mem.write_phys(0x7F_FFFF, &[1, 2]),
            Err(MemoryError::NotRam(0x80_0000))
        ));
        // A rejected range writes nothing.
        let mut b = [0u8; 1];
        mem.read_phys(0x7F_FFFF, &mut b);
        assert_eq!(b[0], 0);
        assert!(mem.write_phys(u64::MAX, &[1, 2]).is_err());
        mem.write_phys(0x7F_FFFF, &[]).unwrap();
    }

    #[test]
    fn dma_reads_ram_and_rom_writes_only_ram() {
        let mut bios = vec![0u8; 64 * 1024];
        bios[0xFFF0] = 0xEA;
        let mut mem = GuestMemory::new(8 << 20, &bios).unwrap();
        mem.dma_write(0x7F_FFFE, &[1, 2]).unwrap();
        let mut b = [0u8; 3];
        assert_eq!(mem.dma_read(0x7F_FFFE, &mut b), Err(DmaError(0x80_0000)));
        mem.dma_read(0x7F_FFFE, &mut b[..2]).unwrap();
        assert_eq!(b[..2], [1, 2]);
        mem.dma_read(0xF_FFF0, &mut b[..1]).unwrap();
        assert_eq!(b[0], 0xEA);
        assert_eq!(mem.dma_write(0xF_FFF0, &[0]), Err(DmaError(0xF_FFF0)));
        assert_eq!(mem.dma_write(u64::MAX, &[0, 0]), Err(DmaError(u64::MAX)));
        assert_eq!(mem.dma_read(u64::MAX, &mut b), Err(DmaError(u64::MAX)));
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
