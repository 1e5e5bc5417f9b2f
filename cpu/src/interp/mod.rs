//! The reference interpreter: fetch through the decoded-instruction cache, execute one instruction, deliver
//! exceptions and interrupts, and return to the machine when something needs it.

pub mod decode_cache;
pub mod interrupts;
pub mod operands;

use crate::bus::{Bus, PageBacking};
use crate::fault::Fault;
use crate::flags::IF;
use crate::mmu::Access;
use crate::state::SegReg;
use crate::Cpu;
use iced_x86::{Decoder, DecoderError, DecoderOptions, Formatter, Instruction, IntelFormatter};

/// Why [`Cpu::run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// HLT with no interrupt to wake it: the machine may sleep until a device has something.
    Halted,
    /// The instruction budget ran out.
    BudgetExhausted,
    /// An exception occurred while delivering a double fault: the CPU shuts down.
    TripleFault,
    /// A device asked the machine to act (reset, power-off, debug exit) after an I/O access.
    DeviceRequest,
}

/// Which execution traces to print on stderr (the `-d` flag).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// Every executed guest instruction, disassembled.
    pub in_asm: bool,
    /// Every interrupt and exception delivered.
    pub interrupts: bool,
    /// Every unimplemented instruction met.
    pub unimplemented: bool,
}

impl Cpu {
    /// Runs guest code until `budget` instructions have retired or something needs the machine.
    pub fn run<B: Bus>(&mut self, bus: &mut B, budget: u64) -> Exit {
        self.sync_a20(bus);
        let end = self.instructions.saturating_add(budget);
        while self.instructions < end {
            if self.state.rflags & IF != 0
                && !self.state.interrupt_shadow
                && bus.interrupt_pending()
            {
                self.state.halted = false;
                let vector = bus.acknowledge_interrupt();
                if let Err(exit) = self.deliver_external_interrupt(bus, vector) {
                    return exit;
                }
            } else if self.state.halted {
                return Exit::Halted;
            }
            self.state.interrupt_shadow = false;
            let start_rip = self.state.rip;
            match self.step(bus) {
                Ok(()) => self.instructions += 1,
                Err(fault) => {
                    self.state.rip = start_rip;
                    if let Err(exit) = self.deliver_exception(bus, fault) {
                        return exit;
                    }
                }
            }
            if self.stop {
                self.stop = false;
                return Exit::DeviceRequest;
            }
        }
        Exit::BudgetExhausted
    }

    /// Fetches, decodes and executes one instruction. On a fault, RIP may already point past the instruction; the
    /// caller restores it.
    pub fn step<B: Bus>(&mut self, bus: &mut B) -> Result<(), Fault> {
        let mut instr = Instruction::default();
        self.fetch(bus, &mut instr)?;
        let instr = instr;
        if self.trace.in_asm {
            self.print_instruction(&instr);
        }
        self.state.rip = instr.next_ip() & self.ip_mask();
        self.execute(bus, &instr)
    }

    /// Mask of the instruction pointer for the current code size.
    pub(crate) fn ip_mask(&self) -> u64 {
        if self.state.code_bitness() == 16 {
            0xFFFF
        } else {
            0xFFFF_FFFF
        }
    }

    /// Re-reads the A20 gate after port I/O; a change flushes the TLB.
    pub(crate) fn sync_a20<B: Bus>(&mut self, bus: &mut B) {
        let mask = if bus.a20_enabled() { !0 } else { !(1u64 << 20) };
        if mask != self.a20_mask {
            self.a20_mask = mask;
            self.tlb.flush(false);
        }
    }

    /// Fetches and decodes the instruction at CS:RIP, through the decoded-instruction cache.
    #[inline(always)]
    fn fetch<B: Bus>(&mut self, bus: &mut B, out: &mut Instruction) -> Result<(), Fault> {
        let bitness = self.state.code_bitness();
        let rip = self.state.rip;
        let cs = self.state.seg(SegReg::Cs);
        // Fast path: the longest instruction fits in CS (a code segment is never expand-down), so the limit check
        // of the first byte can wait for the decoded length below.
        let near_limit = rip + 15 > u64::from(cs.limit);
        let linear = if !near_limit {
            cs.base.wrapping_add(rip) & 0xFFFF_FFFF
        } else {
            self.seg_linear(SegReg::Cs, rip, 1, Access::Fetch)?
        };
        let user = self.user_mode();
        let phys = self.translate(bus, linear, Access::Fetch, user)?;
        if let Some(i) = self.decode_cache.lookup(phys, rip, bitness) {
            *out = *i;
            if near_limit {
                self.seg_linear(SegReg::Cs, rip, out.len(), Access::Fetch)?;
            }
            return Ok(());
        }
        let mut bytes = [0u8; 15];
        let in_page = (0x1000 - (linear & 0xFFF) as usize).min(15);
        self.copy_code(bus, phys, &mut bytes[..in_page]);
        let mut available = in_page;
        let mut second_page_fault = None;
        if in_page < 15 {
            match self.translate(bus, linear + in_page as u64, Access::Fetch, user) {
                Ok(p2) => {
                    self.copy_code(bus, p2, &mut bytes[in_page..]);
                    available = 15;
                }
                Err(f) => second_page_fault = Some(f),
            }
        }
        let mut decoder = Decoder::with_ip(bitness, &bytes[..available], rip, DecoderOptions::NONE);
        let instr = decoder.decode();
        if instr.is_invalid() {
            return Err(match (decoder.last_error(), second_page_fault) {
                (DecoderError::NoMoreBytes, Some(f)) => f,
                _ => self.note_invalid(&bytes[..available], rip),
            });
        }
        // The whole instruction must lie within the code segment.
        if near_limit {
            self.seg_linear(SegReg::Cs, rip, instr.len(), Access::Fetch)?;
        }
        if instr.len() <= in_page {
            self.decode_cache.insert(phys, rip, bitness, instr);
        }
        *out = instr;
        Ok(())
    }

    fn copy_code<B: Bus>(&mut self, bus: &mut B, phys: u64, out: &mut [u8]) {
        match bus.backing(phys) {
            PageBacking::Ram(off) | PageBacking::Rom(off) => {
                let at = off + (phys & 0xFFF) as usize;
                if let Some(src) = bus.memory().get(at..at + out.len()) {
                    out.copy_from_slice(src);
                    return;
                }
                out.fill(0xFF);
            }
            PageBacking::Mmio => {
                for (k, b) in out.iter_mut().enumerate() {
                    *b = bus.mmio_read(phys + k as u64, 1) as u8;
                }
            }
        }
    }

    /// Records bytes iced-x86 cannot decode (garbage or an instruction set we do not model) and returns #UD.
    fn note_invalid(&mut self, bytes: &[u8], rip: u64) -> Fault {
        let key = format!("(undecodable) {:02x}", bytes.first().copied().unwrap_or(0));
        self.note_unimplemented_key(key, rip);
        Fault::InvalidOpcode
    }

    /// Records an instruction the interpreter does not implement and returns #UD for the guest.
    pub(crate) fn unimplemented(&mut self, i: &Instruction) -> Fault {
        let key = format!("{:?}", i.mnemonic()).to_lowercase();
        self.note_unimplemented_key(key, i.ip());
        Fault::InvalidOpcode
    }

    fn note_unimplemented_key(&mut self, key: String, rip: u64) {
        if self.trace.unimplemented {
            eprintln!(
                "unimp: {key} at {:04x}:{rip:08x}",
                self.state.seg(SegReg::Cs).selector
            );
        }
        *self.unimplemented.entry(key).or_insert(0) += 1;
    }

    fn print_instruction(&self, i: &Instruction) {
        let mut text = String::new();
        IntelFormatter::new().format(i, &mut text);
        eprintln!(
            "{:04x}:{:08x}  {text}",
            self.state.seg(SegReg::Cs).selector,
            i.ip()
        );
    }
}
