use vx86_machine::engine::EngineKind;
use vx86_machine::loader::KernelRequest;
use vx86_machine::{boot, Vm, VmConfig};

fn vm(kind: EngineKind) -> Vm {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../guests/cache");
    let kernel = std::fs::read(dir.join("vmlinuz")).unwrap();
    let initrd = std::fs::read(dir.join("initramfs.cpio.gz")).unwrap();
    let mut vm = Vm::with_engine(
        VmConfig {
            deterministic: true,
            no_reboot: true,
            ..VmConfig::new(256 << 20, vx86_firmware::bios::image())
        },
        kind,
    )
    .ok()
    .unwrap();
    let request = KernelRequest {
        kernel: &kernel,
        initrd: Some(&initrd),
        cmdline: "console=ttyS0 panic=-1",
    };
    boot::prepare(&mut vm, &request).unwrap();
    vm
}

fn same(a: &Vm, b: &Vm) -> bool {
    a.cpu.state.gpr == b.cpu.state.gpr
        && a.cpu.state.rip == b.cpu.state.rip
        && a.cpu.instructions == b.cpu.instructions
}

#[test]
fn probe() {
    let start: u64 = std::env::var("P_START")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let step: u64 = std::env::var("P_STEP")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let end: u64 = std::env::var("P_END")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000_000_000);
    let mut a = vm(EngineKind::Interp);
    let mut b = vm(EngineKind::Bt);
    if start > 0 {
        a.set_instruction_limit(Some(start));
        b.set_instruction_limit(Some(start));
        a.run();
        b.run();
        assert!(same(&a, &b), "differ already at start");
    }
    let mut at = start;
    if step <= 10 {
        a.cpu.trace.in_asm = true;
    }
    while at < end {
        at += step;
        a.set_instruction_limit(Some(at));
        b.set_instruction_limit(Some(at));
        let (oa, _) = a.run();
        let (ob, _) = b.run();
        if !same(&a, &b) || oa != ob {
            eprintln!(
                "first difference in ({}, {at}]: interp {oa:?} bt {ob:?}",
                at - step
            );
            eprintln!(
                "interp rip {:#x} gpr {:x?}",
                a.cpu.state.rip, a.cpu.state.gpr
            );
            eprintln!(
                "bt     rip {:#x} gpr {:x?}",
                b.cpu.state.rip, b.cpu.state.gpr
            );
            eprintln!("instr {} {}", a.cpu.instructions, b.cpu.instructions);
            panic!("diverged");
        }
    }
}
