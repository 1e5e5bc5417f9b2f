//! SSE/SSE2 bitwise logic on floating-point vectors: ANDPS/ANDNPS/ORPS/XORPS and the PD forms.

use crate::bus::Bus;
use crate::fault::Fault;
use crate::Cpu;
use iced_x86::{Instruction, Mnemonic as M};

impl Cpu {
    pub(super) fn sse_logic<B: Bus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Option<Result<(), Fault>> {
        let op: fn(u128, u128) -> u128 = match i.mnemonic() {
            M::Andps | M::Andpd => |a, b| a & b,
            M::Andnps | M::Andnpd => |a, b| !a & b,
            M::Orps | M::Orpd => |a, b| a | b,
            M::Xorps | M::Xorpd => |a, b| a ^ b,
            _ => return None,
        };
        Some(self.read_vec(bus, i, 1).map(|b| {
            let d = Self::xmm_of(i, 0);
            self.fpu.xmm.regs[d] = op(self.fpu.xmm.regs[d], b);
        }))
    }
}
