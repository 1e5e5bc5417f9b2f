//! Callouts: host functions that translated code calls for what it does not do itself. Each receives the
//! [`JitCtx`] and brings the CPU's state up to date before it touches it (the instruction count from the budget,
//! the arithmetic flags from the context), so the CPU's own code sees exact architectural state.

use crate::ctx::JitCtx;
use crate::emit::{Site, Via};
use vx86_cpu::flags::ARITH;
use vx86_cpu::{Bus, Flow};

/// What callouts count, for `-d stats`.
#[derive(Clone, Debug, Default)]
pub struct CalloutStats {
    /// Callouts for instructions that are never translated, by mnemonic (`iced_x86::Mnemonic as usize`).
    pub by_mnemonic: Vec<u64>,
    /// Translated memory accesses that missed the TLB and were served by a page walk and a second try.
    pub tlb_fills: u64,
    /// Translated memory accesses that had to run through the CPU's step (MMIO, faults, code pages, crossings).
    pub tlb_misses: u64,
    /// The same, by mnemonic.
    pub tlb_misses_by_mnemonic: Vec<u64>,
}

/// The guest's arithmetic flags as an RFLAGS image that the host may load with POPFQ (nothing else set but the
/// always-one bit).
pub fn flags_image(rflags: u64) -> u64 {
    (rflags & ARITH) | 2
}

/// Runs a site's instruction with the CPU's step. Returns nonzero when the block must be left: control went
/// elsewhere, the instruction faulted, ends its block, rewrote its block's page, touched a device, or the machine
/// is needed. Then RIP is set and the budget matches the instructions retired.
///
/// # Safety
/// `ctx` points at the live context of the running slice, whose `cpu` and `bus` (of type `B`) are valid and not
/// otherwise borrowed; `site` points into a live block.
pub unsafe extern "sysv64" fn step<B: Bus>(ctx: *mut JitCtx, site: *const Site) -> u64 {
    // SAFETY: the caller guarantees both pointers; translated code runs on the thread that owns the CPU and bus.
    let (ctx, site) = unsafe { (&mut *ctx, &*site) };
    // SAFETY: as above; these are the dispatcher's exclusive borrows, lent to translated code for the slice.
    let (cpu, bus, stats) = unsafe { (&mut *ctx.cpu, &mut *(ctx.bus as *mut B), &mut *ctx.stats) };
    match site.via {
        Via::Callout => {
            let m = site.instr.mnemonic() as usize;
            if let Some(count) = stats.by_mnemonic.get_mut(m) {
                *count += 1;
            }
        }
        Via::TlbMiss => {
            stats.tlb_misses += 1;
            if let Some(count) = stats
                .tlb_misses_by_mnemonic
                .get_mut(site.instr.mnemonic() as usize)
            {
                *count += 1;
            }
        }
    }
    cpu.instructions = ctx.base_instructions + ctx.retired() - u64::from(site.remaining);
    cpu.state.rflags = (cpu.state.rflags & !ARITH) | (ctx.saved_flags & ARITH);
    cpu.state.rip = site.instr.ip();
    let flow = cpu.execute_decoded(bus, &site.instr);
    ctx.saved_flags = flags_image(cpu.state.rflags);
    let leave = flow != Flow::Next
        || site.ends_block
        || cpu.needs_machine()
        || cpu.take_interrupt_recheck()
        || cpu.code_generation(site.phys) != site.generation;
    if leave {
        ctx.budget = ctx.start_budget - (cpu.instructions - ctx.base_instructions) as i64;
    }
    u64::from(leave)
}

/// Fills the TLB for a translated access that missed it: `access` holds the size in bits 0..7 and bit 8 for a
/// write. Returns 0 when the fast path will now hit (the generated code runs its lookup again), else nonzero (it
/// runs the instruction through [`step`]).
///
/// # Safety
/// As for [`step`].
pub unsafe extern "sysv64" fn fill<B: Bus>(ctx: *mut JitCtx, linear: u64, access: u64) -> u64 {
    // SAFETY: the caller guarantees the context; translated code runs on the thread that owns the CPU and bus.
    let ctx = unsafe { &mut *ctx };
    // SAFETY: as above.
    let (cpu, bus, stats) = unsafe { (&mut *ctx.cpu, &mut *(ctx.bus as *mut B), &mut *ctx.stats) };
    let (size, write) = ((access & 0xFF) as usize, access & 0x100 != 0);
    if cpu.fill_tlb(bus, linear, size, write) {
        stats.tlb_fills += 1;
        0
    } else {
        1
    }
}
