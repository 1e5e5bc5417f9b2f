//! Data transfer: MOV and its extensions, LEA, XCHG, stack pushes and pops, sign extensions, flag-byte moves,
//! far-pointer loads, ENTER/LEAVE, and the flag-bit instructions.

use crate::bus::Bus;
use crate::fault::Fault;
use crate::flags::{ARITH, CF, DF, FLAGS_FIXED_ONE};
use crate::interp::operands::{mask, sign_extend};
use crate::state::{gpr, SegReg};
use crate::Cpu;
use iced_x86::{Code, Instruction, Mnemonic as M, OpKind, Register};

impl Cpu {
    /// Replaces the flags selected by `which` with those in `value`.
    #[inline]
    pub(crate) fn set_flags(&mut self, value: u64, which: u64) {
        self.state.rflags = (self.state.rflags & !which) | (value & which) | FLAGS_FIXED_ONE;
    }

    pub(super) fn exec_xfer<B: Bus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        match i.mnemonic() {
            M::Mov => self.mov(bus, i),
            M::Movzx => {
                let v = self.read_op(bus, i, 1, Self::op_size(i, 1))?;
                self.set_reg(i.op0_register(), v);
                Ok(())
            }
            M::Movsx => {
                let src = Self::op_size(i, 1);
                let v = sign_extend(self.read_op(bus, i, 1, src)?, src);
                self.set_reg(i.op0_register(), v & mask(i.op0_register().size()));
                Ok(())
            }
            M::Lea => {
                let ea = self.effective_address(i);
                self.set_reg(i.op0_register(), ea & mask(i.op0_register().size()));
                Ok(())
            }
            M::Xchg => {
                let size = Self::op_size(i, 0);
                let a = self.read_op(bus, i, 0, size)?;
                let b = self.read_op(bus, i, 1, size)?;
                // Write the memory side first: if it faults, no register has changed.
                if i.op0_kind() == OpKind::Memory {
                    self.write_op(bus, i, 0, size, b)?;
                    self.write_op(bus, i, 1, size, a)
                } else {
                    self.write_op(bus, i, 1, size, a)?;
                    self.write_op(bus, i, 0, size, b)
                }
            }
            M::Push => self.push_instruction(bus, i),
            M::Pop => self.pop_instruction(bus, i),
            M::Pusha | M::Pushad => {
                let size = if i.mnemonic() == M::Pushad { 4 } else { 2 };
                let sp = self.state.gpr[gpr::RSP];
                let regs = [0, 1, 2, 3, 4, 5, 6, 7].map(|r| {
                    if r == gpr::RSP {
                        sp
                    } else {
                        self.state.gpr[r]
                    }
                });
                self.check_stack_room(bus, 8 * size)?;
                for v in regs {
                    self.push(bus, size, v)?;
                }
                Ok(())
            }
            M::Popa | M::Popad => {
                let size = if i.mnemonic() == M::Popad { 4 } else { 2 };
                let mut values = [0u64; 8];
                for (k, v) in values.iter_mut().enumerate() {
                    *v = self.peek_stack(bus, (size * (7 - k)) as u64, size)?;
                }
                for (r, v) in values.iter().enumerate() {
                    if r != gpr::RSP {
                        let m = mask(size);
                        self.state.gpr[r] = if size == 4 {
                            v & m
                        } else {
                            (self.state.gpr[r] & !m) | (v & m)
                        };
                    }
                }
                self.adjust_sp((8 * size) as u64);
                Ok(())
            }
            M::Cbw => {
                let v = sign_extend(self.state.gpr[0] & 0xFF, 1);
                self.set_reg(Register::AX, v);
                Ok(())
            }
            M::Cwde => {
                let v = sign_extend(self.state.gpr[0] & 0xFFFF, 2);
                self.set_reg(Register::EAX, v);
                Ok(())
            }
            M::Cwd => {
                let high = if self.state.gpr[0] & 0x8000 != 0 {
                    0xFFFF
                } else {
                    0
                };
                self.set_reg(Register::DX, high);
                Ok(())
            }
            M::Cdqe => {
                let v = sign_extend(self.state.gpr[0] & 0xFFFF_FFFF, 4);
                self.set_reg(Register::RAX, v);
                Ok(())
            }
            M::Cqo => {
                let high = if self.state.gpr[0] & (1 << 63) != 0 {
                    u64::MAX
                } else {
                    0
                };
                self.set_reg(Register::RDX, high);
                Ok(())
            }
            M::Movsxd => {
                let src = Self::op_size(i, 1);
                let v = sign_extend(self.read_op(bus, i, 1, src)?, src);
                self.set_reg(i.op0_register(), v & mask(i.op0_register().size()));
                Ok(())
            }
            M::Cdq => {
                let high = if self.state.gpr[0] & 0x8000_0000 != 0 {
                    0xFFFF_FFFF
                } else {
                    0
                };
                self.set_reg(Register::EDX, high);
                Ok(())
            }
            M::Lahf => {
                let flags = (self.state.rflags & 0xD5) | FLAGS_FIXED_ONE;
                self.set_reg(Register::AH, flags);
                Ok(())
            }
            M::Sahf => {
                let ah = self.reg(Register::AH);
                self.set_flags(ah, ARITH & 0xFF);
                Ok(())
            }
            M::Salc => {
                let v = if self.state.rflags & CF != 0 { 0xFF } else { 0 };
                self.set_reg(Register::AL, v);
                Ok(())
            }
            M::Xlatb => {
                let base = if Self::address_size(i) == 2 {
                    self.reg(Register::BX)
                } else {
                    self.reg(Register::EBX)
                };
                let offset =
                    base.wrapping_add(self.state.gpr[0] & 0xFF) & mask(Self::address_size(i));
                let v = self.read_mem(bus, Self::memory_segment(i), offset, 1)?;
                self.set_reg(Register::AL, v);
                Ok(())
            }
            M::Lds | M::Les | M::Lfs | M::Lgs | M::Lss => {
                let size = i.op0_register().size();
                let ea = self.effective_address(i);
                let seg = Self::memory_segment(i);
                let offset = self.read_mem(bus, seg, ea, size)?;
                let selector = self.read_mem(
                    bus,
                    seg,
                    ea.wrapping_add(size as u64) & mask(Self::address_size(i)),
                    2,
                )?;
                let target = match i.mnemonic() {
                    M::Lds => SegReg::Ds,
                    M::Les => SegReg::Es,
                    M::Lfs => SegReg::Fs,
                    M::Lgs => SegReg::Gs,
                    _ => SegReg::Ss,
                };
                self.load_segment(bus, target, selector as u16)?;
                if target == SegReg::Ss {
                    self.state.interrupt_shadow = true;
                }
                self.set_reg(i.op0_register(), offset);
                Ok(())
            }
            M::Enter => self.enter(bus, i),
            M::Leave => {
                let size = stack_operand_size(i);
                let bp = self.state.gpr[gpr::RBP] & mask(self.stack_width());
                let saved = self.read_mem(bus, SegReg::Ss, bp, size)?;
                self.set_sp(bp);
                self.adjust_sp(size as u64);
                let m = mask(size);
                self.state.gpr[gpr::RBP] = (self.state.gpr[gpr::RBP] & !m) | (saved & m);
                Ok(())
            }
            M::Bswap => {
                let r = i.op0_register();
                let v = self.reg(r);
                let swapped = if r.size() == 4 {
                    u64::from((v as u32).swap_bytes())
                } else {
                    v.swap_bytes()
                };
                self.set_reg(r, swapped);
                Ok(())
            }
            M::Cmc => {
                self.state.rflags ^= CF;
                Ok(())
            }
            M::Clc => {
                self.state.rflags &= !CF;
                Ok(())
            }
            M::Stc => {
                self.state.rflags |= CF;
                Ok(())
            }
            M::Cld => {
                self.state.rflags &= !DF;
                Ok(())
            }
            M::Std => {
                self.state.rflags |= DF;
                Ok(())
            }
            M::Wait => self.fpu_wait(),
            // NOP, PAUSE, PREFETCHh/PREFETCHW (hints), ENDBR32/64 (no-ops while CET is off, as here).
            _ => Ok(()),
        }
    }

    fn mov<B: Bus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let r0 = if i.op0_kind() == OpKind::Register {
            i.op0_register()
        } else {
            Register::None
        };
        let r1 = if i.op1_kind() == OpKind::Register {
            i.op1_register()
        } else {
            Register::None
        };
        if r0.is_cr() || r1.is_cr() || r0.is_dr() || r1.is_dr() {
            return self.mov_control(bus, i);
        }
        if let Some(seg) = SegReg::from_iced(r0) {
            let selector = self.read_op(bus, i, 1, 2)?;
            if seg == SegReg::Cs {
                return Err(Fault::InvalidOpcode);
            }
            self.load_segment(bus, seg, selector as u16)?;
            if seg == SegReg::Ss {
                self.state.interrupt_shadow = true;
            }
            return Ok(());
        }
        if let Some(seg) = SegReg::from_iced(r1) {
            let selector = u64::from(self.state.seg(seg).selector);
            // A register destination gets the zero-extended selector; memory gets 16 bits.
            let size = if i.op0_kind() == OpKind::Register {
                r0.size()
            } else {
                2
            };
            return self.write_op(bus, i, 0, size, selector);
        }
        let size = Self::op_size(i, 0);
        let v = self.read_op(bus, i, 1, size)?;
        self.write_op(bus, i, 0, size, v)
    }

    fn push_instruction<B: Bus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let size = stack_operand_size(i);
        let value = match i.op0_kind() {
            OpKind::Register => match SegReg::from_iced(i.op0_register()) {
                Some(seg) => return self.push_selector(bus, size, self.state.seg(seg).selector),
                None => self.reg(i.op0_register()),
            },
            OpKind::Memory => self.read_op(bus, i, 0, size)?,
            _ => sign_extend(i.immediate(0), Self::op_size(i, 0)) & mask(size),
        };
        self.push(bus, size, value)
    }

    /// PUSH of a segment register: the stack pointer moves by the operand size, but a 32- or 64-bit push writes
    /// only the selector's 16 bits (only they are checked) and leaves the rest of the slot as it was, as recent
    /// Intel processors and Bochs do; the SDM allows this or a zero-extended write.
    fn push_selector<B: Bus>(
        &mut self,
        bus: &mut B,
        size: usize,
        selector: u16,
    ) -> Result<(), Fault> {
        let sp = self.state.gpr[gpr::RSP].wrapping_sub(size as u64) & mask(self.stack_width());
        self.write_mem(bus, SegReg::Ss, sp, 2, u64::from(selector))?;
        self.set_sp(sp);
        Ok(())
    }

    fn pop_instruction<B: Bus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let size = stack_operand_size(i);
        let value = self.peek_stack(bus, 0, size)?;
        if let Some(seg) = SegReg::from_iced(i.op0_register()) {
            if i.op0_kind() == OpKind::Register {
                // The stack pointer moves within the width of the stack segment the value came from, even when
                // the POP loads SS with a segment of the other width (as the 386 does).
                let width = mask(self.stack_width());
                let sp = self.state.gpr[gpr::RSP].wrapping_add(size as u64) & width;
                self.load_segment(bus, seg, value as u16)?;
                self.state.gpr[gpr::RSP] = (self.state.gpr[gpr::RSP] & !width) | sp;
                if seg == SegReg::Ss {
                    self.state.interrupt_shadow = true;
                }
                return Ok(());
            }
        }
        // POP computes a memory destination's address with the already-incremented stack pointer.
        let old_sp = self.state.gpr[gpr::RSP];
        self.adjust_sp(size as u64);
        if let Err(f) = self.write_op(bus, i, 0, size, value) {
            self.state.gpr[gpr::RSP] = old_sp;
            return Err(f);
        }
        Ok(())
    }

    /// Checks that `bytes` below the stack pointer can be written, so multi-push instructions fault up front.
    pub(crate) fn check_stack_room<B: Bus>(
        &mut self,
        bus: &mut B,
        bytes: usize,
    ) -> Result<(), Fault> {
        let sw = self.stack_width();
        let low = self.state.gpr[gpr::RSP].wrapping_sub(bytes as u64) & mask(sw);
        for k in 0..bytes as u64 {
            let offset = low.wrapping_add(k) & mask(sw);
            if k == 0 || offset & 0xFFF == 0 {
                let linear = self.seg_linear(SegReg::Ss, offset, 1, crate::mmu::Access::Write)?;
                self.probe_write(bus, linear, 1, self.user_mode())?;
            }
        }
        self.seg_linear(SegReg::Ss, low, bytes, crate::mmu::Access::Write)
            .map(|_| ())
    }

    fn enter<B: Bus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let size = stack_operand_size(i);
        let frame = i.immediate(0) & 0xFFFF;
        let level = i.immediate(1) & 0x1F;
        let sw = self.stack_width();
        let bp = self.state.gpr[gpr::RBP];
        let room = size * (1 + level as usize) + frame as usize;
        self.check_stack_room(bus, room)?;
        self.push(bus, size, bp)?;
        let frame_ptr = self.state.gpr[gpr::RSP] & mask(sw);
        let mut walk = bp & mask(sw);
        for _ in 1..level {
            walk = walk.wrapping_sub(size as u64) & mask(sw);
            let v = self.read_mem(bus, SegReg::Ss, walk, size)?;
            self.push(bus, size, v)?;
        }
        if level > 0 {
            self.push(bus, size, frame_ptr)?;
        }
        let m = mask(size);
        self.state.gpr[gpr::RBP] = (self.state.gpr[gpr::RBP] & !m) | (frame_ptr & m);
        self.adjust_sp(0u64.wrapping_sub(frame));
        Ok(())
    }
}

/// Operand size in bytes of a stack instruction (PUSH, POP, ENTER, LEAVE), from its decoded form.
pub(crate) fn stack_operand_size(i: &Instruction) -> usize {
    match i.code() {
        Code::Enterw_imm16_imm8 | Code::Leavew => 2,
        Code::Enterd_imm16_imm8 | Code::Leaved => 4,
        Code::Enterq_imm16_imm8 | Code::Leaveq => 8,
        _ => match i.stack_pointer_increment().unsigned_abs() {
            s @ (2 | 4 | 8) => s as usize,
            _ => 4,
        },
    }
}
