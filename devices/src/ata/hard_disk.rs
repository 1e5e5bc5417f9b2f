//! The ATA hard disk: PIO and DMA reads and writes by LBA28, LBA48 or CHS, IDENTIFY DEVICE, SET FEATURES'
//! transfer mode, and the housekeeping commands hosts send. PIO commands complete at once (the drive is never seen
//! BSY except during SRST); a DMA command waits with DRQ set until the bus master moves its data
//! (`bus_master.rs`), then completes. READ/WRITE MULTIPLE, SET MULTIPLE MODE and ATAPI commands are aborted.

use super::channel::{AtaDevice, ResetKind};
use super::identify::{identify_device, DmaMode, DEFAULT_HEADS, DEFAULT_SECTORS_PER_TRACK};
use super::prd::DmaPort;
use super::taskfile::{Reg, TaskFile};
use super::{
    Disk, CMD_CHECK_POWER_MODE, CMD_FLUSH_CACHE, CMD_FLUSH_CACHE_EXT, CMD_IDENTIFY,
    CMD_INIT_DEVICE_PARAMS, CMD_READ_DMA, CMD_READ_DMA_EXT, CMD_READ_DMA_NORETRY, CMD_READ_SECTORS,
    CMD_READ_SECTORS_EXT, CMD_READ_SECTORS_NORETRY, CMD_READ_VERIFY, CMD_READ_VERIFY_EXT,
    CMD_READ_VERIFY_NORETRY, CMD_SEEK, CMD_SET_FEATURES, CMD_WRITE_DMA, CMD_WRITE_DMA_EXT,
    CMD_WRITE_DMA_NORETRY, CMD_WRITE_SECTORS, CMD_WRITE_SECTORS_EXT, CMD_WRITE_SECTORS_NORETRY,
    DEVICE_LBA, ERROR_ABRT, ERROR_IDNF, ERROR_UNC, FEATURE_SET_TRANSFER_MODE, SECTOR_SIZE,
    STATUS_DRDY, STATUS_DRQ, STATUS_DSC,
};

/// Sectors a DMA transfer moves between the image and guest memory at a time.
const DMA_CHUNK_SECTORS: u64 = 128;

/// A data transfer in progress (PIO, or DMA waiting for the bus master).
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
    /// A DMA command waits for the bus master: `count` sectors from `lba`, to memory (a read) or from it.
    Dma {
        lba: u64,
        count: u64,
        lba48: bool,
        to_memory: bool,
    },
}

/// An ATA hard disk on a channel.
pub(crate) struct HardDisk {
    /// The task file.
    tf: TaskFile,
    /// The medium.
    disk: Box<dyn Disk>,
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
    /// The DMA mode SET FEATURES selected.
    dma_mode: DmaMode,
}

impl HardDisk {
    /// The disk serving `disk`, after power-on reset.
    pub(crate) fn new(disk: Box<dyn Disk>) -> Self {
        let mut d = Self {
            tf: TaskFile::default(),
            disk,
            buf: [0; SECTOR_SIZE],
            buf_pos: 0,
            transfer: Transfer::None,
            heads: DEFAULT_HEADS,
            spt: DEFAULT_SECTORS_PER_TRACK,
            dma_mode: DmaMode::None,
        };
        d.reset(ResetKind::Full);
        d
    }

    fn complete(&mut self) {
        self.transfer = Transfer::None;
        self.tf.complete();
    }

    fn fail(&mut self, error: u8) {
        self.transfer = Transfer::None;
        self.tf.fail(error);
    }

    /// Start sector and count of a 28-bit (LBA or CHS) command, or None for an impossible CHS address.
    fn address28(&self) -> Option<(u64, u64)> {
        let count = match self.tf.count.cur {
            0 => 256,
            n => u64::from(n),
        };
        let lba = if self.tf.device & DEVICE_LBA != 0 {
            u64::from(self.tf.device & 0x0F) << 24
                | u64::from(self.tf.lba_high.cur) << 16
                | u64::from(self.tf.lba_mid.cur) << 8
                | u64::from(self.tf.lba_low.cur)
        } else {
            let cyl = u64::from(self.tf.lba_mid.cur) | u64::from(self.tf.lba_high.cur) << 8;
            let head = self.tf.device & 0x0F;
            let sector = self.tf.lba_low.cur;
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
        let (l1, l0) = r(self.tf.lba_low);
        let (m1, m0) = r(self.tf.lba_mid);
        let (h1, h0) = r(self.tf.lba_high);
        let lba = h1 << 40 | m1 << 32 | l1 << 24 | h0 << 16 | m0 << 8 | l0;
        let count = match u64::from(self.tf.count.prev) << 8 | u64::from(self.tf.count.cur) {
            0 => 65_536,
            n => n,
        };
        (lba, count)
    }

    /// Puts `lba` into the task file (the address of the last sector handled).
    fn set_address(&mut self, lba: u64, lba48: bool) {
        if lba48 {
            self.tf.lba_low = Reg {
                cur: lba as u8,
                prev: (lba >> 24) as u8,
            };
            self.tf.lba_mid = Reg {
                cur: (lba >> 8) as u8,
                prev: (lba >> 32) as u8,
            };
            self.tf.lba_high = Reg {
                cur: (lba >> 16) as u8,
                prev: (lba >> 40) as u8,
            };
        } else if self.tf.device & DEVICE_LBA != 0 {
            self.tf.lba_low.cur = lba as u8;
            self.tf.lba_mid.cur = (lba >> 8) as u8;
            self.tf.lba_high.cur = (lba >> 16) as u8;
            self.tf.device = (self.tf.device & 0xF0) | ((lba >> 24) as u8 & 0x0F);
        } else {
            let per_cyl = u64::from(self.heads) * u64::from(self.spt);
            if per_cyl == 0 {
                return;
            }
            let cyl = lba / per_cyl;
            let rem = lba % per_cyl;
            self.tf.lba_mid.cur = cyl as u8;
            self.tf.lba_high.cur = (cyl >> 8) as u8;
            self.tf.device = (self.tf.device & 0xF0) | ((rem / u64::from(self.spt)) as u8 & 0x0F);
            self.tf.lba_low.cur = (rem % u64::from(self.spt)) as u8 + 1;
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
                self.tf.status = STATUS_DRDY | STATUS_DSC | STATUS_DRQ;
                self.tf.intrq = true;
            }
            Err(_) => {
                self.set_address(lba, lba48);
                self.fail(ERROR_UNC);
            }
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

    /// Starts a DMA command: with its range on the disk, the drive waits with DRQ for the bus master.
    fn start_dma(&mut self, lba48: bool, to_memory: bool) {
        match self.checked_address(lba48) {
            Some((lba, count)) => {
                self.transfer = Transfer::Dma {
                    lba,
                    count,
                    lba48,
                    to_memory,
                };
                self.tf.status = STATUS_DRDY | STATUS_DSC | STATUS_DRQ;
                self.tf.error = 0;
            }
            None => self.fail(ERROR_IDNF),
        }
    }

    /// Moves one chunk of the DMA transfer, the sectors from `lba` that fill `buf`, through `port`; returns the
    /// whole sectors moved (fewer when the PRD table ends first), or the ATA error that ends the command.
    fn dma_chunk(
        &mut self,
        port: &mut dyn DmaPort,
        buf: &mut [u8],
        lba: u64,
        to_memory: bool,
    ) -> Result<u64, u8> {
        let moved = if to_memory {
            self.disk.read_sectors(lba, buf).map_err(|_| ERROR_UNC)?;
            port.write_memory(buf).map_err(|_| ERROR_ABRT)?
        } else {
            let moved = port.read_memory(buf).map_err(|_| ERROR_ABRT)?;
            let whole = moved - moved % SECTOR_SIZE;
            if whole > 0 {
                self.disk
                    .write_sectors(lba, &buf[..whole])
                    .map_err(|_| ERROR_ABRT)?;
            }
            moved
        };
        Ok((moved / SECTOR_SIZE) as u64)
    }
}

impl AtaDevice for HardDisk {
    fn task_file(&self) -> &TaskFile {
        &self.tf
    }

    fn task_file_mut(&mut self) -> &mut TaskFile {
        &mut self.tf
    }

    fn reset(&mut self, kind: ResetKind) {
        if kind == ResetKind::Full {
            self.heads = DEFAULT_HEADS;
            self.spt = DEFAULT_SECTORS_PER_TRACK;
            self.dma_mode = DmaMode::None;
        }
        self.tf.set_signature(0, 0);
        self.tf.status = STATUS_DRDY | STATUS_DSC;
        self.transfer = Transfer::None;
        self.buf_pos = 0;
    }

    fn command(&mut self, cmd: u8) {
        match cmd {
            CMD_IDENTIFY => {
                self.buf = identify_device(
                    self.disk.sector_count(),
                    self.heads,
                    self.spt,
                    self.dma_mode,
                );
                self.buf_pos = 0;
                self.transfer = Transfer::Identify;
                self.tf.status = STATUS_DRDY | STATUS_DSC | STATUS_DRQ;
                self.tf.error = 0;
                self.tf.intrq = true;
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
                        self.tf.status = STATUS_DRDY | STATUS_DSC | STATUS_DRQ;
                        self.tf.error = 0;
                    }
                    None => self.fail(ERROR_IDNF),
                }
            }
            CMD_READ_DMA | CMD_READ_DMA_NORETRY | CMD_READ_DMA_EXT => {
                self.start_dma(cmd == CMD_READ_DMA_EXT, true)
            }
            CMD_WRITE_DMA | CMD_WRITE_DMA_NORETRY | CMD_WRITE_DMA_EXT => {
                self.start_dma(cmd == CMD_WRITE_DMA_EXT, false)
            }
            CMD_SET_FEATURES if self.tf.features.cur == FEATURE_SET_TRANSFER_MODE => {
                self.transfer = Transfer::None;
                self.tf.set_transfer_mode(&mut self.dma_mode);
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
                let heads = (self.tf.device & 0x0F) + 1;
                let spt = self.tf.count.cur;
                if spt == 0 {
                    self.fail(ERROR_ABRT);
                } else {
                    self.heads = heads;
                    self.spt = spt;
                    self.complete();
                }
            }
            CMD_CHECK_POWER_MODE => {
                self.tf.count.write(0xFF); // active or idle
                self.complete();
            }
            CMD_SET_FEATURES | CMD_SEEK | 0x10..=0x1F | 0xE0..=0xE3 => self.complete(),
            _ => self.fail(ERROR_ABRT),
        }
    }

    fn dma_pending(&self) -> bool {
        matches!(self.transfer, Transfer::Dma { .. })
    }

    fn run_dma(&mut self, port: &mut dyn DmaPort) {
        let Transfer::Dma {
            lba,
            count,
            lba48,
            to_memory,
        } = self.transfer
        else {
            return;
        };
        let mut buf = vec![0u8; (count.min(DMA_CHUNK_SECTORS) as usize) * SECTOR_SIZE];
        let mut done = 0;
        while done < count {
            let sectors = (count - done).min(DMA_CHUNK_SECTORS);
            let chunk = &mut buf[..sectors as usize * SECTOR_SIZE];
            match self.dma_chunk(port, chunk, lba + done, to_memory) {
                Ok(moved) => {
                    done += moved;
                    if moved < sectors {
                        // The PRD table ended before the data: the command stops without an interrupt.
                        self.set_address(lba + done, lba48);
                        self.transfer = Transfer::None;
                        self.tf.status = STATUS_DRDY | STATUS_DSC;
                        return;
                    }
                }
                Err(error) => {
                    self.set_address(lba + done, lba48);
                    self.fail(error);
                    return;
                }
            }
        }
        self.set_address(lba + count - 1, lba48);
        self.tf.count.cur = 0;
        self.complete();
    }

    fn read_data16(&mut self) -> u16 {
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
                    self.tf.count.cur = self.tf.count.cur.wrapping_sub(1);
                    self.start_read_block(lba + 1, remaining - 1, lba48);
                }
                _ => {
                    self.tf.status = STATUS_DRDY | STATUS_DSC;
                    self.transfer = Transfer::None;
                    self.tf.count.cur = 0;
                }
            }
        }
        w
    }

    fn write_data16(&mut self, w: u16) {
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
            self.tf.count.cur = self.tf.count.cur.wrapping_sub(1);
            self.transfer = Transfer::Write {
                lba: lba + 1,
                remaining: remaining - 1,
                lba48,
            };
            self.tf.intrq = true;
        } else {
            self.tf.count.cur = 0;
            self.complete();
        }
    }
}
