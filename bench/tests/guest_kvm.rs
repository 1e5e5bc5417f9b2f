//! The nanobenchmark guest and a fixed workload under kvm, compared with the interpreter. Where /dev/kvm is
//! missing or unusable these tests say so and return.

use vx86_bench::guest::{self, OPS};
use vx86_bench::runner;
use vx86_machine::engine::HostVirt;
use vx86_machine::{EngineKind, Outcome, Vm, VmConfig};

fn kvm_or_skip() -> Option<HostVirt> {
    let host = HostVirt::probe();
    match &host.kvm {
        Ok(()) => Some(host),
        Err(why) => {
            eprintln!("skipped: kvm unavailable: {why}");
            None
        }
    }
}

#[test]
fn the_nanobenchmark_guest_under_kvm_reports_what_the_host_can_run() {
    let Some(host) = kvm_or_skip() else { return };
    let mut refused = Vec::new();
    for (k, op) in OPS.iter().enumerate() {
        let run = runner::run_guest(EngineKind::Kvm, 1 << k, 100).expect("machine builds");
        if run.outcome == Outcome::PowerOff {
            let results = guest::parse_results(&run.serial);
            assert_eq!(results.len(), 1, "{}", run.serial);
            assert_eq!((results[0].0.as_str(), results[0].1), (op.name, 100));
            assert!(run.serial.trim_end().ends_with(guest::DONE_LINE));
        } else {
            refused.push((op.name, run.outcome));
        }
    }
    if host.hardware {
        assert!(refused.is_empty(), "hardware KVM refused: {refused:?}");
    } else {
        // PVM: kernel-mode code is emulated by the host, which cannot emulate IRET nor turn on 32-bit paging;
        // ring-0 operations without either run.
        eprintln!("kvm (PVM) refused: {refused:?}");
        for must in ["port_io", "cli_sti"] {
            assert!(
                refused.iter().all(|r| r.0 != must),
                "{must} refused: {refused:?}"
            );
        }
    }
}

/// A fixed ring-0 workload (no IRET, no paging, so even PVM runs it): fills 4 KiB with a hash sequence, reads a
/// device port, and powers off.
fn workload() -> Vec<u8> {
    use iced_x86::code_asm::*;
    let mut a = CodeAssembler::new(32).unwrap();
    let mut top = a.create_label();
    a.mov(edi, 0x40000u32).unwrap();
    a.mov(ecx, 1024u32).unwrap();
    a.mov(eax, 0x1234_5678u32).unwrap();
    a.xor(ebx, ebx).unwrap();
    a.set_label(&mut top).unwrap();
    a.imul_3(eax, eax, 1_103_515_245i32).unwrap();
    a.add(eax, 12345).unwrap();
    a.mov(dword_ptr(edi), eax).unwrap();
    a.add(ebx, eax).unwrap();
    a.rol(ebx, 3).unwrap();
    a.add(edi, 4).unwrap();
    a.dec(ecx).unwrap();
    a.jnz(top).unwrap();
    a.in_(al, 0x21).unwrap(); // PIC mask register: 0 after power-on.
    a.movzx(esi, al).unwrap();
    a.mov(ebp, 0xCAFEu32).unwrap();
    a.mov(dx, 0x604u32).unwrap();
    a.mov(ax, 0x2000u32).unwrap();
    a.out(dx, ax).unwrap();
    a.hlt().unwrap();
    a.assemble(u64::from(guest::CODE_ADDR)).unwrap()
}

fn run_workload(engine: EngineKind) -> (Outcome, vx86_cpu::CpuState, u64) {
    let config = VmConfig {
        ram_bytes: 32 << 20,
        bios: vx86_firmware::bios::image(),
        disk: None,
        serial_out: None,
        serial_in: None,
        no_reboot: true,
        deterministic: false,
        trace: Default::default(),
        trace_post: false,
        instruction_limit: None,
    };
    let mut vm = Vm::with_engine(config, engine).expect("machine builds");
    for (addr, bytes) in guest::memory_image(0, 1) {
        vm.write_phys(u64::from(addr), &bytes);
    }
    vm.write_phys(u64::from(guest::CODE_ADDR), &workload());
    vm.cpu.state = guest::start_state();
    let (outcome, _) = vm.run();
    let mut mem = vec![0u8; 4096];
    vm.board.memory.read_phys(0x40000, &mut mem);
    let checksum = mem.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    (outcome, vm.cpu.state.clone(), checksum)
}

#[test]
fn a_fixed_workload_gives_the_same_registers_and_memory_under_interp_and_kvm() {
    let (outcome, interp, interp_sum) = run_workload(EngineKind::Interp);
    assert_eq!(outcome, Outcome::PowerOff);
    assert_eq!(interp.gpr[vx86_cpu::state::gpr::RBP], 0xCAFE);
    if kvm_or_skip().is_none() {
        return;
    }
    let (outcome, kvm, kvm_sum) = run_workload(EngineKind::Kvm);
    assert_eq!(outcome, Outcome::PowerOff);
    assert_eq!(kvm_sum, interp_sum, "memory differs");
    assert_eq!(kvm.gpr[..8], interp.gpr[..8], "general registers differ");
    assert_eq!(kvm.rip, interp.rip);
    assert_eq!(
        kvm.rflags & 0x8D5,
        interp.rflags & 0x8D5,
        "arithmetic flags differ"
    );
    assert_eq!(kvm.segs, interp.segs);
    assert_eq!(kvm.cr0 & 0x8000_0001, interp.cr0 & 0x8000_0001);
    assert_eq!(kvm.efer, interp.efer);
}
