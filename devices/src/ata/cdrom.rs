//! The ATAPI CD-ROM drive on a channel: the ATA side of a packet device. PACKET takes a 12-byte command packet
//! through the data port; its data goes to the host in DRQ blocks of at most the byte-count limit the host put in
//! LBA mid/high, each block's size in LBA mid/high and the interrupt reason (CoD, IO) in the sector count register,
//! with an interrupt per block and one at completion. With the DMA bit in the features register, the data goes
//! instead through the bus master (`bus_master.rs`) in one transfer, with one interrupt at completion. Non-packet
//! commands other than IDENTIFY PACKET DEVICE, DEVICE RESET and SET FEATURES are aborted with the packet signature
//! (14h/EBh) in LBA mid/high, which tells a host probing with IDENTIFY DEVICE that a packet device is there.

use super::atapi::{Atapi, Reply, Sense, CD_SECTOR_SIZE, SENSE_ILLEGAL_REQUEST};
use super::channel::{AtaDevice, ResetKind};
use super::identify::{identify_packet_device, DmaMode};
use super::prd::DmaPort;
use super::taskfile::TaskFile;
use super::{
    Disk, CMD_DEVICE_RESET, CMD_IDENTIFY_PACKET, CMD_PACKET, CMD_SET_FEATURES, ERROR_ABRT,
    FEATURE_SET_TRANSFER_MODE, STATUS_DRDY, STATUS_DRQ, STATUS_DSC,
};

/// Signature of a packet device in LBA mid.
pub const ATAPI_SIGNATURE_MID: u8 = 0x14;
/// Signature of a packet device in LBA high.
pub const ATAPI_SIGNATURE_HIGH: u8 = 0xEB;
/// Interrupt reason (sector count register): the transfer is a command packet.
pub const REASON_COD: u8 = 0x01;
/// Interrupt reason: the transfer goes to the host.
pub const REASON_IO: u8 = 0x02;
/// Features register of PACKET: the data moves by DMA.
const FEATURES_DMA: u8 = 0x01;
/// Bytes in a command packet.
const PACKET_SIZE: usize = 12;

/// Where the drive is in a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No command in progress.
    Idle,
    /// IDENTIFY PACKET DEVICE data goes to the host.
    Identify,
    /// The host writes the command packet.
    Packet,
    /// Packet data goes to the host, block by block.
    DataIn,
    /// Packet data waits for the bus master to take it to memory.
    Dma,
}

/// An ATAPI CD-ROM drive on a channel.
pub(crate) struct Cdrom {
    /// The task file.
    tf: TaskFile,
    /// The packet command interpreter and its medium.
    unit: Atapi,
    /// Where the drive is in a command.
    phase: Phase,
    /// The command packet, or the data being transferred (a reply, or the current sector).
    buf: Vec<u8>,
    /// Next byte of `buf` the data port moves.
    pos: usize,
    /// End (in `buf`) of the current DRQ block.
    block_end: usize,
    /// Sectors still to load after `buf`: the next LBA and how many.
    sectors: (u32, u32),
    /// The byte-count limit of the current PACKET command (even, at least 2).
    limit: usize,
    /// The current PACKET command moves its data by DMA.
    dma: bool,
    /// The DMA mode SET FEATURES selected.
    dma_mode: DmaMode,
}

impl Cdrom {
    /// A drive with `image` inserted, after power-on reset.
    pub(crate) fn new(image: Box<dyn Disk>) -> Self {
        let mut d = Self {
            tf: TaskFile::default(),
            unit: Atapi::new(image),
            phase: Phase::Idle,
            buf: Vec::new(),
            pos: 0,
            block_end: 0,
            sectors: (0, 0),
            limit: 0,
            dma: false,
            dma_mode: DmaMode::None,
        };
        d.reset(ResetKind::Full);
        d
    }

    /// Ends the packet command without error: interrupt reason CoD|IO, with an interrupt.
    fn finish(&mut self) {
        self.phase = Phase::Idle;
        self.tf.count.cur = REASON_COD | REASON_IO;
        self.tf.complete();
    }

    /// Ends the packet command with CHECK CONDITION: the sense key in the error register (ABRT too for an
    /// illegal request), ERR in the status.
    fn check_condition(&mut self, sense: Sense) {
        self.phase = Phase::Idle;
        self.tf.count.cur = REASON_COD | REASON_IO;
        let abort = if sense.key == SENSE_ILLEGAL_REQUEST {
            ERROR_ABRT
        } else {
            0
        };
        self.tf.fail(sense.key << 4 | abort);
    }

    /// Aborts a non-packet command, leaving the packet signature in the task file.
    fn abort_with_signature(&mut self) {
        self.tf.lba_mid.write(ATAPI_SIGNATURE_MID);
        self.tf.lba_high.write(ATAPI_SIGNATURE_HIGH);
        self.tf.fail(ERROR_ABRT);
    }

    /// Runs the command packet in `buf`.
    fn run_packet(&mut self) {
        let mut cdb = [0u8; PACKET_SIZE];
        cdb.copy_from_slice(&self.buf[..PACKET_SIZE]);
        let reply = match self.unit.execute(&cdb) {
            Ok(reply) => reply,
            Err(sense) => return self.check_condition(sense),
        };
        self.buf.clear();
        self.pos = 0;
        self.sectors = (0, 0);
        match reply {
            Reply::Done => return self.finish(),
            Reply::Data(v) if v.is_empty() => return self.finish(),
            Reply::Data(v) => self.buf = v,
            Reply::Sectors { lba, count } => self.sectors = (lba, count),
        }
        if self.dma {
            self.phase = Phase::Dma;
            self.tf.count.cur = REASON_IO;
            self.tf.status = STATUS_DRDY | STATUS_DSC | STATUS_DRQ;
            return;
        }
        if self.limit == 0 {
            // A data phase needs a byte-count limit of at least one word.
            let sense = self.unit.fail(Sense::INVALID_FIELD);
            return self.check_condition(sense);
        }
        self.phase = Phase::DataIn;
        self.next_block();
    }

    /// Loads the next sector into the buffer when the buffer is used up; false (after ending the command with the
    /// sense) if reading it failed, or (after completing it) if no data is left.
    fn refill(&mut self) -> bool {
        if self.pos < self.buf.len() {
            return true;
        }
        let (lba, left) = self.sectors;
        if left == 0 {
            self.finish();
            return false;
        }
        self.buf.resize(CD_SECTOR_SIZE, 0);
        if let Err(sense) = self.unit.read_sector(lba, &mut self.buf) {
            self.check_condition(sense);
            return false;
        }
        self.pos = 0;
        self.sectors = (lba + 1, left - 1);
        true
    }

    /// Offers the next DRQ block (loading the next sector when the buffer is used up), or completes.
    fn next_block(&mut self) {
        if !self.refill() {
            return;
        }
        let size = (self.buf.len() - self.pos).min(self.limit);
        self.block_end = self.pos + size;
        self.tf.lba_mid.cur = size as u8;
        self.tf.lba_high.cur = (size >> 8) as u8;
        self.tf.count.cur = REASON_IO;
        self.tf.status = STATUS_DRDY | STATUS_DSC | STATUS_DRQ;
        self.tf.intrq = true;
    }
}

impl AtaDevice for Cdrom {
    fn task_file(&self) -> &TaskFile {
        &self.tf
    }

    fn task_file_mut(&mut self) -> &mut TaskFile {
        &mut self.tf
    }

    fn reset(&mut self, kind: ResetKind) {
        self.tf
            .set_signature(ATAPI_SIGNATURE_MID, ATAPI_SIGNATURE_HIGH);
        // A packet device leaves reset without DRDY (until the host addresses it), as QEMU's does.
        self.tf.status = 0;
        self.phase = Phase::Idle;
        self.buf.clear();
        self.pos = 0;
        self.unit.reset();
        if kind == ResetKind::Full {
            self.dma_mode = DmaMode::None;
        }
    }

    fn command(&mut self, cmd: u8) {
        // A new command ends any data phase still open.
        self.phase = Phase::Idle;
        match cmd {
            CMD_IDENTIFY_PACKET => {
                self.buf = identify_packet_device(self.dma_mode).to_vec();
                self.pos = 0;
                self.block_end = self.buf.len();
                self.phase = Phase::Identify;
                self.tf.status = STATUS_DRDY | STATUS_DSC | STATUS_DRQ;
                self.tf.error = 0;
                self.tf.intrq = true;
            }
            CMD_PACKET => {
                self.dma = self.tf.features.cur & FEATURES_DMA != 0;
                let limit =
                    usize::from(self.tf.lba_mid.cur) | usize::from(self.tf.lba_high.cur) << 8;
                self.limit = limit & !1;
                self.buf.clear();
                self.pos = 0;
                self.block_end = PACKET_SIZE;
                self.phase = Phase::Packet;
                // The packet is requested without an interrupt (DRQ within 50 us, IDENTIFY word 0).
                self.tf.count.cur = REASON_COD;
                self.tf.status = STATUS_DRDY | STATUS_DSC | STATUS_DRQ;
                self.tf.error = 0;
            }
            CMD_DEVICE_RESET => self.reset(ResetKind::Diagnostic),
            CMD_SET_FEATURES if self.tf.features.cur == FEATURE_SET_TRANSFER_MODE => {
                self.tf.set_transfer_mode(&mut self.dma_mode)
            }
            CMD_SET_FEATURES => self.tf.complete(),
            _ => self.abort_with_signature(),
        }
    }

    fn dma_pending(&self) -> bool {
        self.phase == Phase::Dma
    }

    fn run_dma(&mut self, port: &mut dyn DmaPort) {
        if self.phase != Phase::Dma {
            return;
        }
        // Reply bytes, then sector after sector, until the data or the PRD table ends.
        while self.refill() {
            match port.write_memory(&self.buf[self.pos..]) {
                Ok(n) if self.pos + n == self.buf.len() => self.pos = self.buf.len(),
                Ok(_) => {
                    // The table ended first: the command stops without an interrupt.
                    self.phase = Phase::Idle;
                    self.tf.status = STATUS_DRDY | STATUS_DSC;
                    return;
                }
                Err(_) => {
                    self.phase = Phase::Idle;
                    self.tf.count.cur = REASON_COD | REASON_IO;
                    return self.tf.fail(ERROR_ABRT);
                }
            }
        }
    }

    fn read_data16(&mut self) -> u16 {
        if !matches!(self.phase, Phase::Identify | Phase::DataIn) || self.pos >= self.block_end {
            return 0xFFFF;
        }
        let lo = self.buf[self.pos];
        // An odd final byte (a reply of odd length) comes with a zero pad byte.
        let hi = self.buf.get(self.pos + 1).copied().unwrap_or(0);
        self.pos = (self.pos + 2).min(self.block_end);
        if self.pos == self.block_end {
            if self.phase == Phase::Identify {
                self.phase = Phase::Idle;
                self.tf.status = STATUS_DRDY | STATUS_DSC;
            } else {
                self.next_block();
            }
        }
        u16::from_le_bytes([lo, hi])
    }

    fn write_data16(&mut self, w: u16) {
        if self.phase != Phase::Packet {
            return;
        }
        self.buf.extend_from_slice(&w.to_le_bytes());
        if self.buf.len() >= PACKET_SIZE {
            self.tf.status = STATUS_DRDY | STATUS_DSC;
            self.run_packet();
        }
    }
}
