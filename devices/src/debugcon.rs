//! The debug console at port 0xE9 (Bochs' "port E9 hack", QEMU's `isa-debugcon`, `-debugcon`): every byte written
//! goes straight to the host, with no UART to program first, so the earliest boot code can print.
//!
//! A read returns 0xE9, the value QEMU's device reads back by default and what guests check to see whether the
//! console is there.

use crate::bus::{IoDevice, OPEN_BUS};
use std::io::Write;

/// The port.
pub const DEBUGCON_PORT: u16 = 0xE9;
/// What a read of [`DEBUGCON_PORT`] returns (QEMU's `readback` default).
pub const DEBUGCON_READBACK: u8 = 0xE9;

/// The debug console.
pub struct DebugCon {
    /// Where the bytes go (None: discarded).
    out: Option<Box<dyn Write + Send>>,
}

impl std::fmt::Debug for DebugCon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DebugCon")
            .field("connected", &self.out.is_some())
            .finish()
    }
}

impl DebugCon {
    /// A console writing to `out`.
    pub fn new(out: Option<Box<dyn Write + Send>>) -> Self {
        Self { out }
    }
}

impl IoDevice for DebugCon {
    fn io_read(&mut self, port: u16, _size: u8) -> u32 {
        if port == DEBUGCON_PORT {
            u32::from(DEBUGCON_READBACK)
        } else {
            OPEN_BUS
        }
    }

    fn io_write(&mut self, port: u16, _size: u8, value: u32) {
        if port != DEBUGCON_PORT {
            return;
        }
        if let Some(out) = &mut self.out {
            // A console that went away must not stop the guest: errors are dropped.
            let _ = out.write_all(&[value as u8]);
            let _ = out.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_sink::SharedSink as Sink;

    #[test]
    fn bytes_written_reach_the_host_and_reads_give_0xe9() {
        let sink = Sink::default();
        let mut d = DebugCon::new(Some(Box::new(sink.clone())));
        for b in *b"hi\n" {
            d.io_write(DEBUGCON_PORT, 1, u32::from(b));
        }
        d.io_write(DEBUGCON_PORT + 1, 1, u32::from(b'x'));
        assert_eq!(*sink.0.lock().unwrap(), b"hi\n");
        assert_eq!(d.io_read(DEBUGCON_PORT, 1), 0xE9);
        assert_eq!(d.io_read(DEBUGCON_PORT + 1, 1), OPEN_BUS);
        // Without a host side the bytes are dropped quietly.
        DebugCon::new(None).io_write(DEBUGCON_PORT, 1, 0x41);
    }
}
