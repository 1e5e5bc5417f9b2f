//! Exception and interrupt delivery: each exception with its error code through a protected-mode IDT, double and
//! triple faults, external interrupts with IF and the STI / MOV SS shadows, HLT wake-up, the ring 3 -> ring 0 stack
//! switch and IRET back, and real-mode INT/IRET through the IVT.

use iced_x86::code_asm::*;
use vx86_cpu::descriptor::system_type as st;
use vx86_cpu::flags::IF;
use vx86_cpu::state::{attr, SegReg};
use vx86_cpu::testing::{data_attrs, descriptor, gate, layout, sel, ProtectedMachine};
use vx86_cpu::Exit;

const SPARE: u16 = 0x40;
const CONFORMING: u16 = 0x38;

fn ring3(
    setup: impl FnOnce(&mut ProtectedMachine),
    build: impl FnOnce(&mut CodeAssembler),
) -> ProtectedMachine {
    let mut m = ProtectedMachine::new();
    setup(&mut m);
    m.code(layout::USER_CODE, build);
    m.enter_ring3();
    assert_eq!(m.run(), Exit::Halted);
    m
}

const K: u32 = layout::KERNEL_CODE as u32;

#[test]
fn divide_error_has_no_error_code() {
    let m = ProtectedMachine::run_ring0(
        |_| {},
        |a| {
            a.xor(ecx, ecx).unwrap();
            a.div(ecx).unwrap();
        },
    );
    assert_eq!(m.vector_taken(), Some(0));
    assert_eq!((m.stack(0), m.stack(1)), (K + 2, u32::from(sel::KCODE)));
    assert_eq!(m.cpu.state.gpr[4], layout::KERNEL_STACK - 12);
}

#[test]
fn invalid_opcode_from_garbage_bytes() {
    let m = ProtectedMachine::run_ring0(
        |_| {},
        |a| {
            a.nop().unwrap();
            a.db(&[0xFE, 0xF8]).unwrap(); // FE /7 does not exist
        },
    );
    assert_eq!((m.vector_taken(), m.stack(0)), (Some(6), K + 1));
}

#[test]
fn general_protection_from_bad_selector_carries_the_selector() {
    let m = ProtectedMachine::run_ring0(
        |_| {},
        |a| {
            a.mov(ax, 0x403u32).unwrap();
            a.mov(ds, ax).unwrap();
        },
    );
    assert_eq!(
        (m.vector_taken(), m.stack(0), m.stack(1)),
        (Some(13), 0x400, K + 4)
    );
}

#[test]
fn segment_not_present() {
    let m = ProtectedMachine::run_ring0(
        |m| m.set_gdt(SPARE, descriptor(0, 0xFFFFF, data_attrs(0) & !attr::P)),
        |a| {
            a.mov(ax, SPARE as u32).unwrap();
            a.mov(fs, ax).unwrap();
        },
    );
    assert_eq!((m.vector_taken(), m.stack(0)), (Some(11), u32::from(SPARE)));
}

#[test]
fn stack_fault_from_stack_limit_violation() {
    // SS limit 0xFFFF (byte granular): an SS-relative access past it is #SS(0); the stack itself is fine.
    let m = ProtectedMachine::run_ring0(
        |m| {
            m.set_gdt(
                SPARE,
                descriptor(0, 0xFFFF, attr::P | attr::S | attr::RW | attr::DB),
            )
        },
        |a| {
            a.mov(ax, SPARE as u32).unwrap();
            a.mov(ss, ax).unwrap();
            a.mov(eax, dword_ptr(esp + 0x10000)).unwrap();
        },
    );
    assert_eq!(
        (m.vector_taken(), m.stack(0), m.stack(1)),
        (Some(12), 0, K + 7)
    );
}

#[test]
fn invalid_tss_from_bad_inner_stack_selector() {
    // TSS.SS0 has RPL 3: INT from ring 3 to ring 0 raises #TS(SS0). The #TS handler sits in a conforming
    // segment, so it runs at CPL 3 on the user stack without needing the broken TSS stack.
    let mut m = ProtectedMachine::new();
    m.bus.write_u32(layout::TSS + 8, u32::from(sel::UDATA));
    m.set_gdt(
        CONFORMING,
        descriptor(0, 0xFFFFF, vx86_cpu::testing::code_attrs(0) | attr::DC),
    );
    m.set_idt(10, gate(CONFORMING, 0x2800, st::INT_GATE32, 0, 0));
    m.set_idt(0x80, gate(sel::KCODE, 0x2000, st::INT_GATE32, 3, 0));
    m.bus.load(0x2800, &[0xEB, 0xFE]);
    m.code(layout::USER_CODE, |a| a.int(0x80).unwrap());
    m.enter_ring3();
    assert_eq!(
        vx86_cpu::testing::run(&mut m.cpu, &mut m.bus, 1000),
        Exit::BudgetExhausted
    );
    assert_eq!(m.cpu.state.rip, 0x2800);
    assert_eq!(m.cpu.state.seg(SegReg::Cs).selector, CONFORMING | 3);
    assert_eq!(
        m.stack(0),
        u32::from(sel::UDATA & 0xFFFC),
        "#TS error code is the SS selector"
    );
    assert_eq!(
        m.stack(1),
        layout::USER_CODE as u32,
        "#TS is a fault: EIP of the INT"
    );
}

#[test]
fn int_through_gate_with_dpl_below_cpl_is_gp_with_idt_error_code() {
    let m = ring3(|_| {}, |a| a.int(0x40).unwrap());
    assert_eq!((m.vector_taken(), m.stack(0)), (Some(13), 0x40 * 8 + 2));
    assert_eq!(m.stack(1), layout::USER_CODE as u32);
}

#[test]
fn page_fault_sets_cr2_and_error_code() {
    // Not present, supervisor read.
    let m = ProtectedMachine::run_ring0(
        |m| {
            m.identity_paging(3);
            let pte = ProtectedMachine::pte_addr(0x6000);
            m.bus.write_u32(pte, 0);
        },
        |a| {
            a.mov(eax, dword_ptr(0x6010)).unwrap();
        },
    );
    assert_eq!(
        (m.vector_taken(), m.stack(0), m.cpu.state.cr2),
        (Some(14), 0, 0x6010)
    );
    // Present read-only user page written from ring 3: P | W | U.
    let m = ring3(
        |m| {
            m.identity_paging(7);
            let pte = ProtectedMachine::pte_addr(0x6000);
            m.bus.write_u32(pte, 0x6000 | 5);
        },
        |a| {
            a.mov(dword_ptr(0x6004), eax).unwrap();
        },
    );
    assert_eq!(
        (m.vector_taken(), m.stack(0), m.cpu.state.cr2),
        (Some(14), 7, 0x6004)
    );
    // Ring 3 read of a supervisor page: P | U.
    let m = ring3(
        |m| {
            m.identity_paging(7);
            m.bus
                .write_u32(ProtectedMachine::pte_addr(0x6000), 0x6000 | 3);
        },
        |a| {
            a.mov(eax, dword_ptr(0x6000)).unwrap();
        },
    );
    assert_eq!((m.vector_taken(), m.stack(0)), (Some(14), 5));
}

#[test]
fn gp_while_delivering_gp_is_a_double_fault_and_then_a_triple_fault() {
    let setup = |m: &mut ProtectedMachine| m.set_idt(13, gate(0x400, 0x3000, st::INT_GATE32, 0, 0));
    let m = ProtectedMachine::run_ring0(setup, |a| {
        a.mov(ax, 0x400u32).unwrap();
        a.mov(ds, ax).unwrap();
    });
    assert_eq!((m.vector_taken(), m.stack(0)), (Some(8), 0));

    let mut m = ProtectedMachine::new();
    setup(&mut m);
    m.set_idt(
        8,
        gate(sel::KCODE, 0x3080, st::INT_GATE32, 0, 0) & !(1 << 47),
    );
    m.code(layout::KERNEL_CODE, |a| {
        a.mov(ax, 0x400u32).unwrap();
        a.mov(ds, ax).unwrap();
    });
    assert_eq!(m.run(), Exit::TripleFault);
}

#[test]
fn external_interrupts_honour_if_and_the_sti_shadow_and_wake_hlt() {
    let mut m = ProtectedMachine::new();
    m.code(layout::KERNEL_CODE, |a| {
        a.hlt().unwrap();
        a.sti().unwrap();
        a.mov(eax, 1u32).unwrap();
        a.hlt().unwrap();
    });
    m.bus.pending_vectors.push_back(0x30);
    // IF = 0: the interrupt waits, HLT stops the run.
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!(m.cpu.state.rip, layout::KERNEL_CODE + 1);
    assert_eq!(m.bus.pending_vectors.len(), 1);
    // Resume: STI's shadow lets MOV run; then the interrupt is taken before HLT.
    m.cpu.state.halted = false;
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!(m.vector_taken(), Some(0x30));
    assert_eq!(m.cpu.state.gpr[0], 1);
    assert_eq!(m.stack(0), K + 7, "interrupted before the final HLT");
    assert_ne!(u64::from(m.stack(2)) & IF, 0);
    assert_eq!(m.cpu.state.rflags & IF, 0, "interrupt gate clears IF");

    // HLT with IF = 1 wakes on a later interrupt, which returns to the instruction after HLT.
    let mut m = ProtectedMachine::new();
    m.cpu.state.rflags |= IF;
    m.code(layout::KERNEL_CODE, |a| {
        a.hlt().unwrap();
        a.nop().unwrap();
    });
    assert_eq!(m.run(), Exit::Halted);
    assert!(m.cpu.state.halted);
    m.bus.pending_vectors.push_back(0x31);
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!((m.vector_taken(), m.stack(0)), (Some(0x31), K + 1));
}

#[test]
fn mov_ss_shadows_one_instruction() {
    let mut m = ProtectedMachine::new();
    m.cpu.state.rflags |= IF;
    m.code(layout::KERNEL_CODE, |a| {
        a.mov(ax, sel::KDATA as u32).unwrap(); // 4 bytes
        a.mov(ss, ax).unwrap(); // 3 bytes (66 8E D0)
        a.mov(ebx, 2u32).unwrap(); // 5 bytes
        a.hlt().unwrap();
    });
    assert_eq!(
        vx86_cpu::testing::run(&mut m.cpu, &mut m.bus, 2),
        Exit::BudgetExhausted
    );
    m.bus.pending_vectors.push_back(0x32);
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!(m.vector_taken(), Some(0x32));
    assert_eq!(m.cpu.state.gpr[3], 2);
    assert_eq!(m.stack(0), K + 12);
}

#[test]
fn ring3_to_ring0_interrupt_gate_switches_stacks_and_iret_returns() {
    let mut m = ProtectedMachine::new();
    m.set_idt(0x80, gate(sel::KCODE, 0x2000, st::INT_GATE32, 3, 0));
    m.code(0x2000, |a| {
        a.mov(esi, esp).unwrap();
        a.mov(edi, dword_ptr(esp + 12)).unwrap();
        a.mov(ebp, dword_ptr(esp + 16)).unwrap();
        a.mov(edx, dword_ptr(esp + 4)).unwrap();
        a.iretd().unwrap();
    });
    m.code(layout::USER_CODE, |a| {
        a.int(0x80).unwrap();
        a.mov(ecx, 0x77u32).unwrap();
        a.hlt().unwrap();
    });
    m.enter_ring3();
    assert_eq!(m.run(), Exit::Halted);
    let s = &m.cpu.state;
    assert_eq!(s.gpr[6], layout::TSS_STACK0 - 20);
    assert_eq!(
        (s.gpr[7], s.gpr[5], s.gpr[2]),
        (
            layout::USER_STACK,
            u64::from(sel::UDATA),
            u64::from(sel::UCODE)
        )
    );
    assert_eq!(s.gpr[1], 0x77);
    // The HLT at CPL 3 faulted with the user stack back in place.
    assert_eq!(
        (m.vector_taken(), m.stack(1)),
        (Some(13), layout::USER_CODE as u32 + 7)
    );
    assert_eq!(
        (m.stack(4), m.stack(5)),
        (layout::USER_STACK as u32, u32::from(sel::UDATA))
    );
}

#[test]
fn real_mode_int_and_iret_through_the_ivt() {
    let mut bus = vx86_cpu::testing::FlatBus::new(1 << 20);
    let main = vx86_cpu::testing::assemble(16, 0x1000, |a| {
        a.mov(word_ptr(0x80), 0x1100u32).unwrap();
        a.mov(word_ptr(0x82), 0u32).unwrap();
        a.sti().unwrap();
        a.int(0x20).unwrap();
        a.mov(cx, 5u32).unwrap();
        a.hlt().unwrap();
    });
    let handler = vx86_cpu::testing::assemble(16, 0x1100, |a| {
        a.mov(bx, sp).unwrap();
        a.pushf().unwrap();
        a.pop(dx).unwrap();
        a.iret().unwrap();
    });
    bus.load(0x1000, &main);
    bus.load(0x1100, &handler);
    let mut cpu = vx86_cpu::testing::real_cpu(0x1000, 0x8000);
    assert_eq!(
        vx86_cpu::testing::run(&mut cpu, &mut bus, 100),
        Exit::Halted
    );
    let s = &cpu.state;
    assert_eq!(s.gpr[3] & 0xFFFF, 0x8000 - 6);
    assert_eq!(
        u64::from(bus.ram[0x8000 - 6]) | u64::from(bus.ram[0x8000 - 5]) << 8,
        0x1000 + 6 + 6 + 1 + 2
    );
    assert_eq!(s.gpr[2] & IF, 0, "INT cleared IF");
    assert_ne!(s.rflags & IF, 0, "IRET restored IF");
    assert_eq!((s.gpr[1] & 0xFFFF, s.gpr[4] & 0xFFFF), (5, 0x8000));
}
