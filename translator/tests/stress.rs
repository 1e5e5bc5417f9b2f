//! Guests that stress the translator's bookkeeping rather than its instruction coverage: code that rewrites the
//! instruction it is about to run, in a loop, and code that overflows a small code cache. Both must end exactly as
//! under the interpreter, with the counters showing the invalidations and flushes, and the cache never growing.

use iced_x86::code_asm::*;
use vx86_cpu::testing::{assemble, long_mode_cpu, FlatBus};
use vx86_cpu::Cpu;
use vx86_translator::Translator;

mod common;

const CODE: u64 = 0x10_0000;

fn machine(code: &[u8]) -> (Cpu, FlatBus) {
    let mut bus = FlatBus::new(4 << 20);
    bus.load(CODE, code);
    let cpu = long_mode_cpu(&mut bus, CODE, 0x30_0000);
    (cpu, bus)
}

/// Runs `code`, after `setup`, under the interpreter and under a translator with a `cache_bytes` code cache; both
/// must halt in the same state. Returns the translator for its counters, and the final state.
fn run_both(code: &[u8], cache_bytes: usize, setup: impl Fn(&mut Cpu)) -> (Translator, Cpu) {
    let runs = common::run_both(
        || {
            let (mut cpu, bus) = machine(code);
            setup(&mut cpu);
            (cpu, bus)
        },
        cache_bytes,
        50_000_000,
    );
    (runs.translator, runs.translated)
}

#[test]
fn code_that_rewrites_its_next_instruction_in_a_loop_runs_as_on_hardware() {
    // The loop's first instruction is MOV EAX, imm32 at CODE; each pass increments that immediate in place.
    let code = assemble(64, CODE, |a| {
        let mut top = a.create_label();
        a.set_label(&mut top).unwrap();
        a.mov(eax, 5u32).unwrap();
        a.add(rbx, rax).unwrap();
        a.inc(dword_ptr(CODE + 1)).unwrap();
        a.dec(rcx).unwrap();
        a.jne(top).unwrap();
        a.hlt().unwrap();
    });
    let (translator, cpu) = run_both(&code, 1 << 20, |cpu| {
        cpu.state.gpr[1] = 1000;
        cpu.state.gpr[3] = 0;
    });
    // 5 + 6 + ... + 1004: every pass saw the immediate the previous pass wrote.
    assert_eq!(cpu.state.gpr[3], (5..1005).sum::<u64>());
    assert!(
        translator.stats.smc_invalidations >= 999,
        "{:?}",
        translator.stats
    );
}

#[test]
fn a_guest_that_overflows_the_code_cache_is_flushed_and_runs_on() {
    // Thousands of small blocks, each adding its number to RAX and branching to the next (a JNE both of whose ways
    // lead there, so that it ends the block: a JMP's target would follow in it), run three times over: far more
    // code than a 1 MiB cache holds.
    const BLOCKS: u32 = 6000;
    let code = assemble(64, CODE, |a| {
        let mut top = a.create_label();
        a.set_label(&mut top).unwrap();
        for k in 0..BLOCKS {
            let mut next = a.create_label();
            a.add(rax, k as i32).unwrap();
            a.mov(qword_ptr(0x20_0000 + u64::from(k % 512) * 8), rax)
                .unwrap();
            a.jne(next).unwrap();
            a.set_label(&mut next).unwrap();
        }
        a.dec(rcx).unwrap();
        a.jne(top).unwrap();
        a.hlt().unwrap();
    });
    let (translator, cpu) = run_both(&code, 1 << 20, |cpu| {
        cpu.state.gpr[0] = 0;
        cpu.state.gpr[1] = 3;
    });
    assert_eq!(cpu.state.gpr[0], 3 * (0..u64::from(BLOCKS)).sum::<u64>());
    assert!(translator.stats.flushes >= 2, "{:?}", translator.stats);
}

#[test]
fn an_unbounded_budget_runs_to_the_halt() {
    let code = assemble(64, CODE, |a| {
        let mut top = a.create_label();
        a.set_label(&mut top).unwrap();
        a.add(rbx, 3).unwrap();
        a.dec(rcx).unwrap();
        a.jne(top).unwrap();
        a.hlt().unwrap();
    });
    let (mut cpu, mut bus) = machine(&code);
    cpu.state.gpr[1] = 1000;
    let mut translator = Translator::new(1 << 20).expect("a code cache");
    assert_eq!(
        translator.run(&mut cpu, &mut bus, u64::MAX),
        vx86_cpu::Exit::Halted
    );
    assert_eq!(cpu.state.gpr[3], 3000);
}

/// Runs a loop of `passes` passes that increments a counter 2 KiB past its code, on the code's own page; returns
/// the translator's SMC invalidations.
fn data_beside_code(passes: u64) -> u64 {
    const COUNTER: u64 = CODE + 0x800;
    let code = assemble(64, CODE, |a| {
        let mut top = a.create_label();
        a.set_label(&mut top).unwrap();
        a.inc(dword_ptr(COUNTER)).unwrap();
        a.add(rbx, 3).unwrap();
        a.dec(rcx).unwrap();
        a.jne(top).unwrap();
        a.hlt().unwrap();
    });
    let runs = common::run_both(
        || {
            let (mut cpu, bus) = machine(&code);
            cpu.state.gpr[1] = passes;
            (cpu, bus)
        },
        1 << 20,
        50_000_000,
    );
    assert_eq!(runs.bus.read_u32(COUNTER), passes as u32);
    runs.translator.stats.smc_invalidations
}

#[test]
fn writes_beside_translated_code_on_its_page_leave_the_code_valid_until_they_become_many() {
    let few = u64::from(vx86_cpu::code_pages::MISSES_BEFORE_GIVING_UP) - 4;
    assert_eq!(data_beside_code(few), 0, "no write reached the code");
    // Past that many writes, the page is given up once per that many: each time, the loop's block and the one
    // its write callout left it at are translated again. Were every write to drop the page's code, there would be
    // an invalidation per pass.
    let many = 1000;
    let invalidations = data_beside_code(many);
    let give_ups = many / u64::from(vx86_cpu::code_pages::MISSES_BEFORE_GIVING_UP);
    assert!(invalidations <= 2 * (give_ups + 1), "{invalidations}");
}
