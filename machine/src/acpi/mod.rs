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
//! One builder, [`lay_out`], gives two outputs. [`build`] places the tables at fixed addresses in one image (for
//! direct kernel boot: [`AcpiTables::write_to`] copies it into guest RAM at the RSDP's scan area). Laid out at
//! base 0, the same tables go to firmware through fw_cfg with the [`linker`] script that says where every pointer
//! field and checksum is, so the firmware can place them wherever it likes and patch them (as QEMU gives them to
//! SeaBIOS). The byte layouts are written out here (one module per table, each with its field offsets documented),
//! rather than taken from a crate: the tables are small and fixed, and this way every byte is on the page.

pub mod dsdt;
pub mod fadt;
pub mod linker;
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
/// Offset of the RSDP's checksum (over its first [`RSDP_V1_LEN`] bytes).
pub const RSDP_CHECKSUM_OFFSET: usize = 8;
/// Offset of the RSDP's RsdtAddress (u32).
pub const RSDP_RSDT_OFFSET: usize = 16;
/// Offset of the RSDP's XsdtAddress (u64).
pub const RSDP_XSDT_OFFSET: usize = 24;
/// Offset of the RSDP's extended checksum (over all [`RSDP_LEN`] bytes).
pub const RSDP_EXT_CHECKSUM_OFFSET: usize = 32;
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

/// The two pieces the tables come in: the RSDP alone (it must go where an OS scans for it), and every other
/// table in one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcpiBlob {
    /// The 36-byte RSDP.
    Rsdp,
    /// FACS, DSDT, FADT, MADT, RSDT and XSDT.
    Tables,
}

/// A pointer field: `size` bytes (little-endian) at `offset` in `blob` hold the address of byte `target` of the
/// tables blob, i.e. the blob's base plus `target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PointerField {
    /// The blob holding the field.
    pub blob: AcpiBlob,
    /// The field's offset in it.
    pub offset: usize,
    /// The field's size: 4 or 8.
    pub size: u8,
    /// The offset in the tables blob it points at.
    pub target: usize,
}

/// A checksum byte at `offset` in `blob` that makes bytes `start..start + len` of the blob sum to zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChecksumField {
    /// The blob holding the field and the bytes it covers.
    pub blob: AcpiBlob,
    /// The checksum byte's offset.
    pub offset: usize,
    /// First byte covered.
    pub start: usize,
    /// Bytes covered.
    pub len: usize,
}

/// The tables laid out for one base address of the tables blob, with every field that depends on that address
/// listed, so that a loader can move them (QEMU's `etc/table-loader`, see [`linker`]). Checksums are right for
/// the base laid out for; the checksum fields are listed in the order they must be recomputed in.
#[derive(Debug, Clone)]
pub struct AcpiLayout {
    /// The RSDP.
    pub rsdp: [u8; RSDP_LEN],
    /// Every other table (the FACS first, 64-byte aligned when the blob is).
    pub tables: Vec<u8>,
    /// Each table in the tables blob: signature, offset and length.
    pub entries: Vec<([u8; 4], usize, usize)>,
    /// Every pointer field, in either blob.
    pub pointers: Vec<PointerField>,
    /// Every checksum field, in either blob: each table's, then the RSDP's first and extended checksums.
    pub checksums: Vec<ChecksumField>,
}

impl AcpiLayout {
    /// Appends `table` at the next `align`-byte boundary of the tables blob and returns its offset there; an SDT
    /// (any table but the FACS) gets its checksum field listed.
    fn place(&mut self, table: &[u8], align: usize) -> usize {
        let off = self.tables.len().next_multiple_of(align);
        self.tables.resize(off, 0);
        self.tables.extend_from_slice(table);
        let mut signature = [0u8; 4];
        signature.copy_from_slice(&table[..4]);
        self.entries.push((signature, off, table.len()));
        if &signature != b"FACS" {
            self.checksums.push(ChecksumField {
                blob: AcpiBlob::Tables,
                offset: off + sdt::CHECKSUM_OFFSET,
                start: off,
                len: table.len(),
            });
        }
        off
    }

    /// Lists a pointer field of the tables blob.
    fn pointer(&mut self, offset: usize, size: u8, target: usize) {
        self.pointers.push(PointerField {
            blob: AcpiBlob::Tables,
            offset,
            size,
            target,
        });
    }
}

/// Builds the tables for a board with `cpus` processors and `memory`'s RAM and writes them at
/// [`ACPI_TABLES_BASE`], where the OS's RSDP scan finds them.
pub fn install(memory: &mut GuestMemory, cpus: u8) -> Result<(), AcpiError> {
    let (ram_below_4g, _) = vx86_devices::ram_split(memory.ram_bytes());
    let config = AcpiConfig {
        cpus,
        pci_window_start: ram_below_4g as u32,
        ..AcpiConfig::default()
    };
    build(&config)?.write_to(memory)
}

/// The RSDP (ACPI 6.x 5.2.5.3): Signature "RSD PTR " at 0, Checksum u8 at 8 (bytes 0-19), OEMID\[6\] at 9,
/// Revision u8 at 15, RsdtAddress u32 at 16, Length u32 at 20, XsdtAddress u64 at 24, Extended Checksum u8 at 32
/// (all 36 bytes), reserved\[3\] at 33.
pub fn build_rsdp(rsdt: u32, xsdt: u64) -> [u8; RSDP_LEN] {
    let mut r = [0u8; RSDP_LEN];
    r[0..8].copy_from_slice(b"RSD PTR ");
    r[9..15].copy_from_slice(&OEM_ID);
    r[15] = RSDP_REVISION;
    r[RSDP_RSDT_OFFSET..RSDP_RSDT_OFFSET + 4].copy_from_slice(&rsdt.to_le_bytes());
    r[20..24].copy_from_slice(&(RSDP_LEN as u32).to_le_bytes());
    r[RSDP_XSDT_OFFSET..RSDP_XSDT_OFFSET + 8].copy_from_slice(&xsdt.to_le_bytes());
    r[RSDP_CHECKSUM_OFFSET] = checksum(&r[..RSDP_V1_LEN]);
    r[RSDP_EXT_CHECKSUM_OFFSET] = checksum(&r);
    r
}

/// Lays out every table for `cpus` processors and a PCI memory window from `pci_window_start` (the top of RAM
/// below 4 GiB), with the tables blob at guest-physical `tables_base` (below 4 GiB with the blob): FACS, DSDT,
/// FADT, MADT, RSDT and XSDT, and the RSDP pointing at the last two. With `tables_base` 0 every pointer field
/// holds the offset it points at, as a loader's ADD_POINTER expects.
pub fn lay_out(cpus: u8, pci_window_start: u32, tables_base: u64) -> AcpiLayout {
    let mut l = AcpiLayout {
        rsdp: [0; RSDP_LEN],
        tables: Vec::new(),
        entries: Vec::new(),
        pointers: Vec::new(),
        checksums: Vec::new(),
    };
    let addr = |off: usize| tables_base + off as u64;
    let facs = l.place(&dsdt::build_facs(), dsdt::FACS_ALIGN);
    let dsdt = l.place(&dsdt::build_dsdt(pci_window_start), TABLE_ALIGN);
    let fadt = l.place(
        &fadt::build(addr(facs) as u32, addr(dsdt) as u32),
        TABLE_ALIGN,
    );
    for (field, size, target) in [
        (fadt::off::FIRMWARE_CTRL, 4, facs),
        (fadt::off::DSDT, 4, dsdt),
        (fadt::off::X_FIRMWARE_CTRL, 8, facs),
        (fadt::off::X_DSDT, 8, dsdt),
    ] {
        l.pointer(fadt + field, size, target);
    }
    let madt = l.place(
        &madt::build(&madt::MadtConfig {
            lapic_base: LAPIC_BASE as u32,
            cpus: cpus.max(1),
            ioapic_base: IOAPIC_BASE as u32,
        }),
        TABLE_ALIGN,
    );
    let listed = [fadt, madt];
    let mut rsdt = sdt::Sdt::new(b"RSDT", RSDT_REVISION);
    let mut xsdt = sdt::Sdt::new(b"XSDT", RSDT_REVISION);
    for &t in &listed {
        rsdt.u32(addr(t) as u32);
        xsdt.u64(addr(t));
    }
    let rsdt = l.place(&rsdt.finish(), TABLE_ALIGN);
    let xsdt = l.place(&xsdt.finish(), TABLE_ALIGN);
    for (k, &t) in listed.iter().enumerate() {
        l.pointer(rsdt + sdt::HEADER_LEN + 4 * k, 4, t);
        l.pointer(xsdt + sdt::HEADER_LEN + 8 * k, 8, t);
    }
    l.rsdp = build_rsdp(addr(rsdt) as u32, addr(xsdt));
    for (offset, size, target) in [(RSDP_RSDT_OFFSET, 4, rsdt), (RSDP_XSDT_OFFSET, 8, xsdt)] {
        l.pointers.push(PointerField {
            blob: AcpiBlob::Rsdp,
            offset,
            size,
            target,
        });
    }
    for (offset, len) in [
        (RSDP_CHECKSUM_OFFSET, RSDP_V1_LEN),
        (RSDP_EXT_CHECKSUM_OFFSET, RSDP_LEN),
    ] {
        l.checksums.push(ChecksumField {
            blob: AcpiBlob::Rsdp,
            offset,
            start: 0,
            len,
        });
    }
    l
}

/// Builds every table for `config` at fixed addresses: the RSDP at `config.base`, then (from the next 64-byte
/// boundary) the tables blob of [`lay_out`].
pub fn build(config: &AcpiConfig) -> Result<AcpiTables, AcpiError> {
    if !config.base.is_multiple_of(64) || config.base >= FOUR_GIB {
        return Err(AcpiError::BadBase(config.base));
    }
    let tables_offset = RSDP_LEN.next_multiple_of(dsdt::FACS_ALIGN);
    let tables_base = config.base + tables_offset as u64;
    let l = lay_out(config.cpus, config.pci_window_start, tables_base);
    let mut image = l.rsdp.to_vec();
    image.resize(tables_offset, 0);
    image.extend_from_slice(&l.tables);
    if image.len() as u64 > config.size {
        return Err(AcpiError::TooBig(image.len(), config.size));
    }
    if config.base + image.len() as u64 > FOUR_GIB {
        return Err(AcpiError::BadBase(config.base));
    }
    let rsdp = TableInfo {
        signature: *b"RSD ",
        addr: config.base,
        len: RSDP_LEN,
    };
    let tables = std::iter::once(rsdp)
        .chain(l.entries.iter().map(|&(signature, off, len)| TableInfo {
            signature,
            addr: tables_base + off as u64,
            len,
        }))
        .collect();
    Ok(AcpiTables {
        base: config.base,
        image,
        rsdp: config.base,
        tables,
    })
}

#[cfg(test)]
mod tests;
