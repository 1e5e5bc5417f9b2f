//! A guest that reports a panic through pvpanic (port 0x505) ends the run with `Outcome::GuestPanicked` and exit
//! status 6, under every engine and from the command line.

mod common;

use iced_x86::code_asm::*;
use std::process::Command;
use vx86_machine::{EngineKind, Outcome, Vm, VmConfig};

/// A 64 KiB BIOS whose reset vector jumps to code that reports "crash kernel loaded" (which must not stop it),
/// checks that the port reads back PANICKED | CRASH_LOADED, then reports "panicked". Should the run go on past
/// that write, or the read return anything else, the code halts with interrupts off: `HaltedForever`.
fn panicking_bios() -> Vec<u8> {
    let mut a = CodeAssembler::new(16).unwrap();
    let mut fail = a.create_label();
    a.mov(dx, 0x505u32).unwrap();
    a.mov(al, 0x02u32).unwrap();
    a.out(dx, al).unwrap();
    a.in_(al, dx).unwrap();
    a.cmp(al, 0x03u32).unwrap();
    a.jne(fail).unwrap();
    a.mov(al, 0x01u32).unwrap();
    a.out(dx, al).unwrap();
    a.set_label(&mut fail).unwrap();
    a.cli().unwrap();
    a.hlt().unwrap();
    common::bios_with_code(&a.assemble(0).unwrap())
}

fn config() -> VmConfig {
    VmConfig {
        no_reboot: true,
        ..VmConfig::new(16 << 20, panicking_bios())
    }
}

fn assert_panicked(vm: &Vm, outcome: &Outcome) {
    assert_eq!(*outcome, Outcome::GuestPanicked);
    assert_eq!(outcome.exit_status(), 6);
    assert!(
        vm.board.devices.pvpanic().crash_loaded(),
        "the CRASH_LOADED write was recorded"
    );
}

#[test]
fn a_guest_panic_ends_the_run_with_status_6() {
    for engine in [EngineKind::Interp, EngineKind::Bt] {
        let config = VmConfig {
            deterministic: true,
            instruction_limit: Some(1_000),
            ..config()
        };
        let mut vm = Vm::with_engine(config, engine).unwrap();
        let (outcome, stats) = vm.run();
        assert_panicked(&vm, &outcome);
        assert_eq!(
            stats.instructions, 9,
            "{engine}: stopped right after the OUT"
        );
    }
}

#[test]
fn a_guest_panic_ends_the_run_under_kvm_where_the_host_can_run_it() {
    if common::usable_kvm().is_none() {
        return;
    }
    let mut vm = Vm::with_engine(config(), EngineKind::Kvm).expect("machine builds");
    let (outcome, _) = vm.run();
    assert_panicked(&vm, &outcome);
}

#[test]
fn the_command_line_names_the_panic_and_exits_with_6() {
    let dir = std::env::temp_dir().join(format!("vx86-pvpanic-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bios = dir.join("panic.bin");
    std::fs::write(&bios, panicking_bios()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vx86"))
        .args([
            "-bios",
            bios.to_str().unwrap(),
            "-serial",
            "none",
            "-accel",
            "interp",
        ])
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert!(
        stderr.contains("vx86: the guest reported a kernel panic (pvpanic)"),
        "{stderr}"
    );
}
