//! SIMD state and ordering instructions without vector register operands: LDMXCSR/STMXCSR, FXSAVE/FXRSTOR (and
//! the 64-bit forms), SFENCE/LFENCE/MFENCE, CLFLUSH, PREFETCHh and MOVNTI.

use crate::bus::Bus;
use crate::fault::Fault;
use crate::fpu::mxcsr;
use crate::state::cr0;
use crate::Cpu;
use iced_x86::{Instruction, Mnemonic as M};

impl Cpu {
    pub(in crate::exec) fn exec_sse_control<B: Bus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Result<(), Fault> {
        match i.mnemonic() {
            M::Ldmxcsr => {
                self.sse_available()?;
                let (seg, ea) = self.mem_operand(i);
                let v = self.read_mem(bus, seg, ea, 4)? as u32;
                if v & !mxcsr::WRITABLE != 0 {
                    return Err(Fault::GeneralProtection(0));
                }
                self.fpu.xmm.mxcsr = v;
                Ok(())
            }
            M::Stmxcsr => {
                self.sse_available()?;
                let (seg, ea) = self.mem_operand(i);
                self.write_mem(bus, seg, ea, 4, u64::from(self.fpu.xmm.mxcsr))
            }
            M::Fxsave | M::Fxsave64 | M::Fxrstor | M::Fxrstor64 => {
                if self.state.cr0 & (cr0::TS | cr0::EM) != 0 {
                    return Err(Fault::DeviceNotAvailable);
                }
                let (seg, ea) = self.mem_operand(i);
                self.check_align(seg, ea, 16)?;
                let wide = matches!(i.mnemonic(), M::Fxsave64 | M::Fxrstor64);
                let xmm_count = if self.state.code_bitness() == 64 {
                    16
                } else {
                    8
                };
                if matches!(i.mnemonic(), M::Fxsave | M::Fxsave64) {
                    let image = self.fpu.fxsave(wide, xmm_count);
                    self.write_block(bus, seg, ea, &image)
                } else {
                    let mut image = [0u8; 512];
                    self.read_block(bus, seg, ea, &mut image)?;
                    self.fpu
                        .fxrstor(&image, wide, xmm_count)
                        .map_err(|()| Fault::GeneralProtection(0))
                }
            }
            M::Emms => self.emms(),
            M::Sfence | M::Lfence | M::Mfence => Ok(()),
            M::Prefetchnta | M::Prefetcht0 | M::Prefetcht1 | M::Prefetcht2 => Ok(()),
            M::Clflush => {
                let (seg, ea) = self.mem_operand(i);
                self.read_mem(bus, seg, ea, 1).map(|_| ())
            }
            M::Movnti => {
                let size = i.op1_register().size();
                let v = self.reg(i.op1_register());
                let (seg, ea) = self.mem_operand(i);
                self.write_mem(bus, seg, ea, size, v)
            }
            _ => Err(self.unimplemented(i)),
        }
    }
}
