//! REP STOS and REP MOVS: generated code runs them with the host's REP when every element lies in one page the
//! TLB serves, and leaves everything else to the CPU's step. Either way the result must be the interpreter's.

use iced_x86::code_asm::*;
use iced_x86::Mnemonic;
use vx86_cpu::testing::assemble;

mod common;
use common::{long_mode_guest, run_both, run_both_to_the_end, CODE};

/// How often each guest below repeats its strings: enough that blocks are reused and the TLB is warm.
const PASSES: i32 = 50;

/// Times `m` ran in the CPU's step in a run.
fn slow_paths(runs: &common::Runs, m: Mnemonic) -> u64 {
    runs.translator.callouts.by_mnemonic[m as usize]
}

/// A guest that repeats `body` `PASSES` times (R8 counts the passes) and halts.
fn repeated(body: impl Fn(&mut CodeAssembler)) -> Vec<u8> {
    assemble(64, CODE, |a| {
        let mut top = a.create_label();
        a.mov(r8d, PASSES).unwrap();
        a.set_label(&mut top).unwrap();
        body(a);
        a.dec(r8d).unwrap();
        a.jne(top).unwrap();
        a.hlt().unwrap();
    })
}

#[test]
fn strings_within_a_page_run_without_the_step() {
    let code = repeated(|a| {
        a.mov(rax, 0x1122_3344_5566_7788u64).unwrap();
        for (offset, count) in [(0x10, 100), (0x800, 0x100)] {
            a.lea(rdi, qword_ptr(rbx + offset)).unwrap();
            a.mov(ecx, count).unwrap();
            a.rep().stosq().unwrap();
        }
        a.lea(rdi, qword_ptr(rbx + 0x1003)).unwrap();
        a.mov(ecx, 0xFFD).unwrap();
        a.rep().stosb().unwrap();
        a.lea(rsi, qword_ptr(rbx + 0x10)).unwrap();
        a.lea(rdi, qword_ptr(rbx + 0x1400)).unwrap();
        a.mov(ecx, 200).unwrap();
        a.rep().movsd().unwrap();
        // Overlapping, the destination just above the source: each element reads one the copy wrote.
        a.lea(rsi, qword_ptr(rbx + 0x1800)).unwrap();
        a.lea(rdi, qword_ptr(rbx + 0x1801)).unwrap();
        a.mov(ecx, 300).unwrap();
        a.rep().movsb().unwrap();
        // An empty count does nothing.
        a.xor(ecx, ecx).unwrap();
        a.rep().movsw().unwrap();
    });
    let runs = run_both(|| long_mode_guest(&code), 1 << 20, 1_000_000);
    for m in [
        Mnemonic::Stosq,
        Mnemonic::Stosb,
        Mnemonic::Movsd,
        Mnemonic::Movsb,
        Mnemonic::Movsw,
    ] {
        // The first pass may fill the TLB through the step; the other passes must not need it.
        assert!(
            slow_paths(&runs, m) <= 2,
            "{m:?}: {} slow paths",
            slow_paths(&runs, m)
        );
    }
    assert_eq!(runs.translated.state.gpr[1], 0, "RCX ends at zero");
}

#[test]
fn strings_the_host_cannot_run_go_to_the_step() {
    let code = repeated(|a| {
        a.mov(eax, 0x5A5A_5A5A).unwrap();
        // Across a page boundary.
        a.lea(rdi, qword_ptr(rbx + 0xFF0)).unwrap();
        a.mov(ecx, 8).unwrap();
        a.rep().stosd().unwrap();
        // Downwards (DF set).
        a.std().unwrap();
        a.lea(rsi, qword_ptr(rbx + 0x1F8)).unwrap();
        a.lea(rdi, qword_ptr(rbx + 0x2F8)).unwrap();
        a.mov(ecx, 16).unwrap();
        a.rep().movsq().unwrap();
        a.cld().unwrap();
        // More than a page: the step's page-at-a-time path.
        a.lea(rdi, qword_ptr(rbx + 0x3000)).unwrap();
        a.mov(ecx, 0x1800).unwrap();
        a.rep().stosw().unwrap();
        // Into the code's own page (away from the code), which holds translated code.
        a.mov(rdi, CODE + 0xC00).unwrap();
        a.mov(ecx, 0x40).unwrap();
        a.rep().stosb().unwrap();
    });
    let runs = run_both(|| long_mode_guest(&code), 1 << 20, 1_000_000);
    for m in [
        Mnemonic::Stosd,
        Mnemonic::Movsq,
        Mnemonic::Stosw,
        Mnemonic::Stosb,
    ] {
        assert!(
            slow_paths(&runs, m) >= PASSES as u64,
            "{m:?} ran without the step"
        );
    }
}

#[test]
fn a_string_that_faults_faults_as_under_the_interpreter() {
    // The guest maps its 4 MiB of RAM and nothing above: the third element faults (#PF; with no IDT, a triple
    // fault), after the first two are stored.
    let code = assemble(64, CODE, |a| {
        a.mov(rax, PATTERN).unwrap();
        a.mov(rdi, (4u64 << 20) - 0x10).unwrap();
        a.mov(ecx, 4).unwrap();
        a.rep().stosq().unwrap();
        a.lea(rdi, qword_ptr(rbx + 0x100)).unwrap();
        a.mov(rsi, 0x4000_0000u64).unwrap();
        a.mov(ecx, 4).unwrap();
        a.rep().movsq().unwrap();
        a.hlt().unwrap();
    });
    let (cpu, _, bus) = run_both_to_the_end(|| long_mode_guest(&code), 1000);
    let stored = [PATTERN.to_le_bytes(), PATTERN.to_le_bytes()].concat();
    assert_eq!(
        &bus.ram[(4 << 20) - 0x10..],
        &stored[..],
        "the elements before the fault are stored"
    );
    assert_eq!(cpu.state.gpr[1], 2, "RCX counts the elements left");
}

/// What the faulting guest stores.
const PATTERN: u64 = 0x0123_4567_89AB_CDEF;
