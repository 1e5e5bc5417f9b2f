//! Interrupt and exception delivery in IA-32e mode (SDM vol. 3, 6.14): 16-byte IDT gates, 64-bit frames always
//! including SS:RSP, the interrupt stack table, and RSP aligned to 16 bytes before the frame is pushed.

use super::{idt_error_code, Source};
use crate::bus::Bus;
use crate::descriptor::{system_type, Descriptor};
use crate::fault::Fault;
use crate::flags::{IF, NT, RF, TF, VM};
use crate::mmu::segment::canonical;
use crate::state::{attr, SegReg, Segment};
use crate::Cpu;

impl Cpu {
    /// Delivers `vector` through a 64-bit interrupt or trap gate.
    pub(crate) fn deliver_long<B: Bus>(
        &mut self,
        bus: &mut B,
        vector: u8,
        error: Option<u32>,
        source: Source,
    ) -> Result<(), Fault> {
        let (ext, idt_code) = idt_error_code(vector, source);
        let low = Descriptor(self.read_idt_entry(bus, vector, 16, idt_code)?);
        let base = self.state.idtr.base.wrapping_add(u64::from(vector) * 16);
        let high = self.read_linear(bus, base.wrapping_add(8), 8, false)?;
        let kind = low.kind();
        if low.is_code_or_data()
            || !(kind == system_type::INT_GATE32 || kind == system_type::TRAP_GATE32)
        {
            return Err(Fault::GeneralProtection(idt_code));
        }
        let cpl = self.state.cpl;
        self.check_gate_access(low, source, idt_code, ext)?;
        let selector = low.gate_selector();
        let code = self.gate_code_segment(bus, low, ext)?;
        if code.attrs() & attr::L == 0 || code.attrs() & attr::DB != 0 {
            return Err(Fault::GeneralProtection((selector & 0xFFFC) | ext));
        }
        let target = u64::from(low.gate_offset()) | (high << 32);
        if !canonical(target) {
            return Err(Fault::GeneralProtection(ext));
        }
        let new_cpl = if code.is_conforming() {
            cpl
        } else {
            code.dpl()
        };
        let ist = (low.0 >> 32) & 7;
        let rsp = if ist != 0 {
            self.tss64_read(bus, 0x24 + 8 * (ist - 1), ext)?
        } else if new_cpl < cpl {
            self.tss64_read(bus, 4 + 8 * u64::from(new_cpl), ext)?
        } else {
            self.state.gpr[4]
        } & !0xF;
        let old_ss = u64::from(self.state.seg(SegReg::Ss).selector);
        // The frame from its top: SS, RSP, RFLAGS, CS, RIP and the error code, if any (no allocation: this runs
        // for every interrupt and exception).
        let full = [
            old_ss,
            self.state.gpr[4],
            self.state.rflags,
            u64::from(self.state.seg(SegReg::Cs).selector),
            self.state.rip,
            error.map_or(0, u64::from),
        ];
        let frame = &full[..if error.is_some() { 6 } else { 5 }];
        let user = new_cpl == 3;
        let bottom = rsp.wrapping_sub(8 * frame.len() as u64);
        if !canonical(rsp.wrapping_sub(1)) || !canonical(bottom) {
            return Err(Fault::StackFault(ext));
        }
        for k in 0..frame.len() as u64 {
            self.probe_write(bus, bottom + 8 * k, 8, user)?;
        }
        for (k, value) in frame.iter().enumerate() {
            self.write_linear(bus, rsp - 8 * (k as u64 + 1), 8, *value, user)?;
        }
        self.mark_descriptor_accessed(bus, selector, code)?;
        if new_cpl != cpl {
            // The new stack segment is a null selector with RPL = the new CPL.
            self.state.segs[SegReg::Ss as usize] = Segment {
                selector: u16::from(new_cpl),
                attrs: attr::P
                    | attr::S
                    | attr::RW
                    | attr::ACCESSED
                    | (u16::from(new_cpl) << attr::DPL_SHIFT),
                ..Segment::default()
            };
        }
        self.state.segs[SegReg::Cs as usize] =
            Descriptor(code.0 | (1 << 40)).to_segment((selector & 0xFFFC) | u16::from(new_cpl));
        self.state.cpl = new_cpl;
        self.state.gpr[4] = bottom;
        self.state.rip = target;
        self.state.rflags &= !(TF | NT | RF | VM);
        if kind == system_type::INT_GATE32 {
            self.state.rflags &= !IF;
        }
        Ok(())
    }

    /// Reads a qword of the 64-bit TSS (RSPn or ISTn) at `offset`; #TS when the TSS is too short.
    fn tss64_read<B: Bus>(&mut self, bus: &mut B, offset: u64, ext: u16) -> Result<u64, Fault> {
        let tr = self.state.tr;
        if offset + 7 > u64::from(tr.limit) {
            return Err(Fault::InvalidTss((tr.selector & 0xFFFC) | ext));
        }
        self.read_linear(bus, tr.base.wrapping_add(offset), 8, false)
    }
}
