//! One PCI function's 256-byte configuration space (PCI Local Bus Specification 3.0, chapter 6): the header, the
//! guest-writable bits of every byte, and the base address registers.

/// Offsets in the type-0 configuration header.
pub mod offset {
    /// Vendor ID (16 bits).
    pub const VENDOR_ID: u8 = 0x00;
    /// Device ID (16 bits).
    pub const DEVICE_ID: u8 = 0x02;
    /// Command register (16 bits).
    pub const COMMAND: u8 = 0x04;
    /// Status register (16 bits).
    pub const STATUS: u8 = 0x06;
    /// Revision ID.
    pub const REVISION: u8 = 0x08;
    /// Programming interface, then sub-class and base class at 0x0A and 0x0B.
    pub const PROG_IF: u8 = 0x09;
    /// Header type (bit 7: a multi-function device).
    pub const HEADER_TYPE: u8 = 0x0E;
    /// The first base address register; six follow at 4-byte steps.
    pub const BAR0: u8 = 0x10;
    /// Subsystem vendor ID (16 bits), then subsystem ID at 0x2E.
    pub const SUBSYSTEM_VENDOR_ID: u8 = 0x2C;
    /// Interrupt line (the IRQ firmware routed INTx to).
    pub const INTERRUPT_LINE: u8 = 0x3C;
    /// Interrupt pin (1 = INTA#, 0 = none).
    pub const INTERRUPT_PIN: u8 = 0x3D;
}

/// Command register: I/O space decoding enabled.
pub const COMMAND_IO: u16 = 1 << 0;
/// Command register: memory space decoding enabled.
pub const COMMAND_MEMORY: u16 = 1 << 1;
/// Command register: bus mastering (DMA) enabled.
pub const COMMAND_MASTER: u16 = 1 << 2;
/// Command register: INTx disabled.
pub const COMMAND_INTX_DISABLE: u16 = 1 << 10;
/// Header type bit: the device has more functions than function 0.
pub const MULTI_FUNCTION: u8 = 0x80;
/// The subsystem IDs QEMU gives its devices (Red Hat, "QEMU virtual machine"), so a guest sees the same.
pub const QEMU_SUBSYSTEM: (u16, u16) = (0x1AF4, 0x1100);

/// What identifies a function to the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// Vendor ID.
    pub vendor: u16,
    /// Device ID.
    pub device: u16,
    /// Base class, sub-class, programming interface.
    pub class: (u8, u8, u8),
    /// Revision ID.
    pub revision: u8,
}

/// Which address space a base address register decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarKind {
    /// I/O ports (bit 0 of the register reads 1).
    Io,
    /// 32-bit memory, not prefetchable.
    Memory,
    /// 32-bit prefetchable memory (bit 3 of the register reads 1): a framebuffer.
    PrefetchableMemory,
}

/// A base address register: its kind and size (a power of two; zero when the BAR is not implemented).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bar {
    /// Address space.
    pub kind: BarKind,
    /// Bytes decoded.
    pub size: u32,
}

/// A function's configuration space.
#[derive(Debug, Clone)]
pub struct ConfigSpace {
    bytes: [u8; 256],
    /// Bits of each byte a configuration write may change; the rest are read only.
    writable: [u8; 256],
    bars: [Option<Bar>; 6],
}

impl ConfigSpace {
    /// A type-0 header for `id` with QEMU's subsystem IDs, command bits I/O, memory, bus master and INTx
    /// disable writable, the interrupt line writable, and no BARs or interrupt pin yet.
    pub fn new(id: Identity) -> ConfigSpace {
        let mut c = ConfigSpace {
            bytes: [0; 256],
            writable: [0; 256],
            bars: [None; 6],
        };
        c.set_u16(offset::VENDOR_ID, id.vendor);
        c.set_u16(offset::DEVICE_ID, id.device);
        c.bytes[usize::from(offset::REVISION)] = id.revision;
        let (base, sub, prog_if) = id.class;
        c.bytes[usize::from(offset::PROG_IF)..usize::from(offset::PROG_IF) + 3]
            .copy_from_slice(&[prog_if, sub, base]);
        c.set_u16(offset::SUBSYSTEM_VENDOR_ID, QEMU_SUBSYSTEM.0);
        c.set_u16(offset::SUBSYSTEM_VENDOR_ID + 2, QEMU_SUBSYSTEM.1);
        c.set_writable(
            offset::COMMAND,
            &(COMMAND_IO | COMMAND_MEMORY | COMMAND_MASTER | COMMAND_INTX_DISABLE).to_le_bytes(),
        );
        c.set_writable(offset::INTERRUPT_LINE, &[0xFF]);
        c
    }

    /// Marks the function as one of several on its device (header type bit 7, on function 0).
    pub fn set_multi_function(&mut self) {
        self.bytes[usize::from(offset::HEADER_TYPE)] |= MULTI_FUNCTION;
    }

    /// Gives the function interrupt pin INTA# (the only one this board's functions use).
    pub fn set_interrupt_pin_a(&mut self) {
        self.bytes[usize::from(offset::INTERRUPT_PIN)] = 1;
    }

    /// Implements base address register `index` (0-5) as `bar`; its address bits become writable, so a write of
    /// all ones reads back the size mask (the sizing protocol).
    pub fn set_bar(&mut self, index: usize, bar: Bar) {
        let at = offset::BAR0 + 4 * index as u8;
        let (flags, low_bits) = match bar.kind {
            BarKind::Io => (1u32, 0x3u32),
            BarKind::Memory => (0, 0xF),
            BarKind::PrefetchableMemory => (0x8, 0xF),
        };
        let address_bits = !(bar.size.max(low_bits + 1) - 1) & !low_bits;
        self.set_u32(at, flags);
        self.set_writable(at, &address_bits.to_le_bytes());
        self.bars[index] = Some(bar);
    }

    /// Makes the bits of `mask` writable at `at` onwards (device-specific registers).
    pub fn set_writable(&mut self, at: u8, mask: &[u8]) {
        let at = usize::from(at);
        self.writable[at..at + mask.len()].copy_from_slice(mask);
    }

    /// Sets a byte as the device sees it (ignoring writability), for a device's own registers and power-on values.
    pub fn set_u8(&mut self, at: u8, value: u8) {
        self.bytes[usize::from(at)] = value;
    }

    /// Sets a 16-bit field as the device sees it.
    pub fn set_u16(&mut self, at: u8, value: u16) {
        let at = usize::from(at);
        self.bytes[at..at + 2].copy_from_slice(&value.to_le_bytes());
    }

    /// Sets a 32-bit field as the device sees it.
    pub fn set_u32(&mut self, at: u8, value: u32) {
        let at = usize::from(at);
        self.bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
    }

    /// A byte of the space.
    pub fn u8(&self, at: u8) -> u8 {
        self.bytes[usize::from(at)]
    }

    /// A 16-bit field.
    pub fn u16(&self, at: u8) -> u16 {
        u16::from_le_bytes([self.u8(at), self.u8(at.wrapping_add(1))])
    }

    /// A 32-bit field.
    pub fn u32(&self, at: u8) -> u32 {
        u32::from(self.u16(at)) | u32::from(self.u16(at.wrapping_add(2))) << 16
    }

    /// A configuration read of `size` (1, 2 or 4) bytes at `at` (bytes past the end of the space read 0).
    pub fn read(&self, at: u8, size: u8) -> u32 {
        (0..size).fold(0, |v, k| {
            let byte = self.bytes.get(usize::from(at) + usize::from(k)).copied();
            v | u32::from(byte.unwrap_or(0)) << (8 * k)
        })
    }

    /// A configuration write: only the writable bits of each byte change.
    pub fn write(&mut self, at: u8, size: u8, value: u32) {
        for k in 0..usize::from(size) {
            let Some(i) = usize::from(at).checked_add(k).filter(|&i| i < 256) else {
                return;
            };
            let w = self.writable[i];
            let v = (value >> (8 * k)) as u8;
            self.bytes[i] = (self.bytes[i] & !w) | (v & w);
        }
    }

    /// The command register.
    pub fn command(&self) -> u16 {
        self.u16(offset::COMMAND)
    }

    /// Where BAR `index` decodes, if it is implemented, assigned (not zero) and its space is enabled in the
    /// command register.
    pub fn bar_base(&self, index: usize) -> Option<u32> {
        let bar = self.bars.get(index).copied().flatten()?;
        let raw = self.u32(offset::BAR0 + 4 * index as u8);
        let (base, enable) = match bar.kind {
            BarKind::Io => (raw & !0x3, COMMAND_IO),
            BarKind::Memory | BarKind::PrefetchableMemory => (raw & !0xF, COMMAND_MEMORY),
        };
        (base != 0 && self.command() & enable != 0).then_some(base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space() -> ConfigSpace {
        ConfigSpace::new(Identity {
            vendor: 0x8086,
            device: 0x7010,
            class: (0x01, 0x01, 0x80),
            revision: 0,
        })
    }

    #[test]
    fn header_identifies_the_function_and_keeps_read_only_bits() {
        let mut c = space();
        assert_eq!(c.read(0, 4), 0x7010_8086);
        assert_eq!(
            c.read(0x08, 4),
            0x0101_8000,
            "class, sub-class, prog-if, revision"
        );
        assert_eq!(c.read(0x2C, 4), 0x1100_1AF4);
        c.write(0, 4, 0xFFFF_FFFF);
        assert_eq!(c.read(0, 4), 0x7010_8086, "IDs are read only");
        c.write(offset::COMMAND, 2, 0xFFFF);
        assert_eq!(c.command(), 0x0407);
        c.write(offset::INTERRUPT_LINE, 1, 11);
        assert_eq!(c.u8(offset::INTERRUPT_LINE), 11);
        assert_eq!(c.read(0xFE, 4), 0, "past the end reads 0");
    }

    #[test]
    fn bars_answer_the_sizing_protocol_and_decode_only_when_enabled() {
        let mut c = space();
        c.set_bar(
            4,
            Bar {
                kind: BarKind::Io,
                size: 16,
            },
        );
        c.set_bar(
            0,
            Bar {
                kind: BarKind::Memory,
                size: 0x100_0000,
            },
        );
        c.write(0x20, 4, 0xFFFF_FFFF);
        assert_eq!(c.read(0x20, 4), 0xFFFF_FFF1, "16 bytes of I/O");
        c.write(0x10, 4, 0xFFFF_FFFF);
        assert_eq!(c.read(0x10, 4), 0xFF00_0000, "16 MiB of memory");
        assert_eq!(c.read(0x14, 4), 0, "an absent BAR reads 0");
        c.write(0x14, 4, 0xFFFF_FFFF);
        assert_eq!(c.read(0x14, 4), 0);
        c.write(0x20, 4, 0xC000);
        assert_eq!(c.bar_base(4), None, "I/O decoding is off");
        c.write(offset::COMMAND, 2, u32::from(COMMAND_IO));
        assert_eq!(c.bar_base(4), Some(0xC000));
        assert_eq!(c.bar_base(0), None, "memory decoding is off");
    }
}
