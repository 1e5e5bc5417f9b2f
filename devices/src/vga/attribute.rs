//! The attribute controller (port 0x3C0 index and data on alternate writes, 0x3C1 data read): the 16-entry
//! palette from a 4-bit pixel or text colour to a DAC index, and the mode bits (graphics, 9th-column line graphics,
//! blink). Reading input status 1 resets the index/data flip-flop to "index next".

/// Register indices.
pub mod reg {
    /// Mode control: bit 0 graphics, bit 2 line graphics, bit 3 blink, bit 6 8-bit pixels, bit 7 P5-4 select.
    pub const MODE_CONTROL: usize = 0x10;
    /// Overscan (border) colour.
    pub const OVERSCAN: usize = 0x11;
    /// Colour plane enable: the planes that reach the palette.
    pub const COLOR_PLANE_ENABLE: usize = 0x12;
    /// Horizontal pixel panning.
    pub const PIXEL_PANNING: usize = 0x13;
    /// Colour select: DAC index bits 7-6 (and 5-4 with P5-4 select).
    pub const COLOR_SELECT: usize = 0x14;
}

/// The index register's palette address source bit: clear while the guest reprograms the palette (the screen
/// shows black), set for normal display.
pub const PALETTE_ADDRESS_SOURCE: u8 = 0x20;

/// The attribute controller's registers.
#[derive(Debug, Clone, Default)]
pub struct AttributeController {
    /// The index register (bits 0-4 the index, bit 5 the palette address source).
    pub index: u8,
    /// The next write to 0x3C0 is data (else index).
    pub data_next: bool,
    /// Palette 0x00-0x0F, then the registers 0x10-0x14.
    pub regs: [u8; 0x15],
}

impl AttributeController {
    /// A write to 0x3C0: the index or the data, alternately.
    pub fn write(&mut self, value: u8) {
        if !self.data_next {
            self.index = value & 0x3F;
        } else if let Some(r) = self.regs.get_mut(usize::from(self.index & 0x1F)) {
            *r = value;
        }
        self.data_next = !self.data_next;
    }

    /// A read of 0x3C1: the selected register, or 0 past the last.
    pub fn read_data(&self) -> u8 {
        self.regs
            .get(usize::from(self.index & 0x1F))
            .copied()
            .unwrap_or(0)
    }

    /// Graphics mode (else text).
    pub fn graphics(&self) -> bool {
        self.regs[reg::MODE_CONTROL] & 0x01 != 0
    }

    /// Line graphics: the 9th column of characters 0xC0-0xDF repeats the 8th.
    pub fn line_graphics(&self) -> bool {
        self.regs[reg::MODE_CONTROL] & 0x04 != 0
    }

    /// Attribute bit 7 is blink (else background intensity).
    pub fn blink(&self) -> bool {
        self.regs[reg::MODE_CONTROL] & 0x08 != 0
    }

    /// The display is on: the palette address source bit is set.
    pub fn enabled(&self) -> bool {
        self.index & PALETTE_ADDRESS_SOURCE != 0
    }

    /// The DAC index for a 4-bit colour: the palette entry, planes masked by colour plane enable, bits 7-4 from
    /// colour select as mode control bit 7 says.
    pub fn dac_index(&self, color: u8) -> u8 {
        let color = color & self.regs[reg::COLOR_PLANE_ENABLE] & 0x0F;
        let entry = self.regs[usize::from(color)] & 0x3F;
        let select = self.regs[reg::COLOR_SELECT];
        let high = (select & 0x0C) << 4;
        if self.regs[reg::MODE_CONTROL] & 0x80 != 0 {
            high | (select & 0x03) << 4 | (entry & 0x0F)
        } else {
            high | entry
        }
    }
}
