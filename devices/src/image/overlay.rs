//! `snapshot=on`: the guest's writes kept in memory over a read-only image, dropped when vx86 exits.

use std::collections::HashMap;

use crate::ata::{check_range, Disk, DiskError, SECTOR_SIZE};

/// A disk whose written sectors live in memory; the rest is read from the image below.
pub struct SnapshotOverlay {
    /// The image, open read only.
    base: Box<dyn Disk>,
    /// Sectors the guest wrote, by LBA.
    written: HashMap<u64, Box<[u8; SECTOR_SIZE]>>,
}

impl SnapshotOverlay {
    /// An overlay over `base` with nothing written yet.
    pub fn new(base: Box<dyn Disk>) -> Self {
        Self {
            base,
            written: HashMap::new(),
        }
    }
}

impl Disk for SnapshotOverlay {
    fn sector_count(&self) -> u64 {
        self.base.sector_count()
    }

    fn read_sectors(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), DiskError> {
        check_range(lba, buf.len(), self.sector_count())?;
        self.base.read_sectors(lba, buf)?;
        for (k, sector) in buf.chunks_exact_mut(SECTOR_SIZE).enumerate() {
            if let Some(data) = self.written.get(&(lba + k as u64)) {
                sector.copy_from_slice(&data[..]);
            }
        }
        Ok(())
    }

    fn write_sectors(&mut self, lba: u64, buf: &[u8]) -> Result<(), DiskError> {
        check_range(lba, buf.len(), self.sector_count())?;
        for (k, sector) in buf.chunks_exact(SECTOR_SIZE).enumerate() {
            let mut data = Box::new([0u8; SECTOR_SIZE]);
            data.copy_from_slice(sector);
            self.written.insert(lba + k as u64, data);
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DiskError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ata::MemDisk;

    #[test]
    fn writes_stay_in_memory_and_read_back() {
        let mut d = SnapshotOverlay::new(Box::new(MemDisk::new(vec![7; 2048])));
        d.write_sectors(1, &[9; 1024]).unwrap();
        let mut buf = vec![0u8; 2048];
        d.read_sectors(0, &mut buf).unwrap();
        assert!(buf[..512].iter().all(|&b| b == 7));
        assert!(buf[512..1536].iter().all(|&b| b == 9));
        assert!(buf[1536..].iter().all(|&b| b == 7));
        assert!(matches!(
            d.write_sectors(4, &[0; 512]),
            Err(DiskError::OutOfRange { .. })
        ));
    }
}
