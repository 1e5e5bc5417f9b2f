//! The vx86 machine: the PC board (memory map, guest memory, devices), the run loop, and the `vx86` command line.

pub mod acpi;
pub mod board;
pub mod boot;
pub mod capture;
pub mod cli;
pub mod display;
pub mod drive;
pub mod engine;
pub mod fw_cfg;
pub mod layout;
pub mod loader;
pub mod memory;
pub mod mptable;
pub mod pacing;
pub mod processors;
pub mod screenshot;
pub mod shadow;
pub mod status;
pub mod vm;

pub use engine::{Accel, EngineKind};
pub use vm::{Outcome, RunStats, Vm, VmConfig, VmError};
