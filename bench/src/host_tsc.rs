//! The host's time-stamp counter and its rate, for turning TSC ticks that a guest read under an emulator which passes
//! the host's TSC through (QEMU's TCG) into nanoseconds.
//!
//! The rate is measured: two readings of the TSC and of the monotonic clock, [`CALIBRATION`] apart. It assumes an
//! invariant TSC (`constant_tsc` and `nonstop_tsc` in `/proc/cpuinfo`), as every x86-64 host of the last decade has.

use std::time::{Duration, Instant};

/// How long [`khz`] measures.
pub const CALIBRATION: Duration = Duration::from_millis(150);

/// The host's TSC now.
pub fn read() -> u64 {
    // SAFETY: RDTSC reads a counter and has no side effects; every x86-64 CPU has it, and no host kernel sets
    // CR4.TSD for user processes.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// The host's TSC rate in kHz, measured over [`CALIBRATION`].
pub fn khz() -> u32 {
    let (t0, c0) = (Instant::now(), read());
    std::thread::sleep(CALIBRATION);
    let (t1, c1) = (Instant::now(), read());
    let ns = (t1 - t0).as_nanos().max(1);
    (u128::from(c1.wrapping_sub(c0)) * 1_000_000 / ns) as u32
}
