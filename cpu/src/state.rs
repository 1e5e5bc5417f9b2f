//! Architectural register state of one x86 CPU.
//!
//! `CpuState` is `#[repr(C)]` and its field offsets are public constants, so generated host code (the translator)
//! can address guest registers directly.

use crate::flags::FLAGS_FIXED_ONE;

/// Index of a segment register in [`CpuState::segs`], in the x86 encoding order (ES, CS, SS, DS, FS, GS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum SegReg {
    /// Extra segment.
    Es = 0,
    /// Code segment.
    Cs = 1,
    /// Stack segment.
    Ss = 2,
    /// Data segment.
    Ds = 3,
    /// FS.
    Fs = 4,
    /// GS.
    Gs = 5,
}

impl SegReg {
    /// All six segment registers in encoding order.
    pub const ALL: [SegReg; 6] = [
        SegReg::Es,
        SegReg::Cs,
        SegReg::Ss,
        SegReg::Ds,
        SegReg::Fs,
        SegReg::Gs,
    ];

    /// The segment register named by an iced-x86 register, if it is one.
    pub fn from_iced(reg: iced_x86::Register) -> Option<SegReg> {
        use iced_x86::Register as R;
        Some(match reg {
            R::ES => SegReg::Es,
            R::CS => SegReg::Cs,
            R::SS => SegReg::Ss,
            R::DS => SegReg::Ds,
            R::FS => SegReg::Fs,
            R::GS => SegReg::Gs,
            _ => return None,
        })
    }
}

/// Descriptor attribute bits as kept in a segment cache, laid out like bits 8..23 of a descriptor's high dword
/// (type in 0..3, S in 4, DPL in 5..6, P in 7, AVL in 12, L in 13, D/B in 14, G in 15).
pub mod attr {
    /// Accessed bit of the type field.
    pub const ACCESSED: u16 = 1 << 0;
    /// Data: writable. Code: readable.
    pub const RW: u16 = 1 << 1;
    /// Data: expand-down. Code: conforming.
    pub const DC: u16 = 1 << 2;
    /// Code (1) or data (0) segment.
    pub const CODE: u16 = 1 << 3;
    /// Code/data (1) or system (0) descriptor.
    pub const S: u16 = 1 << 4;
    /// Shift of the descriptor privilege level.
    pub const DPL_SHIFT: u16 = 5;
    /// Present.
    pub const P: u16 = 1 << 7;
    /// 64-bit code segment.
    pub const L: u16 = 1 << 13;
    /// Default operation size 32-bit (code) / big stack (data).
    pub const DB: u16 = 1 << 14;
    /// Limit granularity 4 KiB.
    pub const G: u16 = 1 << 15;
}

/// The hidden part of a segment register (its descriptor cache) and its visible selector.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Segment {
    /// Linear base address.
    pub base: u64,
    /// Byte-granular limit (already scaled by G).
    pub limit: u32,
    /// Visible selector.
    pub selector: u16,
    /// Attribute bits, see [`attr`].
    pub attrs: u16,
}

impl Segment {
    /// A real-mode segment: base = selector * 16, 64 KiB limit, present read/write data attributes.
    pub fn real_mode(selector: u16) -> Segment {
        Segment {
            base: u64::from(selector) << 4,
            limit: 0xFFFF,
            selector,
            attrs: attr::P | attr::S | attr::RW | attr::ACCESSED,
        }
    }

    /// Descriptor privilege level.
    pub fn dpl(&self) -> u8 {
        ((self.attrs >> attr::DPL_SHIFT) & 3) as u8
    }

    /// Whether the descriptor is present.
    pub fn present(&self) -> bool {
        self.attrs & attr::P != 0
    }

    /// Whether this is a code segment.
    pub fn is_code(&self) -> bool {
        self.attrs & (attr::S | attr::CODE) == attr::S | attr::CODE
    }

    /// Whether D/B is set (32-bit default size for code, 32-bit stack pointer for stacks).
    pub fn big(&self) -> bool {
        self.attrs & attr::DB != 0
    }
}

/// A descriptor-table register (GDTR or IDTR).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct TableReg {
    /// Linear base address.
    pub base: u64,
    /// Limit in bytes (the last valid byte offset).
    pub limit: u32,
}

/// General-purpose register numbers, in the x86 encoding order.
pub mod gpr {
    /// Accumulator.
    pub const RAX: usize = 0;
    /// Counter.
    pub const RCX: usize = 1;
    /// Data.
    pub const RDX: usize = 2;
    /// Base.
    pub const RBX: usize = 3;
    /// Stack pointer.
    pub const RSP: usize = 4;
    /// Frame pointer.
    pub const RBP: usize = 5;
    /// Source index.
    pub const RSI: usize = 6;
    /// Destination index.
    pub const RDI: usize = 7;
}

/// The architectural state of one CPU.
#[derive(Clone, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct CpuState {
    /// General-purpose registers in encoding order (RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8..R15).
    pub gpr: [u64; 16],
    /// Instruction pointer.
    pub rip: u64,
    /// RFLAGS, always fully materialised.
    pub rflags: u64,
    /// Segment registers indexed by [`SegReg`].
    pub segs: [Segment; 6],
    /// Local descriptor table register.
    pub ldtr: Segment,
    /// Task register.
    pub tr: Segment,
    /// Global descriptor table register.
    pub gdtr: TableReg,
    /// Interrupt descriptor table register.
    pub idtr: TableReg,
    /// Control register 0.
    pub cr0: u64,
    /// Control register 2 (last page-fault linear address).
    pub cr2: u64,
    /// Control register 3 (page-directory base).
    pub cr3: u64,
    /// Control register 4.
    pub cr4: u64,
    /// Extended feature enable register (MSR 0xC0000080).
    pub efer: u64,
    /// Debug registers DR0..DR7 (DR4/DR5 alias DR6/DR7).
    pub dr: [u64; 8],
    /// Time-stamp counter offset: the guest's TSC is the instruction count plus this value.
    pub tsc_offset: u64,
    /// SYSENTER_CS, SYSENTER_ESP, SYSENTER_EIP MSRs.
    pub sysenter: [u64; 3],
    /// STAR: SYSCALL/SYSRET selectors.
    pub star: u64,
    /// LSTAR: the 64-bit SYSCALL entry point.
    pub lstar: u64,
    /// CSTAR: the compatibility-mode SYSCALL entry point.
    pub cstar: u64,
    /// SFMASK: RFLAGS bits cleared by SYSCALL.
    pub sfmask: u64,
    /// KERNEL_GS_BASE: exchanged with GS.base by SWAPGS.
    pub kernel_gs_base: u64,
    /// TSC_AUX: returned in ECX by RDTSCP.
    pub tsc_aux: u64,
    /// CR8: the task-priority register as seen by MOV CR8 (bits 3..0).
    pub cr8: u64,
    /// Current privilege level.
    pub cpl: u8,
    /// The CPU is halted until the next interrupt.
    pub halted: bool,
    /// Interrupts are inhibited for one instruction (after STI, MOV SS or POP SS).
    pub interrupt_shadow: bool,
    /// NMIs are blocked: one was delivered and no IRET has run since (SDM vol. 3, 6.7.1).
    pub nmi_blocked: bool,
}

/// Byte offsets of `CpuState` fields, for generated code.
pub mod offsets {
    use super::CpuState;
    use core::mem::offset_of;
    /// Offset of [`CpuState::gpr`].
    pub const GPR: usize = offset_of!(CpuState, gpr);
    /// Offset of [`CpuState::rip`].
    pub const RIP: usize = offset_of!(CpuState, rip);
    /// Offset of [`CpuState::rflags`].
    pub const RFLAGS: usize = offset_of!(CpuState, rflags);
    /// Offset of [`CpuState::segs`].
    pub const SEGS: usize = offset_of!(CpuState, segs);
    /// Offset of [`CpuState::cr0`].
    pub const CR0: usize = offset_of!(CpuState, cr0);
    /// Offset of [`CpuState::cr3`].
    pub const CR3: usize = offset_of!(CpuState, cr3);
    /// Offset of [`CpuState::cpl`].
    pub const CPL: usize = offset_of!(CpuState, cpl);
    /// Offset of [`CpuState::tsc_aux`].
    pub const TSC_AUX: usize = offset_of!(CpuState, tsc_aux);
}

/// CR0 bits.
pub mod cr0 {
    /// Protection enable.
    pub const PE: u64 = 1 << 0;
    /// Monitor coprocessor.
    pub const MP: u64 = 1 << 1;
    /// FPU emulation.
    pub const EM: u64 = 1 << 2;
    /// Task switched.
    pub const TS: u64 = 1 << 3;
    /// Extension type (always 1 on i486+).
    pub const ET: u64 = 1 << 4;
    /// Numeric error reporting.
    pub const NE: u64 = 1 << 5;
    /// Supervisor write protect.
    pub const WP: u64 = 1 << 16;
    /// Alignment mask.
    pub const AM: u64 = 1 << 18;
    /// Not write-through.
    pub const NW: u64 = 1 << 29;
    /// Cache disable.
    pub const CD: u64 = 1 << 30;
    /// Paging.
    pub const PG: u64 = 1 << 31;
}

/// CR4 bits.
pub mod cr4 {
    /// Virtual-8086 mode extensions.
    pub const VME: u64 = 1 << 0;
    /// Protected-mode virtual interrupts.
    pub const PVI: u64 = 1 << 1;
    /// RDTSC only at CPL 0.
    pub const TSD: u64 = 1 << 2;
    /// Debugging extensions.
    pub const DE: u64 = 1 << 3;
    /// 4 MiB pages in 32-bit paging.
    pub const PSE: u64 = 1 << 4;
    /// Physical address extension.
    pub const PAE: u64 = 1 << 5;
    /// Machine-check enable.
    pub const MCE: u64 = 1 << 6;
    /// Global pages.
    pub const PGE: u64 = 1 << 7;
    /// Performance counters at any CPL.
    pub const PCE: u64 = 1 << 8;
    /// FXSAVE/FXRSTOR and SSE enabled by the OS.
    pub const OSFXSR: u64 = 1 << 9;
    /// Unmasked SIMD exceptions enabled by the OS.
    pub const OSXMMEXCPT: u64 = 1 << 10;
}

/// EFER bits.
pub mod efer {
    /// SYSCALL enable.
    pub const SCE: u64 = 1 << 0;
    /// Long mode enable.
    pub const LME: u64 = 1 << 8;
    /// Long mode active.
    pub const LMA: u64 = 1 << 10;
    /// No-execute enable.
    pub const NXE: u64 = 1 << 11;
}

impl CpuState {
    /// The state after power-on or RESET (Intel SDM vol. 3, table 9-1): real mode, CS:IP = F000:FFF0 with CS base
    /// 0xFFFF0000, so the first instruction is fetched at 0xFFFFFFF0.
    pub fn reset() -> CpuState {
        let mut segs = [Segment::real_mode(0); 6];
        segs[SegReg::Cs as usize] = Segment {
            base: 0xFFFF_0000,
            limit: 0xFFFF,
            selector: 0xF000,
            attrs: attr::P | attr::S | attr::CODE | attr::RW | attr::ACCESSED,
        };
        let mut gpr = [0; 16];
        // EDX holds the processor signature after reset (family 6).
        gpr[gpr::RDX] = 0x0000_0633;
        CpuState {
            gpr,
            rip: 0xFFF0,
            rflags: FLAGS_FIXED_ONE,
            segs,
            ldtr: Segment {
                attrs: attr::P | 2,
                limit: 0xFFFF,
                ..Segment::default()
            },
            tr: Segment {
                attrs: attr::P | 0xB,
                limit: 0xFFFF,
                ..Segment::default()
            },
            gdtr: TableReg {
                base: 0,
                limit: 0xFFFF,
            },
            idtr: TableReg {
                base: 0,
                limit: 0xFFFF,
            },
            cr0: cr0::ET | cr0::CD | cr0::NW,
            cr2: 0,
            cr3: 0,
            cr4: 0,
            efer: 0,
            dr: [0, 0, 0, 0, 0xFFFF_0FF0, 0x400, 0xFFFF_0FF0, 0x400],
            tsc_offset: 0,
            sysenter: [0; 3],
            star: 0,
            lstar: 0,
            cstar: 0,
            sfmask: 0,
            kernel_gs_base: 0,
            tsc_aux: 0,
            cr8: 0,
            cpl: 0,
            halted: false,
            nmi_blocked: false,
            interrupt_shadow: false,
        }
    }

    /// Protected mode enabled (CR0.PE).
    pub fn protected(&self) -> bool {
        self.cr0 & cr0::PE != 0
    }

    /// Virtual-8086 mode (EFLAGS.VM while protected).
    pub fn v86(&self) -> bool {
        self.rflags & crate::flags::VM != 0
    }

    /// Paging enabled (CR0.PG).
    pub fn paging(&self) -> bool {
        self.cr0 & cr0::PG != 0
    }

    /// A segment register.
    pub fn seg(&self, s: SegReg) -> &Segment {
        &self.segs[s as usize]
    }

    /// Long mode active (EFER.LMA: EFER.LME with paging enabled).
    pub fn long_mode(&self) -> bool {
        self.efer & efer::LMA != 0
    }

    /// 64-bit mode: long mode with a 64-bit code segment (CS.L).
    pub fn mode64(&self) -> bool {
        self.long_mode() && self.seg(SegReg::Cs).attrs & attr::L != 0
    }

    /// Code-segment default size in bits: 16, 32, or 64 in 64-bit mode.
    pub fn code_bitness(&self) -> u32 {
        if self.mode64() {
            64
        } else if self.protected() && !self.v86() && self.seg(SegReg::Cs).big() {
            32
        } else {
            16
        }
    }

    /// Stack-pointer width in bytes: 8 in 64-bit mode, else 4 or 2 by SS.B.
    pub fn stack_bytes(&self) -> usize {
        if self.mode64() {
            8
        } else if self.protected() && !self.v86() && self.seg(SegReg::Ss).big() {
            4
        } else {
            2
        }
    }

    /// Whether the stack uses at least ESP (32-bit) rather than SP.
    pub fn stack_is_32(&self) -> bool {
        self.stack_bytes() >= 4
    }

    /// Whether the next instruction needs the debug checks: TF or RF set, or a DR0-DR3 breakpoint enabled. An engine
    /// that runs code of its own (the translator) runs nothing but the CPU's step while this holds.
    #[inline]
    pub fn debug_active(&self) -> bool {
        use crate::flags::{RF, TF};
        self.rflags & (TF | RF) != 0 || self.breakpoints_enabled()
    }

    /// Whether DR7 enables any of the DR0-DR3 breakpoints (then memory accesses are matched against them).
    #[inline]
    pub fn breakpoints_enabled(&self) -> bool {
        self.dr[7] & crate::debug::dr7::ENABLES != 0
    }

    /// I/O privilege level from EFLAGS.
    pub fn iopl(&self) -> u8 {
        ((self.rflags >> 12) & 3) as u8
    }
}
