//! The mode bits a block is specialised on (QEMU's TB flags): code size, privilege, and which segments are flat
//! enough that a memory access needs no limit check. A block is only reused in the mode it was translated for.

use vx86_cpu::state::{attr, cr0, cr4, Segment};
use vx86_cpu::{CpuState, SegReg};

/// What a block's translation depends on beyond its guest-physical address and RIP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mode {
    /// Code size: 16, 32 or 64.
    pub bitness: u32,
    /// CPL 3: memory accesses use the user TLB.
    pub user: bool,
    /// CPL 0: instructions that check the privilege (CLI) need no check.
    pub kernel: bool,
    /// Bit per [`SegReg`]: accesses through it need no limit or type check (in 32-bit code: a present, writable,
    /// expand-up data segment with a 4 GiB limit; ES, SS and DS also with base 0, FS and GS with their base added
    /// at run time).
    flat: u8,
    /// The highest offset code may run at (the CS limit; 64-bit code has none, but must stay canonical).
    pub code_limit: u64,
    /// CS's base outside 64-bit mode (0 in it), so a block's RIPs map to fixed linear addresses.
    pub cs_base: u64,
    /// SSE instructions run (CR0.EM and CR0.TS clear, CR4.OSFXSR set) rather than raise #UD or #NM.
    pub sse: bool,
    /// The debug checks are on ([`CpuState::debug_active`]: TF, RF or an enabled breakpoint). No block is run
    /// in such a mode (the dispatcher runs the CPU's step instead), and having it in the mode makes every check that
    /// translated code may go on in the same mode (after a POPF or IRET callout, say) fail when it turns on.
    pub debug: bool,
}

impl Mode {
    /// The current mode of `state`.
    pub fn of(state: &CpuState) -> Mode {
        let bitness = state.code_bitness();
        let mut flat = 0;
        if bitness == 32 {
            for seg in [SegReg::Es, SegReg::Ss, SegReg::Ds, SegReg::Fs, SegReg::Gs] {
                let s = state.seg(seg);
                let base_ok = s.base == 0 || matches!(seg, SegReg::Fs | SegReg::Gs);
                if base_ok && flat_data(s) {
                    flat |= 1 << seg as u8;
                }
            }
        }
        let sse = state.cr0 & (cr0::EM | cr0::TS) == 0 && state.cr4 & cr4::OSFXSR != 0;
        Mode {
            bitness,
            sse,
            debug: state.debug_active(),
            user: state.cpl == 3,
            kernel: state.cpl == 0,
            flat,
            cs_base: if bitness == 64 {
                0
            } else {
                state.seg(SegReg::Cs).base
            },
            code_limit: if bitness == 64 {
                u64::MAX
            } else {
                u64::from(state.seg(SegReg::Cs).limit)
            },
        }
    }

    /// Whether a direct jump to `target` lands where code may run; if not, the jump itself faults, which the
    /// CPU's step does precisely.
    pub fn jump_target_ok(&self, target: u64) -> bool {
        if self.bitness == 64 {
            vx86_cpu::mmu::segment::canonical(target)
        } else {
            target <= self.code_limit
        }
    }

    /// Whether accesses through `seg` need no limit or type check.
    pub fn flat(&self, seg: SegReg) -> bool {
        self.flat & (1 << seg as u8) != 0
    }
}

fn flat_data(s: &Segment) -> bool {
    let wanted = attr::P | attr::S | attr::RW;
    s.attrs & (wanted | attr::CODE | attr::DC) == wanted && s.limit == 0xFFFF_FFFF
}
