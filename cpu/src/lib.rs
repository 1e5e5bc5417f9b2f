//! The vx86 CPU: architectural state, the MMU (segmentation, paging, soft TLB), exception and interrupt delivery,
//! and the reference interpreter.
//!
//! The interpreter is the oracle every other engine is tested against. It decodes with iced-x86, caches decoded
//! instructions per guest-physical page, and executes one instruction at a time against a [`Bus`].

pub mod alu;
pub mod bus;
pub mod code_pages;
pub mod cpuid;
pub mod debug;
pub mod descriptor;
mod exec;
pub mod exit;
pub mod fault;
pub mod flags;
pub mod fpu;
pub mod interp;
pub mod interrupts;
pub mod mmu;
pub mod phase;
pub mod state;
pub mod step;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod vcpu;

pub use bus::{Bus, PageBacking};
pub use exit::Exit;
pub use fault::Fault;
pub use interp::Trace;
pub use state::{CpuState, SegReg};
pub use step::Flow;
pub use vcpu::VcpuContext;

use interp::decode_cache::DecodeCache;
use mmu::tlb::Tlb;
use std::collections::BTreeMap;

/// One virtual CPU: its architectural state plus the interpreter's caches and counters.
#[derive(Clone)]
pub struct Cpu {
    /// Architectural registers.
    pub state: CpuState,
    /// x87, MMX and SSE state (kept outside `CpuState`, whose layout the translator addresses directly).
    pub fpu: fpu::FpuState,
    /// Guest instructions retired since power-on.
    pub instructions: u64,
    /// Which traces to print on stderr.
    pub trace: Trace,
    /// Unimplemented instructions met, by mnemonic, with how often (the `-d unimp` report).
    pub unimplemented: BTreeMap<String, u64>,
    /// What the interpreter counts for `-d stats`.
    pub stats: interp::InterpStats,
    /// Which boot phase the guest is in and when each began (for the benchmarks and `-d stats`).
    pub phases: phase::PhaseClock,
    /// Physical-address mask: bit 20 is cleared while the A20 gate is closed.
    pub(crate) a20_mask: u64,
    pub(crate) tlb: Tlb,
    pub(crate) decode_cache: DecodeCache,
    /// Which physical pages hold cached code (decoded or translated), for self-modifying code.
    pub(crate) code_pages: code_pages::CodePages,
    /// Physical pages whose cached code was written since an engine last took them ([`Cpu::take_written_code`]).
    pub(crate) written_code: Vec<u64>,
    /// Set by an instruction (port I/O) after which the engine must return to the machine.
    pub(crate) stop: bool,
    /// An exit decided inside a block (a triple fault), returned by the run loop.
    pub(crate) pending_exit: Option<Exit>,
    /// Guest-physical address of the block being run (for its self-modification check).
    pub(crate) block_phys: u64,
    /// Interrupts must be looked at after the current instruction although the block goes on: an MMIO access may
    /// have changed what the devices request, or an STI/MOV SS shadow ends there.
    pub(crate) recheck_interrupts: bool,
    /// Vector of the exception being delivered, for the double- and triple-fault rules.
    pub(crate) delivering: Option<fault::FaultClass>,
    /// Model-specific registers that have no dedicated field.
    pub(crate) msrs: BTreeMap<u32, u64>,
    /// The board's memory-map generation the TLB and decoded code were built under.
    pub(crate) memory_map_generation: u64,
    /// This processor's initial APIC ID (CPUID.1:EBX bits 31-24); 0 for the bootstrap processor.
    pub(crate) apic_id: u8,
    /// Debug events of the instruction being run (data breakpoints hit, traps held by MOV SS).
    pub(crate) debug: debug::DebugEvents,
}

impl Default for Cpu {
    fn default() -> Self {
        Cpu::new()
    }
}

impl Cpu {
    /// A CPU in its power-on state.
    pub fn new() -> Cpu {
        Cpu {
            state: CpuState::reset(),
            fpu: fpu::FpuState::new(),
            instructions: 0,
            trace: Trace::default(),
            unimplemented: BTreeMap::new(),
            stats: interp::InterpStats::default(),
            phases: phase::PhaseClock::default(),
            a20_mask: !0,
            tlb: Tlb::default(),
            decode_cache: DecodeCache::default(),
            code_pages: code_pages::CodePages::default(),
            written_code: Vec::new(),
            stop: false,
            pending_exit: None,
            block_phys: 0,
            recheck_interrupts: false,
            delivering: None,
            msrs: BTreeMap::new(),
            memory_map_generation: 0,
            apic_id: 0,
            debug: debug::DebugEvents::default(),
        }
    }

    /// RESET: back to the power-on register state, caches dropped, counters kept.
    pub fn reset(&mut self) {
        self.state = CpuState::reset();
        self.fpu = fpu::FpuState::new();
        self.tlb.flush(false);
        self.decode_cache.clear();
        self.code_pages.clear_marks();
        self.delivering = None;
        self.msrs.clear();
        self.debug = debug::DebugEvents::default();
    }
}
