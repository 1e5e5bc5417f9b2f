//! qcow2 images, versions 2 and 3: guest clusters found through the L1 and L2 tables, new clusters allocated at the
//! end of the file with their refcounts kept exact, unallocated clusters read from the backing file (opened read
//! only, by its name relative to the image) and copied on a partial write.
//!
//! Not supported, each with a clear error: compressed clusters (reading or writing), encryption, external data
//! files, extended L2 entries, writing an image that has internal snapshots, is dirty or is marked corrupt, and
//! writing with refcounts narrower than 8 bits.
//!
//! Writes are ordered so that a crash, even a power loss, leaves at worst a leaked cluster: a new cluster's
//! refcount and contents are written at once, but the L1/L2 entries that point at new clusters wait in memory
//! (reads see them) until a flush, which makes the data and counts durable first (`fdatasync`), then writes the
//! entries and syncs again. A flush happens at the guest's FLUSH CACHE, after [`MAX_PENDING`] new clusters, and
//! when the disk is dropped (vx86 exits); like a disk's write cache, writes not yet flushed may be lost if vx86
//! is killed.

mod header;
mod io;
mod refcount;
#[cfg(test)]
mod tests;

pub use header::QCOW2_MAGIC;

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::ata::{check_range, Disk, DiskError, SECTOR_SIZE};
use header::{Header, AUTOCLEAR_FIELD, INCOMPAT_CORRUPT, INCOMPAT_DIRTY};
use io::{be64_entries, read_cluster, read_padded, read_table};
use refcount::Refcounts;

/// Bits 9..=55 of an L1 or L2 entry: the host offset of the table or cluster.
const OFFSET_MASK: u64 = 0x00FF_FFFF_FFFF_FE00;
/// L1/L2 entry bit 63: the table or cluster has a refcount of exactly one (may be written in place).
const COPIED: u64 = 1 << 63;
/// L2 entry bit 62: a compressed cluster.
const COMPRESSED: u64 = 1 << 62;
/// L2 entry bit 0 (version 3): the cluster reads as zeros.
const ZERO: u64 = 1;
/// The most header bytes read before the cluster size is known (the largest cluster).
const MAX_HEADER_READ: u64 = 2 << 20;
/// New L1/L2 entries kept in memory before a flush writes them.
pub const MAX_PENDING: usize = 4096;

/// Where a guest cluster's data is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mapping {
    /// At this host offset.
    Data(u64),
    /// Reads as zeros.
    Zero,
    /// Not in this image: the backing file's data, or zeros.
    Unallocated,
    /// Compressed (unsupported).
    Compressed,
}

/// An open qcow2 image.
pub struct Qcow2Disk {
    /// The image path, for messages.
    path: PathBuf,
    /// The image file.
    file: File,
    /// The parsed header.
    header: Header,
    /// The active L1 table.
    l1: Vec<u64>,
    /// L2 tables read so far, by host offset.
    l2_cache: HashMap<u64, Vec<u64>>,
    /// Reference counts and the allocator; `None` when the image is open read only.
    refcounts: Option<Refcounts>,
    /// The backing image, if any.
    backing: Option<Box<dyn Disk>>,
    /// Length of the image file as far as this process knows.
    file_len: u64,
    /// L1/L2 entries (file offset, value) that point at new clusters, written at the next flush.
    pending: Vec<(u64, u64)>,
}

impl Qcow2Disk {
    /// Opens the qcow2 image at `path` (read only, or for writing under an exclusive lock), with its backing
    /// chain; `depth` is this image's place in a backing chain (0 for the disk itself).
    pub fn open(path: &Path, read_only: bool, depth: usize) -> Result<Self, DiskError> {
        let bad = |reason: String| DiskError::BadImage {
            path: path.to_path_buf(),
            reason,
        };
        let (file, file_len) = crate::image::lock::open_locked(path, read_only)?;
        let mut head = vec![0u8; file_len.min(MAX_HEADER_READ) as usize];
        file.read_exact_at(&mut head, 0)?;
        let header = Header::parse(&head, file_len).map_err(bad)?;
        if !read_only {
            check_writable(&header).map_err(bad)?;
        }
        let cs = header.cluster_size();
        let l1 = read_table(&file, header.l1_table_offset, header.l1_size as usize)?;
        for (i, e) in l1.iter().enumerate() {
            let off = e & OFFSET_MASK;
            if !off.is_multiple_of(cs) || (off != 0 && off >= file_len) {
                return Err(bad(format!(
                    "L1 entry {i} points at an L2 table at {off:#x}, past the end of the file ({file_len} bytes) or unaligned: corrupt or truncated image"
                )));
            }
        }
        let refcounts = if read_only {
            None
        } else {
            Some(
                Refcounts::load(
                    &file,
                    header.cluster_bits,
                    header.refcount_order,
                    header.refcount_table_offset,
                    header.refcount_table_clusters,
                    file_len,
                )
                .map_err(bad)?,
            )
        };
        if !read_only && header.autoclear_features != 0 {
            // Bitmaps and other autoclear data are not kept up to date: say so before writing anything else.
            file.write_all_at(&0u64.to_be_bytes(), AUTOCLEAR_FIELD)?;
        }
        let backing = match &header.backing_file {
            Some(name) => {
                let target = backing_path(path, name);
                Some(crate::image::open_backing(
                    &target,
                    header.backing_format.as_deref(),
                    depth,
                )?)
            }
            None => None,
        };
        Ok(Self {
            path: path.to_path_buf(),
            file,
            header,
            l1,
            l2_cache: HashMap::new(),
            refcounts,
            backing,
            file_len,
            pending: Vec::new(),
        })
    }

    fn bad(&self, reason: String) -> DiskError {
        DiskError::BadImage {
            path: self.path.clone(),
            reason,
        }
    }

    fn cluster_size(&self) -> u64 {
        self.header.cluster_size()
    }

    /// L1 index and L2 index of guest cluster `gc`.
    fn indices(&self, gc: u64) -> (usize, usize) {
        let l2_bits = self.header.cluster_bits - 3;
        (
            (gc >> l2_bits) as usize,
            (gc & ((1 << l2_bits) - 1)) as usize,
        )
    }

    /// The L2 table at `off`, read once and cached.
    fn l2_table(&mut self, off: u64) -> Result<&mut Vec<u64>, DiskError> {
        if !self.l2_cache.contains_key(&off) {
            let raw = read_cluster(&self.file, off, self.cluster_size())?;
            self.l2_cache.insert(off, be64_entries(&raw));
        }
        self.l2_cache
            .get_mut(&off)
            .ok_or_else(|| DiskError::Io(std::io::Error::other("L2 cache lost an entry")))
    }

    /// The L2 entry of guest cluster `gc` (0 when its L2 table is unallocated).
    fn l2_entry(&mut self, gc: u64) -> Result<u64, DiskError> {
        let (l1_index, l2_index) = self.indices(gc);
        let l2 = self.l1.get(l1_index).copied().unwrap_or(0) & OFFSET_MASK;
        if l2 == 0 {
            return Ok(0);
        }
        Ok(self.l2_table(l2)?[l2_index])
    }

    /// Where the data of an L2 entry is.
    fn mapping(&self, entry: u64) -> Mapping {
        if entry & COMPRESSED != 0 {
            Mapping::Compressed
        } else if self.header.version >= 3 && entry & ZERO != 0 {
            Mapping::Zero
        } else if entry & OFFSET_MASK == 0 {
            Mapping::Unallocated
        } else {
            Mapping::Data(entry & OFFSET_MASK)
        }
    }

    fn compressed_error(&self, pos: u64) -> DiskError {
        self.bad(format!(
            "the cluster at guest offset {pos:#x} is compressed, which vx86 does not support (make an uncompressed copy with qemu-img convert -O qcow2)"
        ))
    }

    /// Checks that host cluster `host` of a data cluster lies inside the file.
    fn check_inside(&self, pos: u64, host: u64) -> Result<(), DiskError> {
        if host >= self.file_len {
            return Err(self.bad(format!(
                "the cluster at guest offset {pos:#x} points at host offset {host:#x}, past the end of the file ({} bytes): corrupt or truncated image",
                self.file_len
            )));
        }
        Ok(())
    }

    /// Fills `dst` with the backing image's bytes from guest offset `pos` (zeros past its end or without one).
    fn read_backing(&mut self, pos: u64, dst: &mut [u8]) -> Result<(), DiskError> {
        let Some(backing) = self.backing.as_mut() else {
            dst.fill(0);
            return Ok(());
        };
        let end = backing.sector_count() * SECTOR_SIZE as u64;
        let avail = end.saturating_sub(pos).min(dst.len() as u64) as usize;
        let (data, tail) = dst.split_at_mut(avail);
        if avail > 0 {
            backing.read_sectors(pos / SECTOR_SIZE as u64, data)?;
        }
        tail.fill(0);
        Ok(())
    }

    /// Reads guest bytes from `pos` into `dst`, which lies within one cluster.
    fn read_chunk(&mut self, pos: u64, dst: &mut [u8]) -> Result<(), DiskError> {
        let in_cluster = pos & (self.cluster_size() - 1);
        let entry = self.l2_entry(pos >> self.header.cluster_bits)?;
        match self.mapping(entry) {
            Mapping::Data(host) => {
                self.check_inside(pos, host)?;
                read_padded(&self.file, host + in_cluster, dst)?;
            }
            Mapping::Zero => dst.fill(0),
            Mapping::Unallocated => self.read_backing(pos, dst)?,
            Mapping::Compressed => return Err(self.compressed_error(pos)),
        }
        Ok(())
    }

    /// Checks that the table or cluster at `host`, whose L1/L2 entry is `entry`, belongs to the active image
    /// alone (COPIED, or a refcount of one), so it may be written in place.
    fn check_sole_owner(&mut self, entry: u64, host: u64) -> Result<(), DiskError> {
        if entry & COPIED != 0 {
            return Ok(());
        }
        let count = match self.refcounts.as_mut() {
            Some(r) => r.get(&self.file, host)?,
            None => return Err(DiskError::ReadOnly),
        };
        if count == 1 {
            Ok(())
        } else {
            Err(self.bad(format!(
                "the cluster at host offset {host:#x} is shared (refcount {count}); vx86 does not copy shared clusters"
            )))
        }
    }

    /// Allocates one zeroed or `data`-filled cluster (refcount first, then contents) and returns its offset.
    fn allocate_cluster(&mut self, data: &[u8]) -> Result<u64, DiskError> {
        let refcounts = self.refcounts.as_mut().ok_or(DiskError::ReadOnly)?;
        let off = refcounts.allocate(&self.file)?;
        self.file.write_all_at(data, off)?;
        self.file_len = self.file_len.max(off + data.len() as u64);
        Ok(off)
    }

    /// The L2 table of guest cluster `gc` for a write, allocated if missing; returns its offset and the index.
    fn l2_for_write(&mut self, gc: u64) -> Result<(u64, usize), DiskError> {
        let (l1_index, l2_index) = self.indices(gc);
        let entry = *self
            .l1
            .get(l1_index)
            .ok_or_else(|| self.bad(format!("guest cluster {gc} lies beyond the L1 table")))?;
        let l2 = entry & OFFSET_MASK;
        if l2 != 0 {
            self.check_sole_owner(entry, l2)?;
            self.l2_table(l2)?;
            return Ok((l2, l2_index));
        }
        let zeros = vec![0u8; self.cluster_size() as usize];
        let l2 = self.allocate_cluster(&zeros)?;
        self.l2_cache
            .insert(l2, vec![0; (self.cluster_size() / 8) as usize]);
        let entry = l2 | COPIED;
        self.pending
            .push((self.header.l1_table_offset + l1_index as u64 * 8, entry));
        self.l1[l1_index] = entry;
        Ok((l2, l2_index))
    }

    /// Writes guest bytes `data` at `pos`, within one cluster.
    fn write_chunk(&mut self, pos: u64, data: &[u8]) -> Result<(), DiskError> {
        let cs = self.cluster_size();
        let in_cluster = pos & (cs - 1);
        let (l2, index) = self.l2_for_write(pos >> self.header.cluster_bits)?;
        let entry = self.l2_table(l2)?[index];
        let host = entry & OFFSET_MASK;
        let mapping = self.mapping(entry);
        if let Mapping::Data(host) = mapping {
            self.check_inside(pos, host)?;
            self.check_sole_owner(entry, host)?;
            self.file.write_all_at(data, host + in_cluster)?;
            return Ok(());
        }
        // A new (or preallocated zero) cluster: its whole contents are written before the L2 entry points at it.
        let mut cluster = vec![0u8; cs as usize];
        match mapping {
            Mapping::Unallocated => self.read_backing(pos - in_cluster, &mut cluster)?,
            Mapping::Compressed => return Err(self.compressed_error(pos)),
            Mapping::Zero | Mapping::Data(_) => {}
        }
        let start = in_cluster as usize;
        cluster[start..start + data.len()].copy_from_slice(data);
        let target = if host != 0 {
            self.check_sole_owner(entry, host)?;
            self.file.write_all_at(&cluster, host)?;
            self.file_len = self.file_len.max(host + cs);
            host
        } else {
            self.allocate_cluster(&cluster)?
        };
        let entry = target | COPIED;
        self.pending.push((l2 + index as u64 * 8, entry));
        self.l2_table(l2)?[index] = entry;
        if self.pending.len() >= MAX_PENDING {
            self.flush()?;
        }
        Ok(())
    }

    /// Splits the byte range at `pos` of `len` bytes into pieces that each lie within one cluster.
    fn chunks(&self, pos: u64, len: usize) -> impl Iterator<Item = (u64, std::ops::Range<usize>)> {
        let cs = self.cluster_size();
        let mut done = 0usize;
        std::iter::from_fn(move || {
            if done >= len {
                return None;
            }
            let at = pos + done as u64;
            let n = ((cs - (at & (cs - 1))) as usize).min(len - done);
            let range = done..done + n;
            done += n;
            Some((at, range))
        })
    }
}

/// Checks that an image may be opened for writing.
fn check_writable(h: &Header) -> Result<(), String> {
    if h.incompatible_features & INCOMPAT_CORRUPT != 0 {
        return Err(
            "the image is marked corrupt: repair it with qemu-img check -r all, or use readonly=on"
                .into(),
        );
    }
    if h.incompatible_features & INCOMPAT_DIRTY != 0 {
        return Err("the image is dirty (its refcounts may be wrong): repair it with qemu-img check -r all, or use readonly=on".into());
    }
    if h.nb_snapshots != 0 {
        return Err(format!(
            "the image has {} internal snapshots, which vx86 does not write: use snapshot=on or readonly=on",
            h.nb_snapshots
        ));
    }
    Ok(())
}

/// The backing file `name` of the image at `image`: absolute, or relative to the image's folder.
fn backing_path(image: &Path, name: &str) -> PathBuf {
    let name = Path::new(name);
    if name.is_absolute() {
        name.to_path_buf()
    } else {
        image.parent().unwrap_or(Path::new("")).join(name)
    }
}

impl Disk for Qcow2Disk {
    fn sector_count(&self) -> u64 {
        self.header.size.div_ceil(SECTOR_SIZE as u64)
    }

    fn read_sectors(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), DiskError> {
        let pos = check_range(lba, buf.len(), self.sector_count())?;
        let pieces: Vec<_> = self.chunks(pos, buf.len()).collect();
        for (at, range) in pieces {
            self.read_chunk(at, &mut buf[range])?;
        }
        Ok(())
    }

    fn write_sectors(&mut self, lba: u64, buf: &[u8]) -> Result<(), DiskError> {
        if self.refcounts.is_none() {
            return Err(DiskError::ReadOnly);
        }
        let pos = check_range(lba, buf.len(), self.sector_count())?;
        let pieces: Vec<_> = self.chunks(pos, buf.len()).collect();
        for (at, range) in pieces {
            self.write_chunk(at, &buf[range])?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DiskError> {
        if self.refcounts.is_none() {
            return Ok(());
        }
        // New clusters and their counts are durable before anything points at them.
        self.file.sync_data()?;
        if !self.pending.is_empty() {
            for &(off, entry) in &self.pending {
                self.file.write_all_at(&entry.to_be_bytes(), off)?;
            }
            self.pending.clear();
            self.file.sync_data()?;
        }
        Ok(())
    }
}

impl Drop for Qcow2Disk {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            eprintln!(
                "vx86: could not write the last changes to {}: {e}",
                self.path.display()
            );
        }
    }
}
