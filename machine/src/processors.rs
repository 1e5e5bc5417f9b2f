//! The machine's processors (`-smp N`) and which one runs: the software engines run them in turn on one host
//! thread, a slice each, in a fixed round-robin order, so a run replays exactly under `-icount` whatever the
//! host does.
//!
//! One [`Cpu`] runs at a time; the others wait as [`VcpuContext`]s (see `vx86_cpu::vcpu` for what is switched and
//! what is shared). Processor 0 is the bootstrap processor; the application processors start in the
//! wait-for-SIPI state and begin only when some processor sends them INIT and a start-up IPI through its APIC,
//! as on a PC (Intel MP specification, appendix B.4).

use vx86_cpu::state::SegReg;
use vx86_cpu::{flags, Cpu, CpuState, VcpuContext};
use vx86_devices::{PcDevices, StartupSignal};

/// Every processor but the running one, and which ones wait for a start-up IPI.
pub struct Processors {
    /// Processor `i`'s state while it does not run; the running processor's slot holds a spare context.
    parked: Vec<VcpuContext>,
    /// Processor `i` is in the wait-for-SIPI state (after power-on for an application processor, or an INIT).
    waiting_for_sipi: Vec<bool>,
    /// The processor whose state is in the [`Cpu`].
    current: usize,
}

impl Processors {
    /// `count` processors (at least one) at power-on: processor 0 runs, the others wait for a start-up IPI.
    pub fn new(count: usize) -> Processors {
        let count = count.max(1);
        Processors {
            parked: (0..count).map(|i| VcpuContext::new(i as u8)).collect(),
            waiting_for_sipi: (0..count).map(|i| i != 0).collect(),
            current: 0,
        }
    }

    /// Number of processors.
    pub fn count(&self) -> usize {
        self.parked.len()
    }

    /// The processor whose state is in the `Cpu`.
    pub fn current(&self) -> usize {
        self.current
    }

    /// Processor `i`'s registers, with `cpu` running the current one.
    pub fn state<'a>(&'a self, cpu: &'a Cpu, i: usize) -> &'a CpuState {
        if i == self.current {
            &cpu.state
        } else {
            &self.parked[i].state
        }
    }

    /// Makes processor `next` the running one: its state goes into `cpu`, the running one's is parked, and the
    /// devices answer for `next`'s APIC. False when `next` was already running (nothing changed).
    pub fn switch_to(&mut self, next: usize, cpu: &mut Cpu, devices: &mut PcDevices) -> bool {
        if next == self.current {
            return false;
        }
        // Slot `next` holds the incoming processor and slot `current` the spare: swap the two slots, then swap
        // the incoming one with the running one.
        self.parked.swap(self.current, next);
        cpu.switch_context(&mut self.parked[self.current]);
        self.current = next;
        devices.apics_mut().set_current(next);
        true
    }

    /// Applies INIT and start-up signals the APICs sent: INIT puts an application processor in the
    /// wait-for-SIPI state (the bootstrap processor restarts at the reset vector), a start-up IPI starts a
    /// waiting processor in real mode at `page << 12`.
    pub fn apply_signals(&mut self, cpu: &mut Cpu, devices: &mut PcDevices) {
        while let Some((i, signal)) = devices.apics_mut().take_startup() {
            if i >= self.count() {
                continue;
            }
            match signal {
                StartupSignal::Init => {
                    if i == self.current {
                        cpu.init();
                    } else {
                        self.parked[i].init();
                    }
                    self.waiting_for_sipi[i] = i != 0;
                }
                StartupSignal::Startup(page) if self.waiting_for_sipi[i] => {
                    let state = if i == self.current {
                        &mut cpu.state
                    } else {
                        &mut self.parked[i].state
                    };
                    let cs = &mut state.segs[SegReg::Cs as usize];
                    cs.selector = u16::from(page) << 8;
                    cs.base = u64::from(page) << 12;
                    state.rip = 0;
                    self.waiting_for_sipi[i] = false;
                }
                StartupSignal::Startup(_) => {}
            }
        }
    }

    /// Whether processor `i` has something to do: it does not wait for a start-up IPI, and it is not halted or
    /// an interrupt it accepts wakes it.
    fn runnable(&self, i: usize, cpu: &Cpu, devices: &PcDevices) -> bool {
        if self.waiting_for_sipi[i] {
            return false;
        }
        let state = self.state(cpu, i);
        let nmi = devices.apics().nmi_pending(i) && !state.nmi_blocked;
        let intr = state.rflags & flags::IF != 0 && devices.interrupt_pending_for(i);
        !state.halted || nmi || intr
    }

    /// The next processor to run, round robin after the running one (which comes last), if any can run.
    pub fn next_runnable(&self, cpu: &Cpu, devices: &PcDevices) -> Option<usize> {
        let n = self.count();
        (1..=n)
            .map(|k| (self.current + k) % n)
            .find(|&i| self.runnable(i, cpu, devices))
    }

    /// Whether any processor could still be woken by a device: one that runs (not waiting for a start-up IPI)
    /// with interrupts enabled, or with an NMI waiting.
    pub fn any_can_wake(&self, cpu: &Cpu, devices: &PcDevices) -> bool {
        (0..self.count()).any(|i| {
            !self.waiting_for_sipi[i]
                && (self.state(cpu, i).rflags & flags::IF != 0 || devices.apics().nmi_pending(i))
        })
    }

    /// A machine reset: processor 0 runs again from its reset state (the caller resets `cpu`), the others are
    /// back at power-on, waiting for a start-up IPI.
    pub fn reset(&mut self, cpu: &mut Cpu, devices: &mut PcDevices) {
        let _ = self.switch_to(0, cpu, devices);
        for (i, context) in self.parked.iter_mut().enumerate().skip(1) {
            context.init();
            self.waiting_for_sipi[i] = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vx86_devices::{Clock, PcConfig};

    fn devices(cpus: usize) -> PcDevices {
        PcDevices::new(PcConfig {
            clock: Clock::virtual_time(),
            ram_bytes: 16 << 20,
            cpus,
            serial_out: None,
            serial_in: None,
            ide: Default::default(),
            trace_post: false,
            trace_unassigned_ports: false,
            debugcon_out: None,
            pc_testdev: false,
        })
    }

    #[test]
    fn application_processors_wait_for_startup_then_take_turns() {
        let (mut cpu, mut pcs) = (Cpu::new(), devices(3));
        let mut p = Processors::new(3);
        assert_eq!(
            p.next_runnable(&cpu, &pcs),
            Some(0),
            "only the BSP runs at power-on"
        );
        // The application processors wait for a start-up IPI from power-on: one each, at its own page.
        pcs.apics_mut().set_current(0);
        for (target, vector) in [(1u8, 0x9Au8), (2, 0x9B)] {
            pcs.mmio_write(0xFEE0_0310, 4, u64::from(target) << 24);
            pcs.mmio_write(0xFEE0_0300, 4, 0x600 | u64::from(vector));
        }
        p.apply_signals(&mut cpu, &mut pcs);
        assert_eq!(p.state(&cpu, 1).segs[SegReg::Cs as usize].selector, 0x9A00);
        assert_eq!(p.state(&cpu, 2).segs[SegReg::Cs as usize].base, 0x9B000);
        assert_eq!(p.state(&cpu, 2).rip, 0);
        // Round robin from the running one.
        assert_eq!(p.next_runnable(&cpu, &pcs), Some(1));
        assert!(p.switch_to(1, &mut cpu, &mut pcs));
        assert_eq!(cpu.apic_id(), 1);
        assert_eq!(pcs.apics().current(), 1);
        assert_eq!(p.next_runnable(&cpu, &pcs), Some(2));
        // A halted processor with nothing pending is passed over; a second SIPI to a running one is ignored.
        cpu.state.halted = true;
        assert!(p.switch_to(2, &mut cpu, &mut pcs));
        assert_eq!(p.next_runnable(&cpu, &pcs), Some(0));
        pcs.mmio_write(0xFEE0_0310, 4, 1 << 24);
        pcs.mmio_write(0xFEE0_0300, 4, 0x600 | 0x10);
        p.apply_signals(&mut cpu, &mut pcs);
        assert_eq!(p.state(&cpu, 1).segs[SegReg::Cs as usize].selector, 0x9A00);
        // INIT puts it back to waiting; the machine reset brings processor 0 back in front.
        pcs.mmio_write(0xFEE0_0300, 4, 0x4500);
        p.apply_signals(&mut cpu, &mut pcs);
        assert!(p.waiting_for_sipi[1]);
        p.reset(&mut cpu, &mut pcs);
        assert_eq!((p.current(), cpu.apic_id()), (0, 0));
        assert!(p.waiting_for_sipi[1] && p.waiting_for_sipi[2]);
    }
}
