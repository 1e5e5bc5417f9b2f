//! Far control transfers: far JMP and CALL, RETF and IRET, in real, protected and virtual-8086 mode
//! (SDM vol. 2 JMP/CALL/RET/IRET pseudo-code; vol. 3 5.8 privilege checks for control transfers).

use crate::bus::Bus;
use crate::descriptor::{system_type, Descriptor};
use crate::fault::{gp, Fault};
use crate::flags::{AC, ID, IF, IOPL, NT, RF, VIF, VIP, VM};
use crate::interp::operands::mask;
use crate::interrupts::Frame;
use crate::state::{attr, SegReg, Segment};
use crate::Cpu;
use iced_x86::{Instruction, Mnemonic as M, OpKind};

impl Cpu {
    pub(super) fn exec_far<B: Bus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        match i.mnemonic() {
            M::Jmp | M::Call => {
                let (selector, offset, size) = self.far_operand(bus, i)?;
                if i.mnemonic() == M::Jmp {
                    self.far_jump(bus, selector, offset)
                } else {
                    self.far_call(bus, selector, offset, size)
                }
            }
            M::Retf => {
                let size = retf_size(i);
                let extra = if i.op_count() == 1 {
                    u64::from(i.immediate16())
                } else {
                    0
                };
                self.far_return(bus, size, extra)
            }
            _ => {
                let size = match i.mnemonic() {
                    M::Iretq => 8,
                    M::Iretd => 4,
                    _ => 2,
                };
                self.interrupt_return(bus, size)?;
                // IRET ends the NMI handler: the next NMI may come (SDM vol. 3, 6.7.1).
                self.state.nmi_blocked = false;
                Ok(())
            }
        }
    }

    /// Selector, offset and operand size of a far JMP/CALL operand.
    fn far_operand<B: Bus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Result<(u16, u64, usize), Fault> {
        match i.op0_kind() {
            OpKind::FarBranch16 => Ok((i.far_branch_selector(), u64::from(i.far_branch16()), 2)),
            OpKind::FarBranch32 => Ok((i.far_branch_selector(), u64::from(i.far_branch32()), 4)),
            _ => {
                let size = i.memory_size().size() - 2;
                let ea = self.effective_address(i);
                let seg = Self::memory_segment(i);
                let offset = self.read_mem(bus, seg, ea, size)?;
                let sel_at = ea.wrapping_add(size as u64) & mask(Self::address_size(i));
                let selector = self.read_mem(bus, seg, sel_at, 2)? as u16;
                Ok((selector, offset, size))
            }
        }
    }

    /// Reads and checks a code-segment descriptor for a direct far JMP/CALL at the current privilege level.
    fn same_level_code_segment<B: Bus>(
        &mut self,
        bus: &mut B,
        selector: u16,
    ) -> Result<Option<Segment>, Fault> {
        let cpl = self.state.cpl;
        if selector & 0xFFFC == 0 {
            return gp(0);
        }
        let desc = self.read_descriptor(bus, selector)?;
        if !desc.is_code_or_data() {
            // Call gates, task gates and TSS descriptors.
            return Ok(None);
        }
        let code = selector & 0xFFFC;
        if !desc.is_code() {
            return gp(code);
        }
        let rpl = (selector & 3) as u8;
        let allowed = if desc.is_conforming() {
            desc.dpl() <= cpl
        } else {
            rpl <= cpl && desc.dpl() == cpl
        };
        if !allowed {
            return gp(code);
        }
        if !desc.present() {
            return Err(Fault::SegmentNotPresent(code));
        }
        self.mark_descriptor_accessed(bus, selector, desc)?;
        Ok(Some(
            Descriptor(desc.0 | (1 << 40)).to_segment((selector & 0xFFFC) | u16::from(cpl)),
        ))
    }

    fn far_jump<B: Bus>(&mut self, bus: &mut B, selector: u16, offset: u64) -> Result<(), Fault> {
        if !self.state.protected() || self.state.v86() {
            self.load_real_cs(selector);
            self.state.rip = offset & 0xFFFF_FFFF;
            return Ok(());
        }
        match self.same_level_code_segment(bus, selector)? {
            Some(cs) => self.commit_cs(cs, offset),
            None => self.far_through_gate(bus, selector, None),
        }
    }

    fn far_call<B: Bus>(
        &mut self,
        bus: &mut B,
        selector: u16,
        offset: u64,
        size: usize,
    ) -> Result<(), Fault> {
        let old_cs = u64::from(self.state.seg(SegReg::Cs).selector);
        let ret = self.state.rip;
        if !self.state.protected() || self.state.v86() {
            self.check_stack_room(bus, 2 * size)?;
            self.push(bus, size, old_cs)?;
            self.push(bus, size, ret)?;
            self.load_real_cs(selector);
            self.state.rip = offset & mask(size);
            return Ok(());
        }
        match self.same_level_code_segment(bus, selector)? {
            Some(cs) => {
                if !self.target_in_segment(&cs, offset) {
                    return gp(0);
                }
                self.check_stack_room(bus, 2 * size)?;
                self.push(bus, size, old_cs)?;
                self.push(bus, size, ret)?;
                self.commit_cs(cs, offset)
            }
            None => self.far_through_gate(bus, selector, Some(size)),
        }
    }

    /// Loads CS with a checked segment and jumps to `offset` (#GP(0) past the limit).
    /// Whether `offset` is a valid target in code segment `cs`: within its limit, or canonical for a 64-bit
    /// segment in long mode (where limits are not checked).
    pub(crate) fn target_in_segment(&self, cs: &Segment, offset: u64) -> bool {
        if self.state.long_mode() && cs.attrs & attr::L != 0 {
            crate::mmu::segment::canonical(offset)
        } else {
            offset <= u64::from(cs.limit)
        }
    }

    fn commit_cs(&mut self, cs: Segment, offset: u64) -> Result<(), Fault> {
        if !self.target_in_segment(&cs, offset) {
            return gp(0);
        }
        self.state.segs[SegReg::Cs as usize] = cs;
        self.state.rip = offset;
        Ok(())
    }

    /// Far JMP/CALL through a system descriptor (SDM vol. 2 JMP/CALL "CALL-GATE", vol. 3 5.8.4-5.8.5): call gates
    /// are followed, task gates and TSS descriptors (hardware task switching) raise a clean #GP and an unimp note.
    /// `call` is the instruction's operand size for CALL, `None` for JMP.
    fn far_through_gate<B: Bus>(
        &mut self,
        bus: &mut B,
        selector: u16,
        call: Option<usize>,
    ) -> Result<(), Fault> {
        let gate_code = selector & 0xFFFC;
        let gate = self.read_descriptor(bus, selector)?;
        match gate.kind() {
            system_type::CALL_GATE16 | system_type::CALL_GATE32 => {}
            system_type::TASK_GATE
            | system_type::TSS16_AVAILABLE
            | system_type::TSS32_AVAILABLE => {
                *self
                    .unimplemented
                    .entry("task switch".to_string())
                    .or_insert(0) += 1;
                if self.trace.unimplemented {
                    eprintln!("unimp: hardware task switch through selector {selector:#06x}");
                }
                return gp(gate_code);
            }
            _ => return gp(gate_code),
        }
        let cpl = self.state.cpl;
        let rpl = (selector & 3) as u8;
        if gate.dpl() < cpl || rpl > gate.dpl() {
            return gp(gate_code);
        }
        if !gate.present() {
            return Err(Fault::SegmentNotPresent(gate_code));
        }
        let target = gate.gate_selector();
        let target_code = target & 0xFFFC;
        if target_code == 0 {
            return gp(0);
        }
        let desc = self
            .read_descriptor(bus, target)
            .map_err(|_| Fault::GeneralProtection(target_code))?;
        let offset = u64::from(gate.gate_offset());
        let width = if gate.kind() == system_type::CALL_GATE32 {
            4
        } else {
            2
        };
        if call.is_none() {
            // JMP through a call gate never changes privilege.
            let same_level = if desc.is_conforming() {
                desc.dpl() <= cpl
            } else {
                desc.dpl() == cpl
            };
            if !desc.is_code() || !same_level {
                return gp(target_code);
            }
            if !desc.present() {
                return Err(Fault::SegmentNotPresent(target_code));
            }
            let cs = Descriptor(desc.0 | (1 << 40)).to_segment(target_code | u16::from(cpl));
            if !self.target_in_segment(&cs, offset) {
                return gp(0);
            }
            self.mark_descriptor_accessed(bus, target, desc)?;
            return self.commit_cs(cs, offset);
        }
        if !desc.is_code() || desc.dpl() > cpl {
            return gp(target_code);
        }
        if !desc.present() {
            return Err(Fault::SegmentNotPresent(target_code));
        }
        let old_cs = u64::from(self.state.seg(SegReg::Cs).selector);
        let ret = self.state.rip;
        if !desc.is_conforming() && desc.dpl() < cpl {
            return self.call_gate_inner(bus, desc, target, offset, width, gate.gate_param_count());
        }
        let cs = Descriptor(desc.0 | (1 << 40)).to_segment(target_code | u16::from(cpl));
        if !self.target_in_segment(&cs, offset) {
            return gp(0);
        }
        self.check_stack_room(bus, 2 * width)?;
        self.mark_descriptor_accessed(bus, target, desc)?;
        self.push(bus, width, old_cs)?;
        self.push(bus, width, ret)?;
        self.commit_cs(cs, offset)
    }

    /// CALL through a gate to a more privileged non-conforming segment: switch to the inner stack named in the TSS,
    /// push the old SS:ESP, copy `params` parameters from the old stack, push the return CS:EIP.
    fn call_gate_inner<B: Bus>(
        &mut self,
        bus: &mut B,
        desc: Descriptor,
        target: u16,
        offset: u64,
        width: usize,
        params: u32,
    ) -> Result<(), Fault> {
        let new_cpl = desc.dpl();
        let (ss_sel, esp) = self.tss_stack(bus, new_cpl, 0)?;
        let ss = self.load_tss_stack_segment(bus, ss_sel, new_cpl, 0)?;
        let cs = Descriptor(desc.0 | (1 << 40)).to_segment((target & 0xFFFC) | u16::from(new_cpl));
        let mut frame = Vec::with_capacity(4 + params as usize);
        frame.push(u64::from(self.state.seg(SegReg::Ss).selector));
        frame.push(self.state.gpr[4]);
        // Parameters keep their order: the one farthest from the old stack pointer is pushed first.
        for k in (0..u64::from(params)).rev() {
            frame.push(self.peek_stack(bus, k * width as u64, width)?);
        }
        frame.push(u64::from(self.state.seg(SegReg::Cs).selector));
        frame.push(self.state.rip);
        if !self.target_in_segment(&cs, offset) {
            return gp(0);
        }
        let f = Frame {
            seg: &ss,
            top: esp,
            width,
            stack32: ss.big(),
        };
        let new_esp = self
            .write_frame(bus, &f, &frame, false)
            .map_err(|e| match e {
                Fault::StackFault(_) => Fault::StackFault(ss_sel & 0xFFFC),
                other => other,
            })?;
        self.mark_descriptor_accessed(bus, target, desc)?;
        self.state.segs[SegReg::Ss as usize] = ss;
        self.state.cpl = new_cpl;
        self.set_sp(new_esp);
        self.state.segs[SegReg::Cs as usize] = cs;
        self.state.rip = offset;
        Ok(())
    }

    /// RETF: same privilege, or to an outer level (then SS:ESP is popped too and data segments the outer level may
    /// not use are nulled).
    fn far_return<B: Bus>(&mut self, bus: &mut B, size: usize, extra: u64) -> Result<(), Fault> {
        let offset = self.peek_stack(bus, 0, size)?;
        let selector = self.peek_stack(bus, size as u64, size)? as u16;
        if !self.state.protected() || self.state.v86() {
            self.adjust_sp(2 * size as u64 + extra);
            self.load_real_cs(selector);
            self.state.rip = offset;
            return Ok(());
        }
        let cpl = self.state.cpl;
        let rpl = (selector & 3) as u8;
        let cs = self.checked_return_cs(bus, selector, rpl)?;
        if rpl == cpl {
            if !self.target_in_segment(&cs, offset) {
                return gp(0);
            }
            self.adjust_sp(2 * size as u64 + extra);
            return self.commit_cs(cs, offset);
        }
        let sp_at = 2 * size as u64 + extra;
        let new_sp = self.peek_stack(bus, sp_at, size)?;
        let ss_sel = self.peek_stack(bus, sp_at + size as u64, size)? as u16;
        self.return_to_outer_level(bus, cs, offset, ss_sel, new_sp, rpl, extra)
    }

    /// Checks the code segment named by a RETF/IRET return selector (RPL >= CPL, present, proper conforming rules).
    fn checked_return_cs<B: Bus>(
        &mut self,
        bus: &mut B,
        selector: u16,
        rpl: u8,
    ) -> Result<Segment, Fault> {
        let code = selector & 0xFFFC;
        if code == 0 {
            return gp(0);
        }
        let desc = self.read_descriptor(bus, selector)?;
        if !desc.is_code() || rpl < self.state.cpl {
            return gp(code);
        }
        if (desc.is_conforming() && desc.dpl() > rpl)
            || (!desc.is_conforming() && desc.dpl() != rpl)
        {
            return gp(code);
        }
        if !desc.present() {
            return Err(Fault::SegmentNotPresent(code));
        }
        self.mark_descriptor_accessed(bus, selector, desc)?;
        Ok(Descriptor(desc.0 | (1 << 40)).to_segment(selector))
    }

    /// Completes a return to an outer privilege level: checks and loads SS, ESP, CS, EIP, CPL, and nulls data
    /// segment registers the new level may not use.
    #[allow(clippy::too_many_arguments)]
    fn return_to_outer_level<B: Bus>(
        &mut self,
        bus: &mut B,
        cs: Segment,
        offset: u64,
        ss_sel: u16,
        new_sp: u64,
        rpl: u8,
        extra: u64,
    ) -> Result<(), Fault> {
        let code = ss_sel & 0xFFFC;
        if code == 0 {
            return gp(0);
        }
        let ss_desc = self.read_descriptor(bus, ss_sel)?;
        if (ss_sel & 3) as u8 != rpl || !ss_desc.is_writable_data() || ss_desc.dpl() != rpl {
            return gp(code);
        }
        if !ss_desc.present() {
            return Err(Fault::StackFault(code));
        }
        if !self.target_in_segment(&cs, offset) {
            return gp(0);
        }
        self.mark_descriptor_accessed(bus, ss_sel, ss_desc)?;
        self.state.segs[SegReg::Cs as usize] = cs;
        self.state.rip = offset;
        self.state.cpl = rpl;
        self.state.segs[SegReg::Ss as usize] = Descriptor(ss_desc.0 | (1 << 40)).to_segment(ss_sel);
        let m = mask(self.state.stack_bytes());
        self.state.gpr[4] = (self.state.gpr[4] & !m) | (new_sp.wrapping_add(extra) & m);
        for s in [SegReg::Es, SegReg::Ds, SegReg::Fs, SegReg::Gs] {
            let seg = self.state.seg(s);
            let data_or_nonconforming = !seg.is_code() || seg.attrs & attr::DC == 0;
            if seg.attrs & attr::P != 0 && data_or_nonconforming && seg.dpl() < rpl {
                self.state.segs[s as usize] = Segment {
                    selector: 0,
                    ..Segment::default()
                };
            }
        }
        Ok(())
    }

    /// IRET/IRETD in every mode (task return through NT is not modelled yet).
    fn interrupt_return<B: Bus>(&mut self, bus: &mut B, size: usize) -> Result<(), Fault> {
        if !self.state.protected() {
            let ip = self.peek_stack(bus, 0, size)?;
            let cs = self.peek_stack(bus, size as u64, size)? as u16;
            let flags = self.peek_stack(bus, 2 * size as u64, size)?;
            self.adjust_sp(3 * size as u64);
            self.load_real_cs(cs);
            self.state.rip = ip;
            let writable = if size == 4 { 0x257FD5 } else { 0x7FD5 };
            self.set_flags(flags, writable & !VM);
            return Ok(());
        }
        if self.state.v86() {
            return self.iret_from_v86(bus, size);
        }
        if self.state.mode64() {
            return self.iret64(bus, size);
        }
        if self.state.rflags & NT != 0 {
            *self
                .unimplemented
                .entry("iret task return".to_string())
                .or_insert(0) += 1;
            return Err(Fault::InvalidTss(self.state.tr.selector & 0xFFFC));
        }
        let ip = self.peek_stack(bus, 0, size)?;
        let selector = self.peek_stack(bus, size as u64, size)? as u16;
        let flags = self.peek_stack(bus, 2 * size as u64, size)?;
        let cpl = self.state.cpl;
        if size == 4 && flags & VM != 0 && cpl == 0 {
            return self.iret_to_v86(bus, ip, selector, flags);
        }
        let rpl = (selector & 3) as u8;
        let cs = self.checked_return_cs(bus, selector, rpl)?;
        let new_flags_mask = self.iret_flag_mask(size, cpl);
        if rpl == cpl {
            if ip > u64::from(cs.limit) {
                return gp(0);
            }
            self.adjust_sp(3 * size as u64);
            self.commit_cs(cs, ip)?;
            self.set_flags(flags, new_flags_mask);
            return Ok(());
        }
        let new_sp = self.peek_stack(bus, 3 * size as u64, size)?;
        let ss_sel = self.peek_stack(bus, 4 * size as u64, size)? as u16;
        self.return_to_outer_level(bus, cs, ip, ss_sel, new_sp, rpl, 0)?;
        self.set_flags(flags, new_flags_mask);
        Ok(())
    }

    /// IRET in 64-bit mode: always pops RIP, CS, RFLAGS, RSP and SS; a null SS is allowed when returning to a
    /// 64-bit segment below CPL 3 (SDM vol. 2, IRET "IA-32e-MODE").
    fn iret64<B: Bus>(&mut self, bus: &mut B, size: usize) -> Result<(), Fault> {
        if self.state.rflags & NT != 0 {
            return gp(0);
        }
        let mut v = [0u64; 5];
        for (k, slot) in v.iter_mut().enumerate() {
            *slot = self.peek_stack(bus, (k * size) as u64, size)?;
        }
        let [ip, selector, flags, sp, ss_sel] = v;
        let (selector, ss_sel) = (selector as u16, ss_sel as u16);
        let cpl = self.state.cpl;
        let rpl = (selector & 3) as u8;
        let cs = self.checked_return_cs(bus, selector, rpl)?;
        let mask_flags = self.iret_flag_mask(4, cpl);
        let to64 = cs.attrs & attr::L != 0;
        if ss_sel & 0xFFFC == 0 && to64 && rpl < 3 {
            if !self.target_in_segment(&cs, ip) || (ss_sel & 3) as u8 != rpl {
                return gp(0);
            }
            self.state.segs[SegReg::Cs as usize] = cs;
            self.state.rip = ip;
            self.state.cpl = rpl;
            self.state.segs[SegReg::Ss as usize] = Segment {
                selector: ss_sel,
                attrs: attr::P
                    | attr::S
                    | attr::RW
                    | attr::ACCESSED
                    | (u16::from(rpl) << attr::DPL_SHIFT),
                ..Segment::default()
            };
            self.state.gpr[4] = sp;
        } else {
            self.return_to_outer_level(bus, cs, ip, ss_sel, sp, rpl, 0)?;
        }
        self.set_flags(flags, mask_flags);
        Ok(())
    }

    /// Which EFLAGS bits IRET/POPF may change at this privilege level.
    pub(crate) fn iret_flag_mask(&self, size: usize, cpl: u8) -> u64 {
        let mut m: u64 = crate::flags::ARITH | crate::flags::TF | crate::flags::DF | NT;
        if size == 4 {
            m |= RF | AC | ID;
            if cpl == 0 {
                m |= VIF | VIP;
            }
        }
        if cpl <= self.state.iopl() {
            m |= IF;
        }
        if cpl == 0 {
            m |= IOPL;
        }
        m
    }

    /// IRETD from ring 0 to a virtual-8086 task: pops EIP, CS, EFLAGS, ESP, SS, ES, DS, FS, GS.
    fn iret_to_v86<B: Bus>(
        &mut self,
        bus: &mut B,
        ip: u64,
        cs: u16,
        flags: u64,
    ) -> Result<(), Fault> {
        let mut values = [0u64; 6];
        for (k, v) in values.iter_mut().enumerate() {
            *v = self.peek_stack(bus, 4 * (3 + k as u64), 4)?;
        }
        let [esp, ss, es, ds, fs, gs] = values;
        self.state.rflags = (flags & crate::flags::IMPLEMENTED) | crate::flags::FLAGS_FIXED_ONE;
        self.state.cpl = 3;
        for (seg, sel) in [
            (SegReg::Es, es),
            (SegReg::Ds, ds),
            (SegReg::Fs, fs),
            (SegReg::Gs, gs),
            (SegReg::Ss, ss),
        ] {
            self.load_segment(bus, seg, sel as u16)?;
        }
        self.load_real_cs(cs);
        self.state.gpr[4] = esp & 0xFFFF_FFFF;
        self.state.rip = ip & 0xFFFF;
        Ok(())
    }

    /// IRET inside virtual-8086 mode: allowed with IOPL 3 (the flags' IOPL is kept); with IOPL < 3 a 16-bit IRET
    /// under CR4.VME loads VIF from the popped IF (#GP(0) if that would enable with VIP set, or sets TF); otherwise
    /// #GP(0) to the monitor.
    fn iret_from_v86<B: Bus>(&mut self, bus: &mut B, size: usize) -> Result<(), Fault> {
        if self.state.iopl() != 3 {
            if self.state.cr4 & crate::state::cr4::VME == 0 || size != 2 {
                return gp(0);
            }
            let ip = self.peek_stack(bus, 0, 2)?;
            let cs = self.peek_stack(bus, 2, 2)? as u16;
            let flags = self.peek_stack(bus, 4, 2)?;
            if flags & crate::flags::TF != 0 || (flags & IF != 0 && self.state.rflags & VIP != 0) {
                return gp(0);
            }
            self.adjust_sp(6);
            self.load_real_cs(cs);
            self.state.rip = ip;
            let vif = if flags & IF != 0 { VIF } else { 0 };
            self.set_flags(flags | vif, (0xFFFF & !(IF | IOPL)) | VIF);
            return Ok(());
        }
        let ip = self.peek_stack(bus, 0, size)?;
        let cs = self.peek_stack(bus, size as u64, size)? as u16;
        let flags = self.peek_stack(bus, 2 * size as u64, size)?;
        self.adjust_sp(3 * size as u64);
        self.load_real_cs(cs);
        self.state.rip = ip & 0xFFFF;
        let m = crate::flags::ARITH
            | crate::flags::TF
            | crate::flags::DF
            | NT
            | IF
            | if size == 4 { RF | AC | ID } else { 0 };
        self.set_flags(flags, m);
        Ok(())
    }
}

/// Operand size of RETF in bytes.
fn retf_size(i: &Instruction) -> usize {
    match i.code() {
        iced_x86::Code::Retfw | iced_x86::Code::Retfw_imm16 => 2,
        iced_x86::Code::Retfq | iced_x86::Code::Retfq_imm16 => 8,
        _ => 4,
    }
}
