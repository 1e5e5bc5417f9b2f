//! Intel 82093AA-style I/O APIC (version 0x20, 24 pins), memory-mapped at [`IOAPIC_BASE`].
//!
//! The guest selects a register by writing its index to IOREGSEL (offset 0x00) and reads or writes it through IOWIN
//! (offset 0x10); the EOI register (offset 0x40, version 0x20 and later) clears the remote IRR of the entries with
//! the written vector. Each pin has a 64-bit redirection entry: vector, delivery mode, destination mode and
//! destination, polarity, trigger mode, mask, and the read-only delivery status and remote IRR.
//!
//! Pins carry logical levels (true: the device asserts its interrupt). The polarity bit is stored and read back but
//! does not invert the input: the board is wired so that what the guest programs (from the MADT) is what the pin
//! sees. An edge-triggered pin latches a rising edge; a level-triggered pin requests while its line is high and,
//! once delivered, waits for the EOI (remote IRR) before it can deliver again. A request on a masked pin is held
//! and delivered when the pin is unmasked (as QEMU does), so an interrupt is never lost to a mask/unmask race.
//!
//! The IOAPIC knows no local APIC: [`IoApic::take_deliveries`] returns the messages it sends and the board hands
//! them to the LAPIC; the LAPIC's EOI of a level-triggered vector comes back through [`IoApic::eoi`].

/// Guest-physical base of the I/O APIC's registers (as the MADT says).
pub const IOAPIC_BASE: u64 = 0xFEC0_0000;
/// Size of the register window.
pub const IOAPIC_SIZE: u64 = 0x1000;
/// Number of redirection entries (pins).
pub const IOAPIC_PINS: usize = 24;
/// The version register: version 0x20 and the index of the last redirection entry in bits 16-23.
pub const IOAPIC_VERSION: u32 = 0x20 | ((IOAPIC_PINS as u32 - 1) << 16);

/// MMIO offset of the register select register.
pub const IOREGSEL: u64 = 0x00;
/// MMIO offset of the register data window.
pub const IOWIN: u64 = 0x10;
/// MMIO offset of the EOI register (write a vector to clear its entries' remote IRR).
pub const IOAPIC_EOI: u64 = 0x40;

/// Indirect register: IOAPIC ID (bits 24-27).
pub const IOAPICID: u8 = 0x00;
/// Indirect register: version.
pub const IOAPICVER: u8 = 0x01;
/// Indirect register: arbitration ID.
pub const IOAPICARB: u8 = 0x02;
/// Indirect register: first redirection entry (low half; pin n is at 0x10 + 2n and 0x11 + 2n).
pub const IOREDTBL: u8 = 0x10;

/// Redirection entry: vector.
pub const RTE_VECTOR: u64 = 0xFF;
/// Redirection entry: delivery mode (bits 8-10).
pub const RTE_DELIVERY_MODE: u64 = 0x700;
/// Delivery mode: fixed.
pub const RTE_DM_FIXED: u64 = 0x000;
/// Delivery mode: lowest priority.
pub const RTE_DM_LOWEST: u64 = 0x100;
/// Delivery mode: ExtINT (the 8259 answers the INTA; not routed here: the 8259 reaches the CPU through LINT0).
pub const RTE_DM_EXTINT: u64 = 0x700;
/// Redirection entry: logical destination mode.
pub const RTE_DEST_LOGICAL: u64 = 1 << 11;
/// Redirection entry: delivery status (read only; always 0, delivery is immediate).
pub const RTE_DELIVERY_STATUS: u64 = 1 << 12;
/// Redirection entry: input polarity (1 = active low).
pub const RTE_POLARITY_LOW: u64 = 1 << 13;
/// Redirection entry: remote IRR (read only; a level interrupt was accepted and awaits its EOI).
pub const RTE_REMOTE_IRR: u64 = 1 << 14;
/// Redirection entry: trigger mode (1 = level).
pub const RTE_LEVEL: u64 = 1 << 15;
/// Redirection entry: masked.
pub const RTE_MASKED: u64 = 1 << 16;
/// Redirection entry: destination (bits 56-63).
pub const RTE_DEST_SHIFT: u32 = 56;
/// Bits of a redirection entry the guest can write.
const RTE_WRITABLE: u64 = RTE_VECTOR
    | RTE_DELIVERY_MODE
    | RTE_DEST_LOGICAL
    | RTE_POLARITY_LOW
    | RTE_LEVEL
    | RTE_MASKED
    | (0xFF << RTE_DEST_SHIFT);

/// The IOAPIC pin an ISA IRQ drives: IRQ0 (the PIT) is on pin 2, as the MADT's interrupt source override says;
/// the others are identity mapped. IRQ2 (the 8259 cascade) drives nothing.
pub fn isa_irq_to_pin(irq: u8) -> Option<usize> {
    match irq {
        0 => Some(2),
        2 => None,
        1..=15 => Some(usize::from(irq)),
        _ => None,
    }
}

/// An interrupt message from the IOAPIC to the local APICs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// The vector.
    pub vector: u8,
    /// Level triggered (the LAPIC sets its TMR bit and broadcasts the EOI).
    pub level: bool,
    /// The destination field.
    pub dest: u8,
    /// Logical destination mode.
    pub logical: bool,
    /// Lowest-priority delivery (with one CPU, the same as fixed to any APIC in the destination set).
    pub lowest_priority: bool,
}

/// The I/O APIC.
#[derive(Debug, Clone)]
pub struct IoApic {
    /// IOAPIC ID (bits 24-27 of register 0).
    id: u8,
    /// The indirect register IOWIN accesses.
    select: u8,
    /// Redirection table.
    redir: [u64; IOAPIC_PINS],
    /// Current input level of each pin.
    line: u32,
    /// Requests waiting for delivery (edge: latched rising edge; level: the line is high).
    irr: u32,
}

impl Default for IoApic {
    fn default() -> Self {
        Self::new()
    }
}

impl IoApic {
    /// Power-on state: ID 0, every entry masked, edge triggered, vector 0.
    pub fn new() -> Self {
        Self {
            id: 0,
            select: 0,
            redir: [RTE_MASKED; IOAPIC_PINS],
            line: 0,
            irr: 0,
        }
    }

    /// Back to power-on state, keeping the input lines' levels (they belong to the devices).
    pub fn reset(&mut self) {
        let line = self.line;
        *self = Self::new();
        self.line = line;
    }

    /// Drives `pin` to `level` (pins beyond 23 are ignored).
    pub fn set_irq(&mut self, pin: usize, level: bool) {
        if pin >= IOAPIC_PINS {
            return;
        }
        let bit = 1u32 << pin;
        if self.redir[pin] & RTE_LEVEL != 0 {
            if level {
                self.irr |= bit;
            } else {
                self.irr &= !bit;
            }
        } else if level && self.line & bit == 0 {
            self.irr |= bit;
        }
        if level {
            self.line |= bit;
        } else {
            self.line &= !bit;
        }
    }

    /// A rising then falling edge on `pin`.
    pub fn pulse_irq(&mut self, pin: usize) {
        self.set_irq(pin, true);
        self.set_irq(pin, false);
    }

    /// The redirection entry of `pin` (for tests and traces).
    pub fn entry(&self, pin: usize) -> u64 {
        self.redir.get(pin).copied().unwrap_or(0)
    }

    /// Sends every deliverable request: unmasked pins with a request, except level pins still waiting for their
    /// EOI. Delivered edges are consumed; delivered levels set the remote IRR. ExtINT, SMI, NMI and INIT entries
    /// are consumed without a message (nothing in this board receives them through the IOAPIC).
    pub fn take_deliveries(&mut self, mut deliver: impl FnMut(Delivery)) {
        if self.irr == 0 {
            return;
        }
        for pin in 0..IOAPIC_PINS {
            let bit = 1u32 << pin;
            let e = self.redir[pin];
            if self.irr & bit == 0 || e & RTE_MASKED != 0 {
                continue;
            }
            let level = e & RTE_LEVEL != 0;
            if level {
                if e & RTE_REMOTE_IRR != 0 {
                    continue;
                }
                self.redir[pin] |= RTE_REMOTE_IRR;
            } else {
                self.irr &= !bit;
            }
            let mode = e & RTE_DELIVERY_MODE;
            if mode == RTE_DM_FIXED || mode == RTE_DM_LOWEST {
                deliver(Delivery {
                    vector: (e & RTE_VECTOR) as u8,
                    level,
                    dest: (e >> RTE_DEST_SHIFT) as u8,
                    logical: e & RTE_DEST_LOGICAL != 0,
                    lowest_priority: mode == RTE_DM_LOWEST,
                });
            } else if level {
                self.redir[pin] &= !RTE_REMOTE_IRR;
            }
        }
    }

    /// Whether a request waits that [`IoApic::take_deliveries`] would send.
    pub fn has_deliverable(&self) -> bool {
        (0..IOAPIC_PINS).any(|pin| {
            let e = self.redir[pin];
            self.irr & (1 << pin) != 0
                && e & RTE_MASKED == 0
                && !(e & RTE_LEVEL != 0 && e & RTE_REMOTE_IRR != 0)
        })
    }

    /// An EOI for `vector` (broadcast by a LAPIC, or written to the EOI register): clears the remote IRR of every
    /// level-triggered entry with that vector; a line still high requests again.
    pub fn eoi(&mut self, vector: u8) {
        for pin in 0..IOAPIC_PINS {
            let e = self.redir[pin];
            if e & RTE_LEVEL != 0 && e & RTE_REMOTE_IRR != 0 && (e & RTE_VECTOR) as u8 == vector {
                self.redir[pin] &= !RTE_REMOTE_IRR;
                if self.line & (1 << pin) != 0 {
                    self.irr |= 1 << pin;
                }
            }
        }
    }

    /// Reads the indirect register `index`. Unknown registers read 0.
    fn read_indirect(&self, index: u8) -> u32 {
        match index {
            IOAPICID | IOAPICARB => u32::from(self.id & 0xF) << 24,
            IOAPICVER => IOAPIC_VERSION,
            i if i >= IOREDTBL && usize::from(i - IOREDTBL) < 2 * IOAPIC_PINS => {
                let e = self.redir[usize::from(i - IOREDTBL) / 2];
                if (i - IOREDTBL).is_multiple_of(2) {
                    e as u32
                } else {
                    (e >> 32) as u32
                }
            }
            _ => 0,
        }
    }

    /// Writes the indirect register `index`. Read-only and unknown registers ignore writes.
    fn write_indirect(&mut self, index: u8, value: u32) {
        match index {
            IOAPICID => self.id = ((value >> 24) & 0xF) as u8,
            i if i >= IOREDTBL && usize::from(i - IOREDTBL) < 2 * IOAPIC_PINS => {
                let pin = usize::from(i - IOREDTBL) / 2;
                let old = self.redir[pin];
                let new = if (i - IOREDTBL).is_multiple_of(2) {
                    (old & !0xFFFF_FFFF) | u64::from(value)
                } else {
                    (old & 0xFFFF_FFFF) | u64::from(value) << 32
                };
                self.redir[pin] = (old & RTE_REMOTE_IRR) | (new & RTE_WRITABLE);
                let bit = 1u32 << pin;
                if new & RTE_LEVEL != 0 {
                    // A level pin requests exactly while its line is high.
                    self.irr = (self.irr & !bit) | (self.line & bit);
                } else {
                    // An edge pin has no remote IRR.
                    self.redir[pin] &= !RTE_REMOTE_IRR;
                    if old & RTE_LEVEL != 0 {
                        self.irr &= !bit;
                    }
                }
            }
            _ => {}
        }
    }

    /// An MMIO read of `size` bytes at `offset` in the register window. IOREGSEL and IOWIN are 32-bit registers;
    /// narrower reads see their low bytes, and every other offset reads 0.
    pub fn mmio_read(&mut self, offset: u64, size: u8) -> u64 {
        let reg = match offset & !3 {
            IOREGSEL => u32::from(self.select),
            IOWIN => self.read_indirect(self.select),
            _ => 0,
        };
        let v = u64::from(reg) >> (8 * (offset & 3));
        v & size_mask64(size)
    }

    /// An MMIO write of `size` bytes at `offset`. Only the low byte of IOREGSEL is kept; IOWIN and the EOI register
    /// take 32-bit values (narrower writes are zero-extended); other offsets ignore writes.
    pub fn mmio_write(&mut self, offset: u64, size: u8, value: u64) {
        if offset & 3 != 0 {
            return;
        }
        let v = (value & size_mask64(size)) as u32;
        match offset {
            IOREGSEL => self.select = v as u8,
            IOWIN => self.write_indirect(self.select, v),
            IOAPIC_EOI => self.eoi(v as u8),
            _ => {}
        }
    }
}

/// Mask for an MMIO access of `size` bytes (1, 2, 4 or 8; other sizes count as 8).
pub(crate) fn size_mask64(size: u8) -> u64 {
    match size {
        1 => 0xFF,
        2 => 0xFFFF,
        4 => 0xFFFF_FFFF,
        _ => u64::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_entry(io: &mut IoApic, pin: usize, value: u64) {
        io.mmio_write(IOREGSEL, 4, u64::from(IOREDTBL) + 2 * pin as u64);
        io.mmio_write(IOWIN, 4, value & 0xFFFF_FFFF);
        io.mmio_write(IOREGSEL, 4, u64::from(IOREDTBL) + 2 * pin as u64 + 1);
        io.mmio_write(IOWIN, 4, value >> 32);
    }

    fn read_reg(io: &mut IoApic, index: u8) -> u32 {
        io.mmio_write(IOREGSEL, 4, u64::from(index));
        io.mmio_read(IOWIN, 4) as u32
    }

    fn collect(io: &mut IoApic) -> Vec<Delivery> {
        let mut v = Vec::new();
        io.take_deliveries(|d| v.push(d));
        v
    }

    #[test]
    fn id_version_and_entries_read_back() {
        let mut io = IoApic::new();
        assert_eq!(read_reg(&mut io, IOAPICVER), 0x0017_0020);
        io.mmio_write(IOREGSEL, 4, 0);
        io.mmio_write(IOWIN, 4, 0x0F00_0000 | 0xFF);
        assert_eq!(read_reg(&mut io, IOAPICID), 0x0F00_0000);
        assert_eq!(read_reg(&mut io, IOAPICARB), 0x0F00_0000);
        assert_eq!(io.mmio_read(IOREGSEL, 4), u64::from(IOAPICARB));
        // Power-on: masked.
        assert_eq!(read_reg(&mut io, IOREDTBL + 4), RTE_MASKED as u32);
        // Delivery status and remote IRR are read only.
        write_entry(
            &mut io,
            3,
            0x0300_0000_0000_0000 | RTE_REMOTE_IRR | RTE_DELIVERY_STATUS | 0x8931,
        );
        assert_eq!(io.entry(3), 0x0300_0000_0000_0000 | 0x8931);
        assert_eq!(read_reg(&mut io, IOREDTBL + 7), 0x0300_0000);
        assert_eq!(read_reg(&mut io, 0x50), 0, "beyond the table");
        assert_eq!(io.mmio_read(0x20, 4), 0);
    }

    #[test]
    fn edge_pin_delivers_once_per_rising_edge_and_holds_while_masked() {
        let mut io = IoApic::new();
        write_entry(&mut io, 2, 0x30);
        io.set_irq(2, true);
        io.set_irq(2, true);
        let d = collect(&mut io);
        assert_eq!(
            d,
            vec![Delivery {
                vector: 0x30,
                level: false,
                dest: 0,
                logical: false,
                lowest_priority: false
            }]
        );
        assert!(collect(&mut io).is_empty(), "no new edge");
        io.set_irq(2, false);
        write_entry(&mut io, 2, 0x30 | RTE_MASKED);
        io.pulse_irq(2);
        assert!(collect(&mut io).is_empty(), "masked");
        assert!(!io.has_deliverable());
        write_entry(
            &mut io,
            2,
            0x30 | RTE_DM_LOWEST | RTE_DEST_LOGICAL | 1 << 56,
        );
        assert!(io.has_deliverable());
        let d = collect(&mut io);
        assert_eq!(d.len(), 1, "held request delivered on unmask");
        assert!(d[0].lowest_priority && d[0].logical && d[0].dest == 1);
    }

    #[test]
    fn level_pin_waits_for_eoi_and_repeats_while_asserted() {
        let mut io = IoApic::new();
        write_entry(&mut io, 9, 0x41 | RTE_LEVEL);
        io.set_irq(9, true);
        assert_eq!(collect(&mut io).len(), 1);
        assert_ne!(io.entry(9) & RTE_REMOTE_IRR, 0);
        assert!(collect(&mut io).is_empty(), "remote IRR blocks");
        io.eoi(0x42);
        assert!(collect(&mut io).is_empty(), "other vector");
        io.eoi(0x41);
        assert_eq!(io.entry(9) & RTE_REMOTE_IRR, 0);
        let d = collect(&mut io);
        assert_eq!(d.len(), 1, "line still high: delivered again");
        assert!(d[0].level);
        // The device drops the line; the EOI (through the EOI register) leaves nothing pending.
        io.set_irq(9, false);
        io.mmio_write(IOAPIC_EOI, 4, 0x41);
        assert_eq!(io.entry(9) & RTE_REMOTE_IRR, 0);
        assert!(collect(&mut io).is_empty());
    }

    #[test]
    fn extint_entries_and_odd_accesses_do_not_deliver_or_panic() {
        let mut io = IoApic::new();
        write_entry(&mut io, 0, RTE_DM_EXTINT);
        io.pulse_irq(0);
        assert!(collect(&mut io).is_empty());
        io.set_irq(99, true);
        io.mmio_write(IOREGSEL + 1, 1, 0xFF);
        io.mmio_write(IOREGSEL, 1, 0x01);
        assert_eq!(io.mmio_read(IOWIN, 1), 0x20);
        assert_eq!(io.mmio_read(IOWIN + 2, 1), 0x17);
        assert_eq!(isa_irq_to_pin(0), Some(2));
        assert_eq!(isa_irq_to_pin(2), None);
        assert_eq!(isa_irq_to_pin(14), Some(14));
        assert_eq!(isa_irq_to_pin(16), None);
    }
}
