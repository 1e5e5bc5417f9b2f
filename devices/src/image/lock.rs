//! Advisory host file locks, so that two vx86 processes never write one image: an image opened for writing holds
//! an exclusive `flock`, a read-only one a shared lock. The lock lives as long as the open file.

use std::fs::File;
use std::path::Path;

use crate::ata::DiskError;

/// Opens the image at `path` for reading, and for writing unless `read_only`, with the lock that needs (see
/// [`lock_image`]); returns it with its length.
pub(crate) fn open_locked(path: &Path, read_only: bool) -> Result<(File, u64), DiskError> {
    let open_err = DiskError::opening(path);
    let file = File::options()
        .read(true)
        .write(!read_only)
        .open(path)
        .map_err(open_err)?;
    lock_image(&file, path, read_only)?;
    let len = file.metadata().map_err(open_err)?.len();
    Ok((file, len))
}

/// Takes the lock an image opened `read_only` (shared) or for writing (exclusive) needs, without waiting.
pub(crate) fn lock_image(file: &File, path: &Path, read_only: bool) -> Result<(), DiskError> {
    let taken = if read_only {
        file.try_lock_shared()
    } else {
        file.try_lock()
    };
    match taken {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(DiskError::Locked {
            path: path.to_path_buf(),
            wanted: if read_only { "reading" } else { "writing" },
            hint: if read_only {
                " for writing"
            } else {
                "; give readonly=on or snapshot=on to share it read-only"
            },
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(DiskError::opening(path)(source)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ata::disk::tests::TempFile;

    #[test]
    fn writers_exclude_each_other_and_readers_share() {
        let f = TempFile::new("lock", &[0; 512]);
        let open = || File::options().read(true).write(true).open(&f.0).unwrap();
        let (a, b) = (open(), open());
        lock_image(&a, &f.0, false).unwrap();
        let err = lock_image(&b, &f.0, false).unwrap_err().to_string();
        assert!(
            err.contains("cannot lock disk image") && err.contains("for writing"),
            "{err}"
        );
        assert!(
            lock_image(&b, &f.0, true).is_err(),
            "no reader beside a writer"
        );
        drop(a);
        lock_image(&b, &f.0, true).unwrap();
        let c = open();
        lock_image(&c, &f.0, true).unwrap();
        let err = lock_image(&open(), &f.0, false).unwrap_err().to_string();
        assert!(err.contains("readonly=on"), "{err}");
    }
}
