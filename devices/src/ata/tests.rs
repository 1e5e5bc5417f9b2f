use super::disk::tests::TempFile;
use super::*;
use crate::bus::IoDevice;

const BASE: u16 = ATA_PRIMARY_BASE;

/// A disk whose sector n starts with n (little endian u32) and is otherwise filled with n as a byte.
fn patterned(sectors: usize) -> Vec<u8> {
    let mut v = vec![0u8; sectors * SECTOR_SIZE];
    for (n, s) in v.chunks_mut(SECTOR_SIZE).enumerate() {
        s.fill(n as u8);
        s[..4].copy_from_slice(&(n as u32).to_le_bytes());
    }
    v
}

/// The primary channel with `disk` as its only device, the master.
fn channel(disk: Box<dyn Disk>) -> AtaChannel {
    AtaChannel::new(ChannelPorts::PRIMARY, Some(IdeDevice::Disk(disk)), None)
}

fn ata(sectors: usize) -> AtaChannel {
    channel(Box::new(MemDisk::new(patterned(sectors))))
}

fn status(a: &mut AtaChannel) -> u8 {
    a.io_read(BASE + REG_STATUS_COMMAND, 1) as u8
}

fn read_sector(a: &mut AtaChannel) -> Vec<u8> {
    let mut out = Vec::with_capacity(SECTOR_SIZE);
    for _ in 0..SECTOR_SIZE / 2 {
        out.extend_from_slice(&(a.io_read(BASE, 2) as u16).to_le_bytes());
    }
    out
}

/// Issues `cmd` for `count` sectors at `lba` (LBA28) on the primary channel.
pub(super) fn lba28(a: &mut AtaChannel, lba: u32, count: u8, cmd: u8) {
    a.io_write(BASE + REG_COUNT, 1, u32::from(count));
    a.io_write(BASE + REG_LBA_LOW, 1, lba & 0xFF);
    a.io_write(BASE + REG_LBA_MID, 1, (lba >> 8) & 0xFF);
    a.io_write(BASE + REG_LBA_HIGH, 1, (lba >> 16) & 0xFF);
    a.io_write(BASE + REG_DEVICE, 1, 0xE0 | (lba >> 24) & 0x0F);
    a.io_write(BASE + REG_STATUS_COMMAND, 1, u32::from(cmd));
}

fn lba48(a: &mut AtaChannel, lba: u64, count: u16, cmd: u8) {
    for (reg, shift) in [
        (REG_COUNT, 8),
        (REG_LBA_LOW, 24),
        (REG_LBA_MID, 32),
        (REG_LBA_HIGH, 40),
    ] {
        let v = if reg == REG_COUNT {
            u64::from(count) >> 8
        } else {
            lba >> shift
        };
        a.io_write(BASE + reg, 1, (v & 0xFF) as u32);
    }
    for (reg, shift) in [
        (REG_COUNT, 0),
        (REG_LBA_LOW, 0),
        (REG_LBA_MID, 8),
        (REG_LBA_HIGH, 16),
    ] {
        let v = if reg == REG_COUNT {
            u64::from(count)
        } else {
            lba >> shift
        };
        a.io_write(BASE + reg, 1, (v & 0xFF) as u32);
    }
    a.io_write(BASE + REG_DEVICE, 1, 0x40);
    a.io_write(BASE + REG_STATUS_COMMAND, 1, u32::from(cmd));
}

fn word(id: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([id[2 * i], id[2 * i + 1]])
}

#[test]
fn power_on_signature_and_status() {
    let mut a = ata(8);
    assert_eq!(status(&mut a), STATUS_DRDY | STATUS_DSC);
    assert_eq!(a.io_read(BASE + REG_COUNT, 1), 1);
    assert_eq!(a.io_read(BASE + REG_LBA_LOW, 1), 1);
    assert_eq!(a.io_read(BASE + REG_ERROR_FEATURES, 1), 1);
    assert!(!a.irq());
}

#[test]
fn identify_device_words() {
    let sectors = 1_000_000usize;
    let mut a = channel(Box::new(MemDisk::zeroed(sectors)));
    a.io_write(BASE + REG_DEVICE, 1, 0xA0);
    a.io_write(BASE + REG_STATUS_COMMAND, 1, u32::from(CMD_IDENTIFY));
    assert!(a.irq());
    assert_eq!(
        a.io_read(ATA_PRIMARY_CONTROL, 1) as u8,
        STATUS_DRDY | STATUS_DSC | STATUS_DRQ
    );
    assert!(a.irq(), "alternate status does not clear INTRQ");
    assert_eq!(status(&mut a) & STATUS_DRQ, STATUS_DRQ);
    assert!(!a.irq(), "status read clears INTRQ");
    let id = read_sector(&mut a);
    assert_eq!(
        status(&mut a),
        STATUS_DRDY | STATUS_DSC,
        "DRQ drops after 256 words"
    );
    assert_eq!(word(&id, 0), 0x0040);
    assert_eq!(word(&id, 1), (sectors / (16 * 63)) as u16);
    assert_eq!(word(&id, 3), 16);
    assert_eq!(word(&id, 6), 63);
    assert_eq!(
        u32::from(word(&id, 60)) | u32::from(word(&id, 61)) << 16,
        sectors as u32
    );
    assert_eq!(word(&id, 83) & (1 << 10), 1 << 10, "LBA48 supported");
    let lba48: u64 = (0..4)
        .map(|i| u64::from(word(&id, 100 + i)) << (16 * i))
        .sum();
    assert_eq!(lba48, sectors as u64);
    // Model string: first character in the high byte of each word.
    assert_eq!(&id[54..58], b"XV68");
    let model: Vec<u8> = (27..47).flat_map(|i| word(&id, i).to_be_bytes()).collect();
    assert_eq!(String::from_utf8(model).unwrap().trim_end(), MODEL);
    assert_eq!(
        id.iter().fold(0u8, |s, &b| s.wrapping_add(b)),
        0,
        "word 255 checksum"
    );
}

#[test]
fn read_sectors_lba28_multi_sector_with_interrupt_per_block() {
    let mut a = ata(64);
    lba28(&mut a, 10, 2, CMD_READ_SECTORS);
    assert!(a.irq());
    assert_eq!(status(&mut a), STATUS_DRDY | STATUS_DSC | STATUS_DRQ);
    let s = read_sector(&mut a);
    assert_eq!(&s[..4], &10u32.to_le_bytes());
    assert_eq!(s[511], 10);
    assert!(a.irq(), "next block ready");
    assert_eq!(status(&mut a) & STATUS_DRQ, STATUS_DRQ);
    // 32-bit data port accesses move two words.
    let first = a.io_read(BASE, 4);
    assert_eq!(first, 11);
    for _ in 1..128 {
        a.io_read(BASE, 4);
    }
    assert_eq!(status(&mut a), STATUS_DRDY | STATUS_DSC);
    assert_eq!(
        a.io_read(BASE + REG_LBA_LOW, 1),
        11,
        "task file holds the last sector"
    );
}

#[test]
fn read_sectors_chs() {
    let mut a = ata(2000);
    // Cylinder 1, head 2, sector 3 -> (1*16 + 2)*63 + 2 = 1136.
    a.io_write(BASE + REG_COUNT, 1, 1);
    a.io_write(BASE + REG_LBA_LOW, 1, 3);
    a.io_write(BASE + REG_LBA_MID, 1, 1);
    a.io_write(BASE + REG_LBA_HIGH, 1, 0);
    a.io_write(BASE + REG_DEVICE, 1, 0xA2);
    a.io_write(BASE + REG_STATUS_COMMAND, 1, u32::from(CMD_READ_SECTORS));
    let s = read_sector(&mut a);
    assert_eq!(&s[..4], &1136u32.to_le_bytes());
    // Sector 0 does not exist in CHS.
    a.io_write(BASE + REG_LBA_LOW, 1, 0);
    a.io_write(BASE + REG_STATUS_COMMAND, 1, u32::from(CMD_READ_SECTORS));
    assert_eq!(status(&mut a), STATUS_DRDY | STATUS_DSC | STATUS_ERR);
    assert_eq!(a.io_read(BASE + REG_ERROR_FEATURES, 1) as u8, ERROR_IDNF);
}

#[test]
fn write_sectors_then_read_back() {
    let mut a = ata(16);
    lba28(&mut a, 3, 2, CMD_WRITE_SECTORS);
    assert!(!a.irq(), "no interrupt before the first block");
    assert_eq!(status(&mut a), STATUS_DRDY | STATUS_DSC | STATUS_DRQ);
    for i in 0..256u32 {
        a.io_write(BASE, 2, 0xAB00 | (i & 0xFF));
    }
    assert!(a.irq(), "interrupt after each block");
    assert_eq!(status(&mut a) & STATUS_DRQ, STATUS_DRQ);
    for _ in 0..128 {
        a.io_write(BASE, 4, 0x5555_AAAA);
    }
    assert!(a.irq());
    assert_eq!(status(&mut a), STATUS_DRDY | STATUS_DSC);
    lba28(&mut a, 3, 2, CMD_READ_SECTORS);
    let s = read_sector(&mut a);
    assert_eq!(&s[..4], &[0x00, 0xAB, 0x01, 0xAB]);
    let s = read_sector(&mut a);
    assert_eq!(&s[..4], &[0xAA, 0xAA, 0x55, 0x55]);
    lba28(&mut a, 5, 1, CMD_READ_SECTORS);
    assert_eq!(
        read_sector(&mut a)[..4],
        5u32.to_le_bytes(),
        "neighbour untouched"
    );
}

#[test]
fn lba48_read_write_and_hob() {
    let mut a = ata(300);
    lba48(&mut a, 257, 2, CMD_WRITE_SECTORS_EXT);
    for _ in 0..512 {
        a.io_write(BASE, 2, 0x4848);
    }
    assert_eq!(status(&mut a), STATUS_DRDY | STATUS_DSC);
    lba48(&mut a, 256, 3, CMD_READ_SECTORS_EXT);
    assert_eq!(read_sector(&mut a)[..4], 256u32.to_le_bytes());
    assert_eq!(read_sector(&mut a)[..4], [0x48; 4]);
    assert_eq!(read_sector(&mut a)[..4], [0x48; 4]);
    assert_eq!(status(&mut a), STATUS_DRDY | STATUS_DSC);
    // HOB reads back the previous register contents.
    lba48(&mut a, 0x0102_0304_0506, 1, CMD_SET_FEATURES);
    assert_eq!(a.io_read(BASE + REG_LBA_LOW, 1), 0x06);
    a.io_write(ATA_PRIMARY_CONTROL, 1, u32::from(CONTROL_HOB));
    assert_eq!(a.io_read(BASE + REG_LBA_LOW, 1), 0x03);
    assert_eq!(a.io_read(BASE + REG_LBA_HIGH, 1), 0x01);
    // Count 0 means 65536 sectors: out of range here.
    a.io_write(ATA_PRIMARY_CONTROL, 1, 0);
    lba48(&mut a, 0, 0, CMD_READ_SECTORS_EXT);
    assert_eq!(a.io_read(BASE + REG_ERROR_FEATURES, 1) as u8, ERROR_IDNF);
}

#[test]
fn out_of_range_and_unknown_commands_fail_cleanly() {
    let mut a = ata(16);
    lba28(&mut a, 15, 2, CMD_READ_SECTORS);
    assert!(a.irq());
    assert_eq!(status(&mut a), STATUS_DRDY | STATUS_DSC | STATUS_ERR);
    assert_eq!(a.io_read(BASE + REG_ERROR_FEATURES, 1) as u8, ERROR_IDNF);
    lba28(&mut a, 0x0FFF_FFFF, 1, CMD_WRITE_SECTORS);
    assert_eq!(a.io_read(BASE + REG_ERROR_FEATURES, 1) as u8, ERROR_IDNF);
    assert_eq!(a.io_read(BASE, 2), 0xFFFF, "no data phase");
    for cmd in [0x00, 0xC4, 0xC5, 0xC6, 0xA1, 0xFF] {
        a.io_write(BASE + REG_STATUS_COMMAND, 1, cmd);
        assert_eq!(
            status(&mut a),
            STATUS_DRDY | STATUS_DSC | STATUS_ERR,
            "cmd {cmd:#x}"
        );
        assert_eq!(a.io_read(BASE + REG_ERROR_FEATURES, 1) as u8, ERROR_ABRT);
    }
    // Accepted housekeeping commands.
    for cmd in [
        CMD_SET_FEATURES,
        CMD_FLUSH_CACHE,
        CMD_FLUSH_CACHE_EXT,
        CMD_INIT_DEVICE_PARAMS,
    ] {
        a.io_write(BASE + REG_COUNT, 1, 63);
        a.io_write(BASE + REG_DEVICE, 1, 0xAF);
        a.io_write(BASE + REG_STATUS_COMMAND, 1, u32::from(cmd));
        assert_eq!(status(&mut a), STATUS_DRDY | STATUS_DSC, "cmd {cmd:#x}");
    }
}

#[test]
fn nien_srst_diagnostic_and_absent_slave() {
    let mut a = ata(16);
    a.io_write(ATA_PRIMARY_CONTROL, 1, u32::from(CONTROL_NIEN));
    lba28(&mut a, 0, 1, CMD_READ_SECTORS);
    assert!(!a.irq(), "nIEN masks INTRQ");
    a.io_write(ATA_PRIMARY_CONTROL, 1, u32::from(CONTROL_SRST));
    assert_eq!(a.io_read(ATA_PRIMARY_CONTROL, 1) as u8, STATUS_BSY);
    a.io_write(ATA_PRIMARY_CONTROL, 1, 0);
    assert_eq!(status(&mut a), STATUS_DRDY | STATUS_DSC);
    assert_eq!(a.io_read(BASE + REG_LBA_LOW, 1), 1);
    assert_eq!(a.io_read(BASE + REG_ERROR_FEATURES, 1), 1);
    // Slave selected: nothing there.
    a.io_write(BASE + REG_DEVICE, 1, 0xB0);
    assert_eq!(status(&mut a), 0);
    a.io_write(BASE + REG_STATUS_COMMAND, 1, u32::from(CMD_IDENTIFY));
    assert_eq!(status(&mut a), 0);
    assert!(!a.irq());
    a.io_write(
        BASE + REG_STATUS_COMMAND,
        1,
        u32::from(CMD_EXECUTE_DIAGNOSTIC),
    );
    assert!(a.irq());
    assert_eq!(
        status(&mut a),
        STATUS_DRDY | STATUS_DSC,
        "diagnostic selects device 0"
    );
    assert_eq!(a.io_read(BASE + REG_ERROR_FEATURES, 1), 1);
}

#[test]
fn file_backed_disk_writes_through() {
    let f = TempFile::new("ata", &patterned(8));
    let disk = FileDisk::open(&f.0).unwrap();
    let mut a = channel(Box::new(disk));
    lba28(&mut a, 7, 1, CMD_READ_SECTORS);
    assert_eq!(read_sector(&mut a)[..4], 7u32.to_le_bytes());
    lba28(&mut a, 2, 1, CMD_WRITE_SECTORS);
    for _ in 0..256 {
        a.io_write(BASE, 2, 0xBEEF);
    }
    assert_eq!(status(&mut a), STATUS_DRDY | STATUS_DSC);
    a.io_write(BASE + REG_STATUS_COMMAND, 1, u32::from(CMD_FLUSH_CACHE));
    assert_eq!(status(&mut a), STATUS_DRDY | STATUS_DSC);
    let bytes = std::fs::read(&f.0).unwrap();
    assert_eq!(&bytes[1024..1028], &[0xEF, 0xBE, 0xEF, 0xBE]);
    assert_eq!(&bytes[1536..1540], &3u32.to_le_bytes());
    lba28(&mut a, 8, 1, CMD_READ_SECTORS);
    assert_eq!(a.io_read(BASE + REG_ERROR_FEATURES, 1) as u8, ERROR_IDNF);
}

#[test]
fn a_write_to_a_read_only_image_aborts_with_err_and_leaves_the_file_alone() {
    let bytes = patterned(8);
    let f = TempFile::new("ata-ro", &bytes);
    let mut a = channel(Box::new(FileDisk::open_read_only(&f.0).unwrap()));
    lba28(&mut a, 2, 2, CMD_WRITE_SECTORS);
    assert_eq!(status(&mut a), STATUS_DRDY | STATUS_DSC | STATUS_DRQ);
    for _ in 0..256 {
        a.io_write(BASE, 2, 0xBEEF);
    }
    assert!(a.irq(), "the failed command interrupts");
    assert_eq!(status(&mut a), STATUS_DRDY | STATUS_DSC | STATUS_ERR);
    assert_eq!(a.io_read(BASE + REG_ERROR_FEATURES, 1) as u8, ERROR_ABRT);
    // The data phase is over: further words go nowhere, and the drive takes new commands.
    a.io_write(BASE, 2, 0x1234);
    lba28(&mut a, 2, 1, CMD_READ_SECTORS);
    assert_eq!(read_sector(&mut a)[..4], 2u32.to_le_bytes());
    assert_eq!(std::fs::read(&f.0).unwrap(), bytes, "the file is unchanged");
}
