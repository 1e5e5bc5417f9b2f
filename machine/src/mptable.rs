//! The Intel MultiProcessor Specification 1.4 tables: how an OS without ACPI (or told `acpi=off`) finds the
//! processors, the IOAPIC and the interrupt wiring.
//!
//! ```text
//! MP floating pointer "_MP_" (16 bytes, at the start of the EBDA: the "last KiB of base memory" an OS scans)
//!  └── configuration table "PCMP" (header, 44 bytes, then entries sorted by type):
//!        processor (20 bytes) per CPU · bus "ISA" (8) · I/O APIC (8) · I/O interrupt (8) per ISA IRQ ·
//!        local interrupt (8): ExtINT on LINT0, NMI on LINT1
//! ```
//!
//! The wiring is the MADT's (`acpi::madt`): IRQ0 on IOAPIC pin 2, the other ISA IRQs on their own pins, the SCI
//! (IRQ 9) level triggered and active high. The 8259's INTR reaches the processors through LINT0 (the IOAPIC's
//! pin 0 is not listed as ExtINT: no firmware programs it so, and Linux checks the two agree).

use crate::acpi::madt::{IOAPIC_ID, SCI_IRQ};
use crate::acpi::sdt::checksum;
use crate::layout::{IOAPIC_BASE, LAPIC_BASE, MP_CONFIG_TABLE, MP_FLOATING_POINTER};
use crate::memory::{GuestMemory, MemoryError};

/// MP specification revision 1.4.
const SPEC_REVISION: u8 = 4;
/// Local APIC version (an integrated APIC).
const LAPIC_VERSION: u8 = 0x14;
/// I/O APIC version (the 82093AA's).
const IOAPIC_VERSION: u8 = 0x20;
/// Entry types.
const PROCESSOR: u8 = 0;
const BUS: u8 = 1;
const IO_APIC: u8 = 2;
const IO_INTERRUPT: u8 = 3;
const LOCAL_INTERRUPT: u8 = 4;
/// Interrupt types of the interrupt-assignment entries.
const INT: u8 = 0;
const NMI: u8 = 1;
const EXTINT: u8 = 3;
/// Interrupt flags: polarity and trigger conform to the bus (ISA: active high, edge).
const CONFORMS: u16 = 0;
/// Interrupt flags: active high (bits 0-1 = 01), level triggered (bits 2-3 = 11).
const ACTIVE_HIGH_LEVEL: u16 = 0b1101;
/// Processor flags: enabled, bootstrap processor.
const CPU_ENABLED: u8 = 1;
const CPU_BSP: u8 = 2;
/// The ISA bus's ID.
const ISA_BUS: u8 = 0;
/// Every local APIC (destination of the local interrupt entries).
const ALL_LAPICS: u8 = 0xFF;

/// The floating pointer (16 bytes) and the configuration table for `cpus` processors whose table is at
/// `config_addr`.
pub fn build(cpus: u8, config_addr: u32) -> ([u8; 16], Vec<u8>) {
    let mut entries = Vec::new();
    let mut count = 0u16;
    let mut entry = |bytes: &[u8]| {
        entries.extend_from_slice(bytes);
        count += 1;
    };
    let (signature, _, _, features) = vx86_cpu::cpuid::cpuid(1, 0);
    for cpu in 0..cpus.max(1) {
        let flags = CPU_ENABLED | if cpu == 0 { CPU_BSP } else { 0 };
        let mut e = vec![PROCESSOR, cpu, LAPIC_VERSION, flags];
        e.extend(signature.to_le_bytes());
        e.extend(features.to_le_bytes());
        e.extend([0; 8]);
        entry(&e);
    }
    entry(&[BUS, ISA_BUS, b'I', b'S', b'A', b' ', b' ', b' ']);
    let mut ioapic = vec![IO_APIC, IOAPIC_ID, IOAPIC_VERSION, 1];
    ioapic.extend((IOAPIC_BASE as u32).to_le_bytes());
    entry(&ioapic);
    let interrupt = |kind: u8, flags: u16, irq: u8, pin: u8| {
        let f = flags.to_le_bytes();
        [IO_INTERRUPT, kind, f[0], f[1], ISA_BUS, irq, IOAPIC_ID, pin]
    };
    for irq in (0..16u8).filter(|&irq| irq != 2) {
        let pin = if irq == 0 { 2 } else { irq };
        let flags = if irq == SCI_IRQ {
            ACTIVE_HIGH_LEVEL
        } else {
            CONFORMS
        };
        entry(&interrupt(INT, flags, irq, pin));
    }
    for (kind, lint) in [(EXTINT, 0), (NMI, 1)] {
        entry(&[LOCAL_INTERRUPT, kind, 0, 0, ISA_BUS, 0, ALL_LAPICS, lint]);
    }

    let mut table = Vec::with_capacity(44 + entries.len());
    table.extend(b"PCMP");
    table.extend(((44 + entries.len()) as u16).to_le_bytes());
    table.extend([SPEC_REVISION, 0]);
    table.extend(b"VX86    ");
    table.extend(b"VX86PC      ");
    table.extend([0; 4 + 2]);
    table.extend(count.to_le_bytes());
    table.extend((LAPIC_BASE as u32).to_le_bytes());
    table.extend([0; 4]);
    table.extend(entries);
    table[7] = checksum(&table);

    let mut pointer = [0u8; 16];
    pointer[..4].copy_from_slice(b"_MP_");
    pointer[4..8].copy_from_slice(&config_addr.to_le_bytes());
    pointer[8] = 1;
    pointer[9] = SPEC_REVISION;
    pointer[10] = checksum(&pointer);
    (pointer, table)
}

/// Writes the tables for `cpus` processors at the board's places for them ([`MP_FLOATING_POINTER`],
/// [`MP_CONFIG_TABLE`]).
pub fn write_to(memory: &mut GuestMemory, cpus: u8) -> Result<(), MemoryError> {
    let (pointer, table) = build(cpus, MP_CONFIG_TABLE as u32);
    memory.write_phys(MP_FLOATING_POINTER, &pointer)?;
    memory.write_phys(MP_CONFIG_TABLE, &table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_list_each_processor_the_ioapic_and_the_isa_wiring_with_valid_checksums() {
        let (pointer, table) = build(2, 0xE8000);
        assert_eq!(&pointer[..4], b"_MP_");
        assert_eq!(pointer.iter().fold(0u8, |s, b| s.wrapping_add(*b)), 0);
        assert_eq!(
            u32::from_le_bytes(pointer[4..8].try_into().unwrap()),
            0xE8000
        );
        assert_eq!((pointer[8], pointer[9]), (1, 4), "16 bytes, revision 1.4");
        assert_eq!(&table[..4], b"PCMP");
        assert_eq!(table.iter().fold(0u8, |s, b| s.wrapping_add(*b)), 0);
        assert_eq!(
            usize::from(u16::from_le_bytes([table[4], table[5]])),
            table.len()
        );
        let count = u16::from_le_bytes([table[34], table[35]]);
        // Walk the entries: processors are 20 bytes, the rest 8.
        let mut at = 44;
        let mut seen = Vec::new();
        for _ in 0..count {
            let e = &table[at..];
            seen.push((e[0], e[1], e[3], e[5], e[7]));
            at += if e[0] == PROCESSOR { 20 } else { 8 };
        }
        assert_eq!(at, table.len());
        assert_eq!(seen[0], (PROCESSOR, 0, CPU_ENABLED | CPU_BSP, 0x06, 0));
        assert_eq!(
            (seen[1].0, seen[1].1, seen[1].2),
            (PROCESSOR, 1, CPU_ENABLED)
        );
        assert_eq!(seen[2].0, BUS);
        assert_eq!((seen[3].0, seen[3].1), (IO_APIC, IOAPIC_ID));
        // IRQ0 on pin 2, IRQ1 on pin 1, no IRQ2 (the cascade), IRQ9 level.
        let io: Vec<(u8, u8)> = seen
            .iter()
            .filter(|e| e.0 == IO_INTERRUPT && e.1 == INT)
            .map(|e| (e.3, e.4))
            .collect();
        assert_eq!(io.len(), 15);
        assert_eq!(&io[..3], &[(0, 2), (1, 1), (3, 3)]);
        let sci = table[44 + 2 * 20 + 16..]
            .chunks(8)
            .find(|e| e[0] == IO_INTERRUPT && e[5] == SCI_IRQ)
            .unwrap();
        assert_eq!(u16::from_le_bytes([sci[2], sci[3]]), ACTIVE_HIGH_LEVEL);
        let locals: Vec<_> = seen.iter().filter(|e| e.0 == LOCAL_INTERRUPT).collect();
        assert_eq!(locals.len(), 2, "ExtINT on LINT0, NMI on LINT1");
    }
}
