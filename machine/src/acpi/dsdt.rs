//! The DSDT and FACS: the smallest AML that lets Linux power the machine off, find the pvpanic device and scan
//! PCI bus 0, and the firmware control structure every non-hardware-reduced ACPI system has.
//!
//! The DSDT's AML is three statements, hand-assembled (ACPI 6.x chapter 20; resource descriptors in chapter 6.4).
//! The last, the PCI root bridge, is built by [`aml_pci_root`] from the same pieces as the pvpanic device.
//! First `Name (\_S5, Package (0x04) { Zero, Zero, Zero, Zero })` ([`AML_S5`]):
//!
//! | bytes | AML | meaning |
//! |---|---|---|
//! | `08` | DefName := NameOp NameString DataRefObject | NameOp |
//! | `5C` | RootChar `\` | the name is in the root scope |
//! | `5F 53 35 5F` | NameSeg `_S5_` | the S5 (soft off) sleep object |
//! | `12` | DefPackage := PackageOp PkgLength NumElements PackageElementList | PackageOp |
//! | `06` | PkgLength (one byte, bits 0-5) | 6 bytes: this byte, NumElements and the four elements |
//! | `04` | NumElements | 4 |
//! | `00` | ZeroOp | SLP_TYPa = 0: the value PM1a_CNT.SLP_TYP takes for S5 (devices' `SLP_TYP_S5`) |
//! | `00` | ZeroOp | SLP_TYPb = 0 (there is no PM1b block) |
//! | `00 00` | ZeroOp ZeroOp | reserved |
//!
//! To power off, Linux reads SLP_TYPa from `\_S5` and writes `SLP_TYPa << 10 | SLP_EN` to PM1a_CNT (0x604).
//!
//! Then the pvpanic device ([`aml_pvpanic`]), 48 bytes:
//!
//! ```text
//! Scope (\_SB) {
//!     Device (PEVT) {
//!         Name (_HID, "QEMU0001")
//!         Name (_CRS, ResourceTemplate () { IO (Decode16, 0x0505, 0x0505, 0x01, 0x01) })
//!     }
//! }
//! ```
//!
//! | bytes | AML | meaning |
//! |---|---|---|
//! | `10` | DefScope := ScopeOp PkgLength NameString TermList | ScopeOp |
//! | `2F` | PkgLength (one byte) | 47: this byte, the name and the Device (under 64, so one byte is enough) |
//! | `5C 5F 53 42 5F` | RootChar NameSeg `\_SB_` | the system bus scope |
//! | `5B 82` | DefDevice := ExtOpPrefix DeviceOp PkgLength NameString TermList | DeviceOp |
//! | `27` | PkgLength (one byte) | 39: this byte, the name and the two Names |
//! | `50 45 56 54` | NameSeg `PEVT` | the device's name (QEMU's) |
//! | `08 5F 48 49 44` | NameOp NameSeg `_HID` | the hardware ID... |
//! | `0D 51 45 4D 55 30 30 30 31 00` | String := StringPrefix AsciiCharList NullChar | ...is pvpanic's ACPI ID |
//! | `08 5F 43 52 53` | NameOp NameSeg `_CRS` | the current resources... |
//! | `11` | DefBuffer := BufferOp PkgLength BufferSize ByteList | ...are a buffer (what ResourceTemplate compiles to) |
//! | `0D` | PkgLength (one byte) | 13: this byte, BufferSize and the 10 bytes of descriptors |
//! | `0A 0A` | BufferSize := BytePrefix ByteData | 10 bytes |
//! | `47` | small item, name 0x08 (I/O port), length 7 | I/O port descriptor |
//! | `01` | information bit 0 | decodes 16 address bits |
//! | `05 05` `05 05` | range minimum, range maximum (u16 each) | fixed at port 0x505 |
//! | `01` `01` | alignment, length | one port |
//! | `79 00` | small item, name 0x0F (end tag), length 1; checksum | end of the template; checksum 0: not checked |
//!
//! Linux's `pvpanic-mmio` driver binds to `QEMU0001` and takes the port from `_CRS`. The PkgLengths are computed
//! by [`pkg_length`], which also does the multi-byte form the AML grammar has for packages of 64 bytes and more.

use super::sdt::Sdt;
use vx86_devices::pvpanic::PVPANIC_PORT;

/// DSDT revision: 2 means AML integers are 64 bits wide.
pub const DSDT_REVISION: u8 = 2;

/// ZeroOp: the integer 0.
const ZERO_OP: u8 = 0x00;
/// NameOp: `Name (NameString, DataRefObject)`.
const NAME_OP: u8 = 0x08;
/// BytePrefix: a one-byte integer follows.
const BYTE_PREFIX: u8 = 0x0A;
/// WordPrefix: a two-byte integer follows.
const WORD_PREFIX: u8 = 0x0B;
/// DWordPrefix: a four-byte integer follows.
const DWORD_PREFIX: u8 = 0x0C;
/// StringPrefix: a NUL-terminated ASCII string follows.
const STRING_PREFIX: u8 = 0x0D;
/// ScopeOp: `Scope (NameString) { TermList }`.
const SCOPE_OP: u8 = 0x10;
/// BufferOp: `Buffer (BufferSize) { ByteList }`.
const BUFFER_OP: u8 = 0x11;
/// PackageOp: `Package (NumElements) { PackageElementList }`.
const PACKAGE_OP: u8 = 0x12;
/// DeviceOp, after ExtOpPrefix (0x5B): `Device (NameString) { TermList }`.
const DEVICE_OP: [u8; 2] = [0x5B, 0x82];
/// RootChar: the name string starts at the namespace root.
const ROOT_CHAR: u8 = b'\\';

/// Small resource item tag of an I/O port descriptor (item name 0x08, 7 bytes follow).
const RES_IO_PORT: u8 = 0x47;
/// I/O port descriptor information byte: the device decodes 16 address bits (Decode16).
const RES_IO_DECODE16: u8 = 0x01;
/// Small resource item tag of the end tag (item name 0x0F, 1 byte follows: the checksum).
const RES_END_TAG: u8 = 0x79;

/// The AML of `Name (\_S5, Package (0x04) { Zero, Zero, Zero, Zero })` (see the module docs, byte by byte).
#[rustfmt::skip]
pub const AML_S5: [u8; 13] = [
    NAME_OP,                // Name (
    ROOT_CHAR,              //   \
    b'_', b'S', b'5', b'_', //   NameSeg "_S5_",
    PACKAGE_OP,             //   Package
    0x06,                   //     PkgLength: 6
    0x04,                   //     NumElements: 4
    ZERO_OP,                //     SLP_TYPa
    ZERO_OP,                //     SLP_TYPb
    ZERO_OP,                //     reserved
    ZERO_OP,                //     reserved
];

/// pvpanic's ACPI hardware ID (QEMU's), which Linux's `pvpanic-mmio` driver matches.
pub const PVPANIC_HID: &str = "QEMU0001";

/// The PkgLength encoding (ACPI 6.x 20.2.4) of a package whose contents after the PkgLength are `body_len` bytes.
///
/// The encoded length counts the PkgLength bytes themselves. Under 64 it is one byte (bits 0-5). Otherwise the lead
/// byte's bits 6-7 give the number of bytes that follow (1-3), its bits 0-3 hold the length's low nibble, and each
/// following byte the next 8 bits, so 2, 3 and 4 bytes reach 2^12, 2^20 and 2^28.
///
/// # Panics
/// If the package is 2^28 bytes or more, which AML cannot express (our tables are a few hundred bytes).
pub fn pkg_length(body_len: usize) -> Vec<u8> {
    if body_len + 1 < 1 << 6 {
        return vec![(body_len + 1) as u8];
    }
    let following = (1..=3usize)
        .find(|&n| body_len + 1 + n < 1 << (4 + 8 * n))
        .expect("an AML package is under 256 MiB");
    let total = body_len + 1 + following;
    let mut encoded = vec![(following << 6) as u8 | (total & 0xF) as u8];
    encoded.extend((0..following).map(|i| (total >> (4 + 8 * i)) as u8));
    encoded
}

/// `op PkgLength body`: the shape of every AML object with a length (Scope, Device, Buffer, Package).
fn with_pkg_length(op: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = op.to_vec();
    out.extend(pkg_length(body.len()));
    out.extend_from_slice(body);
    out
}

/// An integer constant in the shortest of ByteConst, WordConst and DWordConst.
fn aml_integer(value: u32) -> Vec<u8> {
    let bytes = value.to_le_bytes();
    match value {
        0..=0xFF => vec![BYTE_PREFIX, bytes[0]],
        0x100..=0xFFFF => vec![WORD_PREFIX, bytes[0], bytes[1]],
        _ => [&[DWORD_PREFIX][..], &bytes].concat(),
    }
}

/// A string constant: StringPrefix, the ASCII characters, NUL.
fn aml_string(s: &str) -> Vec<u8> {
    [&[STRING_PREFIX], s.as_bytes(), &[0]].concat()
}

/// `Name (name, object)` for a NameSeg in the current scope.
fn aml_name(name: &[u8; 4], object: &[u8]) -> Vec<u8> {
    [&[NAME_OP][..], name, object].concat()
}

/// `Buffer (len) { bytes }`.
fn aml_buffer(bytes: &[u8]) -> Vec<u8> {
    let size = u32::try_from(bytes.len()).expect("an AML buffer is under 4 GiB");
    with_pkg_length(&[BUFFER_OP], &[aml_integer(size), bytes.to_vec()].concat())
}

/// `Scope (\name) { terms }` for a NameSeg under the root.
fn aml_root_scope(name: &[u8; 4], terms: &[u8]) -> Vec<u8> {
    with_pkg_length(&[SCOPE_OP], &[&[ROOT_CHAR][..], name, terms].concat())
}

/// `Device (name) { terms }` for a NameSeg in the current scope.
fn aml_device(name: &[u8; 4], terms: &[u8]) -> Vec<u8> {
    with_pkg_length(&DEVICE_OP, &[&name[..], terms].concat())
}

/// `IO (Decode16, port, port, 0x01, len)`: an I/O port descriptor for `len` ports fixed at `port`.
fn io_port_descriptor(port: u16, len: u8) -> Vec<u8> {
    let [lo, hi] = port.to_le_bytes();
    vec![RES_IO_PORT, RES_IO_DECODE16, lo, hi, lo, hi, 0x01, len]
}

/// `ResourceTemplate () { descriptors }`: a buffer of the descriptors and an end tag (checksum 0: not checked).
fn resource_template(descriptors: &[u8]) -> Vec<u8> {
    aml_buffer(&[descriptors, &[RES_END_TAG, 0x00]].concat())
}

/// The AML of `Scope (\_SB) { Device (PEVT) { Name (_HID, "QEMU0001") Name (_CRS, ...) } }`: the pvpanic device
/// at its one I/O port (see the module docs, byte by byte).
pub fn aml_pvpanic() -> Vec<u8> {
    let hid = aml_name(b"_HID", &aml_string(PVPANIC_HID));
    let crs = aml_name(
        b"_CRS",
        &resource_template(&io_port_descriptor(PVPANIC_PORT, 1)),
    );
    aml_root_scope(b"_SB_", &aml_device(b"PEVT", &[hid, crs].concat()))
}

/// The PCI host bridge's ACPI ID, `EisaId ("PNP0A03")` compressed (three 5-bit letters, four hex digits).
pub const PCI_HOST_BRIDGE_EISA_ID: u32 = 0x030A_D041;

/// Large resource item: word address space descriptor (13 bytes follow).
const RES_WORD_ADDRESS: u8 = 0x88;
/// Large resource item: dword address space descriptor (23 bytes follow).
const RES_DWORD_ADDRESS: u8 = 0x87;
/// Address space descriptor resource type: memory.
const SPACE_MEMORY: u8 = 0;
/// Address space descriptor resource type: I/O.
const SPACE_IO: u8 = 1;
/// Address space descriptor resource type: bus numbers.
const SPACE_BUS: u8 = 2;
/// Address space general flags: a producer (the bridge hands the range to its children), positive decode, minimum
/// and maximum fixed.
const PRODUCER_FIXED: u8 = 0x0C;
/// I/O type-specific flags: the range covers ISA and non-ISA ports (EntireRange).
const IO_ENTIRE_RANGE: u8 = 0x03;
/// Memory type-specific flags: read-write, cacheable.
const MEMORY_CACHEABLE_RW: u8 = 0x03;
/// Memory type-specific flags: read-write, not cacheable.
const MEMORY_UNCACHEABLE_RW: u8 = 0x01;
/// The last byte of the PCI memory window: just below the IOAPIC's page.
pub const PCI_WINDOW_END: u32 = 0xFEBF_FFFF;

/// A word address space descriptor (ACPI 6.x 6.4.3.5.3) of a bridge-produced range `min..=max`, with the
/// type-specific `flags`.
fn word_address(space: u8, flags: u8, min: u16, max: u16) -> Vec<u8> {
    let mut d = vec![RES_WORD_ADDRESS, 13, 0, space, PRODUCER_FIXED, flags];
    for field in [0, min, max, 0, max - min + 1] {
        d.extend(field.to_le_bytes());
    }
    d
}

/// A dword address space descriptor (ACPI 6.x 6.4.3.5.2) of a bridge-produced memory range `min..=max`.
fn dword_memory(flags: u8, min: u32, max: u32) -> Vec<u8> {
    let mut d = vec![
        RES_DWORD_ADDRESS,
        23,
        0,
        SPACE_MEMORY,
        PRODUCER_FIXED,
        flags,
    ];
    for field in [0, min, max, 0, max - min + 1] {
        d.extend(field.to_le_bytes());
    }
    d
}

/// The AML of `Scope (\_SB) { Device (PCI0) { Name (_HID, EisaId ("PNP0A03")) Name (_UID, Zero) Name (_CRS,
/// ...) } }`: the root of PCI bus 0, which an ACPI kernel scans only once the namespace declares it, with the
/// windows QEMU's i440FX gives it: buses 0-255, the configuration ports, the I/O ports around them, the VGA
/// window, and memory from `window_start` (the top of RAM below 4 GiB) to [`PCI_WINDOW_END`].
pub fn aml_pci_root(window_start: u32) -> Vec<u8> {
    let hid = aml_name(b"_HID", &aml_integer(PCI_HOST_BRIDGE_EISA_ID));
    let uid = aml_name(b"_UID", &[ZERO_OP]);
    let resources = [
        word_address(SPACE_BUS, 0, 0, 0xFF),
        io_port_descriptor(0xCF8, 8),
        word_address(SPACE_IO, IO_ENTIRE_RANGE, 0, 0xCF7),
        word_address(SPACE_IO, IO_ENTIRE_RANGE, 0xD00, 0xFFFF),
        dword_memory(MEMORY_CACHEABLE_RW, 0xA_0000, 0xB_FFFF),
        dword_memory(MEMORY_UNCACHEABLE_RW, window_start, PCI_WINDOW_END),
    ]
    .concat();
    let crs = aml_name(b"_CRS", &resource_template(&resources));
    aml_root_scope(b"_SB_", &aml_device(b"PCI0", &[hid, uid, crs].concat()))
}

/// Builds the DSDT: the header, [`AML_S5`], [`aml_pvpanic`] and [`aml_pci_root`] with its memory window from
/// `pci_window_start`.
pub fn build_dsdt(pci_window_start: u32) -> Vec<u8> {
    let mut t = Sdt::new(b"DSDT", DSDT_REVISION);
    t.bytes(&AML_S5);
    t.bytes(&aml_pvpanic());
    t.bytes(&aml_pci_root(pci_window_start));
    t.finish()
}

/// Length of the FACS.
pub const FACS_LEN: usize = 64;
/// Required alignment of the FACS.
pub const FACS_ALIGN: usize = 64;
/// FACS version (ACPI 5.0 and later).
pub const FACS_VERSION: u8 = 2;

/// Builds the FACS (ACPI 6.x 5.2.10; it has no checksum): Signature "FACS" at 0, Length u32 at 4, Hardware
/// Signature u32 at 8, Firmware Waking Vector u32 at 12, Global Lock u32 at 16, Flags u32 at 20, X Firmware Waking
/// Vector u64 at 24, Version u8 at 32, reserved\[3\], OSPM Flags u32 at 36, reserved\[24\]. All zero but the
/// signature, length and version: no S4BIOS, no 64-bit wake, no waking vector (we never resume).
pub fn build_facs() -> Vec<u8> {
    let mut f = vec![0u8; FACS_LEN];
    f[0..4].copy_from_slice(b"FACS");
    f[4..8].copy_from_slice(&(FACS_LEN as u32).to_le_bytes());
    f[32] = FACS_VERSION;
    f
}
