//! Kernel boot (`-kernel`, `-initrd`, `-append`). Directly, with vx86's own BIOS: the ACPI tables, the kernel and
//! its boot data in guest memory, and the CPU in the state the kernel's entry point expects, with no BIOS in the
//! way. Through the firmware, with `-bios FILE` (SeaBIOS), as QEMU does it: the kernel's pieces and a loader option
//! ROM in fw_cfg ([`crate::fw_cfg::kernel`]), which the firmware boots like a drive.

use crate::acpi;
use crate::fw_cfg::kernel;
use crate::loader::{self, BootState, KernelRequest, LoadError, MemoryMap};
use crate::mptable;
use crate::vm::Vm;
use vx86_cpu::state::{SegReg, TableReg};
use vx86_cpu::Cpu;
use vx86_devices::FwCfgError;

/// Why a kernel boot (direct or through the firmware) could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// The kernel or initrd could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The ACPI tables did not fit.
    #[error("cannot place the ACPI tables: {0}")]
    Acpi(#[from] acpi::AcpiError),
    /// The loader ROM could not be added to fw_cfg.
    #[error("cannot hand the kernel to the firmware: {0}")]
    FwCfg(#[from] FwCfgError),
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

/// Hands a kernel to the VM's firmware through fw_cfg, as QEMU does for `-bios`: the kernel, initrd and command line
/// items, and the Linux loader option ROM first in the boot order. The CPU stays at the reset vector.
pub fn hand_to_firmware(vm: &mut Vm, request: &KernelRequest) -> Result<(), BootError> {
    let (ram_below_4g, _) = vx86_devices::ram_split(vm.board.memory.ram_bytes());
    let items = vm.board.devices.fw_cfg_mut().items_mut();
    kernel::add_kernel(items, request, ram_below_4g)?;
    kernel::add_loader_rom(items)?;
    Ok(())
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
