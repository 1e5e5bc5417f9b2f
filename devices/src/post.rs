//! POST code latch at port 0x80: firmware writes progress codes here (and some code uses it as an I/O delay).

use crate::bus::{IoDevice, OPEN_BUS};

/// The POST diagnostic port.
pub const POST_PORT: u16 = 0x80;

/// Remembers the last POST code and, when tracing, prints each to stderr as `post: 0xNN`.
#[derive(Debug, Clone, Default)]
pub struct PostCode {
    /// Last code written.
    code: u8,
    /// Print every code to stderr.
    trace: bool,
}

impl PostCode {
    /// A latch holding 0; `trace` prints each code written.
    pub fn new(trace: bool) -> Self {
        Self { code: 0, trace }
    }

    /// The last code written.
    pub fn code(&self) -> u8 {
        self.code
    }
}

impl IoDevice for PostCode {
    fn io_read(&mut self, port: u16, _size: u8) -> u32 {
        if port == POST_PORT {
            u32::from(self.code)
        } else {
            OPEN_BUS
        }
    }

    fn io_write(&mut self, port: u16, _size: u8, value: u32) {
        if port == POST_PORT {
            self.code = value as u8;
            if self.trace {
                eprintln!("post: {:#04x}", self.code);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latches_last_code() {
        let mut p = PostCode::new(false);
        p.io_write(POST_PORT, 1, 0x12);
        p.io_write(POST_PORT, 1, 0x1AB);
        assert_eq!(p.code(), 0xAB);
        assert_eq!(p.io_read(POST_PORT, 1), 0xAB);
        assert_eq!(p.io_read(0x81, 1), OPEN_BUS);
    }
}
