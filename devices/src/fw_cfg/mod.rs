//! QEMU's firmware configuration device (fw_cfg, `docs/specs/fw_cfg.rst`) as the PC board has it: how SeaBIOS
//! learns the RAM size, the processors, the boot order, the E820 map and the ACPI tables.
//!
//! | port | access | register |
//! |---|---|---|
//! | 0x510 | 16-bit write | selector: picks an item (key) and rewinds to its first byte |
//! | 0x511 | 8-bit read | data: the selected item's next byte; 0 past its end; writes are ignored |
//! | 0x514 | 32-bit write | DMA address, high half (big-endian) |
//! | 0x518 | 32-bit write | DMA address, low half (big-endian): starts the transfer |
//! | 0x514-0x51B | read | the DMA signature "QEMU CFG" |
//!
//! As in QEMU, the two traditional ports are one register pair: a 16-bit write to either selects, a byte read of
//! either reads data, a byte write is ignored, and wider reads are refused (open bus).
//!
//! A DMA transfer works on a 16-byte descriptor in guest memory (see [`dma`]); the device only latches its address
//! here, and the board, which owns guest memory, runs it at once with [`FwCfg::run_dma`], before the OUT that
//! started it completes.

pub mod dma;
pub mod items;

pub use items::{FwCfgError, FwCfgItems};

use crate::bus::{IoDevice, OPEN_BUS};

/// The selector port.
pub const FW_CFG_PORT_SEL: u16 = 0x510;
/// The data port.
pub const FW_CFG_PORT_DATA: u16 = 0x511;
/// The DMA address register (high half; the low half is at +4).
pub const FW_CFG_PORT_DMA: u16 = 0x514;
/// Ports the DMA address register spans.
pub const FW_CFG_DMA_LEN: u16 = 8;
/// What the DMA address register reads as, byte by byte.
pub const FW_CFG_DMA_SIGNATURE: [u8; 8] = *b"QEMU CFG";

/// The fw_cfg device: its items, the selected item and read position, and the DMA address being written.
#[derive(Debug, Clone)]
pub struct FwCfg {
    /// What the device serves.
    items: FwCfgItems,
    /// The selected key (write-channel bit cleared); an unknown key reads as an empty item.
    selected: u16,
    /// Read position within the selected item.
    offset: usize,
    /// The DMA address as written so far (the high half, until the low half completes it).
    dma_address: u64,
    /// A descriptor address whose transfer the board must run.
    pending_dma: Option<u64>,
}

impl FwCfg {
    /// A device serving `items`, with the signature selected.
    pub fn new(items: FwCfgItems) -> Self {
        FwCfg {
            items,
            selected: items::FW_CFG_SIGNATURE,
            offset: 0,
            dma_address: 0,
            pending_dma: None,
        }
    }

    /// The items served.
    pub fn items(&self) -> &FwCfgItems {
        &self.items
    }

    /// The items served, for the board to fill in.
    pub fn items_mut(&mut self) -> &mut FwCfgItems {
        &mut self.items
    }

    /// Selects item `key` and rewinds to its start.
    pub fn select(&mut self, key: u16) {
        self.selected = key & !items::FW_CFG_WRITE_CHANNEL;
        self.offset = 0;
    }

    /// The rest of the selected item, from the read position (empty past its end or for an unknown key).
    fn remaining(&self) -> &[u8] {
        let data = self.items.get(self.selected).unwrap_or(&[]);
        data.get(self.offset..).unwrap_or(&[])
    }

    /// The data port: the next byte of the selected item, or 0 past its end (the position stops there).
    pub fn read_data(&mut self) -> u8 {
        let Some(&b) = self.remaining().first() else {
            return 0;
        };
        self.offset += 1;
        b
    }

    /// Whether a DMA transfer waits for [`FwCfg::run_dma`].
    pub fn dma_pending(&self) -> bool {
        self.pending_dma.is_some()
    }

    /// A board reset: the signature selected, no DMA address; the items stay.
    pub fn reset(&mut self) {
        let items = std::mem::take(&mut self.items);
        *self = FwCfg::new(items);
    }
}

impl IoDevice for FwCfg {
    fn io_read(&mut self, port: u16, size: u8) -> u32 {
        match port {
            FW_CFG_PORT_SEL | FW_CFG_PORT_DATA if size == 1 => u32::from(self.read_data()),
            p if (FW_CFG_PORT_DMA..FW_CFG_PORT_DMA + FW_CFG_DMA_LEN).contains(&p) => {
                // The register is big-endian: the guest sees the signature's bytes in memory order.
                let at = usize::from(p - FW_CFG_PORT_DMA);
                (0..usize::from(size)).fold(0, |v, i| {
                    let b = FW_CFG_DMA_SIGNATURE.get(at + i).copied().unwrap_or(0xFF);
                    v | u32::from(b) << (8 * i)
                })
            }
            _ => OPEN_BUS,
        }
    }

    fn io_write(&mut self, port: u16, size: u8, value: u32) {
        // The DMA halves are big-endian registers: the first byte written is the most significant.
        let half = u64::from(value.swap_bytes());
        match (port, size) {
            (FW_CFG_PORT_SEL | FW_CFG_PORT_DATA, 2) => self.select(value as u16),
            (FW_CFG_PORT_DMA, 4) => self.dma_address = half << 32,
            (p, 4) if p == FW_CFG_PORT_DMA + 4 => {
                self.pending_dma = Some(self.dma_address | half);
                self.dma_address = 0;
            }
            // Data writes have been ignored since QEMU 2.4; other sizes are refused.
            _ => {}
        }
    }

    fn wide_access(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests;
