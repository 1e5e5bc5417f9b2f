//! Text modes: each character cell drawn from its glyph in plane 2, in the colours its attribute byte picks
//! through the attribute controller's palette and the DAC, plus the cursor.

use super::Lines;
use crate::display::{TextCell, TextScreen};
use crate::vga::font::GLYPH_STRIDE;
use crate::vga::Vga;

/// A text screen's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Characters per row.
    pub cols: usize,
    /// Character rows.
    pub rows: usize,
    /// Pixels per cell across (8 or 9).
    pub cell_width: usize,
    /// Scan lines per cell.
    pub cell_height: usize,
}

/// Planar bytes per character cell: the character in plane 0, the attribute in plane 1, every other offset.
const CELL_BYTES: usize = 2;
/// Planar bytes per plane in the legacy modes.
const PLANE_SIZE: usize = 0x1_0000;

/// Where the screen's cells are in video memory and where the cursor is.
struct Layout {
    /// The first cell shown (CRTC start address).
    start: usize,
    /// Cells from one row to the next (CRTC offset).
    cells_per_row: usize,
    /// The cursor's cell (counted from `start`) and first and last scan lines, when it shows on the screen.
    cursor: Option<(usize, usize, usize)>,
}

impl Layout {
    fn of(vga: &Vga, g: Geometry) -> Layout {
        let start = vga.crtc.start_address();
        let cells_per_row = (vga.crtc.offset() * 2).max(1);
        let cursor = vga.crtc.cursor().and_then(|(location, first, last)| {
            let cell = location.checked_sub(start)?;
            (cell % cells_per_row < g.cols && cell / cells_per_row < g.rows)
                .then_some((cell, first, last))
        });
        Layout {
            start,
            cells_per_row,
            cursor,
        }
    }
}

/// The 16 colours attributes pick, through the attribute controller's palette and the DAC.
fn colours(vga: &Vga) -> [u32; 16] {
    std::array::from_fn(|c| vga.dac.rgb(vga.attribute.dac_index(c as u8)))
}

/// The character, its attribute and its foreground and background colours at planar offset `offset`.
fn cell_at(vga: &Vga, colors: &[u32; 16], offset: usize) -> (u8, u8, u32, u32) {
    let offset = offset % PLANE_SIZE;
    let ch = vga.peek_plane(0, offset);
    let attr = vga.peek_plane(1, offset);
    let fg = colors[usize::from(attr & 0x0F)];
    let bg_index = if vga.attribute.blink() {
        (attr >> 4) & 0x07
    } else {
        attr >> 4
    };
    (ch, attr, fg, colors[usize::from(bg_index)])
}

/// The text screen as characters and colours, for front ends that draw text themselves.
pub(super) fn screen(vga: &Vga, g: Geometry) -> TextScreen {
    let layout = Layout::of(vga, g);
    let colors = colours(vga);
    let mut cells = Vec::with_capacity(g.cols * g.rows);
    for row in 0..g.rows {
        for col in 0..g.cols {
            let cell = layout.start + row * layout.cells_per_row + col;
            let (ch, _, fg, bg) = cell_at(vga, &colors, cell * CELL_BYTES);
            cells.push(TextCell { ch, fg, bg });
        }
    }
    TextScreen {
        cols: g.cols,
        rows: g.rows,
        cells,
        cursor: layout
            .cursor
            .map(|(cell, ..)| (cell % layout.cells_per_row, cell / layout.cells_per_row)),
    }
}

/// Draws the text rows that changed, and the rows the cursor left and entered.
pub(super) fn draw(vga: &mut Vga, g: Geometry, lines: &mut Lines) {
    let Layout {
        start,
        cells_per_row,
        cursor,
    } = Layout::of(vga, g);
    let cursor_moved = vga.drawn_cursor != cursor;
    let cursor_rows = [vga.drawn_cursor, cursor].map(|c| {
        c.filter(|_| cursor_moved)
            .map(|(cell, ..)| cell / cells_per_row)
    });
    let colors = colours(vga);
    for row in 0..g.rows {
        let first_cell = start + row * cells_per_row;
        let bytes = 4 * CELL_BYTES * first_cell..4 * CELL_BYTES * (first_cell + g.cols);
        if !lines.needs(vga, bytes) && !cursor_rows.contains(&Some(row)) {
            continue;
        }
        for col in 0..g.cols {
            let cell = row * cells_per_row + col;
            let shape = cursor.filter(|c| c.0 == cell).map(|(_, a, b)| (a, b));
            draw_cell(
                vga,
                g,
                &colors,
                (col, row),
                (start + cell) * CELL_BYTES,
                shape,
                lines,
            );
        }
        lines.drawn = true;
    }
    vga.drawn_cursor = cursor;
}

/// Draws the cell at (`col`, `row`) whose character is at planar offset `offset`, with the cursor's scan lines
/// `cursor` if it is there.
fn draw_cell(
    vga: &Vga,
    g: Geometry,
    colors: &[u32; 16],
    (col, row): (usize, usize),
    offset: usize,
    cursor: Option<(usize, usize)>,
    lines: &mut Lines,
) {
    let (ch, attr, fg, bg) = cell_at(vga, colors, offset);
    let (font_a, font_b) = vga.sequencer.font_offsets();
    let font = if attr & 0x08 != 0 { font_a } else { font_b };
    let ninth_repeats = vga.attribute.line_graphics() && (0xC0..=0xDF).contains(&ch);
    let width = lines.frame.width;
    for line in 0..g.cell_height {
        let mut bits =
            u16::from(vga.peek_plane(2, font + usize::from(ch) * GLYPH_STRIDE + line)) << 1;
        if ninth_repeats {
            bits |= (bits >> 1) & 1;
        }
        if cursor.is_some_and(|(first, last)| (first..=last).contains(&line)) {
            bits = 0x1FF;
        }
        let y = row * g.cell_height + line;
        let at = y * width + col * g.cell_width;
        for (x, px) in lines.frame.pixels[at..at + g.cell_width]
            .iter_mut()
            .enumerate()
        {
            *px = if bits & (0x100 >> x) != 0 { fg } else { bg };
        }
    }
}
