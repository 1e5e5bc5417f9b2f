//! The Linux loader option ROM: how firmware that boots from fw_cfg (SeaBIOS) starts `-kernel`, `-initrd` and
//! `-append`, in the part QEMU gives to its `linuxboot_dma.bin`.
//!
//! The machine puts the kernel's pieces in fw_cfg (the real-mode setup with its header filled in, the
//! protected-mode kernel, the initrd, the command line, each with the address it goes to) and this ROM in the file
//! [`ROM_FILE`], which SeaBIOS runs as an option ROM. The ROM is a PnP boot ROM: its init entry does nothing, and its
//! PnP header names a bootstrap entry vector (BEV) that SeaBIOS adds to its boot menu (first when the `bootorder`
//! file names `/rom@genroms/linuxboot_dma.bin` first). Booting it, in real mode, the BEV:
//!
//! 1. reads the setup to its address through the fw_cfg DMA interface (which writes guest memory above 1 MiB as
//!    well, so no switch to protected mode is needed), with the descriptor built on the stack;
//! 2. moves the initrd below the top of memory that INT 15h AX=E801h reports when the machine put it at the end of
//!    RAM, as QEMU's ROM does: the firmware keeps its tables (ACPI among them) there;
//! 3. reads the kernel, the initrd and the command line to their addresses;
//! 4. points DS, ES, FS, GS and SS at the setup, SP just below the command line (where the setup's heap ends), and
//!    far-jumps to the setup's entry 0x200 bytes into it, with the other registers cleared: the boot protocol's
//!    real-mode entry.
//!
//! A transfer that fails hands back to the firmware with INT 18h (boot failure: the next boot device).

use iced_x86::code_asm::*;
use iced_x86::IcedError;
use vx86_devices::fw_cfg::dma::{FW_CFG_DMA_CTL_ERROR, FW_CFG_DMA_CTL_READ, FW_CFG_DMA_CTL_SELECT};
use vx86_devices::fw_cfg::items::*;
use vx86_devices::fw_cfg::{FW_CFG_PORT_DATA, FW_CFG_PORT_DMA, FW_CFG_PORT_SEL};

/// The fw_cfg file SeaBIOS runs as an option ROM (QEMU's name for its loader that uses the DMA interface).
pub const ROM_FILE: &str = "genroms/linuxboot_dma.bin";

/// Option ROMs are sized in 512-byte blocks.
const ROM_BLOCK: usize = 512;
/// Offset of the PnP expansion header in the ROM.
const PNP_HEADER: usize = 0x20;
/// Bytes in the PnP expansion header.
const PNP_HEADER_LEN: usize = 0x20;
/// Offset of the product name (NUL-terminated) the boot menu shows.
const PRODUCT_NAME: usize = PNP_HEADER + PNP_HEADER_LEN;
/// What the boot menu calls the ROM.
const PRODUCT: &[u8] = b"Linux loader (fw_cfg)\0";
/// Offset of the BEV, the first instruction after the product name.
const BEV: usize = PRODUCT_NAME + 0x20;
/// Offset of the init entry that the firmware far-calls when it installs the ROM.
const INIT: usize = 3;

/// Setup header: where the loader put the initrd (u32), which the ROM rewrites when it moves the initrd.
const HDR_RAMDISK_IMAGE: u32 = 0x218;
/// Setup header: the highest address the initrd may end at (u32).
const HDR_INITRD_ADDR_MAX: u32 = 0x22C;
/// The setup's entry point: this far into it, its own segment + 0x20.
const SETUP_ENTRY_PARAGRAPHS: u32 = 0x200 / 16;
/// Pages are 4 KiB; the initrd starts on one.
const PAGE_MASK: u32 = !0xFFF;

/// The ROM image, a whole number of 512-byte blocks whose bytes sum to 0 (mod 256).
pub fn image() -> Vec<u8> {
    build().expect("the Linux loader ROM assembles")
}

fn build() -> Result<Vec<u8>, IcedError> {
    let mut rom = vec![0u8; BEV];
    rom[0..2].copy_from_slice(&[0x55, 0xAA]);
    let mut init = CodeAssembler::new(16)?;
    init.retf()?;
    let init = init.assemble(INIT as u64)?;
    rom[INIT..INIT + init.len()].copy_from_slice(&init);
    rom[0x1A..0x1C].copy_from_slice(&(PNP_HEADER as u16).to_le_bytes());
    rom[PNP_HEADER..PNP_HEADER + PNP_HEADER_LEN].copy_from_slice(&pnp_header());
    rom[PRODUCT_NAME..PRODUCT_NAME + PRODUCT.len()].copy_from_slice(PRODUCT);
    let mut a = CodeAssembler::new(16)?;
    bev(&mut a)?;
    rom.extend_from_slice(&a.assemble(BEV as u64)?);
    // Room for the checksum byte, then whole blocks.
    let blocks = (rom.len() + 1).div_ceil(ROM_BLOCK);
    rom.resize(blocks * ROM_BLOCK, 0);
    rom[2] = blocks as u8;
    let sum = rom.iter().fold(0u8, |s, &b| s.wrapping_add(b));
    let last = rom.len() - 1;
    rom[last] = sum.wrapping_neg();
    Ok(rom)
}

/// The PnP expansion header: "$PnP", revision 1, its length in 16-byte units, no next header, the product name and
/// the BEV; no device ID, no BCV or DV (with its own checksum, which PnP firmware may check).
fn pnp_header() -> [u8; PNP_HEADER_LEN] {
    let mut h = [0u8; PNP_HEADER_LEN];
    h[0..4].copy_from_slice(b"$PnP");
    h[4] = 1;
    h[5] = (PNP_HEADER_LEN / 16) as u8;
    h[0x10..0x12].copy_from_slice(&(PRODUCT_NAME as u16).to_le_bytes());
    h[0x1A..0x1C].copy_from_slice(&(BEV as u16).to_le_bytes());
    let sum = h.iter().fold(0u8, |s, &b| s.wrapping_add(b));
    h[9] = sum.wrapping_neg();
    h
}

/// The BEV: loads the pieces and enters the setup (see the module documentation). Keeps the setup's address in
/// ESI and the command line's in EBX for the last step.
fn bev(a: &mut CodeAssembler) -> Result<(), IcedError> {
    let mut fail = a.create_label();
    a.cld()?;
    read_item_to_its_address(
        a,
        FW_CFG_SETUP_ADDR,
        FW_CFG_SETUP_SIZE,
        FW_CFG_SETUP_DATA,
        fail,
    )?;
    a.mov(esi, edi)?;
    place_initrd_below_firmware(a)?;
    read_item_to_its_address(
        a,
        FW_CFG_KERNEL_ADDR,
        FW_CFG_KERNEL_SIZE,
        FW_CFG_KERNEL_DATA,
        fail,
    )?;
    // The (possibly moved) initrd address from the setup header.
    a.mov(eax, esi)?;
    a.shr(eax, 4)?;
    a.mov(es, ax)?;
    a.mov(edi, dword_ptr(HDR_RAMDISK_IMAGE).es())?;
    a.mov(ax, u32::from(FW_CFG_INITRD_SIZE))?;
    read_u32(a)?;
    a.mov(ecx, eax)?;
    a.mov(ax, u32::from(FW_CFG_INITRD_DATA))?;
    dma_read(a, fail)?;
    read_item_to_its_address(
        a,
        FW_CFG_CMDLINE_ADDR,
        FW_CFG_CMDLINE_SIZE,
        FW_CFG_CMDLINE_DATA,
        fail,
    )?;
    a.mov(ebx, edi)?;
    enter_setup(a)?;
    a.set_label(&mut fail)?;
    a.int(0x18)
}

/// Emits: EAX = the u32 item whose key is in AX, read through the data port. Clobbers DX.
fn read_u32(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.mov(dx, u32::from(FW_CFG_PORT_SEL))?;
    a.out(dx, ax)?;
    a.mov(dx, u32::from(FW_CFG_PORT_DATA))?;
    // Four bytes, least significant first, each rotated down from the top.
    for _ in 0..4 {
        a.in_(al, dx)?;
        a.ror(eax, 8)?;
    }
    Ok(())
}

/// Emits: reads `size` bytes of item `data` to the address item `addr` holds; leaves that address in EDI.
/// Clobbers EAX, ECX and EDX; jumps to `fail` if the transfer fails.
fn read_item_to_its_address(
    a: &mut CodeAssembler,
    addr: u16,
    size: u16,
    data: u16,
    fail: CodeLabel,
) -> Result<(), IcedError> {
    a.mov(ax, u32::from(addr))?;
    read_u32(a)?;
    a.mov(edi, eax)?;
    a.mov(ax, u32::from(size))?;
    read_u32(a)?;
    a.mov(ecx, eax)?;
    a.mov(ax, u32::from(data))?;
    dma_read(a, fail)
}

/// Emits: a DMA read of ECX bytes of the item whose key is in AX to physical EDI, through a descriptor on the
/// stack, waiting for the device to finish. Clobbers EAX, ECX, EDX and BP; jumps to `fail` if the device reports an
/// error.
fn dma_read(a: &mut CodeAssembler, fail: CodeLabel) -> Result<(), IcedError> {
    // The descriptor, big-endian, from its last field up: address (low, high), length, control.
    a.mov(edx, edi)?;
    a.bswap(edx)?;
    a.push(edx)?;
    a.xor(edx, edx)?;
    a.push(edx)?;
    a.bswap(ecx)?;
    a.push(ecx)?;
    a.movzx(eax, ax)?;
    a.shl(eax, 16)?;
    a.or(eax, FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ)?;
    a.bswap(eax)?;
    a.push(eax)?;
    // Its physical address SS * 16 + SP, high half then low half (which starts the transfer), big-endian.
    a.xor(eax, eax)?;
    a.mov(dx, u32::from(FW_CFG_PORT_DMA))?;
    a.out(dx, eax)?;
    a.mov(ax, ss)?;
    a.shl(eax, 4)?;
    a.movzx(ecx, sp)?;
    a.add(eax, ecx)?;
    a.bswap(eax)?;
    a.mov(dx, u32::from(FW_CFG_PORT_DMA + 4))?;
    a.out(dx, eax)?;
    // The device clears the control word when done, leaving only the error bit if it failed.
    let mut wait = a.create_label();
    a.set_label(&mut wait)?;
    a.mov(bp, sp)?;
    a.mov(eax, dword_ptr(bp))?;
    a.bswap(eax)?;
    a.test(eax, !FW_CFG_DMA_CTL_ERROR)?;
    a.jnz(wait)?;
    a.add(sp, 16)?;
    a.test(eax, eax)?;
    a.jnz(fail)
}

/// Emits QEMU's initrd fix-up, with the setup at ESI already read: when the initrd does not end on the page of the
/// kernel's `initrd_addr_max` (the machine put it at the end of RAM, not at the kernel's limit), it goes, page
/// aligned, right below the end of the memory INT 15h E801h reports, and the setup header says so. Nothing moves
/// when there is no initrd or the kernel gives no limit. Clobbers EAX to EDX, EDI and ES.
fn place_initrd_below_firmware(a: &mut CodeAssembler) -> Result<(), IcedError> {
    let mut done = a.create_label();
    let mut use_cx_dx = a.create_label();
    let mut have_counts = a.create_label();
    let mut have_top = a.create_label();
    a.mov(eax, esi)?;
    a.shr(eax, 4)?;
    a.mov(es, ax)?;
    a.mov(ax, u32::from(FW_CFG_INITRD_SIZE))?;
    read_u32(a)?;
    a.mov(edi, eax)?;
    // EAX = where the initrd ends, page aligned down; EBX = the kernel's limit, page aligned down.
    a.add(eax, dword_ptr(HDR_RAMDISK_IMAGE).es())?;
    a.and(eax, PAGE_MASK)?;
    a.jz(done)?;
    a.mov(ebx, dword_ptr(HDR_INITRD_ADDR_MAX).es())?;
    a.and(ebx, PAGE_MASK)?;
    a.jz(done)?;
    a.cmp(eax, ebx)?;
    a.je(done)?;
    // The top of memory: E801h gives KiB above 1 MiB (up to 16 MiB) in AX or CX, 64 KiB blocks above 16 MiB in BX
    // or DX; the CX/DX pair when it is not zero.
    a.mov(eax, 0xE801u32)?;
    a.xor(ebx, ebx)?;
    a.xor(ecx, ecx)?;
    a.xor(edx, edx)?;
    a.int(0x15)?;
    a.jc(done)?;
    a.test(cx, cx)?;
    a.jnz(use_cx_dx)?;
    a.test(dx, dx)?;
    a.jz(have_counts)?;
    a.set_label(&mut use_cx_dx)?;
    a.mov(ax, cx)?;
    a.mov(bx, dx)?;
    a.set_label(&mut have_counts)?;
    a.movzx(eax, ax)?;
    a.shl(eax, 10)?;
    a.add(eax, 1 << 20)?;
    a.movzx(ebx, bx)?;
    a.test(ebx, ebx)?;
    a.jz(have_top)?;
    a.shl(ebx, 16)?;
    a.lea(eax, dword_ptr(ebx + (16 << 20)))?;
    a.set_label(&mut have_top)?;
    a.sub(eax, edi)?;
    a.and(eax, PAGE_MASK)?;
    a.mov(dword_ptr(HDR_RAMDISK_IMAGE).es(), eax)?;
    a.set_label(&mut done)?;
    Ok(())
}

/// Emits the jump into the setup at ESI, the command line at EBX: segments at the setup, the stack 16 bytes below
/// the command line, CS:IP = setup segment + 0x20 : 0, the general registers cleared, interrupts off.
fn enter_setup(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.mov(eax, esi)?;
    a.shr(eax, 4)?;
    a.sub(ebx, esi)?;
    a.sub(ebx, 16)?;
    a.cli()?;
    a.mov(ds, ax)?;
    a.mov(es, ax)?;
    a.mov(fs, ax)?;
    a.mov(gs, ax)?;
    a.mov(ss, ax)?;
    a.mov(esp, ebx)?;
    a.add(ax, SETUP_ENTRY_PARAGRAPHS)?;
    a.push(ax)?;
    a.xor(ebx, ebx)?;
    a.push(bx)?;
    for reg in [ecx, edx, esi, edi, ebp] {
        a.xor(reg, reg)?;
    }
    a.retf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rom_is_a_pnp_boot_rom_with_a_good_checksum() {
        let rom = image();
        assert_eq!(&rom[..2], &[0x55, 0xAA]);
        assert_eq!(rom.len(), usize::from(rom[2]) * ROM_BLOCK);
        assert_eq!(rom.iter().fold(0u8, |s, &b| s.wrapping_add(b)), 0);
        // The init entry returns at once.
        assert_eq!(rom[INIT], 0xCB);
        let pnp = usize::from(u16::from_le_bytes([rom[0x1A], rom[0x1B]]));
        assert_eq!(&rom[pnp..pnp + 4], b"$PnP");
        let header = &rom[pnp..pnp + PNP_HEADER_LEN];
        assert_eq!(header.iter().fold(0u8, |s, &b| s.wrapping_add(b)), 0);
        let word = |at: usize| usize::from(u16::from_le_bytes([header[at], header[at + 1]]));
        assert_eq!(&rom[word(0x10)..word(0x10) + PRODUCT.len()], PRODUCT);
        // A BEV, and neither a BCV nor a next header.
        assert_eq!(word(0x1A), BEV);
        assert_eq!((word(0x06), word(0x16)), (0, 0));
        // The BEV starts with real code: CLD.
        assert_eq!(rom[BEV], 0xFC);
    }
}
