//! System control port A at 0x92 ("fast A20"): bit 1 gates A20, writing bit 0 = 1 resets the machine.

use crate::bus::{BoardRequest, IoDevice, OPEN_BUS};

/// The port.
pub const PORT92: u16 = 0x92;
/// Fast reset: writing 1 resets the machine.
pub const PORT92_RESET: u8 = 0x01;
/// A20 gate.
pub const PORT92_A20: u8 = 0x02;

/// System control port A.
#[derive(Debug, Clone, Default)]
pub struct Port92 {
    /// Last value written, without the self-clearing reset bit.
    value: u8,
    /// Reset requested by the guest, not yet taken by the board.
    request: Option<BoardRequest>,
}

impl Port92 {
    /// Power-on state: A20 off through this port, no reset.
    pub fn new() -> Self {
        Self::default()
    }

    /// The A20 gate as this port drives it.
    pub fn a20(&self) -> bool {
        self.value & PORT92_A20 != 0
    }

    /// A reset the guest asked for, once.
    pub fn take_request(&mut self) -> Option<BoardRequest> {
        self.request.take()
    }
}

impl IoDevice for Port92 {
    fn io_read(&mut self, port: u16, _size: u8) -> u32 {
        if port == PORT92 {
            u32::from(self.value)
        } else {
            OPEN_BUS
        }
    }

    fn io_write(&mut self, port: u16, _size: u8, value: u32) {
        if port != PORT92 {
            return;
        }
        let v = value as u8;
        if v & PORT92_RESET != 0 {
            self.request = Some(BoardRequest::Reset);
        }
        self.value = v & !PORT92_RESET;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a20_and_reset() {
        let mut p = Port92::new();
        assert!(!p.a20());
        p.io_write(PORT92, 1, 0x02);
        assert!(p.a20());
        assert_eq!(p.io_read(PORT92, 1), 0x02);
        assert_eq!(p.take_request(), None);
        p.io_write(PORT92, 1, 0x03);
        assert_eq!(p.take_request(), Some(BoardRequest::Reset));
        assert_eq!(p.io_read(PORT92, 1), 0x02, "reset bit does not stick");
        p.io_write(PORT92, 1, 0x00);
        assert!(!p.a20());
    }
}
