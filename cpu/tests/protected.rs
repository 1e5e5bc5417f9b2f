//! Protected-mode control transfers and segmentation: call gates (with the inner-stack switch and RETF back),
//! LAR/LSL/VERR/VERW/ARPL, SYSENTER/SYSEXIT, conforming code, expand-down data, segment-load privilege checks.

use iced_x86::code_asm::*;
use vx86_cpu::descriptor::system_type as st;
use vx86_cpu::flags::ZF;
use vx86_cpu::state::{attr, SegReg};
use vx86_cpu::testing::{code_attrs, data_attrs, descriptor, gate, layout, sel, ProtectedMachine};
use vx86_cpu::Exit;

const GATE: u16 = sel::FREE; // 0x30
const CONFORMING: u16 = 0x38;
const SPARE: u16 = 0x40;
const KERNEL_ENTRY: u64 = 0x2000;

/// Far CALL ptr16:32 as raw bytes (9A id iw).
fn call_far(a: &mut CodeAssembler, selector: u16, offset: u32) {
    let mut b = vec![0x9A];
    b.extend_from_slice(&offset.to_le_bytes());
    b.extend_from_slice(&selector.to_le_bytes());
    a.db(&b).unwrap();
}

/// Far JMP ptr16:32 as raw bytes (EA id iw).
fn jmp_far(a: &mut CodeAssembler, selector: u16, offset: u32) {
    let mut b = vec![0xEA];
    b.extend_from_slice(&offset.to_le_bytes());
    b.extend_from_slice(&selector.to_le_bytes());
    a.db(&b).unwrap();
}

#[test]
fn call_gate_to_ring0_switches_stack_copies_parameters_and_retf_returns_to_ring3() {
    let mut m = ProtectedMachine::new();
    m.set_gdt(
        GATE,
        gate(sel::KCODE, KERNEL_ENTRY as u32, st::CALL_GATE32, 3, 2),
    );
    m.code(layout::USER_CODE, |a| {
        a.push(0x1111_1111u32).unwrap();
        a.push(0x2222_2222u32).unwrap();
        call_far(a, GATE | 3, 0xDEAD);
        a.mov(ecx, 0x77u32).unwrap();
        a.hlt().unwrap(); // #GP(0) at CPL 3: proves we are back in ring 3
    });
    m.code(KERNEL_ENTRY, |a| {
        a.mov(esi, esp).unwrap();
        for k in 0..6 {
            a.mov(edx, dword_ptr(esp + 4 * k)).unwrap();
            a.mov(dword_ptr(0x6000 + 4 * k as u32), edx).unwrap();
        }
        a.mov(eax, cs).unwrap();
        a.mov(ebx, ss).unwrap();
        a.retf_1(8).unwrap();
    });
    m.enter_ring3();
    assert_eq!(m.run(), Exit::Halted);
    let s = &m.cpu.state;
    assert_eq!(
        s.gpr[6],
        layout::TSS_STACK0 - 24,
        "inner ESP after SS, ESP, 2 params, CS, EIP"
    );
    assert_eq!(s.gpr[0] & 0xFFFF, u64::from(sel::KCODE));
    assert_eq!(s.gpr[3] & 0xFFFF, u64::from(sel::KDATA));
    let frame: Vec<u32> = (0..6).map(|k| m.bus.read_u32(0x6000 + 4 * k)).collect();
    let ret_eip = layout::USER_CODE as u32 + 10 + 7;
    assert_eq!(
        frame,
        [
            ret_eip,
            u32::from(sel::UCODE),
            0x2222_2222,
            0x1111_1111,
            0xAFF8,
            u32::from(sel::UDATA)
        ]
    );
    // Back in ring 3: the HLT faulted with the outer stack restored (params popped by RETF 8).
    assert_eq!(s.gpr[1], 0x77);
    assert_eq!(m.vector_taken(), Some(13));
    assert_eq!(m.stack(0), 0);
    assert_eq!(m.stack(1), ret_eip + 5);
    assert_eq!(m.stack(2), u32::from(sel::UCODE));
    assert_eq!(m.stack(4), layout::USER_STACK as u32);
    assert_eq!(m.stack(5), u32::from(sel::UDATA));
}

#[test]
fn call_gate_at_same_level_and_jmp_through_gate() {
    let mut m = ProtectedMachine::new();
    m.set_gdt(
        GATE,
        gate(sel::KCODE, KERNEL_ENTRY as u32, st::CALL_GATE32, 0, 0),
    );
    m.set_gdt(SPARE, gate(sel::KCODE, 0x2100, st::CALL_GATE16, 0, 0));
    m.code(layout::KERNEL_CODE, |a| {
        call_far(a, GATE, 0);
        a.mov(edx, 0x99u32).unwrap();
        jmp_far(a, SPARE, 0);
    });
    m.code(KERNEL_ENTRY, |a| {
        a.mov(ebx, esp).unwrap();
        a.mov(ecx, dword_ptr(esp)).unwrap();
        a.retf().unwrap();
    });
    m.code(0x2100, |a| {
        a.hlt().unwrap();
    });
    assert_eq!(m.run(), Exit::Halted);
    let s = &m.cpu.state;
    assert_eq!(s.gpr[3], layout::KERNEL_STACK - 8);
    assert_eq!(s.gpr[1], layout::KERNEL_CODE + 7);
    assert_eq!(s.gpr[2], 0x99);
    assert_eq!(s.rip, 0x2101);
    assert_eq!(s.gpr[4], layout::KERNEL_STACK);
    assert_eq!(s.seg(SegReg::Cs).selector, sel::KCODE);
}

#[test]
fn call_gate_privilege_violations_and_task_gates_raise_gp() {
    // Gate DPL 0 called from ring 3.
    let mut m = ProtectedMachine::new();
    m.set_gdt(
        GATE,
        gate(sel::KCODE, KERNEL_ENTRY as u32, st::CALL_GATE32, 0, 0),
    );
    m.code(layout::USER_CODE, |a| call_far(a, GATE | 3, 0));
    m.enter_ring3();
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!((m.vector_taken(), m.stack(0)), (Some(13), u32::from(GATE)));

    // JMP through a gate to a more privileged segment.
    let mut m = ProtectedMachine::new();
    m.set_gdt(
        GATE,
        gate(sel::KCODE, KERNEL_ENTRY as u32, st::CALL_GATE32, 3, 0),
    );
    m.code(layout::USER_CODE, |a| jmp_far(a, GATE | 3, 0));
    m.enter_ring3();
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!(
        (m.vector_taken(), m.stack(0)),
        (Some(13), u32::from(sel::KCODE))
    );

    // Not-present gate.
    let mut m = ProtectedMachine::new();
    m.set_gdt(
        GATE,
        gate(sel::KCODE, KERNEL_ENTRY as u32, st::CALL_GATE32, 0, 0) & !(1 << 47),
    );
    m.code(layout::KERNEL_CODE, |a| call_far(a, GATE, 0));
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!((m.vector_taken(), m.stack(0)), (Some(11), u32::from(GATE)));

    // Task gate: hardware task switching is not modelled.
    let mut m = ProtectedMachine::new();
    m.set_gdt(GATE, gate(sel::TSS, 0, st::TASK_GATE, 0, 0));
    m.code(layout::KERNEL_CODE, |a| jmp_far(a, GATE, 0));
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!((m.vector_taken(), m.stack(0)), (Some(13), u32::from(GATE)));
    assert_eq!(m.cpu.unimplemented.get("task switch"), Some(&1));
}

#[test]
fn conforming_code_keeps_cpl_and_nonconforming_rejects_outer_callers() {
    let mut m = ProtectedMachine::new();
    m.set_gdt(CONFORMING, descriptor(0, 0xFFFFF, code_attrs(0) | attr::DC));
    m.code(layout::USER_CODE, |a| call_far(a, CONFORMING, 0x2000));
    m.code(0x2000, |a| {
        a.mov(eax, cs).unwrap();
        a.hlt().unwrap();
    });
    m.enter_ring3();
    assert_eq!(m.run(), Exit::Halted);
    // Still CPL 3 (CS.RPL = CPL), so HLT faults.
    assert_eq!(m.cpu.state.gpr[0] & 0xFFFF, u64::from(CONFORMING | 3));
    assert_eq!(
        (m.vector_taken(), m.stack(2)),
        (Some(13), u32::from(CONFORMING | 3))
    );

    let mut m = ProtectedMachine::new();
    m.code(layout::USER_CODE, |a| call_far(a, sel::KCODE, 0x2000));
    m.enter_ring3();
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!(
        (m.vector_taken(), m.stack(0)),
        (Some(13), u32::from(sel::KCODE))
    );
}

#[test]
fn expand_down_segment_limits() {
    // 16-bit expand-down data: valid offsets are 0x1000..=0xFFFF.
    let setup = |m: &mut ProtectedMachine| {
        m.set_gdt(
            SPARE,
            descriptor(0, 0x0FFF, attr::P | attr::S | attr::RW | attr::DC),
        );
    };
    let m = ProtectedMachine::run_ring0(setup, |a| {
        a.mov(ax, SPARE as u32).unwrap();
        a.mov(ds, ax).unwrap();
        a.mov(dword_ptr(0x1000), 0x1234u32).unwrap();
        a.mov(ebx, dword_ptr(0xFFFC)).unwrap();
        a.mov(ecx, 0x55u32).unwrap();
        a.mov(eax, dword_ptr(0x0FFF)).unwrap();
    });
    assert_eq!(m.bus.read_u32(0x1000), 0x1234);
    assert_eq!(m.cpu.state.gpr[1], 0x55);
    assert_eq!((m.vector_taken(), m.stack(0)), (Some(13), 0));
    let m = ProtectedMachine::run_ring0(setup, |a| {
        a.mov(ax, SPARE as u32).unwrap();
        a.mov(ds, ax).unwrap();
        a.mov(eax, dword_ptr(0xFFFE)).unwrap();
    });
    assert_eq!(m.vector_taken(), Some(13));
}

#[test]
fn segment_load_privilege_checks() {
    // Ring 3 may not load a DPL 0 data segment.
    let mut m = ProtectedMachine::new();
    m.code(layout::USER_CODE, |a| {
        a.mov(ax, sel::KDATA as u32).unwrap();
        a.mov(ds, ax).unwrap();
    });
    m.enter_ring3();
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!(
        (m.vector_taken(), m.stack(0)),
        (Some(13), u32::from(sel::KDATA))
    );

    // Ring 0: RPL 3 on a DPL 0 segment fails; a DPL 3 segment loads into DS but not into SS.
    let m = ProtectedMachine::run_ring0(
        |_| {},
        |a| {
            a.mov(ax, sel::UDATA as u32).unwrap();
            a.mov(ds, ax).unwrap();
            a.mov(ax, (sel::KDATA | 3) as u32).unwrap();
            a.mov(es, ax).unwrap();
        },
    );
    assert_eq!(m.cpu.state.seg(SegReg::Ds).selector, sel::UDATA);
    assert_eq!(
        (m.vector_taken(), m.stack(0)),
        (Some(13), u32::from(sel::KDATA))
    );
    let m = ProtectedMachine::run_ring0(
        |_| {},
        |a| {
            a.mov(ax, sel::UDATA as u32).unwrap();
            a.mov(ss, ax).unwrap();
        },
    );
    assert_eq!(
        (m.vector_taken(), m.stack(0)),
        (Some(13), u32::from(sel::UDATA & 0xFFFC))
    );
    // A code segment is not a data segment for SS; a not-present stack segment is #SS.
    let m = ProtectedMachine::run_ring0(
        |m| m.set_gdt(SPARE, descriptor(0, 0xFFFFF, data_attrs(0) & !attr::P)),
        |a| {
            a.mov(ax, SPARE as u32).unwrap();
            a.mov(ss, ax).unwrap();
        },
    );
    assert_eq!((m.vector_taken(), m.stack(0)), (Some(12), u32::from(SPARE)));
}

#[test]
fn lar_lsl_verr_verw() {
    let m = ProtectedMachine::run_ring0(
        |m| {
            m.set_gdt(GATE, gate(sel::KCODE, 0, st::CALL_GATE32, 3, 0));
            m.set_gdt(SPARE, gate(sel::KCODE, 0, st::INT_GATE32, 3, 0));
        },
        |a| {
            let results = 0x6000u32;
            let mut k = 0u32;
            let mut record = |a: &mut CodeAssembler| {
                a.lahf().unwrap();
                a.mov(byte_ptr(results + k), ah).unwrap();
                k += 1;
            };
            a.mov(eax, 0xFFFF_FFFFu32).unwrap();
            a.mov(bx, sel::UCODE as u32).unwrap();
            a.lar(eax, ebx).unwrap();
            a.mov(dword_ptr(0x6100), eax).unwrap();
            record(a);
            a.mov(bx, GATE as u32).unwrap();
            a.lar(ecx, ebx).unwrap();
            a.mov(dword_ptr(0x6104), ecx).unwrap();
            record(a);
            a.mov(bx, SPARE as u32).unwrap(); // interrupt gate: not for LAR
            a.lar(ecx, ebx).unwrap();
            record(a);
            a.mov(bx, sel::TSS as u32).unwrap();
            a.lsl(edx, ebx).unwrap();
            a.mov(dword_ptr(0x6108), edx).unwrap();
            record(a);
            a.mov(bx, GATE as u32).unwrap(); // call gate: no limit
            a.lsl(edx, ebx).unwrap();
            record(a);
            a.mov(bx, sel::KDATA as u32).unwrap();
            a.lsl(edx, ebx).unwrap();
            a.mov(dword_ptr(0x610C), edx).unwrap();
            record(a);
            a.mov(bx, 0x400u32).unwrap(); // past the GDT limit
            a.lar(edx, ebx).unwrap();
            record(a);
            a.mov(bx, 0u32).unwrap();
            a.verr(bx).unwrap();
            record(a);
            a.mov(bx, sel::UCODE as u32).unwrap();
            a.verr(bx).unwrap();
            record(a);
            a.verw(bx).unwrap();
            record(a);
            a.mov(bx, sel::UDATA as u32).unwrap();
            a.verw(bx).unwrap();
            record(a);
            a.mov(bx, (sel::KDATA | 3) as u32).unwrap(); // RPL 3 > DPL 0
            a.verr(bx).unwrap();
            record(a);
            a.hlt().unwrap();
        },
    );
    let zf: Vec<bool> = (0..12)
        .map(|k| u64::from(m.bus.ram[0x6000 + k]) & ZF != 0)
        .collect();
    assert_eq!(
        zf,
        [true, true, false, true, false, true, false, false, true, false, true, false]
    );
    assert_eq!(m.bus.read_u32(0x6100), 0x00C0_FA00);
    assert_eq!(m.bus.read_u32(0x6104), 0x0000_EC00);
    assert_eq!(m.bus.read_u32(0x6108), 0x2068);
    assert_eq!(m.bus.read_u32(0x610C), 0xFFFF_FFFF);
}

#[test]
fn lar_at_ring3_honours_dpl_and_is_ud_in_real_mode() {
    let mut m = ProtectedMachine::new();
    m.code(layout::USER_CODE, |a| {
        a.mov(eax, 0x1234u32).unwrap();
        a.mov(bx, sel::KCODE as u32).unwrap();
        a.lar(eax, ebx).unwrap();
        a.lahf().unwrap();
        a.hlt().unwrap();
    });
    m.enter_ring3();
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!(
        m.cpu.state.gpr[0] & 0xFFFF_00FF,
        0x34 & 0xFF,
        "EAX unchanged but AH"
    );
    assert_eq!((m.cpu.state.gpr[0] >> 8) & ZF, 0);

    let (cpu, _) = {
        let mut bus = vx86_cpu::testing::FlatBus::new(1 << 20);
        let code = vx86_cpu::testing::assemble(16, 0x1000, |a| {
            a.lar(ax, bx).unwrap();
        });
        bus.load(0x1000, &code);
        let mut cpu = vx86_cpu::testing::real_cpu(0x1000, 0x8000);
        // IVT vector 6 -> 0000:2000, a HLT.
        bus.write_u32(6 * 4, 0x2000);
        bus.ram[0x2000] = 0xF4;
        assert_eq!(
            vx86_cpu::testing::run(&mut cpu, &mut bus, 100),
            Exit::Halted
        );
        (cpu, bus)
    };
    assert_eq!(cpu.state.rip, 0x2001);
}

#[test]
fn arpl_raises_rpl() {
    let m = ProtectedMachine::run_ring0(
        |_| {},
        |a| {
            a.mov(eax, 0xABCD_0010u32).unwrap();
            a.mov(ebx, 0x23u32).unwrap();
            a.arpl(ax, bx).unwrap();
            a.lahf().unwrap();
            a.mov(byte_ptr(0x6000), ah).unwrap();
            a.mov(word_ptr(0x6002), 0x0011u32).unwrap();
            a.arpl(word_ptr(0x6002), bx).unwrap();
            a.lahf().unwrap();
            a.mov(byte_ptr(0x6001), ah).unwrap();
            a.mov(eax, 0xABCD_0010u32).unwrap();
            a.arpl(ax, bx).unwrap();
            a.hlt().unwrap();
        },
    );
    assert_eq!(m.cpu.state.gpr[0], 0xABCD_0013);
    assert_ne!(u64::from(m.bus.ram[0x6000]) & ZF, 0);
    assert_ne!(u64::from(m.bus.ram[0x6001]) & ZF, 0);
    assert_eq!(m.bus.ram[0x6002], 0x13);
}

#[test]
fn sysenter_and_sysexit() {
    let (_, _, _, features) = vx86_cpu::cpuid::cpuid(1, 0);
    assert_ne!(features & vx86_cpu::cpuid::feature::SEP, 0);
    let mut m = ProtectedMachine::new();
    m.cpu.state.sysenter = [u64::from(sel::KCODE), 0x8800, KERNEL_ENTRY];
    m.code(layout::USER_CODE, |a| {
        a.mov(eax, 1u32).unwrap();
        a.sysenter().unwrap();
    });
    m.code(KERNEL_ENTRY, |a| {
        a.mov(ebx, esp).unwrap();
        a.mov(esi, cs).unwrap();
        a.mov(edi, ss).unwrap();
        a.mov(ecx, 0xAF00u32).unwrap();
        a.mov(edx, (layout::USER_CODE + 0x100) as u32).unwrap();
        a.sysexit().unwrap();
    });
    m.code(layout::USER_CODE + 0x100, |a| a.hlt().unwrap());
    m.enter_ring3();
    m.cpu.state.rflags |= vx86_cpu::flags::IF;
    assert_eq!(m.run(), Exit::Halted);
    let s = &m.cpu.state;
    assert_eq!(
        (s.gpr[3], s.gpr[6] & 0xFFFF, s.gpr[7] & 0xFFFF),
        (0x8800, 0x08, 0x10)
    );
    assert_eq!(m.vector_taken(), Some(13));
    assert_eq!(m.stack(1), (layout::USER_CODE + 0x100) as u32);
    assert_eq!(m.stack(2), u32::from(sel::UCODE));
    assert_eq!(
        m.stack(3) & vx86_cpu::flags::IF as u32,
        0,
        "SYSENTER cleared IF"
    );
    assert_eq!(m.stack(4), 0xAF00);
    assert_eq!(m.stack(5), u32::from(sel::UDATA));

    // SYSENTER_CS = 0: #GP(0).
    let mut m = ProtectedMachine::new();
    m.code(layout::USER_CODE, |a| a.sysenter().unwrap());
    m.enter_ring3();
    assert_eq!(m.run(), Exit::Halted);
    assert_eq!(
        (m.vector_taken(), m.stack(0), m.stack(1)),
        (Some(13), 0, layout::USER_CODE as u32)
    );
}
