//! What fw_cfg serves: numbered items (the selector keys of QEMU's `docs/specs/fw_cfg.rst`) and named files,
//! which get keys from [`FW_CFG_FILE_FIRST`] up and are listed in the file directory item.
//!
//! Numeric items are little-endian; the file directory is big-endian: a u32 count, then one 64-byte entry per
//! file: size u32, select u16, reserved u16, name\[56\] (NUL-terminated).

use std::collections::BTreeMap;
use thiserror::Error;

/// Signature: the four bytes "QEMU".
pub const FW_CFG_SIGNATURE: u16 = 0x0000;
/// Interface revision and features (u32): [`FW_CFG_VERSION_TRADITIONAL`] | [`FW_CFG_VERSION_DMA`].
pub const FW_CFG_ID: u16 = 0x0001;
/// Guest RAM size in bytes (u64).
pub const FW_CFG_RAM_SIZE: u16 = 0x0003;
/// Whether there is no graphical display (u16).
pub const FW_CFG_NOGRAPHIC: u16 = 0x0004;
/// Processors present at boot (u16).
pub const FW_CFG_NB_CPUS: u16 = 0x0005;
/// Where the protected-mode kernel goes (u32).
pub const FW_CFG_KERNEL_ADDR: u16 = 0x0007;
/// Size of the protected-mode kernel (u32).
pub const FW_CFG_KERNEL_SIZE: u16 = 0x0008;
/// Where the initrd goes (u32).
pub const FW_CFG_INITRD_ADDR: u16 = 0x000A;
/// Size of the initrd (u32).
pub const FW_CFG_INITRD_SIZE: u16 = 0x000B;
/// NUMA: node count (u64), the node of each of the max-CPUs processors (u64 each), each node's memory (u64 each).
pub const FW_CFG_NUMA: u16 = 0x000D;
/// Whether the firmware shows a boot menu (u16).
pub const FW_CFG_BOOT_MENU: u16 = 0x000E;
/// The most processors the machine can have (u16).
pub const FW_CFG_MAX_CPUS: u16 = 0x000F;
/// The protected-mode kernel's bytes.
pub const FW_CFG_KERNEL_DATA: u16 = 0x0011;
/// The initrd's bytes.
pub const FW_CFG_INITRD_DATA: u16 = 0x0012;
/// Where the command line goes (u32).
pub const FW_CFG_CMDLINE_ADDR: u16 = 0x0013;
/// Size of the command line with its NUL (u32).
pub const FW_CFG_CMDLINE_SIZE: u16 = 0x0014;
/// The command line, NUL-terminated.
pub const FW_CFG_CMDLINE_DATA: u16 = 0x0015;
/// Where the kernel's real-mode setup goes (u32).
pub const FW_CFG_SETUP_ADDR: u16 = 0x0016;
/// Size of the real-mode setup (u32).
pub const FW_CFG_SETUP_SIZE: u16 = 0x0017;
/// The real-mode setup's bytes, its header filled in for the boot loader.
pub const FW_CFG_SETUP_DATA: u16 = 0x0018;
/// The file directory.
pub const FW_CFG_FILE_DIR: u16 = 0x0019;
/// Key of the first file; files are numbered up from here.
pub const FW_CFG_FILE_FIRST: u16 = 0x0020;
/// Key bit: the access may write (ignored when selecting: nothing here is writable).
pub const FW_CFG_WRITE_CHANNEL: u16 = 0x4000;
/// Key bit: an architecture-specific item.
pub const FW_CFG_ARCH_LOCAL: u16 = 0x8000;
/// x86: the board routes IRQ0 to IOAPIC pin 2, as the MADT's override says (u32 1).
pub const FW_CFG_IRQ0_OVERRIDE: u16 = FW_CFG_ARCH_LOCAL | 2;

/// [`FW_CFG_ID`] bit: the selector and data ports work.
pub const FW_CFG_VERSION_TRADITIONAL: u32 = 1 << 0;
/// [`FW_CFG_ID`] bit: the DMA interface works.
pub const FW_CFG_VERSION_DMA: u32 = 1 << 1;
/// Bytes in a file name, NUL included.
pub const FILE_NAME_LEN: usize = 56;
/// Bytes in one file directory entry.
pub const FILE_ENTRY_LEN: usize = 64;
/// The most files there can be (QEMU's default number of file slots).
pub const MAX_FILES: usize = 0x20;

/// Why a file could not be added.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FwCfgError {
    /// The name is empty or does not fit in 55 bytes plus its NUL.
    #[error("fw_cfg file name {0:?} is empty or longer than 55 bytes")]
    BadName(String),
    /// A file with this name exists.
    #[error("fw_cfg file {0:?} is already there")]
    Duplicate(String),
    /// Every file slot is taken.
    #[error("fw_cfg has no room for file {0:?}: all {MAX_FILES} slots are taken")]
    Full(String),
    /// The file is 4 GiB or larger (the directory's size field is 32 bits).
    #[error("fw_cfg file {0:?} is too large")]
    TooLarge(String),
}

/// One file: its name and key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileEntry {
    name: String,
    key: u16,
}

/// Every item fw_cfg serves, by key.
#[derive(Debug, Clone)]
pub struct FwCfgItems {
    items: BTreeMap<u16, Vec<u8>>,
    files: Vec<FileEntry>,
}

impl Default for FwCfgItems {
    fn default() -> Self {
        Self::new()
    }
}

impl FwCfgItems {
    /// The items every fw_cfg has: the signature, the ID (traditional and DMA interfaces) and an empty directory.
    pub fn new() -> Self {
        let mut items = FwCfgItems {
            items: BTreeMap::new(),
            files: Vec::new(),
        };
        items.add_bytes(FW_CFG_SIGNATURE, b"QEMU".to_vec());
        items.add_u32(FW_CFG_ID, FW_CFG_VERSION_TRADITIONAL | FW_CFG_VERSION_DMA);
        items.rebuild_directory();
        items
    }

    /// Sets item `key` (the write-channel bit is ignored) to `data`; a file's new size goes into the directory.
    pub fn add_bytes(&mut self, key: u16, data: Vec<u8>) {
        let key = key & !FW_CFG_WRITE_CHANNEL;
        self.items.insert(key, data);
        if self.files.iter().any(|f| f.key == key) {
            self.rebuild_directory();
        }
    }

    /// Sets item `key` to a little-endian u16.
    pub fn add_u16(&mut self, key: u16, value: u16) {
        self.add_bytes(key, value.to_le_bytes().to_vec());
    }

    /// Sets item `key` to a little-endian u32.
    pub fn add_u32(&mut self, key: u16, value: u32) {
        self.add_bytes(key, value.to_le_bytes().to_vec());
    }

    /// Sets item `key` to a little-endian u64.
    pub fn add_u64(&mut self, key: u16, value: u64) {
        self.add_bytes(key, value.to_le_bytes().to_vec());
    }

    /// Adds file `name` holding `data` and lists it in the directory; returns its key.
    pub fn add_file(&mut self, name: &str, data: Vec<u8>) -> Result<u16, FwCfgError> {
        if name.is_empty() || name.len() >= FILE_NAME_LEN {
            return Err(FwCfgError::BadName(name.to_string()));
        }
        if self.file(name).is_some() {
            return Err(FwCfgError::Duplicate(name.to_string()));
        }
        if self.files.len() >= MAX_FILES {
            return Err(FwCfgError::Full(name.to_string()));
        }
        if u32::try_from(data.len()).is_err() {
            return Err(FwCfgError::TooLarge(name.to_string()));
        }
        let key = FW_CFG_FILE_FIRST + self.files.len() as u16;
        self.files.push(FileEntry {
            name: name.to_string(),
            key,
        });
        self.add_bytes(key, data);
        Ok(key)
    }

    /// The bytes of item `key` (the write-channel bit is ignored); None if there is no such item.
    pub fn get(&self, key: u16) -> Option<&[u8]> {
        self.items
            .get(&(key & !FW_CFG_WRITE_CHANNEL))
            .map(Vec::as_slice)
    }

    /// The key and bytes of file `name`.
    pub fn file(&self, name: &str) -> Option<(u16, &[u8])> {
        let entry = self.files.iter().find(|f| f.name == name)?;
        Some((entry.key, self.get(entry.key)?))
    }

    /// Regenerates the directory item from the file list.
    fn rebuild_directory(&mut self) {
        let mut dir = (self.files.len() as u32).to_be_bytes().to_vec();
        for f in &self.files {
            let size = self.items.get(&f.key).map_or(0, Vec::len) as u32;
            dir.extend_from_slice(&size.to_be_bytes());
            dir.extend_from_slice(&f.key.to_be_bytes());
            dir.extend_from_slice(&[0, 0]);
            let mut name = [0u8; FILE_NAME_LEN];
            name[..f.name.len()].copy_from_slice(f.name.as_bytes());
            dir.extend_from_slice(&name);
        }
        self.items.insert(FW_CFG_FILE_DIR, dir);
    }
}
