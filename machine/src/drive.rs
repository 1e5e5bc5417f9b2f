//! The guest's drives from the command line (`-drive`, `-hda`..`-hdd`, `-cdrom`, `-boot`), opened as disk images
//! and placed in the four IDE slots as QEMU places them: index 0 the primary master (`-hda`), 1 the primary slave
//! (`-hdb`), 2 the secondary master (`-hdc`, `-cdrom`), 3 the secondary slave (`-hdd`); a `-drive` without
//! `index=` takes the first free slot.

use vx86_devices::{open_image, IdeDevice, ImageOptions};

use crate::cli::{parse_drive, Args, DriveSpec, Media};

/// Number of IDE slots (two channels, master and slave each).
pub const IDE_SLOTS: usize = 4;

/// Why the drives on the command line cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    /// A -drive that does not parse.
    #[error(transparent)]
    Spec(#[from] crate::cli::ArgError),
    /// Two drives for one slot.
    #[error("two drives for IDE index {0} (0 primary master, 1 primary slave, 2 secondary master, 3 secondary slave)")]
    SlotTaken(usize),
    /// More drives than slots.
    #[error("vx86 has four IDE slots (two channels, master and slave); {0} is one drive too many")]
    NoFreeSlot(String),
    /// A bad -boot value.
    #[error("invalid -boot '{0}': use c (the hard disk) or d (the CD-ROM)")]
    Boot(String),
    /// The image cannot be opened.
    #[error(transparent)]
    Image(#[from] vx86_devices::DiskError),
}

/// The drives the command line asks for.
#[derive(Debug, Default)]
pub struct Drives {
    /// The IDE slots in QEMU's index order.
    pub ide: [Option<IdeDevice>; IDE_SLOTS],
    /// `-boot d`: the firmware should try the CD-ROM first.
    pub boot_cdrom: bool,
}

impl Drives {
    /// Whether any slot holds a drive.
    pub fn any(&self) -> bool {
        self.ide.iter().any(Option::is_some)
    }
}

/// Whether `-boot` asks for the CD-ROM first (`d`) or the hard disk (`c`, the default).
fn boot_cdrom(boot: Option<&str>) -> Result<bool, DriveError> {
    let Some(boot) = boot else {
        return Ok(false);
    };
    match boot.strip_prefix("order=").unwrap_or(boot).chars().next() {
        Some('c') => Ok(false),
        Some('d') => Ok(true),
        _ => Err(DriveError::Boot(boot.to_string())),
    }
}

/// Places `specs` in the IDE slots: those with an index first, then the others in order in the first free slot.
fn assign_slots(specs: Vec<DriveSpec>) -> Result<[Option<DriveSpec>; IDE_SLOTS], DriveError> {
    let mut slots: [Option<DriveSpec>; IDE_SLOTS] = Default::default();
    let (fixed, free): (Vec<_>, Vec<_>) = specs.into_iter().partition(|s| s.index.is_some());
    for spec in fixed {
        let i = spec.index.unwrap_or_default().min(IDE_SLOTS - 1);
        if slots[i].replace(spec).is_some() {
            return Err(DriveError::SlotTaken(i));
        }
    }
    for spec in free {
        let Some(slot) = slots.iter_mut().find(|s| s.is_none()) else {
            return Err(DriveError::NoFreeSlot(spec.file.display().to_string()));
        };
        *slot = Some(spec);
    }
    Ok(slots)
}

/// Opens the drives the command line names (checking every flag first).
pub fn open_drives(args: &Args) -> Result<Drives, DriveError> {
    let boot_cdrom = boot_cdrom(args.boot.as_deref())?;
    let shorthand = |file: &Option<std::path::PathBuf>, index: usize, media: Media| {
        file.as_ref().map(|f| DriveSpec {
            file: f.clone(),
            media,
            index: Some(index),
            options: ImageOptions::default(),
        })
    };
    let mut specs: Vec<DriveSpec> = [
        shorthand(&args.hda, 0, Media::Disk),
        shorthand(&args.hdb, 1, Media::Disk),
        shorthand(&args.hdc, 2, Media::Disk),
        shorthand(&args.hdd, 3, Media::Disk),
        shorthand(&args.cdrom, 2, Media::Cdrom),
    ]
    .into_iter()
    .flatten()
    .collect();
    for spec in &args.drive {
        specs.push(parse_drive(spec)?);
    }
    let slots = assign_slots(specs)?;
    let mut drives = Drives {
        boot_cdrom,
        ..Drives::default()
    };
    for (slot, spec) in drives.ide.iter_mut().zip(slots) {
        *slot = spec.map(open_drive).transpose()?;
    }
    Ok(drives)
}

/// Opens one drive's image: a CD-ROM's read only.
fn open_drive(spec: DriveSpec) -> Result<IdeDevice, DriveError> {
    Ok(match spec.media {
        Media::Disk => IdeDevice::Disk(open_image(&spec.file, &spec.options)?),
        Media::Cdrom => {
            let options = ImageOptions {
                read_only: true,
                ..spec.options
            };
            IdeDevice::Cdrom(open_image(&spec.file, &options)?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn spec(file: &str, index: Option<usize>) -> DriveSpec {
        DriveSpec {
            file: PathBuf::from(file),
            media: Media::Disk,
            index,
            options: ImageOptions::default(),
        }
    }

    fn files(slots: &[Option<DriveSpec>; IDE_SLOTS]) -> Vec<Option<&str>> {
        slots
            .iter()
            .map(|s| s.as_ref().map(|s| s.file.to_str().unwrap()))
            .collect()
    }

    #[test]
    fn drives_without_index_take_the_next_free_slot_after_the_fixed_ones() {
        let slots = assign_slots(vec![
            spec("a", None),
            spec("cd", Some(2)),
            spec("b", None),
            spec("c", None),
        ])
        .unwrap();
        assert_eq!(files(&slots), [Some("a"), Some("b"), Some("cd"), Some("c")]);
        let err = assign_slots(vec![spec("x", Some(1)), spec("y", Some(1))]).unwrap_err();
        assert!(matches!(err, DriveError::SlotTaken(1)), "{err}");
        let five = (0..5).map(|i| spec(&i.to_string(), None)).collect();
        let err = assign_slots(five).unwrap_err();
        assert_eq!(
            err.to_string(),
            "vx86 has four IDE slots (two channels, master and slave); 4 is one drive too many"
        );
    }

    #[test]
    fn boot_takes_c_or_d() {
        assert!(!boot_cdrom(None).unwrap());
        assert!(!boot_cdrom(Some("c")).unwrap());
        assert!(boot_cdrom(Some("d")).unwrap());
        assert!(boot_cdrom(Some("order=dc")).unwrap());
        assert!(boot_cdrom(Some("a")).is_err());
    }
}
