//! The one-instruction step every software engine shares: execute one already-decoded instruction with all of the
//! interpreter's bookkeeping (RIP, the instruction count, the interrupt shadow, exception delivery) and say how
//! control flowed. The interpreter's block loop runs on it; the translator's callouts for the instructions it does
//! not translate are its second client.

use crate::bus::Bus;
use crate::exec::fast::Fast;
use crate::Cpu;
use crate::Exit;
use iced_x86::Instruction;

/// How control left an instruction run by [`Cpu::execute_decoded`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// It retired and control goes on to the next instruction in sequence.
    Next,
    /// It retired and control went elsewhere (a taken branch, a far transfer, a software interrupt).
    Jumped,
    /// It raised an exception, which was delivered (or the CPU shut down: see [`Cpu::take_exit`]); it did not
    /// retire.
    Faulted,
}

impl Cpu {
    /// Executes one decoded instruction at the current RIP, which must be `instr.ip()`: clears the interrupt
    /// shadow it inherits, advances RIP, runs it, counts it if it retires, and delivers its exception if it faults
    /// (RIP back at its start). Afterwards [`Cpu::needs_machine`] says whether the engine must return.
    pub fn execute_decoded<B: Bus>(&mut self, bus: &mut B, instr: &Instruction) -> Flow {
        self.execute_with(bus, instr, Fast::Generic)
    }

    /// [`Cpu::execute_decoded`] with the instruction's pre-resolved fast form (the interpreter's block cache).
    #[inline]
    pub(crate) fn execute_with<B: Bus>(
        &mut self,
        bus: &mut B,
        instr: &Instruction,
        fast: Fast,
    ) -> Flow {
        if self.state.debug_active() {
            return self.execute_debugged(bus, instr, fast);
        }
        self.execute_plain(bus, instr, fast)
    }

    /// [`Cpu::execute_with`] without the debug checks.
    #[inline]
    pub(crate) fn execute_plain<B: Bus>(
        &mut self,
        bus: &mut B,
        instr: &Instruction,
        fast: Fast,
    ) -> Flow {
        self.state.interrupt_shadow = false;
        if self.trace.in_asm {
            self.print_instruction(instr);
        }
        let start_rip = self.state.rip;
        let next = instr.next_ip() & self.ip_mask();
        self.state.rip = next;
        let result = match self.execute_fast(bus, fast, instr) {
            Some(result) => result,
            None => self.execute(bus, instr),
        };
        match result {
            Ok(()) => {
                self.instructions += 1;
                if self.state.rip == next {
                    Flow::Next
                } else {
                    Flow::Jumped
                }
            }
            Err(fault) => {
                self.state.rip = start_rip;
                if let Err(exit) = self.deliver_exception(bus, fault) {
                    self.pending_exit = Some(exit);
                }
                Flow::Faulted
            }
        }
    }

    /// Whether the engine must return to the machine now: a device asked it to stop (after port I/O) or the CPU
    /// shut down.
    #[inline]
    pub fn needs_machine(&self) -> bool {
        self.stop || self.pending_exit.is_some()
    }

    /// Why the engine must return, if it must (see [`Cpu::needs_machine`]); clears the request.
    pub fn take_exit(&mut self) -> Option<Exit> {
        if let Some(exit) = self.pending_exit.take() {
            return Some(exit);
        }
        std::mem::take(&mut self.stop).then_some(Exit::DeviceRequest)
    }

    /// Whether the last instructions touched something (MMIO, the end of an interrupt shadow) after which pending
    /// interrupts must be looked at before the next block boundary; clears the note.
    #[inline]
    pub fn take_interrupt_recheck(&mut self) -> bool {
        std::mem::take(&mut self.recheck_interrupts)
    }

    /// Takes a pending external interrupt if the CPU accepts one now, and reports a halted CPU with nothing to do:
    /// what every engine does between blocks.
    #[inline]
    pub fn accept_interrupt<B: Bus>(&mut self, bus: &mut B) -> Option<Exit> {
        if self.nmi_deliverable(bus) {
            self.state.halted = false;
            bus.acknowledge_nmi();
            return self.deliver_nmi(bus).err();
        }
        if self.maskable_deliverable(bus) {
            self.state.halted = false;
            let vector = bus.acknowledge_interrupt();
            return self.deliver_external_interrupt(bus, vector).err();
        }
        if self.state.halted {
            return Some(Exit::Halted);
        }
        None
    }

    /// Whether an interrupt would be taken before the next instruction: an NMI that is not blocked, or a maskable
    /// one with IF set, and no interrupt shadow either way. An engine that goes on from block to block without its
    /// run loop must not do so when this holds (nor when the CPU halted), or it takes the interrupt later than
    /// the interpreter would.
    pub fn interrupt_deliverable<B: Bus>(&self, bus: &mut B) -> bool {
        self.nmi_deliverable(bus) || self.maskable_deliverable(bus)
    }

    /// Ends an STI or MOV SS interrupt shadow that holds nothing back: no interrupt would be taken now without it.
    /// Only for an engine that runs the next instruction before any device can change (within its slice): then no
    /// interrupt can arise for the shadow to hold off, and the engine need not stop to run that instruction apart.
    pub fn end_idle_interrupt_shadow<B: Bus>(&mut self, bus: &mut B) {
        if self.state.interrupt_shadow {
            self.state.interrupt_shadow = false;
            self.state.interrupt_shadow = self.interrupt_deliverable(bus);
        }
    }

    /// An NMI waits and none is in service. The MOV SS and STI shadows hold it back too (the SDM lets a CPU block
    /// NMIs after STI, and this one does, so one rule serves both).
    fn nmi_deliverable<B: Bus>(&self, bus: &B) -> bool {
        !self.state.nmi_blocked && !self.state.interrupt_shadow && bus.nmi_pending()
    }

    /// IF set, no interrupt shadow, and a device requesting an interrupt.
    fn maskable_deliverable<B: Bus>(&self, bus: &B) -> bool {
        self.state.rflags & crate::flags::IF != 0
            && !self.state.interrupt_shadow
            && bus.interrupt_pending()
    }

    /// Re-reads the A20 gate and the board's memory map (after port I/O, and when an engine starts a slice). An
    /// A20 change flushes the TLB; a memory-map change also drops every decoded instruction (see
    /// [`Bus::memory_map_generation`]); device DMA drops the code cached from the pages it wrote (see
    /// [`Bus::take_dma_writes`]).
    pub fn sync_address_map<B: Bus>(&mut self, bus: &mut B) {
        bus.take_dma_writes(&mut |start, len| self.note_device_write(start, len));
        let mask = if bus.a20_enabled() { !0 } else { !(1u64 << 20) };
        if mask != self.a20_mask {
            self.a20_mask = mask;
            self.tlb.flush(false);
        }
        let generation = bus.memory_map_generation();
        if generation != self.memory_map_generation {
            self.memory_map_generation = generation;
            self.tlb.flush(false);
            self.decode_cache.clear();
            self.code_pages.clear_marks();
        }
    }
}

impl Cpu {
    /// Delivers an exception raised outside an instruction (a fetch fault found while looking up a block); a
    /// shutdown is kept for [`Cpu::take_exit`].
    pub fn deliver_fault<B: Bus>(&mut self, bus: &mut B, fault: crate::Fault) {
        self.state.interrupt_shadow = false;
        if let Err(exit) = self.deliver_exception(bus, fault) {
            self.pending_exit = Some(exit);
        }
    }
}
