//! BT/BTS/BTR/BTC, BSF/BSR, SETcc and CMOVcc.

use iced_x86::code_asm::*;
use vx86_cpu::flags::{AF, ARITH, CF, OF, PF, SF, ZF};
use vx86_cpu::testing::{assemble, real_cpu, run32, FlatBus};
use vx86_cpu::{Cpu, Exit};

/// Runs 32-bit code after loading the arithmetic flags with `flags_in`.
fn run_with_flags(flags_in: u64, build: impl FnOnce(&mut CodeAssembler)) -> (Cpu, FlatBus) {
    run32(|a| {
        a.push(flags_in as u32 | 2).unwrap();
        a.popfd().unwrap();
        build(a);
        a.hlt().unwrap();
    })
}

#[test]
fn bt_register_and_immediate_offsets_wrap_to_the_width() {
    let keep = ZF | SF | OF;
    let (cpu, _) = run_with_flags(keep, |a| {
        a.mov(eax, 0x20u32).unwrap();
        a.bt(eax, 37u32).unwrap(); // 37 mod 32 = 5
    });
    assert_eq!(cpu.state.rflags & ARITH, keep | CF);

    let (cpu, _) = run_with_flags(CF, |a| {
        a.mov(eax, 0u32).unwrap();
        a.mov(ecx, 33u32).unwrap();
        a.bts(eax, ecx).unwrap(); // bit 1
        a.mov(bx, 0xFFFFu32).unwrap();
        a.mov(dx, 0x1Fu32).unwrap();
        a.btr(bx, dx).unwrap(); // bit 15
    });
    assert_eq!(cpu.state.gpr[0], 2);
    assert_eq!(cpu.state.gpr[3] & 0xFFFF, 0x7FFF);
    assert_eq!(cpu.state.rflags & ARITH, CF);
}

#[test]
fn bt_memory_with_immediate_stays_in_the_operand() {
    let (cpu, bus) = run_with_flags(0, |a| {
        a.mov(dword_ptr(0x3000), 0xFFFF_FFFFu32).unwrap();
        a.btr(dword_ptr(0x3000), 63u32).unwrap(); // 63 mod 32 = 31
        a.btc(word_ptr(0x3004), 17u32).unwrap(); // 17 mod 16 = 1
    });
    assert_eq!(bus.read_u32(0x3000), 0x7FFF_FFFF);
    assert_eq!(bus.read_u32(0x3004), 0x0000_0002);
    assert_eq!(cpu.state.rflags & CF, 0, "BTC saw a clear bit last");
}

#[test]
fn bt_memory_with_register_offset_is_a_signed_bit_string() {
    let (cpu, bus) = run_with_flags(0, |a| {
        a.mov(dword_ptr(0x300C), 0x8000_0000u32).unwrap();
        a.mov(dword_ptr(0x3008), 0x8000_0000u32).unwrap();
        a.mov(ebx, 0x3010u32).unwrap();
        a.mov(ecx, -1i32).unwrap(); // dword at 0x300C, bit 31
        a.btc(dword_ptr(ebx), ecx).unwrap();
        a.setc(byte_ptr(0x3100)).unwrap();
        a.mov(ecx, -33i32).unwrap(); // dword at 0x3008, bit 31
        a.btr(dword_ptr(ebx), ecx).unwrap();
        a.setc(byte_ptr(0x3101)).unwrap();
        a.mov(ecx, 100u32).unwrap(); // dword at 0x3010 + 12, bit 4
        a.bts(dword_ptr(ebx), ecx).unwrap();
        a.setc(byte_ptr(0x3102)).unwrap();
        a.mov(cx, 0xFFFFu32).unwrap(); // 16-bit: word at 0x300E, bit 15
        a.bts(word_ptr(ebx), cx).unwrap();
        a.mov(cx, 0x11u32).unwrap(); // 16-bit: word at 0x3012, bit 1
        a.bts(word_ptr(ebx), cx).unwrap();
        a.bt(word_ptr(ebx), cx).unwrap();
    });
    assert_eq!(
        bus.read_u32(0x300C),
        0x8000_0000,
        "BTC cleared bit 31, BTS of word 0x300E set bit 31 again"
    );
    assert_eq!(bus.read_u32(0x3008), 0);
    assert_eq!(bus.read_u32(0x301C), 0x10);
    assert_eq!(bus.read_u32(0x3010), 0x0002_0000);
    assert_eq!(&bus.ram[0x3100..0x3103], &[1, 1, 0]);
    assert_eq!(cpu.state.rflags & CF, CF);
}

#[test]
fn bsf_bsr() {
    let (cpu, _) = run_with_flags(ZF, |a| {
        a.mov(ebx, 0x0001_8000u32).unwrap();
        a.bsf(eax, ebx).unwrap();
        a.bsr(ecx, ebx).unwrap();
        a.mov(dx, 0x8000u32).unwrap();
        a.bsf(si, dx).unwrap();
        a.mov(dword_ptr(0x3000), 1u32).unwrap();
        a.bsr(edi, dword_ptr(0x3000)).unwrap();
    });
    assert_eq!(cpu.state.gpr[0], 15);
    assert_eq!(cpu.state.gpr[1], 16);
    assert_eq!(cpu.state.gpr[6] & 0xFFFF, 15);
    assert_eq!(cpu.state.gpr[7], 0);
    assert_eq!(cpu.state.rflags & ZF, 0);

    // A zero source sets ZF and leaves the destination alone; the other flags are kept.
    let (cpu, _) = run_with_flags(CF | PF, |a| {
        a.mov(eax, 0x1234_5678u32).unwrap();
        a.mov(ecx, 0xCAFEu32).unwrap();
        a.xor(ebx, ebx).unwrap();
        a.push(CF as u32 | PF as u32 | 2).unwrap();
        a.popfd().unwrap();
        a.bsf(eax, ebx).unwrap();
        a.bsr(ecx, ebx).unwrap();
    });
    assert_eq!(cpu.state.gpr[0], 0x1234_5678);
    assert_eq!(cpu.state.gpr[1], 0xCAFE);
    assert_eq!(cpu.state.rflags & ARITH, CF | PF | ZF);
}

/// The 16 conditions in opcode order, evaluated independently of the CPU.
fn expected_conditions(f: u64) -> [u8; 16] {
    let (cf, zf, sf, of, pf) = (
        f & CF != 0,
        f & ZF != 0,
        f & SF != 0,
        f & OF != 0,
        f & PF != 0,
    );
    let lt = sf != of;
    let pairs = [of, cf, zf, cf || zf, sf, pf, lt, zf || lt];
    let mut out = [0; 16];
    for (n, taken) in pairs.iter().enumerate() {
        out[2 * n] = u8::from(*taken);
        out[2 * n + 1] = u8::from(!*taken);
    }
    out
}

fn all_setcc(flags: u64) -> [u8; 16] {
    let (_, bus) = run_with_flags(flags, |a| {
        a.seto(byte_ptr(0x3000)).unwrap();
        a.setno(byte_ptr(0x3001)).unwrap();
        a.setb(byte_ptr(0x3002)).unwrap();
        a.setae(byte_ptr(0x3003)).unwrap();
        a.sete(byte_ptr(0x3004)).unwrap();
        a.setne(byte_ptr(0x3005)).unwrap();
        a.setbe(byte_ptr(0x3006)).unwrap();
        a.seta(byte_ptr(0x3007)).unwrap();
        a.sets(byte_ptr(0x3008)).unwrap();
        a.setns(byte_ptr(0x3009)).unwrap();
        a.setp(byte_ptr(0x300A)).unwrap();
        a.setnp(byte_ptr(0x300B)).unwrap();
        a.setl(byte_ptr(0x300C)).unwrap();
        a.setge(byte_ptr(0x300D)).unwrap();
        a.setle(byte_ptr(0x300E)).unwrap();
        a.setg(al).unwrap();
        a.mov(byte_ptr(0x300F), al).unwrap();
    });
    bus.ram[0x3000..0x3010].try_into().expect("16 bytes")
}

#[test]
fn setcc_all_sixteen() {
    assert_eq!(
        all_setcc(0),
        [0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1]
    );
    assert_eq!(
        all_setcc(CF | ZF),
        [0, 1, 1, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1, 1, 0]
    );
    assert_eq!(
        all_setcc(SF | PF),
        [0, 1, 0, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1, 0]
    );
    assert_eq!(
        all_setcc(SF | OF),
        [1, 0, 0, 1, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 1]
    );
    for k in 0..32u64 {
        let flags = [CF, ZF, SF, OF, PF]
            .iter()
            .enumerate()
            .filter(|(n, _)| (k >> n) & 1 != 0)
            .fold(AF, |f, (_, b)| f | b);
        assert_eq!(
            all_setcc(flags),
            expected_conditions(flags),
            "flags {flags:#x}"
        );
    }
}

#[test]
fn cmov_taken_and_not_taken() {
    let (cpu, _) = run_with_flags(0, |a| {
        a.mov(eax, 1u32).unwrap();
        a.mov(ebx, 2u32).unwrap();
        a.mov(ecx, 3u32).unwrap();
        a.mov(edx, 0x1111_1111u32).unwrap();
        a.mov(dword_ptr(0x3000), 0xAAAA_BBBBu32).unwrap();
        a.cmp(eax, ebx).unwrap(); // 1 - 2: CF = 1, ZF = 0
        a.cmovb(eax, ebx).unwrap(); // taken
        a.cmove(ecx, ebx).unwrap(); // not taken
        a.cmovae(edx, dword_ptr(0x3000)).unwrap(); // not taken
        a.cmovne(dx, word_ptr(0x3000)).unwrap(); // taken, 16-bit
    });
    assert_eq!(cpu.state.gpr[0], 2);
    assert_eq!(cpu.state.gpr[1], 3);
    assert_eq!(cpu.state.gpr[2], 0x1111_BBBB);
    assert_eq!(cpu.state.rflags & ARITH, CF | SF | PF | AF);
}

/// Runs real-mode code with an interrupt handler at 0000:1800 (it sets BX = 0xDEAD and halts) for `vector`.
fn run16_with_handler(vector: u8, build: impl FnOnce(&mut CodeAssembler)) -> (Cpu, FlatBus) {
    let mut bus = FlatBus::new(1 << 20);
    bus.load(0x1000, &assemble(16, 0x1000, build));
    let handler = assemble(16, 0x1800, |a| {
        a.mov(bx, 0xDEADu32).unwrap();
        a.hlt().unwrap();
    });
    bus.load(0x1800, &handler);
    bus.load(u64::from(vector) * 4, &[0x00, 0x18, 0x00, 0x00]);
    let mut cpu = real_cpu(0x1000, 0x8000);
    assert_eq!(
        vx86_cpu::testing::run(&mut cpu, &mut bus, 1_000_000),
        Exit::Halted
    );
    (cpu, bus)
}

#[test]
fn cmov_reads_its_memory_source_even_when_false() {
    // The dword at DS:FFFE crosses the 64 KiB limit: #GP (vector 13) although the condition is false.
    let (cpu, bus) = run16_with_handler(13, |a| {
        a.cmp(ax, ax).unwrap(); // 2 bytes; ZF = 1
        a.cmovne(eax, dword_ptr(0xFFFE)).unwrap();
        a.mov(cx, 1u32).unwrap();
        a.hlt().unwrap();
    });
    assert_eq!(cpu.state.gpr[3] & 0xFFFF, 0xDEAD);
    assert_eq!(cpu.state.gpr[1], 0);
    assert_eq!(
        u16::from_le_bytes([bus.ram[0x7FFA], bus.ram[0x7FFB]]),
        0x1002,
        "IP of the CMOV"
    );
}
