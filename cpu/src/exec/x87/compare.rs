//! x87 compares and classification: FCOM/FCOMP/FCOMPP, FUCOM/FUCOMP/FUCOMPP, FICOM/FICOMP, FCOMI/FCOMIP/
//! FUCOMI/FUCOMIP (EFLAGS), FTST and FXAM. FCOM* signal IE on any NaN, FUCOM* only on a signalling NaN.

use super::{int_num, st_index};
use crate::bus::Bus;
use crate::fault::Fault;
use crate::flags::{ARITH, CF, PF, ZF};
use crate::fpu::soft::{self, flag, Class, Num};
use crate::fpu::sw;
use crate::Cpu;
use core::cmp::Ordering;
use iced_x86::{Instruction, Mnemonic as M, OpKind};

impl Cpu {
    pub(super) fn x87_compare<B: Bus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Option<Result<(), Fault>> {
        let m = i.mnemonic();
        Some(match m {
            M::Fcom
            | M::Fcomp
            | M::Fcompp
            | M::Fucom
            | M::Fucomp
            | M::Fucompp
            | M::Ficom
            | M::Ficomp
            | M::Fcomi
            | M::Fcomip
            | M::Fucomi
            | M::Fucomip
            | M::Ftst => self.fcom(bus, i),
            M::Fxam => {
                let (c3, c2, c0) = match self.st(0) {
                    None => (true, false, true),
                    Some(v) => {
                        let e = v.se & 0x7FFF;
                        let int = v.mant >> 63 != 0;
                        if e == 0 {
                            if v.mant == 0 {
                                (true, false, false)
                            } else {
                                (true, true, false)
                            }
                        } else if !int {
                            (false, false, false)
                        } else if e == 0x7FFF {
                            if v.mant << 1 == 0 {
                                (false, true, true)
                            } else {
                                (false, false, true)
                            }
                        } else {
                            (false, true, false)
                        }
                    }
                };
                let sign = self.fpu.regs[self.fpu.phys(0)].se & 0x8000 != 0;
                let mut s = self.fpu.sw & !sw::CC;
                for (on, bit) in [(c3, sw::C3), (c2, sw::C2), (c0, sw::C0), (sign, sw::C1)] {
                    if on {
                        s |= bit;
                    }
                }
                self.fpu.sw = s;
                Ok(())
            }
            _ => return None,
        })
    }

    fn fcom<B: Bus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let m = i.mnemonic();
        let mut ctx = self.x87_ctx(false);
        let pops = match m {
            M::Fcompp | M::Fucompp => 2,
            M::Fcomp | M::Fucomp | M::Ficomp | M::Fcomip | M::Fucomip => 1,
            _ => 0,
        };
        let eflags = matches!(m, M::Fcomi | M::Fcomip | M::Fucomi | M::Fucomip);
        let unordered_quiet = matches!(
            m,
            M::Fucom | M::Fucomp | M::Fucompp | M::Fucomi | M::Fucomip
        );
        let (other_valid, b) = if m == M::Ftst {
            (true, Some(int_num(0)))
        } else if i.op_count() > 0 && i.op0_kind() == OpKind::Memory {
            (true, Some(self.x87_read_mem(bus, i, &mut ctx)?))
        } else {
            let j = if i.op_count() == 2 {
                st_index(i.op1_register())
            } else {
                1
            };
            (self.st(j).is_some(), None)
        };
        let j = if i.op_count() == 2 {
            st_index(i.op1_register())
        } else {
            1
        };
        let result = if self.st(0).is_none() || !other_valid {
            self.fpu.sw |= sw::SF;
            ctx.flags |= flag::IE;
            None
        } else {
            let a = self.st_num(0, &mut ctx);
            let b: Num = b.unwrap_or_else(|| self.st_num(j, &mut ctx));
            let nan = a.is_nan() || b.is_nan();
            if (nan && !unordered_quiet) || a.class == Class::SNan || b.class == Class::SNan {
                ctx.flags |= flag::IE;
            }
            soft::compare(&a, &b)
        };
        if !self.x87_post(ctx.flags) {
            return Ok(());
        }
        let (c3, c2, c0) = match result {
            None => (true, true, true),
            Some(Ordering::Greater) => (false, false, false),
            Some(Ordering::Less) => (false, false, true),
            Some(Ordering::Equal) => (true, false, false),
        };
        if eflags {
            let mut f = 0;
            for (on, bit) in [(c3, ZF), (c2, PF), (c0, CF)] {
                if on {
                    f |= bit;
                }
            }
            self.state.rflags = (self.state.rflags & !ARITH) | f;
            self.fpu.sw &= !sw::C1;
        } else {
            let mut s = self.fpu.sw & !sw::CC;
            for (on, bit) in [(c3, sw::C3), (c2, sw::C2), (c0, sw::C0)] {
                if on {
                    s |= bit;
                }
            }
            self.fpu.sw = s;
        }
        for _ in 0..pops {
            self.fpop();
        }
        Ok(())
    }
}
