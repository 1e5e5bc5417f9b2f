//! Segmentation: limit and type checks on every access, descriptor-table reads, and segment-register loads with
//! the protected-mode privilege rules (SDM vol. 3, 5.5-5.8).

use super::Access;
use crate::bus::Bus;
use crate::descriptor::Descriptor;
use crate::fault::{gp, Fault};
use crate::state::{attr, SegReg, Segment};
use crate::Cpu;

/// Whether a 64-bit linear address is canonical (bits 63..47 all equal, for 48-bit virtual addresses).
#[inline]
pub fn canonical(linear: u64) -> bool {
    ((linear as i64) << 16 >> 16) as u64 == linear
}

/// The fault a bad access through `seg` raises: #SS for the stack segment, #GP otherwise.
pub fn segment_fault(seg: SegReg, code: u16) -> Fault {
    if seg == SegReg::Ss {
        Fault::StackFault(code)
    } else {
        Fault::GeneralProtection(code)
    }
}

/// Whether `size` bytes at `offset` lie inside a segment's limit (expand-down aware).
pub fn segment_allows(seg: &Segment, offset: u64, size: usize) -> bool {
    let last = offset.wrapping_add(size as u64 - 1);
    if seg.attrs & (attr::CODE | attr::DC) == attr::DC {
        let upper = if seg.big() { 0xFFFF_FFFF } else { 0xFFFF };
        offset > u64::from(seg.limit) && last <= upper && last >= offset
    } else {
        last <= u64::from(seg.limit) && last >= offset
    }
}

impl Cpu {
    /// The linear address of an access of `size` bytes at `offset` in `seg`, after the type and limit checks.
    #[inline]
    pub(crate) fn seg_linear(
        &self,
        seg: SegReg,
        offset: u64,
        size: usize,
        access: Access,
    ) -> Result<u64, Fault> {
        let s = &self.state.segs[seg as usize];
        if self.state.mode64() {
            // 64-bit mode: no limits or types; only FS and GS have a base; addresses must be canonical.
            let base = if matches!(seg, SegReg::Fs | SegReg::Gs) {
                s.base
            } else {
                0
            };
            let linear = base.wrapping_add(offset);
            if !canonical(linear) || !canonical(linear.wrapping_add(size as u64 - 1)) {
                return Err(segment_fault(seg, 0));
            }
            return Ok(linear);
        }
        if self.state.protected() && !self.state.v86() {
            let a = s.attrs;
            let ok = a & attr::P != 0
                && match access {
                    Access::Write => a & (attr::CODE | attr::RW) == attr::RW,
                    Access::Read => a & attr::CODE == 0 || a & attr::RW != 0,
                    Access::Fetch => true,
                };
            if !ok {
                return Err(segment_fault(seg, 0));
            }
        }
        if !segment_allows(s, offset, size) {
            return Err(segment_fault(seg, 0));
        }
        Ok(s.base.wrapping_add(offset) & 0xFFFF_FFFF)
    }

    /// Whether ordinary accesses are made with user privilege (CPL 3).
    #[inline]
    pub(crate) fn user_mode(&self) -> bool {
        self.state.cpl == 3
    }

    /// Reads `size` bytes at `seg:offset`.
    #[inline]
    pub fn read_mem<B: Bus>(
        &mut self,
        bus: &mut B,
        seg: SegReg,
        offset: u64,
        size: usize,
    ) -> Result<u64, Fault> {
        let linear = self.seg_linear(seg, offset, size, Access::Read)?;
        self.read_linear(bus, linear, size, self.user_mode())
    }

    /// Writes `size` bytes at `seg:offset`.
    #[inline]
    pub fn write_mem<B: Bus>(
        &mut self,
        bus: &mut B,
        seg: SegReg,
        offset: u64,
        size: usize,
        value: u64,
    ) -> Result<(), Fault> {
        let linear = self.seg_linear(seg, offset, size, Access::Write)?;
        self.write_linear(bus, linear, size, value, self.user_mode())
    }

    /// Reads a descriptor through a selector from the GDT or LDT (a supervisor access). `#GP(selector)` when the
    /// selector points past the table's limit.
    pub(crate) fn read_descriptor<B: Bus>(
        &mut self,
        bus: &mut B,
        selector: u16,
    ) -> Result<Descriptor, Fault> {
        let index = u64::from(selector & 0xFFF8);
        let (base, limit) = if selector & 4 != 0 {
            let ldt = self.state.ldtr;
            if ldt.attrs & attr::P == 0 || ldt.selector & 0xFFFC == 0 {
                return gp(selector & 0xFFFC);
            }
            (ldt.base, u64::from(ldt.limit))
        } else {
            (self.state.gdtr.base, u64::from(self.state.gdtr.limit))
        };
        if index + 7 > limit {
            return gp(selector & 0xFFFC);
        }
        Ok(Descriptor(self.read_linear(
            bus,
            base.wrapping_add(index),
            8,
            false,
        )?))
    }

    /// Whether a selector's descriptor lies inside the GDT, or inside a usable LDT (for LAR, LSL, VERR, VERW, which
    /// report a selector outside its table through ZF instead of faulting).
    pub(crate) fn descriptor_in_table(&self, selector: u16) -> bool {
        let last = u64::from(selector & 0xFFF8) + 7;
        if selector & 4 != 0 {
            let ldt = self.state.ldtr;
            ldt.attrs & attr::P != 0 && ldt.selector & 0xFFFC != 0 && last <= u64::from(ldt.limit)
        } else {
            last <= u64::from(self.state.gdtr.limit)
        }
    }

    /// Sets the accessed bit of the descriptor a selector names, as the CPU does when loading it.
    pub(crate) fn mark_descriptor_accessed<B: Bus>(
        &mut self,
        bus: &mut B,
        selector: u16,
        desc: Descriptor,
    ) -> Result<(), Fault> {
        if desc.0 & (1 << 40) != 0 {
            return Ok(());
        }
        let base = if selector & 4 != 0 {
            self.state.ldtr.base
        } else {
            self.state.gdtr.base
        };
        let addr = base.wrapping_add(u64::from(selector & 0xFFF8)) + 5;
        let byte = (desc.0 >> 40) as u8 | 1;
        self.write_linear(bus, addr, 1, u64::from(byte), false)
    }

    /// Loads a data segment register or SS (MOV, POP, LDS...) with the mode's rules. CS is loaded only by control
    /// transfers.
    pub fn load_segment<B: Bus>(
        &mut self,
        bus: &mut B,
        seg: SegReg,
        selector: u16,
    ) -> Result<(), Fault> {
        if !self.state.protected() || self.state.v86() {
            let v86 = self.state.v86();
            let s = &mut self.state.segs[seg as usize];
            s.selector = selector;
            s.base = u64::from(selector) << 4;
            if v86 {
                s.limit = 0xFFFF;
                s.attrs = attr::P | attr::S | attr::RW | attr::ACCESSED | (3 << attr::DPL_SHIFT);
            }
            return Ok(());
        }
        let cpl = self.state.cpl;
        let rpl = (selector & 3) as u8;
        let code = selector & 0xFFFC;
        if selector & 0xFFFC == 0 {
            // 64-bit mode allows a null SS below CPL 3 (with RPL = CPL).
            let null_stack_ok = self.state.mode64() && cpl < 3 && rpl == cpl;
            if seg == SegReg::Ss && !null_stack_ok {
                return gp(0);
            }
            // A null selector loads an unusable segment; using it faults later.
            self.state.segs[seg as usize] = Segment {
                selector,
                ..Segment::default()
            };
            return Ok(());
        }
        let desc = self.read_descriptor(bus, selector)?;
        if seg == SegReg::Ss {
            if rpl != cpl || !desc.is_writable_data() || desc.dpl() != cpl {
                return gp(code);
            }
            if !desc.present() {
                return Err(Fault::StackFault(code));
            }
        } else {
            if !desc.is_readable() {
                return gp(code);
            }
            if !desc.is_conforming() && (desc.dpl() < cpl || desc.dpl() < rpl) {
                return gp(code);
            }
            if !desc.present() {
                return Err(Fault::SegmentNotPresent(code));
            }
        }
        self.mark_descriptor_accessed(bus, selector, desc)?;
        self.state.segs[seg as usize] = Descriptor(desc.0 | (1 << 40)).to_segment(selector);
        Ok(())
    }
}
