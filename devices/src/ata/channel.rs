//! An IDE channel: a command block of eight ports, a device control / alternate status port and one IRQ line,
//! shared by up to two devices (master and slave).
//!
//! As ATA specifies, the host's writes to the byte registers (features, count, LBA, device) reach both devices,
//! while the data port, commands and register reads go to the device the device register selects. EXECUTE DEVICE
//! DIAGNOSTIC and a software reset (SRST) reach both. An absent device reads as under QEMU: 0 in its task file
//! and status, so a host polling it sees no busy and no ready device; commands to it are ignored.

use super::prd::DmaPort;
use super::taskfile::TaskFile;
use super::{
    IdeDevice, CMD_EXECUTE_DIAGNOSTIC, CONTROL_HOB, CONTROL_NIEN, CONTROL_SRST, DEVICE_DEV,
    REG_DATA, REG_DEVICE, REG_STATUS_COMMAND, STATUS_BSY,
};
use crate::bus::{size_mask, IoDevice, OPEN_BUS};

/// Command block base of the primary channel.
pub const ATA_PRIMARY_BASE: u16 = 0x1F0;
/// Device control (write) / alternate status (read) of the primary channel.
pub const ATA_PRIMARY_CONTROL: u16 = 0x3F6;
/// ISA IRQ of the primary channel.
pub const ATA_PRIMARY_IRQ: u8 = 14;
/// Command block base of the secondary channel.
pub const ATA_SECONDARY_BASE: u16 = 0x170;
/// Device control (write) / alternate status (read) of the secondary channel.
pub const ATA_SECONDARY_CONTROL: u16 = 0x376;
/// ISA IRQ of the secondary channel.
pub const ATA_SECONDARY_IRQ: u8 = 15;

/// Which reset a device goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResetKind {
    /// Power-on or board reset, or the end of a software reset (SRST): defaults restored.
    Full,
    /// EXECUTE DEVICE DIAGNOSTIC (or an ATAPI DEVICE RESET): the signature, settings kept.
    Diagnostic,
}

/// What a channel needs of a device: its task file, commands and the data port.
pub(crate) trait AtaDevice: Send {
    /// The device's task file.
    fn task_file(&self) -> &TaskFile;
    /// The device's task file, to write.
    fn task_file_mut(&mut self) -> &mut TaskFile;
    /// Executes command `cmd` (written to the command register with this device selected).
    fn command(&mut self, cmd: u8);
    /// One 16-bit read of the data port (0xFFFF outside a data-in phase).
    fn read_data16(&mut self) -> u16;
    /// One 16-bit write of the data port (ignored outside a data-out phase).
    fn write_data16(&mut self, w: u16);
    /// Ends any data phase and resets the device, leaving its signature in the task file.
    fn reset(&mut self, kind: ResetKind);
    /// Whether a DMA command waits for the bus master to move its data (devices without DMA never wait).
    fn dma_pending(&self) -> bool {
        false
    }
    /// Moves the waiting DMA command's data through `port` and ends the command.
    fn run_dma(&mut self, _port: &mut dyn DmaPort) {}
}

/// The ports and IRQ a channel answers on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelPorts {
    /// First port of the command block (data register).
    pub base: u16,
    /// Device control / alternate status port.
    pub control: u16,
    /// ISA IRQ line.
    pub irq: u8,
}

impl ChannelPorts {
    /// The primary channel: 0x1F0-0x1F7, 0x3F6, IRQ 14.
    pub const PRIMARY: Self = Self {
        base: ATA_PRIMARY_BASE,
        control: ATA_PRIMARY_CONTROL,
        irq: ATA_PRIMARY_IRQ,
    };
    /// The secondary channel: 0x170-0x177, 0x376, IRQ 15.
    pub const SECONDARY: Self = Self {
        base: ATA_SECONDARY_BASE,
        control: ATA_SECONDARY_CONTROL,
        irq: ATA_SECONDARY_IRQ,
    };
}

/// One IDE channel and its devices.
pub struct AtaChannel {
    /// Where the channel answers.
    ports: ChannelPorts,
    /// Master (0) and slave (1).
    devices: [Option<Box<dyn AtaDevice>>; 2],
    /// Device control register.
    control: u8,
    /// The last value written to the device register (its DEV bit selects the device).
    select: u8,
}

impl std::fmt::Debug for AtaChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtaChannel")
            .field("ports", &self.ports)
            .field("master", &self.devices[0].as_ref().map(|d| d.task_file()))
            .field("slave", &self.devices[1].as_ref().map(|d| d.task_file()))
            .field("control", &self.control)
            .finish()
    }
}

impl AtaChannel {
    /// A channel at `ports` with `master` and `slave`, after power-on reset.
    pub fn new(ports: ChannelPorts, master: Option<IdeDevice>, slave: Option<IdeDevice>) -> Self {
        let mut channel = Self {
            ports,
            devices: [
                master.map(IdeDevice::into_device),
                slave.map(IdeDevice::into_device),
            ],
            control: 0,
            select: 0,
        };
        channel.hard_reset();
        channel
    }

    /// Where the channel answers.
    pub fn ports(&self) -> ChannelPorts {
        self.ports
    }

    /// A board reset (RESET- asserted): device control cleared, every device reset to its defaults.
    pub fn hard_reset(&mut self) {
        self.control = 0;
        self.reset_devices(ResetKind::Full);
    }

    /// The channel's IRQ output: the selected device's INTRQ unless nIEN.
    pub fn irq(&self) -> bool {
        self.control & CONTROL_NIEN == 0 && self.selected().is_some_and(|d| d.task_file().intrq)
    }

    /// Whether the selected device waits with a DMA command for the bus master.
    pub(crate) fn dma_pending(&self) -> bool {
        self.selected().is_some_and(|d| d.dma_pending())
    }

    /// Runs the selected device's waiting DMA command through `port` (the bus master's PRD walk).
    pub(crate) fn run_dma(&mut self, port: &mut dyn DmaPort) {
        if let Some(d) = self.selected_mut() {
            d.run_dma(port);
        }
    }

    fn reset_devices(&mut self, kind: ResetKind) {
        self.select = 0;
        for d in self.devices.iter_mut().flatten() {
            d.reset(kind);
        }
    }

    fn selected_index(&self) -> usize {
        usize::from(self.select & DEVICE_DEV != 0)
    }

    fn selected(&self) -> Option<&dyn AtaDevice> {
        self.devices[self.selected_index()].as_deref()
    }

    fn selected_mut(&mut self) -> Option<&mut (dyn AtaDevice + 'static)> {
        self.devices[self.selected_index()].as_deref_mut()
    }

    fn read_data16(&mut self) -> u16 {
        self.selected_mut().map_or(0xFFFF, |d| d.read_data16())
    }

    fn write_data16(&mut self, w: u16) {
        if let Some(d) = self.selected_mut() {
            d.write_data16(w);
        }
    }

    fn read_status(&self) -> u8 {
        self.selected().map_or(0, |d| d.task_file().status)
    }

    fn write_control(&mut self, v: u8) {
        let was_reset = self.control & CONTROL_SRST != 0;
        self.control = v;
        if v & CONTROL_SRST != 0 {
            for d in self.devices.iter_mut().flatten() {
                d.reset(ResetKind::Full);
                let tf = d.task_file_mut();
                tf.status = STATUS_BSY;
                tf.intrq = false;
            }
        } else if was_reset {
            self.reset_devices(ResetKind::Full);
        }
    }

    fn command(&mut self, cmd: u8) {
        if cmd == CMD_EXECUTE_DIAGNOSTIC {
            // Both devices run the diagnostic; device 0 answers afterwards.
            self.reset_devices(ResetKind::Diagnostic);
            if let Some(d) = self.devices[0].as_deref_mut() {
                d.task_file_mut().intrq = true;
            }
            return;
        }
        if let Some(d) = self.selected_mut() {
            d.task_file_mut().intrq = false;
            d.command(cmd);
        }
    }

    fn read_reg(&mut self, reg: u16) -> u8 {
        let hob = self.control & CONTROL_HOB != 0;
        match reg {
            REG_DATA => self.read_data16() as u8,
            REG_STATUS_COMMAND => match self.selected_mut() {
                Some(d) => {
                    let tf = d.task_file_mut();
                    tf.intrq = false;
                    tf.status
                }
                None => 0,
            },
            REG_DEVICE => self
                .selected()
                .map_or(self.select | 0xA0, |d| d.task_file().read(reg, hob)),
            _ => self.selected().map_or(0, |d| d.task_file().read(reg, hob)),
        }
    }

    fn write_reg(&mut self, reg: u16, v: u8) {
        if reg != REG_DATA {
            self.control &= !CONTROL_HOB;
        }
        match reg {
            REG_DATA => self.write_data16(u16::from(v)),
            REG_STATUS_COMMAND => self.command(v),
            _ => {
                if reg == REG_DEVICE {
                    self.select = v;
                }
                for d in self.devices.iter_mut().flatten() {
                    d.task_file_mut().write(reg, v);
                }
            }
        }
    }
}

impl IoDevice for AtaChannel {
    fn io_read(&mut self, port: u16, size: u8) -> u32 {
        let base = self.ports.base;
        let last = base + REG_STATUS_COMMAND;
        if port == self.ports.control {
            return u32::from(self.read_status()) | (OPEN_BUS << 8 & size_mask(size));
        }
        match port {
            p if p == base => match size {
                4 => {
                    let lo = u32::from(self.read_data16());
                    lo | u32::from(self.read_data16()) << 16
                }
                2 => u32::from(self.read_data16()),
                _ => u32::from(self.read_data16() as u8),
            },
            p if p > base && p <= last => {
                // Wider accesses to byte registers read consecutive registers (open bus past the block).
                let mut v = 0;
                for i in 0..u16::from(size.clamp(1, 4)) {
                    let b = match p.checked_add(i) {
                        Some(q) if q <= last => self.read_reg(q - base),
                        _ => 0xFF,
                    };
                    v |= u32::from(b) << (8 * i);
                }
                v
            }
            _ => OPEN_BUS,
        }
    }

    fn io_write(&mut self, port: u16, size: u8, value: u32) {
        let base = self.ports.base;
        let last = base + REG_STATUS_COMMAND;
        if port == self.ports.control {
            self.write_control(value as u8);
            return;
        }
        match port {
            p if p == base => match size {
                4 => {
                    self.write_data16(value as u16);
                    self.write_data16((value >> 16) as u16);
                }
                _ => self.write_data16(value as u16),
            },
            p if p > base && p <= last => {
                for i in 0..u16::from(size.clamp(1, 4)) {
                    if let Some(q) = p.checked_add(i).filter(|&q| q <= last) {
                        self.write_reg(q - base, (value >> (8 * i)) as u8);
                    }
                }
            }
            _ => {}
        }
    }

    fn wide_access(&self) -> bool {
        true
    }
}
