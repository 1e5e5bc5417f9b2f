//! The task file every ATA device keeps: the byte registers the host writes to both devices on a channel, and the
//! status, error and INTRQ of this device.

use super::identify::DmaMode;
use super::{
    ERROR_ABRT, REG_COUNT, REG_DEVICE, REG_ERROR_FEATURES, REG_LBA_HIGH, REG_LBA_LOW, REG_LBA_MID,
    STATUS_DRDY, STATUS_DSC, STATUS_ERR,
};

/// A task file register and its previous value (read back with HOB for 48-bit commands).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Reg {
    /// The value last written.
    pub(crate) cur: u8,
    /// The value written before it.
    pub(crate) prev: u8,
}

impl Reg {
    /// Writes `v`, keeping the old value as the previous one.
    pub(crate) fn write(&mut self, v: u8) {
        self.prev = self.cur;
        self.cur = v;
    }
}

/// One device's copy of the task file.
#[derive(Debug, Clone, Default)]
pub(crate) struct TaskFile {
    /// Features register.
    pub(crate) features: Reg,
    /// Sector count (interrupt reason for a packet device).
    pub(crate) count: Reg,
    /// LBA low / sector number.
    pub(crate) lba_low: Reg,
    /// LBA mid / cylinder low (byte count low for a packet device).
    pub(crate) lba_mid: Reg,
    /// LBA high / cylinder high (byte count high for a packet device).
    pub(crate) lba_high: Reg,
    /// Device/head register.
    pub(crate) device: u8,
    /// Status register.
    pub(crate) status: u8,
    /// Error register.
    pub(crate) error: u8,
    /// The device's INTRQ (before the channel's nIEN gating).
    pub(crate) intrq: bool,
}

impl TaskFile {
    /// Writes byte register `reg` (1-6) as the host does to every device on the channel.
    pub(crate) fn write(&mut self, reg: u16, v: u8) {
        match reg {
            REG_ERROR_FEATURES => self.features.write(v),
            REG_COUNT => self.count.write(v),
            REG_LBA_LOW => self.lba_low.write(v),
            REG_LBA_MID => self.lba_mid.write(v),
            REG_LBA_HIGH => self.lba_high.write(v),
            REG_DEVICE => self.device = v & 0x5F,
            _ => {}
        }
    }

    /// Reads byte register `reg` (1-6); `hob` picks the previous contents of the 48-bit registers.
    pub(crate) fn read(&self, reg: u16, hob: bool) -> u8 {
        let pick = |r: Reg| if hob { r.prev } else { r.cur };
        match reg {
            REG_ERROR_FEATURES => self.error,
            REG_COUNT => pick(self.count),
            REG_LBA_LOW => pick(self.lba_low),
            REG_LBA_MID => pick(self.lba_mid),
            REG_LBA_HIGH => pick(self.lba_high),
            REG_DEVICE => self.device | 0xA0,
            _ => 0xFF,
        }
    }

    /// The signature a reset leaves: count and LBA low 1, `mid`/`high` telling the device's kind, device 0
    /// selected, diagnostic code 1 (device 0 passed, device 1 not present).
    pub(crate) fn set_signature(&mut self, mid: u8, high: u8) {
        self.count.write(1);
        self.lba_low.write(1);
        self.lba_mid.write(mid);
        self.lba_high.write(high);
        self.device = 0;
        self.error = 0x01;
    }

    /// Ends a command without error, with an interrupt.
    pub(crate) fn complete(&mut self) {
        self.status = STATUS_DRDY | STATUS_DSC;
        self.error = 0;
        self.intrq = true;
    }

    /// Runs SET FEATURES' set-transfer-mode subcommand: `mode` takes the mode the count register names and the
    /// command completes, or, for a mode the drive lacks, it fails with ABRT.
    pub(crate) fn set_transfer_mode(&mut self, mode: &mut DmaMode) {
        match DmaMode::from_transfer_mode(self.count.cur) {
            Some(m) => {
                *mode = m;
                self.complete();
            }
            None => self.fail(ERROR_ABRT),
        }
    }

    /// Ends a command with `error` in the error register, with an interrupt.
    pub(crate) fn fail(&mut self, error: u8) {
        self.status = STATUS_DRDY | STATUS_DSC | STATUS_ERR;
        self.error = error;
        self.intrq = true;
    }
}
