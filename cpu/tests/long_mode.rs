//! IA-32e mode: entering long mode, 64-bit execution, four-level paging faults, the 64-bit IDT with privilege
//! changes and IRETQ, SYSCALL/SYSRET, SWAPGS, RDTSCP, CMPXCHG16B and canonical-address checks.

use iced_x86::code_asm::*;
use vx86_cpu::flags::ZF;
use vx86_cpu::state::{attr, cr0, cr4, efer, SegReg, Segment, TableReg};
use vx86_cpu::testing::{assemble, FlatBus};
use vx86_cpu::{Cpu, Exit};

const PML4: u64 = 0x70000;
const PDPT: u64 = 0x71000;
const PD: u64 = 0x72000;
const GDT: u64 = 0x60000;
const IDT: u64 = 0x61000;
const TSS: u64 = 0x62000;
const CODE: u64 = 0x1000;
const KERNEL_STACK: u64 = 0x9000;
const USER_STACK: u64 = 0xA000;
/// Handler stubs: vector v's handler is a HLT at HANDLERS + v.
const HANDLERS: u64 = 0x50000;

/// Selectors of the test GDT.
const KERNEL_CS: u16 = 0x08;
const KERNEL_DS: u16 = 0x10;
const USER_CS32: u16 = 0x18;
const USER_DS: u16 = 0x20;
const USER_CS: u16 = 0x28;
const TSS_SEL: u16 = 0x30;

fn gdt_entries() -> [u64; 8] {
    let tss_low = 0x0000_8900_0000_0067 | ((TSS & 0xFF_FFFF) << 16);
    [
        0,
        0x0020_9A00_0000_0000, // 0x08 kernel code, 64-bit
        0x00CF_9200_0000_FFFF, // 0x10 kernel data
        0x00CF_FA00_0000_FFFF, // 0x18 user code, 32-bit
        0x00CF_F200_0000_FFFF, // 0x20 user data
        0x0020_FA00_0000_0000, // 0x28 user code, 64-bit
        tss_low,               // 0x30 64-bit TSS (16 bytes)
        0,
    ]
}

/// A machine with long-mode tables in RAM: identity map of the first 4 MiB (2 MiB pages, user-accessible), a
/// GDT, a 64-bit IDT whose every vector HLTs in ring 0, and a TSS with RSP0 and IST1.
fn machine() -> FlatBus {
    let mut bus = FlatBus::new(8 << 20);
    bus.write_u64(PML4, PDPT | 7);
    bus.write_u64(PDPT, PD | 7);
    for k in 0..2 {
        bus.write_u64(PD + 8 * k, (k << 21) | 0x87);
    }
    for (k, d) in gdt_entries().iter().enumerate() {
        bus.write_u64(GDT + 8 * k as u64, *d);
    }
    for v in 0..256u64 {
        let handler = HANDLERS + v;
        let low = (handler & 0xFFFF)
            | (u64::from(KERNEL_CS) << 16)
            | (0xEE00u64 << 32)
            | ((handler >> 16 & 0xFFFF) << 48);
        bus.write_u64(IDT + 16 * v, low);
        bus.write_u64(IDT + 16 * v + 8, handler >> 32);
        bus.ram[(HANDLERS + v) as usize] = 0xF4;
    }
    bus.write_u64(TSS + 4, KERNEL_STACK);
    bus.write_u64(TSS + 0x24, 0xB000); // IST1
    bus
}

/// A CPU already in 64-bit mode at CPL 0.
fn cpu64() -> Cpu {
    let mut cpu = Cpu::new();
    cpu.state.cr0 = cr0::PE | cr0::PG | cr0::ET;
    cpu.state.cr4 = cr4::PAE;
    cpu.state.cr3 = PML4;
    cpu.state.efer = efer::LME | efer::LMA | efer::SCE | efer::NXE;
    cpu.state.gdtr = TableReg {
        base: GDT,
        limit: 8 * 8 - 1,
    };
    cpu.state.idtr = TableReg {
        base: IDT,
        limit: 256 * 16 - 1,
    };
    cpu.state.tr = Segment {
        base: TSS,
        limit: 0x67,
        selector: TSS_SEL,
        attrs: attr::P | 0xB,
    };
    let data = Segment {
        base: 0,
        limit: 0xFFFF_FFFF,
        selector: KERNEL_DS,
        attrs: attr::P | attr::S | attr::RW | attr::ACCESSED | attr::DB | attr::G,
    };
    for s in SegReg::ALL {
        cpu.state.segs[s as usize] = data;
    }
    cpu.state.segs[SegReg::Cs as usize] = Segment {
        selector: KERNEL_CS,
        attrs: attr::P | attr::S | attr::CODE | attr::RW | attr::ACCESSED | attr::L,
        ..data
    };
    cpu.state.rip = CODE;
    cpu.state.gpr[4] = KERNEL_STACK;
    cpu
}

fn run64(build: impl FnOnce(&mut CodeAssembler)) -> (Cpu, FlatBus) {
    run64_on(
        |bus| {
            // An IDTR image of the test IDT at 0x4200, for snippets that reload it.
            bus.load(0x4200, &(256u16 * 16 - 1).to_le_bytes());
            bus.write_u64(0x4202, IDT);
        },
        build,
    )
}

/// WRMSR STAR: SYSCALL's CS = 0x08 (SS 0x10), SYSRET's base 0x18 (64-bit CS 0x2B, SS 0x23).
fn write_star(a: &mut CodeAssembler) {
    a.mov(ecx, 0xC000_0081u32).unwrap();
    a.xor(eax, eax).unwrap();
    a.mov(edx, (u32::from(USER_CS32) << 16) | u32::from(KERNEL_CS))
        .unwrap();
    a.wrmsr().unwrap();
}

fn read_u64(bus: &FlatBus, addr: u64) -> u64 {
    u64::from(bus.read_u32(addr)) | u64::from(bus.read_u32(addr + 4)) << 32
}

#[test]
fn protected_mode_code_enters_long_mode_and_runs_64_bit_code() {
    let mut bus = machine();
    // 32-bit code: PAE, CR3, EFER.LME, then PG, then a far jump to the 64-bit code segment.
    let entry64 = 0x3000u64;
    let code32 = assemble(32, CODE, |a| {
        a.mov(eax, cr4).unwrap();
        a.or(eax, 0x20).unwrap();
        a.mov(cr4, eax).unwrap();
        a.mov(eax, PML4 as u32).unwrap();
        a.mov(cr3, eax).unwrap();
        a.mov(ecx, 0xC000_0080u32).unwrap();
        a.rdmsr().unwrap();
        a.or(eax, 0x100).unwrap();
        a.wrmsr().unwrap();
        a.mov(eax, cr0).unwrap();
        a.or(eax, 0x8000_0000u32).unwrap();
        a.mov(cr0, eax).unwrap();
        a.jmp_far(KERNEL_CS, entry64 as u32).unwrap();
    });
    bus.load(CODE, &code32);
    let code64 = assemble(64, entry64, |a| {
        a.mov(rax, 0x1122_3344_5566_7788u64).unwrap();
        a.mov(rbx, rax).unwrap();
        a.shl(rbx, 8).unwrap();
        a.hlt().unwrap();
    });
    bus.load(entry64, &code64);
    let mut cpu = vx86_cpu::testing::flat32_cpu(CODE, 0x8000);
    cpu.state.gdtr = TableReg {
        base: GDT,
        limit: 8 * 8 - 1,
    };
    assert_eq!(
        vx86_cpu::testing::run(&mut cpu, &mut bus, 1000),
        Exit::Halted
    );
    assert!(
        cpu.state.long_mode(),
        "EFER.LMA set by enabling paging with LME"
    );
    assert!(cpu.state.mode64());
    assert_eq!(cpu.state.gpr[3], 0x2233_4455_6677_8800);
}

#[test]
fn paging_without_pae_in_long_mode_is_refused() {
    let mut bus = machine();
    let code32 = assemble(32, CODE, |a| {
        a.mov(ecx, 0xC000_0080u32).unwrap();
        a.rdmsr().unwrap();
        a.or(eax, 0x100).unwrap();
        a.wrmsr().unwrap();
        a.mov(eax, cr0).unwrap();
        a.or(eax, 0x8000_0000u32).unwrap();
        a.mov(cr0, eax).unwrap();
        a.hlt().unwrap();
    });
    bus.load(CODE, &code32);
    let mut cpu = vx86_cpu::testing::flat32_cpu(CODE, 0x8000);
    // #GP goes through an empty IDT: #GP, #DF, then shutdown.
    assert_eq!(
        vx86_cpu::testing::run(&mut cpu, &mut bus, 1000),
        Exit::TripleFault
    );
    assert!(!cpu.state.paging());
}

#[test]
fn sixty_four_bit_arithmetic_rip_relative_and_stack() {
    let (cpu, bus) = run64(|a| {
        let mut data = a.create_label();
        let mut f = a.create_label();
        let mut done = a.create_label();
        a.mov(rax, qword_ptr(data)).unwrap();
        a.mov(ecx, 0xFFFF_FFFFu32).unwrap(); // zero-extends into RCX
        a.movsxd(rdx, ecx).unwrap();
        a.push(rax).unwrap();
        a.pop(r9).unwrap();
        a.call(f).unwrap();
        a.jmp(done).unwrap();
        a.set_label(&mut f).unwrap();
        a.add(r9, 1).unwrap();
        a.ret().unwrap();
        a.set_label(&mut done).unwrap();
        a.mov(qword_ptr(0x4000), r9).unwrap();
        a.mov(eax, 0x8000_0000u32).unwrap();
        a.cdqe().unwrap();
        a.cqo().unwrap();
        a.hlt().unwrap();
        a.set_label(&mut data).unwrap();
        a.dq(&[0x0123_4567_89AB_CDEF]).unwrap();
    });
    assert_eq!(cpu.state.gpr[1], 0xFFFF_FFFF);
    assert_eq!(cpu.state.gpr[9], 0x0123_4567_89AB_CDF0);
    assert_eq!(read_u64(&bus, 0x4000), 0x0123_4567_89AB_CDF0);
    assert_eq!(cpu.state.gpr[0], 0xFFFF_FFFF_8000_0000);
    assert_eq!(cpu.state.gpr[2], u64::MAX);
    assert_eq!(cpu.state.gpr[4], KERNEL_STACK);
}

#[test]
fn page_fault_through_the_64_bit_idt_reports_cr2_and_error_code() {
    let (cpu, bus) = run64(|a| {
        a.mov(rax, 0x40_0000u64).unwrap(); // first unmapped 2 MiB page
        a.mov(qword_ptr(rax), rbx).unwrap();
        a.hlt().unwrap();
    });
    assert_eq!(cpu.state.rip, HANDLERS + 14 + 1, "the #PF handler ran");
    assert_eq!(cpu.state.cr2, 0x40_0000);
    // Frame: error code, RIP, CS, RFLAGS, RSP, SS; RSP 16-byte aligned before the pushes.
    let top = cpu.state.gpr[4];
    assert_eq!(read_u64(&bus, top), 0x2, "not present, write, supervisor");
    assert_eq!(read_u64(&bus, top + 8), CODE + 10);
    assert_eq!(read_u64(&bus, top + 16), u64::from(KERNEL_CS));
    assert_eq!(read_u64(&bus, top + 32), KERNEL_STACK);
    assert_eq!(top, KERNEL_STACK - 48);
}

#[test]
fn non_canonical_addresses_raise_gp() {
    let (cpu, bus) = run64(|a| {
        a.mov(rax, 0x0000_8000_0000_0000u64).unwrap();
        a.mov(rbx, qword_ptr(rax)).unwrap();
        a.hlt().unwrap();
    });
    assert_eq!(cpu.state.rip, HANDLERS + 13 + 1);
    assert_eq!(read_u64(&bus, cpu.state.gpr[4]), 0, "#GP(0)");
}

/// Runs 64-bit ring-0 code on [`machine`] with two more GDT entries, an LDT (0x40) and a TSS (0x50) descriptor whose
/// bases are non-canonical (bit 47 set, bits 63..48 clear); returns the vector taken and the error code.
fn run64_with_bad_system_descriptors(build: impl FnOnce(&mut CodeAssembler)) -> (u64, u64) {
    let mut bus = machine();
    bus.write_u64(GDT + 0x40, 0x0000_8200_0000_0FFF);
    bus.write_u64(GDT + 0x48, 0x0000_8000);
    bus.write_u64(GDT + 0x50, 0x0000_8900_0000_0067);
    bus.write_u64(GDT + 0x58, 0x0000_8000);
    bus.load(CODE, &assemble(64, CODE, build));
    let mut cpu = cpu64();
    cpu.state.gdtr.limit = 0x5F;
    assert_eq!(
        vx86_cpu::testing::run(&mut cpu, &mut bus, 1000),
        Exit::Halted
    );
    (
        cpu.state.rip - HANDLERS - 1,
        read_u64(&bus, cpu.state.gpr[4]),
    )
}

#[test]
fn non_canonical_bases_for_gdtr_idtr_ldtr_tr_and_the_fs_gs_base_msrs_raise_gp() {
    const NON_CANONICAL: u64 = 0x0000_8000_0000_0000;
    let load_table = |lidt: bool| {
        move |a: &mut CodeAssembler| {
            a.mov(word_ptr(0x4300), 0xFFFu32).unwrap();
            a.mov(rax, NON_CANONICAL).unwrap();
            a.mov(qword_ptr(0x4302), rax).unwrap();
            if lidt {
                a.lidt(ptr(0x4300)).unwrap();
            } else {
                a.lgdt(ptr(0x4300)).unwrap();
            }
            a.hlt().unwrap();
        }
    };
    for lidt in [false, true] {
        assert_eq!(run64_with_bad_system_descriptors(load_table(lidt)), (13, 0));
    }
    let lldt = run64_with_bad_system_descriptors(|a| {
        a.mov(ax, 0x40u32).unwrap();
        a.lldt(ax).unwrap();
        a.hlt().unwrap();
    });
    assert_eq!(lldt, (13, 0x40), "#GP(selector)");
    let ltr = run64_with_bad_system_descriptors(|a| {
        a.mov(ax, 0x50u32).unwrap();
        a.ltr(ax).unwrap();
        a.hlt().unwrap();
    });
    assert_eq!(ltr, (13, 0x50), "#GP(selector)");
    for msr in [0xC000_0100u32, 0xC000_0101, 0xC000_0102] {
        let wrmsr = run64_with_bad_system_descriptors(|a| {
            a.mov(ecx, msr).unwrap();
            a.xor(eax, eax).unwrap();
            a.mov(edx, 0x8000u32).unwrap();
            a.wrmsr().unwrap();
            a.hlt().unwrap();
        });
        assert_eq!(wrmsr, (13, 0), "WRMSR {msr:#x}");
    }
}

#[test]
fn syscall_and_sysret_switch_rings_through_star_lstar_sfmask() {
    let mut bus = machine();
    let user = 0x2000u64;
    let kernel_entry = 0x2800u64;
    let code = assemble(64, CODE, |a| {
        // STAR: SYSCALL CS=0x08/SS=0x10; SYSRET base 0x18 -> CS 0x2B (64-bit), SS 0x23.
        write_star(a);
        a.mov(ecx, 0xC000_0082u32).unwrap();
        a.mov(eax, kernel_entry as u32).unwrap();
        a.xor(edx, edx).unwrap();
        a.wrmsr().unwrap();
        a.mov(ecx, 0xC000_0084u32).unwrap();
        a.mov(eax, 0x200u32).unwrap(); // SFMASK clears IF
        a.wrmsr().unwrap();
        a.mov(rcx, user).unwrap();
        a.mov(r11, 0x202u64).unwrap();
        a.sysretq().unwrap();
    });
    bus.load(CODE, &code);
    let user_code = assemble(64, user, |a| {
        a.mov(rbx, 0x55u64).unwrap();
        a.syscall().unwrap();
    });
    bus.load(user, &user_code);
    bus.load(
        kernel_entry,
        &assemble(64, kernel_entry, |a| a.hlt().unwrap()),
    );
    let mut cpu = cpu64();
    cpu.state.rflags |= vx86_cpu::flags::IF;
    assert_eq!(
        vx86_cpu::testing::run(&mut cpu, &mut bus, 1000),
        Exit::Halted
    );
    assert_eq!(cpu.state.rip, kernel_entry + 1);
    assert_eq!(cpu.state.cpl, 0);
    assert_eq!(cpu.state.seg(SegReg::Cs).selector, KERNEL_CS);
    assert_eq!(cpu.state.seg(SegReg::Ss).selector, KERNEL_DS);
    assert_eq!(
        cpu.state.gpr[1],
        user + user_code.len() as u64,
        "RCX holds the user return address"
    );
    assert_eq!(
        cpu.state.gpr[11] & 0x200,
        0x200,
        "R11 holds the user RFLAGS"
    );
    assert_eq!(cpu.state.rflags & 0x200, 0, "SFMASK cleared IF");
    assert_eq!(cpu.state.gpr[3], 0x55, "user code ran at CPL 3");
}

#[test]
fn sysret_that_sets_tf_traps_before_the_first_user_instruction() {
    let mut bus = machine();
    let user = 0x2000u64;
    let code = assemble(64, CODE, |a| {
        // STAR: SYSRET base 0x18 -> CS 0x2B (64-bit), SS 0x23.
        write_star(a);
        a.mov(rcx, user).unwrap();
        a.mov(r11, 0x102u64).unwrap(); // TF
        a.sysretq().unwrap();
    });
    bus.load(CODE, &code);
    bus.load(user, &assemble(64, user, |a| a.mov(rbx, 0x55u64).unwrap()));
    let mut cpu = cpu64();
    assert_eq!(
        vx86_cpu::testing::run(&mut cpu, &mut bus, 1000),
        Exit::Halted
    );
    assert_eq!(cpu.state.rip, HANDLERS + 1 + 1, "the #DB handler ran");
    assert_eq!(cpu.state.gpr[3], 0, "no user instruction ran");
    let top = cpu.state.gpr[4];
    assert_eq!(
        top,
        KERNEL_STACK - 40,
        "a ring 3 -> 0 frame without error code"
    );
    assert_eq!(read_u64(&bus, top), user, "RIP: the SYSRET's target");
    assert_eq!(read_u64(&bus, top + 8), u64::from(USER_CS) | 3);
    assert_eq!(read_u64(&bus, top + 16), 0x102, "RFLAGS with TF, RF clear");
    assert_ne!(cpu.state.dr[6] & vx86_cpu::debug::dr6::BS, 0);
}

#[test]
fn interrupt_from_ring_3_switches_to_rsp0_and_iretq_returns() {
    let mut bus = machine();
    let user = 0x2000u64;
    bus.load(
        user,
        &assemble(64, user, |a| {
            a.int(0x80).unwrap();
            a.mov(rax, 0x1234u64).unwrap();
            a.int(0x81).unwrap();
        }),
    );
    // Vector 0x80: a handler that records RSP and the frame, then IRETQ.
    let handler = 0x2800u64;
    bus.load(
        handler,
        &assemble(64, handler, |a| {
            a.mov(qword_ptr(0x4000), rsp).unwrap();
            a.iretq().unwrap();
        }),
    );
    let low = (handler & 0xFFFF) | (u64::from(KERNEL_CS) << 16) | (0xEE00u64 << 32);
    bus.write_u64(IDT + 16 * 0x80, low);
    // Start at CPL 3 in user code.
    let mut cpu = cpu64();
    cpu.state.cpl = 3;
    cpu.state.segs[SegReg::Cs as usize].selector = USER_CS | 3;
    cpu.state.segs[SegReg::Cs as usize].attrs |= 3 << attr::DPL_SHIFT;
    cpu.state.segs[SegReg::Ss as usize].selector = USER_DS | 3;
    cpu.state.segs[SegReg::Ss as usize].attrs |= 3 << attr::DPL_SHIFT;
    cpu.state.rip = user;
    cpu.state.gpr[4] = USER_STACK;
    assert_eq!(
        vx86_cpu::testing::run(&mut cpu, &mut bus, 1000),
        Exit::Halted
    );
    let frame = read_u64(&bus, 0x4000);
    assert_eq!(
        frame,
        KERNEL_STACK - 40,
        "handler ran on RSP0 with a 5-qword frame"
    );
    // The second interrupt (INT 0x81, after the 10-byte MOV) reused RSP0, so its frame is the one in memory.
    assert_eq!(cpu.state.gpr[4], frame);
    assert_eq!(read_u64(&bus, frame), user + 14);
    assert_eq!(read_u64(&bus, frame + 8), u64::from(USER_CS | 3));
    assert_eq!(read_u64(&bus, frame + 24), USER_STACK);
    assert_eq!(read_u64(&bus, frame + 32), u64::from(USER_DS | 3));
    assert_eq!(
        cpu.state.gpr[0], 0x1234,
        "IRETQ returned to ring 3, which went on"
    );
    assert_eq!(cpu.state.rip, HANDLERS + 0x81 + 1);
}

#[test]
fn swapgs_rdtscp_cmpxchg16b_and_long_mode_cpuid() {
    let (cpu, bus) = run64(|a| {
        // GS base = 0x100, KERNEL_GS_BASE = 0x200, then SWAPGS.
        a.mov(ecx, 0xC000_0101u32).unwrap();
        a.mov(eax, 0x100u32).unwrap();
        a.xor(edx, edx).unwrap();
        a.wrmsr().unwrap();
        a.mov(ecx, 0xC000_0102u32).unwrap();
        a.mov(eax, 0x200u32).unwrap();
        a.wrmsr().unwrap();
        a.swapgs().unwrap();
        a.mov(ecx, 0xC000_0103u32).unwrap();
        a.mov(eax, 7u32).unwrap();
        a.wrmsr().unwrap();
        a.rdtscp().unwrap();
        a.mov(r12, rcx).unwrap();
        // CMPXCHG16B on 0x4010 (16-byte aligned): equal, so RCX:RBX are stored.
        a.xor(eax, eax).unwrap();
        a.xor(edx, edx).unwrap();
        a.mov(rbx, 0xAAAAu64).unwrap();
        a.mov(rcx, 0xBBBBu64).unwrap();
        a.cmpxchg16b(xmmword_ptr(0x4010)).unwrap();
        a.mov(eax, 0x8000_0001u32).unwrap();
        a.cpuid().unwrap();
        a.mov(r13, rdx).unwrap();
        a.hlt().unwrap();
    });
    assert_eq!(cpu.state.seg(SegReg::Gs).base, 0x200);
    assert_eq!(cpu.state.kernel_gs_base, 0x100);
    assert_eq!(cpu.state.gpr[12], 7, "RDTSCP returns TSC_AUX in ECX");
    assert_eq!(read_u64(&bus, 0x4010), 0xAAAA);
    assert_eq!(read_u64(&bus, 0x4018), 0xBBBB);
    assert_eq!(cpu.state.rflags & ZF, ZF);
    assert_ne!(cpu.state.gpr[13] & (1 << 29), 0, "CPUID reports long mode");
}

#[test]
fn lgdt_and_sgdt_use_a_64_bit_base_in_64_bit_mode() {
    let (_, bus) = run64(|a| {
        a.mov(rax, 0xFFFF_FFFF_8000_1000u64).unwrap();
        a.mov(word_ptr(0x4000), 0x7Fu32).unwrap();
        a.mov(qword_ptr(0x4002), rax).unwrap();
        a.lidt(ptr(0x4000)).unwrap();
        a.sidt(ptr(0x4100)).unwrap();
        a.lidt(ptr(0x4200)).unwrap(); // back to a usable IDT before HLT
        a.hlt().unwrap();
    });
    assert_eq!(read_u64(&bus, 0x4102), 0xFFFF_FFFF_8000_1000);
    assert_eq!(bus.read_u32(0x4100) & 0xFFFF, 0x7F);
}

#[test]
fn code_at_kernel_addresses_runs_from_the_block_cache_without_a_limit_check() {
    // The top 2 GiB (PML4[511], PDPT[510]) map the same low 4 MiB as the identity map, as a Linux kernel's do.
    const HIGH: u64 = 0xFFFF_FFFF_8000_0000;
    let mut bus = machine();
    bus.write_u64(PML4 + 8 * 511, PDPT | 7);
    bus.write_u64(PDPT + 8 * 510, PD | 7);
    let code = assemble(64, HIGH + CODE, |a| {
        let mut top = a.create_label();
        a.mov(ecx, 1000u32).unwrap();
        a.set_label(&mut top).unwrap();
        a.add(rax, 3).unwrap();
        a.dec(ecx).unwrap();
        a.jnz(top).unwrap();
        a.hlt().unwrap();
    });
    bus.load(CODE, &code);
    let mut cpu = cpu64();
    cpu.state.rip = HIGH + CODE;
    assert_eq!(
        vx86_cpu::testing::run(&mut cpu, &mut bus, 100_000),
        Exit::Halted
    );
    assert_eq!(cpu.state.gpr[0], 3000);
    // 64-bit mode ignores the CS limit, so nothing falls back to one-at-a-time fetching, and the loop body is
    // decoded once: the MOV block, the loop block, and the HLT.
    assert_eq!(cpu.stats.single_steps, 0);
    assert!(cpu.stats.blocks_decoded <= 3, "{:?}", cpu.stats);
}

#[test]
fn sysenter_enters_64_bit_ring_0_and_sysexitq_returns_to_64_bit_ring_3() {
    let mut bus = machine();
    let user = 0x2000u64;
    let kernel_entry = 0x2800u64;
    // A kernel stack pointer above 4 GiB: IA-32e SYSENTER takes the MSR whole.
    let kernel_rsp = 0x0000_0001_2345_6780u64;
    let code = assemble(64, CODE, |a| {
        for (msr, value) in [
            (0x174u32, u64::from(KERNEL_CS)),
            (0x175, kernel_rsp),
            (0x176, kernel_entry),
        ] {
            a.mov(ecx, msr).unwrap();
            a.mov(eax, value as u32).unwrap();
            a.mov(edx, (value >> 32) as u32).unwrap();
            a.wrmsr().unwrap();
        }
        a.mov(rdx, user).unwrap();
        a.mov(rcx, 0x0000_7FFF_0000_0000u64).unwrap();
        a.sysexitq().unwrap();
    });
    bus.load(CODE, &code);
    let user_code = assemble(64, user, |a| {
        a.mov(rbx, rsp).unwrap();
        a.mov(r12, 0x1_0000_0001u64).unwrap();
        a.sysenter().unwrap();
    });
    bus.load(user, &user_code);
    bus.load(
        kernel_entry,
        &assemble(64, kernel_entry, |a| a.hlt().unwrap()),
    );
    let mut cpu = cpu64();
    cpu.state.rflags |= vx86_cpu::flags::IF;
    assert_eq!(
        vx86_cpu::testing::run(&mut cpu, &mut bus, 1000),
        Exit::Halted
    );
    // Ring 3 ran 64-bit code (a 64-bit immediate, a 64-bit RSP from RCX) with CS = SYSENTER_CS + 32.
    assert_eq!(cpu.state.gpr[3], 0x0000_7FFF_0000_0000);
    assert_eq!(cpu.state.gpr[12], 0x1_0000_0001);
    // SYSENTER: ring 0, 64-bit CS from SYSENTER_CS, the whole 64-bit RSP, IF cleared.
    assert_eq!(cpu.state.rip, kernel_entry + 1);
    assert_eq!(cpu.state.cpl, 0);
    assert!(cpu.state.mode64());
    assert_eq!(cpu.state.seg(SegReg::Cs).selector, KERNEL_CS);
    assert_eq!(cpu.state.seg(SegReg::Ss).selector, KERNEL_CS + 8);
    assert_eq!(cpu.state.gpr[4], kernel_rsp);
    assert_eq!(cpu.state.rflags & vx86_cpu::flags::IF, 0);
}

#[test]
fn sysexitq_to_a_non_canonical_address_and_non_canonical_sysenter_msrs_raise_gp() {
    let (cpu, _) = run64(|a| {
        a.mov(ecx, 0x174u32).unwrap();
        a.mov(eax, u32::from(KERNEL_CS)).unwrap();
        a.xor(edx, edx).unwrap();
        a.wrmsr().unwrap();
        a.mov(rdx, 0x8000_0000_0000_0000u64).unwrap();
        a.sysexitq().unwrap();
    });
    assert_eq!(cpu.state.rip, HANDLERS + 13 + 1, "#GP from SYSEXITQ");
    let (cpu, _) = run64(|a| {
        a.mov(ecx, 0x176u32).unwrap();
        a.xor(eax, eax).unwrap();
        a.mov(edx, 0x8000_0000u32).unwrap();
        a.wrmsr().unwrap();
    });
    assert_eq!(cpu.state.rip, HANDLERS + 13 + 1, "#GP from WRMSR");
}

/// Runs 64-bit `build` on [`machine`] after `setup` changed the bus.
fn run64_on(
    setup: impl FnOnce(&mut FlatBus),
    build: impl FnOnce(&mut CodeAssembler),
) -> (Cpu, FlatBus) {
    let mut bus = machine();
    setup(&mut bus);
    bus.load(CODE, &assemble(64, CODE, build));
    let mut cpu = cpu64();
    assert_eq!(
        vx86_cpu::testing::run(&mut cpu, &mut bus, 100_000),
        Exit::Halted
    );
    (cpu, bus)
}

#[test]
fn cr8_is_the_local_apic_task_priority() {
    let snippet = |a: &mut CodeAssembler| {
        a.mov(rbx, cr8).unwrap();
        a.mov(eax, 5).unwrap();
        a.mov(cr8, rax).unwrap();
        a.mov(rcx, cr8).unwrap();
        a.hlt().unwrap();
    };
    // With an APIC, CR8 reads and writes bits 7-4 of its TPR.
    let (cpu, bus) = run64_on(|bus| bus.tpr = Some(0x3A), snippet);
    assert_eq!(cpu.state.gpr[3], 3, "CR8 = TPR[7:4]");
    assert_eq!(bus.tpr, Some(0x50), "MOV to CR8 writes TPR = CR8 << 4");
    assert_eq!(cpu.state.gpr[1], 5);
    // Without one, CR8 is a register of its own.
    let (cpu, _) = run64_on(|_| {}, snippet);
    assert_eq!((cpu.state.gpr[3], cpu.state.gpr[1]), (0, 5));
    // Bits above 3 are reserved: #GP(0).
    let (cpu, _) = run64_on(
        |bus| bus.tpr = Some(0),
        |a| {
            a.mov(eax, 0x10).unwrap();
            a.mov(cr8, rax).unwrap();
            a.hlt().unwrap();
        },
    );
    assert_eq!(cpu.state.rip, HANDLERS + 13 + 1, "#GP's handler");
}

#[test]
fn cpuid_reports_the_processor_apic_id_and_an_apic_only_while_enabled() {
    let snippet = |a: &mut CodeAssembler| {
        a.mov(eax, 1).unwrap();
        a.cpuid().unwrap();
        a.hlt().unwrap();
    };
    const APIC_FEATURE: u64 = 1 << 9;
    for (base, apic) in [
        (None, true),
        (Some(0xFEE0_0900), true),
        (Some(0xFEE0_0100), false),
    ] {
        let (cpu, _) = run64_on(|bus| bus.apic_base = base, snippet);
        assert_eq!(
            cpu.state.gpr[2] & APIC_FEATURE != 0,
            apic,
            "IA32_APIC_BASE {base:x?}"
        );
        assert_eq!(
            cpu.state.gpr[3] >> 24,
            0,
            "the bootstrap processor's APIC ID"
        );
    }
    // Another processor's context on the same CPU reports its own ID.
    let mut bus = machine();
    bus.load(CODE, &assemble(64, CODE, snippet));
    let mut cpu = cpu64();
    let mut other = vx86_cpu::VcpuContext::new(3);
    other.state = cpu.state.clone();
    cpu.switch_context(&mut other);
    assert_eq!(
        vx86_cpu::testing::run(&mut cpu, &mut bus, 1000),
        Exit::Halted
    );
    assert_eq!(cpu.state.gpr[3] >> 24 & 0xFF, 3);
    assert_eq!(cpu.apic_id(), 3);
}
