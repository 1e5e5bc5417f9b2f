//! The tables are read back the way an OS reads them: from guest memory, starting with a BIOS-area scan.

use super::*;
use crate::layout::{RSDP_SEARCH_END, RSDP_SEARCH_START};
use vx86_devices::ioapic::isa_irq_to_pin;
use vx86_devices::pm::{PM1A_CNT, PM1A_STS, PM_TMR, SLP_TYP_S5};
use vx86_devices::reset_control::RESET_CONTROL;

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}
pub(super) fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}
pub(super) fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}
pub(super) fn sum(b: &[u8]) -> u8 {
    b.iter().fold(0u8, |s, &x| s.wrapping_add(x))
}

/// A 16 MiB guest with a 64 KiB BIOS and the tables written in.
fn guest() -> GuestMemory {
    let mut mem = GuestMemory::new(16 << 20, &[0xFF; 64 * 1024]).unwrap();
    build(&AcpiConfig::default())
        .unwrap()
        .write_to(&mut mem)
        .unwrap();
    mem
}

/// Reads an ACPI table (header, then its whole length) from guest memory and checks its checksum.
fn read_table(mem: &GuestMemory, addr: u64, signature: &[u8; 4]) -> Vec<u8> {
    let mut head = [0u8; 8];
    mem.read_phys(addr, &mut head);
    assert_eq!(&head[..4], signature, "signature at {addr:#x}");
    let len = u32_at(&head, 4) as usize;
    assert!(len >= sdt::HEADER_LEN);
    let mut t = vec![0u8; len];
    mem.read_phys(addr, &mut t);
    assert_eq!(
        sum(&t),
        0,
        "{} checksum",
        String::from_utf8_lossy(signature)
    );
    assert_eq!(&t[10..16], &sdt::OEM_ID);
    t
}

/// What Linux's `acpi_find_root_pointer` does in the BIOS area: every 16 bytes, the signature and checksum.
fn scan_for_rsdp(mem: &GuestMemory) -> Option<u64> {
    (RSDP_SEARCH_START..RSDP_SEARCH_END).step_by(16).find(|&a| {
        let mut r = [0u8; RSDP_LEN];
        mem.read_phys(a, &mut r);
        &r[..8] == b"RSD PTR " && sum(&r[..RSDP_V1_LEN]) == 0
    })
}

#[test]
fn rsdp_is_found_by_the_bios_area_scan_with_both_checksums() {
    let mem = guest();
    let at = scan_for_rsdp(&mem).expect("RSDP in 0xE0000-0xFFFFF");
    assert_eq!(at, crate::layout::ACPI_RSDP_ADDR);
    let mut r = [0u8; RSDP_LEN];
    mem.read_phys(at, &mut r);
    assert_eq!(r[15], 2, "revision");
    assert_eq!(u32_at(&r, 20), 36, "length");
    assert_eq!(sum(&r), 0, "extended checksum");
    let rsdt = read_table(&mem, u64::from(u32_at(&r, 16)), b"RSDT");
    let xsdt = read_table(&mem, u64_at(&r, 24), b"XSDT");
    // Both list the FADT and the MADT, at the same addresses.
    let from_rsdt: Vec<u64> = rsdt[36..]
        .chunks(4)
        .map(|c| u64::from(u32_at(c, 0)))
        .collect();
    let from_xsdt: Vec<u64> = xsdt[36..].chunks(8).map(|c| u64_at(c, 0)).collect();
    assert_eq!(from_rsdt, from_xsdt);
    assert_eq!(from_rsdt.len(), 2);
    read_table(&mem, from_rsdt[0], b"FACP");
    read_table(&mem, from_rsdt[1], b"APIC");
}

#[test]
fn every_table_has_its_length_checksum_and_place() {
    let t = build(&AcpiConfig::default()).unwrap();
    let names: Vec<&[u8; 4]> = t.tables.iter().map(|x| &x.signature).collect();
    assert_eq!(
        names,
        [b"RSD ", b"FACS", b"DSDT", b"FACP", b"APIC", b"RSDT", b"XSDT"]
    );
    for info in &t.tables {
        let off = (info.addr - t.base) as usize;
        let bytes = &t.image[off..off + info.len];
        assert_eq!(info.addr % 16, 0);
        match &info.signature {
            b"RSD " | b"FACS" => {}
            _ => {
                assert_eq!(u32_at(bytes, 4) as usize, info.len);
                assert_eq!(sum(bytes), 0);
            }
        }
    }
    assert_eq!(t.table(b"FACP").unwrap().len, fadt::FADT_LEN);
    assert_eq!(t.table(b"FACS").unwrap().addr % 64, 0);
    assert!(t.image.len() < 1024, "{} bytes", t.image.len());
    assert!(t.base + t.image.len() as u64 <= MP_CONFIG_TABLE);
}

#[test]
fn madt_describes_one_lapic_the_ioapic_and_the_irq0_override() {
    let mem = guest();
    let t = build(&AcpiConfig::default()).unwrap();
    let madt = read_table(&mem, t.table(b"APIC").unwrap().addr, b"APIC");
    assert_eq!(
        u64::from(u32_at(&madt, 36)),
        vx86_devices::LAPIC_DEFAULT_BASE
    );
    assert_eq!(u32_at(&madt, 40) & madt::PCAT_COMPAT, madt::PCAT_COMPAT);
    let mut lapics = Vec::new();
    let mut ioapics = Vec::new();
    let mut overrides = Vec::new();
    let mut nmis = Vec::new();
    let mut off = 44;
    while off < madt.len() {
        let (ty, len) = (madt[off], usize::from(madt[off + 1]));
        assert!(len >= 2 && off + len <= madt.len(), "entry at {off}");
        let e = &madt[off..off + len];
        match ty {
            0 => lapics.push((e[2], e[3], u32_at(e, 4))),
            1 => ioapics.push((e[2], u32_at(e, 4), u32_at(e, 8))),
            2 => overrides.push((e[2], e[3], u32_at(e, 4), u16_at(e, 8))),
            4 => nmis.push((e[2], u16_at(e, 3), e[5])),
            _ => panic!("unexpected MADT entry type {ty}"),
        }
        off += len;
    }
    assert_eq!(off, madt.len());
    assert_eq!(lapics, [(0, 0, 1)], "UID 0, APIC ID 0, enabled");
    assert_eq!(
        ioapics,
        [(0, vx86_devices::IOAPIC_BASE as u32, 0)],
        "ID 0 at 0xFEC00000, GSI base 0"
    );
    assert_eq!(overrides[0], (0, 0, 2, 0), "ISA IRQ0 -> GSI 2");
    assert_eq!(
        isa_irq_to_pin(0),
        Some(2),
        "the board wires IRQ0 where the MADT says"
    );
    assert_eq!(overrides[1], (0, 9, 9, 0x000D), "SCI: level, active high");
    assert_eq!(nmis, [(0xFF, 0, 1)], "LINT1 is NMI on every CPU");

    // Two CPUs: two local APIC entries.
    let two = build(&AcpiConfig {
        cpus: 2,
        ..AcpiConfig::default()
    })
    .unwrap();
    let info = two.table(b"APIC").unwrap();
    let off = (info.addr - two.base) as usize;
    let m = &two.image[off..off + info.len];
    assert_eq!(&m[44..52], &[0, 8, 0, 0, 1, 0, 0, 0]);
    assert_eq!(&m[52..60], &[0, 8, 1, 1, 1, 0, 0, 0]);
}

#[test]
fn fadt_points_at_the_pm_block_reset_register_facs_and_dsdt() {
    use fadt::off;
    let mem = guest();
    let t = build(&AcpiConfig::default()).unwrap();
    let f = read_table(&mem, t.table(b"FACP").unwrap().addr, b"FACP");
    assert_eq!(f.len(), 276);
    assert_eq!(f[8], 6, "revision");
    assert_eq!(f[131], 0, "minor version");
    assert_eq!(u16_at(&f, off::SCI_INT), 9);
    assert_eq!(u32_at(&f, off::SMI_CMD), 0);
    assert_eq!(u32_at(&f, off::PM1A_EVT_BLK), u32::from(PM1A_STS));
    assert_eq!(u32_at(&f, off::PM1A_EVT_BLK), 0x600);
    assert_eq!(u32_at(&f, off::PM1A_CNT_BLK), u32::from(PM1A_CNT));
    assert_eq!(u32_at(&f, off::PM1A_CNT_BLK), 0x604);
    assert_eq!(u32_at(&f, off::PM_TMR_BLK), u32::from(PM_TMR));
    assert_eq!(u32_at(&f, off::PM_TMR_BLK), 0x608);
    assert_eq!(
        (f[off::PM1_EVT_LEN], f[off::PM1_CNT_LEN], f[off::PM_TMR_LEN]),
        (4, 2, 4)
    );
    assert_eq!(f[off::CENTURY], 0x32);
    assert_eq!(u16_at(&f, off::IAPC_BOOT_ARCH), 0x0003);
    let flags = u32_at(&f, off::FLAGS);
    assert_ne!(flags & fadt::F_WBINVD, 0);
    assert_ne!(flags & fadt::F_RESET_REG_SUP, 0);
    assert_eq!(flags & fadt::F_HW_REDUCED_ACPI, 0);
    assert_eq!(flags & fadt::F_TMR_VAL_EXT, 0, "24-bit PM timer");
    // RESET_REG: system I/O, 8 bits, port 0xCF9; value 6.
    assert_eq!(&f[off::RESET_REG..off::RESET_REG + 4], &[1, 8, 0, 0]);
    assert_eq!(u64_at(&f, off::RESET_REG + 4), u64::from(RESET_CONTROL));
    assert_eq!(f[off::RESET_VALUE], 0x06);
    // The 64-bit blocks agree with the 32-bit ones.
    for (x, legacy, bits) in [
        (off::X_PM1A_EVT_BLK, off::PM1A_EVT_BLK, 32),
        (off::X_PM1A_CNT_BLK, off::PM1A_CNT_BLK, 16),
        (off::X_PM_TMR_BLK, off::PM_TMR_BLK, 32),
    ] {
        assert_eq!(f[x], 1, "system I/O");
        assert_eq!(f[x + 1], bits);
        assert_eq!(u64_at(&f, x + 4), u64::from(u32_at(&f, legacy)));
    }
    // FACS and DSDT, through both the 32- and 64-bit pointers.
    let facs = u32_at(&f, off::FIRMWARE_CTRL);
    assert_eq!(u64::from(facs), u64_at(&f, off::X_FIRMWARE_CTRL));
    assert_eq!(facs % 64, 0);
    let mut fb = [0u8; 64];
    mem.read_phys(u64::from(facs), &mut fb);
    assert_eq!(&fb[..4], b"FACS");
    assert_eq!(u32_at(&fb, 4), 64);
    let dsdt = u32_at(&f, off::DSDT);
    assert_eq!(u64::from(dsdt), u64_at(&f, off::X_DSDT));
    let d = read_table(&mem, u64::from(dsdt), b"DSDT");
    assert_eq!(d[8], 2, "64-bit AML integers");
    let aml = AmlReader::parse(&d[36..]);
    assert_eq!(
        aml[0],
        Aml::Name(
            "\\_S5_".into(),
            Box::new(Aml::Package(vec![Aml::Integer(0); 4]))
        )
    );
}

/// The AML objects our DSDT uses, read back the way an AML interpreter reads them.
#[derive(Debug, Clone, PartialEq)]
enum Aml {
    Name(String, Box<Aml>),
    Scope(String, Vec<Aml>),
    Device(String, Vec<Aml>),
    Package(Vec<Aml>),
    Buffer(Vec<u8>),
    String(String),
    Integer(u64),
}

/// A reader for the subset of the AML grammar (ACPI 6.x chapter 20) in [`Aml`]; panics on anything else, and
/// checks that every package ends exactly where its PkgLength says.
struct AmlReader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl AmlReader<'_> {
    /// Every term in `aml`, which must be consumed exactly.
    fn parse(aml: &[u8]) -> Vec<Aml> {
        let mut r = AmlReader { b: aml, pos: 0 };
        r.terms_until(aml.len())
    }

    fn byte(&mut self) -> u8 {
        let x = self.b[self.pos];
        self.pos += 1;
        x
    }

    fn le(&mut self, n: usize) -> u64 {
        (0..n).fold(0, |v, i| v | u64::from(self.byte()) << (8 * i))
    }

    /// Reads a PkgLength; returns the offset where its package ends (the length counts the PkgLength itself).
    fn pkg_end(&mut self) -> usize {
        let start = self.pos;
        let lead = self.byte();
        let following = usize::from(lead >> 6);
        let len = if following == 0 {
            usize::from(lead & 0x3F)
        } else {
            assert_eq!(lead & 0x30, 0, "reserved PkgLength bits at {start}");
            (0..following).fold(usize::from(lead & 0x0F), |l, i| {
                l | usize::from(self.byte()) << (4 + 8 * i)
            })
        };
        assert!(
            start + len <= self.b.len(),
            "package at {start} runs past the end"
        );
        start + len
    }

    fn name_seg(&mut self) -> String {
        let seg: Vec<u8> = (0..4).map(|_| self.byte()).collect();
        assert!(
            (seg[0].is_ascii_uppercase() || seg[0] == b'_')
                && seg[1..]
                    .iter()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'_'),
            "bad NameSeg {seg:?}"
        );
        String::from_utf8(seg).unwrap()
    }

    /// A NameString: an optional root prefix and one NameSeg (no dual or multi-name paths in our AML).
    fn name_string(&mut self) -> String {
        if self.b[self.pos] == b'\\' {
            self.pos += 1;
            return format!("\\{}", self.name_seg());
        }
        self.name_seg()
    }

    fn terms_until(&mut self, end: usize) -> Vec<Aml> {
        let mut terms = Vec::new();
        while self.pos < end {
            terms.push(self.term());
        }
        assert_eq!(self.pos, end, "a term ran past its package");
        terms
    }

    fn term(&mut self) -> Aml {
        let at = self.pos;
        match self.byte() {
            0x08 => Aml::Name(self.name_string(), Box::new(self.data())),
            0x10 => {
                let end = self.pkg_end();
                Aml::Scope(self.name_string(), self.terms_until(end))
            }
            0x5B if self.b[self.pos] == 0x82 => {
                self.pos += 1;
                let end = self.pkg_end();
                Aml::Device(self.name_string(), self.terms_until(end))
            }
            op => panic!("unexpected AML term opcode {op:#04x} at {at}"),
        }
    }

    fn data(&mut self) -> Aml {
        let at = self.pos;
        match self.byte() {
            0x00 => Aml::Integer(0),
            0x01 => Aml::Integer(1),
            0x0A => Aml::Integer(self.le(1)),
            0x0B => Aml::Integer(self.le(2)),
            0x0C => Aml::Integer(self.le(4)),
            0x0E => Aml::Integer(self.le(8)),
            0x0D => {
                let len = self.b[self.pos..].iter().position(|&c| c == 0).unwrap();
                let s = String::from_utf8(self.b[self.pos..self.pos + len].to_vec()).unwrap();
                self.pos += len + 1;
                Aml::String(s)
            }
            0x11 => {
                let end = self.pkg_end();
                let Aml::Integer(size) = self.data() else {
                    panic!("BufferSize at {at} is not an integer")
                };
                let bytes = self.b[self.pos..end].to_vec();
                assert_eq!(
                    bytes.len() as u64,
                    size,
                    "buffer at {at}: BufferSize and ByteList agree"
                );
                self.pos = end;
                Aml::Buffer(bytes)
            }
            0x12 => {
                let end = self.pkg_end();
                let count = usize::from(self.byte());
                let mut elements = Vec::new();
                while self.pos < end {
                    elements.push(self.data());
                }
                assert_eq!(self.pos, end);
                assert_eq!(elements.len(), count, "package at {at}: NumElements");
                Aml::Package(elements)
            }
            op => panic!("unexpected AML data opcode {op:#04x} at {at}"),
        }
    }
}

/// The object `name` gives in `terms`, if any.
fn named<'a>(terms: &'a [Aml], name: &str) -> Option<&'a Aml> {
    terms.iter().find_map(|t| match t {
        Aml::Name(n, object) if n == name => Some(&**object),
        _ => None,
    })
}

/// An I/O port descriptor read from a resource template: (decodes 16 bits, minimum, maximum, alignment, length).
type IoPort = (bool, u16, u16, u8, u8);

/// Walks a resource template (ACPI 6.x 6.4): its I/O port descriptors, checking that an end tag closes it.
fn io_ports(template: &[u8]) -> Vec<IoPort> {
    let mut ports = Vec::new();
    let mut off = 0;
    loop {
        let tag = template[off];
        assert_eq!(tag & 0x80, 0, "only small resource items expected at {off}");
        let (item, len) = ((tag >> 3) & 0x0F, usize::from(tag & 0x07));
        let body = &template[off + 1..off + 1 + len];
        match item {
            0x08 => {
                assert_eq!(len, 7, "I/O port descriptor length");
                ports.push((
                    body[0] & 1 != 0,
                    u16_at(body, 1),
                    u16_at(body, 3),
                    body[5],
                    body[6],
                ));
            }
            0x0F => {
                assert_eq!(len, 1, "end tag length");
                assert_eq!(off + 2, template.len(), "the end tag ends the template");
                let checksum = body[0];
                assert!(checksum == 0 || sum(template) == 0, "end tag checksum");
                return ports;
            }
            other => panic!("unexpected small resource item {other:#x} at {off}"),
        }
        off += 1 + len;
    }
}

#[test]
fn dsdt_declares_the_pvpanic_device_on_its_port() {
    use vx86_devices::pvpanic::{PvPanic, PVPANIC_PANICKED, PVPANIC_PORT};
    use vx86_devices::IoDevice;
    let mem = guest();
    let t = build(&AcpiConfig::default()).unwrap();
    let d = read_table(&mem, t.table(b"DSDT").unwrap().addr, b"DSDT");
    let aml = AmlReader::parse(&d[36..]);
    let devices: Vec<(&String, &Vec<Aml>)> = aml
        .iter()
        .filter_map(|t| match t {
            Aml::Scope(scope, terms) if scope == "\\_SB_" => Some(terms),
            _ => None,
        })
        .flatten()
        .filter_map(|t| match t {
            Aml::Device(name, terms) => Some((name, terms)),
            _ => None,
        })
        .collect();
    let Some((_, pevt)) = devices.iter().find(|(name, _)| *name == "PEVT") else {
        panic!("no PEVT under \\_SB: {devices:?}")
    };
    assert_eq!(named(pevt, "_HID"), Some(&Aml::String("QEMU0001".into())));
    let Some(Aml::Buffer(crs)) = named(pevt, "_CRS") else {
        panic!("_CRS is not a buffer: {pevt:?}")
    };
    assert_eq!(
        io_ports(crs),
        [(true, 0x505, 0x505, 1, 1)],
        "IO (Decode16, 0x0505, 0x0505, 0x01, 0x01)"
    );
    // The board's device is at that port, and answers what Linux's driver probes for.
    assert_eq!(PVPANIC_PORT, 0x505);
    let mut dev = PvPanic::new();
    assert_ne!(
        dev.io_read(PVPANIC_PORT, 1) & u32::from(PVPANIC_PANICKED),
        0
    );
}

/// Pins the bytes the module docs list, so the table there stays true (iasl agrees: see `iasl_disassembles_the_dsdt`).
#[test]
fn pvpanic_aml_is_the_documented_bytes() {
    #[rustfmt::skip]
    let documented = [
        0x10, 0x2F, 0x5C, 0x5F, 0x53, 0x42, 0x5F, // Scope (\_SB_)
        0x5B, 0x82, 0x27, 0x50, 0x45, 0x56, 0x54, // Device (PEVT)
        0x08, 0x5F, 0x48, 0x49, 0x44, // Name (_HID,
        0x0D, 0x51, 0x45, 0x4D, 0x55, 0x30, 0x30, 0x30, 0x31, 0x00, // "QEMU0001")
        0x08, 0x5F, 0x43, 0x52, 0x53, // Name (_CRS,
        0x11, 0x0D, 0x0A, 0x0A, // Buffer (10)
        0x47, 0x01, 0x05, 0x05, 0x05, 0x05, 0x01, 0x01, // IO (Decode16, 0x505, 0x505, 1, 1)
        0x79, 0x00, // end tag
    ];
    assert_eq!(dsdt::aml_pvpanic(), documented);
}

#[test]
fn pkg_length_reads_back_in_every_form() {
    assert_eq!(dsdt::pkg_length(62), [0x3F]);
    assert_eq!(
        dsdt::pkg_length(63),
        [0x41, 0x04],
        "65 = 0x41: nibble 1, then 0x04"
    );
    for (body, bytes) in [
        (0, 1),
        (62, 1),
        (63, 2),
        (300, 2),
        (4093, 2),
        (4094, 3),
        (0xF_FFFC, 3),
        (0xF_FFFD, 4),
    ] {
        let mut aml = dsdt::pkg_length(body);
        assert_eq!(aml.len(), bytes, "PkgLength size for a {body}-byte body");
        aml.resize(bytes + body, 0);
        let mut r = AmlReader { b: &aml, pos: 0 };
        assert_eq!(r.pkg_end(), aml.len(), "{body}-byte body");
        assert_eq!(r.pos, bytes);
    }
}

#[test]
fn s5_package_gives_the_slp_typ_the_pm_block_powers_off_on() {
    let aml = dsdt::AML_S5;
    assert_eq!(&aml[..6], b"\x08\\_S5_");
    assert_eq!(aml[6], 0x12, "PackageOp");
    assert_eq!(
        usize::from(aml[7]),
        aml.len() - 7,
        "PkgLength covers the rest"
    );
    assert_eq!(aml[8], 4, "NumElements");
    // ZeroOp is the integer 0: SLP_TYPa.
    assert_eq!(u16::from(aml[9]), SLP_TYP_S5);
    // And the PM block powers off on exactly that write.
    let mut pm = vx86_devices::pm::AcpiPm::new(vx86_devices::Clock::virtual_time());
    use vx86_devices::IoDevice;
    pm.io_write(PM1A_CNT, 2, u32::from(SLP_TYP_S5 << 10));
    assert_eq!(pm.take_request(), None);
    pm.io_write(PM1A_CNT, 2, u32::from(SLP_TYP_S5 << 10 | 0x2000));
    assert_eq!(
        pm.take_request(),
        Some(vx86_devices::BoardRequest::PowerOff)
    );
}

#[test]
fn bad_bases_and_non_ram_are_refused() {
    assert!(matches!(
        build(&AcpiConfig {
            base: 0xE_0010,
            ..AcpiConfig::default()
        }),
        Err(AcpiError::BadBase(_))
    ));
    assert!(matches!(
        build(&AcpiConfig {
            base: 0xFFFF_FFC0,
            ..AcpiConfig::default()
        }),
        Err(AcpiError::BadBase(_))
    ));
    assert!(matches!(
        build(&AcpiConfig {
            size: 100,
            ..AcpiConfig::default()
        }),
        Err(AcpiError::TooBig(_, 100))
    ));
    // A 128 KiB BIOS covers 0xE0000: the tables cannot go there.
    let mut mem = GuestMemory::new(16 << 20, &[0; 128 * 1024]).unwrap();
    let t = build(&AcpiConfig::default()).unwrap();
    assert!(matches!(t.write_to(&mut mem), Err(AcpiError::Memory(_))));
    // Elsewhere in RAM they can (the boot protocol's acpi_rsdp_addr then points at them).
    let t = build(&AcpiConfig {
        base: 0x9_0000,
        ..AcpiConfig::default()
    })
    .unwrap();
    t.write_to(&mut mem).unwrap();
    assert_eq!(t.rsdp, 0x9_0000);
}

/// Cross-checks the hand-assembled DSDT with ACPICA's disassembler, where `iasl` is installed (`.ci/run` installs
/// acpica-tools); elsewhere it says it skipped (and fails under `CI=true`).
#[test]
fn iasl_disassembles_the_dsdt() {
    if std::process::Command::new("iasl")
        .arg("-v")
        .output()
        .is_err()
    {
        vx86_cpu::testing::skip_outside_ci("iasl (apt-get install acpica-tools) is not installed");
        return;
    }
    let t = build(&AcpiConfig::default()).unwrap();
    let info = t.table(b"DSDT").unwrap();
    let off = (info.addr - t.base) as usize;
    let dir = std::env::temp_dir().join(format!("vx86-iasl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let aml = dir.join("dsdt.aml");
    std::fs::write(&aml, &t.image[off..off + info.len]).unwrap();
    let out = std::process::Command::new("iasl")
        .arg("-d")
        .arg(&aml)
        .output()
        .expect("iasl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dsl = std::fs::read_to_string(dir.join("dsdt.dsl")).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    println!("{dsl}");
    for expected in [
        "Device (PCI0)",
        "Name (_HID, EisaId (\"PNP0A03\")",
        "WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,",
        "WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,",
        "0x0CF7,             // Range Maximum",
        "DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable, ReadWrite,",
        "DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite,",
        "0xFEBFFFFF,         // Range Maximum",
        "Name (\\_S5, Package (0x04)",
        "Scope (\\_SB)",
        "Device (PEVT)",
        "Name (_HID, \"QEMU0001\")",
        "IO (Decode16,",
        "0x0505,             // Range Minimum",
        "0x0505,             // Range Maximum",
        "0x01,               // Alignment",
        "0x01,               // Length",
    ] {
        assert!(dsl.contains(expected), "{expected:?} missing from:\n{dsl}");
    }
}
