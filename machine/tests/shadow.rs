//! The i440FX's PAM registers under the interpreter and the translator: the BIOS area at 0xF0000 reads the ROM at
//! power-on; read-write shadow RAM takes writes; read-only shadow keeps the RAM and drops writes; write-only reads
//! the ROM while writes reach the RAM; and back on the PCI side the ROM shows again.

mod common;

use iced_x86::code_asm::*;
use vx86_cpu::testing::real_cpu;
use vx86_machine::{EngineKind, Outcome, Vm, VmConfig};

/// Where the snippet runs (conventional RAM, untouched by PAM).
const CODE: u64 = 0x1000;
/// Where it stores what it read, one byte per step.
const RESULTS: u64 = 0x600;
/// The offset in segment 0xF000 it reads and writes: a byte of the BIOS ROM that is not zero.
const PROBE: u32 = 0xFFF0;

/// Sets the host bridge's PAM0 (config register 0x59: byte 1 of dword 0x58) to `value`.
fn set_pam0(a: &mut CodeAssembler, value: u32) {
    a.mov(eax, 0x8000_0058u32).unwrap();
    a.mov(dx, 0xCF8u32).unwrap();
    a.out(dx, eax).unwrap();
    a.mov(dx, 0xCFDu32).unwrap();
    a.mov(al, value).unwrap();
    a.out(dx, al).unwrap();
}

/// Reads F000:PROBE into the next result byte (DI counts them).
fn probe(a: &mut CodeAssembler) {
    a.mov(al, byte_ptr(PROBE).es()).unwrap();
    a.mov(byte_ptr(di + RESULTS as u32), al).unwrap();
    a.inc(di).unwrap();
}

fn run(engine: EngineKind) -> (Outcome, Vec<u8>) {
    let config = VmConfig {
        no_reboot: true,
        deterministic: true,
        instruction_limit: Some(100_000),
        ..VmConfig::new(16 << 20, vx86_firmware::bios::image())
    };
    let mut vm = Vm::with_engine(config, engine).unwrap();
    let mut a = CodeAssembler::new(16).unwrap();
    a.mov(ax, 0xF000u32).unwrap();
    a.mov(es, ax).unwrap();
    a.xor(di, di).unwrap();
    probe(&mut a); // 0: the ROM
    set_pam0(&mut a, 0x30);
    probe(&mut a); // 1: shadow RAM, still zero
    a.mov(byte_ptr(PROBE).es(), 0x5A).unwrap();
    probe(&mut a); // 2: the write landed
    set_pam0(&mut a, 0x10);
    a.mov(byte_ptr(PROBE).es(), 0x77).unwrap();
    probe(&mut a); // 3: read-only: still 0x5A
    set_pam0(&mut a, 0x20);
    a.mov(byte_ptr(PROBE).es(), 0x66).unwrap();
    probe(&mut a); // 4: write-only: reads the ROM
    set_pam0(&mut a, 0x10);
    probe(&mut a); // 5: the write-only write reached the RAM
    set_pam0(&mut a, 0x00);
    probe(&mut a); // 6: the ROM again
    common::acpi_power_off(&mut a);
    vm.write_phys(CODE, &a.assemble(CODE).unwrap());
    vm.cpu.state = real_cpu(CODE, 0x7000).state;
    let (outcome, _) = vm.run();
    let mut results = vec![0u8; 7];
    vm.board.memory.read_phys(RESULTS, &mut results);
    (outcome, results)
}

#[test]
fn pam_registers_route_the_bios_segment_between_rom_and_shadow_ram() {
    let rom = vx86_firmware::bios::image()[PROBE as usize];
    assert_ne!(rom, 0, "the probe needs a ROM byte that is not zero");
    let reference = run(EngineKind::Interp);
    assert_eq!(run(EngineKind::Bt), reference, "bt differs from interp");
    let (outcome, results) = reference;
    assert_eq!(outcome, Outcome::PowerOff);
    assert_eq!(results, [rom, 0, 0x5A, 0x5A, rom, 0x66, rom]);
}
