//! The ATAPI CD-ROM drive and the channel rules with two devices, through the ports.

use super::atapi::*;
use super::cdrom::{ATAPI_SIGNATURE_HIGH, ATAPI_SIGNATURE_MID, REASON_COD, REASON_IO};
use super::*;
use crate::bus::IoDevice;

const BASE: u16 = ATA_SECONDARY_BASE;
/// Sectors on the test ISO.
const ISO_SECTORS: u32 = 6;

/// An in-memory ISO: sector n starts with "CD", n as a big-endian u32, and is otherwise filled with n.
fn iso() -> Box<dyn Disk> {
    let mut v = vec![0u8; ISO_SECTORS as usize * CD_SECTOR_SIZE];
    for (n, s) in v.chunks_mut(CD_SECTOR_SIZE).enumerate() {
        s.fill(n as u8);
        s[..2].copy_from_slice(b"CD");
        s[2..6].copy_from_slice(&(n as u32).to_be_bytes());
    }
    Box::new(MemDisk::new(v))
}

/// The secondary channel with the CD-ROM as master.
fn cd() -> AtaChannel {
    AtaChannel::new(ChannelPorts::SECONDARY, Some(IdeDevice::Cdrom(iso())), None)
}

fn reg(c: &mut AtaChannel, r: u16) -> u8 {
    c.io_read(BASE + r, 1) as u8
}

/// Sends `cdb` with byte-count limit `limit`; returns the data the drive sends (all blocks) and the block sizes.
fn packet(c: &mut AtaChannel, cdb: &[u8], limit: u16) -> (Vec<u8>, Vec<usize>) {
    c.io_write(BASE + REG_DEVICE, 1, 0xA0);
    c.io_write(BASE + REG_ERROR_FEATURES, 1, 0);
    c.io_write(BASE + REG_LBA_MID, 1, u32::from(limit & 0xFF));
    c.io_write(BASE + REG_LBA_HIGH, 1, u32::from(limit >> 8));
    c.io_write(BASE + REG_STATUS_COMMAND, 1, u32::from(CMD_PACKET));
    assert!(!c.irq(), "the packet is requested without an interrupt");
    assert_eq!(reg(c, REG_STATUS_COMMAND) & STATUS_DRQ, STATUS_DRQ);
    assert_eq!(reg(c, REG_COUNT), REASON_COD);
    let mut p = [0u8; 12];
    p[..cdb.len()].copy_from_slice(cdb);
    for w in p.chunks(2) {
        c.io_write(BASE, 2, u32::from(u16::from_le_bytes([w[0], w[1]])));
    }
    let mut out = Vec::new();
    let mut blocks = Vec::new();
    loop {
        assert!(c.irq(), "an interrupt per block and at completion");
        let status = reg(c, REG_STATUS_COMMAND);
        if status & STATUS_DRQ == 0 {
            assert_eq!(reg(c, REG_COUNT), REASON_COD | REASON_IO);
            return (out, blocks);
        }
        assert_eq!(reg(c, REG_COUNT), REASON_IO);
        let n = usize::from(reg(c, REG_LBA_MID)) | usize::from(reg(c, REG_LBA_HIGH)) << 8;
        blocks.push(n);
        let start = out.len();
        for _ in 0..n.div_ceil(2) {
            out.extend_from_slice(&(c.io_read(BASE, 2) as u16).to_le_bytes());
        }
        out.truncate(start + n); // an odd block's last word carries a pad byte
    }
}

/// The sense key in the error register, after checking ERR.
fn failed_key(c: &mut AtaChannel) -> u8 {
    assert_eq!(reg(c, REG_STATUS_COMMAND) & STATUS_ERR, STATUS_ERR);
    reg(c, REG_ERROR_FEATURES) >> 4
}

/// REQUEST SENSE's key, ASC and ASCQ.
fn sense(c: &mut AtaChannel) -> (u8, u8, u8) {
    let (d, _) = packet(c, &[REQUEST_SENSE, 0, 0, 0, 18], 0xFFFE);
    assert_eq!(d.len(), 18);
    assert_eq!(d[0], 0x70);
    (d[2], d[12], d[13])
}

/// A drive past its power-on unit attention.
fn ready_cd() -> AtaChannel {
    let mut c = cd();
    packet(&mut c, &[TEST_UNIT_READY], 0xFFFE);
    assert_eq!(failed_key(&mut c), SENSE_UNIT_ATTENTION);
    c
}

#[test]
fn signature_after_reset_and_identify_device_aborted() {
    let mut c = cd();
    assert_eq!(reg(&mut c, REG_LBA_MID), ATAPI_SIGNATURE_MID);
    assert_eq!(reg(&mut c, REG_LBA_HIGH), ATAPI_SIGNATURE_HIGH);
    assert_eq!(reg(&mut c, REG_STATUS_COMMAND), 0, "no DRDY after reset");
    c.io_write(BASE + REG_LBA_MID, 1, 0);
    c.io_write(BASE + REG_STATUS_COMMAND, 1, u32::from(CMD_IDENTIFY));
    assert!(c.irq());
    assert_eq!(
        reg(&mut c, REG_STATUS_COMMAND),
        STATUS_DRDY | STATUS_DSC | STATUS_ERR
    );
    assert_eq!(reg(&mut c, REG_ERROR_FEATURES), ERROR_ABRT);
    assert_eq!(reg(&mut c, REG_LBA_MID), ATAPI_SIGNATURE_MID);
    assert_eq!(reg(&mut c, REG_LBA_HIGH), ATAPI_SIGNATURE_HIGH);
    // Any other non-packet command too.
    c.io_write(BASE + REG_STATUS_COMMAND, 1, u32::from(CMD_READ_SECTORS));
    assert_eq!(reg(&mut c, REG_ERROR_FEATURES), ERROR_ABRT);
    // SRST leaves the signature again.
    c.io_write(ATA_SECONDARY_CONTROL, 1, u32::from(CONTROL_SRST));
    assert_eq!(c.io_read(ATA_SECONDARY_CONTROL, 1) as u8, STATUS_BSY);
    c.io_write(ATA_SECONDARY_CONTROL, 1, 0);
    assert_eq!(reg(&mut c, REG_LBA_HIGH), ATAPI_SIGNATURE_HIGH);
}

#[test]
fn identify_packet_device_words() {
    let mut c = cd();
    c.io_write(BASE + REG_STATUS_COMMAND, 1, u32::from(CMD_IDENTIFY_PACKET));
    assert!(c.irq());
    assert_eq!(
        reg(&mut c, REG_STATUS_COMMAND),
        STATUS_DRDY | STATUS_DSC | STATUS_DRQ
    );
    let id: Vec<u8> = (0..256)
        .flat_map(|_| (c.io_read(BASE, 2) as u16).to_le_bytes())
        .collect();
    assert_eq!(reg(&mut c, REG_STATUS_COMMAND), STATUS_DRDY | STATUS_DSC);
    let word = |i: usize| u16::from_le_bytes([id[2 * i], id[2 * i + 1]]);
    assert_eq!(word(0) >> 14, 2, "ATAPI");
    assert_eq!(word(0) >> 8 & 0x1F, 5, "CD-ROM");
    assert_eq!(word(0) & 3, 0, "12-byte packets");
    assert_eq!(word(49) & 0x0300, 0x0300, "LBA and DMA");
    assert_eq!(
        (word(63), word(88)),
        (0x0007, 0x003F),
        "DMA modes, none selected"
    );
    let model: Vec<u8> = (27..47).flat_map(|i| word(i).to_be_bytes()).collect();
    assert_eq!(
        String::from_utf8(model).unwrap().trim_end(),
        identify::CDROM_MODEL
    );
    assert_eq!(id.iter().fold(0u8, |s, &b| s.wrapping_add(b)), 0);
}

#[test]
fn unit_attention_once_after_power_on() {
    let mut c = cd();
    // INQUIRY does not report it.
    let (d, _) = packet(&mut c, &[INQUIRY, 0, 0, 0, 36], 0xFFFE);
    assert_eq!(d.len(), 36);
    packet(&mut c, &[TEST_UNIT_READY], 0xFFFE);
    assert_eq!(failed_key(&mut c), SENSE_UNIT_ATTENTION);
    assert_eq!(reg(&mut c, REG_COUNT), REASON_COD | REASON_IO);
    assert_eq!(sense(&mut c), (SENSE_UNIT_ATTENTION, 0x28, 0));
    assert_eq!(sense(&mut c), (0, 0, 0), "REQUEST SENSE clears it");
    packet(&mut c, &[TEST_UNIT_READY], 0xFFFE);
    assert_eq!(reg(&mut c, REG_STATUS_COMMAND), STATUS_DRDY | STATUS_DSC);
}

#[test]
fn inquiry_and_read_capacity() {
    let mut c = ready_cd();
    let (d, _) = packet(&mut c, &[INQUIRY, 0, 0, 0, 36], 0xFFFE);
    assert_eq!(d[0], 0x05, "CD/DVD device");
    assert_eq!(d[1], 0x80, "removable");
    assert_eq!(&d[8..12], b"VX86");
    let (d, _) = packet(&mut c, &[INQUIRY, 0, 0, 0, 5], 0xFFFE);
    assert_eq!(d.len(), 5, "cut to the allocation length");
    let (d, _) = packet(&mut c, &[READ_CAPACITY_10], 0xFFFE);
    assert_eq!(d, [0, 0, 0, ISO_SECTORS as u8 - 1, 0, 0, 8, 0]);
}

#[test]
fn read_10_and_12_in_blocks_of_the_byte_count_limit() {
    let mut c = ready_cd();
    let (d, blocks) = packet(&mut c, &[READ_10, 0, 0, 0, 0, 2, 0, 0, 2], 0xFFFE);
    assert_eq!(blocks, [2048, 2048], "one block per sector");
    assert_eq!(&d[..6], b"CD\0\0\0\x02");
    assert_eq!(d[2047], 2);
    assert_eq!(&d[2048..2054], b"CD\0\0\0\x03");
    // A short (and odd) limit: 1023 rounds down to 1022.
    let (d, blocks) = packet(&mut c, &[READ_12, 0, 0, 0, 0, 5, 0, 0, 0, 1], 1023);
    assert_eq!(blocks, [1022, 1022, 4]);
    assert_eq!(&d[..6], b"CD\0\0\0\x05");
    assert!(d[6..].iter().all(|&b| b == 5));
    // Zero sectors: no data phase.
    let (d, _) = packet(&mut c, &[READ_10, 0, 0, 0, 0, 0, 0, 0, 0], 0xFFFE);
    assert!(d.is_empty());
}

#[test]
fn bad_packets_fail_with_the_right_sense() {
    let mut c = ready_cd();
    // LBA past the end.
    packet(&mut c, &[READ_10, 0, 0, 0, 0, 5, 0, 0, 2], 0xFFFE);
    assert_eq!(failed_key(&mut c), SENSE_ILLEGAL_REQUEST);
    assert_eq!(reg(&mut c, REG_ERROR_FEATURES) & ERROR_ABRT, ERROR_ABRT);
    assert_eq!(sense(&mut c), (SENSE_ILLEGAL_REQUEST, 0x21, 0));
    // Unknown operation code.
    packet(&mut c, &[0xFF], 0xFFFE);
    assert_eq!(failed_key(&mut c), SENSE_ILLEGAL_REQUEST);
    assert_eq!(sense(&mut c), (SENSE_ILLEGAL_REQUEST, 0x20, 0));
    // A data phase with a byte-count limit of zero.
    packet(&mut c, &[READ_CAPACITY_10], 0);
    assert_eq!(failed_key(&mut c), SENSE_ILLEGAL_REQUEST);
    assert_eq!(sense(&mut c), (SENSE_ILLEGAL_REQUEST, 0x24, 0));
}

#[test]
fn read_toc_lba_and_msf() {
    let mut c = ready_cd();
    let (d, _) = packet(&mut c, &[READ_TOC, 0, 0, 0, 0, 0, 0, 0, 100], 0xFFFE);
    assert_eq!(d.len(), 20);
    assert_eq!(&d[..4], &[0, 18, 1, 1]);
    assert_eq!(&d[4..12], &[0, 0x14, 1, 0, 0, 0, 0, 0]);
    assert_eq!(&d[12..20], &[0, 0x14, 0xAA, 0, 0, 0, 0, ISO_SECTORS as u8]);
    let (d, _) = packet(&mut c, &[READ_TOC, 2, 0, 0, 0, 0, 0, 0, 100], 0xFFFE);
    assert_eq!(&d[8..12], &[0, 0, 2, 0], "track 1 at 00:02:00");
    assert_eq!(&d[16..20], &[0, 0, 2, ISO_SECTORS as u8]);
    let (d, _) = packet(&mut c, &[READ_TOC, 0, 0, 0, 0, 0, 0xAA, 0, 100], 0xFFFE);
    assert_eq!(d.len(), 12, "lead-out only");
    packet(&mut c, &[READ_TOC, 0, 0, 0, 0, 0, 2, 0, 100], 0xFFFE);
    assert_eq!(failed_key(&mut c), SENSE_ILLEGAL_REQUEST);
}

#[test]
fn mode_sense_pages() {
    let mut c = ready_cd();
    let (d, _) = packet(
        &mut c,
        &[MODE_SENSE_10, 0, 0x2A, 0, 0, 0, 0, 0, 255],
        0xFFFE,
    );
    assert_eq!(d.len(), 30);
    assert_eq!(u16::from_be_bytes([d[0], d[1]]), 28);
    assert_eq!(&d[8..10], &[0x2A, 20]);
    let (d, _) = packet(
        &mut c,
        &[MODE_SENSE_10, 0, 0x01, 0, 0, 0, 0, 0, 255],
        0xFFFE,
    );
    assert_eq!(&d[8..12], &[0x01, 6, 0, 5]);
    let (d, _) = packet(
        &mut c,
        &[MODE_SENSE_10, 0, 0x3F, 0, 0, 0, 0, 0, 255],
        0xFFFE,
    );
    assert_eq!(d.len(), 8 + 8 + 22);
    packet(
        &mut c,
        &[MODE_SENSE_10, 0, 0x05, 0, 0, 0, 0, 0, 255],
        0xFFFE,
    );
    assert_eq!(sense(&mut c), (SENSE_ILLEGAL_REQUEST, 0x24, 0));
    packet(
        &mut c,
        &[MODE_SENSE_10, 0, 0xC1, 0, 0, 0, 0, 0, 255],
        0xFFFE,
    );
    assert_eq!(sense(&mut c), (SENSE_ILLEGAL_REQUEST, 0x39, 0));
}

#[test]
fn lock_start_stop_configuration_and_events() {
    let mut c = ready_cd();
    packet(&mut c, &[PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 1], 0xFFFE);
    packet(&mut c, &[START_STOP_UNIT, 0, 0, 0, 2], 0xFFFE);
    assert_eq!(failed_key(&mut c), SENSE_ILLEGAL_REQUEST);
    assert_eq!(sense(&mut c), (SENSE_ILLEGAL_REQUEST, 0x53, 2));
    packet(&mut c, &[PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 0], 0xFFFE);
    packet(&mut c, &[START_STOP_UNIT, 0, 0, 0, 2], 0xFFFE);
    assert_eq!(reg(&mut c, REG_STATUS_COMMAND), STATUS_DRDY | STATUS_DSC);
    let (d, _) = packet(
        &mut c,
        &[GET_CONFIGURATION, 0, 0, 0, 0, 0, 0, 0, 255],
        0xFFFE,
    );
    assert_eq!(&d[6..8], &[0, 8], "current profile CD-ROM");
    assert_eq!(&d[8..16], &[0, 0, 3, 4, 0, 8, 1, 0]);
    let gesn = [GET_EVENT_STATUS_NOTIFICATION, 1, 0, 0, 0x10, 0, 0, 0, 8];
    let (d, _) = packet(&mut c, &gesn, 0xFFFE);
    assert_eq!(d, [0, 6, 4, 0x10, 2, 2, 0, 0], "new medium once");
    let (d, _) = packet(&mut c, &gesn, 0xFFFE);
    assert_eq!(d[4], 0, "then no event");
    packet(
        &mut c,
        &[GET_EVENT_STATUS_NOTIFICATION, 0, 0, 0, 0x10, 0, 0, 0, 8],
        0xFFFE,
    );
    assert_eq!(
        failed_key(&mut c),
        SENSE_ILLEGAL_REQUEST,
        "asynchronous mode"
    );
}

#[test]
fn register_writes_reach_both_devices_and_reads_the_selected_one() {
    let disk = Box::new(MemDisk::zeroed(8));
    let mut c = AtaChannel::new(
        ChannelPorts::SECONDARY,
        Some(IdeDevice::Disk(disk)),
        Some(IdeDevice::Cdrom(iso())),
    );
    c.io_write(BASE + REG_DEVICE, 1, 0xB0);
    assert_eq!(
        reg(&mut c, REG_LBA_MID),
        ATAPI_SIGNATURE_MID,
        "slave's signature"
    );
    c.io_write(BASE + REG_LBA_LOW, 1, 0x5A);
    c.io_write(BASE + REG_DEVICE, 1, 0xA0);
    assert_eq!(
        reg(&mut c, REG_LBA_LOW),
        0x5A,
        "the write reached the master too"
    );
    assert_eq!(reg(&mut c, REG_STATUS_COMMAND), STATUS_DRDY | STATUS_DSC);
    // A command goes to the selected device only.
    c.io_write(BASE + REG_DEVICE, 1, 0xB0);
    c.io_write(BASE + REG_STATUS_COMMAND, 1, u32::from(CMD_IDENTIFY));
    assert_eq!(
        reg(&mut c, REG_ERROR_FEATURES),
        ERROR_ABRT,
        "the CD-ROM aborts it"
    );
    c.io_write(BASE + REG_DEVICE, 1, 0xA0);
    assert_eq!(
        reg(&mut c, REG_ERROR_FEATURES),
        1,
        "the disk saw no command"
    );
    // The IRQ follows the selected device.
    c.io_write(BASE + REG_STATUS_COMMAND, 1, u32::from(CMD_IDENTIFY));
    assert!(c.irq());
    c.io_write(BASE + REG_DEVICE, 1, 0xB0);
    assert!(
        c.irq(),
        "the slave's INTRQ from its aborted IDENTIFY is still pending"
    );
    reg(&mut c, REG_STATUS_COMMAND);
    assert!(!c.irq());
}

#[test]
fn an_absent_master_reads_zero() {
    let mut c = AtaChannel::new(ChannelPorts::SECONDARY, None, Some(IdeDevice::Cdrom(iso())));
    for r in [
        REG_ERROR_FEATURES,
        REG_COUNT,
        REG_LBA_MID,
        REG_STATUS_COMMAND,
    ] {
        assert_eq!(reg(&mut c, r), 0, "register {r}");
    }
    assert_eq!(c.io_read(BASE, 2), 0xFFFF);
    c.io_write(BASE + REG_STATUS_COMMAND, 1, u32::from(CMD_IDENTIFY));
    assert!(!c.irq());
}

#[test]
fn every_opcode_with_arbitrary_fields_ends_in_completion_or_check_condition() {
    let mut c = ready_cd();
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    for op in 0..=255u8 {
        for _ in 0..4 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut cdb = x.to_le_bytes().to_vec();
            cdb.extend_from_slice(&(x >> 16).to_le_bytes()[..4]);
            cdb[0] = op;
            // `packet` reads every block until the drive ends the command (and asserts the interrupt protocol).
            let (d, blocks) = packet(&mut c, &cdb, (x >> 48) as u16);
            assert_eq!(d.len(), blocks.iter().sum::<usize>());
            let status = reg(&mut c, REG_STATUS_COMMAND);
            assert_eq!(status & (STATUS_BSY | STATUS_DRQ), 0, "op {op:#x}");
        }
    }
}
