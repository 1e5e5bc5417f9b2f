//! Interpreter speed: guest MIPS on a compute-bound loop (criterion reports elements/s = guest instructions/s), and
//! iced-x86 decoding speed for comparison.

// criterion_group! generates undocumented functions.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use iced_x86::{Decoder, DecoderOptions};
use vx86_bench::{
    compute_loop, compute_loop_instructions, machine_with, memory_call_loop,
    memory_call_loop_instructions, run_to_halt,
};

fn interpreter(c: &mut Criterion) {
    let iterations = 1_000_000;
    let code = compute_loop(iterations);
    let mut group = c.benchmark_group("interp");
    group.throughput(Throughput::Elements(compute_loop_instructions(iterations)));
    group.sample_size(20);
    group.bench_function("compute_loop", |b| {
        b.iter(|| {
            let (mut cpu, mut bus) = machine_with(&code);
            run_to_halt(&mut cpu, &mut bus)
        })
    });
    let code = memory_call_loop(iterations);
    group.throughput(Throughput::Elements(memory_call_loop_instructions(
        iterations,
    )));
    group.bench_function("memory_call_loop", |b| {
        b.iter(|| {
            let (mut cpu, mut bus) = machine_with(&code);
            run_to_halt(&mut cpu, &mut bus)
        })
    });
    group.finish();
}

fn decoding(c: &mut Criterion) {
    let code = compute_loop(10);
    let mut group = c.benchmark_group("decode");
    let count = Decoder::new(32, &code, DecoderOptions::NONE).iter().count() as u64;
    group.throughput(Throughput::Elements(count));
    group.bench_function("iced_x86_compute_loop", |b| {
        b.iter(|| {
            Decoder::with_ip(32, &code, 0x1000, DecoderOptions::NONE)
                .iter()
                .filter(|i| !i.is_invalid())
                .count()
        })
    });
    group.finish();
}

criterion_group!(benches, interpreter, decoding);
criterion_main!(benches);
