//! A guest reset (keyboard-controller pulse or port 0xCF9) ends the run with status 0 under `-no-reboot`, and
//! otherwise reboots the machine through the reset vector with RAM kept, as on a PC.

mod common;

use iced_x86::code_asm::*;
use vx86_machine::{EngineKind, Outcome, Vm, VmConfig};

/// Where the guest counts its boots (RAM survives a reset).
const BOOT_COUNT: u64 = 0x500;

/// A 64 KiB BIOS that counts its boots at [`BOOT_COUNT`]: on the first it resets the machine with `reset` (port,
/// value); on the second it powers off through ACPI (PM1a_CNT = SLP_EN with the `\_S5` type 0).
fn resetting_bios(reset_port: u16, reset_value: u8) -> Vec<u8> {
    let mut a = CodeAssembler::new(16).unwrap();
    let mut second_boot = a.create_label();
    a.xor(ax, ax).unwrap();
    a.mov(ds, ax).unwrap();
    a.inc(byte_ptr(BOOT_COUNT)).unwrap();
    a.cmp(byte_ptr(BOOT_COUNT), 2).unwrap();
    a.je(second_boot).unwrap();
    a.mov(dx, u32::from(reset_port)).unwrap();
    a.mov(al, u32::from(reset_value)).unwrap();
    a.out(dx, al).unwrap();
    a.cli().unwrap();
    a.hlt().unwrap();
    a.set_label(&mut second_boot).unwrap();
    common::acpi_power_off(&mut a);
    common::bios_with_code(&a.assemble(0).unwrap())
}

/// Runs the resetting BIOS under the interpreter and under the binary translator, which must agree; returns how the
/// run ended and how often the machine booted.
fn run(reset_port: u16, reset_value: u8, no_reboot: bool) -> (Outcome, u8) {
    let run_on = |engine| {
        let config = VmConfig {
            no_reboot,
            deterministic: true,
            instruction_limit: Some(10_000),
            ..VmConfig::new(16 << 20, resetting_bios(reset_port, reset_value))
        };
        let mut vm = Vm::with_engine(config, engine).unwrap();
        let (outcome, _) = vm.run();
        let mut count = [0u8];
        vm.board.memory.read_phys(BOOT_COUNT, &mut count);
        (outcome, count[0])
    };
    let reference = run_on(EngineKind::Interp);
    assert_eq!(run_on(EngineKind::Bt), reference, "bt differs from interp");
    reference
}

/// The two reset sources Linux uses: the i8042 "pulse reset line" command and the PIIX reset-control register.
const RESETS: [(u16, u8); 2] = [(0x64, 0xFE), (0xCF9, 0x06)];

#[test]
fn a_reset_under_no_reboot_ends_the_run_with_status_0() {
    for (port, value) in RESETS {
        let (outcome, boots) = run(port, value, true);
        assert_eq!(outcome, Outcome::Reset, "reset through port {port:#x}");
        assert_eq!(outcome.exit_status(), 0);
        assert_eq!(boots, 1, "the machine did not boot again");
    }
}

#[test]
fn a_reset_without_no_reboot_reboots_the_machine_keeping_ram() {
    for (port, value) in RESETS {
        let (outcome, boots) = run(port, value, false);
        assert_eq!(outcome, Outcome::PowerOff, "reset through port {port:#x}");
        assert_eq!(boots, 2, "the second boot found the first one's count");
    }
}
