//! Text output routines shared by real mode and protected mode.
//!
//! The same source assembles as 16-bit code (the BIOS writes each character) and as 32-bit code (the kernel polls the
//! UART): it uses only 32-bit registers and `[esi]` addressing, which a 386 accepts in real mode too (with an
//! operand- or address-size prefix) as long as ESI stays below 64 KiB. Only the raw character output differs, passed
//! in as `raw_putc` (AL = character, all registers preserved).

use super::asm::Asm;
use iced_x86::code_asm::*;

/// Emits `putc`, `print`, `hex` and `dec` (the labels held by [`Asm`]); every routine preserves all registers.
pub(crate) fn emit_routines(asm: &mut Asm, raw_putc: CodeLabel) -> Result<(), IcedError> {
    // putc: AL = character; a terminal wants "\r\n" where the strings say "\n".
    let raw = asm.a.create_label();
    asm.place(asm.putc)?;
    asm.a.cmp(al, 10)?;
    asm.a.jne(raw)?;
    asm.a.push(eax)?;
    asm.a.mov(al, 13)?;
    asm.a.call(raw_putc)?;
    asm.a.pop(eax)?;
    asm.place(raw)?;
    asm.a.jmp(raw_putc)?;

    // print: ESI = NUL-terminated string.
    let (next, done) = (asm.a.create_label(), asm.a.create_label());
    asm.place(asm.print)?;
    asm.a.push(eax)?;
    asm.a.push(esi)?;
    asm.place(next)?;
    asm.a.mov(al, byte_ptr(esi))?;
    asm.a.test(al, al)?;
    asm.a.jz(done)?;
    asm.a.call(asm.putc)?;
    asm.a.inc(esi)?;
    asm.a.jmp(next)?;
    asm.place(done)?;
    asm.a.pop(esi)?;
    asm.a.pop(eax)?;
    asm.a.ret()?;

    // hex: EAX = value, ECX = number of digits, most significant first.
    let (digit, letter_done) = (asm.a.create_label(), asm.a.create_label());
    asm.place(asm.hex)?;
    asm.a.pushad()?;
    asm.a.mov(edx, eax)?;
    asm.place(digit)?;
    asm.a.dec(ecx)?;
    asm.a.mov(eax, edx)?;
    asm.a.push(ecx)?;
    asm.a.shl(cl, 2)?;
    asm.a.shr(eax, cl)?;
    asm.a.pop(ecx)?;
    asm.a.and(al, 0x0F)?;
    asm.a.add(al, i32::from(b'0'))?;
    asm.a.cmp(al, i32::from(b'9'))?;
    asm.a.jbe(letter_done)?;
    asm.a.add(al, 7)?;
    asm.place(letter_done)?;
    asm.a.call(asm.putc)?;
    asm.a.test(ecx, ecx)?;
    asm.a.jnz(digit)?;
    asm.a.popad()?;
    asm.a.ret()?;

    // dec: EAX = value; digits are pushed least significant first, then popped and printed.
    let (divide, out) = (asm.a.create_label(), asm.a.create_label());
    asm.place(asm.dec)?;
    asm.a.pushad()?;
    asm.a.mov(ebx, 10)?;
    asm.a.xor(ecx, ecx)?;
    asm.place(divide)?;
    asm.a.xor(edx, edx)?;
    asm.a.div(ebx)?;
    asm.a.push(edx)?;
    asm.a.inc(ecx)?;
    asm.a.test(eax, eax)?;
    asm.a.jnz(divide)?;
    asm.place(out)?;
    asm.a.pop(eax)?;
    asm.a.add(al, i32::from(b'0'))?;
    asm.a.call(asm.putc)?;
    asm.a.dec(ecx)?;
    asm.a.jnz(out)?;
    asm.a.popad()?;
    asm.a.ret()
}
