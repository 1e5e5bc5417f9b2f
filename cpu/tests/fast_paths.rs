//! The decode-time fast paths must compute exactly what the generic handlers compute: random sequences of the fast
//! forms run once through blocks (fast paths) and once by single-stepping (generic handlers), from the same random
//! register state, must end in identical architectural state.

use iced_x86::code_asm::*;
use vx86_cpu::testing::{assemble, flat32_cpu, FlatBus};
use vx86_cpu::Cpu;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next() % items.len() as u64) as usize]
    }
}

/// One random fast-form instruction (never touching ESP).
fn random_instruction(a: &mut CodeAssembler, rng: &mut Rng) {
    let r32 = [eax, ebx, ecx, edx, esi, edi, ebp];
    let r16 = [ax, bx, cx, dx, si, di, bp];
    let wide = !rng.next().is_multiple_of(4);
    let imm = rng.next() as u32;
    let small = (rng.next() % 256) as i32 - 128;
    let slot = 0x2000 + 4 * (rng.next() % 16) as u32;
    let count = (rng.next() % 40) as u32;
    match rng.next() % 22 {
        16 => a.shl(rng.pick(&r32), count).unwrap(),
        17 => a.shr(rng.pick(&r16), count).unwrap(),
        18 => a.sar(rng.pick(&r32), count).unwrap(),
        19 => a
            .movzx(rng.pick(&r32), rng.pick(&[al, bh, cl, dh]))
            .unwrap(),
        20 => a.movzx(rng.pick(&r32), word_ptr(slot)).unwrap(),
        21 => a.lea(rng.pick(&r32), ptr(ebx + ecx * 4 + 0x10)).unwrap(),
        12 => a.mov(dword_ptr(slot), rng.pick(&r32)).unwrap(),
        13 => a.mov(rng.pick(&r32), dword_ptr(slot)).unwrap(),
        14 => a.sub(rng.pick(&r32), dword_ptr(slot)).unwrap(),
        15 => {
            a.push(rng.pick(&r32)).unwrap();
            a.pop(rng.pick(&r32)).unwrap();
        }
        k @ 0..=8 if wide => {
            let (d, s) = (rng.pick(&r32), rng.pick(&r32));
            match (k, rng.next().is_multiple_of(2)) {
                (0, true) => a.add(d, s),
                (0, false) => a.add(d, imm),
                (1, true) => a.adc(d, s),
                (1, false) => a.adc(d, small),
                (2, true) => a.sub(d, s),
                (2, false) => a.sub(d, imm),
                (3, true) => a.sbb(d, s),
                (3, false) => a.sbb(d, small),
                (4, true) => a.cmp(d, s),
                (4, false) => a.cmp(d, imm),
                (5, true) => a.and(d, s),
                (5, false) => a.and(d, imm),
                (6, true) => a.or(d, s),
                (6, false) => a.or(d, small),
                (7, true) => a.xor(d, s),
                (7, false) => a.xor(d, imm),
                (_, true) => a.test(d, s),
                (_, false) => a.test(d, imm),
            }
            .unwrap()
        }
        0..=8 => {
            let (d, s) = (rng.pick(&r16), rng.pick(&r16));
            match rng.next() % 4 {
                0 => a.add(d, s),
                1 => a.sub(d, (imm & 0xFFFF) as i32),
                2 => a.xor(d, s),
                _ => a.cmp(d, small),
            }
            .unwrap()
        }
        9 if wide => a.inc(rng.pick(&r32)).unwrap(),
        9 => a.dec(rng.pick(&r16)).unwrap(),
        10 => a.mov(rng.pick(&r32), rng.pick(&r32)).unwrap(),
        _ => a.mov(rng.pick(&r16), imm & 0xFFFF).unwrap(),
    }
}

fn machine(code: &[u8], rng: &mut Rng) -> (Cpu, FlatBus) {
    let mut bus = FlatBus::new(1 << 20);
    bus.load(0x1000, code);
    let mut cpu = flat32_cpu(0x1000, 0x8000);
    for r in [0, 1, 2, 3, 5, 6, 7] {
        cpu.state.gpr[r] = rng.next() & 0xFFFF_FFFF;
    }
    for k in 0..16 {
        bus.write_u32(0x2000 + 4 * k, rng.next() as u32);
    }
    cpu.state.rflags = 2 | (rng.next() & vx86_cpu::flags::ARITH);
    (cpu, bus)
}

#[test]
fn fast_paths_match_the_generic_handlers_on_random_sequences() {
    let mut rng = Rng(0xC0FF_EE12_3456_789B);
    for round in 0..300 {
        let code = assemble(32, 0x1000, |a| {
            for _ in 0..(5 + round % 20) {
                random_instruction(a, &mut rng);
            }
            // A call and return, then a conditional branch on the flags the sequence produced.
            let mut function = a.create_label();
            let mut after = a.create_label();
            a.call(function).unwrap();
            a.jmp(after).unwrap();
            a.set_label(&mut function).unwrap();
            random_instruction(a, &mut rng);
            a.ret().unwrap();
            a.set_label(&mut after).unwrap();
            let mut skip = a.create_label();
            a.jl(skip).unwrap();
            a.not(eax).unwrap();
            a.set_label(&mut skip).unwrap();
            a.hlt().unwrap();
        });
        let seed = rng.next();
        let (mut fast, mut fast_bus) = machine(&code, &mut Rng(seed));
        let (mut slow, mut slow_bus) = machine(&code, &mut Rng(seed));
        assert_eq!(fast.run(&mut fast_bus, 10_000), vx86_cpu::Exit::Halted);
        while !slow.state.halted {
            let start = slow.state.rip;
            if let Err(f) = slow.step(&mut slow_bus) {
                panic!("generic path faulted at {start:#x}: {f:?}");
            }
        }
        assert_eq!(fast.state, slow.state, "round {round}");
        assert_eq!(
            fast_bus.ram, slow_bus.ram,
            "memory differs in round {round}"
        );
    }
}
