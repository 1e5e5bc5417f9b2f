//! The script is run the way SeaBIOS's `romfile_loader_execute` runs it (allocate and load, patch pointers, fix
//! checksums), and the result is read back the way an OS reads ACPI tables.

use super::*;
use crate::acpi::tests::{sum, u32_at, u64_at};
use crate::acpi::{fadt, lay_out, sdt, RSDP_LEN, RSDP_V1_LEN};
use std::collections::HashMap;

/// Size of the test's flat guest memory.
const MEMORY: usize = 16 << 20;
/// Where the F segment starts.
const FSEG: u64 = 0xF_0000;

fn name_at(cmd: &[u8], off: usize) -> String {
    let field = &cmd[off..off + FILE_NAME_LEN];
    let end = field
        .iter()
        .position(|&b| b == 0)
        .expect("NUL-terminated name");
    String::from_utf8(field[..end].to_vec()).unwrap()
}

/// Guest memory after a loader run, and where each file went.
struct Loaded {
    mem: Vec<u8>,
    placed: HashMap<String, (u64, usize)>,
}

impl Loaded {
    fn at(&self, addr: u64, len: usize) -> &[u8] {
        &self.mem[addr as usize..addr as usize + len]
    }

    /// A table at `addr`: its signature and checksum checked, its whole length returned.
    fn table(&self, addr: u64, signature: &[u8; 4]) -> &[u8] {
        assert_eq!(self.at(addr, 4), signature, "at {addr:#x}");
        let t = self.at(addr, u32_at(self.at(addr, 8), 4) as usize);
        assert_eq!(sum(t), 0, "{} checksum", String::from_utf8_lossy(signature));
        t
    }
}

/// What SeaBIOS does with the script: high allocations top-down from the end of RAM, F-segment ones bottom-up.
fn run_loader(script: &[u8], files: &HashMap<&str, Vec<u8>>) -> Loaded {
    assert_eq!(script.len() % COMMAND_LEN, 0);
    let mut l = Loaded {
        mem: vec![0; MEMORY],
        placed: HashMap::new(),
    };
    let mut high = MEMORY as u64;
    let mut fseg = FSEG;
    for cmd in script.chunks(COMMAND_LEN) {
        match u32_at(cmd, 0) {
            COMMAND_ALLOCATE => {
                let name = name_at(cmd, 4);
                let (align, zone) = (u64::from(u32_at(cmd, 60)), cmd[64]);
                assert!(align.is_power_of_two());
                let data = &files[name.as_str()];
                let addr = match zone {
                    ZONE_HIGH => {
                        high = (high - data.len() as u64) & !(align - 1);
                        high
                    }
                    ZONE_FSEG => {
                        let a = fseg.next_multiple_of(align);
                        fseg = a + data.len() as u64;
                        assert!(fseg <= 0x10_0000);
                        a
                    }
                    z => panic!("zone {z}"),
                };
                l.mem[addr as usize..addr as usize + data.len()].copy_from_slice(data);
                l.placed.insert(name, (addr, data.len()));
            }
            COMMAND_ADD_POINTER => {
                let (dest, len) = l.placed[&name_at(cmd, 4)];
                let (src, _) = l.placed[&name_at(cmd, 60)];
                let (offset, size) = (u32_at(cmd, 116) as usize, usize::from(cmd[120]));
                assert!([1, 2, 4, 8].contains(&size) && offset + size <= len);
                let field = &mut l.mem[dest as usize + offset..][..size];
                let mut v = [0u8; 8];
                v[..size].copy_from_slice(field);
                let patched = u64::from_le_bytes(v).wrapping_add(src).to_le_bytes();
                field.copy_from_slice(&patched[..size]);
            }
            COMMAND_ADD_CHECKSUM => {
                let (base, len) = l.placed[&name_at(cmd, 4)];
                let (offset, start, n) = (
                    u32_at(cmd, 60) as usize,
                    u32_at(cmd, 64) as usize,
                    u32_at(cmd, 68) as usize,
                );
                assert!(offset < len && start + n <= len);
                let s = sum(&l.mem[base as usize + start..][..n]);
                let b = &mut l.mem[base as usize + offset];
                *b = b.wrapping_sub(s);
            }
            other => panic!("unknown command {other}"),
        }
    }
    l
}

fn linked(cpus: u8) -> (Vec<u8>, HashMap<&'static str, Vec<u8>>) {
    let layout = lay_out(cpus, MEMORY as u32, 0);
    let files = HashMap::from([
        (ACPI_RSDP_FILE, layout.rsdp.to_vec()),
        (ACPI_TABLES_FILE, layout.tables.clone()),
    ]);
    (table_loader(&layout), files)
}

#[test]
fn script_allocates_both_files_then_patches_every_pointer_and_checksum() {
    let (script, _) = linked(1);
    let commands: Vec<u32> = script.chunks(COMMAND_LEN).map(|c| u32_at(c, 0)).collect();
    // FADT: 4 pointers; RSDT and XSDT: 2 each; RSDP: 2. Checksums: DSDT, FADT, MADT, RSDT, XSDT and the RSDP's 2.
    let expected: Vec<u32> = [COMMAND_ALLOCATE; 2]
        .into_iter()
        .chain([COMMAND_ADD_POINTER; 10])
        .chain([COMMAND_ADD_CHECKSUM; 7])
        .collect();
    assert_eq!(commands, expected);
    let first = &script[..COMMAND_LEN];
    assert_eq!(name_at(first, 4), "etc/acpi/tables");
    assert_eq!((u32_at(first, 60), first[64]), (64, ZONE_HIGH));
    assert!(first[65..].iter().all(|&b| b == 0));
    let second = &script[COMMAND_LEN..2 * COMMAND_LEN];
    assert_eq!(name_at(second, 4), "etc/acpi/rsdp");
    assert_eq!((u32_at(second, 60), second[64]), (16, ZONE_FSEG));
    // The RSDP's extended checksum is fixed after its first one, which it covers.
    let last_two: Vec<u32> = script
        .chunks(COMMAND_LEN)
        .rev()
        .take(2)
        .map(|c| u32_at(c, 60))
        .collect();
    assert_eq!(last_two, [32, 8]);
}

#[test]
fn loaded_tables_are_found_parse_and_checksum_to_zero() {
    let (script, files) = linked(3);
    let l = run_loader(&script, &files);
    // The BIOS-area scan finds the RSDP in the F segment.
    let rsdp_at = (0xE_0000..0x10_0000u64)
        .step_by(16)
        .find(|&a| l.at(a, 8) == b"RSD PTR " && sum(l.at(a, RSDP_V1_LEN)) == 0)
        .expect("RSDP found");
    assert_eq!(rsdp_at, l.placed[ACPI_RSDP_FILE].0);
    let rsdp = l.at(rsdp_at, RSDP_LEN);
    assert_eq!(sum(rsdp), 0, "extended checksum");
    let tables_at = l.placed[ACPI_TABLES_FILE].0;
    assert!(tables_at >= 0x10_0000 && tables_at.is_multiple_of(64));
    let rsdt = l.table(u64::from(u32_at(rsdp, 16)), b"RSDT");
    let xsdt = l.table(u64_at(rsdp, 24), b"XSDT");
    let from_rsdt: Vec<u64> = rsdt[36..]
        .chunks(4)
        .map(|c| u64::from(u32_at(c, 0)))
        .collect();
    let from_xsdt: Vec<u64> = xsdt[36..].chunks(8).map(|c| u64_at(c, 0)).collect();
    assert_eq!(from_rsdt, from_xsdt);
    let fadt = l.table(from_xsdt[0], b"FACP");
    let madt = l.table(from_xsdt[1], b"APIC");
    let facs = u64_at(fadt, fadt::off::X_FIRMWARE_CTRL);
    assert_eq!(facs, u64::from(u32_at(fadt, fadt::off::FIRMWARE_CTRL)));
    assert_eq!(facs % 64, 0);
    assert_eq!(l.at(facs, 4), b"FACS");
    let dsdt = u64_at(fadt, fadt::off::X_DSDT);
    assert_eq!(dsdt, u64::from(u32_at(fadt, fadt::off::DSDT)));
    l.table(dsdt, b"DSDT");
    // One local APIC entry (type 0) per processor.
    let mut off = 44;
    let mut lapics = 0;
    while off < madt.len() {
        lapics += usize::from(madt[off] == 0);
        off += usize::from(madt[off + 1]);
    }
    assert_eq!(lapics, 3);
    // Every table lies inside the allocated blob.
    for a in [from_xsdt[0], from_xsdt[1], facs, dsdt, u64_at(rsdp, 24)] {
        assert!((tables_at..tables_at + files[ACPI_TABLES_FILE].len() as u64).contains(&a));
    }
}

#[test]
fn loader_output_is_what_the_builder_lays_out_at_that_address() {
    // One builder, two outputs: relocating the base-0 layout gives byte for byte the layout built for the address.
    let (script, files) = linked(2);
    let l = run_loader(&script, &files);
    let (tables_at, len) = l.placed[ACPI_TABLES_FILE];
    let direct = lay_out(2, MEMORY as u32, tables_at);
    assert_eq!(l.at(tables_at, len), direct.tables.as_slice());
    assert_eq!(l.at(l.placed[ACPI_RSDP_FILE].0, RSDP_LEN), &direct.rsdp[..]);
    for &(_, off, len) in &direct.entries {
        let t = &direct.tables[off..off + len];
        if &t[..4] != b"FACS" {
            assert_eq!(sum(t), 0);
            assert_eq!(u32_at(t, sdt::LENGTH_OFFSET) as usize, len);
        }
    }
}
