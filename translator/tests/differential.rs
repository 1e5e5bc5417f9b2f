//! The interpreter is the oracle: random but valid instruction sequences (all operand sizes, register and memory
//! operands, flags read across block edges, stores into the code's own page, faulting accesses) run from identical
//! random states under the interpreter and the translator, and registers, defined flags, memory and the
//! instruction count must match. `VX86_DIFF_ROUNDS` runs a longer hunt and `VX86_DIFF_SEED` replays one seed; a
//! failure prints the guest code and the host code the translator made for it.

use iced_x86::code_asm::*;
use iced_x86::{IcedError, Mnemonic, RflagsBits};
use vx86_cpu::testing::{assemble, defined_flags_after, long_mode_cpu, FlatBus};
use vx86_cpu::Cpu;
use vx86_translator::{TraceOptions, Translator};

mod common;
use common::Rng;

const CODE: u64 = 0x10_0000;
const DATA: u64 = 0x20_0000;
const DATA_SIZE: u64 = 0x2000;
const STACK: u64 = 0x30_0000;
const RAM: usize = 4 << 20;

/// Registers the generator may name freely (RBX and RBP hold the data base; RSP the stack).
const FREE: [usize; 12] = [0, 1, 2, 6, 7, 8, 9, 10, 11, 12, 13, 14];

/// Registers a self-loop's body may name freely: [`FREE`] but R9, which the loop's code points at the data before
/// the loop (one of the registers generated code keeps in place from block to block, so that a range looked up
/// before the loop through it must come from the host register).
const LOOP_FREE: [usize; 11] = [0, 1, 2, 6, 7, 8, 10, 11, 12, 13, 14];

use vx86_cpu::testing::{asm_r16 as r16, asm_r32 as r32, asm_r64 as r64, asm_r8 as byte_reg};

/// A memory operand in the data area (through RBX, RBP or R15, which all hold the data base), sometimes far
/// outside it (a page fault) or in the code page (self-modifying stores); a quarter of them near the page boundary
/// in the data area, so that accesses through one base share a page (a translator's page group) or straddle two.
fn mem(rng: &mut Rng) -> AsmMemoryOperand {
    let disp = (rng.below(DATA_SIZE - 8)) as i32;
    match rng.below(40) {
        0 if rng.below(4) == 0 => ptr(rbx + 0x4000_0000),
        1 => ptr(rbx - (DATA - CODE) as i32 + 0x800 + disp % 0x700),
        2..=8 => ptr(rbp + disp),
        9..=14 => ptr(r15 + disp / 2) + rsi * 2,
        15..=18 => ptr(rsp + (disp % 0x100)),
        19..=28 => ptr(rbx + (0xF00 + disp % 0x180)),
        _ => ptr(rbx + disp),
    }
}

/// The flags conditions test.
const CONDITION_FLAGS: u32 =
    RflagsBits::CF | RflagsBits::PF | RflagsBits::ZF | RflagsBits::SF | RflagsBits::OF;

/// Emits one random instruction. `clean` tracks whether every condition flag is architecturally defined; where it
/// is not, a CMP comes first, so no flag reader ever sees a flag Intel leaves undefined (where the interpreter's
/// documented choice may differ from the host's).
fn random_instruction(a: &mut CodeAssembler, rng: &mut Rng, clean: &mut bool) {
    let pick = |rng: &mut Rng| FREE[rng.below(FREE.len() as u64) as usize];
    let (d, s) = (pick(rng), pick(rng));
    if !*clean {
        a.cmp(r64(d), r64(s)).unwrap();
        *clean = true;
    }
    let imm = rng.next() as i32;
    let width = rng.below(4);
    let r = match rng.below(21) {
        20 => rep_string(a, rng),
        17 | 18 => sse_instruction(a, rng, d, s),
        19 => match width {
            // RDX cleared first, mostly, so quotients fit; otherwise (and for a zero divisor) #DE.
            0 | 1 => {
                if rng.below(8) != 0 {
                    let _ = a.xor(edx, edx);
                }
                match (width, rng.below(3)) {
                    (0, 0) => a.div(qword_ptr(mem(rng))),
                    (_, 0) => a.div(dword_ptr(mem(rng))),
                    (0, _) => a.div(r64(s)),
                    _ => a.div(r32(s)),
                }
            }
            2 => match rng.below(8) {
                0 => a.bsr(r16(d), r16(s)),
                1 => a.push(imm),
                2 => a.pushfq(),
                3 => a.mov(r32(d), ds),
                4 => a.mov(r16(d), ss),
                5 => a.rdtsc(),
                6 => a.rdtscp(),
                _ => a.cli(),
            },
            _ => {
                // An indirect call to the next instruction, through a register or a memory slot.
                let mut next = a.create_label();
                let _ = a.lea(r64(d), ptr(next));
                if rng.below(2) == 0 {
                    let _ = a.call(r64(d));
                } else {
                    let _ = a.mov(qword_ptr(rbx + 0x1F08), r64(d));
                    let _ = a.call(qword_ptr(rbx + 0x1F08));
                }
                let _ = a.set_label(&mut next);
                a.nop()
            }
        },
        0..=2 => match width {
            0 => a.add(r64(d), r64(s)),
            1 => a.sub(r32(d), r32(s)),
            2 => a.adc(r16(d), r16(s)),
            _ => a.xor(byte_reg(d), byte_reg(s)),
        },
        3 => match width {
            0 => a.cmp(r64(d), imm),
            1 => a.and(r32(d), imm),
            2 => a.sbb(r16(d), imm as i16 as i32),
            _ => a.or(byte_reg(d), imm as i8 as i32),
        },
        4 | 5 => match width {
            0 => a.mov(r64(d), mem(rng)),
            1 => a.add(r32(d), dword_ptr(mem(rng))),
            2 => a.mov(word_ptr(mem(rng)), r16(s)),
            _ => a.sub(byte_ptr(mem(rng)), byte_reg(s)),
        },
        6 => match width {
            0 => a.inc(qword_ptr(mem(rng))),
            1 => a.shl(r32(d), (imm & 31) as u32),
            2 => a.rol(r16(d), cl),
            _ => a.sar(r64(d), 1u32),
        },
        7 => match width {
            0 => a.imul_2(r64(d), r64(s)),
            // LEA in the shapes the translator treats apart: its destination as base, as index, renamed (R14),
            // beside a renamed base (RSP), at 32 bits.
            1 => match imm & 3 {
                0 => a.lea(r32(d), ptr(rbx + rsi * 4 + imm)),
                1 => a.lea(r64(d), ptr(r64(s) + r64(d) * 2 + imm)),
                2 => a.lea(r64(d), ptr(rsp + r64(s) + imm)),
                _ => a.lea(r64(d), ptr(r64(d) + imm)),
            },
            2 => a.movzx(r32(d), byte_ptr(mem(rng))),
            _ => a.movsxd(r64(d), dword_ptr(mem(rng))),
        },
        8 => match width {
            0 => a.setb(byte_reg(d)),
            1 => a.cmovne(r32(d), r32(s)),
            2 => a.adc(r64(d), 0),
            _ => a.cmovg(r64(d), qword_ptr(mem(rng))),
        },
        9 => match width {
            0 => a.push(r64(s)),
            1 => a.pop(r64(d)),
            2 => a.xchg(qword_ptr(mem(rng)), r64(s)),
            _ => a.neg(r32(d)),
        },
        10 => match width {
            0 => a.mul(r64(s)),
            1 => a.bt(r32(d), (imm & 31) as u32),
            2 => a.bswap(r32(d)),
            _ => a.cmpxchg(dword_ptr(mem(rng)), r32(s)),
        },
        11 => {
            // A forward conditional branch: flags cross a block edge.
            let mut skip = a.create_label();
            let _ = a.jne(skip);
            // The skipped instruction leaves the flags alone, so the flags defined at the end do not depend on
            // the path taken.
            let _ = a.lea(r64(d), ptr(r64(d) + 1));
            let _ = a.set_label(&mut skip);
            a.nop()
        }
        12 => match width {
            0 => a.mov(r64(d), rsp),
            1 => a.lea(rsp, ptr(rsp - 8)),
            2 => a.xadd(r64(d), r64(s)),
            _ => a.not(r16(d)),
        },
        13 => match width {
            0 => a.mov(r32(d), imm as u32),
            1 => a.mov(r64(d), rng.next()),
            2 => a.test(byte_reg(d), byte_reg(s)),
            _ => a.shrd(r32(d), r32(s), cl),
        },
        14 => match width {
            0 => a.cqo(),
            1 => a.cmovs(r64(d), r64(s)),
            2 => a.setp(byte_reg(d)),
            _ => a.cmovnp(r32(d), dword_ptr(mem(rng))),
        },
        15 => match width {
            0 => a.bsf(r32(d), r32(s)),
            1 => a.bsr(r64(d), qword_ptr(mem(rng))),
            2 => a.pause(),
            _ => a.mov(r16(d), r16(s)),
        },
        _ => {
            // An indirect jump to the next instruction, through a register or a memory slot.
            let mut next = a.create_label();
            let _ = a.lea(r64(d), ptr(next));
            if width == 0 {
                let _ = a.mov(qword_ptr(rbx + 0x1F00), r64(d));
                let _ = a.jmp(qword_ptr(rbx + 0x1F00));
            } else {
                let _ = a.jmp(r64(d));
            }
            let _ = a.set_label(&mut next);
            a.nop()
        }
    };
    r.expect("instruction assembles");
    if let Some(last) = a.instructions().last() {
        let variable_count = matches!(
            last.mnemonic(),
            Mnemonic::Shl
                | Mnemonic::Shr
                | Mnemonic::Sar
                | Mnemonic::Rol
                | Mnemonic::Ror
                | Mnemonic::Shrd
        ) && last.op_count() >= 2;
        if last.rflags_undefined() & CONDITION_FLAGS != 0 || variable_count {
            *clean = false;
        }
    }
}

/// Emits a REP STOS or REP MOVS with its operands set up: of 1 to 8-byte elements, mostly within the data area
/// (within a page or across the two), sometimes none, downwards (DF set), overlapping (MOVS), into the code's page
/// (after the code) or faulting. RSI is moved back near zero afterwards (MOVS leaves it in the data area, where
/// [`mem`]'s index would take accesses out of RAM).
fn rep_string(a: &mut CodeAssembler, rng: &mut Rng) -> Result<(), IcedError> {
    let size = 1u64 << rng.below(4);
    let count = match rng.below(5) {
        0 => 0,
        1 => rng.below(8),
        2 | 3 => rng.below(0x200),
        _ => rng.below(DATA_SIZE / size),
    };
    let bytes = count * size;
    let room = DATA_SIZE - bytes;
    let dst = rng.below(room + 1) as i32;
    let down = rng.below(6) == 0;
    // Going down, the index starts at the highest element.
    let start = |offset: i32| {
        if down {
            offset + bytes.saturating_sub(size) as i32
        } else {
            offset
        }
    };
    match rng.below(16) {
        0 if bytes <= 0x100 => a.mov(rdi, CODE + 0xC00)?,
        1 => a.lea(rdi, ptr(rbx + 0x4000_0000))?,
        _ => a.lea(rdi, ptr(rbx + start(dst)))?,
    }
    let moves = rng.below(2) == 0;
    if moves {
        let src = match rng.below(3) {
            0 => (dst + rng.below(16) as i32 - 8).clamp(0, room as i32),
            _ => rng.below(room + 1) as i32,
        };
        a.lea(rsi, ptr(rbx + start(src)))?;
    }
    a.mov(ecx, count as u32)?;
    if down {
        a.std()?;
    }
    match (moves, size) {
        (false, 1) => a.rep().stosb()?,
        (false, 2) => a.rep().stosw()?,
        (false, 4) => a.rep().stosd()?,
        (false, _) => a.rep().stosq()?,
        (true, 1) => a.rep().movsb()?,
        (true, 2) => a.rep().movsw()?,
        (true, 4) => a.rep().movsd()?,
        (true, _) => a.rep().movsq()?,
    }
    if down {
        a.cld()?;
    }
    a.lea(rsi, ptr(rsi - DATA as i32))
}

/// Emits one random SSE or SSE2 instruction (moves, logic, integer arithmetic, shuffles; aligned and unaligned
/// memory operands, so misaligned ones raise #GP).
fn sse_instruction(
    a: &mut CodeAssembler,
    rng: &mut Rng,
    d: usize,
    s: usize,
) -> Result<(), IcedError> {
    let (x, y) = (xmm_reg(rng.below(16)), xmm_reg(rng.below(16)));
    let imm = rng.below(256) as i32;
    match rng.below(20) {
        0 => a.movdqu(x, xmmword_ptr(mem(rng))),
        1 => a.movdqu(xmmword_ptr(mem(rng)), x),
        2 => a.movdqa(x, xmmword_ptr(aligned_mem(rng))),
        3 => a.movaps(xmmword_ptr(aligned_mem(rng)), x),
        4 => a.movaps(x, y),
        5 => a.pxor(x, y),
        6 => a.pcmpeqb(x, xmmword_ptr(aligned_mem(rng))),
        7 => a.pmovmskb(r32(d), x),
        8 => a.movd(r32(d), x),
        9 => a.movq(x, r64(s)),
        10 => a.punpcklbw(x, y),
        11 => a.pshufd(x, y, imm),
        12 => a.paddd(x, y),
        13 => a.psubq(x, xmmword_ptr(aligned_mem(rng))),
        14 => a.psllq(x, imm as u32 & 63),
        15 => a.pslldq(x, imm as u32 & 15),
        16 => a.por(x, y),
        17 => a.pcmpgtb(x, y),
        18 => a.movq(qword_ptr(mem(rng)), x),
        _ => a.movd(x, dword_ptr(mem(rng))),
    }
}

/// A 16-byte-aligned memory operand in the data area, now and then a misaligned one (#GP for aligned SSE forms).
fn aligned_mem(rng: &mut Rng) -> AsmMemoryOperand {
    let disp = (rng.below(DATA_SIZE - 16) & !15) as i32;
    match rng.below(30) {
        0 => mem(rng),
        1..=10 => ptr(rbp + disp),
        _ => ptr(rbx + disp),
    }
}

/// XMM register `n` for code_asm.
fn xmm_reg(n: u64) -> AsmRegisterXmm {
    const XMM: [AsmRegisterXmm; 16] = [
        xmm0, xmm1, xmm2, xmm3, xmm4, xmm5, xmm6, xmm7, xmm8, xmm9, xmm10, xmm11, xmm12, xmm13,
        xmm14, xmm15,
    ];
    XMM[n as usize % 16]
}

fn long_mode_machine(code: &[u8], rng: &mut Rng) -> (Cpu, FlatBus) {
    let mut bus = FlatBus::new(RAM);
    bus.load(CODE, code);
    for k in 0..DATA_SIZE {
        bus.ram[(DATA + k) as usize] = rng.next() as u8;
    }
    let mut cpu = long_mode_cpu(&mut bus, CODE, STACK);
    for n in 0..16 {
        cpu.state.gpr[n] = match rng.below(3) {
            0 => rng.next() & 0xFF,
            _ => rng.next(),
        };
    }
    cpu.state.gpr[3] = DATA;
    cpu.state.gpr[5] = DATA;
    cpu.state.gpr[15] = DATA;
    cpu.state.gpr[6] = rng.below(0x400);
    cpu.state.gpr[4] = STACK;
    cpu.state.tsc_aux = rng.next() & 0xFFFF_FFFF;
    cpu.state.rflags = 2 | (rng.next() & vx86_cpu::flags::ARITH);
    cpu.state.cr4 |= vx86_cpu::state::cr4::OSFXSR;
    for x in cpu.fpu.xmm.regs.iter_mut() {
        *x = u128::from(rng.next()) << 64 | u128::from(rng.next());
    }
    (cpu, bus)
}

/// Times each random sequence runs: a loop around it, its counter in memory just past the data area, so blocks
/// are reused, chained and re-translated (stores into the code page) many times.
const ITERATIONS: u32 = 200;

/// What a round ran: guest instructions, page groups translated, and their fallbacks to the step.
#[derive(Default)]
struct Ran {
    instructions: u64,
    page_groups: u64,
    group_fallbacks: u64,
}

/// Runs one round; `Err` describes a mismatch.
fn round(seed: u64, len: usize) -> Result<Ran, String> {
    let mut rng = Rng(seed | 1);
    let counter = (DATA_SIZE) as i32;
    let code = assemble(64, CODE, |a| {
        let mut top = a.create_label();
        a.mov(qword_ptr(rbx + counter), ITERATIONS as i32).unwrap();
        a.set_label(&mut top).unwrap();
        let mut clean = true;
        for _ in 0..len {
            random_instruction(a, &mut rng, &mut clean);
        }
        a.dec(qword_ptr(rbx + counter)).unwrap();
        a.jne(top).unwrap();
        a.hlt().unwrap();
    });
    let (mut reference, mut ref_bus) = long_mode_machine(&code, &mut Rng(seed ^ 0xABCD));
    let (mut cpu, mut bus) = long_mode_machine(&code, &mut Rng(seed ^ 0xABCD));
    let budget = (2 * len as u64 + 10) * u64::from(ITERATIONS);
    let ref_exit = reference.run(&mut ref_bus, budget);
    let mut translator = Translator::new(1 << 20).unwrap();
    let exit = translator.run(&mut cpu, &mut bus, budget);
    // Flags defined by the code that ran: up to where the reference stopped, and (when a fault ended the run
    // inside the loop) as left by the previous iteration.
    let ran = (reference.state.rip.saturating_sub(CODE) as usize).min(code.len());
    let flags = defined_flags_after(&code[..ran], 64) & defined_flags_after(&code, 64);
    let problems = common::differences((&reference, &ref_bus, ref_exit), (&cpu, &bus, exit), flags);
    if problems.is_empty() {
        return Ok(Ran {
            instructions: cpu.instructions,
            page_groups: translator.stats.page_groups,
            group_fallbacks: translator.callouts.group_fallbacks,
        });
    }
    Err(report(
        &code,
        seed ^ 0xABCD,
        budget,
        format!("seed {seed:#x}, {len} instructions"),
        &problems,
    ))
}

/// A mismatch's report: what differs and the guest code; the code is translated again from the same start
/// (`machine_seed`) with the listing on, which goes to stderr.
fn report(
    code: &[u8],
    machine_seed: u64,
    budget: u64,
    what: String,
    problems: &[String],
) -> String {
    let listing: String = iced_x86::Decoder::with_ip(64, code, CODE, 0)
        .into_iter()
        .map(|i| format!("  {:#x}  {i}\n", i.ip()))
        .collect();
    let (mut cpu, mut bus) = long_mode_machine(code, &mut Rng(machine_seed));
    let mut traced = Translator::new(1 << 20).unwrap();
    traced.trace = TraceOptions {
        in_asm: true,
        out_asm: true,
    };
    traced.run(&mut cpu, &mut bus, budget);
    format!(
        "{what}: {}\nguest code:\n{listing}(host code on stderr)",
        problems.join("\n")
    )
}

#[test]
fn random_sequences_match_the_interpreter() {
    let rounds: u64 = std::env::var("VX86_DIFF_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    if let Some(seed) = std::env::var("VX86_DIFF_SEED")
        .ok()
        .and_then(|v| u64::from_str_radix(v.trim_start_matches("0x"), 16).ok())
    {
        // The shortest failing prefix points at the instruction that differs.
        let len = std::env::var("VX86_DIFF_LEN")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(60);
        for prefix in 1..=len {
            round(seed, prefix).unwrap();
        }
        return;
    }
    let mut total = Ran::default();
    for k in 0..rounds {
        let seed = 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(k + 1);
        match round(seed, 1 + (k % 60) as usize) {
            Ok(ran) => {
                total.instructions += ran.instructions;
                total.page_groups += ran.page_groups;
                total.group_fallbacks += ran.group_fallbacks;
            }
            Err(e) => panic!("{e}"),
        }
    }
    let (n, groups, fallbacks) = (total.instructions, total.page_groups, total.group_fallbacks);
    eprintln!("{n} guest instructions compared; {groups} page groups, {fallbacks} fallbacks");
    if rounds >= 3000 {
        assert!(n >= 10_000_000, "only {n} instructions compared");
        // Shared lookups, and ranges the TLB could not serve (straddling a page, faulting), were both compared.
        assert!(
            groups >= 1000 && fallbacks >= 100,
            "{groups} groups, {fallbacks} fallbacks"
        );
    }
}

#[test]
fn random_bytes_as_code_behave_as_under_the_interpreter() {
    let mut rng = Rng(0xBAD_C0DE);
    for _ in 0..300 {
        let code: Vec<u8> = (0..256).map(|_| rng.next() as u8).collect();
        let (mut reference, mut ref_bus) = long_mode_machine(&code, &mut Rng(7));
        let (mut cpu, mut bus) = long_mode_machine(&code, &mut Rng(7));
        let ref_exit = reference.run(&mut ref_bus, 200);
        let exit = Translator::new(1 << 20)
            .unwrap()
            .run(&mut cpu, &mut bus, 200);
        assert_eq!(exit, ref_exit);
        assert_eq!(cpu.instructions, reference.instructions);
        assert_eq!(cpu.state.rip, reference.state.rip);
        assert_eq!(cpu.state.gpr, reference.state.gpr);
        assert!(bus.ram == ref_bus.ram, "memory differs");
    }
}

#[test]
fn self_loops_that_call_push_and_keep_the_carry_match_the_interpreter() {
    let mut self_loops = 0;
    for k in 0..400u64 {
        match stack_loop_round(0x9E37_79B9_7F4A_7C15u64.wrapping_mul(k + 1)) {
            Ok(n) => self_loops += n,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(self_loops >= 100, "only {self_loops} self-loops");
}

/// A loop with no instruction that writes every flag (its budget test must keep CF, which ADC and SETC in the
/// body read, set or clear before the loop), counted down by DEC: INC and DEC, PUSH and POP in pairs (now and then
/// a PUSH alone, so RSP moves from pass to pass), CALLs of a
/// function that moves nothing but RSP (so the translator follows the CALL and its RET), loads from the stack, and
/// LEAs; run for a random budget, so slices end in the middle of a pass too.
fn stack_loop_round(seed: u64) -> Result<u64, String> {
    let mut rng = Rng(seed | 1);
    let pick = |rng: &mut Rng| LOOP_FREE[rng.below(LOOP_FREE.len() as u64) as usize];
    let passes = 1 + rng.below(300) as u32;
    let code = assemble(64, CODE, |a| {
        let (mut top, mut function) = (a.create_label(), a.create_label());
        a.mov(r12d, passes).unwrap();
        if rng.below(2) == 0 {
            a.stc().unwrap();
        } else {
            a.clc().unwrap();
        }
        a.set_label(&mut top).unwrap();
        for _ in 0..1 + rng.below(8) {
            let (d, s) = (pick(&mut rng), pick(&mut rng));
            let imm = rng.next() as i32;
            let r = match rng.below(8) {
                0 => a.adc(r64(d), r64(s)),
                1 => a.inc(r32(d)),
                2 => a.push(r64(s)).and_then(|_| a.pop(r64(d))),
                // A pass that moves RSP: its pushes land lower in every pass.
                3 if imm & 0x300 == 0 => a.push(r64(s)),
                3 | 4 => a.call(function),
                5 => a.setc(byte_reg(d)),
                6 => a.mov(r64(d), qword_ptr(rsp + (imm & 0x38))),
                _ => a.lea(r64(d), ptr(r64(s) + imm)),
            };
            r.expect("instruction assembles");
        }
        a.dec(r12d).unwrap();
        a.jne(top).unwrap();
        a.hlt().unwrap();
        a.set_label(&mut function).unwrap();
        a.lea(r11, ptr(r11 + 3)).unwrap();
        a.ret().unwrap();
    });
    let budget = 1 + rng.below(4000);
    run_for_a_budget(&code, seed, budget).map(|stats| stats.self_loops)
}

/// Runs `code` for `budget` instructions under the interpreter and under bt, on machines set up from `seed`:
/// the translator's counts when both end alike, else a report of the differences.
fn run_for_a_budget(code: &[u8], seed: u64, budget: u64) -> Result<vx86_translator::Stats, String> {
    let (mut reference, mut ref_bus) = long_mode_machine(code, &mut Rng(seed ^ 0x5EED));
    let (mut cpu, mut bus) = long_mode_machine(code, &mut Rng(seed ^ 0x5EED));
    let ref_exit = reference.run(&mut ref_bus, budget);
    let mut translator = Translator::new(1 << 20).unwrap();
    let exit = translator.run(&mut cpu, &mut bus, budget);
    let flags = defined_flags_after(code, 64);
    let problems = common::differences((&reference, &ref_bus, ref_exit), (&cpu, &bus, exit), flags);
    if problems.is_empty() {
        return Ok(translator.stats);
    }
    Err(report(
        code,
        seed ^ 0x5EED,
        budget,
        format!("seed {seed:#x}, budget {budget}"),
        &problems,
    ))
}

/// A loop that is one block branching back to its own start (the translator runs it without leaving generated
/// code, unless a JMP or CALL in the body splits it): a first instruction that sets every flag, loads, or reads the
/// carry (so the flags at the start may be dead or live), random register and memory instructions, and a counted
/// branch back (or a load and a jump back);
/// run for a random budget, so slices end in the middle of the loop too.
fn self_loop_round(seed: u64) -> Result<u64, String> {
    let mut rng = Rng(seed | 1);
    let pick = |rng: &mut Rng| LOOP_FREE[rng.below(LOOP_FREE.len() as u64) as usize];
    let passes = 1 + rng.below(300) as u32;
    let len = 1 + rng.below(12);
    let code = assemble(64, CODE, |a| {
        let (mut top, mut function, mut storing) =
            (a.create_label(), a.create_label(), a.create_label());
        a.mov(r12d, passes).unwrap();
        a.mov(r9, rbx).unwrap();
        a.set_label(&mut top).unwrap();
        let (d, s) = (pick(&mut rng), pick(&mut rng));
        match rng.below(4) {
            0 => a.add(r64(d), r64(s)),
            1 => a.mov(r64(d), qword_ptr(rbx + (s as i32 * 8))),
            2 => a.mov(r64(d), qword_ptr(r9 + (s as i32 * 8))),
            _ => a.adc(r64(d), r64(s)),
        }
        .expect("instruction assembles");
        // Whether every condition flag is defined: IMUL and SHL leave some undefined, and a reader then gets a CMP
        // first, as in the other rounds.
        let mut clean = true;
        // A loop's detour placed after the function, and the label it goes back to.
        let mut out_of_line = None;
        for _ in 0..len {
            let (d, s) = (pick(&mut rng), pick(&mut rng));
            let imm = rng.next() as i32;
            let kind = rng.below(12);
            // Flag readers get defined flags; so do JMP and CALL, which end blocks (where the budget may stop and
            // the flags are compared).
            if matches!(kind, 1 | 6 | 8 | 10 | 11) && !clean {
                a.cmp(r64(d), r64(s)).unwrap();
                clean = true;
            }
            let r = match kind {
                0 => a.xor(r32(d), r32(s)),
                1 => a.adc(r64(d), imm),
                2 => a.imul_2(r64(d), r64(s)),
                // R15 holds the data base too, and RSP points into the stack: renamed registers as addresses.
                3 if imm & 1 != 0 => a.mov(r64(d), qword_ptr(r15 + (imm & 0xFF8))),
                3 if imm & 2 != 0 => a.mov(r64(d), qword_ptr(r9 + (imm & 0xFF8))),
                3 => a.mov(r64(d), qword_ptr(rbx + (imm & 0xFF8))),
                4 if imm & 1 != 0 => a.add(dword_ptr(rsp + (imm & 0xF8)), r32(s)),
                4 => a.add(dword_ptr(rbx + (imm & 0xFFC)), r32(s)),
                5 => a.lea(r64(d), ptr(r64(s) + imm)),
                6 => a.setc(byte_reg(d)),
                7 => a.shl(r64(d), (imm & 63) as u32),
                8 => a.cmovl(r32(d), r32(s)),
                9 => a.inc(r16(d)),
                // A JMP over an undefined instruction, and a CALL of a function after the loop: one whose RET
                // the translator knows returns to the CALL (it follows both), or one that stores to memory first
                // (so its RET reads its slot).
                10 => {
                    let mut over = a.create_label();
                    a.jmp(over).unwrap();
                    a.ud2().unwrap();
                    a.set_label(&mut over)
                }
                _ if imm & 2 != 0 => a.call(storing),
                _ => a.call(function),
            };
            r.expect("instruction assembles");
            clean &= !matches!(kind, 2 | 7);
            clean |= matches!(kind, 0 | 4 | 11);
        }
        if rng.below(3) == 0 {
            // A loop through two blocks: a test of a bit that changes from pass to pass picks between going on to
            // the loop's second block and a detour (an ADD, then a jump there), so the translator's inner branch
            // leaves the joined loop on some passes.
            let (mut second, mut detour) = (a.create_label(), a.create_label());
            let bit = rng.below(8) as u32;
            a.add(r8, r9).unwrap();
            // BT runs in the step (a callout: no self-loop, but the joined block still leaves by its inner
            // branch); TEST runs natively, and the pair becomes a self-loop.
            let by_bt = rng.below(2) == 0;
            if by_bt {
                a.bt(r8d, bit).unwrap();
            } else {
                a.test(r8d, 1 << bit).unwrap();
            }
            // The loop goes on to its second block as the branch taken (the bit set, or clear through the
            // detour), or as the way not taken (the detour is out of line, after the function).
            match rng.below(3) {
                0 => {
                    if by_bt {
                        a.jc(second).unwrap();
                    } else {
                        a.jne(second).unwrap();
                    }
                    a.set_label(&mut detour).unwrap();
                    a.add(r13, 1).unwrap();
                    a.jmp(second).unwrap();
                }
                1 => {
                    if by_bt {
                        a.jnc(detour).unwrap();
                    } else {
                        a.je(detour).unwrap();
                    }
                    a.jmp(second).unwrap();
                    a.set_label(&mut detour).unwrap();
                    a.add(r13, 1).unwrap();
                }
                _ => {
                    if by_bt {
                        a.jnc(detour).unwrap();
                    } else {
                        a.je(detour).unwrap();
                    }
                    out_of_line = Some((detour, second));
                }
            }
            a.set_label(&mut second).unwrap();
            a.lea(r10, ptr(r10 + 3)).unwrap();
        }
        a.sub(r12d, 1).unwrap();
        if rng.below(4) == 0 {
            // An endless loop (the budget ends it) whose flags leave the host's for a load before the jump back.
            a.mov(r64(pick(&mut rng)), qword_ptr(rbx + 8)).unwrap();
            a.jmp(top).unwrap();
        } else {
            a.jne(top).unwrap();
        }
        a.hlt().unwrap();
        // Every flag defined when the RET ends a block (the budget may stop right after it).
        a.set_label(&mut storing).unwrap();
        a.mov(qword_ptr(rbx + 0x40), r11).unwrap();
        a.set_label(&mut function).unwrap();
        a.add(r11, 3).unwrap();
        a.ret().unwrap();
        if let Some((mut detour, second)) = out_of_line {
            a.set_label(&mut detour).unwrap();
            a.add(r13, 1).unwrap();
            a.jmp(second).unwrap();
        }
    });
    let budget = 1 + rng.below(4000);
    run_for_a_budget(&code, seed, budget).map(|stats| stats.joined_loops)
}

#[test]
fn self_loops_match_the_interpreter_wherever_the_budget_ends() {
    let mut joined = 0;
    for k in 0..500u64 {
        match self_loop_round(0xD1B5_4A32_D192_ED03u64.wrapping_mul(k + 1)) {
            Ok(n) => joined += n,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(joined >= 50, "only {joined} loops joined from two blocks");
}
