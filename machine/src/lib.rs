//! The vx86 machine: the PC board (memory map, guest memory, devices), the run loop, and the `vx86` command line.

pub mod board;
pub mod capture;
pub mod cli;
pub mod layout;
pub mod memory;
pub mod vm;

pub use vm::{Outcome, RunStats, Vm, VmConfig};
