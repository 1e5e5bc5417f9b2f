//! What a CPU needs from the world: memory, port I/O and interrupts.
//!
//! The board implements this trait; every engine runs against it, so the same devices serve every engine.

/// How a guest-physical page is backed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageBacking {
    /// Ordinary RAM at this byte offset into [`Bus::memory`].
    Ram(usize),
    /// Read-only memory at this byte offset into [`Bus::memory`]; writes are ignored.
    Rom(usize),
    /// Memory-mapped I/O or nothing at all: every access goes through [`Bus::mmio_read`]/[`Bus::mmio_write`].
    Mmio,
}

/// The guest's view of the machine outside the CPU.
pub trait Bus {
    /// All guest memory that is backed by host memory, as one slice ([`PageBacking`] offsets index into it).
    fn memory(&mut self) -> &mut [u8];
    /// How the 4 KiB guest-physical page holding `paddr` is backed.
    fn backing(&self, paddr: u64) -> PageBacking;
    /// The RAM or ROM bytes from `paddr` to the end of its page, in place (empty where the backing memory ends
    /// early); `None` for MMIO, which has no bytes to lend.
    fn page_bytes(&mut self, paddr: u64) -> Option<&[u8]> {
        let (PageBacking::Ram(offset) | PageBacking::Rom(offset)) = self.backing(paddr) else {
            return None;
        };
        let at = offset + (paddr & 0xFFF) as usize;
        let end = at + 0x1000 - (paddr & 0xFFF) as usize;
        Some(self.memory().get(at..end).unwrap_or(&[]))
    }
    /// Reads `size` (1, 2, 4 or 8) bytes from an MMIO or unbacked address; open bus reads all ones.
    fn mmio_read(&mut self, paddr: u64, size: u8) -> u64;
    /// Writes `size` bytes to an MMIO or unbacked address; writes to nothing are dropped.
    fn mmio_write(&mut self, paddr: u64, size: u8, value: u64);
    /// Reads `size` (1, 2 or 4) bytes from an I/O port.
    fn io_read(&mut self, port: u16, size: u8) -> u32;
    /// Writes `size` (1, 2 or 4) bytes to an I/O port.
    fn io_write(&mut self, port: u16, size: u8, value: u32);
    /// Whether the interrupt controller asserts INTR.
    fn interrupt_pending(&self) -> bool;
    /// Runs an interrupt-acknowledge cycle and returns the vector.
    fn acknowledge_interrupt(&mut self) -> u8;
    /// Whether a non-maskable interrupt waits for this CPU (from its local APIC, or the board's NMI line). The
    /// default bus has no NMI source.
    fn nmi_pending(&self) -> bool {
        false
    }
    /// The CPU takes the waiting NMI: the bus forgets it (NMIs are edge events, one at a time).
    fn acknowledge_nmi(&mut self) {}
    /// The local APIC's task-priority register, which CR8 reads as its bits 7-4; `None` without a local APIC (CR8
    /// is then a register of its own).
    fn task_priority(&self) -> Option<u8> {
        None
    }
    /// MOV to CR8 writes the local APIC's task priority (`cr8 << 4`); `false` without a local APIC.
    fn set_task_priority(&mut self, _tpr: u8) -> bool {
        false
    }
    /// Whether the A20 gate is open (address bit 20 passes through).
    fn a20_enabled(&self) -> bool;
    /// Whether a device asked the machine to stop (reset, power-off, debug exit) so the engine should return.
    fn stop_requested(&self) -> bool;

    /// A number that moves whenever the board changes which pages are RAM, ROM or MMIO (the chipset's PAM
    /// registers turning the BIOS ROM into shadow RAM, say): the CPU then drops its cached translations and the
    /// code it decoded, since the bytes behind an address changed without a write. The default never moves.
    fn memory_map_generation(&self) -> u64 {
        0
    }

    /// Hands `written` every guest-physical range (start, length) that a device wrote by DMA since the last call,
    /// behind the CPU's back: the CPU drops the code it cached from those pages only (its self-modifying-code
    /// tracking), as it does for its own writes. The default bus has no DMA.
    fn take_dma_writes(&mut self, _written: &mut dyn FnMut(u64, u64)) {}

    /// Tells the bus how many instructions the CPU has retired, just before an access whose result may depend on
    /// time (port I/O, MMIO, the TSC), so a machine whose time follows instructions (`-icount`) can bring its
    /// clock to that exact instruction. The default does nothing.
    fn sync_instructions(&mut self, _retired: u64) {}

    /// Guest time in nanoseconds from the machine's clock, which drives the TSC at [`crate::cpuid::TSC_HZ`].
    /// `None` (the default) makes the TSC count retired instructions instead, for buses without a clock.
    fn now_ns(&self) -> Option<u64> {
        None
    }

    /// Reads an MSR that a device owns (the local APIC's base and TSC deadline); `None` if no device has it.
    fn read_device_msr(&mut self, _index: u32) -> Option<u64> {
        None
    }

    /// Writes an MSR that a device owns, with the current TSC for deadline conversion: `None` if no device has
    /// it, `Some(false)` if the value is refused (#GP).
    fn write_device_msr(&mut self, _index: u32, _value: u64, _tsc_now: u64) -> Option<bool> {
        None
    }
}
