//! PC device models for vx86 and the port I/O map that routes an access to its device.
//!
//! The machine builds one [`PcDevices`] from a [`PcConfig`] and talks only to it: port reads and writes,
//! [`PcDevices::poll`] to move timers to the [`Clock`]'s present, interrupt acceptance (8259 pair, IOAPIC and local
//! APIC), MMIO to the APICs, and the [`BoardRequest`]s (reset, power-off, debug exit, guest panic) the guest makes.
//! Every device is also usable alone through [`IoDevice`].

pub mod apic_bus;
pub mod ata;
pub mod bus;
pub mod clock;
pub mod debug_exit;
pub mod debugcon;
pub mod display;
pub mod dma;
pub mod fw_cfg;
pub mod i8042;
pub mod image;
pub mod ioapic;
pub mod lapic;
pub mod pc;
pub mod pc_testdev;
pub mod pci;
pub mod pic;
pub mod pit;
pub mod pm;
pub mod port92;
pub mod post;
pub mod ps2_mouse;
pub mod pvpanic;
pub mod reset_control;
pub mod rtc;
pub mod scancode;
pub mod shutdown_port;
#[cfg(test)]
mod test_sink;
pub mod uart;
pub mod vga;

pub use apic_bus::{ApicBus, StartupSignal};
pub use ata::{Disk, DiskError, FileDisk, IdeDevice, IdeMedia, MemDisk};
pub use bus::{BoardRequest, IoDevice, PortMap, PortMapError, OPEN_BUS};
pub use clock::Clock;
pub use display::{Frame, InputEvent, TextCell, TextScreen};
pub use dma::{DmaError, DmaMemory};
pub use fw_cfg::{FwCfg, FwCfgError, FwCfgItems};
pub use image::{open_image, ImageFormat, ImageOptions};
pub use ioapic::{IoApic, IOAPIC_BASE};
pub use lapic::{ApicBaseError, Lapic, APIC_TIMER_HZ, LAPIC_DEFAULT_BASE};
pub use pc::{ram_split, PcConfig, PcDevices};
pub use vga::Vga;
