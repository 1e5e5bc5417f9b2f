//! SSE/SSE2 data movement: MOVAPS/MOVUPS/MOVAPD/MOVUPD/MOVDQA/MOVDQU and the non-temporal stores, MOVSS/MOVSD,
//! MOVLPS/MOVHPS/MOVLPD/MOVHPD/MOVLHPS/MOVHLPS, MOVD/MOVQ, MOVQ2DQ/MOVDQ2Q, MOVMSKPS/MOVMSKPD/PMOVMSKB and
//! MASKMOVDQU.

use super::{lane, xmm_index};
use crate::bus::Bus;
use crate::fault::Fault;
use crate::state::SegReg;
use crate::Cpu;
use iced_x86::{Instruction, Mnemonic as M, OpKind};

const LOW64: u128 = u64::MAX as u128;

impl Cpu {
    pub(in crate::exec) fn sse_moves<B: Bus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Option<Result<(), Fault>> {
        Some(match i.mnemonic() {
            M::Movaps
            | M::Movups
            | M::Movapd
            | M::Movupd
            | M::Movdqa
            | M::Movdqu
            | M::Movntps
            | M::Movntpd
            | M::Movntdq
            | M::Movntq => self.sse_move_whole(bus, i),
            M::Movss | M::Movsd => {
                self.sse_move_scalar(bus, i, if i.mnemonic() == M::Movss { 4 } else { 8 })
            }
            M::Movlps | M::Movlpd | M::Movhps | M::Movhpd => self.sse_move_half(bus, i),
            M::Movhlps | M::Movlhps => {
                let d = Self::xmm_of(i, 0);
                let s = self.fpu.xmm.regs[Self::xmm_of(i, 1)];
                let old = self.fpu.xmm.regs[d];
                self.fpu.xmm.regs[d] = if i.mnemonic() == M::Movhlps {
                    (old & !LOW64) | (s >> 64)
                } else {
                    (old & LOW64) | (s << 64)
                };
                Ok(())
            }
            M::Movd | M::Movq | M::Movq2dq | M::Movdq2q => self.sse_movd_movq(bus, i),
            M::Movmskps | M::Movmskpd | M::Pmovmskb => {
                let v = self.read_vec(bus, i, 1).unwrap_or(0);
                let bits = match i.mnemonic() {
                    M::Movmskps => 32,
                    M::Movmskpd => 64,
                    _ => 8,
                };
                let width = if i.op_register(1).is_xmm() { 128 } else { 64 };
                let mask =
                    (0..width / bits).fold(0u64, |m, k| m | (lane(v, bits, k) >> (bits - 1)) << k);
                self.set_reg(i.op_register(0), mask);
                Ok(())
            }
            M::Maskmovdqu | M::Maskmovq => self.maskmov(bus, i),
            _ => return None,
        })
    }

    fn sse_move_whole<B: Bus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let v = self.read_vec(bus, i, 1)?;
        self.write_vec(bus, i, 0, v)
    }

    /// MOVSS/MOVSD: register to register merges the low lane; a load zeroes the rest; a store writes the lane.
    fn sse_move_scalar<B: Bus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
        size: u32,
    ) -> Result<(), Fault> {
        let m = (1u128 << (8 * size)) - 1;
        if i.op0_kind() == OpKind::Register {
            let d = Self::xmm_of(i, 0);
            let v = self.read_vec(bus, i, 1)?;
            if i.op1_kind() == OpKind::Register {
                self.fpu.xmm.regs[d] = (self.fpu.xmm.regs[d] & !m) | (v & m);
            } else {
                self.fpu.xmm.regs[d] = v & m;
            }
            Ok(())
        } else {
            let v = self.fpu.xmm.regs[Self::xmm_of(i, 1)];
            self.write_vec(bus, i, 0, v & m)
        }
    }

    fn sse_move_half<B: Bus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let high = matches!(i.mnemonic(), M::Movhps | M::Movhpd);
        if i.op0_kind() == OpKind::Register {
            let d = Self::xmm_of(i, 0);
            let v = self.read_vec(bus, i, 1)? & LOW64;
            let old = self.fpu.xmm.regs[d];
            self.fpu.xmm.regs[d] = if high {
                (old & LOW64) | (v << 64)
            } else {
                (old & !LOW64) | v
            };
            Ok(())
        } else {
            let v = self.fpu.xmm.regs[Self::xmm_of(i, 1)];
            self.write_vec(bus, i, 0, if high { v >> 64 } else { v & LOW64 })
        }
    }

    /// MOVD/MOVQ with an XMM operand, MOVQ2DQ and MOVDQ2Q: loads into XMM zero-extend, stores take the low part.
    fn sse_movd_movq<B: Bus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let size = if i.mnemonic() == M::Movd { 4 } else { 8 };
        let m = (1u128 << (8 * size)) - 1;
        let v = self.read_vec(bus, i, 1)? & m;
        if i.op0_kind() == OpKind::Register && i.op0_register().is_gpr32() {
            self.set_reg(i.op0_register(), v as u64);
            return Ok(());
        }
        self.write_vec(bus, i, 0, v)
    }

    /// MASKMOVDQU/MASKMOVQ: stores the bytes of the first operand whose mask byte has its top bit set, at DS:rDI.
    fn maskmov<B: Bus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        let (data, mask, bytes) = if i.mnemonic() == M::Maskmovdqu {
            let d = self.fpu.xmm.regs[xmm_index(i.op1_register())];
            let m = self.fpu.xmm.regs[xmm_index(i.op2_register())];
            (d, m, 16)
        } else {
            let d = u128::from(self.mm(super::mm_index(i.op1_register())));
            let m = u128::from(self.mm(super::mm_index(i.op2_register())));
            (d, m, 8)
        };
        let addr_mask = match i.op0_kind() {
            OpKind::MemorySegDI => 0xFFFF,
            OpKind::MemorySegEDI => 0xFFFF_FFFF,
            _ => u64::MAX,
        };
        let seg = SegReg::from_iced(i.memory_segment()).unwrap_or(SegReg::Ds);
        let base = self.state.gpr[7] & addr_mask;
        for k in 0..bytes {
            if lane(mask, 8, k) & 0x80 != 0 {
                self.write_mem(
                    bus,
                    seg,
                    base.wrapping_add(u64::from(k)) & addr_mask,
                    1,
                    lane(data, 8, k),
                )?;
            }
        }
        Ok(())
    }
}
