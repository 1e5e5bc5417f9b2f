//! Intel 8042 keyboard controller at 0x60 (data) / 0x64 (status, command), with a minimal PS/2 keyboard on its
//! first port and a [`Ps2Mouse`] on its auxiliary port. IRQ1 signals keyboard data, IRQ12 auxiliary (mouse) data;
//! the output port carries the A20 gate (bit 1) and the system reset line (bit 0, active low).
//!
//! The keyboard speaks scan code set 2; with the command byte's translation bit set (the default) the controller
//! hands the CPU set 1, as a PC does. Host keys and pointer motion come in through [`I8042::input`].

use std::collections::VecDeque;

use crate::bus::{BoardRequest, IoDevice, OPEN_BUS};
use crate::display::InputEvent;
use crate::ps2_mouse::Ps2Mouse;
use crate::scancode;

/// Data port.
pub const I8042_DATA: u16 = 0x60;
/// Status (read) / command (write) port.
pub const I8042_COMMAND: u16 = 0x64;
/// ISA IRQ of the keyboard.
pub const KEYBOARD_IRQ: u8 = 1;
/// ISA IRQ of the auxiliary (mouse) port.
pub const AUX_IRQ: u8 = 12;

/// Status: output buffer full.
pub const STATUS_OBF: u8 = 0x01;
/// Status: input buffer full (never set: commands are taken at once).
pub const STATUS_IBF: u8 = 0x02;
/// Status: system flag (command byte bit 2).
pub const STATUS_SYS: u8 = 0x04;
/// Status: last write was to the command port.
pub const STATUS_CMD: u8 = 0x08;
/// Status: keyboard not inhibited.
pub const STATUS_UNLOCKED: u8 = 0x10;
/// Status: the output buffer holds auxiliary-device data.
pub const STATUS_AUX_OBF: u8 = 0x20;

/// Command byte: keyboard interrupt enable.
pub const CB_KBD_INT: u8 = 0x01;
/// Command byte: aux interrupt enable.
pub const CB_AUX_INT: u8 = 0x02;
/// Command byte: system flag.
pub const CB_SYS: u8 = 0x04;
/// Command byte: keyboard disabled.
pub const CB_KBD_DISABLE: u8 = 0x10;
/// Command byte: aux disabled.
pub const CB_AUX_DISABLE: u8 = 0x20;
/// Command byte: translate to scan code set 1.
pub const CB_XLATE: u8 = 0x40;

/// Output port: system reset (active low).
pub const OUTPORT_RESET: u8 = 0x01;
/// Output port: A20 gate.
pub const OUTPORT_A20: u8 = 0x02;
/// Output port: keyboard output buffer full (reflects the status).
const OUTPORT_OBF: u8 = 0x10;
/// Output port: aux output buffer full.
const OUTPORT_AUX_OBF: u8 = 0x20;

/// Controller command: read command byte.
const CMD_READ_CB: u8 = 0x20;
/// Controller command: write command byte.
const CMD_WRITE_CB: u8 = 0x60;
/// Controller command: disable aux.
const CMD_AUX_DISABLE: u8 = 0xA7;
/// Controller command: enable aux.
const CMD_AUX_ENABLE: u8 = 0xA8;
/// Controller command: aux interface test.
const CMD_AUX_TEST: u8 = 0xA9;
/// Controller command: self test.
const CMD_SELF_TEST: u8 = 0xAA;
/// Controller command: keyboard interface test.
const CMD_KBD_TEST: u8 = 0xAB;
/// Controller command: disable keyboard.
const CMD_KBD_DISABLE: u8 = 0xAD;
/// Controller command: enable keyboard.
const CMD_KBD_ENABLE: u8 = 0xAE;
/// Controller command: read input port.
const CMD_READ_INPUT: u8 = 0xC0;
/// Controller command: read output port.
const CMD_READ_OUTPORT: u8 = 0xD0;
/// Controller command: write output port.
const CMD_WRITE_OUTPORT: u8 = 0xD1;
/// Controller command: write keyboard output buffer.
const CMD_WRITE_KBD_OBUF: u8 = 0xD2;
/// Controller command: write aux output buffer.
const CMD_WRITE_AUX_OBUF: u8 = 0xD3;
/// Controller command: write to aux device.
const CMD_WRITE_AUX: u8 = 0xD4;
/// Controller command: disable A20 (HP Vectra style).
const CMD_A20_DISABLE: u8 = 0xDD;
/// Controller command: enable A20.
const CMD_A20_ENABLE: u8 = 0xDF;

/// Self-test passed.
const SELF_TEST_OK: u8 = 0x55;
/// Keyboard acknowledge.
const KBD_ACK: u8 = 0xFA;
/// Keyboard basic assurance test passed.
const KBD_BAT_OK: u8 = 0xAA;
/// Keyboard echo.
const KBD_ECHO: u8 = 0xEE;
/// Most bytes the controller and keyboard queue before dropping.
const QUEUE_LEN: usize = 16;
/// The most bytes one key event queues (an extended release in set 2: E0 F0 xx).
const KEY_BYTES: usize = 3;

/// The 8042, its keyboard and its mouse.
#[derive(Debug, Clone)]
pub struct I8042 {
    /// The output buffer: a byte and whether it came from the aux port.
    obuf: Option<(u8, bool)>,
    /// The last byte read from the output buffer (what reading an empty buffer returns).
    last_read: u8,
    /// Bytes waiting to enter the output buffer.
    queue: VecDeque<(u8, bool)>,
    /// Command byte (controller RAM 0).
    command_byte: u8,
    /// Output port (A20, reset).
    outport: u8,
    /// A controller command waiting for its data byte.
    pending_cmd: Option<u8>,
    /// A keyboard command waiting for its parameter byte.
    kbd_pending: Option<u8>,
    /// Status bit 3: the last write went to the command port.
    last_was_command: bool,
    /// Keyboard scanning enabled.
    kbd_scanning: bool,
    /// The mouse on the auxiliary port.
    mouse: Ps2Mouse,
    /// Reset requested by the guest, not yet taken by the board.
    request: Option<BoardRequest>,
}

impl Default for I8042 {
    fn default() -> Self {
        Self::new()
    }
}

impl I8042 {
    /// The controller at power-on: output port with reset high and A20 on (the 8042's port pins come out of reset
    /// high, as QEMU models too), keyboard interrupt and translation enabled.
    pub fn new() -> Self {
        Self {
            obuf: None,
            last_read: 0,
            queue: VecDeque::new(),
            command_byte: CB_KBD_INT | CB_XLATE,
            outport: 0xC0 | OUTPORT_A20 | OUTPORT_RESET,
            pending_cmd: None,
            kbd_pending: None,
            last_was_command: false,
            kbd_scanning: true,
            mouse: Ps2Mouse::new(),
            request: None,
        }
    }

    /// The A20 gate (output port bit 1).
    pub fn a20(&self) -> bool {
        self.outport & OUTPORT_A20 != 0
    }

    /// A reset the guest asked for, once.
    pub fn take_request(&mut self) -> Option<BoardRequest> {
        self.request.take()
    }

    /// IRQ1: keyboard data in the output buffer and its interrupt enabled.
    pub fn irq1(&self) -> bool {
        matches!(self.obuf, Some((_, false))) && self.command_byte & CB_KBD_INT != 0
    }

    /// IRQ12: aux data in the output buffer and its interrupt enabled.
    pub fn irq12(&self) -> bool {
        matches!(self.obuf, Some((_, true))) && self.command_byte & CB_AUX_INT != 0
    }

    /// Queues a byte from the controller or keyboard (`aux` for the mouse port) and fills the output buffer.
    fn push(&mut self, b: u8, aux: bool) {
        if self.queue.len() < QUEUE_LEN {
            self.queue.push_back((b, aux));
        }
        self.refill();
    }

    /// Moves the next queued byte into an empty output buffer: the controller's and keyboard's first, then the
    /// mouse's unless the auxiliary port is disabled. Called after the buffer is read only on the next status read
    /// or board poll, so that IRQ1 (IRQ12) falls and rises again (an edge) between two bytes.
    pub fn refill(&mut self) {
        if self.obuf.is_some() {
            return;
        }
        self.obuf = self.queue.pop_front();
        if self.obuf.is_none() && self.command_byte & CB_AUX_DISABLE == 0 {
            self.obuf = self.mouse.pop().map(|b| (b, true));
        }
    }

    /// Whether the keyboard's queue has room for another key event (the board holds host input back until then,
    /// so fast typing is delayed, never lost).
    pub fn wants_input(&self) -> bool {
        self.queue.len() + KEY_BYTES <= QUEUE_LEN
    }

    /// Host input: a key goes to the keyboard, pointer motion to the mouse.
    pub fn input(&mut self, event: InputEvent) {
        match event {
            InputEvent::Key { scancode, down } => self.key(scancode, down),
            InputEvent::Pointer { dx, dy, buttons } => {
                self.mouse.motion(dx, dy, buttons);
                self.refill();
            }
        }
    }

    /// A key went down or up (`scancode` in set 1, 0xE0xx for extended keys): the keyboard sends it in set 2, which
    /// reaches the CPU as set 1 again when the controller translates. A keyboard that is disabled or not scanning
    /// drops it.
    pub fn key(&mut self, scancode: u16, down: bool) {
        if !self.kbd_scanning || self.command_byte & CB_KBD_DISABLE != 0 {
            return;
        }
        let bytes = if self.command_byte & CB_XLATE != 0 {
            scancode::set1_bytes(scancode, down)
        } else {
            match scancode::set2_bytes(scancode, down) {
                Some(bytes) => bytes,
                None => return,
            }
        };
        for b in bytes {
            self.push(b, false);
        }
    }

    fn status(&self) -> u8 {
        let mut s = STATUS_UNLOCKED | (self.command_byte & CB_SYS);
        if self.last_was_command {
            s |= STATUS_CMD;
        }
        match self.obuf {
            Some((_, true)) => s |= STATUS_OBF | STATUS_AUX_OBF,
            Some((_, false)) => s |= STATUS_OBF,
            None => {}
        }
        s
    }

    fn write_outport(&mut self, v: u8) {
        self.outport = v;
        if v & OUTPORT_RESET == 0 {
            self.request = Some(BoardRequest::Reset);
        }
    }

    fn command(&mut self, cmd: u8) {
        self.pending_cmd = None;
        match cmd {
            CMD_READ_CB => self.push(self.command_byte, false),
            CMD_WRITE_CB | CMD_WRITE_OUTPORT | CMD_WRITE_KBD_OBUF | CMD_WRITE_AUX_OBUF
            | CMD_WRITE_AUX => {
                self.pending_cmd = Some(cmd);
            }
            CMD_AUX_DISABLE => self.command_byte |= CB_AUX_DISABLE,
            CMD_AUX_ENABLE => self.command_byte &= !CB_AUX_DISABLE,
            CMD_AUX_TEST | CMD_KBD_TEST => self.push(0x00, false),
            CMD_SELF_TEST => {
                self.command_byte |= CB_SYS;
                self.push(SELF_TEST_OK, false);
            }
            CMD_KBD_DISABLE => self.command_byte |= CB_KBD_DISABLE,
            CMD_KBD_ENABLE => self.command_byte &= !CB_KBD_DISABLE,
            CMD_READ_INPUT => self.push(0xBF, false), // keyboard not inhibited, colour display
            CMD_READ_OUTPORT => {
                let mut v = self.outport & !(OUTPORT_OBF | OUTPORT_AUX_OBF);
                match self.obuf {
                    Some((_, true)) => v |= OUTPORT_AUX_OBF,
                    Some((_, false)) => v |= OUTPORT_OBF,
                    None => {}
                }
                self.push(v, false);
            }
            CMD_A20_DISABLE => self.outport &= !OUTPORT_A20,
            CMD_A20_ENABLE => self.outport |= OUTPORT_A20,
            // Pulse output port lines low for 6 us: a clear bit 0 in the command pulses the reset line.
            0xF0..=0xFF if cmd & OUTPORT_RESET == 0 => self.request = Some(BoardRequest::Reset),
            _ => {}
        }
    }

    fn data(&mut self, v: u8) {
        match self.pending_cmd.take() {
            Some(CMD_WRITE_CB) => self.command_byte = v,
            Some(CMD_WRITE_OUTPORT) => self.write_outport(v),
            Some(CMD_WRITE_KBD_OBUF) => self.push(v, false),
            Some(CMD_WRITE_AUX_OBUF) => self.push(v, true),
            Some(_) => {
                // CMD_WRITE_AUX: the byte goes to the mouse.
                self.mouse.write(v);
                self.refill();
            }
            None => {
                // Writing to the keyboard enables the interface.
                self.command_byte &= !CB_KBD_DISABLE;
                self.keyboard(v);
            }
        }
    }

    /// The keyboard's command interpreter (the minimal subset firmware and Linux use).
    fn keyboard(&mut self, v: u8) {
        if let Some(cmd) = self.kbd_pending.take() {
            match cmd {
                0xF0 if v == 0 => {
                    self.push(KBD_ACK, false);
                    self.push(0x02, false); // current scan code set
                }
                _ => self.push(KBD_ACK, false),
            }
            return;
        }
        match v {
            0xFF => {
                self.queue.retain(|&(_, aux)| aux);
                self.kbd_scanning = true;
                self.push(KBD_ACK, false);
                self.push(KBD_BAT_OK, false);
            }
            0xF2 => {
                self.push(KBD_ACK, false);
                self.push(0xAB, false);
                self.push(0x83, false);
            }
            0xEE => self.push(KBD_ECHO, false),
            0xED | 0xF0 | 0xF3 => {
                self.kbd_pending = Some(v);
                self.push(KBD_ACK, false);
            }
            0xF4 => {
                self.kbd_scanning = true;
                self.push(KBD_ACK, false);
            }
            0xF5 => {
                self.kbd_scanning = false;
                self.push(KBD_ACK, false);
            }
            _ => self.push(KBD_ACK, false),
        }
    }
}

impl IoDevice for I8042 {
    fn io_read(&mut self, port: u16, _size: u8) -> u32 {
        match port {
            I8042_DATA => {
                if let Some((b, _)) = self.obuf.take() {
                    self.last_read = b;
                }
                // An empty buffer reads its stale contents again.
                u32::from(self.last_read)
            }
            I8042_COMMAND => {
                self.refill();
                u32::from(self.status())
            }
            _ => OPEN_BUS,
        }
    }

    fn io_write(&mut self, port: u16, _size: u8, value: u32) {
        let v = value as u8;
        match port {
            I8042_DATA => {
                self.last_was_command = false;
                self.data(v);
            }
            I8042_COMMAND => {
                self.last_was_command = true;
                self.command(v);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_data(k: &mut I8042) -> u8 {
        let s = k.io_read(I8042_COMMAND, 1) as u8;
        assert_ne!(s & STATUS_OBF, 0, "expected data");
        k.io_read(I8042_DATA, 1) as u8
    }

    #[test]
    fn self_test_and_interface_test() {
        let mut k = I8042::new();
        assert_eq!(
            k.io_read(I8042_COMMAND, 1) as u8 & (STATUS_OBF | STATUS_SYS),
            0
        );
        k.io_write(I8042_COMMAND, 1, 0xAA);
        assert_eq!(read_data(&mut k), 0x55);
        assert_ne!(k.io_read(I8042_COMMAND, 1) as u8 & STATUS_SYS, 0);
        k.io_write(I8042_COMMAND, 1, 0xAB);
        assert_eq!(read_data(&mut k), 0x00);
        assert_eq!(k.io_read(I8042_COMMAND, 1) as u8 & STATUS_OBF, 0);
    }

    #[test]
    fn command_byte_read_write_and_irq1() {
        let mut k = I8042::new();
        k.io_write(I8042_COMMAND, 1, 0x60);
        k.io_write(I8042_DATA, 1, 0x47);
        k.io_write(I8042_COMMAND, 1, 0x20);
        assert!(k.irq1());
        assert_eq!(read_data(&mut k), 0x47);
        assert!(!k.irq1());
        k.io_write(I8042_COMMAND, 1, 0xAD);
        k.io_write(I8042_COMMAND, 1, 0x20);
        assert_eq!(read_data(&mut k), 0x57);
        k.io_write(I8042_COMMAND, 1, 0xAE);
        k.io_write(I8042_COMMAND, 1, 0x20);
        assert_eq!(read_data(&mut k), 0x47);
    }

    #[test]
    fn keyboard_reset_answers_ack_then_bat() {
        let mut k = I8042::new();
        k.io_write(I8042_DATA, 1, 0xFF);
        assert_eq!(k.io_read(I8042_DATA, 1), 0xFA);
        assert!(!k.irq1(), "IRQ1 drops between bytes");
        assert_eq!(read_data(&mut k), 0xAA);
        k.io_write(I8042_DATA, 1, 0xF2);
        assert_eq!(read_data(&mut k), 0xFA);
        assert_eq!(read_data(&mut k), 0xAB);
        assert_eq!(read_data(&mut k), 0x83);
    }

    #[test]
    fn a20_through_output_port_and_reset() {
        let mut k = I8042::new();
        assert!(k.a20());
        k.io_write(I8042_COMMAND, 1, 0xD1);
        k.io_write(I8042_DATA, 1, 0xDD);
        assert!(!k.a20());
        assert_eq!(k.take_request(), None);
        k.io_write(I8042_COMMAND, 1, 0xD0);
        assert_eq!(
            read_data(&mut k),
            0xCD,
            "bit 4 reflects the (empty) output buffer"
        );
        k.io_write(I8042_COMMAND, 1, 0xD1);
        k.io_write(I8042_DATA, 1, 0xDF);
        assert!(k.a20());
        k.io_write(I8042_COMMAND, 1, 0xFF); // pulse nothing
        assert_eq!(k.take_request(), None);
        k.io_write(I8042_COMMAND, 1, 0xFE);
        assert_eq!(k.take_request(), Some(BoardRequest::Reset));
        assert_eq!(k.take_request(), None);
        k.io_write(I8042_COMMAND, 1, 0xD1);
        k.io_write(I8042_DATA, 1, 0x00);
        assert_eq!(k.take_request(), Some(BoardRequest::Reset));
    }

    /// Sends a byte to the mouse as Linux's i8042 driver does (0xD4, then the byte) and collects the bytes the
    /// mouse answers, each flagged as aux data in the status register.
    fn mouse_command(k: &mut I8042, bytes: &[u8]) -> Vec<u8> {
        let mut answers = Vec::new();
        for &b in bytes {
            k.io_write(I8042_COMMAND, 1, 0xD4);
            k.io_write(I8042_DATA, 1, u32::from(b));
            answers.extend(read_aux(k));
        }
        answers
    }

    /// Every aux byte waiting, checking status bit 5 and IRQ12 for each.
    fn read_aux(k: &mut I8042) -> Vec<u8> {
        let mut bytes = Vec::new();
        loop {
            let status = k.io_read(I8042_COMMAND, 1) as u8;
            if status & STATUS_OBF == 0 {
                return bytes;
            }
            assert_ne!(status & STATUS_AUX_OBF, 0, "aux data expected");
            assert_eq!(k.irq12(), k.command_byte & CB_AUX_INT != 0);
            assert!(!k.irq1());
            bytes.push(k.io_read(I8042_DATA, 1) as u8);
        }
    }

    #[test]
    fn aux_port_probe_as_linux_does_it() {
        let mut k = I8042::new();
        // i8042_check_aux: loopback through 0xD3, the interface test, then the aux-disable bit test.
        k.io_write(I8042_COMMAND, 1, 0xD3);
        k.io_write(I8042_DATA, 1, 0x5A);
        assert_eq!(read_aux(&mut k), [0x5A]);
        k.io_write(I8042_COMMAND, 1, 0xA9);
        assert_eq!(read_data(&mut k), 0x00);
        k.io_write(I8042_COMMAND, 1, 0xA7);
        k.io_write(I8042_COMMAND, 1, 0x20);
        assert_ne!(read_data(&mut k) & CB_AUX_DISABLE, 0);
        k.io_write(I8042_COMMAND, 1, 0xA8);
        k.io_write(I8042_COMMAND, 1, 0x20);
        let cb = read_data(&mut k);
        assert_eq!(cb & CB_AUX_DISABLE, 0);
        // The IRQ test: aux interrupt on, a looped-back byte raises IRQ12.
        k.io_write(I8042_COMMAND, 1, 0x60);
        k.io_write(I8042_DATA, 1, u32::from(cb | CB_AUX_INT));
        k.io_write(I8042_COMMAND, 1, 0xD3);
        k.io_write(I8042_DATA, 1, 0xA5);
        assert!(k.irq12());
        assert_eq!(read_aux(&mut k), [0xA5]);
        assert!(!k.irq12());
        // psmouse: reset, identify, the IntelliMouse knock, set resolution and rate, enable.
        assert_eq!(mouse_command(&mut k, &[0xFF]), [0xFA, 0xAA, 0x00]);
        assert_eq!(mouse_command(&mut k, &[0xF2]), [0xFA, 0x00]);
        assert_eq!(
            mouse_command(&mut k, &[0xF3, 200, 0xF3, 100, 0xF3, 80, 0xF2]),
            [0xFA, 0xFA, 0xFA, 0xFA, 0xFA, 0xFA, 0xFA, 0x03]
        );
        assert_eq!(
            mouse_command(&mut k, &[0xE8, 3, 0xE6, 0xF3, 100]),
            [0xFA; 5]
        );
        assert_eq!(mouse_command(&mut k, &[0xE9]), [0xFA, 0x00, 3, 100]);
        assert_eq!(mouse_command(&mut k, &[0xF4]), [0xFA]);
        k.input(InputEvent::Pointer {
            dx: -3,
            dy: 7,
            buttons: 0b001,
        });
        assert!(k.irq12());
        assert_eq!(read_aux(&mut k), [0x39, 0xFD, 0xF9, 0x00]);
    }

    #[test]
    fn a_disabled_aux_port_holds_the_mouse_data() {
        let mut k = I8042::new();
        mouse_command(&mut k, &[0xF4]);
        k.io_write(I8042_COMMAND, 1, 0xA7);
        k.input(InputEvent::Pointer {
            dx: 1,
            dy: 0,
            buttons: 0,
        });
        assert_eq!(k.io_read(I8042_COMMAND, 1) as u8 & STATUS_OBF, 0);
        k.io_write(I8042_COMMAND, 1, 0xA8);
        assert_eq!(read_aux(&mut k), [0x08, 0x01, 0x00]);
    }

    #[test]
    fn keys_arrive_in_set_1_when_translating_and_in_set_2_when_not() {
        let mut k = I8042::new();
        k.input(InputEvent::Key {
            scancode: 0xE048,
            down: true,
        });
        k.key(0x1E, false);
        assert!(k.irq1());
        assert_eq!(read_data(&mut k), 0xE0);
        assert_eq!(read_data(&mut k), 0x48);
        assert_eq!(read_data(&mut k), 0x9E);
        // Linux with i8042.direct: translation off, the keyboard's own set 2.
        k.io_write(I8042_COMMAND, 1, 0x60);
        k.io_write(I8042_DATA, 1, u32::from(CB_KBD_INT));
        k.key(0xE048, false);
        k.key(0x1E, true);
        let bytes: Vec<u8> = (0..4).map(|_| read_data(&mut k)).collect();
        assert_eq!(bytes, [0xE0, 0xF0, 0x75, 0x1C]);
        // A keyboard told to stop scanning sends nothing.
        k.io_write(I8042_DATA, 1, 0xF5);
        assert_eq!(read_data(&mut k), 0xFA);
        k.key(0x1E, true);
        assert_eq!(k.io_read(I8042_COMMAND, 1) as u8 & STATUS_OBF, 0);
    }

    #[test]
    fn host_input_waits_while_the_keyboard_queue_is_full() {
        let mut k = I8042::new();
        let mut sent = 0;
        while k.wants_input() {
            k.key(0xE048, true);
            sent += 1;
        }
        assert!(sent >= 5);
        let mut bytes = 0;
        while k.io_read(I8042_COMMAND, 1) as u8 & STATUS_OBF != 0 {
            k.io_read(I8042_DATA, 1);
            bytes += 1;
        }
        assert_eq!(bytes, sent * 2, "no byte of an accepted key is lost");
        assert!(k.wants_input());
    }

    #[test]
    fn aux_loopback_and_unknown_mouse_commands() {
        let mut k = I8042::new();
        k.io_write(I8042_COMMAND, 1, 0x60);
        k.io_write(I8042_DATA, 1, 0x03);
        k.io_write(I8042_COMMAND, 1, 0xD3);
        k.io_write(I8042_DATA, 1, 0x5A);
        assert!(k.irq12());
        assert_eq!(
            k.io_read(I8042_COMMAND, 1) as u8 & STATUS_AUX_OBF,
            STATUS_AUX_OBF
        );
        assert_eq!(k.io_read(I8042_DATA, 1), 0x5A);
        assert_eq!(mouse_command(&mut k, &[0x00]), [0xFE]);
        assert_eq!(k.io_read(0x61, 1), OPEN_BUS);
    }
}
