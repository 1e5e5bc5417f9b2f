//! The bundled demo guest: a tiny teaching OS that tells, on COM1, how a PC gets from the BIOS to ring 3.
//!
//! It is the guest vx86 boots when given nothing else, and each step prints what it does and why:
//!
//! 1. `boot_sector.rs`, `real_mode.rs`: real mode, BIOS services (INT 10h, 13h, 15h), the E820 memory map, A20.
//! 2. `gdt.rs`, `kernel/mod.rs`: the GDT, CR0.PE and the far jump into 32-bit protected mode.
//! 3. `kernel/idt.rs`, `kernel/clock.rs`: the IDT, exception handlers, the 8259 PICs and the 8254 PIT.
//! 4. `kernel/paging.rs`: page tables, CR3, CR0.PG, and a page fault resolved by mapping a fresh frame.
//! 5. `kernel/tasks.rs`, `kernel/syscalls.rs`, `kernel/faults.rs`, `kernel/user.rs`: the TSS, IRET into ring 3,
//!    system calls through INT 0x80, and privileged instructions trapped by the CPU (trap-and-emulate).
//! 6. `kernel/power.rs`: a summary, then ACPI power-off (or isa-debug-exit when something went wrong).
//!
//! Everything is assembled in Rust with iced-x86's `code_asm` (`asm.rs`); printing is shared by both modes (`text.rs`).
//! The disk image is the boot sector followed by the kernel image, see [`disk_image`].

mod asm;
mod boot_sector;
mod gdt;
mod kernel;
mod real_mode;
mod text;

pub use gdt::{
    KERNEL_CODE_SELECTOR, KERNEL_DATA_SELECTOR, TSS_SELECTOR, USER_CODE_SELECTOR,
    USER_DATA_SELECTOR,
};

/// Bytes per disk sector.
pub const SECTOR_SIZE: usize = 512;
/// Physical address where the BIOS loads the boot sector (0000:7C00).
pub const BOOT_SECTOR_ADDR: u32 = 0x7C00;
/// Physical address where the boot sector loads the kernel (disk sectors 1 and up); its real-mode stage starts here.
pub const KERNEL_LOAD_ADDR: u32 = 0x8000;
/// Physical address of the kernel's 32-bit part, the target of the far jump into protected mode.
pub const KERNEL32_ADDR: u32 = 0x9000;
/// Physical address of the user program inside the loaded kernel image (page-aligned so it can be mapped alone).
pub const USER_IMAGE_ADDR: u32 = 0xC000;
/// Linear address where the user program runs in ring 3 (mapped to [`USER_IMAGE_ADDR`] with U/S = 1).
pub const USER_CODE_VA: u32 = 0x0040_0000;
/// Linear address just above the user stack page (which is mapped at `USER_CODE_VA + 0x1000`).
pub const USER_STACK_TOP_VA: u32 = 0x0040_2000;
/// Physical address of the task-state segment.
pub const TSS_ADDR: u32 = 0x1000;
/// Physical address of the kernel's counters (ticks, faults handled, syscalls served, next free frame).
pub const KERNEL_VARS_ADDR: u32 = 0x1100;
/// Physical address of the page directory (CR3).
pub const PAGE_DIR_ADDR: u32 = 0x2000;
/// Physical address of the page table that maps linear 0-4 MiB (the kernel, supervisor only).
pub const PAGE_TABLE_LOW_ADDR: u32 = 0x3000;
/// Physical address of the page table that maps linear 4-8 MiB (the user program, U/S = 1).
pub const PAGE_TABLE_USER_ADDR: u32 = 0x4000;
/// Physical frame that backs the user stack page.
pub const USER_STACK_FRAME: u32 = 0x5000;
/// Top of the ring-0 stack the CPU switches to on a trap from ring 3 (TSS.ESP0).
pub const RING0_STACK_TOP: u32 = 0x7000;
/// Top of the stack used by the boot sector, the real-mode stage and the kernel's main thread.
pub const KERNEL_STACK_TOP: u32 = 0x7C00;
/// Linear page left not-present on purpose; the page-fault handler maps it on first touch.
pub const DEMAND_PAGE_VA: u32 = 0x0030_0000;
/// First physical frame handed out by the page-fault handler.
pub const FREE_FRAMES_ADDR: u32 = 0x0020_0000;
/// CONFIG_ADDRESS of the PIIX4 power-management function's PMBA (bus 0, device 1, function 3, register 0x40):
/// the PM block's I/O base, which firmware chooses (0x600 under vx86's BIOS, 0xB000 under SeaBIOS).
pub const PIIX4_PMBA_CONFIG_ADDRESS: u32 = 0x8000_0B40;
/// Offset of the PM1a control register in the PM block: writing [`ACPI_POWER_OFF`] there powers the machine off.
pub const ACPI_PM1A_CNT_OFFSET: u16 = 4;
/// SLP_EN with SLP_TYP = 0: soft power-off, written with a 16-bit OUT.
pub const ACPI_POWER_OFF: u16 = 0x2000;
/// The isa-debug-exit port; on failure the demo writes [`FAILURE_EXIT_BASE`] + vector, so vx86 exits with status
/// `(byte << 1) | 1`.
pub const DEBUG_EXIT_PORT: u16 = 0xF4;
/// Added to the exception vector to form the byte written to [`DEBUG_EXIT_PORT`] on an unexpected exception.
pub const FAILURE_EXIT_BASE: u8 = 0x20;
/// The last line the demo prints before it powers off when every step succeeded.
pub const SUCCESS_LINE: &str = "demo: all steps completed, powering off";
/// The line printed just before the failure exit through [`DEBUG_EXIT_PORT`].
pub const FAILURE_LINE: &str = "demo: FAILED, exiting through isa-debug-exit";

/// Builds the kernel image: the real-mode stage, the 32-bit kernel and the user program, at their fixed offsets from
/// [`KERNEL_LOAD_ADDR`], padded to whole sectors.
pub fn kernel_image() -> Vec<u8> {
    let stage = real_mode::assemble().expect("demo real-mode stage assembles");
    let kernel = kernel::assemble().expect("demo kernel assembles");
    let user = kernel::user::assemble().expect("demo user program assembles");
    let mut image = Vec::new();
    for (part, addr, next) in [
        (&stage.bytes, KERNEL_LOAD_ADDR, KERNEL32_ADDR),
        (&kernel.bytes, KERNEL32_ADDR, USER_IMAGE_ADDR),
        (&user.bytes, USER_IMAGE_ADDR, USER_IMAGE_ADDR + 0x1000),
    ] {
        assert_eq!(image.len(), (addr - KERNEL_LOAD_ADDR) as usize);
        assert!(
            part.len() <= (next - addr) as usize,
            "demo part at {addr:#x} overflows into {next:#x}"
        );
        image.extend_from_slice(part);
        image.resize((next - KERNEL_LOAD_ADDR) as usize, 0);
    }
    image.resize(image.len().div_ceil(SECTOR_SIZE) * SECTOR_SIZE, 0);
    image
}

/// Builds the demo's raw disk image: a 512-byte MBR boot sector (0x55AA at offset 510) followed by the kernel image,
/// a whole number of sectors. Boot it as a hard disk; it ends by powering the machine off through ACPI.
pub fn disk_image() -> Vec<u8> {
    let kernel = kernel_image();
    let sectors = u16::try_from(kernel.len() / SECTOR_SIZE).expect("kernel fits a sector count");
    let mut image = boot_sector::assemble(sectors).expect("demo boot sector assembles");
    image.extend_from_slice(&kernel);
    image
}

#[cfg(test)]
mod tests;
