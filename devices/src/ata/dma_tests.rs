//! Bus-master DMA: PRD tables in a flat fake memory, reads and writes in both orders of START and command, the
//! table shorter and longer than the transfer, memory faults, a read-only image, IDENTIFY's DMA words, and an
//! ATAPI READ(10) by DMA.

use super::bus_master::*;
use super::disk::tests::TempFile;
use super::prd::PRD_END_OF_TABLE;
use super::tests::lba28;
use super::*;
use crate::bus::IoDevice;

const BASE: u16 = ATA_PRIMARY_BASE;
/// Where the tests put the bus-master ports.
const BM: u16 = 0xC000;
/// Where the tests put the PRD table.
const TABLE: u32 = 0x1000;
/// Bytes of fake RAM.
const RAM: usize = 1 << 20;

/// A disk whose sector n is filled with n as a byte, after n as a little-endian u32.
fn patterned(sectors: usize) -> Vec<u8> {
    let mut v = vec![0u8; sectors * SECTOR_SIZE];
    for (n, s) in v.chunks_mut(SECTOR_SIZE).enumerate() {
        s.fill(n as u8);
        s[..4].copy_from_slice(&(n as u32).to_le_bytes());
    }
    v
}

/// The primary channel with `disk` as its master, and a bus master at [`BM`].
fn setup(disk: Box<dyn Disk>) -> (AtaChannel, IdeBusMaster) {
    let channel = AtaChannel::new(ChannelPorts::PRIMARY, Some(IdeDevice::Disk(disk)), None);
    let mut bm = IdeBusMaster::new();
    bm.set_base(BM);
    (channel, bm)
}

/// Writes a PRD table of `(address, count)` regions at [`TABLE`], the last with end of table, and points the
/// primary channel's bus master at it.
fn prd_table(bm: &mut IdeBusMaster, ram: &mut [u8], regions: &[(u32, u16)]) {
    for (i, &(address, count)) in regions.iter().enumerate() {
        let eot = if i + 1 == regions.len() {
            PRD_END_OF_TABLE
        } else {
            0
        };
        let at = TABLE as usize + 8 * i;
        ram[at..at + 4].copy_from_slice(&address.to_le_bytes());
        ram[at + 4..at + 8].copy_from_slice(&(u32::from(count) | eot).to_le_bytes());
    }
    bm.io_write(BM + BM_PRD_TABLE, 4, TABLE);
}

/// Runs what the board runs after a port write: the IRQ line into the bus master (the board reports it after
/// every access), the transfer, and the line again.
fn run(bm: &mut IdeBusMaster, a: &mut AtaChannel, ram: &mut Vec<u8>) -> bool {
    bm.follow_irq(0, a.irq());
    let ran = bm.run(0, a, ram);
    bm.follow_irq(0, a.irq());
    ran
}

fn bm_status(bm: &mut IdeBusMaster) -> u8 {
    bm.io_read(BM + BM_STATUS, 1) as u8
}

fn start(bm: &mut IdeBusMaster, to_memory: bool) {
    let direction = if to_memory { BM_CMD_TO_MEMORY } else { 0 };
    bm.io_write(BM + BM_COMMAND, 1, u32::from(BM_CMD_START | direction));
}

#[test]
fn read_dma_fills_every_region_and_interrupts() {
    let disk = patterned(300);
    let (mut a, mut bm) = setup(Box::new(MemDisk::new(disk.clone())));
    let mut ram = vec![0u8; RAM];
    // 64 KiB (count 0), then the remaining 72 sectors' worth.
    prd_table(&mut bm, &mut ram, &[(0x1_0000, 0), (0x3_0000, 72 * 512)]);
    lba28(&mut a, 5, 200, CMD_READ_DMA);
    assert!(!a.irq(), "the drive waits for the bus master");
    assert!(!run(&mut bm, &mut a, &mut ram), "START is not set");
    start(&mut bm, true);
    assert_eq!(bm_status(&mut bm), BM_STATUS_ACTIVE);
    assert!(run(&mut bm, &mut a, &mut ram));
    assert_eq!(&ram[0x1_0000..0x2_0000], &disk[5 * 512..133 * 512]);
    assert_eq!(
        &ram[0x3_0000..0x3_0000 + 72 * 512],
        &disk[133 * 512..205 * 512]
    );
    assert_eq!(ram[0x3_0000 + 72 * 512], 0, "nothing past the last region");
    assert_eq!(
        bm_status(&mut bm),
        BM_STATUS_INTERRUPT,
        "the table and the data ended together"
    );
    assert!(a.irq());
    assert_eq!(
        a.io_read(BASE + REG_STATUS_COMMAND, 1) as u8,
        STATUS_DRDY | STATUS_DSC
    );
    assert!(!run(&mut bm, &mut a, &mut ram), "nothing left to move");
    bm.io_write(BM + BM_STATUS, 1, u32::from(BM_STATUS_INTERRUPT));
    assert_eq!(bm_status(&mut bm), 0, "INTERRUPT is write-1-to-clear");
    assert_eq!(bm.transfers(), [1, 0]);
}

#[test]
fn write_dma_ext_issued_after_start_stores_memory_on_the_disk() {
    let file = TempFile::new("dma-write", &patterned(64));
    let (mut a, mut bm) = setup(Box::new(FileDisk::open(&file.0).unwrap()));
    let mut ram = vec![0u8; RAM];
    let data: Vec<u8> = (0..3 * 512).map(|i| (i * 7 + 3) as u8).collect();
    // Three sectors from two regions that split one sector.
    ram[0x2_0000..0x2_0000 + 700].copy_from_slice(&data[..700]);
    ram[0x5_0000..0x5_0000 + 836].copy_from_slice(&data[700..]);
    prd_table(&mut bm, &mut ram, &[(0x2_0000, 700), (0x5_0000, 836)]);
    start(&mut bm, false);
    // LBA48: the high bytes first, then the low ones.
    for (reg, high, low) in [(REG_COUNT, 0, 3), (REG_LBA_LOW, 0, 40), (REG_LBA_MID, 0, 0)] {
        a.io_write(BASE + reg, 1, high);
        a.io_write(BASE + reg, 1, low);
    }
    a.io_write(BASE + REG_LBA_HIGH, 1, 0);
    a.io_write(BASE + REG_LBA_HIGH, 1, 0);
    a.io_write(BASE + REG_DEVICE, 1, 0x40);
    a.io_write(BASE + REG_STATUS_COMMAND, 1, u32::from(CMD_WRITE_DMA_EXT));
    assert!(run(&mut bm, &mut a, &mut ram));
    assert_eq!(bm_status(&mut bm), BM_STATUS_INTERRUPT);
    assert_eq!(
        a.io_read(BASE + REG_STATUS_COMMAND, 1) as u8,
        STATUS_DRDY | STATUS_DSC
    );
    let image = std::fs::read(&file.0).unwrap();
    assert_eq!(&image[40 * 512..43 * 512], &data[..]);
    assert_eq!(image[43 * 512..44 * 512], patterned(64)[43 * 512..44 * 512]);
}

#[test]
fn a_longer_table_keeps_the_bus_master_active_until_the_host_stops_it() {
    let (mut a, mut bm) = setup(Box::new(MemDisk::new(patterned(16))));
    let mut ram = vec![0u8; RAM];
    prd_table(&mut bm, &mut ram, &[(0x1_0000, 0), (0x3_0000, 512)]);
    lba28(&mut a, 0, 8, CMD_READ_DMA);
    start(&mut bm, true);
    assert!(run(&mut bm, &mut a, &mut ram));
    assert_eq!(bm_status(&mut bm), BM_STATUS_ACTIVE | BM_STATUS_INTERRUPT);
    assert!(a.irq(), "the drive finished");
    bm.io_write(BM + BM_COMMAND, 1, u32::from(BM_CMD_TO_MEMORY));
    assert_eq!(
        bm_status(&mut bm),
        BM_STATUS_INTERRUPT,
        "stopping clears ACTIVE"
    );
}

#[test]
fn a_shorter_table_stops_the_transfer_without_an_interrupt() {
    let disk = patterned(16);
    let (mut a, mut bm) = setup(Box::new(MemDisk::new(disk.clone())));
    let mut ram = vec![0u8; RAM];
    prd_table(&mut bm, &mut ram, &[(0x1_0000, 1024)]);
    lba28(&mut a, 2, 4, CMD_READ_DMA);
    start(&mut bm, true);
    assert!(run(&mut bm, &mut a, &mut ram));
    assert_eq!(&ram[0x1_0000..0x1_0400], &disk[2 * 512..4 * 512]);
    assert_eq!(bm_status(&mut bm), 0, "ACTIVE clear, no interrupt");
    assert!(!a.irq());
    assert_eq!(
        a.io_read(BASE + REG_STATUS_COMMAND, 1) as u8,
        STATUS_DRDY | STATUS_DSC
    );
}

#[test]
fn dma_beyond_ram_sets_the_error_bit_and_aborts_the_lba28() {
    let (mut a, mut bm) = setup(Box::new(MemDisk::new(patterned(16))));
    let mut ram = vec![0u8; RAM];
    prd_table(
        &mut bm,
        &mut ram,
        &[(0x1_0000, 512), (RAM as u32 - 256, 512)],
    );
    lba28(&mut a, 0, 2, CMD_READ_DMA);
    start(&mut bm, true);
    assert!(run(&mut bm, &mut a, &mut ram));
    assert_eq!(bm_status(&mut bm), BM_STATUS_ERROR | BM_STATUS_INTERRUPT);
    assert!(a.irq());
    assert_eq!(
        a.io_read(BASE + REG_STATUS_COMMAND, 1) as u8,
        STATUS_DRDY | STATUS_DSC | STATUS_ERR
    );
    assert_eq!(a.io_read(BASE + REG_ERROR_FEATURES, 1) as u8, ERROR_ABRT);
    bm.io_write(
        BM + BM_STATUS,
        1,
        u32::from(BM_STATUS_ERROR | BM_STATUS_INTERRUPT),
    );
    assert_eq!(bm_status(&mut bm), 0);

    // A table that is itself past the end of RAM.
    bm.io_write(BM + BM_COMMAND, 1, 0);
    bm.io_write(BM + BM_PRD_TABLE, 4, 0x8000_0000);
    lba28(&mut a, 0, 1, CMD_WRITE_DMA);
    start(&mut bm, false);
    assert!(run(&mut bm, &mut a, &mut ram));
    assert_eq!(bm_status(&mut bm), BM_STATUS_ERROR | BM_STATUS_INTERRUPT);
    assert_eq!(a.io_read(BASE + REG_ERROR_FEATURES, 1) as u8, ERROR_ABRT);
}

#[test]
fn write_dma_to_a_read_only_image_fails_and_leaves_it_unchanged() {
    let original = patterned(8);
    let file = TempFile::new("dma-read-only", &original);
    let (mut a, mut bm) = setup(Box::new(FileDisk::open_read_only(&file.0).unwrap()));
    let mut ram = vec![0xAAu8; RAM];
    prd_table(&mut bm, &mut ram, &[(0x1_0000, 1024)]);
    lba28(&mut a, 1, 2, CMD_WRITE_DMA);
    start(&mut bm, false);
    assert!(run(&mut bm, &mut a, &mut ram));
    assert_eq!(
        a.io_read(BASE + REG_STATUS_COMMAND, 1) as u8,
        STATUS_DRDY | STATUS_DSC | STATUS_ERR
    );
    assert_eq!(a.io_read(BASE + REG_ERROR_FEATURES, 1) as u8, ERROR_ABRT);
    assert_eq!(
        bm_status(&mut bm) & (BM_STATUS_INTERRUPT | BM_STATUS_ERROR | BM_STATUS_ACTIVE),
        BM_STATUS_INTERRUPT,
        "a drive error, not a bus error"
    );
    assert_eq!(std::fs::read(&file.0).unwrap(), original);
}

#[test]
fn dma_outside_the_disk_fails_at_once_with_idnf() {
    let (mut a, mut bm) = setup(Box::new(MemDisk::new(patterned(8))));
    let mut ram = vec![0u8; RAM];
    prd_table(&mut bm, &mut ram, &[(0x1_0000, 4096)]);
    lba28(&mut a, 6, 4, CMD_READ_DMA);
    assert!(a.irq());
    assert_eq!(a.io_read(BASE + REG_ERROR_FEATURES, 1) as u8, ERROR_IDNF);
    start(&mut bm, true);
    assert!(!run(&mut bm, &mut a, &mut ram), "no transfer waits");
}

#[test]
fn registers_read_back_with_their_fixed_bits() {
    let (_, mut bm) = setup(Box::new(MemDisk::zeroed(1)));
    bm.io_write(BM + BM_PRD_TABLE, 4, 0x1234_5677);
    assert_eq!(
        bm.io_read(BM + BM_PRD_TABLE, 4),
        0x1234_5674,
        "dword aligned"
    );
    bm.io_write(BM + BM_PRD_TABLE + 2, 2, 0xABCD);
    assert_eq!(bm.io_read(BM + BM_PRD_TABLE, 4), 0xABCD_5674);
    bm.io_write(BM + BM_COMMAND, 1, 0xFF);
    assert_eq!(
        bm.io_read(BM + BM_COMMAND, 1) as u8,
        BM_CMD_START | BM_CMD_TO_MEMORY
    );
    bm.io_write(BM + BM_STATUS, 1, 0xFF);
    assert_eq!(
        bm_status(&mut bm),
        BM_STATUS_ACTIVE | BM_STATUS_DRIVE0_DMA | BM_STATUS_DRIVE1_DMA,
        "ACTIVE read only, the drive bits settable, simplex clear"
    );
    // The secondary channel's registers are its own.
    assert_eq!(bm.io_read(BM + BM_CHANNEL_PORTS + BM_STATUS, 1), 0);
    bm.follow_irq(1, true);
    assert_eq!(
        bm.io_read(BM + BM_CHANNEL_PORTS + BM_STATUS, 1) as u8,
        BM_STATUS_INTERRUPT
    );
    assert_eq!(bm.io_read(BM + BM_PORTS, 1), 0xFF, "past the interface");
}

#[test]
fn identify_advertises_dma_and_set_features_selects_the_mode() {
    let (mut a, _) = setup(Box::new(MemDisk::zeroed(64)));
    let identify = |a: &mut AtaChannel| {
        a.io_write(BASE + REG_STATUS_COMMAND, 1, u32::from(CMD_IDENTIFY));
        let words: Vec<u16> = (0..256).map(|_| a.io_read(BASE, 2) as u16).collect();
        words
    };
    let id = identify(&mut a);
    assert_eq!(id[49] & 0x0100, 0x0100, "DMA supported");
    assert_eq!(id[53] & 0x0004, 0x0004, "word 88 valid");
    assert_eq!(id[63], 0x0007, "multiword DMA 0-2, none selected");
    assert_eq!(id[88], 0x003F, "Ultra DMA 0-5, none selected");
    let set_mode = |a: &mut AtaChannel, mode: u8| {
        a.io_write(
            BASE + REG_ERROR_FEATURES,
            1,
            u32::from(FEATURE_SET_TRANSFER_MODE),
        );
        a.io_write(BASE + REG_COUNT, 1, u32::from(mode));
        a.io_write(BASE + REG_STATUS_COMMAND, 1, u32::from(CMD_SET_FEATURES));
        a.io_read(BASE + REG_STATUS_COMMAND, 1) as u8
    };
    assert_eq!(set_mode(&mut a, 0x22), STATUS_DRDY | STATUS_DSC);
    let id = identify(&mut a);
    assert_eq!((id[63], id[88]), (0x0407, 0x003F), "MWDMA2 selected");
    assert_eq!(set_mode(&mut a, 0x45), STATUS_DRDY | STATUS_DSC);
    let id = identify(&mut a);
    assert_eq!((id[63], id[88]), (0x0007, 0x203F), "UDMA5 selected");
    assert_eq!(
        set_mode(&mut a, 0x50),
        STATUS_DRDY | STATUS_DSC | STATUS_ERR
    );
    assert_eq!(a.io_read(BASE + REG_ERROR_FEATURES, 1) as u8, ERROR_ABRT);
    assert_eq!(
        set_mode(&mut a, 0x0C),
        STATUS_DRDY | STATUS_DSC,
        "PIO mode 4"
    );
    assert_eq!(identify(&mut a)[63], 0x0007, "no DMA mode selected");
}

/// The secondary channel with a CD-ROM holding `sectors` 2048-byte sectors (sector n filled with n) as master.
fn cdrom(sectors: usize) -> (AtaChannel, IdeBusMaster, Vec<u8>) {
    let iso: Vec<u8> = (0..sectors * 2048).map(|i| (i / 2048) as u8).collect();
    let channel = AtaChannel::new(
        ChannelPorts::SECONDARY,
        Some(IdeDevice::Cdrom(Box::new(MemDisk::new(iso.clone())))),
        None,
    );
    let mut bm = IdeBusMaster::new();
    bm.set_base(BM);
    (channel, bm, iso)
}

/// Sends the 12-byte `cdb` to the secondary master with PACKET's DMA bit set.
fn dma_packet(c: &mut AtaChannel, cdb: &[u8]) {
    let base = ATA_SECONDARY_BASE;
    c.io_write(base + REG_DEVICE, 1, 0xA0);
    c.io_write(base + REG_ERROR_FEATURES, 1, 1);
    c.io_write(base + REG_STATUS_COMMAND, 1, u32::from(CMD_PACKET));
    let mut p = [0u8; 12];
    p[..cdb.len()].copy_from_slice(cdb);
    for w in p.chunks(2) {
        c.io_write(base, 2, u32::from(u16::from_le_bytes([w[0], w[1]])));
    }
}

#[test]
fn atapi_read_10_by_dma_lands_in_memory_with_one_interrupt() {
    let (mut c, mut bm, iso) = cdrom(8);
    let secondary = BM + BM_CHANNEL_PORTS;
    let mut ram = vec![0u8; RAM];
    // The drive reports a medium change once after power-on: TEST UNIT READY takes it.
    dma_packet(&mut c, &[0x00]);
    c.io_read(ATA_SECONDARY_BASE + REG_STATUS_COMMAND, 1);
    for (i, (address, count)) in [(0x1_0000u32, 2048u32), (0x2_0000, 2048)]
        .into_iter()
        .enumerate()
    {
        let at = TABLE as usize + 8 * i;
        ram[at..at + 4].copy_from_slice(&address.to_le_bytes());
        let eot = if i == 1 { PRD_END_OF_TABLE } else { 0 };
        ram[at + 4..at + 8].copy_from_slice(&(count | eot).to_le_bytes());
    }
    bm.io_write(secondary + BM_PRD_TABLE, 4, TABLE);
    // READ(10) of sectors 3 and 4.
    dma_packet(&mut c, &[0x28, 0, 0, 0, 0, 3, 0, 0, 2]);
    assert!(!c.irq(), "the data waits for the bus master");
    bm.io_write(
        secondary + BM_COMMAND,
        1,
        u32::from(BM_CMD_START | BM_CMD_TO_MEMORY),
    );
    bm.follow_irq(1, c.irq());
    assert!(bm.run(1, &mut c, &mut ram));
    bm.follow_irq(1, c.irq());
    assert_eq!(&ram[0x1_0000..0x1_0800], &iso[3 * 2048..4 * 2048]);
    assert_eq!(&ram[0x2_0000..0x2_0800], &iso[4 * 2048..5 * 2048]);
    assert!(c.irq());
    assert_eq!(
        c.io_read(ATA_SECONDARY_BASE + REG_STATUS_COMMAND, 1) as u8,
        STATUS_DRDY | STATUS_DSC
    );
    assert_eq!(
        c.io_read(ATA_SECONDARY_BASE + REG_COUNT, 1) as u8,
        0x03,
        "interrupt reason: CoD and IO, command done"
    );
    assert_eq!(
        bm.io_read(secondary + BM_STATUS, 1) as u8,
        BM_STATUS_INTERRUPT
    );
    assert_eq!(bm.transfers(), [0, 1]);
}
