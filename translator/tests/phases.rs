//! Boot phases are marked at the exact instruction count under both engines: a guest that loops at a low address
//! and then jumps into the kernel half of the address space begins the kernel-init phase at its first kernel-half
//! instruction, whether the interpreter or the translator runs it.

use iced_x86::code_asm::*;
use vx86_cpu::phase::Phase;
use vx86_cpu::testing::{assemble, long_mode_cpu, FlatBus, LONG_MODE_TABLES};
use vx86_cpu::{Cpu, Exit};
use vx86_translator::Translator;

const CODE: u64 = 0x10_0000;
/// Where the low 1 GiB appears again: PML4 entry 256 points at the same tables as entry 0.
const KERNEL_HALF: u64 = 0xFFFF_8000_0000_0000;
const ROUNDS: u32 = 10;

/// The guest, and the number of instructions it retires before its first kernel-half instruction.
fn guest() -> (Cpu, FlatBus, u64) {
    let code = assemble(64, CODE, |a| {
        let mut top = a.create_label();
        let mut high = a.create_label();
        a.mov(ecx, ROUNDS).unwrap();
        a.set_label(&mut top).unwrap();
        a.dec(ecx).unwrap();
        a.jnz(top).unwrap();
        a.lea(rax, ptr(high)).unwrap();
        a.mov(rdx, KERNEL_HALF).unwrap();
        a.add(rax, rdx).unwrap();
        a.jmp(rax).unwrap();
        a.set_label(&mut high).unwrap();
        a.nop().unwrap();
        a.hlt().unwrap();
    });
    let mut bus = FlatBus::new(4 << 20);
    bus.load(CODE, &code);
    let cpu = long_mode_cpu(&mut bus, CODE, 0x8000);
    // The PDPT that long_mode_cpu's PML4 entry 0 points at, present and writable, in entry 256 too.
    bus.write_u64(LONG_MODE_TABLES + 8 * 256, (LONG_MODE_TABLES + 0x1000) | 3);
    (cpu, bus, 1 + 2 * u64::from(ROUNDS) + 4)
}

fn kernel_init_mark(cpu: &Cpu) -> Option<u64> {
    cpu.phases.start(Phase::KernelInit).map(|s| s.instructions)
}

#[test]
fn the_kernel_half_begins_at_the_same_instruction_under_both_engines() {
    let (mut reference, mut ref_bus, expected) = guest();
    assert_eq!(reference.run(&mut ref_bus, 1000), Exit::Halted);
    assert_eq!(kernel_init_mark(&reference), Some(expected));
    assert_eq!(reference.phases.current(), Phase::KernelInit);

    let (mut cpu, mut bus, _) = guest();
    let mut translator = Translator::new(1 << 20).unwrap();
    assert_eq!(translator.run(&mut cpu, &mut bus, 1000), Exit::Halted);
    assert_eq!(kernel_init_mark(&cpu), Some(expected));
    assert_eq!(
        translator.phase_starts.len(),
        1,
        "the translator kept its counts at the phase's start"
    );
    assert_eq!(cpu.instructions, reference.instructions);
}
