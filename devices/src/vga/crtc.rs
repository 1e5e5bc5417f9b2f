//! The CRT controller (ports 0x3D4/0x3D5 in colour mode, 0x3B4/0x3B5 in mono mode): display timing and size,
//! the start address, the line offset, the character height and the text cursor.

/// Register indices.
pub mod reg {
    /// Horizontal display end: character clocks shown per line, minus one.
    pub const HORIZONTAL_DISPLAY_END: usize = 0x01;
    /// Overflow: bit 1 is vertical display end bit 8, bit 6 its bit 9, bit 4 line compare bit 8.
    pub const OVERFLOW: usize = 0x07;
    /// Maximum scan line: bits 0-4 scan lines per character row minus one, bit 7 double scan.
    pub const MAX_SCAN_LINE: usize = 0x09;
    /// Cursor start: bits 0-4 first scan line, bit 5 cursor off.
    pub const CURSOR_START: usize = 0x0A;
    /// Cursor end: bits 0-4 last scan line.
    pub const CURSOR_END: usize = 0x0B;
    /// Start address, high byte.
    pub const START_HIGH: usize = 0x0C;
    /// Start address, low byte.
    pub const START_LOW: usize = 0x0D;
    /// Cursor location, high byte.
    pub const CURSOR_HIGH: usize = 0x0E;
    /// Cursor location, low byte.
    pub const CURSOR_LOW: usize = 0x0F;
    /// Vertical retrace end: bit 7 protects registers 0-7.
    pub const VERTICAL_RETRACE_END: usize = 0x11;
    /// Vertical display end, low 8 bits.
    pub const VERTICAL_DISPLAY_END: usize = 0x12;
    /// Offset: the distance between display lines, in words (in doublewords in doubleword mode).
    pub const OFFSET: usize = 0x13;
    /// The last register.
    pub const LINE_COMPARE: usize = 0x18;
}

/// The protect bit in the vertical retrace end register.
const PROTECT: u8 = 0x80;

/// The CRT controller's registers.
#[derive(Debug, Clone, Default)]
pub struct Crtc {
    /// The index port's value.
    pub index: u8,
    /// Registers 0x00-0x18.
    pub regs: [u8; 0x19],
}

impl Crtc {
    /// The data port: the selected register, or 0xFF past the last.
    pub fn read_data(&self) -> u8 {
        super::indexed::read(&self.regs, self.index)
    }

    /// Writes the selected register. With the protect bit set, registers 0-7 keep their values except the line
    /// compare bit 8 in the overflow register.
    pub fn write_data(&mut self, value: u8) {
        let i = usize::from(self.index);
        if i > reg::LINE_COMPARE {
            return;
        }
        if self.regs[reg::VERTICAL_RETRACE_END] & PROTECT != 0 && i <= reg::OVERFLOW {
            if i == reg::OVERFLOW {
                self.regs[i] = (self.regs[i] & !0x10) | (value & 0x10);
            }
            return;
        }
        self.regs[i] = value;
    }

    /// Whether the selected register only moves the cursor (no redraw of the whole screen needed).
    pub fn selects_cursor(&self) -> bool {
        matches!(
            usize::from(self.index),
            reg::CURSOR_START | reg::CURSOR_END | reg::CURSOR_HIGH | reg::CURSOR_LOW
        )
    }

    /// Character clocks shown per line.
    pub fn display_chars(&self) -> usize {
        usize::from(self.regs[reg::HORIZONTAL_DISPLAY_END]) + 1
    }

    /// Scan lines shown.
    pub fn display_lines(&self) -> usize {
        let o = usize::from(self.regs[reg::OVERFLOW]);
        (usize::from(self.regs[reg::VERTICAL_DISPLAY_END]) | (o & 0x02) << 7 | (o & 0x40) << 3) + 1
    }

    /// Scan lines per character row (text) or per pixel row (graphics, before double scan).
    pub fn char_height(&self) -> usize {
        usize::from(self.regs[reg::MAX_SCAN_LINE] & 0x1F) + 1
    }

    /// Double scan: every line is shown twice.
    pub fn double_scan(&self) -> bool {
        self.regs[reg::MAX_SCAN_LINE] & 0x80 != 0
    }

    /// The display start address (in character positions for text).
    pub fn start_address(&self) -> usize {
        usize::from(self.regs[reg::START_HIGH]) << 8 | usize::from(self.regs[reg::START_LOW])
    }

    /// The offset register: line length in units of 2 characters (text) or 8 pixel bytes (graphics).
    pub fn offset(&self) -> usize {
        usize::from(self.regs[reg::OFFSET])
    }

    /// The text cursor: (location, first scan line, last scan line), or None when it is switched off.
    pub fn cursor(&self) -> Option<(usize, usize, usize)> {
        let start = self.regs[reg::CURSOR_START];
        if start & 0x20 != 0 {
            return None;
        }
        let location =
            usize::from(self.regs[reg::CURSOR_HIGH]) << 8 | usize::from(self.regs[reg::CURSOR_LOW]);
        Some((
            location,
            usize::from(start & 0x1F),
            usize::from(self.regs[reg::CURSOR_END] & 0x1F),
        ))
    }
}
