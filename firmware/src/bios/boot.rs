//! INT 19h (bootstrap loader) and INT 18h (no bootable device).
//!
//! A real BIOS walks its boot order (floppy, CD, disks, network ROMs), loads the first sector of each device to
//! 0000:7C00, and jumps there if the sector ends in the 55h AAh signature; when nothing boots it calls INT 18h,
//! which once started ROM BASIC and now prints "No bootable device". Ours tries hard disk 0x80 only.

use super::layout::*;
use super::{Ctx, Emit};
use iced_x86::code_asm::*;

/// Offset of the boot signature 55h AAh in the boot sector.
const SIGNATURE_OFFSET: u32 = 510;

/// Emits INT 19h and INT 18h.
pub(crate) fn emit(c: &mut Ctx) -> Emit {
    let Ctx { a, l, prev } = c;
    let mut fail = a.create_label();

    a.set_label(&mut l.int19_boot)?;
    // A clean slate: segments 0, the stack just below the boot sector.
    a.cli()?;
    a.xor(ax, ax)?;
    a.mov(ds, ax)?;
    a.mov(es, ax)?;
    a.mov(ss, ax)?;
    a.mov(sp, STACK_TOP)?;
    a.sti()?;
    a.cld()?;
    // Read LBA 0 of disk 0x80 to 0000:7C00 (INT 13h AH=02h, cylinder 0 head 0 sector 1).
    a.mov(ax, 0x0201)?;
    a.mov(cx, 0x0001)?;
    a.mov(dx, 0x0080)?;
    a.mov(bx, BOOT_ADDR)?;
    a.int(0x13)?;
    a.jc(fail)?;
    a.cmp(word_ptr(BOOT_ADDR + SIGNATURE_OFFSET), 0xAA55)?;
    a.jne(fail)?;
    a.mov(si, prev.msg_booting)?;
    a.call(l.print_str)?;
    a.xor(ax, ax)?;
    a.xor(bx, bx)?;
    a.xor(cx, cx)?;
    a.xor(si, si)?;
    a.xor(di, di)?;
    a.mov(dx, 0x0080)?; // DL = the boot drive
    a.jmp_far(0, BOOT_ADDR)?;
    a.set_label(&mut fail)?;
    a.int(0x18)?;

    // INT 18h: say so and stop. HLT with interrupts off never resumes; the loop is only a safety net (NMI).
    a.set_label(&mut l.int18_no_boot)?;
    a.mov(si, prev.msg_no_boot)?;
    a.call(l.print_str)?;
    let mut halt = a.create_label();
    a.set_label(&mut halt)?;
    a.cli()?;
    a.hlt()?;
    a.jmp(halt)?;

    a.set_label(&mut l.msg_booting)?;
    a.db(b"Booting from hard disk 0x80...\r\n\0")?;
    a.set_label(&mut l.msg_no_boot)?;
    a.db(b"No bootable disk. System halted.\r\n\0")
}
