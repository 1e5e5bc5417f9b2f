//! The guest's drives from the command line (`-drive`, `-hda`, `-hdb`, `-cdrom`, `-boot`), opened as disk images.
//!
//! The board has one IDE disk, the primary master. A second disk (`-hdb`, a second `-drive`), a CD-ROM
//! (`-cdrom`, `media=cdrom`) and booting from one (`-boot d`) are refused with a line saying so; a CD-ROM image is
//! opened first, so a missing ISO is named as such.

use std::path::Path;

use vx86_devices::{open_image, Disk, ImageOptions};

use crate::cli::{parse_drive, Args, DriveSpec, Media};

/// Why the drives on the command line cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    /// A -drive that does not parse.
    #[error(transparent)]
    Spec(#[from] crate::cli::ArgError),
    /// More disks than the board has.
    #[error(
        "vx86 emulates one IDE hard disk (the primary master) so far; {0} asks for a second one"
    )]
    SecondDisk(&'static str),
    /// A CD-ROM drive.
    #[error("{0}: CD-ROM drives (ATAPI) are not emulated yet")]
    Cdrom(String),
    /// A bad -boot value.
    #[error("invalid -boot '{0}': use c (the hard disk) or d (the CD-ROM)")]
    Boot(String),
    /// -boot d without a CD-ROM drive.
    #[error("-boot d boots from a CD-ROM, which vx86 does not emulate yet")]
    BootCdrom,
    /// The image cannot be opened.
    #[error(transparent)]
    Image(#[from] vx86_devices::DiskError),
}

/// Opens the hard disk the command line names, if any (checking every drive flag first).
pub fn open_disk(args: &Args) -> Result<Option<Box<dyn Disk>>, DriveError> {
    if let Some(boot) = &args.boot {
        match boot.strip_prefix("order=").unwrap_or(boot).chars().next() {
            Some('c') => {}
            Some('d') => return Err(DriveError::BootCdrom),
            _ => return Err(DriveError::Boot(boot.clone())),
        }
    }
    let mut drives: Vec<DriveSpec> = Vec::new();
    if let Some(file) = &args.hda {
        drives.push(DriveSpec {
            file: file.clone(),
            media: Media::Disk,
            options: ImageOptions::default(),
        });
    }
    for spec in &args.drive {
        drives.push(parse_drive(spec)?);
    }
    if let Some(file) = &args.cdrom {
        check_cdrom(file)?;
    }
    for cd in drives.iter().filter(|d| d.media == Media::Cdrom) {
        check_cdrom(&cd.file)?;
    }
    let mut disks = drives.into_iter().filter(|d| d.media == Media::Disk);
    let first = disks.next();
    if disks.next().is_some() {
        return Err(DriveError::SecondDisk("a second -drive or -hda"));
    }
    if args.hdb.is_some() {
        return Err(DriveError::SecondDisk("-hdb"));
    }
    first
        .map(|d| open_image(&d.file, &d.options).map_err(DriveError::from))
        .transpose()
}

/// Refuses a CD-ROM image, after checking that it exists (so a missing ISO is reported as missing).
fn check_cdrom(file: &Path) -> Result<(), DriveError> {
    std::fs::File::open(file).map_err(vx86_devices::DiskError::opening(file))?;
    Err(DriveError::Cdrom(file.display().to_string()))
}
