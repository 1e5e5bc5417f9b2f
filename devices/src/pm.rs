//! ACPI power management I/O block of the PIIX4 PM as QEMU places it with SeaBIOS (base 0x600): PM1a event
//! registers, PM1a control (sleep requests) and the 3.579545 MHz PM timer.

use crate::bus::{BoardRequest, IoDevice, OPEN_BUS};
use crate::clock::Clock;

/// Base of the PM I/O block.
pub const PM_BASE: u16 = 0x600;
/// PM1a status register (16-bit, write 1 to clear).
pub const PM1A_STS: u16 = PM_BASE;
/// PM1a enable register (16-bit).
pub const PM1A_EN: u16 = PM_BASE + 2;
/// PM1a control register (16-bit).
pub const PM1A_CNT: u16 = PM_BASE + 4;
/// PM timer (32-bit read only, 24 bits significant).
pub const PM_TMR: u16 = PM_BASE + 8;
/// Ports in the block.
pub const PM_LEN: u16 = 12;

/// PM1 control: SCI enable.
pub const PM1_CNT_SCI_EN: u16 = 0x0001;
/// PM1 control: sleep type field (bits 10-12).
pub const PM1_CNT_SLP_TYP_MASK: u16 = 0x1C00;
/// PM1 control: sleep type shift.
pub const PM1_CNT_SLP_TYP_SHIFT: u16 = 10;
/// PM1 control: sleep enable (write only).
pub const PM1_CNT_SLP_EN: u16 = 0x2000;
/// The SLP_TYP value for S5 (soft off) in QEMU's DSDT for the PIIX4.
pub const SLP_TYP_S5: u16 = 0;
/// Frequency of the PM timer.
pub const PM_TIMER_HZ: u64 = 3_579_545;

/// Offsets of the registers in the block.
const STS: u16 = 0;
const EN: u16 = 2;
const CNT: u16 = 4;
const TMR: u16 = 8;

/// The PM1a registers and PM timer.
#[derive(Debug, Clone)]
pub struct AcpiPm {
    /// Time source for the PM timer.
    clock: Clock,
    /// The first port of the block (the PIIX4's PMBA; [`PM_BASE`] until firmware moves it).
    base: u16,
    /// PM1a status.
    sts: u16,
    /// PM1a enable.
    en: u16,
    /// PM1a control (without SLP_EN, which reads 0).
    cnt: u16,
    /// Power-off requested by the guest, not yet taken by the board.
    request: Option<BoardRequest>,
}

impl AcpiPm {
    /// The block at power-on.
    pub fn new(clock: Clock) -> Self {
        Self {
            clock,
            base: PM_BASE,
            sts: 0,
            en: 0,
            cnt: 0,
            request: None,
        }
    }

    /// The first port of the block.
    pub fn base(&self) -> u16 {
        self.base
    }

    /// Moves the block to `base` (the board moves its ports along).
    pub fn set_base(&mut self, base: u16) {
        self.base = base;
    }

    /// A power-off the guest asked for, once.
    pub fn take_request(&mut self) -> Option<BoardRequest> {
        self.request.take()
    }

    fn timer(&self) -> u32 {
        let ticks = u128::from(self.clock.now_ns()) * u128::from(PM_TIMER_HZ) / 1_000_000_000;
        (ticks & 0xFF_FFFF) as u32
    }

    fn write_cnt(&mut self, v: u16) {
        if v & PM1_CNT_SLP_EN != 0
            && (v & PM1_CNT_SLP_TYP_MASK) >> PM1_CNT_SLP_TYP_SHIFT == SLP_TYP_S5
        {
            self.request = Some(BoardRequest::PowerOff);
        }
        self.cnt = v & !PM1_CNT_SLP_EN;
    }

    /// Reads the 16-bit PM1a register at offset `reg` (STS, EN or CNT).
    fn reg16(&self, reg: u16) -> u16 {
        match reg {
            STS => self.sts,
            EN => self.en,
            _ => self.cnt,
        }
    }

    /// Writes `bytes` bytes of `value` at byte offset `off` of the 16-bit PM1a register at offset `reg`.
    fn write16(&mut self, reg: u16, off: u16, bytes: u8, value: u32) {
        let shift = 8 * u32::from(off);
        let mask = ((crate::bus::size_mask(bytes) << shift) & 0xFFFF) as u16;
        let v = ((value << shift) & 0xFFFF) as u16 & mask;
        match reg {
            STS => self.sts &= !v, // write 1 to clear
            EN => self.en = (self.en & !mask) | v,
            _ => self.write_cnt((self.cnt & !mask) | v),
        }
    }
}

impl IoDevice for AcpiPm {
    fn io_read(&mut self, port: u16, size: u8) -> u32 {
        let mask = crate::bus::size_mask(size);
        match port.wrapping_sub(self.base) {
            off @ 0..=5 => {
                let reg = off / 2 * 2;
                let lo = u32::from(self.reg16(reg)) >> (8 * u32::from(off % 2));
                // A 32-bit read of STS/EN sees the next register in the high half.
                let hi = if size == 4 && off % 2 == 0 && off < CNT {
                    u32::from(self.reg16(reg + 2)) << 16
                } else {
                    0
                };
                (lo | hi) & mask
            }
            off @ TMR..=11 => (self.timer() >> (8 * u32::from(off - TMR))) & mask,
            _ => OPEN_BUS & mask,
        }
    }

    fn io_write(&mut self, port: u16, size: u8, value: u32) {
        let off = port.wrapping_sub(self.base);
        if off > 5 {
            return;
        }
        let reg = off / 2 * 2;
        let in_reg = off % 2;
        let first = size.min(2 - in_reg as u8);
        self.write16(reg, in_reg, first, value);
        if size == 4 && in_reg == 0 && reg < CNT {
            self.write16(reg + 2, 0, 2, value >> 16);
        }
    }

    fn wide_access(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s5_sleep_powers_off() {
        let mut pm = AcpiPm::new(Clock::virtual_time());
        pm.io_write(PM1A_CNT, 2, 0x0001);
        assert_eq!(pm.take_request(), None);
        assert_eq!(pm.io_read(PM1A_CNT, 2), 0x0001);
        // SLP_TYP = 1 with SLP_EN is another sleep state: not power-off.
        pm.io_write(PM1A_CNT, 2, 0x2401);
        assert_eq!(pm.take_request(), None);
        pm.io_write(PM1A_CNT, 2, 0x2001);
        assert_eq!(pm.take_request(), Some(BoardRequest::PowerOff));
        assert_eq!(
            pm.io_read(PM1A_CNT, 2) & u32::from(PM1_CNT_SLP_EN),
            0,
            "SLP_EN reads 0"
        );
        // Byte writes: the high byte alone carries SLP_EN.
        pm.io_write(PM1A_CNT + 1, 1, 0x20);
        assert_eq!(pm.take_request(), Some(BoardRequest::PowerOff));
    }

    #[test]
    fn pm_timer_runs_at_3_58_mhz() {
        let clock = Clock::virtual_time();
        let mut pm = AcpiPm::new(clock.clone());
        assert_eq!(pm.io_read(PM_TMR, 4), 0);
        clock.advance_ns(1_000_000);
        assert_eq!(pm.io_read(PM_TMR, 4), 3579);
        assert_eq!(pm.io_read(PM_BASE + 6, 2), 0xFFFF);
        pm.io_write(PM1A_EN, 2, 0x0121);
        assert_eq!(pm.io_read(PM1A_EN, 2), 0x0121);
        assert_eq!(pm.io_read(PM1A_STS, 4), 0x0121_0000);
        // Moved, the block answers at its new base only.
        pm.set_base(0xB000);
        assert_eq!(pm.io_read(0xB002, 2), 0x0121);
        assert_eq!(pm.io_read(PM1A_EN, 2), 0xFFFF);
    }
}
