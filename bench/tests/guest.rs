//! The nanobenchmark guests under the interpreter: every operation reports, the guest powers off, and the ticks grow
//! with the iterations by what each iteration retires.

use vx86_bench::guest::{self, Guest};
use vx86_bench::runner::{self, GuestTime};
use vx86_machine::{EngineKind, Outcome};

/// Runs every operation of `guest` in one machine: (name, iterations, ticks) per operation, checked for order,
/// completeness, the done line and the markers.
fn run_every_op(guest: Guest, time: GuestTime, iterations: u32) -> Vec<(String, u64, u64)> {
    let run = runner::run_guest_with(EngineKind::Interp, time, guest, guest.all_ops(), iterations)
        .expect("machine builds");
    assert_eq!(
        run.outcome,
        Outcome::PowerOff,
        "{guest} output:\n{}",
        run.serial
    );
    let results = guest::parse_results(&run.serial);
    let names: Vec<&str> = results.iter().map(|r| r.0.as_str()).collect();
    let expected: Vec<&str> = guest.ops().iter().map(|o| o.name).collect();
    assert_eq!(names, expected, "{guest}: {}", run.serial);
    assert!(run.serial.trim_end().ends_with(guest::DONE_LINE));
    // Two markers per operation, in order.
    let values: Vec<u32> = run.markers.iter().map(|m| m.0).collect();
    assert_eq!(
        values,
        (0..2 * guest.ops().len() as u32).collect::<Vec<_>>()
    );
    for (name, iters, ticks) in &results {
        assert_eq!(*iters, u64::from(iterations), "{guest} {name}");
        assert!(*ticks > 0, "{guest} {name}: no ticks");
    }
    results
}

#[test]
fn every_operation_of_both_guests_reports_and_the_guest_powers_off_under_the_interpreter() {
    for guest in Guest::ALL {
        run_every_op(guest, GuestTime::Host, 200);
    }
}

#[test]
fn ticks_grow_with_iterations_by_what_each_iteration_retires() {
    // With instruction-driven time the interpreter's TSC counts retired instructions, so 200 more iterations add
    // exactly 200 times the instructions of one.
    for guest in Guest::ALL {
        let few = run_every_op(guest, GuestTime::Instructions, 100);
        let many = run_every_op(guest, GuestTime::Instructions, 300);
        for ((name, _, t1), (_, _, t3)) in few.iter().zip(&many) {
            assert!(t3 > t1, "{guest} {name}: {t1} then {t3} ticks");
            let delta = t3 - t1;
            assert_eq!(
                delta % 200,
                0,
                "{guest} {name}: iterations differ ({delta})"
            );
            let per_iteration = delta / 200;
            // At least the loop's DEC and JNZ and the operation; a trap adds at least its handler's return.
            let least = match name.as_str() {
                "int80" | "sysenter" | "syscall" | "syscall_iret" | "page_fault" | "div_zero" => 4,
                _ => 3,
            };
            assert!(
                per_iteration >= least,
                "{guest} {name}: {per_iteration} instructions"
            );
            // Those without a trap are exact: the body, then DEC and JNZ.
            let exact = match name.as_str() {
                "compute" | "cli_sti" => Some(4), // ADD, XOR / CLI, STI
                "call_ret" => Some(5),            // CALL, RET, JMP
                "port_io" => Some(3),             // IN
                _ => None,
            };
            if let Some(n) = exact {
                assert_eq!(per_iteration, n, "{guest} {name}");
            }
        }
    }
}

#[test]
fn each_operation_alone_gives_ns_per_op_under_the_interpreter() {
    for guest in Guest::ALL {
        let (results, failures) = runner::run_all(EngineKind::Interp, guest, 100, &[]);
        assert!(failures.is_empty(), "{guest}: {failures:?}");
        assert_eq!(results.len(), guest.ops().len());
        assert!(results.iter().all(|r| r.ns_per_op > 0.0), "{results:?}");
    }
}
