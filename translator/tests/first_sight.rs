//! Translation on a block's second run ([`Translator::interpret_first_sights`]): the interpreter runs a block the
//! first time, and only code that runs again is translated. Each guest runs under the interpreter and under a
//! translator that interprets first sights; both must end in the same state.

use iced_x86::code_asm::*;
use vx86_cpu::testing::assemble;
use vx86_translator::Translator;

mod common;
use common::{long_mode_guest, run_both, run_both_with, Runs, CODE};

/// A translator that leaves a block's first run to the interpreter.
fn second_sight_translator() -> Translator {
    let mut translator = Translator::new(1 << 20).expect("a code cache");
    translator.interpret_first_sights = true;
    translator
}

/// Eight blocks chained by JMPs that run once, then a loop that runs 500 times.
fn once_then_a_loop() -> Vec<u8> {
    assemble(64, CODE, |a| {
        for k in 1..=8 {
            let mut next = a.create_label();
            a.add(rax, k).unwrap();
            a.jmp(next).unwrap();
            a.set_label(&mut next).unwrap();
        }
        let mut top = a.create_label();
        a.mov(ecx, 500).unwrap();
        a.set_label(&mut top).unwrap();
        a.add(rbx, rcx).unwrap();
        a.dec(ecx).unwrap();
        a.jnz(top).unwrap();
        a.hlt().unwrap();
    })
}

#[test]
fn code_that_runs_once_is_interpreted_and_code_that_runs_again_is_translated() {
    let code = once_then_a_loop();
    let runs = run_both_with(
        || long_mode_guest(&code),
        second_sight_translator(),
        1 << 20,
    );
    assert_eq!(runs.translated.state.gpr[0], (1..=8).sum::<u64>());
    let stats = &runs.translator.stats;
    assert_eq!(stats.blocks_translated, 1, "only the loop is translated");
    // The chain's eight blocks, the loop's set-up, the loop's first pass and the HLT.
    assert_eq!(stats.first_sights, 11);
    assert!(
        stats.dispatches < 10,
        "the loop runs in generated code ({} dispatcher entries)",
        stats.dispatches
    );
    // Without it, every block is translated.
    let all = run_both(|| long_mode_guest(&code), 1 << 20, 1 << 20);
    assert!(all.translator.stats.blocks_translated >= 3);
    assert_eq!(all.translator.stats.first_sights, 0);
}

#[test]
fn a_function_rewritten_between_its_first_and_second_run_runs_its_new_code() {
    // The first call runs the function in the interpreter; a store then changes its immediate; the second call
    // translates the function from its new bytes.
    let code = assemble(64, CODE, |a| {
        let (mut function, mut start) = (a.create_label(), a.create_label());
        a.jmp(start).unwrap();
        a.set_label(&mut function).unwrap();
        a.mov(eax, 0x1111).unwrap();
        a.ret().unwrap();
        a.set_label(&mut start).unwrap();
        a.call(function).unwrap();
        a.mov(r8, rax).unwrap();
        // The MOV's immediate: the 4 bytes after its opcode.
        a.lea(rdx, ptr(function)).unwrap();
        a.mov(dword_ptr(rdx + 1), 0x2222).unwrap();
        a.call(function).unwrap();
        a.add(r8, rax).unwrap();
        a.call(function).unwrap();
        a.add(r8, rax).unwrap();
        a.hlt().unwrap();
    });
    let runs: Runs = run_both_with(
        || long_mode_guest(&code),
        second_sight_translator(),
        1 << 20,
    );
    assert_eq!(runs.translated.state.gpr[8], 0x1111 + 2 * 0x2222);
    let stats = &runs.translator.stats;
    assert!(stats.first_sights >= 3);
    assert!(
        stats.blocks_translated >= 1,
        "the function's third call runs its translation"
    );
}
