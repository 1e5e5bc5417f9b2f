//! The x87 FPU: availability (CR0.EM/TS, pending unmasked exceptions as #MF), the register stack (TOP, tags,
//! overflow and underflow), exception posting to the status word, and dispatch to the groups: `load_store`
//! (FLD/FST/FILD/FIST/FBLD/FBSTP, constants, FXCH, FCMOVcc), `arith` (FADD..FDIVR, FSQRT, FABS, FCHS, FRNDINT,
//! FSCALE, FXTRACT, FPREM/FPREM1), `compare` (FCOM*, FUCOM*, FCOMI*, FTST, FXAM), `control` (FINIT, FLDCW,
//! FSTSW, FSTENV/FLDENV, FSAVE/FRSTOR, FFREE, FINCSTP/FDECSTP) and `transcendental` (F2XM1, FYL2X, FSIN...).
//!
//! Values are kept as exact 80-bit registers and computed with the soft-float core ([`crate::fpu::soft`]),
//! honouring the precision and rounding control fields; only the transcendental group goes through f64.

mod arith;
mod compare;
mod control;
mod load_store;
mod transcendental;

use crate::bus::Bus;
use crate::fault::Fault;
use crate::fpu::soft::{flag, Ctx, Format, Num, Rounding};
use crate::fpu::{sw, F80};
use crate::state::{cr0, SegReg};
use crate::Cpu;
use iced_x86::{Instruction, Mnemonic as M, OpKind, Register};

/// The indefinite QNaN in 80-bit form.
pub(super) const INDEFINITE: F80 = F80 {
    mant: 0xC000_0000_0000_0000,
    se: 0xFFFF,
};

/// Index i of an ST(i) register.
pub(super) fn st_index(r: Register) -> usize {
    r as usize - Register::ST0 as usize
}

/// Instructions that do not wait for (check) pending unmasked exceptions.
fn non_waiting(m: M) -> bool {
    matches!(
        m,
        M::Fninit
            | M::Fnclex
            | M::Fnstcw
            | M::Fnstsw
            | M::Fnstenv
            | M::Fnsave
            | M::Fneni
            | M::Fndisi
            | M::Fnsetpm
    )
}

/// Control instructions that leave the last instruction and data pointers alone.
fn keeps_pointers(m: M) -> bool {
    matches!(
        m,
        M::Fninit
            | M::Finit
            | M::Fnclex
            | M::Fclex
            | M::Fldcw
            | M::Fnstcw
            | M::Fstcw
            | M::Fnstsw
            | M::Fstsw
            | M::Fnstenv
            | M::Fstenv
            | M::Fldenv
            | M::Fnsave
            | M::Fsave
            | M::Frstor
    )
}

impl Cpu {
    pub(super) fn exec_x87<B: Bus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        if self.state.cr0 & (cr0::EM | cr0::TS) != 0 {
            return Err(Fault::DeviceNotAvailable);
        }
        let m = i.mnemonic();
        if !non_waiting(m) {
            self.fpu_pending()?;
        }
        if !keeps_pointers(m) {
            self.fpu.fip = i.ip();
            self.fpu.fcs = self.state.seg(SegReg::Cs).selector;
            if i.op_count() > 0 && i.op0_kind() == OpKind::Memory {
                let seg = Self::memory_segment(i);
                self.fpu.fdp = self.effective_address(i);
                self.fpu.fds = self.state.seg(seg).selector;
            }
        }
        if let Some(r) = self.x87_load_store(bus, i) {
            return r;
        }
        if let Some(r) = self.x87_arith(bus, i) {
            return r;
        }
        if let Some(r) = self.x87_compare(bus, i) {
            return r;
        }
        if let Some(r) = self.x87_control(bus, i) {
            return r;
        }
        if let Some(r) = self.x87_transcendental(i) {
            return r;
        }
        Err(self.unimplemented(i))
    }

    /// #MF for a pending unmasked x87 exception (CR0.NE = 1; with NE = 0 the external FERR# path is not modelled
    /// and the exception stays pending without a fault).
    pub(crate) fn fpu_pending(&self) -> Result<(), Fault> {
        if self.fpu.sw & sw::ES != 0 && self.state.cr0 & cr0::NE != 0 {
            return Err(Fault::FloatingPoint);
        }
        Ok(())
    }

    /// A rounding context from the control word; `precision` applies CW.PC (only the basic arithmetic does).
    pub(super) fn x87_ctx(&self, precision: bool) -> Ctx {
        let cw = u32::from(self.fpu.cw);
        let mut c = Ctx::new(Rounding::from_bits(cw >> 10));
        if precision {
            c.prec = match (cw >> 8) & 3 {
                0 => 24,
                2 => 53,
                _ => 64,
            };
        }
        c.underflow_unmasked = cw & flag::UE == 0;
        c
    }

    /// ST(i), or `None` when its register is empty.
    pub(super) fn st(&self, i: usize) -> Option<F80> {
        let p = self.fpu.phys(i);
        (self.fpu.valid & (1 << p) != 0).then_some(self.fpu.regs[p])
    }

    /// Writes ST(i) and marks it valid.
    pub(super) fn set_st(&mut self, i: usize, v: F80) {
        let p = self.fpu.phys(i);
        self.fpu.regs[p] = v;
        self.fpu.valid |= 1 << p;
    }

    /// Marks ST(0) empty and increments TOP.
    pub(super) fn fpop(&mut self) {
        let p = self.fpu.phys(0);
        self.fpu.valid &= !(1 << p);
        self.fpu.top = (self.fpu.top + 1) & 7;
    }

    /// Pushes a value, or signals stack overflow (IE, SF, C1 = 1) and pushes the indefinite if IE is masked.
    pub(super) fn fpush(&mut self, v: F80) {
        let p = self.fpu.phys(7);
        let v = if self.fpu.valid & (1 << p) != 0 {
            self.fpu.sw |= sw::SF | sw::C1;
            if !self.x87_post(flag::IE) {
                return;
            }
            INDEFINITE
        } else {
            self.fpu.sw &= !sw::C1;
            v
        };
        self.fpu.top = (self.fpu.top + 7) & 7;
        self.set_st(0, v);
    }

    /// Signals stack underflow (IE, SF, C1 = 0); true when IE is masked (the caller stores the indefinite).
    pub(super) fn stack_underflow(&mut self) -> bool {
        self.fpu.sw = (self.fpu.sw | sw::SF) & !sw::C1;
        self.x87_post(flag::IE)
    }

    /// Records exception flags in the status word (ES and B when one is unmasked); true when the result may be
    /// stored, i.e. no unmasked invalid-operation, denormal or divide-by-zero exception occurred.
    pub(super) fn x87_post(&mut self, flags: u32) -> bool {
        let flags = (flags & 0x3F) as u16;
        self.fpu.sw |= flags;
        let unmasked = flags & !self.fpu.cw & 0x3F;
        if unmasked != 0 {
            self.fpu.sw |= sw::ES | sw::B;
        }
        unmasked & (flag::IE | flag::DE | flag::ZE) as u16 == 0
    }

    /// Sets C1 from the last rounding direction (C0, C2, C3 undefined after arithmetic: cleared).
    pub(super) fn set_c1(&mut self, up: bool) {
        self.fpu.sw &= !sw::C1;
        if up {
            self.fpu.sw |= sw::C1;
        }
    }

    /// Reads the memory operand as a number (float, integer or BCD per its size); DE for denormal floats.
    pub(super) fn x87_read_mem<B: Bus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
        ctx: &mut Ctx,
    ) -> Result<Num, Fault> {
        use iced_x86::MemorySize as S;
        let (seg, ea) = (Self::memory_segment(i), self.effective_address(i));
        Ok(match i.memory_size() {
            S::Float32 => Num::unpack(
                u128::from(self.read_mem(bus, seg, ea, 4)?),
                Format::F32,
                ctx,
            ),
            S::Float64 => Num::unpack(
                u128::from(self.read_mem(bus, seg, ea, 8)?),
                Format::F64,
                ctx,
            ),
            S::Float80 => {
                let mut b = [0u8; 10];
                self.read_block(bus, seg, ea, &mut b)?;
                Num::unpack(F80::from_bytes(&b).to_bits(), Format::F80, ctx)
            }
            S::Int16 => int_num(i64::from(self.read_mem(bus, seg, ea, 2)? as i16)),
            S::Int32 => int_num(i64::from(self.read_mem(bus, seg, ea, 4)? as i32)),
            _ => int_num(self.read_mem(bus, seg, ea, 8)? as i64),
        })
    }

    /// Unpacks ST(i) (which must be valid).
    pub(super) fn st_num(&self, i: usize, ctx: &mut Ctx) -> Num {
        let v = self.st(i).unwrap_or(INDEFINITE);
        Num::unpack(v.to_bits(), Format::F80, ctx)
    }
}

/// An integer as an exact unpacked value.
pub(super) fn int_num(v: i64) -> Num {
    let mut c = Ctx::new(Rounding::Nearest);
    let bits = crate::fpu::soft::from_int(v, Format::F80, &mut c);
    Num::unpack(bits, Format::F80, &mut c)
}

/// Packs an unpacked value to 80 bits with `ctx`.
pub(super) fn to_f80(n: Num, ctx: &mut Ctx) -> F80 {
    F80::from_bits(n.pack(Format::F80, ctx))
}
