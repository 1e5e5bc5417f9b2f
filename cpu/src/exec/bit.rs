//! Bit instructions: BT/BTS/BTR/BTC, BSF/BSR, SETcc and CMOVcc.

use crate::bus::Bus;
use crate::fault::Fault;
use crate::Cpu;
use iced_x86::Instruction;

impl Cpu {
    pub(super) fn exec_bit<B: Bus>(&mut self, _bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        Err(self.unimplemented(i))
    }
}
