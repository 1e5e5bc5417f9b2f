//! The nanobenchmark guest: a small kernel that times, with RDTSC, one trap-heavy operation at a time (repeated N
//! times), prints the results on COM1 and powers off through ACPI.
//!
//! It comes in two flavours ([`Guest`]), each started directly in its mode by the loader ([`Guest::memory_image`],
//! [`Guest::start_state`]), so it runs unchanged on every engine, or booted as a multiboot image
//! ([`Guest::multiboot_image`]) by another emulator:
//! - **64-bit long mode** ([`guest64`]): 4-level paging, a 64-bit TSS and IDT, SYSCALL. The default: PVM (a
//!   paravirtual KVM built for 64-bit Linux guests) runs it where it refuses most of the 32-bit guest.
//! - **32-bit protected mode** ([`guest32`]): flat segments, paging off unless an operation needs it,
//!   SYSENTER/SYSEXIT.
//!
//! The kernel's code is written once (`kernel`, `ops`, `serial`); a flavour supplies its addresses and the few
//! instructions whose form depends on the mode. Set-up: the IDT, the 8259s masked, the flavour's TR, MSRs and
//! paging. Each selected operation is bracketed by two writes to [`MARKER_PORT`] (so the host can time it too), and
//! its result line is `bench <name> <iterations> <ticks>` with both numbers in hex ([`parse_results`]). Ring-3
//! operations come back to the kernel through INT3.

mod descriptors;
pub mod guest32;
pub mod guest64;
mod kernel;
pub mod multiboot;
mod ops;
mod serial;

pub use serial::{exception_name, parse_results, unexpected_exception, DONE_LINE, FAILED_PREFIX};

use std::fmt;
use vx86_cpu::CpuState;

/// Where the guest's code is loaded and where it starts.
pub const CODE_ADDR: u32 = 0x10000;
/// The GDT (its entries are the flavour's).
pub const GDT_ADDR: u32 = 0x1000;
/// The TSS (only the ring-0 stack pointer is used).
pub const TSS_ADDR: u32 = 0x1100;
/// The IDT (256 gates, filled by the guest).
pub const IDT_ADDR: u32 = 0x2000;
/// Results: per operation, the TSC ticks of the whole loop (u64).
pub const RESULTS_ADDR: u32 = 0x8000;
/// Bit k set: run operation k. Written by the loader.
pub const OP_MASK_ADDR: u32 = 0x8F00;
/// Iterations per operation. Written by the loader.
pub const ITERATIONS_ADDR: u32 = 0x8F04;
/// The kernel's saved stack pointer while ring 3 runs (u64).
const SAVED_SP_ADDR: u32 = 0x8F08;
/// Top of the ring-0 stack that traps from ring 3 use (the TSS's ring-0 stack pointer, SYSENTER_ESP).
pub const KERNEL_STACK_TOP: u32 = 0xF000;
/// Top of the kernel's main stack (below the trap stack, which ring-3 traps would otherwise overwrite).
pub const MAIN_STACK_TOP: u32 = 0xE000;
/// Top of the ring-3 stack.
pub const USER_STACK_TOP: u32 = 0x70000;
/// The two pages the page-fault benchmark alternates between (one present, one not).
pub const PF_PAGE_A: u32 = 0x20_0000;
/// See [`PF_PAGE_A`].
pub const PF_PAGE_B: u32 = 0x20_1000;
/// The page whose PTE the INVLPG benchmark updates.
pub const INVLPG_PAGE: u32 = 0x20_2000;
/// Writes here bracket each operation: 2k before operation k, 2k+1 after (the POST port, a real device).
pub const MARKER_PORT: u16 = 0x80;
/// The isa-debug-exit port, written with 0x31 on an unexpected exception.
pub const DEBUG_EXIT_PORT: u16 = 0xF4;
/// One operation of the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Op {
    /// Short name (printed by the guest, used in tables and JSON).
    pub name: &'static str,
    /// What is measured.
    pub what: &'static str,
    /// Runs in ring 3 (else ring 0).
    pub user: bool,
}

const fn op(name: &'static str, what: &'static str, user: bool) -> Op {
    Op { name, what, user }
}

// The operations both flavours run; each flavour lists its own, in order, with its fast system calls.
const INT80: Op = op(
    "int80",
    "system call round trip: INT 0x80 from ring 3, IRET back",
    true,
);
const PORT_IO: Op = op("port_io", "IN from an emulated device (port 0x61)", false);
const CR3_WRITE: Op = op(
    "cr3_write",
    "MOV to CR3 (TLB flush), alternating two page-table roots",
    false,
);
const PAGE_FAULT: Op = op(
    "page_fault",
    "#PF from ring 3, resolved by mapping the page (and unmapping the other)",
    true,
);
const CALL_RET: Op = op("call_ret", "CALL/RET pair in ring 3", true);
const DIV_ZERO: Op = op(
    "div_zero",
    "#DE from ring 3, the handler skips the DIV",
    true,
);
const PTE_INVLPG: Op = op("pte_invlpg", "page-table entry update + INVLPG", false);
const CLI_STI: Op = op("cli_sti", "CLI/STI pair", false);
const COMPUTE: Op = op(
    "compute",
    "one round of a 4-instruction ALU loop in ring 3",
    true,
);

/// The bit mask of the operations in `ops` named in `names`.
fn mask_of(ops: &[Op], names: &[&str]) -> u32 {
    ops.iter()
        .enumerate()
        .filter(|(_, op)| names.contains(&op.name))
        .fold(0, |m, (k, _)| m | 1 << k)
}

/// Which flavour of the guest runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Guest {
    /// 32-bit protected mode ([`guest32`]).
    Protected32,
    /// 64-bit long mode ([`guest64`]).
    #[default]
    Long64,
}

impl Guest {
    /// Both flavours.
    pub const ALL: [Guest; 2] = [Guest::Long64, Guest::Protected32];

    /// Its operations; operation k runs when bit k of the mask is set.
    pub fn ops(self) -> &'static [Op] {
        match self {
            Guest::Protected32 => &guest32::OPS,
            Guest::Long64 => &guest64::OPS,
        }
    }

    /// The bit mask that selects every operation.
    pub fn all_ops(self) -> u32 {
        (1 << self.ops().len()) - 1
    }

    /// The guest's memory image: (physical address, bytes) pieces: descriptor and page tables, parameters, code.
    pub fn memory_image(self, op_mask: u32, iterations: u32) -> Vec<(u32, Vec<u8>)> {
        let (mut image, code) = match self {
            Guest::Protected32 => (
                guest32::tables(),
                kernel::assemble::<guest32::Protected32>(),
            ),
            Guest::Long64 => (guest64::tables(), kernel::assemble::<guest64::Long64>()),
        };
        let mut params = op_mask.to_le_bytes().to_vec();
        params.extend_from_slice(&iterations.to_le_bytes());
        image.push((OP_MASK_ADDR, params));
        image.push((CODE_ADDR, code.expect("the bench guest assembles")));
        image
    }

    /// The guest as a multiboot image file ([`multiboot`]): [`Guest::memory_image`] and a stub that enters
    /// [`Guest::start_state`].
    pub fn multiboot_image(self, op_mask: u32, iterations: u32) -> Vec<u8> {
        multiboot::image(&self.memory_image(op_mask, iterations), &self.start_state())
            .expect("the bench guest fits a multiboot image")
    }

    /// The CPU state the guest starts in: CPL 0 at [`CODE_ADDR`], in the flavour's mode.
    pub fn start_state(self) -> CpuState {
        match self {
            Guest::Protected32 => guest32::start_state(),
            Guest::Long64 => guest64::start_state(),
        }
    }

    /// The flag value that picks it (`--guest 32|64`).
    pub fn bits(self) -> u32 {
        match self {
            Guest::Protected32 => 32,
            Guest::Long64 => 64,
        }
    }
}

impl fmt::Display for Guest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Guest::Protected32 => "32-bit protected-mode guest",
            Guest::Long64 => "64-bit long-mode guest",
        })
    }
}

impl std::str::FromStr for Guest {
    type Err = String;
    fn from_str(s: &str) -> Result<Guest, String> {
        Guest::ALL
            .into_iter()
            .find(|g| g.bits().to_string() == s)
            .ok_or_else(|| format!("unknown guest '{s}': use 32 or 64"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flavours_share_every_operation_but_the_fast_system_calls() {
        let names = |g: Guest| g.ops().iter().map(|o| o.name).collect::<Vec<_>>();
        let only = |g: Guest, other: Guest| {
            let theirs = names(other);
            names(g)
                .into_iter()
                .filter(|n| !theirs.contains(n))
                .collect::<Vec<_>>()
        };
        let (p32, l64) = (Guest::Protected32, Guest::Long64);
        assert_eq!(only(p32, l64), ["sysenter"]);
        assert_eq!(only(l64, p32), ["syscall", "syscall_iret"]);
        assert_eq!((p32.ops().len(), l64.ops().len()), (10, 11));
        assert_eq!(mask_of(l64.ops(), &["int80", "syscall"]), 0b11);
    }

    #[test]
    fn guest_flags_parse() {
        assert_eq!("64".parse(), Ok(Guest::Long64));
        assert_eq!("32".parse(), Ok(Guest::Protected32));
        assert!("16".parse::<Guest>().is_err());
        assert_eq!(Guest::default(), Guest::Long64);
    }
}
