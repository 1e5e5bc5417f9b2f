//! The nanobenchmark guest under the interpreter: every operation reports and the guest powers off.

use vx86_bench::guest::{self, OPS};
use vx86_bench::runner;
use vx86_machine::{EngineKind, Outcome};

const ALL: u32 = (1 << OPS.len()) - 1;

#[test]
fn every_operation_reports_and_the_guest_powers_off_under_the_interpreter() {
    let run = runner::run_guest(EngineKind::Interp, ALL, 200).expect("machine builds");
    assert_eq!(
        run.outcome,
        Outcome::PowerOff,
        "guest output:\n{}",
        run.serial
    );
    let results = guest::parse_results(&run.serial);
    let names: Vec<&str> = results.iter().map(|r| r.0.as_str()).collect();
    let expected: Vec<&str> = OPS.iter().map(|o| o.name).collect();
    assert_eq!(names, expected, "{}", run.serial);
    for (name, iters, ticks) in &results {
        assert_eq!(*iters, 200, "{name}");
        // The interpreter's TSC counts instructions: at least the loop's DEC and JNZ per iteration.
        assert!(*ticks >= 2 * 200, "{name}: {ticks} ticks");
    }
    assert!(run.serial.trim_end().ends_with(guest::DONE_LINE));
    // Two markers per operation, in order.
    let values: Vec<u32> = run.markers.iter().map(|m| m.0).collect();
    assert_eq!(values, (0..2 * OPS.len() as u32).collect::<Vec<_>>());
}

#[test]
fn each_operation_alone_gives_ns_per_op_under_the_interpreter() {
    let (results, failures) = runner::run_all(EngineKind::Interp, 100);
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(results.len(), OPS.len());
    assert!(results.iter().all(|r| r.ns_per_op > 0.0));
}
