//! SSE and SSE2, and the routing of every x87/MMX/SSE instruction: [`is_fpu_or_simd`] classifies a decoded
//! instruction by its CPUID feature (iced's instruction info), `exec_fpu_simd` checks availability (CR0.EM/TS,
//! CR4.OSFXSR) and hands it to the x87, MMX or SSE handlers.
//!
//! Files: `moves` (register/memory moves, MOVMSK), `arith` (ADD..SQRT, MIN/MAX, RCP/RSQRT), `compare` (CMPcc,
//! (U)COMIS), `convert` (CVT*), `logic` (AND/OR/XOR/ANDN), `shuffle` (SHUF*, UNPCK*, PSHUF*), `integer` (the
//! packed-integer operations shared with MMX), `control` (MXCSR, FXSAVE/FXRSTOR, fences, CLFLUSH).

mod arith;
mod compare;
mod control;
mod convert;
pub(super) mod integer;
mod logic;
mod moves;
mod shuffle;

use crate::bus::Bus;
use crate::fault::Fault;
use crate::fpu::mxcsr;
use crate::fpu::soft::{Ctx, Rounding};
use crate::mmu::Access;
use crate::state::{cr0, cr4, SegReg};
use crate::Cpu;
use iced_x86::{
    Code, CpuidFeature as F, EncodingKind, Instruction, Mnemonic as M, OpKind, Register,
};
use std::sync::OnceLock;

/// Instruction classes of the routing table.
const NONE: u8 = 0;
const X87: u8 = 1;
const SIMD: u8 = 2;

fn class_table() -> &'static [u8] {
    static TABLE: OnceLock<Vec<u8>> = OnceLock::new();
    TABLE.get_or_init(|| {
        Code::values()
            .map(|c| {
                if c.encoding() != EncodingKind::Legacy || c.mnemonic() == M::Wait {
                    return NONE;
                }
                let f = c.cpuid_features();
                let has = |x: F| f.contains(&x);
                if has(F::FPU)
                    || has(F::FPU287)
                    || has(F::FPU287XL_ONLY)
                    || has(F::FPU387)
                    || has(F::FPU387SL_ONLY)
                    || c.mnemonic() == M::Fisttp
                {
                    X87
                } else if has(F::MMX)
                    || has(F::SSE)
                    || has(F::SSE2)
                    || has(F::FXSR)
                    || has(F::CLFSH)
                {
                    SIMD
                } else {
                    NONE
                }
            })
            .collect()
    })
}

/// Whether an instruction belongs to the x87, MMX, SSE/SSE2 or FXSR groups this module executes.
#[inline]
pub(crate) fn is_fpu_or_simd(i: &Instruction) -> bool {
    class_table()[i.code() as usize] != NONE
}

/// Index of an XMM register.
pub(super) fn xmm_index(r: Register) -> usize {
    r as usize - Register::XMM0 as usize
}

/// Index of an MMX register.
pub(super) fn mm_index(r: Register) -> usize {
    r as usize - Register::MM0 as usize
}

/// Mask of a lane of `bits` bits.
pub(super) fn lane_mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

/// Lane `k` of `bits` bits.
pub(super) fn lane(v: u128, bits: u32, k: u32) -> u64 {
    ((v >> (bits * k)) as u64) & lane_mask(bits)
}

/// `v` with lane `k` replaced.
pub(super) fn set_lane(v: u128, bits: u32, k: u32, x: u64) -> u128 {
    let m = u128::from(lane_mask(bits)) << (bits * k);
    (v & !m) | ((u128::from(x) << (bits * k)) & m)
}

/// Lane-wise `f(a, b)` over the low `bytes` bytes.
pub(super) fn map2(a: u128, b: u128, bits: u32, bytes: u32, f: impl Fn(u64, u64) -> u64) -> u128 {
    (0..bytes * 8 / bits).fold(0, |r, k| {
        set_lane(r, bits, k, f(lane(a, bits, k), lane(b, bits, k)))
    })
}

/// Mnemonics whose 128-bit memory operand may be misaligned.
fn unaligned_ok(m: M) -> bool {
    matches!(
        m,
        M::Movups | M::Movupd | M::Movdqu | M::Lddqu | M::Maskmovdqu
    )
}

impl Cpu {
    /// Routes an instruction [`is_fpu_or_simd`] accepted.
    pub(super) fn exec_fpu_simd<B: Bus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Result<(), Fault> {
        if class_table()[i.code() as usize] == X87 {
            return self.exec_x87(bus, i);
        }
        let regs = (0..i.op_count())
            .filter(|&n| i.op_kind(n) == OpKind::Register)
            .map(|n| i.op_register(n));
        let (mut xmm, mut mm) = (false, false);
        for r in regs {
            xmm |= r.is_xmm();
            mm |= r.is_mm();
        }
        if xmm {
            self.sse_available()?;
            if mm {
                self.mmx_transition()?;
            }
            self.exec_sse(bus, i)
        } else if mm {
            self.mmx_available()?;
            self.exec_mmx(bus, i)
        } else {
            self.exec_sse_control(bus, i)
        }
    }

    /// SSE availability: #UD with CR0.EM or without CR4.OSFXSR, #NM with CR0.TS.
    pub(super) fn sse_available(&self) -> Result<(), Fault> {
        if self.state.cr0 & cr0::EM != 0 || self.state.cr4 & cr4::OSFXSR == 0 {
            return Err(Fault::InvalidOpcode);
        }
        if self.state.cr0 & cr0::TS != 0 {
            return Err(Fault::DeviceNotAvailable);
        }
        Ok(())
    }

    /// The SIMD rounding context from MXCSR.
    pub(super) fn sse_ctx(&self) -> Ctx {
        let m = self.fpu.xmm.mxcsr;
        let mut c = Ctx::new(Rounding::from_bits(m >> mxcsr::RC_SHIFT));
        c.daz = m & mxcsr::DAZ != 0;
        c.underflow_unmasked = m & mxcsr::UM == 0;
        c.ftz = m & mxcsr::FTZ != 0 && !c.underflow_unmasked;
        c
    }

    /// Records a SIMD operation's exception flags in MXCSR; an unmasked one raises #XM (CR4.OSXMMEXCPT) or #UD,
    /// and the caller must then leave the destination unchanged.
    pub(super) fn sse_finish(&mut self, ctx: &Ctx) -> Result<(), Fault> {
        let m = self.fpu.xmm.mxcsr;
        self.fpu.xmm.mxcsr |= ctx.flags & mxcsr::FLAGS;
        if ctx.flags & !(m >> mxcsr::MASK_SHIFT) & mxcsr::FLAGS != 0 {
            return Err(if self.state.cr4 & cr4::OSXMMEXCPT != 0 {
                Fault::SimdFloatingPoint
            } else {
                Fault::InvalidOpcode
            });
        }
        Ok(())
    }

    /// Segment and offset of the memory operand.
    pub(super) fn mem_operand(&self, i: &Instruction) -> (SegReg, u64) {
        (Self::memory_segment(i), self.effective_address(i))
    }

    /// #GP(0) unless the linear address of `seg:ea` is a multiple of `align`.
    pub(super) fn check_align(&self, seg: SegReg, ea: u64, align: u64) -> Result<(), Fault> {
        if !self
            .state
            .seg(seg)
            .base
            .wrapping_add(ea)
            .is_multiple_of(align)
        {
            return Err(Fault::GeneralProtection(0));
        }
        Ok(())
    }

    /// Reads `out.len()` bytes at `seg:ea`; the whole range is checked before anything is returned.
    pub(crate) fn read_block<B: Bus>(
        &mut self,
        bus: &mut B,
        seg: SegReg,
        ea: u64,
        out: &mut [u8],
    ) -> Result<(), Fault> {
        let mut at = 0;
        while at < out.len() {
            let n = (out.len() - at).min(8);
            let v = self.read_mem(bus, seg, ea.wrapping_add(at as u64), n)?;
            out[at..at + n].copy_from_slice(&v.to_le_bytes()[..n]);
            at += n;
        }
        Ok(())
    }

    /// Writes `data` at `seg:ea` after checking that the whole range is writable.
    pub(crate) fn write_block<B: Bus>(
        &mut self,
        bus: &mut B,
        seg: SegReg,
        ea: u64,
        data: &[u8],
    ) -> Result<(), Fault> {
        let linear = self.seg_linear(seg, ea, data.len(), Access::Write)?;
        let user = self.user_mode();
        let mut page = linear & !0xFFF;
        while page <= (linear + data.len() as u64 - 1) & !0xFFF {
            self.probe_write(bus, page.max(linear), 1, user)?;
            page += 0x1000;
        }
        let mut at = 0;
        while at < data.len() {
            let n = (data.len() - at).min(8);
            let mut v = [0u8; 8];
            v[..n].copy_from_slice(&data[at..at + n]);
            self.write_mem(
                bus,
                seg,
                ea.wrapping_add(at as u64),
                n,
                u64::from_le_bytes(v),
            )?;
            at += n;
        }
        Ok(())
    }

    /// Reads a vector-sized memory value of `size` bytes (1..=16).
    pub(super) fn read_vmem<B: Bus>(
        &mut self,
        bus: &mut B,
        seg: SegReg,
        ea: u64,
        size: usize,
    ) -> Result<u128, Fault> {
        if size <= 8 {
            return Ok(u128::from(self.read_mem(bus, seg, ea, size)?));
        }
        let mut b = [0u8; 16];
        self.read_block(bus, seg, ea, &mut b[..size])?;
        Ok(u128::from_le_bytes(b))
    }

    /// Writes a vector-sized memory value of `size` bytes (1..=16).
    pub(super) fn write_vmem<B: Bus>(
        &mut self,
        bus: &mut B,
        seg: SegReg,
        ea: u64,
        size: usize,
        v: u128,
    ) -> Result<(), Fault> {
        if size <= 8 {
            return self.write_mem(bus, seg, ea, size, v as u64);
        }
        self.write_block(bus, seg, ea, &v.to_le_bytes()[..size])
    }

    /// Operand `n` as a vector value: an XMM or MMX register, a general register, or memory (of the instruction's
    /// memory size; 16-byte operands must be aligned except for the unaligned moves).
    pub(super) fn read_vec<B: Bus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
        n: u32,
    ) -> Result<u128, Fault> {
        match i.op_kind(n) {
            OpKind::Register => {
                let r = i.op_register(n);
                Ok(if r.is_xmm() {
                    self.fpu.xmm.regs[xmm_index(r)]
                } else if r.is_mm() {
                    u128::from(self.mm(mm_index(r)))
                } else {
                    u128::from(self.reg(r))
                })
            }
            OpKind::Memory => {
                let (seg, ea) = self.mem_operand(i);
                let size = i.memory_size().size();
                if size == 16 && !unaligned_ok(i.mnemonic()) {
                    self.check_align(seg, ea, 16)?;
                }
                self.read_vmem(bus, seg, ea, size)
            }
            _ => Ok(u128::from(i.immediate(n))),
        }
    }

    /// Writes operand `n`: a whole XMM register, an MMX register, a general register or memory.
    pub(super) fn write_vec<B: Bus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
        n: u32,
        v: u128,
    ) -> Result<(), Fault> {
        match i.op_kind(n) {
            OpKind::Register => {
                let r = i.op_register(n);
                if r.is_xmm() {
                    self.fpu.xmm.regs[xmm_index(r)] = v;
                } else if r.is_mm() {
                    self.set_mm(mm_index(r), v as u64);
                } else {
                    self.set_reg(r, v as u64);
                }
                Ok(())
            }
            _ => {
                let (seg, ea) = self.mem_operand(i);
                let size = i.memory_size().size();
                if size == 16 && !unaligned_ok(i.mnemonic()) {
                    self.check_align(seg, ea, 16)?;
                }
                self.write_vmem(bus, seg, ea, size, v)
            }
        }
    }

    /// The XMM register operand `n` names.
    pub(super) fn xmm_of(i: &Instruction, n: u32) -> usize {
        xmm_index(i.op_register(n))
    }

    fn exec_sse<B: Bus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        if let Some(r) = self.sse_moves(bus, i) {
            return r;
        }
        if let Some(r) = self.sse_arith(bus, i) {
            return r;
        }
        if let Some(r) = self.sse_compare(bus, i) {
            return r;
        }
        if let Some(r) = self.sse_convert(bus, i) {
            return r;
        }
        if let Some(r) = self.sse_logic(bus, i) {
            return r;
        }
        if let Some(r) = self.sse_shuffle(bus, i) {
            return r;
        }
        if let Some(r) = self.packed_int(bus, i, 16) {
            return r;
        }
        Err(self.unimplemented(i))
    }
}
