//! The CPU model as guest code sees it: the machine-check MSRs (capabilities, status and banks that never log) and
//! the CPUID cache leaves that software sizes the caches from.

use iced_x86::code_asm::*;
use vx86_cpu::cpuid::feature;
use vx86_cpu::cpuid::machine_check::{MC0_CTL, MCG_CAP, MCG_STATUS};
use vx86_cpu::state::cr4;
use vx86_cpu::testing::{layout, ProtectedMachine};

/// Where the snippets store what they read.
const OUT: u32 = 0x6000;

/// RDMSR `index` and store EDX:EAX at `OUT + 8 * slot`.
fn read_msr(a: &mut CodeAssembler, index: u32, slot: u32) {
    a.mov(ecx, index).unwrap();
    a.rdmsr().unwrap();
    a.mov(dword_ptr(OUT + 8 * slot), eax).unwrap();
    a.mov(dword_ptr(OUT + 8 * slot + 4), edx).unwrap();
}

fn out(m: &ProtectedMachine, slot: u64) -> u64 {
    let at = u64::from(OUT) + 8 * slot;
    u64::from(m.bus.read_u32(at)) | u64::from(m.bus.read_u32(at + 4)) << 32
}

#[test]
fn machine_check_msrs_describe_banks_that_never_log_an_error() {
    let m = ProtectedMachine::run_ring0(
        |_| {},
        |a| {
            a.mov(eax, 1).unwrap();
            a.cpuid().unwrap();
            a.mov(dword_ptr(OUT + 64), edx).unwrap();
            a.mov(eax, cr4).unwrap();
            a.or(eax, cr4::MCE as i32).unwrap();
            a.mov(cr4, eax).unwrap();
            read_msr(a, MCG_CAP, 0);
            read_msr(a, MCG_STATUS, 1);
            // Linux's set-up: every error enabled in each bank, status cleared.
            a.mov(ecx, MC0_CTL + 4).unwrap();
            a.mov(eax, -1).unwrap();
            a.mov(edx, -1).unwrap();
            a.wrmsr().unwrap();
            a.mov(ecx, MC0_CTL + 5).unwrap();
            a.xor(eax, eax).unwrap();
            a.xor(edx, edx).unwrap();
            a.wrmsr().unwrap();
            read_msr(a, MC0_CTL + 4, 2);
            read_msr(a, MC0_CTL + 13, 3);
            // A status register takes nothing but 0.
            a.mov(ecx, MC0_CTL + 1).unwrap();
            a.mov(eax, 1).unwrap();
            a.wrmsr().unwrap();
        },
    );
    let edx1 = out(&m, 8) as u32;
    assert_eq!(
        edx1 & (feature::MCE | feature::MCA),
        feature::MCE | feature::MCA
    );
    assert_ne!(m.cpu.state.cr4 & cr4::MCE, 0, "CR4.MCE can be set");
    assert_eq!(out(&m, 0), 4, "MCG_CAP: four banks, no MCG_CTL, no CMCI");
    assert_eq!(out(&m, 1), 0, "MCG_STATUS");
    assert_eq!(out(&m, 2), u64::MAX, "MC1_CTL keeps what was written");
    assert_eq!(out(&m, 3), 0, "MC3_STATUS: nothing logged");
    assert_eq!((m.vector_taken(), m.stack(0)), (Some(13), 0), "#GP(0)");
    assert_eq!(m.cpu.state.rip, layout::HANDLERS + 13 * 16 + 1);
}

#[test]
fn cpuid_cache_leaves_describe_32_kib_l1_caches_and_a_4_mib_l2() {
    let m = ProtectedMachine::run_ring0(
        |_| {},
        |a| {
            a.xor(eax, eax).unwrap();
            a.cpuid().unwrap();
            a.mov(dword_ptr(OUT), eax).unwrap();
            a.mov(eax, 2).unwrap();
            a.cpuid().unwrap();
            a.mov(dword_ptr(OUT + 4), eax).unwrap();
            a.mov(eax, 0x8000_0006u32).unwrap();
            a.cpuid().unwrap();
            a.mov(dword_ptr(OUT + 8), ecx).unwrap();
            for index in 0..4u32 {
                a.mov(eax, 4).unwrap();
                a.mov(ecx, index).unwrap();
                a.cpuid().unwrap();
                let at = OUT + 16 + 12 * index;
                a.mov(dword_ptr(at), eax).unwrap();
                a.mov(dword_ptr(at + 4), ebx).unwrap();
                a.mov(dword_ptr(at + 8), ecx).unwrap();
            }
            a.hlt().unwrap();
        },
    );
    let word = |at: u32| m.bus.read_u32(u64::from(OUT + at));
    assert!(word(0) >= 4, "leaf 4 is within the basic leaves");
    assert_eq!(word(4), 0xFF01, "leaf 2: one descriptor, 0xFF (use leaf 4)");
    assert_eq!(
        word(8),
        4096 << 16 | 8 << 12 | 64,
        "leaf 8000_0006h: 4 MiB L2, 16-way, 64-byte lines"
    );
    // Leaf 4 as memtest86+ and Linux read it: type, level, and ways x partitions x line size x sets.
    let caches: Vec<(u32, u32, u32)> = (0..4)
        .map(|k| {
            let (kind, geometry, sets) = (word(16 + 12 * k), word(20 + 12 * k), word(24 + 12 * k));
            let ways = (geometry >> 22) + 1;
            let partitions = (geometry >> 12 & 0x3FF) + 1;
            let line = (geometry & 0xFFF) + 1;
            (
                kind & 0x1F,
                kind >> 5 & 7,
                ways * partitions * line * (sets + 1),
            )
        })
        .collect();
    assert_eq!(caches[0], (1, 1, 32 << 10), "L1 data");
    assert_eq!(caches[1], (2, 1, 32 << 10), "L1 instruction");
    assert_eq!(caches[2], (3, 2, 4 << 20), "L2 unified");
    assert_eq!(caches[3].0, 0, "the list ends");
}

#[test]
fn serialize_is_offered_and_runs_as_a_serializing_no_op() {
    let m = ProtectedMachine::run_ring0(
        |_| {},
        |a| {
            a.mov(eax, 7).unwrap();
            a.xor(ecx, ecx).unwrap();
            a.cpuid().unwrap();
            a.mov(dword_ptr(OUT), edx).unwrap();
            a.mov(esi, 0x1234_5678).unwrap();
            a.serialize().unwrap();
            a.mov(dword_ptr(OUT + 4), esi).unwrap();
            a.hlt().unwrap();
        },
    );
    let features = m.bus.read_u32(u64::from(OUT));
    assert_ne!(
        features & vx86_cpu::cpuid::SERIALIZE_BIT,
        0,
        "CPUID.7.0:EDX[14]"
    );
    assert_eq!(m.vector_taken(), None, "SERIALIZE raised no #UD");
    assert_eq!(
        m.bus.read_u32(u64::from(OUT + 4)),
        0x1234_5678,
        "the code after it ran"
    );
}
