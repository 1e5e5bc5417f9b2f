//! The PC board: guest memory plus the legacy devices, presented to the CPU as its [`Bus`].

use crate::memory::GuestMemory;
use std::time::Instant;
use vx86_cpu::{Bus, PageBacking};
use vx86_devices::pci::chipset;
use vx86_devices::{DmaError, DmaMemory, Frame, PcDevices, TextScreen};

/// Guest memory and devices: everything outside the CPU.
pub struct Board {
    /// RAM and ROM with the memory map.
    pub memory: GuestMemory,
    /// The PC's legacy devices.
    pub devices: PcDevices,
    /// Accesses counted by kind (the same for every engine: each goes through this bus).
    pub stats: BusStats,
    /// When set, every write to this port is logged with its host time (the benchmark's phase markers).
    pub marker: Option<MarkerLog>,
    /// Under deterministic time: guest nanoseconds added to the instruction-derived time by idle skips (HLT
    /// waiting for the next timer event).
    pub idle_ns: u64,
    /// Guest-physical ranges (start, length) devices wrote by DMA that the CPU has not yet been told of (see
    /// [`Bus::take_dma_writes`]): it drops the code it cached from those pages.
    dma_writes: Vec<(u64, u64)>,
    /// Times `dma_writes` grew past [`MAX_DMA_RANGES`] untold (an engine that caches no code never asks) and was
    /// replaced by a move of the memory-map generation, which drops all cached code.
    dma_overflows: u64,
}

/// Most untold DMA ranges the board keeps before it gives up on per-page invalidation for them.
const MAX_DMA_RANGES: usize = 4096;

/// Nanoseconds of guest time per instruction when time is deterministic (a 1 GHz guest).
pub const VIRTUAL_NS_PER_INSTRUCTION: u64 = 1;

impl Board {
    /// A board over `memory` and `devices`.
    pub fn new(memory: GuestMemory, devices: PcDevices) -> Board {
        Board {
            memory,
            devices,
            stats: BusStats::default(),
            marker: None,
            idle_ns: 0,
            dma_writes: Vec::new(),
            dma_overflows: 0,
        }
    }
}

impl Board {
    /// Renders the guest's screen (the VGA's) into `frame`, which must be the same frame each time: only what
    /// changed since the last call is redrawn. Returns whether anything was.
    pub fn render_display(&mut self, frame: &mut Frame) -> bool {
        self.devices.vga_mut().render(frame)
    }

    /// The VGA's text screen, while a text mode shows.
    pub fn text_screen(&self) -> Option<TextScreen> {
        self.devices.vga().text_screen()
    }

    /// After port I/O: a configuration write to the host bridge may have moved its PAM registers, which route the
    /// BIOS area between ROM and shadow RAM.
    fn follow_chipset(&mut self) {
        if self.devices.take_host_bridge_write() {
            if let Some(host_bridge) = self.devices.pci().function(chipset::HOST_BRIDGE) {
                self.memory.update_shadow(host_bridge);
            }
        }
    }
}

/// Guest memory as a device's DMA sees it, noting every range written for the CPU's code invalidation.
struct RecordedDma<'a> {
    /// RAM and ROM.
    memory: &'a mut GuestMemory,
    /// Ranges written so far (start, length); a write that continues the last range extends it.
    written: &'a mut Vec<(u64, u64)>,
}

impl DmaMemory for RecordedDma<'_> {
    fn dma_read(&mut self, paddr: u64, buf: &mut [u8]) -> Result<(), DmaError> {
        self.memory.dma_read(paddr, buf)
    }

    fn dma_write(&mut self, paddr: u64, data: &[u8]) -> Result<(), DmaError> {
        self.memory.dma_write(paddr, data)?;
        let len = data.len() as u64;
        match self.written.last_mut() {
            Some((start, n)) if *start + *n == paddr => *n += len,
            _ => self.written.push((paddr, len)),
        }
        Ok(())
    }
}

/// Bus accesses by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BusStats {
    /// Port reads.
    pub io_reads: u64,
    /// Port writes.
    pub io_writes: u64,
    /// MMIO (and open-bus) reads.
    pub mmio_reads: u64,
    /// MMIO (and open-bus, ROM) writes.
    pub mmio_writes: u64,
    /// Interrupt-acknowledge cycles: external interrupts and NMIs delivered to the CPU.
    pub interrupts: u64,
}

/// Writes to one port, with the host time of each.
#[derive(Clone, Debug)]
pub struct MarkerLog {
    /// The port watched.
    pub port: u16,
    /// (value written, when).
    pub writes: Vec<(u32, Instant)>,
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
    fn mmio_read(&mut self, paddr: u64, size: u8) -> u64 {
        self.stats.mmio_reads += 1;
        if let Some(value) = self.memory.shadow_read(paddr, size) {
            return value;
        }
        // The local APIC and IOAPIC pages; anything else reads as open bus (all ones).
        self.devices.mmio_read(paddr, size)
    }
    fn mmio_write(&mut self, paddr: u64, size: u8, value: u64) {
        self.stats.mmio_writes += 1;
        if self.memory.shadow_write(paddr, size, value) {
            return;
        }
        self.devices.mmio_write(paddr, size, value);
    }
    fn io_read(&mut self, port: u16, size: u8) -> u32 {
        self.stats.io_reads += 1;
        self.devices.io_read(port, size)
    }
    fn io_write(&mut self, port: u16, size: u8, value: u32) {
        self.stats.io_writes += 1;
        if let Some(log) = self.marker.as_mut().filter(|l| l.port == port) {
            log.writes.push((value, Instant::now()));
        }
        self.devices.io_write(port, size, value);
        self.follow_chipset();
        // A DMA transfer the write started (fw_cfg's, an IDE bus master's) ends before the OUT does.
        self.devices.run_dma(&mut RecordedDma {
            memory: &mut self.memory,
            written: &mut self.dma_writes,
        });
        if self.dma_writes.len() > MAX_DMA_RANGES {
            self.dma_writes.clear();
            self.dma_overflows += 1;
        }
    }
    #[inline]
    fn interrupt_pending(&self) -> bool {
        self.devices.interrupt_pending()
    }
    fn acknowledge_interrupt(&mut self) -> u8 {
        self.stats.interrupts += 1;
        self.devices.acknowledge_interrupt()
    }
    fn nmi_pending(&self) -> bool {
        self.devices.nmi_pending()
    }
    fn acknowledge_nmi(&mut self) {
        self.stats.interrupts += 1;
        self.devices.acknowledge_nmi();
    }
    fn task_priority(&self) -> Option<u8> {
        Some(self.devices.task_priority())
    }
    fn set_task_priority(&mut self, tpr: u8) -> bool {
        self.devices.set_task_priority(tpr);
        true
    }
    fn a20_enabled(&self) -> bool {
        self.devices.a20_enabled()
    }
    fn stop_requested(&self) -> bool {
        // A board request, or something for a processor that is not running (an IPI): the machine must act.
        self.devices.request_pending() || self.devices.apics().yield_requested()
    }
    fn memory_map_generation(&self) -> u64 {
        self.memory.map_generation() + self.dma_overflows
    }
    fn take_dma_writes(&mut self, written: &mut dyn FnMut(u64, u64)) {
        // The CPU asks after every port access, so before the instruction after the OUT that ran the DMA.
        for (start, len) in self.dma_writes.drain(..) {
            written(start, len);
        }
    }
    fn sync_instructions(&mut self, retired: u64) {
        let clock = self.devices.clock();
        if clock.is_virtual() {
            clock.advance_to_ns(retired * VIRTUAL_NS_PER_INSTRUCTION + self.idle_ns);
        }
    }
    fn now_ns(&self) -> Option<u64> {
        Some(self.devices.clock().now_ns())
    }
    fn read_device_msr(&mut self, index: u32) -> Option<u64> {
        self.devices.read_msr(index)
    }
    fn write_device_msr(&mut self, index: u32, value: u64, tsc_now: u64) -> Option<bool> {
        self.devices
            .write_msr(index, value, tsc_now, vx86_cpu::cpuid::TSC_HZ)
            .map(|result| result.is_ok())
    }
}
