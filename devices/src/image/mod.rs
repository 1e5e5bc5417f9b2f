//! Disk images behind the ATA drive's [`Disk`]: raw files and qcow2 (versions 2 and 3, with backing files), the
//! format probe, `snapshot=on` (writes kept in memory) and the host file locks.
//!
//! Probing: without `format=`, an image that starts with the qcow2 magic is opened as qcow2 and anything else as
//! raw, as QEMU does. The known risk is a raw disk whose guest wrote a qcow2 header into sector 0: probed again, it
//! would be read as qcow2 (and could name any host file as its backing file). So a raw image that was probed, not
//! named with `format=raw`, refuses guest writes that put the qcow2 magic at the start of sector 0 (the guest sees
//! an I/O error), and naming the format turns probing off.

pub(crate) mod lock;
mod overlay;
mod probe;
pub mod qcow2;

use std::path::Path;

use crate::ata::{Disk, DiskError, FileDisk};
pub use overlay::SnapshotOverlay;
pub use probe::probe_format;
use probe::ProbedRaw;
pub use qcow2::Qcow2Disk;

/// The longest backing chain followed (a longer one is most likely a loop).
pub const MAX_BACKING_DEPTH: usize = 16;

/// A disk image format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// The disk's bytes, as they are.
    Raw,
    /// QEMU's copy-on-write format, versions 2 and 3.
    Qcow2,
}

impl ImageFormat {
    /// The format QEMU calls `name` (`raw`, `qcow2`), if vx86 supports it.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "raw" => Some(Self::Raw),
            "qcow2" => Some(Self::Qcow2),
            _ => None,
        }
    }
}

/// How to open a disk image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImageOptions {
    /// The format; `None` probes it.
    pub format: Option<ImageFormat>,
    /// The guest may not write: its writes fail with an I/O error and the file is opened read only.
    pub read_only: bool,
    /// The file is opened read only and the guest's writes are kept in memory, dropped at exit.
    pub snapshot: bool,
}

/// Opens the disk image at `path` as `options` say.
pub fn open_image(path: &Path, options: &ImageOptions) -> Result<Box<dyn Disk>, DiskError> {
    let file_read_only = options.read_only || options.snapshot;
    let disk = open_format(path, options.format, file_read_only, 0)?;
    if options.snapshot && !options.read_only {
        Ok(Box::new(SnapshotOverlay::new(disk)))
    } else {
        Ok(disk)
    }
}

/// Opens the backing image of a qcow2 image at chain depth `depth`, read only, in the format the header names
/// (probed when it names none).
pub(crate) fn open_backing(
    path: &Path,
    format: Option<&str>,
    depth: usize,
) -> Result<Box<dyn Disk>, DiskError> {
    let format = match format {
        Some(name) => Some(
            ImageFormat::from_name(name).ok_or_else(|| DiskError::BadImage {
                path: path.to_path_buf(),
                reason: format!("backing file format '{name}' is not supported (raw or qcow2)"),
            })?,
        ),
        None => None,
    };
    open_format(path, format, true, depth + 1)
}

/// Opens `path` in `format` (probed if `None`) at backing-chain depth `depth`.
fn open_format(
    path: &Path,
    format: Option<ImageFormat>,
    read_only: bool,
    depth: usize,
) -> Result<Box<dyn Disk>, DiskError> {
    if depth > MAX_BACKING_DEPTH {
        return Err(DiskError::BadImage {
            path: path.to_path_buf(),
            reason: format!(
                "the backing chain is longer than {MAX_BACKING_DEPTH} images (a loop?)"
            ),
        });
    }
    let probed = format.is_none();
    let format = match format {
        Some(f) => f,
        None => probe_format(path)?,
    };
    Ok(match format {
        ImageFormat::Raw if read_only => Box::new(FileDisk::open_read_only(path)?),
        ImageFormat::Raw if probed => Box::new(ProbedRaw::new(FileDisk::open(path)?)),
        ImageFormat::Raw => Box::new(FileDisk::open(path)?),
        ImageFormat::Qcow2 => Box::new(Qcow2Disk::open(path, read_only, depth)?),
    })
}
