//! The PC board's legacy devices wired together: the single thing the machine talks to for port I/O, interrupts,
//! timers and board requests.
//!
//! Interrupt lines are levels each device computes from its own state; after every port access and every
//! [`PcDevices::poll`] the board copies them into the PIC (which does the edge detection), so a line a device raises
//! during an access is visible to [`PcDevices::interrupt_pending`] as soon as the access returns. The PIT's OUT0 is
//! the exception: it is pulsed once per period (or terminal count) when `poll` finds the clock past an edge.
//!
//! Interrupt routing: every ISA IRQ drives both the 8259 pair and an IOAPIC pin (IRQ0 on pin 2, the others 1:1,
//! as the MADT's override says). The IOAPIC's messages go to the local APIC's IRR. The CPU sees the LAPIC's
//! highest deliverable IRR vector, or the 8259's INTR when the LAPIC passes it (APIC disabled, or LINT0 unmasked in
//! ExtINT mode: virtual-wire mode); [`PcDevices::acknowledge_interrupt`] takes the vector from whichever it was.
//! The LAPIC's EOI of a level-triggered vector is broadcast back to the IOAPIC.
//!
//! A20: the gate is the OR of the i8042 output port bit 1 and port 0x92 bit 1. At power-on the i8042 output port
//! has A20 set (the 8042's port pins come out of reset high, and QEMU does the same), so [`PcDevices::a20_enabled`]
//! starts true: the reset vector at 0xFFFFFFF0 has bit 20 set and a loader needs no A20 dance. Firmware that wants
//! the 8086 wrap-around clears it through either port.

use std::collections::VecDeque;
use std::io::Write;

use crossbeam_channel::Receiver;

use crate::apic_bus::ApicBus;
use crate::ata::bus_master::BM_PORTS;
use crate::ata::{AtaChannel, ChannelPorts, IdeBusMaster, IdeDevice};
use crate::bus::{size_mask, BoardRequest, IoDevice, PortMap, OPEN_BUS};
use crate::clock::Clock;
use crate::debug_exit::{DebugExit, DEBUG_EXIT_PORT};
use crate::debugcon::{DebugCon, DEBUGCON_PORT};
use crate::display::InputEvent;
use crate::dma::DmaMemory;
use crate::fw_cfg::{FwCfg, FwCfgItems, FW_CFG_DMA_LEN, FW_CFG_PORT_DMA, FW_CFG_PORT_SEL};
use crate::i8042::{AUX_IRQ, I8042, I8042_COMMAND, I8042_DATA, KEYBOARD_IRQ};
use crate::ioapic::{isa_irq_to_pin, size_mask64, IoApic, IOAPIC_BASE, IOAPIC_SIZE};
use crate::lapic::{
    ApicBaseError, Lapic, WriteEffect, LAPIC_SIZE, MSR_IA32_APIC_BASE, MSR_IA32_TSC_DEADLINE,
};
use crate::pc_testdev::{
    PcTestdev, TESTDEV_DATA_PORT, TESTDEV_FLUSH_PORT, TESTDEV_IRQ_LINES, TESTDEV_IRQ_PORT,
    TESTDEV_PORT_LEN,
};
use crate::pci::config::COMMAND_MASTER;
use crate::pci::{chipset, PciBus, CONFIG_ADDRESS, CONFIG_DATA};
use crate::pic::{PicPair, ELCR_MASTER, PIC_MASTER_CMD, PIC_SLAVE_CMD};
use crate::pit::{Pit, PIT_CHANNEL0, SYSTEM_CONTROL_B};
use crate::pm::{AcpiPm, PM_BASE, PM_LEN};
use crate::port92::{Port92, PORT92};
use crate::post::{PostCode, POST_PORT};
use crate::pvpanic::{PvPanic, PVPANIC_PORT};
use crate::reset_control::{ResetControl, RESET_CONTROL};
use crate::rtc::{Rtc, RTC_INDEX};
use crate::shutdown_port::{ShutdownPort, SHUTDOWN_PORT};
use crate::uart::{Uart, COM1_BASE, COM1_IRQ};
use crate::vga::memory::{WINDOW_END, WINDOW_START};
use crate::vga::pci::{std_vga, LFB_BAR, VGA_SLOT};
use crate::vga::vbe::VBE_INDEX;
use crate::vga::{Vga, VGA_PORT_COUNT, VGA_PORT_FIRST, VRAM_SIZE};

/// IRQ of the PIT's channel 0.
pub const PIT_IRQ: u8 = 0;
/// IRQ of the RTC.
pub const RTC_IRQ: u8 = 8;
/// With at least this much RAM, RAM below 4 GiB stops at [`LOW_RAM_SPLIT`] and the rest moves above 4 GiB.
pub const LOW_RAM_LIMIT: u64 = 0xE000_0000;
/// Top of RAM below 4 GiB when the RAM does not fit under [`LOW_RAM_LIMIT`] (QEMU's i440FX layout).
pub const LOW_RAM_SPLIT: u64 = 0xC000_0000;

/// RAM below 4 GiB and above 4 GiB for `ram_bytes` of guest RAM, as QEMU's i440FX board splits it around the PCI
/// hole (the CMOS memory-size bytes are filled from this; the machine's memory map should agree).
pub fn ram_split(ram_bytes: u64) -> (u64, u64) {
    let below = if ram_bytes >= LOW_RAM_LIMIT {
        LOW_RAM_SPLIT
    } else {
        ram_bytes
    };
    (below, ram_bytes - below)
}

/// What the board is built from.
pub struct PcConfig {
    /// The machine's clock; every timer reads it.
    pub clock: Clock,
    /// Guest RAM size in bytes (for the CMOS memory-size bytes).
    pub ram_bytes: u64,
    /// Number of processors (one local APIC each; at least one).
    pub cpus: usize,
    /// Where COM1 output goes (None: discarded).
    pub serial_out: Option<Box<dyn Write + Send>>,
    /// Where COM1 input comes from (None: none ever arrives).
    pub serial_in: Option<Receiver<u8>>,
    /// The IDE devices, in QEMU's index order: primary master, primary slave, secondary master, secondary slave.
    /// A channel with neither device is absent (its ports float).
    pub ide: [Option<IdeDevice>; 4],
    /// Print every POST code to stderr.
    pub trace_post: bool,
    /// Print every access to a port no device decodes to stderr.
    pub trace_unassigned_ports: bool,
    /// Where the debug console at port 0xE9 goes (None: no debug console, the port floats).
    pub debugcon_out: Option<Box<dyn Write + Send>>,
    /// Add QEMU's pc-testdev (ports 0xE0-0xE7 and 0x2000-0x2017, MMIO at 0xFF000000).
    pub pc_testdev: bool,
}

/// Which device owns a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dev {
    Pic,
    Pit,
    Rtc,
    Uart,
    I8042,
    Port92,
    Post,
    DebugExit,
    PvPanic,
    Pm,
    ResetControl,
    /// An IDE channel (0 primary, 1 secondary).
    Ata(usize),
    /// The IDE function's bus-master registers (where BAR 4 puts them).
    BusMaster,
    Pci,
    DebugCon,
    Shutdown,
    Testdev,
    FwCfg,
    Vga,
}

/// All PC legacy devices, their port map and their interrupt wiring.
pub struct PcDevices {
    /// The clock every timer reads.
    clock: Clock,
    /// Port ownership.
    ports: PortMap<Dev>,
    /// 8259A pair.
    pic: PicPair,
    /// I/O APIC at [`IOAPIC_BASE`].
    ioapic: IoApic,
    /// Every processor's local APIC.
    apics: ApicBus,
    /// 8254 and port 0x61.
    pit: Pit,
    /// MC146818 and CMOS.
    rtc: Rtc,
    /// COM1.
    uart: Uart,
    /// Keyboard controller.
    i8042: I8042,
    /// Keys and pointer motion from a display front end, for the i8042 (None: none ever arrives).
    display_input: Option<Receiver<InputEvent>>,
    /// Fast A20 / reset.
    port92: Port92,
    /// POST code latch.
    post: PostCode,
    /// isa-debug-exit.
    debug_exit: DebugExit,
    /// pvpanic (guest panic reports).
    pvpanic: PvPanic,
    /// ACPI PM1a block and PM timer.
    pm: AcpiPm,
    /// 0xCF9 reset control.
    reset_control: ResetControl,
    /// PCI bus 0 and its configuration mechanism.
    pci: PciBus,
    /// The host bridge's configuration changed since the board last looked.
    host_bridge_written: bool,
    /// The primary and secondary IDE channels, each if it has a device.
    ata: [Option<AtaChannel>; 2],
    /// The IDE function's bus-master DMA engine.
    bus_master: IdeBusMaster,
    /// The debug console at 0xE9, if asked for.
    debugcon: Option<DebugCon>,
    /// Bochs' shutdown port.
    shutdown: ShutdownPort,
    /// QEMU's pc-testdev, if asked for.
    testdev: Option<PcTestdev>,
    /// QEMU's firmware configuration device (filled in by the machine).
    fw_cfg: FwCfg,
    /// The VGA (std-vga with Bochs VBE).
    vga: Vga,
    /// Requests not yet taken by the machine.
    requests: VecDeque<BoardRequest>,
    /// Print unassigned port accesses.
    trace_unassigned: bool,
    /// Number of accesses to unassigned ports.
    unassigned: u64,
}

impl std::fmt::Debug for PcDevices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcDevices")
            .field("pic", &self.pic)
            .field("ioapic", &self.ioapic)
            .field("apics", &self.apics)
            .field("post_code", &self.post.code())
            .field("unassigned", &self.unassigned)
            .finish_non_exhaustive()
    }
}

impl PcDevices {
    /// Builds the board's devices in power-on state.
    pub fn new(config: PcConfig) -> Self {
        let mut rtc = Rtc::new(config.clock.clone());
        let (below, above) = ram_split(config.ram_bytes);
        rtc.set_pc_config(below, above);
        let [pm, ps, sm, ss] = config.ide;
        let channel = |ports, master: Option<IdeDevice>, slave: Option<IdeDevice>| {
            (master.is_some() || slave.is_some()).then(|| AtaChannel::new(ports, master, slave))
        };
        let ata = [
            channel(ChannelPorts::PRIMARY, pm, ps),
            channel(ChannelPorts::SECONDARY, sm, ss),
        ];
        let mut ports = PortMap::new();
        let mut map = |start: u16, len: u16, dev: Dev| {
            let r = ports.register(start, len, dev);
            debug_assert!(r.is_ok(), "{r:?}");
        };
        map(PIC_MASTER_CMD, 2, Dev::Pic);
        map(PIC_SLAVE_CMD, 2, Dev::Pic);
        map(ELCR_MASTER, 2, Dev::Pic);
        map(PIT_CHANNEL0, 4, Dev::Pit);
        map(SYSTEM_CONTROL_B, 1, Dev::Pit);
        map(RTC_INDEX, 2, Dev::Rtc);
        map(COM1_BASE, 8, Dev::Uart);
        map(I8042_DATA, 1, Dev::I8042);
        map(I8042_COMMAND, 1, Dev::I8042);
        map(PORT92, 1, Dev::Port92);
        map(POST_PORT, 1, Dev::Post);
        map(DEBUG_EXIT_PORT, 1, Dev::DebugExit);
        map(PVPANIC_PORT, 1, Dev::PvPanic);
        map(PM_BASE, PM_LEN, Dev::Pm);
        map(RESET_CONTROL, 1, Dev::ResetControl);
        map(CONFIG_ADDRESS, 1, Dev::Pci);
        map(CONFIG_DATA, 4, Dev::Pci);
        map(SHUTDOWN_PORT, 1, Dev::Shutdown);
        map(FW_CFG_PORT_SEL, 2, Dev::FwCfg);
        map(FW_CFG_PORT_DMA, FW_CFG_DMA_LEN, Dev::FwCfg);
        map(VGA_PORT_FIRST, VGA_PORT_COUNT, Dev::Vga);
        map(VBE_INDEX, 2, Dev::Vga);
        for (i, channel) in ata.iter().enumerate() {
            if let Some(ports) = channel.as_ref().map(AtaChannel::ports) {
                map(ports.base, 8, Dev::Ata(i));
                map(ports.control, 1, Dev::Ata(i));
            }
        }
        if config.debugcon_out.is_some() {
            map(DEBUGCON_PORT, 1, Dev::DebugCon);
        }
        if config.pc_testdev {
            map(TESTDEV_DATA_PORT, TESTDEV_PORT_LEN, Dev::Testdev);
            map(TESTDEV_FLUSH_PORT, TESTDEV_PORT_LEN, Dev::Testdev);
            map(TESTDEV_IRQ_PORT, TESTDEV_IRQ_LINES, Dev::Testdev);
        }
        Self {
            clock: config.clock.clone(),
            ports,
            pic: PicPair::new(),
            ioapic: IoApic::new(),
            apics: ApicBus::new(&config.clock, config.cpus),
            pit: Pit::new(config.clock.clone()),
            rtc,
            uart: Uart::new(config.serial_out, config.serial_in),
            i8042: I8042::new(),
            display_input: None,
            port92: Port92::new(),
            post: PostCode::new(config.trace_post),
            debug_exit: DebugExit::new(),
            pvpanic: PvPanic::new(),
            pm: AcpiPm::new(config.clock),
            reset_control: ResetControl::new(),
            pci: pc_chipset(),
            host_bridge_written: false,
            ata,
            bus_master: IdeBusMaster::new(),
            debugcon: config.debugcon_out.map(|out| DebugCon::new(Some(out))),
            shutdown: ShutdownPort::new(),
            testdev: config.pc_testdev.then(PcTestdev::new),
            fw_cfg: FwCfg::new(FwCfgItems::new()),
            vga: Vga::new(),
            requests: VecDeque::new(),
            trace_unassigned: config.trace_unassigned_ports,
            unassigned: 0,
        }
    }

    fn device(&mut self, dev: Dev) -> Option<&mut dyn IoDevice> {
        Some(match dev {
            Dev::Pic => &mut self.pic,
            Dev::Pit => &mut self.pit,
            Dev::Rtc => &mut self.rtc,
            Dev::Uart => &mut self.uart,
            Dev::I8042 => &mut self.i8042,
            Dev::Port92 => &mut self.port92,
            Dev::Post => &mut self.post,
            Dev::DebugExit => &mut self.debug_exit,
            Dev::PvPanic => &mut self.pvpanic,
            Dev::Pm => &mut self.pm,
            Dev::ResetControl => &mut self.reset_control,
            Dev::Pci => &mut self.pci,
            Dev::Ata(i) => self.ata[i].as_mut()?,
            Dev::BusMaster => &mut self.bus_master,
            Dev::DebugCon => self.debugcon.as_mut()?,
            Dev::Shutdown => &mut self.shutdown,
            Dev::Testdev => self.testdev.as_mut()?,
            Dev::FwCfg => &mut self.fw_cfg,
            Dev::Vga => &mut self.vga,
        })
    }

    fn unassigned_access(&mut self, what: &str, port: u16, size: u8, value: Option<u32>) {
        self.unassigned += 1;
        if self.trace_unassigned {
            match value {
                Some(v) => {
                    eprintln!("io: unassigned {what} port {port:#06x} size {size} value {v:#x}")
                }
                None => eprintln!("io: unassigned {what} port {port:#06x} size {size}"),
            }
        }
    }

    /// Reads `size` (1, 2 or 4; other sizes count as 4) bytes from `port`. Unassigned ports read as all ones.
    pub fn io_read(&mut self, port: u16, size: u8) -> u32 {
        let size = normalize(size);
        let v = self.read_inner(port, size);
        self.sync();
        v & size_mask(size)
    }

    fn read_inner(&mut self, port: u16, size: u8) -> u32 {
        let Some(dev) = self.ports.lookup(port) else {
            self.unassigned_access("read", port, size, None);
            return OPEN_BUS;
        };
        let Some(d) = self.device(dev) else {
            return OPEN_BUS;
        };
        if size == 1 || d.wide_access() {
            return d.io_read(port, size);
        }
        // Byte-wide device: the bus splits the access, one byte per port.
        let mut v = 0;
        for i in 0..size {
            let p = port.wrapping_add(u16::from(i));
            let b = match self.ports.lookup(p).and_then(|dev| self.device(dev)) {
                Some(d) => d.io_read(p, 1) & 0xFF,
                None => 0xFF,
            };
            v |= b << (8 * u32::from(i));
        }
        v
    }

    /// Writes the low `size` (1, 2 or 4) bytes of `value` to `port`. Writes to unassigned ports are dropped.
    pub fn io_write(&mut self, port: u16, size: u8, value: u32) {
        let size = normalize(size);
        let value = value & size_mask(size);
        match self.ports.lookup(port) {
            None => self.unassigned_access("write", port, size, Some(value)),
            Some(dev) => {
                if let Some(d) = self.device(dev) {
                    if size == 1 || d.wide_access() {
                        d.io_write(port, size, value);
                    } else {
                        for i in 0..size {
                            let p = port.wrapping_add(u16::from(i));
                            if let Some(d) = self.ports.lookup(p).and_then(|dev| self.device(dev)) {
                                d.io_write(p, 1, (value >> (8 * u32::from(i))) & 0xFF);
                            }
                        }
                    }
                }
            }
        }
        if self.ports.lookup(port) == Some(Dev::Pci) {
            self.follow_pci();
        }
        self.sync();
    }

    /// After a configuration write: the PM function's PMBA or PMREGMISC may have moved or switched its block, the
    /// IDE function's BAR 4 or command register its bus-master ports, and the host bridge's PAM registers are the
    /// board's to follow ([`PcDevices::take_host_bridge_write`]).
    fn follow_pci(&mut self) {
        let writes = self.pci.take_writes();
        self.host_bridge_written |= writes.iter().any(|w| w.slot == chipset::HOST_BRIDGE);
        if writes.iter().any(|w| w.slot == chipset::IDE) {
            self.map_bus_master();
        }
        let pm_touched = writes.iter().any(|w| {
            w.slot == chipset::POWER_MANAGEMENT
                && (w.offset..w.offset + w.size).any(|o| {
                    (chipset::PMBA..chipset::PMBA + 4).contains(&o) || o == chipset::PMREGMISC
                })
        });
        if !pm_touched {
            return;
        }
        let block = self
            .pci
            .function(chipset::POWER_MANAGEMENT)
            .and_then(chipset::pm_block);
        self.ports.release(Dev::Pm);
        if let Some(base) = block {
            // A base that collides with another device's ports leaves the block unmapped.
            if self.ports.register(base, PM_LEN, Dev::Pm).is_ok() {
                self.pm.set_base(base);
            }
        }
    }

    /// Puts the bus-master ports where the IDE function's BAR 4 says, if it is assigned and I/O decoding is on.
    fn map_bus_master(&mut self) {
        let base = self
            .pci
            .function(chipset::IDE)
            .and_then(|ide| ide.bar_base(chipset::IDE_BMIBA_BAR))
            .and_then(|base| u16::try_from(base).ok());
        self.ports.release(Dev::BusMaster);
        if let Some(base) = base {
            // A base that collides with another device's ports leaves the registers unmapped.
            if self.ports.register(base, BM_PORTS, Dev::BusMaster).is_ok() {
                self.bus_master.set_base(base);
            }
        }
    }

    /// Drives ISA interrupt line `irq` into the 8259 pair and the IOAPIC.
    fn set_isa_irq(&mut self, irq: u8, level: bool) {
        self.pic.set_irq(irq, level);
        if let Some(pin) = isa_irq_to_pin(irq) {
            self.ioapic.set_irq(pin, level);
        }
    }

    /// Hands the IOAPIC's pending messages to the local APICs they are addressed to.
    fn route_ioapic(&mut self) {
        let apics = &mut self.apics;
        self.ioapic.take_deliveries(|d| apics.deliver_message(d));
    }

    /// Copies every device's interrupt output into the PIC and IOAPIC, delivers the IOAPIC's messages, and
    /// collects board requests. A line the pc-testdev raises is ORed with the device's own.
    fn sync(&mut self) {
        let test = self.testdev.as_ref().map_or(0, PcTestdev::irq_lines);
        let level = |irq: u8, device: bool| device || test & (1 << irq) != 0;
        self.set_isa_irq(KEYBOARD_IRQ, level(KEYBOARD_IRQ, self.i8042.irq1()));
        self.set_isa_irq(AUX_IRQ, level(AUX_IRQ, self.i8042.irq12()));
        self.set_isa_irq(COM1_IRQ, level(COM1_IRQ, self.uart.irq()));
        self.set_isa_irq(RTC_IRQ, level(RTC_IRQ, self.rtc.irq()));
        let channels = self
            .ata
            .each_ref()
            .map(|c| c.as_ref().map(|c| (c.ports().irq, c.irq())));
        for (index, channel) in channels.into_iter().enumerate() {
            if let Some((line, irq)) = channel {
                self.bus_master.follow_irq(index, irq);
                self.set_isa_irq(line, level(line, irq));
            }
        }
        if self.testdev.is_some() {
            self.sync_testdev_only_lines(test);
        }
        self.route_ioapic();
        let reqs = [
            self.i8042.take_request(),
            self.port92.take_request(),
            self.debug_exit.take_request(),
            self.pvpanic.take_request(),
            self.shutdown.take_request(),
            self.pm.take_request(),
            self.reset_control.take_request(),
        ];
        self.requests.extend(reqs.into_iter().flatten());
    }

    /// The pc-testdev's lines that no other device drives: ISA IRQs go to both 8259s and the IOAPIC, lines 16-23 to
    /// the IOAPIC's pins of the same number.
    fn sync_testdev_only_lines(&mut self, test: u32) {
        let mut driven = [KEYBOARD_IRQ, AUX_IRQ, COM1_IRQ, RTC_IRQ]
            .iter()
            .fold(0u32, |m, irq| m | 1 << irq);
        for channel in self.ata.iter().flatten() {
            driven |= 1 << channel.ports().irq;
        }
        for line in (0..TESTDEV_IRQ_LINES as u8).filter(|l| driven & (1 << l) == 0) {
            let level = test & (1 << line) != 0;
            if line < 16 {
                self.set_isa_irq(line, level);
            } else {
                self.ioapic.set_irq(usize::from(line), level);
            }
        }
    }

    /// Connects a display front end's keys and pointer motion to the i8042's keyboard and mouse; [`PcDevices::poll`]
    /// takes them from then on.
    pub fn connect_display_input(&mut self, input: Receiver<InputEvent>) {
        self.display_input = Some(input);
    }

    /// Hands the display's waiting input to the i8042, as much as its keyboard queue has room for.
    fn poll_display_input(&mut self) {
        let Some(input) = &self.display_input else {
            return;
        };
        while self.i8042.wants_input() {
            match input.try_recv() {
                Ok(event) => self.i8042.input(event),
                Err(_) => break,
            }
        }
    }

    /// Moves the timers to the clock's present (pulsing IRQ0, raising RTC flags), takes pending serial and display
    /// input and keyboard bytes, and updates the interrupt lines.
    pub fn poll(&mut self) {
        if self.pit.take_irq0_edge() {
            self.pic.pulse_irq(PIT_IRQ);
            if let Some(pin) = isa_irq_to_pin(PIT_IRQ) {
                self.ioapic.pulse_irq(pin);
            }
        }
        self.apics.poll();
        self.rtc.update();
        self.uart.poll_input();
        self.poll_display_input();
        self.i8042.refill();
        self.sync();
    }

    /// The running processor's INTR: its local APIC has a vector above its processor priority, or (on the
    /// bootstrap processor, the only one the 8259 is wired to, as on QEMU's board) the 8259's INTR passes through
    /// the LAPIC (APIC disabled, or LINT0 in ExtINT mode).
    pub fn interrupt_pending(&self) -> bool {
        self.interrupt_pending_for(self.apics.current())
    }

    /// Whether processor `cpu` has a maskable interrupt waiting (see [`PcDevices::interrupt_pending`]).
    pub fn interrupt_pending_for(&self, cpu: usize) -> bool {
        let Some(lapic) = self.apics.lapic_of(cpu) else {
            return false;
        };
        lapic.pending_vector().is_some()
            || (cpu == 0 && lapic.passes_pic_intr() && self.pic.interrupt_pending())
    }

    /// The interrupt-acknowledge cycle: the LAPIC's vector (moved to its ISR) if it has one, else the 8259's INTA
    /// if the LAPIC passes it (the PIC's spurious IRQ7/IRQ15 vector if its request went away), else the LAPIC's
    /// spurious vector.
    pub fn acknowledge_interrupt(&mut self) -> u8 {
        let bsp = self.apics.current() == 0;
        let lapic = self.apics.lapic_mut();
        let v = if lapic.pending_vector().is_some() {
            lapic.acknowledge()
        } else if bsp && lapic.passes_pic_intr() {
            self.pic.acknowledge()
        } else {
            lapic.acknowledge()
        };
        self.route_ioapic();
        v
    }

    /// Reads `size` (1, 2, 4 or 8) bytes at guest-physical `paddr` from the VGA's legacy window or linear
    /// framebuffer, the local APIC's page, the IOAPIC's window or the pc-testdev's memory. The APIC registers are 32
    /// bits at 16-byte steps: bytes 4-15 of each slot and unknown registers read 0. Addresses that none decodes read
    /// as open bus (all ones).
    pub fn mmio_read(&mut self, paddr: u64, size: u8) -> u64 {
        let mask = size_mask64(size);
        if (WINDOW_START..WINDOW_END).contains(&paddr) {
            return (0..u64::from(size.min(8))).fold(0, |v, k| {
                v | u64::from(self.vga.window_read(paddr + k)) << (8 * k)
            });
        }
        if let Some(offset) = self.lfb_offset(paddr) {
            return self.vga.lfb_read(offset, size);
        }
        if self.apics.lapic().claims(paddr) {
            let off = paddr & (LAPIC_SIZE - 1);
            let within = off & 0xF;
            if within >= 4 {
                return 0;
            }
            let v = u64::from(self.apics.lapic().read_register(off & !0xF)) >> (8 * within);
            return v & mask;
        }
        if (IOAPIC_BASE..IOAPIC_BASE + IOAPIC_SIZE).contains(&paddr) {
            return self.ioapic.mmio_read(paddr - IOAPIC_BASE, size);
        }
        match &self.testdev {
            Some(t) if t.claims(paddr) => t.mmio_read(paddr, size),
            _ => mask,
        }
    }

    /// Writes `size` (1, 2, 4 or 8) bytes of `value` at guest-physical `paddr` to the VGA, the local APIC, the
    /// IOAPIC or the pc-testdev's memory. A LAPIC write narrower than 4 bytes is merged into the register's current value; only
    /// the 32-bit register at the start of a 16-byte slot takes writes. Writes to addresses nobody decodes are
    /// dropped.
    pub fn mmio_write(&mut self, paddr: u64, size: u8, value: u64) {
        let value = value & size_mask64(size);
        if (WINDOW_START..WINDOW_END).contains(&paddr) {
            for k in 0..u64::from(size.min(8)) {
                self.vga.window_write(paddr + k, (value >> (8 * k)) as u8);
            }
            return;
        }
        if let Some(offset) = self.lfb_offset(paddr) {
            self.vga.lfb_write(offset, size, value);
            return;
        }
        if self.apics.lapic().claims(paddr) {
            let off = paddr & (LAPIC_SIZE - 1);
            let within = off & 0xF;
            if within >= 4 {
                return;
            }
            let reg = off & !0xF;
            let v = if size >= 4 && within == 0 {
                value as u32
            } else {
                let shift = 8 * within;
                let mask = (size_mask64(size) << shift) as u32;
                (self.apics.lapic().read_register(reg) & !mask) | ((value << shift) as u32 & mask)
            };
            match self.apics.lapic_mut().write_register(reg, v) {
                Some(WriteEffect::Eoi(vector)) => self.ioapic.eoi(vector),
                Some(WriteEffect::Ipi(ipi)) => self.apics.send_ipi(ipi),
                None => {}
            }
            self.route_ioapic();
            return;
        }
        if (IOAPIC_BASE..IOAPIC_BASE + IOAPIC_SIZE).contains(&paddr) {
            self.ioapic.mmio_write(paddr - IOAPIC_BASE, size, value);
            self.route_ioapic();
            return;
        }
        if let Some(t) = self.testdev.as_mut().filter(|t| t.claims(paddr)) {
            t.mmio_write(paddr, size, value);
        }
    }

    /// Where `paddr` falls in the VGA's linear framebuffer, if its BAR is assigned and decoding.
    fn lfb_offset(&self, paddr: u64) -> Option<u64> {
        let base = u64::from(self.pci.function(VGA_SLOT)?.bar_base(LFB_BAR)?);
        let offset = paddr.checked_sub(base)?;
        (offset < VRAM_SIZE as u64).then_some(offset)
    }

    /// The VGA, for a display front end to render its screen.
    pub fn vga_mut(&mut self) -> &mut Vga {
        &mut self.vga
    }

    /// The VGA (for traces and tests).
    pub fn vga(&self) -> &Vga {
        &self.vga
    }

    /// RDMSR IA32_APIC_BASE (0x1B).
    pub fn apic_base(&self) -> u64 {
        self.apics.lapic().apic_base()
    }

    /// WRMSR IA32_APIC_BASE (0x1B): relocation and global enable. An error means the CPU raises #GP.
    pub fn set_apic_base(&mut self, value: u64) -> Result<(), ApicBaseError> {
        self.apics.lapic_mut().set_apic_base(value)
    }

    /// RDMSR IA32_TSC_DEADLINE (0x6E0).
    pub fn tsc_deadline(&self) -> u64 {
        self.apics.lapic().tsc_deadline()
    }

    /// WRMSR IA32_TSC_DEADLINE (0x6E0): `tsc_now` is the guest TSC at the write and `tsc_hz` its rate. A deadline
    /// already passed is in the IRR when this returns.
    pub fn set_tsc_deadline(&mut self, deadline: u64, tsc_now: u64, tsc_hz: u64) {
        let lapic = self.apics.lapic_mut();
        lapic.set_tsc_deadline(deadline, tsc_now, tsc_hz);
        lapic.poll();
    }

    /// The clock every device reads (the CPU's TSC follows it too).
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// RDMSR of an MSR that lives in the devices: IA32_APIC_BASE (0x1B) and IA32_TSC_DEADLINE (0x6E0). None for
    /// every other MSR (the CPU's own model answers those).
    pub fn read_msr(&self, msr: u32) -> Option<u64> {
        match msr {
            MSR_IA32_APIC_BASE => Some(self.apic_base()),
            MSR_IA32_TSC_DEADLINE => Some(self.tsc_deadline()),
            _ => None,
        }
    }

    /// WRMSR of an MSR that lives in the devices (see [`PcDevices::read_msr`]); `tsc_now` and `tsc_hz` are the
    /// guest TSC and its rate, for the TSC deadline. None: not a device MSR; `Some(Err(_))`: the CPU raises #GP.
    pub fn write_msr(
        &mut self,
        msr: u32,
        value: u64,
        tsc_now: u64,
        tsc_hz: u64,
    ) -> Option<Result<(), ApicBaseError>> {
        match msr {
            MSR_IA32_APIC_BASE => Some(self.set_apic_base(value)),
            MSR_IA32_TSC_DEADLINE => {
                self.set_tsc_deadline(value, tsc_now, tsc_hz);
                Some(Ok(()))
            }
            _ => None,
        }
    }

    /// The running processor's APIC task priority (CR8 is its bits 7-4).
    pub fn task_priority(&self) -> u8 {
        self.apics.lapic().tpr()
    }

    /// Sets the running processor's APIC task priority (MOV to CR8 writes `cr8 << 4`).
    pub fn set_task_priority(&mut self, tpr: u8) {
        self.apics.lapic_mut().set_tpr(tpr);
    }

    /// The running processor's local APIC (for traces and tests).
    pub fn lapic(&self) -> &Lapic {
        self.apics.lapic()
    }

    /// Every processor's local APIC and the messages between them.
    pub fn apics(&self) -> &ApicBus {
        &self.apics
    }

    /// Every processor's local APIC, to switch the running processor or take start-up signals.
    pub fn apics_mut(&mut self) -> &mut ApicBus {
        &mut self.apics
    }

    /// Whether an NMI waits for the running processor.
    pub fn nmi_pending(&self) -> bool {
        self.apics.nmi_pending(self.apics.current())
    }

    /// The running processor takes its NMI.
    pub fn acknowledge_nmi(&mut self) {
        self.apics.acknowledge_nmi();
    }

    /// The board's NMI line (a front panel's NMI button, QEMU's `nmi` command): to every processor through its
    /// APIC's LINT1.
    pub fn raise_nmi(&mut self) {
        self.apics.board_nmi();
    }

    /// PCI bus 0 (for the board's memory map, traces and tests).
    pub fn pci(&self) -> &PciBus {
        &self.pci
    }

    /// Whether the host bridge's configuration was written since the last call (its PAM registers route the
    /// BIOS area, which the board's memory map follows).
    pub fn take_host_bridge_write(&mut self) -> bool {
        std::mem::take(&mut self.host_bridge_written)
    }

    /// The I/O APIC (for traces and tests).
    pub fn ioapic(&self) -> &IoApic {
        &self.ioapic
    }

    /// The pvpanic device (for tests, and to see whether the guest reported a crash-kernel panic).
    pub fn pvpanic(&self) -> &PvPanic {
        &self.pvpanic
    }

    /// Clock time (ns) at which [`PcDevices::poll`] will next have a timer event, if any is scheduled. Serial input
    /// arrives at any time: a machine sleeping in HLT with a serial input channel should also wake on it.
    pub fn next_event_ns(&self) -> Option<u64> {
        [
            self.pit.next_irq0_ns(),
            self.rtc.next_event_ns(),
            self.apics.next_timer_ns(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Whether a request is waiting for [`PcDevices::take_request`] (for the engine's stop check).
    pub fn request_pending(&self) -> bool {
        !self.requests.is_empty()
    }

    /// A board reset (after [`BoardRequest::Reset`]): every device back to power-on state, except what survives
    /// on real hardware: CMOS time and NVRAM, the disk's contents, the serial connections and the POST latch.
    pub fn reset(&mut self) {
        self.pic = PicPair::new();
        self.ioapic.reset();
        self.apics.reset();
        self.pit = Pit::new(self.clock.clone());
        self.rtc.reset();
        self.uart.reset();
        self.i8042 = I8042::new();
        self.port92 = Port92::new();
        self.debug_exit = DebugExit::new();
        self.pvpanic = PvPanic::new();
        self.pm = AcpiPm::new(self.clock.clone());
        self.reset_control = ResetControl::new();
        self.pci = pc_chipset();
        self.ports.release(Dev::Pm);
        let registered = self.ports.register(PM_BASE, PM_LEN, Dev::Pm);
        debug_assert!(registered.is_ok(), "{registered:?}");
        self.shutdown = ShutdownPort::new();
        if let Some(t) = &mut self.testdev {
            *t = PcTestdev::new();
        }
        self.fw_cfg.reset();
        self.vga.reset();
        self.bus_master = IdeBusMaster::new();
        self.ports.release(Dev::BusMaster);
        for channel in self.ata.iter_mut().flatten() {
            channel.hard_reset();
        }
        self.requests.clear();
        self.sync();
    }

    /// The oldest request (reset, power-off, debug exit, guest panic) the guest made and the machine has not taken yet.
    pub fn take_request(&mut self) -> Option<BoardRequest> {
        self.requests.pop_front()
    }

    /// The A20 gate: i8042 output port bit 1 OR port 0x92 bit 1 (enabled at power-on, see the module docs).
    pub fn a20_enabled(&self) -> bool {
        self.i8042.a20() || self.port92.a20()
    }

    /// The last POST code written to port 0x80.
    pub fn post_code(&self) -> u8 {
        self.post.code()
    }

    /// How many accesses hit a port no device decodes.
    pub fn unassigned_port_accesses(&self) -> u64 {
        self.unassigned
    }

    /// The fw_cfg device, for the machine to fill in its items.
    pub fn fw_cfg_mut(&mut self) -> &mut FwCfg {
        &mut self.fw_cfg
    }

    /// Runs the DMA transfers a port write just started (fw_cfg's, an IDE channel's bus master when the IDE
    /// function may master the bus), reading and writing guest memory through `memory`; the board calls it after
    /// every port write, so a transfer ends before the OUT instruction does. True if a transfer ran.
    pub fn run_dma(&mut self, memory: &mut dyn DmaMemory) -> bool {
        let mut ran = self.fw_cfg.run_dma(memory);
        let mastering = self
            .pci
            .function(chipset::IDE)
            .is_some_and(|ide| ide.command() & COMMAND_MASTER != 0);
        if mastering {
            for (index, channel) in self.ata.iter_mut().enumerate() {
                if let Some(channel) = channel {
                    ran |= self.bus_master.run(index, channel, memory);
                }
            }
        }
        if ran {
            self.sync();
        }
        ran
    }

    /// The IDE bus-master DMA transfers run so far on the primary and the secondary channel (did the guest's disk
    /// driver use DMA?).
    pub fn ide_dma_transfers(&self) -> [u64; 2] {
        self.bus_master.transfers()
    }

    /// The RTC/CMOS, for the machine to read or set extra CMOS bytes.
    pub fn rtc_mut(&mut self) -> &mut Rtc {
        &mut self.rtc
    }
}

/// Bus 0 of QEMU's `pc` machine: the i440FX host bridge, the PIIX3/PIIX4 functions and the VGA, plugged in one line
/// each.
fn pc_chipset() -> PciBus {
    let mut pci = PciBus::new();
    pci.plug(chipset::HOST_BRIDGE, chipset::host_bridge());
    pci.plug(chipset::ISA_BRIDGE, chipset::isa_bridge());
    pci.plug(chipset::IDE, chipset::ide());
    pci.plug(
        chipset::POWER_MANAGEMENT,
        chipset::power_management(PM_BASE),
    );
    pci.plug(VGA_SLOT, std_vga());
    pci
}

/// Access sizes the bus knows: 1, 2, and 4 for anything else.
fn normalize(size: u8) -> u8 {
    match size {
        1 | 2 => size,
        _ => 4,
    }
}

#[cfg(test)]
mod tests;
