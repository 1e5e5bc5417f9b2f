//! Just enough ELF32 (System V ABI, i386 supplement) to load a multiboot kernel: the file header and its PT_LOAD
//! program headers, each checked against the file before anything is trusted.

use super::{le16, le32, LoadError};

/// "\x7FELF".
pub(crate) const ELF_MAGIC: [u8; 4] = [0x7F, b'E', b'L', b'F'];
/// Size of the ELF32 file header.
const EHDR_SIZE: usize = 52;
/// Size of one ELF32 program header.
const PHDR_SIZE: usize = 32;
/// `EI_CLASS` of a 32-bit object.
const ELFCLASS32: u8 = 1;
/// `EI_DATA` of a little-endian object.
const ELFDATA2LSB: u8 = 1;
/// `e_type` of an executable.
const ET_EXEC: u16 = 2;
/// `e_machine` of i386.
const EM_386: u16 = 3;
/// `p_type` of a loadable segment.
const PT_LOAD: u32 = 1;

/// A loadable segment.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Segment<'a> {
    /// Physical load address.
    pub paddr: u64,
    /// Virtual address the code was linked for.
    pub vaddr: u64,
    /// Bytes from the file (`p_filesz` of them).
    pub data: &'a [u8],
    /// Size in memory; the part past `data` is zeroed.
    pub memsz: u64,
}

/// A checked ELF32 executable.
#[derive(Clone, Debug)]
pub(crate) struct Elf32<'a> {
    /// `e_entry` (virtual).
    pub entry: u32,
    /// Its PT_LOAD segments with a nonzero memory size.
    pub segments: Vec<Segment<'a>>,
}

impl Elf32<'_> {
    /// The entry point as a physical address: translated through the segment whose virtual range holds it.
    pub fn physical_entry(&self) -> u64 {
        let entry = u64::from(self.entry);
        self.segments
            .iter()
            .find(|s| s.vaddr <= entry && entry < s.vaddr + s.memsz)
            .map_or(entry, |s| entry - s.vaddr + s.paddr)
    }
}

/// Whether `image` starts with the ELF magic.
pub(crate) fn is_elf(image: &[u8]) -> bool {
    image.starts_with(&ELF_MAGIC)
}

/// Parses and checks an ELF32 i386 executable.
pub(crate) fn parse(image: &[u8]) -> Result<Elf32<'_>, LoadError> {
    let bad = |m: String| Err(LoadError::BadElf(m));
    if image.len() < EHDR_SIZE {
        return Err(LoadError::TooShort {
            what: "an ELF32 header",
            len: image.len(),
            need: EHDR_SIZE,
        });
    }
    if !is_elf(image) {
        return bad("no ELF magic".into());
    }
    if image[4] != ELFCLASS32 {
        return bad(format!("EI_CLASS is {}, not 1 (32-bit)", image[4]));
    }
    if image[5] != ELFDATA2LSB {
        return bad(format!("EI_DATA is {}, not 1 (little-endian)", image[5]));
    }
    let (e_type, machine) = (le16(image, 16), le16(image, 18));
    if e_type != ET_EXEC {
        return bad(format!("e_type is {e_type}, not 2 (executable)"));
    }
    if machine != EM_386 {
        return bad(format!("e_machine is {machine}, not 3 (i386)"));
    }
    let entry = le32(image, 24);
    let phoff = le32(image, 28) as usize;
    let (phentsize, phnum) = (le16(image, 42) as usize, le16(image, 44) as usize);
    if phentsize != PHDR_SIZE {
        return bad(format!("e_phentsize is {phentsize}, not {PHDR_SIZE}"));
    }
    if phnum == 0 {
        return bad("it has no program headers".into());
    }
    if phoff.saturating_add(phnum * PHDR_SIZE) > image.len() {
        return bad(format!(
            "{phnum} program headers at offset {phoff:#x} run past the end of the file ({} bytes)",
            image.len()
        ));
    }
    let mut segments = Vec::new();
    for k in 0..phnum {
        let ph = &image[phoff + k * PHDR_SIZE..phoff + (k + 1) * PHDR_SIZE];
        if le32(ph, 0) != PT_LOAD {
            continue;
        }
        let (offset, vaddr, paddr) = (le32(ph, 4), le32(ph, 8), le32(ph, 12));
        let (filesz, memsz) = (le32(ph, 16), le32(ph, 20));
        if filesz > memsz {
            return bad(format!(
                "segment {k}: p_filesz {filesz:#x} is larger than p_memsz {memsz:#x}"
            ));
        }
        let file_end = u64::from(offset) + u64::from(filesz);
        if file_end > image.len() as u64 {
            return bad(format!(
                "segment {k}: file bytes {offset:#x}..{file_end:#x} run past the end of the file ({} bytes)",
                image.len()
            ));
        }
        if u64::from(paddr) + u64::from(memsz) > 1 << 32 {
            return bad(format!(
                "segment {k}: {memsz:#x} bytes at {paddr:#x} run past 4 GiB"
            ));
        }
        if memsz == 0 {
            continue;
        }
        segments.push(Segment {
            paddr: u64::from(paddr),
            vaddr: u64::from(vaddr),
            data: &image[offset as usize..file_end as usize],
            memsz: u64::from(memsz),
        });
    }
    if segments.is_empty() {
        return bad("it has no PT_LOAD segment".into());
    }
    Ok(Elf32 { entry, segments })
}
