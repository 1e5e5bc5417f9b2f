//! Synthetic bzImages for the loader tests: a boot sector and setup sectors holding a Linux setup header with the
//! fields a test picks, then a patterned "kernel".

use vx86_machine::loader::zero_page::*;

/// Writes `v` into `b` at `off`.
pub fn put(b: &mut [u8], off: usize, v: &[u8]) {
    b[off..off + v.len()].copy_from_slice(v);
}

/// The fields of a synthetic bzImage.
#[derive(Clone, Copy)]
pub struct Bz {
    /// The header's `version`.
    pub version: u16,
    /// The header's `setup_sects`.
    pub setup_sects: u8,
    /// The header's `loadflags`.
    pub loadflags: u8,
    /// The header's `xloadflags`.
    pub xloadflags: u16,
    /// The header's `relocatable`.
    pub relocatable: bool,
    /// The header's `kernel_alignment`.
    pub kernel_alignment: u32,
    /// The header's `pref_address`.
    pub pref_address: u64,
    /// The header's `init_size`.
    pub init_size: u32,
    /// The header's `cmdline_size`.
    pub cmdline_size: u32,
    /// The header's `initrd_addr_max`.
    pub initrd_addr_max: u32,
    /// Bytes of patterned kernel after the setup sectors.
    pub body_len: usize,
}

impl Default for Bz {
    fn default() -> Bz {
        Bz {
            version: 0x020F,
            setup_sects: 4,
            loadflags: LOADED_HIGH,
            xloadflags: XLF_KERNEL_64,
            relocatable: true,
            kernel_alignment: 0x20_0000,
            pref_address: 0x100_0000,
            init_size: 0x40_0000,
            cmdline_size: 2047,
            initrd_addr_max: 0x7FFF_FFFF,
            body_len: 0x3456,
        }
    }
}

impl Bz {
    /// A boot sector + setup sectors with the header, then a patterned "kernel".
    pub fn build(&self) -> Vec<u8> {
        let sects = if self.setup_sects == 0 {
            4
        } else {
            self.setup_sects as usize
        };
        let mut b = vec![0u8; (sects + 1) * 512];
        b[HDR_SETUP_SECTS] = self.setup_sects;
        put(&mut b, HDR_BOOT_FLAG, &0xAA55u16.to_le_bytes());
        put(&mut b, HDR_JUMP, &[0xEB, 0x6A]); // header ends at 0x26C
        put(&mut b, HDR_MAGIC, b"HdrS");
        put(&mut b, HDR_VERSION, &self.version.to_le_bytes());
        b[HDR_LOADFLAGS] = self.loadflags;
        put(&mut b, HDR_CODE32_START, &0x10_0000u32.to_le_bytes());
        put(
            &mut b,
            HDR_INITRD_ADDR_MAX,
            &self.initrd_addr_max.to_le_bytes(),
        );
        put(
            &mut b,
            HDR_KERNEL_ALIGNMENT,
            &self.kernel_alignment.to_le_bytes(),
        );
        b[HDR_RELOCATABLE] = self.relocatable as u8;
        put(&mut b, HDR_XLOADFLAGS, &self.xloadflags.to_le_bytes());
        put(&mut b, HDR_CMDLINE_SIZE, &self.cmdline_size.to_le_bytes());
        put(&mut b, HDR_PREF_ADDRESS, &self.pref_address.to_le_bytes());
        put(&mut b, HDR_INIT_SIZE, &self.init_size.to_le_bytes());
        b.extend((0..self.body_len).map(|k| (k * 7 + 3) as u8));
        b
    }
}
