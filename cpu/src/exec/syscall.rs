//! The 64-bit system-call instructions: SYSCALL and SYSRET (selectors from STAR, entry from LSTAR/CSTAR, flags
//! masked by SFMASK), SWAPGS, and RDTSCP (SDM vol. 2).

use crate::bus::Bus;
use crate::fault::{gp, Fault};
use crate::flags::{FLAGS_FIXED_ONE, IMPLEMENTED, RF, VM};
use crate::mmu::segment::canonical;
use crate::state::{attr, efer, SegReg, Segment};
use crate::Cpu;
use iced_x86::{Instruction, Mnemonic as M, Register};

/// A flat 4 GiB segment with the given selector and attributes.
fn flat(selector: u16, attrs: u16) -> Segment {
    Segment {
        base: 0,
        limit: 0xFFFF_FFFF,
        selector,
        attrs: attrs | attr::P | attr::S | attr::ACCESSED | attr::G,
    }
}

impl Cpu {
    pub(super) fn exec_syscall<B: Bus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Result<(), Fault> {
        match i.mnemonic() {
            M::Syscall => {
                self.syscall()?;
                self.single_step_on_the_tf_left(bus);
                Ok(())
            }
            M::Sysret | M::Sysretq => {
                self.sysret(i.mnemonic() == M::Sysretq)?;
                self.single_step_on_the_tf_left(bus);
                Ok(())
            }
            M::Swapgs => {
                if !self.state.mode64() {
                    return Err(Fault::InvalidOpcode);
                }
                self.require_cpl0()?;
                let gs = &mut self.state.segs[SegReg::Gs as usize].base;
                std::mem::swap(gs, &mut self.state.kernel_gs_base);
                Ok(())
            }
            _ => {
                // RDTSCP: RDTSC plus TSC_AUX in ECX.
                if self.state.cr4 & crate::state::cr4::TSD != 0 && self.state.cpl != 0 {
                    return gp(0);
                }
                let tsc = self.read_tsc(bus);
                self.set_reg(Register::EAX, tsc & 0xFFFF_FFFF);
                self.set_reg(Register::EDX, tsc >> 32);
                self.set_reg(Register::ECX, self.state.tsc_aux);
                Ok(())
            }
        }
    }

    fn syscall(&mut self) -> Result<(), Fault> {
        if !self.state.long_mode() || self.state.efer & efer::SCE == 0 {
            return Err(Fault::InvalidOpcode);
        }
        let base = ((self.state.star >> 32) & 0xFFFC) as u16;
        let entry = if self.state.mode64() {
            self.state.lstar
        } else {
            self.state.cstar
        };
        self.state.gpr[1] = self.state.rip;
        self.state.gpr[11] = self.state.rflags & !RF;
        self.state.rflags = (self.state.rflags & !self.state.sfmask & !RF) | FLAGS_FIXED_ONE;
        self.state.segs[SegReg::Cs as usize] = flat(base, attr::CODE | attr::RW | attr::L);
        self.state.segs[SegReg::Ss as usize] = flat(base + 8, attr::RW | attr::DB);
        self.state.cpl = 0;
        self.state.rip = entry;
        Ok(())
    }

    fn sysret(&mut self, to64: bool) -> Result<(), Fault> {
        if !self.state.long_mode() || self.state.efer & efer::SCE == 0 {
            return Err(Fault::InvalidOpcode);
        }
        if self.state.cpl != 0 || !self.state.mode64() {
            return gp(0);
        }
        let rcx = self.state.gpr[1];
        if to64 && !canonical(rcx) {
            return gp(0);
        }
        let base = ((self.state.star >> 48) & 0xFFFF) as u16;
        let dpl3 = 3 << attr::DPL_SHIFT;
        let (cs, rip) = if to64 {
            (
                flat((base + 16) | 3, attr::CODE | attr::RW | attr::L | dpl3),
                rcx,
            )
        } else {
            (
                flat(base | 3, attr::CODE | attr::RW | attr::DB | dpl3),
                rcx & 0xFFFF_FFFF,
            )
        };
        self.state.segs[SegReg::Cs as usize] = cs;
        // SS keeps its cached attributes except the selector and DPL, as on Intel processors.
        let ss = &mut self.state.segs[SegReg::Ss as usize];
        ss.selector = (base + 8) | 3;
        ss.attrs = (ss.attrs & !(3 << attr::DPL_SHIFT)) | dpl3 | attr::P;
        self.state.rflags = (self.state.gpr[11] & IMPLEMENTED & !(RF | VM)) | FLAGS_FIXED_ONE;
        self.state.cpl = 3;
        self.state.rip = rip;
        Ok(())
    }
}
