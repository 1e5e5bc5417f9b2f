//! Multiboot v1 (the Multiboot Specification 0.6.96): a kernel with a multiboot header in its first 8 KiB, loaded
//! by the header's address fields (flag 16) or from its ELF32 program headers, entered in flat 32-bit protected
//! mode with EAX = 0x2BADB002 and EBX = the multiboot information structure.
//!
//! The information structure reports the memory sizes and the memory map (both from [`MemoryMap`]), the command
//! line, the `-initrd` as the one module (page-aligned after the kernel, its string the initrd's file name as QEMU
//! gives it), and the loader's name. The command line starts with the kernel's file name, as GRUB and QEMU write
//! it (`kernel.elf arg1 arg2`), so a kernel finds its arguments where it finds them under either.
//!
//! The boot structures (GDT, information structure, command line) go to the low area at [`BOOT_GDT_ADDR`],
//! [`MULTIBOOT_INFO_ADDR`] and [`CMDLINE_ADDR`]. A kernel or module that loads into that area (below
//! [`LOADER_AREA_END`]) is loaded there, and the structures go to the pages after its end instead ([`BootArea`]).

use super::e820::MemoryMap;
use super::entry::{self, BootState, EntryMode};
use super::{
    elf, le32, write, write_cmdline, zero, KernelLoader, KernelRequest, LoadError, BOOT_GDT_ADDR,
    BOOT_STACK_TOP, CMDLINE_ADDR, CMDLINE_MAX, LOADER_AREA_END, MULTIBOOT_INFO_ADDR,
};
use crate::layout::{ONE_MIB, PAGE_SIZE};
use crate::memory::GuestMemory;

/// The header's magic.
pub const HEADER_MAGIC: u32 = 0x1BAD_B002;
/// What the kernel finds in EAX.
pub const BOOTLOADER_MAGIC: u32 = 0x2BAD_B002;
/// The header must lie, 4-byte aligned, within this many bytes from the file's start.
pub const SEARCH_LIMIT: usize = 8192;

/// Header flag: align modules on page boundaries (we always do).
pub const FLAG_PAGE_ALIGN: u32 = 1 << 0;
/// Header flag: the kernel needs mem_* and the memory map (we always give them).
pub const FLAG_MEMORY_INFO: u32 = 1 << 1;
/// Header flag: the kernel would like a video mode (a request; we leave the text mode as it is).
pub const FLAG_VIDEO_MODE: u32 = 1 << 2;
/// Header flag: the address fields are valid; load by them rather than as ELF.
pub const FLAG_ADDRESSES: u32 = 1 << 16;

/// Info flag: `mem_lower`/`mem_upper` are valid.
pub const INFO_MEMORY: u32 = 1 << 0;
/// Info flag: `cmdline` is valid.
pub const INFO_CMDLINE: u32 = 1 << 2;
/// Info flag: `mods_count`/`mods_addr` are valid.
pub const INFO_MODS: u32 = 1 << 3;
/// Info flag: `mmap_length`/`mmap_addr` are valid.
pub const INFO_MMAP: u32 = 1 << 6;
/// Info flag: `boot_loader_name` is valid.
pub const INFO_LOADER_NAME: u32 = 1 << 9;

// Offsets in the information structure.
const MBI_FLAGS: usize = 0;
const MBI_MEM_LOWER: usize = 4;
const MBI_MEM_UPPER: usize = 8;
const MBI_CMDLINE: usize = 16;
const MBI_MODS_COUNT: usize = 20;
const MBI_MODS_ADDR: usize = 24;
const MBI_MMAP_LENGTH: usize = 44;
const MBI_MMAP_ADDR: usize = 48;
const MBI_LOADER_NAME: usize = 64;

/// Layout of the information page: the structure, the memory map, the module list, the loader's name.
const MMAP_OFFSET: usize = 0x100;
const MODS_OFFSET: usize = 0x800;
const STRINGS_OFFSET: usize = 0x900;
const INFO_AREA: usize = 0x1000;
/// Memory-map entries that fit between [`MMAP_OFFSET`] and [`MODS_OFFSET`].
const MMAP_MAX_ENTRIES: usize = (MODS_OFFSET - MMAP_OFFSET) / MMAP_ENTRY_SIZE;
/// A memory-map entry: size (20), base, length, type.
const MMAP_ENTRY_SIZE: usize = 24;

/// The multiboot v1 loader.
pub struct Multiboot;

/// A multiboot header found in an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// File offset of the magic.
    pub offset: usize,
    /// Its flags.
    pub flags: u32,
}

/// The first header with a valid checksum in the first [`SEARCH_LIMIT`] bytes; if there is a magic but no valid
/// checksum, the checksum error of the first; `Ok(None)` if there is no magic at all.
pub fn find_header(image: &[u8]) -> Result<Option<Header>, LoadError> {
    let mut first_bad = None;
    let end = image.len().min(SEARCH_LIMIT);
    for offset in (0..end.saturating_sub(11)).step_by(4) {
        if le32(image, offset) != HEADER_MAGIC {
            continue;
        }
        let (flags, checksum) = (le32(image, offset + 4), le32(image, offset + 8));
        let sum = HEADER_MAGIC.wrapping_add(flags).wrapping_add(checksum);
        if sum == 0 {
            return Ok(Some(Header { offset, flags }));
        }
        first_bad.get_or_insert(LoadError::MultibootChecksum {
            offset,
            flags,
            checksum,
            sum,
        });
    }
    first_bad.map_or(Ok(None), Err)
}

/// Checks that `[addr, addr + len)` is all RAM, a place a kernel may be loaded.
fn check_range(map: &MemoryMap, what: &'static str, addr: u64, len: u64) -> Result<(), LoadError> {
    if !map.is_ram(addr, len) {
        return Err(LoadError::OutsideRam { what, addr, len });
    }
    Ok(())
}

/// Where the boot structures go: the GDT (with the initial stack below the end of its page), the information
/// structure with its memory map and module list, and the strings (command line, then the module's string).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootArea {
    /// The boot GDT.
    pub gdt: u64,
    /// The initial stack pointer (multiboot leaves ESP undefined; the kernel sets its own).
    pub stack_top: u64,
    /// The information structure (EBX).
    pub info: u64,
    /// The command line; the module's string follows its NUL.
    pub strings: u64,
}

impl BootArea {
    /// The low area at fixed addresses, used unless the kernel is in its way.
    pub const LOW: BootArea = BootArea {
        gdt: BOOT_GDT_ADDR,
        stack_top: BOOT_STACK_TOP,
        info: MULTIBOOT_INFO_ADDR,
        strings: CMDLINE_ADDR,
    };

    /// The low area if none of `used` (the kernel's and the module's ranges) reaches into it, else the pages from
    /// `after` up: a page for the GDT and stack, one for the information structure, then `strings_len` bytes.
    fn choose(
        map: &MemoryMap,
        used: &[(u64, u64)],
        after: u64,
        strings_len: u64,
    ) -> Result<BootArea, LoadError> {
        if used
            .iter()
            .all(|&(start, end)| end <= BOOT_GDT_ADDR || start >= LOADER_AREA_END)
        {
            return Ok(BootArea::LOW);
        }
        let base = after.next_multiple_of(PAGE_SIZE);
        check_range(
            map,
            "the multiboot boot structures",
            base,
            2 * PAGE_SIZE + strings_len,
        )?;
        Ok(BootArea {
            gdt: base,
            stack_top: base + PAGE_SIZE - 16,
            info: base + PAGE_SIZE,
            strings: base + 2 * PAGE_SIZE,
        })
    }
}

/// The command line a multiboot kernel sees: its file name, then the user's command line, as GRUB and QEMU write
/// it (either part alone when the other is empty).
pub fn command_line(kernel_name: &str, cmdline: &str) -> String {
    match (kernel_name.is_empty(), cmdline.is_empty()) {
        (_, true) => kernel_name.to_string(),
        (true, false) => cmdline.to_string(),
        (false, false) => format!("{kernel_name} {cmdline}"),
    }
}

/// Loads by the header's address fields; returns (start, end including bss, entry).
fn load_by_addresses(
    mem: &mut GuestMemory,
    map: &MemoryMap,
    image: &[u8],
    hdr: Header,
) -> Result<(u64, u64, u64), LoadError> {
    let bad = |m: String| Err(LoadError::MultibootAddresses(m));
    if image.len() < hdr.offset + 32 {
        return Err(LoadError::TooShort {
            what: "the multiboot address fields",
            len: image.len(),
            need: hdr.offset + 32,
        });
    }
    let field = |k: usize| u64::from(le32(image, hdr.offset + 12 + 4 * k));
    let (header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr) =
        (field(0), field(1), field(2), field(3), field(4));
    if header_addr < load_addr {
        return bad(format!(
            "header_addr {header_addr:#x} is below load_addr {load_addr:#x}"
        ));
    }
    let Some(file_offset) = (hdr.offset as u64).checked_sub(header_addr - load_addr) else {
        return bad(format!(
            "load_addr {load_addr:#x} would start {:#x} bytes before the header, which is only {:#x} bytes into the file",
            header_addr - load_addr,
            hdr.offset
        ));
    };
    let available = image.len() as u64 - file_offset;
    let size = match load_end_addr {
        0 => available,
        end if end < load_addr => {
            return bad(format!(
                "load_end_addr {end:#x} is below load_addr {load_addr:#x}"
            ))
        }
        end if end - load_addr > available => {
            return bad(format!(
                "load_end_addr {end:#x} asks for {:#x} bytes but the file has only {available:#x} from load_addr",
                end - load_addr
            ))
        }
        end => end - load_addr,
    };
    let load_end = load_addr + size;
    let bss_end = match bss_end_addr {
        0 => load_end,
        end if end < load_end => {
            return bad(format!(
                "bss_end_addr {end:#x} is below the end of the loaded image {load_end:#x}"
            ))
        }
        end => end,
    };
    check_range(map, "the kernel", load_addr, bss_end - load_addr)?;
    let file_offset = file_offset as usize;
    write(
        mem,
        "the kernel",
        load_addr,
        &image[file_offset..file_offset + size as usize],
    )?;
    zero(mem, "the kernel's bss", load_end, bss_end - load_end)?;
    Ok((load_addr, bss_end, entry_addr))
}

/// Loads the PT_LOAD segments of an ELF32 kernel; returns (lowest address, highest end, physical entry).
fn load_elf(
    mem: &mut GuestMemory,
    map: &MemoryMap,
    image: &[u8],
) -> Result<(u64, u64, u64), LoadError> {
    let elf = elf::parse(image)?;
    for s in &elf.segments {
        check_range(map, "an ELF segment", s.paddr, s.memsz)?;
    }
    for s in &elf.segments {
        write(mem, "an ELF segment", s.paddr, s.data)?;
        let filesz = s.data.len() as u64;
        zero(
            mem,
            "an ELF segment's bss",
            s.paddr + filesz,
            s.memsz - filesz,
        )?;
    }
    let start = elf.segments.iter().map(|s| s.paddr).min().unwrap_or(0);
    let end = elf
        .segments
        .iter()
        .map(|s| s.paddr + s.memsz)
        .max()
        .unwrap_or(0);
    Ok((start, end, elf.physical_entry()))
}

impl KernelLoader for Multiboot {
    fn name(&self) -> &'static str {
        "multiboot v1"
    }

    fn probe(&self, image: &[u8]) -> bool {
        !matches!(find_header(image), Ok(None))
    }

    fn load(
        &self,
        mem: &mut GuestMemory,
        map: &MemoryMap,
        req: &KernelRequest,
    ) -> Result<BootState, LoadError> {
        let image = req.kernel;
        let Some(hdr) = find_header(image)? else {
            return Err(LoadError::UnknownFormat);
        };
        let known = FLAG_PAGE_ALIGN | FLAG_MEMORY_INFO | FLAG_VIDEO_MODE;
        if hdr.flags & 0xFFFF & !known != 0 {
            return Err(LoadError::MultibootUnsupported(hdr.flags));
        }
        let (start, end, entry_addr) = if hdr.flags & FLAG_ADDRESSES != 0 {
            load_by_addresses(mem, map, image, hdr)?
        } else if elf::is_elf(image) {
            load_elf(mem, map, image)?
        } else {
            return Err(LoadError::MultibootAddresses(
                "flag 16 is clear, so the kernel must be ELF, but it has no ELF header".into(),
            ));
        };

        let module = match req.initrd {
            Some(data) => {
                let at = end.next_multiple_of(PAGE_SIZE);
                let size = data.len() as u64;
                if !map.is_ram(at, size) {
                    return Err(LoadError::InitrdTooBig {
                        size,
                        min: at,
                        limit: map.ram_end_containing(at).unwrap_or(at),
                    });
                }
                write(mem, "the initrd module", at, data)?;
                Some((at, at + size))
            }
            None => None,
        };

        let cmdline = command_line(req.kernel_name, req.cmdline);
        let module_name = req.initrd_name.as_bytes();
        let module_name_room = module_name.len() + 1;
        let strings_len = cmdline.len() + 1 + module_name_room;
        let used: Vec<(u64, u64)> = std::iter::once((start, end)).chain(module).collect();
        let after = module.map_or(end, |(_, module_end)| module_end);
        let area = BootArea::choose(map, &used, after, strings_len as u64)?;
        let max = (CMDLINE_MAX as usize - 1).saturating_sub(module_name_room);
        write_cmdline(mem, area.strings, &cmdline, max)?;
        let module_string = area.strings + cmdline.len() as u64 + 1;
        write(
            mem,
            "the module's string",
            module_string,
            &[module_name, &[0]].concat(),
        )?;

        let module = module.map(|(start, end)| (start, end, module_string));
        let info = build_info(map, &area, module);
        write(mem, "the multiboot information", area.info, &info)?;
        let mut state = entry::setup(
            mem,
            EntryMode::Protected32,
            entry_addr,
            (start, end),
            area.gdt,
        )?;
        state.rsp = area.stack_top;
        state.rax = u64::from(BOOTLOADER_MAGIC);
        state.rbx = area.info;
        state.initrd = module.map(|(start, end, _)| (start, end));
        Ok(state)
    }
}

/// The information structure with its memory map, module list (`module`: start, end, string) and the loader's
/// name, as placed at `area.info`.
fn build_info(map: &MemoryMap, area: &BootArea, module: Option<(u64, u64, u64)>) -> Vec<u8> {
    let mut b = vec![0u8; INFO_AREA];
    let put =
        |b: &mut Vec<u8>, off: usize, v: u32| b[off..off + 4].copy_from_slice(&v.to_le_bytes());
    let addr = |off: usize| (area.info + off as u64) as u32;

    let flags = INFO_MEMORY | INFO_CMDLINE | INFO_MODS | INFO_MMAP | INFO_LOADER_NAME;
    let low_end = map.ram_end_containing(0).unwrap_or(0);
    let ext_end = map.ram_end_containing(ONE_MIB).unwrap_or(ONE_MIB);
    put(&mut b, MBI_MEM_LOWER, (low_end >> 10) as u32);
    put(&mut b, MBI_MEM_UPPER, ((ext_end - ONE_MIB) >> 10) as u32);
    put(&mut b, MBI_CMDLINE, area.strings as u32);

    let entries = &map.entries()[..map.entries().len().min(MMAP_MAX_ENTRIES)];
    for (k, e) in entries.iter().enumerate() {
        let off = MMAP_OFFSET + k * MMAP_ENTRY_SIZE;
        put(&mut b, off, (MMAP_ENTRY_SIZE - 4) as u32);
        b[off + 4..off + 24].copy_from_slice(&e.to_bytes());
    }
    put(
        &mut b,
        MBI_MMAP_LENGTH,
        (entries.len() * MMAP_ENTRY_SIZE) as u32,
    );
    put(&mut b, MBI_MMAP_ADDR, addr(MMAP_OFFSET));

    let loader_name = STRINGS_OFFSET;
    b[loader_name..loader_name + 5].copy_from_slice(b"vx86\0");
    put(&mut b, MBI_LOADER_NAME, addr(loader_name));

    put(&mut b, MBI_MODS_ADDR, addr(MODS_OFFSET));
    if let Some((start, end, string)) = module {
        put(&mut b, MBI_MODS_COUNT, 1);
        put(&mut b, MODS_OFFSET, start as u32);
        put(&mut b, MODS_OFFSET + 4, end as u32);
        put(&mut b, MODS_OFFSET + 8, string as u32);
    }
    put(&mut b, MBI_FLAGS, flags);
    b
}
