//! The resident registers (RDI, R8..R11) stay in their host registers from block to block: `CpuState` may hold
//! older values until generated code leaves for the dispatcher or a callout. Everything that reads guest registers
//! outside the host's must see them current.

use iced_x86::code_asm::*;
use vx86_cpu::testing::assemble;

mod common;
use common::{long_mode_guest, run_both, CODE, DATA};

#[test]
fn a_self_loop_looks_up_its_range_through_the_resident_register_not_cpu_state() {
    // The outer loop's block points RDI at another part of the data each time and, once linked, enters the inner
    // loop by a chained exit that does not store RDI: the inner loop's page group through RDI, looked up once
    // before its first pass, must use the host register.
    let code = assemble(64, CODE, |a| {
        let (mut outer, mut top) = (a.create_label(), a.create_label());
        a.mov(r12d, 3).unwrap();
        a.xor(eax, eax).unwrap();
        a.set_label(&mut outer).unwrap();
        a.lea(rdi, qword_ptr(rbx + r12 * 8)).unwrap();
        a.mov(ecx, 100).unwrap();
        a.test(ecx, ecx).unwrap();
        a.jnz(top).unwrap();
        a.hlt().unwrap();
        a.set_label(&mut top).unwrap();
        a.add(rax, qword_ptr(rdi + 8)).unwrap();
        a.add(rax, qword_ptr(rdi + 16)).unwrap();
        a.sub(ecx, 1).unwrap();
        a.jnz(top).unwrap();
        a.dec(r12d).unwrap();
        a.jnz(outer).unwrap();
        a.hlt().unwrap();
    });
    let runs = run_both(
        || {
            let (cpu, mut bus) = long_mode_guest(&code);
            for k in 0..6 {
                bus.ram[DATA as usize + 8 * k] = 1 << k;
            }
            (cpu, bus)
        },
        1 << 20,
        10_000,
    );
    // Passes with RDI at DATA + 24, + 16, + 8 (the qword at DATA + 8k holds 2^k): 100 * ((16 + 32) + (8 + 16) + (4 + 8)).
    assert_eq!(runs.translated.state.gpr[0], 8400);
    assert!(
        runs.translator.stats.hoisted_groups >= 1,
        "the loop's group was looked up before it"
    );
}

#[test]
fn resident_registers_cross_chained_exits_lookups_callouts_and_faultless_steps() {
    let code = assemble(64, CODE, |a| {
        let (mut second, mut function, mut done) =
            (a.create_label(), a.create_label(), a.create_label());
        a.mov(rdi, 0x1111u64).unwrap();
        a.mov(r8, 0x2222u64).unwrap();
        a.mov(r9, 0x3333u64).unwrap();
        a.mov(r10, 0x4444u64).unwrap();
        a.mov(r11, 0x5555u64).unwrap();
        a.test(edi, edi).unwrap();
        a.jnz(second).unwrap();
        a.hlt().unwrap();
        a.set_label(&mut second).unwrap();
        // A callout (POPFQ), a call and return through the jump table, an indirect jump.
        a.add(rdi, r8).unwrap();
        a.pushfq().unwrap();
        a.popfq().unwrap();
        a.add(r9, r10).unwrap();
        a.call(function).unwrap();
        a.lea(rax, ptr(done)).unwrap();
        a.add(r11, rdi).unwrap();
        a.jmp(rax).unwrap();
        a.set_label(&mut function).unwrap();
        a.imul_2(r8, r9).unwrap();
        // A store the step runs (across a page), then a load that misses the TLB.
        a.mov(qword_ptr(rbx + 0xFFC), r10).unwrap();
        a.mov(r10, qword_ptr(rbx + 0x3000)).unwrap();
        a.ret().unwrap();
        a.set_label(&mut done).unwrap();
        a.mov(rsi, rdi).unwrap();
        a.lea(rdi, qword_ptr(rbx + 0x100)).unwrap();
        a.mov(ecx, 16).unwrap();
        a.rep().stosb().unwrap();
        a.hlt().unwrap();
    });
    let runs = run_both(|| long_mode_guest(&code), 1 << 20, 10_000);
    assert_eq!(runs.translated.state.gpr[11], 0x5555 + 0x3333);
    assert_eq!(
        runs.translated.state.gpr[6], 0x3333,
        "RDI as the blocks left it"
    );
}

#[test]
fn a_self_loop_that_leaves_for_another_page_keeps_its_budget() {
    // The loop (8 bytes, RBX among its registers, so its budget lives in RBP) ends at a page's end: its way out
    // goes through the jump table to the next page, with the target in a register a budget may live in.
    let code = assemble(64, CODE, |a| {
        let mut top = a.create_label();
        a.mov(ecx, 1000).unwrap();
        a.mov(ebx, 3).unwrap();
        for _ in 0..0xFF8 - 10 {
            a.nop().unwrap();
        }
        a.set_label(&mut top).unwrap();
        a.add(rax, rbx).unwrap();
        a.sub(ecx, 1).unwrap();
        a.jnz(top).unwrap();
        a.hlt().unwrap();
    });
    assert_eq!(code.len(), 0x1001, "the loop ends at the page's end");
    let runs = run_both(|| long_mode_guest(&code), 1 << 20, 100_000);
    assert_eq!(runs.translated.state.gpr[0], 3000);
}
