//! Segment registers on the stack in 32-bit protected mode under every engine, KVM included (the CPU crate's
//! tests check the same under the interpreter and the translator alone): POP SS moves ESP within the width of
//! the stack segment it popped from, and a 32-bit PUSH of a segment register moves ESP by 4 and writes the
//! selector's 16 bits.

mod common;

use common::flat::{self, DATA, DATA16};
use iced_x86::code_asm::*;
use vx86_machine::{EngineKind, Outcome};

/// Results, one dword each.
const RESULTS: u32 = 0x20000;

fn result(k: u32) -> AsmMemoryOperand {
    dword_ptr(RESULTS + 4 * k)
}

/// Switches to the stack `selector`:`top`.
fn stack(a: &mut CodeAssembler, selector: u16, top: u32) {
    a.mov(eax, u32::from(selector)).unwrap();
    a.mov(ss, eax).unwrap();
    a.mov(esp, top).unwrap();
}

fn guest(a: &mut CodeAssembler) {
    // 0: from a 32-bit stack to a 16-bit one, ESP goes from 0x1FFFC to 0x20000 (a 16-bit SP would wrap).
    stack(a, DATA, 0x2_0000);
    a.push(u32::from(DATA16)).unwrap();
    a.pop(ss).unwrap();
    a.mov(result(0), esp).unwrap();
    // 1: from a 16-bit stack to a 32-bit one, SP wraps from 0xFFFC to 0 and ESP's upper half stays.
    stack(a, DATA16, 0x1_0000);
    a.push(u32::from(DATA)).unwrap();
    a.pop(ss).unwrap();
    a.mov(result(1), esp).unwrap();
    // 2-3: a 32-bit PUSH FS on a 32-bit stack: ESP and the dword it wrote over 0xDEADBEEF.
    stack(a, DATA, 0x8000);
    a.mov(dword_ptr(0x7FFC), 0xDEAD_BEEFu32).unwrap();
    a.push(fs).unwrap();
    a.mov(result(2), esp).unwrap();
    a.mov(eax, dword_ptr(0x7FFC)).unwrap();
    a.mov(result(3), eax).unwrap();
    // 4-5: the same on a 16-bit stack, where SP wraps from 0 to 0xFFFC.
    stack(a, DATA16, 0x5_0000);
    a.mov(dword_ptr(0xFFFC), 0xDEAD_BEEFu32).unwrap();
    a.push(gs).unwrap();
    a.mov(result(4), esp).unwrap();
    a.mov(eax, dword_ptr(0xFFFC)).unwrap();
    a.mov(result(5), eax).unwrap();
    stack(a, DATA, 0x8000);
}

fn run(engine: EngineKind) -> (Outcome, Vec<u32>) {
    let mut vm = flat::protected_machine(engine, |a| {
        guest(a);
        common::acpi_power_off(a);
    });
    let (outcome, _) = vm.run();
    let mut data = vec![0u8; 24];
    vm.board.memory.read_phys(u64::from(RESULTS), &mut data);
    let words = data
        .chunks(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    (outcome, words)
}

#[test]
fn pop_ss_and_segment_pushes_follow_the_stack_widths_under_every_engine() {
    let mut runs = flat::engines().into_iter().map(|e| (e, run(e)));
    let (_, reference) = runs.next().expect("the interpreter runs");
    for (engine, other) in runs {
        assert_eq!(other, reference, "{engine} differs from interp");
    }
    let (outcome, r) = reference;
    assert_eq!(outcome, Outcome::PowerOff);
    assert_eq!(r[0], 0x2_0000, "POP SS from a 32-bit stack");
    assert_eq!(r[1], 0x1_0000, "POP SS from a 16-bit stack");
    assert_eq!(r[2], 0x7FFC, "PUSH FS moves ESP by 4");
    assert_eq!(r[3], 0xDEAD_0000 | u32::from(DATA), "and writes 16 bits");
    assert_eq!(r[4], 0x5_FFFC, "on a 16-bit stack SP wraps");
    assert_eq!(r[5], 0xDEAD_0000 | u32::from(DATA));
}
