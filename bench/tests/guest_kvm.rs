//! The nanobenchmark guests and a fixed workload under kvm, compared with the interpreter. Where /dev/kvm is
//! missing or unusable these tests say so and return (and fail under `CI=true`).

use vx86_bench::guest::{self, Guest};
use vx86_bench::runner::{self, GuestTime};
use vx86_cpu::testing::skip_outside_ci;
use vx86_machine::engine::HostVirt;
use vx86_machine::{EngineKind, Outcome, Vm};

/// The host's virtualisation support when KVM is usable; `None`, after saying why (a failure under `CI=true`), when
/// not.
fn kvm_or_skip() -> Option<HostVirt> {
    let host = HostVirt::probe();
    match &host.kvm {
        Ok(()) => Some(host),
        Err(why) => {
            skip_outside_ci(format_args!("kvm unavailable: {why}"));
            None
        }
    }
}

/// Runs each operation of `guest` alone under kvm: those that run report their own line, for the iterations asked,
/// with a non-zero tick count, and power off. Returns the refused ones with how their run ended. (How the ticks grow
/// with the iterations is checked under the interpreter, where time is exact: under kvm it is the host's, and a
/// few hundred native iterations can take less than one host interruption.)
fn refused_under_kvm(guest: Guest) -> Vec<(&'static str, String)> {
    let mut refused = Vec::new();
    for (k, op) in guest.ops().iter().enumerate() {
        let iterations = 300;
        let run =
            runner::run_guest(EngineKind::Kvm, guest, 1 << k, iterations).expect("machine builds");
        if run.outcome != Outcome::PowerOff {
            refused.push((
                op.name,
                format!("{:?}: {}", run.outcome, run.serial.trim_end()),
            ));
            continue;
        }
        let results = guest::parse_results(&run.serial);
        assert_eq!(results.len(), 1, "{guest}: {}", run.serial);
        assert_eq!(
            (results[0].0.as_str(), results[0].1),
            (op.name, u64::from(iterations))
        );
        assert!(results[0].2 > 0, "{guest} {}: no ticks", op.name);
        assert!(run.serial.trim_end().ends_with(guest::DONE_LINE));
    }
    refused
}

#[test]
fn the_nanobenchmark_guests_under_kvm_run_what_the_host_allows() {
    let Some(host) = kvm_or_skip() else { return };
    for guest in Guest::ALL {
        let refused = refused_under_kvm(guest);
        if host.hardware {
            assert!(refused.is_empty(), "hardware KVM refused: {refused:?}");
            continue;
        }
        // PVM: guest kernel mode is emulated by the host. It refuses the 32-bit guest's IRETD and 32-bit paging, so
        // only its ring-0 operations without paging run; in the 64-bit guest it turns INT 0x80 from ring 3 into #UD
        // and SYSRETQ into #GP, and runs everything else.
        eprintln!("kvm (PVM) refused, {guest}: {refused:?}");
        let may_refuse = |name: &str| match guest {
            Guest::Protected32 => !matches!(name, "port_io" | "cli_sti"),
            Guest::Long64 => matches!(name, "int80" | "syscall"),
        };
        for (name, why) in &refused {
            assert!(may_refuse(name), "{guest}: {name} refused: {why}");
        }
    }
}

/// A fixed ring-0 workload (no IRET, no paging change, so even PVM runs it): fills 4 KiB with a hash sequence,
/// reads a device port, and powers off. In 64-bit code it also moves the sum through R9.
fn workload(guest: Guest) -> Vec<u8> {
    use iced_x86::code_asm::*;
    let bits = guest.bits();
    let mut a = CodeAssembler::new(bits).unwrap();
    let mut top = a.create_label();
    a.mov(edi, 0x40000u32).unwrap();
    a.mov(ecx, 1024u32).unwrap();
    a.mov(eax, 0x1234_5678u32).unwrap();
    a.xor(ebx, ebx).unwrap();
    a.set_label(&mut top).unwrap();
    a.imul_3(eax, eax, 1_103_515_245i32).unwrap();
    a.add(eax, 12345).unwrap();
    if bits == 64 {
        a.mov(dword_ptr(rdi), eax).unwrap();
    } else {
        a.mov(dword_ptr(edi), eax).unwrap();
    }
    a.add(ebx, eax).unwrap();
    a.rol(ebx, 3).unwrap();
    a.add(edi, 4).unwrap();
    a.dec(ecx).unwrap();
    a.jnz(top).unwrap();
    if bits == 64 {
        a.mov(r9, rbx).unwrap();
        a.shl(r9, 7).unwrap();
    }
    a.in_(al, 0x21).unwrap(); // PIC mask register: 0 after power-on.
    a.movzx(esi, al).unwrap();
    a.mov(ebp, 0xCAFEu32).unwrap();
    a.mov(dx, 0x604u32).unwrap();
    a.mov(ax, 0x2000u32).unwrap();
    a.out(dx, ax).unwrap();
    a.hlt().unwrap();
    a.assemble(u64::from(guest::CODE_ADDR)).unwrap()
}

fn run_workload(engine: EngineKind, guest: Guest) -> (Outcome, vx86_cpu::CpuState, u64) {
    let mut vm =
        Vm::with_engine(runner::config(None, GuestTime::Host), engine).expect("machine builds");
    for (addr, bytes) in guest.memory_image(0, 1) {
        vm.write_phys(u64::from(addr), &bytes);
    }
    vm.write_phys(u64::from(guest::CODE_ADDR), &workload(guest));
    vm.cpu.state = guest.start_state();
    let (outcome, _) = vm.run();
    let mut mem = vec![0u8; 4096];
    vm.board.memory.read_phys(0x40000, &mut mem);
    let checksum = mem.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    (outcome, vm.cpu.state.clone(), checksum)
}

#[test]
fn a_fixed_workload_gives_the_same_registers_and_memory_under_interp_and_kvm_in_both_modes() {
    let kvm = kvm_or_skip();
    for guest in Guest::ALL {
        let (outcome, interp, interp_sum) = run_workload(EngineKind::Interp, guest);
        assert_eq!(outcome, Outcome::PowerOff, "{guest}");
        assert_eq!(interp.gpr[vx86_cpu::state::gpr::RBP], 0xCAFE);
        assert_eq!(interp.mode64(), guest == Guest::Long64);
        if kvm.is_none() {
            continue;
        }
        // The start state went through the kvm engine's conversion (EFER, CR0/3/4, CS.L, TR) and back.
        let (outcome, kvm, kvm_sum) = run_workload(EngineKind::Kvm, guest);
        assert_eq!(outcome, Outcome::PowerOff, "{guest}");
        assert_eq!(kvm_sum, interp_sum, "{guest}: memory differs");
        assert_eq!(kvm.gpr, interp.gpr, "{guest}: general registers differ");
        assert_eq!(kvm.rip, interp.rip, "{guest}");
        // The workload's last flag writer is a SHL by 7 (64-bit) or a DEC: CF, PF, ZF and SF are defined, while
        // AF and OF after a shift by more than one are not, and KVM gets them from the host's ALU (Intel's leave
        // them otherwise than the interpreter's documented choice).
        assert_eq!(
            kvm.rflags & 0xC5,
            interp.rflags & 0xC5,
            "{guest}: arithmetic flags differ"
        );
        assert_eq!(kvm.segs, interp.segs, "{guest}");
        assert_eq!(kvm.cr0 & 0x8000_0001, interp.cr0 & 0x8000_0001, "{guest}");
        assert_eq!(kvm.cr3, interp.cr3, "{guest}");
        assert_eq!(kvm.efer, interp.efer, "{guest}");
        assert_eq!(kvm.mode64(), guest == Guest::Long64, "{guest}");
    }
}
