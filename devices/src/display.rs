//! What a display shows and sends back: the [`Frame`] a graphics adapter renders its screen into, the
//! [`TextScreen`] of a text mode (for front ends that draw characters, not pixels), and the [`InputEvent`]s a
//! display front end (terminal, VNC client) delivers to the keyboard controller.

/// A picture of the guest's screen: `width` x `height` pixels, row by row from the top left, each 0x00RRGGBB.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frame {
    /// Pixels per row.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// `width * height` pixels, 0x00RRGGBB.
    pub pixels: Vec<u32>,
}

impl Frame {
    /// A black frame of `width` x `height`.
    pub fn new(width: usize, height: usize) -> Self {
        Frame {
            width,
            height,
            pixels: vec![0; width * height],
        }
    }

    /// Changes the size, keeping no old content (all black), when it differs; returns whether it did.
    pub fn resize(&mut self, width: usize, height: usize) -> bool {
        if self.width == width && self.height == height {
            return false;
        }
        *self = Frame::new(width, height);
        true
    }

    /// The pixel at column `x`, row `y`.
    pub fn pixel(&self, x: usize, y: usize) -> u32 {
        self.pixels[y * self.width + x]
    }

    /// One row of pixels.
    pub fn row(&self, y: usize) -> &[u32] {
        &self.pixels[y * self.width..(y + 1) * self.width]
    }
}

/// One character cell: the byte (code page 437) and its colours as 0x00RRGGBB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TextCell {
    /// The character, a code page 437 byte.
    pub ch: u8,
    /// Foreground colour, 0x00RRGGBB.
    pub fg: u32,
    /// Background colour, 0x00RRGGBB.
    pub bg: u32,
}

/// A text screen of `cols` x `rows` cells, row by row, and where the cursor shows (if it does).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TextScreen {
    /// Columns.
    pub cols: usize,
    /// Rows.
    pub rows: usize,
    /// `cols * rows` cells, row by row from the top left.
    pub cells: Vec<TextCell>,
    /// The cursor's (column, row) when it is enabled and on the screen.
    pub cursor: Option<(usize, usize)>,
}

impl TextScreen {
    /// A blank screen (spaces, light grey on black, as a PC's text screen after a clear).
    pub fn blank(cols: usize, rows: usize) -> TextScreen {
        let cell = TextCell {
            ch: b' ',
            fg: 0xAA_AAAA,
            bg: 0,
        };
        TextScreen {
            cols,
            rows,
            cells: vec![cell; cols * rows],
            cursor: None,
        }
    }

    /// The cell at column `col`, row `row`.
    pub fn cell(&self, col: usize, row: usize) -> TextCell {
        self.cells[row * self.cols + col]
    }
}

/// Input from a display front end, for the i8042's keyboard and mouse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputEvent {
    /// A key went down or up: `scancode` is the PC's scan code set 1 make code, with 0xE0 in the high byte for the
    /// extended keys (0xE048 is the cursor-up key).
    Key {
        /// Set 1 make code (0xE0xx for extended keys).
        scancode: u16,
        /// Pressed (true) or released.
        down: bool,
    },
    /// The pointer moved by (`dx`, `dy`) pixels (`dy` positive downwards) with these `buttons` held (bit 0 left,
    /// bit 1 right, bit 2 middle).
    Pointer {
        /// Horizontal movement, positive to the right.
        dx: i32,
        /// Vertical movement, positive downwards.
        dy: i32,
        /// Buttons held: bit 0 left, bit 1 right, bit 2 middle.
        buttons: u8,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_addresses_pixels_row_by_row_and_resizes_to_black() {
        let mut f = Frame::new(3, 2);
        f.pixels[4] = 0x00FF_0000;
        assert_eq!(f.pixel(1, 1), 0x00FF_0000);
        assert_eq!(f.row(1), &[0, 0x00FF_0000, 0]);
        assert!(!f.resize(3, 2));
        assert_eq!(f.pixel(1, 1), 0x00FF_0000);
        assert!(f.resize(4, 2));
        assert_eq!(f.pixels, vec![0; 8]);
    }
}
