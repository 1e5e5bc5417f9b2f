//! The translator's own control flow, each mechanism in a guest that depends on it: the jump table (returns,
//! indirect transfers and exits to another page looked up by generated code, valid while the TLB's epochs stand),
//! fetch sites (an instruction that crosses the CS limit or is invalid ends its block and is fetched afresh, then
//! kept while the TLB's epoch stands; one that crosses a page is translated, and its host code runs while that epoch
//! stands) and `GOTO_RIP` (a block-ending callout goes on through the jump
//! table when nothing needs the dispatcher). Every guest runs under the interpreter and under the translator, which
//! must end in the same state; each test also checks which code ran, and the translator's counters show that the
//! mechanism under test was the one used.

use iced_x86::code_asm::*;
use iced_x86::{BlockEncoderOptions, Mnemonic};
use vx86_cpu::state::{cr4, TableReg};
use vx86_cpu::testing::{assemble, layout, long_mode_at, FlatBus, ProtectedMachine};
use vx86_cpu::{Cpu, SegReg};

mod common;
use common::{run_both, Runs};

/// Guest RAM: 4 MiB.
const RAM: usize = 4 << 20;
/// The first set of page tables: PML4, PDPT, PD and the page table of the 4 KiB pages, one page each.
const ROOT_A: u64 = 0x1_0000;
/// The second set, mapping [`FUNC`] elsewhere.
const ROOT_B: u64 = 0x1_4000;
/// The GDT: a 64-bit ring-0 code segment (selector 8) and a data segment (0x10).
const GDT: u64 = 0x1_8000;
/// The 64-bit IDT.
const IDT: u64 = 0x1_9000;
/// Where 4 KiB pages begin: the 2 MiB below are one large page, the 2 MiB from here are 4 KiB pages, identity-mapped
/// but for [`FUNC`].
const SMALL_PAGES: u64 = 2 << 20;
/// The main code.
const CODE: u64 = 0x20_0000;
/// The linear page of the function the guests call: [`ROOT_A`] maps it to [`IMPL_A`], [`ROOT_B`] to [`IMPL_B`].
const FUNC: u64 = 0x21_0000;
/// The physical page of the function that sets RBX to 1 (also mapped at its own linear address).
const IMPL_A: u64 = 0x22_0000;
/// The physical page of the function that sets RBX to 2 (also mapped at its own linear address).
const IMPL_B: u64 = 0x22_1000;
/// The #UD handler: records the faulting RIP in R9, counts in R12, and returns past one byte.
const UD_HANDLER: u64 = 0x23_0000;
/// The #PF handler: records the error code in R10, CR2 in R11 and the faulting RIP in R9, then halts.
const PF_HANDLER: u64 = 0x23_0100;
/// The handler of external interrupt [`IRQ_VECTOR`]: halts.
const IRQ_HANDLER: u64 = 0x23_0200;
/// The vector of the external interrupt the bus may hold pending.
const IRQ_VECTOR: u8 = 0x40;
/// A page boundary that guest code straddles.
const BOUNDARY: u64 = 0x25_1000;
/// Guest data.
const DATA: u64 = 0x26_0000;
/// Top of the stack.
const STACK: u64 = 0x30_0000;
/// PTE bits: present and writable.
const PRESENT_RW: u64 = 3;
/// PTE bit: global.
const GLOBAL: u64 = 1 << 8;
/// Instruction budget of every run: far more than any guest here needs.
const BUDGET: u64 = 10_000_000;

/// Writes four-level page tables at `root` (four pages): the first 2 MiB as one large page, the next 2 MiB as 4 KiB
/// pages, identity-mapped but for [`FUNC`], which maps to `func_phys`.
fn page_tables(bus: &mut FlatBus, root: u64, func_phys: u64) {
    let (pdpt, pd, pt) = (root + 0x1000, root + 0x2000, root + 0x3000);
    bus.write_u64(root, pdpt | PRESENT_RW);
    bus.write_u64(pdpt, pd | PRESENT_RW);
    bus.write_u64(pd, 0x80 | PRESENT_RW);
    bus.write_u64(pd + 8, pt | PRESENT_RW);
    for page in (SMALL_PAGES..2 * SMALL_PAGES).step_by(0x1000) {
        let phys = if page == FUNC { func_phys } else { page };
        bus.write_u64(pte(root, page), phys | PRESENT_RW);
    }
}

/// The physical address of the page-table entry that maps `linear` (a 4 KiB page) under `root`.
fn pte(root: u64, linear: u64) -> u64 {
    root + 0x3000 + 8 * ((linear - SMALL_PAGES) >> 12)
}

/// Points IDT entry `vector` at a 64-bit ring-0 interrupt gate to `handler`.
fn interrupt_gate(bus: &mut FlatBus, vector: u8, handler: u64) {
    let at = IDT + 16 * u64::from(vector);
    let low = (handler & 0xFFFF) | (8 << 16) | (0x8E00u64 << 32) | ((handler >> 16 & 0xFFFF) << 48);
    bus.write_u64(at, low);
    bus.write_u64(at + 8, handler >> 32);
}

/// The function [`IMPL_A`] or [`IMPL_B`] holds: `mov ebx, value; ret`.
fn function(base: u64, value: u32) -> Vec<u8> {
    assemble(64, base, |a| {
        a.mov(ebx, value).unwrap();
        a.ret().unwrap();
    })
}

/// A 64-bit guest at CPL 0 on [`ROOT_A`], with [`ROOT_B`] ready, the GDT, the IDT and its handlers, both
/// functions, and each of `pieces` (code at a guest-physical address); it starts at `entry` with RSP at [`STACK`].
fn machine(pieces: &[(u64, &[u8])], entry: u64) -> (Cpu, FlatBus) {
    let mut bus = FlatBus::new(RAM);
    page_tables(&mut bus, ROOT_A, IMPL_A);
    page_tables(&mut bus, ROOT_B, IMPL_B);
    bus.write_u64(GDT + 8, 0x0020_9A00_0000_0000);
    bus.write_u64(GDT + 16, 0x00CF_9200_0000_FFFF);
    interrupt_gate(&mut bus, 6, UD_HANDLER);
    interrupt_gate(&mut bus, 14, PF_HANDLER);
    interrupt_gate(&mut bus, IRQ_VECTOR, IRQ_HANDLER);
    let handlers = [
        (
            UD_HANDLER,
            assemble(64, UD_HANDLER, |a| {
                a.mov(r9, qword_ptr(rsp)).unwrap();
                a.inc(r12).unwrap();
                a.add(qword_ptr(rsp), 1).unwrap();
                a.iretq().unwrap();
            }),
        ),
        (
            PF_HANDLER,
            assemble(64, PF_HANDLER, |a| {
                a.pop(r10).unwrap();
                a.mov(r11, cr2).unwrap();
                a.mov(r9, qword_ptr(rsp)).unwrap();
                a.hlt().unwrap();
            }),
        ),
        (IRQ_HANDLER, assemble(64, IRQ_HANDLER, |a| a.hlt().unwrap())),
        (IMPL_A, function(IMPL_A, 1)),
        (IMPL_B, function(IMPL_B, 2)),
    ];
    for (at, bytes) in &handlers {
        bus.load(*at, bytes);
    }
    for (at, bytes) in pieces {
        bus.load(*at, bytes);
    }
    let mut cpu = long_mode_at(ROOT_A);
    cpu.state.gdtr = TableReg {
        base: GDT,
        limit: 3 * 8 - 1,
    };
    cpu.state.idtr = TableReg {
        base: IDT,
        limit: 256 * 16 - 1,
    };
    cpu.state.rip = entry;
    cpu.state.gpr[4] = STACK;
    (cpu, bus)
}

/// Assembles 64-bit code so that the label `build` returns lands at `at`; returns the code's base and bytes.
fn assemble_placed(at: u64, build: impl Fn(&mut CodeAssembler) -> CodeLabel) -> (u64, Vec<u8>) {
    let encode = |base: u64| {
        let mut a = CodeAssembler::new(64).unwrap();
        let mark = build(&mut a);
        let result = a
            .assemble_options(base, BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS)
            .unwrap();
        (result.label_ip(&mark).unwrap(), result.inner.code_buffer)
    };
    let (first_try, _) = encode(at);
    let base = at - (first_try - at);
    let (placed, bytes) = encode(base);
    assert_eq!(placed, at, "the code's size depends on where it is placed");
    (base, bytes)
}

/// What a guest adds up when it adds an immediate (1 at first) on each pass, counted down as `passes` go, and
/// increments the immediate after each pass whose count is a multiple of 16.
fn sum_of_immediates(passes: impl Iterator<Item = u32>) -> u64 {
    let (mut immediate, mut sum) = (1u64, 0u64);
    for pass in passes {
        sum += immediate;
        if pass % 16 == 0 {
            immediate += 1;
        }
    }
    sum
}

/// How many times the translator's dispatcher entered a block in `runs`.
fn dispatches(runs: &Runs) -> u64 {
    runs.translator.stats.dispatches
}

#[test]
fn a_page_remapped_then_invalidated_runs_its_new_code() {
    // Each pass calls FUNC relatively (an exit to another page) and through a register (a callout that goes on
    // with GOTO_RIP), and RET comes back: all through the jump table. On the pass where ECX is REMAP, the loop
    // points FUNC's PTE at IMPL_B and runs INVLPG, then goes on through blocks the jump table holds: none of the
    // entries made before may be used any more.
    const N: u32 = 500;
    const REMAP: u32 = 200;
    let code = assemble(64, CODE, |a| {
        let (mut top, mut same) = (a.create_label(), a.create_label());
        a.mov(esi, FUNC as u32).unwrap();
        a.mov(ecx, N).unwrap();
        a.set_label(&mut top).unwrap();
        a.call(FUNC).unwrap();
        a.add(r8, rbx).unwrap();
        a.call(rsi).unwrap();
        a.add(r8, rbx).unwrap();
        a.cmp(ecx, REMAP).unwrap();
        a.jne(same).unwrap();
        a.mov(rax, IMPL_B | PRESENT_RW).unwrap();
        a.mov(qword_ptr(pte(ROOT_A, FUNC)), rax).unwrap();
        a.invlpg(ptr(FUNC)).unwrap();
        a.set_label(&mut same).unwrap();
        a.dec(ecx).unwrap();
        a.jnz(top).unwrap();
        a.hlt().unwrap();
    });
    let runs = run_both(|| machine(&[(CODE, &code)], CODE), 1 << 20, BUDGET);
    let (before, after) = (u64::from(N - REMAP + 1), u64::from(REMAP - 1));
    assert_eq!(
        runs.translated.state.gpr[8],
        2 * before + 2 * 2 * after,
        "IMPL_A's RBX before the remap, IMPL_B's after"
    );
    assert!(
        dispatches(&runs) * 20 < u64::from(N),
        "calls and returns went through the jump table: {:?}",
        runs.translator.stats
    );
}

/// Passes of [`cr3_guest`]'s loop (even: half under each root).
const CR3_PASSES: u32 = 200;

/// The guest of the CR3 tests: each pass switches CR3 between [`ROOT_B`] and [`ROOT_A`] (B first), calls
/// [`FUNC`] and adds its RBX to R10, runs INVLPG on FUNC, calls it again and adds to R9. With `global`, FUNC's PTE
/// is global in both roots and CR4.PGE is set.
fn cr3_guest(global: bool) -> (Cpu, FlatBus) {
    let code = assemble(64, CODE, |a| {
        let mut top = a.create_label();
        a.mov(r14, ROOT_B).unwrap();
        a.mov(r15, ROOT_A).unwrap();
        a.mov(ecx, CR3_PASSES).unwrap();
        a.set_label(&mut top).unwrap();
        a.xchg(r14, r15).unwrap();
        a.mov(cr3, r15).unwrap();
        a.call(FUNC).unwrap();
        a.add(r10, rbx).unwrap();
        a.invlpg(ptr(FUNC)).unwrap();
        a.call(FUNC).unwrap();
        a.add(r9, rbx).unwrap();
        a.dec(ecx).unwrap();
        a.jnz(top).unwrap();
        a.hlt().unwrap();
    });
    let (mut cpu, mut bus) = machine(&[(CODE, &code)], CODE);
    if global {
        cpu.state.cr4 |= cr4::PGE;
        for root in [ROOT_A, ROOT_B] {
            let at = pte(root, FUNC);
            let entry =
                u64::from_le_bytes(bus.ram[at as usize..at as usize + 8].try_into().unwrap());
            bus.write_u64(at, entry | GLOBAL);
        }
    }
    (cpu, bus)
}

/// What [`cr3_guest`] adds up from the calls made under the current mapping: RBX is 2 under ROOT_B, 1 under ROOT_A.
const CR3_SUM: u64 = CR3_PASSES as u64 / 2 * (2 + 1);

#[test]
fn mov_cr3_switches_the_code_of_a_non_global_page() {
    let runs = run_both(|| cr3_guest(false), 1 << 20, BUDGET);
    let gpr = runs.translated.state.gpr;
    assert_eq!(
        gpr[10], CR3_SUM,
        "the new root's function right after MOV CR3"
    );
    assert_eq!(gpr[9], CR3_SUM, "the new root's function after INVLPG");
}

#[test]
fn a_global_page_keeps_its_code_across_mov_cr3_alike_under_both_engines() {
    // Right after MOV CR3, code on a global page may come from either mapping (the TLB may hold the old global
    // translation): there only the engines' agreement is checked. After INVLPG the current mapping must be used.
    let runs = run_both(|| cr3_guest(true), 1 << 20, BUDGET);
    let gpr = runs.translated.state.gpr;
    assert_eq!(gpr[9], CR3_SUM, "the new root's function after INVLPG");
    let passes = u64::from(CR3_PASSES);
    assert!(
        (passes..=2 * passes).contains(&gpr[10]),
        "one of the two functions ran after each MOV CR3: {}",
        gpr[10]
    );
}

#[test]
fn a_function_rewritten_through_an_alias_runs_its_new_code_when_called_through_the_jump_table() {
    // FUNC (IMPL_A, `mov ebx, imm32; ret`) is called on every pass; every 16th pass increments its immediate
    // through IMPL_A's own linear address, an alias of FUNC's page.
    const N: u32 = 800;
    let code = assemble(64, CODE, |a| {
        let (mut again, mut same) = (a.create_label(), a.create_label());
        a.mov(ecx, N).unwrap();
        a.set_label(&mut again).unwrap();
        a.call(FUNC).unwrap();
        a.add(r8, rbx).unwrap();
        a.test(ecx, 15).unwrap();
        a.jnz(same).unwrap();
        a.inc(dword_ptr(IMPL_A + 1)).unwrap();
        a.set_label(&mut same).unwrap();
        a.dec(ecx).unwrap();
        a.jnz(again).unwrap();
        a.hlt().unwrap();
    });
    let runs = run_both(|| machine(&[(CODE, &code)], CODE), 1 << 20, BUDGET);
    assert_eq!(
        runs.translated.state.gpr[8],
        sum_of_immediates((1..=N).rev()),
        "every call saw the immediate last written"
    );
    let stats = &runs.translator.stats;
    assert!(stats.smc_invalidations >= u64::from(N / 16), "{stats:?}");
    assert!(
        dispatches(&runs) * 2 < u64::from(N),
        "unchanged calls went through the jump table: {stats:?}"
    );
}

#[test]
fn a_write_to_code_on_one_page_leaves_the_jump_table_s_entries_for_other_pages() {
    // Every pass calls FUNC (on another page: through the jump table, as is its RET), rewrites the immediate of a
    // function on the DATA page and calls that. Each write stales the DATA page's code only: the call to FUNC and
    // the returns keep finding their jump-table entries.
    const N: u32 = 400;
    let patched = function(DATA, 5);
    let code = assemble(64, CODE, |a| {
        let mut again = a.create_label();
        a.mov(ecx, N).unwrap();
        a.set_label(&mut again).unwrap();
        a.call(FUNC).unwrap();
        a.add(r8, rbx).unwrap();
        a.inc(dword_ptr(DATA + 1)).unwrap();
        a.call(DATA).unwrap();
        a.add(r9, rbx).unwrap();
        a.dec(ecx).unwrap();
        a.jnz(again).unwrap();
        a.hlt().unwrap();
    });
    let runs = run_both(
        || machine(&[(CODE, &code), (DATA, &patched)], CODE),
        1 << 20,
        BUDGET,
    );
    let state = &runs.translated.state;
    let n = u64::from(N);
    assert_eq!(state.gpr[8], n, "FUNC set EBX to 1 on every pass");
    assert_eq!(
        state.gpr[9],
        (6..6 + n).sum::<u64>(),
        "every call ran the function as last rewritten"
    );
    let stats = &runs.translator.stats;
    assert!(stats.smc_invalidations >= n - 1, "{stats:?}");
    assert!(
        stats.lookups < n / 2,
        "the calls and returns were served by the jump table: {stats:?}"
    );
}

#[test]
fn a_patch_to_one_block_of_a_page_leaves_the_page_s_other_blocks_translated() {
    // Three blocks of one page, each in a chunk of its own, chained by conditional branches (which end blocks, so
    // each stays in its own chunk, and are linked): LOOP_TOP -> ADDER -> PATCHER -> LOOP_TOP. Every 16th pass, the
    // patcher increments the immediate ADDER adds. Only ADDER's block is stale after a patch: the loop's blocks
    // are kept, and the link from LOOP_TOP to the old ADDER must be undone.
    const N: u32 = 800;
    const LOOP_TOP: u64 = CODE;
    const ADDER: u64 = CODE + 0x200;
    const PATCHER: u64 = CODE + 0x400;
    let top = assemble(64, LOOP_TOP, |a| {
        a.test(ecx, ecx).unwrap();
        a.jnz(ADDER).unwrap();
        a.hlt().unwrap();
    });
    let adder = assemble(64, ADDER, |a| {
        a.mov(ebx, 1).unwrap();
        a.add(r8, rbx).unwrap();
        a.dec(ecx).unwrap();
        a.jns(PATCHER).unwrap();
        a.hlt().unwrap();
    });
    let patcher = assemble(64, PATCHER, |a| {
        let mut same = a.create_label();
        a.test(ecx, 15).unwrap();
        a.jnz(same).unwrap();
        a.inc(dword_ptr(ADDER + 1)).unwrap();
        a.set_label(&mut same).unwrap();
        a.cmp(ecx, 0).unwrap();
        a.jge(LOOP_TOP).unwrap();
        a.hlt().unwrap();
    });
    let start = assemble(64, DATA, |a| {
        a.mov(ecx, N).unwrap();
        a.jmp(LOOP_TOP).unwrap();
    });
    let pieces = [
        (LOOP_TOP, &top[..]),
        (ADDER, &adder[..]),
        (PATCHER, &patcher[..]),
        (DATA, &start[..]),
    ];
    let runs = run_both(|| machine(&pieces, DATA), 1 << 20, BUDGET);
    assert_eq!(
        runs.translated.state.gpr[8],
        sum_of_immediates((0..N).rev()),
        "every pass added the immediate last written"
    );
    let stats = &runs.translator.stats;
    let patches = u64::from(N / 16);
    assert!(stats.smc_invalidations >= patches - 1, "{stats:?}");
    assert!(
        stats.smc_survivals >= patches,
        "the loop's other blocks outlived each patch: {stats:?}"
    );
    assert!(
        stats.blocks_translated < 3 * patches,
        "only the patched block and the patcher's rest were translated again: {stats:?}"
    );
}

#[test]
fn an_instruction_across_a_page_boundary_runs_as_host_code_in_a_hot_loop_as_under_the_interpreter()
{
    // `inc rcx; add rax, imm32; dec edx; jnz`, the ADD starting `split` bytes before the page boundary.
    const N: u32 = 1000;
    const IMM: i32 = 0x0123_4567;
    for split in 1..=5 {
        let (base, code) = assemble_placed(BOUNDARY - split, |a| {
            let (mut top, mut crossing) = (a.create_label(), a.create_label());
            a.mov(edx, N).unwrap();
            a.set_label(&mut top).unwrap();
            a.inc(rcx).unwrap();
            a.set_label(&mut crossing).unwrap();
            a.add(rax, IMM).unwrap();
            a.dec(edx).unwrap();
            a.jnz(top).unwrap();
            a.hlt().unwrap();
            crossing
        });
        let runs = run_both(|| machine(&[(base, &code)], base), 1 << 20, BUDGET);
        let gpr = runs.translated.state.gpr;
        assert_eq!(gpr[0], u64::from(N) * IMM as u64, "split {split}");
        assert_eq!(gpr[1], u64::from(N), "split {split}");
        assert_eq!(
            runs.interpreted.stats.single_steps,
            u64::from(N),
            "split {split}: the ADD crosses the page"
        );
        let (stats, callouts) = (&runs.translator.stats, &runs.translator.callouts);
        // Translated from the bytes fetched with the block, guarded by the TLB epoch, which nothing moves here.
        assert_eq!(
            callouts.fetched, 0,
            "split {split}: the crossing ADD runs as host code: {stats:?}"
        );
        assert_eq!(stats.interpreted, 0, "split {split}: {stats:?}");
        assert!(
            dispatches(&runs) * 100 < u64::from(N),
            "split {split}: the loop ran from block to block: {stats:?}"
        );
    }
}

#[test]
fn rewriting_the_second_page_of_a_kept_crossing_instruction_takes_effect() {
    // A function `inc r8; ret 0` whose RET imm16 crosses the page boundary: its immediate is all that lies on the
    // second page, so no other code there is cached. Each pass pushes a word, calls it, adds to R11 the bytes the
    // stack is left lower by (8 while the RET releases nothing) and puts RSP back. On the pass where ECX is
    // REWRITE, the loop makes the immediate 8, after which the RET releases the pushed word (R11 grows by 0).
    const N: u32 = 600;
    const REWRITE: u32 = 250;
    let (function, function_code) = assemble_placed(BOUNDARY - 1, |a| {
        let mut crossing = a.create_label();
        a.inc(r8).unwrap();
        a.set_label(&mut crossing).unwrap();
        a.ret_1(0).unwrap();
        crossing
    });
    let code = assemble(64, CODE, |a| {
        let (mut top, mut same) = (a.create_label(), a.create_label());
        a.mov(ecx, N).unwrap();
        a.set_label(&mut top).unwrap();
        a.mov(r10, rsp).unwrap();
        a.push(rcx).unwrap();
        a.call(function).unwrap();
        a.mov(rax, r10).unwrap();
        a.sub(rax, rsp).unwrap();
        a.add(r11, rax).unwrap();
        a.mov(rsp, r10).unwrap();
        a.cmp(ecx, REWRITE).unwrap();
        a.jne(same).unwrap();
        a.mov(word_ptr(BOUNDARY), 8).unwrap();
        a.set_label(&mut same).unwrap();
        a.dec(ecx).unwrap();
        a.jnz(top).unwrap();
        a.hlt().unwrap();
    });
    let pieces = [(CODE, &code[..]), (function, &function_code[..])];
    let runs = run_both(|| machine(&pieces, CODE), 1 << 20, BUDGET);
    let gpr = runs.translated.state.gpr;
    assert_eq!(gpr[8], u64::from(N));
    assert_eq!(
        gpr[11],
        8 * u64::from(N - REWRITE + 1),
        "RET 8 after the rewrite"
    );
    let (stats, callouts) = (&runs.translator.stats, &runs.translator.callouts);
    // The rewrite moves the TLB's epoch; the next RET finds bytes other than those its host code was made from,
    // runs in the step, and has the block translated again.
    assert_eq!(callouts.fetched, 1, "{stats:?}");
    assert_eq!(stats.smc_invalidations, 1, "{stats:?}");
    assert_eq!(stats.interpreted, 0, "{stats:?}");
}

#[test]
fn a_kept_crossing_instruction_whose_second_page_goes_away_raises_a_page_fault() {
    // After N passes the loop clears the second page's PTE, INVLPGs it and runs the ADD again: #PF, CR2 the second
    // page, error code 0 (not present, a supervisor read: no I/D bit without EFER.NXE), RIP the ADD.
    const N: u32 = 300;
    const IMM: i32 = 0x0765_4321;
    let (base, code) = assemble_placed(BOUNDARY - 3, |a| {
        let (mut top, mut unmap, mut crossing) =
            (a.create_label(), a.create_label(), a.create_label());
        a.mov(edx, N).unwrap();
        a.jmp(top).unwrap();
        a.set_label(&mut unmap).unwrap();
        a.mov(qword_ptr(pte(ROOT_A, BOUNDARY)), 0).unwrap();
        a.invlpg(ptr(BOUNDARY)).unwrap();
        a.set_label(&mut top).unwrap();
        a.inc(rcx).unwrap();
        a.set_label(&mut crossing).unwrap();
        a.add(rax, IMM).unwrap();
        a.dec(edx).unwrap();
        a.jz(unmap).unwrap();
        a.jmp(top).unwrap();
        crossing
    });
    let runs = run_both(|| machine(&[(base, &code)], base), 1 << 20, BUDGET);
    let state = &runs.translated.state;
    assert_eq!(state.cr2, BOUNDARY);
    assert_eq!(state.gpr[11], BOUNDARY, "CR2 as the #PF handler read it");
    assert_eq!(state.gpr[10], 0, "error code");
    assert_eq!(state.gpr[9], BOUNDARY - 3, "the faulting RIP");
    assert_eq!(state.gpr[0], u64::from(N) * IMM as u64);
    assert_eq!(state.gpr[1], u64::from(N) + 1);
    // Host code ran the ADD while the epoch stood; after the INVLPG it is fetched afresh, and faults.
    assert_eq!(runs.translator.callouts.fetched, 1);
}

#[test]
fn invalid_bytes_in_a_loop_raise_invalid_opcode_at_their_address() {
    // An undefined byte (0x06, PUSH ES, is invalid in 64-bit mode) alone at a block's start, and another after an
    // instruction; the #UD handler counts each, records its RIP and returns past it.
    const N: u32 = 400;
    let base = CODE + 0x10;
    let code = assemble(64, base, |a| {
        let mut top = a.create_label();
        a.mov(edx, N).unwrap();
        a.set_label(&mut top).unwrap();
        a.db(&[0x06]).unwrap();
        a.inc(rcx).unwrap();
        a.db(&[0x06]).unwrap();
        a.dec(edx).unwrap();
        a.jnz(top).unwrap();
        a.hlt().unwrap();
    });
    let second_bad = iced_x86::Decoder::with_ip(64, &code, base, 0)
        .into_iter()
        .filter(|i| i.is_invalid())
        .map(|i| i.ip())
        .last()
        .unwrap();
    let runs = run_both(|| machine(&[(base, &code)], base), 1 << 20, BUDGET);
    let gpr = runs.translated.state.gpr;
    assert_eq!(gpr[12], 2 * u64::from(N), "#UD count");
    assert_eq!(gpr[1], u64::from(N));
    assert_eq!(gpr[9], second_bad, "the last #UD's RIP");
    assert_eq!(runs.translator.callouts.fetched, 2 * u64::from(N));
}

#[test]
fn software_interrupts_between_rings_go_on_without_the_dispatcher() {
    // Ring 3 runs INT 80h a thousand times; the ring-0 handler counts in EBX and returns by IRETD. Each INT and
    // each IRETD changes the mode (CPL), so the jump table's probe, tagged with the old mode, cannot go on: their
    // callouts find the block at RIP in the new mode themselves, and translated code goes there without the
    // dispatcher. The HLT at the end raises #GP in ring 3, whose handler stub halts.
    const N: u32 = 1000;
    let machine = || {
        use vx86_cpu::descriptor::system_type::INT_GATE32;
        use vx86_cpu::testing::{gate, sel};
        let mut m = ProtectedMachine::new();
        let handler = layout::KERNEL_CODE + 0x100;
        m.code(handler, |a| {
            a.inc(ebx).unwrap();
            a.iretd().unwrap();
        });
        m.set_idt(0x80, gate(sel::KCODE, handler as u32, INT_GATE32, 3, 0));
        m.code(layout::USER_CODE, |a| {
            let mut top = a.create_label();
            a.mov(ecx, N).unwrap();
            a.set_label(&mut top).unwrap();
            a.int(0x80).unwrap();
            a.dec(ecx).unwrap();
            a.jnz(top).unwrap();
            a.hlt().unwrap();
        });
        m.enter_ring3();
        (m.cpu, m.bus)
    };
    let runs = run_both(machine, 1 << 20, BUDGET);
    assert_eq!(
        runs.translated.state.gpr[3],
        u64::from(N),
        "EBX: handler runs"
    );
    let m = ProtectedMachine {
        cpu: runs.translated,
        bus: runs.bus,
    };
    assert_eq!(m.vector_taken(), Some(13), "the HLT in ring 3");
    assert!(
        runs.translator.stats.dispatches < 20,
        "{:?}",
        runs.translator.stats
    );
}

#[test]
fn an_instruction_across_the_code_segment_limit_raises_general_protection() {
    // 32-bit protected mode: INC ECX, then an ADD whose last three bytes lie beyond CS's limit: #GP(0) on the ADD.
    let machine = || {
        let mut m = ProtectedMachine::new();
        m.code(layout::KERNEL_CODE, |a| {
            a.inc(ecx).unwrap();
            a.add(eax, 0x1234_5678).unwrap();
            a.hlt().unwrap();
        });
        m.cpu.state.segs[SegReg::Cs as usize].limit = (layout::KERNEL_CODE + 2) as u32;
        (m.cpu, m.bus)
    };
    let runs = run_both(machine, 1 << 20, BUDGET);
    let m = ProtectedMachine {
        cpu: runs.translated,
        bus: runs.bus,
    };
    assert_eq!(m.vector_taken(), Some(13));
    assert_eq!(m.stack(0), 0, "error code");
    assert_eq!(
        u64::from(m.stack(1)),
        layout::KERNEL_CODE + 1,
        "the ADD faulted"
    );
    assert_eq!(m.cpu.state.gpr[1], 1, "INC ECX ran");
    assert_eq!(runs.translator.callouts.fetched, 1);
}

#[test]
fn block_ending_callouts_go_on_to_the_next_block_without_the_dispatcher() {
    // LOOP: a callout that ends its block, then GOTO_RIP; the CALLs through a register and through memory run
    // natively and go through the jump table.
    const N: u32 = 5000;
    let code = assemble(64, CODE, |a| {
        let (mut start, mut top, mut first, mut second) = (
            a.create_label(),
            a.create_label(),
            a.create_label(),
            a.create_label(),
        );
        a.jmp(start).unwrap();
        a.set_label(&mut first).unwrap();
        a.add(r8, 1).unwrap();
        a.ret().unwrap();
        a.set_label(&mut second).unwrap();
        a.add(r9, 2).unwrap();
        a.ret().unwrap();
        a.set_label(&mut start).unwrap();
        a.mov(ecx, N).unwrap();
        a.lea(rsi, ptr(first)).unwrap();
        a.mov(ebx, DATA as u32).unwrap();
        a.lea(rax, ptr(second)).unwrap();
        a.mov(qword_ptr(rbx), rax).unwrap();
        a.set_label(&mut top).unwrap();
        a.call(rsi).unwrap();
        a.call(qword_ptr(rbx)).unwrap();
        a.loop_(top).unwrap();
        a.hlt().unwrap();
    });
    let runs = run_both(|| machine(&[(CODE, &code)], CODE), 1 << 20, BUDGET);
    let gpr = runs.translated.state.gpr;
    assert_eq!((gpr[8], gpr[9]), (u64::from(N), 2 * u64::from(N)));
    let (stats, callouts) = (&runs.translator.stats, &runs.translator.callouts);
    assert_eq!(callouts.by_mnemonic[Mnemonic::Loop as usize], u64::from(N));
    assert_eq!(callouts.by_mnemonic[Mnemonic::Call as usize], 0);
    assert!(dispatches(&runs) * 100 < u64::from(N), "{stats:?}");
}

#[test]
fn hlt_stops_even_where_the_code_after_it_is_in_the_jump_table() {
    // A function called from a loop lies right after the HLT that ends the guest (a block-ending callout): the
    // CPU must halt there, not go on into the function.
    const N: u32 = 50;
    let code = assemble(64, CODE, |a| {
        let (mut top, mut after) = (a.create_label(), a.create_label());
        a.mov(ecx, N).unwrap();
        a.set_label(&mut top).unwrap();
        a.call(after).unwrap();
        a.dec(ecx).unwrap();
        a.jnz(top).unwrap();
        a.hlt().unwrap();
        a.set_label(&mut after).unwrap();
        a.inc(r8).unwrap();
        a.ret().unwrap();
    });
    let runs = run_both(|| machine(&[(CODE, &code)], CODE), 1 << 20, BUDGET);
    assert_eq!(runs.translated.state.gpr[8], u64::from(N));
    let after_hlt = iced_x86::Decoder::with_ip(64, &code, CODE, 0)
        .into_iter()
        .find(|i| i.mnemonic() == Mnemonic::Hlt)
        .map(|i| i.next_ip());
    assert_eq!(Some(runs.translated.state.rip), after_hlt);
}

/// Passes of [`interrupt_guest`]'s loop with IF clear.
const PASSES_BEFORE_IF: u32 = 100;

/// How the guest of [`interrupt_guest`] sets IF.
#[derive(Clone, Copy)]
enum SetIf {
    /// POPFQ of an image with IF.
    Popfq,
    /// IRETQ to the next instruction with IF in the frame's RFLAGS.
    Iretq,
}

/// A guest with IF clear and an external interrupt pending: a loop that loads RFLAGS from R13 (by `how`, an
/// instruction that ends its block) and counts in R12; after its passes it puts IF in R13, so the next load enables
/// the interrupt, which must be taken right after it (R12 = [`PASSES_BEFORE_IF`]).
fn interrupt_guest(how: SetIf) -> (Cpu, FlatBus) {
    let code = assemble(64, CODE, |a| {
        let (mut top, mut back) = (a.create_label(), a.create_label());
        a.mov(r13d, 2).unwrap();
        a.set_label(&mut top).unwrap();
        match how {
            SetIf::Popfq => {
                a.push(r13).unwrap();
                a.popfq().unwrap();
            }
            SetIf::Iretq => {
                a.mov(rax, rsp).unwrap();
                a.push(0x10).unwrap();
                a.push(rax).unwrap();
                a.push(r13).unwrap();
                a.push(8).unwrap();
                a.lea(rax, ptr(back)).unwrap();
                a.push(rax).unwrap();
                a.iretq().unwrap();
            }
        }
        a.set_label(&mut back).unwrap();
        a.inc(r12).unwrap();
        a.cmp(r12d, PASSES_BEFORE_IF).unwrap();
        a.jne(top).unwrap();
        a.mov(r13d, 0x202).unwrap();
        a.jmp(top).unwrap();
    });
    let (cpu, mut bus) = machine(&[(CODE, &code)], CODE);
    bus.pending_vectors.push_back(IRQ_VECTOR);
    (cpu, bus)
}

/// Runs [`interrupt_guest`] with `how` under both engines and checks the interrupt came right after IF was set.
fn check_interrupt_after(how: SetIf) {
    let runs = run_both(|| interrupt_guest(how), 1 << 20, BUDGET);
    assert_eq!(runs.translated.state.rip, IRQ_HANDLER + 1);
    assert_eq!(runs.translated.state.gpr[12], u64::from(PASSES_BEFORE_IF));
}

#[test]
fn an_interrupt_enabled_by_popf_is_taken_right_after_it() {
    check_interrupt_after(SetIf::Popfq);
}

#[test]
fn an_interrupt_enabled_by_iret_is_taken_right_after_it() {
    check_interrupt_after(SetIf::Iretq);
}

#[test]
fn a_call_through_a_slot_on_a_code_page_reads_it_without_the_step() {
    // The slot shares its page with code, whose TLB entry never allows fast writes: the CALL only reads it, so it
    // must not need a write-permitting entry (iced counts the CALL's own push among its memory writes).
    const N: u32 = 5000;
    let code = assemble(64, CODE, |a| {
        let (mut start, mut top, mut function, mut slot) = (
            a.create_label(),
            a.create_label(),
            a.create_label(),
            a.create_label(),
        );
        a.jmp(start).unwrap();
        a.set_label(&mut function).unwrap();
        a.add(r8, 1).unwrap();
        a.ret().unwrap();
        a.set_label(&mut slot).unwrap();
        a.dq(&[0]).unwrap();
        a.set_label(&mut start).unwrap();
        a.lea(rax, ptr(function)).unwrap();
        a.mov(qword_ptr(slot), rax).unwrap();
        a.mov(ecx, N).unwrap();
        a.set_label(&mut top).unwrap();
        a.call(qword_ptr(slot)).unwrap();
        a.dec(ecx).unwrap();
        a.jnz(top).unwrap();
        a.hlt().unwrap();
    });
    let runs = run_both(|| machine(&[(CODE, &code)], CODE), 1 << 20, BUDGET);
    assert_eq!(runs.translated.state.gpr[8], u64::from(N));
    let callouts = &runs.translator.callouts;
    assert!(
        callouts.tlb_misses * 100 < u64::from(N),
        "{} CALLs ran in the step",
        callouts.tlb_misses
    );
}

/// The guest of `code` at [`CODE`], with the 512 quadwords of the page at [`DATA`] numbered from 1 and the page
/// after it mapped not-present.
fn summing_guest(code: &[u8]) -> (Cpu, FlatBus) {
    let (cpu, mut bus) = machine(&[(CODE, code)], CODE);
    for k in 0..512 {
        bus.write_u64(DATA + 8 * k, k + 1);
    }
    bus.write_u64(pte(ROOT_A, DATA + 0x1000), 0);
    (cpu, bus)
}

#[test]
fn a_self_loop_whose_first_instruction_loads_faults_precisely() {
    // Each pass starts with a load; the pass that reaches the page mapped not-present faults at the loop's first
    // instruction, with the flags of the previous pass's CMP and the sum so far.
    let mut top_at = 0;
    let code = assemble(64, CODE, |a| {
        let mut top = a.create_label();
        a.mov(rsi, DATA).unwrap();
        a.lea(rdi, qword_ptr(rsi + 0x2000)).unwrap();
        a.xor(ebx, ebx).unwrap();
        a.set_label(&mut top).unwrap();
        a.mov(rax, qword_ptr(rsi)).unwrap();
        a.add(rbx, rax).unwrap();
        a.add(rsi, 8).unwrap();
        a.cmp(rsi, rdi).unwrap();
        a.jne(top).unwrap();
        a.hlt().unwrap();
    });
    let prefix = assemble(64, CODE, |a| {
        a.mov(rsi, DATA).unwrap();
        a.lea(rdi, qword_ptr(rsi + 0x2000)).unwrap();
        a.xor(ebx, ebx).unwrap();
    });
    top_at += CODE + prefix.len() as u64;
    let runs = run_both(|| summing_guest(&code), 1 << 20, BUDGET);
    let s = &runs.translated.state;
    assert_eq!(s.gpr[9], top_at, "#PF at the loop's load");
    assert_eq!(s.gpr[11], DATA + 0x1000, "CR2");
    assert_eq!(s.gpr[3], 512 * 513 / 2, "every pass before it summed");
}

#[test]
fn a_self_loop_that_faults_before_its_first_flag_writer_pushes_the_flags_its_last_pass_left() {
    // A self-loop's pass loads before anything touches the flags, so its lookup does not save them: a fault
    // there rebuilds them from the previous pass's last flag writer (or, on the first pass, takes those the block
    // was entered with). Each loop ends in a different writer; each faults on its first pass, its second, or
    // later. The #PF frame on the stack (compared with the interpreter's) holds the flags.
    type Writer = fn(&mut CodeAssembler);
    // The last two compare the sum, which the pass's first flag writer (the ADD) writes after the lookup.
    let writers: [(&str, Writer); 8] = [
        ("sub ecx, 1", |a| a.sub(ecx, 1).unwrap()),
        ("add rcx, -1", |a| a.add(rcx, -1).unwrap()),
        ("sub rcx, rdx", |a| a.sub(rcx, rdx).unwrap()),
        ("add ecx, edx", |a| {
            a.neg(edx).unwrap();
            a.add(ecx, edx).unwrap();
            a.neg(edx).unwrap();
        }),
        ("test ecx, ecx", |a| {
            a.dec(ecx).unwrap();
            a.test(ecx, ecx).unwrap();
        }),
        ("cmp rcx, 7", |a| {
            a.dec(rcx).unwrap();
            a.cmp(rcx, 7).unwrap();
        }),
        ("cmp rbx, rdx", |a| a.cmp(rbx, rdx).unwrap()),
        ("test ebx, ebx", |a| a.test(ebx, ebx).unwrap()),
    ];
    for (name, writer) in writers {
        for passes_before in [0u64, 1, 300] {
            let code = assemble(64, CODE, |a| {
                let mut top = a.create_label();
                a.mov(rsi, DATA + 0x1000 - 8 * passes_before).unwrap();
                a.mov(ecx, 1000).unwrap();
                a.mov(edx, 1).unwrap();
                a.xor(ebx, ebx).unwrap();
                // The loop's block is entered by a branch, with a carry and a sign that no pass leaves.
                a.cmp(ebx, 1).unwrap();
                a.jb(top).unwrap();
                a.hlt().unwrap();
                a.set_label(&mut top).unwrap();
                a.mov(rax, qword_ptr(rsi)).unwrap();
                a.add(rbx, rax).unwrap();
                a.add(rsi, 8).unwrap();
                writer(a);
                a.jne(top).unwrap();
                a.hlt().unwrap();
            });
            let runs = run_both(|| summing_guest(&code), 1 << 20, BUDGET);
            let s = &runs.translated.state;
            assert_eq!(s.gpr[11], DATA + 0x1000, "{name}, {passes_before}: CR2");
            assert!(
                runs.translator.stats.self_loops >= 1,
                "{name}, {passes_before}: the loop ran as a self-loop"
            );
            assert_eq!(
                s.gpr[3],
                (512 - passes_before..512).map(|k| k + 1).sum::<u64>(),
                "{name}, {passes_before}: every pass before the fault summed"
            );
        }
    }
}

#[test]
fn sti_with_no_interrupt_waiting_goes_on_in_translated_code() {
    // STI's shadow holds off nothing when no interrupt waits: the loop must not return to the dispatcher (nor run
    // the next instruction in the interpreter) once per STI.
    const N: u32 = 5000;
    let code = assemble(64, CODE, |a| {
        let mut top = a.create_label();
        a.mov(ecx, N).unwrap();
        a.set_label(&mut top).unwrap();
        a.cli().unwrap();
        a.sti().unwrap();
        a.inc(r8).unwrap();
        a.dec(ecx).unwrap();
        a.jnz(top).unwrap();
        a.hlt().unwrap();
    });
    let runs = run_both(|| machine(&[(CODE, &code)], CODE), 1 << 20, BUDGET);
    assert_eq!(runs.translated.state.gpr[8], u64::from(N));
    assert!(
        dispatches(&runs) * 100 < u64::from(N),
        "{} dispatcher entries",
        dispatches(&runs)
    );
}

#[test]
fn an_interrupt_waiting_at_sti_is_taken_after_the_next_instruction() {
    // The shadow holds the waiting interrupt off for one instruction: R12 counts one INC before the handler halts.
    let code = assemble(64, CODE, |a| {
        a.xor(r12d, r12d).unwrap();
        a.sti().unwrap();
        a.inc(r12).unwrap();
        a.inc(r12).unwrap();
        a.hlt().unwrap();
    });
    let guest = || {
        let (cpu, mut bus) = machine(&[(CODE, &code)], CODE);
        bus.pending_vectors.push_back(IRQ_VECTOR);
        (cpu, bus)
    };
    let runs = run_both(guest, 1 << 20, BUDGET);
    assert_eq!(runs.translated.state.rip, IRQ_HANDLER + 1);
    assert_eq!(runs.translated.state.gpr[12], 1);
}
