//! Page groups: accesses through one base register share a soft-TLB lookup made by the first of them. Each guest
//! runs under the interpreter and under the translator, which must end in the same state; the translator's
//! counters show whether the groups served the accesses or fell back to the step, which runs the group's range
//! instruction by instruction, and whether a loop's group was looked up before the loop.

use iced_x86::code_asm::*;
use vx86_cpu::testing::{assemble, FlatBus, LONG_MODE_TABLES};
use vx86_cpu::Cpu;
use vx86_translator::group::FALLBACK_LIMIT;

mod common;
use common::{long_mode_guest as guest, run_both, run_both_to_the_end, CODE, DATA, RAM};

const BUDGET: u64 = 1_000_000;

#[test]
fn accesses_through_one_base_and_the_stack_share_a_lookup() {
    const N: u32 = 1000;
    let code = assemble(64, CODE, |a| {
        let mut top = a.create_label();
        a.mov(r12d, N).unwrap();
        a.set_label(&mut top).unwrap();
        a.mov(rax, qword_ptr(rbx + 8)).unwrap();
        a.add(qword_ptr(rbx + 16), rax).unwrap();
        a.lea(rcx, ptr(rax + 1)).unwrap();
        a.mov(qword_ptr(rbx + 8), rcx).unwrap();
        a.push(rax).unwrap();
        a.push(rcx).unwrap();
        a.mov(rdx, qword_ptr(rsp + 8)).unwrap();
        a.pop(rsi).unwrap();
        a.pop(rdi).unwrap();
        a.sub(r12d, 1).unwrap();
        a.jnz(top).unwrap();
        a.hlt().unwrap();
    });
    let runs = run_both(|| guest(&code), 1 << 20, BUDGET);
    let s = &runs.translated.state;
    let n = u64::from(N);
    assert_eq!(s.gpr[0], n - 1, "RAX counted the passes");
    assert_eq!(s.gpr[2], n - 1, "the stack slot read between PUSH and POP");
    let (stats, callouts) = (&runs.translator.stats, &runs.translator.callouts);
    assert!(
        stats.page_groups >= 2 && stats.grouped_accesses >= 5,
        "{} groups, {} accesses sharing a lookup",
        stats.page_groups,
        stats.grouped_accesses
    );
    // Only the first pass may fall back: the data page's dirty bit is clear until its first write.
    assert!(
        callouts.group_fallbacks <= 2,
        "{} fallbacks",
        callouts.group_fallbacks
    );
    assert!(
        callouts.tlb_misses < n / 10,
        "{} slow paths",
        callouts.tlb_misses
    );
}

#[test]
fn a_stack_frame_built_by_push_and_sub_is_one_group() {
    // A prologue and epilogue: RSP moves by PUSH, SUB, ADD and POP, each by a known amount, so every slot is at a
    // known offset from RSP at the first PUSH.
    let code = assemble(64, CODE, |a| {
        a.mov(rax, 0x1234u64).unwrap();
        a.push(rbp).unwrap();
        a.push(rbx).unwrap();
        a.sub(rsp, 0x18).unwrap();
        a.mov(qword_ptr(rsp + 8), rax).unwrap();
        a.mov(rcx, qword_ptr(rsp + 0x18)).unwrap();
        a.add(qword_ptr(rsp + 8), rcx).unwrap();
        a.mov(rdx, qword_ptr(rsp + 8)).unwrap();
        a.add(rsp, 0x18).unwrap();
        a.pop(rbx).unwrap();
        a.pop(rbp).unwrap();
        a.hlt().unwrap();
    });
    let runs = run_both(|| guest(&code), 1 << 20, BUDGET);
    assert_eq!(
        runs.translated.state.gpr[2],
        0x1234 + DATA,
        "RBX as pushed, plus RAX"
    );
    let stats = &runs.translator.stats;
    assert_eq!(
        (stats.page_groups, stats.grouped_accesses),
        (1, 7),
        "one lookup for the frame's eight accesses"
    );
}

#[test]
fn a_range_across_a_page_falls_back_then_its_block_does_without_the_group() {
    const N: u32 = 100;
    let code = assemble(64, CODE, |a| {
        let mut top = a.create_label();
        a.mov(r12d, N).unwrap();
        a.set_label(&mut top).unwrap();
        a.mov(rax, qword_ptr(rbx + 0xFF8)).unwrap();
        a.add(rax, 3).unwrap();
        a.add(qword_ptr(rbx + 0x1000), rax).unwrap();
        a.mov(qword_ptr(rbx + 0xFF8), rax).unwrap();
        a.sub(r12d, 1).unwrap();
        a.jnz(top).unwrap();
        a.hlt().unwrap();
    });
    let runs = run_both(|| guest(&code), 1 << 20, BUDGET);
    let n = u64::from(N);
    assert_eq!(runs.translated.state.gpr[0], 3 * n);
    let callouts = &runs.translator.callouts;
    // The first pass runs in the block that starts at the MOV before the loop (its own copy of the group falls
    // back once); the loop's block falls back until it is translated again without the group.
    assert_eq!(
        callouts.group_fallbacks,
        u64::from(FALLBACK_LIMIT) + 1,
        "the group falls back until its block is translated again without it"
    );
    assert!(
        callouts.tlb_misses < n,
        "{} slow paths: the accesses went fast again",
        callouts.tlb_misses
    );
}

#[test]
fn a_read_leads_without_dirtying_the_page_before_the_write() {
    // The PDE of the data page, read between the group's read and its write: its dirty bit is clear on the first
    // pass, as under the interpreter, and set on the later ones.
    let pde = LONG_MODE_TABLES + 0x2000 + 8 * (DATA >> 21);
    let code = assemble(64, CODE, |a| {
        let mut top = a.create_label();
        a.mov(r12d, 3).unwrap();
        a.xor(r8d, r8d).unwrap();
        a.mov(rdx, pde).unwrap();
        a.set_label(&mut top).unwrap();
        a.mov(rax, qword_ptr(rbx)).unwrap();
        a.mov(rcx, qword_ptr(rdx)).unwrap();
        a.add(r8, rcx).unwrap();
        a.mov(qword_ptr(rbx + 8), rax).unwrap();
        a.sub(r12d, 1).unwrap();
        a.jnz(top).unwrap();
        a.hlt().unwrap();
    });
    let runs = run_both(|| guest(&code), 1 << 20, BUDGET);
    let (accessed, dirty) = (1 << 5, 1 << 6);
    let entry = DATA | 0x83 | accessed;
    assert_eq!(runs.translated.state.gpr[8], 3 * entry + 2 * dirty);
    assert!(runs.translator.stats.page_groups >= 1);
}

#[test]
fn a_member_whose_page_is_not_present_faults_at_its_own_instruction() {
    // RBX points at the last quadword of mapped RAM: the group's second access is on an unmapped page. With no IDT
    // the #PF ends in a triple fault, after R8 recorded the progress and CR2 the address.
    let code = assemble(64, CODE, |a| {
        a.mov(r8d, 1).unwrap();
        a.mov(rax, qword_ptr(rbx)).unwrap();
        a.mov(r8d, 2).unwrap();
        a.mov(rcx, qword_ptr(rbx + 8)).unwrap();
        a.mov(r8d, 3).unwrap();
        a.hlt().unwrap();
    });
    let at_the_end = || {
        let (mut cpu, bus) = guest(&code);
        cpu.state.gpr[3] = RAM as u64 - 8;
        (cpu, bus)
    };
    let (cpu, translator, _) = run_both_to_the_end(at_the_end, BUDGET);
    assert_eq!(cpu.state.gpr[8], 2, "the second access faulted");
    assert_eq!(cpu.state.cr2, RAM as u64, "CR2");
    assert_eq!(translator.stats.page_groups, 1);
    assert_eq!(translator.callouts.group_fallbacks, 1);
}

#[test]
fn a_self_loops_group_through_an_unchanging_base_is_looked_up_once_per_run_of_the_loop() {
    // The inner loop's first access leads a group through RBX, which only the outer loop moves (a page on each
    // time): the inner loop's block looks the range up before its first pass, once per run. (The loop's budget
    // test goes before its first instruction that writes every flag, the ADD to RCX, which a group cannot span.)
    const PASSES: u32 = 300;
    let code = assemble(64, CODE, |a| {
        let (mut outer, mut inner) = (a.create_label(), a.create_label());
        a.mov(r13d, 4).unwrap();
        a.set_label(&mut outer).unwrap();
        a.mov(r12d, PASSES).unwrap();
        a.set_label(&mut inner).unwrap();
        a.add(rcx, r12).unwrap();
        a.mov(rax, qword_ptr(rbx + 8)).unwrap();
        a.add(rax, r12).unwrap();
        a.mov(qword_ptr(rbx + 8), rax).unwrap();
        a.add(qword_ptr(rbx + 16), 1).unwrap();
        a.sub(r12d, 1).unwrap();
        a.jnz(inner).unwrap();
        a.add(rbx, 0x1000).unwrap();
        a.sub(r13d, 1).unwrap();
        a.jnz(outer).unwrap();
        a.hlt().unwrap();
    });
    let runs = run_both(|| guest(&code), 1 << 20, BUDGET);
    let sum = u64::from(PASSES) * u64::from(PASSES + 1) / 2;
    for page in 0..4 {
        let at = DATA + 0x1000 * page;
        assert_eq!(u64::from(runs.bus.read_u32(at + 8)), sum, "page {page}");
        assert_eq!(runs.bus.read_u32(at + 16), PASSES, "page {page}");
    }
    let (stats, callouts) = (&runs.translator.stats, &runs.translator.callouts);
    assert_eq!(stats.hoisted_groups, 1, "{stats:?}");
    // Each run's first lookup may miss (a new page, not yet dirty); the passes after it go fast.
    assert!(callouts.tlb_misses < 4 * 4, "{callouts:?}");
}

#[test]
fn a_group_looked_up_before_its_loop_faults_at_its_leader_after_the_instructions_before_it() {
    // RBX points at a page that is not mapped: the first pass runs in the step, ADD included, and the #PF comes at
    // the MOV (with no IDT, a triple fault) with CR2 = RBX.
    let code = assemble(64, CODE, |a| {
        let mut top = a.create_label();
        a.mov(r12d, 10).unwrap();
        // The loop's block starts at TOP: a Jcc both of whose ways lead there ends the block before it (a JMP's
        // target would follow in the block).
        a.jne(top).unwrap();
        a.set_label(&mut top).unwrap();
        a.add(r8, 1).unwrap();
        a.mov(rax, qword_ptr(rbx)).unwrap();
        a.mov(qword_ptr(rbx + 8), rax).unwrap();
        a.sub(r12d, 1).unwrap();
        a.jnz(top).unwrap();
        a.hlt().unwrap();
    });
    let unmapped = || {
        let (mut cpu, bus) = guest(&code);
        cpu.state.gpr[3] = RAM as u64 + 0x100;
        (cpu, bus)
    };
    let (cpu, translator, _) = run_both_to_the_end(unmapped, BUDGET);
    assert_eq!(cpu.state.gpr[8], 1, "the ADD before the access ran once");
    assert_eq!(cpu.state.cr2, RAM as u64 + 0x100, "CR2");
    assert_eq!(translator.stats.hoisted_groups, 1);
}

/// A CRC32-shaped loop over the bytes from RSI to RDI, through the table at RBX indexed by a byte (R15, which
/// generated code renames, as in the XZ decoder's loop): EDX is the checksum. Data and table come from
/// `table_and_data`, RBX from `table_at`.
fn crc_guest(table_at: u64) -> (Cpu, FlatBus) {
    let code = assemble(64, CODE, |a| {
        let mut top = a.create_label();
        // The loop's block starts at TOP (a JMP's target would follow in the block).
        a.jne(top).unwrap();
        a.set_label(&mut top).unwrap();
        a.movzx(r15d, byte_ptr(rsi)).unwrap();
        a.add(rsi, 1).unwrap();
        a.xor(r15d, edx).unwrap();
        a.shr(edx, 8).unwrap();
        a.movzx(r15d, r15b).unwrap();
        a.xor(edx, dword_ptr(rbx + r15 * 4)).unwrap();
        a.cmp(rsi, rdi).unwrap();
        a.jne(top).unwrap();
        a.hlt().unwrap();
    });
    let (mut cpu, mut bus) = guest(&code);
    let table: Vec<u8> = (0..256u32)
        .flat_map(|k| {
            k.wrapping_mul(0x9E37_79B9)
                .rotate_left(k % 31)
                .to_le_bytes()
        })
        .collect();
    if table_at + 1024 <= RAM as u64 {
        bus.load(table_at, &table);
    }
    let data: Vec<u8> = (0..2000u32).map(|k| (k * 7 + k / 13) as u8).collect();
    bus.load(DATA + 0x2000, &data);
    cpu.state.gpr[3] = table_at;
    cpu.state.gpr[6] = DATA + 0x2000;
    cpu.state.gpr[7] = DATA + 0x2000 + data.len() as u64;
    cpu.state.gpr[2] = 0xFFFF_FFFF;
    (cpu, bus)
}

#[test]
fn a_table_indexed_by_a_byte_is_looked_up_once_per_run_of_the_loop() {
    let runs = run_both(|| crc_guest(DATA + 0x100), 1 << 20, BUDGET);
    let (stats, callouts) = (&runs.translator.stats, &runs.translator.callouts);
    assert_eq!(stats.hoisted_groups, 1, "{stats:?}");
    // 2,000 bytes, two accesses each: only the first few may miss.
    assert!(callouts.tlb_misses < 10, "{callouts:?}");
}

#[test]
fn a_table_across_a_page_falls_back_then_its_loop_does_without_the_hoist() {
    let runs = run_both(|| crc_guest(DATA + 0xF00), 1 << 20, BUDGET);
    let callouts = &runs.translator.callouts;
    // The range crosses the page: each entry runs a pass in the step until the block does without the hoist.
    assert_eq!(
        callouts.group_fallbacks,
        u64::from(FALLBACK_LIMIT),
        "{callouts:?}"
    );
}

#[test]
fn a_table_on_a_page_not_present_faults_at_its_access_after_the_instructions_before_it() {
    let (cpu, translator, ref_bus) = run_both_to_the_end(|| crc_guest(RAM as u64 + 0x100), BUDGET);
    assert_eq!(
        cpu.state.gpr[6],
        DATA + 0x2001,
        "RSI moved past the first byte"
    );
    let index = u64::from(ref_bus.ram[(DATA + 0x2000) as usize] ^ 0xFF);
    assert_eq!(cpu.state.cr2, RAM as u64 + 0x100 + 4 * index, "CR2");
    assert_eq!(translator.stats.hoisted_groups, 1);
}

#[test]
fn a_table_access_whose_base_or_index_a_pop_writes_is_not_looked_up_before_its_loop() {
    // A loop that pushes and pops is a self-loop, its stack slots looked up once, before the first pass. A POP
    // that writes the table access's index after the MOVZX that bounded it (so the index is R8's, far past 255),
    // or that writes its base, leaves the access to make its own lookup every pass.
    let loop_with = |pop_into_index: bool| {
        assemble(64, CODE, |a| {
            let mut top = a.create_label();
            a.mov(ecx, 100).unwrap();
            a.jmp(top).unwrap();
            a.set_label(&mut top).unwrap();
            a.push(r8).unwrap();
            a.movzx(edx, cl).unwrap();
            if pop_into_index {
                a.pop(rdx).unwrap();
            } else {
                a.pop(r9).unwrap();
                a.add(r8, 4).unwrap();
            }
            a.mov(eax, dword_ptr(r9 + rdx * 4)).unwrap();
            a.add(r10, rax).unwrap();
            a.sub(ecx, 1).unwrap();
            a.jnz(top).unwrap();
            a.hlt().unwrap();
        })
    };
    for pop_into_index in [true, false] {
        let code = loop_with(pop_into_index);
        let machine = || {
            let (mut cpu, mut bus) = guest(&code);
            let words: Vec<u8> = (0..0x800u32).flat_map(|k| (k * 3).to_le_bytes()).collect();
            bus.load(DATA, &words);
            // R8: the popped index (0x600: a word 6 KiB past R9, on the same 2 MiB page), or the next base.
            cpu.state.gpr[8] = if pop_into_index { 0x600 } else { DATA + 0x400 };
            cpu.state.gpr[9] = DATA;
            (cpu, bus)
        };
        let runs = run_both(machine, 1 << 20, BUDGET);
        let stats = &runs.translator.stats;
        assert!(stats.self_loops >= 1, "{stats:?}");
        // The stack slots' group alone is looked up before the loop.
        assert_eq!(
            stats.hoisted_groups, 1,
            "pop into index {pop_into_index}: {stats:?}"
        );
    }
}
