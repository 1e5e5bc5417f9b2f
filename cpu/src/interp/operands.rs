//! Operand access for the interpreter: registers, effective addresses, immediates and memory operands, read and
//! written through one pair of functions so instruction handlers see plain values.

use crate::bus::Bus;
use crate::fault::Fault;
use crate::state::SegReg;
use crate::Cpu;
use iced_x86::{Instruction, OpKind, Register};

/// Where a general-purpose register lives: its slot in `gpr`, and which part of it.
#[derive(Clone, Copy)]
struct RegSlot {
    index: u8,
    /// 0 = none, 1 = low byte, 2 = high byte (AH..BH), 3 = word, 4 = dword, 5 = qword.
    part: u8,
}

const fn reg_slot(r: usize) -> RegSlot {
    let al = Register::AL as usize;
    let ah = Register::AH as usize;
    let spl = Register::SPL as usize;
    let ax = Register::AX as usize;
    let eax = Register::EAX as usize;
    let rax = Register::RAX as usize;
    if r >= al && r < ah {
        RegSlot {
            index: (r - al) as u8,
            part: 1,
        }
    } else if r >= ah && r < spl {
        RegSlot {
            index: (r - ah) as u8,
            part: 2,
        }
    } else if r >= spl && r < ax {
        RegSlot {
            index: (r - spl + 4) as u8,
            part: 1,
        }
    } else if r >= ax && r < eax {
        RegSlot {
            index: (r - ax) as u8,
            part: 3,
        }
    } else if r >= eax && r < rax {
        RegSlot {
            index: (r - eax) as u8,
            part: 4,
        }
    } else if r >= rax && r < rax + 16 {
        RegSlot {
            index: (r - rax) as u8,
            part: 5,
        }
    } else {
        RegSlot { index: 0, part: 0 }
    }
}

static REG_SLOTS: [RegSlot; 256] = {
    let mut table = [RegSlot { index: 0, part: 0 }; 256];
    let mut r = 0;
    while r < 256 {
        table[r] = reg_slot(r);
        r += 1;
    }
    table
};

/// Mask of the low `bytes` bytes.
#[inline]
pub fn mask(bytes: usize) -> u64 {
    if bytes >= 8 {
        u64::MAX
    } else {
        (1u64 << (8 * bytes)) - 1
    }
}

/// Sign-extends the low `bytes` bytes of `v` to 64 bits.
#[inline]
pub fn sign_extend(v: u64, bytes: usize) -> u64 {
    let shift = 64 - 8 * bytes as u32;
    (((v << shift) as i64) >> shift) as u64
}

impl Cpu {
    /// Value of a general-purpose register (any width).
    #[inline]
    pub(crate) fn reg(&self, r: Register) -> u64 {
        let s = REG_SLOTS[r as usize];
        let v = self.state.gpr[s.index as usize];
        match s.part {
            1 => v & 0xFF,
            2 => (v >> 8) & 0xFF,
            3 => v & 0xFFFF,
            4 => v & 0xFFFF_FFFF,
            5 => v,
            _ => 0,
        }
    }

    /// Writes a general-purpose register; 8- and 16-bit writes keep the other bits, 32-bit writes zero the top half.
    #[inline]
    pub(crate) fn set_reg(&mut self, r: Register, value: u64) {
        let s = REG_SLOTS[r as usize];
        let slot = &mut self.state.gpr[s.index as usize];
        match s.part {
            1 => *slot = (*slot & !0xFF) | (value & 0xFF),
            2 => *slot = (*slot & !0xFF00) | ((value & 0xFF) << 8),
            3 => *slot = (*slot & !0xFFFF) | (value & 0xFFFF),
            4 => *slot = value & 0xFFFF_FFFF,
            5 => *slot = value,
            _ => {}
        }
    }

    /// Address size in bytes of the instruction's memory operand.
    #[inline]
    pub fn address_size(i: &Instruction) -> usize {
        let base = i.memory_base();
        if base != Register::None {
            return base.size();
        }
        let index = i.memory_index();
        if index != Register::None {
            return index.size();
        }
        match i.memory_displ_size() {
            2 => 2,
            8 => 8,
            _ => 4,
        }
    }

    /// Effective address (segment offset) of the instruction's memory operand, wrapped to the address size.
    #[inline]
    pub(crate) fn effective_address(&self, i: &Instruction) -> u64 {
        let mut ea = i.memory_displacement64();
        let base = i.memory_base();
        if base != Register::None {
            ea = ea.wrapping_add(self.reg(base));
        }
        let index = i.memory_index();
        if index != Register::None {
            ea = ea.wrapping_add(
                self.reg(index)
                    .wrapping_mul(u64::from(i.memory_index_scale())),
            );
        }
        ea & mask(Self::address_size(i))
    }

    /// Segment of the instruction's memory operand (after overrides).
    #[inline]
    pub(crate) fn memory_segment(i: &Instruction) -> SegReg {
        SegReg::from_iced(i.memory_segment()).unwrap_or(SegReg::Ds)
    }

    /// Size in bytes of operand `n` (register width or memory operand size).
    #[inline]
    pub(crate) fn op_size(i: &Instruction, n: u32) -> usize {
        match i.op_kind(n) {
            OpKind::Register => i.op_register(n).size(),
            OpKind::Memory => i.memory_size().size(),
            OpKind::Immediate8 => 1,
            OpKind::Immediate16 | OpKind::Immediate8to16 => 2,
            OpKind::Immediate32 | OpKind::Immediate8to32 => 4,
            _ => 8,
        }
    }

    /// Reads operand `n` as a value of `size` bytes (immediates are sign-extended to it).
    #[inline]
    pub(crate) fn read_op<B: Bus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
        n: u32,
        size: usize,
    ) -> Result<u64, Fault> {
        Ok(match i.op_kind(n) {
            OpKind::Register => self.reg(i.op_register(n)),
            OpKind::Memory => {
                let ea = self.effective_address(i);
                self.read_mem(bus, Self::memory_segment(i), ea, size)?
            }
            _ => i.immediate(n) & mask(size),
        })
    }

    /// Writes operand `n` (a register or memory operand) with `size` bytes.
    #[inline]
    pub(crate) fn write_op<B: Bus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
        n: u32,
        size: usize,
        value: u64,
    ) -> Result<(), Fault> {
        match i.op_kind(n) {
            OpKind::Register => {
                self.set_reg(i.op_register(n), value);
                Ok(())
            }
            _ => {
                let ea = self.effective_address(i);
                self.write_mem(bus, Self::memory_segment(i), ea, size, value)
            }
        }
    }

    /// Stack pointer width in bytes (2 or 4).
    #[inline]
    pub(crate) fn stack_width(&self) -> usize {
        self.state.stack_bytes()
    }

    /// Pushes `size` bytes; the stack pointer moves only once the write has succeeded.
    #[inline]
    pub(crate) fn push<B: Bus>(
        &mut self,
        bus: &mut B,
        size: usize,
        value: u64,
    ) -> Result<(), Fault> {
        let sw = self.stack_width();
        let sp = self.state.gpr[4].wrapping_sub(size as u64) & mask(sw);
        self.write_mem(bus, SegReg::Ss, sp, size, value)?;
        self.set_sp(sp);
        Ok(())
    }

    /// Reads `size` bytes at stack offset `delta` from the stack pointer without popping.
    #[inline]
    pub(crate) fn peek_stack<B: Bus>(
        &mut self,
        bus: &mut B,
        delta: u64,
        size: usize,
    ) -> Result<u64, Fault> {
        let sw = self.stack_width();
        let sp = self.state.gpr[4].wrapping_add(delta) & mask(sw);
        self.read_mem(bus, SegReg::Ss, sp, size)
    }

    /// Adds `delta` to the stack pointer within its width.
    #[inline]
    pub(crate) fn adjust_sp(&mut self, delta: u64) {
        let sw = self.stack_width();
        let sp = self.state.gpr[4].wrapping_add(delta) & mask(sw);
        self.set_sp(sp);
    }

    /// Sets SP or ESP (per the stack width), keeping the bits above it.
    #[inline]
    pub(crate) fn set_sp(&mut self, sp: u64) {
        let m = mask(self.stack_width());
        self.state.gpr[4] = (self.state.gpr[4] & !m) | (sp & m);
    }
}
