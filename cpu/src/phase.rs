//! The phases of a Linux boot, as the CPU sees them: the decompressor (power-on until the first instruction in the
//! kernel half of the address space, so the firmware and setup code count here too), kernel initialisation (until
//! the first user-mode instruction) and the user workload (until the end, kernel work on its behalf included).
//! The benchmarks report time and instructions per phase, and `-d stats` the engines' counts per phase.
//!
//! The clock advances where an engine starts a block (the interpreter at each block lookup, the translator where
//! a block is translated, which happens where it first runs in its mode) or fetches an instruction on its own: a
//! phase never begins inside a block, since reaching the kernel half or user mode takes a control transfer. So each
//! mark is the exact count of instructions retired before the phase's first instruction.

use std::time::{Duration, Instant};

/// A phase of the boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Firmware, setup code and the kernel's decompressor: everything before the kernel half.
    Decompressor,
    /// The kernel at its link address, until user mode first runs.
    KernelInit,
    /// From the first user-mode instruction on.
    User,
}

impl Phase {
    /// Every phase, in order.
    pub const ALL: [Phase; 3] = [Phase::Decompressor, Phase::KernelInit, Phase::User];

    /// The phase code at `rip` and privilege `cpl` belongs to at the latest (the clock never goes back).
    pub fn of(rip: u64, cpl: u8) -> Phase {
        if cpl == 3 {
            Phase::User
        } else if rip >= KERNEL_HALF {
            Phase::KernelInit
        } else {
            Phase::Decompressor
        }
    }

    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Decompressor => "decompressor",
            Phase::KernelInit => "kernel init",
            Phase::User => "user",
        }
    }
}

/// The first address of the upper (kernel) half of the 48-bit address space.
const KERNEL_HALF: u64 = 0xFFFF_8000_0000_0000;

/// When a phase began.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhaseStart {
    /// Instructions retired before its first instruction.
    pub instructions: u64,
    /// The host time it began.
    pub at: Instant,
}

/// The current phase and when each later one began.
#[derive(Clone, Debug)]
pub struct PhaseClock {
    current: usize,
    /// Per phase after the first, its start once reached.
    starts: [Option<PhaseStart>; 2],
    /// When the clock was made (the CPU's power-on): the first phase's start.
    power_on: Instant,
}

impl Default for PhaseClock {
    fn default() -> Self {
        PhaseClock {
            current: 0,
            starts: [None; 2],
            power_on: Instant::now(),
        }
    }
}

/// One phase of a run: how many instructions it retired and how long it took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhaseSpan {
    /// The phase.
    pub phase: Phase,
    /// Instructions retired in it.
    pub instructions: u64,
    /// Host time spent in it.
    pub time: Duration,
}

impl PhaseClock {
    /// Notes that code at `rip` and privilege `cpl` is about to run for the first time, `instructions` having
    /// retired; true when that begins a new phase.
    #[inline]
    pub fn note(&mut self, rip: u64, cpl: u8, instructions: u64) -> bool {
        if self.current == Phase::ALL.len() - 1 {
            return false;
        }
        let phase = Phase::of(rip, cpl) as usize;
        if phase <= self.current {
            return false;
        }
        let start = Some(PhaseStart {
            instructions,
            at: Instant::now(),
        });
        // A jump straight to user mode also begins the phases it skipped.
        for skipped in self.current..phase {
            self.starts[skipped] = start;
        }
        self.current = phase;
        true
    }

    /// The phase now.
    pub fn current(&self) -> Phase {
        Phase::ALL[self.current]
    }

    /// When `phase` began: `None` for the first phase (it begins at power-on) and for phases not reached.
    pub fn start(&self, phase: Phase) -> Option<PhaseStart> {
        match phase {
            Phase::Decompressor => None,
            later => self.starts[later as usize - 1],
        }
    }

    /// The phases reached so far, from power-on to `now` with `instructions` retired by then.
    pub fn spans(&self, instructions: u64, now: Instant) -> Vec<PhaseSpan> {
        let begin = |phase: Phase| match phase {
            Phase::Decompressor => Some((0, self.power_on)),
            later => self.start(later).map(|s| (s.instructions, s.at)),
        };
        Phase::ALL[..=self.current]
            .iter()
            .enumerate()
            .filter_map(|(k, &phase)| {
                let (from_count, from) = begin(phase)?;
                let (to_count, to) = Phase::ALL
                    .get(k + 1)
                    .and_then(|&next| begin(next))
                    .unwrap_or((instructions, now));
                Some(PhaseSpan {
                    phase,
                    instructions: to_count.saturating_sub(from_count),
                    time: to.saturating_duration_since(from),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KERNEL: u64 = 0xFFFF_FFFF_8100_0000;

    #[test]
    fn the_clock_moves_forward_at_the_kernel_half_and_at_user_mode_only() {
        let mut clock = PhaseClock::default();
        assert!(!clock.note(0x10_0000, 0, 10));
        assert_eq!(clock.current(), Phase::Decompressor);
        assert!(clock.note(KERNEL, 0, 500));
        assert!(
            !clock.note(0x10_0000, 0, 600),
            "low code again does not go back"
        );
        assert_eq!(clock.current(), Phase::KernelInit);
        assert!(clock.note(0x40_1000, 3, 900));
        assert!(
            !clock.note(KERNEL, 0, 1000),
            "the kernel after user mode is still the user phase"
        );
        assert_eq!(clock.current(), Phase::User);
        let marks: Vec<_> = Phase::ALL
            .iter()
            .map(|&p| clock.start(p).map(|s| s.instructions))
            .collect();
        assert_eq!(marks, [None, Some(500), Some(900)]);
    }

    #[test]
    fn spans_split_the_instructions_at_the_marks() {
        let mut clock = PhaseClock::default();
        clock.note(KERNEL, 0, 400);
        let spans = clock.spans(1000, Instant::now());
        let counts: Vec<_> = spans.iter().map(|s| (s.phase, s.instructions)).collect();
        assert_eq!(
            counts,
            [(Phase::Decompressor, 400), (Phase::KernelInit, 600)]
        );
    }

    #[test]
    fn a_jump_straight_to_user_mode_begins_the_skipped_phase_there_too() {
        let mut clock = PhaseClock::default();
        assert!(clock.note(0x40_1000, 3, 77));
        assert_eq!(
            clock.start(Phase::KernelInit).map(|s| s.instructions),
            Some(77)
        );
        assert_eq!(clock.start(Phase::User).map(|s| s.instructions), Some(77));
    }
}
