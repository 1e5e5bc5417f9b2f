//! INT 10h, video services, on the 80x25 colour text screen at B800:0000 (mirrored to COM1).
//!
//! A real PC's INT 10h lives in the video card's own option ROM (at C000:0), which the system BIOS runs during
//! POST; it knows every mode of that card. Ours knows one mode, 80x25 text (mode 3), and writes straight into the
//! text buffer: each cell is a character byte followed by an attribute byte (colour), 160 bytes a row. The cursor
//! position lives in the BDA (0x450), and the hardware cursor is moved through CRTC registers 0Eh/0Fh.

use super::common::{enter, leave, load_seg, F_AX, F_BP, F_BX, F_CX, F_DX, F_ES};
use super::layout::*;
use super::{Ctx, Emit};
use iced_x86::code_asm::*;

/// Columns of the text screen.
const COLS: u32 = 80;
/// Rows of the text screen.
const ROWS: u32 = 25;
/// A blank cell: a space in light grey on black.
const BLANK: u32 = 0x0720;
/// The text mode we support.
const MODE_TEXT_80X25: u32 = 3;

/// Emits the INT 10h handler and the text-screen subroutines.
pub(crate) fn emit(c: &mut Ctx) -> Emit {
    let Ctx { a, l, .. } = c;
    let mut cell_addr = a.create_label();
    let mut move_cursor = a.create_label();
    let mut scroll_one = a.create_label();

    // ---- INT 10h dispatcher. DS = BDA, ES = text buffer for every function below. -------------------------
    a.set_label(&mut l.int10_video)?;
    enter(a)?;
    a.push(ax)?;
    load_seg(a, ds, BDA_SEG)?;
    load_seg(a, es, VGA_TEXT_SEG)?;
    a.pop(ax)?;
    a.cld()?;
    let mut out = a.create_label();
    let functions: [(u32, &str); 12] = [
        (0x00, "set mode"),
        (0x01, "cursor shape"),
        (0x02, "set cursor"),
        (0x03, "get cursor"),
        (0x06, "scroll up"),
        (0x07, "scroll down"),
        (0x08, "read char"),
        (0x09, "write char+attr"),
        (0x0A, "write char"),
        (0x0E, "teletype"),
        (0x0F, "get mode"),
        (0x13, "write string"),
    ];
    let mut targets = Vec::new();
    for (ah_value, _) in functions {
        let t = a.create_label();
        a.cmp(ah, ah_value)?;
        a.je(t)?;
        targets.push(t);
    }
    // Anything else: return with every register unchanged.
    a.set_label(&mut out)?;
    leave(a)?;
    let mut t = targets.into_iter();
    let mut next = || t.next().expect("one label per function");

    // AH=00h set video mode. A real BIOS reprograms the card; we only know text mode 3, so any mode request
    // clears the screen (unless AL bit 7 asks to keep it) and homes the cursor.
    a.set_label(&mut next())?;
    let mut keep = a.create_label();
    a.test(al, 0x80)?;
    a.jnz(keep)?;
    a.call(l.video_clear)?;
    a.set_label(&mut keep)?;
    a.mov(byte_ptr(BDA_VIDEO_MODE), MODE_TEXT_80X25)?;
    a.jmp(out)?;

    // AH=01h set cursor shape (CH = start line, CL = end line; CH bit 5 hides the cursor): remembered in the BDA
    // and given to the CRTC's cursor start (0Ah) and end (0Bh) registers, index in AL and value in AH of one OUT.
    a.set_label(&mut next())?;
    a.mov(word_ptr(BDA_CURSOR_SHAPE), cx)?;
    a.mov(dx, CRTC_INDEX)?;
    a.mov(al, 0x0A)?;
    a.mov(ah, ch)?;
    a.out(dx, ax)?;
    a.mov(al, 0x0B)?;
    a.mov(ah, cl)?;
    a.out(dx, ax)?;
    a.jmp(out)?;

    // AH=02h set cursor position: DH = row, DL = column (BH = page; we have only page 0).
    a.set_label(&mut next())?;
    a.mov(word_ptr(BDA_CURSOR_POS), dx)?;
    a.call(move_cursor)?;
    a.jmp(out)?;

    // AH=03h get cursor position and shape: DH/DL = row/column, CH/CL = shape.
    a.set_label(&mut next())?;
    a.mov(ax, word_ptr(BDA_CURSOR_POS))?;
    a.mov(word_ptr(bp + F_DX), ax)?;
    a.mov(ax, word_ptr(BDA_CURSOR_SHAPE))?;
    a.mov(word_ptr(bp + F_CX), ax)?;
    a.jmp(out)?;

    // AH=06h/07h scroll a window up/down by AL lines (AL = 0: clear it), filling with attribute BH.
    // CH/CL = top row/left column, DH/DL = bottom row/right column.
    for up in [true, false] {
        a.set_label(&mut next())?;
        emit_scroll(a, cell_addr, up)?;
        a.jmp(out)?;
    }

    // AH=08h read character (AL) and attribute (AH) at the cursor.
    a.set_label(&mut next())?;
    a.mov(dx, word_ptr(BDA_CURSOR_POS))?;
    a.call(cell_addr)?;
    a.mov(ax, word_ptr(di).es())?;
    a.mov(word_ptr(bp + F_AX), ax)?;
    a.jmp(out)?;

    // AH=09h write character AL with attribute BL, CX times, at the cursor (the cursor does not move).
    a.set_label(&mut next())?;
    let mut clip = a.create_label();
    a.push(ax)?;
    a.mov(dx, word_ptr(BDA_CURSOR_POS))?;
    a.call(cell_addr)?;
    a.pop(ax)?;
    a.mov(ah, bl)?;
    emit_clip_count(a, &mut clip)?;
    a.rep().stosw()?;
    a.jmp(out)?;

    // AH=0Ah write character AL, CX times, at the cursor, keeping the attributes.
    a.set_label(&mut next())?;
    let mut clip2 = a.create_label();
    let mut again = a.create_label();
    a.push(ax)?;
    a.mov(dx, word_ptr(BDA_CURSOR_POS))?;
    a.call(cell_addr)?;
    a.pop(ax)?;
    emit_clip_count(a, &mut clip2)?;
    a.jcxz(out)?;
    a.set_label(&mut again)?;
    a.stosb()?;
    a.inc(di)?;
    a.loop_(again)?;
    a.jmp(out)?;

    // AH=0Eh teletype output: AL = character. Interprets CR, LF, backspace and bell, wraps and scrolls.
    a.set_label(&mut next())?;
    a.call(l.tty_putc)?;
    a.jmp(out)?;

    // AH=0Fh get video mode: AL = mode, AH = columns, BH = active page.
    a.set_label(&mut next())?;
    a.mov(al, byte_ptr(BDA_VIDEO_MODE))?;
    a.mov(ah, COLS)?;
    a.mov(word_ptr(bp + F_AX), ax)?;
    a.mov(byte_ptr(bp + F_BX + 1), 0)?;
    a.jmp(out)?;

    // AH=13h write string ES:BP, CX characters, at row DH column DL. AL bit 0: leave the cursor after the
    // string; bit 1: the string alternates character and attribute bytes (otherwise attribute BL for all).
    a.set_label(&mut next())?;
    let mut str_loop = a.create_label();
    let mut str_attr = a.create_label();
    let mut str_done = a.create_label();
    let mut str_keep = a.create_label();
    a.push(word_ptr(BDA_CURSOR_POS))?; // old cursor, restored unless AL bit 0
    a.mov(word_ptr(BDA_CURSOR_POS), dx)?;
    a.mov(si, word_ptr(bp + F_BP))?; // the caller's BP: string offset
    a.mov(es, word_ptr(bp + F_ES))?;
    a.mov(dl, al)?; // mode
    a.jcxz(str_done)?;
    a.set_label(&mut str_loop)?;
    a.mov(al, byte_ptr(si).es())?;
    a.inc(si)?;
    a.mov(ah, bl)?;
    a.test(dl, 0x02)?;
    a.jz(str_attr)?;
    a.mov(ah, byte_ptr(si).es())?;
    a.inc(si)?;
    a.set_label(&mut str_attr)?;
    a.call(l.tty_putc_attr)?;
    a.loop_(str_loop)?;
    a.set_label(&mut str_done)?;
    a.pop(ax)?;
    a.test(dl, 0x01)?;
    a.jnz(str_keep)?;
    a.mov(word_ptr(BDA_CURSOR_POS), ax)?;
    a.mov(dx, ax)?;
    a.call(move_cursor)?;
    a.set_label(&mut str_keep)?;
    a.jmp(out)?;

    // ---- Subroutines ---------------------------------------------------------------------------------------

    // tty_putc: AL = character, written with the attribute already on screen. Preserves all registers.
    a.set_label(&mut l.tty_putc)?;
    a.push(ax)?;
    a.xor(ah, ah)?;
    a.call(l.tty_putc_attr)?;
    a.pop(ax)?;
    a.ret()?;

    // tty_putc_attr: AL = character, AH = attribute (0: keep the cell's attribute). Sends AL to COM1 too,
    // then acts on it at the cursor: CR, LF, BS move the cursor, BEL is ignored, anything else is drawn and
    // advances the cursor, wrapping at column 80 and scrolling at row 25. Preserves all registers.
    a.set_label(&mut l.tty_putc_attr)?;
    let mut lf = a.create_label();
    let mut cr = a.create_label();
    let mut bs = a.create_label();
    let mut store = a.create_label();
    let mut tty_ret = a.create_label();
    let mut no_attr = a.create_label();
    a.push(ax)?;
    a.push(dx)?;
    a.push(di)?;
    a.push(ds)?;
    a.push(es)?;
    a.call(l.serial_putc)?;
    a.push(ax)?;
    load_seg(a, ds, BDA_SEG)?;
    load_seg(a, es, VGA_TEXT_SEG)?;
    a.pop(ax)?;
    a.mov(dx, word_ptr(BDA_CURSOR_POS))?; // DL = column, DH = row
    a.cmp(al, 0x0D)?;
    a.je(cr)?;
    a.cmp(al, 0x0A)?;
    a.je(lf)?;
    a.cmp(al, 0x08)?;
    a.je(bs)?;
    a.cmp(al, 0x07)?;
    a.je(tty_ret)?;
    a.call(cell_addr)?;
    a.mov(byte_ptr(di).es(), al)?;
    a.test(ah, ah)?;
    a.jz(no_attr)?;
    a.mov(byte_ptr(di + 1).es(), ah)?;
    a.set_label(&mut no_attr)?;
    a.inc(dl)?;
    a.cmp(dl, COLS)?;
    a.jb(store)?;
    a.set_label(&mut cr)?;
    a.xor(dl, dl)?;
    a.cmp(al, 0x0D)?; // a real CR stops here; a wrapped line goes on to the line feed
    a.je(store)?;
    a.set_label(&mut lf)?;
    a.inc(dh)?;
    a.cmp(dh, ROWS)?;
    a.jb(store)?;
    a.mov(dh, ROWS - 1)?;
    a.call(scroll_one)?;
    a.jmp(store)?;
    a.set_label(&mut bs)?;
    a.test(dl, dl)?;
    a.jz(store)?;
    a.dec(dl)?;
    a.set_label(&mut store)?;
    a.mov(word_ptr(BDA_CURSOR_POS), dx)?;
    a.call(move_cursor)?;
    a.set_label(&mut tty_ret)?;
    a.pop(es)?;
    a.pop(ds)?;
    a.pop(di)?;
    a.pop(dx)?;
    a.pop(ax)?;
    a.ret()?;

    // video_clear: fills the screen with blanks and homes the cursor. Preserves all registers.
    a.set_label(&mut l.video_clear)?;
    a.push(ax)?;
    a.push(cx)?;
    a.push(dx)?;
    a.push(di)?;
    a.push(ds)?;
    a.push(es)?;
    load_seg(a, ds, BDA_SEG)?;
    load_seg(a, es, VGA_TEXT_SEG)?;
    a.xor(di, di)?;
    a.mov(cx, COLS * ROWS)?;
    a.mov(ax, BLANK)?;
    a.cld()?;
    a.rep().stosw()?;
    a.xor(dx, dx)?;
    a.mov(word_ptr(BDA_CURSOR_POS), dx)?;
    a.call(move_cursor)?;
    a.pop(es)?;
    a.pop(ds)?;
    a.pop(di)?;
    a.pop(dx)?;
    a.pop(cx)?;
    a.pop(ax)?;
    a.ret()?;

    // cell_addr: DH = row, DL = column -> DI = byte offset of that cell. Preserves the rest.
    a.set_label(&mut cell_addr)?;
    a.push(ax)?;
    a.mov(al, COLS)?;
    a.mul(dh)?; // AX = row * 80
    a.add(al, dl)?;
    a.adc(ah, 0)?;
    a.shl(ax, 1)?;
    a.mov(di, ax)?;
    a.pop(ax)?;
    a.ret()?;

    // move_cursor: DH = row, DL = column -> the CRTC cursor location registers. Preserves all registers.
    a.set_label(&mut move_cursor)?;
    a.push(ax)?;
    a.push(dx)?;
    a.push(di)?;
    a.call(cell_addr)?;
    a.shr(di, 1)?; // cell index
    a.mov(dx, CRTC_INDEX)?;
    a.mov(al, 0x0E)?; // cursor location high
    a.out(dx, al)?;
    a.inc(dx)?;
    a.mov(ax, di)?;
    a.mov(al, ah)?;
    a.out(dx, al)?;
    a.dec(dx)?;
    a.mov(al, 0x0F)?; // cursor location low
    a.out(dx, al)?;
    a.inc(dx)?;
    a.mov(ax, di)?;
    a.out(dx, al)?;
    a.pop(di)?;
    a.pop(dx)?;
    a.pop(ax)?;
    a.ret()?;

    // scroll_one: moves rows 1-24 up one row and blanks row 24. ES = text buffer. Preserves all registers.
    a.set_label(&mut scroll_one)?;
    a.push(ax)?;
    a.push(cx)?;
    a.push(si)?;
    a.push(di)?;
    a.push(ds)?;
    a.push(es)?;
    a.pop(ds)?;
    a.push(ds)?;
    a.mov(si, COLS * 2)?;
    a.xor(di, di)?;
    a.mov(cx, COLS * (ROWS - 1))?;
    a.cld()?;
    a.rep().movsw()?;
    a.mov(ax, BLANK)?;
    a.mov(cx, COLS)?;
    a.rep().stosw()?;
    a.pop(es)?;
    a.pop(ds)?;
    a.pop(di)?;
    a.pop(si)?;
    a.pop(cx)?;
    a.pop(ax)?;
    a.ret()?;
    Ok(())
}

/// Emits: CX = min(CX, cells from DI to the end of the screen), so a large count cannot run past the buffer.
fn emit_clip_count(a: &mut CodeAssembler, ok: &mut CodeLabel) -> Emit {
    a.push(ax)?;
    a.mov(ax, COLS * ROWS * 2)?;
    a.sub(ax, di)?;
    a.shr(ax, 1)?;
    a.cmp(cx, ax)?;
    a.jbe(*ok)?;
    a.mov(cx, ax)?;
    a.set_label(ok)?;
    a.pop(ax)
}

/// Emits the body of AH=06h (`up`) or AH=07h (down), entered with the caller's registers, DS = BDA and
/// ES = text buffer. Each row of the window is either copied from the row AL lines away, or blanked with BH.
fn emit_scroll(a: &mut CodeAssembler, cell_addr: CodeLabel, up: bool) -> Emit {
    // Locals below BP: the window clamped to the screen, the line count and the fill attribute.
    const TOP: u32 = 1;
    const LEFT: u32 = 2;
    const BOTTOM: u32 = 3;
    const RIGHT: u32 = 4;
    const LINES: u32 = 5;
    const ATTR: u32 = 6;
    let mut done = a.create_label();
    a.sub(sp, 6)?;
    let mut ok_b = a.create_label();
    let mut ok_r = a.create_label();
    a.cmp(dh, ROWS - 1)?;
    a.jbe(ok_b)?;
    a.mov(dh, ROWS - 1)?;
    a.set_label(&mut ok_b)?;
    a.cmp(dl, COLS - 1)?;
    a.jbe(ok_r)?;
    a.mov(dl, COLS - 1)?;
    a.set_label(&mut ok_r)?;
    a.mov(byte_ptr(bp - TOP), ch)?;
    a.mov(byte_ptr(bp - LEFT), cl)?;
    a.mov(byte_ptr(bp - BOTTOM), dh)?;
    a.mov(byte_ptr(bp - RIGHT), dl)?;
    a.mov(byte_ptr(bp - LINES), al)?;
    a.mov(byte_ptr(bp - ATTR), bh)?;
    a.cmp(ch, dh)?;
    a.ja(done)?;
    a.cmp(cl, dl)?;
    a.ja(done)?;
    // The source rows are in the same buffer: DS = ES = B800 for the copies.
    a.push(es)?;
    a.pop(ds)?;
    // BL = current row: top first when scrolling up, bottom first when scrolling down.
    a.mov(bl, if up { ch } else { dh })?;
    let mut row = a.create_label();
    let mut fill = a.create_label();
    let mut next_row = a.create_label();
    a.set_label(&mut row)?;
    a.mov(dh, bl)?;
    a.mov(dl, byte_ptr(bp - LEFT))?;
    a.call(cell_addr)?; // DI = destination
    a.mov(cl, byte_ptr(bp - RIGHT))?;
    a.sub(cl, dl)?;
    a.inc(cl)?;
    a.xor(ch, ch)?; // CX = width
    a.mov(al, byte_ptr(bp - LINES))?;
    a.test(al, al)?;
    a.jz(fill)?;
    if up {
        // Source row = row + lines, if still inside the window.
        a.add(al, bl)?;
        a.jc(fill)?;
        a.cmp(al, byte_ptr(bp - BOTTOM))?;
        a.ja(fill)?;
    } else {
        // Source row = row - lines, if still inside the window.
        a.mov(ah, bl)?;
        a.sub(ah, al)?;
        a.jc(fill)?;
        a.cmp(ah, byte_ptr(bp - TOP))?;
        a.jb(fill)?;
        a.mov(al, ah)?;
    }
    a.push(di)?;
    a.mov(dh, al)?;
    a.call(cell_addr)?;
    a.mov(si, di)?;
    a.pop(di)?;
    a.rep().movsw()?;
    a.jmp(next_row)?;
    a.set_label(&mut fill)?;
    a.mov(al, b' ' as u32)?;
    a.mov(ah, byte_ptr(bp - ATTR))?;
    a.rep().stosw()?;
    a.set_label(&mut next_row)?;
    if up {
        a.cmp(bl, byte_ptr(bp - BOTTOM))?;
        a.je(done)?;
        a.inc(bl)?;
    } else {
        a.cmp(bl, byte_ptr(bp - TOP))?;
        a.je(done)?;
        a.dec(bl)?;
    }
    a.jmp(row)?;
    a.set_label(&mut done)?;
    Ok(())
}
