//! The bus-master interface of the PIIX3 IDE function (SFF-8038i; Intel 82371SB datasheet, "Bus Master IDE I/O
//! Registers"): per channel a command, a status and a PRD table pointer register, in the 16 ports the guest gives
//! BAR 4 (the primary channel's eight, then the secondary's).
//!
//! A transfer runs when the channel's START bit is set while its selected device holds a DMA command (the host may
//! issue the command first or set START first). It runs whole, at once, when the board lends guest memory
//! ([`IdeBusMaster::run`] from `PcDevices::run_dma`), walking the PRD table (`prd.rs`). How it ends, as on
//! a PIIX3 (and QEMU's model of it):
//! - the data and the table end together: the device interrupts, ACTIVE clears;
//! - the table holds more than the transfer: the device interrupts, ACTIVE stays set until the host clears START;
//! - the table ends before the data: ACTIVE clears and the device stops without an interrupt;
//! - a table entry or region that is not RAM: ERROR sets, ACTIVE clears, and the device aborts the command with an
//!   interrupt.
//!
//! The INTERRUPT bit is set on every rising edge of the channel's IRQ line, DMA or not (the board reports the line
//! with [`IdeBusMaster::follow_irq`]); the host clears it by writing 1.

use super::channel::AtaChannel;
use super::prd::PrdWalk;
use crate::bus::{IoDevice, OPEN_BUS};
use crate::dma::DmaMemory;

/// Command register (per channel offset).
pub const BM_COMMAND: u16 = 0;
/// Status register (per channel offset).
pub const BM_STATUS: u16 = 2;
/// PRD table pointer register, 32 bits (per channel offset).
pub const BM_PRD_TABLE: u16 = 4;
/// Ports of one channel's registers; the secondary channel's start this far after the primary's.
pub const BM_CHANNEL_PORTS: u16 = 8;
/// Ports of the whole interface (BAR 4's size).
pub const BM_PORTS: u16 = 2 * BM_CHANNEL_PORTS;
/// Command: start (1) or stop (0) the bus master.
pub const BM_CMD_START: u8 = 0x01;
/// Command: the transfer writes memory (a device read); clear, it reads memory.
pub const BM_CMD_TO_MEMORY: u8 = 0x08;
/// Status: the bus master is active (read only).
pub const BM_STATUS_ACTIVE: u8 = 0x01;
/// Status: a memory access of the transfer failed (write 1 to clear).
pub const BM_STATUS_ERROR: u8 = 0x02;
/// Status: the channel's IRQ rose (write 1 to clear).
pub const BM_STATUS_INTERRUPT: u8 = 0x04;
/// Status: drive 0 is DMA capable (set by firmware).
pub const BM_STATUS_DRIVE0_DMA: u8 = 0x20;
/// Status: drive 1 is DMA capable (set by firmware).
pub const BM_STATUS_DRIVE1_DMA: u8 = 0x40;

/// One channel's bus-master registers.
#[derive(Debug, Clone, Copy, Default)]
struct BusMasterChannel {
    /// Command register (START and the direction bit).
    command: u8,
    /// Status register.
    status: u8,
    /// PRD table pointer (bits 1-0 read 0).
    prd_table: u32,
    /// The channel's IRQ line as last reported (for the INTERRUPT bit's edge).
    irq: bool,
}

impl BusMasterChannel {
    /// The register byte at `offset` (0-7); reserved bytes read 0.
    fn read(&self, offset: u16) -> u8 {
        match offset {
            BM_COMMAND => self.command,
            BM_STATUS => self.status,
            4..=7 => (self.prd_table >> (8 * (offset - BM_PRD_TABLE))) as u8,
            _ => 0,
        }
    }

    /// Writes `v` to the register byte at `offset` (0-7). Setting START makes the bus master active; clearing it
    /// stops the bus master.
    fn write(&mut self, offset: u16, v: u8) {
        match offset {
            BM_COMMAND => {
                let v = v & (BM_CMD_START | BM_CMD_TO_MEMORY);
                if v & BM_CMD_START != 0 {
                    if self.command & BM_CMD_START == 0 {
                        self.status |= BM_STATUS_ACTIVE;
                    }
                } else {
                    self.status &= !BM_STATUS_ACTIVE;
                }
                self.command = v;
            }
            BM_STATUS => {
                // ACTIVE is read only, ERROR and INTERRUPT clear where 1 is written, the drive bits take `v`.
                let sticky = BM_STATUS_ACTIVE | BM_STATUS_ERROR | BM_STATUS_INTERRUPT;
                let cleared = v & (BM_STATUS_ERROR | BM_STATUS_INTERRUPT);
                let drives = v & (BM_STATUS_DRIVE0_DMA | BM_STATUS_DRIVE1_DMA);
                self.status = (self.status & sticky & !cleared) | drives;
            }
            4..=7 => {
                let shift = 8 * (offset - BM_PRD_TABLE);
                let mask = 0xFFu32 << shift;
                self.prd_table = ((self.prd_table & !mask) | (u32::from(v) << shift)) & !3;
            }
            _ => {}
        }
    }
}

/// The bus-master interface of both IDE channels.
#[derive(Debug, Clone, Default)]
pub struct IdeBusMaster {
    /// First port (BAR 4's base), once the guest has placed it.
    base: u16,
    /// Primary and secondary channel registers.
    channels: [BusMasterChannel; 2],
    /// Transfers run so far on each channel (for tests and traces: did the guest use DMA?).
    transfers: [u64; 2],
}

impl IdeBusMaster {
    /// The interface after reset: stopped, no status bits, the PRD pointers 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the interface to ports `base..base + 16` (the board follows BAR 4).
    pub fn set_base(&mut self, base: u16) {
        self.base = base;
    }

    /// Transfers run so far on the primary and the secondary channel.
    pub fn transfers(&self) -> [u64; 2] {
        self.transfers
    }

    /// The status register of channel `index` (0 primary, 1 secondary).
    pub fn status(&self, index: usize) -> u8 {
        self.channels.get(index).map_or(0, |c| c.status)
    }

    /// Reports the level of channel `index`'s IRQ line: a rising edge sets its INTERRUPT bit.
    pub fn follow_irq(&mut self, index: usize, level: bool) {
        if let Some(c) = self.channels.get_mut(index) {
            if level && !c.irq {
                c.status |= BM_STATUS_INTERRUPT;
            }
            c.irq = level;
        }
    }

    /// Runs the transfer channel `index` is ready for, if START is set and `channel`'s selected device waits with
    /// a DMA command, moving its data through `memory`; true if one ran.
    pub fn run(
        &mut self,
        index: usize,
        channel: &mut AtaChannel,
        memory: &mut dyn DmaMemory,
    ) -> bool {
        let Some(bm) = self.channels.get_mut(index) else {
            return false;
        };
        if bm.status & BM_STATUS_ACTIVE == 0
            || bm.command & BM_CMD_START == 0
            || !channel.dma_pending()
        {
            return false;
        }
        let mut walk = PrdWalk::new(memory, bm.prd_table);
        channel.run_dma(&mut walk);
        if walk.fault().is_some() {
            bm.status |= BM_STATUS_ERROR;
        }
        if walk.fault().is_some() || walk.exhausted() {
            bm.status &= !BM_STATUS_ACTIVE;
        }
        self.transfers[index] += 1;
        true
    }

    /// The channel and register offset of `port`, if it is one of the interface's.
    fn register(&self, port: u16) -> Option<(usize, u16)> {
        let offset = port.checked_sub(self.base).filter(|&o| o < BM_PORTS)?;
        Some((
            usize::from(offset / BM_CHANNEL_PORTS),
            offset % BM_CHANNEL_PORTS,
        ))
    }
}

impl IoDevice for IdeBusMaster {
    fn io_read(&mut self, port: u16, size: u8) -> u32 {
        (0..u16::from(size.clamp(1, 4))).fold(0, |v, i| {
            let byte = match port.checked_add(i).and_then(|p| self.register(p)) {
                Some((channel, offset)) => u32::from(self.channels[channel].read(offset)),
                None => OPEN_BUS & 0xFF,
            };
            v | byte << (8 * i)
        })
    }

    fn io_write(&mut self, port: u16, size: u8, value: u32) {
        for i in 0..u16::from(size.clamp(1, 4)) {
            if let Some((channel, offset)) = port.checked_add(i).and_then(|p| self.register(p)) {
                self.channels[channel].write(offset, (value >> (8 * i)) as u8);
            }
        }
    }

    fn wide_access(&self) -> bool {
        true
    }
}
