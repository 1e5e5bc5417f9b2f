use super::*;
use crate::ata::disk::tests::TempFile;
use crate::image::{open_image, ImageFormat, ImageOptions};

/// A fresh qcow2 v3 image: header, refcount table, one refcount block, then the L1 table from cluster 3 on, with
/// 16-bit refcounts; `backing` names a backing file (with its format).
fn new_image(cluster_bits: u32, size: u64, backing: Option<(&str, &str)>) -> Vec<u8> {
    let cs = 1usize << cluster_bits;
    let l1_entries = size.div_ceil(cs as u64).div_ceil(cs as u64 / 8);
    let l1_clusters = (l1_entries * 8).div_ceil(cs as u64) as usize;
    let mut img = header::tests::header_bytes();
    img.resize((3 + l1_clusters) * cs, 0);
    let put32 =
        |img: &mut Vec<u8>, off: usize, v: u32| img[off..off + 4].copy_from_slice(&v.to_be_bytes());
    let put64 =
        |img: &mut Vec<u8>, off: usize, v: u64| img[off..off + 8].copy_from_slice(&v.to_be_bytes());
    put32(&mut img, 20, cluster_bits);
    put64(&mut img, 24, size);
    put32(&mut img, 36, l1_entries as u32);
    put64(&mut img, 40, 3 * cs as u64);
    put64(&mut img, 48, cs as u64);
    put32(&mut img, 56, 1);
    put64(&mut img, cs, 2 * cs as u64);
    for c in 0..3 + l1_clusters {
        img[2 * cs + 2 * c + 1] = 1;
    }
    if let Some((name, format)) = backing {
        img[104..108].copy_from_slice(&0xE279_2ACAu32.to_be_bytes());
        put32(&mut img, 108, format.len() as u32);
        img[112..112 + format.len()].copy_from_slice(format.as_bytes());
        let at = 256;
        put64(&mut img, 8, at as u64);
        put32(&mut img, 16, name.len() as u32);
        img[at..at + name.len()].copy_from_slice(name.as_bytes());
    }
    img
}

fn be64_at(b: &[u8], off: u64) -> u64 {
    let off = off as usize;
    u64::from_be_bytes(b[off..off + 8].try_into().unwrap())
}

/// Checks an image file as `qemu-img check` would: every cluster's refcount equals the number of references to
/// it (header, refcount table and blocks, L1 table, L2 tables, data), and nothing points past the end.
fn assert_consistent(img: &[u8]) {
    let h = Header::parse(&img[..img.len().min(1 << 21)], img.len() as u64).unwrap();
    let cs = h.cluster_size();
    let clusters = (img.len() as u64).div_ceil(cs);
    let mut refs = vec![0u64; clusters as usize];
    let mut count = |off: u64, len: u64| {
        for c in off / cs..(off + len).div_ceil(cs) {
            refs[c as usize] += 1;
        }
    };
    count(0, cs);
    count(h.l1_table_offset, u64::from(h.l1_size) * 8);
    count(
        h.refcount_table_offset,
        u64::from(h.refcount_table_clusters) * cs,
    );
    let rt_entries = u64::from(h.refcount_table_clusters) * cs / 8;
    let blocks: Vec<u64> = (0..rt_entries)
        .map(|i| be64_at(img, h.refcount_table_offset + i * 8))
        .collect();
    for &b in blocks.iter().filter(|&&b| b != 0) {
        count(b, cs);
    }
    for i in 0..u64::from(h.l1_size) {
        let l2 = be64_at(img, h.l1_table_offset + i * 8) & OFFSET_MASK;
        if l2 == 0 {
            continue;
        }
        count(l2, cs);
        for j in 0..cs / 8 {
            let data = be64_at(img, l2 + j * 8) & OFFSET_MASK;
            if data != 0 {
                assert!(data < img.len() as u64, "L2 entry past the end");
                count(data, cs);
            }
        }
    }
    let per_block = cs * 8 / 16;
    for c in 0..clusters {
        let block = blocks[(c / per_block) as usize];
        let stored = if block == 0 {
            0
        } else {
            let at = (block + (c % per_block) * 2) as usize;
            u64::from(u16::from_be_bytes([img[at], img[at + 1]]))
        };
        assert_eq!(
            stored,
            refs[c as usize],
            "refcount of cluster {c} (offset {:#x})",
            c * cs
        );
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn writes_read_back_and_refcounts_stay_exact_through_table_growth() {
    // 512-byte clusters: a refcount block counts 256 clusters and the one-cluster table 64 blocks (8 MiB), so
    // writing 8.5 MiB of guest data needs new refcount blocks and a larger refcount table.
    let size = 16u64 << 20;
    let f = TempFile::new("q-grow", &new_image(9, size, None));
    let mut expected = vec![0u8; size as usize];
    {
        let mut d = Qcow2Disk::open(&f.0, false, 0).unwrap();
        assert_eq!(d.sector_count(), size / 512);
        for (k, lba) in (0..17_000u64).step_by(8).chain([32_760]).enumerate() {
            let data = pattern(4096, k as u8);
            d.write_sectors(lba, &data).unwrap();
            expected[lba as usize * 512..][..4096].copy_from_slice(&data);
        }
        let span = pattern(4096, 77);
        d.write_sectors(20_001, &span).unwrap();
        expected[20_001 * 512..][..4096].copy_from_slice(&span);
        d.flush().unwrap();
        let mut back = vec![0u8; size as usize];
        d.read_sectors(0, &mut back).unwrap();
        assert!(back == expected, "read back in the same session");
    }
    let img = std::fs::read(&f.0).unwrap();
    let h = Header::parse(&img[..512], img.len() as u64).unwrap();
    assert!(h.refcount_table_clusters > 1, "the refcount table grew");
    assert_ne!(h.refcount_table_offset, 512, "and moved");
    assert_consistent(&img);
    let mut d = Qcow2Disk::open(&f.0, true, 0).unwrap();
    let mut back = vec![0u8; size as usize];
    d.read_sectors(0, &mut back).unwrap();
    assert!(back == expected, "read back after reopening");
}

#[test]
fn a_backing_file_is_read_and_copied_on_a_partial_write_but_never_written() {
    let dir = std::env::temp_dir().join(format!("vx86-q-backing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let base_bytes = pattern(64 * 1024, 5);
    let base = dir.join("base.raw");
    std::fs::write(&base, &base_bytes).unwrap();
    let top = dir.join("top.qcow2");
    // The overlay is larger than its base: past the base's end it reads zeros.
    std::fs::write(&top, new_image(12, 128 * 1024, Some(("base.raw", "raw")))).unwrap();
    let mut d = open_image(&top, &ImageOptions::default()).unwrap();
    let mut buf = vec![0u8; 128 * 1024];
    d.read_sectors(0, &mut buf).unwrap();
    assert_eq!(&buf[..64 * 1024], &base_bytes[..]);
    assert!(buf[64 * 1024..].iter().all(|&b| b == 0));
    d.write_sectors(9, &[0xAB; 512]).unwrap();
    d.read_sectors(8, &mut buf[..4096]).unwrap();
    assert_eq!(
        &buf[..512],
        &base_bytes[8 * 512..9 * 512],
        "copied from the base"
    );
    assert!(buf[512..1024].iter().all(|&b| b == 0xAB));
    assert_eq!(&buf[1024..4096], &base_bytes[10 * 512..16 * 512]);
    drop(d);
    assert_eq!(
        std::fs::read(&base).unwrap(),
        base_bytes,
        "the base is unchanged"
    );
    assert_consistent(&std::fs::read(&top).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_backing_loop_is_refused() {
    let dir = std::env::temp_dir().join(format!("vx86-q-loop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let me = dir.join("loop.qcow2");
    std::fs::write(&me, new_image(16, 1 << 20, Some(("loop.qcow2", "qcow2")))).unwrap();
    let err = open_image(
        &me,
        &ImageOptions {
            read_only: true,
            ..Default::default()
        },
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("backing chain is longer"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn read_only_images_refuse_writes_and_stay_unchanged() {
    let bytes = new_image(16, 1 << 20, None);
    let f = TempFile::new("q-ro", &bytes);
    let opts = ImageOptions {
        format: Some(ImageFormat::Qcow2),
        read_only: true,
        snapshot: false,
    };
    let mut d = open_image(&f.0, &opts).unwrap();
    assert!(matches!(
        d.write_sectors(0, &[1; 512]),
        Err(DiskError::ReadOnly)
    ));
    drop(d);
    assert_eq!(std::fs::read(&f.0).unwrap(), bytes);
}

#[test]
fn snapshot_on_keeps_writes_in_memory() {
    let bytes = new_image(16, 1 << 20, None);
    let f = TempFile::new("q-snap", &bytes);
    let opts = ImageOptions {
        snapshot: true,
        ..Default::default()
    };
    let mut d = open_image(&f.0, &opts).unwrap();
    d.write_sectors(3, &[0x5A; 512]).unwrap();
    let mut buf = [0u8; 512];
    d.read_sectors(3, &mut buf).unwrap();
    assert_eq!(buf, [0x5A; 512]);
    d.flush().unwrap();
    drop(d);
    assert_eq!(std::fs::read(&f.0).unwrap(), bytes);
}

#[test]
fn a_second_writer_is_locked_out_with_the_file_named() {
    let f = TempFile::new("q-lock", &new_image(16, 1 << 20, None));
    let _first = open_image(&f.0, &ImageOptions::default()).unwrap();
    let err = open_image(&f.0, &ImageOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains(&*f.0.to_string_lossy()) && err.contains("for writing"),
        "{err}"
    );
    let err = open_image(
        &f.0,
        &ImageOptions {
            snapshot: true,
            ..Default::default()
        },
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("for reading"), "{err}");
}

/// Opens `img` read-write and returns the error, or `None` if it opened.
fn open_error(tag: &str, img: &[u8], read_only: bool) -> Option<String> {
    let f = TempFile::new(tag, img);
    Qcow2Disk::open(&f.0, read_only, 0)
        .err()
        .map(|e| e.to_string())
}

#[test]
fn bad_images_give_one_clear_line() {
    let good = new_image(16, 1 << 20, None);
    let err = open_error("q-trunc", &good[..3 * 65536 + 4], false).unwrap();
    assert!(
        err.contains("L1 table") && err.contains("past the end of the file"),
        "{err}"
    );
    let err = open_error("q-trunc2", &good[..50], false).unwrap();
    assert!(err.contains("truncated qcow2 header"), "{err}");

    let mut l1_past = good.clone();
    l1_past[3 * 65536..3 * 65536 + 8].copy_from_slice(&(COPIED | 0x100_0000).to_be_bytes());
    let err = open_error("q-l1", &l1_past, true).unwrap();
    assert!(
        err.contains("L1 entry 0 points at an L2 table at 0x1000000, past the end"),
        "{err}"
    );

    let mut dirty = good.clone();
    dirty[79] = INCOMPAT_DIRTY as u8;
    let err = open_error("q-dirty", &dirty, false).unwrap();
    assert!(
        err.contains("dirty") && err.contains("qemu-img check -r all"),
        "{err}"
    );
    assert!(
        open_error("q-dirty-ro", &dirty, true).is_none(),
        "read only is fine"
    );

    let mut snap = good.clone();
    snap[63] = 1;
    let err = open_error("q-snaps", &snap, false).unwrap();
    assert!(err.contains("internal snapshots"), "{err}");
    assert!(!err.contains('\n'), "one line: {err}");
}

#[test]
fn data_clusters_past_the_end_and_compressed_ones_are_io_errors() {
    let mut img = new_image(16, 1 << 20, None);
    // L1 entry 0 -> an L2 table in cluster 4; guest cluster 0 past the end, cluster 1 compressed.
    img.resize(5 * 65536, 0);
    img[3 * 65536..3 * 65536 + 8].copy_from_slice(&(COPIED | (4 * 65536)).to_be_bytes());
    img[4 * 65536..4 * 65536 + 8].copy_from_slice(&(COPIED | 0x40_0000).to_be_bytes());
    img[4 * 65536 + 8..4 * 65536 + 16].copy_from_slice(&(COMPRESSED | 0x1234).to_be_bytes());
    let f = TempFile::new("q-past", &img);
    let mut d = Qcow2Disk::open(&f.0, true, 0).unwrap();
    let mut buf = [0u8; 512];
    let err = d.read_sectors(0, &mut buf).unwrap_err().to_string();
    assert!(
        err.contains("host offset 0x400000, past the end of the file"),
        "{err}"
    );
    let err = d.read_sectors(128, &mut buf).unwrap_err().to_string();
    assert!(err.contains("compressed"), "{err}");
    d.read_sectors(256, &mut buf).unwrap();
    assert_eq!(buf, [0; 512], "unallocated clusters read as zeros");
}

#[test]
fn new_clusters_are_pointed_at_only_after_a_flush() {
    let f = TempFile::new("q-order", &new_image(16, 1 << 20, None));
    let l1_entry = || be64_at(&std::fs::read(&f.0).unwrap(), 3 * 65536);
    let mut d = Qcow2Disk::open(&f.0, false, 0).unwrap();
    d.write_sectors(5, &[0x77; 512]).unwrap();
    let mut buf = [0u8; 512];
    d.read_sectors(5, &mut buf).unwrap();
    assert_eq!(buf, [0x77; 512], "the guest sees its write at once");
    assert_eq!(
        l1_entry(),
        0,
        "nothing on disk points at the new clusters yet"
    );
    let len = std::fs::metadata(&f.0).unwrap().len();
    assert_eq!(len, 6 * 65536, "the L2 table and data cluster are written");
    d.flush().unwrap();
    assert_eq!(
        l1_entry(),
        COPIED | (4 * 65536),
        "the flush wrote the L1 entry"
    );
    assert_consistent(&std::fs::read(&f.0).unwrap());
}

#[test]
fn damaged_images_fail_cleanly_and_never_panic() {
    // A small image with some data, then random bytes changed in its metadata clusters: opening, reading and
    // writing each copy may fail, but only with an error.
    let f = TempFile::new("q-fuzz-src", &new_image(9, 64 * 1024, None));
    {
        let mut d = Qcow2Disk::open(&f.0, false, 0).unwrap();
        for lba in (0..128).step_by(5) {
            d.write_sectors(lba, &pattern(512, lba as u8)).unwrap();
        }
    }
    let original = std::fs::read(&f.0).unwrap();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut failures = 0;
    for round in 0..200 {
        let mut img = original.clone();
        for _ in 0..1 + next() % 4 {
            // Half the damage lands in the header, refcount table and block, and L1 table (clusters 0..=3).
            let span = if next() % 2 == 0 {
                2048
            } else {
                img.len() as u64
            };
            let at = (next() % span) as usize;
            img[at] = next() as u8;
        }
        let copy = TempFile::new(&format!("q-fuzz-{round}"), &img);
        let Ok(mut d) = Qcow2Disk::open(&copy.0, false, 0) else {
            failures += 1;
            continue;
        };
        let mut buf = vec![0u8; 8 * 512];
        for lba in (0..d.sector_count().min(128)).step_by(8) {
            let n = (d.sector_count() - lba).min(8) as usize;
            failures += usize::from(d.read_sectors(lba, &mut buf[..n * 512]).is_err());
            failures += usize::from(d.write_sectors(lba, &buf[..n * 512]).is_err());
        }
        failures += usize::from(d.flush().is_err());
    }
    assert!(failures > 0, "some damage was noticed");
}

#[test]
fn a_missing_or_unsupported_backing_file_is_named() {
    let dir = std::env::temp_dir().join(format!("vx86-q-badback-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let top = dir.join("top.qcow2");
    std::fs::write(&top, new_image(16, 1 << 20, Some(("gone.raw", "raw")))).unwrap();
    let err = open_image(&top, &ImageOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains(&format!(
            "cannot open disk image {}",
            dir.join("gone.raw").display()
        )),
        "{err}"
    );
    std::fs::write(&top, new_image(16, 1 << 20, Some(("base.vmdk", "vmdk")))).unwrap();
    let err = open_image(&top, &ImageOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("backing file format 'vmdk' is not supported"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
