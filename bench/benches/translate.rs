//! Translation speed: cold code (distinct blocks, each run once) under bt, where nearly all the time goes to
//! translating; criterion reports elements/s = blocks translated per second. The interpreter's time on the same
//! code is measured beside it, as the cost translation competes with on code that runs once.

// criterion_group! generates undocumented functions.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use vx86_bench::cold::{cold_code, cold_machine};
use vx86_cpu::Exit;
use vx86_translator::Translator;

/// Blocks in the cold code (the HLT's block and the leaf function's blocks aside).
const BLOCKS: u32 = 4096;

fn cold_blocks(c: &mut Criterion) {
    let code = cold_code(BLOCKS);
    let mut group = c.benchmark_group("cold_code");
    group.throughput(Throughput::Elements(u64::from(BLOCKS)));
    group.sample_size(20);
    group.bench_function("bt", |b| {
        b.iter(|| {
            let (mut cpu, mut bus) = cold_machine(&code);
            let mut translator = Translator::new(64 << 20).expect("a code cache");
            assert_eq!(translator.run(&mut cpu, &mut bus, u64::MAX), Exit::Halted);
            translator.stats.blocks_translated
        })
    });
    group.bench_function("interp", |b| {
        b.iter(|| {
            let (mut cpu, mut bus) = cold_machine(&code);
            assert_eq!(cpu.run(&mut bus, u64::MAX), Exit::Halted);
            cpu.instructions
        })
    });
    group.finish();
}

criterion_group!(benches, cold_blocks);
criterion_main!(benches);
