//! A PS/2 mouse, as it sits behind the i8042's auxiliary port: the standard command set (reset, identify, sample
//! rate, resolution, scaling, status, stream and remote modes, wrap mode) with the IntelliMouse sample-rate knock
//! (200, 100, 80) that turns its ID into 3 and its packets into four bytes.
//!
//! The mouse knows nothing of the controller: bytes the host sends arrive through [`Ps2Mouse::write`], and what the
//! mouse answers or reports waits in its own queue for the controller to take with [`Ps2Mouse::pop`]. Movement
//! accumulates and becomes a packet only when the queue has room for a whole one, so a fast pointer never overflows
//! the queue: it coalesces, as a real mouse's counters do between two reports.

use std::collections::VecDeque;

/// Acknowledge.
const ACK: u8 = 0xFA;
/// Resend (an unknown command).
const RESEND: u8 = 0xFE;
/// Basic assurance test passed (after a reset).
const BAT_OK: u8 = 0xAA;

/// Command: set scaling 1:1.
const CMD_SCALING_1_1: u8 = 0xE6;
/// Command: set scaling 2:1.
const CMD_SCALING_2_1: u8 = 0xE7;
/// Command: set resolution (one parameter byte, 0-3: 1, 2, 4, 8 counts/mm).
const CMD_SET_RESOLUTION: u8 = 0xE8;
/// Command: status request (three bytes follow the ACK).
const CMD_STATUS: u8 = 0xE9;
/// Command: set stream mode.
const CMD_STREAM_MODE: u8 = 0xEA;
/// Command: read data (one packet, in any mode).
const CMD_READ_DATA: u8 = 0xEB;
/// Command: leave wrap mode.
const CMD_RESET_WRAP: u8 = 0xEC;
/// Command: enter wrap mode (every byte is echoed).
const CMD_WRAP_MODE: u8 = 0xEE;
/// Command: set remote mode.
const CMD_REMOTE_MODE: u8 = 0xF0;
/// Command: get device ID.
const CMD_GET_ID: u8 = 0xF2;
/// Command: set sample rate (one parameter byte).
const CMD_SET_RATE: u8 = 0xF3;
/// Command: enable data reporting.
const CMD_ENABLE: u8 = 0xF4;
/// Command: disable data reporting.
const CMD_DISABLE: u8 = 0xF5;
/// Command: set defaults.
const CMD_SET_DEFAULTS: u8 = 0xF6;
/// Command: resend the last byte.
const CMD_RESEND: u8 = 0xFE;
/// Command: reset.
const CMD_RESET: u8 = 0xFF;

/// Packet byte 0: left button.
pub const PACKET_LEFT: u8 = 0x01;
/// Packet byte 0: right button.
pub const PACKET_RIGHT: u8 = 0x02;
/// Packet byte 0: middle button.
pub const PACKET_MIDDLE: u8 = 0x04;
/// Packet byte 0: always one.
pub const PACKET_ALWAYS_1: u8 = 0x08;
/// Packet byte 0: X movement is negative (bit 8 of the 9-bit value).
pub const PACKET_X_SIGN: u8 = 0x10;
/// Packet byte 0: Y movement is negative.
pub const PACKET_Y_SIGN: u8 = 0x20;
/// Packet byte 0: X movement overflowed.
pub const PACKET_X_OVERFLOW: u8 = 0x40;
/// Packet byte 0: Y movement overflowed.
pub const PACKET_Y_OVERFLOW: u8 = 0x80;

/// Status byte 0: remote mode.
const STATUS_REMOTE: u8 = 0x40;
/// Status byte 0: data reporting enabled.
const STATUS_ENABLED: u8 = 0x20;
/// Status byte 0: scaling 2:1.
const STATUS_SCALING_2_1: u8 = 0x10;
/// Status byte 0: left button.
const STATUS_LEFT: u8 = 0x04;
/// Status byte 0: middle button.
const STATUS_MIDDLE: u8 = 0x02;
/// Status byte 0: right button.
const STATUS_RIGHT: u8 = 0x01;

/// ID of a standard PS/2 mouse.
pub const ID_STANDARD: u8 = 0x00;
/// ID of an IntelliMouse (wheel, four-byte packets).
pub const ID_INTELLIMOUSE: u8 = 0x03;
/// The sample rates that, set in this order, turn a mouse into an IntelliMouse.
const INTELLIMOUSE_KNOCK: [u8; 3] = [200, 100, 80];
/// Default sample rate (reports per second).
const DEFAULT_RATE: u8 = 100;
/// Default resolution (2: 4 counts/mm).
const DEFAULT_RESOLUTION: u8 = 2;
/// Most bytes the mouse queues.
const QUEUE_LEN: usize = 16;
/// The range one packet's 9-bit two's-complement movement can carry.
const PACKET_RANGE: std::ops::RangeInclusive<i32> = -256..=255;

/// The PS/2 mouse.
#[derive(Debug, Clone)]
pub struct Ps2Mouse {
    /// Bytes waiting for the controller.
    out: VecDeque<u8>,
    /// A command waiting for its parameter byte.
    pending: Option<u8>,
    /// The last byte sent (for the resend command).
    last_sent: u8,
    /// Data reporting on (stream mode sends packets).
    reporting: bool,
    /// Remote mode: packets only on [`CMD_READ_DATA`].
    remote: bool,
    /// Wrap mode: every byte is echoed.
    wrap: bool,
    /// Scaling 2:1.
    scaling_2_1: bool,
    /// Resolution code (0-3).
    resolution: u8,
    /// Sample rate.
    rate: u8,
    /// The last three sample rates set, oldest first (for the IntelliMouse knock).
    rates: [u8; 3],
    /// Device ID: [`ID_STANDARD`] or [`ID_INTELLIMOUSE`].
    id: u8,
    /// Movement not yet reported (dy positive upwards, as the mouse counts it).
    dx: i32,
    /// Vertical movement not yet reported, positive upwards.
    dy: i32,
    /// Buttons held, in packet bits ([`PACKET_LEFT`], [`PACKET_RIGHT`], [`PACKET_MIDDLE`]).
    buttons: u8,
    /// The buttons changed since the last packet.
    buttons_changed: bool,
}

impl Default for Ps2Mouse {
    fn default() -> Self {
        Self::new()
    }
}

impl Ps2Mouse {
    /// A mouse after power-on: stream mode, reporting off, 100 samples/s, 4 counts/mm, ID 0.
    pub fn new() -> Self {
        Ps2Mouse {
            out: VecDeque::new(),
            pending: None,
            last_sent: 0,
            reporting: false,
            remote: false,
            wrap: false,
            scaling_2_1: false,
            resolution: DEFAULT_RESOLUTION,
            rate: DEFAULT_RATE,
            rates: [0; 3],
            id: ID_STANDARD,
            dx: 0,
            dy: 0,
            buttons: 0,
            buttons_changed: false,
        }
    }

    /// The next byte for the controller, if any; a drained queue makes room for a packet of pending movement.
    pub fn pop(&mut self) -> Option<u8> {
        let b = self.out.pop_front();
        if self.out.is_empty() {
            self.report();
        }
        if let Some(b) = b {
            self.last_sent = b;
        }
        b
    }

    /// The pointer moved by (`dx`, `dy`) (`dy` positive downwards, as on a screen) with `buttons` held (bit 0 left,
    /// bit 1 right, bit 2 middle, as in [`crate::InputEvent::Pointer`]).
    pub fn motion(&mut self, dx: i32, dy: i32, buttons: u8) {
        let buttons = buttons & (PACKET_LEFT | PACKET_RIGHT | PACKET_MIDDLE);
        self.dx = self.dx.saturating_add(dx);
        self.dy = self.dy.saturating_sub(dy);
        self.buttons_changed |= buttons != self.buttons;
        self.buttons = buttons;
        self.report();
    }

    /// In stream mode with reporting on, queues a packet of what changed if a whole packet fits.
    fn report(&mut self) {
        let changed = self.dx != 0 || self.dy != 0 || self.buttons_changed;
        if self.reporting && !self.remote && !self.wrap && changed {
            self.queue_packet();
        }
    }

    /// Queues one movement packet if it fits, taking at most one packet's worth of movement.
    fn queue_packet(&mut self) {
        let len = if self.id == ID_INTELLIMOUSE { 4 } else { 3 };
        if self.out.len() + len > QUEUE_LEN {
            return;
        }
        let dx = self.dx.clamp(*PACKET_RANGE.start(), *PACKET_RANGE.end());
        let dy = self.dy.clamp(*PACKET_RANGE.start(), *PACKET_RANGE.end());
        self.dx -= dx;
        self.dy -= dy;
        self.buttons_changed = false;
        let (x, x_overflow) = self.scaled(dx);
        let (y, y_overflow) = self.scaled(dy);
        let mut b0 = PACKET_ALWAYS_1 | self.buttons;
        if x < 0 {
            b0 |= PACKET_X_SIGN;
        }
        if y < 0 {
            b0 |= PACKET_Y_SIGN;
        }
        if x_overflow {
            b0 |= PACKET_X_OVERFLOW;
        }
        if y_overflow {
            b0 |= PACKET_Y_OVERFLOW;
        }
        self.out.extend([b0, x as u8, y as u8]);
        if self.id == ID_INTELLIMOUSE {
            self.out.push_back(0); // no wheel movement
        }
    }

    /// One axis's movement after scaling (2:1 applies in stream mode only), saturated to 9 bits, and whether it
    /// overflowed.
    fn scaled(&self, v: i32) -> (i32, bool) {
        let v = if self.scaling_2_1 && !self.remote {
            let scaled = match v.abs() {
                0..=2 => v.abs().min(1),
                3 => 3,
                4 => 6,
                5 => 9,
                a => 2 * a,
            };
            scaled * v.signum()
        } else {
            v
        };
        let clamped = v.clamp(*PACKET_RANGE.start(), *PACKET_RANGE.end());
        (clamped, clamped != v)
    }

    fn send(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.out.len() < QUEUE_LEN {
                self.out.push_back(b);
            }
        }
    }

    /// Back to the defaults (set-defaults and reset): stream mode, reporting off, rate, resolution and scaling.
    fn defaults(&mut self) {
        self.reporting = false;
        self.remote = false;
        self.scaling_2_1 = false;
        self.resolution = DEFAULT_RESOLUTION;
        self.rate = DEFAULT_RATE;
        self.dx = 0;
        self.dy = 0;
        self.buttons_changed = false;
    }

    /// A byte from the host (the controller's 0xD4 command).
    pub fn write(&mut self, b: u8) {
        if let Some(cmd) = self.pending.take() {
            self.parameter(cmd, b);
            return;
        }
        if self.wrap && b != CMD_RESET && b != CMD_RESET_WRAP {
            self.send(&[b]);
            return;
        }
        // A command discards what the host has not read yet, as a real mouse does.
        self.out.clear();
        match b {
            CMD_RESET => {
                self.defaults();
                self.wrap = false;
                self.id = ID_STANDARD;
                self.rates = [0; 3];
                self.send(&[ACK, BAT_OK, ID_STANDARD]);
            }
            CMD_RESEND => {
                let last = self.last_sent;
                self.send(&[last]);
            }
            CMD_SET_DEFAULTS => {
                self.defaults();
                self.send(&[ACK]);
            }
            CMD_DISABLE | CMD_ENABLE => {
                // Either also clears the movement counters: no stale motion arrives after an enable.
                self.reporting = b == CMD_ENABLE;
                self.dx = 0;
                self.dy = 0;
                self.buttons_changed = false;
                self.send(&[ACK]);
            }
            CMD_SET_RATE | CMD_SET_RESOLUTION => {
                self.pending = Some(b);
                self.send(&[ACK]);
            }
            CMD_GET_ID => {
                let id = self.id;
                self.send(&[ACK, id]);
            }
            CMD_REMOTE_MODE => {
                self.remote = true;
                self.send(&[ACK]);
            }
            CMD_STREAM_MODE => {
                self.remote = false;
                self.send(&[ACK]);
            }
            CMD_WRAP_MODE => {
                self.wrap = true;
                self.send(&[ACK]);
            }
            CMD_RESET_WRAP => {
                self.wrap = false;
                self.send(&[ACK]);
            }
            CMD_READ_DATA => {
                self.send(&[ACK]);
                self.queue_packet();
            }
            CMD_STATUS => {
                let status = self.status();
                self.send(&[ACK, status, self.resolution, self.rate]);
            }
            CMD_SCALING_1_1 | CMD_SCALING_2_1 => {
                self.scaling_2_1 = b == CMD_SCALING_2_1;
                self.send(&[ACK]);
            }
            _ => self.send(&[RESEND]),
        }
    }

    /// The parameter byte of a set-rate or set-resolution command.
    fn parameter(&mut self, cmd: u8, v: u8) {
        if cmd == CMD_SET_RATE {
            self.rate = v;
            self.rates = [self.rates[1], self.rates[2], v];
            if self.rates == INTELLIMOUSE_KNOCK {
                self.id = ID_INTELLIMOUSE;
            }
        } else {
            self.resolution = v & 3;
        }
        self.send(&[ACK]);
    }

    /// Status byte 0: mode, reporting, scaling and buttons.
    fn status(&self) -> u8 {
        let mut s = 0;
        if self.remote {
            s |= STATUS_REMOTE;
        }
        if self.reporting {
            s |= STATUS_ENABLED;
        }
        if self.scaling_2_1 {
            s |= STATUS_SCALING_2_1;
        }
        if self.buttons & PACKET_LEFT != 0 {
            s |= STATUS_LEFT;
        }
        if self.buttons & PACKET_MIDDLE != 0 {
            s |= STATUS_MIDDLE;
        }
        if self.buttons & PACKET_RIGHT != 0 {
            s |= STATUS_RIGHT;
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(m: &mut Ps2Mouse) -> Vec<u8> {
        std::iter::from_fn(|| m.pop()).collect()
    }

    fn command(m: &mut Ps2Mouse, bytes: &[u8]) -> Vec<u8> {
        let mut answers = Vec::new();
        for &b in bytes {
            m.write(b);
            answers.extend(drain(m));
        }
        answers
    }

    #[test]
    fn reset_identify_and_the_intellimouse_knock() {
        let mut m = Ps2Mouse::new();
        assert_eq!(command(&mut m, &[0xFF]), [0xFA, 0xAA, 0x00]);
        assert_eq!(command(&mut m, &[0xF2]), [0xFA, 0x00]);
        // A different sequence of rates leaves the ID alone.
        assert_eq!(
            command(&mut m, &[0xF3, 200, 0xF3, 80, 0xF2]),
            [0xFA; 5].iter().copied().chain([0]).collect::<Vec<_>>()
        );
        assert_eq!(
            command(&mut m, &[0xF3, 200, 0xF3, 100, 0xF3, 80, 0xF2]),
            [0xFA, 0xFA, 0xFA, 0xFA, 0xFA, 0xFA, 0xFA, 0x03]
        );
        assert_eq!(command(&mut m, &[0xFF]), [0xFA, 0xAA, 0x00]);
        assert_eq!(
            command(&mut m, &[0xF2]),
            [0xFA, ID_STANDARD],
            "a reset forgets the knock"
        );
    }

    #[test]
    fn status_reports_mode_scaling_resolution_and_rate() {
        let mut m = Ps2Mouse::new();
        assert_eq!(command(&mut m, &[0xE9]), [0xFA, 0x00, 2, 100]);
        command(&mut m, &[0xE8, 3, 0xF3, 40, 0xE7, 0xF4]);
        m.motion(0, 0, 0b001);
        drain(&mut m);
        assert_eq!(command(&mut m, &[0xE9]), [0xFA, 0x34, 3, 40]);
        command(&mut m, &[0xF0, 0xE6]);
        assert_eq!(command(&mut m, &[0xE9]), [0xFA, 0x64, 3, 40]);
        command(&mut m, &[0xF6]);
        assert_eq!(command(&mut m, &[0xE9]), [0xFA, 0x04, 2, 100]);
    }

    #[test]
    fn stream_packets_carry_buttons_signs_and_coalesced_movement() {
        let mut m = Ps2Mouse::new();
        m.motion(5, 5, 0);
        assert!(drain(&mut m).is_empty(), "no reports before enable");
        command(&mut m, &[0xF4]);
        assert!(drain(&mut m).is_empty(), "an enable clears the counters");
        m.motion(3, -2, 0b011);
        // Right is +x; up on the screen (dy < 0) is +y for the mouse.
        assert_eq!(drain(&mut m), [0x0B, 3, 2]);
        m.motion(-1, 4, 0b100);
        assert_eq!(drain(&mut m), [0x08 | 0x04 | 0x10 | 0x20, 0xFF, 0xFC]);
        // Movement beyond one packet arrives in several, never lost.
        m.motion(600, 0, 0);
        let bytes = drain(&mut m);
        let total: i32 = bytes
            .chunks(3)
            .map(|p| i32::from(p[1]) - if p[0] & 0x10 != 0 { 256 } else { 0 })
            .sum();
        assert_eq!(total, 600, "{bytes:x?}");
        assert!(bytes.chunks(3).all(|p| p[0] & 0xC0 == 0));
    }

    #[test]
    fn scaling_2_1_overflows_large_movement() {
        let mut m = Ps2Mouse::new();
        command(&mut m, &[0xF4, 0xE7]);
        m.motion(4, 0, 0);
        assert_eq!(drain(&mut m), [0x08, 6, 0]);
        m.motion(200, 0, 0);
        assert_eq!(drain(&mut m), [0x08 | 0x40, 0xFF, 0]);
    }

    #[test]
    fn intellimouse_packets_have_four_bytes_and_remote_mode_waits_for_read_data() {
        let mut m = Ps2Mouse::new();
        command(&mut m, &[0xF3, 200, 0xF3, 100, 0xF3, 80, 0xF4]);
        m.motion(1, 1, 0);
        assert_eq!(drain(&mut m), [0x28, 1, 0xFF, 0]);
        command(&mut m, &[0xF0]);
        m.motion(2, 0, 0);
        assert!(drain(&mut m).is_empty());
        assert_eq!(command(&mut m, &[0xEB]), [0xFA, 0x08, 2, 0, 0]);
    }

    #[test]
    fn wrap_mode_echoes_until_reset_wrap_and_unknown_commands_ask_for_resend() {
        let mut m = Ps2Mouse::new();
        assert_eq!(
            command(&mut m, &[0xEE, 0x12, 0xF4, 0xEC]),
            [0xFA, 0x12, 0xF4, 0xFA]
        );
        assert_eq!(command(&mut m, &[0x00]), [0xFE]);
        assert_eq!(command(&mut m, &[0xF2, 0xFE]), [0xFA, 0x00, 0x00]);
    }
}
