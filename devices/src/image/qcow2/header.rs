//! The qcow2 header (versions 2 and 3) and its extensions, parsed and checked against what vx86 supports.
//!
//! Layout from QEMU's `docs/interop/qcow2.txt`; every number is big endian.

/// The first four bytes of every qcow2 image.
pub const QCOW2_MAGIC: [u8; 4] = *b"QFI\xfb";

/// Length of a version 2 header; version 3 headers say their own length (at least 104).
const V2_HEADER_LEN: usize = 72;
/// The shortest version 3 header.
const V3_HEADER_LEN: usize = 104;
/// Incompatible feature bit 0: refcounts may be inconsistent.
pub const INCOMPAT_DIRTY: u64 = 1 << 0;
/// Incompatible feature bit 1: the image is corrupt and must not be written.
pub const INCOMPAT_CORRUPT: u64 = 1 << 1;
/// Header extension: the backing file's format name.
const EXT_BACKING_FORMAT: u32 = 0xE279_2ACA;
/// Header extension: end of the extension area.
const EXT_END: u32 = 0;
/// The longest backing file name the format allows.
const MAX_BACKING_NAME: u32 = 1023;
/// Offsets of the header fields vx86 rewrites.
pub const REFCOUNT_TABLE_FIELD: u64 = 48;
/// Offset of the autoclear feature bits (version 3).
pub const AUTOCLEAR_FIELD: u64 = 88;

/// What vx86 needs from a qcow2 header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// 2 or 3.
    pub version: u32,
    /// The backing file name as stored (relative to the image's folder unless absolute), if any.
    pub backing_file: Option<String>,
    /// The backing file's format from the header extension, if given.
    pub backing_format: Option<String>,
    /// log2 of the cluster size (9..=21).
    pub cluster_bits: u32,
    /// Virtual disk size in bytes.
    pub size: u64,
    /// Entries in the active L1 table.
    pub l1_size: u32,
    /// File offset of the L1 table.
    pub l1_table_offset: u64,
    /// File offset of the refcount table.
    pub refcount_table_offset: u64,
    /// Clusters the refcount table occupies.
    pub refcount_table_clusters: u32,
    /// Internal snapshots in the image.
    pub nb_snapshots: u32,
    /// Incompatible feature bits (0 for version 2).
    pub incompatible_features: u64,
    /// Autoclear feature bits (0 for version 2).
    pub autoclear_features: u64,
    /// log2 of the refcount width in bits (4 for version 2).
    pub refcount_order: u32,
}

fn be32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

fn be64(b: &[u8], off: usize) -> u64 {
    u64::from(be32(b, off)) << 32 | u64::from(be32(b, off + 4))
}

impl Header {
    /// Parses the header from the image's first cluster (or as much of the file as there is, up to one cluster
    /// of the largest size); `file_len` is the image file's length. Returns why the image cannot be used.
    pub fn parse(b: &[u8], file_len: u64) -> Result<Self, String> {
        if b.len() < V2_HEADER_LEN {
            return Err(format!(
                "truncated qcow2 header ({} bytes, at least {V2_HEADER_LEN} needed)",
                b.len()
            ));
        }
        if b[..4] != QCOW2_MAGIC {
            return Err("not a qcow2 image (no QFI\\xfb magic)".into());
        }
        let version = be32(b, 4);
        if !(2..=3).contains(&version) {
            return Err(format!(
                "qcow2 version {version} is not supported (only 2 and 3)"
            ));
        }
        let (header_len, incompatible, autoclear, refcount_order) = if version == 3 {
            if b.len() < V3_HEADER_LEN {
                return Err(format!(
                    "truncated qcow2 v3 header ({} bytes, at least {V3_HEADER_LEN} needed)",
                    b.len()
                ));
            }
            let len = be32(b, 100) as usize;
            if len < V3_HEADER_LEN || !len.is_multiple_of(8) || len > b.len() {
                return Err(format!("qcow2 header length {len} is invalid"));
            }
            (len, be64(b, 72), be64(b, 88), be32(b, 96))
        } else {
            (V2_HEADER_LEN, 0, 0, 4)
        };
        let cluster_bits = be32(b, 20);
        if !(9..=21).contains(&cluster_bits) {
            return Err(format!(
                "cluster_bits {cluster_bits} is outside 9..=21 (512 B to 2 MiB clusters)"
            ));
        }
        if be32(b, 32) != 0 {
            return Err("encrypted qcow2 images are not supported".into());
        }
        if refcount_order > 6 {
            return Err(format!("refcount_order {refcount_order} is above 6"));
        }
        let known = INCOMPAT_DIRTY | INCOMPAT_CORRUPT;
        if incompatible & !known != 0 {
            return Err(format!(
                "unsupported incompatible qcow2 features {:#x} (external data file, compression type or extended L2 entries)",
                incompatible & !known
            ));
        }
        let mut header = Header {
            version,
            backing_file: None,
            backing_format: None,
            cluster_bits,
            size: be64(b, 24),
            l1_size: be32(b, 36),
            l1_table_offset: be64(b, 40),
            refcount_table_offset: be64(b, 48),
            refcount_table_clusters: be32(b, 56),
            nb_snapshots: be32(b, 60),
            incompatible_features: incompatible,
            autoclear_features: autoclear,
            refcount_order,
        };
        header.check_tables(file_len)?;
        header.backing_format = parse_extensions(b, header_len)?;
        let backing_offset = be64(b, 8);
        if backing_offset != 0 {
            let name_len = be32(b, 16);
            if name_len > MAX_BACKING_NAME {
                return Err(format!(
                    "backing file name of {name_len} bytes is longer than {MAX_BACKING_NAME}"
                ));
            }
            let name = usize::try_from(backing_offset)
                .ok()
                .and_then(|start| b.get(start..start.checked_add(name_len as usize)?))
                .ok_or_else(|| {
                    "the backing file name lies outside the header cluster (truncated?)".to_string()
                })?;
            let name = String::from_utf8(name.to_vec())
                .map_err(|_| "the backing file name is not UTF-8".to_string())?;
            header.backing_file = Some(name);
        }
        Ok(header)
    }

    /// Cluster size in bytes.
    pub fn cluster_size(&self) -> u64 {
        1 << self.cluster_bits
    }

    /// Checks that the L1 and refcount tables are aligned and lie inside the file, and that the L1 table maps
    /// the whole disk.
    fn check_tables(&self, file_len: u64) -> Result<(), String> {
        let cs = self.cluster_size();
        let within = |what: &str, off: u64, len: u64| {
            if !off.is_multiple_of(cs) {
                return Err(format!("the {what} at {off:#x} is not cluster aligned"));
            }
            match off.checked_add(len) {
                Some(end) if end <= file_len => Ok(()),
                _ => Err(format!(
                    "the {what} at {off:#x} ({len} bytes) runs past the end of the file ({file_len} bytes): truncated or corrupt image"
                )),
            }
        };
        within(
            "L1 table",
            self.l1_table_offset,
            u64::from(self.l1_size) * 8,
        )?;
        within(
            "refcount table",
            self.refcount_table_offset,
            u64::from(self.refcount_table_clusters) * cs,
        )?;
        let guest_clusters = self.size.div_ceil(cs);
        let needed = guest_clusters.div_ceil(cs / 8);
        if u64::from(self.l1_size) < needed {
            return Err(format!(
                "the L1 table has {} entries but a {}-byte disk needs {needed}",
                self.l1_size, self.size
            ));
        }
        Ok(())
    }
}

/// Walks the header extensions from `start`, returning the backing format name if one is given.
fn parse_extensions(b: &[u8], start: usize) -> Result<Option<String>, String> {
    let mut pos = start;
    let mut backing_format = None;
    while pos + 8 <= b.len() {
        let kind = be32(b, pos);
        let len = be32(b, pos + 4) as usize;
        if kind == EXT_END {
            return Ok(backing_format);
        }
        let data = b
            .get(pos + 8..pos + 8 + len)
            .ok_or_else(|| format!("header extension {kind:#x} runs past the header cluster"))?;
        if kind == EXT_BACKING_FORMAT {
            backing_format = Some(
                String::from_utf8(data.to_vec())
                    .map_err(|_| "the backing format name is not UTF-8".to_string())?,
            );
        }
        pos += 8 + len.next_multiple_of(8);
    }
    Ok(backing_format)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal valid header: version 3, 64 KiB clusters, 1 MiB disk, L1 at 0x30000 (1 entry), refcount table at
    /// 0x10000 (1 cluster); the caller patches fields to test rejections.
    pub(crate) fn header_bytes() -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[..4].copy_from_slice(&QCOW2_MAGIC);
        b[4..8].copy_from_slice(&3u32.to_be_bytes());
        b[20..24].copy_from_slice(&16u32.to_be_bytes());
        b[24..32].copy_from_slice(&(1u64 << 20).to_be_bytes());
        b[36..40].copy_from_slice(&1u32.to_be_bytes());
        b[40..48].copy_from_slice(&0x30000u64.to_be_bytes());
        b[48..56].copy_from_slice(&0x10000u64.to_be_bytes());
        b[56..60].copy_from_slice(&1u32.to_be_bytes());
        b[96..100].copy_from_slice(&4u32.to_be_bytes());
        b[100..104].copy_from_slice(&104u32.to_be_bytes());
        b
    }

    const FILE_LEN: u64 = 0x40000;

    #[test]
    fn parses_a_v3_header_with_backing_file_and_format() {
        let mut b = header_bytes();
        b[8..16].copy_from_slice(&200u64.to_be_bytes());
        b[16..20].copy_from_slice(&8u32.to_be_bytes());
        b[200..208].copy_from_slice(b"base.img");
        b[104..108].copy_from_slice(&EXT_BACKING_FORMAT.to_be_bytes());
        b[108..112].copy_from_slice(&3u32.to_be_bytes());
        b[112..115].copy_from_slice(b"raw");
        let h = Header::parse(&b, FILE_LEN).unwrap();
        assert_eq!(h.version, 3);
        assert_eq!(h.cluster_size(), 65536);
        assert_eq!(h.size, 1 << 20);
        assert_eq!(h.backing_file.as_deref(), Some("base.img"));
        assert_eq!(h.backing_format.as_deref(), Some("raw"));
        assert_eq!(h.refcount_order, 4);
    }

    #[test]
    fn rejections_say_what_is_wrong() {
        let reject = |patch: &dyn Fn(&mut Vec<u8>), file_len: u64, expect: &str| {
            let mut b = header_bytes();
            patch(&mut b);
            let err = Header::parse(&b, file_len).unwrap_err();
            assert!(err.contains(expect), "expected '{expect}' in '{err}'");
        };
        reject(&|b| b.truncate(40), FILE_LEN, "truncated qcow2 header");
        reject(&|b| b.truncate(90), FILE_LEN, "truncated qcow2 v3 header");
        reject(&|b| b[0] = b'X', FILE_LEN, "not a qcow2 image");
        reject(&|b| b[7] = 4, FILE_LEN, "version 4");
        reject(&|b| b[23] = 30, FILE_LEN, "cluster_bits 30");
        reject(&|b| b[35] = 1, FILE_LEN, "encrypted");
        reject(&|b| b[79] = 1 << 4, FILE_LEN, "unsupported incompatible");
        reject(&|b| b[47] = 0x01, FILE_LEN, "not cluster aligned");
        reject(&|_| {}, 0x30004, "runs past the end of the file");
        reject(&|b| b[24] = 1, FILE_LEN, "the L1 table has 1 entries");
        reject(
            &|b| {
                b[8..16].copy_from_slice(&500u64.to_be_bytes());
                b[16..20].copy_from_slice(&100u32.to_be_bytes());
            },
            FILE_LEN,
            "backing file name lies outside",
        );
    }

    #[test]
    fn version_2_has_fixed_refcount_width_and_no_features() {
        let mut b = header_bytes();
        b[7] = 2;
        b[72..104].fill(0xFF); // not header fields in version 2
        b.truncate(72);
        let h = Header::parse(&b, FILE_LEN).unwrap();
        assert_eq!(
            (h.version, h.refcount_order, h.incompatible_features),
            (2, 4, 0)
        );
    }
}
