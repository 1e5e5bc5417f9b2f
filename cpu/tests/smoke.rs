//! End-to-end checks of the interpreter core on small snippets.

use iced_x86::code_asm::*;
use vx86_cpu::flags::{CF, ZF};
use vx86_cpu::testing::{run16, run32};

#[test]
fn loop_sums_in_32_bit_protected_mode() {
    let (cpu, _) = run32(|a| {
        let mut top = a.create_label();
        a.mov(eax, 0u32).unwrap();
        a.mov(ecx, 100u32).unwrap();
        a.set_label(&mut top).unwrap();
        a.add(eax, ecx).unwrap();
        a.dec(ecx).unwrap();
        a.jnz(top).unwrap();
        a.push(eax).unwrap();
        a.pop(ebx).unwrap();
        a.hlt().unwrap();
    });
    assert_eq!(cpu.state.gpr[0], 5050);
    assert_eq!(cpu.state.gpr[3], 5050);
    assert_eq!(cpu.state.rflags & ZF, ZF);
}

#[test]
fn real_mode_call_ret_and_memory() {
    let (cpu, bus) = run16(|a| {
        let mut f = a.create_label();
        let mut done = a.create_label();
        a.mov(ax, 0x1234u32).unwrap();
        a.call(f).unwrap();
        a.mov(word_ptr(0x2000), ax).unwrap();
        a.jmp(done).unwrap();
        a.set_label(&mut f).unwrap();
        a.add(ax, 0xF000u32).unwrap();
        a.ret().unwrap();
        a.set_label(&mut done).unwrap();
        a.hlt().unwrap();
    });
    assert_eq!(cpu.state.gpr[0] & 0xFFFF, 0x0234);
    assert_eq!(cpu.state.rflags & CF, CF);
    assert_eq!(bus.ram[0x2000], 0x34);
    assert_eq!(bus.ram[0x2001], 0x02);
}

#[test]
fn self_modifying_code_is_seen_by_the_decode_cache() {
    // The loop body's immediate is patched after the first pass: the second pass must add 5, not 1.
    let (cpu, _) = run32(|a| {
        let mut again = a.create_label();
        let mut done = a.create_label();
        a.xor(eax, eax).unwrap();
        a.xor(ecx, ecx).unwrap();
        a.set_label(&mut again).unwrap();
        a.add(eax, 1i32).unwrap(); // 05 01 00 00 00 at 0x1004: imm32 at 0x1005
        a.inc(ecx).unwrap();
        a.cmp(ecx, 2).unwrap();
        a.je(done).unwrap();
        a.mov(byte_ptr(0x1005), 5u32).unwrap(); // xor eax,eax and xor ecx,ecx are 2 bytes each
        a.jmp(again).unwrap();
        a.set_label(&mut done).unwrap();
        a.hlt().unwrap();
    });
    assert_eq!(cpu.state.gpr[0], 6);
}

#[test]
fn unimplemented_instructions_raise_ud_and_are_counted() {
    use vx86_cpu::testing::{assemble, flat32_cpu, FlatBus};
    let mut bus = FlatBus::new(1 << 20);
    // IDT at 0x3000 with vector 6 -> handler at 0x2000 (HLT); the snippet executes an AVX instruction (not modelled).
    let handler = assemble(32, 0x2000, |a| a.hlt().unwrap());
    bus.load(0x2000, &handler);
    let gate: u64 = 0x2000 | (0x08 << 16) | (0x8E00u64 << 32);
    bus.write_u64(0x3000 + 6 * 8, gate);
    let code = assemble(32, 0x1000, |a| {
        a.vaddps(ymm0, ymm1, ymm2).unwrap();
        a.hlt().unwrap();
    });
    bus.load(0x1000, &code);
    let mut cpu = flat32_cpu(0x1000, 0x8000);
    cpu.state.idtr = vx86_cpu::state::TableReg {
        base: 0x3000,
        limit: 0x7FF,
    };
    // A GDT with flat ring-0 code (0x08) and data (0x10) for the gate's target.
    bus.write_u64(0x4008, 0x00CF_9A00_0000_FFFF);
    bus.write_u64(0x4010, 0x00CF_9200_0000_FFFF);
    cpu.state.gdtr = vx86_cpu::state::TableReg {
        base: 0x4000,
        limit: 0x17,
    };
    assert_eq!(
        vx86_cpu::testing::run(&mut cpu, &mut bus, 1000),
        vx86_cpu::Exit::Halted
    );
    assert_eq!(cpu.state.rip, 0x2001, "the #UD handler ran");
    assert_eq!(
        bus.read_u32(0x8000 - 12),
        0x1000,
        "the #UD frame points at the faulting instruction"
    );
    assert_eq!(cpu.unimplemented.get("vaddps"), Some(&1));
}

#[test]
fn random_bytes_as_code_never_panic_the_interpreter() {
    use vx86_cpu::testing::{flat32_cpu, real_cpu, FlatBus};
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for round in 0..40 {
        let mut bus = FlatBus::new(1 << 20);
        for b in bus.ram.iter_mut() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            *b = seed as u8;
        }
        let mut cpu = if round % 2 == 0 {
            real_cpu(0x1000, 0x8000)
        } else {
            flat32_cpu(0x1000, 0x8000)
        };
        // Any exit is fine; what matters is that the emulator survives and keeps its invariants.
        let _ = vx86_cpu::testing::run(&mut cpu, &mut bus, 20_000);
        assert!(
            cpu.state.rflags & 2 != 0,
            "EFLAGS bit 1 always reads as one"
        );
    }
}

#[test]
fn hint_instructions_are_no_ops() {
    let (cpu, _) = run32(|a| {
        a.mov(eax, 7u32).unwrap();
        a.endbr32().unwrap();
        a.prefetchw(byte_ptr(0x3000)).unwrap();
        a.prefetcht0(byte_ptr(0x3000)).unwrap();
        a.pause().unwrap();
        a.inc(eax).unwrap();
        a.hlt().unwrap();
    });
    assert_eq!(cpu.state.gpr[0], 8);
    assert!(cpu.unimplemented.is_empty(), "{:?}", cpu.unimplemented);
}

#[test]
fn rep_bsf_is_bsf_without_bmi1() {
    // F3 0F BC C8 is TZCNT on BMI1 parts and BSF everywhere else; our model has no BMI1.
    use vx86_cpu::testing::{flat32_cpu, FlatBus};
    let mut bus = FlatBus::new(1 << 20);
    bus.load(
        0x1000,
        &[0xB8, 0x00, 0x01, 0x00, 0x00, 0xF3, 0x0F, 0xBC, 0xC8, 0xF4],
    ); // mov eax,0x100; tzcnt ecx,eax; hlt
    let mut cpu = flat32_cpu(0x1000, 0x8000);
    assert_eq!(
        vx86_cpu::testing::run(&mut cpu, &mut bus, 100),
        vx86_cpu::Exit::Halted
    );
    assert_eq!(cpu.state.gpr[1], 8);
    assert!(cpu.unimplemented.is_empty(), "{:?}", cpu.unimplemented);
}
