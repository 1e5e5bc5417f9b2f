//! The functions of QEMU's `pc` chipset, with the IDs `lspci` shows in a guest of that machine: the i440FX host
//! bridge (00.0), the PIIX3 PCI-to-ISA bridge (01.0), its IDE controller (01.1) and the PIIX4 power-management
//! function (01.3).
//!
//! The host bridge's PAM registers say, for each segment of 0xC0000-0xFFFFF, whether reads and writes go to RAM
//! or to the PCI side (the BIOS ROM); [`pam_mode`] decodes them for the board's memory map.

use super::config::{offset, Bar, BarKind, ConfigSpace, Identity};
use super::Slot;

/// 00.0: the i440FX host bridge.
pub const HOST_BRIDGE: Slot = Slot {
    device: 0,
    function: 0,
};
/// 01.0: the PIIX3 PCI-to-ISA bridge.
pub const ISA_BRIDGE: Slot = Slot {
    device: 1,
    function: 0,
};
/// 01.1: the PIIX3 IDE controller.
pub const IDE: Slot = Slot {
    device: 1,
    function: 1,
};
/// 01.3: the PIIX4 power-management function (ACPI).
pub const POWER_MANAGEMENT: Slot = Slot {
    device: 1,
    function: 3,
};

/// i440FX: the first PAM register (PAM0, whose high nibble covers 0xF0000-0xFFFFF); PAM1-PAM6 follow.
pub const PAM0: u8 = 0x59;
/// i440FX: the SMRAM control register.
pub const SMRAM: u8 = 0x72;
/// SMRAM control at power-on: compatible SMRAM at 0xA0000 (C_BASE_SEG = 010), closed and not enabled.
const SMRAM_CLOSED: u8 = 0x02;
/// PIIX3: the PIRQ route control registers (PIRQA-D to an ISA IRQ, bit 7 disables).
pub const PIRQ_ROUTE: u8 = 0x60;
/// PIIX4 PM: the PM I/O base (bit 0 reads 1: an I/O address).
pub const PMBA: u8 = 0x40;
/// PIIX4 PM: miscellaneous control; bit 0 enables the PM I/O space.
pub const PMREGMISC: u8 = 0x80;
/// PIIX4 PM: device activity B (32 bits); bit 25 enables SMIs from the APM control port.
pub const DEVACTB: u8 = 0x58;
/// DEVACTB's APMC enable, bit 25: the byte at 0x5B, bit 1.
const DEVACTB_APMC_EN_BYTE: (u8, u8) = (DEVACTB + 3, 0x02);
/// PIIX3 IDE: the bus-master interface's I/O BAR.
pub const IDE_BMIBA_BAR: usize = 4;
/// PIIX3 IDE: the bus-master interface's size (two channels of 8 ports).
pub const IDE_BMIBA_SIZE: u32 = 16;
/// PIIX3 IDE: the primary channel's timing register (16 bits; the secondary's follows at 0x42); bit 15 enables
/// the channel's legacy ports.
pub const IDETIM: u8 = 0x40;
/// PIIX3 IDE: the slave timing register.
pub const SIDETIM: u8 = 0x44;
/// IDETIM: the channel decodes its ports (bit 15).
pub const IDETIM_DECODE_ENABLE: u16 = 0x8000;

/// The i440FX PCI and memory controller (8086:1237, host bridge, revision 2) with its PAM registers writable and
/// SMRAM closed.
pub fn host_bridge() -> ConfigSpace {
    let mut c = ConfigSpace::new(Identity {
        vendor: 0x8086,
        device: 0x1237,
        class: (0x06, 0x00, 0x00),
        revision: 0x02,
    });
    c.set_writable(PAM0, &[0x30, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33]);
    c.set_u8(SMRAM, SMRAM_CLOSED);
    c
}

/// The PIIX3 PCI-to-ISA bridge (8086:7000, function 0 of a multi-function device) with its PIRQ routes disabled.
pub fn isa_bridge() -> ConfigSpace {
    let mut c = ConfigSpace::new(Identity {
        vendor: 0x8086,
        device: 0x7000,
        class: (0x06, 0x01, 0x00),
        revision: 0x00,
    });
    c.set_multi_function();
    for k in 0..4 {
        c.set_u8(PIRQ_ROUTE + k, 0x80);
    }
    c.set_writable(PIRQ_ROUTE, &[0x8F; 4]);
    c
}

/// The PIIX3 IDE controller (8086:7010, IDE in ISA-compatibility mode with bus mastering: prog-if 0x80) with its
/// bus-master BAR and both channels' decoding enabled in their timing registers: the state firmware (SeaBIOS, as
/// on QEMU's board) leaves them in, so a kernel booted directly finds both channels on (Linux's ata_piix checks
/// the bit).
pub fn ide() -> ConfigSpace {
    let mut c = ConfigSpace::new(Identity {
        vendor: 0x8086,
        device: 0x7010,
        class: (0x01, 0x01, 0x80),
        revision: 0x00,
    });
    c.set_bar(
        IDE_BMIBA_BAR,
        Bar {
            kind: BarKind::Io,
            size: IDE_BMIBA_SIZE,
        },
    );
    for channel in 0..2 {
        c.set_u16(IDETIM + 2 * channel, IDETIM_DECODE_ENABLE);
    }
    c.set_writable(IDETIM, &[0xFF; 4]);
    c.set_writable(SIDETIM, &[0xFF]);
    c
}

/// The PIIX4 power-management function (8086:7113, revision 3), with the SCI on INTA# routed to IRQ 9 and its PM
/// block at `pm_base`, enabled: the state firmware leaves it in, so a kernel booted directly finds the ACPI
/// registers where the FADT says. Firmware may move the block (PMBA, bits 15-6) or turn it off (PMREGMISC bit 0);
/// [`pm_block`] says where it decodes. There is
/// no System Management Mode: the APM-control SMI enable reads as already set, as on QEMU's board without SMM, so
/// firmware (SeaBIOS) sees its SMM set-up as done and skips it.
pub fn power_management(pm_base: u16) -> ConfigSpace {
    let mut c = ConfigSpace::new(Identity {
        vendor: 0x8086,
        device: 0x7113,
        class: (0x06, 0x80, 0x00),
        revision: 0x03,
    });
    c.set_interrupt_pin_a();
    c.set_u8(offset::INTERRUPT_LINE, 9);
    c.set_u32(PMBA, u32::from(pm_base) | 1);
    c.set_u8(PMREGMISC, 1);
    c.set_writable(PMBA, &[0xC0, 0xFF]);
    c.set_writable(PMREGMISC, &[0x01]);
    c.set_u8(DEVACTB_APMC_EN_BYTE.0, DEVACTB_APMC_EN_BYTE.1);
    c
}

/// How a PAM segment routes accesses (Intel 82441FX datasheet, 4.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PamMode {
    /// Reads and writes go to the PCI side: the BIOS ROM where it shows below 1 MiB.
    Pci,
    /// Reads from RAM, writes to the PCI side (a write-protected shadow).
    ReadOnly,
    /// Reads from the PCI side, writes to RAM (how firmware copies itself into its shadow).
    WriteOnly,
    /// Reads and writes go to RAM.
    ReadWrite,
}

/// The PAM mode the host bridge `config` gives guest-physical `paddr`, if it is in 0xC0000-0xFFFFF.
pub fn pam_mode(config: &ConfigSpace, paddr: u64) -> Option<PamMode> {
    let (register, high) = match paddr {
        0xF_0000..=0xF_FFFF => (PAM0, true),
        0xC_0000..=0xE_FFFF => {
            let segment = (paddr - 0xC_0000) >> 14;
            (PAM0 + 1 + (segment >> 1) as u8, segment & 1 == 1)
        }
        _ => return None,
    };
    let bits = config.u8(register) >> if high { 4 } else { 0 };
    Some(match bits & 3 {
        0 => PamMode::Pci,
        1 => PamMode::ReadOnly,
        2 => PamMode::WriteOnly,
        _ => PamMode::ReadWrite,
    })
}

/// Where the PIIX4 power-management function `config` decodes its PM I/O block: PMBA's base, when PMREGMISC
/// enables it.
pub fn pm_block(config: &ConfigSpace) -> Option<u16> {
    (config.u8(PMREGMISC) & 1 != 0).then(|| (config.u32(PMBA) & 0xFFC0) as u16)
}
