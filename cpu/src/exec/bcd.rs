//! Decimal arithmetic adjustments: DAA, DAS, AAA, AAS, AAM, AAD.

use crate::fault::Fault;
use crate::Cpu;
use iced_x86::Instruction;

impl Cpu {
    pub(super) fn exec_bcd(&mut self, i: &Instruction) -> Result<(), Fault> {
        Err(self.unimplemented(i))
    }
}
