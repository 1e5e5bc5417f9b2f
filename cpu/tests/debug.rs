//! Debug exceptions: single-step traps from TF (after POPF, after IRET, with the MOV SS hold and after STI, not
//! after INT n), DR0-DR3 instruction and data breakpoints with the DR6 bits they set, RF pushed for faults and
//! honoured on return, general detect, MOV DR4/DR5 under CR4.DE, and ICEBP.

use iced_x86::code_asm::*;
use vx86_cpu::debug::{dr6, dr7};
use vx86_cpu::descriptor::system_type as st;
use vx86_cpu::flags::{RF, TF};
use vx86_cpu::state::cr4;
use vx86_cpu::testing::{assemble, gate, layout, sel, ProtectedMachine};
use vx86_cpu::Exit;

const K: u32 = layout::KERNEL_CODE as u32;
/// A #DB handler that counts its entries in ESI, sets RF in the pushed EFLAGS and returns.
const RESUMING_DB_HANDLER: u64 = 0x3800;
/// Data that breakpoints watch.
const WATCHED: u32 = 0x6000;

/// The length of the code `build` assembles at [`layout::KERNEL_CODE`]: the offset of what follows it.
fn len_of(build: impl FnOnce(&mut CodeAssembler)) -> u32 {
    assemble(32, layout::KERNEL_CODE, build).len() as u32
}

/// Sets TF with PUSHFD / OR / POPFD.
fn set_tf(a: &mut CodeAssembler) {
    a.pushfd().unwrap();
    a.or(dword_ptr(esp), TF as i32).unwrap();
    a.popfd().unwrap();
}

/// Loads DR`n` with `address` and DR7 with `control`, through EAX.
fn arm(a: &mut CodeAssembler, n: usize, address: u32, control: u64) {
    let drs = [dr0, dr1, dr2, dr3];
    a.mov(eax, address).unwrap();
    a.mov(drs[n], eax).unwrap();
    a.mov(eax, control as u32).unwrap();
    a.mov(dr7, eax).unwrap();
}

/// DR7 for breakpoint `n` enabled locally with R/W field `kind` and LEN field `len`.
fn control(n: usize, kind: u64, len: u64) -> u64 {
    dr7::FIXED_ONE | 1 << (2 * n) | kind << (16 + 4 * n) | len << (18 + 4 * n)
}

fn resuming_handler(m: &mut ProtectedMachine) {
    m.code(RESUMING_DB_HANDLER, |a| {
        a.inc(esi).unwrap();
        a.or(dword_ptr(esp + 8), RF as i32).unwrap();
        a.iretd().unwrap();
    });
    m.set_idt(
        1,
        gate(sel::KCODE, RESUMING_DB_HANDLER as u32, st::INT_GATE32, 0, 0),
    );
}

#[test]
fn single_step_traps_after_the_instruction_that_follows_the_popf_setting_tf() {
    let m = ProtectedMachine::run_ring0(
        |_| {},
        |a| {
            set_tf(a);
            a.nop().unwrap();
            a.nop().unwrap();
            a.hlt().unwrap();
        },
    );
    assert_eq!(m.vector_taken(), Some(1));
    let after_nop = K + len_of(set_tf) + 1;
    assert_eq!(m.stack(0), after_nop, "a trap: EIP after the first NOP");
    assert_eq!(m.stack(1), u32::from(sel::KCODE));
    assert_ne!(m.stack(2) & TF as u32, 0, "the pushed EFLAGS keep TF");
    assert_eq!(m.stack(2) & RF as u32, 0, "a trap pushes RF clear");
    assert_eq!(m.cpu.state.rflags & TF, 0, "the handler runs without TF");
    assert_eq!(m.cpu.state.dr[6], dr6::FIXED_ONES | dr6::BS);
}

#[test]
fn a_handler_that_returns_with_tf_steps_through_every_instruction_until_tf_is_cleared() {
    let mut m = ProtectedMachine::new();
    m.code(RESUMING_DB_HANDLER, |a| {
        a.inc(esi).unwrap();
        a.iretd().unwrap();
    });
    m.set_idt(
        1,
        gate(sel::KCODE, RESUMING_DB_HANDLER as u32, st::INT_GATE32, 0, 0),
    );
    m.code(layout::KERNEL_CODE, |a| {
        a.xor(esi, esi).unwrap();
        a.mov(ecx, 10).unwrap();
        set_tf(a);
        a.nop().unwrap();
        a.inc(ebx).unwrap();
        let mut again = a.create_label();
        a.set_label(&mut again).unwrap();
        a.dec(ecx).unwrap();
        a.jne(again).unwrap();
        a.pushfd().unwrap();
        a.and(dword_ptr(esp), !(TF as i32)).unwrap();
        a.popfd().unwrap();
        a.hlt().unwrap();
    });
    assert_eq!(m.run(), Exit::Halted);
    // Traps after NOP, INC, each DEC and JNE of the loop, PUSHFD, AND and the POPFD that cleared TF; none in the
    // handler.
    assert_eq!(m.cpu.state.gpr[6], 2 + 2 * 10 + 3);
    assert_eq!(m.cpu.state.gpr[3], 1);
    assert_eq!(m.cpu.state.rflags & TF, 0);
}

#[test]
fn iret_that_sets_tf_traps_after_the_first_instruction_it_returns_to() {
    let mut m = ProtectedMachine::new();
    m.code(layout::KERNEL_CODE, |a| {
        a.pushfd().unwrap();
        a.or(dword_ptr(esp), TF as i32).unwrap();
        a.push(u32::from(sel::KCODE)).unwrap();
        a.push(K + 0x100).unwrap();
        a.iretd().unwrap();
    });
    m.code(layout::KERNEL_CODE + 0x100, |a| {
        a.mov(ebx, 0x1234).unwrap();
        a.hlt().unwrap();
    });
    assert_eq!(m.run(), Exit::Halted);
    // The IRET itself does not trap (TF was clear when it began); the MOV at its target does.
    assert_eq!(m.vector_taken(), Some(1));
    assert_eq!(
        m.stack(0),
        K + 0x105,
        "EIP after the MOV at the IRET's target"
    );
    assert_eq!(m.cpu.state.gpr[3], 0x1234);
    assert_eq!(m.cpu.state.dr[6] & dr6::BS, dr6::BS);
}

#[test]
fn mov_ss_holds_the_single_step_trap_until_after_the_next_instruction_and_sti_does_not() {
    let mut m = ProtectedMachine::new();
    m.code(layout::KERNEL_CODE, |a| {
        a.mov(ss, eax).unwrap();
        a.nop().unwrap();
        a.hlt().unwrap();
    });
    m.cpu.state.gpr[0] = u64::from(sel::KDATA);
    m.cpu.state.rflags |= TF;
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!(m.vector_taken(), Some(1));
    assert_eq!(
        m.stack(0),
        K + 3,
        "one #DB, after the NOP that follows MOV SS (2 bytes)"
    );
    assert_eq!(m.cpu.state.dr[6], dr6::FIXED_ONES | dr6::BS);

    let mut m = ProtectedMachine::new();
    m.code(layout::KERNEL_CODE, |a| {
        a.sti().unwrap();
        a.nop().unwrap();
        a.hlt().unwrap();
    });
    m.cpu.state.rflags |= TF;
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!(
        m.stack(0),
        K + 1,
        "STI's interrupt shadow does not hold the trap"
    );
}

#[test]
fn int_n_with_tf_set_enters_its_handler_without_a_single_step_trap() {
    let m = ProtectedMachine::run_ring0(
        |_| {},
        |a| {
            set_tf(a);
            a.int(0x40).unwrap();
        },
    );
    assert_eq!(m.vector_taken(), Some(0x40));
    assert_ne!(m.stack(2) & TF as u32, 0, "INT pushes EFLAGS with TF");
    assert_eq!(m.cpu.state.dr[6] & dr6::BS, 0);
}

#[test]
fn instruction_breakpoint_faults_before_the_instruction_and_rf_lets_it_run_once() {
    let mut m = ProtectedMachine::new();
    resuming_handler(&mut m);
    let target = K + 0x40;
    m.code(layout::KERNEL_CODE, |a| {
        a.xor(esi, esi).unwrap();
        arm(a, 2, target, control(2, dr7::EXECUTE, 0));
        a.jmp(u64::from(target)).unwrap();
    });
    m.code(u64::from(target), |a| {
        a.mov(ebx, dword_ptr(esp)).unwrap();
        a.mov(ecx, 0x77).unwrap();
        a.hlt().unwrap();
    });
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!(
        m.cpu.state.rip,
        u64::from(target) + 9,
        "the HLT after the breakpointed MOV"
    );
    assert_eq!(
        (m.cpu.state.gpr[6], m.cpu.state.gpr[1]),
        (1, 0x77),
        "one #DB, then the MOV ran"
    );
    assert_eq!(m.cpu.state.dr[6], dr6::FIXED_ONES | 1 << 2, "B2");
    assert_eq!(
        m.cpu.state.rflags & RF,
        0,
        "RF cleared once the instruction ran"
    );
    // The frame the handler saw (below the current stack): EIP at the MOV, RF clear in the pushed EFLAGS.
    let frame = layout::KERNEL_STACK - 12;
    assert_eq!(m.bus.read_u32(frame), target);
    assert_eq!(
        m.bus.read_u32(frame + 8) & RF as u32,
        RF as u32,
        "the handler set RF"
    );
}

#[test]
fn a_fault_pushes_rf_and_an_instruction_breakpoint_pushes_it_clear() {
    let m = ProtectedMachine::run_ring0(
        |_| {},
        |a| {
            a.ud2().unwrap();
        },
    );
    assert_eq!((m.vector_taken(), m.stack(0)), (Some(6), K));
    assert_eq!(m.stack(2) & RF as u32, RF as u32, "#UD pushes RF");

    let m = ProtectedMachine::run_ring0(
        |_| {},
        |a| {
            arm(a, 0, K + 0x20, control(0, dr7::EXECUTE, 0));
            a.jmp(u64::from(K + 0x20)).unwrap();
        },
    );
    assert_eq!((m.vector_taken(), m.stack(0)), (Some(1), K + 0x20));
    assert_eq!(
        m.stack(2) & RF as u32,
        0,
        "an instruction breakpoint pushes RF clear"
    );
    assert_eq!(m.cpu.state.dr[6] & dr6::HITS, 1);
}

#[test]
fn data_breakpoints_trap_after_the_access_with_their_b_bit() {
    // DR1 watches writes to the 4 bytes at WATCHED: a read passes, a write to an overlapping word traps.
    let m = ProtectedMachine::run_ring0(
        |_| {},
        |a| {
            arm(a, 1, WATCHED, control(1, dr7::WRITE, 3));
            a.mov(ebx, dword_ptr(WATCHED)).unwrap();
            a.mov(word_ptr(WATCHED + 2), bx).unwrap();
            a.nop().unwrap();
            a.hlt().unwrap();
        },
    );
    let arming = len_of(|a| arm(a, 1, WATCHED, control(1, dr7::WRITE, 3)));
    assert_eq!(m.vector_taken(), Some(1));
    assert_eq!(
        m.stack(0),
        K + arming + 6 + 7,
        "a trap: EIP after the 16-bit store"
    );
    assert_eq!(m.cpu.state.dr[6], dr6::FIXED_ONES | 1 << 1, "B1");

    // DR3 watches reads and writes of one byte: a dword read that covers it traps.
    let m = ProtectedMachine::run_ring0(
        |_| {},
        |a| {
            arm(a, 3, WATCHED + 1, control(3, dr7::READ_WRITE, 0));
            a.mov(ecx, dword_ptr(WATCHED)).unwrap();
            a.hlt().unwrap();
        },
    );
    let arming = len_of(|a| arm(a, 3, WATCHED + 1, control(3, dr7::READ_WRITE, 0)));
    assert_eq!(m.vector_taken(), Some(1));
    assert_eq!(m.stack(0), K + arming + 6, "EIP after the read");
    assert_eq!(m.cpu.state.dr[6] & dr6::HITS, 1 << 3);
}

#[test]
fn repeated_string_instructions_trap_after_the_iteration_that_hit_with_rf_pushed() {
    let m = ProtectedMachine::run_ring0(
        |_| {},
        |a| {
            arm(a, 0, WATCHED + 8, control(0, dr7::WRITE, 0));
            a.mov(edi, WATCHED).unwrap();
            a.mov(ecx, 16).unwrap();
            a.xor(eax, eax).unwrap();
            a.cld().unwrap();
            a.rep().stosd().unwrap();
            a.hlt().unwrap();
        },
    );
    let arming = len_of(|a| arm(a, 0, WATCHED + 8, control(0, dr7::WRITE, 0)));
    assert_eq!(m.vector_taken(), Some(1));
    assert_eq!(
        m.stack(0),
        K + arming + 5 + 5 + 2 + 1,
        "EIP still at the REP STOSD"
    );
    assert_eq!(m.cpu.state.gpr[1], 13, "three elements stored");
    assert_eq!(
        m.stack(2) & RF as u32,
        RF as u32,
        "a trap between iterations pushes RF"
    );
}

#[test]
fn general_detect_faults_on_a_debug_register_access_and_clears_gd() {
    let m = ProtectedMachine::run_ring0(
        |_| {},
        |a| {
            a.mov(eax, (dr7::FIXED_ONE | dr7::GD) as u32).unwrap();
            a.mov(dr7, eax).unwrap();
            a.mov(ebx, dr0).unwrap();
        },
    );
    assert_eq!(
        (m.vector_taken(), m.stack(0)),
        (Some(1), K + 8),
        "a fault at the MOV from DR0"
    );
    assert_eq!(m.cpu.state.dr[6], dr6::FIXED_ONES | dr6::BD);
    assert_eq!(
        m.cpu.state.dr[7],
        dr7::FIXED_ONE,
        "GD cleared for the handler"
    );
    assert_eq!(m.stack(2) & RF as u32, RF as u32);
}

#[test]
fn mov_dr4_and_dr5_alias_dr6_and_dr7_unless_cr4_de_makes_them_invalid() {
    let aliases = |a: &mut CodeAssembler| {
        a.mov(eax, 0x155).unwrap();
        a.mov(dr5, eax).unwrap();
        a.mov(ebx, dr4).unwrap();
        a.mov(ecx, dr7).unwrap();
        a.mov(eax, cr4).unwrap();
        a.or(eax, cr4::DE as i32).unwrap();
        a.mov(cr4, eax).unwrap();
    };
    let m = ProtectedMachine::run_ring0(
        |_| {},
        |a| {
            aliases(a);
            a.mov(edx, dr4).unwrap();
        },
    );
    assert_eq!(m.cpu.state.gpr[3], dr6::FIXED_ONES, "DR4 reads DR6");
    assert_eq!(
        m.cpu.state.gpr[1], 0x555,
        "DR5 wrote DR7 (bit 10 reads as one)"
    );
    assert_eq!(
        (m.vector_taken(), m.stack(0)),
        (Some(6), K + len_of(aliases))
    );
}

#[test]
fn icebp_raises_debug_as_a_trap_after_itself_leaving_dr6_alone() {
    let m = ProtectedMachine::run_ring0(
        |_| {},
        |a| {
            a.nop().unwrap();
            a.int1().unwrap();
            a.hlt().unwrap();
        },
    );
    assert_eq!((m.vector_taken(), m.stack(0)), (Some(1), K + 2));
    assert_eq!(m.cpu.state.dr[6], dr6::FIXED_ONES);
}
