//! Intel 8042 keyboard controller at 0x60 (data) / 0x64 (status, command), with a minimal PS/2 keyboard behind it.
//! IRQ1 signals keyboard data, IRQ12 auxiliary (mouse) data; the output port carries the A20 gate (bit 1) and the
//! system reset line (bit 0, active low).

use std::collections::VecDeque;

use crate::bus::{BoardRequest, IoDevice, OPEN_BUS};

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
/// Keyboard/aux resend (used for the absent mouse).
const KBD_RESEND: u8 = 0xFE;
/// Keyboard echo.
const KBD_ECHO: u8 = 0xEE;
/// Most bytes the controller and keyboard queue before dropping.
const QUEUE_LEN: usize = 16;

/// The 8042 and its keyboard.
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

    /// Moves the next queued byte into an empty output buffer. Called after the buffer is read only on the next
    /// status read or board poll, so that IRQ1 falls and rises again (an edge) between two bytes.
    pub fn refill(&mut self) {
        if self.obuf.is_none() {
            self.obuf = self.queue.pop_front();
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
            Some(_) => self.push(KBD_RESEND, true), // no mouse: every aux byte is refused
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

    #[test]
    fn aux_loopback_and_absent_mouse() {
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
        k.io_write(I8042_COMMAND, 1, 0xD4);
        k.io_write(I8042_DATA, 1, 0xFF);
        assert_eq!(read_data(&mut k), 0xFE);
        assert_eq!(k.io_read(0x61, 1), OPEN_BUS);
    }
}
