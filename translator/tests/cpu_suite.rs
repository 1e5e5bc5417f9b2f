//! The cpu crate's own test suite (mode switches, exceptions and their error codes, paging faults, interrupts,
//! virtual-8086 mode, string instructions, x87 and SSE, and the rest) run through the binary translator: the same
//! test files, with `vx86_cpu::testing::run` sending every guest run to the translator instead of the interpreter.

#![cfg(all(target_os = "linux", target_arch = "x86_64"))]
// The x87 and SSE files each declare the cpu tests' `common` module, as each is its own test crate in the cpu crate.
#![allow(clippy::duplicate_mod)]

use vx86_cpu::testing::FlatBus;
use vx86_cpu::{Cpu, Exit};
use vx86_translator::Translator;

/// Runs guest code with a fresh translator (a test may run the same CPU more than once).
fn run_translated(cpu: &mut Cpu, bus: &mut FlatBus, budget: u64) -> Exit {
    let mut translator = Translator::new(1 << 20).expect("a code buffer");
    translator.run(cpu, bus, budget)
}

extern "C" fn install_translator() {
    vx86_cpu::testing::install_engine(run_translated);
}

/// Installs the translator before any test runs (an ELF initialiser: the test harness gives no earlier hook).
#[used]
#[link_section = ".init_array"]
static INSTALL_TRANSLATOR: extern "C" fn() = install_translator;

#[test]
fn the_translator_is_the_engine_of_this_suite() {
    assert!(
        !vx86_cpu::testing::install_engine(run_translated),
        "the translator was installed before the tests ran"
    );
}

#[path = "../../cpu/tests/bcd.rs"]
mod bcd;
#[path = "../../cpu/tests/bit.rs"]
mod bit;
#[path = "../../cpu/tests/cpu_model.rs"]
mod cpu_model;
#[path = "../../cpu/tests/debug.rs"]
mod debug;
#[path = "../../cpu/tests/exceptions.rs"]
mod exceptions;
#[path = "../../cpu/tests/long_mode.rs"]
mod long_mode;
#[path = "../../cpu/tests/paging.rs"]
mod paging;
#[path = "../../cpu/tests/protected.rs"]
mod protected;
#[path = "../../cpu/tests/shift.rs"]
mod shift;
#[path = "../../cpu/tests/smoke.rs"]
mod smoke;
#[path = "../../cpu/tests/sse.rs"]
mod sse;
#[path = "../../cpu/tests/stack_segments.rs"]
mod stack_segments;
#[path = "../../cpu/tests/string.rs"]
mod string;
#[path = "../../cpu/tests/v86.rs"]
mod v86;
#[path = "../../cpu/tests/x87.rs"]
mod x87;
