//! Floating-point and vector register state: the x87 FPU (eight 80-bit registers, also the MMX registers), the
//! SSE registers and MXCSR, and the FXSAVE image layout. Semantics live in `exec::x87`, `exec::mmx` and
//! `exec::sse`; the soft-float arithmetic both units share is in [`soft`].

pub mod soft;

/// x87 status-word bits.
pub mod sw {
    /// Exception flags IE..PE (bits 0..5, as in [`super::soft::flag`]).
    pub const EXCEPTIONS: u16 = 0x3F;
    /// Stack fault.
    pub const SF: u16 = 1 << 6;
    /// Error summary: an unmasked exception is pending.
    pub const ES: u16 = 1 << 7;
    /// Condition code C0.
    pub const C0: u16 = 1 << 8;
    /// Condition code C1.
    pub const C1: u16 = 1 << 9;
    /// Condition code C2.
    pub const C2: u16 = 1 << 10;
    /// Shift of the TOP field.
    pub const TOP_SHIFT: u16 = 11;
    /// Condition code C3.
    pub const C3: u16 = 1 << 14;
    /// Busy (mirrors ES).
    pub const B: u16 = 1 << 15;
    /// All condition codes.
    pub const CC: u16 = C0 | C1 | C2 | C3;
}

/// MXCSR bits.
pub mod mxcsr {
    /// Exception flags IE..PE (bits 0..5).
    pub const FLAGS: u32 = 0x3F;
    /// Denormals are zeros.
    pub const DAZ: u32 = 1 << 6;
    /// Shift of the exception masks (bits 7..12).
    pub const MASK_SHIFT: u32 = 7;
    /// Underflow mask.
    pub const UM: u32 = 1 << 11;
    /// Shift of the rounding control field.
    pub const RC_SHIFT: u32 = 13;
    /// Flush to zero.
    pub const FTZ: u32 = 1 << 15;
    /// Bits software may set (the MXCSR_MASK FXSAVE reports).
    pub const WRITABLE: u32 = 0xFFFF;
    /// Value after reset: all exceptions masked, round to nearest.
    pub const RESET: u32 = 0x1F80;
}

/// Control word after FINIT: all exceptions masked, 64-bit precision, round to nearest.
pub const CW_INIT: u16 = 0x037F;

/// One 80-bit x87 register: sign and 15-bit biased exponent, and the 64-bit significand with its explicit integer
/// bit. Also holds an MMX register (the significand) whose exponent field MMX writes set to all ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct F80 {
    /// Significand (bit 63 is the integer bit).
    pub mant: u64,
    /// Sign (bit 15) and biased exponent.
    pub se: u16,
}

impl F80 {
    /// The 80-bit encoding in the low bits of a u128 (the layout of [`soft::Format::F80`]).
    pub fn to_bits(self) -> u128 {
        u128::from(self.se) << 64 | u128::from(self.mant)
    }

    /// From the 80-bit encoding.
    pub fn from_bits(bits: u128) -> F80 {
        F80 {
            mant: bits as u64,
            se: (bits >> 64) as u16,
        }
    }

    /// The 10 bytes as stored in memory.
    pub fn to_bytes(self) -> [u8; 10] {
        let mut b = [0u8; 10];
        b[..8].copy_from_slice(&self.mant.to_le_bytes());
        b[8..].copy_from_slice(&self.se.to_le_bytes());
        b
    }

    /// From 10 bytes of memory.
    pub fn from_bytes(b: &[u8]) -> F80 {
        let mut m = [0u8; 8];
        m.copy_from_slice(&b[..8]);
        F80 {
            mant: u64::from_le_bytes(m),
            se: u16::from_le_bytes([b[8], b[9]]),
        }
    }

    /// The x87 tag of this value when its register is in use: 0 valid, 1 zero, 2 special (NaN, infinity,
    /// denormal, unsupported).
    pub fn tag(self) -> u16 {
        let e = self.se & 0x7FFF;
        if e == 0 {
            if self.mant == 0 {
                1
            } else {
                2
            }
        } else if e == 0x7FFF || self.mant >> 63 == 0 {
            2
        } else {
            0
        }
    }
}

/// The SSE unit: sixteen XMM registers (eight reachable outside 64-bit mode) and MXCSR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XmmState {
    /// XMM0..XMM15.
    pub regs: [u128; 16],
    /// Control and status.
    pub mxcsr: u32,
}

impl Default for XmmState {
    fn default() -> Self {
        XmmState {
            regs: [0; 16],
            mxcsr: mxcsr::RESET,
        }
    }
}

/// The x87 FPU (and MMX) state plus the SSE state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FpuState {
    /// Physical registers R0..R7 (ST(i) is R((TOP + i) mod 8); MMi is Ri).
    pub regs: [F80; 8],
    /// Top-of-stack pointer.
    pub top: u8,
    /// Control word.
    pub cw: u16,
    /// Status word without the TOP field (see [`FpuState::status_word`]).
    pub sw: u16,
    /// Bit i set: physical register Ri is in use (its full tag is computed from its contents).
    pub valid: u8,
    /// Last x87 instruction pointer (offset) and code selector.
    pub fip: u64,
    /// Code selector of the last x87 instruction.
    pub fcs: u16,
    /// Last x87 data (operand) pointer offset.
    pub fdp: u64,
    /// Data selector of the last x87 memory operand.
    pub fds: u16,
    /// Last x87 opcode (11 bits). Not tracked by the interpreter: always zero.
    pub fop: u16,
    /// SSE registers and MXCSR.
    pub xmm: XmmState,
}

impl Default for FpuState {
    fn default() -> Self {
        FpuState::new()
    }
}

impl FpuState {
    /// The state after RESET: the FINIT state (CW 0x037F, all registers empty) and MXCSR 0x1F80.
    pub fn new() -> FpuState {
        FpuState {
            regs: [F80::default(); 8],
            top: 0,
            cw: CW_INIT,
            sw: 0,
            valid: 0,
            fip: 0,
            fcs: 0,
            fdp: 0,
            fds: 0,
            fop: 0,
            xmm: XmmState::default(),
        }
    }

    /// FNINIT: x87 state to its defaults (register contents and SSE state are kept).
    pub fn init(&mut self) {
        self.cw = CW_INIT;
        self.sw = 0;
        self.top = 0;
        self.valid = 0;
        self.fip = 0;
        self.fcs = 0;
        self.fdp = 0;
        self.fds = 0;
        self.fop = 0;
    }

    /// The status word with TOP merged in.
    pub fn status_word(&self) -> u16 {
        (self.sw & !(7 << sw::TOP_SHIFT)) | (u16::from(self.top & 7) << sw::TOP_SHIFT)
    }

    /// Loads the status word (TOP included).
    pub fn set_status_word(&mut self, v: u16) {
        self.top = ((v >> sw::TOP_SHIFT) & 7) as u8;
        self.sw = v & !(7 << sw::TOP_SHIFT);
    }

    /// The full tag word (2 bits per physical register; 3 = empty).
    pub fn tag_word(&self) -> u16 {
        (0..8).fold(0, |tw, r| {
            let t = if self.valid & (1 << r) == 0 {
                3
            } else {
                self.regs[r].tag()
            };
            tw | t << (2 * r)
        })
    }

    /// Loads the tag word: only empty (3) versus in use matters, as on FXRSTOR-era processors.
    pub fn set_tag_word(&mut self, tw: u16) {
        self.valid = (0..8).fold(0, |v, r| {
            if (tw >> (2 * r)) & 3 == 3 {
                v
            } else {
                v | 1 << r
            }
        });
    }

    /// Physical register index of ST(i).
    pub fn phys(&self, i: usize) -> usize {
        (usize::from(self.top) + i) & 7
    }

    /// Writes the 512-byte FXSAVE image. `wide` selects the 64-bit instruction/data pointer layout (FXSAVE64);
    /// `xmm_count` is 8 outside 64-bit mode.
    pub fn fxsave(&self, wide: bool, xmm_count: usize) -> [u8; 512] {
        let mut b = [0u8; 512];
        b[0..2].copy_from_slice(&self.cw.to_le_bytes());
        b[2..4].copy_from_slice(&self.status_word().to_le_bytes());
        b[4] = self.valid;
        b[6..8].copy_from_slice(&self.fop.to_le_bytes());
        if wide {
            b[8..16].copy_from_slice(&self.fip.to_le_bytes());
            b[16..24].copy_from_slice(&self.fdp.to_le_bytes());
        } else {
            b[8..12].copy_from_slice(&(self.fip as u32).to_le_bytes());
            b[12..14].copy_from_slice(&self.fcs.to_le_bytes());
            b[16..20].copy_from_slice(&(self.fdp as u32).to_le_bytes());
            b[20..22].copy_from_slice(&self.fds.to_le_bytes());
        }
        b[24..28].copy_from_slice(&self.xmm.mxcsr.to_le_bytes());
        b[28..32].copy_from_slice(&mxcsr::WRITABLE.to_le_bytes());
        for i in 0..8 {
            let at = 32 + 16 * i;
            b[at..at + 10].copy_from_slice(&self.regs[self.phys(i)].to_bytes());
        }
        for (k, x) in self.xmm.regs.iter().take(xmm_count).enumerate() {
            let at = 160 + 16 * k;
            b[at..at + 16].copy_from_slice(&x.to_le_bytes());
        }
        b
    }

    /// Loads an FXSAVE image; `Err(())` when MXCSR has reserved bits set (the caller raises #GP(0)).
    #[allow(clippy::result_unit_err)]
    pub fn fxrstor(&mut self, b: &[u8; 512], wide: bool, xmm_count: usize) -> Result<(), ()> {
        let u16_at = |at: usize| u16::from_le_bytes([b[at], b[at + 1]]);
        let u32_at = |at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let mx = u32_at(24);
        if mx & !mxcsr::WRITABLE != 0 {
            return Err(());
        }
        self.xmm.mxcsr = mx;
        self.cw = u16_at(0);
        self.set_status_word(u16_at(2));
        self.valid = b[4];
        self.fop = u16_at(6) & 0x7FF;
        if wide {
            self.fip = u64::from(u32_at(8)) | u64::from(u32_at(12)) << 32;
            self.fdp = u64::from(u32_at(16)) | u64::from(u32_at(20)) << 32;
        } else {
            self.fip = u64::from(u32_at(8));
            self.fcs = u16_at(12);
            self.fdp = u64::from(u32_at(16));
            self.fds = u16_at(20);
        }
        for i in 0..8 {
            let at = 32 + 16 * i;
            let p = self.phys(i);
            self.regs[p] = F80::from_bytes(&b[at..at + 10]);
        }
        for k in 0..xmm_count {
            let at = 160 + 16 * k;
            let mut x = [0u8; 16];
            x.copy_from_slice(&b[at..at + 16]);
            self.xmm.regs[k] = u128::from_le_bytes(x);
        }
        Ok(())
    }
}
