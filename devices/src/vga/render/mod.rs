//! Turning video memory into a [`Frame`]: which kind of picture the registers describe (text, 16-colour planar,
//! 256-colour, a Bochs VBE mode, or a blank screen), its size, and which lines need drawing again.
//!
//! Addressing follows the layout of [`super::memory`]; the CRTC's byte/word/doubleword address modes and the split
//! screen are not modelled: text is read as the standard text modes lay it out (a character every two planar bytes),
//! 16-colour modes as byte-mode planes, 256-colour modes as the chain-4 bytes.

mod graphics;
mod text;

use super::{Vga, VRAM_SIZE};
use crate::display::Frame;

/// The cursor as last drawn: the cell index from the start address and its scan lines.
pub type DrawnCursor = Option<(usize, usize, usize)>;

/// What the registers say the screen shows.
enum Screen {
    /// Nothing (the screen is off or the palette is being reprogrammed): black at this size.
    Blank(usize, usize),
    /// Text: columns, rows, cell width and height.
    Text(text::Geometry),
    /// A 16-colour planar mode of this size.
    Planar(usize, usize),
    /// A 256-colour mode of this size.
    Color256(usize, usize),
    /// A Bochs VBE mode.
    Vbe(super::vbe::VbeMode),
}

/// The picture the registers describe.
fn screen(vga: &Vga) -> Screen {
    if let Some(mode) = vga.vbe.mode() {
        return Screen::Vbe(fit_vbe(mode));
    }
    let crtc = &vga.crtc;
    let lines = crtc.display_lines();
    let screen = if !vga.attribute.graphics() {
        let cell_width = if vga.sequencer.eight_dot_chars() {
            8
        } else {
            9
        };
        let cell_height = crtc.char_height();
        Screen::Text(text::Geometry {
            cols: crtc.display_chars(),
            rows: lines / cell_height,
            cell_width,
            cell_height,
        })
    } else {
        let height = lines / crtc.char_height() / if crtc.double_scan() { 2 } else { 1 };
        if vga.graphics.shift_256() {
            Screen::Color256(crtc.display_chars() * 4, height)
        } else {
            Screen::Planar(crtc.display_chars() * 8, height)
        }
    };
    if vga.attribute.enabled() && !vga.sequencer.screen_off() {
        return screen;
    }
    let (w, h) = match screen {
        Screen::Text(g) => (g.cols * g.cell_width, g.rows * g.cell_height),
        Screen::Planar(w, h) | Screen::Color256(w, h) | Screen::Blank(w, h) => (w, h),
        Screen::Vbe(m) => (m.width, m.height),
    };
    Screen::Blank(w, h)
}

/// A VBE mode cut to the lines video memory holds.
fn fit_vbe(mut mode: super::vbe::VbeMode) -> super::vbe::VbeMode {
    let lines = VRAM_SIZE.saturating_sub(mode.start) / mode.stride.max(1);
    mode.height = mode.height.min(lines);
    if mode.height == 0 {
        mode.width = 0;
    }
    mode
}

/// The text screen of `vga` when it shows a text mode (see [`Vga::text_screen`]).
pub fn text_screen(vga: &Vga) -> Option<crate::display::TextScreen> {
    match screen(vga) {
        Screen::Text(g) => Some(text::screen(vga, g)),
        _ => None,
    }
}

/// Redraws `frame` from `vga` (see [`Vga::render`]).
pub fn render(vga: &mut Vga, frame: &mut Frame) -> bool {
    let (dirty, changed) = vga.take_changes();
    let screen = screen(vga);
    let (w, h) = match &screen {
        Screen::Text(g) => (g.cols * g.cell_width, g.rows * g.cell_height),
        Screen::Planar(w, h) | Screen::Color256(w, h) | Screen::Blank(w, h) => (*w, *h),
        Screen::Vbe(m) => (m.width, m.height),
    };
    let full = frame.resize(w, h) | changed;
    let mut lines = Lines {
        frame,
        full,
        dirty: &dirty,
        drawn: false,
    };
    match screen {
        Screen::Blank(..) => {
            if full {
                lines.frame.pixels.fill(0);
                lines.drawn = true;
            }
        }
        Screen::Text(g) => text::draw(vga, g, &mut lines),
        Screen::Planar(..) => graphics::draw_planar(vga, &mut lines),
        Screen::Color256(..) => graphics::draw_256(vga, &mut lines),
        Screen::Vbe(mode) => graphics::draw_vbe(vga, mode, &mut lines),
    }
    if !matches!(screen, Screen::Text(_)) {
        vga.drawn_cursor = None;
    }
    lines.drawn
}

/// The frame being drawn and what decides which of its lines to draw.
struct Lines<'a> {
    frame: &'a mut Frame,
    /// Draw everything.
    full: bool,
    /// The pages written since the last render.
    dirty: &'a [u64],
    /// Something was drawn.
    drawn: bool,
}

impl Lines<'_> {
    /// Whether a line reading video memory bytes `range` must be drawn.
    fn needs(&self, vga: &Vga, range: std::ops::Range<usize>) -> bool {
        self.full || vga.dirty_in(self.dirty, range)
    }
}
