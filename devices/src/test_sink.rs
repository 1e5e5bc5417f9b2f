//! A host-side byte sink for the devices' tests: it keeps what a device writes (serial, debug console) and shares it
//! with the test.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// Keeps every byte written, shared between its clones.
#[derive(Clone, Default)]
pub(crate) struct SharedSink(pub(crate) Arc<Mutex<Vec<u8>>>);

impl Write for SharedSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
