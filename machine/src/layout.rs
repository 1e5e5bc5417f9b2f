//! The PC memory map: every guest-physical address the board uses, in one place.
//!
//! ```text
//! 0x0000_0000 .. 0x000A_0000   conventional RAM (IVT, BIOS data area, boot sector at 0x7C00)
//! 0x000A_0000 .. 0x000C_0000   VGA window: MMIO to the VGA's planes (the text buffer at 0xB8000)
//! 0x000C_0000 .. BIOS low      option-ROM area (RAM); 0xE_0000 .. 0xF_0000 holds the ACPI tables (RSDP first)
//! BIOS low    .. 0x0010_0000   the last 128 KiB (or less) of the BIOS image, read-only
//! 0x0010_0000 .. RAM top       extended RAM (up to the PCI hole)
//! RAM top     .. 4 GiB - ROM   PCI hole: MMIO (IOAPIC at 0xFEC0_0000, local APIC at 0xFEE0_0000), else open bus
//! 4 GiB - ROM .. 4 GiB         the whole BIOS image, read-only (the reset vector is at 0xFFFF_FFF0)
//! 4 GiB       .. 4 GiB + rest  RAM that did not fit below the hole
//! ```

/// Start of the VGA window.
pub const VGA_WINDOW: u64 = vx86_devices::vga::memory::WINDOW_START;
/// End (exclusive) of the VGA window.
pub const VGA_WINDOW_END: u64 = vx86_devices::vga::memory::WINDOW_END;
/// End of conventional memory and of the BIOS-visible first megabyte.
pub const ONE_MIB: u64 = 0x10_0000;
/// 4 GiB: the top of 32-bit physical address space and the start of high RAM.
pub const FOUR_GIB: u64 = 0x1_0000_0000;
/// The most of the BIOS image that is also visible just below 1 MiB.
pub const BIOS_LOW_WINDOW_MAX: u64 = 128 * 1024;
/// Smallest guest RAM the board accepts (the BIOS and its data need the first megabyte plus room above it).
pub const MIN_RAM: u64 = 2 * 1024 * 1024;
/// Page size of the memory map's granularity.
pub const PAGE_SIZE: u64 = 4096;

/// Guest-physical base of the I/O APIC's registers (the MADT's IOAPIC entry).
pub const IOAPIC_BASE: u64 = vx86_devices::IOAPIC_BASE;
/// Size of the I/O APIC's register window.
pub const IOAPIC_SIZE: u64 = vx86_devices::ioapic::IOAPIC_SIZE;
/// Power-on base of the local APIC's register page (IA32_APIC_BASE; the MADT's local APIC address).
pub const LAPIC_BASE: u64 = vx86_devices::LAPIC_DEFAULT_BASE;
/// Size of the local APIC's register page.
pub const LAPIC_SIZE: u64 = vx86_devices::lapic::LAPIC_SIZE;

/// Start of the range an OS scans for the ACPI RSDP on a 16-byte boundary (ACPI 6.x 5.2.5.1: 0xE0000-0xFFFFF).
pub const RSDP_SEARCH_START: u64 = 0xE_0000;
/// End (exclusive) of the RSDP search range.
pub const RSDP_SEARCH_END: u64 = ONE_MIB;
/// Where the ACPI tables live: the 64 KiB segment below the BIOS, which is RAM on this board when the BIOS image
/// is 64 KiB (ours). The RSDP is at its start, inside the RSDP search range; the other tables follow it.
pub const ACPI_TABLES_BASE: u64 = 0xE_0000;
/// Size of the ACPI table area. The BIOS's or loader's E820 map must not report it as usable RAM: it is
/// "reserved" (type 2), since the RSDP has to stay where the OS looks for it.
pub const ACPI_TABLES_SIZE: u64 = 0x1_0000;
/// Guest-physical address of the RSDP (also for the boot protocol's `acpi_rsdp_addr`, zero page offset 0x070).
pub const ACPI_RSDP_ADDR: u64 = ACPI_TABLES_BASE;
/// The MP specification's floating pointer: the first 16 bytes of the EBDA, in the last KiB of base memory that
/// an OS scans for it (reserved in the E820 map).
pub const MP_FLOATING_POINTER: u64 = vx86_firmware::bios::layout::EBDA_BASE as u64;
/// The MP configuration table: the upper half of the ACPI table area (the ACPI tables keep the lower half).
pub const MP_CONFIG_TABLE: u64 = ACPI_TABLES_BASE + ACPI_TABLES_SIZE / 2;
