//! Decimal arithmetic adjustments: DAA, DAS, AAA, AAS, AAM, AAD.
//!
//! Undefined flags (the SDM leaves some undefined for each of these):
//! - DAA/DAS: OF = the signed overflow of the adjusting addition/subtraction (see [`alu::daa`]).
//! - AAA/AAS: SF, ZF, PF from the final AL (as Intel hardware sets them); OF cleared.
//! - AAM: OF, AF, CF cleared (SF, ZF, PF from AL are defined).
//! - AAD: OF, AF, CF as the final 8-bit addition AL + AH * base leaves them (how the hardware computes AL).

use crate::alu;
use crate::fault::Fault;
use crate::flags::{AF, ARITH, CF};
use crate::Cpu;
use iced_x86::{Instruction, Mnemonic as M, Register};

impl Cpu {
    pub(super) fn exec_bcd(&mut self, i: &Instruction) -> Result<(), Fault> {
        let cf = self.state.rflags & CF != 0;
        let af = self.state.rflags & AF != 0;
        let ax = self.reg(Register::AX) as u16;
        let (al, ah) = (ax as u8, (ax >> 8) as u8);
        let (new_ax, flags) = match i.mnemonic() {
            M::Daa | M::Das => {
                let (r, f) = if i.mnemonic() == M::Daa {
                    alu::daa(al, cf, af)
                } else {
                    alu::das(al, cf, af)
                };
                (ax & 0xFF00 | u16::from(r), f)
            }
            M::Aaa | M::Aas => alu::aaa_aas(ax, af, i.mnemonic() == M::Aas),
            M::Aam => {
                let base = i.immediate8();
                if base == 0 {
                    return Err(Fault::DivideError);
                }
                let r = al % base;
                (
                    u16::from(al / base) << 8 | u16::from(r),
                    alu::szp(u64::from(r), 1),
                )
            }
            M::Aad => {
                let base = i.immediate8();
                let (r, f) = alu::add(u64::from(al), u64::from(ah.wrapping_mul(base)), false, 1);
                (r as u16, f)
            }
            _ => return Err(self.unimplemented(i)),
        };
        self.set_reg(Register::AX, u64::from(new_ax));
        self.set_flags(flags, ARITH);
        Ok(())
    }
}
