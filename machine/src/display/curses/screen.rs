//! A text-mode screen as the VGA shows it: characters with their resolved colours, and the cursor.

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
