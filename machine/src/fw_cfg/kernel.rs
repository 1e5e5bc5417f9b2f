//! `-kernel`, `-initrd` and `-append` handed to firmware through fw_cfg, as QEMU's `x86_load_linux` hands them to
//! SeaBIOS: a bzImage split into its real-mode setup and its protected-mode kernel, the setup header filled in as
//! a boot loader fills it, and where each piece goes. The firmware runs vx86's Linux loader option ROM
//! ([`vx86_firmware::linuxboot`], served as QEMU serves its `linuxboot_dma.bin`, first in the boot order), which
//! copies the pieces there and jumps into the real-mode setup.
//!
//! | items | what |
//! |---|---|
//! | setup address, size, data (0x16-0x18) | the boot sector and setup sectors, at [`SETUP_ADDR`] |
//! | kernel address, size, data (0x07, 0x08, 0x11) | the protected-mode kernel, at [`KERNEL_ADDR`] |
//! | command line address, size, data (0x13-0x15) | the command line with its NUL, at [`CMDLINE_ADDR`] |
//! | initrd address, size, data (0x0A, 0x0B, 0x12) | the initrd, page-aligned as high as the kernel allows, below [`ACPI_DATA_SIZE`] bytes kept for firmware at the top of RAM |

use super::BOOTORDER_FILE;
use crate::loader::bzimage::{is_bzimage, SetupHeader};
use crate::loader::multiboot::Multiboot;
use crate::loader::zero_page::*;
use crate::loader::{checked_cmdline, KernelLoader, KernelRequest, LoadError};
use vx86_devices::fw_cfg::items::*;
use vx86_devices::{FwCfgError, FwCfgItems};
use vx86_firmware::linuxboot;

/// Where the real-mode setup goes (QEMU's choice for boot protocol 2.02 and later).
pub const SETUP_ADDR: u32 = 0x1_0000;
/// Where the command line goes.
pub const CMDLINE_ADDR: u32 = 0x2_0000;
/// Where the protected-mode kernel goes.
pub const KERNEL_ADDR: u32 = 0x10_0000;
/// Room kept free at the top of RAM below 4 GiB for the firmware's ACPI tables (QEMU's `acpi_data_size`).
pub const ACPI_DATA_SIZE: u64 = 0x2_8000;
/// The real-mode setup's stack and heap end this far below the command line.
const HEAP_GAP: u32 = 0x200;

/// Adds the kernel, initrd and command line of `request` to `items`; `ram_below_4g` is the RAM below the PCI hole.
pub fn add_kernel(
    items: &mut FwCfgItems,
    request: &KernelRequest,
    ram_below_4g: u64,
) -> Result<(), LoadError> {
    let image = request.kernel;
    if !is_bzimage(image) && Multiboot.probe(image) {
        return Err(LoadError::FirmwareNeedsBzImage);
    }
    let header = SetupHeader::parse(image)?;
    let cmdline = checked_cmdline(request.cmdline, header.cmdline_size as usize)?;
    let (setup, kernel) = image.split_at(header.kernel_offset());
    let mut setup = setup.to_vec();
    setup[HDR_TYPE_OF_LOADER] = LOADER_TYPE_QEMU;
    setup[HDR_LOADFLAGS] |= CAN_USE_HEAP;
    let heap_end = (CMDLINE_ADDR - SETUP_ADDR - HEAP_GAP) as u16;
    setup[HDR_HEAP_END_PTR..HDR_HEAP_END_PTR + 2].copy_from_slice(&heap_end.to_le_bytes());
    setup[HDR_CMD_LINE_PTR..HDR_CMD_LINE_PTR + 4].copy_from_slice(&CMDLINE_ADDR.to_le_bytes());
    if let Some(initrd) = request.initrd {
        let addr = initrd_address(
            &header,
            initrd.len() as u64,
            kernel.len() as u64,
            ram_below_4g,
        )?;
        setup[HDR_RAMDISK_IMAGE..HDR_RAMDISK_IMAGE + 4].copy_from_slice(&addr.to_le_bytes());
        let size = initrd.len() as u32;
        setup[HDR_RAMDISK_SIZE..HDR_RAMDISK_SIZE + 4].copy_from_slice(&size.to_le_bytes());
        items.add_u32(FW_CFG_INITRD_ADDR, addr);
        items.add_u32(FW_CFG_INITRD_SIZE, size);
        items.add_bytes(FW_CFG_INITRD_DATA, initrd.to_vec());
    }
    items.add_u32(FW_CFG_CMDLINE_ADDR, CMDLINE_ADDR);
    items.add_u32(FW_CFG_CMDLINE_SIZE, cmdline.len() as u32);
    items.add_bytes(FW_CFG_CMDLINE_DATA, cmdline);
    items.add_u32(FW_CFG_KERNEL_ADDR, KERNEL_ADDR);
    items.add_u32(FW_CFG_KERNEL_SIZE, kernel.len() as u32);
    items.add_bytes(FW_CFG_KERNEL_DATA, kernel.to_vec());
    items.add_u32(FW_CFG_SETUP_ADDR, SETUP_ADDR);
    items.add_u32(FW_CFG_SETUP_SIZE, setup.len() as u32);
    items.add_bytes(FW_CFG_SETUP_DATA, setup);
    Ok(())
}

/// Adds the Linux loader option ROM that boots what [`add_kernel`] added, and puts it first in the `bootorder` file
/// as QEMU's `/rom@` path of its file (the drives follow).
pub fn add_loader_rom(items: &mut FwCfgItems) -> Result<(), FwCfgError> {
    items.add_file(linuxboot::ROM_FILE, linuxboot::image())?;
    let rom_first = |old: &[u8]| {
        let mut order = format!("/rom@{}", linuxboot::ROM_FILE).into_bytes();
        if old.is_empty() {
            order.push(0);
        } else {
            order.push(b'\n');
            order.extend_from_slice(old);
        }
        order
    };
    match items.file(BOOTORDER_FILE) {
        Some((key, old)) => {
            let order = rom_first(old);
            items.add_bytes(key, order);
        }
        None => {
            items.add_file(BOOTORDER_FILE, rom_first(&[]))?;
        }
    }
    Ok(())
}

/// The initrd's address: page-aligned, ending at or below the kernel's `initrd_addr_max` (any 32-bit address if
/// it can go above 4 GiB) and below the firmware's room at the top of RAM, and above the kernel.
fn initrd_address(
    header: &SetupHeader,
    size: u64,
    kernel_len: u64,
    ram_below_4g: u64,
) -> Result<u32, LoadError> {
    let kernel_max = if header.xloadflags & XLF_CAN_BE_LOADED_ABOVE_4G != 0 {
        u64::from(u32::MAX)
    } else {
        u64::from(header.initrd_addr_max)
    };
    let limit = kernel_max.min(ram_below_4g.saturating_sub(ACPI_DATA_SIZE + 1));
    let min = u64::from(KERNEL_ADDR) + kernel_len.max(u64::from(header.init_size));
    let too_big = LoadError::InitrdTooBig { size, min, limit };
    let addr = limit.checked_sub(size).ok_or(too_big)? & !0xFFF;
    if addr < min {
        return Err(LoadError::InitrdTooBig { size, min, limit });
    }
    Ok(addr as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A protocol 2.10 bzImage: boot sector, `setup_sects` 4, then `kernel_len` bytes of kernel.
    fn bzimage(kernel_len: usize) -> Vec<u8> {
        let mut b = vec![0u8; 5 * 512 + kernel_len];
        b[HDR_SETUP_SECTS] = 4;
        b[HDR_MAGIC..HDR_MAGIC + 4].copy_from_slice(b"HdrS");
        b[HDR_VERSION..HDR_VERSION + 2].copy_from_slice(&0x020Au16.to_le_bytes());
        b[HDR_LOADFLAGS] = LOADED_HIGH;
        b[HDR_INITRD_ADDR_MAX..HDR_INITRD_ADDR_MAX + 4]
            .copy_from_slice(&0x37FF_FFFFu32.to_le_bytes());
        b[HDR_CMDLINE_SIZE..HDR_CMDLINE_SIZE + 4].copy_from_slice(&255u32.to_le_bytes());
        for (k, byte) in b[5 * 512..].iter_mut().enumerate() {
            *byte = k as u8;
        }
        b
    }

    fn u32_item(items: &FwCfgItems, key: u16) -> u32 {
        u32::from_le_bytes(items.get(key).unwrap().try_into().unwrap())
    }

    #[test]
    fn bzimage_is_split_into_setup_and_kernel_with_the_header_filled_in() {
        let image = bzimage(10_000);
        let initrd = vec![0x5A; 5000];
        let mut items = FwCfgItems::new();
        let request = KernelRequest {
            kernel: &image,
            initrd: Some(&initrd),
            cmdline: "console=ttyS0",
            ..KernelRequest::default()
        };
        add_kernel(&mut items, &request, 64 << 20).unwrap();
        assert_eq!(u32_item(&items, FW_CFG_KERNEL_ADDR), 0x10_0000);
        assert_eq!(u32_item(&items, FW_CFG_KERNEL_SIZE), 10_000);
        assert_eq!(items.get(FW_CFG_KERNEL_DATA).unwrap(), &image[5 * 512..]);
        assert_eq!(u32_item(&items, FW_CFG_SETUP_ADDR), 0x1_0000);
        assert_eq!(u32_item(&items, FW_CFG_SETUP_SIZE), 5 * 512);
        assert_eq!(items.get(FW_CFG_CMDLINE_DATA).unwrap(), b"console=ttyS0\0");
        assert_eq!(u32_item(&items, FW_CFG_CMDLINE_SIZE), 14);
        assert_eq!(u32_item(&items, FW_CFG_CMDLINE_ADDR), 0x2_0000);
        // The initrd: page-aligned, ending below the room kept for the ACPI tables.
        let addr = u32_item(&items, FW_CFG_INITRD_ADDR);
        assert_eq!(
            u64::from(addr),
            ((64 << 20) - ACPI_DATA_SIZE - 1 - 5000) & !0xFFF
        );
        assert_eq!(u32_item(&items, FW_CFG_INITRD_SIZE), 5000);
        assert_eq!(items.get(FW_CFG_INITRD_DATA).unwrap(), initrd.as_slice());
        let setup = items.get(FW_CFG_SETUP_DATA).unwrap();
        assert_eq!(setup[HDR_TYPE_OF_LOADER], LOADER_TYPE_QEMU);
        assert_eq!(setup[HDR_LOADFLAGS], LOADED_HIGH | CAN_USE_HEAP);
        let at = |off: usize| u32::from_le_bytes(setup[off..off + 4].try_into().unwrap());
        assert_eq!(at(HDR_HEAP_END_PTR) & 0xFFFF, 0xFE00);
        assert_eq!(at(HDR_CMD_LINE_PTR), 0x2_0000);
        assert_eq!(at(HDR_RAMDISK_IMAGE), addr);
        assert_eq!(at(HDR_RAMDISK_SIZE), 5000);
        // The rest of the setup is the file's.
        assert_eq!(&setup[..HDR_TYPE_OF_LOADER], &image[..HDR_TYPE_OF_LOADER]);
    }

    #[test]
    fn the_loader_rom_is_served_and_boots_before_the_drives() {
        let rom_path = b"/rom@genroms/linuxboot_dma.bin";
        let mut items = FwCfgItems::new();
        add_loader_rom(&mut items).unwrap();
        assert_eq!(
            items.file(linuxboot::ROM_FILE).unwrap().1,
            linuxboot::image()
        );
        assert_eq!(
            items.file(BOOTORDER_FILE).unwrap().1,
            [&rom_path[..], b"\0"].concat()
        );
        let mut items = FwCfgItems::new();
        items
            .add_file(
                BOOTORDER_FILE,
                b"/pci@i0cf8/ide@1,1/drive@0/disk@0\0".to_vec(),
            )
            .unwrap();
        add_loader_rom(&mut items).unwrap();
        assert_eq!(
            items.file(BOOTORDER_FILE).unwrap().1,
            [&rom_path[..], b"\n/pci@i0cf8/ide@1,1/drive@0/disk@0\0"].concat()
        );
        assert_eq!(
            add_loader_rom(&mut items),
            Err(FwCfgError::Duplicate(linuxboot::ROM_FILE.to_string()))
        );
    }

    #[test]
    fn bad_requests_are_refused_with_the_loader_errors() {
        let image = bzimage(1000);
        let mut items = FwCfgItems::new();
        let long = "x".repeat(256);
        let request = |cmdline, initrd| KernelRequest {
            kernel: &image,
            initrd,
            cmdline,
            ..KernelRequest::default()
        };
        assert!(matches!(
            add_kernel(&mut items, &request(&long, None), 64 << 20),
            Err(LoadError::CommandLineTooLong { len: 256, max: 255 })
        ));
        let big = vec![0; 3 << 20];
        assert!(matches!(
            add_kernel(&mut items, &request("", Some(&big)), 4 << 20),
            Err(LoadError::InitrdTooBig { .. })
        ));
        assert!(matches!(
            add_kernel(&mut items, &request("", Some(&big)), 0x1000),
            Err(LoadError::InitrdTooBig { .. })
        ));
        let mut multiboot = vec![0u8; 8192];
        multiboot[16..20].copy_from_slice(&0x1BAD_B002u32.to_le_bytes());
        let request = KernelRequest {
            kernel: &multiboot,
            initrd: None,
            cmdline: "",
            ..KernelRequest::default()
        };
        assert!(matches!(
            add_kernel(&mut items, &request, 64 << 20),
            Err(LoadError::FirmwareNeedsBzImage)
        ));
        // Nothing was added by the refused requests.
        assert!(items.get(FW_CFG_KERNEL_DATA).is_none());
    }
}
