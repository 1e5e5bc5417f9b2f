//! qcow2 reference counts and cluster allocation.
//!
//! A two-level table: the refcount table (contiguous, in the header) points at refcount blocks, one cluster each,
//! which hold one `refcount_bits`-wide big-endian count per host cluster. New clusters are appended at the end of
//! the file. Counts are written through at once, in an order that leaves a crashed image (even after a power loss)
//! with at worst a leaked cluster, never a count that is too low: a count goes up before anything points at its
//! cluster, a new refcount block is durable before the table points at it, a grown refcount table is durable and
//! counted before the header switches to it, and the old one is freed only once the switch is durable.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;

use super::header::REFCOUNT_TABLE_FIELD;
use super::io::{read_cluster, read_table};

/// Bits 9..=63 of a refcount table entry hold the block's offset.
const REFTABLE_OFFSET_MASK: u64 = !0x1FF;

/// The image's reference counts and its allocator.
#[derive(Debug)]
pub struct Refcounts {
    /// log2 of the cluster size.
    cluster_bits: u32,
    /// log2 of the refcount width in bits (3..=6: 8 to 64 bits).
    order: u32,
    /// The refcount table (during growth longer than the one on disk).
    table: Vec<u64>,
    /// File offset of the refcount table on disk.
    table_offset: u64,
    /// Entries of the table on disk; entries past these live only in memory until the grown table is written.
    disk_entries: usize,
    /// Refcount blocks read so far, by file offset.
    blocks: HashMap<u64, Vec<u8>>,
    /// The next cluster to allocate: the end of the file, rounded up to a cluster.
    next_free: u64,
}

impl Refcounts {
    /// Loads the refcount table (`clusters` clusters at `table_offset`) of an image file of `file_len` bytes.
    pub fn load(
        file: &File,
        cluster_bits: u32,
        order: u32,
        table_offset: u64,
        clusters: u32,
        file_len: u64,
    ) -> Result<Self, String> {
        if order < 3 {
            return Err(format!(
                "{}-bit refcounts are not supported for writing (use readonly=on or snapshot=on)",
                1 << order
            ));
        }
        let cs = 1u64 << cluster_bits;
        let entries = (u64::from(clusters) * cs / 8) as usize;
        let mut table = read_table(file, table_offset, entries)
            .map_err(|e| format!("cannot read the refcount table: {e}"))?;
        table.iter_mut().for_each(|e| *e &= REFTABLE_OFFSET_MASK);
        if let Some(bad) = table.iter().find(|&&b| b % cs != 0 || b >= file_len) {
            return Err(format!(
                "a refcount block at {bad:#x} is unaligned or past the end of the file ({file_len} bytes)"
            ));
        }
        Ok(Self {
            cluster_bits,
            order,
            disk_entries: table.len(),
            table,
            table_offset,
            blocks: HashMap::new(),
            next_free: file_len.next_multiple_of(cs),
        })
    }

    fn cluster_size(&self) -> u64 {
        1 << self.cluster_bits
    }

    /// Counts one refcount block holds.
    fn block_entries(&self) -> u64 {
        (self.cluster_size() * 8) >> self.order
    }

    /// Index into the refcount table of the block that counts the cluster at `off`.
    fn table_index(&self, off: u64) -> usize {
        ((off >> self.cluster_bits) / self.block_entries()) as usize
    }

    /// Byte offset and width of `off`'s count within its block.
    fn entry_pos(&self, off: u64) -> (usize, usize) {
        let width = (1usize << self.order) / 8;
        let index = ((off >> self.cluster_bits) % self.block_entries()) as usize;
        (index * width, width)
    }

    /// The refcount of the cluster at `off`.
    pub fn get(&mut self, file: &File, off: u64) -> std::io::Result<u64> {
        let idx = self.table_index(off);
        let Some(&block) = self.table.get(idx).filter(|&&b| b != 0) else {
            return Ok(0);
        };
        let (pos, width) = self.entry_pos(off);
        let bytes = &self.block(file, block)?[pos..pos + width];
        Ok(bytes.iter().fold(0, |v, &b| v << 8 | u64::from(b)))
    }

    /// Sets the refcount of the cluster at `off` to `value`, creating its refcount block if needed.
    pub fn set(&mut self, file: &File, off: u64, value: u64) -> std::io::Result<()> {
        let block = self.ensure_block(file, off)?;
        let (pos, width) = self.entry_pos(off);
        let bytes = value.to_be_bytes();
        let entry = &bytes[8 - width..];
        self.block(file, block)?[pos..pos + width].copy_from_slice(entry);
        file.write_all_at(entry, block + pos as u64)
    }

    /// Allocates one cluster at the end of the file with a refcount of 1 and returns its offset. The caller
    /// writes the cluster's contents before anything points at it.
    pub fn allocate(&mut self, file: &File) -> std::io::Result<u64> {
        let off = self.take();
        self.set(file, off, 1)?;
        Ok(off)
    }

    /// Reserves the next cluster without counting it.
    fn take(&mut self) -> u64 {
        let off = self.next_free;
        self.next_free += self.cluster_size();
        off
    }

    /// A refcount block's contents, read once and cached.
    fn block(&mut self, file: &File, off: u64) -> std::io::Result<&mut Vec<u8>> {
        if !self.blocks.contains_key(&off) {
            let data = read_cluster(file, off, self.cluster_size())?;
            self.blocks.insert(off, data);
        }
        self.blocks
            .get_mut(&off)
            .ok_or_else(|| std::io::Error::other("refcount block cache lost an entry"))
    }

    /// The refcount block that counts the cluster at `off`, created (and counted) if missing.
    fn ensure_block(&mut self, file: &File, off: u64) -> std::io::Result<u64> {
        let idx = self.table_index(off);
        if idx >= self.table.len() {
            self.grow_table(file, idx)?;
        }
        match self.table.get(idx) {
            Some(&b) if b != 0 => return Ok(b),
            Some(_) => {}
            None => return Err(std::io::Error::other("refcount table growth fell short")),
        }
        let block = self.take();
        let mut data = vec![0u8; self.cluster_size() as usize];
        if self.table_index(block) == idx {
            // The new block counts itself.
            let (pos, width) = self.entry_pos(block);
            data[pos + width - 1] = 1;
        } else {
            self.set(file, block, 1)?;
        }
        file.write_all_at(&data, block)?;
        file.sync_data()?;
        self.blocks.insert(block, data);
        self.table[idx] = block;
        if idx < self.disk_entries {
            file.write_all_at(&block.to_be_bytes(), self.table_offset + idx as u64 * 8)?;
        }
        Ok(block)
    }

    /// Moves the refcount table to a larger one at the end of the file that has an entry `min_index`.
    fn grow_table(&mut self, file: &File, min_index: usize) -> std::io::Result<()> {
        let cs = self.cluster_size();
        let per_cluster = (cs / 8) as usize;
        let mut entries = (self.table.len() * 2).max(min_index + 1);
        let clusters = loop {
            entries = entries.next_multiple_of(per_cluster);
            let clusters = (entries / per_cluster) as u64;
            // The table itself, and at most one new refcount block per table cluster plus two, must be countable.
            let end = self.next_free + (2 * clusters + 2) * cs;
            let needed = self.table_index(end) + 1;
            if needed <= entries {
                break clusters;
            }
            entries = needed;
        };
        let clusters32 = u32::try_from(clusters)
            .map_err(|_| std::io::Error::other("the refcount table would be too large"))?;
        let new_offset = self.next_free;
        self.next_free += clusters * cs;
        self.table.resize(entries, 0);
        for k in 0..clusters {
            self.set(file, new_offset + k * cs, 1)?;
        }
        let bytes: Vec<u8> = self.table.iter().flat_map(|e| e.to_be_bytes()).collect();
        file.write_all_at(&bytes, new_offset)?;
        file.sync_data()?;
        let mut field = [0u8; 12];
        field[..8].copy_from_slice(&new_offset.to_be_bytes());
        field[8..].copy_from_slice(&clusters32.to_be_bytes());
        file.write_all_at(&field, REFCOUNT_TABLE_FIELD)?;
        file.sync_data()?;
        let (old_offset, old_clusters) =
            (self.table_offset, (self.disk_entries / per_cluster) as u64);
        self.table_offset = new_offset;
        self.disk_entries = entries;
        for k in 0..old_clusters {
            self.set(file, old_offset + k * cs, 0)?;
        }
        Ok(())
    }
}
