//! Positioned reads of qcow2 structures that tolerate a short last cluster.

use std::fs::File;
use std::os::unix::fs::FileExt;

/// Fills `buf` from `off`; bytes past the end of the file read as zero (QEMU may leave the last cluster short),
/// but a read that starts at or past the end is an error: something points outside the image.
pub fn read_padded(file: &File, off: u64, buf: &mut [u8]) -> std::io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], off + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if done == 0 && !buf.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!(
                "offset {off:#x} is past the end of the image file (corrupt or truncated image)"
            ),
        ));
    }
    buf[done..].fill(0);
    Ok(())
}

/// Reads `count` big-endian 64-bit table entries at `off` (an L1 or refcount table, checked to lie inside the
/// file).
pub fn read_table(file: &File, off: u64, count: usize) -> std::io::Result<Vec<u64>> {
    let mut raw = vec![0u8; count * 8];
    file.read_exact_at(&mut raw, off)?;
    Ok(be64_entries(&raw))
}

/// The big-endian 64-bit entries of a table's bytes.
pub fn be64_entries(raw: &[u8]) -> Vec<u64> {
    raw.chunks_exact(8)
        .map(|e| e.iter().fold(0, |v, &b| v << 8 | u64::from(b)))
        .collect()
}

/// Reads the `size`-byte cluster at `off` (see [`read_padded`]).
pub fn read_cluster(file: &File, off: u64, size: u64) -> std::io::Result<Vec<u8>> {
    let mut data = vec![0u8; size as usize];
    read_padded(file, off, &mut data)?;
    Ok(data)
}
