//! What to do with each guest instruction: run it on the host as itself ([`Native`]), end the block with a direct
//! branch, or call out to the CPU's one-instruction step. Nothing is unsupported: whatever is not translated is a
//! callout, so everything that runs under the interpreter runs under the translator.

use crate::mode::Mode;
use crate::regs::{self, RegSet};
use iced_x86::{
    Code, EncodingKind, FlowControl, Instruction, InstructionInfoFactory, Mnemonic as M, OpAccess,
    OpKind, Register,
};
use vx86_cpu::flags::{self, ARITH};
use vx86_cpu::{Cpu, SegReg};

/// How one guest instruction is translated.
#[derive(Clone, Debug)]
pub enum Plan {
    /// It runs on the host as itself.
    Native(Native),
    /// A relative JMP or Jcc: the block ends in exits to its targets.
    DirectBranch,
    /// A Jcc in the middle of a loop joined from two blocks (see `loops.rs`): one way goes on with the next site
    /// (the taken one when `continue_taken`), the other leaves the block.
    InnerBranch {
        /// The taken way goes on in the block.
        continue_taken: bool,
    },
    /// A JMP whose target's code follows it in the block (see `follow.rs`): no code.
    Followed,
    /// A 64-bit RET from a CALL followed earlier in the block, with nothing in between that could change the
    /// return-address slot or RSP (see `follow.rs`): it releases the slot without reading it, then the block goes
    /// on with the code at `to` when `goes_on`, else leaves for it.
    KnownReturn {
        /// The return address the CALL pushed.
        to: u64,
        /// The code at `to` follows in the block.
        goes_on: bool,
    },
    /// A 64-bit stack operation on the guest stack through the TLB.
    Stack(StackOp),
    /// A 64-bit JMP through a register or a memory operand (read through the TLB): the block ends there.
    IndirectJump(Option<MemOperand>),
    /// BSF or BSR into a register (operand size in bytes): only ZF changes, and a zero source leaves the
    /// destination alone, as the interpreter does.
    BitScan {
        /// Destination register.
        dst: u8,
        /// The source.
        src: Source,
        /// Operand size in bytes.
        size: u32,
    },
    /// CLI at CPL 0: clears IF (never a reason to look at interrupts).
    ClearInterrupts,
    /// RDTSC, or RDTSCP (`aux`: ECX gets TSC_AUX too), at CPL 0 (where CR4.TSD cannot make it fault): EDX:EAX
    /// from a short callout.
    ReadTsc {
        /// RDTSCP.
        aux: bool,
    },
    /// MOV of a segment selector into a register (its number; size in bytes: 2 keeps the upper bits, 4 and 8
    /// zero-extend).
    ReadSelector {
        /// Destination register.
        dst: u8,
        /// The segment register.
        seg: SegReg,
        /// Operand size in bytes.
        size: u32,
    },
    /// Unsigned 32- or 64-bit DIV (size in bytes), with its #DE (a zero divisor, a quotient that does not fit)
    /// left to the step. The flags stay as they were, as the interpreter leaves them.
    Divide {
        /// The divisor.
        divisor: Source,
        /// Operand size in bytes.
        size: u32,
    },
    /// REP STOS or REP MOVS with 64-bit addresses and no FS or GS base (element size in bytes): run by the
    /// host's own REP when every element lies in one page the TLB serves (see `emit::rep_string`), else in the
    /// step.
    RepString {
        /// MOVS (else STOS).
        moves: bool,
        /// Element size in bytes.
        size: u32,
    },
    /// The CPU's one-instruction step runs it.
    Callout,
}

/// A source operand read by an instruction the emitter runs by hand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A general-purpose register (its number).
    Reg(u8),
    /// Memory, read through the TLB.
    Mem(MemOperand),
}

/// The stack operations translated natively (64-bit mode, 8-byte slots).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackOp {
    /// PUSH of a register (its number).
    Push(u8),
    /// POP into a register (its number).
    Pop(u8),
    /// CALL to a relative target: pushes the return address and ends the block.
    CallRel,
    /// RET, releasing this many more bytes: pops the target and ends the block.
    Ret(u16),
    /// CALL through a register (its number): pushes the return address and ends the block.
    CallReg(u8),
    /// CALL through a memory operand (read through the TLB): pushes the return address and ends the block.
    CallMem(MemOperand),
    /// PUSHFQ: RFLAGS with the guest's arithmetic flags, RF and VM clear.
    PushFlags,
    /// PUSH of an immediate (sign-extended to 64 bits).
    PushImm(i64),
}

/// A guest memory operand, for the inline TLB lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemOperand {
    /// Bytes accessed.
    pub size: u32,
    /// The access writes (read-modify-write included).
    pub write: bool,
    /// Add this segment's base (FS or GS) at run time.
    pub add_base: Option<SegReg>,
    /// The address wraps at 4 GiB.
    pub wrap32: bool,
}

/// An instruction that runs on the host.
#[derive(Clone, Debug)]
pub struct Native {
    /// Guest registers it reads or writes (each is loaded into the host register of its number, or a renamed one).
    pub used: RegSet,
    /// Guest registers it writes (stored back afterwards).
    pub written: RegSet,
    /// Guest registers whose value it needs (`used` but for those it only overwrites whole: a 32- or 64-bit
    /// destination, which the host zero-extends as the guest does), loaded before it runs.
    pub loaded: RegSet,
    /// Its memory operand, if it accesses memory.
    pub memory: Option<MemOperand>,
    /// It computes an address without accessing memory (LEA).
    pub lea: bool,
    /// It needs the guest's flags in the host's RFLAGS (it reads them, or writes only some of them).
    pub needs_flags: bool,
    /// It writes arithmetic flags.
    pub writes_flags: bool,
    /// It names AH, CH, DH or BH.
    pub high_byte: bool,
    /// XMM registers (bit per number) whose value it needs, loaded into the host's XMM register of the same
    /// number before it runs.
    pub xmm_loaded: u16,
    /// XMM registers it writes, stored back to the guest's afterwards.
    pub xmm_written: u16,
    /// Its 16-byte memory operand must be aligned (else #GP, which the step raises).
    pub align16: bool,
    /// A shift whose AF and OF the host sets otherwise than the interpreter: fixed after it runs (see
    /// `host_flags`).
    pub shift_fix: Option<ShiftFix>,
}

/// How a shift's AF and OF, or a rotate's OF, are made the interpreter's on a host that sets them otherwise: a
/// shift sets AF, and OF is that of the final one-bit step (SHL: the result's sign XOR CF; SHR: the operand's
/// sign for a count of one, else 0; SAR: 0; ROL: the result's sign XOR CF, its lowest bit; ROR: the result's top
/// two bits XORed). A count that is zero once masked leaves every flag alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShiftFix {
    /// Which shift.
    pub kind: ShiftKind,
    /// Its count.
    pub count: ShiftCount,
}

/// The shifts [`ShiftFix`] covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShiftKind {
    /// SHL (SAL).
    Left,
    /// SHR.
    Right,
    /// SAR.
    Arithmetic,
    /// ROL or ROR (`left`) by more than one, of a register of `width` bits.
    Rotate {
        /// ROL.
        left: bool,
        /// The destination's guest register (its number).
        dst: u8,
        /// The destination's width in bits.
        width: u8,
    },
}

/// A fixed shift's count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShiftCount {
    /// An immediate that is 1 once masked.
    One,
    /// An immediate above 1 once masked, below the operand's width.
    Several,
    /// CL, masked with this (31 or 63), below the operand's width (32- and 64-bit operands only).
    Cl(u8),
}

/// Integer instructions that run natively when their operands allow. Left out on purpose: RCL/RCR, SHLD/SHRD and
/// BSF/BSR, whose flags Intel leaves undefined where the interpreter documents a choice of its own that the host's
/// ALU does not make (the step keeps the engines identical); DIV/IDIV, whose #DE must be the guest's.
fn translatable(m: M) -> bool {
    matches!(
        m,
        M::Mov
            | M::Movzx
            | M::Movsx
            | M::Movsxd
            | M::Lea
            | M::Add
            | M::Adc
            | M::Sub
            | M::Sbb
            | M::Cmp
            | M::And
            | M::Or
            | M::Xor
            | M::Test
            | M::Inc
            | M::Dec
            | M::Neg
            | M::Not
            | M::Shl
            | M::Sal
            | M::Shr
            | M::Sar
            | M::Rol
            | M::Ror
            | M::Imul
            | M::Mul
            | M::Bt
            | M::Bts
            | M::Btr
            | M::Btc
            | M::Bswap
            | M::Pause
            | M::Serialize
            | M::Lfence
            | M::Sfence
            | M::Mfence
            | M::Xchg
            | M::Xadd
            | M::Cmpxchg
            | M::Cbw
            | M::Cwde
            | M::Cdqe
            | M::Cwd
            | M::Cdq
            | M::Cqo
            | M::Clc
            | M::Stc
            | M::Cmc
            | M::Nop
            | M::Prefetcht0
            | M::Prefetcht1
            | M::Prefetcht2
            | M::Prefetchnta
            | M::Prefetchw
            | M::Seto
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
            | M::Cmovg
    )
}

/// SSE and SSE2 instructions that run natively (when the mode lets SSE run at all): moves, logic and integer
/// arithmetic, whose results the host computes bit for bit (MOVSD here is SSE2's scalar move: the string
/// instruction of that name has operands [`native`] refuses). Floating-point arithmetic, conversions and compares
/// are left to the step: their results and MXCSR's sticky flags depend on the guest's MXCSR.
fn simd_translatable(m: M) -> bool {
    matches!(
        m,
        M::Movaps
            | M::Movups
            | M::Movapd
            | M::Movupd
            | M::Movdqa
            | M::Movdqu
            | M::Movss
            | M::Movsd
            | M::Movd
            | M::Movq
            | M::Movntdq
            | M::Movntps
            | M::Movntpd
            | M::Pxor
            | M::Por
            | M::Pand
            | M::Pandn
            | M::Xorps
            | M::Xorpd
            | M::Andps
            | M::Andpd
            | M::Andnps
            | M::Andnpd
            | M::Orps
            | M::Orpd
            | M::Pcmpeqb
            | M::Pcmpeqw
            | M::Pcmpeqd
            | M::Pcmpgtb
            | M::Pcmpgtw
            | M::Pcmpgtd
            | M::Pmovmskb
            | M::Movmskps
            | M::Movmskpd
            | M::Punpcklbw
            | M::Punpcklwd
            | M::Punpckldq
            | M::Punpcklqdq
            | M::Punpckhbw
            | M::Punpckhwd
            | M::Punpckhdq
            | M::Punpckhqdq
            | M::Pshufd
            | M::Pshuflw
            | M::Pshufhw
            | M::Paddb
            | M::Paddw
            | M::Paddd
            | M::Paddq
            | M::Psubb
            | M::Psubw
            | M::Psubd
            | M::Psubq
            | M::Pminub
            | M::Pmaxub
            | M::Pminsw
            | M::Pmaxsw
            | M::Psubusb
            | M::Psubusw
            | M::Paddusb
            | M::Paddusw
            | M::Pslldq
            | M::Psrldq
            | M::Psllw
            | M::Pslld
            | M::Psllq
            | M::Psrlw
            | M::Psrld
            | M::Psrlq
            | M::Psraw
            | M::Psrad
    )
}

/// Unaligned SSE moves: every other legacy SSE instruction's 16-byte memory operand must be aligned.
fn simd_unaligned_ok(m: M) -> bool {
    matches!(m, M::Movups | M::Movupd | M::Movdqu)
}

/// Instructions with no architectural effect beyond RIP: NOP (in every length) and the prefetch hints.
pub fn does_nothing(m: M) -> bool {
    matches!(
        m,
        M::Nop
            | M::Serialize
            | M::Lfence
            | M::Sfence
            | M::Mfence
            | M::Prefetcht0
            | M::Prefetcht1
            | M::Prefetcht2
            | M::Prefetchnta
            | M::Prefetchw
    )
}

/// Shifts and rotates leave the flags alone when their masked count is zero, so the host must start from the
/// guest's flags unless the count is an immediate that is nonzero once masked.
fn count_may_be_zero(i: &Instruction) -> bool {
    let shift = matches!(
        i.mnemonic(),
        M::Shl | M::Sal | M::Shr | M::Sar | M::Rol | M::Ror | M::Rcl | M::Rcr | M::Shld | M::Shrd
    );
    let count = (0..i.op_count()).find_map(|k| match i.op_kind(k) {
        OpKind::Immediate8 => Some(u32::from(i.immediate8())),
        OpKind::Immediate8_2nd => Some(u32::from(i.immediate8_2nd())),
        _ => None,
    });
    let mask = if i.op0_register().size() == 8 || i.memory_size().size() == 8 {
        63
    } else {
        31
    };
    shift && count.is_none_or(|c| c & mask == 0)
}

/// Whether `i` is a relative JMP or Jcc (not JCXZ or LOOP, which read a counter): a [`Plan::DirectBranch`].
pub fn is_direct_branch(i: &Instruction) -> bool {
    matches!(
        i.flow_control(),
        FlowControl::UnconditionalBranch | FlowControl::ConditionalBranch
    ) && matches!(
        i.op0_kind(),
        OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64
    ) && !matches!(
        i.mnemonic(),
        M::Jcxz | M::Jecxz | M::Jrcxz | M::Loop | M::Loope | M::Loopne
    )
}

/// Decides how to translate `i` in `mode`.
pub fn plan(i: &Instruction, mode: &Mode, info: &mut InstructionInfoFactory) -> Plan {
    if is_direct_branch(i) {
        return Plan::DirectBranch;
    }
    if mode.bitness == 64 {
        let op = match i.code() {
            Code::Push_r64 => Some(StackOp::Push(regs::number(i.op0_register()))),
            Code::Pop_r64 => Some(StackOp::Pop(regs::number(i.op0_register()))),
            Code::Call_rel32_64 => Some(StackOp::CallRel),
            Code::Call_rm64 if i.op0_kind() == OpKind::Register => {
                Some(StackOp::CallReg(regs::number(i.op0_register())))
            }
            // The target is only read (iced counts the CALL's push among its memory writes).
            Code::Call_rm64 => {
                memory_operand(i, mode, &info.info(i).clone(), false).map(|target| {
                    StackOp::CallMem(MemOperand {
                        write: false,
                        ..target
                    })
                })
            }
            Code::Pushq_imm32 | Code::Pushq_imm8 => Some(StackOp::PushImm(i.immediate(0) as i64)),
            Code::Pushfq => Some(StackOp::PushFlags),
            Code::Retnq => Some(StackOp::Ret(0)),
            Code::Retnq_imm16 => Some(StackOp::Ret(i.immediate16())),
            _ => None,
        };
        if let Some(op) = op {
            return Plan::Stack(op);
        }
        if let Some(string) = rep_string(i) {
            return string;
        }
        if i.code() == Code::Jmp_rm64 {
            if i.op0_kind() == OpKind::Register {
                return Plan::IndirectJump(None);
            }
            if let Some(mem) = memory_operand(i, mode, &info.info(i).clone(), false) {
                return Plan::IndirectJump(Some(mem));
            }
        }
    }
    if let Some(special) = special(i, mode, info) {
        return special;
    }
    match native(i, mode, info) {
        Some(n) => Plan::Native(n),
        None => Plan::Callout,
    }
}

/// REP STOS and REP MOVS (F3, not F2) with 64-bit addresses and no FS or GS override (64-bit code: the other
/// segments have no base): [`Plan::RepString`].
fn rep_string(i: &Instruction) -> Option<Plan> {
    let (moves, size) = match i.mnemonic() {
        M::Stosb => (false, 1),
        M::Stosw => (false, 2),
        M::Stosd => (false, 4),
        M::Stosq => (false, 8),
        M::Movsb => (true, 1),
        M::Movsw => (true, 2),
        M::Movsd if i.op_count() == 2 && i.op0_kind() == OpKind::MemoryESRDI => (true, 4),
        M::Movsq => (true, 8),
        _ => return None,
    };
    let flat = !matches!(i.segment_prefix(), Register::FS | Register::GS);
    let rdi = matches!(i.op0_kind(), OpKind::MemoryESRDI);
    (i.has_rep_prefix() && !i.has_repne_prefix() && flat && rdi)
        .then_some(Plan::RepString { moves, size })
}

/// In 64-bit code: BSF/BSR, 32- and 64-bit DIV (from a register or memory) and MOV from a segment register, when
/// no register operand needs renaming on the host; CLI, RDTSC and RDTSCP at CPL 0.
fn special(i: &Instruction, mode: &Mode, info: &mut InstructionInfoFactory) -> Option<Plan> {
    match i.mnemonic() {
        M::Cli if mode.kernel => return Some(Plan::ClearInterrupts),
        M::Rdtsc if mode.kernel => return Some(Plan::ReadTsc { aux: false }),
        M::Rdtscp if mode.kernel => return Some(Plan::ReadTsc { aux: true }),
        _ => {}
    }
    if mode.bitness != 64 {
        return None;
    }
    let plain =
        |r: Register| r.is_gpr() && !regs::is_high_byte(r) && !regs::needs_rename(regs::number(r));
    let mut source = |k: u32| match i.op_kind(k) {
        OpKind::Register if plain(i.op_register(k)) => {
            Some(Source::Reg(regs::number(i.op_register(k))))
        }
        OpKind::Memory => memory_operand(i, mode, &info.info(i).clone(), false).map(Source::Mem),
        _ => None,
    };
    if i.mnemonic() == M::Div {
        let size = match i.op0_kind() {
            OpKind::Register => i.op0_register().size(),
            _ => i.memory_size().size(),
        } as u32;
        return match size {
            4 | 8 => Some(Plan::Divide {
                divisor: source(0)?,
                size,
            }),
            _ => None,
        };
    }
    let r0 = i.op0_register();
    if i.op0_kind() != OpKind::Register || !plain(r0) {
        return None;
    }
    if matches!(
        i.code(),
        Code::Mov_rm16_Sreg | Code::Mov_r32m16_Sreg | Code::Mov_r64m16_Sreg
    ) {
        return Some(Plan::ReadSelector {
            dst: regs::number(r0),
            seg: SegReg::from_iced(i.op1_register())?,
            size: r0.size() as u32,
        });
    }
    match i.mnemonic() {
        M::Bsf | M::Bsr => Some(Plan::BitScan {
            dst: regs::number(r0),
            src: source(1)?,
            size: r0.size() as u32,
        }),
        _ => None,
    }
}

fn native(i: &Instruction, mode: &Mode, factory: &mut InstructionInfoFactory) -> Option<Native> {
    let simd = mode.sse && i.encoding() == EncodingKind::Legacy && simd_translatable(i.mnemonic());
    if !(simd || translatable(i.mnemonic())) {
        return None;
    }
    // REP and REPNE are part of the opcode of some SSE instructions (MOVDQU is F3 0F 6F), so iced reports them
    // only where they are prefixes.
    if i.has_rep_prefix() || i.has_repne_prefix() {
        return None;
    }
    if does_nothing(i.mnemonic()) {
        // Multi-byte NOPs name a memory operand they never access, and prefetches never fault: nothing to do.
        return Some(Native {
            used: RegSet::default(),
            written: RegSet::default(),
            loaded: RegSet::default(),
            memory: None,
            lea: false,
            needs_flags: false,
            writes_flags: false,
            high_byte: false,
            xmm_loaded: 0,
            xmm_written: 0,
            align16: false,
            shift_fix: None,
        });
    }
    // BT* with a register bit offset may address memory beyond the operand; leave those to the step.
    if matches!(i.mnemonic(), M::Bt | M::Bts | M::Btr | M::Btc)
        && i.op0_kind() == OpKind::Memory
        && i.op1_kind() == OpKind::Register
    {
        return None;
    }
    let mut memory_ops = 0;
    let mut high_byte = false;
    for n in 0..i.op_count() {
        match i.op_kind(n) {
            OpKind::Register => {
                let r = i.op_register(n);
                if !(r.is_gpr() || simd && r.is_xmm()) {
                    return None;
                }
                high_byte |= regs::is_high_byte(r);
            }
            OpKind::Memory => memory_ops += 1,
            OpKind::Immediate8
            | OpKind::Immediate16
            | OpKind::Immediate32
            | OpKind::Immediate64
            | OpKind::Immediate8to16
            | OpKind::Immediate8to32
            | OpKind::Immediate8to64
            | OpKind::Immediate32to64 => {}
            _ => return None,
        }
    }
    let info = factory.info(i);
    let mut used = RegSet::default();
    let mut written = RegSet::default();
    let mut loaded = RegSet::default();
    let (mut xmm_loaded, mut xmm_written) = (0u16, 0u16);
    for u in info.used_registers() {
        let r = u.register();
        if r.is_segment_register() {
            continue;
        }
        if simd && r.is_xmm() {
            let bit = 1u16 << (r as u32 - Register::XMM0 as u32);
            if u.access() != OpAccess::Write {
                xmm_loaded |= bit;
            }
            if u.access() != OpAccess::Read {
                xmm_written |= bit;
            }
            continue;
        }
        if !r.is_gpr() {
            return None;
        }
        let n = regs::number(r);
        let address_only = memory_ops > 0
            && u.access() == OpAccess::Read
            && (r == i.memory_base() || r == i.memory_index())
            && !(0..i.op_count())
                .any(|k| i.op_kind(k) == OpKind::Register && regs::number(i.op_register(k)) == n);
        if address_only {
            // The address is computed from CpuState directly.
            continue;
        }
        used.insert(n);
        if u.access() != OpAccess::Write || r.size() < 4 {
            loaded.insert(n);
        }
        if matches!(
            u.access(),
            OpAccess::Write | OpAccess::ReadWrite | OpAccess::CondWrite | OpAccess::ReadCondWrite
        ) {
            written.insert(n);
        }
    }
    let lea = i.mnemonic() == M::Lea;
    let memory = if memory_ops == 0 || lea {
        None
    } else {
        let mem = memory_operand(i, mode, info, simd)?;
        Some(mem)
    };
    let align16 = memory.is_some_and(|m| m.size == 16) && !simd_unaligned_ok(i.mnemonic());
    if lea && (mode.bitness == 16 || Cpu::address_size(i) == 2) {
        return None;
    }
    let modified = flags::arith_from_iced(i.rflags_modified());
    let read = flags::arith_from_iced(i.rflags_read());
    let shift_fix = if crate::host_flags::shifts_match_the_interpreter() {
        None
    } else {
        shift_fix(i)?
    };
    Some(Native {
        used,
        written,
        loaded,
        memory,
        lea,
        needs_flags: read != 0 || (modified != 0 && modified != ARITH) || count_may_be_zero(i),
        writes_flags: modified != 0,
        high_byte,
        xmm_loaded,
        xmm_written,
        align16,
        shift_fix,
    })
}

/// For a host whose shifts and rotates set AF and OF otherwise than the interpreter: how to fix `i`'s (`Some(None)`
/// when nothing needs fixing), or `None` when it must run in the CPU's step (a rotate by more than one or by CL, a
/// shift by CL of an 8- or 16-bit operand, a count beyond an 8- or 16-bit operand's width).
fn shift_fix(i: &Instruction) -> Option<Option<ShiftFix>> {
    let kind = match i.mnemonic() {
        M::Shl | M::Sal => ShiftKind::Left,
        M::Shr => ShiftKind::Right,
        M::Sar => ShiftKind::Arithmetic,
        M::Rol | M::Ror => {
            // A rotate leaves AF alone; its OF is the host's for a count of 0 or 1, and otherwise follows from the
            // result in a register (not AH..BH, whose host register holds other bits too).
            let dst = i.op0_register();
            let count = match i.op1_kind() {
                OpKind::Immediate8 => i.immediate8() & if dst.size() == 8 { 63 } else { 31 },
                _ => return None,
            };
            if count <= 1 {
                return Some(None);
            }
            if i.op0_kind() != OpKind::Register || regs::is_high_byte(dst) {
                return None;
            }
            let kind = ShiftKind::Rotate {
                left: i.mnemonic() == M::Rol,
                dst: regs::number(dst),
                width: 8 * dst.size() as u8,
            };
            return Some(Some(ShiftFix {
                kind,
                count: ShiftCount::Several,
            }));
        }
        _ => return Some(None),
    };
    let width = if i.op0_kind() == OpKind::Register {
        i.op0_register().size()
    } else {
        i.memory_size().size()
    } as u32
        * 8;
    let mask = if width == 64 { 63 } else { 31 };
    let count = match i.op1_kind() {
        OpKind::Immediate8 => match u32::from(i.immediate8()) & mask {
            0 => return Some(None),
            1 => ShiftCount::One,
            c if c < width => ShiftCount::Several,
            _ => return None,
        },
        _ if width >= 32 => ShiftCount::Cl(mask as u8),
        _ => return None,
    };
    Some(Some(ShiftFix { kind, count }))
}

fn memory_operand(
    i: &Instruction,
    mode: &Mode,
    info: &iced_x86::InstructionInfo,
    simd: bool,
) -> Option<MemOperand> {
    let address_size = Cpu::address_size(i);
    if address_size == 2 || mode.bitness == 16 {
        return None;
    }
    let seg = SegReg::from_iced(i.memory_segment())?;
    let add_base = match seg {
        SegReg::Fs | SegReg::Gs => Some(seg),
        _ => None,
    };
    if mode.bitness != 64 && !mode.flat(seg) {
        return None;
    }
    let size = i.memory_size().size() as u32;
    if !(matches!(size, 1 | 2 | 4 | 8) || simd && size == 16) {
        return None;
    }
    let write = info.used_memory().iter().any(|m| {
        matches!(
            m.access(),
            OpAccess::Write | OpAccess::ReadWrite | OpAccess::CondWrite | OpAccess::ReadCondWrite
        )
    });
    Some(MemOperand {
        size,
        write,
        add_base,
        wrap32: address_size == 4 || mode.bitness == 32,
    })
}

/// The host form of INC/DEC r16/r32 (the one-byte 0x40..0x4F forms do not exist in 64-bit mode).
pub fn host_code(code: Code) -> Code {
    match code {
        Code::Inc_r16 => Code::Inc_rm16,
        Code::Inc_r32 => Code::Inc_rm32,
        Code::Dec_r16 => Code::Dec_rm16,
        Code::Dec_r32 => Code::Dec_rm32,
        other => other,
    }
}
