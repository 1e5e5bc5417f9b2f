use super::chipset::{self, PamMode};
use super::*;

/// The `pc` chipset's functions on a bus.
fn pc_bus() -> PciBus {
    let mut bus = PciBus::new();
    bus.plug(chipset::HOST_BRIDGE, chipset::host_bridge());
    bus.plug(chipset::ISA_BRIDGE, chipset::isa_bridge());
    bus.plug(chipset::IDE, chipset::ide());
    bus.plug(chipset::POWER_MANAGEMENT, chipset::power_management(0x600));
    bus
}

fn address(device: u8, function: u8, offset: u8) -> u32 {
    ENABLE | u32::from(device) << 11 | u32::from(function) << 8 | u32::from(offset)
}

fn read(bus: &mut PciBus, device: u8, function: u8, offset: u8, size: u8) -> u32 {
    bus.io_write(CONFIG_ADDRESS, 4, address(device, function, offset & !3));
    bus.io_read(CONFIG_DATA + u16::from(offset & 3), size)
}

fn write(bus: &mut PciBus, device: u8, function: u8, offset: u8, size: u8, value: u32) {
    bus.io_write(CONFIG_ADDRESS, 4, address(device, function, offset & !3));
    bus.io_write(CONFIG_DATA + u16::from(offset & 3), size, value);
}

#[test]
fn a_scan_of_bus_0_finds_the_pc_chipset_with_qemus_ids() {
    let mut bus = pc_bus();
    let mut found = Vec::new();
    for device in 0..32 {
        for function in 0..8 {
            let id = read(&mut bus, device, function, 0, 4);
            if id != 0xFFFF_FFFF {
                let class = read(&mut bus, device, function, 8, 4) >> 8;
                found.push((device, function, id, class));
            }
        }
    }
    assert_eq!(
        found,
        [
            (0, 0, 0x1237_8086, 0x06_0000),
            (1, 0, 0x7000_8086, 0x06_0100),
            (1, 1, 0x7010_8086, 0x01_0180),
            (1, 3, 0x7113_8086, 0x06_8000),
        ]
    );
    assert_eq!(read(&mut bus, 1, 0, 0x0E, 1), 0x80, "multi-function");
    assert_eq!(read(&mut bus, 1, 3, 0x3C, 2), 0x0109, "INTA#, IRQ 9");
    assert_eq!(read(&mut bus, 1, 3, chipset::PMBA, 4), 0x601);
    assert_eq!(
        read(&mut bus, 1, 3, chipset::DEVACTB, 4) & 1 << 25,
        1 << 25,
        "no SMM: the APMC SMI enable reads as set"
    );
}

#[test]
fn the_configuration_mechanism_ignores_disabled_cycles_other_buses_and_narrow_address_writes() {
    let mut bus = pc_bus();
    bus.io_write(CONFIG_ADDRESS, 4, address(0, 0, 0) & !ENABLE);
    assert_eq!(bus.io_read(CONFIG_DATA, 4), 0xFFFF_FFFF, "bit 31 clear");
    bus.io_write(CONFIG_ADDRESS, 4, address(0, 0, 0) | 1 << 16);
    assert_eq!(bus.io_read(CONFIG_DATA, 4), 0xFFFF_FFFF, "bus 1");
    bus.io_write(CONFIG_ADDRESS, 4, address(0, 0, 0));
    assert_eq!(bus.io_read(CONFIG_ADDRESS, 4), address(0, 0, 0));
    bus.io_write(CONFIG_ADDRESS, 1, 0);
    assert_eq!(
        bus.io_read(CONFIG_ADDRESS, 4),
        address(0, 0, 0),
        "a byte write is not ours"
    );
    assert_eq!(
        bus.io_read(CONFIG_DATA + 2, 2),
        0x1237,
        "the byte lane selects the register"
    );
    assert!(bus.take_writes().is_empty());
    write(&mut bus, 0, 0, chipset::PAM0 + 1, 1, 0x31);
    assert_eq!(
        bus.take_writes(),
        [ConfigWrite {
            slot: chipset::HOST_BRIDGE,
            offset: chipset::PAM0 + 1,
            size: 1
        }]
    );
}

#[test]
fn pam_registers_route_each_segment() {
    let mut bus = pc_bus();
    let mode =
        |bus: &PciBus, paddr| chipset::pam_mode(bus.function(chipset::HOST_BRIDGE).unwrap(), paddr);
    assert_eq!(mode(&bus, 0xF_0000), Some(PamMode::Pci));
    assert_eq!(mode(&bus, 0xB_FFFF), None);
    write(&mut bus, 0, 0, chipset::PAM0, 1, 0xFF);
    assert_eq!(
        read(&mut bus, 0, 0, chipset::PAM0, 1),
        0x30,
        "PAM0's low nibble is reserved"
    );
    assert_eq!(mode(&bus, 0xF_8000), Some(PamMode::ReadWrite));
    // PAM1: C0000 read-only, C4000 write-only; PAM6's high half: EC000 read-write.
    write(&mut bus, 0, 0, chipset::PAM0 + 1, 1, 0x21);
    write(&mut bus, 0, 0, chipset::PAM0 + 6, 1, 0x30);
    assert_eq!(mode(&bus, 0xC_3FFF), Some(PamMode::ReadOnly));
    assert_eq!(mode(&bus, 0xC_4000), Some(PamMode::WriteOnly));
    assert_eq!(mode(&bus, 0xE_8000), Some(PamMode::Pci));
    assert_eq!(mode(&bus, 0xE_C000), Some(PamMode::ReadWrite));
}

#[test]
fn the_ide_bus_master_bar_is_sized_and_placed_by_the_guest() {
    let mut bus = pc_bus();
    write(&mut bus, 1, 1, 0x20, 4, 0xFFFF_FFFF);
    assert_eq!(read(&mut bus, 1, 1, 0x20, 4), 0xFFFF_FFF1);
    write(&mut bus, 1, 1, 0x20, 4, 0xC040);
    write(&mut bus, 1, 1, 0x04, 2, 1);
    let ide = bus.function(chipset::IDE).unwrap();
    assert_eq!(ide.bar_base(chipset::IDE_BMIBA_BAR), Some(0xC040));
}
