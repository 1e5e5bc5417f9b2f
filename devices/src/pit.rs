//! Intel 8254 programmable interval timer at 0x40-0x43, and system control port B at 0x61 (channel 2's gate, the
//! speaker enable, OUT2 and the refresh toggle), which is the 8254's wiring on a PC.
//!
//! Counters are not stepped: each channel remembers the clock tick at which it started counting and its value is
//! computed from [`Clock::now_ns`] at 1 193 182 Hz when the guest reads it.

use crate::bus::{IoDevice, OPEN_BUS};
use crate::clock::Clock;

/// Channel 0 counter (drives IRQ0).
pub const PIT_CHANNEL0: u16 = 0x40;
/// Channel 1 counter (DRAM refresh on old PCs).
pub const PIT_CHANNEL1: u16 = 0x41;
/// Channel 2 counter (speaker; gate and output through port 0x61).
pub const PIT_CHANNEL2: u16 = 0x42;
/// Mode/command register (write only).
pub const PIT_MODE: u16 = 0x43;
/// System control port B.
pub const SYSTEM_CONTROL_B: u16 = 0x61;
/// Input clock of the counters, in Hz.
pub const PIT_HZ: u64 = 1_193_182;

/// Port 0x61: timer 2 gate.
pub const PORT61_TIMER2_GATE: u8 = 0x01;
/// Port 0x61: speaker data enable.
pub const PORT61_SPEAKER_ENABLE: u8 = 0x02;
/// Port 0x61: refresh request toggle (read only).
pub const PORT61_REFRESH: u8 = 0x10;
/// Port 0x61: timer 2 output (read only).
pub const PORT61_OUT2: u8 = 0x20;
/// Port 0x61: bits the guest can write (gate, speaker, parity/IOCHK check enables).
const PORT61_WRITABLE: u8 = 0x0F;

/// Control word: select counter (bits 7-6); 3 is the read-back command.
const CW_SC_SHIFT: u8 = 6;
/// Control word: read/write mode (bits 5-4); 0 is the counter latch command.
const CW_RW_SHIFT: u8 = 4;
/// Control word: BCD counting.
const CW_BCD: u8 = 0x01;
/// Read-back: do not latch count (active low COUNT).
const RB_NOT_COUNT: u8 = 0x20;
/// Read-back: do not latch status (active low STATUS).
const RB_NOT_STATUS: u8 = 0x10;
/// Status byte: OUT pin.
const STATUS_OUT: u8 = 0x80;
/// Status byte: null count (a count was written but not yet loaded).
const STATUS_NULL_COUNT: u8 = 0x40;

/// Read/write access mode of a counter (control word RW field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Least significant byte only.
    Lsb = 1,
    /// Most significant byte only.
    Msb = 2,
    /// LSB then MSB.
    Word = 3,
}

/// One 8254 counter.
#[derive(Debug, Clone)]
struct Channel {
    /// Counting mode 0-5.
    mode: u8,
    /// Access mode.
    access: Access,
    /// BCD counting (4 decades).
    bcd: bool,
    /// Initial count as a binary number, 1..=65536 (or 1..=10000 in BCD).
    count: u64,
    /// Tick at which the current count started.
    load_tick: u64,
    /// A count has been loaded since the last control word (or the gate triggered modes 1/5).
    counting: bool,
    /// Gate input level.
    gate: bool,
    /// Tick at which the gate went low while counting (counting is suspended), if it is low.
    paused_at: Option<u64>,
    /// Latched count still to be read (value, whether the MSB is next for a Word latch).
    latched_count: Option<(u16, bool)>,
    /// Latched status byte still to be read.
    latched_status: Option<u8>,
    /// For Word access: the next read returns the MSB.
    read_msb_next: bool,
    /// For Word access: the LSB written first, waiting for its MSB.
    write_lsb: Option<u8>,
    /// A count was written but has not started yet (status bit 6).
    null_count: bool,
    /// Output level when no count is running (after a control word: low in mode 0, high otherwise).
    idle_out: bool,
    /// IRQ0 edge bookkeeping: periods (modes 2/3) or terminal counts (modes 0/4) already reported.
    reported: u64,
}

impl Channel {
    fn new(gate: bool) -> Self {
        Self {
            mode: 0,
            access: Access::Word,
            bcd: false,
            count: 0x1_0000,
            load_tick: 0,
            counting: false,
            gate,
            paused_at: None,
            latched_count: None,
            latched_status: None,
            read_msb_next: false,
            write_lsb: None,
            null_count: false,
            idle_out: false,
            reported: 0,
        }
    }

    fn modulus(&self) -> u64 {
        if self.bcd {
            10_000
        } else {
            0x1_0000
        }
    }

    /// Ticks counted so far, or None if not counting.
    fn elapsed(&self, now: u64) -> Option<u64> {
        if !self.counting {
            return None;
        }
        let end = self.paused_at.unwrap_or(now);
        Some(end.saturating_sub(self.load_tick))
    }

    /// The counting element's value now (binary).
    fn counter(&self, now: u64) -> u64 {
        let n = self.count.max(1);
        let Some(t) = self.elapsed(now) else {
            return n % self.modulus();
        };
        let m = self.modulus();
        let v = match self.mode {
            2 => n - t % n,
            3 => {
                let d = t % n;
                // Decrements by two per tick; an odd count loses one on reload.
                let half = n.div_ceil(2).max(1);
                n - 2 * (d % half)
            }
            _ => (n + m - t % m) % m,
        };
        v % m
    }

    /// The OUT pin now.
    fn out(&self, now: u64) -> bool {
        let n = self.count.max(1);
        let Some(t) = self.elapsed(now) else {
            return self.idle_out;
        };
        if matches!(self.mode, 2 | 3) && !self.gate {
            return true;
        }
        match self.mode {
            0 | 1 => t >= n,
            2 => t % n != n - 1,
            3 => t % n < n.div_ceil(2),
            _ => t != n, // 4, 5: one tick low at terminal count
        }
    }

    /// Whether OUT had a new rising edge since the last call (used for channel 0 -> IRQ0).
    fn take_rising_edge(&mut self, now: u64) -> bool {
        let Some(t) = self.elapsed(now) else {
            return false;
        };
        let n = self.count.max(1);
        let edges = match self.mode {
            2 | 3 => t / n,
            0 => u64::from(t >= n),
            4 => u64::from(t > n),
            _ => 0,
        };
        if edges > self.reported {
            self.reported = edges;
            true
        } else {
            false
        }
    }

    /// The tick of the next rising edge of OUT, if one is coming without guest action.
    fn next_rising_edge(&self) -> Option<u64> {
        if !self.counting || self.paused_at.is_some() {
            return None;
        }
        let n = self.count.max(1);
        let rel = match self.mode {
            2 | 3 => self.reported.saturating_add(1).saturating_mul(n),
            0 if self.reported == 0 => n,
            4 if self.reported == 0 => n + 1,
            _ => return None,
        };
        Some(self.load_tick.saturating_add(rel))
    }

    fn status(&self, now: u64) -> u8 {
        let mut s = (self.access as u8) << CW_RW_SHIFT | self.mode << 1 | u8::from(self.bcd);
        if self.out(now) {
            s |= STATUS_OUT;
        }
        if self.null_count {
            s |= STATUS_NULL_COUNT;
        }
        s
    }

    fn latch_count(&mut self, now: u64) {
        if self.latched_count.is_none() {
            let v = self.counter(now);
            let v = if self.bcd { to_bcd(v) } else { v as u16 };
            self.latched_count = Some((v, false));
        }
    }

    fn control(&mut self, cw: u8, now: u64) {
        let rw = (cw >> CW_RW_SHIFT) & 3;
        if rw == 0 {
            self.latch_count(now);
            return;
        }
        self.access = match rw {
            1 => Access::Lsb,
            2 => Access::Msb,
            _ => Access::Word,
        };
        let mode = (cw >> 1) & 7;
        self.mode = if mode >= 6 { mode - 4 } else { mode };
        self.bcd = cw & CW_BCD != 0;
        self.counting = false;
        self.paused_at = None;
        self.latched_count = None;
        self.latched_status = None;
        self.read_msb_next = false;
        self.write_lsb = None;
        self.null_count = true;
        self.idle_out = self.mode != 0;
    }

    fn write(&mut self, val: u8, now: u64) {
        let raw = match self.access {
            Access::Lsb => u16::from(val),
            Access::Msb => u16::from(val) << 8,
            Access::Word => match self.write_lsb.take() {
                None => {
                    self.write_lsb = Some(val);
                    if self.mode == 0 {
                        // Writing the first byte stops a mode 0 count and drives OUT low.
                        self.counting = false;
                        self.idle_out = false;
                    }
                    return;
                }
                Some(lsb) => u16::from(lsb) | u16::from(val) << 8,
            },
        };
        self.load(raw, now);
    }

    fn load(&mut self, raw: u16, now: u64) {
        let value = if self.bcd {
            from_bcd(raw)
        } else {
            u64::from(raw)
        };
        self.count = if value == 0 { self.modulus() } else { value };
        self.null_count = false;
        self.reported = 0;
        self.load_tick = now;
        // Modes 1 and 5 wait for a gate trigger; the others count at once (suspended while the gate is low).
        self.counting = !matches!(self.mode, 1 | 5);
        self.paused_at = (self.counting && !self.gate).then_some(now);
    }

    fn set_gate(&mut self, gate: bool, now: u64) {
        if gate == self.gate {
            return;
        }
        self.gate = gate;
        if gate {
            match self.mode {
                1 | 5 if !self.null_count => {
                    self.counting = true;
                    self.load_tick = now;
                    self.reported = 0;
                }
                2 | 3 if self.counting => {
                    self.load_tick = now;
                    self.reported = 0;
                }
                _ => {
                    if let Some(p) = self.paused_at {
                        self.load_tick = self.load_tick.saturating_add(now.saturating_sub(p));
                    }
                }
            }
            self.paused_at = None;
        } else if self.counting && !matches!(self.mode, 1 | 5) {
            self.paused_at = Some(now);
        }
    }

    fn read(&mut self, now: u64) -> u8 {
        if let Some(s) = self.latched_status.take() {
            return s;
        }
        if let Some((v, msb_next)) = self.latched_count {
            let [lo, hi] = v.to_le_bytes();
            return match self.access {
                Access::Lsb => {
                    self.latched_count = None;
                    lo
                }
                Access::Msb => {
                    self.latched_count = None;
                    hi
                }
                Access::Word if !msb_next => {
                    self.latched_count = Some((v, true));
                    lo
                }
                Access::Word => {
                    self.latched_count = None;
                    hi
                }
            };
        }
        let v = self.counter(now);
        let v = if self.bcd { to_bcd(v) } else { v as u16 };
        let [lo, hi] = v.to_le_bytes();
        match self.access {
            Access::Lsb => lo,
            Access::Msb => hi,
            Access::Word => {
                self.read_msb_next = !self.read_msb_next;
                if self.read_msb_next {
                    lo
                } else {
                    hi
                }
            }
        }
    }
}

/// Binary 0..=9999 to packed BCD.
fn to_bcd(v: u64) -> u16 {
    let v = v % 10_000;
    (((v / 1000) << 12) | ((v / 100 % 10) << 8) | ((v / 10 % 10) << 4) | (v % 10)) as u16
}

/// Packed BCD to binary (nibbles above 9 are taken at face value, as the counter would).
fn from_bcd(v: u16) -> u64 {
    let d = |s: u16| u64::from((v >> s) & 0xF);
    d(12) * 1000 + d(8) * 100 + d(4) * 10 + d(0)
}

/// The 8254 with its three channels and port 0x61.
#[derive(Debug, Clone)]
pub struct Pit {
    /// Time source.
    clock: Clock,
    /// Counters 0-2.
    channels: [Channel; 3],
    /// Writable bits of port 0x61.
    port61: u8,
    /// Refresh toggle reported in port 0x61 bit 4; flips on every read so that delay loops waiting for it always
    /// progress, whatever the clock does.
    refresh: bool,
}

impl Pit {
    /// A PIT in power-on state (no count loaded, channel 2 gate low).
    pub fn new(clock: Clock) -> Self {
        Self {
            clock,
            channels: [Channel::new(true), Channel::new(true), Channel::new(false)],
            port61: 0,
            refresh: false,
        }
    }

    /// Current time in PIT ticks.
    fn now_tick(&self) -> u64 {
        (u128::from(self.clock.now_ns()) * u128::from(PIT_HZ) / 1_000_000_000) as u64
    }

    /// Clock time in ns at which tick `tick` begins.
    fn tick_to_ns(tick: u64) -> u64 {
        let ns = (u128::from(tick) * 1_000_000_000).div_ceil(u128::from(PIT_HZ));
        u64::try_from(ns).unwrap_or(u64::MAX)
    }

    /// Whether channel 0's OUT has had a rising edge since the last call: the board pulses IRQ0 when it has.
    /// However many periods went by, one edge is reported (missed ticks are lost, as on a busy real PIC).
    pub fn take_irq0_edge(&mut self) -> bool {
        let now = self.now_tick();
        self.channels[0].take_rising_edge(now)
    }

    /// Clock time (ns) of channel 0's next rising edge, if one is coming.
    pub fn next_irq0_ns(&self) -> Option<u64> {
        self.channels[0].next_rising_edge().map(Self::tick_to_ns)
    }

    /// Channel 2's OUT pin (also port 0x61 bit 5).
    pub fn out2(&self) -> bool {
        self.channels[2].out(self.now_tick())
    }

    fn read_port61(&mut self) -> u8 {
        self.refresh = !self.refresh;
        let mut v = self.port61;
        if self.refresh {
            v |= PORT61_REFRESH;
        }
        if self.out2() {
            v |= PORT61_OUT2;
        }
        v
    }

    fn write_port61(&mut self, val: u8) {
        self.port61 = val & PORT61_WRITABLE;
        let now = self.now_tick();
        self.channels[2].set_gate(val & PORT61_TIMER2_GATE != 0, now);
    }

    fn write_mode(&mut self, cw: u8) {
        let now = self.now_tick();
        let sc = cw >> CW_SC_SHIFT;
        if sc == 3 {
            for (i, ch) in self.channels.iter_mut().enumerate() {
                if cw & (2 << i) == 0 {
                    continue;
                }
                if cw & RB_NOT_COUNT == 0 {
                    ch.latch_count(now);
                }
                if cw & RB_NOT_STATUS == 0 && ch.latched_status.is_none() {
                    ch.latched_status = Some(ch.status(now));
                }
            }
        } else if let Some(ch) = self.channels.get_mut(usize::from(sc)) {
            ch.control(cw, now);
        }
    }
}

impl IoDevice for Pit {
    fn io_read(&mut self, port: u16, _size: u8) -> u32 {
        let now = self.now_tick();
        match port {
            PIT_CHANNEL0..=PIT_CHANNEL2 => {
                let i = usize::from(port - PIT_CHANNEL0);
                self.channels
                    .get_mut(i)
                    .map_or(OPEN_BUS, |ch| u32::from(ch.read(now)))
            }
            SYSTEM_CONTROL_B => u32::from(self.read_port61()),
            _ => OPEN_BUS, // including 0x43, which cannot be read
        }
    }

    fn io_write(&mut self, port: u16, _size: u8, value: u32) {
        let v = value as u8;
        let now = self.now_tick();
        match port {
            PIT_CHANNEL0..=PIT_CHANNEL2 => {
                if let Some(ch) = self.channels.get_mut(usize::from(port - PIT_CHANNEL0)) {
                    ch.write(v, now);
                }
            }
            PIT_MODE => self.write_mode(v),
            SYSTEM_CONTROL_B => self.write_port61(v),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nanoseconds of `ticks` PIT ticks, rounded up so the clock lands inside the tick.
    fn ns(ticks: u64) -> u64 {
        Pit::tick_to_ns(ticks)
    }

    fn read16(pit: &mut Pit, port: u16) -> u16 {
        let lo = pit.io_read(port, 1) as u16;
        let hi = pit.io_read(port, 1) as u16;
        lo | hi << 8
    }

    fn setup(cw: u8, count: u16) -> (Clock, Pit) {
        let clock = Clock::virtual_time();
        let mut pit = Pit::new(clock.clone());
        pit.io_write(PIT_MODE, 1, u32::from(cw));
        pit.io_write(PIT_CHANNEL0, 1, u32::from(count & 0xFF));
        pit.io_write(PIT_CHANNEL0, 1, u32::from(count >> 8));
        (clock, pit)
    }

    #[test]
    fn mode2_rate_generator_counts_and_pulses_irq0() {
        let (clock, mut pit) = setup(0x34, 1000);
        assert_eq!(read16(&mut pit, PIT_CHANNEL0), 1000);
        assert!(!pit.take_irq0_edge());
        assert_eq!(pit.next_irq0_ns(), Some(ns(1000)));
        clock.advance_to_ns(ns(250));
        assert_eq!(read16(&mut pit, PIT_CHANNEL0), 750);
        clock.advance_to_ns(ns(1000));
        assert!(pit.take_irq0_edge());
        assert!(!pit.take_irq0_edge(), "one edge per period");
        assert_eq!(read16(&mut pit, PIT_CHANNEL0), 1000, "reloaded");
        assert_eq!(pit.next_irq0_ns(), Some(ns(2000)));
        clock.advance_to_ns(ns(5500));
        assert!(pit.take_irq0_edge());
        assert_eq!(read16(&mut pit, PIT_CHANNEL0), 500);
    }

    #[test]
    fn mode3_square_wave_counts_by_two() {
        let (clock, mut pit) = setup(0x36, 100);
        clock.advance_to_ns(ns(10));
        assert_eq!(read16(&mut pit, PIT_CHANNEL0), 80);
        // Read-back the status: OUT high in the first half.
        pit.io_write(PIT_MODE, 1, 0xE2);
        assert_eq!(pit.io_read(PIT_CHANNEL0, 1), 0x80 | 0x30 | 0x06);
        clock.advance_to_ns(ns(60));
        pit.io_write(PIT_MODE, 1, 0xE2);
        assert_eq!(
            pit.io_read(PIT_CHANNEL0, 1) & 0x80,
            0,
            "OUT low in the second half"
        );
        clock.advance_to_ns(ns(100));
        assert!(pit.take_irq0_edge());
    }

    #[test]
    fn mode0_interrupt_on_terminal_count_once() {
        let (clock, mut pit) = setup(0x30, 500);
        pit.io_write(PIT_MODE, 1, 0xE2);
        assert_eq!(
            pit.io_read(PIT_CHANNEL0, 1) & 0x80,
            0,
            "OUT low while counting"
        );
        clock.advance_to_ns(ns(499));
        assert!(!pit.take_irq0_edge());
        assert_eq!(read16(&mut pit, PIT_CHANNEL0), 1);
        clock.advance_to_ns(ns(500));
        assert!(pit.take_irq0_edge());
        assert_eq!(pit.next_irq0_ns(), None);
        clock.advance_to_ns(ns(600));
        assert!(!pit.take_irq0_edge());
        assert_eq!(
            read16(&mut pit, PIT_CHANNEL0),
            0xFFFF - 99,
            "wraps after terminal count"
        );
    }

    #[test]
    fn latch_command_freezes_value_and_lobyte_hibyte_access() {
        let (clock, mut pit) = setup(0x34, 0x1234);
        clock.advance_to_ns(ns(0x34));
        pit.io_write(PIT_MODE, 1, 0x00);
        clock.advance_to_ns(ns(0x100));
        assert_eq!(read16(&mut pit, PIT_CHANNEL0), 0x1200);
        assert_eq!(
            read16(&mut pit, PIT_CHANNEL0),
            0x1234 - 0x100,
            "latch released after both bytes"
        );
        // Lobyte-only access on channel 1, hibyte-only on channel 2.
        pit.io_write(PIT_MODE, 1, 0x54);
        pit.io_write(PIT_CHANNEL1, 1, 0x80);
        assert_eq!(pit.io_read(PIT_CHANNEL1, 1), 0x80);
        assert_eq!(pit.io_read(PIT_CHANNEL1, 1), 0x80);
        pit.io_write(PIT_MODE, 1, 0xA4);
        pit.io_write(PIT_CHANNEL2, 1, 0x02);
        pit.io_write(PIT_MODE, 1, 0xD8); // read-back count of channel 2
        assert_eq!(pit.io_read(PIT_CHANNEL2, 1), 0x02);
    }

    #[test]
    fn bcd_counting() {
        let (clock, mut pit) = setup(0x35, 0x1000); // mode 2, BCD 1000
        clock.advance_to_ns(ns(1));
        assert_eq!(read16(&mut pit, PIT_CHANNEL0), 0x0999);
    }

    #[test]
    fn port61_gate_out2_and_refresh_toggle() {
        let clock = Clock::virtual_time();
        let mut pit = Pit::new(clock.clone());
        // The classic calibration: gate off, mode 0 count, gate on, wait for OUT2.
        pit.io_write(SYSTEM_CONTROL_B, 1, 0x00);
        pit.io_write(PIT_MODE, 1, 0xB0);
        pit.io_write(PIT_CHANNEL2, 1, 100);
        pit.io_write(PIT_CHANNEL2, 1, 0);
        clock.advance_to_ns(ns(500));
        assert_eq!(
            read16(&mut pit, PIT_CHANNEL2),
            100,
            "gate low: not counting"
        );
        pit.io_write(SYSTEM_CONTROL_B, 1, 0x03);
        let a = pit.io_read(SYSTEM_CONTROL_B, 1);
        let b = pit.io_read(SYSTEM_CONTROL_B, 1);
        assert_eq!(a & 0x03, 0x03);
        assert_eq!(a & u32::from(PORT61_OUT2), 0);
        assert_ne!(a & 0x10, b & 0x10, "refresh bit toggles");
        clock.advance_to_ns(ns(600));
        assert_ne!(pit.io_read(SYSTEM_CONTROL_B, 1) & u32::from(PORT61_OUT2), 0);
        assert!(pit.out2());
        assert_eq!(pit.io_read(PIT_MODE, 1), OPEN_BUS);
    }

    #[test]
    fn mode1_one_shot_triggered_by_gate() {
        let clock = Clock::virtual_time();
        let mut pit = Pit::new(clock.clone());
        pit.io_write(PIT_MODE, 1, 0xB2);
        pit.io_write(PIT_CHANNEL2, 1, 10);
        pit.io_write(PIT_CHANNEL2, 1, 0);
        assert!(pit.out2());
        pit.io_write(SYSTEM_CONTROL_B, 1, 0x01);
        assert!(!pit.out2());
        clock.advance_to_ns(ns(10));
        assert!(pit.out2());
    }
}
