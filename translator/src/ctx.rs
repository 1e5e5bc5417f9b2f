//! The context generated code runs with: a pointer to it lives in host R14 (and one to the guest's `CpuState` in
//! R15) for as long as translated code runs. `#[repr(C)]`: generated code addresses its fields by offset.

use vx86_cpu::mmu::tlb::TlbEntry;
use vx86_cpu::Cpu;

/// What translated code and its callouts share.
#[repr(C)]
pub struct JitCtx {
    /// Guest instructions the slice may still retire. A block subtracts its length on entry and leaves (before
    /// running anything) if that goes negative.
    pub budget: i64,
    /// The guest's arithmetic flags, whenever translated code does not hold them in the host's RFLAGS (at block
    /// boundaries and callouts always), in the form of [`crate::callout::flags_image`]. Generated code writes its
    /// low 32 bits, of which only the low 16 mean anything.
    pub saved_flags: u64,
    /// The soft TLB's supervisor and user tables.
    pub tlb: [*const TlbEntry; 2],
    /// The CPU being run.
    pub cpu: *mut Cpu,
    /// The bus, type-erased: callouts are instantiated for its concrete type.
    pub bus: *mut (),
    /// `cpu.instructions` when the slice started.
    pub base_instructions: u64,
    /// `budget` when the slice started.
    pub start_budget: i64,
    /// The callouts' counters.
    pub stats: *mut crate::callout::CalloutStats,
    /// The guest's XMM registers (`cpu.fpu.xmm.regs`).
    pub xmm: *mut [u128; 16],
    /// The jump table's first entry.
    pub jump_table: *const crate::jump_table::Entry,
    /// The translator, for the lookup callout.
    pub translator: *mut crate::Translator,
    /// The TLB's epochs as jump-table tag bases ([`crate::jump_table::epoch_tags`]), brought up to date after
    /// every step callout (the only code that flushes the TLB or writes code pages while a slice runs).
    pub epoch_tags: [u64; 2],
    /// `extern "sysv64" fn(*mut JitCtx, *const Site) -> u64` ([`crate::callout::step`] for the bus's type): runs
    /// the site's instruction; nonzero means leave the block (RIP is set), [`crate::callout::GOTO_RIP`] that the
    /// next block may be entered straight away.
    pub step: usize,
    /// `extern "sysv64" fn(*mut JitCtx, linear: u64, access: u64) -> u64` ([`crate::callout::fill`] for the bus's
    /// type): walks the page tables for an access that missed the TLB; zero means the TLB now has a fast entry for
    /// it, so the lookup can run again.
    pub fill: usize,
    /// `extern "sysv64" fn(*mut JitCtx, first: *const Site, count: u64) -> u64` ([`crate::callout::steps`] for the
    /// bus's type): runs `count` consecutive sites' instructions as [`JitCtx::step`] would one by one, stopping at
    /// the first nonzero verdict.
    pub steps: usize,
}

impl JitCtx {
    /// The instructions retired so far in this slice, by the budget (exact at block boundaries and callouts).
    pub fn retired(&self) -> u64 {
        (self.start_budget - self.budget) as u64
    }
}

/// Byte offsets of [`JitCtx`] fields, for generated code.
pub mod offsets {
    use super::JitCtx;
    use core::mem::offset_of;
    /// Offset of [`JitCtx::budget`].
    pub const BUDGET: i32 = offset_of!(JitCtx, budget) as i32;
    /// Offset of [`JitCtx::saved_flags`].
    pub const SAVED_FLAGS: i32 = offset_of!(JitCtx, saved_flags) as i32;
    /// Offset of [`JitCtx::tlb`].
    pub const TLB: i32 = offset_of!(JitCtx, tlb) as i32;
    /// Offset of [`JitCtx::xmm`].
    pub const XMM: i32 = offset_of!(JitCtx, xmm) as i32;
    /// Offset of [`JitCtx::jump_table`].
    pub const JUMP_TABLE: i32 = offset_of!(JitCtx, jump_table) as i32;
    /// Offset of [`JitCtx::epoch_tags`].
    pub const EPOCH_TAGS: i32 = offset_of!(JitCtx, epoch_tags) as i32;
    /// Offset of [`JitCtx::step`].
    pub const STEP: i32 = offset_of!(JitCtx, step) as i32;
    /// Offset of [`JitCtx::fill`].
    pub const FILL: i32 = offset_of!(JitCtx, fill) as i32;
    /// Offset of [`JitCtx::steps`].
    pub const STEPS: i32 = offset_of!(JitCtx, steps) as i32;

    // Generated code reaches these fields with 8-bit displacements (`[BYTE r14 + ...]`, three bytes shorter than
    // dynasm's default for a displacement it cannot see at compile time): they must stay within 127 bytes.
    const _: () = assert!(BUDGET <= 127 && SAVED_FLAGS < 127 && TLB + 8 <= 127);
    const _: () = assert!(XMM <= 127 && JUMP_TABLE <= 127 && EPOCH_TAGS + 8 <= 127);
}
