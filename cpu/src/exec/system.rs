//! System instructions: interrupt flag, HLT, port I/O with the IOPL/TSS-bitmap rules, PUSHF/POPF, descriptor
//! tables, control and debug registers, TLB maintenance, CPUID, RDTSC and MSRs.

use crate::bus::Bus;
use crate::descriptor::system_type;
use crate::fault::{gp, Fault};
use crate::flags::{AC, ID, IF, IOPL, NT, RF, TF, VIF, VIP, VM};
use crate::interp::operands::mask;
use crate::state::{attr, cr0, cr4, efer, SegReg};
use crate::Cpu;
use iced_x86::{Code, Instruction, Mnemonic as M, OpKind, Register};

impl Cpu {
    pub(super) fn exec_system<B: Bus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Result<(), Fault> {
        match i.mnemonic() {
            M::Cli | M::Sti => self.cli_sti(i.mnemonic() == M::Sti),
            M::Hlt => {
                self.require_cpl0()?;
                self.state.halted = true;
                Ok(())
            }
            M::In => {
                let size = i.op0_register().size();
                let port = self.port_operand(i, 1);
                self.check_io_permission(bus, port, size)?;
                bus.sync_instructions(self.instructions);
                let v = bus.io_read(port, size as u8);
                self.set_reg(i.op0_register(), u64::from(v));
                self.after_io(bus);
                Ok(())
            }
            M::Out => {
                let size = i.op1_register().size();
                let port = self.port_operand(i, 0);
                self.check_io_permission(bus, port, size)?;
                let v = self.reg(i.op1_register()) as u32;
                bus.sync_instructions(self.instructions);
                bus.io_write(port, size as u8, v);
                self.after_io(bus);
                Ok(())
            }
            M::Pushf | M::Pushfd | M::Pushfq => self.pushf(bus, flags_operand_size(i.mnemonic())),
            M::Popf | M::Popfd | M::Popfq => self.popf(bus, flags_operand_size(i.mnemonic())),
            M::Lgdt | M::Lidt => {
                self.require_cpl0()?;
                let ea = self.effective_address(i);
                let seg = Self::memory_segment(i);
                let limit = self.read_mem(bus, seg, ea, 2)? as u32;
                let base_at = ea.wrapping_add(2) & mask(Self::address_size(i));
                let base = self.read_mem(bus, seg, base_at, self.table_base_bytes())?;
                // With a 16-bit operand size only 24 bits of the base are loaded.
                let base = if matches!(i.code(), Code::Lgdt_m1632_16 | Code::Lidt_m1632_16) {
                    base & 0xFF_FFFF
                } else {
                    base
                };
                // A 64-bit base must be canonical.
                if !crate::mmu::segment::canonical(base) {
                    return gp(0);
                }
                let table = crate::state::TableReg { base, limit };
                if i.mnemonic() == M::Lgdt {
                    self.state.gdtr = table;
                } else {
                    self.state.idtr = table;
                }
                Ok(())
            }
            M::Sgdt | M::Sidt => {
                let table = if i.mnemonic() == M::Sgdt {
                    self.state.gdtr
                } else {
                    self.state.idtr
                };
                let ea = self.effective_address(i);
                let seg = Self::memory_segment(i);
                self.write_mem(bus, seg, ea, 2, u64::from(table.limit & 0xFFFF))?;
                let base_at = ea.wrapping_add(2) & mask(Self::address_size(i));
                self.write_mem(bus, seg, base_at, self.table_base_bytes(), table.base)
            }
            M::Lldt => self.lldt(bus, i),
            M::Ltr => self.ltr(bus, i),
            M::Sldt | M::Str => {
                self.require_protected()?;
                let sel = if i.mnemonic() == M::Sldt {
                    self.state.ldtr.selector
                } else {
                    self.state.tr.selector
                };
                let size = if i.op0_kind() == OpKind::Register {
                    i.op0_register().size()
                } else {
                    2
                };
                self.write_op(bus, i, 0, size, u64::from(sel))
            }
            M::Smsw => {
                let size = if i.op0_kind() == OpKind::Register {
                    i.op0_register().size()
                } else {
                    2
                };
                let v = self.state.cr0 & mask(size);
                self.write_op(bus, i, 0, size, v)
            }
            M::Lmsw => {
                self.require_cpl0()?;
                let v = self.read_op(bus, i, 0, 2)?;
                // LMSW can set PE but never clear it; it touches only PE, MP, EM, TS.
                let new = (self.state.cr0 & !0xE) | (v & 0xF) | (self.state.cr0 & cr0::PE);
                self.write_cr0(new)
            }
            M::Clts => {
                self.require_cpl0()?;
                self.state.cr0 &= !cr0::TS;
                Ok(())
            }
            M::Invlpg => {
                self.require_cpl0()?;
                let ea = self.effective_address(i);
                let linear = self
                    .state
                    .seg(Self::memory_segment(i))
                    .base
                    .wrapping_add(ea);
                // Outside 64-bit mode linear addresses wrap at 4 GiB; in it, kernel addresses are far above.
                let linear = if self.state.mode64() {
                    linear
                } else {
                    linear & 0xFFFF_FFFF
                };
                self.tlb.invalidate_page(linear);
                Ok(())
            }
            M::Invd | M::Wbinvd => self.require_cpl0(),
            M::Cpuid => {
                let apic_enabled = bus
                    .read_device_msr(crate::cpuid::msr::APIC_BASE)
                    .is_none_or(|base| base & crate::cpuid::APIC_BASE_ENABLE != 0);
                let (a, b, c, d) = crate::cpuid::cpuid_for(
                    self.state.gpr[0] as u32,
                    self.state.gpr[1] as u32,
                    self.apic_id,
                    apic_enabled,
                );
                for (r, v) in [
                    (Register::EAX, a),
                    (Register::EBX, b),
                    (Register::ECX, c),
                    (Register::EDX, d),
                ] {
                    self.set_reg(r, u64::from(v));
                }
                Ok(())
            }
            M::Rdtsc => {
                if self.state.cr4 & cr4::TSD != 0 && self.state.cpl != 0 && self.state.protected() {
                    return gp(0);
                }
                let tsc = self.read_tsc(bus);
                self.set_reg(Register::EAX, tsc & 0xFFFF_FFFF);
                self.set_reg(Register::EDX, tsc >> 32);
                Ok(())
            }
            M::Rdmsr => {
                self.require_cpl0()?;
                let v = self.read_msr(bus, self.state.gpr[1] as u32)?;
                self.set_reg(Register::EAX, v & 0xFFFF_FFFF);
                self.set_reg(Register::EDX, v >> 32);
                Ok(())
            }
            M::Wrmsr => {
                self.require_cpl0()?;
                let v = (self.state.gpr[2] & 0xFFFF_FFFF) << 32 | (self.state.gpr[0] & 0xFFFF_FFFF);
                self.write_msr(bus, self.state.gpr[1] as u32, v)
            }
            M::Sysenter => self.sysenter(),
            M::Sysexit => self.sysexit(false),
            M::Sysexitq => self.sysexit(true),
            M::Ud0 | M::Ud1 | M::Ud2 => Err(Fault::InvalidOpcode),
            _ => Err(self.unimplemented(i)),
        }
    }

    /// SYSENTER: a fast call to ring 0 with flat segments derived from IA32_SYSENTER_CS (CS = SYSENTER_CS,
    /// SS = SYSENTER_CS + 8), the stack pointer and entry point from their MSRs; VM, IF and RF are cleared. In IA-32e
    /// mode the target is 64-bit code (CS.L) and the MSRs are used whole; otherwise 32-bit. #GP(0) in real mode or
    /// while SYSENTER_CS is null.
    fn sysenter(&mut self) -> Result<(), Fault> {
        let cs = self.state.sysenter[0] as u16;
        if !self.state.protected() || cs & 0xFFFC == 0 {
            return gp(0);
        }
        let long = self.state.long_mode();
        let width = if long { u64::MAX } else { 0xFFFF_FFFF };
        self.state.rflags &= !(VM | IF | RF);
        self.load_flat_fast_segments(cs & 0xFFFC, (cs & 0xFFFC) + 8, 0, long);
        self.state.gpr[4] = self.state.sysenter[1] & width;
        self.state.rip = self.state.sysenter[2] & width;
        Ok(())
    }

    /// SYSEXIT: back to ring 3 with flat segments, the stack pointer from RCX and the return address from RDX. With
    /// REX.W (SYSEXITQ, IA-32e mode) to 64-bit code with CS = SYSENTER_CS + 32 and SS = SYSENTER_CS + 40, else to
    /// 32-bit code with CS = SYSENTER_CS + 16 and SS = SYSENTER_CS + 24 (all RPL 3). #GP(0) unless at CPL 0 in
    /// protected mode with a non-null SYSENTER_CS, or for a non-canonical 64-bit return address.
    fn sysexit(&mut self, to64: bool) -> Result<(), Fault> {
        let cs = self.state.sysenter[0] as u16;
        if !self.state.protected() || self.state.v86() || self.state.cpl != 0 || cs & 0xFFFC == 0 {
            return gp(0);
        }
        let (rsp, rip) = (self.state.gpr[1], self.state.gpr[2]);
        if to64 {
            if !crate::mmu::segment::canonical(rip) {
                return gp(0);
            }
            self.load_flat_fast_segments(cs.wrapping_add(32) | 3, cs.wrapping_add(40) | 3, 3, true);
            self.state.gpr[4] = rsp;
            self.state.rip = rip;
        } else {
            self.load_flat_fast_segments(
                cs.wrapping_add(16) | 3,
                cs.wrapping_add(24) | 3,
                3,
                false,
            );
            self.state.gpr[4] = rsp & 0xFFFF_FFFF;
            self.state.rip = rip & 0xFFFF_FFFF;
        }
        Ok(())
    }

    /// Loads the fixed flat 4 GiB CS (execute/read; 64-bit when `long`, else 32-bit) and SS (read/write, big)
    /// caches SYSENTER and SYSEXIT use without reading the GDT, and sets CPL.
    fn load_flat_fast_segments(&mut self, cs: u16, ss: u16, cpl: u8, long: bool) {
        use crate::state::{attr, SegReg, Segment};
        let common = attr::P
            | attr::S
            | attr::ACCESSED
            | attr::RW
            | attr::G
            | (u16::from(cpl) << attr::DPL_SHIFT);
        let code_size = if long { attr::L } else { attr::DB };
        self.state.segs[SegReg::Cs as usize] = Segment {
            base: 0,
            limit: 0xFFFF_FFFF,
            selector: cs,
            attrs: common | attr::CODE | code_size,
        };
        self.state.segs[SegReg::Ss as usize] = Segment {
            base: 0,
            limit: 0xFFFF_FFFF,
            selector: ss,
            attrs: common | attr::DB,
        };
        self.state.cpl = cpl;
    }

    /// Bytes of the base in an LGDT/LIDT/SGDT/SIDT operand: 8 in 64-bit mode (a 10-byte operand), else 4.
    fn table_base_bytes(&self) -> usize {
        if self.state.mode64() {
            8
        } else {
            4
        }
    }

    /// #GP(0) unless at CPL 0 (and not in virtual-8086 mode).
    pub(crate) fn require_cpl0(&self) -> Result<(), Fault> {
        if self.state.protected() && (self.state.cpl != 0 || self.state.v86()) {
            return gp(0);
        }
        Ok(())
    }

    /// #UD outside protected mode (and in virtual-8086 mode), for LLDT, LTR, SLDT, STR, LAR, LSL, VERR, VERW.
    pub(crate) fn require_protected(&self) -> Result<(), Fault> {
        if !self.state.protected() || self.state.v86() {
            return Err(Fault::InvalidOpcode);
        }
        Ok(())
    }

    fn port_operand(&self, i: &Instruction, n: u32) -> u16 {
        if i.op_kind(n) == OpKind::Register {
            self.reg(Register::DX) as u16
        } else {
            i.immediate8() as u16
        }
    }

    /// After port I/O: pick up A20 changes and stop requests from devices.
    pub(crate) fn after_io<B: Bus>(&mut self, bus: &mut B) {
        self.sync_address_map(bus);
        if bus.stop_requested() {
            self.stop = true;
        }
    }

    /// Protected-mode I/O permission: allowed when CPL <= IOPL (outside virtual-8086 mode); otherwise every bit for
    /// the accessed ports in the TSS I/O bitmap must be clear.
    pub(crate) fn check_io_permission<B: Bus>(
        &mut self,
        bus: &mut B,
        port: u16,
        size: usize,
    ) -> Result<(), Fault> {
        if !self.state.protected() || (!self.state.v86() && self.state.cpl <= self.state.iopl()) {
            return Ok(());
        }
        let tr = self.state.tr;
        let tss32 = tr.attrs & 0xF == u16::from(system_type::TSS32_BUSY)
            || tr.attrs & 0xF == u16::from(system_type::TSS32_AVAILABLE);
        if !tss32 || tr.limit < 0x67 {
            return gp(0);
        }
        let bitmap = self.read_linear(bus, tr.base.wrapping_add(0x66) & 0xFFFF_FFFF, 2, false)?;
        let byte = bitmap + u64::from(port / 8);
        if byte + 1 > u64::from(tr.limit) {
            return gp(0);
        }
        let bits = self.read_linear(bus, tr.base.wrapping_add(byte) & 0xFFFF_FFFF, 2, false)?;
        let wanted = ((1u64 << size) - 1) << (port % 8);
        if bits & wanted != 0 {
            return gp(0);
        }
        Ok(())
    }

    fn cli_sti(&mut self, set: bool) -> Result<(), Fault> {
        let s = &self.state;
        if !s.protected() || (!s.v86() && s.cpl <= s.iopl()) || (s.v86() && s.iopl() == 3) {
            if set && self.state.rflags & IF == 0 {
                self.state.interrupt_shadow = true;
            }
            self.state.rflags = if set {
                self.state.rflags | IF
            } else {
                self.state.rflags & !IF
            };
            return Ok(());
        }
        // Virtual interrupt flag: VME in virtual-8086 mode, PVI at CPL 3.
        let virtual_ok =
            (s.v86() && s.cr4 & cr4::VME != 0) || (!s.v86() && s.cpl == 3 && s.cr4 & cr4::PVI != 0);
        if !virtual_ok {
            return gp(0);
        }
        if set {
            if self.state.rflags & VIP != 0 {
                return gp(0);
            }
            self.state.rflags |= VIF;
        } else {
            self.state.rflags &= !VIF;
        }
        Ok(())
    }

    fn pushf<B: Bus>(&mut self, bus: &mut B, size: usize) -> Result<(), Fault> {
        let mut flags = self.state.rflags & !(VM | RF);
        if self.state.v86() && self.state.iopl() < 3 {
            if self.state.cr4 & cr4::VME == 0 || size == 4 {
                return gp(0);
            }
            // VME: the pushed IF is VIF and IOPL reads as 3.
            flags = (flags & !IF) | if self.state.rflags & VIF != 0 { IF } else { 0 } | IOPL;
        }
        self.push(bus, size, flags & mask(size))
    }

    fn popf<B: Bus>(&mut self, bus: &mut B, size: usize) -> Result<(), Fault> {
        let s = &self.state;
        if s.v86() && s.iopl() < 3 {
            if s.cr4 & cr4::VME == 0 || size == 4 {
                return gp(0);
            }
            let v = self.peek_stack(bus, 0, size)?;
            if v & TF != 0 || (v & IF != 0 && self.state.rflags & VIP != 0) {
                return gp(0);
            }
            self.adjust_sp(size as u64);
            let vif = if v & IF != 0 { VIF } else { 0 };
            self.set_flags(
                v | vif,
                crate::flags::ARITH | TF | crate::flags::DF | NT | VIF,
            );
            return Ok(());
        }
        let v = self.peek_stack(bus, 0, size)?;
        self.adjust_sp(size as u64);
        let mut m = crate::flags::ARITH | TF | crate::flags::DF | NT;
        if size >= 4 {
            m |= AC | ID;
        }
        let (cpl, iopl) = (self.state.cpl, self.state.iopl());
        let protected = self.state.protected() && !self.state.v86();
        if !protected || cpl <= iopl || self.state.v86() {
            m |= IF;
        }
        if !protected || cpl == 0 {
            m |= IOPL;
        }
        if self.state.v86() {
            m &= !IOPL;
        }
        self.set_flags(v, m);
        Ok(())
    }

    fn lldt<B: Bus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        self.require_protected()?;
        self.require_cpl0()?;
        let selector = self.read_op(bus, i, 0, 2)? as u16;
        if selector & 0xFFFC == 0 {
            self.state.ldtr = crate::state::Segment {
                selector,
                ..Default::default()
            };
            return Ok(());
        }
        if selector & 4 != 0 {
            return gp(selector & 0xFFFC);
        }
        let desc = self.read_descriptor(bus, selector)?;
        if desc.is_code_or_data() || desc.kind() != system_type::LDT {
            return gp(selector & 0xFFFC);
        }
        if !desc.present() {
            return Err(Fault::SegmentNotPresent(selector & 0xFFFC));
        }
        let base = self.system_descriptor_base(bus, selector, desc)?;
        self.state.ldtr = crate::state::Segment {
            base,
            ..desc.to_segment(selector)
        };
        Ok(())
    }

    fn ltr<B: Bus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        self.require_protected()?;
        self.require_cpl0()?;
        let selector = self.read_op(bus, i, 0, 2)? as u16;
        if selector & 0xFFFC == 0 || selector & 4 != 0 {
            return gp(selector & 0xFFFC);
        }
        let desc = self.read_descriptor(bus, selector)?;
        let kind = desc.kind();
        if desc.is_code_or_data()
            || !(kind == system_type::TSS16_AVAILABLE || kind == system_type::TSS32_AVAILABLE)
        {
            return gp(selector & 0xFFFC);
        }
        if !desc.present() {
            return Err(Fault::SegmentNotPresent(selector & 0xFFFC));
        }
        let base = self.system_descriptor_base(bus, selector, desc)?;
        // Mark the TSS busy in its descriptor.
        let addr = self
            .state
            .gdtr
            .base
            .wrapping_add(u64::from(selector & 0xFFF8))
            + 5;
        let byte = ((desc.0 >> 40) as u8) | 2;
        self.write_linear(bus, addr, 1, u64::from(byte), false)?;
        let mut tr = desc.to_segment(selector);
        tr.base = base;
        tr.attrs |= 2;
        self.state.tr = tr;
        Ok(())
    }

    /// The base of a system descriptor (LDT, TSS). In long mode these are 16 bytes: bits 63..32 of the base sit in
    /// the second half, and the whole base must be canonical (#GP(selector) otherwise).
    fn system_descriptor_base<B: Bus>(
        &mut self,
        bus: &mut B,
        selector: u16,
        desc: crate::descriptor::Descriptor,
    ) -> Result<u64, Fault> {
        let low = desc.to_segment(selector).base;
        if !self.state.long_mode() {
            return Ok(low);
        }
        let index = u64::from(selector & 0xFFF8);
        if index + 15 > u64::from(self.state.gdtr.limit) {
            return gp(selector & 0xFFFC);
        }
        let high = self.read_linear(bus, self.state.gdtr.base.wrapping_add(index + 8), 4, false)?;
        let base = high << 32 | low;
        if !crate::mmu::segment::canonical(base) {
            return gp(selector & 0xFFFC);
        }
        Ok(base)
    }

    /// MOV to or from a control or debug register.
    pub(super) fn mov_control<B: Bus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Result<(), Fault> {
        self.require_cpl0()?;
        let (r0, r1) = (i.op0_register(), i.op1_register());
        if r0.is_cr() || r0.is_dr() {
            let v = self.reg(r1);
            match r0 {
                Register::CR0 => self.write_cr0(v),
                Register::CR2 => {
                    self.state.cr2 = v;
                    Ok(())
                }
                Register::CR3 => {
                    self.state.cr3 = if self.state.long_mode() {
                        v
                    } else {
                        v & 0xFFFF_FFFF
                    };
                    // Drops the non-global translations; there are global ones only while CR4.PGE is set.
                    self.tlb.flush(true);
                    Ok(())
                }
                Register::CR4 => self.write_cr4(v),
                Register::CR8 => {
                    if v & !0xF != 0 {
                        return gp(0);
                    }
                    // CR8 is the local APIC's task priority, bits 7-4; a lower one may let an interrupt in.
                    if !bus.set_task_priority((v << 4) as u8) {
                        self.state.cr8 = v;
                    }
                    self.recheck_interrupts = true;
                    Ok(())
                }
                r if r.is_dr() => {
                    let n = self.debug_register_index(r.number())?;
                    self.write_debug_register(n, v)
                }
                _ => Err(Fault::InvalidOpcode),
            }
        } else {
            let v = match r1 {
                Register::CR0 => self.state.cr0,
                Register::CR2 => self.state.cr2,
                Register::CR3 => self.state.cr3,
                Register::CR4 => self.state.cr4,
                Register::CR8 => bus
                    .task_priority()
                    .map_or(self.state.cr8, |tpr| u64::from(tpr >> 4)),
                r if r.is_dr() => self.state.dr[self.debug_register_index(r.number())?],
                _ => return Err(Fault::InvalidOpcode),
            };
            self.set_reg(r0, v);
            Ok(())
        }
    }

    /// Writes CR0 with its consistency checks; paging or protection changes flush the TLB.
    pub(crate) fn write_cr0(&mut self, value: u64) -> Result<(), Fault> {
        let value = (value & 0xFFFF_FFFF) | cr0::ET;
        if value & cr0::PG != 0 && value & cr0::PE == 0 {
            return gp(0);
        }
        if value & cr0::NW != 0 && value & cr0::CD == 0 {
            return gp(0);
        }
        let changed = self.state.cr0 ^ value;
        let enabling_paging = changed & value & cr0::PG != 0;
        if enabling_paging && self.state.efer & efer::LME != 0 {
            // Entering long mode needs PAE and may not happen from a 64-bit-capable code segment.
            if self.state.cr4 & cr4::PAE == 0 || self.state.seg(SegReg::Cs).attrs & attr::L != 0 {
                return gp(0);
            }
        }
        if changed & cr0::PE != 0 && value & cr0::PE == 0 && self.state.long_mode() {
            // PE cannot be cleared while long mode is active.
            return gp(0);
        }
        self.state.cr0 = value;
        if value & cr0::PG == 0 {
            self.state.efer &= !efer::LMA;
        } else if enabling_paging && self.state.efer & efer::LME != 0 {
            self.state.efer |= efer::LMA;
        }
        if changed & (cr0::PG | cr0::PE | cr0::WP) != 0 {
            self.tlb.flush(false);
        }
        if value & cr0::PE == 0 {
            self.state.cpl = 0;
        }
        Ok(())
    }

    fn write_cr4(&mut self, value: u64) -> Result<(), Fault> {
        let supported = cr4::VME
            | cr4::PVI
            | cr4::TSD
            | cr4::DE
            | cr4::PSE
            | cr4::PAE
            | cr4::MCE
            | cr4::PGE
            | cr4::PCE;
        let supported = supported | cr4::OSFXSR | cr4::OSXMMEXCPT;
        if value & !supported != 0 {
            return gp(0);
        }
        if self.state.long_mode() && value & cr4::PAE == 0 {
            return gp(0);
        }
        let changed = self.state.cr4 ^ value;
        self.state.cr4 = value;
        if changed & (cr4::PAE | cr4::PSE | cr4::PGE) != 0 {
            self.tlb.flush(false);
        }
        Ok(())
    }

    /// WAIT/FWAIT: #NM when CR0.MP and CR0.TS are both set (there is no x87 state yet to check for errors).
    pub(crate) fn fpu_wait(&mut self) -> Result<(), Fault> {
        if self.state.cr0 & (cr0::MP | cr0::TS) == cr0::MP | cr0::TS {
            return Err(Fault::DeviceNotAvailable);
        }
        self.fpu_pending()
    }

    /// The time-stamp counter: guest time from the bus's clock at [`crate::cpuid::TSC_HZ`] (retired instructions on
    /// a bus without one), plus the offset software set by writing the TSC MSR.
    pub fn read_tsc<B: Bus>(&self, bus: &mut B) -> u64 {
        bus.sync_instructions(self.instructions);
        let ticks = bus.now_ns().unwrap_or(self.instructions);
        ticks.wrapping_add(self.state.tsc_offset)
    }

    /// Reads a model-specific register: the TSC, a device's (APIC), or the CPU model's; unknown ones raise #GP(0)
    /// and show in the unimp trace.
    pub(crate) fn read_msr<B: Bus>(&mut self, bus: &mut B, index: u32) -> Result<u64, Fault> {
        if index == crate::cpuid::msr::TSC {
            return Ok(self.read_tsc(bus));
        }
        if let Some(v) = bus.read_device_msr(index) {
            return Ok(v);
        }
        match crate::cpuid::msr_read(self, index) {
            Some(v) => Ok(v),
            None => Err(self.unknown_msr(index)),
        }
    }

    /// Writes a model-specific register (TSC, device, or CPU model); unknown ones raise #GP(0) and show in the
    /// unimp trace.
    pub(crate) fn write_msr<B: Bus>(
        &mut self,
        bus: &mut B,
        index: u32,
        value: u64,
    ) -> Result<(), Fault> {
        if index == crate::cpuid::msr::TSC {
            let now = self.read_tsc(bus).wrapping_sub(self.state.tsc_offset);
            self.state.tsc_offset = value.wrapping_sub(now);
            return Ok(());
        }
        let tsc_now = self.read_tsc(bus);
        match bus.write_device_msr(index, value, tsc_now) {
            Some(true) => return Ok(()),
            Some(false) => return gp(0),
            None => {}
        }
        match crate::cpuid::msr_write(self, index, value) {
            Ok(()) => Ok(()),
            Err(crate::cpuid::MsrError::Invalid) => gp(0),
            Err(crate::cpuid::MsrError::Unknown) => Err(self.unknown_msr(index)),
        }
    }

    fn unknown_msr(&mut self, index: u32) -> Fault {
        let key = format!("msr {index:#x}");
        if self.trace.unimplemented {
            eprintln!("unimp: {key}");
        }
        *self.unimplemented.entry(key).or_insert(0) += 1;
        Fault::GeneralProtection(0)
    }
}

/// Operand size of PUSHF/POPF and their D/Q forms.
fn flags_operand_size(m: M) -> usize {
    match m {
        M::Pushfq | M::Popfq => 8,
        M::Pushfd | M::Popfd => 4,
        _ => 2,
    }
}
