//! The MADT ("APIC", ACPI 6.x 5.2.12): where the local APICs and the IOAPIC are and how ISA IRQs reach it.
//!
//! Body after the 36-byte header: Local Interrupt Controller Address u32 at 36, Flags u32 at 40 (bit 0
//! PCAT_COMPAT: there are also 8259s, which the OS must mask when it uses the APICs), then the interrupt controller
//! structures, each starting with Type u8 and Length u8:
//!
//! | type | length | structure | fields after type and length |
//! |---|---|---|---|
//! | 0 | 8 | Processor Local APIC | ACPI processor UID u8, APIC ID u8, flags u32 (bit 0 enabled) |
//! | 1 | 12 | I/O APIC | I/O APIC ID u8, reserved u8, address u32, global system interrupt base u32 |
//! | 2 | 10 | Interrupt Source Override | bus u8 (0 = ISA), source IRQ u8, GSI u32, MPS INTI flags u16 |
//! | 4 | 6 | Local APIC NMI | ACPI processor UID u8 (0xFF = all), MPS INTI flags u16, LINT# u8 |

use super::sdt::Sdt;

/// MADT revision (ACPI 5.0 layout; Linux reads every revision the same way).
pub const MADT_REVISION: u8 = 3;
/// MADT flag: the board also has dual 8259s.
pub const PCAT_COMPAT: u32 = 1;
/// Structure type: processor local APIC.
pub const TYPE_LOCAL_APIC: u8 = 0;
/// Structure type: I/O APIC.
pub const TYPE_IO_APIC: u8 = 1;
/// Structure type: interrupt source override.
pub const TYPE_INTERRUPT_OVERRIDE: u8 = 2;
/// Structure type: local APIC NMI.
pub const TYPE_LOCAL_APIC_NMI: u8 = 4;
/// Local APIC flag: enabled.
pub const LAPIC_ENABLED: u32 = 1;
/// MPS INTI flags: polarity and trigger conform to the bus (ISA: active high, edge).
pub const INTI_CONFORMS: u16 = 0;
/// MPS INTI flags: active high (bits 0-1 = 01).
pub const INTI_ACTIVE_HIGH: u16 = 0b01;
/// MPS INTI flags: level triggered (bits 2-3 = 11).
pub const INTI_LEVEL: u16 = 0b11 << 2;
/// The IOAPIC's ID (its power-on ID register value).
pub const IOAPIC_ID: u8 = 0;
/// The ISA IRQ of the ACPI SCI (the FADT's SCI_INT), level triggered and active high as QEMU's PIIX4 wires it.
pub const SCI_IRQ: u8 = 9;

/// What the MADT describes.
#[derive(Debug, Clone, Copy)]
pub struct MadtConfig {
    /// Local APIC register page address.
    pub lapic_base: u32,
    /// Number of processors (APIC IDs and processor UIDs 0..cpus).
    pub cpus: u8,
    /// I/O APIC register address.
    pub ioapic_base: u32,
}

/// Builds the MADT: one local APIC per CPU, the IOAPIC with GSI base 0, overrides for IRQ0 (the PIT, on GSI 2)
/// and the SCI (IRQ 9, level, active high), and LINT1 as NMI on every processor.
pub fn build(config: &MadtConfig) -> Vec<u8> {
    let mut t = Sdt::new(b"APIC", MADT_REVISION);
    t.u32(config.lapic_base).u32(PCAT_COMPAT);
    for cpu in 0..config.cpus {
        t.u8(TYPE_LOCAL_APIC)
            .u8(8)
            .u8(cpu)
            .u8(cpu)
            .u32(LAPIC_ENABLED);
    }
    t.u8(TYPE_IO_APIC)
        .u8(12)
        .u8(IOAPIC_ID)
        .u8(0)
        .u32(config.ioapic_base)
        .u32(0);
    // IRQ0 -> GSI 2: the PIT's output is wired to IOAPIC pin 2 (pin 0 is the 8259's INTR).
    t.u8(TYPE_INTERRUPT_OVERRIDE)
        .u8(10)
        .u8(0)
        .u8(0)
        .u32(2)
        .u16(INTI_CONFORMS);
    t.u8(TYPE_INTERRUPT_OVERRIDE)
        .u8(10)
        .u8(0)
        .u8(SCI_IRQ)
        .u32(u32::from(SCI_IRQ))
        .u16(INTI_ACTIVE_HIGH | INTI_LEVEL);
    t.u8(TYPE_LOCAL_APIC_NMI)
        .u8(6)
        .u8(0xFF)
        .u16(INTI_CONFORMS)
        .u8(1);
    t.finish()
}
