//! Guest workloads shared by the benchmarks: small guest programs whose instruction counts are known, so a run's
//! time turns into guest MIPS; and the engine comparison: the nanobenchmark guest ([`guest`]), its runner on each
//! engine ([`runner`]) and under QEMU's TCG ([`qemu`], timed with [`host_tsc`]), and the report as a table, JSON
//! and SVG ([`report`]).

pub mod cold;
pub mod guest;
pub mod host_tsc;
pub mod qemu;
pub mod report;
pub mod runner;

use iced_x86::code_asm::*;
use vx86_cpu::testing::{assemble, flat32_cpu, FlatBus};
use vx86_cpu::{Cpu, Exit};

/// Where workload code is loaded.
pub const CODE_BASE: u64 = 0x1000;

/// A compute-bound loop of `iterations` rounds (4 instructions each: ADD, XOR, DEC, JNZ), ending in HLT.
pub fn compute_loop(iterations: u32) -> Vec<u8> {
    assemble(32, CODE_BASE, |a| {
        let mut top = a.create_label();
        a.xor(eax, eax).unwrap();
        a.xor(edx, edx).unwrap();
        a.mov(ecx, iterations).unwrap();
        a.set_label(&mut top).unwrap();
        a.add(eax, ecx).unwrap();
        a.xor(edx, eax).unwrap();
        a.dec(ecx).unwrap();
        a.jnz(top).unwrap();
        a.hlt().unwrap();
    })
}

/// Guest instructions the compute loop retires (3 set-up, 4 per round, HLT).
pub fn compute_loop_instructions(iterations: u32) -> u64 {
    3 + 4 * u64::from(iterations) + 1
}

/// A memory- and call-heavy loop of `iterations` rounds (10 instructions each: a CALL to a function that loads,
/// updates and stores a memory counter and pushes/pops a register, then RET; DEC, JNZ), ending in HLT.
pub fn memory_call_loop(iterations: u32) -> Vec<u8> {
    assemble(32, CODE_BASE, |a| {
        let mut top = a.create_label();
        let mut function = a.create_label();
        let mut done = a.create_label();
        a.mov(ecx, iterations).unwrap();
        a.set_label(&mut top).unwrap();
        a.call(function).unwrap();
        a.dec(ecx).unwrap();
        a.jnz(top).unwrap();
        a.jmp(done).unwrap();
        a.set_label(&mut function).unwrap();
        a.push(ebx).unwrap();
        a.mov(eax, dword_ptr(0x4000)).unwrap();
        a.add(eax, ecx).unwrap();
        a.mov(dword_ptr(0x4000), eax).unwrap();
        a.pop(ebx).unwrap();
        a.add(dword_ptr(0x4004), 1).unwrap();
        a.ret().unwrap();
        a.set_label(&mut done).unwrap();
        a.hlt().unwrap();
    })
}

/// Guest instructions the memory/call loop retires (1 set-up, 10 per round, JMP, HLT).
pub fn memory_call_loop_instructions(iterations: u32) -> u64 {
    1 + 10 * u64::from(iterations) + 2
}

/// A flat 32-bit machine with the workload loaded, ready to run.
pub fn machine_with(code: &[u8]) -> (Cpu, FlatBus) {
    let mut bus = FlatBus::new(1 << 20);
    bus.load(CODE_BASE, code);
    (flat32_cpu(CODE_BASE, 0x8000), bus)
}

/// Runs a loaded workload to its HLT and returns the instructions retired.
pub fn run_to_halt(cpu: &mut Cpu, bus: &mut FlatBus) -> u64 {
    let start = cpu.instructions;
    let exit = cpu.run(bus, u64::MAX);
    assert_eq!(exit, Exit::Halted);
    cpu.instructions - start
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compute_loop_retires_the_expected_instructions_and_sum() {
        let n = 1000;
        let (mut cpu, mut bus) = machine_with(&compute_loop(n));
        assert_eq!(
            run_to_halt(&mut cpu, &mut bus),
            compute_loop_instructions(n)
        );
        assert_eq!(cpu.state.gpr[0], u64::from(n) * u64::from(n + 1) / 2);
    }

    #[test]
    fn memory_call_loop_retires_the_expected_instructions_and_counts() {
        let n = 1000;
        let (mut cpu, mut bus) = machine_with(&memory_call_loop(n));
        assert_eq!(
            run_to_halt(&mut cpu, &mut bus),
            memory_call_loop_instructions(n)
        );
        assert_eq!(
            u64::from(bus.read_u32(0x4000)),
            u64::from(n) * u64::from(n + 1) / 2
        );
        assert_eq!(bus.read_u32(0x4004), n);
    }
}
