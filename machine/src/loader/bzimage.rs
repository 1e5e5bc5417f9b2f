//! The Linux x86 boot protocol (Documentation/arch/x86/boot.rst) for a bzImage, entered at its 32-bit or 64-bit
//! entry point with no real-mode setup code run.
//!
//! A bzImage is the real-mode setup (`setup_sects` 512-byte sectors after the boot sector) followed by the
//! protected-mode kernel. The loader reads the setup header from the boot sector, puts the protected-mode kernel at
//! 1 MiB (or at its `pref_address`), the initrd as high as the kernel allows, the command line at
//! [`CMDLINE_ADDR`], and a zero page at [`ZERO_PAGE_ADDR`] holding a copy of the header with the loader's fields
//! filled in and the E820 map.

use super::e820::MemoryMap;
use super::entry::{self, BootState, EntryMode};
use super::zero_page::*;
use super::{
    le16, le32, le64, write, write_cmdline, KernelLoader, KernelRequest, LoadError, BOOT_GDT_ADDR,
    CMDLINE_ADDR, KERNEL_LOAD_ADDR, ZERO_PAGE_ADDR,
};
use crate::layout::{FOUR_GIB, ONE_MIB, PAGE_SIZE};
use crate::memory::GuestMemory;

/// Oldest boot protocol we load: 2.06 is the first with `cmdline_size`.
pub const MIN_PROTOCOL: u16 = 0x0206;
/// The 64-bit entry point's offset from the load address.
pub const ENTRY_64_OFFSET: u64 = 0x200;
/// `initrd_addr_max` of kernels older than protocol 2.03.
const DEFAULT_INITRD_ADDR_MAX: u32 = 0x37FF_FFFF;

/// The Linux bzImage loader.
pub struct BzImage;

/// The setup-header fields a loader acts on, read from a bzImage and checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetupHeader {
    /// Boot protocol version (0x020F is 2.15).
    pub version: u16,
    /// Real-mode setup sectors (a 0 in the file already read as 4).
    pub setup_sects: u32,
    /// `loadflags`.
    pub loadflags: u8,
    /// `xloadflags` (0 before 2.12).
    pub xloadflags: u16,
    /// The kernel may be loaded at any `kernel_alignment`-aligned address.
    pub relocatable: bool,
    /// Required alignment of a relocated kernel.
    pub kernel_alignment: u32,
    /// Preferred load address (1 MiB before 2.10).
    pub pref_address: u64,
    /// Memory the kernel needs from its load address (0 before 2.10: unknown).
    pub init_size: u32,
    /// Longest command line, excluding its NUL.
    pub cmdline_size: u32,
    /// Highest address the initrd may occupy.
    pub initrd_addr_max: u32,
}

impl SetupHeader {
    /// Reads and checks the header of `image`: its length, the "HdrS" magic, the protocol version, LOADED_HIGH and
    /// `setup_sects` against the file's length.
    pub fn parse(image: &[u8]) -> Result<SetupHeader, LoadError> {
        if image.len() < BP_HDR_MAX_END {
            return Err(LoadError::TooShort {
                what: "a bzImage setup header",
                len: image.len(),
                need: BP_HDR_MAX_END,
            });
        }
        if &image[HDR_MAGIC..HDR_MAGIC + 4] != b"HdrS" {
            return Err(LoadError::UnknownFormat);
        }
        let version = le16(image, HDR_VERSION);
        if version < MIN_PROTOCOL {
            return Err(LoadError::ProtocolTooOld(version));
        }
        let loadflags = image[HDR_LOADFLAGS];
        if loadflags & LOADED_HIGH == 0 {
            return Err(LoadError::NotBzImage);
        }
        let setup_sects = match image[HDR_SETUP_SECTS] {
            0 => 4,
            n => u32::from(n),
        };
        let header = SetupHeader {
            version,
            setup_sects,
            loadflags,
            xloadflags: if version >= 0x020C {
                le16(image, HDR_XLOADFLAGS)
            } else {
                0
            },
            relocatable: image[HDR_RELOCATABLE] != 0,
            kernel_alignment: le32(image, HDR_KERNEL_ALIGNMENT),
            pref_address: if version >= 0x020A {
                le64(image, HDR_PREF_ADDRESS)
            } else {
                KERNEL_LOAD_ADDR
            },
            init_size: if version >= 0x020A {
                le32(image, HDR_INIT_SIZE)
            } else {
                0
            },
            cmdline_size: le32(image, HDR_CMDLINE_SIZE),
            initrd_addr_max: match le32(image, HDR_INITRD_ADDR_MAX) {
                0 => DEFAULT_INITRD_ADDR_MAX,
                n => n,
            },
        };
        let offset = header.kernel_offset();
        if offset >= image.len() {
            return Err(LoadError::SetupPastEnd {
                setup_sects,
                offset,
                len: image.len(),
            });
        }
        Ok(header)
    }

    /// File offset of the protected-mode kernel: after the boot sector and the setup sectors.
    pub fn kernel_offset(&self) -> usize {
        (self.setup_sects as usize + 1) * 512
    }

    /// Whether the kernel has the 64-bit entry point.
    pub fn has_64bit_entry(&self) -> bool {
        self.xloadflags & XLF_KERNEL_64 != 0
    }

    /// Where to load a kernel needing `need` bytes: its `pref_address` if it is relocatable and that address is
    /// aligned and all RAM, else 1 MiB.
    pub fn load_address(&self, map: &MemoryMap, need: u64) -> u64 {
        let pref = self.pref_address;
        let aligned =
            self.kernel_alignment == 0 || pref.is_multiple_of(u64::from(self.kernel_alignment));
        if self.relocatable && pref >= ONE_MIB && aligned && map.is_ram(pref, need) {
            pref
        } else {
            KERNEL_LOAD_ADDR
        }
    }
}

impl BzImage {
    /// Loads `req` and returns the state for the given entry point.
    pub fn load_entry(
        &self,
        mem: &mut GuestMemory,
        map: &MemoryMap,
        req: &KernelRequest,
        mode: EntryMode,
    ) -> Result<BootState, LoadError> {
        let image = req.kernel;
        let hdr = SetupHeader::parse(image)?;
        if mode == EntryMode::Long64 && !hdr.has_64bit_entry() {
            return Err(LoadError::No64BitEntry);
        }
        let body = &image[hdr.kernel_offset()..];
        let need = (body.len() as u64).max(u64::from(hdr.init_size));
        let addr = hdr.load_address(map, need);
        if !map.is_ram(addr, need) {
            return Err(LoadError::KernelTooBig { addr, size: need });
        }
        write(mem, "the kernel", addr, body)?;
        write_cmdline(mem, CMDLINE_ADDR, req.cmdline, hdr.cmdline_size as usize)?;

        let kernel_end = (addr + need).next_multiple_of(PAGE_SIZE);
        let initrd = match req.initrd {
            Some(data) if !data.is_empty() => {
                let size = data.len() as u64;
                let limit = (u64::from(hdr.initrd_addr_max) + 1).min(FOUR_GIB);
                let at = map.highest_fit(size, PAGE_SIZE, kernel_end, limit).ok_or(
                    LoadError::InitrdTooBig {
                        size,
                        min: kernel_end,
                        limit,
                    },
                )?;
                write(mem, "the initrd", at, data)?;
                Some((at, at + size))
            }
            _ => None,
        };

        let mut zp = ZeroPage::with_header(image);
        zp.set_u8(HDR_TYPE_OF_LOADER, LOADER_TYPE_UNDEFINED);
        zp.set_u8(HDR_EXT_LOADER_VER, 0);
        zp.set_u8(HDR_EXT_LOADER_TYPE, 0);
        zp.set_u32(HDR_CODE32_START, addr as u32);
        let (rd_addr, rd_size) = initrd.map_or((0, 0), |(a, e)| (a, e - a));
        zp.set_u32(HDR_RAMDISK_IMAGE, rd_addr as u32);
        zp.set_u32(HDR_RAMDISK_SIZE, rd_size as u32);
        zp.set_u32(BP_EXT_RAMDISK_IMAGE, (rd_addr >> 32) as u32);
        zp.set_u32(BP_EXT_RAMDISK_SIZE, (rd_size >> 32) as u32);
        zp.set_u32(HDR_CMD_LINE_PTR, CMDLINE_ADDR as u32);
        zp.set_u32(BP_EXT_CMD_LINE_PTR, 0);
        zp.set_u64(HDR_SETUP_DATA, 0);
        let ext_end = map.ram_end_containing(ONE_MIB).unwrap_or(ONE_MIB);
        zp.set_u32(BP_ALT_MEM_K, ((ext_end - ONE_MIB) >> 10) as u32);
        zp.set_e820(map.entries());
        write(mem, "the zero page", ZERO_PAGE_ADDR, &zp.0)?;

        let rip = match mode {
            EntryMode::Long64 => addr + ENTRY_64_OFFSET,
            EntryMode::Protected32 => addr,
        };
        let kernel = (addr, addr + body.len() as u64);
        let mut state = entry::setup(mem, mode, rip, kernel, BOOT_GDT_ADDR)?;
        state.rsi = ZERO_PAGE_ADDR;
        state.initrd = initrd;
        Ok(state)
    }
}

/// Whether `image` has a bzImage's "HdrS" setup-header magic.
pub fn is_bzimage(image: &[u8]) -> bool {
    image.get(HDR_MAGIC..HDR_MAGIC + 4) == Some(b"HdrS")
}

impl KernelLoader for BzImage {
    fn name(&self) -> &'static str {
        "Linux bzImage"
    }

    fn probe(&self, image: &[u8]) -> bool {
        is_bzimage(image)
    }

    /// Loads for the 64-bit entry when the kernel has one, else the 32-bit entry.
    fn load(
        &self,
        mem: &mut GuestMemory,
        map: &MemoryMap,
        req: &KernelRequest,
    ) -> Result<BootState, LoadError> {
        let mode = match SetupHeader::parse(req.kernel)?.has_64bit_entry() {
            true => EntryMode::Long64,
            false => EntryMode::Protected32,
        };
        self.load_entry(mem, map, req, mode)
    }
}
