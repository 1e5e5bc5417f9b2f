//! What the translator's integration tests share: a small deterministic random generator, the comparison of a
//! translated run with the interpreter's, runners that do both runs of one guest and check they agree, and a
//! 64-bit guest to run.

#![allow(dead_code)]

use vx86_cpu::testing::{compare_states, long_mode_cpu, FlatBus};
use vx86_cpu::{Cpu, Exit};
use vx86_translator::Translator;

/// RAM of [`long_mode_guest`].
pub const RAM: usize = 4 << 20;
/// Where [`long_mode_guest`] loads its code.
pub const CODE: u64 = 0x10_0000;
/// Guest data for [`long_mode_guest`] (RBX points there): in the second 2 MiB page, which no code shares.
pub const DATA: u64 = 0x20_0000;
/// [`long_mode_guest`]'s stack top.
pub const STACK: u64 = 0x30_0000;

/// A 64-bit guest (RAM identity-mapped by 2 MiB pages, their dirty bits clear) running `code` from [`CODE`], RBX
/// at [`DATA`], RSP at [`STACK`].
pub fn long_mode_guest(code: &[u8]) -> (Cpu, FlatBus) {
    let mut bus = FlatBus::new(RAM);
    bus.load(CODE, code);
    let mut cpu = long_mode_cpu(&mut bus, CODE, STACK);
    cpu.state.gpr[3] = DATA;
    (cpu, bus)
}

/// xorshift64: deterministic, so a seed replays a round.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What differs between the interpreter's run and the translator's: exits, instruction counts, registers and the
/// flags in `flags`, memory. Empty when they agree.
pub fn differences(
    reference: (&Cpu, &FlatBus, Exit),
    translated: (&Cpu, &FlatBus, Exit),
    flags: u64,
) -> Vec<String> {
    let ((ref_cpu, ref_bus, ref_exit), (cpu, bus, exit)) = (reference, translated);
    let mut problems = Vec::new();
    if exit != ref_exit {
        problems.push(format!("exit {exit:?}, interpreter {ref_exit:?}"));
    }
    if cpu.instructions != ref_cpu.instructions {
        problems.push(format!(
            "{} instructions, interpreter {}",
            cpu.instructions, ref_cpu.instructions
        ));
    }
    if let Err(diff) = compare_states(&ref_cpu.state, &cpu.state, flags) {
        problems.push(diff);
    }
    if let Some(x) = (0..16).find(|&x| cpu.fpu.xmm.regs[x] != ref_cpu.fpu.xmm.regs[x]) {
        problems.push(format!(
            "xmm{x} {:#034x}, interpreter {:#034x}",
            cpu.fpu.xmm.regs[x], ref_cpu.fpu.xmm.regs[x]
        ));
    }
    if let Some(at) = (0..bus.ram.len()).find(|&k| bus.ram[k] != ref_bus.ram[k]) {
        problems.push(format!("memory differs first at {at:#x}"));
    }
    problems
}

/// The two runs of one guest that [`run_both`] made.
pub struct Runs {
    /// The CPU as the interpreter left it.
    pub interpreted: Cpu,
    /// The CPU as the translator left it.
    pub translated: Cpu,
    /// The translator's bus (its memory equals the interpreter's).
    pub bus: FlatBus,
    /// The translator, for its counters.
    pub translator: Translator,
}

/// Runs the guest `machine` builds under the interpreter and, built again, under a translator with a
/// `cache_bytes` code cache, each for up to `budget` instructions. The interpreter must halt, and the translator
/// must end the same way: the same exit, instruction count, registers, flags, system state and memory.
pub fn run_both(machine: impl Fn() -> (Cpu, FlatBus), cache_bytes: usize, budget: u64) -> Runs {
    let translator = Translator::new(cache_bytes).expect("a code cache");
    run_both_with(machine, translator, budget)
}

/// [`run_both`] with `translator` (set up as a test needs it).
pub fn run_both_with(
    machine: impl Fn() -> (Cpu, FlatBus),
    mut translator: Translator,
    budget: u64,
) -> Runs {
    let (mut interpreted, mut ref_bus) = machine();
    let ref_exit = interpreted.run(&mut ref_bus, budget);
    assert_eq!(
        ref_exit,
        Exit::Halted,
        "the guest must halt under the interpreter"
    );
    let (mut translated, mut bus) = machine();
    let exit = translator.run(&mut translated, &mut bus, budget);
    let problems = differences(
        (&interpreted, &ref_bus, ref_exit),
        (&translated, &bus, exit),
        u64::MAX,
    );
    assert!(
        problems.is_empty(),
        "the translator's run differs from the interpreter's:\n{}",
        problems.join("\n")
    );
    assert_eq!(translated.state, interpreted.state, "system state differs");
    Runs {
        interpreted,
        translated,
        bus,
        translator,
    }
}

/// Runs the guest `make` builds, which need not halt (it may end in a triple fault, say), under the interpreter and
/// under a translator for up to `budget` instructions: both must end the same way. Returns the translated CPU, the
/// translator and the interpreter's bus.
pub fn run_both_to_the_end(
    make: impl Fn() -> (Cpu, FlatBus),
    budget: u64,
) -> (Cpu, Translator, FlatBus) {
    let (mut reference, mut ref_bus) = make();
    let ref_exit = reference.run(&mut ref_bus, budget);
    let (mut cpu, mut bus) = make();
    let mut translator = Translator::new(1 << 20).expect("a code cache");
    let exit = translator.run(&mut cpu, &mut bus, budget);
    let problems = differences(
        (&reference, &ref_bus, ref_exit),
        (&cpu, &bus, exit),
        u64::MAX,
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    (cpu, translator, ref_bus)
}
