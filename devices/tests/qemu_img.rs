//! qcow2 interoperability with QEMU's `qemu-img` (Debian's qemu-utils, which `.ci/run` installs): images it makes
//! are read and written by vx86, and what vx86 writes passes `qemu-img check` and converts back to the expected
//! bytes. Without qemu-img these tests say they skipped (and fail under `CI=true`).

use std::path::{Path, PathBuf};
use std::process::Command;

use vx86_devices::ata::Disk;
use vx86_devices::{open_image, ImageFormat, ImageOptions};

/// A scratch folder for one test, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("vx86-qemu-img-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether qemu-img runs here; if not, says the test skipped (a failure under `CI=true`).
fn have_qemu_img() -> bool {
    let ok = Command::new("qemu-img").arg("--version").output().is_ok();
    if !ok {
        vx86_cpu::testing::skip_outside_ci(
            "qemu-img (apt-get install qemu-utils) is not installed",
        );
    }
    ok
}

/// Runs qemu-img and returns its stdout, asserting success.
fn qemu_img(args: &[&str]) -> String {
    let out = Command::new("qemu-img").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "qemu-img {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `qemu-img check` finds no errors and no leaked clusters.
fn assert_check_clean(img: &Path) {
    let report = qemu_img(&["check", s(img)]);
    assert!(report.contains("No errors were found"), "{report}");
    assert!(!report.contains("leaked"), "{report}");
}

/// `qemu-img convert -O raw` of `img`.
fn as_raw(img: &Path, scratch: &Scratch) -> Vec<u8> {
    let out = scratch.path("converted.raw");
    qemu_img(&["convert", "-O", "raw", s(img), s(&out)]);
    std::fs::read(out).unwrap()
}

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn read_all(d: &mut dyn Disk) -> Vec<u8> {
    let mut buf = vec![0u8; d.sector_count() as usize * 512];
    d.read_sectors(0, &mut buf).unwrap();
    buf
}

/// Writes a mix of single sectors, spans across clusters and the last sector, mirrored into `expected`.
fn write_mix(d: &mut dyn Disk, expected: &mut [u8]) {
    let last = d.sector_count() - 1;
    let writes: [(u64, usize); 6] = [(0, 1), (1, 7), (127, 3), (300, 260), (5000, 1), (last, 1)];
    for (k, &(lba, count)) in writes.iter().enumerate() {
        let data = pattern(count * 512, k as u32 + 1);
        d.write_sectors(lba, &data).unwrap();
        expected[lba as usize * 512..][..data.len()].copy_from_slice(&data);
    }
    d.flush().unwrap();
}

#[test]
fn images_created_by_qemu_img_are_written_by_vx86_and_check_clean() {
    if !have_qemu_img() {
        return;
    }
    for (tag, options) in [
        ("v2", "compat=0.10"),
        ("v3", "compat=1.1"),
        ("v3-small-clusters", "compat=1.1,cluster_size=512"),
        ("v2-preallocated", "compat=0.10,preallocation=metadata"),
        ("v3-preallocated", "compat=1.1,preallocation=metadata"),
        (
            "v3-8-bit-refcounts",
            "compat=1.1,refcount_bits=8,cluster_size=4096",
        ),
    ] {
        let scratch = Scratch::new(tag);
        let img = scratch.path("disk.qcow2");
        qemu_img(&["create", "-q", "-f", "qcow2", "-o", options, s(&img), "8M"]);
        let mut expected = vec![0u8; 8 << 20];
        {
            let opts = ImageOptions {
                format: Some(ImageFormat::Qcow2),
                ..Default::default()
            };
            let mut d = open_image(&img, &opts).unwrap();
            write_mix(d.as_mut(), &mut expected);
            assert!(read_all(d.as_mut()) == expected, "{tag}: read back");
        }
        assert_check_clean(&img);
        assert!(
            as_raw(&img, &scratch) == expected,
            "{tag}: qemu-img sees what vx86 wrote"
        );
        // Reopened (format probed), the data is still there, and a second round of writes stays clean.
        let mut d = open_image(&img, &ImageOptions::default()).unwrap();
        assert!(
            read_all(d.as_mut()) == expected,
            "{tag}: read back after reopening"
        );
        d.write_sectors(2, &[0xEE; 1024]).unwrap();
        expected[1024..2048].fill(0xEE);
        drop(d);
        assert_check_clean(&img);
        assert!(as_raw(&img, &scratch) == expected, "{tag}: second round");
    }
}

#[test]
fn a_small_cluster_image_grows_its_refcount_table_and_checks_clean() {
    if !have_qemu_img() {
        return;
    }
    let scratch = Scratch::new("grow");
    let img = scratch.path("disk.qcow2");
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "qcow2",
        "-o",
        "cluster_size=512",
        s(&img),
        "12M",
    ]);
    let mut expected = vec![0u8; 12 << 20];
    let mut d = open_image(&img, &ImageOptions::default()).unwrap();
    for lba in (0..20_000u64).step_by(16) {
        let data = pattern(16 * 512, lba as u32);
        d.write_sectors(lba, &data).unwrap();
        expected[lba as usize * 512..][..data.len()].copy_from_slice(&data);
    }
    drop(d);
    let header = std::fs::read(&img).unwrap();
    let table_clusters = u32::from_be_bytes(header[56..60].try_into().unwrap());
    assert!(table_clusters > 1, "the refcount table grew");
    assert_check_clean(&img);
    assert!(as_raw(&img, &scratch) == expected);
}

#[test]
fn images_converted_by_qemu_img_read_back_identically() {
    if !have_qemu_img() {
        return;
    }
    let scratch = Scratch::new("convert");
    let raw = scratch.path("disk.raw");
    let mut bytes = pattern(4 << 20, 9);
    bytes[1 << 20..2 << 20].fill(0); // a hole qemu-img leaves unallocated
    std::fs::write(&raw, &bytes).unwrap();
    for options in ["compat=0.10", "compat=1.1", "compat=1.1,cluster_size=4096"] {
        let img = scratch.path("disk.qcow2");
        qemu_img(&["convert", "-O", "qcow2", "-o", options, s(&raw), s(&img)]);
        let opts = ImageOptions {
            read_only: true,
            ..Default::default()
        };
        let mut d = open_image(&img, &opts).unwrap();
        assert!(read_all(d.as_mut()) == bytes, "{options}");
        drop(d);
        std::fs::remove_file(&img).unwrap();
    }
}

#[test]
fn backing_chains_read_through_and_only_the_top_is_written() {
    if !have_qemu_img() {
        return;
    }
    let scratch = Scratch::new("chain");
    let base = scratch.path("base.raw");
    let base_bytes = pattern(4 << 20, 3);
    std::fs::write(&base, &base_bytes).unwrap();
    let mid = scratch.path("mid.qcow2");
    let top = scratch.path("top.qcow2");
    // Relative names: each backing file is found beside its image.
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "qcow2",
        "-b",
        "base.raw",
        "-F",
        "raw",
        s(&mid),
        "4M",
    ]);
    let mut expected = base_bytes.clone();
    {
        let mut d = open_image(&mid, &ImageOptions::default()).unwrap();
        write_mix(d.as_mut(), &mut expected);
    }
    let mid_bytes = std::fs::read(&mid).unwrap();
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "qcow2",
        "-o",
        "compat=0.10",
        "-b",
        "mid.qcow2",
        "-F",
        "qcow2",
        s(&top),
        "4M",
    ]);
    {
        let mut d = open_image(&top, &ImageOptions::default()).unwrap();
        assert!(read_all(d.as_mut()) == expected, "the chain reads through");
        let data = pattern(512, 99);
        d.write_sectors(130, &data).unwrap();
        expected[130 * 512..131 * 512].copy_from_slice(&data);
        assert!(
            read_all(d.as_mut()) == expected,
            "a partial cluster write copied the rest from below"
        );
    }
    assert_eq!(std::fs::read(&base).unwrap(), base_bytes, "base untouched");
    assert_eq!(std::fs::read(&mid).unwrap(), mid_bytes, "mid untouched");
    assert_check_clean(&mid);
    assert_check_clean(&top);
    assert!(as_raw(&top, &scratch) == expected);
}

#[test]
fn snapshot_on_leaves_a_qemu_img_image_unchanged() {
    if !have_qemu_img() {
        return;
    }
    let scratch = Scratch::new("snapshot");
    let img = scratch.path("disk.qcow2");
    qemu_img(&["create", "-q", "-f", "qcow2", s(&img), "1M"]);
    let before = std::fs::read(&img).unwrap();
    let opts = ImageOptions {
        snapshot: true,
        ..Default::default()
    };
    let mut d = open_image(&img, &opts).unwrap();
    d.write_sectors(0, &[0x42; 4096]).unwrap();
    d.flush().unwrap();
    let mut buf = vec![0u8; 4096];
    d.read_sectors(0, &mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == 0x42));
    drop(d);
    assert_eq!(std::fs::read(&img).unwrap(), before);
}

#[test]
fn compressed_images_give_a_clear_error() {
    if !have_qemu_img() {
        return;
    }
    let scratch = Scratch::new("compressed");
    let raw = scratch.path("disk.raw");
    std::fs::write(&raw, b"compressible ".repeat(80_000)).unwrap();
    let img = scratch.path("disk.qcow2");
    qemu_img(&["convert", "-c", "-O", "qcow2", s(&raw), s(&img)]);
    let mut d = open_image(&img, &ImageOptions::default()).unwrap();
    let mut buf = [0u8; 512];
    let err = d.read_sectors(0, &mut buf).unwrap_err().to_string();
    assert!(
        err.contains("compressed") && err.contains("disk.qcow2"),
        "{err}"
    );
    assert!(!err.contains('\n'));
}

#[test]
fn zero_clusters_written_by_qemu_read_as_zeros_and_take_writes() {
    if !have_qemu_img() {
        return;
    }
    let scratch = Scratch::new("zero");
    let img = scratch.path("disk.qcow2");
    qemu_img(&["create", "-q", "-f", "qcow2", s(&img), "1M"]);
    // Cluster 0: a zero cluster that keeps its host cluster; cluster 1: a zero cluster without one; 2-3: data.
    let out = Command::new("qemu-io")
        .args(["-c", "write -P 0x11 0 256k", "-c", "write -z 0 64k"])
        .args(["-c", "write -z -u 64k 64k", s(&img)])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut expected = vec![0u8; 1 << 20];
    expected[128 << 10..256 << 10].fill(0x11);
    let mut d = open_image(&img, &ImageOptions::default()).unwrap();
    assert!(
        read_all(d.as_mut()) == expected,
        "zero clusters read as zeros"
    );
    for lba in [1u64, 130] {
        let data = pattern(512, lba as u32);
        d.write_sectors(lba, &data).unwrap();
        expected[lba as usize * 512..][..512].copy_from_slice(&data);
    }
    assert!(read_all(d.as_mut()) == expected, "read back");
    drop(d);
    assert_check_clean(&img);
    assert!(as_raw(&img, &scratch) == expected);
}
