//! The physical region descriptor (PRD) table a bus-master IDE transfer walks (SFF-8038i, 1.2): 8-byte entries
//! in guest memory, each an even physical base address, a byte count (bits 15-1; 0 means 64 KiB) and, in bit 31 of
//! the second dword, end of table. The device's data fills or drains the regions in order.

use crate::dma::{DmaError, DmaMemory};

/// PRD entry, second dword: the last entry of the table.
pub const PRD_END_OF_TABLE: u32 = 1 << 31;
/// Bytes of one PRD entry.
const PRD_ENTRY_SIZE: u64 = 8;
/// Bytes a region of count 0 holds.
const MAX_REGION: u32 = 0x1_0000;

/// Where a device's DMA data goes to or comes from (the bus master, for the device's side of a transfer).
pub(crate) trait DmaPort {
    /// Copies `data` from the device to memory; returns how many bytes were taken (fewer than `data.len()` when
    /// the PRD table ended first).
    fn write_memory(&mut self, data: &[u8]) -> Result<usize, DmaError>;
    /// Fills `buf` from memory for the device; returns how many bytes were given (fewer when the table ended).
    fn read_memory(&mut self, buf: &mut [u8]) -> Result<usize, DmaError>;
}

/// A walk over one PRD table.
pub(crate) struct PrdWalk<'a> {
    /// Guest memory.
    memory: &'a mut dyn DmaMemory,
    /// Guest-physical address of the next entry to read.
    next_entry: u64,
    /// The region being filled or drained: its next byte's address and the bytes left in it.
    region: Option<(u64, u32)>,
    /// The entry with the end-of-table bit has been read.
    last_entry_read: bool,
    /// The first memory access that failed (the table or a region is not RAM).
    fault: Option<DmaError>,
}

impl<'a> PrdWalk<'a> {
    /// A walk of the table at guest-physical `table` over `memory`.
    pub(crate) fn new(memory: &'a mut dyn DmaMemory, table: u32) -> Self {
        Self {
            memory,
            next_entry: u64::from(table & !3),
            region: None,
            last_entry_read: false,
            fault: None,
        }
    }

    /// Whether every region of the table has been used up (the transfer reached the end of the table).
    pub(crate) fn exhausted(&self) -> bool {
        self.last_entry_read && self.region.is_none()
    }

    /// The memory fault that stopped the walk, if one did.
    pub(crate) fn fault(&self) -> Option<DmaError> {
        self.fault
    }

    /// The current region, reading the next entry when the last one is used up; None at the end of the table.
    fn region(&mut self) -> Result<Option<(u64, u32)>, DmaError> {
        if let Some(fault) = self.fault {
            return Err(fault);
        }
        if self.region.is_none() && !self.last_entry_read {
            let mut entry = [0u8; PRD_ENTRY_SIZE as usize];
            if let Err(fault) = self.memory.dma_read(self.next_entry, &mut entry) {
                self.fault = Some(fault);
                return Err(fault);
            }
            self.next_entry += PRD_ENTRY_SIZE;
            let base = u32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]) & !1;
            let flags = u32::from_le_bytes([entry[4], entry[5], entry[6], entry[7]]);
            let count = match flags & 0xFFFE {
                0 => MAX_REGION,
                n => n,
            };
            self.last_entry_read = flags & PRD_END_OF_TABLE != 0;
            self.region = Some((u64::from(base), count));
        }
        Ok(self.region)
    }

    /// Moves up to `len` bytes through the regions, calling `copy(address, offset in the transfer, bytes)` for
    /// each piece; returns the bytes moved.
    fn each_piece(
        &mut self,
        len: usize,
        mut copy: impl FnMut(&mut dyn DmaMemory, u64, usize, usize) -> Result<(), DmaError>,
    ) -> Result<usize, DmaError> {
        let mut done = 0;
        while done < len {
            let Some((addr, left)) = self.region()? else {
                break;
            };
            let n = (len - done).min(left as usize);
            if let Err(fault) = copy(&mut *self.memory, addr, done, n) {
                self.fault = Some(fault);
                return Err(fault);
            }
            done += n;
            let left = left - n as u32;
            self.region = (left > 0).then_some((addr + n as u64, left));
        }
        Ok(done)
    }
}

impl DmaPort for PrdWalk<'_> {
    fn write_memory(&mut self, data: &[u8]) -> Result<usize, DmaError> {
        self.each_piece(data.len(), |memory, addr, at, n| {
            memory.dma_write(addr, &data[at..at + n])
        })
    }

    fn read_memory(&mut self, buf: &mut [u8]) -> Result<usize, DmaError> {
        self.each_piece(buf.len(), |memory, addr, at, n| {
            memory.dma_read(addr, &mut buf[at..at + n])
        })
    }
}
