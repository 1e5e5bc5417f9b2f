//! String instructions with their REP prefixes: MOVS, CMPS, STOS, LODS, SCAS, INS, OUTS.

use crate::bus::Bus;
use crate::fault::Fault;
use crate::Cpu;
use iced_x86::Instruction;

impl Cpu {
    pub(super) fn exec_string<B: Bus>(&mut self, _bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        Err(self.unimplemented(i))
    }
}
