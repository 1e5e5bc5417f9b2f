//! The VGA: QEMU's `std-vga` (a PCI display controller, 1234:1111) with the IBM VGA's registers, its four planes
//! behind the legacy window at 0xA0000-0xBFFFF, and Bochs VBE's extension registers for linear-framebuffer modes.
//!
//! Files by concern: the register groups ([`sequencer`], [`crtc`], [`graphics`], [`attribute`], [`dac`]), the
//! CPU's view of video memory ([`memory`]: window decode, odd/even, chain-4, latches, dirty pages), Bochs VBE
//! ([`vbe`]), the PCI function ([`pci`]), the power-on mode ([`modes`]) and font ([`font`]), and turning video memory
//! into a [`Frame`] ([`render`]).
//!
//! Video memory layout: one array, planar byte `offset` of plane `p` at `4 * offset + p` (so chain-4 addresses and
//! Bochs VBE's linear framebuffer both see the array byte for byte, as on QEMU's std-vga). The legacy modes use
//! the first 256 KiB.
//!
//! A front end asks [`Vga::generation`] whether anything visible may have changed, and [`Vga::render`] redraws
//! into its [`Frame`] only the lines whose video memory was written since the previous render (or all of it after a
//! mode or palette change).

pub mod attribute;
pub mod crtc;
pub mod dac;
pub mod font;
pub mod graphics;
mod indexed;
pub mod memory;
pub mod modes;
pub mod pci;
pub mod render;
pub mod sequencer;
pub mod vbe;

use crate::bus::IoDevice;
use crate::display::Frame;
use attribute::AttributeController;
use crtc::Crtc;
use dac::Dac;
use graphics::{GraphicsController, Latches};
use sequencer::Sequencer;
use vbe::Vbe;

/// The first VGA port (mono CRTC at 0x3B4).
pub const VGA_PORT_FIRST: u16 = 0x3B0;
/// VGA ports 0x3B0-0x3DF.
pub const VGA_PORT_COUNT: u16 = 0x30;
/// Attribute controller index/data (writes).
pub const AC_WRITE: u16 = 0x3C0;
/// Attribute controller data (reads).
pub const AC_READ: u16 = 0x3C1;
/// Miscellaneous output (write); input status 0 (read).
pub const MISC_WRITE: u16 = 0x3C2;
/// Sequencer index.
pub const SEQ_INDEX: u16 = 0x3C4;
/// Sequencer data.
pub const SEQ_DATA: u16 = 0x3C5;
/// DAC pixel mask.
pub const DAC_PEL_MASK: u16 = 0x3C6;
/// DAC read index (write); DAC state (read).
pub const DAC_READ_INDEX: u16 = 0x3C7;
/// DAC write index.
pub const DAC_WRITE_INDEX: u16 = 0x3C8;
/// DAC data.
pub const DAC_DATA: u16 = 0x3C9;
/// Feature control (read; written at input status 1's port).
pub const FEATURE_READ: u16 = 0x3CA;
/// Miscellaneous output (read).
pub const MISC_READ: u16 = 0x3CC;
/// Graphics controller index.
pub const GC_INDEX: u16 = 0x3CE;
/// Graphics controller data.
pub const GC_DATA: u16 = 0x3CF;
/// CRTC index in colour mode (0x3B4 in mono mode); data at the next port.
pub const CRTC_INDEX_COLOR: u16 = 0x3D4;
/// Input status 1 in colour mode (0x3BA in mono mode); feature control on writes.
pub const STATUS1_COLOR: u16 = 0x3DA;
/// Offset of the mono ports (0x3B4, 0x3BA) below the colour ones.
const MONO_OFFSET: u16 = 0x20;
/// Misc output bit 0: the CRTC and input status 1 answer at 0x3Dx (else 0x3Bx).
const MISC_COLOR: u8 = 0x01;
/// Input status 1: display disabled (horizontal or vertical blanking).
const STATUS1_DISPLAY_DISABLED: u8 = 0x01;
/// Input status 1: vertical retrace.
const STATUS1_VRETRACE: u8 = 0x08;
/// Video memory of QEMU's std-vga: 16 MiB.
pub const VRAM_SIZE: usize = 16 << 20;
/// Granularity of dirty tracking.
pub const DIRTY_PAGE: usize = 4096;

/// The VGA with Bochs VBE.
#[derive(Clone)]
pub struct Vga {
    /// Miscellaneous output register.
    misc: u8,
    /// Feature control register.
    feature: u8,
    /// Sequencer.
    pub sequencer: Sequencer,
    /// CRT controller.
    pub crtc: Crtc,
    /// Graphics controller.
    pub graphics: GraphicsController,
    /// Attribute controller.
    pub attribute: AttributeController,
    /// Palette DAC.
    pub dac: Dac,
    /// Bochs VBE display interface.
    pub vbe: Vbe,
    /// Video memory (see the module docs for the layout).
    vram: Vec<u8>,
    /// The four plane bytes the last planar read loaded.
    latches: Latches,
    /// Input status 1 reads so far: each moves the simulated beam one phase on.
    status_reads: u32,
    /// One bit per [`DIRTY_PAGE`] of video memory written since the last render.
    dirty: Vec<u64>,
    /// A register that changes the whole picture (mode, palette, start address) was written since the last render.
    display_changed: bool,
    /// Moves on every write that may change the picture.
    generation: u64,
    /// Plane 2 (the font in text modes) was written since the last render.
    font_written: bool,
    /// The text cursor as the last render drew it.
    drawn_cursor: render::DrawnCursor,
}

impl std::fmt::Debug for Vga {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vga")
            .field("misc", &self.misc)
            .field("sequencer", &self.sequencer)
            .field("crtc", &self.crtc)
            .field("graphics", &self.graphics)
            .field("vbe", &self.vbe)
            .finish_non_exhaustive()
    }
}

impl Default for Vga {
    fn default() -> Self {
        Self::new()
    }
}

impl Vga {
    /// The card at power-on: mode 3 with the 8x16 font in plane 2 and the EGA colours in the DAC.
    pub fn new() -> Vga {
        let mut vga = Vga {
            misc: 0,
            feature: 0,
            sequencer: Sequencer::default(),
            crtc: Crtc::default(),
            graphics: GraphicsController::default(),
            attribute: AttributeController::default(),
            dac: Dac::default(),
            vbe: Vbe::new(),
            vram: vec![0; VRAM_SIZE],
            latches: 0,
            status_reads: 0,
            dirty: vec![0; VRAM_SIZE / DIRTY_PAGE / 64],
            display_changed: true,
            generation: 0,
            font_written: false,
            drawn_cursor: None,
        };
        vga.set_mode_registers(&modes::MODE_3);
        for (entry, rgb) in vga.dac.palette.iter_mut().zip(modes::ega_palette()) {
            *entry = rgb;
        }
        vga.load_font(&font::glyphs_8x16(), 0);
        vga
    }

    /// Back to the power-on state (a board reset).
    pub fn reset(&mut self) {
        let generation = self.generation;
        *self = Vga::new();
        self.generation = generation + 1;
    }

    /// Loads every register of a mode (not the DAC, not video memory).
    pub fn set_mode_registers(&mut self, m: &modes::ModeRegisters) {
        self.misc = m.misc;
        self.sequencer.regs = m.sequencer;
        self.crtc.regs = m.crtc;
        self.graphics.regs = m.graphics;
        self.attribute.regs = m.attribute;
        self.attribute.index = attribute::PALETTE_ADDRESS_SOURCE;
        self.attribute.data_next = false;
        self.changed();
    }

    /// Writes `glyphs` (each `rows` bytes, one per scan line) into font block `block` of plane 2, 32 bytes a glyph.
    pub fn load_font<const ROWS: usize>(&mut self, glyphs: &[[u8; ROWS]], block: u8) {
        let (base, _) = {
            let mut s = Sequencer::default();
            s.regs[sequencer::reg::CHAR_MAP_SELECT] = (block & 3) << 2 | (block & 4) << 3;
            s.font_offsets()
        };
        for (c, glyph) in glyphs.iter().enumerate() {
            for (row, &bits) in glyph.iter().enumerate() {
                self.poke_plane(2, base + c * font::GLYPH_STRIDE + row, bits);
            }
        }
    }

    /// Moves on whenever something that may change the picture was written (video memory, a register): a front
    /// end that saw the same value last time needs not render.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Video memory, for tests and front ends that read it directly (see the module docs for the layout).
    pub fn vram(&self) -> &[u8] {
        &self.vram
    }

    /// Redraws `frame` from video memory: resized to the current mode, and only the lines written since the last
    /// call unless the mode, palette or frame size changed. Returns whether any pixel may have changed.
    pub fn render(&mut self, frame: &mut Frame) -> bool {
        render::render(self, frame)
    }

    /// The screen as characters and colours when a text mode shows (for a terminal display); `None` in a graphics
    /// mode or while the screen is off.
    pub fn text_screen(&self) -> Option<crate::display::TextScreen> {
        render::text_screen(self)
    }

    /// Something that changes the whole picture was written.
    fn changed(&mut self) {
        self.display_changed = true;
        self.generation += 1;
    }

    /// The CRTC answers at 0x3D4 (colour) or 0x3B4 (mono), as misc output bit 0 says.
    fn crtc_index_port(&self) -> u16 {
        if self.misc & MISC_COLOR != 0 {
            CRTC_INDEX_COLOR
        } else {
            CRTC_INDEX_COLOR - MONO_OFFSET
        }
    }

    /// Input status 1's port for the current colour/mono setting.
    fn status1_port(&self) -> u16 {
        if self.misc & MISC_COLOR != 0 {
            STATUS1_COLOR
        } else {
            STATUS1_COLOR - MONO_OFFSET
        }
    }

    /// Input status 1: the beam is simulated as moving one phase per read through active display, horizontal
    /// blanking, vertical retrace and blanking again, so a guest polling for either edge of either bit sees it.
    /// The read also resets the attribute controller's flip-flop.
    fn read_status1(&mut self) -> u8 {
        self.attribute.data_next = false;
        self.status_reads = self.status_reads.wrapping_add(1);
        match self.status_reads & 3 {
            0 => 0,
            2 => STATUS1_DISPLAY_DISABLED | STATUS1_VRETRACE,
            _ => STATUS1_DISPLAY_DISABLED,
        }
    }

    /// A byte read from VGA port `port`.
    fn read_port(&mut self, port: u16) -> u8 {
        let crtc = self.crtc_index_port();
        match port {
            AC_WRITE => self.attribute.index,
            AC_READ => self.attribute.read_data(),
            MISC_WRITE => 0,
            SEQ_INDEX => self.sequencer.index,
            SEQ_DATA => self.sequencer.read_data(),
            DAC_PEL_MASK => self.dac.pel_mask,
            DAC_READ_INDEX => self.dac.state(),
            DAC_WRITE_INDEX => self.dac.write_index(),
            DAC_DATA => self.dac.read_data(),
            FEATURE_READ => self.feature,
            MISC_READ => self.misc,
            GC_INDEX => self.graphics.index,
            GC_DATA => self.graphics.read_data(),
            p if p == crtc => self.crtc.index,
            p if p == crtc + 1 => self.crtc.read_data(),
            p if p == self.status1_port() => self.read_status1(),
            _ => 0xFF,
        }
    }

    /// A byte written to VGA port `port`.
    fn write_port(&mut self, port: u16, value: u8) {
        let crtc = self.crtc_index_port();
        match port {
            AC_WRITE => {
                self.attribute.write(value);
                self.changed();
            }
            MISC_WRITE => {
                self.misc = value;
                self.changed();
            }
            SEQ_INDEX => self.sequencer.index = value,
            SEQ_DATA => {
                self.sequencer.write_data(value);
                self.changed();
            }
            DAC_PEL_MASK => {
                self.dac.pel_mask = value;
                self.changed();
            }
            DAC_READ_INDEX => self.dac.set_read_index(value),
            DAC_WRITE_INDEX => self.dac.set_write_index(value),
            DAC_DATA => {
                self.dac.write_data(value);
                self.changed();
            }
            GC_INDEX => self.graphics.index = value,
            GC_DATA => {
                self.graphics.write_data(value);
                self.changed();
            }
            p if p == crtc => self.crtc.index = value,
            p if p == crtc + 1 => {
                let cursor_only = self.crtc.selects_cursor();
                self.crtc.write_data(value);
                if cursor_only {
                    // The renderer redraws the old and new cursor rows itself.
                    self.generation += 1;
                } else {
                    self.changed();
                }
            }
            p if p == self.status1_port() => self.feature = value,
            _ => {}
        }
    }
}

impl IoDevice for Vga {
    fn io_read(&mut self, port: u16, size: u8) -> u32 {
        if vbe::claims(port) {
            return self.vbe_read(port);
        }
        (0..u16::from(size.clamp(1, 4))).fold(0, |v, k| {
            let p = port.wrapping_add(k);
            let b = if (VGA_PORT_FIRST..VGA_PORT_FIRST + VGA_PORT_COUNT).contains(&p) {
                self.read_port(p)
            } else {
                0xFF
            };
            v | u32::from(b) << (8 * k)
        })
    }

    fn io_write(&mut self, port: u16, size: u8, value: u32) {
        if vbe::claims(port) {
            self.vbe_write(port, value as u16);
            return;
        }
        for k in 0..u16::from(size.clamp(1, 4)) {
            let p = port.wrapping_add(k);
            if (VGA_PORT_FIRST..VGA_PORT_FIRST + VGA_PORT_COUNT).contains(&p) {
                self.write_port(p, (value >> (8 * k)) as u8);
            }
        }
    }

    fn wide_access(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests;
