//! Direct kernel loading (`-kernel/-initrd/-append`): a Linux bzImage through the x86 boot protocol, or a
//! multiboot v1 image, written straight into guest RAM with no BIOS in the way.
//!
//! Each format is a [`KernelLoader`]; [`load_kernel`] picks the one that recognises the image. A loader writes the
//! kernel, the initrd, the command line and its boot structures into RAM and returns the [`BootState`] the CPU
//! must start in. Every structure sits at a documented address below (all in low RAM, clear of the IVT, the BIOS
//! data area and the EBDA), and the memory map they describe comes from [`e820::MemoryMap`].
//!
//! Not `linux-loader`: rust-vmm's crate writes through vm-memory's `GuestMemory` trait (regions, `GuestAddress`,
//! `Bytes`), which ours does not implement; adapting costs more than the few hundred lines here, and this code
//! reads as a lesson in what the boot protocol asks of a loader.

pub mod bzimage;
pub mod e820;
mod elf;
pub mod entry;
pub mod multiboot;
pub mod zero_page;

pub use bzimage::BzImage;
pub use e820::MemoryMap;
pub use entry::{BootState, EntryMode};
pub use multiboot::Multiboot;

use crate::memory::GuestMemory;

// ---- Where the loaders put things (guest-physical) ------------------------------------------------------------

/// The boot GDT: null, null, code (selector 0x10 = `__BOOT_CS`), data (0x18 = `__BOOT_DS`).
pub const BOOT_GDT_ADDR: u64 = 0x500;
/// The Linux zero page (`struct boot_params`, 4 KiB).
pub const ZERO_PAGE_ADDR: u64 = 0x7000;
/// Initial stack pointer (the stack grows down through 0x8000..0x8FF0; the kernels set up their own soon).
pub const BOOT_STACK_TOP: u64 = 0x8FF0;
/// The 64-bit identity map: PML4 here, the PDPT in the next page, then four page directories of 2 MiB pages.
pub const BOOT_PML4_ADDR: u64 = 0x9000;
/// The PDPT of the identity map.
pub const BOOT_PDPT_ADDR: u64 = 0xA000;
/// The first of the four page directories (0xB000..0xF000) mapping 0..4 GiB with 2 MiB pages.
pub const BOOT_PD_ADDR: u64 = 0xB000;
/// The multiboot information structure, followed by its memory map, module list and strings (to 0x1FFFF).
pub const MULTIBOOT_INFO_ADDR: u64 = 0x1_0000;
/// The kernel command line (NUL-terminated).
pub const CMDLINE_ADDR: u64 = 0x2_0000;
/// Room for the command line including its NUL.
pub const CMDLINE_MAX: u64 = 0x1_0000;
/// End of the low area holding the structures above. A multiboot kernel (or module) that loads into it gets its
/// boot structures in the pages after its end instead.
pub const LOADER_AREA_END: u64 = CMDLINE_ADDR + CMDLINE_MAX;
/// Where a protected-mode kernel goes unless it asks for (and may have) another address.
pub const KERNEL_LOAD_ADDR: u64 = 0x10_0000;

/// What to load: the `-kernel`, `-initrd` and `-append` of the command line.
#[derive(Clone, Copy, Debug, Default)]
pub struct KernelRequest<'a> {
    /// The kernel image file.
    pub kernel: &'a [u8],
    /// The initial ramdisk (for multiboot: the one module, named "initrd").
    pub initrd: Option<&'a [u8]>,
    /// The kernel command line.
    pub cmdline: &'a str,
    /// The kernel's file name as the user gave it: multiboot's command line starts with it, as GRUB's and QEMU's do.
    pub kernel_name: &'a str,
    /// The initrd's file name as the user gave it: the string of multiboot's module, as QEMU gives it.
    pub initrd_name: &'a str,
}

/// Why a kernel could not be loaded. Every message names the problem in terms a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file ends before a structure the format needs.
    #[error("kernel image is {len} bytes, too short for {what} (needs at least {need})")]
    TooShort {
        /// The structure that did not fit.
        what: &'static str,
        /// File length.
        len: usize,
        /// Bytes needed.
        need: usize,
    },
    /// Neither format recognised the file.
    #[error(
        "-kernel file is neither a Linux bzImage (no \"HdrS\" at offset 0x202) nor a multiboot v1 image \
         (no 0x1BADB002 header in its first 8 KiB)"
    )]
    UnknownFormat,
    /// The bzImage speaks a boot protocol older than 2.06.
    #[error(
        "Linux boot protocol {}.{:02} is too old: vx86 needs 2.06 or newer (Linux 2.6.22 or later)",
        .0 >> 8,
        .0 & 0xFF
    )]
    ProtocolTooOld(u16),
    /// A zImage: its kernel wants to run below 1 MiB.
    #[error(
        "kernel is a zImage (LOADED_HIGH clear in loadflags); only bzImage kernels can be loaded"
    )]
    NotBzImage,
    /// The 64-bit entry was asked for but the kernel has none.
    #[error("kernel has no 64-bit entry point (XLF_KERNEL_64 clear in xloadflags); use its 32-bit entry")]
    No64BitEntry,
    /// `setup_sects` puts the protected-mode kernel at or past the end of the file.
    #[error("setup_sects = {setup_sects} puts the kernel at byte {offset}, but the file has only {len} bytes")]
    SetupPastEnd {
        /// The header's setup_sects (0 read as 4).
        setup_sects: u32,
        /// Where the protected-mode kernel would start.
        offset: usize,
        /// File length.
        len: usize,
    },
    /// The kernel (or its decompression space) does not fit in RAM.
    #[error(
        "kernel needs {size:#x} bytes of RAM at {addr:#x}, which is not all RAM in this machine; \
         give more memory with -m"
    )]
    KernelTooBig {
        /// Load address.
        addr: u64,
        /// Bytes needed there.
        size: u64,
    },
    /// The initrd (or multiboot module) does not fit where the kernel allows it.
    #[error(
        "initrd of {size} bytes does not fit in RAM between the kernel's end {min:#x} and {limit:#x}; \
         give more memory with -m or use a smaller initrd"
    )]
    InitrdTooBig {
        /// Initrd length.
        size: u64,
        /// Lowest address it may use (the kernel's end).
        min: u64,
        /// It must end at or below this.
        limit: u64,
    },
    /// The command line is longer than the kernel (or vx86) accepts.
    #[error("kernel command line is {len} bytes; this kernel accepts at most {max}")]
    CommandLineTooLong {
        /// Its length.
        len: usize,
        /// The limit (excluding the terminating NUL).
        max: usize,
    },
    /// The command line has a NUL byte, which would cut it short.
    #[error("kernel command line contains a NUL byte")]
    CommandLineNul,
    /// Firmware (through fw_cfg) can only be given a bzImage.
    #[error("with a BIOS, -kernel must be a Linux bzImage; multiboot images boot directly, without the BIOS")]
    FirmwareNeedsBzImage,
    /// The multiboot header's checksum is wrong.
    #[error(
        "multiboot header at offset {offset:#x}: magic + flags + checksum is {sum:#x}, not 0 \
         (flags {flags:#x}, checksum {checksum:#x})"
    )]
    MultibootChecksum {
        /// Header offset in the file.
        offset: usize,
        /// Header flags.
        flags: u32,
        /// Header checksum.
        checksum: u32,
        /// The (wrapping) sum that should be 0.
        sum: u32,
    },
    /// The multiboot header asks for something vx86 does not provide.
    #[error("multiboot header flags {0:#x} require features vx86 does not provide (it knows bits 0, 1, 2 and 16)")]
    MultibootUnsupported(u32),
    /// The multiboot address fields are inconsistent or point outside the file.
    #[error("multiboot address fields are invalid: {0}")]
    MultibootAddresses(String),
    /// The ELF image is malformed or not a 32-bit x86 executable.
    #[error("multiboot kernel is not a loadable ELF32 i386 executable: {0}")]
    BadElf(String),
    /// Something would land outside RAM (in ROM, the PCI hole, or past the end of RAM).
    #[error("{what} at {addr:#x} ({len} bytes) is not all in guest RAM; give more memory with -m")]
    OutsideRam {
        /// What was being written.
        what: &'static str,
        /// Where.
        addr: u64,
        /// How long.
        len: u64,
    },
}

/// A kernel image format.
pub trait KernelLoader {
    /// The format's name, for messages.
    fn name(&self) -> &'static str;
    /// Whether `image` claims to be in this format (its magic is there; it may still be malformed).
    fn probe(&self, image: &[u8]) -> bool;
    /// Loads the request into `mem` as laid out in `map` and returns the CPU state to start in.
    fn load(
        &self,
        mem: &mut GuestMemory,
        map: &MemoryMap,
        req: &KernelRequest,
    ) -> Result<BootState, LoadError>;
}

/// The formats `-kernel` accepts, tried in this order.
pub const LOADERS: [&dyn KernelLoader; 2] = [&BzImage, &Multiboot];

/// The command line `-kernel` gives `kernel` when there is no `-append`: `console=ttyS0` for a Linux bzImage, so its
/// console is on COM1; nothing for multiboot, whose kernels read their command line as arguments after their own
/// name.
pub fn default_cmdline(kernel: &[u8]) -> &'static str {
    if BzImage.probe(kernel) {
        "console=ttyS0"
    } else {
        ""
    }
}

/// Loads `req` with the first loader that recognises the kernel image.
pub fn load_kernel(
    mem: &mut GuestMemory,
    map: &MemoryMap,
    req: &KernelRequest,
) -> Result<BootState, LoadError> {
    match LOADERS.iter().find(|l| l.probe(req.kernel)) {
        Some(loader) => loader.load(mem, map, req),
        None if req.kernel.len() < 0x206 => Err(LoadError::TooShort {
            what: "a bzImage or multiboot header",
            len: req.kernel.len(),
            need: 0x206,
        }),
        None => Err(LoadError::UnknownFormat),
    }
}

/// Writes `bytes` at `addr`, turning a write outside RAM into [`LoadError::OutsideRam`] naming `what`.
pub(crate) fn write(
    mem: &mut GuestMemory,
    what: &'static str,
    addr: u64,
    bytes: &[u8],
) -> Result<(), LoadError> {
    mem.write_phys(addr, bytes)
        .map_err(|_| LoadError::OutsideRam {
            what,
            addr,
            len: bytes.len() as u64,
        })
}

/// Zero-fills `[addr, addr + len)` in RAM (a segment's bss), page-sized chunks at a time.
pub(crate) fn zero(
    mem: &mut GuestMemory,
    what: &'static str,
    addr: u64,
    len: u64,
) -> Result<(), LoadError> {
    const CHUNK: u64 = 64 * 1024;
    let zeros = [0u8; CHUNK as usize];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(CHUNK);
        write(mem, what, addr + done, &zeros[..n as usize])?;
        done += n;
    }
    Ok(())
}

/// Checks the command line against `max`, the kernel's own limit (excluding the NUL), and vx86's room for it, and
/// returns it NUL-terminated.
pub(crate) fn checked_cmdline(cmdline: &str, max: usize) -> Result<Vec<u8>, LoadError> {
    let max = max.min(CMDLINE_MAX as usize - 1);
    if cmdline.len() > max {
        return Err(LoadError::CommandLineTooLong {
            len: cmdline.len(),
            max,
        });
    }
    if cmdline.contains('\0') {
        return Err(LoadError::CommandLineNul);
    }
    let mut bytes = Vec::with_capacity(cmdline.len() + 1);
    bytes.extend_from_slice(cmdline.as_bytes());
    bytes.push(0);
    Ok(bytes)
}

/// Checks the command line ([`checked_cmdline`]) and writes it, NUL-terminated, at `addr`.
pub(crate) fn write_cmdline(
    mem: &mut GuestMemory,
    addr: u64,
    cmdline: &str,
    max: usize,
) -> Result<(), LoadError> {
    let bytes = checked_cmdline(cmdline, max)?;
    write(mem, "the command line", addr, &bytes)
}

/// Little-endian field readers over a slice whose length the caller has checked (out-of-range reads give 0,
/// never a panic).
pub(crate) fn le16(b: &[u8], off: usize) -> u16 {
    b.get(off..off + 2)
        .map_or(0, |s| u16::from_le_bytes([s[0], s[1]]))
}

/// See [`le16`].
pub(crate) fn le32(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4)
        .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// See [`le16`].
pub(crate) fn le64(b: &[u8], off: usize) -> u64 {
    u64::from(le32(b, off)) | u64::from(le32(b, off + 4)) << 32
}
