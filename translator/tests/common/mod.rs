//! What the differential tests share: a small deterministic random generator and the comparison of a translated
//! run with the interpreter's.

#![allow(dead_code)]

use vx86_cpu::testing::{compare_states, FlatBus};
use vx86_cpu::{Cpu, Exit};

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
