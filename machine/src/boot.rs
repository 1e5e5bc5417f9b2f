//! Direct kernel boot (`-kernel`, `-initrd`, `-append`): the ACPI tables, the kernel and its boot data in guest
//! memory, and the CPU in the state the kernel's entry point expects, with no BIOS in the way.

use crate::acpi;
use crate::loader::{self, BootState, KernelRequest, LoadError, MemoryMap};
use crate::mptable;
use crate::vm::Vm;
use vx86_cpu::state::{SegReg, TableReg};
use vx86_cpu::Cpu;

/// Why a direct kernel boot could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// The kernel or initrd could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The ACPI tables did not fit.
    #[error("cannot place the ACPI tables: {0}")]
    Acpi(#[from] acpi::AcpiError),
}

/// Loads a kernel into the VM's memory, writes the ACPI and MP tables, and puts the CPU at the kernel's entry point.
pub fn prepare(vm: &mut Vm, request: &KernelRequest) -> Result<BootState, BootError> {
    let cpus = u8::try_from(vm.processor_count()).unwrap_or(u8::MAX);
    acpi::install(&mut vm.board.memory, cpus)?;
    mptable::write_to(&mut vm.board.memory, cpus).map_err(acpi::AcpiError::Memory)?;
    let map = MemoryMap::for_board(&vm.board.memory);
    let state = loader::load_kernel(&mut vm.board.memory, &map, request)?;
    enter(&mut vm.cpu, &state);
    Ok(state)
}

/// Puts the CPU in the state `boot` describes: control registers, EFER, GDT, segments and entry registers.
pub fn enter(cpu: &mut Cpu, boot: &BootState) {
    let s = &mut cpu.state;
    s.cr0 = boot.cr0;
    s.cr3 = boot.cr3;
    s.cr4 = boot.cr4;
    s.efer = boot.efer;
    s.gdtr = TableReg {
        base: boot.gdt_base,
        limit: u32::from(boot.gdt_limit),
    };
    for seg in SegReg::ALL {
        s.segs[seg as usize] = boot.data;
    }
    s.segs[SegReg::Cs as usize] = boot.code;
    s.cpl = 0;
    s.rip = boot.rip;
    s.rflags = boot.rflags;
    s.gpr = [0; 16];
    s.gpr[0] = boot.rax;
    s.gpr[3] = boot.rbx;
    s.gpr[4] = boot.rsp;
    s.gpr[6] = boot.rsi;
    cpu.flush_tlb(false);
}
