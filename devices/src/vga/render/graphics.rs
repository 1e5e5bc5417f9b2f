//! Graphics modes: 16-colour planar (a pixel's four bits from the same bit of the four planes), 256-colour (a byte
//! a pixel, through the DAC) and Bochs VBE's packed-pixel modes from the linear framebuffer.

use super::Lines;
use crate::vga::vbe::VbeMode;
use crate::vga::Vga;

/// Video memory the legacy modes address: four planes of 64 KiB.
const LEGACY_VRAM: usize = 0x4_0000;

/// Draws the changed lines of a 16-colour planar mode (mode 12h).
pub(super) fn draw_planar(vga: &Vga, lines: &mut Lines) {
    let colors: [u32; 16] = std::array::from_fn(|c| vga.dac.rgb(vga.attribute.dac_index(c as u8)));
    let (width, height) = (lines.frame.width, lines.frame.height);
    let line_bytes = vga.crtc.offset() * 2;
    for y in 0..height {
        let first = vga.crtc.start_address() + y * line_bytes;
        if !lines.needs(vga, 4 * first..4 * (first + width.div_ceil(8))) {
            continue;
        }
        let row = &mut lines.frame.pixels[y * width..(y + 1) * width];
        for (x, px) in row.iter_mut().enumerate() {
            let at = (4 * (first + x / 8)) % LEGACY_VRAM;
            let bit = 7 - (x % 8);
            let color = (0..4).fold(0, |c, p| c | ((vga.vram[at + p] >> bit) & 1) << p);
            *px = colors[usize::from(color)];
        }
        lines.drawn = true;
    }
}

/// Draws the changed lines of a 256-colour mode (mode 13h and its unchained variants).
pub(super) fn draw_256(vga: &Vga, lines: &mut Lines) {
    let (width, height) = (lines.frame.width, lines.frame.height);
    let line_bytes = vga.crtc.offset() * 8;
    for y in 0..height {
        let first = 4 * vga.crtc.start_address() + y * line_bytes;
        if !lines.needs(vga, first..first + width) {
            continue;
        }
        let row = &mut lines.frame.pixels[y * width..(y + 1) * width];
        for (x, px) in row.iter_mut().enumerate() {
            *px = vga.dac.rgb(vga.vram[(first + x) % LEGACY_VRAM]);
        }
        lines.drawn = true;
    }
}

/// Draws the changed lines of a Bochs VBE mode.
pub(super) fn draw_vbe(vga: &Vga, mode: VbeMode, lines: &mut Lines) {
    let width = lines.frame.width;
    let bytes = usize::from(mode.bpp).div_ceil(8);
    for y in 0..lines.frame.height {
        let first = mode.start + y * mode.stride;
        let span = first..first + width * bytes;
        if !lines.needs(vga, span.clone()) {
            continue;
        }
        let src = &vga.vram[span];
        let row = &mut lines.frame.pixels[y * width..(y + 1) * width];
        for (px, p) in row.iter_mut().zip(src.chunks_exact(bytes)) {
            *px = match mode.bpp {
                8 => vga.dac.rgb(p[0]),
                15 => rgb555(u16::from_le_bytes([p[0], p[1]])),
                16 => rgb565(u16::from_le_bytes([p[0], p[1]])),
                _ => u32::from(p[2]) << 16 | u32::from(p[1]) << 8 | u32::from(p[0]),
            };
        }
        lines.drawn = true;
    }
}

/// A 5-bit or 6-bit component widened to 8 bits.
fn widen(v: u16, bits: u32) -> u32 {
    let v = u32::from(v);
    (v << (8 - bits)) | (v >> (2 * bits - 8))
}

/// xRRRRRGGGGGBBBBB to 0x00RRGGBB.
fn rgb555(p: u16) -> u32 {
    widen((p >> 10) & 0x1F, 5) << 16 | widen((p >> 5) & 0x1F, 5) << 8 | widen(p & 0x1F, 5)
}

/// RRRRRGGGGGGBBBBB to 0x00RRGGBB.
fn rgb565(p: u16) -> u32 {
    widen(p >> 11, 5) << 16 | widen((p >> 5) & 0x3F, 6) << 8 | widen(p & 0x1F, 5)
}
