//! MMX: the eight 64-bit MMX registers alias the significands of the x87 physical registers R0..R7. Every MMX
//! instruction (except EMMS) sets TOP to 0 and marks all x87 registers valid; a write sets the register's
//! exponent field to all ones. EMMS empties the tag word. The packed-integer semantics are shared with SSE2
//! (`sse::integer`), the shuffles and moves with `sse::shuffle` and `sse::moves`.

use crate::bus::Bus;
use crate::fault::Fault;
use crate::fpu::sw;
use crate::state::cr0;
use crate::Cpu;
use iced_x86::{Instruction, Mnemonic as M};

impl Cpu {
    /// MMX register `n` (the significand of physical x87 register Rn).
    pub(crate) fn mm(&self, n: usize) -> u64 {
        self.fpu.regs[n].mant
    }

    /// Writes MMX register `n`: significand = value, sign and exponent all ones.
    pub(crate) fn set_mm(&mut self, n: usize, v: u64) {
        self.fpu.regs[n].mant = v;
        self.fpu.regs[n].se = 0xFFFF;
    }

    /// MMX availability: #UD with CR0.EM, #NM with CR0.TS, #MF for a pending unmasked x87 exception (CR0.NE).
    fn mmx_check(&self) -> Result<(), Fault> {
        if self.state.cr0 & cr0::EM != 0 {
            return Err(Fault::InvalidOpcode);
        }
        if self.state.cr0 & cr0::TS != 0 {
            return Err(Fault::DeviceNotAvailable);
        }
        if self.fpu.sw & sw::ES != 0 && self.state.cr0 & cr0::NE != 0 {
            return Err(Fault::FloatingPoint);
        }
        Ok(())
    }

    /// The checks of an MMX instruction followed by the x87-to-MMX transition (TOP = 0, all tags valid).
    pub(super) fn mmx_available(&mut self) -> Result<(), Fault> {
        self.mmx_check()?;
        self.mmx_transition()
    }

    /// The x87-to-MMX transition alone (for SSE instructions with an MMX operand, after the SSE checks).
    pub(super) fn mmx_transition(&mut self) -> Result<(), Fault> {
        if self.fpu.sw & sw::ES != 0 && self.state.cr0 & cr0::NE != 0 {
            return Err(Fault::FloatingPoint);
        }
        self.fpu.top = 0;
        self.fpu.valid = 0xFF;
        Ok(())
    }

    /// EMMS: all x87 registers empty.
    pub(super) fn emms(&mut self) -> Result<(), Fault> {
        self.mmx_check()?;
        self.fpu.valid = 0;
        Ok(())
    }

    /// An instruction whose register operands are MMX registers (after [`Self::mmx_available`]).
    pub(super) fn exec_mmx<B: Bus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        if let Some(r) = self.packed_int(bus, i, 8) {
            return r;
        }
        if let Some(r) = self.sse_moves(bus, i) {
            return r;
        }
        if let Some(r) = self.sse_shuffle(bus, i) {
            return r;
        }
        match i.mnemonic() {
            M::Emms => self.emms(),
            _ => Err(self.unimplemented(i)),
        }
    }
}
