//! Callouts: host functions that translated code calls for what it does not do itself. Each receives the
//! [`JitCtx`] and brings the CPU's state up to date before it touches it (the instruction count from the budget,
//! the arithmetic flags from the context), so the CPU's own code sees exact architectural state.

use crate::ctx::JitCtx;
use crate::emit::{Site, Via};
use crate::mode::Mode;
use vx86_cpu::flags::{AF, ARITH, CF, OF, PF, SF, ZF};
use vx86_cpu::mmu::tlb::ANY_EPOCH;
use vx86_cpu::{Bus, Cpu, Flow};

/// What callouts count, for `-d stats`.
#[derive(Clone, Debug, Default)]
pub struct CalloutStats {
    /// Callouts for instructions that run in the CPU's step (never translated, or REP strings the host's REP cannot
    /// run), by mnemonic (`iced_x86::Mnemonic as usize`).
    pub by_mnemonic: Vec<u64>,
    /// Instructions fetched and decoded afresh (crossing a page or the code-segment limit, or invalid).
    pub fetched: u64,
    /// Translated memory accesses that missed the TLB and were served by a page walk and a second try.
    pub tlb_fills: u64,
    /// Translated instructions that had to run through the CPU's step: memory accesses the TLB could not serve
    /// (MMIO, faults, code pages, crossings), and a self-loop's check instruction on its way out.
    pub tlb_misses: u64,
    /// The same, by mnemonic.
    pub tlb_misses_by_mnemonic: Vec<u64>,
    /// Page groups whose range the TLB could not serve, so that the group's instructions ran in the step.
    pub group_fallbacks: u64,
}

/// The guest's arithmetic flags in the form translated code saves them: LAHF's AH (SF ZF AF PF CF at their RFLAGS
/// positions) in bits 8..15, and OF in bit 0 (as SETO leaves AL).
pub fn flags_image(rflags: u64) -> u64 {
    ((rflags & LAHF_FLAGS) << 8) | u64::from(rflags & OF != 0)
}

/// The arithmetic RFLAGS bits of a [`flags_image`].
pub fn flags_from_image(image: u64) -> u64 {
    ((image >> 8) & LAHF_FLAGS) | if image & 1 != 0 { OF } else { 0 }
}

/// The flags LAHF and SAHF move.
const LAHF_FLAGS: u64 = SF | ZF | AF | PF | CF;

/// What [`step`] returns when the block goes on.
pub const CONTINUE: u64 = 0;
/// What [`step`] returns when the block must be left for the dispatcher.
pub const LEAVE: u64 = 1;
/// What [`step`] returns when a block-ending instruction (never a TLB miss's) retired, RIP is set, and nothing needs
/// the dispatcher: the mode is unchanged and no interrupt or device is waiting, so translated code may go on to the
/// block at RIP through the jump table.
pub const GOTO_RIP: u64 = 2;

/// Runs a site's instruction with the CPU's step. Returns [`LEAVE`] or [`GOTO_RIP`] when the block must be left:
/// control went elsewhere, the instruction faulted, ends its block, rewrote its block's page, touched a device, or
/// the machine is needed. Then RIP is set and the budget matches the instructions retired. Else [`CONTINUE`].
///
/// A block-ending instruction that changed the mode (INT, SYSCALL, SYSRET, IRET between privilege levels), when
/// nothing else needs the dispatcher, returns instead the host address of the translation of the block at RIP in
/// the new mode, if there is one (the jump table's probe, tagged with the old mode, could not find it): translated
/// code jumps there, as it does after a lookup.
///
/// # Safety
/// `ctx` points at the live context of the running slice, whose `cpu` and `bus` (of type `B`) are valid and not
/// otherwise borrowed; `site` points into a live block.
pub unsafe extern "sysv64" fn step<B: Bus>(ctx: *mut JitCtx, site: *const Site) -> u64 {
    // SAFETY: the caller guarantees both pointers; translated code runs on the thread that owns the CPU and bus.
    let (ctx, site) = unsafe { (&mut *ctx, &*site) };
    // SAFETY: as above; these are the dispatcher's exclusive borrows, lent to translated code for the slice.
    let (cpu, bus, stats) = unsafe { (&mut *ctx.cpu, &mut *(ctx.bus as *mut B), &mut *ctx.stats) };
    // A crossing site whose epoch has moved is fetched afresh too, whatever brought it here.
    let stale_crossing = site.crossing && site.kept_epoch.get() != cpu.tlb_epochs()[ANY_EPOCH];
    match site.via {
        Via::Fetch => stats.fetched += 1,
        _ if stale_crossing => stats.fetched += 1,
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
    cpu.state.rflags = (cpu.state.rflags & !ARITH) | flags_from_image(ctx.saved_flags);
    cpu.state.rip = site.instr.ip();
    if let Some(range) = site.leads_group.get() {
        // The group's range missed the TLB for good this time: its instructions run here one by one. A range that
        // crosses a page will again; other failures pass (the step handles the fault or sets the dirty bit).
        stats.group_fallbacks += 1;
        let crosses = range.crosses_page(cpu.state.gpr[usize::from(range.base)]);
        let failures = site.group_fallbacks.get() + u32::from(crosses);
        site.group_fallbacks.set(failures);
        if crosses && failures == crate::group::FALLBACK_LIMIT {
            // SAFETY: the translator running this slice does not touch its own state while generated code runs.
            unsafe { &mut *ctx.translator }.ungroup(site.phys, site.instr.ip());
            // The block is left after this instruction and translated again without the group.
            cpu.forget_code(site.phys_of_instr(), 1);
        }
    }
    let flow = if site.via == Via::Fetch || site.crossing {
        run_fetched(cpu, bus, site)
    } else {
        cpu.execute_decoded(bus, &site.instr)
    };
    ctx.saved_flags = flags_image(cpu.state.rflags);
    // SAFETY: the translator running this slice does not touch its own state while generated code runs.
    unsafe { &mut *ctx.translator }.forget_written_code(cpu);
    ctx.epoch_tags = crate::jump_table::epoch_tags(cpu.tlb_epochs());
    let dispatcher = flow == Flow::Faulted
        || cpu.needs_machine()
        || cpu.take_interrupt_recheck()
        || cpu.code_generation(site.phys) != site.generation.get();
    let ended = flow == Flow::Jumped || site.ends_block;
    if !dispatcher && !ended {
        return CONTINUE;
    }
    ctx.budget = ctx.start_budget - (cpu.instructions - ctx.base_instructions) as i64;
    if !dispatcher && !cpu.state.debug_active() && ctx.budget > 0 {
        // The slice goes on (no device changes before the next instruction has run): an STI shadow with nothing
        // to hold off ends here, and translated code goes on (STI was a kernel's most frequent way back to the
        // dispatcher).
        cpu.end_idle_interrupt_shadow(bus);
    }
    let straight_on = !dispatcher
        && site.via != Via::TlbMiss
        && !cpu.state.interrupt_shadow
        && !cpu.state.halted
        && !cpu.interrupt_deliverable(bus);
    if !straight_on {
        LEAVE
    } else if Mode::of(&cpu.state) == site.mode {
        GOTO_RIP
    } else if site.ends_block {
        // SAFETY: the translator running this slice does not touch its own state while generated code runs.
        let translator = unsafe { &mut *ctx.translator };
        match translator.find_for_code(cpu, bus) {
            0 => LEAVE,
            entry => entry,
        }
    } else {
        LEAVE
    }
}

/// Runs the instructions of the `count` consecutive sites from `first` (a step path through several sites: a page
/// group's range that missed, say) as [`step`] runs each, stopping at the first verdict that is not [`CONTINUE`]:
/// one call from generated code instead of one per site.
///
/// # Safety
/// As for [`step`]; `first` and the `count - 1` sites after it lie in one live block.
pub unsafe extern "sysv64" fn steps<B: Bus>(
    ctx: *mut JitCtx,
    first: *const Site,
    count: u64,
) -> u64 {
    for k in 0..count as usize {
        // SAFETY: the caller guarantees the context and that the sites lie in one block.
        let verdict = unsafe { step::<B>(ctx, first.add(k)) };
        if verdict != CONTINUE {
            return verdict;
        }
    }
    CONTINUE
}

/// Runs a [`Via::Fetch`] or crossing site's instruction: the one it keeps while the TLB's epoch says its bytes
/// and their mapping are unchanged, else one fetched and decoded afresh (whose fault, if any, is delivered). A
/// crossing site keeps only the instruction its host code was made from; when the bytes now say otherwise, its
/// block is dropped so that it is translated again.
fn run_fetched<B: Bus>(cpu: &mut Cpu, bus: &mut B, site: &Site) -> Flow {
    if site.kept_epoch.get() == cpu.tlb_epochs()[ANY_EPOCH] {
        return cpu.execute_decoded(bus, &site.kept.get());
    }
    match cpu.fetch_to_keep(bus) {
        Ok((instr, keep)) => {
            let changed = site.crossing && !instr.eq_all_bits(&site.instr);
            if changed {
                // The block's host code no longer matches its bytes: have it translated again.
                cpu.forget_code(site.phys_of_instr(), 1);
            } else if keep {
                site.kept.set(instr);
                site.kept_epoch.set(cpu.tlb_epochs()[ANY_EPOCH]);
            }
            cpu.execute_decoded(bus, &instr)
        }
        Err(fault) => {
            cpu.deliver_fault(bus, fault);
            Flow::Faulted
        }
    }
}

/// The guest's time-stamp counter for a RDTSC site, read with the instruction count exact (guest time follows
/// it): what the instruction returns in EDX:EAX.
///
/// # Safety
/// As for [`step`].
pub unsafe extern "sysv64" fn read_tsc<B: Bus>(ctx: *mut JitCtx, site: *const Site) -> u64 {
    // SAFETY: the caller guarantees both pointers; translated code runs on the thread that owns the CPU and bus.
    let (ctx, site) = unsafe { (&mut *ctx, &*site) };
    // SAFETY: as above.
    let (cpu, bus) = unsafe { (&mut *ctx.cpu, &mut *(ctx.bus as *mut B)) };
    cpu.instructions = ctx.base_instructions + ctx.retired() - u64::from(site.remaining);
    cpu.read_tsc(bus)
}

/// Finds the translation of the block at CS:RIP for generated code whose jump-table lookup missed (RIP set):
/// its host address, or 0 to leave for the dispatcher.
///
/// # Safety
/// As for [`step`]; `ctx.translator` is the translator running the slice, which does not touch its own state
/// while generated code runs.
pub unsafe extern "sysv64" fn lookup<B: Bus>(ctx: *mut JitCtx) -> u64 {
    // SAFETY: the caller guarantees the context and its pointers; see the function's contract.
    let (cpu, bus, translator) = unsafe {
        let ctx = &mut *ctx;
        (
            &mut *ctx.cpu,
            &mut *(ctx.bus as *mut B),
            &mut *ctx.translator,
        )
    };
    translator.find_for_code(cpu, bus)
}

/// An access word's size: bits 0..15 (a page group's range may be longer than any one access).
pub const ACCESS_SIZE: u64 = 0xFFFF;
/// An access word's bit for a walk as a write's (which sets the dirty bit).
pub const WALK_WRITE: u64 = 1 << 16;
/// An access word's bit for a fast path that compares the write tag.
pub const FAST_WRITE: u64 = 1 << 17;

/// Fills the TLB for a translated access that missed it: `access` holds the size and the [`WALK_WRITE`] and
/// [`FAST_WRITE`] bits. Returns 0 when the fast path will now hit (the generated code runs its lookup again), else
/// nonzero (it runs the instruction, or a page group's range, through [`step`]).
///
/// # Safety
/// As for [`step`].
pub unsafe extern "sysv64" fn fill<B: Bus>(ctx: *mut JitCtx, linear: u64, access: u64) -> u64 {
    // SAFETY: the caller guarantees the context; translated code runs on the thread that owns the CPU and bus.
    let ctx = unsafe { &mut *ctx };
    // SAFETY: as above.
    let (cpu, bus, stats) = unsafe { (&mut *ctx.cpu, &mut *(ctx.bus as *mut B), &mut *ctx.stats) };
    let size = (access & ACCESS_SIZE) as usize;
    let (walk_write, fast_write) = (access & WALK_WRITE != 0, access & FAST_WRITE != 0);
    if cpu.fill_tlb(bus, linear, size, walk_write, fast_write) {
        stats.tlb_fills += 1;
        0
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flags_image_round_trips_every_arithmetic_flag() {
        for bits in 0..64u64 {
            let flags = [CF, PF, AF, ZF, SF, OF]
                .iter()
                .enumerate()
                .filter(|(k, _)| bits & (1 << k) != 0)
                .fold(0, |acc, (_, f)| acc | f);
            assert_eq!(flags_from_image(flags_image(flags | 0x202)), flags);
        }
    }
}
