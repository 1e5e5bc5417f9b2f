//! Port I/O plumbing: the [`IoDevice`] trait every port device implements, the [`PortMap`] that says which device
//! owns a port, and the [`BoardRequest`]s a device can make of the board (reset, power-off, debug exit, guest
//! panic).

use thiserror::Error;

/// Value of a read from a port nobody decodes: the ISA bus floats high.
pub const OPEN_BUS: u32 = 0xFFFF_FFFF;

/// Mask for an access of `size` bytes (1, 2 or 4; anything else is treated as 4).
pub fn size_mask(size: u8) -> u32 {
    match size {
        1 => 0xFF,
        2 => 0xFFFF,
        _ => 0xFFFF_FFFF,
    }
}

/// Something a device asks of the board; the machine takes it with `PcDevices::take_request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoardRequest {
    /// Reset the whole machine (i8042 pulse, port 0x92 bit 0, 0xCF9).
    Reset,
    /// Turn the machine off (ACPI sleep state S5).
    PowerOff,
    /// isa-debug-exit: stop with this process exit status (`(value << 1) | 1`).
    DebugExit(i32),
    /// pvpanic: the guest kernel panicked and asks the host to handle it (stop the machine).
    GuestPanicked,
}

/// A device on the port I/O bus.
///
/// `port` is the absolute port number; `size` is 1, 2 or 4. A device that only decodes byte accesses may ignore
/// `size`: the bus splits wider accesses into bytes for devices whose [`IoDevice::wide_access`] is false.
pub trait IoDevice {
    /// Reads `size` bytes at `port`. Ports the device does not decode read as open bus.
    fn io_read(&mut self, port: u16, size: u8) -> u32;

    /// Writes the low `size` bytes of `value` to `port`. Writes to ports the device does not decode are ignored.
    fn io_write(&mut self, port: u16, size: u8, value: u32);

    /// Whether the device takes 2- and 4-byte accesses itself (true) or wants them split into bytes (false).
    fn wide_access(&self) -> bool {
        false
    }
}

/// Errors while building a [`PortMap`].
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PortMapError {
    /// A port range would overlap one already registered.
    #[error("port range {start:#06x}+{len} overlaps an already registered device at port {conflict:#06x}")]
    Overlap {
        /// First port of the new range.
        start: u16,
        /// Number of ports in the new range.
        len: u16,
        /// First port that was already taken.
        conflict: u16,
    },
    /// The range runs past port 0xFFFF or is empty.
    #[error("port range {start:#06x}+{len} is empty or runs past port 0xffff")]
    BadRange {
        /// First port of the range.
        start: u16,
        /// Number of ports.
        len: u16,
    },
}

/// Which device (named by a small copyable key `K`) owns each of the 65536 ports.
#[derive(Debug, Clone)]
pub struct PortMap<K: Copy> {
    owners: Vec<Option<K>>,
}

impl<K: Copy> Default for PortMap<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Copy> PortMap<K> {
    /// An empty map: every port unassigned.
    pub fn new() -> Self {
        Self {
            owners: vec![None; 0x1_0000],
        }
    }

    /// Gives ports `start..start + len` to `key`; fails if any of them is taken.
    pub fn register(&mut self, start: u16, len: u16, key: K) -> Result<(), PortMapError> {
        let end = usize::from(start) + usize::from(len);
        if len == 0 || end > self.owners.len() {
            return Err(PortMapError::BadRange { start, len });
        }
        if let Some(i) = (usize::from(start)..end).find(|&p| self.owners[p].is_some()) {
            return Err(PortMapError::Overlap {
                start,
                len,
                conflict: i as u16,
            });
        }
        for slot in &mut self.owners[usize::from(start)..end] {
            *slot = Some(key);
        }
        Ok(())
    }

    /// Frees every port `key` owns.
    pub fn release(&mut self, key: K)
    where
        K: PartialEq,
    {
        for slot in &mut self.owners {
            if *slot == Some(key) {
                *slot = None;
            }
        }
    }

    /// The device owning `port`, if any.
    pub fn lookup(&self, port: u16) -> Option<K> {
        self.owners.get(usize::from(port)).copied().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_lookup_and_overlap() {
        let mut m = PortMap::new();
        m.register(0x20, 2, 'p').unwrap();
        m.register(0xFFFF, 1, 'z').unwrap();
        assert_eq!(m.lookup(0x20), Some('p'));
        assert_eq!(m.lookup(0x21), Some('p'));
        assert_eq!(m.lookup(0x22), None);
        assert_eq!(m.lookup(0xFFFF), Some('z'));
        assert_eq!(
            m.register(0x21, 4, 'q'),
            Err(PortMapError::Overlap {
                start: 0x21,
                len: 4,
                conflict: 0x21
            })
        );
        assert_eq!(
            m.register(0xFFFF, 2, 'q'),
            Err(PortMapError::BadRange {
                start: 0xFFFF,
                len: 2
            })
        );
        assert_eq!(
            m.register(0x100, 0, 'q'),
            Err(PortMapError::BadRange {
                start: 0x100,
                len: 0
            })
        );
        m.release('p');
        assert_eq!(m.lookup(0x20), None);
        m.register(0x21, 4, 'q').unwrap();
        assert_eq!(size_mask(1), 0xFF);
        assert_eq!(size_mask(2), 0xFFFF);
        assert_eq!(size_mask(4), 0xFFFF_FFFF);
    }
}
