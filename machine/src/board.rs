//! The PC board: guest memory plus the legacy devices, presented to the CPU as its [`Bus`].

use crate::memory::GuestMemory;
use vx86_cpu::{Bus, PageBacking};
use vx86_devices::PcDevices;

/// Guest memory and devices: everything outside the CPU.
pub struct Board {
    /// RAM and ROM with the memory map.
    pub memory: GuestMemory,
    /// The PC's legacy devices.
    pub devices: PcDevices,
}

impl Bus for Board {
    #[inline]
    fn memory(&mut self) -> &mut [u8] {
        self.memory.host()
    }
    #[inline]
    fn backing(&self, paddr: u64) -> PageBacking {
        self.memory.backing(paddr)
    }
    fn mmio_read(&mut self, _paddr: u64, size: u8) -> u64 {
        u64::MAX >> (64 - 8 * u32::from(size.clamp(1, 8)))
    }
    fn mmio_write(&mut self, _paddr: u64, _size: u8, _value: u64) {}
    fn io_read(&mut self, port: u16, size: u8) -> u32 {
        self.devices.io_read(port, size)
    }
    fn io_write(&mut self, port: u16, size: u8, value: u32) {
        self.devices.io_write(port, size, value)
    }
    #[inline]
    fn interrupt_pending(&self) -> bool {
        self.devices.interrupt_pending()
    }
    fn acknowledge_interrupt(&mut self) -> u8 {
        self.devices.acknowledge_interrupt()
    }
    fn a20_enabled(&self) -> bool {
        self.devices.a20_enabled()
    }
    fn stop_requested(&self) -> bool {
        self.devices.request_pending()
    }
}
