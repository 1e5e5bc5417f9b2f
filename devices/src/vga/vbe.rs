//! Bochs VBE, the "DISPI" interface Bochs and QEMU give their VGA (ports 0x1CE index, 0x1CF data, 16 bits each):
//! a mode is a resolution and depth, switched on with the enable register, drawn from the linear framebuffer (PCI
//! BAR 0) or through 64 KiB banks in the legacy window. Bochs' `vbe.h` and QEMU's `hw/display/vga.c` document
//! the registers.

use super::{Vga, VRAM_SIZE};

/// Index port.
pub const VBE_INDEX: u16 = 0x1CE;
/// Data port.
pub const VBE_DATA: u16 = 0x1CF;

/// Register indices.
pub mod reg {
    /// Interface version: 0xB0C0-0xB0C5.
    pub const ID: u16 = 0;
    /// Horizontal resolution.
    pub const XRES: u16 = 1;
    /// Vertical resolution.
    pub const YRES: u16 = 2;
    /// Bits per pixel: 8, 15, 16, 24 or 32.
    pub const BPP: u16 = 3;
    /// Enable: see [`super::ENABLED`] and the other flags.
    pub const ENABLE: u16 = 4;
    /// The 64 KiB bank shown in the legacy window.
    pub const BANK: u16 = 5;
    /// Pixels per line of the virtual screen.
    pub const VIRT_WIDTH: u16 = 6;
    /// Lines of the virtual screen (read only: what fits in video memory).
    pub const VIRT_HEIGHT: u16 = 7;
    /// First pixel of the virtual screen shown.
    pub const X_OFFSET: u16 = 8;
    /// First line of the virtual screen shown.
    pub const Y_OFFSET: u16 = 9;
    /// Video memory in 64 KiB units (read only).
    pub const VIDEO_MEMORY_64K: u16 = 0xA;
}

/// The newest interface version, which the card reports at power-on.
pub const ID_NEWEST: u16 = 0xB0C5;
/// The oldest interface version a guest may select.
pub const ID_OLDEST: u16 = 0xB0C0;
/// Enable: the VBE mode is on.
pub const ENABLED: u16 = 0x01;
/// Enable: while set, XRES, YRES and BPP read their maximum values.
pub const GETCAPS: u16 = 0x02;
/// Enable: the DAC takes 8-bit components.
pub const DAC_8BIT: u16 = 0x20;
/// Enable: the linear framebuffer is used (informational: the BAR always decodes).
pub const LFB_ENABLED: u16 = 0x40;
/// Enable: keep video memory as it is when switching the mode on (else it is cleared).
pub const NOCLEARMEM: u16 = 0x80;
/// Widest mode (QEMU's limit).
pub const MAX_XRES: u16 = 16000;
/// Tallest mode (QEMU's limit).
pub const MAX_YRES: u16 = 12000;
/// Deepest mode.
pub const MAX_BPP: u16 = 32;

/// Whether `port` is one of the VBE ports.
pub fn claims(port: u16) -> bool {
    port == VBE_INDEX || port == VBE_DATA
}

/// The VBE registers.
#[derive(Debug, Clone)]
pub struct Vbe {
    /// The index port's value.
    index: u16,
    /// ID, XRES, YRES, BPP, ENABLE, BANK, VIRT_WIDTH, VIRT_HEIGHT, X_OFFSET, Y_OFFSET.
    regs: [u16; 10],
}

/// A VBE mode's geometry, for the renderer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VbeMode {
    /// Visible pixels per line.
    pub width: usize,
    /// Visible lines.
    pub height: usize,
    /// Bits per pixel.
    pub bpp: u16,
    /// Bytes from one line to the next.
    pub stride: usize,
    /// Byte of video memory the top left pixel is at.
    pub start: usize,
}

impl Vbe {
    /// Power-on: the newest interface version, 640x480x8 selected and not enabled.
    pub fn new() -> Vbe {
        let mut regs = [0; 10];
        regs[usize::from(reg::ID)] = ID_NEWEST;
        regs[usize::from(reg::XRES)] = 640;
        regs[usize::from(reg::YRES)] = 480;
        regs[usize::from(reg::BPP)] = 8;
        Vbe { index: 0, regs }
    }

    fn get(&self, r: u16) -> u16 {
        self.regs[usize::from(r)]
    }

    fn set(&mut self, r: u16, v: u16) {
        self.regs[usize::from(r)] = v;
    }

    /// A VBE mode is on.
    pub fn enabled(&self) -> bool {
        self.get(reg::ENABLE) & ENABLED != 0
    }

    /// The bank shown in the legacy window.
    pub fn bank(&self) -> usize {
        usize::from(self.get(reg::BANK))
    }

    /// Bytes per pixel of the selected depth (15 bits take 2).
    fn bytes_per_pixel(&self) -> usize {
        usize::from(self.get(reg::BPP)).div_ceil(8)
    }

    /// Bytes per line of the virtual screen.
    fn stride(&self) -> usize {
        usize::from(self.get(reg::VIRT_WIDTH)) * self.bytes_per_pixel()
    }

    /// The mode being shown, if one is on.
    pub fn mode(&self) -> Option<VbeMode> {
        if !self.enabled() {
            return None;
        }
        let bpp = self.bytes_per_pixel();
        let stride = self.stride();
        Some(VbeMode {
            width: usize::from(self.get(reg::XRES)),
            height: usize::from(self.get(reg::YRES)),
            bpp: self.get(reg::BPP),
            stride,
            start: usize::from(self.get(reg::Y_OFFSET)) * stride
                + usize::from(self.get(reg::X_OFFSET)) * bpp,
        })
    }

    /// Recomputes the virtual height from the virtual width: as many lines as video memory holds.
    fn fit_virtual_height(&mut self) {
        let stride = self.stride().max(1);
        let lines = (VRAM_SIZE / stride).min(usize::from(u16::MAX)) as u16;
        self.set(reg::VIRT_HEIGHT, lines);
    }
}

impl Default for Vbe {
    fn default() -> Self {
        Vbe::new()
    }
}

impl Vga {
    /// A read of a VBE port.
    pub(super) fn vbe_read(&mut self, port: u16) -> u32 {
        let vbe = &self.vbe;
        if port == VBE_INDEX {
            return u32::from(vbe.index);
        }
        let caps = vbe.get(reg::ENABLE) & GETCAPS != 0;
        u32::from(match vbe.index {
            reg::XRES if caps => MAX_XRES,
            reg::YRES if caps => MAX_YRES,
            reg::BPP if caps => MAX_BPP,
            reg::VIDEO_MEMORY_64K => (VRAM_SIZE >> 16) as u16,
            i if usize::from(i) < vbe.regs.len() => vbe.get(i),
            _ => 0,
        })
    }

    /// A write of a VBE port. Resolution and depth only change while no mode is on; values out of range are
    /// ignored.
    pub(super) fn vbe_write(&mut self, port: u16, value: u16) {
        if port == VBE_INDEX {
            self.vbe.index = value;
            return;
        }
        let on = self.vbe.enabled();
        match self.vbe.index {
            reg::ID if (ID_OLDEST..=ID_NEWEST).contains(&value) => self.vbe.set(reg::ID, value),
            reg::XRES if !on && value <= MAX_XRES && value.is_multiple_of(8) => {
                self.vbe.set(reg::XRES, value)
            }
            reg::YRES if !on && value <= MAX_YRES => self.vbe.set(reg::YRES, value),
            reg::BPP if !on && matches!(value, 0 | 8 | 15 | 16 | 24 | 32) => {
                self.vbe.set(reg::BPP, if value == 0 { 8 } else { value })
            }
            reg::ENABLE => self.vbe_enable(value),
            reg::BANK if usize::from(value) < VRAM_SIZE >> 16 => self.vbe.set(reg::BANK, value),
            reg::VIRT_WIDTH if value >= self.vbe.get(reg::XRES) => {
                self.vbe.set(reg::VIRT_WIDTH, value);
                self.vbe.fit_virtual_height();
            }
            reg::X_OFFSET => self.vbe.set(reg::X_OFFSET, value),
            reg::Y_OFFSET => self.vbe.set(reg::Y_OFFSET, value),
            _ => return,
        }
        self.changed();
    }

    /// The enable register: switching a mode on resets the virtual screen to the resolution and clears video memory
    /// unless NOCLEARMEM says not to.
    fn vbe_enable(&mut self, value: u16) {
        let was_on = self.vbe.enabled();
        self.vbe.set(reg::ENABLE, value);
        self.dac.eight_bit = value & DAC_8BIT != 0;
        if value & ENABLED == 0 || was_on {
            return;
        }
        let xres = self.vbe.get(reg::XRES);
        self.vbe.set(reg::VIRT_WIDTH, xres);
        self.vbe.set(reg::X_OFFSET, 0);
        self.vbe.set(reg::Y_OFFSET, 0);
        self.vbe.set(reg::BANK, 0);
        self.vbe.fit_virtual_height();
        if value & NOCLEARMEM == 0 {
            let used = (self.vbe.stride() * usize::from(self.vbe.get(reg::YRES))).min(VRAM_SIZE);
            // The whole picture is redrawn after this write anyway (`changed`), so no page needs marking.
            self.vram[..used].fill(0);
        }
    }
}
