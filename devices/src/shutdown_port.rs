//! Bochs' shutdown port at 0x8900: writing the string "Shutdown" to it, one byte at a time, powers the machine off.
//! Bochs' BIOS and SeaBIOS (under Bochs) use it for APM power-off; test guests written for Bochs use it to end a run.
//!
//! The port matches the bytes as they come: a byte that continues the string moves one step on, any other byte
//! starts over (an 'S' starts the string afresh).

use crate::bus::{BoardRequest, IoDevice, OPEN_BUS};

/// The port.
pub const SHUTDOWN_PORT: u16 = 0x8900;
/// The string that powers the machine off.
pub const SHUTDOWN_STRING: &[u8] = b"Shutdown";

/// The shutdown port.
#[derive(Debug, Clone, Default)]
pub struct ShutdownPort {
    /// How many bytes of [`SHUTDOWN_STRING`] have been written in a row.
    matched: usize,
    /// Power-off requested, not yet taken by the board.
    request: Option<BoardRequest>,
}

impl ShutdownPort {
    /// A port that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// The power-off the guest asked for, once.
    pub fn take_request(&mut self) -> Option<BoardRequest> {
        self.request.take()
    }
}

impl IoDevice for ShutdownPort {
    fn io_read(&mut self, _port: u16, _size: u8) -> u32 {
        OPEN_BUS
    }

    fn io_write(&mut self, port: u16, _size: u8, value: u32) {
        if port != SHUTDOWN_PORT {
            return;
        }
        let byte = value as u8;
        self.matched = if byte == SHUTDOWN_STRING[self.matched] {
            self.matched + 1
        } else {
            usize::from(byte == SHUTDOWN_STRING[0])
        };
        if self.matched == SHUTDOWN_STRING.len() {
            self.matched = 0;
            self.request = Some(BoardRequest::PowerOff);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_all(p: &mut ShutdownPort, bytes: &[u8]) {
        for &b in bytes {
            p.io_write(SHUTDOWN_PORT, 1, u32::from(b));
        }
    }

    #[test]
    fn the_whole_string_powers_off_once() {
        let mut p = ShutdownPort::new();
        write_all(&mut p, b"Shutdow");
        assert_eq!(p.take_request(), None, "not before the last byte");
        write_all(&mut p, b"n");
        assert_eq!(p.take_request(), Some(BoardRequest::PowerOff));
        assert_eq!(p.take_request(), None);
        assert_eq!(p.io_read(SHUTDOWN_PORT, 1), OPEN_BUS);
    }

    #[test]
    fn a_wrong_byte_starts_over_and_other_ports_are_ignored() {
        let mut p = ShutdownPort::new();
        write_all(&mut p, b"ShutXdown");
        assert_eq!(p.take_request(), None);
        write_all(&mut p, b"ShuSShutdown");
        assert_eq!(p.take_request(), Some(BoardRequest::PowerOff));
        for &b in SHUTDOWN_STRING {
            p.io_write(SHUTDOWN_PORT + 1, 1, u32::from(b));
        }
        assert_eq!(p.take_request(), None);
    }
}
