//! The Linux zero page (`struct boot_params`, Documentation/arch/x86/zero-page.rst): the 4 KiB a loader hands the
//! kernel in RSI/ESI, holding a copy of the image's setup header with the loader's fields filled in, and the E820
//! memory map.

use super::e820::{E820Entry, E820_ENTRY_SIZE};

/// Size of `struct boot_params`.
pub const ZERO_PAGE_SIZE: usize = 4096;

// ---- boot_params offsets (zero-page.rst) ----------------------------------------------------------------------

/// `ext_ramdisk_image`: bits 32..63 of the initrd address.
pub const BP_EXT_RAMDISK_IMAGE: usize = 0x0C0;
/// `ext_ramdisk_size`: bits 32..63 of the initrd size.
pub const BP_EXT_RAMDISK_SIZE: usize = 0x0C4;
/// `ext_cmd_line_ptr`: bits 32..63 of the command line address.
pub const BP_EXT_CMD_LINE_PTR: usize = 0x0C8;
/// `alt_mem_k`: KiB of memory above 1 MiB (the pre-E820 way).
pub const BP_ALT_MEM_K: usize = 0x1E0;
/// `e820_entries`: number of entries in the E820 table.
pub const BP_E820_ENTRIES: usize = 0x1E8;
/// `sentinel`: must stay 0, or the kernel assumes a loader that did not clear boot_params.
pub const BP_SENTINEL: usize = 0x1EF;
/// `hdr`: the setup header, copied from the image at the same offset.
pub const BP_HDR: usize = 0x1F1;
/// Where the setup header may end at the latest (the EDD signature buffer follows).
pub const BP_HDR_MAX_END: usize = 0x290;
/// `e820_table`: up to [`E820_MAX_ENTRIES`] entries of 20 bytes.
pub const BP_E820_TABLE: usize = 0x2D0;
/// Room in the zero page's E820 table.
pub const E820_MAX_ENTRIES: usize = 128;

// ---- setup header offsets (boot.rst; the same in the image and in boot_params) --------------------------------

/// `setup_sects`: size of the real-mode setup in 512-byte sectors (0 means 4).
pub const HDR_SETUP_SECTS: usize = 0x1F1;
/// `boot_flag`: 0xAA55.
pub const HDR_BOOT_FLAG: usize = 0x1FE;
/// The 2-byte jump whose second byte gives the header's length: the header ends at 0x202 + that byte.
pub const HDR_JUMP: usize = 0x200;
/// `header`: the magic "HdrS".
pub const HDR_MAGIC: usize = 0x202;
/// `version`: boot protocol version, major in the high byte.
pub const HDR_VERSION: usize = 0x206;
/// `type_of_loader`.
pub const HDR_TYPE_OF_LOADER: usize = 0x210;
/// `loadflags`.
pub const HDR_LOADFLAGS: usize = 0x211;
/// `code32_start`: the 32-bit entry point (the load address).
pub const HDR_CODE32_START: usize = 0x214;
/// `ramdisk_image`: initrd address.
pub const HDR_RAMDISK_IMAGE: usize = 0x218;
/// `ramdisk_size`: initrd size.
pub const HDR_RAMDISK_SIZE: usize = 0x21C;
/// `heap_end_ptr`: end of the setup code's heap, from the setup's start minus 0x200 (with CAN_USE_HEAP).
pub const HDR_HEAP_END_PTR: usize = 0x224;
/// `ext_loader_ver`.
pub const HDR_EXT_LOADER_VER: usize = 0x226;
/// `ext_loader_type`.
pub const HDR_EXT_LOADER_TYPE: usize = 0x227;
/// `cmd_line_ptr`: command line address.
pub const HDR_CMD_LINE_PTR: usize = 0x228;
/// `initrd_addr_max`: highest address the initrd may occupy (protocol 2.03+).
pub const HDR_INITRD_ADDR_MAX: usize = 0x22C;
/// `kernel_alignment`: physical alignment a relocatable kernel needs (2.05+).
pub const HDR_KERNEL_ALIGNMENT: usize = 0x230;
/// `relocatable_kernel`: nonzero if the kernel may be loaded anywhere suitably aligned (2.05+).
pub const HDR_RELOCATABLE: usize = 0x234;
/// `xloadflags` (2.12+).
pub const HDR_XLOADFLAGS: usize = 0x236;
/// `cmdline_size`: longest command line, excluding the NUL (2.06+).
pub const HDR_CMDLINE_SIZE: usize = 0x238;
/// `setup_data`: 64-bit list of extra data (2.09+); we pass none.
pub const HDR_SETUP_DATA: usize = 0x250;
/// `pref_address`: preferred load address of a relocatable kernel (2.10+).
pub const HDR_PREF_ADDRESS: usize = 0x258;
/// `init_size`: memory the kernel needs from its load address before it sets up its own (2.10+).
pub const HDR_INIT_SIZE: usize = 0x260;

/// loadflags: the protected-mode code is loaded at 0x100000 (a bzImage).
pub const LOADED_HIGH: u8 = 1 << 0;
/// loadflags: `heap_end_ptr` is valid (the real-mode setup may use a heap up to it).
pub const CAN_USE_HEAP: u8 = 1 << 7;
/// xloadflags: the initrd may be above 4 GiB.
pub const XLF_CAN_BE_LOADED_ABOVE_4G: u16 = 1 << 1;
/// xloadflags: the kernel has the 64-bit entry point at load address + 0x200.
pub const XLF_KERNEL_64: u16 = 1 << 0;
/// `type_of_loader` of QEMU (ID 0xB, version 0), which firmware loading from fw_cfg stands in for.
pub const LOADER_TYPE_QEMU: u8 = 0xB0;
/// `type_of_loader` for a loader with no assigned ID.
pub const LOADER_TYPE_UNDEFINED: u8 = 0xFF;

/// A zero page being built.
pub struct ZeroPage(pub [u8; ZERO_PAGE_SIZE]);

impl ZeroPage {
    /// A cleared zero page with the image's setup header (0x1F1 up to its own end, at most
    /// [`BP_HDR_MAX_END`]) copied in.
    pub fn with_header(image: &[u8]) -> ZeroPage {
        let mut page = [0u8; ZERO_PAGE_SIZE];
        let end = (HDR_MAGIC + usize::from(image.get(HDR_JUMP + 1).copied().unwrap_or(0)))
            .clamp(HDR_MAGIC + 4, BP_HDR_MAX_END)
            .min(image.len());
        if end > BP_HDR {
            page[BP_HDR..end].copy_from_slice(&image[BP_HDR..end]);
        }
        ZeroPage(page)
    }

    /// Stores a byte.
    pub fn set_u8(&mut self, off: usize, v: u8) {
        self.0[off] = v;
    }

    /// Stores a little-endian u16.
    pub fn set_u16(&mut self, off: usize, v: u16) {
        self.0[off..off + 2].copy_from_slice(&v.to_le_bytes());
    }

    /// Stores a little-endian u32.
    pub fn set_u32(&mut self, off: usize, v: u32) {
        self.0[off..off + 4].copy_from_slice(&v.to_le_bytes());
    }

    /// Stores a little-endian u64.
    pub fn set_u64(&mut self, off: usize, v: u64) {
        self.0[off..off + 8].copy_from_slice(&v.to_le_bytes());
    }

    /// Fills `e820_entries` and `e820_table` (the first [`E820_MAX_ENTRIES`] entries).
    pub fn set_e820(&mut self, entries: &[E820Entry]) {
        let n = entries.len().min(E820_MAX_ENTRIES);
        self.0[BP_E820_ENTRIES] = n as u8;
        for (k, e) in entries[..n].iter().enumerate() {
            let off = BP_E820_TABLE + k * E820_ENTRY_SIZE;
            self.0[off..off + E820_ENTRY_SIZE].copy_from_slice(&e.to_bytes());
        }
    }
}
