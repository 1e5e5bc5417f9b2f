//! Test support: a flat-RAM [`Bus`] and helpers that assemble a guest snippet with `code_asm` and run it.
//!
//! Used by the cpu crate's unit tests and by other crates' tests (enable the `testing` feature).

use crate::bus::{Bus, PageBacking};
use crate::interp::Exit;
use crate::state::{attr, cr0, SegReg, Segment};
use crate::Cpu;
use iced_x86::code_asm::CodeAssembler;
use std::collections::VecDeque;

/// A bus with `ram` bytes of RAM at physical 0, no ROM, open bus above, and recordable port I/O.
pub struct FlatBus {
    /// Guest RAM.
    pub ram: Vec<u8>,
    /// Every port write, in order: (port, size, value).
    pub io_writes: Vec<(u16, u8, u32)>,
    /// Values port reads return, in order; all ones once empty.
    pub io_reads: VecDeque<u32>,
    /// Interrupt vectors waiting to be acknowledged.
    pub pending_vectors: VecDeque<u8>,
    /// Whether the A20 gate is open.
    pub a20: bool,
    /// A port write to this port asks the engine to stop.
    pub stop_port: Option<u16>,
    stop: bool,
}

impl FlatBus {
    /// A bus with `ram` bytes of zeroed RAM.
    pub fn new(ram: usize) -> FlatBus {
        FlatBus {
            ram: vec![0; ram],
            io_writes: Vec::new(),
            io_reads: VecDeque::new(),
            pending_vectors: VecDeque::new(),
            a20: true,
            stop_port: None,
            stop: false,
        }
    }

    /// Copies bytes into RAM at a physical address.
    pub fn load(&mut self, addr: u64, bytes: &[u8]) {
        self.ram[addr as usize..addr as usize + bytes.len()].copy_from_slice(bytes);
    }

    /// Reads a little-endian dword of RAM.
    pub fn read_u32(&self, addr: u64) -> u32 {
        let a = addr as usize;
        u32::from_le_bytes(self.ram[a..a + 4].try_into().expect("4 bytes"))
    }

    /// Writes a little-endian dword of RAM.
    pub fn write_u32(&mut self, addr: u64, value: u32) {
        self.load(addr, &value.to_le_bytes());
    }

    /// Writes a little-endian qword of RAM.
    pub fn write_u64(&mut self, addr: u64, value: u64) {
        self.load(addr, &value.to_le_bytes());
    }
}

impl Bus for FlatBus {
    fn memory(&mut self) -> &mut [u8] {
        &mut self.ram
    }
    fn backing(&self, paddr: u64) -> PageBacking {
        if paddr < self.ram.len() as u64 {
            PageBacking::Ram((paddr & !0xFFF) as usize)
        } else {
            PageBacking::Mmio
        }
    }
    fn mmio_read(&mut self, _paddr: u64, size: u8) -> u64 {
        u64::MAX >> (64 - 8 * u32::from(size))
    }
    fn mmio_write(&mut self, _paddr: u64, _size: u8, _value: u64) {}
    fn io_read(&mut self, _port: u16, _size: u8) -> u32 {
        self.io_reads.pop_front().unwrap_or(u32::MAX)
    }
    fn io_write(&mut self, port: u16, size: u8, value: u32) {
        self.io_writes.push((port, size, value));
        if Some(port) == self.stop_port {
            self.stop = true;
        }
    }
    fn interrupt_pending(&self) -> bool {
        !self.pending_vectors.is_empty()
    }
    fn acknowledge_interrupt(&mut self) -> u8 {
        self.pending_vectors.pop_front().unwrap_or(0xFF)
    }
    fn a20_enabled(&self) -> bool {
        self.a20
    }
    fn stop_requested(&self) -> bool {
        self.stop
    }
}

/// Assembles a snippet at `base` with the given bitness (16, 32).
pub fn assemble(bitness: u32, base: u64, build: impl FnOnce(&mut CodeAssembler)) -> Vec<u8> {
    let mut a = CodeAssembler::new(bitness).expect("valid bitness");
    build(&mut a);
    a.assemble(base).expect("snippet assembles")
}

/// A flat 32-bit protected-mode CPU at CPL 0 (4 GiB code and data segments, no GDT needed until a segment load)
/// with RIP at `entry` and the stack at `stack`.
pub fn flat32_cpu(entry: u64, stack: u64) -> Cpu {
    let mut cpu = Cpu::new();
    cpu.state.cr0 |= cr0::PE;
    let data = Segment { base: 0, limit: 0xFFFF_FFFF, selector: 0x10, attrs: attr::P | attr::S | attr::RW | attr::ACCESSED | attr::DB | attr::G };
    for s in SegReg::ALL {
        cpu.state.segs[s as usize] = data;
    }
    cpu.state.segs[SegReg::Cs as usize] = Segment { selector: 0x08, attrs: data.attrs | attr::CODE, ..data };
    cpu.state.rip = entry;
    cpu.state.gpr[4] = stack;
    cpu
}

/// A real-mode CPU with all segments 0 and RIP at `entry` (below 64 KiB), SP at `stack`.
pub fn real_cpu(entry: u64, stack: u64) -> Cpu {
    let mut cpu = Cpu::new();
    for s in SegReg::ALL {
        cpu.state.segs[s as usize] = Segment::real_mode(0);
    }
    cpu.state.segs[SegReg::Cs as usize].attrs |= attr::CODE;
    cpu.state.rip = entry;
    cpu.state.gpr[4] = stack;
    cpu
}

/// Runs 32-bit flat code assembled at 0x1000 (stack at 0x8000) until HLT, returning the CPU and bus.
pub fn run32(build: impl FnOnce(&mut CodeAssembler)) -> (Cpu, FlatBus) {
    let mut bus = FlatBus::new(1 << 20);
    let code = assemble(32, 0x1000, build);
    bus.load(0x1000, &code);
    let mut cpu = flat32_cpu(0x1000, 0x8000);
    let exit = cpu.run(&mut bus, 1_000_000);
    assert_eq!(exit, Exit::Halted, "snippet must end with HLT");
    (cpu, bus)
}

/// Runs 16-bit real-mode code assembled at 0x1000 (stack at 0x8000) until HLT.
pub fn run16(build: impl FnOnce(&mut CodeAssembler)) -> (Cpu, FlatBus) {
    let mut bus = FlatBus::new(1 << 20);
    let code = assemble(16, 0x1000, build);
    bus.load(0x1000, &code);
    let mut cpu = real_cpu(0x1000, 0x8000);
    let exit = cpu.run(&mut bus, 1_000_000);
    assert_eq!(exit, Exit::Halted, "snippet must end with HLT");
    (cpu, bus)
}
