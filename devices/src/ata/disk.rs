//! Disk backends: what the ATA drive reads and writes, in 512-byte sectors.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Bytes per sector.
pub const SECTOR_SIZE: usize = 512;

/// Errors of a disk backend.
#[derive(Debug, Error)]
pub enum DiskError {
    /// The image file could not be opened.
    #[error("cannot open disk image {path}: {source}")]
    Open {
        /// The image path.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A sector range outside the disk.
    #[error("sectors {lba}..{lba}+{count} are outside the disk ({capacity} sectors)")]
    OutOfRange {
        /// First sector asked for.
        lba: u64,
        /// Number of sectors.
        count: u64,
        /// Sectors on the disk.
        capacity: u64,
    },
    /// The buffer is not a whole number of sectors.
    #[error("buffer of {0} bytes is not a whole number of 512-byte sectors")]
    PartialSector(usize),
    /// Reading or writing the image failed.
    #[error("disk image I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// The backend is read only.
    #[error("the disk is read only")]
    ReadOnly,
    /// The image is not valid for its format, or uses a feature vx86 does not support.
    #[error("disk image {path}: {reason}")]
    BadImage {
        /// The image path.
        path: PathBuf,
        /// What is wrong, for a person to act on.
        reason: String,
    },
    /// Another process holds a conflicting lock on the image.
    #[error("cannot lock disk image {path} for {wanted}: another process (a second vx86?) has it open{hint}")]
    Locked {
        /// The image path.
        path: PathBuf,
        /// What this process wanted: "writing" or "reading".
        wanted: &'static str,
        /// What to do about it.
        hint: &'static str,
    },
    /// The backend refused a write that would change how the image is recognised.
    #[error("refused a guest write of the qcow2 magic to sector 0 of an image probed as raw (give format=raw to allow it)")]
    ProbedFormatChange,
}

impl DiskError {
    /// Turns an OS error met while opening the image at `path` into [`DiskError::Open`].
    pub fn opening(path: &Path) -> impl Fn(std::io::Error) -> DiskError + Copy + '_ {
        move |source| DiskError::Open {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// A block device the ATA drive serves: whole 512-byte sectors by LBA.
pub trait Disk: Send {
    /// Number of sectors.
    fn sector_count(&self) -> u64;
    /// Fills `buf` (a whole number of sectors) from sector `lba` on.
    fn read_sectors(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), DiskError>;
    /// Writes `buf` (a whole number of sectors) from sector `lba` on.
    fn write_sectors(&mut self, lba: u64, buf: &[u8]) -> Result<(), DiskError>;
    /// Makes written data durable.
    fn flush(&mut self) -> Result<(), DiskError>;
}

/// Checks that `buf_len` bytes from `lba` fit a disk of `capacity` sectors; returns the byte offset.
pub(crate) fn check_range(lba: u64, buf_len: usize, capacity: u64) -> Result<u64, DiskError> {
    if buf_len & (SECTOR_SIZE - 1) != 0 {
        return Err(DiskError::PartialSector(buf_len));
    }
    let count = (buf_len / SECTOR_SIZE) as u64;
    match lba.checked_add(count) {
        Some(end) if end <= capacity => Ok(lba * SECTOR_SIZE as u64),
        _ => Err(DiskError::OutOfRange {
            lba,
            count,
            capacity,
        }),
    }
}

/// A disk held in memory. An image whose length is not a multiple of 512 is zero-padded to whole sectors.
#[derive(Debug, Clone, Default)]
pub struct MemDisk {
    /// The sectors, a multiple of 512 bytes long.
    data: Vec<u8>,
}

impl MemDisk {
    /// A disk with the contents of `data`, zero-padded to whole sectors.
    pub fn new(mut data: Vec<u8>) -> Self {
        let padded = data.len().div_ceil(SECTOR_SIZE) * SECTOR_SIZE;
        data.resize(padded, 0);
        Self { data }
    }

    /// A zero-filled disk of `sectors` sectors.
    pub fn zeroed(sectors: usize) -> Self {
        Self {
            data: vec![0; sectors.saturating_mul(SECTOR_SIZE)],
        }
    }

    /// The disk's bytes.
    pub fn data(&self) -> &[u8] {
        &self.data
    }
}

impl Disk for MemDisk {
    fn sector_count(&self) -> u64 {
        (self.data.len() / SECTOR_SIZE) as u64
    }

    fn read_sectors(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), DiskError> {
        let off = check_range(lba, buf.len(), self.sector_count())? as usize;
        let src = self
            .data
            .get(off..off + buf.len())
            .ok_or(DiskError::PartialSector(buf.len()))?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn write_sectors(&mut self, lba: u64, buf: &[u8]) -> Result<(), DiskError> {
        let off = check_range(lba, buf.len(), self.sector_count())? as usize;
        let dst = self
            .data
            .get_mut(off..off + buf.len())
            .ok_or(DiskError::PartialSector(buf.len()))?;
        dst.copy_from_slice(buf);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DiskError> {
        Ok(())
    }
}

/// A raw image file, read and written in place with positioned I/O.
///
/// A file whose length is not a multiple of 512 is accepted: its last, partial sector reads zero-padded, and a
/// write to that sector extends the file to a whole sector.
#[derive(Debug)]
pub struct FileDisk {
    /// The open image.
    file: File,
    /// Current file length in bytes.
    len: u64,
    /// Opened read only: writes fail.
    read_only: bool,
}

impl FileDisk {
    /// Opens `path` read-write, holding an exclusive lock on it (see [`crate::image`]).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, DiskError> {
        Self::open_with(path.as_ref(), false)
    }

    /// Opens `path` read only, holding a shared lock on it; guest writes fail with an error status.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self, DiskError> {
        Self::open_with(path.as_ref(), true)
    }

    fn open_with(path: &Path, read_only: bool) -> Result<Self, DiskError> {
        let (file, len) = crate::image::lock::open_locked(path, read_only)?;
        Ok(Self {
            file,
            len,
            read_only,
        })
    }
}

impl Disk for FileDisk {
    fn sector_count(&self) -> u64 {
        self.len.div_ceil(SECTOR_SIZE as u64)
    }

    fn read_sectors(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), DiskError> {
        let off = check_range(lba, buf.len(), self.sector_count())?;
        let avail = usize::try_from(self.len.saturating_sub(off))
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let (data, tail) = buf.split_at_mut(avail);
        self.file.read_exact_at(data, off)?;
        tail.fill(0);
        Ok(())
    }

    fn write_sectors(&mut self, lba: u64, buf: &[u8]) -> Result<(), DiskError> {
        if self.read_only {
            return Err(DiskError::ReadOnly);
        }
        let off = check_range(lba, buf.len(), self.sector_count())?;
        self.file.write_all_at(buf, off)?;
        self.len = self.len.max(off + buf.len() as u64);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DiskError> {
        if !self.read_only {
            self.file.sync_data()?;
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A file in the temp directory, deleted on drop.
    pub(crate) struct TempFile(pub(crate) PathBuf);

    impl TempFile {
        pub(crate) fn new(tag: &str, contents: &[u8]) -> Self {
            let path =
                std::env::temp_dir().join(format!("vx86-devices-{}-{tag}.img", std::process::id()));
            std::fs::write(&path, contents).unwrap();
            Self(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn mem_disk_pads_and_checks_range() {
        let mut d = MemDisk::new(vec![7; 700]);
        assert_eq!(d.sector_count(), 2);
        let mut buf = [1u8; 512];
        d.read_sectors(1, &mut buf).unwrap();
        assert_eq!(buf[187], 7);
        assert_eq!(buf[188], 0);
        assert!(matches!(
            d.read_sectors(2, &mut buf),
            Err(DiskError::OutOfRange {
                lba: 2,
                count: 1,
                capacity: 2
            })
        ));
        assert!(matches!(
            d.read_sectors(u64::MAX, &mut buf),
            Err(DiskError::OutOfRange { .. })
        ));
        assert!(matches!(
            d.read_sectors(0, &mut buf[..100]),
            Err(DiskError::PartialSector(100))
        ));
        d.write_sectors(0, &[9; 512]).unwrap();
        assert_eq!(d.data()[511], 9);
    }

    #[test]
    fn file_disk_partial_last_sector_and_write_through() {
        let f = TempFile::new("partial", &[5; 600]);
        let mut d = FileDisk::open(&f.0).unwrap();
        assert_eq!(d.sector_count(), 2);
        let mut buf = vec![1u8; 1024];
        d.read_sectors(0, &mut buf).unwrap();
        assert!(buf[..600].iter().all(|&b| b == 5));
        assert!(buf[600..].iter().all(|&b| b == 0));
        d.write_sectors(1, &[3; 512]).unwrap();
        d.flush().unwrap();
        let on_disk = std::fs::read(&f.0).unwrap();
        assert_eq!(on_disk.len(), 1024, "the partial sector was completed");
        assert_eq!(on_disk[1023], 3);
        assert!(matches!(
            d.write_sectors(2, &[0; 512]),
            Err(DiskError::OutOfRange { .. })
        ));

        drop(d); // a reader may not open the image beside a writer
        let mut ro = FileDisk::open_read_only(&f.0).unwrap();
        assert!(matches!(
            ro.write_sectors(0, &[0; 512]),
            Err(DiskError::ReadOnly)
        ));
    }

    #[test]
    fn missing_file_is_a_clear_error() {
        let err = FileDisk::open("/nonexistent/vx86/disk.img").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("cannot open disk image /nonexistent/vx86/disk.img"),
            "{msg}"
        );
    }
}
