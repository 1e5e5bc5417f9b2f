//! The host CPU as the oracle: random sequences of integer instructions run natively and in the interpreter (in
//! 64-bit mode) from the same registers, flags and scratch page, and must leave the same general-purpose registers
//! (RSP and R15 included), the same scratch page, and the same arithmetic flags wherever the sequence leaves them
//! architecturally defined ([`defined_flags_after`]).
//!
//! The scratch page sits at the same linear address in both: the guest's page tables map the host's address of the
//! page onto guest RAM. R15 points at it and is never written; RSP points into its upper part, where sequences
//! push and pop. Instructions that read flags (ADC, SBB, RCL, RCR, SETcc, CMOVcc) are emitted only right after an
//! instruction that defines the flags they read, so undefined flags never reach the registers.

#![cfg(all(target_arch = "x86_64", target_os = "linux"))]

use iced_x86::code_asm::*;
use vx86_cpu::state::CpuState;
use vx86_cpu::testing::{assemble, compare_states, defined_flags_after, long_mode_at, FlatBus};
use vx86_cpu::{Cpu, Exit};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Registers sequences may use (no RSP; R15 is the scratch-memory base), by GPR number.
const REGS: [usize; 14] = [0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14];
/// Bytes at the start of the scratch page that sequences address through R15.
const SCRATCH: usize = 512;
/// Size of the scratch page.
const PAGE: usize = 4096;
/// Offset in the scratch page where RSP starts: room below for pushes, above for pops of what was never pushed.
const STACK_TOP: u64 = 0xC00;
/// Guest-physical address of the scratch page.
const SCRATCH_GUEST: u64 = 0x3000;
/// Guest-physical address (identity-mapped) of the code.
const CODE_GUEST: u64 = 0x1000;
/// Guest-physical address of the PML4; the page tables it needs follow it.
const PML4_GUEST: u64 = 0x70000;

use vx86_cpu::testing::{asm_r16 as r16, asm_r32 as r32, asm_r64 as r64, asm_r8 as byte_reg};

/// Emits one random instruction; returns whether it leaves CF defined (so a carry reader may follow).
fn random_instruction(a: &mut CodeAssembler, rng: &mut Rng) -> bool {
    let pick = |rng: &mut Rng| REGS[rng.below(REGS.len() as u64) as usize];
    let (d, s) = (pick(rng), pick(rng));
    let imm = rng.next() as i32;
    let width = rng.below(4);
    let count = |rng: &mut Rng, bits: u64| 1 + rng.below(bits - 1) as u32;
    let result = match rng.below(26) {
        k @ 0..=4 => match (k, width) {
            (0, 0) => a.add(r64(d), r64(s)),
            (0, 1) => a.add(r32(d), imm),
            (0, 2) => a.add(r16(d), r16(s)),
            (0, _) => a.add(byte_reg(d), byte_reg(s)),
            (1, 0) => a.sub(r64(d), imm),
            (1, 1) => a.sub(r32(d), r32(s)),
            (1, 2) => a.sub(r16(d), imm & 0x7FFF),
            (1, _) => a.sub(byte_reg(d), byte_reg(s)),
            (2, 0) => a.and(r64(d), r64(s)),
            (2, _) => a.and(r32(d), imm),
            (3, 0) => a.or(r64(d), imm),
            (3, _) => a.or(r16(d), r16(s)),
            (_, 0) => a.xor(r64(d), r64(s)),
            (_, _) => a.xor(r32(d), r32(s)),
        }
        .map(|_| true),
        5 => a.cmp(r64(d), r64(s)).map(|_| {
            condition_reader(a, rng);
            true
        }),
        6 => match width {
            0 => a.neg(r64(d)),
            1 => a.not(r32(d)),
            2 => a.inc(r16(d)),
            _ => a.dec(byte_reg(d)),
        }
        .map(|_| false),
        7 => match width {
            0 => a.shl(r64(d), count(rng, 64)),
            1 => a.shr(r32(d), count(rng, 32)),
            2 => a.sar(r16(d), count(rng, 16)),
            _ => a.shl(byte_reg(d), count(rng, 8)),
        }
        .map(|_| true),
        8 => match width {
            0 => a.rol(r64(d), count(rng, 64)),
            1 => a.ror(r32(d), count(rng, 32)),
            2 => a.rol(r16(d), count(rng, 16)),
            _ => a.ror(byte_reg(d), count(rng, 8)),
        }
        .map(|_| true),
        9 => match width {
            0 | 1 => a.shld(r64(d), r64(s), count(rng, 64)),
            _ => a.shrd(r32(d), r32(s), count(rng, 32)),
        }
        .map(|_| true),
        10 => match width {
            0 => a.imul_2(r64(d), r64(s)),
            1 => a.imul_3(r32(d), r32(s), imm),
            _ => a.imul_2(r16(d), r16(s)),
        }
        .map(|_| true),
        11 => match width {
            0 => a.bswap(r64(d)),
            _ => a.bswap(r32(d)),
        }
        .map(|_| false),
        12 => match width {
            0 => a.bt(r64(d), r64(s)),
            1 => a.bts(r32(d), count(rng, 32)),
            2 => a.btr(r64(d), r64(s)),
            _ => a.btc(r32(d), r32(s)),
        }
        .map(|_| true),
        13 => match width {
            0 => a.movzx(r64(d), r16(s)),
            1 => a.movsx(r32(d), byte_reg(s)),
            2 => a.movsxd(r64(d), r32(s)),
            _ => a.movzx(r16(d), byte_reg(s)),
        }
        .map(|_| false),
        14 => a
            .lea(r64(d), ptr(r64(s) + r64(pick(rng)) * 4 + imm))
            .map(|_| false),
        15 => match width {
            0 => a.cqo(),
            1 => a.cdqe(),
            2 => a.cdq(),
            _ => a.cwde(),
        }
        .map(|_| false),
        16 => a.xadd(r64(d), r64(s)).map(|_| true),
        17 => a.xchg(r32(d), r32(s)).map(|_| false),
        18 => a.cmpxchg(r64(d), r64(s)).map(|_| true),
        19 => match width {
            0 => a.mov(r32(d), r32(s)),
            1 => a.mov(r16(d), r16(s)),
            2 => a.mov(byte_reg(d), byte_reg(s)),
            _ => a.mov(r64(d), rng.next()),
        }
        .map(|_| false),
        20 => a.mul(r64(s)).map(|_| true),
        21 => a.imul(r32(s)).map(|_| true),
        22 => {
            let m = (rng.below(SCRATCH as u64 / 8 - 1) * 8) as i32;
            match rng.below(8) {
                0 => a.add(r64(d), qword_ptr(r15 + m)).map(|_| true),
                1 => a.xor(dword_ptr(r15 + m), r32(s)).map(|_| true),
                2 => a.mov(r32(d), dword_ptr(r15 + m + 2)).map(|_| false),
                3 => a.mov(qword_ptr(r15 + m), r64(s)).map(|_| false),
                4 => a.ror(dword_ptr(r15 + m), count(rng, 32)).map(|_| true),
                5 => a.sub(word_ptr(r15 + m + 1), r16(s)).map(|_| true),
                6 => a.movzx(r32(d), byte_ptr(r15 + m + 3)).map(|_| false),
                _ => a.and(qword_ptr(r15 + m), imm).map(|_| true),
            }
        }
        23 => {
            // A string instruction within the scratch buffer, forwards or backwards, sometimes repeated.
            let back = rng.below(2) == 0;
            let (lo, hi) = (64u64, SCRATCH as u64 - 64);
            let n = rng.below(8) as u32; // at most 7 qwords: stays inside the 64-byte margins
            let src = (lo + rng.below(hi - lo)) as i32;
            let dst = (lo + rng.below(hi - lo)) as i32;
            let _ = if back { a.std() } else { a.cld() };
            let _ = a.lea(rsi, ptr(r15 + src));
            let _ = a.lea(rdi, ptr(r15 + dst));
            let _ = a.mov(ecx, n);
            // Every string instruction at every width, with no prefix, REP/REPE or REPNE.
            type Emit = fn(&mut CodeAssembler) -> Result<(), IcedError>;
            const STRINGS: [[Emit; 4]; 5] = [
                [
                    CodeAssembler::movsb,
                    CodeAssembler::movsw,
                    CodeAssembler::movsd,
                    CodeAssembler::movsq,
                ],
                [
                    CodeAssembler::stosb,
                    CodeAssembler::stosw,
                    CodeAssembler::stosd,
                    CodeAssembler::stosq,
                ],
                [
                    CodeAssembler::lodsb,
                    CodeAssembler::lodsw,
                    CodeAssembler::lodsd,
                    CodeAssembler::lodsq,
                ],
                [
                    CodeAssembler::cmpsb,
                    CodeAssembler::cmpsw,
                    CodeAssembler::cmpsd,
                    CodeAssembler::cmpsq,
                ],
                [
                    CodeAssembler::scasb,
                    CodeAssembler::scasw,
                    CodeAssembler::scasd,
                    CodeAssembler::scasq,
                ],
            ];
            let emit = STRINGS[rng.below(5) as usize][rng.below(4) as usize];
            let r = match rng.below(3) {
                0 => emit(a),
                1 => emit(a.rep()),
                _ => emit(a.repne()),
            };
            let _ = a.cld();
            r.map(|_| false)
        }
        24 => match width {
            0 => a.push(r64(s)),
            1 => a.pop(r64(d)),
            2 => a.push(imm),
            _ => a.pop(qword_ptr(r15 + (rng.below(SCRATCH as u64 / 8) * 8) as i32)),
        }
        .map(|_| false),
        _ => match width {
            0 => a.bsf(r64(d), r64(s)),
            _ => a.bsr(r32(d), r32(s)),
        }
        .map(|_| false),
    };
    result.unwrap_or(false)
}

/// A reader of all six arithmetic flags (SETcc, CMOVcc with a random condition), emitted only right after CMP.
fn condition_reader(a: &mut CodeAssembler, rng: &mut Rng) {
    let d = REGS[rng.below(REGS.len() as u64) as usize];
    let s = REGS[rng.below(REGS.len() as u64) as usize];
    let setters = [
        CodeAssembler::seto,
        CodeAssembler::setno,
        CodeAssembler::setb,
        CodeAssembler::setae,
        CodeAssembler::sete,
        CodeAssembler::setne,
        CodeAssembler::setbe,
        CodeAssembler::seta,
        CodeAssembler::sets,
        CodeAssembler::setns,
        CodeAssembler::setp,
        CodeAssembler::setnp,
        CodeAssembler::setl,
        CodeAssembler::setge,
        CodeAssembler::setle,
        CodeAssembler::setg,
    ];
    let movers = [
        CodeAssembler::cmovo,
        CodeAssembler::cmovno,
        CodeAssembler::cmovb,
        CodeAssembler::cmovae,
        CodeAssembler::cmove,
        CodeAssembler::cmovne,
        CodeAssembler::cmovbe,
        CodeAssembler::cmova,
        CodeAssembler::cmovs,
        CodeAssembler::cmovns,
        CodeAssembler::cmovp,
        CodeAssembler::cmovnp,
        CodeAssembler::cmovl,
        CodeAssembler::cmovge,
        CodeAssembler::cmovle,
        CodeAssembler::cmovg,
    ];
    let cc = rng.below(16) as usize;
    let _ = if rng.below(2) == 0 {
        setters[cc](a, byte_reg(d))
    } else {
        movers[cc](a, r64(d), r64(s))
    };
}

/// A carry reader (ADC, SBB, RCL, RCR), emitted only where CF is defined.
fn carry_reader(a: &mut CodeAssembler, rng: &mut Rng) {
    let d = REGS[rng.below(REGS.len() as u64) as usize];
    let s = REGS[rng.below(REGS.len() as u64) as usize];
    let count = 1 + rng.below(31) as u32;
    let _ = match rng.below(6) {
        0 => a.adc(r64(d), r64(s)),
        1 => a.sbb(r32(d), r32(s)),
        2 => a.adc(r16(d), 0x1234),
        3 => a.rcl(r64(d), count),
        4 => a.rcr(r32(d), count),
        _ => a.sbb(byte_reg(d), byte_reg(s)),
    };
}

fn random_sequence(rng: &mut Rng, len: usize) -> impl FnOnce(&mut CodeAssembler) + '_ {
    move |a| {
        for _ in 0..len {
            if random_instruction(a, rng) && rng.below(3) == 0 {
                carry_reader(a, rng);
            }
        }
    }
}

/// The registers and flags the native runner loads before the body and stores after it, and the host's RSP while
/// the body runs on its own stack. The layout is fixed: the runner addresses the fields by offset.
#[repr(C)]
struct NativeFrame {
    gpr: [u64; 16],
    rflags: u64,
    host_rsp: u64,
}

/// Offset of [`NativeFrame::rflags`].
const FRAME_RFLAGS: i32 = 16 * 8;
/// Offset of [`NativeFrame::host_rsp`].
const FRAME_HOST_RSP: i32 = 17 * 8;

/// Runs `body` natively from the registers and arithmetic flags of `initial` (RSP and R15 included, both pointing
/// into `scratch`), and returns the state it ends in: RIP is where the interpreter must stop, after the HLT that
/// follows the body.
fn run_native(body: &[u8], initial: &CpuState, scratch: &mut memmap2::MmapMut) -> CpuState {
    let r15_and_rsp = [initial.gpr[15], initial.gpr[4]];
    let page = scratch.as_ptr() as u64..scratch.as_ptr() as u64 + PAGE as u64;
    assert!(r15_and_rsp.iter().all(|r| page.contains(r)));
    let mut frame = NativeFrame {
        gpr: initial.gpr,
        rflags: initial.rflags,
        host_rsp: 0,
    };
    let frame_addr = &mut frame as *mut NativeFrame as u64;
    // Entered with the frame in RDI: saves the callee-saved registers and RSP, loads flags and registers.
    let mut a = CodeAssembler::new(64).unwrap();
    for r in [rbx, rbp, r12, r13, r14, r15] {
        a.push(r).unwrap();
    }
    a.mov(qword_ptr(rdi + FRAME_HOST_RSP), rsp).unwrap();
    a.push(qword_ptr(rdi + FRAME_RFLAGS)).unwrap();
    a.popfq().unwrap();
    for n in (0..16).filter(|n| *n != 7) {
        a.mov(r64(n), qword_ptr(rdi + 8 * n as i32)).unwrap();
    }
    a.mov(rdi, qword_ptr(rdi + 7 * 8)).unwrap();
    let prologue = a.assemble(0).unwrap();
    // Stores every register without a free one: RAX to the frame's absolute address first, then through RAX
    // pointing at the frame; the flags once the host stack is back (MOV leaves them alone).
    let mut e = CodeAssembler::new(64).unwrap();
    e.mov(qword_ptr(frame_addr), rax).unwrap();
    e.mov(rax, frame_addr).unwrap();
    for n in 1..16 {
        e.mov(qword_ptr(rax + 8 * n as i32), r64(n)).unwrap();
    }
    e.mov(rsp, qword_ptr(rax + FRAME_HOST_RSP)).unwrap();
    e.pushfq().unwrap();
    e.pop(qword_ptr(rax + FRAME_RFLAGS)).unwrap();
    for r in [r15, r14, r13, r12, rbp, rbx] {
        e.pop(r).unwrap();
    }
    e.ret().unwrap();
    let epilogue = e.assemble(0).unwrap();
    let code: Vec<u8> = [prologue, body.to_vec(), epilogue].concat();
    let mut map = memmap2::MmapMut::map_anon(code.len()).unwrap();
    map.copy_from_slice(&code);
    let exec = map.make_exec().unwrap();
    // SAFETY: `exec` holds position-independent code assembled above: it saves and restores every callee-saved
    // register and the host's RSP, and touches memory only through `frame` (whose address it is given in RDI and
    // as an immediate) and the scratch page R15 and RSP point into (checked above): every body access is
    // [r15 + disp] within SCRATCH, or a push or pop, at most a few dozen, from STACK_TOP within the page. The body
    // has no branches. A signal delivered while the body runs would land on the scratch stack; sequences are a
    // few dozen instructions, and the test sends none.
    let f: extern "sysv64" fn(*mut NativeFrame) = unsafe { std::mem::transmute(exec.as_ptr()) };
    f(&mut frame);
    CpuState {
        gpr: frame.gpr,
        rflags: frame.rflags,
        rip: initial.rip + body.len() as u64 + 1,
        ..initial.clone()
    }
}

/// Maps the 4 KiB page at linear `linear` to guest-physical `phys` under the PML4 at [`PML4_GUEST`], allocating the
/// tables it lacks at `next_table` onwards.
fn map_page(bus: &mut FlatBus, linear: u64, phys: u64, next_table: &mut u64) {
    let mut table = PML4_GUEST;
    for shift in [39, 30, 21] {
        let entry = table + 8 * ((linear >> shift) & 511);
        let value = u64::from_le_bytes(
            bus.ram[entry as usize..entry as usize + 8]
                .try_into()
                .unwrap(),
        );
        assert_eq!(value & 0x80, 0, "{linear:#x} falls in a large page");
        table = if value & 1 == 0 {
            let fresh = *next_table;
            *next_table += 0x1000;
            bus.write_u64(entry, fresh | 3);
            fresh
        } else {
            value & 0x000F_FFFF_FFFF_F000
        };
    }
    bus.write_u64(table + 8 * ((linear >> 12) & 511), phys | 3);
}

/// A CPU in 64-bit mode at [`CODE_GUEST`] with random registers and arithmetic flags; R15 and RSP point into the
/// scratch page at host address `scratch`.
fn random_initial_state(rng: &mut Rng, scratch: u64) -> CpuState {
    let mut cpu = long_mode_at(PML4_GUEST);
    for n in REGS {
        cpu.state.gpr[n] = match rng.below(4) {
            0 => rng.next() & 0xFF,
            1 => rng.next() | 0x8000_0000_0000_0000,
            _ => rng.next(),
        };
    }
    cpu.state.gpr[4] = scratch + STACK_TOP;
    cpu.state.gpr[15] = scratch;
    cpu.state.rflags = 2 | (rng.next() & vx86_cpu::flags::ARITH);
    cpu.state.rip = CODE_GUEST;
    cpu.state
}

/// Runs `body` in the interpreter from `initial`, with the scratch page's bytes at its host address `scratch_addr`.
fn run_interpreted(
    body: &[u8],
    initial: &CpuState,
    scratch_addr: u64,
    scratch: &[u8],
) -> (Cpu, FlatBus) {
    let mut bus = FlatBus::new(4 << 20);
    bus.write_u64(PML4_GUEST, (PML4_GUEST + 0x1000) | 3);
    bus.write_u64(PML4_GUEST + 0x1000, (PML4_GUEST + 0x2000) | 3);
    bus.write_u64(PML4_GUEST + 0x2000, 0x83);
    map_page(
        &mut bus,
        scratch_addr,
        SCRATCH_GUEST,
        &mut (PML4_GUEST + 0x3000),
    );
    let mut code = body.to_vec();
    code.push(0xF4);
    bus.load(CODE_GUEST, &code);
    bus.load(SCRATCH_GUEST, scratch);
    let mut cpu = Cpu::new();
    cpu.state = initial.clone();
    assert_eq!(cpu.run(&mut bus, 10_000), Exit::Halted);
    (cpu, bus)
}

#[test]
fn random_integer_sequences_match_the_host_cpu() {
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    // VX86_ORACLE_ROUNDS runs a longer hunt; the suite's default keeps it under a second.
    let rounds = std::env::var("VX86_ORACLE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let mut scratch = memmap2::MmapMut::map_anon(PAGE).unwrap();
    let scratch_addr = scratch.as_ptr() as u64;
    for round in 0..rounds {
        let body = assemble(64, 0, random_sequence(&mut rng, 1 + (round % 12)));
        let initial = random_initial_state(&mut rng, scratch_addr);
        scratch.iter_mut().for_each(|b| *b = rng.next() as u8);
        let (cpu, bus) = run_interpreted(&body, &initial, scratch_addr, &scratch);
        let host = run_native(&body, &initial, &mut scratch);
        let listing = || {
            iced_x86::Decoder::new(64, &body, 0)
                .into_iter()
                .map(|i| format!("  {i}\n"))
                .collect::<String>()
        };
        let guest_scratch = &bus.ram[SCRATCH_GUEST as usize..SCRATCH_GUEST as usize + PAGE];
        if let Some(k) = (0..PAGE).find(|k| guest_scratch[*k] != scratch[*k]) {
            panic!(
                "round {round}: scratch byte {k:#x} is {:#x} in the interpreter, {:#x} on the host\n{}",
                guest_scratch[k],
                scratch[k],
                listing()
            );
        }
        if let Err(diff) = compare_states(&host, &cpu.state, defined_flags_after(&body, 64)) {
            panic!(
                "round {round}: the interpreter (got) differs from the host (expected):\n{diff}\ninitial {:x?} flags {:#x}\n{}",
                initial.gpr,
                initial.rflags,
                listing()
            );
        }
    }
}
