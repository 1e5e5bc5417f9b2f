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

/// The PM1a registers and PM timer.
#[derive(Debug, Clone)]
pub struct AcpiPm {
    /// Time source for the PM timer.
    clock: Clock,
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
            sts: 0,
            en: 0,
            cnt: 0,
            request: None,
        }
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

    /// Reads the 16-bit register at `base` (one of the PM1a ones).
    fn reg16(&self, base: u16) -> u16 {
        match base {
            PM1A_STS => self.sts,
            PM1A_EN => self.en,
            _ => self.cnt,
        }
    }

    /// Writes `bytes` bytes of `value` at byte offset `off` of the 16-bit register at `base`.
    fn write16(&mut self, base: u16, off: u16, bytes: u8, value: u32) {
        let shift = 8 * u32::from(off);
        let mask = ((crate::bus::size_mask(bytes) << shift) & 0xFFFF) as u16;
        let v = ((value << shift) & 0xFFFF) as u16 & mask;
        match base {
            PM1A_STS => self.sts &= !v, // write 1 to clear
            PM1A_EN => self.en = (self.en & !mask) | v,
            _ => self.write_cnt((self.cnt & !mask) | v),
        }
    }
}

impl IoDevice for AcpiPm {
    fn io_read(&mut self, port: u16, size: u8) -> u32 {
        let mask = crate::bus::size_mask(size);
        match port.wrapping_sub(PM_BASE) {
            off @ 0..=5 => {
                let base = PM_BASE + off / 2 * 2;
                let lo = u32::from(self.reg16(base)) >> (8 * u32::from(off % 2));
                // A 32-bit read of STS/EN sees the next register in the high half.
                let hi = if size == 4 && off % 2 == 0 && off < 4 {
                    u32::from(self.reg16(base + 2)) << 16
                } else {
                    0
                };
                (lo | hi) & mask
            }
            off @ 8..=11 => (self.timer() >> (8 * u32::from(off - 8))) & mask,
            _ => OPEN_BUS & mask,
        }
    }

    fn io_write(&mut self, port: u16, size: u8, value: u32) {
        let off = port.wrapping_sub(PM_BASE);
        if off > 5 {
            return;
        }
        let base = PM_BASE + off / 2 * 2;
        let in_reg = off % 2;
        let first = size.min(2 - in_reg as u8);
        self.write16(base, in_reg, first, value);
        if size == 4 && in_reg == 0 && base + 2 < PM_BASE + 6 {
            self.write16(base + 2, 0, 2, value >> 16);
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
    }
}
