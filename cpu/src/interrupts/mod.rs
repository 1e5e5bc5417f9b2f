//! Exception and interrupt delivery (SDM vol. 3, chapter 6): the real-mode IVT, protected-mode interrupt and trap
//! gates with the privilege-change stack switch through the TSS, delivery out of virtual-8086 mode, and the
//! double- and triple-fault rules.

mod long;

use crate::bus::Bus;
use crate::descriptor::{system_type, Descriptor};
use crate::fault::{Fault, FaultClass};
use crate::flags::{AC, IF, IOPL, NT, RF, TF, VIF, VM};
use crate::mmu::segment::{segment_allows, segment_fault};
use crate::state::cr4;
use crate::state::{attr, SegReg, Segment};
use crate::{Cpu, Exit};

/// What raised an interrupt; it decides the EXT bit of error codes and whether the gate's DPL is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A hardware interrupt from the interrupt controller.
    External,
    /// A processor exception.
    Exception,
    /// INT n, INT3 or INTO: the gate DPL must allow the current CPL.
    Software,
}

/// A stack frame to be written below `top` in a stack segment.
pub(crate) struct Frame<'a> {
    /// The stack segment (already checked).
    pub seg: &'a Segment,
    /// Stack pointer before the pushes.
    pub top: u64,
    /// Bytes per pushed value (2 or 4).
    pub width: usize,
    /// Whether the stack pointer is 32 bits wide (the segment's B bit).
    pub stack32: bool,
}

impl Cpu {
    /// Delivers an exception, escalating to #DF and to a triple fault as the hardware does.
    pub(crate) fn deliver_exception<B: Bus>(
        &mut self,
        bus: &mut B,
        fault: Fault,
    ) -> Result<(), Exit> {
        if fault.pushes_resume_flag() {
            self.state.rflags |= RF;
        }
        let mut current = fault;
        loop {
            if let Fault::PageFault { address, .. } = current {
                self.state.cr2 = address;
            }
            self.trace_event(current.mnemonic(), current.vector(), current.error_code());
            self.stats.exceptions[usize::from(current.vector() & 31)] += 1;
            match self.deliver(
                bus,
                current.vector(),
                current.error_code(),
                Source::Exception,
            ) {
                Ok(()) => return Ok(()),
                Err(second) => current = escalate(current, second)?,
            }
        }
    }

    /// Delivers a hardware interrupt vector; a fault while doing so is delivered as an exception.
    pub(crate) fn deliver_external_interrupt<B: Bus>(
        &mut self,
        bus: &mut B,
        vector: u8,
    ) -> Result<(), Exit> {
        self.trace_event("irq", vector, None);
        match self.deliver(bus, vector, None, Source::External) {
            Ok(()) => Ok(()),
            Err(fault) => self.deliver_exception(bus, fault),
        }
    }

    /// Delivers a non-maskable interrupt (vector 2, no error code, no gate-privilege check) and blocks further
    /// NMIs until the next IRET.
    pub(crate) fn deliver_nmi<B: Bus>(&mut self, bus: &mut B) -> Result<(), Exit> {
        self.state.nmi_blocked = true;
        self.deliver_external_interrupt(bus, crate::fault::NMI_VECTOR)
    }

    /// Delivers a software interrupt (INT n, INT3, INTO) with RIP already past the instruction; `int_n` says it
    /// was the two-byte INT n form.
    ///
    /// In virtual-8086 mode INT n (not INT3 or INTO) is IOPL-sensitive: with IOPL < 3 it raises #GP(0) for the
    /// monitor, unless CR4.VME is set and the TSS redirection bitmap sends it to the task's own IVT (SDM vol. 3,
    /// 20.4, and the INT n pseudo-code in vol. 2).
    pub(crate) fn software_interrupt<B: Bus>(
        &mut self,
        bus: &mut B,
        vector: u8,
        int_n: bool,
    ) -> Result<(), Fault> {
        self.trace_event("int", vector, None);
        if self.state.protected() && self.state.v86() && int_n {
            let iopl3 = self.state.iopl() == 3;
            if self.state.cr4 & cr4::VME != 0 {
                if !self.redirection_bit(bus, vector)? {
                    return self.v86_redirect(bus, vector);
                }
                if !iopl3 {
                    return Err(Fault::GeneralProtection(0));
                }
            } else if !iopl3 {
                return Err(Fault::GeneralProtection(0));
            }
        }
        self.deliver(bus, vector, None, Source::Software)
    }

    /// Bit `vector` of the software-interrupt redirection bitmap, the 32 bytes just below the I/O map base of the
    /// 32-bit TSS. A set bit sends INT n to the protected-mode IDT.
    fn redirection_bit<B: Bus>(&mut self, bus: &mut B, vector: u8) -> Result<bool, Fault> {
        let tr = self.state.tr;
        let kind = (tr.attrs & 0xF) as u8;
        if !(kind == system_type::TSS32_BUSY || kind == system_type::TSS32_AVAILABLE)
            || tr.limit < 0x67
        {
            return Err(Fault::GeneralProtection(0));
        }
        let io_base = self.read_linear(bus, tr.base.wrapping_add(0x66) & 0xFFFF_FFFF, 2, false)?;
        let byte = (io_base + u64::from(vector / 8)).wrapping_sub(32);
        if io_base < 32 || byte > u64::from(tr.limit) {
            return Err(Fault::GeneralProtection(0));
        }
        let bits = self.read_linear(bus, tr.base.wrapping_add(byte) & 0xFFFF_FFFF, 1, false)?;
        Ok(bits & (1 << (vector % 8)) != 0)
    }

    /// VME redirection of INT n to the virtual-8086 task's IVT at linear 0: a real-mode style FLAGS, CS, IP frame on
    /// the task's stack (with IOPL < 3, VIF is pushed as IF and IOPL as 3), then VIF (IOPL < 3) or IF is cleared.
    fn v86_redirect<B: Bus>(&mut self, bus: &mut B, vector: u8) -> Result<(), Fault> {
        let entry = self.read_linear(bus, u64::from(vector) * 4, 4, true)?;
        let iopl3 = self.state.iopl() == 3;
        let mut flags = self.state.rflags & 0xFFFF;
        if !iopl3 {
            flags = (flags & !IF) | if self.state.rflags & VIF != 0 { IF } else { 0 } | IOPL;
        }
        let cs = u64::from(self.state.seg(SegReg::Cs).selector);
        self.check_stack_room(bus, 6)?;
        self.push(bus, 2, flags)?;
        self.push(bus, 2, cs)?;
        self.push(bus, 2, self.state.rip & 0xFFFF)?;
        self.state.rflags &= !(TF | RF | if iopl3 { IF } else { VIF });
        self.load_real_cs((entry >> 16) as u16);
        self.state.rip = entry & 0xFFFF;
        Ok(())
    }

    fn trace_event(&self, what: &str, vector: u8, error: Option<u32>) {
        if self.trace.interrupts {
            let cs = self.state.seg(SegReg::Cs).selector;
            match error {
                Some(e) => eprintln!(
                    "int: {what} vector {vector:#04x} error {e:#x} at {cs:04x}:{:08x} cr2={:#x}",
                    self.state.rip, self.state.cr2
                ),
                None => eprintln!(
                    "int: {what} vector {vector:#04x} at {cs:04x}:{:08x}",
                    self.state.rip
                ),
            }
        }
    }

    /// Transfers control through the IVT or IDT entry for `vector`.
    pub(crate) fn deliver<B: Bus>(
        &mut self,
        bus: &mut B,
        vector: u8,
        error: Option<u32>,
        source: Source,
    ) -> Result<(), Fault> {
        self.state.halted = false;
        if self.state.long_mode() {
            self.deliver_long(bus, vector, error, source)
        } else if self.state.protected() {
            self.deliver_protected(bus, vector, error, source)
        } else {
            self.deliver_real(bus, vector)
        }
    }

    fn deliver_real<B: Bus>(&mut self, bus: &mut B, vector: u8) -> Result<(), Fault> {
        let offset = u64::from(vector) * 4;
        if offset + 3 > u64::from(self.state.idtr.limit) {
            return Err(Fault::GeneralProtection(0));
        }
        let entry = self.read_linear(bus, self.state.idtr.base.wrapping_add(offset), 4, false)?;
        let cs = self.state.seg(SegReg::Cs).selector;
        let frame = [
            self.state.rflags & 0xFFFF,
            u64::from(cs),
            self.state.rip & 0xFFFF,
        ];
        let sp = self.state.gpr[4] & 0xFFFF;
        let ss = *self.state.seg(SegReg::Ss);
        let new_sp = self
            .write_frame(
                bus,
                &Frame {
                    seg: &ss,
                    top: sp,
                    width: 2,
                    stack32: false,
                },
                &frame,
                false,
            )
            .map_err(|_| Fault::StackFault(0))?;
        self.set_sp(new_sp);
        self.state.rflags &= !(IF | TF | AC | RF);
        self.load_real_cs((entry >> 16) as u16);
        self.state.rip = entry & 0xFFFF;
        Ok(())
    }

    /// Loads CS in real or virtual-8086 mode (selector * 16, attributes kept).
    pub(crate) fn load_real_cs(&mut self, selector: u16) {
        let v86 = self.state.v86();
        let cs = &mut self.state.segs[SegReg::Cs as usize];
        cs.selector = selector;
        cs.base = u64::from(selector) << 4;
        if v86 {
            cs.limit = 0xFFFF;
            cs.attrs =
                attr::P | attr::S | attr::CODE | attr::RW | attr::ACCESSED | (3 << attr::DPL_SHIFT);
        }
    }

    fn deliver_protected<B: Bus>(
        &mut self,
        bus: &mut B,
        vector: u8,
        error: Option<u32>,
        source: Source,
    ) -> Result<(), Fault> {
        let (ext, idt_code) = idt_error_code(vector, source);
        let gate = Descriptor(self.read_idt_entry(bus, vector, 8, idt_code)?);
        let kind = gate.kind();
        let is_gate = matches!(
            kind,
            system_type::INT_GATE16
                | system_type::TRAP_GATE16
                | system_type::INT_GATE32
                | system_type::TRAP_GATE32
        );
        if gate.is_code_or_data() || !(is_gate || kind == system_type::TASK_GATE) {
            return Err(Fault::GeneralProtection(idt_code));
        }
        let cpl = self.state.cpl;
        self.check_gate_access(gate, source, idt_code, ext)?;
        if kind == system_type::TASK_GATE {
            // Hardware task switching is not modelled yet.
            self.note_unimplemented_task_switch();
            return Err(Fault::GeneralProtection(idt_code));
        }
        let selector = gate.gate_selector();
        let code = self.gate_code_segment(bus, gate, ext)?;
        if u64::from(gate.gate_offset()) > u64::from(code.limit()) {
            return Err(Fault::GeneralProtection(0));
        }
        let new_cpl = if code.is_conforming() {
            cpl
        } else {
            code.dpl()
        };
        let from_v86 = self.state.v86();
        if from_v86 && new_cpl != 0 {
            return Err(Fault::GeneralProtection((selector & 0xFFFC) | ext));
        }
        let width = if kind & 8 != 0 { 4 } else { 2 };
        let old_flags = self.state.rflags;
        let mut frame = Vec::with_capacity(10);
        if new_cpl < cpl {
            let (ss_sel, esp) = self.tss_stack(bus, new_cpl, ext)?;
            let ss = self.load_tss_stack_segment(bus, ss_sel, new_cpl, ext)?;
            if from_v86 {
                for s in [SegReg::Gs, SegReg::Fs, SegReg::Ds, SegReg::Es] {
                    frame.push(u64::from(self.state.seg(s).selector));
                }
            }
            frame.push(u64::from(self.state.seg(SegReg::Ss).selector));
            frame.push(self.state.gpr[4]);
            self.push_return_frame(&mut frame, old_flags, error);
            let stack32 = ss.big();
            let f = Frame {
                seg: &ss,
                top: esp,
                width,
                stack32,
            };
            // A limit violation on the new stack is #SS(new SS); a page fault stays a page fault.
            let new_esp = self
                .write_frame(bus, &f, &frame, false)
                .map_err(|e| match e {
                    Fault::StackFault(_) => Fault::StackFault((ss_sel & 0xFFFC) | ext),
                    other => other,
                })?;
            self.state.segs[SegReg::Ss as usize] = ss;
            self.state.cpl = new_cpl;
            self.set_sp(new_esp);
            if from_v86 {
                for s in [SegReg::Gs, SegReg::Fs, SegReg::Ds, SegReg::Es] {
                    self.state.segs[s as usize] = Segment::default();
                }
            }
        } else {
            self.push_return_frame(&mut frame, old_flags, error);
            let ss = *self.state.seg(SegReg::Ss);
            let f = Frame {
                seg: &ss,
                top: self.state.gpr[4],
                width,
                stack32: ss.big(),
            };
            let new_esp = self.write_frame(bus, &f, &frame, cpl == 3)?;
            self.set_sp(new_esp);
        }
        self.mark_descriptor_accessed(bus, selector, code)?;
        self.state.segs[SegReg::Cs as usize] =
            Descriptor(code.0 | (1 << 40)).to_segment((selector & 0xFFFC) | u16::from(new_cpl));
        self.state.cpl = new_cpl;
        self.state.rip = u64::from(gate.gate_offset());
        self.state.rflags &= !(TF | NT | RF | VM);
        if kind == system_type::INT_GATE16 || kind == system_type::INT_GATE32 {
            self.state.rflags &= !IF;
        }
        Ok(())
    }

    /// Reads the first qword of IDT entry `vector` (entries are `entry_size` bytes: 8, or 16 in long mode); #GP
    /// with `idt_code` when the entry lies past the IDT limit.
    pub(crate) fn read_idt_entry<B: Bus>(
        &mut self,
        bus: &mut B,
        vector: u8,
        entry_size: u64,
        idt_code: u16,
    ) -> Result<u64, Fault> {
        let offset = u64::from(vector) * entry_size;
        if offset + entry_size - 1 > u64::from(self.state.idtr.limit) {
            return Err(Fault::GeneralProtection(idt_code));
        }
        self.read_linear(bus, self.state.idtr.base.wrapping_add(offset), 8, false)
    }

    /// The checks on an IDT gate itself: INT n (and INT3/INTO) may not use a gate whose DPL is below the CPL,
    /// and the gate must be present.
    pub(crate) fn check_gate_access(
        &self,
        gate: Descriptor,
        source: Source,
        idt_code: u16,
        ext: u16,
    ) -> Result<(), Fault> {
        if source == Source::Software && gate.dpl() < self.state.cpl {
            return Err(Fault::GeneralProtection(idt_code - ext));
        }
        if !gate.present() {
            return Err(Fault::SegmentNotPresent(idt_code));
        }
        Ok(())
    }

    /// Reads and checks the code segment an interrupt or trap gate points at: a present code segment whose DPL is
    /// at most the CPL. Error codes carry the EXT bit.
    pub(crate) fn gate_code_segment<B: Bus>(
        &mut self,
        bus: &mut B,
        gate: Descriptor,
        ext: u16,
    ) -> Result<Descriptor, Fault> {
        let selector = gate.gate_selector();
        let sel_code = (selector & 0xFFFC) | ext;
        if selector & 0xFFFC == 0 {
            return Err(Fault::GeneralProtection(ext));
        }
        let code = self
            .read_descriptor(bus, selector)
            .map_err(|_| Fault::GeneralProtection(sel_code))?;
        if !code.is_code() || code.dpl() > self.state.cpl {
            return Err(Fault::GeneralProtection(sel_code));
        }
        if !code.present() {
            return Err(Fault::SegmentNotPresent(sel_code));
        }
        Ok(code)
    }

    fn push_return_frame(&self, frame: &mut Vec<u64>, flags: u64, error: Option<u32>) {
        frame.push(flags);
        frame.push(u64::from(self.state.seg(SegReg::Cs).selector));
        frame.push(self.state.rip);
        if let Some(e) = error {
            frame.push(u64::from(e));
        }
    }

    /// Writes `values` (first value at the highest address) below `frame.top` and returns the new stack pointer.
    pub(crate) fn write_frame<B: Bus>(
        &mut self,
        bus: &mut B,
        frame: &Frame,
        values: &[u64],
        user: bool,
    ) -> Result<u64, Fault> {
        let sp_mask: u64 = if frame.stack32 { 0xFFFF_FFFF } else { 0xFFFF };
        let total = (frame.width * values.len()) as u64;
        let bottom = frame.top.wrapping_sub(total) & sp_mask;
        let mut linears = Vec::with_capacity(values.len());
        for k in 0..values.len() {
            let offset = frame.top.wrapping_sub((frame.width * (k + 1)) as u64) & sp_mask;
            if !segment_allows(frame.seg, offset, frame.width) {
                return Err(segment_fault(SegReg::Ss, 0));
            }
            let linear = frame.seg.base.wrapping_add(offset) & 0xFFFF_FFFF;
            self.probe_write(bus, linear, frame.width, user)?;
            linears.push(linear);
        }
        for (linear, value) in linears.into_iter().zip(values) {
            self.write_linear(bus, linear, frame.width, *value, user)?;
        }
        Ok(bottom)
    }

    /// Reads the inner stack pointer for privilege level `dpl` from the current TSS.
    pub(crate) fn tss_stack<B: Bus>(
        &mut self,
        bus: &mut B,
        dpl: u8,
        ext: u16,
    ) -> Result<(u16, u64), Fault> {
        let tr = self.state.tr;
        let tss32 = tr.attrs & 8 != 0;
        let (sp_off, ss_off, sp_size) = if tss32 {
            (4 + 8 * u64::from(dpl), 8 + 8 * u64::from(dpl), 4)
        } else {
            (2 + 4 * u64::from(dpl), 4 + 4 * u64::from(dpl), 2)
        };
        if ss_off + 1 > u64::from(tr.limit) {
            return Err(Fault::InvalidTss((tr.selector & 0xFFFC) | ext));
        }
        let sp = self.read_linear(
            bus,
            tr.base.wrapping_add(sp_off) & 0xFFFF_FFFF,
            sp_size,
            false,
        )?;
        let ss =
            self.read_linear(bus, tr.base.wrapping_add(ss_off) & 0xFFFF_FFFF, 2, false)? as u16;
        Ok((ss, sp))
    }

    /// Checks and reads the stack segment named in the TSS for a privilege change to `cpl`.
    pub(crate) fn load_tss_stack_segment<B: Bus>(
        &mut self,
        bus: &mut B,
        selector: u16,
        cpl: u8,
        ext: u16,
    ) -> Result<Segment, Fault> {
        let code = (selector & 0xFFFC) | ext;
        if selector & 0xFFFC == 0 {
            return Err(Fault::InvalidTss(ext));
        }
        let desc = self
            .read_descriptor(bus, selector)
            .map_err(|_| Fault::InvalidTss(code))?;
        if (selector & 3) as u8 != cpl || desc.dpl() != cpl || !desc.is_writable_data() {
            return Err(Fault::InvalidTss(code));
        }
        if !desc.present() {
            return Err(Fault::StackFault(code));
        }
        self.mark_descriptor_accessed(bus, selector, desc)?;
        Ok(Descriptor(desc.0 | (1 << 40)).to_segment(selector))
    }

    fn note_unimplemented_task_switch(&mut self) {
        if self.trace.unimplemented {
            eprintln!("unimp: hardware task switch");
        }
        *self
            .unimplemented
            .entry("task switch".to_string())
            .or_insert(0) += 1;
    }
}

/// The EXT bit (1 unless a software interrupt) and the IDT-referencing error code (vector * 8 + 2 + EXT) for a
/// delivery of `vector`.
pub(crate) fn idt_error_code(vector: u8, source: Source) -> (u16, u16) {
    let ext = u16::from(source != Source::Software);
    (ext, u16::from(vector) * 8 + 2 + ext)
}

/// The double-fault rules (SDM vol. 3, table 6-5): what to deliver when `second` occurs while delivering `first`.
fn escalate(first: Fault, second: Fault) -> Result<Fault, Exit> {
    use FaultClass::*;
    match (first.class(), second.class()) {
        (DoubleFault, _) => Err(Exit::TripleFault),
        (Contributory, Contributory) | (PageFault, Contributory) | (PageFault, PageFault) => {
            Ok(Fault::DoubleFault)
        }
        _ => Ok(second),
    }
}
