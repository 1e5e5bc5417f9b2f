//! PIIX reset control register at 0xCF9: writing bit 2 (RST_CPU) resets the machine.

use crate::bus::{BoardRequest, IoDevice, OPEN_BUS};

/// The port (byte access only; wider accesses at 0xCF8 belong to PCI configuration).
pub const RESET_CONTROL: u16 = 0xCF9;
/// System reset: 1 = full (hard) reset, 0 = soft reset.
pub const RC_SYS_RST: u8 = 0x02;
/// Reset CPU: a 0 -> 1 write starts the reset.
pub const RC_RST_CPU: u8 = 0x04;

/// Reset control register.
#[derive(Debug, Clone, Default)]
pub struct ResetControl {
    /// Last value written, without the self-clearing RST_CPU bit.
    value: u8,
    /// Reset requested by the guest, not yet taken by the board.
    request: Option<BoardRequest>,
}

impl ResetControl {
    /// Power-on state.
    pub fn new() -> Self {
        Self::default()
    }

    /// A reset the guest asked for, once.
    pub fn take_request(&mut self) -> Option<BoardRequest> {
        self.request.take()
    }
}

impl IoDevice for ResetControl {
    fn io_read(&mut self, port: u16, _size: u8) -> u32 {
        if port == RESET_CONTROL {
            u32::from(self.value)
        } else {
            OPEN_BUS
        }
    }

    fn io_write(&mut self, port: u16, _size: u8, value: u32) {
        if port != RESET_CONTROL {
            return;
        }
        let v = value as u8;
        if v & RC_RST_CPU != 0 {
            self.request = Some(BoardRequest::Reset);
        }
        self.value = v & RC_SYS_RST;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rst_cpu_resets() {
        let mut r = ResetControl::new();
        r.io_write(RESET_CONTROL, 1, 0x02);
        assert_eq!(r.take_request(), None);
        assert_eq!(r.io_read(RESET_CONTROL, 1), 0x02);
        r.io_write(RESET_CONTROL, 1, 0x06);
        assert_eq!(r.take_request(), Some(BoardRequest::Reset));
    }
}
