//! Shifts and rotates: SHL/SAL, SHR, SAR, ROL, ROR, RCL, RCR, SHLD, SHRD.

use crate::bus::Bus;
use crate::fault::Fault;
use crate::Cpu;
use iced_x86::Instruction;

impl Cpu {
    pub(super) fn exec_shift<B: Bus>(&mut self, _bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        Err(self.unimplemented(i))
    }
}
