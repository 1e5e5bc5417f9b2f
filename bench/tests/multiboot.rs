//! The nanobenchmark guest's multiboot image booted by vx86's own multiboot loader under the interpreter: its
//! entry stub leaves the CPU in exactly the guest's start state with the memory image in place, and the guest runs
//! from there to its results and power-off, as it does when loaded directly.

use vx86_bench::guest::{self, Guest, CODE_ADDR};
use vx86_bench::runner::{self, GuestTime};
use vx86_machine::capture::SerialCapture;
use vx86_machine::loader::KernelRequest;
use vx86_machine::{boot, EngineKind, Outcome, Vm};

/// A machine that has loaded `guest`'s multiboot image for `op_mask` and is at its entry point.
fn booted(guest: Guest, op_mask: u32, iterations: u32) -> (Vm, SerialCapture) {
    let serial = SerialCapture::new();
    let config = runner::config(Some(serial.clone()), GuestTime::Host);
    let mut vm = Vm::with_engine(config, EngineKind::Interp).expect("machine builds");
    let image = guest.multiboot_image(op_mask, iterations);
    let request = KernelRequest {
        kernel: &image,
        ..KernelRequest::default()
    };
    boot::prepare(&mut vm, &request).expect("vx86's multiboot loader takes the image");
    (vm, serial)
}

#[test]
fn the_entry_stub_reaches_the_start_state_with_the_memory_image_in_place() {
    for guest in Guest::ALL {
        let (mut vm, _) = booted(guest, guest.all_ops(), 100);
        let mut steps = 0;
        while vm.cpu.state.rip != u64::from(CODE_ADDR) {
            vm.cpu.run(&mut vm.board, 1);
            steps += 1;
            assert!(
                steps < 1_000_000,
                "{guest}: the stub never reached the guest"
            );
        }
        assert_eq!(vm.cpu.state, guest.start_state(), "{guest}");
        // The stub's last instructions ran with the guest's paging, whose walks set accessed and dirty bits (5
        // and 6 of an entry's low byte), as the guest's own first instructions would; nothing else may differ.
        const ACCESSED_DIRTY: u8 = 0x60;
        for (addr, bytes) in guest.memory_image(guest.all_ops(), 100) {
            let mut found = vec![0; bytes.len()];
            vm.board.memory.read_phys(u64::from(addr), &mut found);
            for (k, (f, b)) in found.iter().zip(&bytes).enumerate() {
                let set = f ^ b;
                assert!(
                    set == 0 || (f & set == set && set & !ACCESSED_DIRTY == 0 && k % 8 == 0),
                    "{guest}: {:#x} holds {f:#04x}, not {b:#04x}",
                    addr as usize + k
                );
            }
        }
    }
}

#[test]
fn the_guest_booted_from_its_multiboot_image_reports_every_operation_and_powers_off() {
    for guest in Guest::ALL {
        let (mut vm, serial) = booted(guest, guest.all_ops(), 100);
        let (outcome, _) = vm.run();
        let out = serial.text();
        assert_eq!(outcome, Outcome::PowerOff, "{guest}: {out}");
        let names: Vec<String> = guest::parse_results(&out)
            .into_iter()
            .map(|r| r.0)
            .collect();
        let expected: Vec<&str> = guest.ops().iter().map(|o| o.name).collect();
        assert_eq!(names, expected, "{guest}: {out}");
    }
}
