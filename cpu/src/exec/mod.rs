//! Instruction semantics, grouped by class (one file each). `execute` routes a decoded instruction to its class;
//! each class file matches on the mnemonic (or the exact `Code` where forms differ).
//!
//! Conventions for handlers: RIP already points at the next instruction; do every check and read that can fault
//! before the first write to architectural state, so a fault leaves the instruction's start state (the run loop
//! restores RIP).

mod arith;
mod bcd;
mod bit;
mod control;
mod descriptors;
mod far;
pub(crate) mod fast;
mod logic;
mod mmx;
mod shift;
mod sse;
mod string;
mod syscall;
mod system;
mod x87;
mod xfer;

use crate::bus::Bus;
use crate::fault::Fault;
use crate::Cpu;
use iced_x86::{Instruction, Mnemonic as M};

impl Cpu {
    /// Executes one decoded instruction.
    #[inline]
    pub(crate) fn execute<B: Bus>(&mut self, bus: &mut B, i: &Instruction) -> Result<(), Fault> {
        match i.mnemonic() {
            _ if sse::is_fpu_or_simd(i) => self.exec_fpu_simd(bus, i),
            M::Mov
            | M::Movzx
            | M::Movsx
            | M::Lea
            | M::Xchg
            | M::Push
            | M::Pop
            | M::Pusha
            | M::Pushad
            | M::Popa
            | M::Popad
            | M::Cbw
            | M::Cwde
            | M::Cwd
            | M::Cdq
            | M::Cdqe
            | M::Cqo
            | M::Movsxd
            | M::Lahf
            | M::Sahf
            | M::Xlatb
            | M::Lds
            | M::Les
            | M::Lfs
            | M::Lgs
            | M::Lss
            | M::Enter
            | M::Leave
            | M::Nop
            | M::Cmc
            | M::Clc
            | M::Stc
            | M::Cld
            | M::Std
            | M::Bswap
            | M::Pause
            | M::Serialize
            | M::Prefetch
            | M::Prefetchnta
            | M::Prefetcht0
            | M::Prefetcht1
            | M::Prefetcht2
            | M::Prefetchw
            | M::Prefetchwt1
            | M::Endbr32
            | M::Endbr64
            | M::Salc
            | M::Wait => self.exec_xfer(bus, i),
            M::Add
            | M::Adc
            | M::Sub
            | M::Sbb
            | M::Cmp
            | M::Inc
            | M::Dec
            | M::Neg
            | M::Mul
            | M::Imul
            | M::Div
            | M::Idiv
            | M::Xadd
            | M::Cmpxchg
            | M::Cmpxchg8b
            | M::Cmpxchg16b => self.exec_arith(bus, i),
            M::And | M::Or | M::Xor | M::Not | M::Test => self.exec_logic(bus, i),
            M::Shl
            | M::Sal
            | M::Shr
            | M::Sar
            | M::Rol
            | M::Ror
            | M::Rcl
            | M::Rcr
            | M::Shld
            | M::Shrd => self.exec_shift(bus, i),
            M::Bt | M::Bts | M::Btr | M::Btc | M::Bsf | M::Bsr => self.exec_bit(bus, i),
            M::Seto
            | M::Setno
            | M::Setb
            | M::Setae
            | M::Sete
            | M::Setne
            | M::Setbe
            | M::Seta
            | M::Sets
            | M::Setns
            | M::Setp
            | M::Setnp
            | M::Setl
            | M::Setge
            | M::Setle
            | M::Setg
            | M::Cmovo
            | M::Cmovno
            | M::Cmovb
            | M::Cmovae
            | M::Cmove
            | M::Cmovne
            | M::Cmovbe
            | M::Cmova
            | M::Cmovs
            | M::Cmovns
            | M::Cmovp
            | M::Cmovnp
            | M::Cmovl
            | M::Cmovge
            | M::Cmovle
            | M::Cmovg => self.exec_bit(bus, i),
            M::Daa | M::Das | M::Aaa | M::Aas | M::Aam | M::Aad => self.exec_bcd(i),
            M::Movsb
            | M::Movsw
            | M::Movsd
            | M::Cmpsb
            | M::Cmpsw
            | M::Cmpsd
            | M::Stosb
            | M::Stosw
            | M::Stosd
            | M::Lodsb
            | M::Lodsw
            | M::Lodsd
            | M::Scasb
            | M::Scasw
            | M::Scasd
            | M::Insb
            | M::Insw
            | M::Insd
            | M::Outsb
            | M::Outsw
            | M::Outsd
            | M::Movsq
            | M::Cmpsq
            | M::Stosq
            | M::Lodsq
            | M::Scasq => self.exec_string(bus, i),
            M::Jo
            | M::Jno
            | M::Jb
            | M::Jae
            | M::Je
            | M::Jne
            | M::Jbe
            | M::Ja
            | M::Js
            | M::Jns
            | M::Jp
            | M::Jnp
            | M::Jl
            | M::Jge
            | M::Jle
            | M::Jg
            | M::Jmp
            | M::Call
            | M::Ret
            | M::Loop
            | M::Loope
            | M::Loopne
            | M::Jcxz
            | M::Jecxz
            | M::Jrcxz
            | M::Int
            | M::Int3
            | M::Into
            | M::Int1
            | M::Bound => self.exec_control(bus, i),
            M::Retf | M::Iret | M::Iretd | M::Iretq => self.exec_far(bus, i),
            M::Syscall | M::Sysret | M::Sysretq | M::Swapgs | M::Rdtscp => {
                self.exec_syscall(bus, i)
            }
            M::Lar | M::Lsl | M::Verr | M::Verw | M::Arpl => self.exec_descriptors(bus, i),
            _ => self.exec_system(bus, i),
        }
    }
}
