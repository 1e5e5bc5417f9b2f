//! Format probing (the qcow2 magic, else raw) and the guard that keeps a probed raw image raw.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::qcow2::QCOW2_MAGIC;
use super::ImageFormat;
use crate::ata::{Disk, DiskError};

/// The format of the image at `path`: qcow2 if it starts with the qcow2 magic, else raw.
pub fn probe_format(path: &Path) -> Result<ImageFormat, DiskError> {
    let open_err = DiskError::opening(path);
    let mut start = Vec::with_capacity(QCOW2_MAGIC.len());
    File::open(path)
        .map_err(open_err)?
        .take(QCOW2_MAGIC.len() as u64)
        .read_to_end(&mut start)
        .map_err(open_err)?;
    Ok(if start == QCOW2_MAGIC {
        ImageFormat::Qcow2
    } else {
        ImageFormat::Raw
    })
}

/// A raw image whose format was probed: a guest write that would make it probe as qcow2 next time fails.
pub struct ProbedRaw<D> {
    /// The raw image.
    inner: D,
}

impl<D: Disk> ProbedRaw<D> {
    /// Guards `inner`.
    pub fn new(inner: D) -> Self {
        Self { inner }
    }
}

impl<D: Disk> Disk for ProbedRaw<D> {
    fn sector_count(&self) -> u64 {
        self.inner.sector_count()
    }

    fn read_sectors(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), DiskError> {
        self.inner.read_sectors(lba, buf)
    }

    fn write_sectors(&mut self, lba: u64, buf: &[u8]) -> Result<(), DiskError> {
        if lba == 0 && buf.starts_with(&QCOW2_MAGIC) {
            return Err(DiskError::ProbedFormatChange);
        }
        self.inner.write_sectors(lba, buf)
    }

    fn flush(&mut self) -> Result<(), DiskError> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ata::disk::tests::TempFile;
    use crate::ata::MemDisk;

    #[test]
    fn the_magic_decides_and_short_files_are_raw() {
        let q = TempFile::new("probe-q", b"QFI\xfb\0\0\0\x03");
        let r = TempFile::new("probe-r", b"QF");
        assert_eq!(probe_format(&q.0).unwrap(), ImageFormat::Qcow2);
        assert_eq!(probe_format(&r.0).unwrap(), ImageFormat::Raw);
        let err = probe_format(Path::new("/nonexistent/vx86.iso")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/vx86.iso"), "{err}");
    }

    #[test]
    fn a_probed_raw_disk_refuses_the_qcow2_magic_in_sector_0_only() {
        let mut d = ProbedRaw::new(MemDisk::zeroed(2));
        let mut sector = [0u8; 512];
        sector[..4].copy_from_slice(&QCOW2_MAGIC);
        assert!(matches!(
            d.write_sectors(0, &sector),
            Err(DiskError::ProbedFormatChange)
        ));
        d.write_sectors(1, &sector).unwrap();
        let mut back = [0u8; 1024];
        d.read_sectors(0, &mut back).unwrap();
        assert_eq!(&back[..4], &[0; 4], "sector 0 unchanged");
        assert_eq!(&back[512..516], &QCOW2_MAGIC);
    }
}
