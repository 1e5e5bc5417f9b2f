//! Guest time under the interpreter and the binary translator without `-icount` still advances with instructions
//! (a 1 GHz CPU), not with the host's clock: a slow emulated CPU must not make the guest see its own code take fifty
//! times too long (Linux would then lose timer ticks and distrust its TSC). Under `-icount` the same run gives the
//! same figure exactly.

mod common;

use iced_x86::code_asm::*;
use vx86_machine::{EngineKind, Outcome, Vm, VmConfig};

/// Where the guest stores its two TSC readings.
const TSC_BEFORE: u64 = 0x600;
const TSC_AFTER: u64 = 0x608;
/// Iterations of the two-instruction loop between the readings.
const LOOPS: u32 = 1_000_000;

/// Reads the TSC, runs `2 * LOOPS` instructions, reads it again, powers off.
fn timing_bios() -> Vec<u8> {
    let mut a = CodeAssembler::new(16).unwrap();
    let mut top = a.create_label();
    a.xor(ax, ax).unwrap();
    a.mov(ds, ax).unwrap();
    a.rdtsc().unwrap();
    a.mov(dword_ptr(TSC_BEFORE), eax).unwrap();
    a.mov(dword_ptr(TSC_BEFORE + 4), edx).unwrap();
    a.mov(ecx, LOOPS).unwrap();
    a.set_label(&mut top).unwrap();
    a.dec(ecx).unwrap();
    a.jnz(top).unwrap();
    a.rdtsc().unwrap();
    a.mov(dword_ptr(TSC_AFTER), eax).unwrap();
    a.mov(dword_ptr(TSC_AFTER + 4), edx).unwrap();
    common::acpi_power_off(&mut a);
    common::bios_with_code(&a.assemble(0).unwrap())
}

/// TSC ticks the guest measured across its loop.
fn measured_ticks(engine: EngineKind, deterministic: bool) -> u64 {
    let config = VmConfig {
        no_reboot: true,
        deterministic,
        ..VmConfig::new(16 << 20, timing_bios())
    };
    let mut vm = Vm::with_engine(config, engine).unwrap();
    let (outcome, _) = vm.run();
    assert_eq!(outcome, Outcome::PowerOff);
    let read = |at| {
        let mut b = [0u8; 8];
        vm.board.memory.read_phys(at, &mut b);
        u64::from_le_bytes(b)
    };
    read(TSC_AFTER) - read(TSC_BEFORE)
}

#[test]
fn guest_time_follows_instructions_with_or_without_icount() {
    // The loop plus the two stores and the MOV ECX: one TSC tick (ns) per instruction.
    let instructions = 2 * u64::from(LOOPS) + 4;
    for engine in [EngineKind::Interp, EngineKind::Bt] {
        assert_eq!(measured_ticks(engine, true), instructions, "{engine}");
        // Host time would be tens of milliseconds here (tens of millions of ticks) at interpreter speed.
        assert_eq!(measured_ticks(engine, false), instructions, "{engine}");
    }
}
