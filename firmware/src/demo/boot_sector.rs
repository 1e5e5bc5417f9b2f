//! The MBR boot sector: the first code of ours that runs.
//!
//! The BIOS reads disk sector 0 to 0000:7C00, checks for the 0x55AA signature at offset 510 and jumps there with DL
//! = the boot drive. The CPU is in real mode: 16-bit code, addresses are segment * 16 + offset, the first MiB only.
//! 512 bytes is too small for a kernel, so this code only loads the next sectors with INT 13h and jumps to them. It
//! must stay below offset 446, where an MBR's partition table would begin.

use super::asm::{assemble as assemble_code, Asm};
use super::{BOOT_SECTOR_ADDR, KERNEL_LOAD_ADDR, KERNEL_STACK_TOP, SECTOR_SIZE};
use iced_x86::code_asm::*;

/// Offset of an MBR's partition table; the boot code and its strings must end before it.
pub(crate) const PARTITION_TABLE_OFFSET: usize = 446;

/// Assembles the boot sector for a kernel of `kernel_sectors` sectors that follows it on the disk.
pub(crate) fn assemble(kernel_sectors: u16) -> Result<Vec<u8>, IcedError> {
    assert!(
        kernel_sectors <= 62,
        "the CHS fallback reads one track of at most 63 sectors"
    );
    let code = assemble_code(16, BOOT_SECTOR_ADDR, |asm| emit(asm, kernel_sectors))?;
    let mut sector = code.bytes;
    assert!(
        sector.len() <= PARTITION_TABLE_OFFSET,
        "boot sector is {} bytes",
        sector.len()
    );
    sector.resize(SECTOR_SIZE, 0);
    sector[510] = 0x55;
    sector[511] = 0xAA;
    Ok(sector)
}

/// Returns how many bytes of the boot sector are instructions (the strings and tables follow).
#[cfg(test)]
pub(crate) fn code_len(kernel_sectors: u16) -> usize {
    assemble_code(16, BOOT_SECTOR_ADDR, |asm| emit(asm, kernel_sectors))
        .unwrap()
        .code_len
}

fn emit(asm: &mut Asm, sectors: u16) -> Result<(), IcedError> {
    let main = asm.sym();
    let [load_lo, load_hi, ..] = KERNEL_LOAD_ADDR.to_le_bytes();
    // INT 13h AH=42h disk address packet: size, 0, sector count, buffer offset:segment (0000:8000), LBA 1.
    let [count_lo, count_hi] = sectors.to_le_bytes();
    let dap = asm.data(vec![
        16, 0, count_lo, count_hi, load_lo, load_hi, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
    ]);
    let drive = asm.data(vec![0]);
    let hello = asm.msg(concat!(
        "\r\nvx86 demo. Step 1: real mode: 16-bit code, address = segment*16 + offset.\r\n",
        " The BIOS loaded this 512-byte boot sector at 0000:7C00; DL = boot drive.\r\n",
        " Reading the kernel: INT 13h AH=42h (read sectors by LBA)...\r\n",
    ));
    let chs = asm.msg(" Trying INT 13h AH=02h (CHS)...\r\n");
    let failed = asm.msg(" Disk read failed.\r\n");
    let (chs_read, loaded, fail, print, print_done) = (
        asm.a.create_label(),
        asm.a.create_label(),
        asm.a.create_label(),
        asm.a.create_label(),
        asm.a.create_label(),
    );
    let a = &mut asm.a;

    // Known segments and a stack just below us; the far jump makes CS = 0 whether the BIOS used 0000:7C00 or 07C0:0.
    a.cli()?;
    a.xor(ax, ax)?;
    a.mov(ds, ax)?;
    a.mov(es, ax)?;
    a.mov(ss, ax)?;
    a.mov(sp, KERNEL_STACK_TOP)?;
    a.jmp_far(0, main.addr)?;
    asm.place(main.label)?;
    let a = &mut asm.a;
    a.sti()?;
    a.cld()?;
    a.mov(byte_ptr(drive), dl)?;
    a.mov(si, hello)?;
    a.call(print)?;

    // INT 13h AH=41h: are the LBA extensions there? Then AH=42h with the packet at DS:SI.
    a.mov(ah, 0x41)?;
    a.mov(bx, 0x55AA)?;
    a.mov(dl, byte_ptr(drive))?;
    a.int(0x13)?;
    a.jc(chs_read)?;
    a.cmp(bx, 0xAA55)?;
    a.jne(chs_read)?;
    a.mov(si, dap)?;
    a.mov(ah, 0x42)?;
    a.mov(dl, byte_ptr(drive))?;
    a.int(0x13)?;
    a.jnc(loaded)?;

    // Fallback: AH=02h, cylinder 0, head 0, sectors 2.. (CHS sectors count from 1) to ES:BX.
    asm.place(chs_read)?;
    let a = &mut asm.a;
    a.mov(si, chs)?;
    a.call(print)?;
    a.mov(ax, 0x0200 | u32::from(sectors))?;
    a.mov(cx, 2)?;
    a.mov(dh, 0)?;
    a.mov(dl, byte_ptr(drive))?;
    a.mov(bx, KERNEL_LOAD_ADDR)?;
    a.int(0x13)?;
    a.jc(fail)?;

    asm.place(loaded)?;
    let a = &mut asm.a;
    a.mov(dl, byte_ptr(drive))?;
    a.jmp_far(0, KERNEL_LOAD_ADDR)?;

    asm.place(fail)?;
    let a = &mut asm.a;
    a.mov(si, failed)?;
    a.call(print)?;
    let halt = asm.a.create_label();
    asm.place(halt)?;
    asm.a.cli()?;
    asm.a.hlt()?;
    asm.a.jmp(halt)?;

    // print: DS:SI = NUL-terminated string, each character through INT 10h AH=0Eh (teletype output).
    asm.place(print)?;
    let a = &mut asm.a;
    a.lodsb()?;
    a.test(al, al)?;
    a.jz(print_done)?;
    a.mov(ah, 0x0E)?;
    a.mov(bx, 0x0007)?;
    a.int(0x10)?;
    a.jmp(print)?;
    asm.place(print_done)?;
    asm.a.ret()
}
