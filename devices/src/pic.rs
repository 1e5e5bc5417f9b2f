//! Intel 8259A programmable interrupt controller pair (master at 0x20/0x21, slave at 0xA0/0xA1 cascaded on the
//! master's IR2) plus the PIIX edge/level control registers (ELCR) at 0x4D0/0x4D1.

use crate::bus::{IoDevice, OPEN_BUS};

/// Master command port (ICW1, OCW2, OCW3; reads IRR/ISR).
pub const PIC_MASTER_CMD: u16 = 0x20;
/// Master data port (ICW2-4, OCW1 = IMR).
pub const PIC_MASTER_DATA: u16 = 0x21;
/// Slave command port.
pub const PIC_SLAVE_CMD: u16 = 0xA0;
/// Slave data port.
pub const PIC_SLAVE_DATA: u16 = 0xA1;
/// ELCR for IRQ0-7 (1 = level triggered).
pub const ELCR_MASTER: u16 = 0x4D0;
/// ELCR for IRQ8-15.
pub const ELCR_SLAVE: u16 = 0x4D1;

/// ICW1: ICW4 needed.
const ICW1_IC4: u8 = 0x01;
/// ICW1: single (no cascade).
const ICW1_SNGL: u8 = 0x02;
/// ICW1: level-triggered mode for all inputs.
const ICW1_LTIM: u8 = 0x08;
/// ICW1 is recognised by this bit on the command port.
const ICW1_INIT: u8 = 0x10;
/// OCW3 is recognised by this bit (with bit 4 clear) on the command port.
const OCW3_SELECT: u8 = 0x08;
/// OCW3: poll command.
const OCW3_P: u8 = 0x04;
/// OCW3: read register command (RR); with RIS selects ISR (1) or IRR (0).
const OCW3_RR: u8 = 0x02;
/// OCW3: read ISR on next read.
const OCW3_RIS: u8 = 0x01;
/// OCW3: enable special mask mode change (ESMM).
const OCW3_ESMM: u8 = 0x40;
/// OCW3: special mask mode (SMM).
const OCW3_SMM: u8 = 0x20;
/// ICW4: automatic end of interrupt.
const ICW4_AEOI: u8 = 0x02;
/// ICW4: special fully nested mode.
const ICW4_SFNM: u8 = 0x10;
/// The master input the slave's INT output drives.
const CASCADE_IRQ: u8 = 2;
/// Which master ELCR bits exist (IRQ0, 1 and 2 are always edge).
const ELCR_MASTER_MASK: u8 = 0xF8;
/// Which slave ELCR bits exist (IRQ8 and IRQ13 are always edge).
const ELCR_SLAVE_MASK: u8 = 0xDE;

/// Where a chip is in its ICW1-ICW4 initialisation sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InitState {
    /// Initialised: data port writes are OCW1.
    Ready,
    /// Waiting for ICW2 (vector base).
    Icw2,
    /// Waiting for ICW3 (cascade wiring).
    Icw3,
    /// Waiting for ICW4 (mode).
    Icw4,
}

/// One 8259A.
#[derive(Debug, Clone)]
struct Pic8259 {
    /// Interrupt request register.
    irr: u8,
    /// In-service register.
    isr: u8,
    /// Interrupt mask register (OCW1).
    imr: u8,
    /// Current level of each input line, for edge detection.
    line: u8,
    /// Edge/level control (1 = level), from the ELCR.
    elcr: u8,
    /// Which ELCR bits are writable.
    elcr_mask: u8,
    /// ICW1 LTIM: every input level triggered.
    ltim: bool,
    /// ICW2: vector of IR0 (low 3 bits zero).
    vector_base: u8,
    /// Which IR has the lowest priority minus 7 (rotation); IR `priority_add` has the highest priority.
    priority_add: u8,
    /// Initialisation sequence state.
    init: InitState,
    /// ICW1 IC4: an ICW4 follows.
    icw4_needed: bool,
    /// ICW1 SNGL: no ICW3.
    single: bool,
    /// OCW3: command port reads return ISR (else IRR).
    read_isr: bool,
    /// OCW3: the next read is a poll.
    poll: bool,
    /// OCW3 special mask mode.
    special_mask: bool,
    /// ICW4 AEOI.
    auto_eoi: bool,
    /// OCW2: rotate priorities on automatic EOI.
    rotate_on_auto_eoi: bool,
    /// ICW4 SFNM.
    special_fully_nested: bool,
    /// This chip is the master (its IR2 is the cascade).
    is_master: bool,
}

impl Pic8259 {
    fn new(is_master: bool) -> Self {
        Self {
            irr: 0,
            isr: 0,
            imr: 0,
            line: 0,
            elcr: 0,
            elcr_mask: if is_master {
                ELCR_MASTER_MASK
            } else {
                ELCR_SLAVE_MASK
            },
            ltim: false,
            vector_base: if is_master { 0x08 } else { 0x70 },
            priority_add: 0,
            init: InitState::Ready,
            icw4_needed: false,
            single: false,
            read_isr: false,
            poll: false,
            special_mask: false,
            auto_eoi: false,
            rotate_on_auto_eoi: false,
            special_fully_nested: false,
            is_master,
        }
    }

    fn level_mask(&self) -> u8 {
        if self.ltim {
            0xFF
        } else {
            self.elcr
        }
    }

    /// Drives input `irq` (0-7) to `level`.
    fn set_irq(&mut self, irq: u8, level: bool) {
        let mask = 1u8 << (irq & 7);
        if self.level_mask() & mask != 0 {
            if level {
                self.irr |= mask;
            } else {
                self.irr &= !mask;
            }
        } else if level && self.line & mask == 0 {
            self.irr |= mask;
        }
        if level {
            self.line |= mask;
        } else {
            self.line &= !mask;
        }
    }

    /// Priority (0 = highest) of the highest-priority bit in `mask`.
    fn priority(&self, mask: u8) -> Option<u8> {
        (0..8u8).find(|&p| mask & (1 << ((p + self.priority_add) & 7)) != 0)
    }

    /// The IR this chip would present on INTA now, if any.
    fn pending_irq(&self) -> Option<u8> {
        let req = self.priority(self.irr & !self.imr)?;
        let mut in_service = self.isr;
        if self.special_mask {
            in_service &= !self.imr;
        }
        if self.is_master && self.special_fully_nested {
            in_service &= !(1 << CASCADE_IRQ);
        }
        let cur = self.priority(in_service).unwrap_or(8);
        (req < cur).then_some((req + self.priority_add) & 7)
    }

    /// The INTA cycle's bookkeeping for `irq`.
    fn ack(&mut self, irq: u8) {
        let mask = 1u8 << (irq & 7);
        if self.auto_eoi {
            if self.rotate_on_auto_eoi {
                self.priority_add = (irq + 1) & 7;
            }
        } else {
            self.isr |= mask;
        }
        let cascade = self.is_master && irq == CASCADE_IRQ;
        if self.level_mask() & mask == 0 && !cascade {
            self.irr &= !mask;
        }
    }

    /// OCW3 poll: acknowledges the highest request and reports it as 0x80 | IR, or 0 if none.
    fn poll_read(&mut self) -> u8 {
        self.poll = false;
        match self.pending_irq() {
            Some(irq) => {
                self.ack(irq);
                0x80 | irq
            }
            None => 0,
        }
    }

    fn write_command(&mut self, val: u8) {
        if val & ICW1_INIT != 0 {
            self.irr &= self.level_mask() & self.line;
            self.isr = 0;
            self.imr = 0;
            self.priority_add = 0;
            self.read_isr = false;
            self.poll = false;
            self.special_mask = false;
            self.auto_eoi = false;
            self.rotate_on_auto_eoi = false;
            self.special_fully_nested = false;
            self.icw4_needed = val & ICW1_IC4 != 0;
            self.single = val & ICW1_SNGL != 0;
            self.ltim = val & ICW1_LTIM != 0;
            self.init = InitState::Icw2;
        } else if val & OCW3_SELECT != 0 {
            if val & OCW3_P != 0 {
                self.poll = true;
            }
            if val & OCW3_RR != 0 {
                self.read_isr = val & OCW3_RIS != 0;
            }
            if val & OCW3_ESMM != 0 {
                self.special_mask = val & OCW3_SMM != 0;
            }
        } else {
            // OCW2: R, SL, EOI in bits 7-5, level in bits 2-0.
            let level = val & 7;
            match val >> 5 {
                0b000 => self.rotate_on_auto_eoi = false,
                0b100 => self.rotate_on_auto_eoi = true,
                0b001 | 0b101 => {
                    if let Some(p) = self.priority(self.isr) {
                        let irq = (p + self.priority_add) & 7;
                        self.isr &= !(1 << irq);
                        if val >> 5 == 0b101 {
                            self.priority_add = (irq + 1) & 7;
                        }
                    }
                }
                0b011 => self.isr &= !(1 << level),
                0b111 => {
                    self.isr &= !(1 << level);
                    self.priority_add = (level + 1) & 7;
                }
                0b110 => self.priority_add = (level + 1) & 7,
                _ => {} // 0b010: no operation
            }
        }
    }

    fn write_data(&mut self, val: u8) {
        match self.init {
            InitState::Ready => self.imr = val,
            InitState::Icw2 => {
                self.vector_base = val & 0xF8;
                self.init = match (self.single, self.icw4_needed) {
                    (false, _) => InitState::Icw3,
                    (true, true) => InitState::Icw4,
                    (true, false) => InitState::Ready,
                };
            }
            InitState::Icw3 => {
                self.init = if self.icw4_needed {
                    InitState::Icw4
                } else {
                    InitState::Ready
                };
            }
            InitState::Icw4 => {
                self.auto_eoi = val & ICW4_AEOI != 0;
                self.special_fully_nested = val & ICW4_SFNM != 0;
                self.init = InitState::Ready;
            }
        }
    }

    fn read_command(&mut self) -> u8 {
        if self.poll {
            self.poll_read()
        } else if self.read_isr {
            self.isr
        } else {
            self.irr
        }
    }

    fn read_data(&mut self) -> u8 {
        if self.poll {
            self.poll_read()
        } else {
            self.imr
        }
    }

    fn write_elcr(&mut self, val: u8) {
        self.elcr = val & self.elcr_mask;
        // Level-triggered inputs follow their line from now on.
        let level = self.level_mask();
        self.irr = (self.irr & !level) | (self.line & level);
    }
}

/// The cascaded master/slave 8259A pair of a PC: IRQ0-7 on the master, IRQ8-15 on the slave, whose INT output is
/// the master's IR2. Power-on vector bases are 0x08 and 0x70 (firmware reprograms them).
#[derive(Debug, Clone)]
pub struct PicPair {
    /// The master chip (index 0) and the slave chip (index 1).
    chips: [Pic8259; 2],
}

impl Default for PicPair {
    fn default() -> Self {
        Self::new()
    }
}

impl PicPair {
    /// A pair in power-on state: nothing masked, all inputs edge triggered.
    pub fn new() -> Self {
        Self {
            chips: [Pic8259::new(true), Pic8259::new(false)],
        }
    }

    /// Drives ISA interrupt line `irq` (0-15) to `level`. IRQ2 is the cascade and cannot be driven.
    pub fn set_irq(&mut self, irq: u8, level: bool) {
        match irq {
            0..=7 if irq != CASCADE_IRQ => self.chips[0].set_irq(irq, level),
            8..=15 => self.chips[1].set_irq(irq - 8, level),
            _ => {}
        }
        self.update_cascade();
    }

    /// A rising then falling edge on `irq` (a pulse, as the PIT's OUT0 gives once per period).
    pub fn pulse_irq(&mut self, irq: u8) {
        self.set_irq(irq, true);
        self.set_irq(irq, false);
    }

    /// The master's IR2 follows the slave's INT output.
    fn update_cascade(&mut self) {
        let slave_int = self.chips[1].pending_irq().is_some();
        let master = &mut self.chips[0];
        if slave_int {
            master.irr |= 1 << CASCADE_IRQ;
        } else {
            master.irr &= !(1 << CASCADE_IRQ);
        }
    }

    /// The master's INT output: the CPU should run an INTA cycle when interrupts are enabled.
    pub fn interrupt_pending(&self) -> bool {
        self.chips[0].pending_irq().is_some()
    }

    /// The INTA cycle: returns the vector of the highest-priority request and marks it in service. With nothing to
    /// deliver (the request went away) the answer is the spurious vector of IR7 (IRQ7, or IRQ15 via the cascade) and
    /// no in-service bit is set on the chip that had nothing.
    pub fn acknowledge(&mut self) -> u8 {
        let [master, slave] = &mut self.chips;
        let vector = match master.pending_irq() {
            None => master.vector_base | 7,
            Some(CASCADE_IRQ) => {
                master.ack(CASCADE_IRQ);
                match slave.pending_irq() {
                    Some(irq) => {
                        slave.ack(irq);
                        slave.vector_base | irq
                    }
                    None => slave.vector_base | 7,
                }
            }
            Some(irq) => {
                master.ack(irq);
                master.vector_base | irq
            }
        };
        self.update_cascade();
        vector
    }

    /// The IMR of the master (low byte) and slave (high byte), for traces and tests.
    pub fn masks(&self) -> u16 {
        u16::from(self.chips[0].imr) | u16::from(self.chips[1].imr) << 8
    }
}

impl IoDevice for PicPair {
    fn io_read(&mut self, port: u16, _size: u8) -> u32 {
        let v = match port {
            PIC_MASTER_CMD => self.chips[0].read_command(),
            PIC_MASTER_DATA => self.chips[0].read_data(),
            PIC_SLAVE_CMD => self.chips[1].read_command(),
            PIC_SLAVE_DATA => self.chips[1].read_data(),
            ELCR_MASTER => self.chips[0].elcr,
            ELCR_SLAVE => self.chips[1].elcr,
            _ => return OPEN_BUS,
        };
        self.update_cascade();
        u32::from(v)
    }

    fn io_write(&mut self, port: u16, _size: u8, value: u32) {
        let v = value as u8;
        match port {
            PIC_MASTER_CMD => self.chips[0].write_command(v),
            PIC_MASTER_DATA => self.chips[0].write_data(v),
            PIC_SLAVE_CMD => self.chips[1].write_command(v),
            PIC_SLAVE_DATA => self.chips[1].write_data(v),
            ELCR_MASTER => self.chips[0].write_elcr(v),
            ELCR_SLAVE => self.chips[1].write_elcr(v),
            _ => return,
        }
        self.update_cascade();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The classic BIOS/Linux initialisation: master at 0x20, slave at 0x28, ICW4 8086 mode, optional AEOI.
    fn init(pic: &mut PicPair, icw4: u32) {
        pic.io_write(PIC_MASTER_CMD, 1, 0x11);
        pic.io_write(PIC_SLAVE_CMD, 1, 0x11);
        pic.io_write(PIC_MASTER_DATA, 1, 0x20);
        pic.io_write(PIC_SLAVE_DATA, 1, 0x28);
        pic.io_write(PIC_MASTER_DATA, 1, 0x04);
        pic.io_write(PIC_SLAVE_DATA, 1, 0x02);
        pic.io_write(PIC_MASTER_DATA, 1, icw4);
        pic.io_write(PIC_SLAVE_DATA, 1, icw4);
        pic.io_write(PIC_MASTER_DATA, 1, 0x00);
        pic.io_write(PIC_SLAVE_DATA, 1, 0x00);
    }

    fn eoi(pic: &mut PicPair, port: u16) {
        pic.io_write(port, 1, 0x20);
    }

    #[test]
    fn init_sequence_sets_vectors_and_masks() {
        let mut pic = PicPair::new();
        init(&mut pic, 0x01);
        pic.io_write(PIC_MASTER_DATA, 1, 0xFB);
        pic.io_write(PIC_SLAVE_DATA, 1, 0xFF);
        assert_eq!(pic.io_read(PIC_MASTER_DATA, 1), 0xFB);
        assert_eq!(pic.io_read(PIC_SLAVE_DATA, 1), 0xFF);
        assert_eq!(pic.masks(), 0xFFFB);
        pic.set_irq(1, true);
        assert!(!pic.interrupt_pending(), "IRQ1 is masked");
        pic.io_write(PIC_MASTER_DATA, 1, 0xF9);
        assert!(pic.interrupt_pending());
        assert_eq!(pic.acknowledge(), 0x21);
        // In service until EOI; visible through OCW3 read ISR.
        pic.io_write(PIC_MASTER_CMD, 1, 0x0B);
        assert_eq!(pic.io_read(PIC_MASTER_CMD, 1), 0x02);
        eoi(&mut pic, PIC_MASTER_CMD);
        assert_eq!(pic.io_read(PIC_MASTER_CMD, 1), 0x00);
        // OCW3 read IRR.
        pic.set_irq(1, false);
        pic.set_irq(1, true);
        pic.io_write(PIC_MASTER_CMD, 1, 0x0A);
        assert_eq!(pic.io_read(PIC_MASTER_CMD, 1), 0x02);
    }

    #[test]
    fn priority_and_nesting() {
        let mut pic = PicPair::new();
        init(&mut pic, 0x01);
        pic.set_irq(4, true);
        pic.set_irq(3, true);
        assert_eq!(pic.acknowledge(), 0x23);
        // IRQ4 has lower priority than the in-service IRQ3.
        assert!(!pic.interrupt_pending());
        pic.set_irq(0, true);
        assert!(pic.interrupt_pending(), "IRQ0 preempts IRQ3");
        assert_eq!(pic.acknowledge(), 0x20);
        eoi(&mut pic, PIC_MASTER_CMD); // non-specific: clears IRQ0, the highest in service
        assert!(!pic.interrupt_pending());
        // Specific EOI for IRQ3.
        pic.io_write(PIC_MASTER_CMD, 1, 0x63);
        assert_eq!(pic.acknowledge(), 0x24);
        eoi(&mut pic, PIC_MASTER_CMD);
        assert!(!pic.interrupt_pending());
    }

    #[test]
    fn slave_through_cascade_and_edge_semantics() {
        let mut pic = PicPair::new();
        init(&mut pic, 0x01);
        pic.set_irq(14, true);
        assert!(pic.interrupt_pending());
        assert_eq!(pic.acknowledge(), 0x2E);
        // Edge: holding the line high does not re-request.
        eoi(&mut pic, PIC_SLAVE_CMD);
        eoi(&mut pic, PIC_MASTER_CMD);
        assert!(!pic.interrupt_pending());
        pic.set_irq(14, false);
        pic.set_irq(14, true);
        assert_eq!(pic.acknowledge(), 0x2E);
        // IRQ8 outranks IRQ14 on the slave, but the master's IR2 is in service: fully nested mode holds it back
        // until the master gets its EOI.
        pic.set_irq(8, true);
        assert!(!pic.interrupt_pending());
        eoi(&mut pic, PIC_MASTER_CMD);
        assert!(pic.interrupt_pending());
        assert_eq!(pic.acknowledge(), 0x28);
    }

    #[test]
    fn level_triggered_via_elcr() {
        let mut pic = PicPair::new();
        init(&mut pic, 0x01);
        pic.io_write(ELCR_MASTER, 1, 0xFF);
        pic.io_write(ELCR_SLAVE, 1, 0xFF);
        assert_eq!(pic.io_read(ELCR_MASTER, 1), 0xF8);
        assert_eq!(pic.io_read(ELCR_SLAVE, 1), 0xDE);
        pic.set_irq(11, true);
        assert_eq!(pic.acknowledge(), 0x2B);
        eoi(&mut pic, PIC_SLAVE_CMD);
        eoi(&mut pic, PIC_MASTER_CMD);
        // Still high: level triggering asks again.
        assert!(pic.interrupt_pending());
        pic.set_irq(11, false);
        assert!(!pic.interrupt_pending());
    }

    #[test]
    fn spurious_irq7_and_irq15() {
        let mut pic = PicPair::new();
        init(&mut pic, 0x01);
        pic.io_write(ELCR_MASTER, 1, 0x20); // IRQ5 level
        pic.set_irq(5, true);
        assert!(pic.interrupt_pending());
        pic.set_irq(5, false); // request withdrawn before INTA
        assert_eq!(pic.acknowledge(), 0x27);
        pic.io_write(PIC_MASTER_CMD, 1, 0x0B);
        assert_eq!(
            pic.io_read(PIC_MASTER_CMD, 1),
            0,
            "spurious IRQ7 sets no ISR bit"
        );
        // Nothing at all: still the spurious vector.
        assert_eq!(pic.acknowledge(), 0x27);

        pic.io_write(ELCR_SLAVE, 1, 0x08); // IRQ11 level
        pic.set_irq(11, true);
        // Master sees the cascade; then the slave's request disappears... through a mask on the slave.
        pic.io_write(PIC_SLAVE_DATA, 1, 0x08);
        assert!(!pic.interrupt_pending());
        pic.io_write(PIC_SLAVE_DATA, 1, 0x00);
        assert!(pic.interrupt_pending());
        pic.set_irq(11, false);
        assert_eq!(
            pic.acknowledge(),
            0x27,
            "cascade withdrawn means IRQ7 on the master"
        );
    }

    #[test]
    fn auto_eoi_and_poll() {
        let mut pic = PicPair::new();
        init(&mut pic, 0x03);
        pic.set_irq(3, true);
        assert_eq!(pic.acknowledge(), 0x23);
        pic.io_write(PIC_MASTER_CMD, 1, 0x0B);
        assert_eq!(
            pic.io_read(PIC_MASTER_CMD, 1),
            0,
            "AEOI leaves nothing in service"
        );
        pic.set_irq(6, true);
        pic.io_write(PIC_MASTER_CMD, 1, 0x0C);
        assert_eq!(pic.io_read(PIC_MASTER_CMD, 1), 0x86);
        assert!(!pic.interrupt_pending());
        pic.io_write(PIC_MASTER_CMD, 1, 0x0C);
        assert_eq!(pic.io_read(PIC_MASTER_CMD, 1), 0);
    }

    #[test]
    fn rotation_and_set_priority() {
        let mut pic = PicPair::new();
        init(&mut pic, 0x01);
        pic.io_write(PIC_MASTER_CMD, 1, 0xC4); // IR4 lowest, IR5 highest
        pic.set_irq(1, true);
        pic.set_irq(6, true);
        assert_eq!(pic.acknowledge(), 0x26);
        pic.io_write(PIC_MASTER_CMD, 1, 0xA0); // rotate on non-specific EOI: IR6 now lowest
        assert_eq!(pic.acknowledge(), 0x21);
    }

    #[test]
    fn unknown_ports_are_open_bus() {
        let mut pic = PicPair::new();
        assert_eq!(pic.io_read(0x22, 1), OPEN_BUS);
        pic.io_write(0x22, 1, 0x12);
    }
}
