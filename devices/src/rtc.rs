//! Motorola MC146818 real-time clock with its 128 bytes of CMOS RAM, at 0x70 (index) / 0x71 (data), IRQ8.
//!
//! The time comes from [`Clock::wall_unix_ns`] (UTC) plus an offset the guest sets by writing the time registers.
//! The PC's CMOS layout (memory sizes, equipment byte, century, checksum) is filled as QEMU does, which is what
//! SeaBIOS and Linux expect.

use crate::bus::{IoDevice, OPEN_BUS};
use crate::clock::Clock;

/// Index register (bit 7 is the NMI mask on a PC; it does not take part in indexing).
pub const RTC_INDEX: u16 = 0x70;
/// Data register.
pub const RTC_DATA: u16 = 0x71;

/// Seconds.
pub const REG_SECONDS: u8 = 0x00;
/// Seconds alarm.
pub const REG_SECONDS_ALARM: u8 = 0x01;
/// Minutes.
pub const REG_MINUTES: u8 = 0x02;
/// Minutes alarm.
pub const REG_MINUTES_ALARM: u8 = 0x03;
/// Hours (bit 7 = PM in 12-hour mode).
pub const REG_HOURS: u8 = 0x04;
/// Hours alarm.
pub const REG_HOURS_ALARM: u8 = 0x05;
/// Day of week, 1 = Sunday.
pub const REG_DAY_OF_WEEK: u8 = 0x06;
/// Day of month.
pub const REG_DAY_OF_MONTH: u8 = 0x07;
/// Month.
pub const REG_MONTH: u8 = 0x08;
/// Year within the century.
pub const REG_YEAR: u8 = 0x09;
/// Register A: UIP, divider, rate select.
pub const REG_A: u8 = 0x0A;
/// Register B: SET, PIE, AIE, UIE, SQWE, DM, 24/12, DSE.
pub const REG_B: u8 = 0x0B;
/// Register C: IRQF, PF, AF, UF (read only, cleared on read).
pub const REG_C: u8 = 0x0C;
/// Register D: VRT (read only).
pub const REG_D: u8 = 0x0D;
/// Floppy drive types (0 = none).
pub const CMOS_FLOPPY: u8 = 0x10;
/// Equipment byte.
pub const CMOS_EQUIPMENT: u8 = 0x14;
/// Base memory in KiB, low byte (0x16 high).
pub const CMOS_BASE_MEM_LO: u8 = 0x15;
/// Extended memory above 1 MiB in KiB, low byte (0x18 high).
pub const CMOS_EXT_MEM_LO: u8 = 0x17;
/// Checksum of 0x10-0x2D, high byte (0x2F low).
pub const CMOS_CHECKSUM_HI: u8 = 0x2E;
/// Extended memory above 1 MiB in KiB as found by POST, low byte (0x31 high).
pub const CMOS_EXT_MEM2_LO: u8 = 0x30;
/// Century (IBM PC location).
pub const CMOS_CENTURY: u8 = 0x32;
/// Memory between 16 MiB and 4 GiB in 64 KiB units, low byte (0x35 high).
pub const CMOS_MEM_ABOVE_16M_LO: u8 = 0x34;
/// Boot order, floppy signature check (SeaBIOS / Bochs convention).
pub const CMOS_BOOT_FLAGS1: u8 = 0x38;
/// Boot order, first two devices (SeaBIOS / Bochs convention: 1 floppy, 2 hard disk, 3 CD-ROM).
pub const CMOS_BOOT_ORDER: u8 = 0x3D;
/// Memory above 4 GiB in 64 KiB units, lowest byte (0x5C, 0x5D next), as QEMU lays it out.
pub const CMOS_MEM_ABOVE_4G_LO: u8 = 0x5B;

/// Register A: update in progress.
pub const REG_A_UIP: u8 = 0x80;
/// Register A: rate select bits.
const REG_A_RS: u8 = 0x0F;
/// Register B: SET (halt updates so the time can be written).
pub const REG_B_SET: u8 = 0x80;
/// Register B: periodic interrupt enable.
pub const REG_B_PIE: u8 = 0x40;
/// Register B: alarm interrupt enable.
pub const REG_B_AIE: u8 = 0x20;
/// Register B: update-ended interrupt enable.
pub const REG_B_UIE: u8 = 0x10;
/// Register B: square wave output enable.
pub const REG_B_SQWE: u8 = 0x08;
/// Register B: data mode binary (else BCD).
pub const REG_B_DM: u8 = 0x04;
/// Register B: 24-hour mode (else 12-hour).
pub const REG_B_24H: u8 = 0x02;
/// Register C: interrupt request flag.
pub const REG_C_IRQF: u8 = 0x80;
/// Register C: periodic interrupt flag.
pub const REG_C_PF: u8 = 0x40;
/// Register C: alarm flag.
pub const REG_C_AF: u8 = 0x20;
/// Register C: update-ended flag.
pub const REG_C_UF: u8 = 0x10;
/// Register D: valid RAM and time.
pub const REG_D_VRT: u8 = 0x80;

/// Length of the update cycle that UIP announces (244 us before each second).
const UIP_NS: u64 = 244_000;
/// Frequency of the time base crystal.
const RTC_HZ: u64 = 32_768;
/// Nanoseconds per second.
const NS_PER_SEC: u64 = 1_000_000_000;
/// An alarm register value with these two bits set matches any value ("don't care").
const ALARM_DONT_CARE: u8 = 0xC0;

/// The MC146818 and its CMOS RAM.
#[derive(Debug, Clone)]
pub struct Rtc {
    /// Time source.
    clock: Clock,
    /// The 128 bytes: clock registers 0x00-0x0D and NVRAM.
    cmos: [u8; 128],
    /// Selected register (0-127).
    index: u8,
    /// Guest time minus clock wall time, in seconds (the guest may set any time).
    offset_secs: i64,
    /// Guest second for which the last update-ended flag was raised.
    last_update_sec: i64,
    /// Index of the last periodic interrupt period seen.
    last_period: u64,
}

impl Rtc {
    /// An RTC in the state the PC firmware leaves it: 24-hour BCD mode, 1024 Hz rate, interrupts off.
    pub fn new(clock: Clock) -> Self {
        let mut rtc = Self {
            clock,
            cmos: [0; 128],
            index: 0,
            offset_secs: 0,
            last_update_sec: 0,
            last_period: 0,
        };
        rtc.cmos[usize::from(REG_A)] = 0x26;
        rtc.cmos[usize::from(REG_B)] = REG_B_24H;
        rtc.cmos[usize::from(REG_D)] = REG_D_VRT;
        rtc.last_update_sec = rtc.guest_secs();
        rtc.last_period = rtc.period_index().unwrap_or(0);
        rtc
    }

    /// Fills the PC memory-size, equipment, century and boot bytes and the checksum. `below_4g` is RAM below the
    /// PCI hole (including the first MiB), `above_4g` RAM relocated above 4 GiB.
    pub fn set_pc_config(&mut self, below_4g: u64, above_4g: u64) {
        const KIB: u64 = 1024;
        const MIB: u64 = 1024 * KIB;
        let base_kib = (below_4g / KIB).min(640) as u16;
        self.set_u16(CMOS_BASE_MEM_LO, base_kib);
        let ext_kib = (below_4g.saturating_sub(MIB) / KIB).min(0xFFFF) as u16;
        self.set_u16(CMOS_EXT_MEM_LO, ext_kib);
        self.set_u16(CMOS_EXT_MEM2_LO, ext_kib);
        let above_16m = (below_4g.saturating_sub(16 * MIB) / (64 * KIB)).min(0xFFFF) as u16;
        self.set_u16(CMOS_MEM_ABOVE_16M_LO, above_16m);
        let high = (above_4g / (64 * KIB)).min(0xFF_FFFF);
        for i in 0..3u8 {
            self.cmos[usize::from(CMOS_MEM_ABOVE_4G_LO + i)] = (high >> (8 * i)) as u8;
        }
        self.cmos[usize::from(CMOS_FLOPPY)] = 0;
        // No floppy, math coprocessor present, PS/2 mouse, VGA display.
        self.cmos[usize::from(CMOS_EQUIPMENT)] = 0x06;
        self.cmos[usize::from(CMOS_BOOT_ORDER)] = 0x02;
        self.cmos[usize::from(CMOS_BOOT_FLAGS1)] = 0x01;
        self.refresh_time();
        self.update_checksum();
    }

    /// The RESET pin (a board reset): interrupt enables in register B and the flags in register C clear; time and
    /// NVRAM survive.
    pub fn reset(&mut self) {
        self.cmos[usize::from(REG_B)] &= !(REG_B_PIE | REG_B_AIE | REG_B_UIE | REG_B_SQWE);
        self.cmos[usize::from(REG_C)] = 0;
    }

    /// Reads a CMOS byte (for the board and tests; no side effects).
    pub fn cmos_byte(&self, index: u8) -> u8 {
        self.cmos[usize::from(index & 0x7F)]
    }

    /// Sets an NVRAM byte from the board (the checksum is not updated; see [`Rtc::update_checksum`]).
    pub fn set_cmos_byte(&mut self, index: u8, value: u8) {
        self.cmos[usize::from(index & 0x7F)] = value;
    }

    /// Recomputes the standard checksum at 0x2E/0x2F (big endian sum of 0x10-0x2D).
    pub fn update_checksum(&mut self) {
        let sum: u16 = self.cmos[0x10..=0x2D].iter().map(|&b| u16::from(b)).sum();
        self.set_u16_be(CMOS_CHECKSUM_HI, sum);
    }

    fn set_u16(&mut self, lo: u8, v: u16) {
        let [l, h] = v.to_le_bytes();
        self.cmos[usize::from(lo)] = l;
        self.cmos[usize::from(lo) + 1] = h;
    }

    fn set_u16_be(&mut self, hi: u8, v: u16) {
        let [h, l] = v.to_be_bytes();
        self.cmos[usize::from(hi)] = h;
        self.cmos[usize::from(hi) + 1] = l;
    }

    fn reg(&self, r: u8) -> u8 {
        self.cmos[usize::from(r)]
    }

    /// Guest time, seconds since the Unix epoch.
    fn guest_secs(&self) -> i64 {
        ((self.clock.wall_unix_ns() / NS_PER_SEC) as i64).saturating_add(self.offset_secs)
    }

    fn binary_mode(&self) -> bool {
        self.reg(REG_B) & REG_B_DM != 0
    }

    fn encode(&self, v: u8) -> u8 {
        if self.binary_mode() {
            v
        } else {
            ((v / 10) << 4) | (v % 10)
        }
    }

    fn decode(&self, v: u8) -> u8 {
        if self.binary_mode() {
            v
        } else {
            (v >> 4).wrapping_mul(10).wrapping_add(v & 0x0F)
        }
    }

    fn encode_hour(&self, h: u8) -> u8 {
        if self.reg(REG_B) & REG_B_24H != 0 {
            self.encode(h)
        } else {
            let pm = if h >= 12 { 0x80 } else { 0 };
            let h12 = match h % 12 {
                0 => 12,
                x => x,
            };
            self.encode(h12) | pm
        }
    }

    fn decode_hour(&self, v: u8) -> u8 {
        if self.reg(REG_B) & REG_B_24H != 0 {
            self.decode(v) % 24
        } else {
            let h = self.decode(v & 0x7F) % 12;
            if v & 0x80 != 0 {
                h + 12
            } else {
                h
            }
        }
    }

    /// Writes the current guest time into the time registers (unless SET halts updates).
    fn refresh_time(&mut self) {
        if self.reg(REG_B) & REG_B_SET != 0 {
            return;
        }
        let secs = self.guest_secs();
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let year = y.clamp(0, 9999);
        let weekday = (days + 4).rem_euclid(7) as u8 + 1;
        self.cmos[usize::from(REG_SECONDS)] = self.encode((sod % 60) as u8);
        self.cmos[usize::from(REG_MINUTES)] = self.encode((sod / 60 % 60) as u8);
        self.cmos[usize::from(REG_HOURS)] = self.encode_hour((sod / 3600) as u8);
        self.cmos[usize::from(REG_DAY_OF_WEEK)] = self.encode(weekday);
        self.cmos[usize::from(REG_DAY_OF_MONTH)] = self.encode(d);
        self.cmos[usize::from(REG_MONTH)] = self.encode(m);
        self.cmos[usize::from(REG_YEAR)] = self.encode((year % 100) as u8);
        self.cmos[usize::from(CMOS_CENTURY)] = self.encode((year / 100) as u8);
    }

    /// Takes the time registers as the new guest time.
    fn latch_guest_time(&mut self) {
        let year = i64::from(self.decode(self.reg(CMOS_CENTURY))) * 100
            + i64::from(self.decode(self.reg(REG_YEAR)));
        let month = self.decode(self.reg(REG_MONTH)).clamp(1, 12);
        let day = self.decode(self.reg(REG_DAY_OF_MONTH)).clamp(1, 31);
        let secs = days_from_civil(year, month, day) * 86_400
            + i64::from(self.decode_hour(self.reg(REG_HOURS))) * 3600
            + i64::from(self.decode(self.reg(REG_MINUTES))) * 60
            + i64::from(self.decode(self.reg(REG_SECONDS)));
        let wall = (self.clock.wall_unix_ns() / NS_PER_SEC) as i64;
        self.offset_secs = secs.saturating_sub(wall);
        self.last_update_sec = self.guest_secs();
    }

    /// Whether the divider chain runs (register A DV bits not in reset).
    fn oscillator_running(&self) -> bool {
        (self.reg(REG_A) >> 4) & 7 < 6
    }

    /// Period of the periodic interrupt in 32.768 kHz ticks, if a rate is selected.
    fn period_ticks(&self) -> Option<u64> {
        match self.reg(REG_A) & REG_A_RS {
            _ if !self.oscillator_running() => None,
            0 => None,
            1 => Some(128),
            2 => Some(256),
            r => Some(1 << (r - 1)),
        }
    }

    fn period_index(&self) -> Option<u64> {
        let ticks = u128::from(self.clock.now_ns()) * u128::from(RTC_HZ) / u128::from(NS_PER_SEC);
        Some((ticks / u128::from(self.period_ticks()?)) as u64)
    }

    /// Moves the flags in register C up to the clock's present time.
    pub fn update(&mut self) {
        if let Some(idx) = self.period_index() {
            if idx != self.last_period {
                self.last_period = idx;
                self.cmos[usize::from(REG_C)] |= REG_C_PF;
            }
        }
        let secs = self.guest_secs();
        if secs != self.last_update_sec
            && self.reg(REG_B) & REG_B_SET == 0
            && self.oscillator_running()
        {
            self.last_update_sec = secs;
            self.refresh_time();
            let mut c = REG_C_UF;
            let matches =
                |alarm: u8, now: u8| alarm & ALARM_DONT_CARE == ALARM_DONT_CARE || alarm == now;
            if matches(self.reg(REG_SECONDS_ALARM), self.reg(REG_SECONDS))
                && matches(self.reg(REG_MINUTES_ALARM), self.reg(REG_MINUTES))
                && matches(self.reg(REG_HOURS_ALARM), self.reg(REG_HOURS))
            {
                c |= REG_C_AF;
            }
            self.cmos[usize::from(REG_C)] |= c;
        }
        self.update_irqf();
    }

    fn update_irqf(&mut self) {
        let c = self.reg(REG_C);
        if c & self.reg(REG_B) & (REG_C_PF | REG_C_AF | REG_C_UF) != 0 {
            self.cmos[usize::from(REG_C)] = c | REG_C_IRQF;
        }
    }

    /// The IRQ8 output (active while IRQF is set, until register C is read).
    pub fn irq(&self) -> bool {
        self.reg(REG_C) & REG_C_IRQF != 0
    }

    /// Clock time (ns) at which [`Rtc::update`] will next raise an enabled interrupt flag.
    pub fn next_event_ns(&self) -> Option<u64> {
        let b = self.reg(REG_B);
        let mut next = None;
        if b & REG_B_PIE != 0 {
            if let (Some(p), Some(idx)) = (self.period_ticks(), self.period_index()) {
                let t = u128::from(idx + 1) * u128::from(p) * u128::from(NS_PER_SEC);
                next = Some(u64::try_from(t.div_ceil(u128::from(RTC_HZ))).unwrap_or(u64::MAX));
            }
        }
        if b & (REG_B_UIE | REG_B_AIE) != 0 && b & REG_B_SET == 0 {
            let now = self.clock.now_ns();
            let into_sec = self.clock.wall_unix_ns() % NS_PER_SEC;
            let t = now.saturating_add(NS_PER_SEC - into_sec);
            next = Some(next.map_or(t, |n: u64| n.min(t)));
        }
        next
    }

    fn read_data(&mut self) -> u8 {
        let i = self.index;
        match i {
            REG_SECONDS | REG_MINUTES | REG_HOURS | REG_DAY_OF_WEEK..=REG_YEAR | CMOS_CENTURY => {
                self.refresh_time();
                self.reg(i)
            }
            REG_A => {
                self.update();
                let into_sec = self.clock.wall_unix_ns() % NS_PER_SEC;
                let uip = self.reg(REG_B) & REG_B_SET == 0
                    && self.oscillator_running()
                    && into_sec >= NS_PER_SEC - UIP_NS;
                self.reg(REG_A) | if uip { REG_A_UIP } else { 0 }
            }
            REG_C => {
                self.update();
                let c = self.reg(REG_C);
                self.cmos[usize::from(REG_C)] = 0;
                c
            }
            _ => self.reg(i),
        }
    }

    fn write_data(&mut self, v: u8) {
        let i = self.index;
        match i {
            REG_SECONDS | REG_MINUTES | REG_HOURS | REG_DAY_OF_WEEK..=REG_YEAR | CMOS_CENTURY => {
                self.refresh_time();
                self.cmos[usize::from(i)] = v;
                if self.reg(REG_B) & REG_B_SET == 0 {
                    self.latch_guest_time();
                }
            }
            REG_A => {
                self.cmos[usize::from(REG_A)] = v & !REG_A_UIP;
                self.last_period = self.period_index().unwrap_or(0);
            }
            REG_B => {
                let old = self.reg(REG_B);
                if v & REG_B_SET != 0 && old & REG_B_SET == 0 {
                    self.refresh_time();
                }
                // Setting SET clears UIE.
                let v = if v & REG_B_SET != 0 {
                    v & !REG_B_UIE
                } else {
                    v
                };
                self.cmos[usize::from(REG_B)] = v;
                if v & REG_B_SET == 0 && old & REG_B_SET != 0 {
                    self.latch_guest_time();
                }
                self.update_irqf();
            }
            REG_C | REG_D => {}
            _ => self.cmos[usize::from(i)] = v,
        }
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// (year, month 1-12, day 1-31) to days since 1970-01-01, proleptic Gregorian.
fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let y = year - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl IoDevice for Rtc {
    fn io_read(&mut self, port: u16, _size: u8) -> u32 {
        match port {
            // The index register is write only; reads float.
            RTC_DATA => u32::from(self.read_data()),
            _ => OPEN_BUS,
        }
    }

    fn io_write(&mut self, port: u16, _size: u8, value: u32) {
        match port {
            RTC_INDEX => self.index = value as u8 & 0x7F,
            RTC_DATA => self.write_data(value as u8),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-03-09 13:45:56 UTC, a Saturday.
    const T0: u64 = 1_709_991_956;

    fn rtc() -> (Clock, Rtc) {
        let clock = Clock::virtual_time_at(T0);
        (clock.clone(), Rtc::new(clock))
    }

    fn read(rtc: &mut Rtc, r: u8) -> u8 {
        rtc.io_write(RTC_INDEX, 1, u32::from(r) | 0x80); // NMI-disable bit must not matter
        rtc.io_read(RTC_DATA, 1) as u8
    }

    fn write(rtc: &mut Rtc, r: u8, v: u8) {
        rtc.io_write(RTC_INDEX, 1, u32::from(r));
        rtc.io_write(RTC_DATA, 1, u32::from(v));
    }

    #[test]
    fn calendar_round_trips() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_791), (2024, 3, 9));
        assert_eq!(days_from_civil(2024, 3, 9), 19_791);
        assert_eq!(days_from_civil(2000, 2, 29), 11_016);
        for d in [-1000, 0, 11_016, 20_000, 100_000] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }

    #[test]
    fn bcd_and_binary_time() {
        let (_, mut rtc) = rtc();
        assert_eq!(read(&mut rtc, REG_SECONDS), 0x56);
        assert_eq!(read(&mut rtc, REG_MINUTES), 0x45);
        assert_eq!(read(&mut rtc, REG_HOURS), 0x13);
        assert_eq!(read(&mut rtc, REG_DAY_OF_WEEK), 7);
        assert_eq!(read(&mut rtc, REG_DAY_OF_MONTH), 0x09);
        assert_eq!(read(&mut rtc, REG_MONTH), 0x03);
        assert_eq!(read(&mut rtc, REG_YEAR), 0x24);
        assert_eq!(read(&mut rtc, CMOS_CENTURY), 0x20);
        write(&mut rtc, REG_B, REG_B_DM); // binary, 12-hour
        assert_eq!(read(&mut rtc, REG_SECONDS), 56);
        assert_eq!(read(&mut rtc, REG_HOURS), 0x80 | 1);
        assert_eq!(read(&mut rtc, REG_YEAR), 24);
        assert_eq!(read(&mut rtc, REG_D), REG_D_VRT);
    }

    #[test]
    fn guest_sets_time_with_set_bit() {
        let (clock, mut rtc) = rtc();
        write(&mut rtc, REG_B, REG_B_SET | REG_B_24H);
        write(&mut rtc, REG_HOURS, 0x08);
        write(&mut rtc, REG_MINUTES, 0x00);
        write(&mut rtc, REG_SECONDS, 0x00);
        write(&mut rtc, REG_YEAR, 0x99);
        write(&mut rtc, CMOS_CENTURY, 0x19);
        clock.advance_ns(5 * NS_PER_SEC);
        assert_eq!(read(&mut rtc, REG_SECONDS), 0x00, "frozen while SET");
        write(&mut rtc, REG_B, REG_B_24H);
        clock.advance_ns(3 * NS_PER_SEC);
        assert_eq!(read(&mut rtc, REG_SECONDS), 0x03);
        assert_eq!(read(&mut rtc, REG_HOURS), 0x08);
        assert_eq!(read(&mut rtc, REG_YEAR), 0x99);
        assert_eq!(read(&mut rtc, CMOS_CENTURY), 0x19);
    }

    #[test]
    fn periodic_interrupt_and_reg_c_clear_on_read() {
        let (clock, mut rtc) = rtc();
        write(&mut rtc, REG_A, 0x26); // 1024 Hz
        write(&mut rtc, REG_B, REG_B_24H | REG_B_PIE);
        let next = rtc.next_event_ns().unwrap();
        assert!(next > 0 && next <= 976_563, "{next}");
        rtc.update();
        assert!(!rtc.irq());
        clock.advance_to_ns(next);
        rtc.update();
        assert!(rtc.irq());
        assert_eq!(read(&mut rtc, REG_C), REG_C_IRQF | REG_C_PF);
        assert!(!rtc.irq());
        assert_eq!(read(&mut rtc, REG_C), 0);
        // PF without PIE sets no IRQF.
        write(&mut rtc, REG_B, REG_B_24H);
        clock.advance_ns(2_000_000);
        assert_eq!(read(&mut rtc, REG_C), REG_C_PF);
    }

    #[test]
    fn update_ended_and_alarm_flags() {
        let (clock, mut rtc) = rtc();
        write(&mut rtc, REG_A, 0x20); // no periodic flag in the way
        write(&mut rtc, REG_SECONDS_ALARM, 0x57);
        write(&mut rtc, REG_MINUTES_ALARM, 0xC0);
        write(&mut rtc, REG_HOURS_ALARM, 0xFF);
        write(&mut rtc, REG_B, REG_B_24H | REG_B_AIE);
        assert_eq!(rtc.next_event_ns(), Some(NS_PER_SEC));
        clock.advance_ns(NS_PER_SEC);
        rtc.update();
        assert!(rtc.irq());
        assert_eq!(read(&mut rtc, REG_C), REG_C_IRQF | REG_C_AF | REG_C_UF);
        clock.advance_ns(NS_PER_SEC);
        assert_eq!(
            read(&mut rtc, REG_C),
            REG_C_UF,
            "alarm does not match 13:45:58"
        );
    }

    #[test]
    fn uip_just_before_the_second() {
        let (clock, mut rtc) = rtc();
        assert_eq!(read(&mut rtc, REG_A) & REG_A_UIP, 0);
        clock.advance_ns(NS_PER_SEC - 100_000);
        assert_eq!(read(&mut rtc, REG_A), 0x26 | REG_A_UIP);
    }

    #[test]
    fn memory_size_bytes_and_checksum() {
        let (_, mut rtc) = self::rtc();
        rtc.set_pc_config(0xC000_0000, 0x4000_0000);
        assert_eq!(read(&mut rtc, CMOS_BASE_MEM_LO), 0x80);
        assert_eq!(read(&mut rtc, CMOS_BASE_MEM_LO + 1), 0x02);
        assert_eq!(read(&mut rtc, CMOS_EXT_MEM_LO), 0xFF);
        assert_eq!(read(&mut rtc, CMOS_EXT_MEM_LO + 1), 0xFF);
        assert_eq!(read(&mut rtc, CMOS_EXT_MEM2_LO + 1), 0xFF);
        // (3 GiB - 16 MiB) / 64 KiB = 0xBF00.
        assert_eq!(read(&mut rtc, CMOS_MEM_ABOVE_16M_LO), 0x00);
        assert_eq!(read(&mut rtc, CMOS_MEM_ABOVE_16M_LO + 1), 0xBF);
        // 1 GiB / 64 KiB = 0x4000.
        assert_eq!(read(&mut rtc, CMOS_MEM_ABOVE_4G_LO), 0x00);
        assert_eq!(read(&mut rtc, CMOS_MEM_ABOVE_4G_LO + 1), 0x40);
        assert_eq!(read(&mut rtc, CMOS_MEM_ABOVE_4G_LO + 2), 0x00);
        assert_eq!(read(&mut rtc, CMOS_FLOPPY), 0);
        assert_eq!(read(&mut rtc, CMOS_EQUIPMENT), 0x06);
        let sum: u16 = (0x10..=0x2D).map(|i| u16::from(rtc.cmos_byte(i))).sum();
        assert_eq!(
            u16::from(read(&mut rtc, CMOS_CHECKSUM_HI)) << 8 | u16::from(read(&mut rtc, 0x2F)),
            sum
        );

        let (_, mut small) = self::rtc();
        small.set_pc_config(32 << 20, 0);
        assert_eq!(small.cmos_byte(CMOS_EXT_MEM_LO), 0x00); // 31 MiB = 31744 KiB = 0x7C00
        assert_eq!(small.cmos_byte(CMOS_EXT_MEM_LO + 1), 0x7C);
        assert_eq!(small.cmos_byte(CMOS_MEM_ABOVE_16M_LO + 1), 0x01); // 16 MiB / 64 KiB = 0x100
    }

    #[test]
    fn nvram_and_read_only_registers() {
        let (_, mut rtc) = rtc();
        write(&mut rtc, 0x50, 0xA5);
        write(&mut rtc, 0x7F, 0x5A);
        write(&mut rtc, REG_D, 0x00);
        assert_eq!(read(&mut rtc, 0x50), 0xA5);
        assert_eq!(read(&mut rtc, 0x7F), 0x5A);
        assert_eq!(read(&mut rtc, REG_D), REG_D_VRT);
        assert_eq!(rtc.io_read(RTC_INDEX, 1), OPEN_BUS);
    }
}
