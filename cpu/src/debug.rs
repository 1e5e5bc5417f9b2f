//! Debug exceptions (SDM vol. 3, chapter 17): single-step traps from TF, the DR0-DR3 instruction and data
//! breakpoints DR7 enables, with DR6 saying what hit, the MOV SS/POP SS hold on debug traps, and RF.
//!
//! Every engine's one-instruction step runs through `Cpu::execute_debugged` while [`crate::CpuState::debug_active`] holds, and
//! only then: the ordinary path checks nothing else. Data breakpoints are matched against the linear addresses of
//! memory accesses (`Cpu::note_data_access`), which the MMU reports only while some DR0-DR3 is enabled.

use crate::bus::Bus;
use crate::exec::fast::Fast;
use crate::fault::Fault;
use crate::flags::{RF, TF};
use crate::state::SegReg;
use crate::step::Flow;
use crate::Cpu;
use iced_x86::{Instruction, Mnemonic as M};

/// DR6 (debug status) bits.
pub mod dr6 {
    /// B0..B3: which of DR0..DR3 matched.
    pub const HITS: u64 = 0xF;
    /// BD: a debug register was accessed while DR7.GD was set.
    pub const BD: u64 = 1 << 13;
    /// BS: a single-step trap (TF).
    pub const BS: u64 = 1 << 14;
    /// Bits that always read as one (reserved, and RTM, which the model lacks).
    pub const FIXED_ONES: u64 = 0xFFFF_0FF0;
    /// Bits software may write.
    pub const WRITABLE: u64 = HITS | BD | BS | (1 << 15);
}

/// DR7 (debug control) bits.
pub mod dr7 {
    /// L0/G0..L3/G3: the local and global enables of DR0..DR3.
    pub const ENABLES: u64 = 0xFF;
    /// GD: general detect, a debug-register access raises #DB.
    pub const GD: u64 = 1 << 13;
    /// Bit 10 reads as one.
    pub const FIXED_ONE: u64 = 1 << 10;
    /// Bits software may write: the enables, LE/GE, GD, and the R/W and LEN fields.
    pub const WRITABLE: u64 = 0xFFFF_23FF;
    /// The R/W field of an instruction breakpoint.
    pub const EXECUTE: u64 = 0;
    /// The R/W field of a breakpoint on data writes.
    pub const WRITE: u64 = 1;
    /// The R/W field of a breakpoint on data reads and writes.
    pub const READ_WRITE: u64 = 3;

    /// Whether breakpoint `n` (0..3) is enabled, locally or globally.
    pub fn enabled(dr7: u64, n: usize) -> bool {
        dr7 >> (2 * n) & 3 != 0
    }

    /// The R/W field of breakpoint `n`.
    pub fn kind(dr7: u64, n: usize) -> u64 {
        dr7 >> (16 + 4 * n) & 3
    }

    /// The bytes breakpoint `n` covers (LEN: 1, 2, 8 or 4).
    pub fn len(dr7: u64, n: usize) -> u64 {
        match dr7 >> (18 + 4 * n) & 3 {
            0 => 1,
            1 => 2,
            2 => 8,
            _ => 4,
        }
    }
}

/// Debug events of the instruction being run.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct DebugEvents {
    /// B0..B3 of the enabled data breakpoints the current instruction's accesses matched.
    pub data_hits: u64,
    /// DR6 bits of a MOV SS or POP SS, held back until the instruction after it has run.
    pub held: u64,
}

impl Cpu {
    /// Runs one instruction with the debug checks: an instruction breakpoint on it faults first (unless RF is set);
    /// RF is cleared; once it retires, a single-step trap and the data breakpoints it hit raise one #DB (after the
    /// next instruction when it loaded SS).
    pub(crate) fn execute_debugged<B: Bus>(
        &mut self,
        bus: &mut B,
        instr: &Instruction,
        fast: Fast,
    ) -> Flow {
        let held = std::mem::take(&mut self.debug.held);
        if self.state.rflags & RF == 0 {
            let hits = self.code_breakpoint_hits();
            if hits != 0 {
                // An instruction breakpoint is the one fault whose pushed RF stays clear.
                self.state.interrupt_shadow = false;
                self.record_debug_status(hits);
                self.deliver_fault(bus, Fault::Debug);
                return Flow::Faulted;
            }
        }
        self.state.rflags &= !RF;
        let tf_before = self.state.rflags & TF != 0;
        self.debug.data_hits = 0;
        let flow = self.execute_plain(bus, instr, fast);
        let data_hits = std::mem::take(&mut self.debug.data_hits);
        if flow == Flow::Faulted {
            return flow;
        }
        let mut status = held | data_hits;
        if single_step_traps(instr, tf_before, flow) {
            status |= dr6::BS;
        }
        if status == 0 {
            return flow;
        }
        if self.state.interrupt_shadow && loads_ss(instr) {
            self.debug.held = status;
            return flow;
        }
        self.record_debug_status(status);
        self.deliver_fault(bus, Fault::Debug);
        Flow::Jumped
    }

    /// The single-step trap of SYSCALL and SYSRET, which look at the TF they leave rather than the one they began
    /// with (so a SYSRET that sets TF traps at once, before the first user instruction, and a SYSCALL whose SFMASK
    /// clears TF does not trap): raised from inside the instruction, which then counts as retired.
    pub(crate) fn single_step_on_the_tf_left<B: Bus>(&mut self, bus: &mut B) {
        if self.state.rflags & TF != 0 {
            self.record_debug_status(dr6::BS);
            self.deliver_fault(bus, Fault::Debug);
        }
    }

    /// Sets DR6 for a #DB: B0..B3 become `status`'s, and its BD and BS bits are added (the processor never clears
    /// those).
    fn record_debug_status(&mut self, status: u64) {
        self.state.dr[6] = (self.state.dr[6] & !dr6::HITS) | status | dr6::FIXED_ONES;
    }

    /// B0..B3 of the enabled instruction breakpoints at CS:RIP.
    fn code_breakpoint_hits(&self) -> u64 {
        let dr7 = self.state.dr[7];
        let linear = self.state.seg(SegReg::Cs).base.wrapping_add(self.state.rip);
        let linear = if self.state.mode64() {
            self.state.rip
        } else {
            linear & 0xFFFF_FFFF
        };
        (0..4)
            .filter(|&n| {
                dr7::enabled(dr7, n)
                    && dr7::kind(dr7, n) == dr7::EXECUTE
                    && self.state.dr[n] == linear
            })
            .fold(0, |hits, n| hits | 1 << n)
    }

    /// Notes an access of `size` bytes at `linear` against the enabled data breakpoints (the MMU calls this only
    /// while some breakpoint is enabled).
    #[cold]
    pub(crate) fn note_data_access(&mut self, linear: u64, size: usize, write: bool) {
        let dr7 = self.state.dr[7];
        for n in 0..4 {
            let kind = dr7::kind(dr7, n);
            let watched = kind == dr7::READ_WRITE || (kind == dr7::WRITE && write);
            if !dr7::enabled(dr7, n) || !watched {
                continue;
            }
            let len = dr7::len(dr7, n);
            let start = self.state.dr[n] & !(len - 1);
            if linear < start.wrapping_add(len) && start < linear.wrapping_add(size as u64) {
                self.debug.data_hits |= 1 << n;
            }
        }
    }

    /// Whether a repeated string instruction must stop after this iteration so that a debug trap is taken there:
    /// single-stepping, or a data breakpoint hit.
    pub(crate) fn debug_pauses_repeat(&self) -> bool {
        self.state.rflags & TF != 0 || self.debug.data_hits != 0
    }

    /// The index MOV DRn really accesses: DR4 and DR5 are DR6 and DR7, or #UD while CR4.DE is set. Raises the
    /// general-detect #DB (DR6.BD, GD cleared for the handler, a fault with RF pushed) while DR7.GD is set.
    pub(crate) fn debug_register_index(&mut self, n: usize) -> Result<usize, Fault> {
        let n = match n {
            4 | 5 if self.state.cr4 & crate::state::cr4::DE != 0 => {
                return Err(Fault::InvalidOpcode)
            }
            4 | 5 => n + 2,
            _ => n,
        };
        if self.state.dr[7] & dr7::GD != 0 {
            self.state.dr[7] &= !dr7::GD;
            self.record_debug_status(dr6::BD);
            self.state.rflags |= RF;
            return Err(Fault::Debug);
        }
        Ok(n)
    }

    /// MOV DRn, value (`n` from [`Cpu::debug_register_index`]): DR6 and DR7 keep their fixed bits, and #GP(0) for
    /// bits set above bit 31.
    pub(crate) fn write_debug_register(&mut self, n: usize, value: u64) -> Result<(), Fault> {
        match n {
            6 | 7 if value >> 32 != 0 => return Err(Fault::GeneralProtection(0)),
            6 => self.state.dr[6] = (value & dr6::WRITABLE) | dr6::FIXED_ONES,
            7 => self.state.dr[7] = (value & dr7::WRITABLE) | dr7::FIXED_ONE,
            _ => self.state.dr[n] = value,
        }
        Ok(())
    }
}

/// Whether an instruction that retired with `flow` ends in a single-step trap. TF as it was when the instruction
/// began decides, except that SYSCALL and SYSRET raise theirs themselves
/// ([`Cpu::single_step_on_the_tf_left`]), and INT n, INT3, INT1 and a taken INTO clear TF on the way to their
/// handler and do not trap.
fn single_step_traps(instr: &Instruction, tf_before: bool, flow: Flow) -> bool {
    match instr.mnemonic() {
        M::Syscall | M::Sysret | M::Sysretq | M::Int | M::Int3 | M::Int1 => false,
        M::Into => tf_before && flow == Flow::Next,
        _ => tf_before,
    }
}

/// Whether an instruction is a MOV SS or POP SS, after which debug traps wait one instruction.
fn loads_ss(instr: &Instruction) -> bool {
    matches!(instr.mnemonic(), M::Mov | M::Pop)
        && instr.op0_kind() == iced_x86::OpKind::Register
        && instr.op0_register() == iced_x86::Register::SS
}
