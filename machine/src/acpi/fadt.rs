//! The FADT ("FACP", ACPI 6.x 5.2.9), revision 6 (276 bytes): the fixed hardware Linux drives directly.
//!
//! It points at the FACS and DSDT and describes the PIIX4-style PM block that `vx86_devices::pm` decodes: PM1a
//! event block at 0x600 (status, enable), PM1a control at 0x604 (SLP_TYP/SLP_EN: power-off), the 24-bit PM timer
//! at 0x608; the SCI on IRQ 9; the reset register (0xCF9, value 0x06). SMI_CMD is 0: there is no SMI port, so the
//! machine is always in ACPI mode and Linux does not try to switch. Both the 32-bit block addresses and the
//! matching 64-bit generic address structures are filled, with the same values, so Linux's FADT check is quiet.

use super::sdt::{gas, Sdt, GAS_ACCESS_UNDEFINED, GAS_SYSTEM_IO};
use vx86_devices::pm::{PM1A_CNT, PM1A_STS, PM_TMR};
use vx86_devices::reset_control::RESET_CONTROL;

/// FADT revision (ACPI 6.0: the 276-byte layout with the hypervisor vendor identity).
pub const FADT_REVISION: u8 = 6;
/// FADT minor version (ACPI 6.0).
pub const FADT_MINOR_VERSION: u8 = 0;
/// Length of a revision 6 FADT.
pub const FADT_LEN: usize = 276;
/// The SCI's ISA IRQ.
pub const SCI_INT: u16 = super::madt::SCI_IRQ as u16;
/// PM1 event block length: 2 bytes of status and 2 of enable.
pub const PM1_EVT_LEN: u8 = 4;
/// PM1 control block length.
pub const PM1_CNT_LEN: u8 = 2;
/// PM timer block length.
pub const PM_TMR_LEN: u8 = 4;
/// Value written to the reset register: SYS_RST | RST_CPU, a hard reset through the PIIX's 0xCF9.
pub const RESET_VALUE: u8 = 0x06;
/// CMOS index of the century byte (the RTC keeps it at 0x32 as QEMU does).
pub const CENTURY: u8 = vx86_devices::rtc::CMOS_CENTURY;
/// C2 latency above 100 us: C2 not supported.
pub const P_LVL2_LAT_NONE: u16 = 0x0FFF;
/// C3 latency above 1000 us: C3 not supported.
pub const P_LVL3_LAT_NONE: u16 = 0x0FFF;

/// IA-PC boot architecture flag: legacy (ISA) devices are present.
pub const BOOT_LEGACY_DEVICES: u16 = 1 << 0;
/// IA-PC boot architecture flag: an 8042 keyboard controller is present.
pub const BOOT_8042: u16 = 1 << 1;

/// Fixed feature flag: WBINVD works (required on every ACPI PC).
pub const F_WBINVD: u32 = 1 << 0;
/// Fixed feature flag: C1 (HLT) is supported on every processor.
pub const F_PROC_C1: u32 = 1 << 2;
/// Fixed feature flag: the power button, if any, is a control-method device (no fixed power button).
pub const F_PWR_BUTTON: u32 = 1 << 4;
/// Fixed feature flag: the sleep button, if any, is a control-method device (no fixed sleep button).
pub const F_SLP_BUTTON: u32 = 1 << 5;
/// Fixed feature flag: RTC wake status is not in the fixed register space.
pub const F_FIX_RTC: u32 = 1 << 6;
/// Fixed feature flag: the PM timer is 32 bits (clear here: ours is 24 bits).
pub const F_TMR_VAL_EXT: u32 = 1 << 8;
/// Fixed feature flag: the reset register is supported.
pub const F_RESET_REG_SUP: u32 = 1 << 10;
/// Fixed feature flag: OSPM should use the platform clock (the PM timer) rather than a processor-based timer.
pub const F_USE_PLATFORM_CLOCK: u32 = 1 << 15;
/// Fixed feature flag: hardware-reduced ACPI (clear here: we have the fixed hardware).
pub const F_HW_REDUCED_ACPI: u32 = 1 << 20;
/// The fixed feature flags this board sets.
pub const FADT_FLAGS: u32 = F_WBINVD
    | F_PROC_C1
    | F_PWR_BUTTON
    | F_SLP_BUTTON
    | F_FIX_RTC
    | F_RESET_REG_SUP
    | F_USE_PLATFORM_CLOCK;

/// Field offsets in the FADT (for the builder's checks and the tests).
pub mod off {
    /// FIRMWARE_CTRL: 32-bit FACS address.
    pub const FIRMWARE_CTRL: usize = 36;
    /// DSDT: 32-bit DSDT address.
    pub const DSDT: usize = 40;
    /// SCI_INT u16.
    pub const SCI_INT: usize = 46;
    /// SMI_CMD u32.
    pub const SMI_CMD: usize = 48;
    /// PM1a_EVT_BLK u32.
    pub const PM1A_EVT_BLK: usize = 56;
    /// PM1a_CNT_BLK u32.
    pub const PM1A_CNT_BLK: usize = 64;
    /// PM_TMR_BLK u32.
    pub const PM_TMR_BLK: usize = 76;
    /// PM1_EVT_LEN u8.
    pub const PM1_EVT_LEN: usize = 88;
    /// PM1_CNT_LEN u8.
    pub const PM1_CNT_LEN: usize = 89;
    /// PM_TMR_LEN u8.
    pub const PM_TMR_LEN: usize = 91;
    /// CENTURY u8.
    pub const CENTURY: usize = 108;
    /// IAPC_BOOT_ARCH u16.
    pub const IAPC_BOOT_ARCH: usize = 109;
    /// Flags u32.
    pub const FLAGS: usize = 112;
    /// RESET_REG generic address structure.
    pub const RESET_REG: usize = 116;
    /// RESET_VALUE u8.
    pub const RESET_VALUE: usize = 128;
    /// X_FIRMWARE_CTRL u64.
    pub const X_FIRMWARE_CTRL: usize = 132;
    /// X_DSDT u64.
    pub const X_DSDT: usize = 140;
    /// X_PM1a_EVT_BLK generic address structure.
    pub const X_PM1A_EVT_BLK: usize = 148;
    /// X_PM1a_CNT_BLK generic address structure.
    pub const X_PM1A_CNT_BLK: usize = 172;
    /// X_PM_TMR_BLK generic address structure.
    pub const X_PM_TMR_BLK: usize = 208;
}

/// Builds the FADT pointing at the FACS at `facs` and the DSDT at `dsdt` (both below 4 GiB).
pub fn build(facs: u32, dsdt: u32) -> Vec<u8> {
    let pm1a_evt = u32::from(PM1A_STS);
    let pm1a_cnt = u32::from(PM1A_CNT);
    let pm_tmr = u32::from(PM_TMR);
    let zero_gas = [0u8; 12];
    let mut t = Sdt::new(b"FACP", FADT_REVISION);
    t.u32(facs) // 36 FIRMWARE_CTRL
        .u32(dsdt) // 40 DSDT
        .u8(0) // 44 reserved (ACPI 1.0 INT_MODEL)
        .u8(0) // 45 Preferred_PM_Profile: unspecified
        .u16(SCI_INT) // 46 SCI_INT
        .u32(0) // 48 SMI_CMD: none, always in ACPI mode
        .u8(0) // 52 ACPI_ENABLE
        .u8(0) // 53 ACPI_DISABLE
        .u8(0) // 54 S4BIOS_REQ
        .u8(0) // 55 PSTATE_CNT
        .u32(pm1a_evt) // 56 PM1a_EVT_BLK
        .u32(0) // 60 PM1b_EVT_BLK
        .u32(pm1a_cnt) // 64 PM1a_CNT_BLK
        .u32(0) // 68 PM1b_CNT_BLK
        .u32(0) // 72 PM2_CNT_BLK
        .u32(pm_tmr) // 76 PM_TMR_BLK
        .u32(0) // 80 GPE0_BLK
        .u32(0) // 84 GPE1_BLK
        .u8(PM1_EVT_LEN) // 88 PM1_EVT_LEN
        .u8(PM1_CNT_LEN) // 89 PM1_CNT_LEN
        .u8(0) // 90 PM2_CNT_LEN
        .u8(PM_TMR_LEN) // 91 PM_TMR_LEN
        .u8(0) // 92 GPE0_BLK_LEN
        .u8(0) // 93 GPE1_BLK_LEN
        .u8(0) // 94 GPE1_BASE
        .u8(0) // 95 CST_CNT
        .u16(P_LVL2_LAT_NONE) // 96 P_LVL2_LAT
        .u16(P_LVL3_LAT_NONE) // 98 P_LVL3_LAT
        .u16(0) // 100 FLUSH_SIZE
        .u16(0) // 102 FLUSH_STRIDE
        .u8(0) // 104 DUTY_OFFSET
        .u8(0) // 105 DUTY_WIDTH
        .u8(0) // 106 DAY_ALRM
        .u8(0) // 107 MON_ALRM
        .u8(CENTURY) // 108 CENTURY
        .u16(BOOT_LEGACY_DEVICES | BOOT_8042) // 109 IAPC_BOOT_ARCH
        .u8(0) // 111 reserved
        .u32(FADT_FLAGS) // 112 Flags
        .bytes(&gas(
            GAS_SYSTEM_IO,
            8,
            GAS_ACCESS_UNDEFINED,
            u64::from(RESET_CONTROL),
        )) // 116 RESET_REG
        .u8(RESET_VALUE) // 128 RESET_VALUE
        .u16(0) // 129 ARM_BOOT_ARCH
        .u8(FADT_MINOR_VERSION) // 131 FADT Minor Version
        .u64(u64::from(facs)) // 132 X_FIRMWARE_CTRL
        .u64(u64::from(dsdt)) // 140 X_DSDT
        .bytes(&gas(
            GAS_SYSTEM_IO,
            PM1_EVT_LEN * 8,
            GAS_ACCESS_UNDEFINED,
            u64::from(pm1a_evt),
        )) // 148 X_PM1a_EVT_BLK
        .bytes(&zero_gas) // 160 X_PM1b_EVT_BLK
        .bytes(&gas(
            GAS_SYSTEM_IO,
            PM1_CNT_LEN * 8,
            GAS_ACCESS_UNDEFINED,
            u64::from(pm1a_cnt),
        )) // 172 X_PM1a_CNT_BLK
        .bytes(&zero_gas) // 184 X_PM1b_CNT_BLK
        .bytes(&zero_gas) // 196 X_PM2_CNT_BLK
        .bytes(&gas(
            GAS_SYSTEM_IO,
            PM_TMR_LEN * 8,
            GAS_ACCESS_UNDEFINED,
            u64::from(pm_tmr),
        )) // 208 X_PM_TMR_BLK
        .bytes(&zero_gas) // 220 X_GPE0_BLK
        .bytes(&zero_gas) // 232 X_GPE1_BLK
        .bytes(&zero_gas) // 244 SLEEP_CONTROL_REG
        .bytes(&zero_gas) // 256 SLEEP_STATUS_REG
        .u64(0); // 268 Hypervisor Vendor Identity
    debug_assert_eq!(t.len(), FADT_LEN);
    t.finish()
}
