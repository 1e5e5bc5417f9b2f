//! QEMU's pvpanic ISA device at port 0x505: how a guest kernel tells the host that it has panicked.
//!
//! The device is one byte-wide I/O port. Reading it tells the guest which events the device understands, one bit
//! per event: here [`PVPANIC_PANICKED`] and [`PVPANIC_CRASH_LOADED`], so a read returns 0x03. The guest reports an
//! event by writing its bit back, and should only write bits that both it and the device know; the device ignores
//! any other bit.
//!
//! - [`PVPANIC_PANICKED`] (bit 0): the guest has panicked and will not recover by itself. The device asks the board
//!   to stop with [`BoardRequest::GuestPanicked`]. This bit wins when both are written at once.
//! - [`PVPANIC_CRASH_LOADED`] (bit 1): the guest has panicked but has a crash kernel (kdump) loaded that will take
//!   over, so the host should only take note. The device records it ([`PvPanic::crash_loaded`]) and the guest runs
//!   on.
//!
//! Linux finds the device through the ACPI ID `QEMU0001` in the DSDT (its `pvpanic-mmio` driver takes the port from
//! the device's `_CRS`), reads the supported events once, and writes one of them from its panic notifier.

use crate::bus::{BoardRequest, IoDevice, OPEN_BUS};

/// The port (QEMU's default `ioport` for `-device pvpanic`).
pub const PVPANIC_PORT: u16 = 0x505;
/// Event bit 0: the guest panicked and the host should handle it.
pub const PVPANIC_PANICKED: u8 = 0x01;
/// Event bit 1: the guest panicked and a crash kernel will handle it; the host only records it.
pub const PVPANIC_CRASH_LOADED: u8 = 0x02;
/// The events this device supports: what a read of [`PVPANIC_PORT`] returns.
pub const PVPANIC_EVENTS: u8 = PVPANIC_PANICKED | PVPANIC_CRASH_LOADED;

/// The pvpanic device.
#[derive(Debug, Clone, Default)]
pub struct PvPanic {
    /// The guest reported a panic that a crash kernel will handle.
    crash_loaded: bool,
    /// Stop requested by the guest's panic, not yet taken by the board.
    request: Option<BoardRequest>,
}

impl PvPanic {
    /// A device that has seen no event.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the guest has reported a panic handled by its own crash kernel ([`PVPANIC_CRASH_LOADED`]).
    pub fn crash_loaded(&self) -> bool {
        self.crash_loaded
    }

    /// The stop the guest's panic asked for, once.
    pub fn take_request(&mut self) -> Option<BoardRequest> {
        self.request.take()
    }
}

impl IoDevice for PvPanic {
    fn io_read(&mut self, port: u16, _size: u8) -> u32 {
        if port == PVPANIC_PORT {
            u32::from(PVPANIC_EVENTS)
        } else {
            OPEN_BUS
        }
    }

    fn io_write(&mut self, port: u16, _size: u8, value: u32) {
        if port != PVPANIC_PORT {
            return;
        }
        let events = value as u8 & PVPANIC_EVENTS;
        if events & PVPANIC_PANICKED != 0 {
            self.request = Some(BoardRequest::GuestPanicked);
        } else if events & PVPANIC_CRASH_LOADED != 0 {
            self.crash_loaded = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_lists_the_supported_events() {
        let mut p = PvPanic::new();
        assert_eq!(p.io_read(PVPANIC_PORT, 1), 0x03);
        assert_eq!(p.io_read(PVPANIC_PORT + 1, 1), OPEN_BUS);
    }

    #[test]
    fn panicked_asks_the_board_to_stop_once() {
        let mut p = PvPanic::new();
        p.io_write(PVPANIC_PORT, 1, 0x01);
        assert_eq!(p.take_request(), Some(BoardRequest::GuestPanicked));
        assert_eq!(p.take_request(), None);
        // Both bits: the panic wins and the crash kernel is not recorded.
        p.io_write(PVPANIC_PORT, 1, 0x03);
        assert_eq!(p.take_request(), Some(BoardRequest::GuestPanicked));
        assert!(!p.crash_loaded());
    }

    #[test]
    fn crash_loaded_and_unknown_bits_do_not_stop_the_guest() {
        let mut p = PvPanic::new();
        p.io_write(PVPANIC_PORT, 1, 0xFC);
        assert_eq!(p.take_request(), None);
        assert!(!p.crash_loaded(), "unknown bits are ignored");
        p.io_write(PVPANIC_PORT, 1, 0x02);
        assert_eq!(p.take_request(), None);
        assert!(p.crash_loaded());
        // Another port is not decoded.
        p.io_write(PVPANIC_PORT + 1, 1, 0x01);
        assert_eq!(p.take_request(), None);
    }
}
