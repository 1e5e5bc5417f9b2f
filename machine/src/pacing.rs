//! How guest time follows the guest: with retired instructions or with the host's clock, chosen per engine, and how
//! a halted CPU waits for its next device event.
//!
//! The interpreter runs guest code perhaps fifty times slower than hardware. Were guest time host time, a stretch
//! the guest spends with interrupts off would last long enough to lose timer ticks, and Linux's clocksource watchdog
//! would see its jiffies fall behind the TSC and mark the TSC unstable. So under an engine that counts instructions
//! guest time advances with the instructions retired (a 1 GHz CPU: [`crate::board::VIRTUAL_NS_PER_INSTRUCTION`]),
//! as under `-icount`, and only a halted CPU waits in host time: a guest that sleeps for a second sleeps for a host
//! second. An engine that cannot count instructions (KVM) follows the host's clock.

use crate::board::Board;
use crate::engine::ExecutionEngine;
use crate::vm::VmError;
use std::time::{Duration, Instant};
use vx86_devices::Clock;

/// The longest a halted CPU sleeps before checking for host input again.
const MAX_IDLE_SLEEP: Duration = Duration::from_millis(2);

/// How guest time relates to host time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pacing {
    /// `-icount`: instructions, and idle periods skipped, so a run replays exactly.
    Deterministic,
    /// The default of an engine that counts instructions: instructions, and idle periods spent in host time.
    InstructionsAndHostIdle,
    /// An engine that cannot count instructions: the host's clock.
    Host,
}

impl Pacing {
    /// The pacing of `engine`, `deterministic` for `-icount`; refuses `-icount` and an `instruction_limit`
    /// (`-max-instructions`) when the engine cannot count instructions.
    pub fn for_engine(
        engine: &dyn ExecutionEngine,
        deterministic: bool,
        instruction_limit: Option<u64>,
    ) -> Result<Pacing, VmError> {
        let counts = engine.counts_instructions();
        let refuse = |option: &str| {
            let name = engine.kind().to_string().to_uppercase();
            VmError::Unsupported(format!(
                "{option} needs -accel interp or bt: {name} cannot count guest instructions"
            ))
        };
        match (counts, deterministic) {
            (false, true) => Err(refuse("-icount")),
            (false, false) if instruction_limit.is_some() => Err(refuse("-max-instructions")),
            (false, false) => Ok(Pacing::Host),
            (true, true) => Ok(Pacing::Deterministic),
            (true, false) => Ok(Pacing::InstructionsAndHostIdle),
        }
    }

    /// A new guest clock paced this way.
    pub fn clock(self) -> Clock {
        match self {
            Pacing::Deterministic => Clock::virtual_time(),
            Pacing::InstructionsAndHostIdle => Clock::virtual_time_at(host_unix_secs()),
            Pacing::Host => Clock::host(),
        }
    }

    /// The CPU is halted: waits (in host or guest time) until a device on `board` may have an interrupt for it.
    /// Returns false when none ever will (no device event is due and guest time only moves with instructions).
    pub fn wait_for_event(self, board: &mut Board) -> bool {
        let clock = board.devices.clock().clone();
        let now = clock.now_ns();
        let next = board.devices.next_event_ns();
        match self {
            Pacing::Deterministic => match next {
                Some(t) => {
                    // Skip ahead to the event; instruction-derived time resumes from there.
                    let target = t.max(now + 1);
                    board.idle_ns += target - now;
                    clock.advance_to_ns(target);
                }
                None => return false,
            },
            Pacing::InstructionsAndHostIdle => {
                // Sleep as the host would, then let guest time catch up by what the sleep took.
                let slept = sleep_until_event(now, next);
                board.idle_ns += slept;
                clock.advance_to_ns(now + slept);
            }
            Pacing::Host => {
                sleep_until_event(now, next);
            }
        }
        true
    }
}

/// Sleeps until the clock (now at `now` ns) reaches the next device event, at most [`MAX_IDLE_SLEEP`] so that host
/// input is noticed; returns the nanoseconds slept.
fn sleep_until_event(now: u64, next: Option<u64>) -> u64 {
    let wait = next.map_or(MAX_IDLE_SLEEP, |t| {
        Duration::from_nanos(t.saturating_sub(now)).min(MAX_IDLE_SLEEP)
    });
    if wait.is_zero() {
        return 0;
    }
    let start = Instant::now();
    std::thread::sleep(wait);
    start.elapsed().as_nanos() as u64
}

/// The host's wall-clock time in Unix seconds (the RTC of a paced guest starts there).
fn host_unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{interp::InterpEngine, EngineKind};
    use vx86_cpu::{Cpu, Exit};

    /// An engine like KVM, that cannot count instructions (it is never run).
    struct Uncounting;

    impl ExecutionEngine for Uncounting {
        fn kind(&self) -> EngineKind {
            EngineKind::Kvm
        }
        fn counts_instructions(&self) -> bool {
            false
        }
        fn run(&mut self, _: &mut Cpu, _: &mut Board, _: u64) -> Exit {
            unreachable!("pacing never runs the engine")
        }
        fn stats_report(&self, _: &Cpu, _: u64) -> String {
            String::new()
        }
    }

    #[test]
    fn only_engines_that_count_instructions_take_icount_and_an_instruction_limit() {
        let refusal = |deterministic, limit| {
            Pacing::for_engine(&Uncounting, deterministic, limit)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            refusal(true, None),
            "-icount needs -accel interp or bt: KVM cannot count guest instructions"
        );
        assert_eq!(
            refusal(false, Some(1)),
            "-max-instructions needs -accel interp or bt: KVM cannot count guest instructions"
        );
        let pacing = |engine: &dyn ExecutionEngine, deterministic, limit| {
            Pacing::for_engine(engine, deterministic, limit).unwrap()
        };
        assert_eq!(pacing(&Uncounting, false, None), Pacing::Host);
        assert_eq!(pacing(&InterpEngine, true, Some(1)), Pacing::Deterministic);
        assert_eq!(
            pacing(&InterpEngine, false, None),
            Pacing::InstructionsAndHostIdle
        );
    }
}
