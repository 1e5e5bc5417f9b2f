//! x87 control: FINIT/FNINIT, FLDCW, FSTCW, FSTSW (AX and m16), FCLEX, FSTENV/FLDENV, FSAVE/FRSTOR (14/28-byte
//! environments in real and protected layouts, plus the eight registers), FFREE/FFREEP, FINCSTP/FDECSTP, FNOP and
//! the 8087/287 leftovers that are no-ops (FENI, FDISI, FSETPM).

use super::st_index;
use crate::bus::Bus;
use crate::fault::Fault;
use crate::fpu::{sw, F80};
use crate::Cpu;
use iced_x86::{Instruction, MemorySize as S, Mnemonic as M, OpKind};

impl Cpu {
    pub(super) fn x87_control<B: Bus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Option<Result<(), Fault>> {
        Some(match i.mnemonic() {
            M::Finit | M::Fninit => {
                self.fpu.init();
                Ok(())
            }
            M::Fldcw => {
                let (seg, ea) = (Self::memory_segment(i), self.effective_address(i));
                self.read_mem(bus, seg, ea, 2).map(|v| {
                    self.fpu.cw = v as u16 | 0x40;
                    self.update_es();
                })
            }
            M::Fstcw | M::Fnstcw => {
                let (seg, ea) = (Self::memory_segment(i), self.effective_address(i));
                self.write_mem(bus, seg, ea, 2, u64::from(self.fpu.cw))
            }
            M::Fstsw | M::Fnstsw => {
                let v = self.fpu.status_word();
                if i.op0_kind() == OpKind::Register {
                    self.set_reg(i.op0_register(), u64::from(v));
                    Ok(())
                } else {
                    let (seg, ea) = (Self::memory_segment(i), self.effective_address(i));
                    self.write_mem(bus, seg, ea, 2, u64::from(v))
                }
            }
            M::Fclex | M::Fnclex => {
                self.fpu.sw &= !(sw::EXCEPTIONS | sw::SF | sw::ES | sw::B);
                Ok(())
            }
            M::Fstenv | M::Fnstenv | M::Fsave | M::Fnsave => self.fstenv(bus, i),
            M::Fldenv | M::Frstor => self.fldenv(bus, i),
            M::Ffree | M::Ffreep => {
                let p = self.fpu.phys(st_index(i.op0_register()));
                self.fpu.valid &= !(1 << p);
                if i.mnemonic() == M::Ffreep {
                    self.fpu.top = (self.fpu.top + 1) & 7;
                }
                Ok(())
            }
            M::Fincstp | M::Fdecstp => {
                let d = if i.mnemonic() == M::Fincstp { 1 } else { 7 };
                self.fpu.top = (self.fpu.top + d) & 7;
                self.fpu.sw &= !sw::C1;
                Ok(())
            }
            M::Fnop | M::Fneni | M::Feni | M::Fndisi | M::Fdisi | M::Fnsetpm | M::Fsetpm => Ok(()),
            _ => return None,
        })
    }

    /// ES and B follow whether any recorded exception is unmasked.
    fn update_es(&mut self) {
        if self.fpu.sw & !self.fpu.cw & sw::EXCEPTIONS != 0 {
            self.fpu.sw |= sw::ES | sw::B;
        } else {
            self.fpu.sw &= !(sw::ES | sw::B);
        }
    }

    /// Whether the environment uses the 32-bit layout (28 bytes) rather than the 16-bit one (14 bytes).
    fn env_is_32(i: &Instruction) -> bool {
        matches!(i.memory_size(), S::FpuEnv28 | S::FpuState108)
    }

    /// Serialises the environment: control, status and tag words and the last instruction/data pointers.
    fn env_bytes(&self, wide: bool) -> Vec<u8> {
        let f = &self.fpu;
        let real = !self.state.protected() || self.state.v86();
        let mut w: Vec<u32> = vec![
            u32::from(f.cw),
            u32::from(f.status_word()),
            u32::from(f.tag_word()),
        ];
        if real {
            let ip = (u64::from(f.fcs) << 4).wrapping_add(f.fip) as u32;
            let dp = (u64::from(f.fds) << 4).wrapping_add(f.fdp) as u32;
            w.extend([
                ip & 0xFFFF,
                (ip >> 16) << 12 | u32::from(f.fop),
                dp & 0xFFFF,
                (dp >> 16) << 12,
            ]);
        } else {
            w.extend([
                f.fip as u32,
                u32::from(f.fcs) | u32::from(f.fop) << 16,
                f.fdp as u32,
                u32::from(f.fds),
            ]);
        }
        let mut out = Vec::new();
        for (k, v) in w.into_iter().enumerate() {
            if wide {
                // The upper halves of the three words read as ones on real processors.
                let v = if k < 3 { v | 0xFFFF_0000 } else { v };
                out.extend_from_slice(&v.to_le_bytes());
            } else {
                out.extend_from_slice(&(v as u16).to_le_bytes());
            }
        }
        out
    }

    fn fstenv<B: Bus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let wide = Self::env_is_32(i);
        let mut bytes = self.env_bytes(wide);
        let save = matches!(i.mnemonic(), M::Fsave | M::Fnsave);
        if save {
            for k in 0..8 {
                bytes.extend_from_slice(&self.fpu.regs[self.fpu.phys(k)].to_bytes());
            }
        }
        let (seg, ea) = (Self::memory_segment(i), self.effective_address(i));
        self.write_block(bus, seg, ea, &bytes)?;
        if save {
            self.fpu.init();
        } else {
            self.fpu.cw |= sw::EXCEPTIONS;
            self.update_es();
        }
        Ok(())
    }

    fn fldenv<B: Bus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let wide = Self::env_is_32(i);
        let env = if wide { 28 } else { 14 };
        let restore = i.mnemonic() == M::Frstor;
        let mut b = vec![0u8; if restore { env + 80 } else { env }];
        let (seg, ea) = (Self::memory_segment(i), self.effective_address(i));
        self.read_block(bus, seg, ea, &mut b)?;
        let unit = if wide { 4 } else { 2 };
        let word = |k: usize| -> u32 {
            let at = k * unit;
            if wide {
                u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
            } else {
                u32::from(u16::from_le_bytes([b[at], b[at + 1]]))
            }
        };
        let real = !self.state.protected() || self.state.v86();
        self.fpu.cw = word(0) as u16;
        self.fpu.set_status_word(word(1) as u16);
        self.fpu.set_tag_word(word(2) as u16);
        if real {
            self.fpu.fip = u64::from(word(3) & 0xFFFF | (word(4) >> 12) << 16);
            self.fpu.fop = (word(4) & 0x7FF) as u16;
            self.fpu.fdp = u64::from(word(5) & 0xFFFF | (word(6) >> 12) << 16);
            self.fpu.fcs = 0;
            self.fpu.fds = 0;
        } else {
            self.fpu.fip = u64::from(word(3));
            self.fpu.fcs = word(4) as u16;
            self.fpu.fop = if wide {
                ((word(4) >> 16) & 0x7FF) as u16
            } else {
                0
            };
            self.fpu.fdp = u64::from(word(5));
            self.fpu.fds = word(6) as u16;
        }
        if restore {
            for k in 0..8 {
                let at = env + 10 * k;
                let p = self.fpu.phys(k);
                self.fpu.regs[p] = F80::from_bytes(&b[at..at + 10]);
            }
        }
        self.update_es();
        Ok(())
    }
}
