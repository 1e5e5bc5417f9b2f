//! INT 13h, disk services, for hard disk 0x80 on the primary ATA channel (PIO, polling, LBA28).
//!
//! A real BIOS finds every disk controller (IDE, AHCI, NVMe, USB, floppy), numbers the disks (0x00 floppies,
//! 0x80 hard disks), and serves reads and writes by CHS (the old AH=02h/03h) or by LBA (the EDD AH=42h/43h), usually
//! with DMA and interrupts. Ours drives one disk, the primary master, by programmed I/O: it writes the LBA and a
//! command to the task-file registers 0x1F2-0x1F7, waits for BSY to clear and DRQ to rise, and moves each 512-byte
//! sector through the 16-bit data port 0x1F0. nIEN is set in the device control register so no IRQ14 is raised.

use super::common::{clear_cf, enter, leave, load_seg, outb, set_cf, F_AX, F_BX, F_CX, F_DS, F_DX};
use super::layout::*;
use super::{Ctx, Emit};
use iced_x86::code_asm::*;

/// INT 13h status: invalid function or parameter.
const ST_BAD_COMMAND: u32 = 0x01;
/// INT 13h status: sector not found (outside the disk).
const ST_NOT_FOUND: u32 = 0x04;
/// INT 13h status: controller failure (the drive reported an error).
const ST_CONTROLLER: u32 = 0x20;
/// INT 13h status: timeout (the drive did not answer).
const ST_TIMEOUT: u32 = 0x80;
/// Polls of the status register before we call the drive dead.
const ATA_TIMEOUT_POLLS: u32 = 0x0010_0000;
/// Default geometry when IDENTIFY gives none we can use: 16 heads x 63 sectors per track.
const DEFAULT_HEADS: u32 = 16;
/// See [`DEFAULT_HEADS`].
const DEFAULT_SPT: u32 = 63;
/// CHS addressing reaches at most 1024 cylinders.
const MAX_CYLS: u32 = 1024;

/// Emits INT 13h, the ATA driver and the POST disk detection.
pub(crate) fn emit(c: &mut Ctx) -> Emit {
    let Ctx { a, l, .. } = c;
    let mut ata_wait = a.create_label();
    let mut ata_wait_drq = a.create_label();

    // ---- ata_detect (POST): IDENTIFY the primary master, record capacity and geometry in the EBDA. ---------
    a.set_label(&mut l.ata_detect)?;
    let mut none = a.create_label();
    outb(a, ATA_CTRL, 0x02)?; // nIEN: we poll, no IRQ14
    outb(a, ATA_DRIVE, 0xA0)?; // select the master
    a.mov(dx, ATA_CTRL)?;
    for _ in 0..4 {
        a.in_(al, dx)?; // ~400 ns for the selection to settle
    }
    a.mov(dx, ATA_CMD)?;
    a.in_(al, dx)?;
    a.cmp(al, 0xFF)?; // floating bus: no controller
    a.je(none)?;
    a.test(al, al)?; // all zero: no device
    a.jz(none)?;
    a.call(ata_wait)?;
    a.jc(none)?;
    a.mov(al, ATA_CMD_IDENTIFY)?;
    a.out(dx, al)?;
    a.in_(al, dx)?;
    a.test(al, al)?;
    a.jz(none)?;
    a.call(ata_wait_drq)?;
    a.jc(none)?; // an ATAPI device or nothing aborts IDENTIFY
    load_seg(a, es, 0)?;
    a.mov(di, IDENTIFY_BUF)?;
    a.mov(cx, 256)?;
    a.mov(dx, ATA_DATA)?;
    a.cld()?;
    let mut words = a.create_label();
    a.set_label(&mut words)?;
    a.in_(ax, dx)?;
    a.stosw()?;
    a.loop_(words)?;
    // Words 60-61: LBA28 capacity; word 3: heads; word 6: sectors per track.
    load_seg(a, ds, 0)?;
    a.mov(eax, dword_ptr(IDENTIFY_BUF + 120))?;
    a.mov(bx, word_ptr(IDENTIFY_BUF + 6))?;
    a.mov(cx, word_ptr(IDENTIFY_BUF + 12))?;
    let mut default_geometry = a.create_label();
    let mut geometry_ok = a.create_label();
    a.test(bx, bx)?;
    a.jz(default_geometry)?;
    a.cmp(bx, DEFAULT_HEADS)?;
    a.ja(default_geometry)?;
    a.test(cx, cx)?;
    a.jz(default_geometry)?;
    a.cmp(cx, DEFAULT_SPT)?;
    a.jbe(geometry_ok)?;
    a.set_label(&mut default_geometry)?;
    a.mov(bx, DEFAULT_HEADS)?;
    a.mov(cx, DEFAULT_SPT)?;
    a.set_label(&mut geometry_ok)?;
    load_seg_keep_ax(a, ds, EBDA_SEG)?;
    a.mov(dword_ptr(EBDA_DISK_SECTORS), eax)?;
    a.mov(word_ptr(EBDA_DISK_HEADS), bx)?;
    a.mov(word_ptr(EBDA_DISK_SPT), cx)?;
    // Cylinders = capacity / (heads * sectors per track), between 1 and 1024.
    a.push(eax)?;
    a.mov(al, bl)?;
    a.mul(cl)?;
    a.movzx(ecx, ax)?;
    a.pop(eax)?;
    a.xor(edx, edx)?;
    a.div(ecx)?;
    let mut not_big = a.create_label();
    let mut not_small = a.create_label();
    a.cmp(eax, MAX_CYLS)?;
    a.jbe(not_big)?;
    a.mov(eax, MAX_CYLS)?;
    a.set_label(&mut not_big)?;
    a.test(eax, eax)?;
    a.jnz(not_small)?;
    a.inc(eax)?;
    a.set_label(&mut not_small)?;
    a.mov(word_ptr(EBDA_DISK_CYLS), ax)?;
    a.mov(byte_ptr(EBDA_DISK_PRESENT), 1)?;
    load_seg(a, ds, BDA_SEG)?;
    a.mov(byte_ptr(BDA_DISK_COUNT), 1)?;
    a.set_label(&mut none)?;
    a.ret()?;

    // ---- ata_wait: poll until BSY clears. AL = status; CF = 1 and AH = timeout status if it never does. -------
    a.set_label(&mut ata_wait)?;
    let mut poll = a.create_label();
    let mut ready = a.create_label();
    let mut wait_out = a.create_label();
    a.push(ecx)?;
    a.push(dx)?;
    a.mov(ecx, ATA_TIMEOUT_POLLS)?;
    a.mov(dx, ATA_CMD)?;
    a.set_label(&mut poll)?;
    a.in_(al, dx)?;
    a.test(al, ATA_BSY)?;
    a.jz(ready)?;
    a.dec(ecx)?;
    a.jnz(poll)?;
    a.mov(ah, ST_TIMEOUT)?;
    a.stc()?;
    a.jmp(wait_out)?;
    a.set_label(&mut ready)?;
    a.clc()?;
    a.set_label(&mut wait_out)?;
    a.pop(dx)?;
    a.pop(ecx)?;
    a.ret()?;

    // ---- ata_wait_drq: wait for BSY to clear, then demand DRQ without ERR/DF. CF = 1 and AH = status if not. --
    a.set_label(&mut ata_wait_drq)?;
    let mut drq_fail = a.create_label();
    let mut drq_ret = a.create_label();
    a.call(ata_wait)?;
    a.jc(drq_ret)?;
    a.test(al, ATA_ERR | ATA_DF)?;
    a.jnz(drq_fail)?;
    a.test(al, ATA_DRQ)?;
    a.jz(drq_fail)?;
    a.clc()?;
    a.ret()?;
    a.set_label(&mut drq_fail)?;
    a.mov(ah, ST_CONTROLLER)?;
    a.stc()?;
    a.set_label(&mut drq_ret)?;
    a.ret()?;

    // ---- ata_rw: EAX = first LBA, CX = sector count, ES:DI = buffer, BL = 0 read / 1 write. -------------------
    // Returns CF = 0, AH = 0 on success, or CF = 1 and AH = INT 13h status; SI = sectors transferred.
    // One READ/WRITE SECTORS command per sector keeps it simple. Clobbers EAX, CX, DX, DI, ES; keeps DS, BX, BP.
    a.set_label(&mut l.ata_rw)?;
    const LBA: u32 = 4; // [bp-4] dword: next LBA
    const LEFT: u32 = 6; // [bp-6] word: sectors left
    let mut rw_loop = a.create_label();
    let mut rw_ok = a.create_label();
    let mut rw_err = a.create_label();
    let mut rw_io = a.create_label();
    let mut rw_range = a.create_label();
    let mut rw_next = a.create_label();
    let mut rw_write = a.create_label();
    a.push(bp)?;
    a.mov(bp, sp)?;
    a.push(eax)?;
    a.push(cx)?;
    a.xor(si, si)?;
    a.cld()?;
    // Normalise ES:DI so that DI < 16 and a 512-byte sector never wraps around the segment.
    a.mov(dx, di)?;
    a.shr(dx, 4)?;
    a.mov(ax, es)?;
    a.add(ax, dx)?;
    a.mov(es, ax)?;
    a.and(di, 0x0F)?;
    a.set_label(&mut rw_loop)?;
    a.cmp(word_ptr(bp - LEFT), 0)?;
    a.je(rw_ok)?;
    a.mov(eax, dword_ptr(bp - LBA))?;
    a.push(ds)?;
    load_seg_keep_ax(a, ds, EBDA_SEG)?;
    a.cmp(eax, dword_ptr(EBDA_DISK_SECTORS))?;
    a.pop(ds)?;
    a.jae(rw_range)?;
    a.call(ata_wait)?;
    a.jc(rw_err)?;
    a.mov(dx, ATA_COUNT)?;
    a.mov(al, 1)?;
    a.out(dx, al)?;
    a.mov(eax, dword_ptr(bp - LBA))?;
    a.inc(dx)?; // 0x1F3: LBA 0-7
    a.out(dx, al)?;
    a.shr(eax, 8)?;
    a.inc(dx)?; // 0x1F4: LBA 8-15
    a.out(dx, al)?;
    a.shr(eax, 8)?;
    a.inc(dx)?; // 0x1F5: LBA 16-23
    a.out(dx, al)?;
    a.shr(eax, 8)?;
    a.and(al, 0x0F)?;
    a.or(al, 0xE0)?; // LBA mode, master, LBA 24-27
    a.inc(dx)?; // 0x1F6
    a.out(dx, al)?;
    a.inc(dx)?; // 0x1F7: command
    a.mov(al, ATA_CMD_READ)?;
    let mut cmd = a.create_label();
    a.test(bl, bl)?;
    a.jz(cmd)?;
    a.mov(al, ATA_CMD_WRITE)?;
    a.set_label(&mut cmd)?;
    a.out(dx, al)?;
    a.call(ata_wait_drq)?;
    a.jc(rw_err)?;
    a.mov(dx, ATA_DATA)?;
    a.mov(cx, 256)?;
    a.test(bl, bl)?;
    a.jnz(rw_write)?;
    let mut rd = a.create_label();
    a.set_label(&mut rd)?;
    a.in_(ax, dx)?;
    a.stosw()?;
    a.loop_(rd)?;
    a.jmp(rw_next)?;
    a.set_label(&mut rw_write)?;
    a.mov(ax, word_ptr(di).es())?;
    a.out(dx, ax)?;
    a.add(di, 2)?;
    a.loop_(rw_write)?;
    a.call(ata_wait)?;
    a.jc(rw_err)?;
    a.test(al, ATA_ERR | ATA_DF)?;
    a.jnz(rw_io)?;
    a.set_label(&mut rw_next)?;
    // Next sector: move the buffer on by 512 bytes through the segment (DI stays below 16).
    a.sub(di, 512)?;
    a.mov(ax, es)?;
    a.add(ax, 0x20)?;
    a.mov(es, ax)?;
    a.inc(dword_ptr(bp - LBA))?;
    a.inc(si)?;
    a.dec(word_ptr(bp - LEFT))?;
    a.jmp(rw_loop)?;
    a.set_label(&mut rw_ok)?;
    let mut no_flush = a.create_label();
    a.test(bl, bl)?;
    a.jz(no_flush)?;
    a.mov(dx, ATA_CMD)?;
    a.mov(al, ATA_CMD_FLUSH)?; // make written data durable
    a.out(dx, al)?;
    a.call(ata_wait)?;
    a.set_label(&mut no_flush)?;
    a.xor(ah, ah)?;
    a.mov(sp, bp)?;
    a.pop(bp)?;
    a.clc()?;
    a.ret()?;
    a.set_label(&mut rw_io)?;
    a.mov(ah, ST_CONTROLLER)?;
    a.jmp(rw_err)?;
    a.set_label(&mut rw_range)?;
    a.mov(ah, ST_NOT_FOUND)?;
    a.set_label(&mut rw_err)?;
    a.mov(sp, bp)?;
    a.pop(bp)?;
    a.stc()?;
    a.ret()?;

    // ---- INT 13h dispatcher ---------------------------------------------------------------------------------
    a.set_label(&mut l.int13_disk)?;
    let mut status_exit = a.create_label();
    let mut bad = a.create_label();
    let mut ok = a.create_label();
    a.sti()?; // disk transfers take a while: let the timer tick
    enter(a)?;
    a.cld()?;
    a.cmp(dl, 0x80)?; // our only disk
    a.jne(bad)?;
    a.push(ax)?;
    load_seg(a, ds, EBDA_SEG)?;
    a.pop(ax)?;
    a.cmp(byte_ptr(EBDA_DISK_PRESENT), 0)?;
    a.je(bad)?;
    let functions: [(u32, &str); 17] = [
        (0x00, "reset"),
        (0x01, "last status"),
        (0x02, "read CHS"),
        (0x03, "write CHS"),
        (0x04, "verify"),
        (0x08, "parameters"),
        (0x0C, "seek"),
        (0x0D, "reset"),
        (0x10, "ready?"),
        (0x11, "recalibrate"),
        (0x15, "type"),
        (0x41, "EDD check"),
        (0x42, "EDD read"),
        (0x43, "EDD write"),
        (0x44, "EDD verify"),
        (0x47, "EDD seek"),
        (0x48, "EDD parameters"),
    ];
    let mut targets = std::collections::HashMap::new();
    for (ah_value, name) in functions {
        let t = a.create_label();
        a.cmp(ah, ah_value)?;
        a.je(t)?;
        targets.insert(name, t);
    }
    // Unknown function (or unknown drive): "invalid command".
    a.set_label(&mut bad)?;
    a.mov(ah, ST_BAD_COMMAND)?;
    // Common exit: AH = status. Remembered in the BDA for AH=01h; CF = (status != 0).
    a.set_label(&mut status_exit)?;
    let mut failed = a.create_label();
    a.push(ax)?;
    load_seg(a, ds, BDA_SEG)?;
    a.pop(ax)?;
    a.mov(byte_ptr(BDA_DISK_STATUS), ah)?;
    a.mov(byte_ptr(BDA_FLOPPY_STATUS), ah)?;
    a.mov(byte_ptr(bp + F_AX + 1), ah)?;
    a.test(ah, ah)?;
    a.jnz(failed)?;
    clear_cf(a)?;
    leave(a)?;
    a.set_label(&mut failed)?;
    set_cf(a)?;
    leave(a)?;

    let mut target = |name: &str| targets.remove(name).expect("function label");

    // Reset, seek, ready, recalibrate, verify: nothing to do for an ATA disk that is always ready.
    for name in [
        "reset",
        "seek",
        "ready?",
        "recalibrate",
        "EDD verify",
        "EDD seek",
        "verify",
    ] {
        a.set_label(&mut target(name))?;
        a.jmp(ok)?;
    }
    a.set_label(&mut ok)?;
    a.xor(ah, ah)?;
    a.jmp(status_exit)?;

    // AH=01h: status of the last operation.
    a.set_label(&mut target("last status"))?;
    a.push(ax)?;
    load_seg(a, ds, BDA_SEG)?;
    a.pop(ax)?;
    a.mov(ah, byte_ptr(BDA_DISK_STATUS))?;
    a.jmp(status_exit)?;

    // AH=02h/03h: read/write AL sectors at cylinder CH (+ CL bits 6-7 as bits 8-9), head DH, sector CL bits 0-5
    // (counted from 1), to/from ES:BX. LBA = (cylinder * heads + head) * sectors_per_track + sector - 1.
    for (name, op) in [("read CHS", 0u32), ("write CHS", 1)] {
        a.set_label(&mut target(name))?;
        let mut chs_bad = a.create_label();
        a.test(al, al)?;
        a.jz(chs_bad)?;
        a.movzx(edi, dh)?; // head
        a.movzx(esi, cl)?;
        a.and(si, 0x3F)?; // sector
        a.jz(chs_bad)?;
        a.cmp(si, word_ptr(EBDA_DISK_SPT))?;
        a.ja(chs_bad)?;
        a.cmp(dh, byte_ptr(EBDA_DISK_HEADS))?;
        a.jae(chs_bad)?;
        a.mov(al, cl)?;
        a.shr(al, 6)?;
        a.mov(ah, al)?;
        a.mov(al, ch)?;
        a.movzx(eax, ax)?; // cylinder
        a.cmp(ax, word_ptr(EBDA_DISK_CYLS))?;
        a.jae(chs_bad)?;
        a.movzx(ecx, word_ptr(EBDA_DISK_HEADS))?;
        a.mul(ecx)?;
        a.add(eax, edi)?;
        a.movzx(ecx, word_ptr(EBDA_DISK_SPT))?;
        a.mul(ecx)?;
        a.add(eax, esi)?;
        a.dec(eax)?;
        a.movzx(cx, byte_ptr(bp + F_AX))?;
        a.mov(di, bx)?; // ES is still the caller's
        a.mov(bl, op)?;
        a.call(l.ata_rw)?;
        a.mov(dx, si)?;
        a.mov(byte_ptr(bp + F_AX), dl)?; // AL = sectors transferred
        a.jc(status_exit)?;
        a.jmp(ok)?;
        a.set_label(&mut chs_bad)?;
        a.mov(byte_ptr(bp + F_AX), 0)?;
        a.jmp(bad)?;
    }

    // AH=08h: drive parameters. CH = max cylinder (low 8 bits), CL = sectors per track | max cylinder bits 8-9
    // in bits 6-7, DH = max head, DL = number of hard disks.
    a.set_label(&mut target("parameters"))?;
    a.mov(ax, word_ptr(EBDA_DISK_CYLS))?;
    a.dec(ax)?;
    a.mov(ch, al)?;
    a.mov(cl, ah)?;
    a.shl(cl, 6)?;
    a.or(cl, byte_ptr(EBDA_DISK_SPT))?;
    a.mov(dh, byte_ptr(EBDA_DISK_HEADS))?;
    a.dec(dh)?;
    a.mov(dl, 1)?;
    a.mov(word_ptr(bp + F_CX), cx)?;
    a.mov(word_ptr(bp + F_DX), dx)?;
    a.mov(byte_ptr(bp + F_AX), 0)?;
    a.jmp(ok)?;

    // AH=15h: disk type. AH = 3 (hard disk), CX:DX = number of sectors.
    a.set_label(&mut target("type"))?;
    a.mov(eax, dword_ptr(EBDA_DISK_SECTORS))?;
    a.mov(word_ptr(bp + F_DX), ax)?;
    a.shr(eax, 16)?;
    a.mov(word_ptr(bp + F_CX), ax)?;
    a.mov(byte_ptr(bp + F_AX + 1), 3)?;
    clear_cf(a)?;
    leave(a)?;

    // AH=41h: are the EDD extensions there? BX = 55AAh in, AA55h out; AH = version 3.0; CX bit 0 = the
    // packet functions 42h-44h, 47h, 48h.
    a.set_label(&mut target("EDD check"))?;
    a.cmp(bx, 0x55AA)?;
    a.jne(bad)?;
    a.mov(word_ptr(bp + F_BX), 0xAA55)?;
    a.mov(word_ptr(bp + F_CX), 0x0001)?;
    a.mov(byte_ptr(bp + F_AX + 1), 0x30)?;
    clear_cf(a)?;
    leave(a)?;

    // AH=42h/43h: read/write by disk address packet at DS:SI: byte size (16), byte 0, word count,
    // dword buffer (offset, segment), qword LBA. On return the count field holds the sectors transferred.
    for (name, op) in [("EDD read", 0u32), ("EDD write", 1)] {
        a.set_label(&mut target(name))?;
        a.mov(ds, word_ptr(bp + F_DS))?;
        a.cmp(byte_ptr(si), 0x10)?;
        a.jb(bad)?;
        a.cmp(dword_ptr(si + 12), 0)?; // LBA28 only
        a.jne(bad)?;
        a.mov(cx, word_ptr(si + 2))?;
        a.les(di, dword_ptr(si + 4))?;
        a.mov(eax, dword_ptr(si + 8))?;
        a.push(si)?;
        a.mov(bl, op)?;
        a.call(l.ata_rw)?;
        a.mov(cx, si)?;
        a.pop(si)?;
        a.mov(word_ptr(si + 2), cx)?;
        a.jc(status_exit)?;
        a.jmp(ok)?;
    }

    // AH=48h: drive parameters into the buffer at DS:SI (EDD 1.x layout, 26 bytes).
    a.set_label(&mut target("EDD parameters"))?;
    a.mov(ds, word_ptr(bp + F_DS))?;
    a.cmp(word_ptr(si), 0x1A)?;
    a.jb(bad)?;
    load_seg(a, es, EBDA_SEG)?;
    a.mov(word_ptr(si), 0x1A)?; // size we fill
    a.mov(word_ptr(si + 2), 0x0002)?; // flags: the CHS geometry is valid
    a.movzx(eax, word_ptr(EBDA_DISK_CYLS).es())?;
    a.mov(dword_ptr(si + 4), eax)?;
    a.movzx(eax, word_ptr(EBDA_DISK_HEADS).es())?;
    a.mov(dword_ptr(si + 8), eax)?;
    a.movzx(eax, word_ptr(EBDA_DISK_SPT).es())?;
    a.mov(dword_ptr(si + 12), eax)?;
    a.mov(eax, dword_ptr(EBDA_DISK_SECTORS).es())?;
    a.mov(dword_ptr(si + 16), eax)?;
    a.mov(dword_ptr(si + 20), 0)?;
    a.mov(word_ptr(si + 24), 512)?; // bytes per sector
    a.jmp(ok)?;
    assert!(targets.is_empty(), "every INT 13h function has a body");
    Ok(())
}

/// Emits `mov seg, value` without disturbing AX.
fn load_seg_keep_ax(a: &mut CodeAssembler, seg: AsmRegisterSegment, value: u32) -> Emit {
    a.push(ax)?;
    load_seg(a, seg, value)?;
    a.pop(ax)
}
