//! Every processor's local APIC and the messages between them: IPIs from one APIC's ICR, the IOAPIC's interrupt
//! messages, the board's NMI line, and the INIT and start-up signals that the machine turns into processor state.
//!
//! The machine runs one processor at a time (see `vx86_cpu::vcpu`); [`ApicBus::set_current`] says which, and
//! the CPU-facing questions (is an interrupt or an NMI pending, take it, the TPR) are about that one. An IPI or
//! NMI for another processor asks the running one to yield ([`ApicBus::take_yield`]), so the target runs soon
//! rather than at the end of the running processor's slice.

use crate::clock::Clock;
use crate::ioapic::Delivery as IoApicMessage;
use crate::lapic::{Delivery, Ipi, IpiTargets, Lapic};
use std::collections::VecDeque;

/// A start-up signal for the machine to apply to a processor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartupSignal {
    /// INIT: the processor goes to its power-on state and waits for a start-up IPI (its APIC has been INITed).
    Init,
    /// Start-up IPI: a processor waiting after INIT starts in real mode at CS = `page << 8`, IP = 0 (others
    /// ignore it).
    Startup(u8),
}

/// The local APICs of every processor on the board.
#[derive(Debug, Clone)]
pub struct ApicBus {
    lapics: Vec<Lapic>,
    /// The processor the machine is running.
    current: usize,
    /// An NMI waits for processor `i`.
    nmi: Vec<bool>,
    /// Start-up signals not yet taken by the machine, in order, with their processor.
    startups: VecDeque<(usize, StartupSignal)>,
    /// Something arrived for a processor that is not running: the running one should let the machine switch.
    yield_requested: bool,
}

impl ApicBus {
    /// `cpus` (at least one) APICs with IDs 0, 1, ...; processor 0 is the bootstrap processor.
    pub fn new(clock: &Clock, cpus: usize) -> ApicBus {
        let cpus = cpus.max(1);
        ApicBus {
            lapics: (0..cpus)
                .map(|i| Lapic::new(clock.clone(), i as u8))
                .collect(),
            current: 0,
            nmi: vec![false; cpus],
            startups: VecDeque::new(),
            yield_requested: false,
        }
    }

    /// Number of processors.
    pub fn len(&self) -> usize {
        self.lapics.len()
    }

    /// Always false: a board has at least one processor.
    pub fn is_empty(&self) -> bool {
        self.lapics.is_empty()
    }

    /// Which processor is running.
    pub fn current(&self) -> usize {
        self.current
    }

    /// The machine switched to processor `cpu`.
    pub fn set_current(&mut self, cpu: usize) {
        self.current = cpu.min(self.lapics.len() - 1);
    }

    /// The running processor's APIC.
    pub fn lapic(&self) -> &Lapic {
        &self.lapics[self.current]
    }

    /// The running processor's APIC, to change.
    pub fn lapic_mut(&mut self) -> &mut Lapic {
        &mut self.lapics[self.current]
    }

    /// Processor `cpu`'s APIC.
    pub fn lapic_of(&self, cpu: usize) -> Option<&Lapic> {
        self.lapics.get(cpu)
    }

    /// Whether an NMI waits for processor `cpu`.
    pub fn nmi_pending(&self, cpu: usize) -> bool {
        self.nmi.get(cpu).copied().unwrap_or(false)
    }

    /// The running processor takes its waiting NMI.
    pub fn acknowledge_nmi(&mut self) {
        self.nmi[self.current] = false;
    }

    /// The oldest start-up signal the machine has not applied yet.
    pub fn take_startup(&mut self) -> Option<(usize, StartupSignal)> {
        self.startups.pop_front()
    }

    /// Whether the running processor should yield to the machine (and forgets it).
    pub fn take_yield(&mut self) -> bool {
        std::mem::take(&mut self.yield_requested)
    }

    /// Whether a yield is asked for (see [`ApicBus::take_yield`]).
    pub fn yield_requested(&self) -> bool {
        self.yield_requested
    }

    /// Moves every APIC timer to the clock's present.
    pub fn poll(&mut self) {
        for lapic in &mut self.lapics {
            lapic.poll();
        }
    }

    /// The earliest next timer event of any APIC.
    pub fn next_timer_ns(&self) -> Option<u64> {
        self.lapics.iter().filter_map(Lapic::next_timer_ns).min()
    }

    /// A board reset: every APIC to power-on, nothing pending, processor 0 running.
    pub fn reset(&mut self) {
        for lapic in &mut self.lapics {
            lapic.reset();
        }
        self.nmi.fill(false);
        self.startups.clear();
        self.yield_requested = false;
        self.current = 0;
    }

    /// Delivers an IPI sent by the running processor's APIC.
    pub fn send_ipi(&mut self, ipi: Ipi) {
        let from = self.current;
        let targets: Vec<usize> = (0..self.lapics.len())
            .filter(|&i| match ipi.targets {
                IpiTargets::Myself => i == from,
                IpiTargets::All => true,
                IpiTargets::Others => i != from,
                IpiTargets::Destination { dest, logical } => {
                    self.lapics[i].matches_destination(dest, logical)
                }
            })
            .collect();
        match ipi.delivery {
            Delivery::Fixed => {
                for cpu in targets {
                    self.accept(cpu, ipi.vector, false);
                }
            }
            Delivery::LowestPriority => {
                if let Some(cpu) = self.lowest_priority(&targets) {
                    self.accept(cpu, ipi.vector, false);
                }
            }
            Delivery::Nmi => {
                for cpu in targets {
                    self.raise_nmi(cpu);
                }
            }
            Delivery::Init if !ipi.deassert => {
                for cpu in targets {
                    self.lapics[cpu].init();
                    self.nmi[cpu] = false;
                    self.signal(cpu, StartupSignal::Init);
                }
            }
            Delivery::Startup => {
                for cpu in targets {
                    self.signal(cpu, StartupSignal::Startup(ipi.vector));
                }
            }
            Delivery::Init | Delivery::Smi | Delivery::ExtInt => {}
        }
    }

    /// Delivers an IOAPIC interrupt message to the APICs it is addressed to.
    pub fn deliver_message(&mut self, message: IoApicMessage) {
        let targets: Vec<usize> = (0..self.lapics.len())
            .filter(|&i| {
                self.lapics[i].hw_enabled()
                    && self.lapics[i].matches_destination(message.dest, message.logical)
            })
            .collect();
        if message.lowest_priority {
            if let Some(cpu) = self.lowest_priority(&targets) {
                self.accept(cpu, message.vector, message.level);
            }
        } else {
            for cpu in targets {
                self.accept(cpu, message.vector, message.level);
            }
        }
    }

    /// The board's NMI line: each APIC's LINT1 decides (an NMI, a fixed vector, or masked); a globally disabled
    /// APIC passes the NMI straight to its processor.
    pub fn board_nmi(&mut self) {
        for cpu in 0..self.lapics.len() {
            match self.lapics[cpu].lint1_delivery() {
                Some(Delivery::Nmi) => self.raise_nmi(cpu),
                Some(Delivery::Fixed) => {
                    let vector = self.lapics[cpu].lint1_vector();
                    self.accept(cpu, vector, false);
                }
                _ => {}
            }
        }
    }

    /// The processor of `targets` whose APIC has the lowest task priority (the first one on a tie).
    fn lowest_priority(&self, targets: &[usize]) -> Option<usize> {
        targets
            .iter()
            .copied()
            .min_by_key(|&cpu| self.lapics[cpu].tpr())
    }

    fn accept(&mut self, cpu: usize, vector: u8, level: bool) {
        self.lapics[cpu].accept(vector, level);
        self.wake(cpu);
    }

    fn raise_nmi(&mut self, cpu: usize) {
        self.nmi[cpu] = true;
        self.wake(cpu);
    }

    fn signal(&mut self, cpu: usize, signal: StartupSignal) {
        self.startups.push_back((cpu, signal));
        // The machine applies start-up signals between slices: end this one, even for a signal to itself.
        self.yield_requested = true;
    }

    /// Something arrived for `cpu`: if it is not the running processor, the running one should yield.
    fn wake(&mut self, cpu: usize) {
        if cpu != self.current {
            self.yield_requested = true;
        }
    }
}

#[cfg(test)]
mod tests;
