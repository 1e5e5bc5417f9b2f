//! The kernel's real-mode stage: the last things only the BIOS can do for us, then the switch to protected mode.
//!
//! BIOS services are 16-bit real-mode code reached through software interrupts, so we use them before leaving real
//! mode: INT 15h EAX=E820h reports which physical ranges are RAM (the rest belong to the BIOS, ROMs, devices and ACPI),
//! and INT 15h AX=2401h opens the A20 gate (the 8086 wrapped addresses at 1 MiB; PCs keep address line 20 masked until
//! asked). Then LGDT, CR0.PE = 1 and a far jump that loads CS with a protected-mode selector.

use super::asm::{assemble as assemble_code, Asm, Assembled};
use super::gdt::{self, KERNEL_CODE_SELECTOR};
use super::text::emit_routines;
use super::{KERNEL32_ADDR, KERNEL_LOAD_ADDR, TSS_ADDR};
use iced_x86::code_asm::*;

/// The "SMAP" signature that E820 calls pass in EDX and return in EAX.
const SMAP: u32 = 0x534D_4150;
/// Size of one E820 entry: base (8 bytes), length (8), type (4), ACPI 3.0 extended attributes (4).
const E820_ENTRY_SIZE: u32 = 24;
/// A low-memory byte whose alias at 1 MiB + 0x600 shows whether A20 is masked.
const A20_PROBE: u32 = 0x0600;

/// Assembles the real-mode stage at [`KERNEL_LOAD_ADDR`].
pub(crate) fn assemble() -> Result<Assembled, IcedError> {
    assemble_code(16, KERNEL_LOAD_ADDR, emit)
}

fn emit(asm: &mut Asm) -> Result<(), IcedError> {
    let gdt_table = gdt::table(TSS_ADDR);
    let gdt_limit = gdt_table.len() as u32 - 1;
    let gdt_addr = asm.data(gdt_table);
    let mut gdtr = (gdt_limit as u16).to_le_bytes().to_vec();
    gdtr.extend_from_slice(&gdt_addr.to_le_bytes());
    let gdtr = asm.data(gdtr);
    let entry = asm.data(vec![0; E820_ENTRY_SIZE as usize]);
    let total = asm.data(vec![0; 8]);

    asm.say(" Kernel running at 0000:8000. Boot drive: DL = 0x")?;
    asm.a.movzx(eax, dl)?;
    asm.say_hex(2)?;
    asm.say(" (80h and up = hard disks).\n")?;
    emit_memory_map(asm, entry, total)?;
    emit_a20(asm)?;

    asm.say(concat!(
        "\nStep 2: protected mode.\n",
        " BIOS services are real-mode code: this is our last line through INT 10h.\n",
        " CLI, LGDT, set CR0.PE, then a far jump to 0008:9000 loads CS from the GDT.\n",
    ))?;
    let a = &mut asm.a;
    a.cli()?;
    a.lgdt(ptr(gdtr))?;
    a.mov(eax, cr0)?;
    a.or(eax, 1)?;
    a.mov(cr0, eax)?;
    a.jmp_far(KERNEL_CODE_SELECTOR, KERNEL32_ADDR)?;

    // Characters go out through INT 10h AH=0Eh; the BIOS mirrors them to COM1.
    let raw_putc = asm.a.create_label();
    asm.place(raw_putc)?;
    let a = &mut asm.a;
    a.pushad()?;
    a.mov(ah, 0x0E)?;
    a.mov(bx, 0x0007)?;
    a.int(0x10)?;
    a.popad()?;
    a.ret()?;
    emit_routines(asm, raw_putc)
}

/// INT 15h E820: one call per entry, EBX carries the continuation value, 0 after the last entry.
fn emit_memory_map(asm: &mut Asm, entry: u32, total: u32) -> Result<(), IcedError> {
    let (next, done, not_usable, printed) = (
        asm.a.create_label(),
        asm.a.create_label(),
        asm.a.create_label(),
        asm.a.create_label(),
    );
    asm.say(concat!(
        " Memory map from the BIOS (INT 15h, EAX=E820h); not every address is RAM:\n",
        "   base               length             type\n",
    ))?;
    asm.a.xor(ebx, ebx)?;
    asm.place(next)?;
    let a = &mut asm.a;
    a.mov(eax, 0xE820)?;
    a.mov(edx, SMAP)?;
    a.mov(ecx, E820_ENTRY_SIZE)?;
    a.mov(edi, entry)?;
    a.mov(dword_ptr(entry + 20), 1)?;
    a.int(0x15)?;
    a.jc(done)?;
    a.cmp(eax, SMAP)?;
    a.jne(done)?;

    asm.say("   0x")?;
    for offset in [4, 0] {
        asm.a.mov(eax, dword_ptr(entry + offset))?;
        asm.say_hex(8)?;
    }
    asm.say(" 0x")?;
    for offset in [12, 8] {
        asm.a.mov(eax, dword_ptr(entry + offset))?;
        asm.say_hex(8)?;
    }
    asm.say(" ")?;
    asm.a.mov(eax, dword_ptr(entry + 16))?;
    asm.say_dec()?;
    asm.a.cmp(eax, 1)?;
    asm.a.jne(not_usable)?;
    asm.say(" usable RAM\n")?;
    let a = &mut asm.a;
    a.mov(eax, dword_ptr(entry + 8))?;
    a.add(dword_ptr(total), eax)?;
    a.mov(eax, dword_ptr(entry + 12))?;
    a.adc(dword_ptr(total + 4), eax)?;
    a.jmp(printed)?;
    asm.place(not_usable)?;
    asm.say(" reserved (ROM, devices, ACPI...)\n")?;
    asm.place(printed)?;
    asm.a.test(ebx, ebx)?;
    asm.a.jnz(next)?;

    asm.place(done)?;
    asm.say(" Usable RAM: ")?;
    let a = &mut asm.a;
    a.mov(eax, dword_ptr(total))?;
    a.mov(edx, dword_ptr(total + 4))?;
    a.shrd(eax, edx, 10)?;
    asm.say_dec()?;
    asm.say(" KiB.\n")
}

/// Opens A20 through the BIOS, falls back to the "fast A20" bit of port 0x92, and checks that 1 MiB no longer wraps.
fn emit_a20(asm: &mut Asm) -> Result<(), IcedError> {
    let (bios_ok, check, wraps, done) = (
        asm.a.create_label(),
        asm.a.create_label(),
        asm.a.create_label(),
        asm.a.create_label(),
    );
    asm.say(concat!(
        " A20 gate: PCs mask address line 20 (the 8086 wrapped at 1 MiB) until asked.\n",
        " INT 15h AX=2401h...",
    ))?;
    let a = &mut asm.a;
    a.mov(ax, 0x2401)?;
    a.int(0x15)?;
    a.jnc(bios_ok)?;
    asm.say(" not supported; fast A20: port 0x92 bit 1.")?;
    let a = &mut asm.a;
    a.in_(al, 0x92)?;
    a.or(al, 2)?;
    a.and(al, 0xFE)?;
    a.out(0x92, al)?;
    a.jmp(check)?;
    asm.place(bios_ok)?;
    asm.say(" done.\n")?;

    // With A20 masked, FFFF:0610 (= 0x100600) is the same byte as 0000:0600.
    asm.place(check)?;
    let a = &mut asm.a;
    a.push(es)?;
    a.mov(ax, 0xFFFF)?;
    a.mov(es, ax)?;
    a.mov(byte_ptr(A20_PROBE), 0x00)?;
    a.mov(byte_ptr(A20_PROBE + 0x10).es(), 0xFF)?;
    a.cmp(byte_ptr(A20_PROBE), 0xFF)?;
    a.pop(es)?;
    a.je(wraps)?;
    asm.say(" Checked: 0x100600 no longer wraps around to 0x000600.\n")?;
    asm.a.jmp(done)?;
    asm.place(wraps)?;
    asm.say(" Warning: 0x100600 still wraps around to 0x000600; A20 is off.\n")?;
    asm.place(done)?;
    Ok(())
}
