use super::font::{glyphs_8x16, GLYPHS_8X8, GLYPH_STRIDE};
use super::modes::{ModeRegisters, MODE_12H, MODE_13H};
use super::vbe::{reg as vbe_reg, ENABLED, GETCAPS, LFB_ENABLED, NOCLEARMEM, VBE_DATA, VBE_INDEX};
use super::*;
use crate::display::Frame;

fn out(vga: &mut Vga, port: u16, value: u8) {
    vga.io_write(port, 1, u32::from(value));
}

fn inb(vga: &mut Vga, port: u16) -> u8 {
    vga.io_read(port, 1) as u8
}

/// Programs `m` the way a video BIOS does: through the ports, the attribute controller last.
fn set_mode(vga: &mut Vga, m: &ModeRegisters) {
    out(vga, MISC_WRITE, m.misc);
    for (i, &v) in m.sequencer.iter().enumerate() {
        vga.io_write(SEQ_INDEX, 2, u32::from(v) << 8 | i as u32);
    }
    vga.io_write(CRTC_INDEX_COLOR, 2, 0x11); // clear the protect bit first
    for (i, &v) in m.crtc.iter().enumerate() {
        vga.io_write(CRTC_INDEX_COLOR, 2, u32::from(v) << 8 | i as u32);
    }
    for (i, &v) in m.graphics.iter().enumerate() {
        vga.io_write(GC_INDEX, 2, u32::from(v) << 8 | i as u32);
    }
    inb(vga, STATUS1_COLOR);
    for (i, &v) in m.attribute.iter().enumerate() {
        out(vga, AC_WRITE, i as u8);
        out(vga, AC_WRITE, v);
    }
    out(vga, AC_WRITE, attribute::PALETTE_ADDRESS_SOURCE);
}

fn set_dac(vga: &mut Vga, index: u8, rgb: [u8; 3]) {
    out(vga, DAC_WRITE_INDEX, index);
    for c in rgb {
        out(vga, DAC_DATA, c);
    }
}

fn vbe(vga: &mut Vga, index: u16, value: u16) {
    vga.io_write(VBE_INDEX, 2, u32::from(index));
    vga.io_write(VBE_DATA, 2, u32::from(value));
}

fn vbe_get(vga: &mut Vga, index: u16) -> u16 {
    vga.io_write(VBE_INDEX, 2, u32::from(index));
    vga.io_read(VBE_DATA, 2) as u16
}

fn rendered(vga: &mut Vga) -> Frame {
    let mut f = Frame::default();
    vga.render(&mut f);
    f
}

/// The text screen's colours in mode 3's default palette.
const BLACK: u32 = 0x00_0000;
const BLUE: u32 = 0x00_00AA;
const YELLOW: u32 = 0xFF_FF55;
const LIGHT_GREY: u32 = 0xAA_AAAA;

#[test]
fn sequencer_graphics_and_crtc_registers_keep_their_bits() {
    let mut vga = Vga::new();
    vga.io_write(SEQ_INDEX, 2, 0xFF02);
    assert_eq!(inb(&mut vga, SEQ_DATA), 0x0F, "map mask has four bits");
    out(&mut vga, SEQ_INDEX, 7);
    assert_eq!(inb(&mut vga, SEQ_DATA), 0xFF, "past the last register");
    vga.io_write(GC_INDEX, 2, 0xFF05);
    assert_eq!(inb(&mut vga, GC_DATA), 0x7B);
    assert_eq!(inb(&mut vga, GC_INDEX), 5);
    // CRTC: registers 0-7 are protected while bit 7 of register 0x11 is set (mode 3 sets it).
    vga.io_write(CRTC_INDEX_COLOR, 2, 0x1201);
    out(&mut vga, CRTC_INDEX_COLOR, 1);
    assert_eq!(inb(&mut vga, CRTC_INDEX_COLOR + 1), 0x4F, "protected");
    vga.io_write(CRTC_INDEX_COLOR, 2, 0xFF07);
    assert_eq!(
        vga.crtc.regs[7],
        0x1F | 0x10,
        "only line compare bit 8 of the overflow"
    );
    vga.io_write(CRTC_INDEX_COLOR, 2, 0x0E11);
    vga.io_write(CRTC_INDEX_COLOR, 2, 0x1201);
    assert_eq!(vga.crtc.regs[1], 0x12, "unprotected");
    vga.io_write(CRTC_INDEX_COLOR, 2, 0x340E);
    assert_eq!(vga.crtc.cursor().map(|c| c.0), Some(0x3400));
}

#[test]
fn the_crtc_and_input_status_follow_misc_output_bit_0() {
    let mut vga = Vga::new();
    assert_eq!(inb(&mut vga, MISC_READ), 0x67);
    assert_eq!(
        inb(&mut vga, 0x3B5),
        0xFF,
        "mono CRTC absent in colour mode"
    );
    out(&mut vga, MISC_WRITE, 0x66);
    vga.io_write(0x3B4, 2, 0x550F);
    assert_eq!(vga.crtc.regs[0x0F], 0x55);
    assert_eq!(
        inb(&mut vga, CRTC_INDEX_COLOR + 1),
        0xFF,
        "colour CRTC absent now"
    );
    let seen: Vec<u8> = (0..4).map(|_| inb(&mut vga, 0x3BA)).collect();
    assert!(seen.iter().any(|s| s & 0x08 != 0) && seen.iter().any(|s| s & 0x08 == 0));
}

#[test]
fn input_status_1_shows_both_edges_of_retrace_and_display_enable() {
    let mut vga = Vga::new();
    let seen: Vec<u8> = (0..8).map(|_| inb(&mut vga, STATUS1_COLOR)).collect();
    for bit in [0x01, 0x08] {
        assert!(
            seen.iter().any(|s| s & bit != 0),
            "{bit:#x} set in {seen:?}"
        );
        assert!(
            seen.iter().any(|s| s & bit == 0),
            "{bit:#x} clear in {seen:?}"
        );
    }
    assert!(
        seen.iter().all(|s| s & 0x08 == 0 || s & 0x01 != 0),
        "no display during retrace"
    );
}

#[test]
fn the_attribute_flip_flop_alternates_and_input_status_resets_it() {
    let mut vga = Vga::new();
    inb(&mut vga, STATUS1_COLOR);
    out(&mut vga, AC_WRITE, 0x05);
    out(&mut vga, AC_WRITE, 0x2A);
    assert_eq!(vga.attribute.regs[5], 0x2A);
    out(&mut vga, AC_WRITE, 0x06); // index again
    inb(&mut vga, STATUS1_COLOR);
    out(&mut vga, AC_WRITE, 0x27); // still an index after the reset, palette source set
    assert_eq!(inb(&mut vga, AC_WRITE), 0x27);
    assert_eq!(inb(&mut vga, AC_READ), 0x07, "palette entry 7");
    out(&mut vga, AC_WRITE, 0x3F);
    assert_eq!(vga.attribute.regs[7], 0x3F);
    assert!(vga.attribute.enabled());
}

#[test]
fn the_dac_moves_on_after_each_triplet_both_ways() {
    let mut vga = Vga::new();
    out(&mut vga, DAC_WRITE_INDEX, 0xFF);
    for c in [1, 2, 3, 0x44, 5, 6] {
        out(&mut vga, DAC_DATA, c);
    }
    assert_eq!(vga.dac.palette[0xFF], [1, 2, 3]);
    assert_eq!(vga.dac.palette[0], [4, 5, 6], "index wrapped, 6 bits kept");
    assert_eq!(inb(&mut vga, DAC_WRITE_INDEX), 1);
    assert_eq!(inb(&mut vga, DAC_READ_INDEX), 0, "write state");
    out(&mut vga, DAC_READ_INDEX, 0xFF);
    assert_eq!(inb(&mut vga, DAC_READ_INDEX), 3, "read state");
    let back: Vec<u8> = (0..6).map(|_| inb(&mut vga, DAC_DATA)).collect();
    assert_eq!(back, [1, 2, 3, 4, 5, 6]);
    assert_eq!(vga.dac.rgb(0), 0x10_1418);
    out(&mut vga, DAC_PEL_MASK, 0x00);
    assert_eq!(vga.dac.rgb(0xFF), 0x10_1418, "the pixel mask applies first");
}

#[test]
fn power_on_is_mode_3_with_the_font_in_plane_2() {
    let mut vga = Vga::new();
    let glyphs = glyphs_8x16();
    for (line, &bits) in glyphs[65].iter().enumerate() {
        assert_eq!(vga.peek_plane(2, 65 * GLYPH_STRIDE + line), bits);
    }
    assert_eq!(glyphs[65][0], GLYPHS_8X8[65][0]);
    assert_ne!(glyphs[65], [0; 16]);
    assert_eq!(
        vga.window_read(0xA_0000),
        0xFF,
        "mode 3 decodes only B8000-BFFFF"
    );
    // Odd/even: characters in plane 0, attributes in plane 1, at the even offset.
    vga.window_write(0xB_8000 + 10, b'Z');
    vga.window_write(0xB_8000 + 11, 0x1E);
    assert_eq!(vga.peek_plane(0, 10), b'Z');
    assert_eq!(vga.peek_plane(1, 10), 0x1E);
    assert_eq!(
        vga.peek_plane(2, 10),
        glyphs[0][10],
        "plane 2 is write protected by the map mask"
    );
    assert_eq!(vga.window_read(0xB_8000 + 10), b'Z');
    assert_eq!(vga.window_read(0xB_8000 + 11), 0x1E);
    let f = rendered(&mut vga);
    assert_eq!((f.width, f.height), (720, 400));
}

#[test]
fn write_modes_combine_cpu_data_set_reset_latches_and_the_bit_mask() {
    let mut vga = Vga::new();
    set_mode(&mut vga, &MODE_12H);
    let gc =
        |vga: &mut Vga, i: u8, v: u8| vga.io_write(GC_INDEX, 2, u32::from(v) << 8 | u32::from(i));
    // Write mode 0 with set/reset on planes 0 and 2 (colour 5), CPU data elsewhere.
    gc(&mut vga, 0, 0x05);
    gc(&mut vga, 1, 0x0F);
    vga.window_write(0xA_0000, 0xAA);
    assert_eq!(
        (0..4).map(|p| vga.peek_plane(p, 0)).collect::<Vec<_>>(),
        [0xFF, 0, 0xFF, 0]
    );
    gc(&mut vga, 1, 0x00);
    // Rotate by 4 and XOR with the latches.
    gc(&mut vga, 3, 0x18 | 4);
    vga.window_read(0xA_0000);
    vga.window_write(0xA_0000, 0x0F);
    assert_eq!(
        (0..4).map(|p| vga.peek_plane(p, 0)).collect::<Vec<_>>(),
        [0x0F, 0xF0, 0x0F, 0xF0]
    );
    gc(&mut vga, 3, 0);
    // Write mode 1 copies the latches (a screen-to-screen copy).
    vga.window_read(0xA_0000);
    gc(&mut vga, 5, 0x01);
    vga.window_write(0xA_0001, 0x00);
    assert_eq!(vga.peek_plane(1, 1), 0xF0);
    // Write mode 2: the CPU byte's low bits are a colour, the bit mask picks the pixels.
    gc(&mut vga, 5, 0x02);
    gc(&mut vga, 8, 0x80);
    vga.window_read(0xA_0002);
    vga.window_write(0xA_0002, 0x09);
    assert_eq!(
        (0..4).map(|p| vga.peek_plane(p, 2)).collect::<Vec<_>>(),
        [0x80, 0, 0, 0x80]
    );
    // Write mode 3: set/reset is the colour, the rotated CPU byte ANDed with the bit mask picks the pixels.
    gc(&mut vga, 5, 0x03);
    gc(&mut vga, 8, 0xFF);
    gc(&mut vga, 0, 0x06);
    vga.window_read(0xA_0003);
    vga.window_write(0xA_0003, 0x3C);
    assert_eq!(
        (0..4).map(|p| vga.peek_plane(p, 3)).collect::<Vec<_>>(),
        [0, 0x3C, 0x3C, 0]
    );
    // The map mask keeps planes out of a write.
    vga.io_write(SEQ_INDEX, 2, 0x0102);
    gc(&mut vga, 5, 0x00);
    gc(&mut vga, 0, 0x00);
    vga.window_write(0xA_0004, 0x77);
    assert_eq!(
        (0..4).map(|p| vga.peek_plane(p, 4)).collect::<Vec<_>>(),
        [0x77, 0, 0, 0]
    );
}

#[test]
fn read_modes_return_a_plane_or_a_colour_compare() {
    let mut vga = Vga::new();
    set_mode(&mut vga, &MODE_12H);
    for (p, v) in [0xF0u8, 0xCC, 0xAA, 0x00].into_iter().enumerate() {
        vga.poke_plane(p as u8, 7, v);
    }
    let gc =
        |vga: &mut Vga, i: u8, v: u8| vga.io_write(GC_INDEX, 2, u32::from(v) << 8 | u32::from(i));
    gc(&mut vga, 4, 2);
    assert_eq!(vga.window_read(0xA_0007), 0xAA, "read map select 2");
    // Read mode 1: pixels of colour 0b0011 (planes 0 and 1 set, 2 and 3 clear).
    gc(&mut vga, 5, 0x08);
    gc(&mut vga, 2, 0x03);
    gc(&mut vga, 7, 0x0F);
    assert_eq!(vga.window_read(0xA_0007), 0xF0 & 0xCC & !0xAA);
    gc(&mut vga, 7, 0x01); // only plane 0 matters
    assert_eq!(vga.window_read(0xA_0007), 0xF0);
}

#[test]
fn chain_4_reaches_the_planes_byte_by_byte() {
    let mut vga = Vga::new();
    set_mode(&mut vga, &MODE_13H);
    for k in 0..8u8 {
        vga.window_write(0xA_0000 + u64::from(k), 0x10 + k);
    }
    assert_eq!(vga.peek_plane(1, 0), 0x11);
    assert_eq!(vga.peek_plane(3, 1), 0x17);
    assert_eq!(vga.window_read(0xA_0006), 0x16);
    assert_eq!(
        vga.window_read(0xB_8000),
        0xFF,
        "mode 13h decodes A0000-AFFFF only"
    );
}

/// Checks the 9x16 cell at (`col`, `row`) of a 720x400 frame against `glyph` in `fg` on `bg`.
fn assert_cell(f: &Frame, (col, row): (usize, usize), glyph: &[u8], fg: u32, bg: u32) {
    let height = glyph.len();
    for (line, &bits) in glyph.iter().enumerate() {
        for x in 0..9 {
            let on = x < 8 && bits & (0x80 >> x) != 0;
            let want = if on { fg } else { bg };
            let got = f.pixel(col * 9 + x, row * height + line);
            assert_eq!(got, want, "cell ({col},{row}) line {line} x {x}");
        }
    }
}

#[test]
fn text_mode_draws_glyphs_in_attribute_colours_and_the_cursor() {
    let mut vga = Vga::new();
    let glyphs = glyphs_8x16();
    // "Hi" in yellow on blue at row 2, column 3.
    let cell = 2 * 80 + 3;
    for (k, (ch, attr)) in [(b'H', 0x1E), (b'i', 0x1E), (b'!', 0x97)]
        .into_iter()
        .enumerate()
    {
        vga.window_write(0xB_8000 + 2 * (cell + k) as u64, ch);
        vga.window_write(0xB_8000 + 2 * (cell + k) as u64 + 1, attr);
    }
    // The cursor on row 10, column 0, mode 3's lines 13-14.
    vga.io_write(CRTC_INDEX_COLOR, 2, 0x030E);
    vga.io_write(CRTC_INDEX_COLOR, 2, 0x200F);
    let f = rendered(&mut vga);
    assert_cell(&f, (3, 2), &glyphs[usize::from(b'H')], YELLOW, BLUE);
    assert_cell(&f, (4, 2), &glyphs[usize::from(b'i')], YELLOW, BLUE);
    // Attribute 0x97 with blink on (mode 3): bit 7 blinks, the background is colour 1.
    assert_cell(&f, (5, 2), &glyphs[usize::from(b'!')], LIGHT_GREY, BLUE);
    assert_cell(&f, (0, 0), &[0; 16], BLACK, BLACK);
    // The cursor: lines 13-14 of cell (0, 10) in the cell's foreground colour.
    vga.window_write(0xB_8000 + 2 * 800 + 1, 0x07);
    let f = rendered(&mut vga);
    for line in 13..=14 {
        for x in 0..9 {
            assert_eq!(
                f.pixel(x, 10 * 16 + line),
                LIGHT_GREY,
                "cursor line {line} x {x}"
            );
        }
    }
    assert_eq!(f.pixel(0, 10 * 16 + 12), BLACK);
    // Blink off (attribute mode control bit 3 clear): bit 7 is background intensity.
    inb(&mut vga, STATUS1_COLOR);
    out(&mut vga, AC_WRITE, 0x30);
    out(&mut vga, AC_WRITE, 0x04);
    let f = rendered(&mut vga);
    assert_cell(
        &f,
        (5, 2),
        &glyphs[usize::from(b'!')],
        LIGHT_GREY,
        0x55_55FF,
    );
    // Switching the cursor off removes it.
    vga.io_write(CRTC_INDEX_COLOR, 2, 0x200A);
    let f = rendered(&mut vga);
    assert_eq!(f.pixel(0, 10 * 16 + 13), BLACK);
}

#[test]
fn the_text_screen_holds_each_cells_character_colours_and_the_cursor() {
    let mut vga = Vga::new();
    vga.window_write(0xB_8000 + 2 * (80 + 2), b'A');
    vga.window_write(0xB_8000 + 2 * (80 + 2) + 1, 0x1E);
    vga.io_write(CRTC_INDEX_COLOR, 2, 0x000E);
    vga.io_write(CRTC_INDEX_COLOR, 2, 0x520F); // the cursor at cell 82: row 1, column 2
    let screen = vga.text_screen().expect("mode 3 is a text mode");
    assert_eq!((screen.cols, screen.rows), (80, 25));
    let cell = screen.cell(2, 1);
    assert_eq!((cell.ch, cell.fg, cell.bg), (b'A', YELLOW, BLUE));
    assert_eq!(screen.cell(0, 0).fg, BLACK, "attribute 0");
    assert_eq!(screen.cursor, Some((2, 1)));
    // A graphics mode has no text screen.
    set_mode(&mut vga, &MODE_13H);
    assert_eq!(vga.text_screen(), None);
}

#[test]
fn line_graphics_characters_fill_the_ninth_column() {
    let mut vga = Vga::new();
    vga.window_write(0xB_8000, 0xC4); // horizontal line
    vga.window_write(0xB_8001, 0x07);
    vga.window_write(0xB_8002, b'-');
    vga.window_write(0xB_8003, 0x07);
    let f = rendered(&mut vga);
    let glyphs = glyphs_8x16();
    let line = (0..16)
        .find(|&l| glyphs[0xC4][l] & 1 != 0)
        .expect("a line touching the right edge");
    assert_eq!(f.pixel(8, line), LIGHT_GREY, "0xC4 extends into column 9");
    assert!((0..16).all(|l| f.pixel(17, l) == BLACK), "'-' does not");
}

#[test]
fn an_80x50_text_mode_uses_the_8x8_font_from_plane_2() {
    let mut vga = Vga::new();
    vga.load_font(&GLYPHS_8X8, 0);
    vga.io_write(CRTC_INDEX_COLOR, 2, 0x0709); // 8 scan lines per row
    vga.window_write(0xB_8000 + 2 * (49 * 80 + 79), b'W');
    vga.window_write(0xB_8000 + 2 * (49 * 80 + 79) + 1, 0x0E);
    let f = rendered(&mut vga);
    assert_eq!((f.width, f.height), (720, 400));
    for (line, &bits) in GLYPHS_8X8[usize::from(b'W')].iter().enumerate() {
        for x in 0..8 {
            let on = bits & (0x80 >> x) != 0;
            let want = if on { YELLOW } else { BLACK };
            assert_eq!(
                f.pixel(79 * 9 + x, 49 * 8 + line),
                want,
                "line {line} x {x}"
            );
        }
    }
}

#[test]
fn mode_13h_shows_a_byte_per_pixel_through_the_dac() {
    let mut vga = Vga::new();
    set_mode(&mut vga, &MODE_13H);
    set_dac(&mut vga, 0x21, [0x3F, 0x20, 0x00]);
    let at = |x: u64, y: u64| 0xA_0000 + y * 320 + x;
    vga.window_write(at(0, 0), 0x21);
    vga.window_write(at(319, 199), 0x21);
    vga.window_write(at(100, 50), 0x01);
    let f = rendered(&mut vga);
    assert_eq!((f.width, f.height), (320, 200));
    assert_eq!(f.pixel(0, 0), 0xFF_8200);
    assert_eq!(f.pixel(319, 199), 0xFF_8200);
    assert_eq!(f.pixel(100, 50), BLUE, "DAC entry 1 keeps the EGA blue");
    assert_eq!(f.pixel(1, 0), BLACK);
}

#[test]
fn mode_12h_shows_four_planes_as_sixteen_colours() {
    let mut vga = Vga::new();
    set_mode(&mut vga, &MODE_12H);
    // Write mode 2: colour 0xE (yellow) at pixel (9, 479).
    vga.io_write(GC_INDEX, 2, 0x0205);
    vga.io_write(GC_INDEX, 2, 0x4008);
    let at = 0xA_0000 + 479 * 80 + 1;
    vga.window_read(at);
    vga.window_write(at, 0x0E);
    let f = rendered(&mut vga);
    assert_eq!((f.width, f.height), (640, 480));
    assert_eq!(f.pixel(9, 479), YELLOW);
    assert_eq!(f.pixel(8, 479), BLACK);
    assert_eq!(f.pixel(10, 479), BLACK);
}

#[test]
fn vbe_modes_draw_the_linear_framebuffer_at_every_depth() {
    let mut vga = Vga::new();
    assert_eq!(vbe_get(&mut vga, vbe_reg::ID), 0xB0C5);
    vbe(&mut vga, vbe_reg::ID, 0xB0C2);
    assert_eq!(vbe_get(&mut vga, vbe_reg::ID), 0xB0C2);
    vbe(&mut vga, vbe_reg::ID, 0x1234);
    assert_eq!(
        vbe_get(&mut vga, vbe_reg::ID),
        0xB0C2,
        "unknown versions are refused"
    );
    assert_eq!(vbe_get(&mut vga, vbe_reg::VIDEO_MEMORY_64K), 256);
    vbe(&mut vga, vbe_reg::ENABLE, GETCAPS);
    assert_eq!(vbe_get(&mut vga, vbe_reg::BPP), 32);
    assert!(vbe_get(&mut vga, vbe_reg::XRES) >= 1024);
    for (bpp, pixel, want) in [
        (32u16, 0x0012_3456u32, 0x12_3456u32),
        (24, 0x12_3456, 0x12_3456),
        (16, 0xF800, 0xFF_0000),
        (15, 0x03E0, 0x00_FF00),
        (8, 0x01, BLUE),
    ] {
        vbe(&mut vga, vbe_reg::ENABLE, 0);
        vbe(&mut vga, vbe_reg::XRES, 1024);
        vbe(&mut vga, vbe_reg::YRES, 768);
        vbe(&mut vga, vbe_reg::BPP, bpp);
        vbe(&mut vga, vbe_reg::ENABLE, ENABLED | LFB_ENABLED);
        let bytes = u64::from(bpp.div_ceil(8));
        let at = (767 * 1024 + 1023) * bytes;
        vga.lfb_write(at, bytes as u8, u64::from(pixel));
        assert_eq!(vga.lfb_read(at, bytes as u8), u64::from(pixel));
        let f = rendered(&mut vga);
        assert_eq!((f.width, f.height), (1024, 768), "{bpp} bpp");
        assert_eq!(f.pixel(1023, 767), want, "{bpp} bpp");
        assert_eq!(f.pixel(0, 0), BLACK, "{bpp} bpp");
    }
    // Resolution changes wait for the mode to be off.
    vbe(&mut vga, vbe_reg::XRES, 640);
    assert_eq!(vbe_get(&mut vga, vbe_reg::XRES), 1024);
}

#[test]
fn vbe_virtual_screens_offsets_banks_and_noclearmem() {
    let mut vga = Vga::new();
    vbe(&mut vga, vbe_reg::XRES, 640);
    vbe(&mut vga, vbe_reg::YRES, 480);
    vbe(&mut vga, vbe_reg::BPP, 32);
    vga.lfb_write(0, 4, 0x00AB_CDEF);
    vbe(&mut vga, vbe_reg::ENABLE, ENABLED | NOCLEARMEM);
    assert_eq!(vga.lfb_read(0, 4), 0x00AB_CDEF, "kept");
    assert_eq!(vbe_get(&mut vga, vbe_reg::VIRT_WIDTH), 640);
    assert_eq!(
        usize::from(vbe_get(&mut vga, vbe_reg::VIRT_HEIGHT)),
        VRAM_SIZE / (640 * 4)
    );
    // The window at A0000 shows bank 1: bytes 64 KiB on.
    vbe(&mut vga, vbe_reg::BANK, 1);
    vga.window_write(0xA_0000, 0x5A);
    assert_eq!(vga.lfb_read(0x1_0000, 1), 0x5A);
    assert_eq!(vga.window_read(0xA_0000), 0x5A);
    // A wider virtual screen panned to (8, 2).
    vbe(&mut vga, vbe_reg::VIRT_WIDTH, 1024);
    vbe(&mut vga, vbe_reg::X_OFFSET, 8);
    vbe(&mut vga, vbe_reg::Y_OFFSET, 2);
    vga.lfb_write((2 * 1024 + 8) * 4, 4, 0x0011_2233);
    let f = rendered(&mut vga);
    assert_eq!((f.width, f.height), (640, 480));
    assert_eq!(f.pixel(0, 0), 0x11_2233);
    vbe(&mut vga, vbe_reg::ENABLE, 0);
    vbe(&mut vga, vbe_reg::ENABLE, ENABLED);
    assert_eq!(vga.lfb_read(0, 4), 0, "cleared without NOCLEARMEM");
    assert_eq!(vga.lfb_read(VRAM_SIZE as u64, 1), 0xFF, "past the end");
}

#[test]
fn a_render_redraws_only_rows_whose_memory_changed() {
    let mut vga = Vga::new();
    let mut f = Frame::default();
    assert!(vga.render(&mut f), "the first render draws");
    let g = vga.generation();
    assert!(!vga.render(&mut f), "nothing changed");
    assert_eq!(vga.generation(), g);
    // Scribble over rows 0 and 20 of the frame, then change a cell of row 20: only row 20 is redrawn.
    f.pixels[0] = 0x123456;
    f.pixels[20 * 16 * 720] = 0x123456;
    vga.window_write(0xB_8000 + 2 * 20 * 80, b'X');
    vga.window_write(0xB_8000 + 2 * 20 * 80 + 1, 0x07);
    assert!(vga.generation() > g);
    assert!(vga.render(&mut f));
    assert_eq!(f.pixels[0], 0x123456, "row 0 was not redrawn");
    assert_ne!(f.pixel(0, 20 * 16), 0x123456, "row 20 was");
    // Writing the same byte again changes nothing.
    let g = vga.generation();
    vga.window_write(0xB_8000 + 2 * 20 * 80, b'X');
    assert_eq!(vga.generation(), g);
    // A palette change redraws everything.
    set_dac(&mut vga, 0, [0x3F, 0, 0]);
    assert!(vga.render(&mut f));
    assert_eq!(f.pixels[0], 0xFF_0000);
}

#[test]
fn a_screen_being_reprogrammed_is_black() {
    let mut vga = Vga::new();
    vga.window_write(0xB_8000, 0xDB);
    vga.window_write(0xB_8001, 0x0F);
    assert_eq!(rendered(&mut vga).pixel(0, 0), 0xFF_FFFF);
    inb(&mut vga, STATUS1_COLOR);
    out(&mut vga, AC_WRITE, 0x00); // palette address source clear
    let f = rendered(&mut vga);
    assert_eq!((f.width, f.height), (720, 400));
    assert!(f.pixels.iter().all(|&p| p == BLACK));
}

#[test]
fn any_register_values_render_without_panicking() {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut f = Frame::default();
    for _ in 0..300 {
        let mut vga = Vga::new();
        for _ in 0..64 {
            let r = next();
            let port = [
                SEQ_INDEX,
                GC_INDEX,
                CRTC_INDEX_COLOR,
                AC_WRITE,
                MISC_WRITE,
                VBE_INDEX,
            ][(r % 6) as usize];
            if port == VBE_INDEX {
                vbe(&mut vga, (r >> 8) as u16 % 11, (r >> 24) as u16);
            } else {
                vga.io_write(port, 2, (r >> 8) as u32 & 0xFFFF);
            }
            vga.window_write(0xA_0000 + (r >> 40) % 0x2_0000, (r >> 32) as u8);
        }
        vga.render(&mut f);
        assert_eq!(f.pixels.len(), f.width * f.height);
    }
}
