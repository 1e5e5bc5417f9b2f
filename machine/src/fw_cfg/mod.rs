//! What the board tells firmware through fw_cfg (`vx86_devices::fw_cfg`), laid out as QEMU's PC board does, so
//! that SeaBIOS finds the RAM, the processors, the boot order and the ACPI tables:
//!
//! | item | contents |
//! |---|---|
//! | RAM size (0x03) | guest RAM in bytes, u64 |
//! | nographic (0x04) | 1, u16: vx86 has no display |
//! | CPU count (0x05), max CPUs (0x0F) | `-smp`, u16 each (no hot-plug: the same number) |
//! | boot menu (0x0E) | 0, u16 |
//! | NUMA (0x0D) | no nodes: a zero count and a zero node per possible processor, u64 each |
//! | IRQ0 override (0x8002) | 1, u32: the PIT reaches the IOAPIC on pin 2 (the MADT's override) |
//! | `etc/boot-cpus` | `-smp`, u16 |
//! | `etc/e820` | the board's memory map ([`MemoryMap`]): 20-byte entries, address u64, length u64, type u32 |
//! | `bootorder` | the IDE drives' OpenFirmware paths (hard disks first, CD-ROMs first under `-boot d`), else empty; the Linux loader ROM before them when [`kernel`] adds it |
//! | `etc/sercon-port` | 0x3F8, u16: with no display, firmware mirrors its screen on COM1 (QEMU's `-nographic`) |
//! | `etc/table-loader`, `etc/acpi/tables`, `etc/acpi/rsdp` | the ACPI tables and their linker script ([`acpi::linker`]) |
//! | `vgaroms/vgabios-stdvga.bin` | the VGA's option ROM, when the machine has one: SeaBIOS runs every `vgaroms/` file |
//!
//! Numbers are little-endian. SeaBIOS also reads the RAM size below 4 GiB from CMOS, which the RTC fills in.
//! [`kernel`] adds `-kernel`, `-initrd` and `-append` for firmware that boots them.

pub mod kernel;

use crate::acpi::{self, linker};
use crate::loader::MemoryMap;
use vx86_devices::fw_cfg::items::*;
use vx86_devices::uart::COM1_BASE;
use vx86_devices::{FwCfgError, FwCfgItems, IdeMedia};

/// The boot order file.
pub const BOOTORDER_FILE: &str = "bootorder";
/// The VGA's option ROM (SeaBIOS runs each file under `vgaroms/` as a video BIOS).
pub const VGA_ROM_FILE: &str = "vgaroms/vgabios-stdvga.bin";
/// The memory map file.
pub const E820_FILE: &str = "etc/e820";
/// The serial-console file: the port SeaBIOS mirrors its text screen on.
pub const SERCON_PORT_FILE: &str = "etc/sercon-port";
/// The processor count file.
pub const BOOT_CPUS_FILE: &str = "etc/boot-cpus";
/// The OpenFirmware path of the PIIX3 IDE function (00:01.1) on QEMU's i440FX board.
const IDE_CONTROLLER_PATH: &str = "/pci@i0cf8/ide@1,1";

/// The OpenFirmware path QEMU gives the IDE device in slot `index` (0-3): `drive@` the channel, `disk@` the unit
/// (master 0, slave 1), whatever the device is.
pub fn ide_device_path(index: usize) -> String {
    format!(
        "{IDE_CONTROLLER_PATH}/drive@{}/disk@{}",
        index / 2,
        index % 2
    )
}

/// The `bootorder` file: the hard disks, then the CD-ROMs (the CD-ROMs first under `-boot d`), each group in slot
/// order, one path a line as QEMU writes it (lines split by a newline, the whole ended by a NUL); empty with no drive.
pub fn bootorder(ide: &[Option<IdeMedia>], boot_cdrom: bool) -> Vec<u8> {
    let first = if boot_cdrom {
        IdeMedia::Cdrom
    } else {
        IdeMedia::Disk
    };
    let mut slots: Vec<(usize, IdeMedia)> = ide
        .iter()
        .enumerate()
        .filter_map(|(i, m)| m.map(|m| (i, m)))
        .collect();
    slots.sort_by_key(|&(i, m)| (m != first, i));
    let paths: Vec<String> = slots.iter().map(|&(i, _)| ide_device_path(i)).collect();
    let mut file = paths.join("\n").into_bytes();
    if !file.is_empty() {
        file.push(0);
    }
    file
}

/// What the board describes to firmware.
#[derive(Debug, Clone)]
pub struct FirmwareConfig<'a> {
    /// Guest RAM in bytes.
    pub ram_bytes: u64,
    /// Processors (`-smp`).
    pub cpus: u16,
    /// The board's memory map.
    pub memory_map: &'a MemoryMap,
    /// What each IDE slot holds, in QEMU's index order.
    pub ide: [Option<IdeMedia>; 4],
    /// `-boot d`: the CD-ROM goes first in the boot order.
    pub boot_cdrom: bool,
    /// The VGA's option ROM, if there is one.
    pub vga_rom: Option<&'a [u8]>,
}

/// The fw_cfg items for `config`.
pub fn items(config: &FirmwareConfig) -> Result<FwCfgItems, FwCfgError> {
    let mut items = FwCfgItems::new();
    items.add_u64(FW_CFG_RAM_SIZE, config.ram_bytes);
    items.add_u16(FW_CFG_NOGRAPHIC, 1);
    items.add_u16(FW_CFG_NB_CPUS, config.cpus);
    items.add_u16(FW_CFG_MAX_CPUS, config.cpus);
    items.add_u16(FW_CFG_BOOT_MENU, 0);
    items.add_bytes(FW_CFG_NUMA, vec![0; 8 * (1 + usize::from(config.cpus))]);
    items.add_u32(FW_CFG_IRQ0_OVERRIDE, 1);
    items.add_file(BOOT_CPUS_FILE, config.cpus.to_le_bytes().to_vec())?;
    let e820 = config
        .memory_map
        .entries()
        .iter()
        .flat_map(|e| e.to_bytes())
        .collect();
    items.add_file(E820_FILE, e820)?;
    items.add_file(BOOTORDER_FILE, bootorder(&config.ide, config.boot_cdrom))?;
    items.add_file(SERCON_PORT_FILE, COM1_BASE.to_le_bytes().to_vec())?;
    let cpus = u8::try_from(config.cpus).unwrap_or(u8::MAX);
    let (ram_below_4g, _) = vx86_devices::ram_split(config.ram_bytes);
    let layout = acpi::lay_out(cpus, ram_below_4g as u32, 0);
    items.add_file(linker::TABLE_LOADER_FILE, linker::table_loader(&layout))?;
    items.add_file(linker::ACPI_TABLES_FILE, layout.tables)?;
    items.add_file(linker::ACPI_RSDP_FILE, layout.rsdp.to_vec())?;
    if let Some(rom) = config.vga_rom {
        items.add_file(VGA_ROM_FILE, rom.to_vec())?;
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loader::e820::{E820_ENTRY_SIZE, E820_RAM};

    fn config(map: &MemoryMap, disk: bool) -> FirmwareConfig<'_> {
        FirmwareConfig {
            ram_bytes: 64 << 20,
            cpus: 2,
            memory_map: map,
            ide: [disk.then_some(IdeMedia::Disk), None, None, None],
            boot_cdrom: false,
            vga_rom: None,
        }
    }

    #[test]
    fn numbers_e820_and_acpi_files_describe_the_board() {
        let map = MemoryMap::from_sizes(64 << 20, 256 * 1024);
        let items = items(&config(&map, false)).unwrap();
        assert_eq!(
            items.get(FW_CFG_RAM_SIZE),
            Some(&(64u64 << 20).to_le_bytes()[..])
        );
        assert_eq!(items.get(FW_CFG_NB_CPUS), Some(&[2, 0][..]));
        assert_eq!(items.get(FW_CFG_MAX_CPUS), Some(&[2, 0][..]));
        assert_eq!(items.get(FW_CFG_NUMA), Some(&[0; 24][..]));
        assert_eq!(items.file(BOOT_CPUS_FILE).unwrap().1, [2, 0]);
        let e820 = items.file(E820_FILE).unwrap().1;
        assert_eq!(e820.len(), map.entries().len() * E820_ENTRY_SIZE);
        let ram: u64 = e820
            .chunks(E820_ENTRY_SIZE)
            .filter(|e| u32::from_le_bytes(e[16..20].try_into().unwrap()) == E820_RAM)
            .map(|e| u64::from_le_bytes(e[8..16].try_into().unwrap()))
            .sum();
        let expected: u64 = map
            .entries()
            .iter()
            .filter(|e| e.kind == E820_RAM)
            .map(|e| e.len)
            .sum();
        assert_eq!(ram, expected);
        assert_eq!(items.file(BOOTORDER_FILE).unwrap().1, b"");
        let layout = acpi::lay_out(2, 64 << 20, 0);
        assert_eq!(
            items.file(linker::ACPI_TABLES_FILE).unwrap().1,
            layout.tables
        );
        assert_eq!(items.file(linker::ACPI_RSDP_FILE).unwrap().1, layout.rsdp);
        assert_eq!(
            items.file(linker::TABLE_LOADER_FILE).unwrap().1,
            linker::table_loader(&layout)
        );
    }

    #[test]
    fn bootorder_names_the_disk_when_there_is_one() {
        let map = MemoryMap::from_sizes(64 << 20, 256 * 1024);
        let items = items(&config(&map, true)).unwrap();
        assert_eq!(
            items.file(BOOTORDER_FILE).unwrap().1,
            b"/pci@i0cf8/ide@1,1/drive@0/disk@0\0"
        );
    }

    #[test]
    fn bootorder_puts_the_cdrom_first_under_boot_d() {
        let ide = [Some(IdeMedia::Disk), None, Some(IdeMedia::Cdrom), None];
        assert_eq!(
            bootorder(&ide, true),
            b"/pci@i0cf8/ide@1,1/drive@1/disk@0\n/pci@i0cf8/ide@1,1/drive@0/disk@0\0"
        );
        assert_eq!(
            bootorder(&ide, false),
            b"/pci@i0cf8/ide@1,1/drive@0/disk@0\n/pci@i0cf8/ide@1,1/drive@1/disk@0\0"
        );
        let slave = [None, Some(IdeMedia::Disk), None, None];
        assert_eq!(
            bootorder(&slave, false),
            b"/pci@i0cf8/ide@1,1/drive@0/disk@1\0"
        );
        assert_eq!(bootorder(&[None; 4], true), b"");
    }
}
