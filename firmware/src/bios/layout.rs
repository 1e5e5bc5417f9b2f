//! Every address, port and BIOS Data Area offset the BIOS uses, as documented constants.
//!
//! Values are `u32` so they can be used directly as immediates and displacements in `code_asm`.

// ---- Segments and fixed memory --------------------------------------------------------------------------------

/// Segment the BIOS code runs in (the image is mapped at physical 0xF0000).
pub const BIOS_SEG: u32 = 0xF000;
/// Segment of the BIOS Data Area (physical 0x400-0x4FF).
pub const BDA_SEG: u32 = 0x0040;
/// Segment of our 1 KiB Extended BIOS Data Area at physical 0x9FC00 (just below the VGA window).
pub const EBDA_SEG: u32 = 0x9FC0;
/// Physical address of the EBDA.
pub const EBDA_BASE: u32 = EBDA_SEG << 4;
/// Size of the EBDA in KiB (stored in its first byte, as on a real PC).
pub const EBDA_SIZE_KIB: u32 = 1;
/// Conventional memory reported by INT 12h: 640 KiB minus the EBDA.
pub const BASE_MEM_KIB: u32 = 640 - EBDA_SIZE_KIB;
/// Segment of the colour text-mode frame buffer (physical 0xB8000).
pub const VGA_TEXT_SEG: u32 = 0xB800;
/// Where INT 19h loads the boot sector (0000:7C00), and the top of the stack it leaves for it.
pub const BOOT_ADDR: u32 = 0x7C00;
/// The POST stack: SS = 0, SP = this (it grows down, below the boot sector).
pub const STACK_TOP: u32 = 0x7C00;
/// Scratch buffer for the IDENTIFY DEVICE data during POST (the boot sector overwrites it later).
pub const IDENTIFY_BUF: u32 = 0x7C00;

/// Physical address of the local APIC's registers (its power-on default).
pub const LAPIC_BASE: u32 = 0xFEE0_0000;
/// Local APIC spurious-interrupt vector register: bit 8 = APIC software enable.
pub const LAPIC_SVR: u32 = LAPIC_BASE + 0xF0;
/// Local APIC LINT0 vector table entry (the 8259's INTR output is wired here).
pub const LAPIC_LVT_LINT0: u32 = LAPIC_BASE + 0x350;
/// Local APIC LINT1 vector table entry (NMI is wired here).
pub const LAPIC_LVT_LINT1: u32 = LAPIC_BASE + 0x360;

// ---- BIOS Data Area (offsets in segment 0x40) ----------------------------------------------------------------

/// Word: I/O base of COM1 (phys 0x400).
pub const BDA_COM1: u32 = 0x00;
/// Word: segment of the EBDA (phys 0x40E).
pub const BDA_EBDA_SEG: u32 = 0x0E;
/// Word: equipment list, as returned by INT 11h (phys 0x410).
pub const BDA_EQUIPMENT: u32 = 0x10;
/// Word: conventional memory in KiB, as returned by INT 12h (phys 0x413).
pub const BDA_BASE_MEM_KIB: u32 = 0x13;
/// Byte: keyboard shift flags (phys 0x417).
pub const BDA_KBD_FLAGS: u32 = 0x17;
/// Word: keyboard ring buffer head, an offset in segment 0x40 (phys 0x41A).
pub const BDA_KBD_HEAD: u32 = 0x1A;
/// Word: keyboard ring buffer tail (phys 0x41C).
pub const BDA_KBD_TAIL: u32 = 0x1C;
/// Start of the 16-entry keyboard ring buffer (phys 0x41E).
pub const BDA_KBD_BUF: u32 = 0x1E;
/// End (exclusive) of the keyboard ring buffer (phys 0x43E).
pub const BDA_KBD_BUF_END: u32 = 0x3E;
/// Byte: last diskette status (phys 0x441); we mirror the hard disk status there too.
pub const BDA_FLOPPY_STATUS: u32 = 0x41;
/// Byte: current video mode (phys 0x449).
pub const BDA_VIDEO_MODE: u32 = 0x49;
/// Word: text columns (phys 0x44A).
pub const BDA_VIDEO_COLS: u32 = 0x4A;
/// Word: size of a video page in bytes (phys 0x44C).
pub const BDA_VIDEO_PAGE_SIZE: u32 = 0x4C;
/// Word: start offset of the active page (phys 0x44E).
pub const BDA_VIDEO_PAGE_START: u32 = 0x4E;
/// Cursor positions of the 8 pages, a word each: column byte then row byte (phys 0x450).
pub const BDA_CURSOR_POS: u32 = 0x50;
/// Word: cursor shape, end line then start line (phys 0x460).
pub const BDA_CURSOR_SHAPE: u32 = 0x60;
/// Byte: active video page (phys 0x462).
pub const BDA_VIDEO_PAGE: u32 = 0x62;
/// Word: CRT controller base port (phys 0x463).
pub const BDA_CRTC_BASE: u32 = 0x63;
/// Dword: timer ticks since midnight (phys 0x46C).
pub const BDA_TICKS: u32 = 0x6C;
/// Byte: nonzero once the tick count has passed midnight (phys 0x470).
pub const BDA_MIDNIGHT: u32 = 0x70;
/// Byte: last hard disk status (phys 0x474).
pub const BDA_DISK_STATUS: u32 = 0x74;
/// Byte: number of hard disks (phys 0x475).
pub const BDA_DISK_COUNT: u32 = 0x75;
/// Word: keyboard buffer start offset (phys 0x480).
pub const BDA_KBD_START_PTR: u32 = 0x80;
/// Word: keyboard buffer end offset (phys 0x482).
pub const BDA_KBD_END_PTR: u32 = 0x82;
/// Byte: text rows minus one (phys 0x484).
pub const BDA_VIDEO_ROWS: u32 = 0x84;
/// Word: character height in scan lines (phys 0x485).
pub const BDA_CHAR_HEIGHT: u32 = 0x85;

/// Equipment word: 80x25 colour video (bits 4-5 = 10b) and one serial port (bits 9-11 = 1).
pub const EQUIPMENT: u32 = 0x0220;
/// Ticks per day of the 18.2 Hz timer; at this count the tick counter wraps to 0 and sets the midnight flag.
pub const TICKS_PER_DAY: u32 = 0x0018_00B0;

// ---- EBDA (offsets in segment EBDA_SEG), our private variables -----------------------------------------------

/// Byte: EBDA size in KiB (standard).
pub const EBDA_SIZE: u32 = 0x00;
/// Dword: end of RAM below 4 GiB (bytes), from CMOS.
pub const EBDA_RAM_END: u32 = 0x100;
/// Dword: RAM above 4 GiB in 64 KiB units, from CMOS 0x5B-0x5D.
pub const EBDA_HIGH_64K: u32 = 0x104;
/// Word: extended memory between 1 MiB and 64 MiB in KiB (CMOS 0x30/0x31).
pub const EBDA_EXT_KIB: u32 = 0x108;
/// Word: memory above 16 MiB in 64 KiB units (CMOS 0x34/0x35).
pub const EBDA_EXT16_64K: u32 = 0x10A;
/// Byte: 1 if the primary master ATA disk answered IDENTIFY.
pub const EBDA_DISK_PRESENT: u32 = 0x110;
/// Dword: disk capacity in 512-byte sectors (LBA28).
pub const EBDA_DISK_SECTORS: u32 = 0x112;
/// Word: CHS cylinders (at most 1024).
pub const EBDA_DISK_CYLS: u32 = 0x116;
/// Word: CHS heads.
pub const EBDA_DISK_HEADS: u32 = 0x118;
/// Word: CHS sectors per track.
pub const EBDA_DISK_SPT: u32 = 0x11A;
/// Word: number of E820 entries.
pub const EBDA_E820_COUNT: u32 = 0x11C;
/// The E820 table, 20 bytes per entry.
pub const EBDA_E820_TABLE: u32 = 0x120;

// ---- I/O ports --------------------------------------------------------------------------------------------------

/// POST code port: each stage of POST writes its number here.
pub const PORT_POST: u32 = 0x80;
/// Master 8259 command and data ports.
pub const PIC1_CMD: u32 = 0x20;
/// Master 8259 data (mask) port.
pub const PIC1_DATA: u32 = 0x21;
/// Slave 8259 command port.
pub const PIC2_CMD: u32 = 0xA0;
/// Slave 8259 data (mask) port.
pub const PIC2_DATA: u32 = 0xA1;
/// End-of-interrupt command for a 8259.
pub const PIC_EOI: u32 = 0x20;
/// 8254 channel 0 data port.
pub const PIT_CH0: u32 = 0x40;
/// 8254 mode/command port.
pub const PIT_CMD: u32 = 0x43;
/// CMOS/RTC index port (bit 7 would mask NMI).
pub const CMOS_INDEX: u32 = 0x70;
/// CMOS/RTC data port.
pub const CMOS_DATA: u32 = 0x71;
/// System control port A: bit 1 = A20 gate, bit 0 = fast reset (never set it).
pub const PORT_SYS_CTRL_A: u32 = 0x92;
/// COM1 base port.
pub const COM1: u32 = 0x3F8;
/// COM1 receive buffer / transmit holding register (DLAB=0), divisor low (DLAB=1).
pub const COM1_DATA: u32 = COM1;
/// COM1 interrupt enable register, divisor high (DLAB=1).
pub const COM1_IER: u32 = COM1 + 1;
/// COM1 FIFO control register.
pub const COM1_FCR: u32 = COM1 + 2;
/// COM1 line control register (bit 7 = DLAB).
pub const COM1_LCR: u32 = COM1 + 3;
/// COM1 modem control register.
pub const COM1_MCR: u32 = COM1 + 4;
/// COM1 line status register: bit 0 = data ready, bit 5 = transmit holding register empty.
pub const COM1_LSR: u32 = COM1 + 5;
/// VGA CRT controller index port (colour).
pub const CRTC_INDEX: u32 = 0x3D4;
/// VGA CRT controller data port.
pub const CRTC_DATA: u32 = 0x3D5;
/// ATA primary channel: data register (16-bit PIO).
pub const ATA_DATA: u32 = 0x1F0;
/// ATA sector count register.
pub const ATA_COUNT: u32 = 0x1F2;
/// ATA LBA bits 0-7.
pub const ATA_LBA0: u32 = 0x1F3;
/// ATA LBA bits 8-15.
pub const ATA_LBA1: u32 = 0x1F4;
/// ATA LBA bits 16-23.
pub const ATA_LBA2: u32 = 0x1F5;
/// ATA drive/head register: 0xE0 | LBA bits 24-27 selects the master in LBA mode.
pub const ATA_DRIVE: u32 = 0x1F6;
/// ATA status (read) / command (write) register.
pub const ATA_CMD: u32 = 0x1F7;
/// ATA device control register (write) / alternate status (read); bit 1 = nIEN (no IRQ14).
pub const ATA_CTRL: u32 = 0x3F6;

// ---- CMOS registers ---------------------------------------------------------------------------------------------

/// RTC seconds (BCD).
pub const CMOS_SECONDS: u32 = 0x00;
/// RTC minutes (BCD).
pub const CMOS_MINUTES: u32 = 0x02;
/// RTC hours (BCD, 24-hour).
pub const CMOS_HOURS: u32 = 0x04;
/// RTC day of month (BCD).
pub const CMOS_DAY: u32 = 0x07;
/// RTC month (BCD).
pub const CMOS_MONTH: u32 = 0x08;
/// RTC year within the century (BCD).
pub const CMOS_YEAR: u32 = 0x09;
/// RTC status A: bit 7 = update in progress.
pub const CMOS_STATUS_A: u32 = 0x0A;
/// RTC status B: bit 0 = daylight saving.
pub const CMOS_STATUS_B: u32 = 0x0B;
/// Extended memory above 1 MiB in KiB, low and high byte.
pub const CMOS_EXT_MEM_LO: u32 = 0x30;
/// See [`CMOS_EXT_MEM_LO`].
pub const CMOS_EXT_MEM_HI: u32 = 0x31;
/// RTC century (BCD).
pub const CMOS_CENTURY: u32 = 0x32;
/// Memory above 16 MiB in 64 KiB units, low and high byte (QEMU/SeaBIOS convention).
pub const CMOS_EXT16_LO: u32 = 0x34;
/// See [`CMOS_EXT16_LO`].
pub const CMOS_EXT16_HI: u32 = 0x35;
/// Memory above 4 GiB in 64 KiB units, three bytes 0x5B-0x5D (QEMU/SeaBIOS convention).
pub const CMOS_HIGH_MEM: u32 = 0x5B;

// ---- ATA commands and status bits -----------------------------------------------------------------------------

/// READ SECTORS (PIO, LBA28).
pub const ATA_CMD_READ: u32 = 0x20;
/// WRITE SECTORS (PIO, LBA28).
pub const ATA_CMD_WRITE: u32 = 0x30;
/// FLUSH CACHE.
pub const ATA_CMD_FLUSH: u32 = 0xE7;
/// IDENTIFY DEVICE.
pub const ATA_CMD_IDENTIFY: u32 = 0xEC;
/// Status: busy.
pub const ATA_BSY: u32 = 0x80;
/// Status: data request (a sector is ready to move).
pub const ATA_DRQ: u32 = 0x08;
/// Status: device fault.
pub const ATA_DF: u32 = 0x20;
/// Status: error.
pub const ATA_ERR: u32 = 0x01;
