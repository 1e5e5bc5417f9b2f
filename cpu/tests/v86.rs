//! Virtual-8086 mode: entry by IRETD, INT n to a ring-0 gate (9-dword frame, null data segments) and IRETD back,
//! IOPL-sensitive instructions trapping to the monitor, VME virtual interrupts and INT redirection through the TSS
//! bitmap, and port I/O through the TSS I/O bitmap (in v86 mode and at CPL 3).

use iced_x86::code_asm::*;
use vx86_cpu::descriptor::system_type as st;
use vx86_cpu::flags::{IF, IOPL, VIF, VIP, VM};
use vx86_cpu::state::{cr4, SegReg};
use vx86_cpu::testing::{gate, layout, sel, ProtectedMachine};
use vx86_cpu::Exit;

/// Emits one instruction into a snippet.
type Emit = fn(&mut CodeAssembler);

const V86_CS: u32 = 0x0500; // code at linear 0x5000
const V86_SS: u32 = 0x0A00;
const V86_SP: u32 = 0x0F00; // stack top at linear 0xAF00

/// A machine that enters a v86 task at 0500:0000 by IRETD from ring 0, with `flags` ORed into its EFLAGS.
fn v86(flags: u64, cr4_bits: u64, build: impl FnOnce(&mut CodeAssembler)) -> ProtectedMachine {
    let mut m = ProtectedMachine::new();
    let frame = [
        0,
        V86_CS,
        (VM | flags | 2) as u32,
        V86_SP,
        V86_SS,
        0x11,
        0x22,
        0x33,
        0x44,
    ];
    let top = layout::KERNEL_STACK - 36;
    for (k, v) in frame.iter().enumerate() {
        m.bus.write_u32(top + 4 * k as u64, *v);
    }
    m.cpu.state.gpr[4] = top;
    m.cpu.state.cr4 |= cr4_bits;
    m.code(layout::KERNEL_CODE, |a| a.iretd().unwrap());
    let code = vx86_cpu::testing::assemble(16, 0, build);
    m.bus.load(layout::USER_CODE, &code);
    m
}

fn run(m: &mut ProtectedMachine) {
    assert_eq!(m.run(), Exit::Halted);
}

/// Asserts the CPU halted in the #GP stub with error 0, interrupted from v86 at `ip`.
fn assert_gp_from_v86(m: &ProtectedMachine, ip: u32) {
    assert_eq!(m.vector_taken(), Some(13));
    assert_eq!(m.stack(0), 0);
    assert_eq!((m.stack(1), m.stack(2)), (ip, V86_CS));
    assert_ne!(u64::from(m.stack(3)) & VM, 0);
}

#[test]
fn int_from_v86_with_iopl3_uses_the_ring0_gate_and_a_nine_dword_frame() {
    let mut m = v86(IOPL, 0, |a| {
        a.mov(ax, 0x1234u32).unwrap();
        a.int(0x80).unwrap();
    });
    m.set_idt(
        0x80,
        gate(sel::KCODE, 0x3000 + 16 * 0x80, st::INT_GATE32, 3, 0),
    );
    run(&mut m);
    assert_eq!(m.vector_taken(), Some(0x80));
    let s = &m.cpu.state;
    assert_eq!((s.cpl, s.rflags & VM), (0, 0));
    assert_eq!(s.gpr[4], layout::TSS_STACK0 - 36);
    let frame: Vec<u32> = (0..9).map(|k| m.stack(k)).collect();
    assert_eq!(frame[..2], [5, V86_CS]);
    assert_eq!(u64::from(frame[2]) & (VM | IOPL), VM | IOPL);
    assert_eq!(frame[3..], [V86_SP, V86_SS, 0x11, 0x22, 0x33, 0x44]);
    for seg in [SegReg::Ds, SegReg::Es, SegReg::Fs, SegReg::Gs] {
        assert_eq!(s.seg(seg).selector, 0, "{seg:?} nulled");
        assert!(!s.seg(seg).present());
    }
}

#[test]
fn iretd_from_the_monitor_resumes_the_v86_task() {
    let mut m = v86(IOPL, 0, |a| {
        a.int(0x80).unwrap();
        a.mov(cx, 7u32).unwrap();
        a.mov(dx, ds).unwrap();
        a.hlt().unwrap();
    });
    m.set_idt(0x80, gate(sel::KCODE, 0x2000, st::INT_GATE32, 3, 0));
    m.code(0x2000, |a| {
        a.mov(ebx, 0x55u32).unwrap();
        a.iretd().unwrap();
    });
    run(&mut m);
    let s = &m.cpu.state;
    assert_eq!(
        (s.gpr[3], s.gpr[1] & 0xFFFF, s.gpr[2] & 0xFFFF),
        (0x55, 7, 0x22)
    );
    assert_gp_from_v86(&m, 2 + 3 + 2);
    assert_eq!((m.stack(4), m.stack(5)), (V86_SP, V86_SS));
}

#[test]
fn iopl_sensitive_instructions_trap_to_the_monitor_without_vme() {
    let cases: [(Emit, &str); 6] = [
        (|a| a.cli().unwrap(), "cli"),
        (|a| a.sti().unwrap(), "sti"),
        (|a| a.pushf().unwrap(), "pushf"),
        (|a| a.popf().unwrap(), "popf"),
        (|a| a.int(0x21).unwrap(), "int n"),
        (|a| a.iret().unwrap(), "iret"),
    ];
    for (build, name) in cases {
        let mut m = v86(0, 0, |a| {
            a.nop().unwrap();
            build(a);
        });
        run(&mut m);
        assert_eq!(m.vector_taken(), Some(13), "{name}");
        assert_gp_from_v86(&m, 1);
    }
    // INT3 is not IOPL-sensitive: it goes through its gate (DPL 3 here).
    let mut m = v86(0, 0, |a| a.int3().unwrap());
    m.set_idt(3, gate(sel::KCODE, 0x3000 + 16 * 3, st::INT_GATE32, 3, 0));
    run(&mut m);
    assert_eq!((m.vector_taken(), m.stack(0)), (Some(3), 1));
    // With IOPL 3, CLI/STI/PUSHF/POPF work directly.
    let mut m = v86(IOPL | IF, 0, |a| {
        a.cli().unwrap();
        a.pushf().unwrap();
        a.pop(ax).unwrap();
        a.hlt().unwrap();
    });
    run(&mut m);
    assert_eq!(m.cpu.state.gpr[0] & 0xFFFF & IF, 0);
    assert_gp_from_v86(&m, 3);
}

#[test]
fn vme_virtualises_the_interrupt_flag() {
    let mut m = v86(IF, cr4::VME, |a| {
        a.cli().unwrap(); // clears VIF, not IF
        a.pushf().unwrap();
        a.pop(bx).unwrap();
        a.sti().unwrap(); // sets VIF
        a.pushf().unwrap();
        a.pop(cx).unwrap();
        a.push(0u32).unwrap(); // POPF of IF = 0 clears VIF again
        a.popf().unwrap();
        a.pushf().unwrap();
        a.pop(dx).unwrap();
        a.sti().unwrap();
        a.hlt().unwrap();
    });
    run(&mut m);
    let s = &m.cpu.state;
    assert_eq!(
        s.gpr[3] & 0xFFFF & (IF | IOPL),
        IOPL,
        "PUSHF shows VIF as IF and IOPL as 3"
    );
    assert_eq!(s.gpr[1] & 0xFFFF & (IF | IOPL), IF | IOPL);
    assert_eq!(s.gpr[2] & 0xFFFF & IF, 0);
    assert_gp_from_v86(&m, 12);
    let flags = u64::from(m.stack(3));
    assert_eq!(
        flags & (IF | VIF | IOPL),
        IF | VIF,
        "real IF untouched, VIF set, IOPL 0"
    );

    // STI with VIP set: #GP to the monitor.
    let mut m = v86(VIP, cr4::VME, |a| a.sti().unwrap());
    run(&mut m);
    assert_gp_from_v86(&m, 0);
}

#[test]
fn vme_redirects_int_n_to_the_v86_ivt_unless_its_bitmap_bit_is_set() {
    let mut m = v86(IF | VIF, cr4::VME, |a| {
        a.int(0x21).unwrap();
    });
    m.bus.write_u32(0x21 * 4, 0x0600_0010); // IVT: 0600:0010 = linear 0x6010
    m.bus.ram[0x6010] = 0xF4;
    run(&mut m);
    // The HLT in the v86 handler traps to the monitor.
    assert_eq!(m.vector_taken(), Some(13));
    assert_eq!((m.stack(1), m.stack(2)), (0x10, 0x600));
    let flags = u64::from(m.stack(3));
    assert_eq!(
        flags & (IF | VIF),
        IF,
        "VIF cleared by the redirected INT, IF untouched"
    );
    let v86_sp = m.stack(4);
    assert_eq!(v86_sp, V86_SP - 6);
    let word =
        |a: u32| u32::from(m.bus.ram[a as usize]) | u32::from(m.bus.ram[a as usize + 1]) << 8;
    let base = 0xA000 + v86_sp;
    assert_eq!((word(base), word(base + 2)), (2, V86_CS));
    assert_eq!(
        u64::from(word(base + 4)) & (IF | IOPL),
        IF | IOPL,
        "pushed IF = VIF, IOPL = 3"
    );

    // Bit 0x21 set in the redirection bitmap (32 bytes below the I/O map base) and IOPL < 3: #GP(0).
    let mut m = v86(0, cr4::VME, |a| a.int(0x21).unwrap());
    let bitmap = layout::TSS + layout::IO_BITMAP_OFFSET - 32;
    m.bus.ram[(bitmap + 0x21 / 8) as usize] = 1 << (0x21 % 8);
    run(&mut m);
    assert_gp_from_v86(&m, 0);
}

#[test]
fn port_io_in_v86_follows_the_tss_io_bitmap_even_with_iopl3() {
    let mut m = v86(IOPL, 0, |a| {
        a.mov(al, 0x42u32).unwrap();
        a.out(0x80, al).unwrap();
        a.out(0x81, al).unwrap();
    });
    let bitmap = (layout::TSS + layout::IO_BITMAP_OFFSET) as usize;
    m.bus.ram[bitmap + 0x80 / 8] &= !1;
    run(&mut m);
    assert_eq!(m.bus.io_writes, [(0x80, 1, 0x42)]);
    assert_gp_from_v86(&m, 4);
}

#[test]
fn port_io_at_cpl3_uses_the_bitmap_when_iopl_is_lower() {
    let mut m = ProtectedMachine::new();
    let bitmap = (layout::TSS + layout::IO_BITMAP_OFFSET) as usize;
    m.bus.ram[bitmap + 0x70 / 8] &= !0x03; // ports 0x70, 0x71
    m.code(layout::USER_CODE, |a| {
        a.mov(dx, 0x70u32).unwrap();
        a.mov(ax, 0xBEEFu32).unwrap();
        a.out(dx, ax).unwrap(); // 0x70-0x71 allowed
        a.mov(dx, 0x71u32).unwrap();
        a.out(dx, ax).unwrap(); // 0x72 denied
    });
    m.enter_ring3();
    run(&mut m);
    assert_eq!(m.bus.io_writes, [(0x70, 2, 0xBEEF)]);
    assert_eq!((m.vector_taken(), m.stack(0)), (Some(13), 0));
    assert_eq!(m.stack(1), layout::USER_CODE as u32 + 4 + 4 + 2 + 4);
}
