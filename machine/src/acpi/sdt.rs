//! The pieces every ACPI table shares: the 36-byte system description table header, the checksum, and the
//! generic address structure (ACPI 6.x sections 5.2.6 and 5.2.3.2).

/// OEM ID in every header and in the RSDP.
pub const OEM_ID: [u8; 6] = *b"VX86  ";
/// OEM table ID in every header.
pub const OEM_TABLE_ID: [u8; 8] = *b"VX86PC  ";
/// OEM revision in every header.
pub const OEM_REVISION: u32 = 1;
/// Creator (ASL compiler) ID in every header.
pub const CREATOR_ID: [u8; 4] = *b"VX86";
/// Creator revision in every header.
pub const CREATOR_REVISION: u32 = 1;
/// Length of the system description table header.
pub const HEADER_LEN: usize = 36;
/// Offset of the header's Length field.
pub const LENGTH_OFFSET: usize = 4;
/// Offset of the header's Checksum field.
pub const CHECKSUM_OFFSET: usize = 9;

/// The byte that makes `bytes` sum to zero (mod 256) when stored in a checksum field that currently holds 0.
pub fn checksum(bytes: &[u8]) -> u8 {
    0u8.wrapping_sub(bytes.iter().fold(0u8, |s, &b| s.wrapping_add(b)))
}

/// A system description table being built: the header, then the body appended little-endian field by field;
/// [`Sdt::finish`] fills in the length and checksum.
///
/// Header layout: Signature\[4\] at 0, Length u32 at 4, Revision u8 at 8, Checksum u8 at 9, OEMID\[6\] at 10,
/// OEM Table ID\[8\] at 16, OEM Revision u32 at 24, Creator ID\[4\] at 28, Creator Revision u32 at 32.
#[derive(Debug, Clone)]
pub struct Sdt {
    bytes: Vec<u8>,
}

impl Sdt {
    /// A table with `signature` and `revision`, empty body.
    pub fn new(signature: &[u8; 4], revision: u8) -> Sdt {
        let mut t = Sdt {
            bytes: Vec::with_capacity(256),
        };
        t.bytes(signature)
            .u32(0)
            .u8(revision)
            .u8(0)
            .bytes(&OEM_ID)
            .bytes(&OEM_TABLE_ID)
            .u32(OEM_REVISION)
            .bytes(&CREATOR_ID)
            .u32(CREATOR_REVISION);
        t
    }

    /// Appends a byte.
    pub fn u8(&mut self, v: u8) -> &mut Sdt {
        self.bytes.push(v);
        self
    }

    /// Appends a little-endian u16.
    pub fn u16(&mut self, v: u16) -> &mut Sdt {
        self.bytes(&v.to_le_bytes())
    }

    /// Appends a little-endian u32.
    pub fn u32(&mut self, v: u32) -> &mut Sdt {
        self.bytes(&v.to_le_bytes())
    }

    /// Appends a little-endian u64.
    pub fn u64(&mut self, v: u64) -> &mut Sdt {
        self.bytes(&v.to_le_bytes())
    }

    /// Appends raw bytes.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Sdt {
        self.bytes.extend_from_slice(b);
        self
    }

    /// Bytes so far (header included): the offset the next field lands at.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether nothing has been appended (never: the header is always there).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The finished table: Length and Checksum filled in.
    pub fn finish(mut self) -> Vec<u8> {
        let len = self.bytes.len() as u32;
        self.bytes[LENGTH_OFFSET..LENGTH_OFFSET + 4].copy_from_slice(&len.to_le_bytes());
        self.bytes[CHECKSUM_OFFSET] = 0;
        self.bytes[CHECKSUM_OFFSET] = checksum(&self.bytes);
        self.bytes
    }
}

/// Generic address structure: address space ID: system memory.
pub const GAS_SYSTEM_MEMORY: u8 = 0;
/// Generic address structure: address space ID: system I/O.
pub const GAS_SYSTEM_IO: u8 = 1;
/// Generic address structure: access size undefined (legacy reasons: the bit width says it).
pub const GAS_ACCESS_UNDEFINED: u8 = 0;
/// Generic address structure: byte access.
pub const GAS_ACCESS_BYTE: u8 = 1;

/// A 12-byte generic address structure: space ID, register bit width, bit offset, access size, 64-bit address.
pub fn gas(space: u8, bit_width: u8, access_size: u8, address: u64) -> [u8; 12] {
    let mut g = [0u8; 12];
    g[0] = space;
    g[1] = bit_width;
    g[2] = 0;
    g[3] = access_size;
    g[4..12].copy_from_slice(&address.to_le_bytes());
    g
}
