//! The PCI bus of QEMU's `pc` machine: configuration mechanism #1 (ports 0xCF8 and 0xCFC-0xCFF, PCI Local Bus
//! Specification 3.0, 3.2.2.3.2), bus 0 only, and its functions' configuration spaces.
//!
//! A function is its [`ConfigSpace`]; what a function does with its registers (the host bridge's PAM bytes, a
//! BAR's ports) is read from that space by whoever implements the behaviour (the board, the device). Functions
//! plug in with one [`PciBus::plug`] line each; [`chipset`] builds the i440FX/PIIX ones.

pub mod chipset;
pub mod config;

pub use config::{Bar, BarKind, ConfigSpace, Identity};

use crate::bus::{IoDevice, OPEN_BUS};

/// CONFIG_ADDRESS.
pub const CONFIG_ADDRESS: u16 = 0xCF8;
/// CONFIG_DATA (0xCFC-0xCFF: the byte lane selects the register byte).
pub const CONFIG_DATA: u16 = 0xCFC;
/// CONFIG_ADDRESS bit 31: the next data access is a configuration cycle.
const ENABLE: u32 = 1 << 31;

/// Where a function sits: device (0-31) and function (0-7) on bus 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Slot {
    /// Device number.
    pub device: u8,
    /// Function number.
    pub function: u8,
}

/// A configuration write that reached a function, for the board to react to (the host bridge's PAM registers
/// change the memory map, for instance).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigWrite {
    /// The function written.
    pub slot: Slot,
    /// First register byte.
    pub offset: u8,
    /// Bytes written.
    pub size: u8,
}

/// Bus 0 and the configuration mechanism.
#[derive(Debug, Clone, Default)]
pub struct PciBus {
    /// The last value written to CONFIG_ADDRESS (bits 1-0 read as 0).
    address: u32,
    functions: Vec<(Slot, ConfigSpace)>,
    /// Writes not yet taken by the board.
    writes: Vec<ConfigWrite>,
}

impl PciBus {
    /// An empty bus.
    pub fn new() -> PciBus {
        PciBus::default()
    }

    /// Plugs a function in at `slot` (replacing one already there).
    pub fn plug(&mut self, slot: Slot, config: ConfigSpace) {
        self.functions.retain(|(s, _)| *s != slot);
        self.functions.push((slot, config));
        self.functions.sort_by_key(|(s, _)| *s);
    }

    /// The function at `slot`.
    pub fn function(&self, slot: Slot) -> Option<&ConfigSpace> {
        self.functions
            .iter()
            .find(|(s, _)| *s == slot)
            .map(|(_, c)| c)
    }

    /// Every function, in slot order.
    pub fn functions(&self) -> impl Iterator<Item = (Slot, &ConfigSpace)> {
        self.functions.iter().map(|(s, c)| (*s, c))
    }

    /// The configuration writes since the last call, oldest first.
    pub fn take_writes(&mut self) -> Vec<ConfigWrite> {
        std::mem::take(&mut self.writes)
    }

    /// The function and register CONFIG_ADDRESS selects for a data access at `port`, if a configuration cycle is
    /// enabled, on bus 0, to a function that exists.
    fn selected(&mut self, port: u16) -> Option<(Slot, u8, &mut ConfigSpace)> {
        let a = self.address;
        if a & ENABLE == 0 || (a >> 16) & 0xFF != 0 {
            return None;
        }
        let slot = Slot {
            device: ((a >> 11) & 0x1F) as u8,
            function: ((a >> 8) & 0x7) as u8,
        };
        let offset = (a & 0xFC) as u8 + (port - CONFIG_DATA) as u8;
        let (_, config) = self.functions.iter_mut().find(|(s, _)| *s == slot)?;
        Some((slot, offset, config))
    }
}

impl IoDevice for PciBus {
    fn io_read(&mut self, port: u16, size: u8) -> u32 {
        match port {
            // CONFIG_ADDRESS answers dword accesses only; narrower ones are other devices' (0xCF9 is reset control).
            CONFIG_ADDRESS if size == 4 => self.address,
            CONFIG_DATA..=0xCFF => match self.selected(port) {
                Some((_, offset, config)) => config.read(offset, size),
                None => OPEN_BUS,
            },
            _ => OPEN_BUS,
        }
    }

    fn io_write(&mut self, port: u16, size: u8, value: u32) {
        match port {
            CONFIG_ADDRESS if size == 4 => self.address = value & !0x7F00_0003,
            CONFIG_DATA..=0xCFF => {
                if let Some((slot, offset, config)) = self.selected(port) {
                    config.write(offset, size, value);
                    self.writes.push(ConfigWrite { slot, offset, size });
                }
            }
            _ => {}
        }
    }

    fn wide_access(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests;
