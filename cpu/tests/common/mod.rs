//! Helpers shared by the x87 and SSE tests: run a 32-bit snippet with SSE enabled, or on a protected-mode machine
//! with an IDT to see which exception it raises.

#![allow(dead_code)]

use iced_x86::code_asm::CodeAssembler;
use vx86_cpu::state::{cr0, cr4};
use vx86_cpu::testing::{assemble, flat32_cpu, FlatBus, ProtectedMachine};
use vx86_cpu::{Cpu, Exit};

/// Where tests put their data.
pub const DATA: u64 = 0x40000;

/// Runs 32-bit flat code at 0x1000 with CR4.OSFXSR/OSXMMEXCPT and CR0.NE/MP set, after `setup`, until HLT.
pub fn run(
    setup: impl FnOnce(&mut Cpu, &mut FlatBus),
    build: impl FnOnce(&mut CodeAssembler),
) -> (Cpu, FlatBus) {
    let mut bus = FlatBus::new(1 << 20);
    let code = assemble(32, 0x1000, build);
    bus.load(0x1000, &code);
    let mut cpu = flat32_cpu(0x1000, 0x8000);
    cpu.state.cr4 |= cr4::OSFXSR | cr4::OSXMMEXCPT;
    cpu.state.cr0 |= cr0::NE | cr0::MP;
    setup(&mut cpu, &mut bus);
    assert_eq!(
        vx86_cpu::testing::run(&mut cpu, &mut bus, 100_000),
        Exit::Halted,
        "snippet must end with HLT"
    );
    (cpu, bus)
}

/// Runs code on a [`ProtectedMachine`] (CR4.OSFXSR/OSXMMEXCPT, CR0.NE set before `setup`) and returns the vector
/// whose handler it halted in (`None` when the snippet's own HLT was reached) and the machine.
pub fn fault(
    setup: impl FnOnce(&mut ProtectedMachine),
    build: impl FnOnce(&mut CodeAssembler),
) -> (Option<u8>, ProtectedMachine) {
    let mut m = ProtectedMachine::new();
    m.cpu.state.cr4 |= cr4::OSFXSR | cr4::OSXMMEXCPT;
    m.cpu.state.cr0 |= cr0::NE;
    m.code(vx86_cpu::testing::layout::KERNEL_CODE, build);
    setup(&mut m);
    assert_eq!(m.run(), Exit::Halted);
    (m.vector_taken(), m)
}

/// Little-endian bytes of f32 values.
pub fn f32s(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// An XMM value from four f32 bit patterns (lane 0 first).
pub fn ps(v: [u32; 4]) -> u128 {
    v.iter().rev().fold(0u128, |r, &x| r << 32 | u128::from(x))
}

/// An XMM value from two f64 bit patterns (lane 0 first).
pub fn pd(v: [u64; 2]) -> u128 {
    u128::from(v[1]) << 64 | u128::from(v[0])
}

/// The four f32 lanes of an XMM value.
pub fn lanes32(v: u128) -> [u32; 4] {
    [
        v as u32,
        (v >> 32) as u32,
        (v >> 64) as u32,
        (v >> 96) as u32,
    ]
}
