//! Segment registers on the stack: POP SS moves the stack pointer within the width of the stack segment it popped
//! from, and a 32-bit PUSH of a segment register moves the stack pointer by 4 but writes only the selector's 16
//! bits, on 32-bit and 16-bit stacks alike.

use iced_x86::code_asm::*;
use vx86_cpu::state::{attr, SegReg};
use vx86_cpu::testing::{data_attrs, descriptor, run16, sel, ProtectedMachine};
use vx86_cpu::Exit;

/// A ring-0 data segment with a 16-bit stack pointer (B clear).
const SMALL_STACK: u16 = 0x40;

/// Runs ring-0 code on a stack whose SS is `stack_selector` and ESP `top` until HLT.
fn run_on_stack(
    stack_selector: u16,
    top: u32,
    build: impl FnOnce(&mut CodeAssembler),
) -> ProtectedMachine {
    let mut m = ProtectedMachine::new();
    m.set_gdt(
        SMALL_STACK,
        descriptor(0, 0xFFFFF, data_attrs(0) & !attr::DB),
    );
    m.code(vx86_cpu::testing::layout::KERNEL_CODE, |a| {
        a.mov(eax, u32::from(stack_selector)).unwrap();
        a.mov(ss, eax).unwrap();
        a.mov(esp, top).unwrap();
        build(a);
        a.hlt().unwrap();
    });
    assert_eq!(m.run(), Exit::Halted);
    m
}

#[test]
fn pop_ss_moves_esp_by_the_width_of_the_old_stack_segment() {
    // From a 32-bit stack to a 16-bit one: ESP goes from 0x1FFFC to 0x20000 (a 16-bit SP would wrap to 0x10000).
    let m = run_on_stack(sel::KDATA, 0x2_0000, |a| {
        a.push(u32::from(SMALL_STACK)).unwrap();
        a.pop(ss).unwrap();
    });
    assert!(!m.cpu.state.seg(SegReg::Ss).big());
    assert_eq!(m.cpu.state.gpr[4], 0x2_0000);

    // From a 16-bit stack to a 32-bit one: SP wraps from 0xFFFC to 0 and ESP's upper half stays.
    let m = run_on_stack(SMALL_STACK, 0x1_0000, |a| {
        a.push(u32::from(sel::KDATA)).unwrap();
        a.pop(ss).unwrap();
    });
    assert!(m.cpu.state.seg(SegReg::Ss).big());
    assert_eq!(m.cpu.state.gpr[4], 0x1_0000);
}

#[test]
fn a_32_bit_push_of_a_segment_register_writes_16_bits_and_moves_esp_by_4() {
    let m = run_on_stack(sel::KDATA, 0x8000, |a| {
        a.mov(dword_ptr(0x7FFC), 0xDEAD_BEEFu32).unwrap();
        a.push(fs).unwrap();
    });
    assert_eq!(m.cpu.state.gpr[4], 0x7FFC);
    assert_eq!(m.bus.read_u32(0x7FFC), 0xDEAD_0000 | u32::from(sel::KDATA));

    // On a 16-bit stack, too: SP wraps from 0 to 0xFFFC.
    let m = run_on_stack(SMALL_STACK, 0x5_0000, |a| {
        a.mov(dword_ptr(0xFFFC), 0xDEAD_BEEFu32).unwrap();
        a.push(gs).unwrap();
    });
    assert_eq!(m.cpu.state.gpr[4], 0x5_FFFC);
    assert_eq!(m.bus.read_u32(0xFFFC), 0xDEAD_0000 | u32::from(sel::KDATA));
}

#[test]
fn real_mode_pushes_and_pops_of_segment_registers_with_an_operand_size_prefix_move_sp_by_4() {
    let (cpu, _) = run16(|a| {
        a.mov(dword_ptr(0x7FFC), 0xDEAD_BEEFu32).unwrap();
        a.mov(ax, 0x1234u32).unwrap();
        a.mov(es, ax).unwrap();
        a.db(&[0x66, 0x06]).unwrap(); // push es (o32)
        a.mov(si, sp).unwrap();
        a.mov(ebx, dword_ptr(0x7FFC)).unwrap();
        a.mov(dword_ptr(0x7FFC), 0x0000_4321u32).unwrap();
        a.db(&[0x66, 0x1F]).unwrap(); // pop ds (o32)
        a.hlt().unwrap();
    });
    assert_eq!(cpu.state.gpr[6], 0x7FFC, "SP moved by 4");
    assert_eq!(cpu.state.gpr[4], 0x8000);
    assert_eq!(
        cpu.state.gpr[3], 0xDEAD_1234,
        "only the selector's 16 bits written"
    );
    assert_eq!(cpu.state.seg(SegReg::Ds).selector, 0x4321);
}
