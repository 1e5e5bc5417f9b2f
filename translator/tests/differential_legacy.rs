//! The differential tester for the older modes: random integer sequences in 32-bit protected mode (flat segments,
//! no paging) and in real mode (16-bit code, segment arithmetic: its memory operands are callouts, its register
//! operations native), in a loop, under the interpreter and the translator; registers, defined flags, memory and
//! the instruction count must match.

use iced_x86::code_asm::*;
use vx86_cpu::testing::{assemble, defined_flags_after, flat32_cpu, real_cpu, FlatBus};
use vx86_cpu::Cpu;
use vx86_translator::Translator;

mod common;
use common::Rng;

const CODE: u64 = 0x1000;
/// The data area: below 64 KiB, so real-mode offsets reach it with segment 0.
const DATA: u64 = 0x4000;
const DATA_SIZE: u64 = 0x1000;
const STACK: u64 = 0x9000;
const ITERATIONS: u32 = 50;

/// Registers the generator writes (EBX/BX is the data base, ESI/SI a small index, ESP/SP the stack).
const FREE: [usize; 4] = [0, 1, 2, 7];

fn r32(n: usize) -> AsmRegister32 {
    [eax, ecx, edx, ebx, esp, ebp, esi, edi][n]
}
fn r16(n: usize) -> AsmRegister16 {
    [ax, cx, dx, bx, sp, bp, si, di][n]
}
fn r8(n: usize) -> AsmRegister8 {
    [al, cl, dl, bl, ah, ch, dh, bh][n]
}

/// A memory operand in the data area, in the mode's addressing.
fn mem(rng: &mut Rng, bits: u32) -> AsmMemoryOperand {
    let disp = rng.below(DATA_SIZE - 16) as i32;
    match (bits, rng.below(3)) {
        (16, 0) => ptr(bx + si + disp),
        (16, _) => ptr(bx + disp),
        (_, 0) => ptr(ebx + esi * 2 + disp),
        _ => ptr(ebx + disp),
    }
}

/// One random instruction; `clean` as in the 64-bit tester (a CMP first where a condition flag is undefined).
fn random_instruction(a: &mut CodeAssembler, rng: &mut Rng, bits: u32, clean: &mut bool) {
    let pick = |rng: &mut Rng| FREE[rng.below(FREE.len() as u64) as usize];
    let (d, s) = (pick(rng), pick(rng));
    if !*clean {
        a.cmp(r32(d), r32(s)).unwrap();
        *clean = true;
    }
    let imm = rng.next() as i32;
    let width = rng.below(3);
    let r = match rng.below(12) {
        0..=2 => match width {
            0 => a.add(r32(d), r32(s)),
            1 => a.sbb(r16(d), r16(s)),
            _ => a.xor(r8(d), r8(s + 4 * usize::from(s < 4 && rng.below(2) == 0))),
        },
        3 => match width {
            0 => a.and(r32(d), imm),
            1 => a.cmp(r16(d), imm as i16 as i32),
            _ => a.adc(r8(d), imm as i8 as i32),
        },
        4 | 5 => match width {
            0 => a.mov(r32(d), dword_ptr(mem(rng, bits))),
            1 => a.add(word_ptr(mem(rng, bits)), r16(s)),
            _ => a.sub(byte_ptr(mem(rng, bits)), r8(s)),
        },
        6 => match width {
            0 => a.shl(r32(d), (imm & 31) as u32),
            1 => a.sar(r16(d), 1u32),
            _ => a.inc(dword_ptr(mem(rng, bits))),
        },
        7 => match width {
            0 => a.imul_2(r32(d), r32(s)),
            1 => a.movzx(r32(d), byte_ptr(mem(rng, bits))),
            _ => a.movsx(r16(d), r8(s)),
        },
        8 => match width {
            0 => a.setb(r8(d)),
            1 => a.cmovne(r32(d), r32(s)),
            _ => a.neg(r16(d)),
        },
        9 => match width {
            0 => a.push(r32(s)),
            1 => a.pop(r32(d)),
            _ => a.xchg(r16(d), r16(s)),
        },
        10 => {
            let mut skip = a.create_label();
            let _ = a.jne(skip);
            let _ = a.mov(r32(d), r32(s));
            let _ = a.set_label(&mut skip);
            a.nop()
        }
        _ => match width {
            0 => a.mov(r32(d), imm as u32),
            1 => a.bswap(r32(d)),
            _ => a.dec(r8(d)),
        },
    };
    r.expect("instruction assembles");
    if let Some(last) = a.instructions().last() {
        let condition_flags = iced_x86::RflagsBits::CF
            | iced_x86::RflagsBits::PF
            | iced_x86::RflagsBits::ZF
            | iced_x86::RflagsBits::SF
            | iced_x86::RflagsBits::OF;
        if last.rflags_undefined() & condition_flags != 0 {
            *clean = false;
        }
    }
}

fn machine(bits: u32, code: &[u8], seed: u64) -> (Cpu, FlatBus) {
    let mut rng = Rng(seed | 1);
    let mut bus = FlatBus::new(1 << 20);
    bus.load(CODE, code);
    for k in 0..DATA_SIZE + 8 {
        bus.ram[(DATA + k) as usize] = rng.next() as u8;
    }
    let mut cpu = if bits == 32 {
        flat32_cpu(CODE, STACK)
    } else {
        real_cpu(CODE, STACK)
    };
    for n in FREE {
        cpu.state.gpr[n] = rng.next() & 0xFFFF_FFFF;
    }
    cpu.state.gpr[3] = DATA;
    cpu.state.gpr[6] = rng.below(0x100);
    cpu.state.rflags = 2 | (rng.next() & vx86_cpu::flags::ARITH);
    (cpu, bus)
}

/// Runs one round in `bits`-bit code; returns the instructions compared, or what differed.
fn round(bits: u32, seed: u64, len: usize) -> Result<u64, String> {
    let mut rng = Rng(seed | 1);
    let counter = (DATA_SIZE + 4) as i32;
    let code = assemble(bits, CODE, |a| {
        let mut top = a.create_label();
        let count = if bits == 16 {
            ptr(bx + counter)
        } else {
            ptr(ebx + counter)
        };
        a.mov(word_ptr(count), ITERATIONS as i32).unwrap();
        a.set_label(&mut top).unwrap();
        let mut clean = true;
        for _ in 0..len {
            random_instruction(a, &mut rng, bits, &mut clean);
        }
        a.dec(word_ptr(count)).unwrap();
        a.jne(top).unwrap();
        a.hlt().unwrap();
    });
    let budget = (2 * len as u64 + 10) * u64::from(ITERATIONS);
    let (mut reference, mut ref_bus) = machine(bits, &code, seed);
    let ref_exit = reference.run(&mut ref_bus, budget);
    let (mut cpu, mut bus) = machine(bits, &code, seed);
    let exit = Translator::new(1 << 20)
        .unwrap()
        .run(&mut cpu, &mut bus, budget);
    let problems = common::differences(
        (&reference, &ref_bus, ref_exit),
        (&cpu, &bus, exit),
        defined_flags_after(&code, bits),
    );
    if problems.is_empty() {
        return Ok(cpu.instructions);
    }
    let listing: String = iced_x86::Decoder::with_ip(bits, &code, CODE, 0)
        .into_iter()
        .map(|i| format!("  {:#x}  {i}\n", i.ip()))
        .collect();
    Err(format!(
        "{bits}-bit seed {seed:#x}, {len} instructions: {}\nguest code:\n{listing}",
        problems.join("\n")
    ))
}

fn rounds(bits: u32) {
    let mut total = 0;
    for k in 0..400u64 {
        let seed = 0xD1B5_4A32_D192_ED03u64.wrapping_mul(k + 1);
        total += round(bits, seed, 1 + (k % 40) as usize).unwrap_or_else(|e| panic!("{e}"));
    }
    eprintln!("{bits}-bit: {total} guest instructions compared");
    assert!(total > 100_000, "only {total} instructions ran");
}

#[test]
fn random_32_bit_protected_mode_sequences_match_the_interpreter() {
    rounds(32);
}

#[test]
fn random_real_mode_sequences_match_the_interpreter() {
    rounds(16);
}

/// 32-bit addresses with negative displacements (iced reports them as their 32 bits, 0xFFFF_FFFC for -4): LEA,
/// loads and stores through them, as SeaBIOS's `lea eax, [esi-1]` does.
#[test]
fn negative_displacements_in_32_bit_addresses_match_the_interpreter() {
    let data = DATA as i32;
    let code = assemble(32, CODE, |a| {
        a.lea(esi, ptr(ebx + 0x40)).unwrap();
        a.movzx(esi, si).unwrap();
        a.lea(eax, ptr(esi - 1)).unwrap();
        a.cmp(ax, 0xFFFD).unwrap();
        a.mov(ecx, dword_ptr(esi - 4)).unwrap();
        a.mov(dword_ptr(esi - 8), eax).unwrap();
        a.add(dword_ptr(ebx + esi * 1 - data - 12), 7).unwrap();
        a.lea(edx, ptr(ebx + esi * 2 - 0x7FFF_FFFF)).unwrap();
        a.hlt().unwrap();
    });
    let (mut reference, mut ref_bus) = machine(32, &code, 7);
    let ref_exit = reference.run(&mut ref_bus, 100);
    let (mut cpu, mut bus) = machine(32, &code, 7);
    let exit = Translator::new(1 << 20)
        .unwrap()
        .run(&mut cpu, &mut bus, 100);
    let problems = common::differences(
        (&reference, &ref_bus, ref_exit),
        (&cpu, &bus, exit),
        defined_flags_after(&code, 32),
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(reference.state.gpr[0], (DATA + 0x40 - 1) & 0xFFFF);
}
