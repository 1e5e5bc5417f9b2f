//! ATA (IDE): the two channels of a PC's IDE controller (`channel.rs`), each with up to two devices: hard disks
//! with PIO and DMA (`hard_disk.rs`) and ATAPI CD-ROM drives (`cdrom.rs` for the PACKET protocol, `atapi.rs` for
//! the packet commands), over disk images (`disk.rs`); and the PIIX3's bus-master DMA engine (`bus_master.rs`,
//! walking PRD tables with `prd.rs`).

mod atapi;
pub mod bus_master;
mod cdrom;
mod channel;
pub(crate) mod disk;
mod hard_disk;
mod identify;
mod prd;
mod taskfile;

pub use bus_master::IdeBusMaster;
pub use channel::{
    AtaChannel, ChannelPorts, ATA_PRIMARY_BASE, ATA_PRIMARY_CONTROL, ATA_PRIMARY_IRQ,
    ATA_SECONDARY_BASE, ATA_SECONDARY_CONTROL, ATA_SECONDARY_IRQ,
};
pub(crate) use disk::check_range;
pub use disk::{Disk, DiskError, FileDisk, MemDisk, SECTOR_SIZE};
pub use identify::{identify_device, DmaMode, MODEL};

use channel::AtaDevice;

/// What an IDE device slot holds.
pub enum IdeDevice {
    /// An ATA hard disk.
    Disk(Box<dyn Disk>),
    /// An ATAPI CD-ROM drive with this image (a raw ISO, 2048-byte sectors) inserted.
    Cdrom(Box<dyn Disk>),
}

impl std::fmt::Debug for IdeDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, image) = match self {
            IdeDevice::Disk(d) => ("Disk", d),
            IdeDevice::Cdrom(d) => ("Cdrom", d),
        };
        write!(f, "{kind}({} sectors)", image.sector_count())
    }
}

/// What kind of device an IDE slot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdeMedia {
    /// An ATA hard disk.
    Disk,
    /// An ATAPI CD-ROM drive.
    Cdrom,
}

impl IdeDevice {
    /// The kind of device.
    pub fn media(&self) -> IdeMedia {
        match self {
            IdeDevice::Disk(_) => IdeMedia::Disk,
            IdeDevice::Cdrom(_) => IdeMedia::Cdrom,
        }
    }

    /// The device model serving this slot.
    fn into_device(self) -> Box<dyn AtaDevice> {
        match self {
            IdeDevice::Disk(d) => Box::new(hard_disk::HardDisk::new(d)),
            IdeDevice::Cdrom(d) => Box::new(cdrom::Cdrom::new(d)),
        }
    }
}

/// Data register (16-bit).
const REG_DATA: u16 = 0;
/// Error (read) / features (write).
const REG_ERROR_FEATURES: u16 = 1;
/// Sector count.
const REG_COUNT: u16 = 2;
/// LBA bits 0-7 / sector number.
const REG_LBA_LOW: u16 = 3;
/// LBA bits 8-15 / cylinder low.
const REG_LBA_MID: u16 = 4;
/// LBA bits 16-23 / cylinder high.
const REG_LBA_HIGH: u16 = 5;
/// Device/head.
const REG_DEVICE: u16 = 6;
/// Status (read) / command (write).
const REG_STATUS_COMMAND: u16 = 7;

/// Status: busy.
pub const STATUS_BSY: u8 = 0x80;
/// Status: device ready.
pub const STATUS_DRDY: u8 = 0x40;
/// Status: device fault.
pub const STATUS_DF: u8 = 0x20;
/// Status: device seek complete.
pub const STATUS_DSC: u8 = 0x10;
/// Status: data request.
pub const STATUS_DRQ: u8 = 0x08;
/// Status: error.
pub const STATUS_ERR: u8 = 0x01;
/// Error: uncorrectable data (used for backend I/O failures).
pub const ERROR_UNC: u8 = 0x40;
/// Error: ID not found (address out of range).
pub const ERROR_IDNF: u8 = 0x10;
/// Error: command aborted.
pub const ERROR_ABRT: u8 = 0x04;
/// Device register: LBA addressing.
pub const DEVICE_LBA: u8 = 0x40;
/// Device register: device 1 (slave) selected.
pub const DEVICE_DEV: u8 = 0x10;
/// Device control: interrupt disable.
pub const CONTROL_NIEN: u8 = 0x02;
/// Device control: software reset.
pub const CONTROL_SRST: u8 = 0x04;
/// Device control: high order byte (read the previous LBA48 register contents).
pub const CONTROL_HOB: u8 = 0x80;

/// DEVICE RESET (packet devices).
pub const CMD_DEVICE_RESET: u8 = 0x08;
/// READ SECTORS.
pub const CMD_READ_SECTORS: u8 = 0x20;
/// READ SECTORS without retries.
pub const CMD_READ_SECTORS_NORETRY: u8 = 0x21;
/// READ SECTORS EXT.
pub const CMD_READ_SECTORS_EXT: u8 = 0x24;
/// WRITE SECTORS.
pub const CMD_WRITE_SECTORS: u8 = 0x30;
/// WRITE SECTORS without retries.
pub const CMD_WRITE_SECTORS_NORETRY: u8 = 0x31;
/// WRITE SECTORS EXT.
pub const CMD_WRITE_SECTORS_EXT: u8 = 0x34;
/// READ VERIFY SECTORS.
pub const CMD_READ_VERIFY: u8 = 0x40;
/// READ VERIFY SECTORS without retries.
pub const CMD_READ_VERIFY_NORETRY: u8 = 0x41;
/// READ VERIFY SECTORS EXT.
pub const CMD_READ_VERIFY_EXT: u8 = 0x42;
/// SEEK.
pub const CMD_SEEK: u8 = 0x70;
/// EXECUTE DEVICE DIAGNOSTIC.
pub const CMD_EXECUTE_DIAGNOSTIC: u8 = 0x90;
/// INITIALIZE DEVICE PARAMETERS.
pub const CMD_INIT_DEVICE_PARAMS: u8 = 0x91;
/// CHECK POWER MODE.
pub const CMD_CHECK_POWER_MODE: u8 = 0xE5;
/// FLUSH CACHE.
pub const CMD_FLUSH_CACHE: u8 = 0xE7;
/// FLUSH CACHE EXT.
pub const CMD_FLUSH_CACHE_EXT: u8 = 0xEA;
/// IDENTIFY DEVICE.
pub const CMD_IDENTIFY: u8 = 0xEC;
/// READ DMA EXT.
pub const CMD_READ_DMA_EXT: u8 = 0x25;
/// WRITE DMA EXT.
pub const CMD_WRITE_DMA_EXT: u8 = 0x35;
/// READ DMA.
pub const CMD_READ_DMA: u8 = 0xC8;
/// READ DMA without retries.
pub const CMD_READ_DMA_NORETRY: u8 = 0xC9;
/// WRITE DMA.
pub const CMD_WRITE_DMA: u8 = 0xCA;
/// WRITE DMA without retries.
pub const CMD_WRITE_DMA_NORETRY: u8 = 0xCB;
/// PACKET.
pub const CMD_PACKET: u8 = 0xA0;
/// IDENTIFY PACKET DEVICE.
pub const CMD_IDENTIFY_PACKET: u8 = 0xA1;
/// SET FEATURES.
pub const CMD_SET_FEATURES: u8 = 0xEF;
/// SET FEATURES subcommand (features register): set the transfer mode from the count register.
pub const FEATURE_SET_TRANSFER_MODE: u8 = 0x03;

#[cfg(test)]
mod cdrom_tests;
#[cfg(test)]
mod dma_tests;
#[cfg(test)]
mod tests;
