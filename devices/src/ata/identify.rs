//! The IDENTIFY DEVICE and IDENTIFY PACKET DEVICE data blocks (ATA/ATAPI-7 layout, the subset hosts look at).

/// Serial number reported in words 10-19.
const SERIAL: &str = "VX86-0001";
/// Firmware revision reported in words 23-26.
const FIRMWARE: &str = "0.1";
/// Model number reported in words 27-46.
pub const MODEL: &str = "VX86 HARDDISK";
/// Model number of the CD-ROM drive (IDENTIFY PACKET DEVICE words 27-46).
pub const CDROM_MODEL: &str = "VX86 DVD-ROM";
/// Default logical heads (word 3).
pub const DEFAULT_HEADS: u8 = 16;
/// Default logical sectors per track (word 6).
pub const DEFAULT_SECTORS_PER_TRACK: u8 = 63;
/// Most cylinders CHS can express (word 1).
const MAX_CYLINDERS: u64 = 16_383;
/// Largest LBA28 capacity (words 60-61).
const MAX_LBA28: u64 = 0x0FFF_FFFF;

/// The DMA mode SET FEATURES (transfer mode) selected, which IDENTIFY DEVICE reports in words 63 and 88.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DmaMode {
    /// None selected (PIO; the state after reset).
    #[default]
    None,
    /// Multiword DMA mode 0-2.
    Multiword(u8),
    /// Ultra DMA mode 0-5.
    Ultra(u8),
}

impl DmaMode {
    /// The mode a SET FEATURES transfer-mode count value asks for (a PIO mode selects [`DmaMode::None`]); None if
    /// the value names no mode the drive has.
    pub fn from_transfer_mode(count: u8) -> Option<DmaMode> {
        match count {
            0x00 | 0x01 | 0x08..=0x0C => Some(DmaMode::None),
            0x20..=0x22 => Some(DmaMode::Multiword(count & 7)),
            0x40..=0x45 => Some(DmaMode::Ultra(count & 7)),
            _ => None,
        }
    }
}

/// Multiword DMA modes supported (word 63 bits 2-0: modes 0-2).
const MWDMA_SUPPORTED: u16 = 0x0007;
/// Ultra DMA modes supported (word 88 bits 5-0: modes 0-5).
const UDMA_SUPPORTED: u16 = 0x003F;

/// Writes `s` into `words` as an ATA string: space padded, two characters per word, the first in the high byte.
fn put_string(words: &mut [u16], s: &str) {
    let bytes = s.as_bytes();
    for (i, w) in words.iter_mut().enumerate() {
        let c = |j: usize| u16::from(*bytes.get(j).unwrap_or(&b' '));
        *w = c(2 * i) << 8 | c(2 * i + 1);
    }
}

/// The cylinder count of a disk of `sectors` with the given geometry, capped at 16383; a disk smaller than one
/// cylinder still has one (a partial one), so firmware that addresses it by CHS can reach its first sectors.
pub fn cylinders(sectors: u64, heads: u8, spt: u8) -> u64 {
    let per_cyl = u64::from(heads).max(1) * u64::from(spt).max(1);
    (sectors / per_cyl).clamp(sectors.min(1), MAX_CYLINDERS)
}

/// The 512-byte IDENTIFY DEVICE block of a fixed disk of `sectors` sectors, with the current CHS translation
/// `heads` x `spt` (as set by INITIALIZE DEVICE PARAMETERS) and DMA mode `dma` (as set by SET FEATURES).
pub fn identify_device(sectors: u64, heads: u8, spt: u8, dma: DmaMode) -> [u8; 512] {
    let mut w = [0u16; 256];
    let cyls = cylinders(sectors, DEFAULT_HEADS, DEFAULT_SECTORS_PER_TRACK);
    w[0] = 0x0040; // fixed device, not removable
    w[1] = cyls as u16;
    w[3] = u16::from(DEFAULT_HEADS);
    w[6] = u16::from(DEFAULT_SECTORS_PER_TRACK);
    put_string(&mut w[10..20], SERIAL);
    put_string(&mut w[23..27], FIRMWARE);
    put_string(&mut w[27..47], MODEL);
    w[47] = 0x8000; // READ/WRITE MULTIPLE not supported
    w[49] = 0x0300; // LBA and DMA supported
    w[50] = 0x4000;
    w[51] = 0x0200; // PIO mode 2 timing
    w[53] = 0x0007; // words 54-58, 64-70 and 88 valid
    let cur_cyls = cylinders(sectors, heads, spt);
    w[54] = cur_cyls as u16;
    w[55] = u16::from(heads);
    w[56] = u16::from(spt);
    let chs_capacity = (cur_cyls * u64::from(heads) * u64::from(spt)) as u32;
    w[57] = chs_capacity as u16;
    w[58] = (chs_capacity >> 16) as u16;
    let lba28 = sectors.min(MAX_LBA28) as u32;
    w[60] = lba28 as u16;
    w[61] = (lba28 >> 16) as u16;
    put_dma_modes(&mut w, dma);
    w[64] = 0x0003; // PIO modes 3 and 4
    w[65] = 120; // multiword DMA cycle times: minimum and recommended
    w[66] = 120;
    w[67] = 120; // PIO cycle times
    w[68] = 120;
    w[80] = 0x00F0; // ATA/ATAPI-4 to -7
    w[82] = 0x4000; // NOP supported
    w[83] = 0x7400; // FLUSH CACHE EXT, FLUSH CACHE, 48-bit address feature set
    w[84] = 0x4000;
    w[85] = 0x4000;
    w[86] = 0x3400;
    w[87] = 0x4000;
    for (i, word) in w[100..104].iter_mut().enumerate() {
        *word = (sectors >> (16 * i)) as u16;
    }
    to_bytes(&w)
}

/// Words 63 (multiword DMA) and 88 (Ultra DMA): the supported modes in the low byte, the selected one in the high.
fn put_dma_modes(w: &mut [u16; 256], dma: DmaMode) {
    let selected = |mode: u8| 1u16 << (8 + mode);
    w[63] = MWDMA_SUPPORTED
        | match dma {
            DmaMode::Multiword(m) => selected(m),
            _ => 0,
        };
    w[88] = UDMA_SUPPORTED
        | match dma {
            DmaMode::Ultra(m) => selected(m),
            _ => 0,
        };
}

/// Lays out the 256 words little endian, with the integrity word 255 (signature 0xA5 and a checksum making all
/// 512 bytes sum to 0).
fn to_bytes(w: &[u16; 256]) -> [u8; 512] {
    let mut out = [0u8; 512];
    for (i, word) in w.iter().enumerate() {
        out[2 * i..2 * i + 2].copy_from_slice(&word.to_le_bytes());
    }
    // Word 255: integrity signature 0xA5 and a checksum making all 512 bytes sum to 0.
    out[510] = 0xA5;
    let sum = out[..511].iter().fold(0u8, |a, &b| a.wrapping_add(b));
    out[511] = sum.wrapping_neg();
    out
}

/// The 512-byte IDENTIFY PACKET DEVICE block of the ATAPI CD-ROM drive, with DMA mode `dma` (as set by SET
/// FEATURES).
pub fn identify_packet_device(dma: DmaMode) -> [u8; 512] {
    let mut w = [0u16; 256];
    // ATAPI (10b), CD-ROM device type (5), removable, DRQ within 50 us of PACKET, 12-byte packets.
    w[0] = 0x8000 | 0x0500 | 0x0080 | 0x0040;
    put_string(&mut w[10..20], SERIAL);
    put_string(&mut w[23..27], FIRMWARE);
    put_string(&mut w[27..47], CDROM_MODEL);
    w[49] = 0x0300; // LBA (required of ATAPI) and DMA
    w[53] = 0x0006; // words 64-70 and 88 valid
    put_dma_modes(&mut w, dma);
    w[64] = 0x0003; // PIO modes 3 and 4
    w[65] = 120;
    w[66] = 120;
    w[67] = 120;
    w[68] = 120;
    w[80] = 0x001E; // ATA/ATAPI-1 to -4
    w[82] = 0x0210; // DEVICE RESET and PACKET feature sets supported
    w[83] = 0x4000;
    w[84] = 0x4000;
    w[85] = 0x0210; // ... and enabled
    w[87] = 0x4000;
    to_bytes(&w)
}
