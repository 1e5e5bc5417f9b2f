//! POST, the power-on self test: everything between the reset vector and INT 19h, plus the vector table.
//!
//! A real BIOS first tests and sizes RAM, initialises the chipset, finds and configures PCI devices, runs option
//! ROMs (video first), and sets up the BDA and the interrupt vectors that DOS-era software expects. Ours does the
//! part a legacy boot needs, writing a progress code to port 0x80 before each stage (as real BIOSes do, so a POST
//! card or an emulator's log shows where a hang happened):
//!
//! | code | stage |
//! |------|-------|
//! | 01h | reset: stack, segments |
//! | 02h | BIOS Data Area and EBDA |
//! | 03h | interrupt vector table |
//! | 04h | 8259 interrupt controllers |
//! | 05h | 8254 timer |
//! | 06h | COM1 |
//! | 07h | A20 gate |
//! | 08h | memory size from CMOS, E820 table |
//! | 09h | video (clear the text screen) |
//! | 0Ah | tick count from the RTC |
//! | 0Bh | ATA disk detection |
//! | 0Ch | banner |
//! | 0Dh | INT 19h (boot) |

use super::common::{load_seg, outb, post_code};
use super::layout::*;
use super::{serial, Ctx, Emit};
use iced_x86::code_asm::*;

/// Master 8259 mask after POST: only IRQ0 (timer) and IRQ2 (cascade) enabled.
const PIC1_MASK: u32 = 0xFA;
/// Slave 8259 mask after POST: all disabled.
const PIC2_MASK: u32 = 0xFF;
/// EFLAGS bit 21: software can toggle it only if the CPU has CPUID.
const EFLAGS_ID: u32 = 1 << 21;
/// CPUID leaf 1 EDX bit 9: the CPU has a local APIC.
const CPUID_APIC: u32 = 1 << 9;
/// Selector of the flat data segment in our GDT.
const FLAT_DATA_SELECTOR: u32 = 0x08;
/// Vector of IRQ0 (master 8259 base).
const IRQ0_VECTOR: u32 = 0x08;
/// Vector of IRQ8 (slave 8259 base).
const IRQ8_VECTOR: u32 = 0x70;

/// Emits the POST code, starting at label `post` (the target of the reset vector).
pub(crate) fn emit(c: &mut Ctx) -> Emit {
    let Ctx { a, l, prev } = c;
    a.set_label(&mut l.post)?;
    a.cli()?;
    a.cld()?;

    // 01h: a stack at 0000:7C00 and flat data segments.
    post_code(a, 0x01)?;
    a.xor(ax, ax)?;
    a.mov(ss, ax)?;
    a.mov(sp, STACK_TOP)?;
    a.mov(ds, ax)?;
    a.mov(es, ax)?;

    // 02h: zero the BDA (0x400-0x4FF) and the EBDA, then fill in what we know.
    post_code(a, 0x02)?;
    a.mov(di, 0x400)?;
    a.mov(cx, 0x80)?;
    a.xor(ax, ax)?;
    a.rep().stosw()?;
    load_seg(a, es, EBDA_SEG)?;
    a.xor(di, di)?;
    a.mov(cx, EBDA_SIZE_KIB * 512)?;
    a.xor(ax, ax)?;
    a.rep().stosw()?;
    a.mov(byte_ptr(EBDA_SIZE).es(), EBDA_SIZE_KIB)?;
    load_seg(a, ds, BDA_SEG)?;
    for (offset, value) in [
        (BDA_COM1, COM1),
        (BDA_EBDA_SEG, EBDA_SEG),
        (BDA_EQUIPMENT, EQUIPMENT),
        (BDA_BASE_MEM_KIB, BASE_MEM_KIB),
        (BDA_KBD_HEAD, BDA_KBD_BUF),
        (BDA_KBD_TAIL, BDA_KBD_BUF),
        (BDA_KBD_START_PTR, BDA_KBD_BUF),
        (BDA_KBD_END_PTR, BDA_KBD_BUF_END),
        (BDA_VIDEO_COLS, 80),
        (BDA_VIDEO_PAGE_SIZE, 80 * 25 * 2),
        (BDA_CURSOR_SHAPE, 0x0607),
        (BDA_CRTC_BASE, CRTC_INDEX),
        (BDA_CHAR_HEIGHT, 16),
    ] {
        a.mov(word_ptr(offset), value)?;
    }
    a.mov(byte_ptr(BDA_VIDEO_MODE), 3)?;
    a.mov(byte_ptr(BDA_VIDEO_ROWS), 24)?;

    // 03h: all 256 vectors from the table in ROM, each pointing into segment F000.
    post_code(a, 0x03)?;
    let mut vec_loop = a.create_label();
    load_seg(a, es, 0)?;
    a.xor(di, di)?;
    a.mov(si, prev.vector_table)?;
    a.mov(cx, 256)?;
    a.set_label(&mut vec_loop)?;
    a.mov(ax, word_ptr(si).cs())?;
    a.stosw()?;
    a.mov(ax, BIOS_SEG)?;
    a.stosw()?;
    a.add(si, 2)?;
    a.loop_(vec_loop)?;

    // 04h: the two 8259s. ICW1: edge triggered, cascade, ICW4 follows. ICW2: vector base. ICW3: the slave
    // hangs on master input 2. ICW4: 8086 mode. Then the masks.
    post_code(a, 0x04)?;
    for (cmd, data, base, icw3, mask) in [
        (PIC1_CMD, PIC1_DATA, IRQ0_VECTOR, 0x04, PIC1_MASK),
        (PIC2_CMD, PIC2_DATA, IRQ8_VECTOR, 0x02, PIC2_MASK),
    ] {
        outb(a, cmd, 0x11)?;
        outb(a, data, base)?;
        outb(a, data, icw3)?;
        outb(a, data, 0x01)?;
        outb(a, data, mask)?;
    }

    // The 8259's output reaches the CPU through the local APIC's LINT0 pin, which is masked at reset: put the
    // APIC in "virtual wire" mode (LINT0 = ExtINT, LINT1 = NMI), as every BIOS does. Its registers are at
    // 0xFEE00000, beyond real mode's reach, so we step into protected mode just long enough to load FS with a
    // flat 4 GiB segment, write them, and step back (CS is never reloaded, so the code keeps running as 16-bit).
    // We only do this when CPUID exists (EFLAGS.ID can be toggled) and reports an APIC (leaf 1, EDX bit 9).
    let mut no_apic = a.create_label();
    a.pushfd()?;
    a.pop(eax)?;
    a.mov(ecx, eax)?;
    a.xor(eax, EFLAGS_ID)?;
    a.push(eax)?;
    a.popfd()?;
    a.pushfd()?;
    a.pop(eax)?;
    a.push(ecx)?;
    a.popfd()?;
    a.cmp(eax, ecx)?;
    a.je(no_apic)?;
    a.mov(eax, 1)?;
    a.cpuid()?;
    a.test(edx, CPUID_APIC)?;
    a.jz(no_apic)?;
    a.lgdt(ptr(prev.gdt_descriptor).cs())?;
    a.mov(eax, cr0)?;
    a.or(al, 1)?;
    a.mov(cr0, eax)?;
    a.mov(ax, FLAT_DATA_SELECTOR)?;
    a.mov(fs, ax)?;
    for (register, value) in [
        (LAPIC_SVR, 0x1FFu32),
        (LAPIC_LVT_LINT0, 0x700),
        (LAPIC_LVT_LINT1, 0x400),
    ] {
        a.mov(ebx, register)?;
        a.mov(dword_ptr(ebx).fs(), value)?;
    }
    a.mov(eax, cr0)?;
    a.and(al, 0xFE)?;
    a.mov(cr0, eax)?;
    a.xor(ax, ax)?;
    a.mov(fs, ax)?;
    a.set_label(&mut no_apic)?;

    // 05h: PIT channel 0, mode 3 (square wave), lobyte/hibyte, divisor 0 = 65536: IRQ0 at 18.2 Hz.
    post_code(a, 0x05)?;
    outb(a, PIT_CMD, 0x36)?;
    outb(a, PIT_CH0, 0x00)?;
    outb(a, PIT_CH0, 0x00)?;

    // 06h: COM1.
    post_code(a, 0x06)?;
    serial::init(a)?;

    // 07h: A20 on through port 0x92 (bit 1), never touching bit 0 (fast reset).
    post_code(a, 0x07)?;
    a.in_(al, PORT_SYS_CTRL_A)?;
    a.and(al, 0xFE)?;
    a.or(al, 0x02)?;
    a.out(PORT_SYS_CTRL_A, al)?;

    // 08h: memory.
    post_code(a, 0x08)?;
    a.call(l.memory_probe)?;

    // 09h: video.
    post_code(a, 0x09)?;
    a.call(l.video_clear)?;

    // 0Ah: the tick count.
    post_code(a, 0x0A)?;
    load_seg(a, ds, BDA_SEG)?;
    a.call(l.ticks_from_rtc)?;

    // 0Bh: the disk.
    post_code(a, 0x0B)?;
    a.call(l.ata_detect)?;

    // 0Ch: the banner: "vx86 BIOS", the memory size, the disk.
    post_code(a, 0x0C)?;
    a.mov(si, prev.msg_banner)?;
    a.call(l.print_str)?;
    a.mov(si, prev.msg_memory)?;
    a.call(l.print_str)?;
    load_seg(a, ds, EBDA_SEG)?;
    a.mov(eax, dword_ptr(EBDA_RAM_END))?;
    a.shr(eax, 20)?;
    a.mov(ebx, dword_ptr(EBDA_HIGH_64K))?;
    a.shr(ebx, 4)?;
    a.add(eax, ebx)?;
    a.call(l.print_dec)?;
    a.mov(si, prev.msg_mib)?;
    a.call(l.print_str)?;
    let mut no_disk = a.create_label();
    let mut disk_done = a.create_label();
    a.cmp(byte_ptr(EBDA_DISK_PRESENT), 0)?;
    a.je(no_disk)?;
    a.mov(si, prev.msg_disk)?;
    a.call(l.print_str)?;
    a.mov(eax, dword_ptr(EBDA_DISK_SECTORS))?;
    a.shr(eax, 11)?; // sectors -> MiB
    a.call(l.print_dec)?;
    a.mov(si, prev.msg_mib)?;
    a.call(l.print_str)?;
    a.jmp(disk_done)?;
    a.set_label(&mut no_disk)?;
    a.mov(si, prev.msg_no_disk)?;
    a.call(l.print_str)?;
    a.set_label(&mut disk_done)?;

    // 0Dh: boot.
    post_code(a, 0x0D)?;
    a.sti()?;
    a.int(0x19)?;
    a.jmp(l.int18_no_boot)?;

    a.set_label(&mut l.msg_banner)?;
    a.db(concat!("\r\nvx86 BIOS ", env!("CARGO_PKG_VERSION"), "\r\n\0").as_bytes())?;
    a.set_label(&mut l.msg_memory)?;
    a.db(b"Memory: \0")?;
    a.set_label(&mut l.msg_mib)?;
    a.db(b" MiB\r\n\0")?;
    a.set_label(&mut l.msg_disk)?;
    a.db(b"Hard disk 0x80: ATA primary master, \0")?;
    a.set_label(&mut l.msg_no_disk)?;
    a.db(b"No hard disk on the primary ATA channel\r\n\0")?;

    // The GDT for the local APIC set-up: a null descriptor and a flat 4 GiB read/write data segment.
    a.set_label(&mut l.gdt)?;
    a.db(&[0, 0, 0, 0, 0, 0, 0, 0])?;
    a.db(&[0xFF, 0xFF, 0x00, 0x00, 0x00, 0x92, 0x8F, 0x00])?;
    a.set_label(&mut l.gdt_descriptor)?;
    a.dw(&[15])?; // limit
    a.dd(&[(BIOS_SEG << 4) + prev.gdt]) // linear base
}

/// The handler offset for each of the 256 vectors, from the label addresses of the previous pass.
pub(crate) fn vector_offsets(p: &super::Addrs) -> [u16; 256] {
    let mut v = [p.int_default as u16; 256];
    for irq in 0..8 {
        v[(IRQ0_VECTOR + irq) as usize] = p.irq_master_default as u16;
        v[(IRQ8_VECTOR + irq) as usize] = p.irq_slave_default as u16;
    }
    for (vector, handler) in [
        (0x08, p.int08_timer),
        (0x10, p.int10_video),
        (0x11, p.int11_equipment),
        (0x12, p.int12_memory_size),
        (0x13, p.int13_disk),
        (0x15, p.int15_system),
        (0x16, p.int16_keyboard),
        (0x18, p.int18_no_boot),
        (0x19, p.int19_boot),
        (0x1A, p.int1a_time),
    ] {
        v[vector] = handler as u16;
    }
    v
}

/// Emits the vector table (256 handler offsets in segment F000) that POST copies into the IVT.
pub(crate) fn emit_vector_table(c: &mut Ctx) -> Emit {
    let Ctx { a, l, prev } = c;
    a.set_label(&mut l.vector_table)?;
    a.dw(&vector_offsets(prev))
}
