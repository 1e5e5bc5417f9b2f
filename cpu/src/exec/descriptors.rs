//! Descriptor inspection: LAR, LSL, VERR, VERW and ARPL (SDM vol. 2 pseudo-code, vol. 3 5.10.2-5.10.3).
//!
//! LAR, LSL, VERR and VERW report through ZF and never fault on a bad selector (only on the memory accesses
//! themselves); they are #UD outside protected mode. ARPL is #UD in real and virtual-8086 mode.

use crate::bus::Bus;
use crate::descriptor::{system_type as st, Descriptor};
use crate::fault::Fault;
use crate::flags::ZF;
use crate::Cpu;
use iced_x86::{Instruction, Mnemonic as M, OpKind};

impl Cpu {
    pub(super) fn exec_descriptors<B: Bus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Result<(), Fault> {
        self.require_protected()?;
        match i.mnemonic() {
            M::Arpl => self.arpl(bus, i),
            M::Lar | M::Lsl => {
                let selector = self.read_op(bus, i, 1, 2)? as u16;
                let lar = i.mnemonic() == M::Lar;
                let result = match self.visible_descriptor(bus, selector)? {
                    Some(d) if lar && lar_type_ok(d) => Some(if i.op0_register().size() == 2 {
                        (d.0 >> 32) & 0xFF00
                    } else {
                        (d.0 >> 32) & 0x00F0_FF00
                    }),
                    Some(d) if !lar && lsl_type_ok(d) => Some(u64::from(d.limit())),
                    _ => None,
                };
                if let Some(v) = result {
                    let size = i.op0_register().size();
                    self.set_reg(i.op0_register(), v & crate::interp::operands::mask(size));
                }
                self.set_zf(result.is_some());
                Ok(())
            }
            _ => {
                let selector = self.read_op(bus, i, 0, 2)? as u16;
                let ok = match self.visible_descriptor(bus, selector)? {
                    Some(d) if i.mnemonic() == M::Verr => d.is_readable(),
                    Some(d) => d.is_writable_data(),
                    None => false,
                };
                self.set_zf(ok);
                Ok(())
            }
        }
    }

    /// The descriptor a selector names, if the selector is not null, lies within its table and — for data and
    /// non-conforming code segments — the descriptor's DPL is at least CPL and RPL. Conforming code and system
    /// descriptors pass the privilege check (LAR/LSL check system types themselves, VERR/VERW reject them).
    fn visible_descriptor<B: Bus>(
        &mut self,
        bus: &mut B,
        selector: u16,
    ) -> Result<Option<Descriptor>, Fault> {
        if selector & 0xFFFC == 0 || !self.descriptor_in_table(selector) {
            return Ok(None);
        }
        let d = self.read_descriptor(bus, selector)?;
        let rpl = (selector & 3) as u8;
        let privileged = d.is_conforming() || (d.dpl() >= self.state.cpl && d.dpl() >= rpl);
        // System descriptors get the same DPL check in LAR and LSL.
        Ok(privileged.then_some(d))
    }

    /// ARPL r/m16, r16: raises the destination selector's RPL to the source's, ZF telling whether it changed.
    fn arpl<B: Bus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let dest = self.read_op(bus, i, 0, 2)?;
        let src = self.reg(i.op1_register()) & 0xFFFF;
        if dest & 3 < src & 3 {
            let new = (dest & !3) | (src & 3);
            if i.op0_kind() == OpKind::Register {
                let r = i.op0_register();
                let full = (self.reg(r) & !0xFFFF) | new;
                self.set_reg(r, full);
            } else {
                self.write_op(bus, i, 0, 2, new)?;
            }
            self.set_zf(true);
        } else {
            self.set_zf(false);
        }
        Ok(())
    }

    fn set_zf(&mut self, on: bool) {
        if on {
            self.state.rflags |= ZF;
        } else {
            self.state.rflags &= !ZF;
        }
    }
}

/// Descriptor types LAR reports: every code and data segment, TSS and LDT descriptors, call and task gates (not
/// interrupt or trap gates).
fn lar_type_ok(d: Descriptor) -> bool {
    d.is_code_or_data()
        || matches!(
            d.kind(),
            st::TSS16_AVAILABLE
                | st::LDT
                | st::TSS16_BUSY
                | st::CALL_GATE16
                | st::TASK_GATE
                | st::TSS32_AVAILABLE
                | st::TSS32_BUSY
                | st::CALL_GATE32
        )
}

/// Descriptor types LSL reports: every code and data segment, TSS and LDT descriptors (gates have no limit).
fn lsl_type_ok(d: Descriptor) -> bool {
    d.is_code_or_data()
        || matches!(
            d.kind(),
            st::TSS16_AVAILABLE | st::LDT | st::TSS16_BUSY | st::TSS32_AVAILABLE | st::TSS32_BUSY
        )
}
