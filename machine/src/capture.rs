//! A shareable in-memory serial sink, so tests and tools can read what the guest printed.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// Bytes written to a serial port, readable while the guest still runs.
#[derive(Clone, Default)]
pub struct SerialCapture(Arc<Mutex<Vec<u8>>>);

impl SerialCapture {
    /// An empty capture.
    pub fn new() -> SerialCapture {
        SerialCapture::default()
    }

    /// Everything written so far, as (lossy) UTF-8.
    pub fn text(&self) -> String {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for SerialCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
