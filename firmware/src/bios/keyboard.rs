//! INT 16h, keyboard services, fed by the serial console.
//!
//! On a real PC the keyboard controller raises IRQ1 for every key; the BIOS's IRQ1 handler translates the scan code
//! into an (ASCII, scan code) pair and appends it to a 16-entry ring buffer in the BDA (0x41E-0x43D, head at 0x41A,
//! tail at 0x41C), and INT 16h takes keys out of that ring. Ours keeps the same ring, but fills it from COM1: each
//! INT 16h call first polls the UART and turns any received byte into a key with a plausible scan code. So a user
//! on the serial console can type to a boot loader. (The i8042 keyboard itself is not read.)

use super::common::{enter, leave, load_seg, F_AX, F_FLAGS, ZF};
use super::layout::*;
use super::{Ctx, Emit};
use iced_x86::code_asm::*;

/// The set-1 scan code a US keyboard sends for the key that types `ascii` (0 if none).
///
/// Control characters map to the letter key pressed with Ctrl, except the ones with keys of their own.
pub fn scan_code(ascii: u8) -> u8 {
    const ROWS: [(&[u8], &[u8], u8); 4] = [
        (b"1234567890-=", b"!@#$%^&*()_+", 0x02),
        (b"qwertyuiop[]", b"QWERTYUIOP{}", 0x10),
        (b"asdfghjkl;'`", b"ASDFGHJKL:\"~", 0x1E),
        (b"\\zxcvbnm,./", b"|ZXCVBNM<>?", 0x2B),
    ];
    match ascii {
        0x1B => return 0x01,        // Esc
        0x08 | 0x7F => return 0x0E, // Backspace (terminals send DEL)
        b'\t' => return 0x0F,
        b'\r' | b'\n' => return 0x1C, // Enter
        b' ' => return 0x39,
        _ => {}
    }
    for (plain, shifted, first) in ROWS {
        if let Some(i) = plain.iter().chain(shifted).position(|&c| c == ascii) {
            return first + (i % plain.len()) as u8;
        }
    }
    if (1..=26).contains(&ascii) {
        return scan_code(ascii + b'a' - 1); // Ctrl+letter
    }
    0
}

/// Emits INT 16h, the COM1-to-ring-buffer poller and the scan code table.
pub(crate) fn emit(c: &mut Ctx) -> Emit {
    let Ctx { a, l, prev } = c;

    // kbd_poll: if COM1 has a byte, append (scan code << 8 | ASCII) to the BDA ring. DS = BDA. Preserves all.
    a.set_label(&mut l.kbd_poll)?;
    let mut nothing = a.create_label();
    let mut no_wrap = a.create_label();
    let mut not_del = a.create_label();
    a.push(ax)?;
    a.push(bx)?;
    a.call(l.serial_getc)?;
    a.jz(nothing)?;
    a.and(al, 0x7F)?;
    a.cmp(al, 0x7F)?; // DEL from a terminal's backspace key: the PC's backspace is 08h
    a.jne(not_del)?;
    a.mov(al, 0x08)?;
    a.set_label(&mut not_del)?;
    a.movzx(bx, al)?; // AH = the scan code table in ROM, indexed by ASCII

    a.add(bx, prev.scan_codes)?;
    a.mov(ah, byte_ptr(bx).cs())?;
    a.mov(bx, word_ptr(BDA_KBD_TAIL))?;
    a.mov(word_ptr(bx), ax)?; // provisional store at the tail...
    a.add(bx, 2)?;
    a.cmp(bx, BDA_KBD_BUF_END)?;
    a.jb(no_wrap)?;
    a.mov(bx, BDA_KBD_BUF)?;
    a.set_label(&mut no_wrap)?;
    a.cmp(bx, word_ptr(BDA_KBD_HEAD))?; // ...committed only if the ring is not full
    a.je(nothing)?;
    a.mov(word_ptr(BDA_KBD_TAIL), bx)?;
    a.set_label(&mut nothing)?;
    a.pop(bx)?;
    a.pop(ax)?;
    a.ret()?;

    // ---- INT 16h dispatcher (DS = BDA) ----------------------------------------------------------------------
    a.set_label(&mut l.int16_keyboard)?;
    enter(a)?;
    a.push(ax)?;
    load_seg(a, ds, BDA_SEG)?;
    a.pop(ax)?;
    let mut read = a.create_label();
    let mut check = a.create_label();
    let mut shift = a.create_label();
    let mut out = a.create_label();
    for (ah_value, target) in [
        (0x00, read),
        (0x10, read),
        (0x01, check),
        (0x11, check),
        (0x02, shift),
        (0x12, shift),
    ] {
        a.cmp(ah, ah_value)?;
        a.je(target)?;
    }
    a.set_label(&mut out)?;
    leave(a)?;

    // AH=00h/10h: wait for a key and take it: AL = ASCII, AH = scan code. Interrupts stay on while we wait.
    a.set_label(&mut read)?;
    let mut wait = a.create_label();
    a.sti()?;
    a.set_label(&mut wait)?;
    a.call(l.kbd_poll)?;
    a.mov(bx, word_ptr(BDA_KBD_HEAD))?;
    a.cmp(bx, word_ptr(BDA_KBD_TAIL))?;
    a.je(wait)?;
    a.mov(ax, word_ptr(bx))?;
    a.mov(word_ptr(bp + F_AX), ax)?;
    let mut no_wrap2 = a.create_label();
    a.add(bx, 2)?;
    a.cmp(bx, BDA_KBD_BUF_END)?;
    a.jb(no_wrap2)?;
    a.mov(bx, BDA_KBD_BUF)?;
    a.set_label(&mut no_wrap2)?;
    a.mov(word_ptr(BDA_KBD_HEAD), bx)?;
    a.jmp(out)?;

    // AH=01h/11h: is a key waiting? ZF = 1 if not; else ZF = 0 and AX = the key, left in the buffer.
    a.set_label(&mut check)?;
    let mut empty = a.create_label();
    a.call(l.kbd_poll)?;
    a.mov(bx, word_ptr(BDA_KBD_HEAD))?;
    a.cmp(bx, word_ptr(BDA_KBD_TAIL))?;
    a.je(empty)?;
    a.mov(ax, word_ptr(bx))?;
    a.mov(word_ptr(bp + F_AX), ax)?;
    a.and(byte_ptr(bp + F_FLAGS), !ZF & 0xFF)?;
    a.jmp(out)?;
    a.set_label(&mut empty)?;
    a.or(byte_ptr(bp + F_FLAGS), ZF)?;
    a.jmp(out)?;

    // AH=02h/12h: shift flags (AL; AH = 0 for the extended call). Nothing is ever held down on a serial line.
    a.set_label(&mut shift)?;
    a.mov(al, byte_ptr(BDA_KBD_FLAGS))?;
    a.xor(ah, ah)?;
    a.mov(word_ptr(bp + F_AX), ax)?;
    a.jmp(out)?;

    // The ASCII -> scan code table (128 bytes).
    a.set_label(&mut l.scan_codes)?;
    let table: Vec<u8> = (0..128u8).map(scan_code).collect();
    a.db(&table)
}

#[cfg(test)]
mod tests {
    use super::scan_code;

    #[test]
    fn scan_codes_of_a_us_keyboard() {
        assert_eq!(scan_code(b'a'), 0x1E);
        assert_eq!(scan_code(b'A'), 0x1E);
        assert_eq!(scan_code(b'q'), 0x10);
        assert_eq!(scan_code(b'1'), 0x02);
        assert_eq!(scan_code(b'!'), 0x02);
        assert_eq!(scan_code(b'0'), 0x0B);
        assert_eq!(scan_code(b'/'), 0x35);
        assert_eq!(scan_code(b'\r'), 0x1C);
        assert_eq!(scan_code(0x1B), 0x01);
        assert_eq!(scan_code(0x03), 0x2E); // Ctrl+C
        assert_eq!(scan_code(b' '), 0x39);
    }
}
