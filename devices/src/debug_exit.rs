//! QEMU's isa-debug-exit device at 0xF4: a write of V asks the emulator to exit with status `(V << 1) | 1`.

use crate::bus::{BoardRequest, IoDevice, OPEN_BUS};

/// The port (QEMU's default iobase).
pub const DEBUG_EXIT_PORT: u16 = 0xF4;

/// isa-debug-exit.
#[derive(Debug, Clone, Default)]
pub struct DebugExit {
    /// Exit requested by the guest, not yet taken by the board.
    request: Option<BoardRequest>,
}

impl DebugExit {
    /// A device with no exit pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// The exit the guest asked for, once.
    pub fn take_request(&mut self) -> Option<BoardRequest> {
        self.request.take()
    }
}

impl IoDevice for DebugExit {
    fn io_read(&mut self, _port: u16, _size: u8) -> u32 {
        OPEN_BUS
    }

    fn io_write(&mut self, port: u16, size: u8, value: u32) {
        if port == DEBUG_EXIT_PORT {
            let v = value & crate::bus::size_mask(size);
            self.request = Some(BoardRequest::DebugExit(((v << 1) | 1) as i32));
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
    fn status_is_value_shifted_with_low_bit() {
        let mut d = DebugExit::new();
        d.io_write(DEBUG_EXIT_PORT, 1, 0x00);
        assert_eq!(d.take_request(), Some(BoardRequest::DebugExit(1)));
        d.io_write(DEBUG_EXIT_PORT, 1, 0x1FF);
        assert_eq!(d.take_request(), Some(BoardRequest::DebugExit(0x1FF)));
        d.io_write(DEBUG_EXIT_PORT, 4, 0x10);
        assert_eq!(d.take_request(), Some(BoardRequest::DebugExit(0x21)));
        assert_eq!(d.take_request(), None);
        assert_eq!(d.io_read(DEBUG_EXIT_PORT, 1), OPEN_BUS);
    }
}
