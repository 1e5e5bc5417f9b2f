//! QEMU's `pc-testdev` (`-device pc-testdev`): the ISA device kvm-unit-tests use to check an emulator's port I/O,
//! MMIO and interrupt routing from inside a guest.
//!
//! - Ports 0xE0-0xE3: one 32-bit register that takes and returns accesses of any width at any of its four ports
//!   (a byte written at 0xE2 is bits 23-16), for the string and width tests of I/O instructions.
//! - Ports 0xE4-0xE7: "flush page". A 32-bit write names a guest-physical page whose host mapping QEMU drops and
//!   restores, so that KVM takes a fault on its next access; vx86 keeps no mapping that could go stale that way,
//!   so the write is accepted and has no effect. Reads give 0.
//! - Ports 0x2000-0x2017: one port per interrupt line; writing a non-zero byte to 0x2000 + N raises line N, zero
//!   lowers it. Lines 0-15 are the ISA IRQs (both 8259s and the IOAPIC, as a device's line would be), 16-23 the
//!   IOAPIC's other pins. Reads give 0.
//! - MMIO 0xFF000000-0xFF00FFFF: 64 KiB of plain memory behind MMIO, for MMIO emulation tests (string
//!   instructions, odd widths).
//!
//! Left out: QEMU's second view of the register at 0xE8-0xEB (split into byte accesses; it overlaps the debug
//! console at 0xE9 and kvm-unit-tests do not use it).

use crate::bus::{size_mask, IoDevice, OPEN_BUS};

/// The data register's first port.
pub const TESTDEV_DATA_PORT: u16 = 0xE0;
/// The flush-page port.
pub const TESTDEV_FLUSH_PORT: u16 = 0xE4;
/// Ports of the data register and of the flush-page port, each.
pub const TESTDEV_PORT_LEN: u16 = 4;
/// The port of interrupt line 0; line N is at this + N.
pub const TESTDEV_IRQ_PORT: u16 = 0x2000;
/// How many interrupt lines the device drives.
pub const TESTDEV_IRQ_LINES: u16 = 24;
/// Guest-physical base of the MMIO memory window.
pub const TESTDEV_IOMEM_BASE: u64 = 0xFF00_0000;
/// Size of the MMIO memory window.
pub const TESTDEV_IOMEM_SIZE: u64 = 0x1_0000;

/// The test device.
#[derive(Clone)]
pub struct PcTestdev {
    /// The register at ports 0xE0-0xE3.
    data: u32,
    /// Levels of the interrupt lines, bit N for line N.
    irq_lines: u32,
    /// The MMIO window's memory.
    iomem: Vec<u8>,
}

impl std::fmt::Debug for PcTestdev {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcTestdev")
            .field("data", &self.data)
            .field("irq_lines", &self.irq_lines)
            .finish_non_exhaustive()
    }
}

impl Default for PcTestdev {
    fn default() -> Self {
        Self::new()
    }
}

impl PcTestdev {
    /// A device with its register, lines and memory all zero.
    pub fn new() -> Self {
        Self {
            data: 0,
            irq_lines: 0,
            iomem: vec![0; TESTDEV_IOMEM_SIZE as usize],
        }
    }

    /// The levels of the interrupt lines the guest set, bit N for line N.
    pub fn irq_lines(&self) -> u32 {
        self.irq_lines
    }

    /// Whether guest-physical `paddr` is in the MMIO window.
    pub fn claims(&self, paddr: u64) -> bool {
        (TESTDEV_IOMEM_BASE..TESTDEV_IOMEM_BASE + TESTDEV_IOMEM_SIZE).contains(&paddr)
    }

    /// Reads `size` bytes (little-endian) at `paddr` in the window; bytes past its end read as 0xFF.
    pub fn mmio_read(&self, paddr: u64, size: u8) -> u64 {
        let start = paddr.wrapping_sub(TESTDEV_IOMEM_BASE) as usize;
        (0..usize::from(size.min(8))).fold(0, |v, k| {
            let b = self.iomem.get(start + k).copied().unwrap_or(0xFF);
            v | u64::from(b) << (8 * k)
        })
    }

    /// Writes the low `size` bytes of `value` (little-endian) at `paddr` in the window; bytes past its end are
    /// dropped.
    pub fn mmio_write(&mut self, paddr: u64, size: u8, value: u64) {
        let start = paddr.wrapping_sub(TESTDEV_IOMEM_BASE) as usize;
        for k in 0..usize::from(size.min(8)) {
            if let Some(b) = self.iomem.get_mut(start + k) {
                *b = (value >> (8 * k)) as u8;
            }
        }
    }
}

impl IoDevice for PcTestdev {
    fn io_read(&mut self, port: u16, size: u8) -> u32 {
        match port {
            TESTDEV_DATA_PORT..=0xE3 => {
                let shift = 8 * u32::from(port - TESTDEV_DATA_PORT);
                (self.data >> shift) & size_mask(size)
            }
            TESTDEV_FLUSH_PORT..=0xE7 => 0,
            p if (TESTDEV_IRQ_PORT..TESTDEV_IRQ_PORT + TESTDEV_IRQ_LINES).contains(&p) => 0,
            _ => OPEN_BUS,
        }
    }

    fn io_write(&mut self, port: u16, size: u8, value: u32) {
        match port {
            TESTDEV_DATA_PORT..=0xE3 => {
                let shift = 8 * u32::from(port - TESTDEV_DATA_PORT);
                let mask = (u64::from(size_mask(size)) << shift) as u32;
                self.data = (self.data & !mask) | ((u64::from(value) << shift) as u32 & mask);
            }
            p if (TESTDEV_IRQ_PORT..TESTDEV_IRQ_PORT + TESTDEV_IRQ_LINES).contains(&p) => {
                let bit = 1 << (p - TESTDEV_IRQ_PORT);
                if value & 0xFF != 0 {
                    self.irq_lines |= bit;
                } else {
                    self.irq_lines &= !bit;
                }
            }
            // The flush-page port, and ports the device does not decode.
            _ => {}
        }
    }

    fn wide_access(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_register_takes_every_width_at_every_port() {
        let mut t = PcTestdev::new();
        t.io_write(0xE0, 4, 0x1122_3344);
        assert_eq!(t.io_read(0xE0, 4), 0x1122_3344);
        assert_eq!(t.io_read(0xE2, 2), 0x1122);
        assert_eq!(t.io_read(0xE3, 1), 0x11);
        t.io_write(0xE1, 1, 0xAB);
        assert_eq!(t.io_read(0xE0, 4), 0x1122_AB44);
        t.io_write(0xE2, 4, 0xFFFF_5566);
        assert_eq!(
            t.io_read(0xE0, 4),
            0x5566_AB44,
            "bits past the register are dropped"
        );
        assert_eq!(t.io_read(0xE4, 4), 0);
        t.io_write(0xE4, 4, 0x1000);
        assert_eq!(t.io_read(0xE0, 4), 0x5566_AB44, "a flush changes nothing");
        assert_eq!(t.io_read(0xE8, 1), OPEN_BUS);
    }

    #[test]
    fn irq_ports_set_and_clear_their_lines() {
        let mut t = PcTestdev::new();
        t.io_write(TESTDEV_IRQ_PORT + 14, 1, 1);
        t.io_write(TESTDEV_IRQ_PORT + 23, 1, 0x80);
        assert_eq!(t.irq_lines(), 1 << 14 | 1 << 23);
        t.io_write(TESTDEV_IRQ_PORT + 14, 1, 0);
        assert_eq!(t.irq_lines(), 1 << 23);
        t.io_write(TESTDEV_IRQ_PORT + 24, 1, 1);
        assert_eq!(t.irq_lines(), 1 << 23, "no line 24");
        assert_eq!(t.io_read(TESTDEV_IRQ_PORT + 23, 1), 0);
    }

    #[test]
    fn the_mmio_window_is_memory() {
        let mut t = PcTestdev::new();
        assert!(t.claims(TESTDEV_IOMEM_BASE) && t.claims(TESTDEV_IOMEM_BASE + 0xFFFF));
        assert!(!t.claims(TESTDEV_IOMEM_BASE + 0x1_0000) && !t.claims(TESTDEV_IOMEM_BASE - 1));
        t.mmio_write(TESTDEV_IOMEM_BASE + 0x10, 8, 0x0102_0304_0506_0708);
        assert_eq!(
            t.mmio_read(TESTDEV_IOMEM_BASE + 0x10, 8),
            0x0102_0304_0506_0708
        );
        assert_eq!(t.mmio_read(TESTDEV_IOMEM_BASE + 0x13, 2), 0x0405);
        t.mmio_write(TESTDEV_IOMEM_BASE + 0xFFFE, 4, 0xAABB_CCDD);
        assert_eq!(
            t.mmio_read(TESTDEV_IOMEM_BASE + 0xFFFE, 4),
            0xFFFF_CCDD,
            "bytes past the window are open bus"
        );
    }
}
