//! The fw_cfg DMA interface: a 16-byte big-endian descriptor in guest memory.
//!
//! | offset | field | meaning |
//! |---|---|---|
//! | 0 | control u32 | bits 31-16: key for [`FW_CFG_DMA_CTL_SELECT`]; bits 4-0: the operation; the device writes the result back here |
//! | 4 | length u32 | bytes to transfer |
//! | 8 | address u64 | guest-physical buffer |
//!
//! The device selects the key if asked, then reads (item bytes to the buffer; zeros past the item's end), skips
//! (moves the read position) or writes (refused: no item here is writable). When done it writes the control word
//! back as 0, or as [`FW_CFG_DMA_CTL_ERROR`] if the buffer was not RAM or a write was attempted. A descriptor that
//! cannot be read gets the error bit written at its address, if that is possible at all.

use super::FwCfg;
use crate::dma::{DmaError, DmaMemory};

/// Control bit: the transfer failed (written by the device).
pub const FW_CFG_DMA_CTL_ERROR: u32 = 0x01;
/// Control bit: read from the item into the buffer.
pub const FW_CFG_DMA_CTL_READ: u32 = 0x02;
/// Control bit: skip bytes of the item.
pub const FW_CFG_DMA_CTL_SKIP: u32 = 0x04;
/// Control bit: first select the key in bits 31-16.
pub const FW_CFG_DMA_CTL_SELECT: u32 = 0x08;
/// Control bit: write the buffer into the item.
pub const FW_CFG_DMA_CTL_WRITE: u32 = 0x10;
/// Bytes in a descriptor.
pub const FW_CFG_DMA_DESCRIPTOR_LEN: usize = 16;
/// Zeros are written past an item's end in pieces of this size.
const ZERO_CHUNK: usize = 4096;

/// What a descriptor asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Read,
    Skip,
    Write,
}

impl FwCfg {
    /// Runs the transfer whose descriptor address the guest wrote, if any, against `memory`; true if one ran.
    pub fn run_dma(&mut self, memory: &mut dyn DmaMemory) -> bool {
        let Some(descriptor) = self.pending_dma.take() else {
            return false;
        };
        let mut raw = [0u8; FW_CFG_DMA_DESCRIPTOR_LEN];
        if memory.dma_read(descriptor, &mut raw).is_err() {
            // Nothing more to do if the descriptor is not memory at all.
            let _ = memory.dma_write(descriptor, &FW_CFG_DMA_CTL_ERROR.to_be_bytes());
            return true;
        }
        let be32 = |at: usize| u32::from_be_bytes([raw[at], raw[at + 1], raw[at + 2], raw[at + 3]]);
        let control = be32(0);
        let length = be32(4);
        let mut address = u64::from_be_bytes([
            raw[8], raw[9], raw[10], raw[11], raw[12], raw[13], raw[14], raw[15],
        ]);
        if control & FW_CFG_DMA_CTL_SELECT != 0 {
            self.select((control >> 16) as u16);
        }
        let operation = if control & FW_CFG_DMA_CTL_READ != 0 {
            Some(Operation::Read)
        } else if control & FW_CFG_DMA_CTL_WRITE != 0 {
            Some(Operation::Write)
        } else if control & FW_CFG_DMA_CTL_SKIP != 0 {
            Some(Operation::Skip)
        } else {
            None
        };
        let mut left = u64::from(operation.map_or(0, |_| length));
        let mut status = 0;
        while let (Some(op), true) = (operation, left > 0) {
            match self.transfer(op, memory, address, left) {
                Ok(n) => {
                    address = address.wrapping_add(n);
                    left -= n;
                }
                Err(_) => {
                    status = FW_CFG_DMA_CTL_ERROR;
                    break;
                }
            }
        }
        // If the descriptor is ROM, the guest never sees a result; QEMU does the same.
        let _ = memory.dma_write(descriptor, &status.to_be_bytes());
        true
    }

    /// One step of a transfer of `left` bytes at `address`: the rest of the item (or of `left`), or past the item's
    /// end a piece of zeros. Returns how many bytes it moved.
    fn transfer(
        &mut self,
        op: Operation,
        memory: &mut dyn DmaMemory,
        address: u64,
        left: u64,
    ) -> Result<u64, DmaError> {
        let remaining = self.remaining();
        if remaining.is_empty() {
            // Past the end: reads give zeros, skips do nothing, writes fail; the position stays.
            return match op {
                Operation::Read => {
                    let n = left.min(ZERO_CHUNK as u64);
                    memory.dma_write(address, &[0; ZERO_CHUNK][..n as usize])?;
                    Ok(n)
                }
                Operation::Skip => Ok(left),
                Operation::Write => Err(DmaError(address)),
            };
        }
        let n = left.min(remaining.len() as u64);
        let result = match op {
            Operation::Read => memory.dma_write(address, &remaining[..n as usize]),
            Operation::Skip => Ok(()),
            Operation::Write => Err(DmaError(address)),
        };
        self.offset += n as usize;
        result.map(|()| n)
    }
}
