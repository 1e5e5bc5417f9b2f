//! Transfers followed within a block: a direct JMP or CALL to the block's page goes on with the code at its target,
//! and a RET known to return from such a CALL goes on at the return address. Each guest runs under the interpreter
//! and under the translator, which must end in the same state, memory included; the translator's counters show
//! whether the transfers were followed.

use iced_x86::code_asm::*;
use vx86_cpu::testing::assemble;

mod common;
use common::{long_mode_guest as guest, run_both, run_both_to_the_end, Runs, CODE, STACK};

const BUDGET: u64 = 1_000_000;

/// Runs `code`, which halts, under both engines.
fn run(code: &[u8]) -> Runs {
    run_both(|| guest(code), 1 << 20, BUDGET)
}

#[test]
fn a_loop_calling_a_leaf_on_its_page_runs_as_one_block() {
    // The nanobenchmark's call_ret loop, with a leaf that computes: CALL, the leaf, its RET and the JMP after the
    // call all follow in the loop's one block.
    let code = assemble(64, CODE, |a| {
        let (mut top, mut leaf, mut after) = (a.create_label(), a.create_label(), a.create_label());
        a.mov(ebp, 1000).unwrap();
        a.set_label(&mut top).unwrap();
        a.call(leaf).unwrap();
        a.jmp(after).unwrap();
        a.set_label(&mut leaf).unwrap();
        a.add(rax, rbp).unwrap();
        a.mov(rcx, qword_ptr(rbx)).unwrap();
        a.ret().unwrap();
        a.set_label(&mut after).unwrap();
        a.dec(ebp).unwrap();
        a.jnz(top).unwrap();
        a.hlt().unwrap();
    });
    let runs = run(&code);
    assert_eq!(runs.translated.state.gpr[0], (1..=1000).sum::<u64>());
    let stats = &runs.translator.stats;
    // The first block (MOV, CALL, leaf, RET, JMP, DEC, JNZ) and the loop's (from TOP) follow three each.
    assert_eq!(stats.followed_transfers, 6, "{stats:?}");
    assert!(stats.blocks_translated <= 3, "{stats:?}");
    assert_eq!(stats.lookups, 0, "no return is looked up: {stats:?}");
}

#[test]
fn a_callee_that_rewrites_its_return_address_returns_where_it_says() {
    // A retpoline's shape: the callee stores a new return address over the one the CALL pushed, so its RET must
    // read the slot (it goes to SKIP, not to the instruction after the CALL).
    let code = assemble(64, CODE, |a| {
        let (mut leaf, mut skip) = (a.create_label(), a.create_label());
        a.lea(rax, ptr(skip)).unwrap();
        a.call(leaf).unwrap();
        a.mov(r8, 1u64).unwrap();
        a.hlt().unwrap();
        a.set_label(&mut leaf).unwrap();
        a.mov(qword_ptr(rsp), rax).unwrap();
        a.ret().unwrap();
        a.set_label(&mut skip).unwrap();
        a.mov(r9, 2u64).unwrap();
        a.hlt().unwrap();
    });
    let runs = run(&code);
    assert_eq!(
        runs.translated.state.gpr[8], 0,
        "the code after the CALL never ran"
    );
    assert_eq!(runs.translated.state.gpr[9], 2, "the RET went to SKIP");
    // Its RET not known, the CALL was not followed either.
    assert_eq!(runs.translator.stats.followed_transfers, 0);
}

#[test]
fn a_callee_that_moves_the_stack_returns_through_its_slot() {
    // The callee pops its return address into RDX and pushes RAX instead: RSP moves, so the RET reads the slot.
    let code = assemble(64, CODE, |a| {
        let (mut leaf, mut skip) = (a.create_label(), a.create_label());
        a.lea(rax, ptr(skip)).unwrap();
        a.call(leaf).unwrap();
        a.hlt().unwrap();
        a.set_label(&mut leaf).unwrap();
        a.pop(rdx).unwrap();
        a.push(rax).unwrap();
        a.ret().unwrap();
        a.set_label(&mut skip).unwrap();
        a.mov(r9, 2u64).unwrap();
        a.hlt().unwrap();
    });
    let runs = run(&code);
    assert_eq!(runs.translated.state.gpr[9], 2, "the RET went to SKIP");
    assert_eq!(
        runs.translated.state.gpr[2],
        CODE + 12,
        "RDX: the return address the CALL pushed"
    );
}

#[test]
fn a_fault_in_a_followed_callee_comes_with_its_call_done() {
    // The callee loads from an unmapped address: the #PF (a triple fault: no IDT) comes at the load, with RSP
    // below the return address the CALL pushed, exactly as under the interpreter.
    let code = assemble(64, CODE, |a| {
        let mut leaf = a.create_label();
        a.mov(rcx, 0x1_0000_0000u64).unwrap();
        a.call(leaf).unwrap();
        a.hlt().unwrap();
        a.set_label(&mut leaf).unwrap();
        a.add(r8, 1).unwrap();
        a.mov(rax, qword_ptr(rcx)).unwrap();
        a.ret().unwrap();
    });
    let (cpu, translator, _) = run_both_to_the_end(|| guest(&code), BUDGET);
    assert_eq!(cpu.state.gpr[8], 1, "the callee's ADD ran");
    assert_eq!(
        cpu.state.gpr[4],
        STACK - 8,
        "RSP below the pushed return address"
    );
    assert_eq!(cpu.state.cr2, 0x1_0000_0000, "CR2");
    assert!(translator.stats.followed_transfers >= 1);
}

#[test]
fn rewriting_a_followed_callee_takes_effect_at_the_next_call() {
    // The loop calls a leaf that adds 1 to RAX, then rewrites the leaf's immediate to 5: the block that followed
    // the CALL into the leaf must be translated again, as the interpreter runs the new code.
    let code = assemble(64, CODE, |a| {
        let (mut top, mut leaf, mut imm) = (a.create_label(), a.create_label(), a.create_label());
        a.mov(ebp, 3).unwrap();
        a.set_label(&mut top).unwrap();
        a.call(leaf).unwrap();
        a.lea(rdx, ptr(imm)).unwrap();
        a.mov(byte_ptr(rdx), 5).unwrap();
        a.dec(ebp).unwrap();
        a.jnz(top).unwrap();
        a.hlt().unwrap();
        a.set_label(&mut leaf).unwrap();
        // ADD RAX, imm8: 48 83 C0 ib; IMM labels the immediate byte.
        a.db(&[0x48, 0x83, 0xC0]).unwrap();
        a.set_label(&mut imm).unwrap();
        a.db(&[0x01]).unwrap();
        a.ret().unwrap();
    });
    let runs = run(&code);
    assert_eq!(runs.translated.state.gpr[0], 1 + 5 + 5);
    assert!(
        runs.translator.stats.smc_invalidations >= 1,
        "{:?}",
        runs.translator.stats
    );
}
