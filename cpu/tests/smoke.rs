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
