//! Guest-physical memory as a device's DMA engine sees it: the board owns the memory and lends it to a device
//! for the duration of one transfer (see `PcDevices::run_dma`), so devices never hold a reference to RAM.

use thiserror::Error;

/// A DMA access touched an address that is not memory the device may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("DMA to guest-physical address {0:#x}, which is not RAM")]
pub struct DmaError(pub u64);

/// Guest-physical memory for device DMA.
pub trait DmaMemory {
    /// Reads `buf.len()` bytes at guest-physical `paddr`; fails, with the first bad address, if any byte is neither
    /// RAM nor ROM.
    fn dma_read(&mut self, paddr: u64, buf: &mut [u8]) -> Result<(), DmaError>;

    /// Writes `data` at guest-physical `paddr`; fails, writing nothing, if any byte is not RAM.
    fn dma_write(&mut self, paddr: u64, data: &[u8]) -> Result<(), DmaError>;
}

/// A flat RAM from address 0 (for device tests).
impl DmaMemory for Vec<u8> {
    fn dma_read(&mut self, paddr: u64, buf: &mut [u8]) -> Result<(), DmaError> {
        let range = flat_range(self.len(), paddr, buf.len())?;
        buf.copy_from_slice(&self[range]);
        Ok(())
    }

    fn dma_write(&mut self, paddr: u64, data: &[u8]) -> Result<(), DmaError> {
        let range = flat_range(self.len(), paddr, data.len())?;
        self[range].copy_from_slice(data);
        Ok(())
    }
}

/// The index range of `len` bytes at `paddr` in a flat memory of `size` bytes.
fn flat_range(size: usize, paddr: u64, len: usize) -> Result<std::ops::Range<usize>, DmaError> {
    let start = usize::try_from(paddr).map_err(|_| DmaError(paddr))?;
    match start.checked_add(len) {
        Some(end) if end <= size => Ok(start..end),
        _ => Err(DmaError(paddr.max(size as u64))),
    }
}
