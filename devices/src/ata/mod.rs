//! ATA (IDE) primary channel with one PIO hard disk as master: command block at 0x1F0-0x1F7, device control and
//! alternate status at 0x3F6, IRQ14. There is no slave: with device 1 selected, status reads 0 and commands are
//! ignored (the master answers the shared task file registers, as ATA specifies).
//!
//! Commands complete at once (the drive is never seen BSY except during SRST). READ/WRITE MULTIPLE, SET MULTIPLE
//! MODE, DMA and ATAPI commands are aborted.

pub(crate) mod disk;
mod identify;

pub(crate) use disk::check_range;
pub use disk::{Disk, DiskError, FileDisk, MemDisk, SECTOR_SIZE};
pub use identify::{identify_device, MODEL};

use crate::bus::{IoDevice, OPEN_BUS};
use identify::{DEFAULT_HEADS, DEFAULT_SECTORS_PER_TRACK};

/// Command block base of the primary channel.
pub const ATA_PRIMARY_BASE: u16 = 0x1F0;
/// Device control (write) / alternate status (read) of the primary channel.
pub const ATA_PRIMARY_CONTROL: u16 = 0x3F6;
/// ISA IRQ of the primary channel.
pub const ATA_PRIMARY_IRQ: u8 = 14;

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
/// SET FEATURES.
pub const CMD_SET_FEATURES: u8 = 0xEF;

/// A PIO data transfer in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transfer {
    /// No data phase.
    None,
    /// The host reads the buffer (IDENTIFY): no more sectors after it.
    Identify,
    /// The host reads sector `lba`; `remaining` sectors including this one.
    Read {
        lba: u64,
        remaining: u64,
        lba48: bool,
    },
    /// The host fills the buffer for sector `lba`; `remaining` sectors including this one.
    Write {
        lba: u64,
        remaining: u64,
        lba48: bool,
    },
}

/// A task file register and its previous value (read back with HOB for 48-bit commands).
#[derive(Debug, Clone, Copy, Default)]
struct Reg {
    cur: u8,
    prev: u8,
}

impl Reg {
    fn write(&mut self, v: u8) {
        self.prev = self.cur;
        self.cur = v;
    }
}

/// The primary ATA channel and its master disk.
pub struct Ata {
    /// The master's medium.
    disk: Box<dyn Disk>,
    /// Features register.
    features: Reg,
    /// Sector count register.
    count: Reg,
    /// LBA low / sector number.
    lba_low: Reg,
    /// LBA mid / cylinder low.
    lba_mid: Reg,
    /// LBA high / cylinder high.
    lba_high: Reg,
    /// Device/head register.
    device: u8,
    /// Status register.
    status: u8,
    /// Error register.
    error: u8,
    /// Device control register.
    control: u8,
    /// The drive's INTRQ (before nIEN gating).
    intrq: bool,
    /// Sector buffer.
    buf: [u8; SECTOR_SIZE],
    /// Next byte of `buf` the data port moves.
    buf_pos: usize,
    /// The data phase.
    transfer: Transfer,
    /// Logical heads for CHS addressing.
    heads: u8,
    /// Logical sectors per track for CHS addressing.
    spt: u8,
}

impl std::fmt::Debug for Ata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ata")
            .field("sectors", &self.disk.sector_count())
            .field("status", &self.status)
            .field("error", &self.error)
            .field("transfer", &self.transfer)
            .finish_non_exhaustive()
    }
}

impl Ata {
    /// The channel with `disk` as master, after power-on reset.
    pub fn new(disk: Box<dyn Disk>) -> Self {
        let mut ata = Self {
            disk,
            features: Reg::default(),
            count: Reg::default(),
            lba_low: Reg::default(),
            lba_mid: Reg::default(),
            lba_high: Reg::default(),
            device: 0,
            status: 0,
            error: 0,
            control: 0,
            intrq: false,
            buf: [0; SECTOR_SIZE],
            buf_pos: 0,
            transfer: Transfer::None,
            heads: DEFAULT_HEADS,
            spt: DEFAULT_SECTORS_PER_TRACK,
        };
        ata.reset();
        ata
    }

    /// A board reset (RESET- asserted): default geometry, device control cleared, signature in the task file.
    pub fn hard_reset(&mut self) {
        self.control = 0;
        self.intrq = false;
        self.heads = DEFAULT_HEADS;
        self.spt = DEFAULT_SECTORS_PER_TRACK;
        self.reset();
    }

    /// The IRQ14 output: INTRQ unless nIEN.
    pub fn irq(&self) -> bool {
        self.intrq && self.control & CONTROL_NIEN == 0
    }

    fn slave_selected(&self) -> bool {
        self.device & DEVICE_DEV != 0
    }

    /// Reset (power-on, SRST, EXECUTE DEVICE DIAGNOSTIC): the ATA signature in the task file, diagnostic code 1.
    fn reset(&mut self) {
        self.set_signature();
        self.status = STATUS_DRDY | STATUS_DSC;
        self.transfer = Transfer::None;
        self.buf_pos = 0;
    }

    fn set_signature(&mut self) {
        self.count.write(1);
        self.lba_low.write(1);
        self.lba_mid.write(0);
        self.lba_high.write(0);
        self.device = 0;
        self.error = 0x01; // device 0 passed, device 1 not present
    }

    fn complete(&mut self) {
        self.status = STATUS_DRDY | STATUS_DSC;
        self.error = 0;
        self.transfer = Transfer::None;
        self.intrq = true;
    }

    fn fail(&mut self, error: u8) {
        self.status = STATUS_DRDY | STATUS_DSC | STATUS_ERR;
        self.error = error;
        self.transfer = Transfer::None;
        self.intrq = true;
    }

    /// Start sector and count of a 28-bit (LBA or CHS) command, or None for an impossible CHS address.
    fn address28(&self) -> Option<(u64, u64)> {
        let count = match self.count.cur {
            0 => 256,
            n => u64::from(n),
        };
        let lba = if self.device & DEVICE_LBA != 0 {
            u64::from(self.device & 0x0F) << 24
                | u64::from(self.lba_high.cur) << 16
                | u64::from(self.lba_mid.cur) << 8
                | u64::from(self.lba_low.cur)
        } else {
            let cyl = u64::from(self.lba_mid.cur) | u64::from(self.lba_high.cur) << 8;
            let head = self.device & 0x0F;
            let sector = self.lba_low.cur;
            if sector == 0 || sector > self.spt || head >= self.heads {
                return None;
            }
            (cyl * u64::from(self.heads) + u64::from(head)) * u64::from(self.spt)
                + u64::from(sector)
                - 1
        };
        Some((lba, count))
    }

    /// Start sector and count of a 48-bit command (from the current and previous register contents).
    fn address48(&self) -> (u64, u64) {
        let r = |reg: Reg| (u64::from(reg.prev), u64::from(reg.cur));
        let (l1, l0) = r(self.lba_low);
        let (m1, m0) = r(self.lba_mid);
        let (h1, h0) = r(self.lba_high);
        let lba = h1 << 40 | m1 << 32 | l1 << 24 | h0 << 16 | m0 << 8 | l0;
        let count = match u64::from(self.count.prev) << 8 | u64::from(self.count.cur) {
            0 => 65_536,
            n => n,
        };
        (lba, count)
    }

    /// Puts `lba` into the task file (the address of the last sector handled).
    fn set_address(&mut self, lba: u64, lba48: bool) {
        if lba48 {
            self.lba_low = Reg {
                cur: lba as u8,
                prev: (lba >> 24) as u8,
            };
            self.lba_mid = Reg {
                cur: (lba >> 8) as u8,
                prev: (lba >> 32) as u8,
            };
            self.lba_high = Reg {
                cur: (lba >> 16) as u8,
                prev: (lba >> 40) as u8,
            };
        } else if self.device & DEVICE_LBA != 0 {
            self.lba_low.cur = lba as u8;
            self.lba_mid.cur = (lba >> 8) as u8;
            self.lba_high.cur = (lba >> 16) as u8;
            self.device = (self.device & 0xF0) | ((lba >> 24) as u8 & 0x0F);
        } else {
            let per_cyl = u64::from(self.heads) * u64::from(self.spt);
            if per_cyl == 0 {
                return;
            }
            let cyl = lba / per_cyl;
            let rem = lba % per_cyl;
            self.lba_mid.cur = cyl as u8;
            self.lba_high.cur = (cyl >> 8) as u8;
            self.device = (self.device & 0xF0) | ((rem / u64::from(self.spt)) as u8 & 0x0F);
            self.lba_low.cur = (rem % u64::from(self.spt)) as u8 + 1;
        }
    }

    fn in_range(&self, lba: u64, count: u64) -> bool {
        lba.checked_add(count)
            .is_some_and(|end| end <= self.disk.sector_count())
    }

    /// Loads sector `lba` into the buffer and raises DRQ with an interrupt (one PIO-in block).
    fn start_read_block(&mut self, lba: u64, remaining: u64, lba48: bool) {
        match self.disk.read_sectors(lba, &mut self.buf) {
            Ok(()) => {
                self.set_address(lba, lba48);
                self.buf_pos = 0;
                self.transfer = Transfer::Read {
                    lba,
                    remaining,
                    lba48,
                };
                self.status = STATUS_DRDY | STATUS_DSC | STATUS_DRQ;
                self.intrq = true;
            }
            Err(_) => {
                self.set_address(lba, lba48);
                self.fail(ERROR_UNC);
            }
        }
    }

    fn command(&mut self, cmd: u8) {
        self.intrq = false;
        if self.slave_selected() && cmd != CMD_EXECUTE_DIAGNOSTIC {
            return;
        }
        match cmd {
            CMD_IDENTIFY => {
                self.buf = identify_device(self.disk.sector_count(), self.heads, self.spt);
                self.buf_pos = 0;
                self.transfer = Transfer::Identify;
                self.status = STATUS_DRDY | STATUS_DSC | STATUS_DRQ;
                self.error = 0;
                self.intrq = true;
            }
            CMD_READ_SECTORS | CMD_READ_SECTORS_NORETRY | CMD_READ_SECTORS_EXT => {
                let lba48 = cmd == CMD_READ_SECTORS_EXT;
                match self.checked_address(lba48) {
                    Some((lba, count)) => self.start_read_block(lba, count, lba48),
                    None => self.fail(ERROR_IDNF),
                }
            }
            CMD_WRITE_SECTORS | CMD_WRITE_SECTORS_NORETRY | CMD_WRITE_SECTORS_EXT => {
                let lba48 = cmd == CMD_WRITE_SECTORS_EXT;
                match self.checked_address(lba48) {
                    Some((lba, count)) => {
                        // The first block is requested without an interrupt.
                        self.buf_pos = 0;
                        self.transfer = Transfer::Write {
                            lba,
                            remaining: count,
                            lba48,
                        };
                        self.status = STATUS_DRDY | STATUS_DSC | STATUS_DRQ;
                        self.error = 0;
                    }
                    None => self.fail(ERROR_IDNF),
                }
            }
            CMD_READ_VERIFY | CMD_READ_VERIFY_NORETRY | CMD_READ_VERIFY_EXT => {
                let lba48 = cmd == CMD_READ_VERIFY_EXT;
                match self.checked_address(lba48) {
                    Some((lba, count)) => {
                        self.set_address(lba + count - 1, lba48);
                        self.complete();
                    }
                    None => self.fail(ERROR_IDNF),
                }
            }
            CMD_FLUSH_CACHE | CMD_FLUSH_CACHE_EXT => match self.disk.flush() {
                Ok(()) => self.complete(),
                Err(_) => self.fail(ERROR_ABRT),
            },
            CMD_INIT_DEVICE_PARAMS => {
                let heads = (self.device & 0x0F) + 1;
                let spt = self.count.cur;
                if spt == 0 {
                    self.fail(ERROR_ABRT);
                } else {
                    self.heads = heads;
                    self.spt = spt;
                    self.complete();
                }
            }
            CMD_EXECUTE_DIAGNOSTIC => {
                self.reset();
                self.intrq = true;
            }
            CMD_CHECK_POWER_MODE => {
                self.count.write(0xFF); // active or idle
                self.complete();
            }
            CMD_SET_FEATURES | CMD_SEEK | 0x10..=0x1F | 0xE0..=0xE3 => self.complete(),
            _ => self.fail(ERROR_ABRT),
        }
    }

    /// The command's start and count if the whole range is on the disk.
    fn checked_address(&self, lba48: bool) -> Option<(u64, u64)> {
        let (lba, count) = if lba48 {
            self.address48()
        } else {
            self.address28()?
        };
        self.in_range(lba, count).then_some((lba, count))
    }

    fn read_data16(&mut self) -> u16 {
        if self.slave_selected() {
            return 0xFFFF;
        }
        let (Transfer::Identify | Transfer::Read { .. }) = self.transfer else {
            return 0xFFFF;
        };
        let Some(bytes) = self.buf.get(self.buf_pos..self.buf_pos + 2) else {
            return 0xFFFF;
        };
        let w = u16::from_le_bytes([bytes[0], bytes[1]]);
        self.buf_pos += 2;
        if self.buf_pos >= SECTOR_SIZE {
            match self.transfer {
                Transfer::Read {
                    lba,
                    remaining,
                    lba48,
                } if remaining > 1 => {
                    self.count.cur = self.count.cur.wrapping_sub(1);
                    self.start_read_block(lba + 1, remaining - 1, lba48);
                }
                _ => {
                    self.status = STATUS_DRDY | STATUS_DSC;
                    self.transfer = Transfer::None;
                    self.count.cur = 0;
                }
            }
        }
        w
    }

    fn write_data16(&mut self, w: u16) {
        if self.slave_selected() {
            return;
        }
        let Transfer::Write {
            lba,
            remaining,
            lba48,
        } = self.transfer
        else {
            return;
        };
        let Some(dst) = self.buf.get_mut(self.buf_pos..self.buf_pos + 2) else {
            return;
        };
        dst.copy_from_slice(&w.to_le_bytes());
        self.buf_pos += 2;
        if self.buf_pos < SECTOR_SIZE {
            return;
        }
        self.set_address(lba, lba48);
        if self.disk.write_sectors(lba, &self.buf).is_err() {
            self.fail(ERROR_ABRT);
            return;
        }
        self.buf_pos = 0;
        if remaining > 1 {
            self.count.cur = self.count.cur.wrapping_sub(1);
            self.transfer = Transfer::Write {
                lba: lba + 1,
                remaining: remaining - 1,
                lba48,
            };
            self.intrq = true;
        } else {
            self.count.cur = 0;
            self.complete();
        }
    }

    fn write_control(&mut self, v: u8) {
        let was_reset = self.control & CONTROL_SRST != 0;
        self.control = v;
        if v & CONTROL_SRST != 0 {
            self.status = STATUS_BSY;
            self.transfer = Transfer::None;
            self.intrq = false;
        } else if was_reset {
            self.heads = DEFAULT_HEADS;
            self.spt = DEFAULT_SECTORS_PER_TRACK;
            self.reset();
        }
    }

    fn read_status(&self) -> u8 {
        if self.slave_selected() {
            0
        } else {
            self.status
        }
    }

    fn read_reg(&mut self, reg: u16) -> u8 {
        let hob = self.control & CONTROL_HOB != 0;
        let pick = |r: Reg| if hob { r.prev } else { r.cur };
        match reg {
            REG_DATA => self.read_data16() as u8,
            REG_ERROR_FEATURES => self.error,
            REG_COUNT => pick(self.count),
            REG_LBA_LOW => pick(self.lba_low),
            REG_LBA_MID => pick(self.lba_mid),
            REG_LBA_HIGH => pick(self.lba_high),
            REG_DEVICE => self.device | 0xA0,
            _ => {
                if !self.slave_selected() {
                    self.intrq = false;
                }
                self.read_status()
            }
        }
    }

    fn write_reg(&mut self, reg: u16, v: u8) {
        if reg != REG_DATA {
            self.control &= !CONTROL_HOB;
        }
        match reg {
            REG_DATA => self.write_data16(u16::from(v)),
            REG_ERROR_FEATURES => self.features.write(v),
            REG_COUNT => self.count.write(v),
            REG_LBA_LOW => self.lba_low.write(v),
            REG_LBA_MID => self.lba_mid.write(v),
            REG_LBA_HIGH => self.lba_high.write(v),
            REG_DEVICE => self.device = v & 0x5F,
            _ => self.command(v),
        }
    }
}

impl IoDevice for Ata {
    fn io_read(&mut self, port: u16, size: u8) -> u32 {
        match port {
            ATA_PRIMARY_BASE => match size {
                4 => {
                    let lo = u32::from(self.read_data16());
                    lo | u32::from(self.read_data16()) << 16
                }
                2 => u32::from(self.read_data16()),
                _ => u32::from(self.read_data16() as u8),
            },
            ATA_PRIMARY_CONTROL => {
                u32::from(self.read_status()) | (OPEN_BUS << 8 & crate::bus::size_mask(size))
            }
            p if p > ATA_PRIMARY_BASE && p <= ATA_PRIMARY_BASE + REG_STATUS_COMMAND => {
                // Wider accesses to byte registers read consecutive registers (open bus past the block).
                let mut v = 0;
                for i in 0..u16::from(size.clamp(1, 4)) {
                    let b = match p.checked_add(i) {
                        Some(q) if q <= ATA_PRIMARY_BASE + REG_STATUS_COMMAND => {
                            self.read_reg(q - ATA_PRIMARY_BASE)
                        }
                        _ => 0xFF,
                    };
                    v |= u32::from(b) << (8 * i);
                }
                v
            }
            _ => OPEN_BUS,
        }
    }

    fn io_write(&mut self, port: u16, size: u8, value: u32) {
        match port {
            ATA_PRIMARY_BASE => match size {
                4 => {
                    self.write_data16(value as u16);
                    self.write_data16((value >> 16) as u16);
                }
                _ => self.write_data16(value as u16),
            },
            ATA_PRIMARY_CONTROL => self.write_control(value as u8),
            p if p > ATA_PRIMARY_BASE && p <= ATA_PRIMARY_BASE + REG_STATUS_COMMAND => {
                for i in 0..u16::from(size.clamp(1, 4)) {
                    if let Some(q) = p
                        .checked_add(i)
                        .filter(|&q| q <= ATA_PRIMARY_BASE + REG_STATUS_COMMAND)
                    {
                        self.write_reg(q - ATA_PRIMARY_BASE, (value >> (8 * i)) as u8);
                    }
                }
            }
            _ => {}
        }
    }

    fn wide_access(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests;
