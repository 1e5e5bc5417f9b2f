//! One processor's local APIC, in xAPIC mode (memory-mapped at [`LAPIC_DEFAULT_BASE`], SDM vol. 3 ch. 11).
//!
//! What it models: the ID, version, task and processor priority (TPR/PPR), EOI, logical destination (LDR/DFR),
//! the spurious-interrupt vector register with the software enable, the 256-bit ISR/TMR/IRR, the interrupt command
//! register, the LVT (timer, thermal, performance counter, LINT0, LINT1, error), the error status register, and
//! the timer in one-shot, periodic and TSC-deadline modes, timed by the shared [`Clock`] at [`APIC_TIMER_HZ`].
//!
//! Interrupt acceptance: [`Lapic::accept`] puts a fixed interrupt into the IRR (from the IOAPIC, an IPI or the
//! timer); [`Lapic::pending_vector`] is the highest IRR vector whose priority class is above the PPR, and
//! [`Lapic::acknowledge`] moves it to the ISR. The 8259's INTR is not an IRR interrupt: it reaches the CPU through
//! LINT0 in ExtINT mode, or directly while the APIC is disabled (see [`Lapic::passes_pic_intr`]).
//!
//! An APIC knows only itself: a write to the ICR returns the [`Ipi`] it describes, and the board, which has every
//! processor's APIC, delivers it ([`crate::pc`]).
//!
//! The APIC base MSR (0x1B) and the TSC-deadline MSR (0x6E0) are state of this device; the CPU's MSR code calls
//! [`Lapic::apic_base`]/[`Lapic::set_apic_base`] and [`Lapic::tsc_deadline`]/[`Lapic::set_tsc_deadline`].

use crate::clock::Clock;
use thiserror::Error;

/// Power-on guest-physical base of the local APIC's register page.
pub const LAPIC_DEFAULT_BASE: u64 = 0xFEE0_0000;
/// Size of the register page.
pub const LAPIC_SIZE: u64 = 0x1000;
/// Input clock of the APIC timer before the divider: a 1 GHz "bus clock", so one tick at divide-by-1 is 1 ns.
/// Linux calibrates the timer against the PIT (or uses TSC-deadline mode), so any value works if it is constant.
pub const APIC_TIMER_HZ: u64 = 1_000_000_000;
/// The IA32_APIC_BASE MSR.
pub const MSR_IA32_APIC_BASE: u32 = 0x1B;
/// The IA32_TSC_DEADLINE MSR.
pub const MSR_IA32_TSC_DEADLINE: u32 = 0x6E0;

/// IA32_APIC_BASE: this is the bootstrap processor (read-only).
pub const APIC_BASE_BSP: u64 = 1 << 8;
/// IA32_APIC_BASE: x2APIC mode enable (not supported: setting it is refused).
pub const APIC_BASE_EXTD: u64 = 1 << 10;
/// IA32_APIC_BASE: APIC global (hardware) enable.
pub const APIC_BASE_ENABLE: u64 = 1 << 11;
/// IA32_APIC_BASE: the page-frame bits (36-bit physical addresses).
pub const APIC_BASE_ADDR_MASK: u64 = 0x0000_000F_FFFF_F000;

/// Register offsets in the APIC page (each register is 32 bits at a 16-byte aligned offset).
pub mod reg {
    /// Local APIC ID (bits 24-31).
    pub const ID: u64 = 0x020;
    /// Version: version in bits 0-7, max LVT entry in bits 16-23.
    pub const VERSION: u64 = 0x030;
    /// Task priority.
    pub const TPR: u64 = 0x080;
    /// Arbitration priority (reads 0: no bus arbitration with one CPU).
    pub const APR: u64 = 0x090;
    /// Processor priority (read only).
    pub const PPR: u64 = 0x0A0;
    /// End of interrupt (write only).
    pub const EOI: u64 = 0x0B0;
    /// Remote read (reads 0).
    pub const RRD: u64 = 0x0C0;
    /// Logical destination (bits 24-31).
    pub const LDR: u64 = 0x0D0;
    /// Destination format (bits 28-31: 0xF flat, 0x0 cluster).
    pub const DFR: u64 = 0x0E0;
    /// Spurious-interrupt vector register.
    pub const SVR: u64 = 0x0F0;
    /// In-service register, 8 x 32 bits at 0x100..0x170.
    pub const ISR: u64 = 0x100;
    /// Trigger-mode register, 8 x 32 bits at 0x180..0x1F0.
    pub const TMR: u64 = 0x180;
    /// Interrupt-request register, 8 x 32 bits at 0x200..0x270.
    pub const IRR: u64 = 0x200;
    /// Error status.
    pub const ESR: u64 = 0x280;
    /// LVT corrected machine check (not implemented: not counted in the max LVT, reads 0).
    pub const LVT_CMCI: u64 = 0x2F0;
    /// Interrupt command, low half (writing it sends the IPI).
    pub const ICR_LOW: u64 = 0x300;
    /// Interrupt command, high half (destination in bits 24-31).
    pub const ICR_HIGH: u64 = 0x310;
    /// LVT timer.
    pub const LVT_TIMER: u64 = 0x320;
    /// LVT thermal sensor.
    pub const LVT_THERMAL: u64 = 0x330;
    /// LVT performance counter.
    pub const LVT_PERF: u64 = 0x340;
    /// LVT LINT0 (the 8259's INTR on a PC).
    pub const LVT_LINT0: u64 = 0x350;
    /// LVT LINT1 (NMI on a PC).
    pub const LVT_LINT1: u64 = 0x360;
    /// LVT error.
    pub const LVT_ERROR: u64 = 0x370;
    /// Timer initial count.
    pub const TIMER_INITIAL: u64 = 0x380;
    /// Timer current count (read only).
    pub const TIMER_CURRENT: u64 = 0x390;
    /// Timer divide configuration.
    pub const TIMER_DIVIDE: u64 = 0x3E0;
}

/// Version register: an integrated APIC (0x14) with max LVT entry 5 (timer, thermal, perf, LINT0, LINT1, error).
pub const LAPIC_VERSION: u32 = 0x0005_0014;
/// SVR: APIC software enable.
pub const SVR_ENABLE: u32 = 1 << 8;
/// SVR: focus processor checking disabled.
pub const SVR_FOCUS_DISABLE: u32 = 1 << 9;
/// LVT: vector bits.
pub const LVT_VECTOR: u32 = 0xFF;
/// LVT: delivery mode bits (8-10; not in the timer and error entries).
pub const LVT_DELIVERY_MODE: u32 = 0x700;
/// LVT/ICR delivery mode: fixed.
pub const DM_FIXED: u32 = 0x000;
/// ICR/IOAPIC delivery mode: lowest priority.
pub const DM_LOWEST: u32 = 0x100;
/// Delivery mode: SMI.
pub const DM_SMI: u32 = 0x200;
/// Delivery mode: NMI.
pub const DM_NMI: u32 = 0x400;
/// Delivery mode: INIT.
pub const DM_INIT: u32 = 0x500;
/// ICR delivery mode: start-up.
pub const DM_STARTUP: u32 = 0x600;
/// LVT delivery mode: external interrupt (the 8259 supplies the vector through an INTA cycle).
pub const DM_EXTINT: u32 = 0x700;
/// LVT/ICR: delivery status (send pending); always reads 0 here, delivery is immediate.
pub const DELIVERY_STATUS: u32 = 1 << 12;
/// LVT: interrupt input pin polarity (LINT0/1; 1 = active low).
pub const LVT_POLARITY: u32 = 1 << 13;
/// LVT: remote IRR (LINT0/1, level triggered; read only).
pub const LVT_REMOTE_IRR: u32 = 1 << 14;
/// LVT: trigger mode (LINT0/1; 1 = level).
pub const LVT_LEVEL: u32 = 1 << 15;
/// LVT: masked.
pub const LVT_MASKED: u32 = 1 << 16;
/// LVT timer: mode field (bits 17-18).
pub const LVT_TIMER_MODE: u32 = 3 << 17;
/// LVT timer mode: one-shot.
pub const TIMER_ONE_SHOT: u32 = 0;
/// LVT timer mode: periodic.
pub const TIMER_PERIODIC: u32 = 1 << 17;
/// LVT timer mode: TSC deadline.
pub const TIMER_TSC_DEADLINE: u32 = 2 << 17;
/// ICR: logical destination mode.
pub const ICR_DEST_LOGICAL: u32 = 1 << 11;
/// ICR: level (assert) bit.
pub const ICR_LEVEL_ASSERT: u32 = 1 << 14;
/// ICR: trigger mode (1 = level).
pub const ICR_TRIGGER_LEVEL: u32 = 1 << 15;
/// ICR: destination shorthand field (bits 18-19).
pub const ICR_SHORTHAND: u32 = 3 << 18;
/// ICR shorthand: none (use the destination field).
pub const SHORTHAND_NONE: u32 = 0;
/// ICR shorthand: self.
pub const SHORTHAND_SELF: u32 = 1 << 18;
/// ICR shorthand: all including self.
pub const SHORTHAND_ALL: u32 = 2 << 18;
/// ICR shorthand: all excluding self.
pub const SHORTHAND_OTHERS: u32 = 3 << 18;
/// ESR: send illegal vector.
pub const ESR_SEND_ILLEGAL_VECTOR: u32 = 1 << 5;
/// ESR: receive illegal vector.
pub const ESR_RECEIVE_ILLEGAL_VECTOR: u32 = 1 << 6;
/// ESR: illegal register address.
pub const ESR_ILLEGAL_REGISTER: u32 = 1 << 7;

/// Number of LVT entries (timer, thermal, perf, LINT0, LINT1, error).
const LVT_COUNT: usize = 6;
/// LVT index of the timer.
const LVT_TIMER_IDX: usize = 0;
/// LVT index of LINT0.
const LVT_LINT0_IDX: usize = 3;
/// LVT index of LINT1.
const LVT_LINT1_IDX: usize = 4;
/// LVT index of the error entry.
const LVT_ERROR_IDX: usize = 5;
/// Writable bits of each LVT entry, by index (the timer has the mode field, LINT0/1 polarity and trigger, the
/// error entry only vector and mask).
const LVT_WRITABLE: [u32; LVT_COUNT] = [
    LVT_VECTOR | LVT_MASKED | LVT_TIMER_MODE,
    LVT_VECTOR | LVT_DELIVERY_MODE | LVT_MASKED,
    LVT_VECTOR | LVT_DELIVERY_MODE | LVT_MASKED,
    LVT_VECTOR | LVT_DELIVERY_MODE | LVT_POLARITY | LVT_LEVEL | LVT_MASKED,
    LVT_VECTOR | LVT_DELIVERY_MODE | LVT_POLARITY | LVT_LEVEL | LVT_MASKED,
    LVT_VECTOR | LVT_MASKED,
];

/// How an interrupt message is delivered (ICR, IOAPIC redirection entry and LVT delivery-mode field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The vector goes to every destination's IRR.
    Fixed,
    /// The vector goes to one of the destinations, the one at the lowest priority.
    LowestPriority,
    /// A system-management interrupt (there is no SMM here: dropped).
    Smi,
    /// A non-maskable interrupt (the vector is ignored).
    Nmi,
    /// INIT: an application processor waits for a start-up IPI (the level de-assert form does nothing).
    Init,
    /// Start-up: a waiting processor begins in real mode at `vector << 12`.
    Startup,
    /// The 8259 supplies the vector through an INTA cycle (not a valid ICR mode).
    ExtInt,
}

impl Delivery {
    /// The delivery-mode field (bits 8-10) of an ICR, LVT or redirection entry.
    pub fn from_field(word: u32) -> Delivery {
        match word & LVT_DELIVERY_MODE {
            DM_FIXED => Delivery::Fixed,
            DM_LOWEST => Delivery::LowestPriority,
            DM_SMI => Delivery::Smi,
            DM_NMI => Delivery::Nmi,
            DM_INIT => Delivery::Init,
            DM_STARTUP => Delivery::Startup,
            _ => Delivery::ExtInt,
        }
    }
}

/// Which APICs an inter-processor interrupt is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpiTargets {
    /// The ICR's destination field, in physical (`logical` false) or logical mode.
    Destination {
        /// Bits 56-63 of the ICR.
        dest: u8,
        /// Logical destination mode.
        logical: bool,
    },
    /// The sender only.
    Myself,
    /// Every APIC, the sender included.
    All,
    /// Every APIC but the sender.
    Others,
}

/// An inter-processor interrupt a write to the ICR sent, for the board to deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipi {
    /// How it is delivered.
    pub delivery: Delivery,
    /// The vector (fixed and lowest priority), or the start-up page (start-up).
    pub vector: u8,
    /// Where it goes.
    pub targets: IpiTargets,
    /// An INIT with the level bit clear and level trigger: the "INIT level de-assert", which does nothing on
    /// processors since the Pentium 4.
    pub deassert: bool,
}

/// What a register write asks of the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteEffect {
    /// An EOI retired this level-triggered vector: broadcast it to the IOAPIC.
    Eoi(u8),
    /// The ICR sent this IPI.
    Ipi(Ipi),
}

/// Why a write to IA32_APIC_BASE was refused (the CPU raises #GP).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ApicBaseError {
    /// x2APIC mode was requested; this APIC is xAPIC only (CPUID does not advertise x2APIC).
    #[error("x2APIC mode (IA32_APIC_BASE bit 10) is not supported")]
    X2ApicUnsupported,
    /// Reserved bits were set.
    #[error("reserved bits set in IA32_APIC_BASE value {0:#x}")]
    Reserved(u64),
}

/// A 256-bit interrupt register (ISR, TMR, IRR) as 8 words, bit `v` for vector `v`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Bits256([u32; 8]);

impl Bits256 {
    fn set(&mut self, v: u8) {
        self.0[usize::from(v >> 5)] |= 1 << (v & 31);
    }
    fn clear(&mut self, v: u8) {
        self.0[usize::from(v >> 5)] &= !(1 << (v & 31));
    }
    fn get(&self, v: u8) -> bool {
        self.0[usize::from(v >> 5)] & (1 << (v & 31)) != 0
    }
    /// The highest set vector.
    fn highest(&self) -> Option<u8> {
        (0..8usize)
            .rev()
            .find(|&i| self.0[i] != 0)
            .map(|i| (i as u32 * 32 + 31 - self.0[i].leading_zeros()) as u8)
    }
}

/// The timer's running state in one-shot and periodic modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Countdown {
    /// Clock time at which the count (re)started from the initial count.
    start_ns: u64,
    /// Clock time of the next expiry (None: a one-shot count that has already expired).
    next_ns: Option<u64>,
}

/// One local APIC (xAPIC).
#[derive(Debug, Clone)]
pub struct Lapic {
    /// Time source of the timer.
    clock: Clock,
    /// IA32_APIC_BASE MSR value (base address, enable, BSP).
    base_msr: u64,
    /// APIC ID (bits 24-31 of the ID register).
    id: u8,
    /// The APIC ID at power-on: the processor's index on the board (processor 0 is the bootstrap processor).
    initial_id: u8,
    /// Task priority (bits 0-7).
    tpr: u8,
    /// Logical destination register (bits 24-31 significant).
    ldr: u32,
    /// Destination format register (bits 28-31 significant, the rest read as ones).
    dfr: u32,
    /// Spurious-interrupt vector register (vector, software enable, focus check).
    svr: u32,
    /// In-service register.
    isr: Bits256,
    /// Trigger-mode register (1: the accepted interrupt was level triggered; its EOI is broadcast).
    tmr: Bits256,
    /// Interrupt-request register.
    irr: Bits256,
    /// Error status as last latched by a write to the ESR.
    esr: u32,
    /// Errors collected since the last ESR write.
    esr_pending: u32,
    /// Interrupt command register (low: bits 0-31, high: bits 32-63).
    icr: u64,
    /// Local vector table: timer, thermal, perf, LINT0, LINT1, error.
    lvt: [u32; LVT_COUNT],
    /// Timer initial count.
    initial_count: u32,
    /// Timer divide configuration register (bits 0, 1 and 3).
    divide: u32,
    /// The one-shot/periodic countdown, if the timer is running.
    countdown: Option<Countdown>,
    /// IA32_TSC_DEADLINE as the guest wrote it (0: disarmed).
    tsc_deadline: u64,
    /// Clock time at which the armed TSC deadline passes.
    deadline_ns: Option<u64>,
}

impl Lapic {
    /// The APIC of processor `id` at power-on: enabled in IA32_APIC_BASE at [`LAPIC_DEFAULT_BASE`] (with the BSP
    /// bit for processor 0), software disabled (SVR = 0xFF), every LVT entry masked.
    pub fn new(clock: Clock, id: u8) -> Self {
        let bsp = if id == 0 { APIC_BASE_BSP } else { 0 };
        Self {
            clock,
            base_msr: LAPIC_DEFAULT_BASE | APIC_BASE_ENABLE | bsp,
            id,
            initial_id: id,
            tpr: 0,
            ldr: 0,
            dfr: 0xFFFF_FFFF,
            svr: 0xFF,
            isr: Bits256::default(),
            tmr: Bits256::default(),
            irr: Bits256::default(),
            esr: 0,
            esr_pending: 0,
            icr: 0,
            lvt: [LVT_MASKED; LVT_COUNT],
            initial_count: 0,
            divide: 0,
            countdown: None,
            tsc_deadline: 0,
            deadline_ns: None,
        }
    }

    /// Back to the power-on state (keeps the clock and the processor's initial APIC ID): a board reset.
    pub fn reset(&mut self) {
        *self = Self::new(self.clock.clone(), self.initial_id);
    }

    /// INIT (SDM vol. 3, 11.4.7.3): back to the power-on state, except for the APIC ID and IA32_APIC_BASE.
    pub fn init(&mut self) {
        let (base, id) = (self.base_msr, self.id);
        self.reset();
        self.base_msr = base;
        self.id = id;
    }

    /// The APIC ID register's value (bits 24-31).
    pub fn id(&self) -> u8 {
        self.id
    }

    // ----- IA32_APIC_BASE and IA32_TSC_DEADLINE, for the CPU's RDMSR/WRMSR -----

    /// The IA32_APIC_BASE MSR (0x1B) value: base address, enable (bit 11), BSP (bit 8).
    pub fn apic_base(&self) -> u64 {
        self.base_msr
    }

    /// WRMSR IA32_APIC_BASE: relocates the register page and sets the global enable. Clearing the enable puts the
    /// APIC in its power-on state (SDM 11.4.3); the BSP bit is read only. An error means the CPU raises #GP.
    pub fn set_apic_base(&mut self, value: u64) -> Result<(), ApicBaseError> {
        if value & APIC_BASE_EXTD != 0 {
            return Err(ApicBaseError::X2ApicUnsupported);
        }
        let writable = APIC_BASE_ADDR_MASK | APIC_BASE_ENABLE | APIC_BASE_BSP;
        if value & !writable != 0 {
            return Err(ApicBaseError::Reserved(value));
        }
        let was_enabled = self.hw_enabled();
        if was_enabled && value & APIC_BASE_ENABLE == 0 {
            self.reset();
        }
        let bsp = self.base_msr & APIC_BASE_BSP;
        self.base_msr = (value & (APIC_BASE_ADDR_MASK | APIC_BASE_ENABLE)) | bsp;
        Ok(())
    }

    /// Guest-physical address of the register page.
    pub fn mmio_base(&self) -> u64 {
        self.base_msr & APIC_BASE_ADDR_MASK
    }

    /// Whether `paddr` falls in the register page of an enabled APIC.
    pub fn claims(&self, paddr: u64) -> bool {
        self.hw_enabled() && paddr & !(LAPIC_SIZE - 1) == self.mmio_base()
    }

    /// RDMSR IA32_TSC_DEADLINE: the armed deadline, 0 once it fired or when the timer is not in TSC-deadline mode.
    pub fn tsc_deadline(&self) -> u64 {
        if self.timer_mode() == TIMER_TSC_DEADLINE {
            self.tsc_deadline
        } else {
            0
        }
    }

    /// WRMSR IA32_TSC_DEADLINE: arms the timer to fire when the TSC reaches `deadline` (0 disarms). `tsc_now` is
    /// the guest's TSC at the time of the write and `tsc_hz` its frequency, so the deadline becomes a clock time.
    /// Ignored unless the LVT timer is in TSC-deadline mode (SDM 11.5.4.1).
    pub fn set_tsc_deadline(&mut self, deadline: u64, tsc_now: u64, tsc_hz: u64) {
        if self.timer_mode() != TIMER_TSC_DEADLINE {
            return;
        }
        self.tsc_deadline = deadline;
        self.deadline_ns = if deadline == 0 {
            None
        } else {
            let ticks = deadline.saturating_sub(tsc_now);
            let ns = u128::from(ticks) * 1_000_000_000 / u128::from(tsc_hz.max(1));
            Some(
                self.clock
                    .now_ns()
                    .saturating_add(u64::try_from(ns).unwrap_or(u64::MAX)),
            )
        };
    }

    /// The task priority register (for MOV from CR8, which reads TPR bits 7-4 in 64-bit mode).
    pub fn tpr(&self) -> u8 {
        self.tpr
    }

    /// Sets the task priority register (MOV to CR8 writes `cr8 << 4`).
    pub fn set_tpr(&mut self, tpr: u8) {
        self.tpr = tpr;
    }

    // ----- Interrupt acceptance -----

    /// Whether the global (IA32_APIC_BASE) enable is set.
    pub fn hw_enabled(&self) -> bool {
        self.base_msr & APIC_BASE_ENABLE != 0
    }

    /// Whether the APIC is globally and software enabled: it delivers its own interrupts.
    pub fn enabled(&self) -> bool {
        self.hw_enabled() && self.svr & SVR_ENABLE != 0
    }

    /// Whether the 8259's INTR output reaches the CPU: directly when the APIC is globally or software disabled (as
    /// on a PC in virtual-wire mode), else through LINT0 when that is unmasked and in ExtINT mode.
    pub fn passes_pic_intr(&self) -> bool {
        if !self.enabled() {
            return true;
        }
        let lint0 = self.lvt[LVT_LINT0_IDX];
        lint0 & LVT_MASKED == 0 && lint0 & LVT_DELIVERY_MODE == DM_EXTINT
    }

    /// Accepts a fixed interrupt into the IRR (`level`: level triggered, so its EOI is broadcast to the IOAPIC).
    /// Vectors 0-15 are illegal: they set the receive-illegal-vector error instead.
    pub fn accept(&mut self, vector: u8, level: bool) {
        if vector < 16 {
            self.error(ESR_RECEIVE_ILLEGAL_VECTOR);
            return;
        }
        self.irr.set(vector);
        if level {
            self.tmr.set(vector);
        } else {
            self.tmr.clear(vector);
        }
    }

    /// Processor priority: the TPR, or the class of the highest in-service vector if that is higher.
    pub fn ppr(&self) -> u8 {
        let isrv = self.isr.highest().unwrap_or(0);
        if self.tpr & 0xF0 >= isrv & 0xF0 {
            self.tpr
        } else {
            isrv & 0xF0
        }
    }

    /// The IRR vector the APIC would deliver now: the highest one whose priority class is above the PPR's.
    pub fn pending_vector(&self) -> Option<u8> {
        if !self.enabled() {
            return None;
        }
        let v = self.irr.highest()?;
        (v & 0xF0 > self.ppr() & 0xF0).then_some(v)
    }

    /// The CPU takes the interrupt: the pending vector moves from the IRR to the ISR. With nothing pending any more
    /// the answer is the spurious vector, which sets no ISR bit.
    pub fn acknowledge(&mut self) -> u8 {
        match self.pending_vector() {
            Some(v) => {
                self.irr.clear(v);
                self.isr.set(v);
                v
            }
            None => self.svr as u8,
        }
    }

    /// EOI: retires the highest in-service vector. Returns it if it was level triggered, for the board to
    /// broadcast to the IOAPIC (which clears the remote IRR of the entries with that vector).
    pub fn eoi(&mut self) -> Option<u8> {
        let v = self.isr.highest()?;
        self.isr.clear(v);
        self.tmr.get(v).then_some(v)
    }

    /// Whether this APIC is a target of `dest` in physical (`logical` false) or logical destination mode.
    pub fn matches_destination(&self, dest: u8, logical: bool) -> bool {
        if !logical {
            return dest == 0xFF || dest == self.id;
        }
        let ldr = (self.ldr >> 24) as u8;
        if self.dfr >> 28 == 0xF {
            // Flat model: one bit per APIC.
            dest & ldr != 0
        } else {
            // Cluster model: high nibble cluster (0xF broadcast), low nibble a bit per APIC within it.
            (dest >> 4 == ldr >> 4 || dest >> 4 == 0xF) && dest & ldr & 0x0F != 0
        }
    }

    // ----- Timer -----

    fn timer_mode(&self) -> u32 {
        self.lvt[LVT_TIMER_IDX] & LVT_TIMER_MODE
    }

    /// The divider the divide configuration register selects (1 to 128).
    fn divider(&self) -> u64 {
        let code = (self.divide & 3) | ((self.divide >> 1) & 4);
        1 << ((code + 1) & 7)
    }

    /// Clock nanoseconds for `ticks` timer ticks at the current divider.
    fn ticks_to_ns(&self, ticks: u64) -> u64 {
        let ns = u128::from(ticks) * u128::from(self.divider()) * 1_000_000_000
            / u128::from(APIC_TIMER_HZ);
        u64::try_from(ns).unwrap_or(u64::MAX)
    }

    /// Whole timer ticks in `ns` clock nanoseconds at the current divider.
    fn ns_to_ticks(&self, ns: u64) -> u64 {
        let t = u128::from(ns) * u128::from(APIC_TIMER_HZ)
            / (1_000_000_000 * u128::from(self.divider()));
        u64::try_from(t).unwrap_or(u64::MAX)
    }

    /// The current-count register now.
    fn current_count(&self) -> u32 {
        let Some(cd) = self.countdown else {
            return 0;
        };
        let initial = u64::from(self.initial_count);
        let elapsed = self.ns_to_ticks(self.clock.now_ns().saturating_sub(cd.start_ns));
        if self.timer_mode() == TIMER_PERIODIC {
            (initial - elapsed % initial) as u32
        } else if elapsed >= initial {
            0
        } else {
            (initial - elapsed) as u32
        }
    }

    /// (Re)starts the countdown from the initial count at `start_ns`, or stops it when the count is 0 or the timer
    /// is in TSC-deadline mode.
    fn start_countdown(&mut self, start_ns: u64) {
        self.countdown =
            (self.initial_count != 0 && self.timer_mode() != TIMER_TSC_DEADLINE).then(|| {
                let period = self.ticks_to_ns(u64::from(self.initial_count)).max(1);
                Countdown {
                    start_ns,
                    next_ns: Some(start_ns.saturating_add(period)),
                }
            });
    }

    /// The next expiry of a running countdown after it started at `start_ns`, given that the last one passed was
    /// at or before `now`.
    fn next_periodic_expiry(&self, start_ns: u64, now: u64) -> u64 {
        let period = self.ticks_to_ns(u64::from(self.initial_count)).max(1);
        let periods = now.saturating_sub(start_ns) / period + 1;
        start_ns.saturating_add(periods.saturating_mul(period))
    }

    /// Clock time of the timer's next interrupt, if one is scheduled (a masked timer still counts, so it is
    /// reported too; the machine only uses this to know when to poll).
    pub fn next_timer_ns(&self) -> Option<u64> {
        if self.timer_mode() == TIMER_TSC_DEADLINE {
            self.deadline_ns
        } else {
            self.countdown.and_then(|c| c.next_ns)
        }
    }

    /// Moves the timer to the clock's present: an expiry puts the timer vector in the IRR unless the LVT entry is
    /// masked. Several periods passed at once give one interrupt (the IRR holds one).
    pub fn poll(&mut self) {
        let now = self.clock.now_ns();
        let fired = if self.timer_mode() == TIMER_TSC_DEADLINE {
            match self.deadline_ns {
                Some(t) if now >= t => {
                    self.deadline_ns = None;
                    self.tsc_deadline = 0;
                    true
                }
                _ => false,
            }
        } else {
            match self.countdown {
                Some(Countdown {
                    start_ns,
                    next_ns: Some(t),
                }) if now >= t => {
                    let next = (self.timer_mode() == TIMER_PERIODIC)
                        .then(|| self.next_periodic_expiry(start_ns, now));
                    self.countdown = Some(Countdown {
                        start_ns,
                        next_ns: next,
                    });
                    true
                }
                _ => false,
            }
        };
        let lvt = self.lvt[LVT_TIMER_IDX];
        if fired && lvt & LVT_MASKED == 0 {
            self.accept(lvt as u8, false);
        }
    }

    // ----- Register access -----

    /// Records an error in the ESR and raises the error LVT interrupt if it is unmasked.
    fn error(&mut self, bits: u32) {
        self.esr_pending |= bits;
        let lvt = self.lvt[LVT_ERROR_IDX];
        if lvt & LVT_MASKED == 0 && lvt as u8 >= 16 {
            self.irr.set(lvt as u8);
            self.tmr.clear(lvt as u8);
        }
    }

    /// Reads the 32-bit register at `offset` (16-byte aligned) in the page. Unknown offsets read 0.
    pub fn read_register(&self, offset: u64) -> u32 {
        let word = ((offset >> 4) & 7) as usize;
        match offset & 0xFF0 {
            reg::ID => u32::from(self.id) << 24,
            reg::VERSION => LAPIC_VERSION,
            reg::TPR => u32::from(self.tpr),
            reg::PPR => u32::from(self.ppr()),
            reg::LDR => self.ldr,
            reg::DFR => self.dfr,
            reg::SVR => self.svr,
            0x100..=0x170 => self.isr.0[word],
            0x180..=0x1F0 => self.tmr.0[word],
            0x200..=0x270 => self.irr.0[word],
            reg::ESR => self.esr,
            reg::ICR_LOW => self.icr as u32 & !DELIVERY_STATUS,
            reg::ICR_HIGH => (self.icr >> 32) as u32,
            0x320..=0x370 => self.lvt[((offset & 0xFF0) - reg::LVT_TIMER) as usize >> 4],
            reg::TIMER_INITIAL => self.initial_count,
            reg::TIMER_CURRENT => self.current_count(),
            reg::TIMER_DIVIDE => self.divide,
            _ => 0,
        }
    }

    /// Writes the 32-bit register at `offset`. Returns what the board must do about it: broadcast an EOI of a
    /// level-triggered interrupt to the IOAPIC, or deliver an IPI. Read-only and unknown registers ignore writes.
    pub fn write_register(&mut self, offset: u64, value: u32) -> Option<WriteEffect> {
        match offset & 0xFF0 {
            reg::ID => self.id = (value >> 24) as u8,
            reg::TPR => self.tpr = value as u8,
            reg::EOI => return self.eoi().map(WriteEffect::Eoi),
            reg::LDR => self.ldr = value & 0xFF00_0000,
            reg::DFR => self.dfr = value | 0x0FFF_FFFF,
            reg::SVR => {
                self.svr = value & (0xFF | SVR_ENABLE | SVR_FOCUS_DISABLE);
                if value & SVR_ENABLE == 0 {
                    // Software disable masks every LVT entry (SDM 11.4.7.2).
                    for e in &mut self.lvt {
                        *e |= LVT_MASKED;
                    }
                }
            }
            reg::ESR => {
                self.esr = self.esr_pending;
                self.esr_pending = 0;
            }
            reg::ICR_LOW => {
                self.icr = (self.icr & !0xFFFF_FFFF) | u64::from(value & !DELIVERY_STATUS);
                return self.ipi().map(WriteEffect::Ipi);
            }
            reg::ICR_HIGH => {
                self.icr = (self.icr & 0xFFFF_FFFF) | u64::from(value & 0xFF00_0000) << 32;
            }
            0x320..=0x370 => {
                let idx = ((offset & 0xFF0) - reg::LVT_TIMER) as usize >> 4;
                self.write_lvt(idx, value);
            }
            reg::TIMER_INITIAL if self.timer_mode() != TIMER_TSC_DEADLINE => {
                self.initial_count = value;
                self.start_countdown(self.clock.now_ns());
            }
            reg::TIMER_DIVIDE => {
                // Keep the count where it is and continue at the new rate.
                let current = self.current_count();
                self.divide = value & 0xB;
                if let Some(cd) = self.countdown {
                    let now = self.clock.now_ns();
                    let done = u64::from(self.initial_count - current.min(self.initial_count));
                    let start = now.saturating_sub(self.ticks_to_ns(done));
                    let next = if cd.next_ns.is_some() || self.timer_mode() == TIMER_PERIODIC {
                        Some(self.next_periodic_expiry(start, now))
                    } else {
                        None
                    };
                    self.countdown = Some(Countdown {
                        start_ns: start,
                        next_ns: next,
                    });
                }
            }
            _ => {}
        }
        None
    }

    fn write_lvt(&mut self, idx: usize, value: u32) {
        let mut v = value & LVT_WRITABLE[idx];
        if self.svr & SVR_ENABLE == 0 {
            v |= LVT_MASKED;
        }
        let old = self.lvt[idx];
        self.lvt[idx] = (old & LVT_REMOTE_IRR) | v;
        if idx == LVT_TIMER_IDX && (old ^ v) & LVT_TIMER_MODE != 0 {
            let to_deadline = v & LVT_TIMER_MODE == TIMER_TSC_DEADLINE;
            let from_deadline = old & LVT_TIMER_MODE == TIMER_TSC_DEADLINE;
            if to_deadline || from_deadline {
                // Switching to or from TSC-deadline mode disarms the timer (SDM 11.5.4.1).
                self.initial_count = 0;
                self.countdown = None;
                self.tsc_deadline = 0;
                self.deadline_ns = None;
            } else if let Some(cd) = self.countdown {
                // One-shot <-> periodic: the count goes on; a periodic timer always has a next expiry.
                let now = self.clock.now_ns();
                let elapsed = self.ns_to_ticks(now.saturating_sub(cd.start_ns));
                let next = if v & LVT_TIMER_MODE == TIMER_PERIODIC {
                    Some(self.next_periodic_expiry(cd.start_ns, now))
                } else if elapsed < u64::from(self.initial_count) {
                    cd.next_ns
                } else {
                    None
                };
                self.countdown = Some(Countdown {
                    start_ns: cd.start_ns,
                    next_ns: next,
                });
            }
        }
    }

    /// The IPI the ICR now describes, or None when it sends nothing: a fixed or lowest-priority IPI with an illegal
    /// vector (0-15) sets the send-illegal-vector error instead.
    fn ipi(&mut self) -> Option<Ipi> {
        let low = self.icr as u32;
        let delivery = Delivery::from_field(low);
        if matches!(delivery, Delivery::Fixed | Delivery::LowestPriority) && (low as u8) < 16 {
            self.error(ESR_SEND_ILLEGAL_VECTOR);
            return None;
        }
        let targets = match low & ICR_SHORTHAND {
            SHORTHAND_SELF => IpiTargets::Myself,
            SHORTHAND_ALL => IpiTargets::All,
            SHORTHAND_OTHERS => IpiTargets::Others,
            _ => IpiTargets::Destination {
                dest: (self.icr >> 56) as u8,
                logical: low & ICR_DEST_LOGICAL != 0,
            },
        };
        Some(Ipi {
            delivery,
            vector: low as u8,
            targets,
            deassert: delivery == Delivery::Init
                && low & ICR_TRIGGER_LEVEL != 0
                && low & ICR_LEVEL_ASSERT == 0,
        })
    }

    /// What LINT1 does with the board's NMI line: `Some(Delivery::Nmi)` (or another mode) when the entry is
    /// unmasked, and NMI straight through when the APIC is globally disabled (SDM vol. 3, 11.4.3); None when masked.
    pub fn lint1_delivery(&self) -> Option<Delivery> {
        if !self.hw_enabled() {
            return Some(Delivery::Nmi);
        }
        let lint1 = self.lvt[LVT_LINT1_IDX];
        (lint1 & LVT_MASKED == 0).then(|| Delivery::from_field(lint1))
    }

    /// The LINT1 entry's vector (for a LINT1 programmed as a fixed interrupt).
    pub fn lint1_vector(&self) -> u8 {
        self.lvt[LVT_LINT1_IDX] as u8
    }
}

#[cfg(test)]
mod tests;
