//! DAA, DAS, AAA, AAS, AAM, AAD on the SDM's examples and on edge cases, with exact flags.

use iced_x86::code_asm::*;
use vx86_cpu::flags::{AF, ARITH, CF, OF, PF, SF, ZF};
use vx86_cpu::testing::{assemble, real_cpu, run32, FlatBus};
use vx86_cpu::Exit;

/// Loads AX and the arithmetic flags, runs `op`, returns AX and the arithmetic flags.
fn run(ax_in: u16, flags_in: u64, op: impl FnOnce(&mut CodeAssembler)) -> (u16, u64) {
    let (cpu, _) = run32(|a| {
        a.mov(eax, u32::from(ax_in) | 0xABCD_0000).unwrap();
        a.push(flags_in as u32 | 2).unwrap();
        a.popfd().unwrap();
        op(a);
        a.hlt().unwrap();
    });
    assert_eq!(
        cpu.state.gpr[0] >> 16,
        0xABCD,
        "the upper half of EAX is kept"
    );
    (cpu.state.gpr[0] as u16, cpu.state.rflags & ARITH)
}

#[test]
fn daa_after_packed_bcd_addition() {
    // SDM: 79 + 35 = 0xAE; DAA gives 14 with a decimal carry.
    let (value, f) = run(0x0079, 0, |a| {
        a.add(al, 0x35u32).unwrap();
        a.daa().unwrap();
    });
    assert_eq!((value, f), (0x0014, CF | AF | PF));
    // 0x7A: only the low digit is adjusted; the sign turns on (OF as the adjusting add's overflow).
    assert_eq!(run(0x007A, 0, |a| a.daa().unwrap()), (0x0080, AF | SF | OF));
    // Incoming CF alone adds 0x60; AH is untouched.
    assert_eq!(run(0x1200, CF, |a| a.daa().unwrap()), (0x1260, CF | PF));
    // 0x9A: both digits adjust, result 0 with carry.
    assert_eq!(
        run(0x009A, 0, |a| a.daa().unwrap()),
        (0x0000, CF | AF | ZF | PF)
    );
}

#[test]
fn das_after_packed_bcd_subtraction() {
    // SDM: 35 - 47 = 0xEE with borrows; DAS gives 88 and CF.
    let (value, f) = run(0x0035, 0, |a| {
        a.sub(al, 0x47u32).unwrap();
        a.das().unwrap();
    });
    assert_eq!((value, f), (0x0088, CF | AF | SF | PF));
    // A borrow out of the low adjustment sets CF although AL <= 0x99 and CF was clear.
    assert_eq!(
        run(0x0003, AF, |a| a.das().unwrap()),
        (0x00FD, CF | AF | SF)
    );
    // 0x80 - 0x60 crosses from negative to positive: OF.
    assert_eq!(run(0x0080, CF, |a| a.das().unwrap()), (0x0020, CF | OF));
    assert_eq!(run(0x0045, 0, |a| a.das().unwrap()), (0x0045, 0));
}

#[test]
fn aaa_and_aas_adjust_ax() {
    // SDM: '8' + '5' = 0x6D; AAA gives AH = 1, AL = 3.
    let (value, f) = run(0x0038, 0, |a| {
        a.add(al, 0x35u32).unwrap();
        a.aaa().unwrap();
    });
    assert_eq!((value, f), (0x0103, CF | AF | PF));
    // No adjustment: AL's high nibble is still cleared; ZF/PF/SF from AL, OF cleared.
    assert_eq!(run(0x05F5, OF | SF, |a| a.aaa().unwrap()), (0x0505, PF));
    // AL = 0xFA: AX + 0x106 carries out of AL into AH.
    assert_eq!(
        run(0x00FA, 0, |a| a.aaa().unwrap()),
        (0x0200, CF | AF | ZF | PF)
    );
    // SDM: '3' - '5' = 0xFE; AAS gives AH = -1, AL = 8.
    let (value, f) = run(0x0033, 0, |a| {
        a.sub(al, 0x35u32).unwrap();
        a.aas().unwrap();
    });
    assert_eq!((value, f), (0xFF08, CF | AF));
    // AX = 0 with AF: AX - 6 borrows from AH, then AH - 1.
    assert_eq!(
        run(0x0000, AF, |a| a.aas().unwrap()),
        (0xFE0A, CF | AF | PF)
    );
    assert_eq!(run(0x0709, CF, |a| a.aas().unwrap()), (0x0709, PF));
}

#[test]
fn aam_and_aad() {
    assert_eq!(run(0x004F, ARITH, |a| a.aam(10u32).unwrap()), (0x0709, PF));
    assert_eq!(run(0x00AB, 0, |a| a.aam(16u32).unwrap()), (0x0A0B, 0));
    assert_eq!(run(0x0000, 0, |a| a.aam(10u32).unwrap()), (0x0000, ZF | PF));
    assert_eq!(run(0x0709, ARITH, |a| a.aad(10u32).unwrap()), (0x004F, 0));
    // AH * base wraps to 0xFA; 0xF0 + 0xFA carries out of AL: CF from that addition.
    assert_eq!(run(0x19F0, 0, |a| a.aad(10u32).unwrap()), (0x00EA, CF | SF));
    assert_eq!(run(0x0108, 0, |a| a.aad(16u32).unwrap()), (0x0018, PF));
    // 0x0F + 0x01 carries out of bit 3: AF.
    assert_eq!(run(0x010F, 0, |a| a.aad(1u32).unwrap()), (0x0010, AF));
}

#[test]
fn aam_zero_raises_divide_error() {
    // Real mode with IVT[0] pointing at a handler that sets BX and halts.
    let mut bus = FlatBus::new(1 << 20);
    bus.load(
        0x1000,
        &assemble(16, 0x1000, |a| {
            a.mov(ax, 0x1234u32).unwrap(); // 3 bytes
            a.aam(0u32).unwrap();
            a.mov(cx, 1u32).unwrap();
            a.hlt().unwrap();
        }),
    );
    bus.load(
        0x1800,
        &assemble(16, 0x1800, |a| {
            a.mov(bx, 0xDEADu32).unwrap();
            a.hlt().unwrap();
        }),
    );
    bus.load(0, &[0x00, 0x18, 0x00, 0x00]);
    let mut cpu = real_cpu(0x1000, 0x8000);
    assert_eq!(
        vx86_cpu::testing::run(&mut cpu, &mut bus, 1000),
        Exit::Halted
    );
    assert_eq!(cpu.state.gpr[3] & 0xFFFF, 0xDEAD);
    assert_eq!(cpu.state.gpr[0] & 0xFFFF, 0x1234, "AX unchanged");
    assert_eq!(cpu.state.gpr[1], 0);
    assert_eq!(cpu.state.gpr[4], 0x7FFA);
    assert_eq!(
        u16::from_le_bytes([bus.ram[0x7FFA], bus.ram[0x7FFB]]),
        0x1003,
        "#DE is a fault: IP of the AAM"
    );
}
