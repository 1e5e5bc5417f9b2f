//! QEMU's BIOS linker/loader script (`etc/table-loader`, QEMU's `hw/acpi/bios-linker-loader.c`; SeaBIOS runs it
//! in `src/fw/romfile_loader.c`): how firmware that reads the ACPI tables from fw_cfg places them and patches the
//! addresses in.
//!
//! The script is a sequence of 128-byte commands, little-endian, each a u32 command number and its fields, the
//! rest zero:
//!
//! | command | fields after the number |
//! |---|---|
//! | 1 ALLOCATE | file\[56\], align u32, zone u8 (1: high memory, 2: the F segment) |
//! | 2 ADD_POINTER | dest_file\[56\], src_file\[56\], offset u32, size u8: add src's address to the `size`-byte field at dest + offset |
//! | 3 ADD_CHECKSUM | file\[56\], offset u32, start u32, length u32: make bytes start..start+length sum to zero by adjusting the byte at offset |
//!
//! [`table_loader`] writes the script for an [`AcpiLayout`] laid out at base 0: the tables blob goes to high
//! memory ([`ACPI_TABLES_FILE`]), the RSDP to the F segment ([`ACPI_RSDP_FILE`]) where an OS scans for it, every
//! pointer field becomes an ADD_POINTER and every checksum an ADD_CHECKSUM, after the pointers they cover.

use super::{AcpiBlob, AcpiLayout};

/// The script's fw_cfg file.
pub const TABLE_LOADER_FILE: &str = "etc/table-loader";
/// The tables blob's fw_cfg file.
pub const ACPI_TABLES_FILE: &str = "etc/acpi/tables";
/// The RSDP's fw_cfg file.
pub const ACPI_RSDP_FILE: &str = "etc/acpi/rsdp";
/// Bytes in one command.
pub const COMMAND_LEN: usize = 128;
/// Bytes in a file name field, NUL included.
pub const FILE_NAME_LEN: usize = 56;
/// Command: allocate memory for a file and load it there.
pub const COMMAND_ALLOCATE: u32 = 1;
/// Command: add a file's address to a pointer field of another.
pub const COMMAND_ADD_POINTER: u32 = 2;
/// Command: recompute a checksum byte.
pub const COMMAND_ADD_CHECKSUM: u32 = 3;
/// ALLOCATE zone: anywhere in high memory.
pub const ZONE_HIGH: u8 = 1;
/// ALLOCATE zone: the F segment (0xF0000-0xFFFFF), where an OS scans for the RSDP.
pub const ZONE_FSEG: u8 = 2;
/// Alignment of the tables blob (the FACS at its start needs 64).
pub const TABLES_ALIGN: u32 = super::dsdt::FACS_ALIGN as u32;
/// Alignment of the RSDP (the BIOS-area scan looks at 16-byte boundaries).
pub const RSDP_ALIGN: u32 = 16;

/// One command being built: the number, then fields appended in order.
struct Command {
    bytes: Vec<u8>,
}

impl Command {
    fn new(number: u32) -> Command {
        Command {
            bytes: number.to_le_bytes().to_vec(),
        }
    }

    /// Appends a file name field (NUL-padded).
    fn file(mut self, name: &str) -> Command {
        let mut field = [0u8; FILE_NAME_LEN];
        field[..name.len()].copy_from_slice(name.as_bytes());
        self.bytes.extend_from_slice(&field);
        self
    }

    fn u32(mut self, v: u32) -> Command {
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }

    fn u8(mut self, v: u8) -> Command {
        self.bytes.push(v);
        self
    }

    /// Pads to [`COMMAND_LEN`] and appends to `script`.
    fn emit(mut self, script: &mut Vec<u8>) {
        self.bytes.resize(COMMAND_LEN, 0);
        script.extend_from_slice(&self.bytes);
    }
}

/// The fw_cfg file holding `blob`.
pub fn file_of(blob: AcpiBlob) -> &'static str {
    match blob {
        AcpiBlob::Rsdp => ACPI_RSDP_FILE,
        AcpiBlob::Tables => ACPI_TABLES_FILE,
    }
}

/// The `etc/table-loader` script for `layout`, which must have been laid out at base 0 (its pointer fields hold
/// offsets into the tables blob).
pub fn table_loader(layout: &AcpiLayout) -> Vec<u8> {
    let mut script = Vec::new();
    Command::new(COMMAND_ALLOCATE)
        .file(ACPI_TABLES_FILE)
        .u32(TABLES_ALIGN)
        .u8(ZONE_HIGH)
        .emit(&mut script);
    Command::new(COMMAND_ALLOCATE)
        .file(ACPI_RSDP_FILE)
        .u32(RSDP_ALIGN)
        .u8(ZONE_FSEG)
        .emit(&mut script);
    for p in &layout.pointers {
        Command::new(COMMAND_ADD_POINTER)
            .file(file_of(p.blob))
            .file(ACPI_TABLES_FILE)
            .u32(p.offset as u32)
            .u8(p.size)
            .emit(&mut script);
    }
    for c in &layout.checksums {
        Command::new(COMMAND_ADD_CHECKSUM)
            .file(file_of(c.blob))
            .u32(c.offset as u32)
            .u32(c.start as u32)
            .u32(c.len as u32)
            .emit(&mut script);
    }
    script
}

#[cfg(test)]
mod tests;
