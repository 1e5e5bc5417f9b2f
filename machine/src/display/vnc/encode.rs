//! Rectangle encodings: Raw, and ZRLE (RFC 6143 section 7.7.6) with one zlib stream per connection.
//!
//! ZRLE cuts a rectangle into 64x64 tiles and codes each as one colour (solid), as indices into a palette of 2-16
//! colours packed into 1, 2 or 4 bits, or as raw pixels when it has more colours. Text screens and desktops are
//! mostly tiles of a few colours, which the palette codes in a bit or four per pixel before zlib sees them.

use super::protocol::{PixelFormat, Rect};
use flate2::write::ZlibEncoder;
use flate2::Compression;
use std::io::Write;
use vx86_devices::Frame;

/// Side of a ZRLE tile.
pub const ZRLE_TILE: usize = 64;
/// Subencoding: raw CPIXELs.
const SUB_RAW: u8 = 0;
/// Subencoding: one colour.
const SUB_SOLID: u8 = 1;
/// The most colours a packed-palette tile has.
const MAX_PALETTE: usize = 16;

/// Appends `rect` of `frame` as raw pixels in `format`.
pub fn raw(frame: &Frame, rect: Rect, format: PixelFormat, out: &mut Vec<u8>) {
    out.reserve(rect.width * rect.height * format.bytes_per_pixel());
    for y in rect.y..rect.y + rect.height {
        for &p in &frame.row(y)[rect.x..rect.x + rect.width] {
            format.put(format.value(p), out);
        }
    }
}

/// A connection's ZRLE state: its zlib stream, which lasts as long as the connection.
pub struct ZrleEncoder {
    stream: ZlibEncoder<Vec<u8>>,
}

impl Default for ZrleEncoder {
    fn default() -> Self {
        ZrleEncoder::new()
    }
}

impl ZrleEncoder {
    /// A fresh zlib stream.
    pub fn new() -> ZrleEncoder {
        ZrleEncoder {
            stream: ZlibEncoder::new(Vec::new(), Compression::fast()),
        }
    }

    /// Appends `rect` of `frame` ZRLE-encoded in `format`: the compressed length, then the zlib stream's bytes up
    /// to a sync flush.
    pub fn encode(&mut self, frame: &Frame, rect: Rect, format: PixelFormat, out: &mut Vec<u8>) {
        let mut tiles = Vec::new();
        for ty in (rect.y..rect.y + rect.height).step_by(ZRLE_TILE) {
            for tx in (rect.x..rect.x + rect.width).step_by(ZRLE_TILE) {
                let tile = Rect {
                    x: tx,
                    y: ty,
                    width: ZRLE_TILE.min(rect.x + rect.width - tx),
                    height: ZRLE_TILE.min(rect.y + rect.height - ty),
                };
                encode_tile(frame, tile, format, &mut tiles);
            }
        }
        // Writing to and flushing into a Vec cannot fail.
        let _ = self.stream.write_all(&tiles);
        let _ = self.stream.flush();
        let compressed = std::mem::take(self.stream.get_mut());
        out.extend_from_slice(&(compressed.len() as u32).to_be_bytes());
        out.extend_from_slice(&compressed);
    }
}

/// ZRLE's compressed pixel: three bytes for a 32-bit format whose colours fit in its low or high three bytes,
/// otherwise the whole pixel.
fn put_cpixel(format: PixelFormat, value: u32, out: &mut Vec<u8>) {
    let fits_low = value_bits(format) <= 0x00FF_FFFF;
    let fits_high = value_bits(format) & 0xFF == 0;
    if format.bits_per_pixel == 32 && format.depth <= 24 && (fits_low || fits_high) {
        let bytes = if format.big_endian {
            value.to_be_bytes()
        } else {
            value.to_le_bytes()
        };
        // The three bytes that carry colour sit first in memory for a little-endian pixel with its colour in the
        // low bytes, or a big-endian one with its colour in the high bytes.
        let first_three = fits_low != format.big_endian;
        out.extend_from_slice(if first_three {
            &bytes[..3]
        } else {
            &bytes[1..]
        });
    } else {
        format.put(value, out);
    }
}

/// Every bit a colour of `format` can set.
fn value_bits(format: PixelFormat) -> u32 {
    (u32::from(format.red_max) << format.red_shift)
        | (u32::from(format.green_max) << format.green_shift)
        | (u32::from(format.blue_max) << format.blue_shift)
}

/// Appends one tile: solid, packed palette or raw.
fn encode_tile(frame: &Frame, tile: Rect, format: PixelFormat, out: &mut Vec<u8>) {
    let mut palette: Vec<u32> = Vec::with_capacity(MAX_PALETTE);
    let mut values = Vec::with_capacity(tile.width * tile.height);
    for y in tile.y..tile.y + tile.height {
        for &p in &frame.row(y)[tile.x..tile.x + tile.width] {
            let v = format.value(p);
            values.push(v);
            if palette.len() <= MAX_PALETTE && !palette.contains(&v) {
                palette.push(v);
            }
        }
    }
    match palette.len() {
        1 => {
            out.push(SUB_SOLID);
            put_cpixel(format, palette[0], out);
        }
        n @ 2..=MAX_PALETTE => {
            out.push(n as u8);
            for &c in &palette {
                put_cpixel(format, c, out);
            }
            let bits = match n {
                2 => 1,
                3..=4 => 2,
                _ => 4,
            };
            for row in values.chunks(tile.width) {
                let mut byte = 0u8;
                let mut used = 0;
                for v in row {
                    let index = palette.iter().position(|c| c == v).unwrap_or(0) as u8;
                    byte |= index << (8 - bits - used);
                    used += bits;
                    if used == 8 {
                        out.push(byte);
                        byte = 0;
                        used = 0;
                    }
                }
                if used > 0 {
                    out.push(byte);
                }
            }
        }
        _ => {
            out.push(SUB_RAW);
            for &v in &values {
                put_cpixel(format, v, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpixels_are_three_bytes_for_24_bit_colour_in_32_bit_pixels() {
        let mut out = Vec::new();
        put_cpixel(PixelFormat::NATIVE, 0x0012_3456, &mut out);
        assert_eq!(out, [0x56, 0x34, 0x12]);
        let big_endian_high = PixelFormat {
            big_endian: true,
            red_shift: 24,
            green_shift: 16,
            blue_shift: 8,
            ..PixelFormat::NATIVE
        };
        out.clear();
        put_cpixel(big_endian_high, 0x1234_5600, &mut out);
        assert_eq!(out, [0x12, 0x34, 0x56]);
    }

    #[test]
    fn tiles_pick_solid_palette_or_raw() {
        let mut frame = Frame::new(3, 2);
        let tile = Rect {
            x: 0,
            y: 0,
            width: 3,
            height: 2,
        };
        let mut out = Vec::new();
        encode_tile(&frame, tile, PixelFormat::NATIVE, &mut out);
        assert_eq!(out, [SUB_SOLID, 0, 0, 0]);
        frame.pixels[1] = 0x00FF_FFFF;
        out.clear();
        encode_tile(&frame, tile, PixelFormat::NATIVE, &mut out);
        // Two colours, one bit per pixel, rows padded to a byte: 010 then 000.
        assert_eq!(out, [2, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0b0100_0000, 0]);
        let mut frame = Frame::new(17, 1);
        for (i, p) in frame.pixels.iter_mut().enumerate() {
            *p = i as u32;
        }
        out.clear();
        let row = Rect {
            x: 0,
            y: 0,
            width: 17,
            height: 1,
        };
        encode_tile(&frame, row, PixelFormat::NATIVE, &mut out);
        assert_eq!(out[0], SUB_RAW);
        assert_eq!(out.len(), 1 + 17 * 3);
    }
}
