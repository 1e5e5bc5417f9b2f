//! Several processors on one [`Cpu`]: the machine runs its vCPUs in turn on one host thread, switching the
//! per-processor state in and out of the one `Cpu` that the engines run.
//!
//! What each processor has of its own is a [`VcpuContext`]: registers, x87/SSE state, MSRs and the initial APIC
//! ID. What stays in the `Cpu` is shared by all of them, as on a real machine: the decoded-code cache and the
//! code-page marks (code is code whichever processor runs it, and a write by one processor must invalidate what
//! another one decoded), the retired-instruction count that drives guest time, and the boot-phase clock. The soft
//! TLB is flushed at every switch: its entries fold in the code-page marks, which another processor may have
//! changed, and this keeps the switch one obvious step.

use crate::fpu::FpuState;
use crate::state::CpuState;
use crate::Cpu;
use std::collections::BTreeMap;

/// One processor's own state while another one runs on the [`Cpu`].
#[derive(Clone)]
pub struct VcpuContext {
    /// Architectural registers.
    pub state: CpuState,
    fpu: FpuState,
    msrs: BTreeMap<u32, u64>,
    apic_id: u8,
}

impl VcpuContext {
    /// A processor in its power-on state whose initial APIC ID (CPUID.1:EBX bits 31-24) is `apic_id`.
    pub fn new(apic_id: u8) -> VcpuContext {
        VcpuContext {
            state: CpuState::reset(),
            fpu: FpuState::new(),
            msrs: BTreeMap::new(),
            apic_id,
        }
    }

    /// The processor's initial APIC ID.
    pub fn apic_id(&self) -> u8 {
        self.apic_id
    }

    /// INIT: registers and x87/SSE state back to their power-on values; MSRs stay (SDM vol. 3, table 10-1).
    pub fn init(&mut self) {
        self.state = CpuState::reset();
        self.fpu = FpuState::new();
    }
}

impl Cpu {
    /// Swaps the running processor's own state with `other`: afterwards the `Cpu` runs the processor `other`
    /// held, and `other` holds the one that ran. The TLB is flushed (see the module notes).
    pub fn switch_context(&mut self, other: &mut VcpuContext) {
        std::mem::swap(&mut self.state, &mut other.state);
        std::mem::swap(&mut self.fpu, &mut other.fpu);
        std::mem::swap(&mut self.msrs, &mut other.msrs);
        std::mem::swap(&mut self.apic_id, &mut other.apic_id);
        self.tlb.flush(false);
    }

    /// INIT of the running processor: as [`VcpuContext::init`], and the TLB flushed.
    pub fn init(&mut self) {
        let mut fresh = VcpuContext::new(self.apic_id);
        fresh.msrs = self.msrs.clone();
        self.switch_context(&mut fresh);
    }

    /// The running processor's initial APIC ID.
    pub fn apic_id(&self) -> u8 {
        self.apic_id
    }
}
