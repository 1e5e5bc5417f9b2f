//! String instructions: MOVS, CMPS, STOS, LODS, SCAS, INS, OUTS with REP/REPE/REPNE, both directions, 16- and
//! 32-bit addressing, segment overrides, long repeats (page at a time with 64-bit addressing), faults and stop
//! requests in the middle of a repeat.

use iced_x86::code_asm::*;
use vx86_cpu::flags::{AF, ARITH, CF, DF, PF, SF, ZF};
use vx86_cpu::testing::{assemble, flat32_cpu, real_cpu, FlatBus};
use vx86_cpu::{Cpu, Exit};

const RSI: usize = 6;
const RDI: usize = 7;
const RCX: usize = 1;

/// Runs code assembled at 0x1000 on a prepared bus (32-bit flat, or real mode when `bitness` is 16) until it
/// stops; returns the CPU, the bus and why it stopped.
fn run_on(
    bitness: u32,
    mut bus: FlatBus,
    build: impl FnOnce(&mut CodeAssembler),
) -> (Cpu, FlatBus, Exit) {
    bus.load(0x1000, &assemble(bitness, 0x1000, build));
    let mut cpu = if bitness == 16 {
        real_cpu(0x1000, 0x8000)
    } else {
        flat32_cpu(0x1000, 0x8000)
    };
    let exit = vx86_cpu::testing::run(&mut cpu, &mut bus, 1_000_000);
    (cpu, bus, exit)
}

fn run32_on(bus: FlatBus, build: impl FnOnce(&mut CodeAssembler)) -> (Cpu, FlatBus) {
    let (cpu, bus, exit) = run_on(32, bus, build);
    assert_eq!(exit, Exit::Halted);
    (cpu, bus)
}

fn bus_with(addr: u64, bytes: &[u8]) -> FlatBus {
    let mut bus = FlatBus::new(1 << 20);
    bus.load(addr, bytes);
    bus
}

#[test]
fn rep_movsb_forward() {
    let (cpu, bus) = run32_on(bus_with(0x3000, b"hello world!"), |a| {
        a.mov(esi, 0x3000u32).unwrap();
        a.mov(edi, 0x4000u32).unwrap();
        a.mov(ecx, 12u32).unwrap();
        a.rep().movsb().unwrap();
        a.hlt().unwrap();
    });
    assert_eq!(&bus.ram[0x4000..0x400D], b"hello world!\0");
    assert_eq!(
        (cpu.state.gpr[RCX], cpu.state.gpr[RSI], cpu.state.gpr[RDI]),
        (0, 0x300C, 0x400C)
    );
}

#[test]
fn rep_movsd_backward() {
    let mut bus = FlatBus::new(1 << 20);
    for (k, v) in [0x1111_1111u32, 0x2222_2222, 0x3333_3333, 0x4444_4444]
        .iter()
        .enumerate()
    {
        bus.write_u32(0x3000 + 4 * k as u64, *v);
    }
    let (cpu, bus) = run32_on(bus, |a| {
        a.std().unwrap();
        a.mov(esi, 0x3008u32).unwrap();
        a.mov(edi, 0x4008u32).unwrap();
        a.mov(ecx, 3u32).unwrap();
        a.rep().movsd().unwrap();
        a.hlt().unwrap();
    });
    let copied: Vec<u32> = (0..4).map(|k| bus.read_u32(0x4000 + 4 * k)).collect();
    assert_eq!(copied, [0x1111_1111, 0x2222_2222, 0x3333_3333, 0]);
    assert_eq!(
        (cpu.state.gpr[RCX], cpu.state.gpr[RSI], cpu.state.gpr[RDI]),
        (0, 0x2FFC, 0x3FFC)
    );
    assert_eq!(cpu.state.rflags & DF, DF);
}

#[test]
fn repe_cmpsb_stops_at_the_first_difference() {
    let mut bus = bus_with(0x3000, b"abcdef");
    bus.load(0x4000, b"abcXef");
    let (cpu, _) = run32_on(bus, |a| {
        a.mov(esi, 0x3000u32).unwrap();
        a.mov(edi, 0x4000u32).unwrap();
        a.mov(ecx, 6u32).unwrap();
        a.repe().cmpsb().unwrap();
        a.hlt().unwrap();
    });
    // Four comparisons; the last is 'd' - 'X' = 0x0C.
    assert_eq!(
        (cpu.state.gpr[RCX], cpu.state.gpr[RSI], cpu.state.gpr[RDI]),
        (2, 0x3004, 0x4004)
    );
    assert_eq!(cpu.state.rflags & ARITH, AF | PF);
}

#[test]
fn repe_cmpsw_all_equal_and_cmpsd_borrow() {
    let mut bus = bus_with(0x3000, &[1, 2, 3, 4, 0, 0, 0, 0]);
    bus.load(0x4000, &[1, 2, 3, 4, 1, 0, 0, 0]);
    let (cpu, _) = run32_on(bus, |a| {
        a.mov(esi, 0x3000u32).unwrap();
        a.mov(edi, 0x4000u32).unwrap();
        a.mov(ecx, 2u32).unwrap();
        a.repe().cmpsw().unwrap();
        a.setz(bl).unwrap();
        a.cmpsd().unwrap(); // 0 - 1
        a.hlt().unwrap();
    });
    assert_eq!(cpu.state.gpr[3] & 0xFF, 1, "ZF after the equal words");
    assert_eq!(
        (cpu.state.gpr[RCX], cpu.state.gpr[RSI], cpu.state.gpr[RDI]),
        (0, 0x3008, 0x4008)
    );
    assert_eq!(cpu.state.rflags & ARITH, CF | SF | PF | AF);
}

#[test]
fn repne_scasb_finds_a_byte() {
    let (cpu, _) = run32_on(bus_with(0x4000, b"hello"), |a| {
        a.mov(edi, 0x4000u32).unwrap();
        a.mov(ecx, 5u32).unwrap();
        a.mov(al, b'l' as u32).unwrap();
        a.repne().scasb().unwrap();
        a.hlt().unwrap();
    });
    assert_eq!((cpu.state.gpr[RCX], cpu.state.gpr[RDI]), (2, 0x4003));
    assert_eq!(cpu.state.rflags & ARITH, ZF | PF);

    let (cpu, _) = run32_on(bus_with(0x4000, b"hello"), |a| {
        a.mov(edi, 0x4000u32).unwrap();
        a.mov(ecx, 5u32).unwrap();
        a.mov(al, b'z' as u32).unwrap();
        a.repne().scasb().unwrap();
        a.hlt().unwrap();
    });
    // Not found: the count runs out; flags from 'z' - 'o' = 0x0B (a borrow out of the low nibble).
    assert_eq!((cpu.state.gpr[RCX], cpu.state.gpr[RDI]), (0, 0x4005));
    assert_eq!(cpu.state.rflags & ARITH, AF);
}

#[test]
fn scasd_and_lods_in_both_directions() {
    let mut bus = FlatBus::new(1 << 20);
    bus.write_u32(0x3000, 0x8765_4321);
    let (cpu, _) = run32_on(bus, |a| {
        a.mov(esi, 0x3000u32).unwrap();
        a.lodsb().unwrap();
        a.mov(bl, al).unwrap();
        a.lodsw().unwrap(); // 0x3001: 0x6543
        a.mov(dx, ax).unwrap();
        a.std().unwrap();
        a.mov(esi, 0x3000u32).unwrap();
        a.lodsd().unwrap();
        a.mov(edi, 0x3000u32).unwrap();
        a.mov(eax, 0x0000_0001u32).unwrap();
        a.scasd().unwrap(); // 1 - 0x87654321, DI moves down
        a.hlt().unwrap();
    });
    assert_eq!(cpu.state.gpr[3] & 0xFF, 0x21);
    assert_eq!(cpu.state.gpr[2] & 0xFFFF, 0x6543);
    assert_eq!(cpu.state.gpr[RSI], 0x2FFC);
    assert_eq!(cpu.state.gpr[RDI], 0x2FFC);
    // 1 - 0x87654321 = 0x789ABCE0: a borrow; positive minus negative stays positive, so no OF.
    assert_eq!(cpu.state.rflags & ARITH, CF);
}

#[test]
fn rep_stosw_with_16_bit_addressing_wraps_di() {
    let (cpu, bus, exit) = run_on(16, FlatBus::new(1 << 20), |a| {
        a.mov(ax, 0x1000u32).unwrap();
        a.mov(es, ax).unwrap();
        a.mov(edi, 0x1234_FFFCu32).unwrap();
        a.mov(ecx, 0xABCD_0003u32).unwrap();
        a.mov(ax, 0xBEEFu32).unwrap();
        a.rep().stosw().unwrap();
        a.hlt().unwrap();
    });
    assert_eq!(exit, Exit::Halted);
    assert_eq!(&bus.ram[0x1FFFC..0x20000], &[0xEF, 0xBE, 0xEF, 0xBE]);
    assert_eq!(&bus.ram[0x10000..0x10004], &[0xEF, 0xBE, 0, 0]);
    // Only DI and CX move; the upper halves of EDI and ECX are kept.
    assert_eq!(cpu.state.gpr[RDI], 0x1234_0002);
    assert_eq!(cpu.state.gpr[RCX], 0xABCD_0000);
}

#[test]
fn address_size_prefix_and_segment_override() {
    // 32-bit code: 67 F3 A4 is REP MOVSB with SI/DI/CX; 64 A4 is MOVSB with an FS source.
    let mut bus = bus_with(0x0010, b"xy");
    bus.load(0x5000, b"z");
    let (cpu, bus) = run32_on(bus, |a| {
        a.mov(esi, 0xFFFF_0010u32).unwrap();
        a.mov(edi, 0xFFFF_2000u32).unwrap();
        a.mov(ecx, 0xFFFF_0002u32).unwrap();
        a.db(&[0x67, 0xF3, 0xA4]).unwrap();
        a.hlt().unwrap();
    });
    assert_eq!(&bus.ram[0x2000..0x2002], b"xy");
    assert_eq!(
        (cpu.state.gpr[RCX], cpu.state.gpr[RSI], cpu.state.gpr[RDI]),
        (0xFFFF_0000, 0xFFFF_0012, 0xFFFF_2002)
    );

    let (cpu, bus, exit) = run_on(16, bus_with(0x5000, b"z"), |a| {
        a.mov(ax, 0x0500u32).unwrap();
        a.mov(fs, ax).unwrap();
        a.mov(si, 0u32).unwrap();
        a.mov(di, 0x6000u32).unwrap();
        a.db(&[0x64, 0xA4]).unwrap();
        a.hlt().unwrap();
    });
    assert_eq!(exit, Exit::Halted);
    assert_eq!(bus.ram[0x6000], b'z');
    assert_eq!((cpu.state.gpr[RSI], cpu.state.gpr[RDI]), (1, 0x6001));
}

#[test]
fn rep_with_a_zero_count_does_nothing() {
    let (cpu, bus) = run32_on(bus_with(0x3000, b"abc"), |a| {
        a.mov(esi, 0x3000u32).unwrap();
        a.mov(edi, 0x4000u32).unwrap();
        a.xor(ecx, ecx).unwrap(); // ZF = PF = 1
        a.rep().movsb().unwrap();
        a.repne().cmpsb().unwrap();
        a.rep().insb().unwrap();
        a.hlt().unwrap();
    });
    assert_eq!(bus.ram[0x4000], 0);
    assert!(bus.io_writes.is_empty());
    assert_eq!(
        (cpu.state.gpr[RCX], cpu.state.gpr[RSI], cpu.state.gpr[RDI]),
        (0, 0x3000, 0x4000)
    );
    assert_eq!(cpu.state.rflags & ARITH, ZF | PF);
}

#[test]
fn a_long_rep_is_resumed_until_done() {
    let (cpu, bus) = run32_on(FlatBus::new(1 << 20), |a| {
        a.mov(edi, 0x10000u32).unwrap();
        a.mov(ecx, 10_000u32).unwrap();
        a.mov(al, 0x5Au32).unwrap();
        a.rep().stosb().unwrap();
        a.hlt().unwrap();
    });
    assert!(bus.ram[0x10000..0x10000 + 10_000]
        .iter()
        .all(|&b| b == 0x5A));
    assert_eq!(bus.ram[0x10000 + 10_000], 0);
    assert_eq!(
        (cpu.state.gpr[RCX], cpu.state.gpr[RDI]),
        (0, 0x10000 + 10_000)
    );
}

#[test]
fn ins_and_outs_go_through_the_bus() {
    let mut bus = bus_with(0x3000, b"abc");
    bus.io_reads.extend([0x1111, 0x2222, 0x3333]);
    let (cpu, bus) = run32_on(bus, |a| {
        a.mov(dx, 0x1F0u32).unwrap();
        a.mov(edi, 0x4000u32).unwrap();
        a.mov(ecx, 3u32).unwrap();
        a.rep().insw().unwrap();
        a.mov(dx, 0x3F8u32).unwrap();
        a.mov(esi, 0x3000u32).unwrap();
        a.mov(ecx, 3u32).unwrap();
        a.rep().outsb().unwrap();
        a.outsb().unwrap(); // one more, no REP: the zero after "abc"
        a.hlt().unwrap();
    });
    assert_eq!(
        &bus.ram[0x4000..0x4006],
        &[0x11, 0x11, 0x22, 0x22, 0x33, 0x33]
    );
    assert_eq!(
        bus.io_writes,
        [
            (0x3F8, 1, 0x61),
            (0x3F8, 1, 0x62),
            (0x3F8, 1, 0x63),
            (0x3F8, 1, 0)
        ]
    );
    assert_eq!(
        (cpu.state.gpr[RCX], cpu.state.gpr[RSI], cpu.state.gpr[RDI]),
        (0, 0x3004, 0x4006)
    );
}

#[test]
fn a_stop_request_ends_the_batch_with_rip_at_the_instruction() {
    let mut bus = bus_with(0x3000, b"abc");
    bus.stop_port = Some(0xE9);
    let code = |a: &mut CodeAssembler| {
        a.mov(dx, 0xE9u32).unwrap(); // 4 bytes
        a.mov(esi, 0x3000u32).unwrap(); // 5
        a.mov(ecx, 3u32).unwrap(); // 5
        a.rep().outsb().unwrap(); // at 0x100E
        a.hlt().unwrap();
    };
    let (mut cpu, mut bus, exit) = run_on(32, bus, code);
    assert_eq!(exit, Exit::DeviceRequest);
    assert_eq!(bus.io_writes.len(), 1);
    assert_eq!(
        (cpu.state.rip, cpu.state.gpr[RCX], cpu.state.gpr[RSI]),
        (0x100E, 2, 0x3001)
    );
    // Resuming finishes the repeat (FlatBus keeps asking to stop, so one element per run).
    while vx86_cpu::testing::run(&mut cpu, &mut bus, 1_000) == Exit::DeviceRequest {}
    assert_eq!(
        bus.io_writes.iter().map(|w| w.2 as u8).collect::<Vec<_>>(),
        b"abc"
    );
    assert_eq!(cpu.state.gpr[RCX], 0);
}

#[test]
fn a_fault_mid_repeat_leaves_the_finished_iterations_committed() {
    // Real mode, IVT[13] -> 0000:1800. The second word store at ES:FFFF crosses the segment limit: #GP.
    let mut bus = bus_with(0x100, &[0x34, 0x12, 0x78, 0x56]);
    bus.load(0x34, &[0x00, 0x18, 0x00, 0x00]);
    bus.load(
        0x1800,
        &assemble(16, 0x1800, |a| {
            a.mov(bx, 0xDEADu32).unwrap();
            a.hlt().unwrap();
        }),
    );
    let (cpu, bus, exit) = run_on(16, bus, |a| {
        a.mov(ax, 0x2000u32).unwrap(); // 3 bytes
        a.mov(es, ax).unwrap(); // 2
        a.mov(si, 0x100u32).unwrap(); // 3
        a.mov(di, 0xFFFDu32).unwrap(); // 3
        a.mov(cx, 3u32).unwrap(); // 3
        a.rep().movsw().unwrap(); // at 0x100E
        a.hlt().unwrap();
    });
    assert_eq!(exit, Exit::Halted);
    assert_eq!(cpu.state.gpr[3] & 0xFFFF, 0xDEAD);
    assert_eq!(&bus.ram[0x2FFFD..0x30000], &[0x34, 0x12, 0]);
    assert_eq!(
        (cpu.state.gpr[RCX], cpu.state.gpr[RSI], cpu.state.gpr[RDI]),
        (2, 0x102, 0xFFFF)
    );
    assert_eq!(
        u16::from_le_bytes([bus.ram[0x7FFA], bus.ram[0x7FFB]]),
        0x100E
    );
}

/// Runs 64-bit code at 0x1000 (identity paging of the bus's RAM with 2 MiB pages) until it stops.
fn run64_on(mut bus: FlatBus, build: impl FnOnce(&mut CodeAssembler)) -> (Cpu, FlatBus, Exit) {
    bus.load(0x10_0000, &assemble(64, 0x10_0000, build));
    let mut cpu = vx86_cpu::testing::long_mode_cpu(&mut bus, 0x10_0000, 0x8000);
    let exit = vx86_cpu::testing::run(&mut cpu, &mut bus, 1_000_000);
    (cpu, bus, exit)
}

#[test]
fn rep_movsq_and_stosq_over_several_pages_in_64_bit_mode() {
    let mut bus = FlatBus::new(4 << 20);
    for k in 0..0x3000 {
        bus.ram[0x20_0000 + k] = (k * 7 + k / 256) as u8;
    }
    let (cpu, bus, exit) = run64_on(bus, |a| {
        a.mov(rsi, 0x20_0008u64).unwrap();
        a.mov(rdi, 0x30_0ff8u64).unwrap();
        a.mov(ecx, 0x500u32).unwrap();
        a.rep().movsq().unwrap();
        a.mov(rdi, 0x28_0004u64).unwrap();
        a.mov(rax, 0x1122_3344_5566_7788u64).unwrap();
        a.mov(ecx, 0x401u32).unwrap();
        a.rep().stosq().unwrap();
        a.hlt().unwrap();
    });
    assert_eq!(exit, Exit::Halted);
    assert_eq!(
        bus.ram[0x30_0ff8..0x30_0ff8 + 0x2800],
        bus.ram[0x20_0008..0x20_0008 + 0x2800]
    );
    assert!(bus.ram[0x28_0004..0x28_0004 + 0x2008]
        .chunks_exact(8)
        .all(|q| q == 0x1122_3344_5566_7788u64.to_le_bytes()));
    assert_eq!(bus.ram[0x28_0004 + 0x2008], 0);
    assert_eq!(
        (cpu.state.gpr[RCX], cpu.state.gpr[RDI], cpu.state.gpr[RSI]),
        (0, 0x28_0004 + 0x2008, 0x20_0008 + 0x2800)
    );
}

#[test]
fn rep_movsq_and_stosq_going_down_over_several_pages_in_64_bit_mode() {
    // With DF set, a kernel's relocation copy: the source and destination overlap, the destination above (the copy
    // must read each quadword before it is overwritten); then a fill going down across two page boundaries.
    let mut bus = FlatBus::new(4 << 20);
    let original: Vec<u8> = (0..0x3000).map(|k| (k * 7 + k / 256) as u8).collect();
    bus.ram[0x20_0000..0x20_3000].copy_from_slice(&original);
    let (cpu, bus, exit) = run64_on(bus, |a| {
        a.std().unwrap();
        a.mov(rsi, 0x20_2ff8u64).unwrap();
        a.mov(rdi, 0x20_3ff0u64).unwrap();
        a.mov(ecx, 0x600u32).unwrap();
        a.rep().movsq().unwrap();
        a.mov(rdi, 0x28_2ff8u64).unwrap();
        a.mov(rax, 0x1122_3344_5566_7788u64).unwrap();
        a.mov(ecx, 0x401u32).unwrap();
        a.rep().stosq().unwrap();
        a.cld().unwrap();
        a.hlt().unwrap();
    });
    assert_eq!(exit, Exit::Halted);
    // 0x3000 bytes ending at 0x20_3000 moved to end at 0x20_3ff8, as memmove would.
    assert_eq!(bus.ram[0x20_0ff8..0x20_3ff8], original[..0x3000]);
    let filled = 0x28_2ff8 + 8 - 0x401 * 8;
    assert!(bus.ram[filled..0x28_3000]
        .chunks_exact(8)
        .all(|q| q == 0x1122_3344_5566_7788u64.to_le_bytes()));
    assert_eq!(bus.ram[filled - 1], 0);
    assert_eq!(
        (cpu.state.gpr[RCX], cpu.state.gpr[RDI], cpu.state.gpr[RSI]),
        (0, filled as u64 - 8, 0x20_2ff8 - 0x3000)
    );
}

#[test]
fn rep_movsw_going_down_onto_its_own_source_minus_two_replicates_the_last_word() {
    let mut bus = FlatBus::new(4 << 20);
    bus.ram[0x20_0000..0x20_3000].fill(0x11);
    bus.ram[0x20_2ffe..0x20_3000].copy_from_slice(&[0xA5, 0x5A]);
    let (cpu, bus, exit) = run64_on(bus, |a| {
        a.std().unwrap();
        a.mov(rsi, 0x20_2ffeu64).unwrap();
        a.mov(rdi, 0x20_2ffcu64).unwrap();
        a.mov(ecx, 0x1000u32).unwrap();
        a.rep().movsw().unwrap();
        a.cld().unwrap();
        a.hlt().unwrap();
    });
    assert_eq!(exit, Exit::Halted);
    assert!(bus.ram[0x20_0ffe..0x20_3000]
        .chunks_exact(2)
        .all(|w| w == [0xA5, 0x5A]));
    assert_eq!(bus.ram[0x20_0ffd], 0x11);
    assert_eq!(cpu.state.gpr[RCX], 0);
}

#[test]
fn rep_movsb_onto_its_own_source_plus_one_replicates_the_first_byte() {
    let mut bus = FlatBus::new(4 << 20);
    bus.ram[0x20_0ffe] = 0xA5;
    bus.ram[0x20_0fff..0x20_3000].fill(0x11);
    let (cpu, bus, exit) = run64_on(bus, |a| {
        a.mov(rsi, 0x20_0ffeu64).unwrap();
        a.mov(rdi, 0x20_0fffu64).unwrap();
        a.mov(ecx, 0x2000u32).unwrap();
        a.rep().movsb().unwrap();
        a.hlt().unwrap();
    });
    assert_eq!(exit, Exit::Halted);
    assert!(bus.ram[0x20_0ffe..0x20_2fff].iter().all(|&b| b == 0xA5));
    assert_eq!(bus.ram[0x20_2fff], 0x11);
    assert_eq!(cpu.state.gpr[RCX], 0);
}

#[test]
fn a_rep_stosq_that_runs_into_an_unmapped_page_stops_with_its_registers_at_the_fault() {
    // RAM and its identity map end at 4 MiB: the 9th quadword faults (no IDT, so the CPU shuts down with the
    // registers as the fault left them).
    let (cpu, bus, exit) = run64_on(FlatBus::new(4 << 20), |a| {
        a.mov(rdi, 0x3F_FFC0u64).unwrap();
        a.mov(rax, -1i64).unwrap();
        a.mov(ecx, 100u32).unwrap();
        a.rep().stosq().unwrap();
        a.hlt().unwrap();
    });
    assert_eq!(exit, Exit::TripleFault);
    assert_eq!(cpu.state.cr2, 0x40_0000);
    assert_eq!((cpu.state.gpr[RCX], cpu.state.gpr[RDI]), (92, 0x40_0000));
    assert!(bus.ram[0x3F_FFC0..].iter().all(|&b| b == 0xFF));
}
