//! The ACPI tables the board gives an OS (ACPI 6.x chapter 5): how Linux finds the interrupt controllers, the PM
//! timer, the power-off, the reset path and the pvpanic device.
//!
//! ```text
//! RSDP (at ACPI_TABLES_BASE, found by the BIOS-area scan)
//!  ├── RSDT (32-bit pointers) ─┐
//!  └── XSDT (64-bit pointers) ─┴── FADT ("FACP") ── FACS, DSDT (AML: \_S5, pvpanic's \_SB.PEVT)
//!                              └── MADT ("APIC"): local APIC, IOAPIC, IRQ0 -> GSI 2, SCI override, LINT1 NMI
//! ```
//!
//! [`build`] lays them out in one image for one guest-physical base; [`AcpiTables::write_to`] copies it into guest
//! RAM. The byte layouts are written out here (one module per table, each with its field offsets documented),
//! rather than taken from a crate: the tables are small and fixed, and this way every byte is on the page.

pub mod dsdt;
pub mod fadt;
pub mod madt;
pub mod sdt;

use crate::layout::{ACPI_TABLES_BASE, FOUR_GIB, IOAPIC_BASE, LAPIC_BASE, MP_CONFIG_TABLE};
use crate::memory::{GuestMemory, MemoryError};
use sdt::{checksum, OEM_ID};

/// Length of an ACPI 2.0+ RSDP.
pub const RSDP_LEN: usize = 36;
/// RSDP revision for ACPI 2.0 and later (it has the XSDT address and the extended checksum).
pub const RSDP_REVISION: u8 = 2;
/// Bytes the first (ACPI 1.0) RSDP checksum covers.
pub const RSDP_V1_LEN: usize = 20;
/// RSDT/XSDT revision.
pub const RSDT_REVISION: u8 = 1;
/// Every table starts on this boundary (the RSDP needs 16 for the BIOS-area scan; the FACS needs 64).
const TABLE_ALIGN: usize = 16;

/// Why the tables could not be built or placed.
#[derive(Debug, thiserror::Error)]
pub enum AcpiError {
    /// The base address cannot hold the tables.
    #[error(
        "ACPI tables at {0:#x}: the base must be 64-byte aligned and the tables must end below 4 GiB"
    )]
    BadBase(u64),
    /// The tables would not fit in their area.
    #[error("ACPI tables need {0} bytes, more than the {1} bytes reserved for them")]
    TooBig(usize, u64),
    /// Guest memory refused the write (the area is not RAM, e.g. a BIOS image over 64 KiB covers 0xE0000).
    #[error("cannot write the ACPI tables into guest memory: {0}")]
    Memory(#[from] MemoryError),
}

/// What the tables describe.
#[derive(Debug, Clone, Copy)]
pub struct AcpiConfig {
    /// Guest-physical address of the image; the RSDP is at its start (64-byte aligned; in 0xE0000-0xFFFFF for
    /// the BIOS-area scan to find it).
    pub base: u64,
    /// Bytes available at `base`.
    pub size: u64,
    /// Number of processors (one local APIC each).
    pub cpus: u8,
    /// Where the PCI host bridge's memory window starts: the top of RAM below 4 GiB.
    pub pci_window_start: u32,
}

impl Default for AcpiConfig {
    /// The board's layout: tables at [`ACPI_TABLES_BASE`], below the MP table, one CPU, the PCI window from the
    /// highest top of low RAM the board has (the loader sets the exact one).
    fn default() -> Self {
        AcpiConfig {
            base: ACPI_TABLES_BASE,
            size: MP_CONFIG_TABLE - ACPI_TABLES_BASE,
            cpus: 1,
            pci_window_start: vx86_devices::pc::LOW_RAM_LIMIT as u32,
        }
    }
}

/// Where one table went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableInfo {
    /// Its signature ("RSD " for the RSDP's first four bytes).
    pub signature: [u8; 4],
    /// Guest-physical address.
    pub addr: u64,
    /// Length in bytes.
    pub len: usize,
}

/// The built tables: one image for one guest-physical base.
#[derive(Debug, Clone)]
pub struct AcpiTables {
    /// Guest-physical address of `image[0]`.
    pub base: u64,
    /// Every table, at its offset from `base`.
    pub image: Vec<u8>,
    /// Guest-physical address of the RSDP.
    pub rsdp: u64,
    /// Each table's place, in image order.
    pub tables: Vec<TableInfo>,
}

impl AcpiTables {
    /// The table with `signature`, if any.
    pub fn table(&self, signature: &[u8; 4]) -> Option<TableInfo> {
        self.tables
            .iter()
            .copied()
            .find(|t| &t.signature == signature)
    }

    /// Copies the image into guest RAM at [`AcpiTables::base`].
    pub fn write_to(&self, memory: &mut GuestMemory) -> Result<(), AcpiError> {
        memory.write_phys(self.base, &self.image)?;
        Ok(())
    }
}

/// The image being laid out.
struct Layout {
    base: u64,
    image: Vec<u8>,
    tables: Vec<TableInfo>,
}

impl Layout {
    /// Appends `bytes` at the next `align`-byte boundary and returns its guest-physical address.
    fn place(&mut self, bytes: &[u8], align: usize) -> u64 {
        let off = self.image.len().next_multiple_of(align);
        self.image.resize(off, 0);
        self.image.extend_from_slice(bytes);
        let mut signature = [0u8; 4];
        signature.copy_from_slice(&bytes[..4]);
        self.tables.push(TableInfo {
            signature,
            addr: self.base + off as u64,
            len: bytes.len(),
        });
        self.base + off as u64
    }
}

/// The RSDP (ACPI 6.x 5.2.5.3): Signature "RSD PTR " at 0, Checksum u8 at 8 (bytes 0-19), OEMID\[6\] at 9,
/// Revision u8 at 15, RsdtAddress u32 at 16, Length u32 at 20, XsdtAddress u64 at 24, Extended Checksum u8 at 32
/// (all 36 bytes), reserved\[3\] at 33.
pub fn build_rsdp(rsdt: u32, xsdt: u64) -> [u8; RSDP_LEN] {
    let mut r = [0u8; RSDP_LEN];
    r[0..8].copy_from_slice(b"RSD PTR ");
    r[9..15].copy_from_slice(&OEM_ID);
    r[15] = RSDP_REVISION;
    r[16..20].copy_from_slice(&rsdt.to_le_bytes());
    r[20..24].copy_from_slice(&(RSDP_LEN as u32).to_le_bytes());
    r[24..32].copy_from_slice(&xsdt.to_le_bytes());
    r[8] = checksum(&r[..RSDP_V1_LEN]);
    r[32] = checksum(&r);
    r
}

/// Builds every table for `config`: RSDP first (at `config.base`), then FACS, DSDT, FADT, MADT, RSDT and XSDT.
pub fn build(config: &AcpiConfig) -> Result<AcpiTables, AcpiError> {
    if !config.base.is_multiple_of(64) || config.base >= FOUR_GIB {
        return Err(AcpiError::BadBase(config.base));
    }
    let mut l = Layout {
        base: config.base,
        image: vec![0; RSDP_LEN],
        tables: Vec::new(),
    };
    // Addresses below are below 4 GiB as long as the image is; checked at the end.
    let facs = l.place(&dsdt::build_facs(), dsdt::FACS_ALIGN) as u32;
    let dsdt = l.place(&dsdt::build_dsdt(config.pci_window_start), TABLE_ALIGN) as u32;
    let fadt = l.place(&fadt::build(facs, dsdt), TABLE_ALIGN);
    let madt = l.place(
        &madt::build(&madt::MadtConfig {
            lapic_base: LAPIC_BASE as u32,
            cpus: config.cpus.max(1),
            ioapic_base: IOAPIC_BASE as u32,
        }),
        TABLE_ALIGN,
    );
    let mut rsdt = sdt::Sdt::new(b"RSDT", RSDT_REVISION);
    rsdt.u32(fadt as u32).u32(madt as u32);
    let rsdt = l.place(&rsdt.finish(), TABLE_ALIGN);
    let mut xsdt = sdt::Sdt::new(b"XSDT", RSDT_REVISION);
    xsdt.u64(fadt).u64(madt);
    let xsdt = l.place(&xsdt.finish(), TABLE_ALIGN);
    let rsdp = build_rsdp(rsdt as u32, xsdt);
    l.image[..RSDP_LEN].copy_from_slice(&rsdp);
    l.tables.insert(
        0,
        TableInfo {
            signature: *b"RSD ",
            addr: config.base,
            len: RSDP_LEN,
        },
    );
    if l.image.len() as u64 > config.size {
        return Err(AcpiError::TooBig(l.image.len(), config.size));
    }
    if config.base + l.image.len() as u64 > FOUR_GIB {
        return Err(AcpiError::BadBase(config.base));
    }
    Ok(AcpiTables {
        base: config.base,
        image: l.image,
        rsdp: config.base,
        tables: l.tables,
    })
}

#[cfg(test)]
mod tests;
