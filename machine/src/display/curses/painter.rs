//! Draws [`TextScreen`]s on an ANSI terminal (24-bit colour escapes), sending only the cells that changed since
//! the last picture, as QEMU's curses display does through curses itself.

use super::cp437;
use std::fmt::Write as _;
use vx86_devices::{TextCell, TextScreen};

/// The terminal's picture as last drawn, to send the differences.
#[derive(Default)]
pub struct TerminalPainter {
    shown: Option<TextScreen>,
}

impl TerminalPainter {
    /// A painter for a terminal whose content is unknown (the first picture is drawn whole).
    pub fn new() -> TerminalPainter {
        TerminalPainter::default()
    }

    /// The escape sequences and text that turn the terminal's picture into `screen`: everything after a clear
    /// when the size changed (or the first time), else only the changed cells; then the cursor.
    pub fn paint(&mut self, screen: &TextScreen) -> String {
        let mut out = String::new();
        let previous = self
            .shown
            .take()
            .filter(|s| s.cols == screen.cols && s.rows == screen.rows);
        if previous.is_none() {
            out.push_str("\x1b[0m\x1b[2J");
        }
        // Where the terminal's cursor is after the last character written, and the colours it writes with.
        let mut at: Option<(usize, usize)> = None;
        let mut pen: Option<(u32, u32)> = None;
        for row in 0..screen.rows {
            for col in 0..screen.cols {
                let cell = screen.cell(col, row);
                if previous.as_ref().is_some_and(|p| p.cell(col, row) == cell) {
                    continue;
                }
                if at != Some((col, row)) {
                    let _ = write!(out, "\x1b[{};{}H", row + 1, col + 1);
                }
                if pen != Some((cell.fg, cell.bg)) {
                    set_colours(&mut out, cell);
                    pen = Some((cell.fg, cell.bg));
                }
                out.push(cp437::to_char(cell.ch));
                at = (col + 1 < screen.cols).then_some((col + 1, row));
            }
        }
        match screen.cursor {
            Some((col, row)) => {
                let _ = write!(out, "\x1b[{};{}H\x1b[?25h", row + 1, col + 1);
            }
            None => out.push_str("\x1b[?25l"),
        }
        self.shown = Some(screen.clone());
        out
    }
}

fn set_colours(out: &mut String, cell: TextCell) {
    let rgb = |c: u32| (c >> 16 & 0xFF, c >> 8 & 0xFF, c & 0xFF);
    let (fr, fg, fb) = rgb(cell.fg);
    let (br, bg, bb) = rgb(cell.bg);
    let _ = write!(out, "\x1b[38;2;{fr};{fg};{fb};48;2;{br};{bg};{bb}m");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn screen_with(text: &str, at: (usize, usize), fg: u32) -> TextScreen {
        let mut s = TextScreen::blank(10, 3);
        for (k, b) in text.bytes().enumerate() {
            s.cells[at.1 * s.cols + at.0 + k] = TextCell { ch: b, fg, bg: 0 };
        }
        s
    }

    #[test]
    fn the_first_picture_is_drawn_whole_after_a_clear_with_colours_and_cursor() {
        let mut s = screen_with("Hi", (0, 0), 0xFF_FFFF);
        s.cursor = Some((2, 0));
        let out = TerminalPainter::new().paint(&s);
        assert!(out.starts_with("\x1b[0m\x1b[2J\x1b[1;1H"), "{out:?}");
        assert!(
            out.contains("\x1b[38;2;255;255;255;48;2;0;0;0mHi"),
            "{out:?}"
        );
        assert!(
            out.contains("\x1b[38;2;170;170;170;48;2;0;0;0m "),
            "{out:?}"
        );
        // 30 cells: each row starts with a move, the rest follow on.
        assert_eq!(out.matches('H').count(), 1 + 3 + 1, "{out:?}");
        assert!(out.ends_with("\x1b[1;3H\x1b[?25h"), "{out:?}");
    }

    #[test]
    fn later_pictures_send_only_the_changed_cells_and_hide_a_disabled_cursor() {
        let mut p = TerminalPainter::new();
        p.paint(&screen_with("Hi", (0, 0), 0xAA_AAAA));
        let out = p.paint(&screen_with("Ho", (0, 0), 0xAA_AAAA));
        assert_eq!(out, "\x1b[1;2H\x1b[38;2;170;170;170;48;2;0;0;0mo\x1b[?25l");
        let mut box_drawing = screen_with("Ho", (0, 0), 0xAA_AAAA);
        box_drawing.cells[25].ch = 0xC4;
        let out = p.paint(&box_drawing);
        assert!(out.contains("\x1b[3;6H") && out.contains('─'), "{out:?}");
        // A new size is a new picture.
        assert!(p.paint(&TextScreen::blank(80, 25)).contains("\x1b[2J"));
    }
}
