//! Segment and gate descriptors as stored in the GDT, LDT and IDT.

use crate::state::{attr, Segment};

/// System-descriptor and gate types (the 4-bit type field when S = 0).
pub mod system_type {
    /// 16-bit TSS, available.
    pub const TSS16_AVAILABLE: u8 = 1;
    /// LDT.
    pub const LDT: u8 = 2;
    /// 16-bit TSS, busy.
    pub const TSS16_BUSY: u8 = 3;
    /// 16-bit call gate.
    pub const CALL_GATE16: u8 = 4;
    /// Task gate.
    pub const TASK_GATE: u8 = 5;
    /// 16-bit interrupt gate.
    pub const INT_GATE16: u8 = 6;
    /// 16-bit trap gate.
    pub const TRAP_GATE16: u8 = 7;
    /// 32-bit TSS, available.
    pub const TSS32_AVAILABLE: u8 = 9;
    /// 32-bit TSS, busy.
    pub const TSS32_BUSY: u8 = 11;
    /// 32-bit call gate.
    pub const CALL_GATE32: u8 = 12;
    /// 32-bit interrupt gate.
    pub const INT_GATE32: u8 = 14;
    /// 32-bit trap gate.
    pub const TRAP_GATE32: u8 = 15;
}

/// A raw 8-byte descriptor with accessors for both segment and gate layouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Descriptor(pub u64);

impl Descriptor {
    /// Attribute bits in [`attr`] layout.
    pub fn attrs(&self) -> u16 {
        ((self.0 >> 40) & 0xF0FF) as u16
    }

    /// The 4-bit type field.
    pub fn kind(&self) -> u8 {
        ((self.0 >> 40) & 0xF) as u8
    }

    /// Code/data (true) or system (false).
    pub fn is_code_or_data(&self) -> bool {
        self.attrs() & attr::S != 0
    }

    /// Code segment.
    pub fn is_code(&self) -> bool {
        self.is_code_or_data() && self.attrs() & attr::CODE != 0
    }

    /// Conforming code segment.
    pub fn is_conforming(&self) -> bool {
        self.is_code() && self.attrs() & attr::DC != 0
    }

    /// Readable code or any data segment.
    pub fn is_readable(&self) -> bool {
        self.is_code_or_data() && (!self.is_code() || self.attrs() & attr::RW != 0)
    }

    /// Writable data segment.
    pub fn is_writable_data(&self) -> bool {
        self.is_code_or_data() && !self.is_code() && self.attrs() & attr::RW != 0
    }

    /// Descriptor privilege level.
    pub fn dpl(&self) -> u8 {
        ((self.0 >> 45) & 3) as u8
    }

    /// Present bit.
    pub fn present(&self) -> bool {
        self.0 & (1 << 47) != 0
    }

    /// Segment base.
    pub fn base(&self) -> u64 {
        ((self.0 >> 16) & 0xFF_FFFF) | ((self.0 >> 32) & 0xFF00_0000)
    }

    /// Byte-granular segment limit (scaled when G is set).
    pub fn limit(&self) -> u32 {
        let raw = ((self.0 & 0xFFFF) | ((self.0 >> 32) & 0xF_0000)) as u32;
        if self.0 & (1 << 55) != 0 {
            (raw << 12) | 0xFFF
        } else {
            raw
        }
    }

    /// The segment cache this descriptor loads, with the given selector.
    pub fn to_segment(&self, selector: u16) -> Segment {
        Segment {
            base: self.base(),
            limit: self.limit(),
            selector,
            attrs: self.attrs(),
        }
    }

    /// Gate: target code-segment selector.
    pub fn gate_selector(&self) -> u16 {
        (self.0 >> 16) as u16
    }

    /// Gate: target offset (16 bits for 286 gates, 32 for 386 gates).
    pub fn gate_offset(&self) -> u32 {
        let low = (self.0 & 0xFFFF) as u32;
        if self.kind() & 8 != 0 {
            low | ((self.0 >> 32) as u32 & 0xFFFF_0000)
        } else {
            low
        }
    }

    /// Call gate: number of stack parameters to copy.
    pub fn gate_param_count(&self) -> u32 {
        ((self.0 >> 32) & 0x1F) as u32
    }
}
