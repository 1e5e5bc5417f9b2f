//! RFB wire formats (RFC 6143): the pixel format, the client's messages, and the numbers both sides agree on.

use std::io::{self, Read};

/// Encoding: raw pixels.
pub const ENCODING_RAW: i32 = 0;
/// Encoding: ZRLE (zlib-compressed 64x64 tiles, run-length and palette coded).
pub const ENCODING_ZRLE: i32 = 16;
/// Pseudo-encoding: the client follows a change of the framebuffer size.
pub const ENCODING_DESKTOP_SIZE: i32 = -223;

/// Client message: SetPixelFormat.
const MSG_SET_PIXEL_FORMAT: u8 = 0;
/// Client message: SetEncodings.
const MSG_SET_ENCODINGS: u8 = 2;
/// Client message: FramebufferUpdateRequest.
const MSG_UPDATE_REQUEST: u8 = 3;
/// Client message: KeyEvent.
const MSG_KEY_EVENT: u8 = 4;
/// Client message: PointerEvent.
const MSG_POINTER_EVENT: u8 = 5;
/// Client message: ClientCutText.
const MSG_CLIENT_CUT_TEXT: u8 = 6;
/// Server message: FramebufferUpdate.
pub const MSG_FRAMEBUFFER_UPDATE: u8 = 0;

/// The most encodings a SetEncodings message may list (real clients send a few dozen).
const MAX_ENCODINGS: u16 = 1024;
/// The longest cut text accepted (it is read and dropped).
const MAX_CUT_TEXT: u32 = 1 << 20;

/// How the client wants pixels: RFC 6143's PIXEL_FORMAT (true colour only; vx86 serves no colour maps).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PixelFormat {
    /// Bits per pixel on the wire: 8, 16 or 32.
    pub bits_per_pixel: u8,
    /// Useful bits in a pixel.
    pub depth: u8,
    /// Multi-byte pixels are big-endian.
    pub big_endian: bool,
    /// Largest red value (2^n - 1).
    pub red_max: u16,
    /// Largest green value.
    pub green_max: u16,
    /// Largest blue value.
    pub blue_max: u16,
    /// Bit position of red.
    pub red_shift: u8,
    /// Bit position of green.
    pub green_shift: u8,
    /// Bit position of blue.
    pub blue_shift: u8,
}

/// Why a pixel format cannot be served.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PixelFormatError {
    /// A colour-map format.
    #[error("colour-map pixel formats are not supported (true colour only)")]
    ColourMap,
    /// Bits per pixel other than 8, 16 or 32.
    #[error("{0} bits per pixel is not an RFB pixel size (8, 16 or 32)")]
    BitsPerPixel(u8),
    /// A colour field that does not fit in the pixel.
    #[error("a colour field (max {max}, shift {shift}) does not fit in {bits} bits")]
    Field {
        /// Largest value.
        max: u16,
        /// Bit position.
        shift: u8,
        /// Pixel size.
        bits: u8,
    },
}

impl PixelFormat {
    /// The server's own format: 32 bits per pixel, depth 24, little-endian 0x00RRGGBB (what a frame holds).
    pub const NATIVE: PixelFormat = PixelFormat {
        bits_per_pixel: 32,
        depth: 24,
        big_endian: false,
        red_max: 255,
        green_max: 255,
        blue_max: 255,
        red_shift: 16,
        green_shift: 8,
        blue_shift: 0,
    };

    /// The 16 bytes of PIXEL_FORMAT.
    pub fn to_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0] = self.bits_per_pixel;
        b[1] = self.depth;
        b[2] = u8::from(self.big_endian);
        b[3] = 1; // true colour
        b[4..6].copy_from_slice(&self.red_max.to_be_bytes());
        b[6..8].copy_from_slice(&self.green_max.to_be_bytes());
        b[8..10].copy_from_slice(&self.blue_max.to_be_bytes());
        b[10] = self.red_shift;
        b[11] = self.green_shift;
        b[12] = self.blue_shift;
        b
    }

    /// Parses PIXEL_FORMAT, refusing formats vx86 cannot produce.
    pub fn from_bytes(b: &[u8; 16]) -> Result<PixelFormat, PixelFormatError> {
        if b[3] == 0 {
            return Err(PixelFormatError::ColourMap);
        }
        let format = PixelFormat {
            bits_per_pixel: b[0],
            depth: b[1],
            big_endian: b[2] != 0,
            red_max: u16::from_be_bytes([b[4], b[5]]),
            green_max: u16::from_be_bytes([b[6], b[7]]),
            blue_max: u16::from_be_bytes([b[8], b[9]]),
            red_shift: b[10],
            green_shift: b[11],
            blue_shift: b[12],
        };
        let bits = format.bits_per_pixel;
        if !matches!(bits, 8 | 16 | 32) {
            return Err(PixelFormatError::BitsPerPixel(bits));
        }
        for (max, shift) in [
            (format.red_max, format.red_shift),
            (format.green_max, format.green_shift),
            (format.blue_max, format.blue_shift),
        ] {
            let width = 16 - max.leading_zeros();
            if shift >= bits || u32::from(shift) + width > u32::from(bits) {
                return Err(PixelFormatError::Field { max, shift, bits });
            }
        }
        Ok(format)
    }

    /// Bytes per pixel on the wire.
    pub fn bytes_per_pixel(self) -> usize {
        usize::from(self.bits_per_pixel / 8)
    }

    /// A frame pixel (0x00RRGGBB) as this format's pixel value.
    pub fn value(self, rgb: u32) -> u32 {
        let scale = |c: u32, max: u16| (c * u32::from(max) + 127) / 255;
        let (r, g, b) = ((rgb >> 16) & 0xFF, (rgb >> 8) & 0xFF, rgb & 0xFF);
        (scale(r, self.red_max) << self.red_shift)
            | (scale(g, self.green_max) << self.green_shift)
            | (scale(b, self.blue_max) << self.blue_shift)
    }

    /// Appends a pixel value's bytes in this format's size and byte order.
    pub fn put(self, value: u32, out: &mut Vec<u8>) {
        let n = self.bytes_per_pixel();
        if self.big_endian {
            out.extend_from_slice(&value.to_be_bytes()[4 - n..]);
        } else {
            out.extend_from_slice(&value.to_le_bytes()[..n]);
        }
    }
}

/// A rectangle of the framebuffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    /// Left column.
    pub x: usize,
    /// Top row.
    pub y: usize,
    /// Width in pixels.
    pub width: usize,
    /// Height in rows.
    pub height: usize,
}

/// A message from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientMessage {
    /// SetPixelFormat.
    SetPixelFormat(PixelFormat),
    /// SetEncodings, in the client's order of preference.
    SetEncodings(Vec<i32>),
    /// FramebufferUpdateRequest.
    UpdateRequest {
        /// Only what changed since the last update is wanted.
        incremental: bool,
        /// The region the client wants.
        region: Rect,
    },
    /// KeyEvent: an X keysym went down or up.
    Key {
        /// Pressed (true) or released.
        down: bool,
        /// The X keysym.
        keysym: u32,
    },
    /// PointerEvent: the pointer's absolute position and the buttons held (bit 0 left, 1 middle, 2 right, 3-4
    /// the wheel).
    Pointer {
        /// Buttons held.
        buttons: u8,
        /// Column.
        x: u16,
        /// Row.
        y: u16,
    },
    /// ClientCutText (its text is dropped).
    CutText,
}

/// Why a client's message cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// The connection failed or closed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// A message type RFB does not define (or vx86 does not serve).
    #[error("unknown client message type {0}")]
    UnknownType(u8),
    /// A pixel format vx86 cannot produce.
    #[error(transparent)]
    PixelFormat(#[from] PixelFormatError),
    /// A length beyond what any real client sends.
    #[error("{what} of {len} is too long")]
    TooLong {
        /// What was too long.
        what: &'static str,
        /// Its length.
        len: u32,
    },
}

fn read_array<const N: usize>(r: &mut impl Read) -> io::Result<[u8; N]> {
    let mut b = [0u8; N];
    r.read_exact(&mut b)?;
    Ok(b)
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

impl ClientMessage {
    /// Reads one message.
    pub fn read(r: &mut impl Read) -> Result<ClientMessage, MessageError> {
        let [kind] = read_array::<1>(r)?;
        Ok(match kind {
            MSG_SET_PIXEL_FORMAT => {
                let b = read_array::<19>(r)?;
                let format: [u8; 16] = b[3..].try_into().expect("16 bytes");
                ClientMessage::SetPixelFormat(PixelFormat::from_bytes(&format)?)
            }
            MSG_SET_ENCODINGS => {
                let b = read_array::<3>(r)?;
                let count = be16(&b[1..]);
                if count > MAX_ENCODINGS {
                    return Err(MessageError::TooLong {
                        what: "a list of encodings",
                        len: u32::from(count),
                    });
                }
                let mut encodings = Vec::with_capacity(usize::from(count));
                for _ in 0..count {
                    encodings.push(i32::from_be_bytes(read_array::<4>(r)?));
                }
                ClientMessage::SetEncodings(encodings)
            }
            MSG_UPDATE_REQUEST => {
                let b = read_array::<9>(r)?;
                ClientMessage::UpdateRequest {
                    incremental: b[0] != 0,
                    region: Rect {
                        x: usize::from(be16(&b[1..])),
                        y: usize::from(be16(&b[3..])),
                        width: usize::from(be16(&b[5..])),
                        height: usize::from(be16(&b[7..])),
                    },
                }
            }
            MSG_KEY_EVENT => {
                let b = read_array::<7>(r)?;
                ClientMessage::Key {
                    down: b[0] != 0,
                    keysym: u32::from_be_bytes([b[3], b[4], b[5], b[6]]),
                }
            }
            MSG_POINTER_EVENT => {
                let b = read_array::<5>(r)?;
                ClientMessage::Pointer {
                    buttons: b[0],
                    x: be16(&b[1..]),
                    y: be16(&b[3..]),
                }
            }
            MSG_CLIENT_CUT_TEXT => {
                let b = read_array::<7>(r)?;
                let len = u32::from_be_bytes([b[3], b[4], b[5], b[6]]);
                if len > MAX_CUT_TEXT {
                    return Err(MessageError::TooLong {
                        what: "cut text",
                        len,
                    });
                }
                io::copy(&mut r.take(u64::from(len)), &mut io::sink())?;
                ClientMessage::CutText
            }
            other => return Err(MessageError::UnknownType(other)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_formats_convert_and_refuse_what_does_not_fit() {
        let rgb565 = PixelFormat {
            bits_per_pixel: 16,
            depth: 16,
            big_endian: true,
            red_max: 31,
            green_max: 63,
            blue_max: 31,
            red_shift: 11,
            green_shift: 5,
            blue_shift: 0,
        };
        assert_eq!(PixelFormat::from_bytes(&rgb565.to_bytes()), Ok(rgb565));
        assert_eq!(rgb565.value(0x00FF_0000), 0xF800);
        assert_eq!(rgb565.value(0x0000_FF00), 0x07E0);
        let mut out = Vec::new();
        rgb565.put(0xF800, &mut out);
        PixelFormat::NATIVE.put(0x0012_3456, &mut out);
        assert_eq!(out, [0xF8, 0x00, 0x56, 0x34, 0x12, 0x00]);
        let mut bad = rgb565.to_bytes();
        bad[10] = 12; // red would reach bit 16
        assert!(matches!(
            PixelFormat::from_bytes(&bad),
            Err(PixelFormatError::Field { .. })
        ));
        bad = rgb565.to_bytes();
        bad[8..10].fill(0); // blue max 0, shifted out of the pixel
        bad[12] = 16;
        assert!(matches!(
            PixelFormat::from_bytes(&bad),
            Err(PixelFormatError::Field { .. })
        ));
        bad = rgb565.to_bytes();
        bad[3] = 0;
        assert_eq!(
            PixelFormat::from_bytes(&bad),
            Err(PixelFormatError::ColourMap)
        );
        bad[3] = 1;
        bad[0] = 24;
        assert_eq!(
            PixelFormat::from_bytes(&bad),
            Err(PixelFormatError::BitsPerPixel(24))
        );
    }

    #[test]
    fn messages_parse_and_bad_ones_are_errors() {
        let bytes = [
            3, 1, 0, 1, 0, 2, 0, 3, 0, 4, // update request
            4, 1, 0, 0, 0, 0, 0xFF, 0x0D, // key down Return
            6, 0, 0, 0, 0, 0, 0, 2, b'h', b'i', // cut text
            5, 4, 0, 10, 0, 20, // pointer
            2, 0, 0, 2, 0, 0, 0, 16, 0xFF, 0xFF, 0xFF, 0x21, // encodings
            9,    // unknown
        ];
        let mut r = &bytes[..];
        let mut next = || ClientMessage::read(&mut r);
        assert_eq!(
            next().unwrap(),
            ClientMessage::UpdateRequest {
                incremental: true,
                region: Rect {
                    x: 1,
                    y: 2,
                    width: 3,
                    height: 4
                }
            }
        );
        assert_eq!(
            next().unwrap(),
            ClientMessage::Key {
                down: true,
                keysym: 0xFF0D
            }
        );
        assert_eq!(next().unwrap(), ClientMessage::CutText);
        assert_eq!(
            next().unwrap(),
            ClientMessage::Pointer {
                buttons: 4,
                x: 10,
                y: 20
            }
        );
        assert_eq!(next().unwrap(), ClientMessage::SetEncodings(vec![16, -223]));
        assert!(matches!(next(), Err(MessageError::UnknownType(9))));
        assert!(matches!(next(), Err(MessageError::Io(_))));
    }
}
