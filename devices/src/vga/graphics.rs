//! The graphics controller (ports 0x3CE index, 0x3CF data): how a CPU byte becomes four plane bytes on a write
//! (set/reset, data rotate, the logical function, the bit mask, write modes 0-3) and how four latched plane bytes
//! become one CPU byte on a read (read map select, colour compare), plus where the card sits in the legacy window.

/// Register indices.
pub mod reg {
    /// Set/reset: the value write modes 0 and 3 put in each plane.
    pub const SET_RESET: usize = 0;
    /// Enable set/reset: which planes write mode 0 fills from set/reset instead of the CPU byte.
    pub const ENABLE_SET_RESET: usize = 1;
    /// Colour compare: the colour read mode 1 looks for.
    pub const COLOR_COMPARE: usize = 2;
    /// Data rotate: bits 0-2 rotate count, bits 3-4 the function (replace, AND, OR, XOR).
    pub const DATA_ROTATE: usize = 3;
    /// Read map select: the plane read mode 0 returns.
    pub const READ_MAP_SELECT: usize = 4;
    /// Graphics mode: bits 0-1 write mode, bit 3 read mode, bit 4 host odd/even, bit 6 256-colour shift.
    pub const MODE: usize = 5;
    /// Miscellaneous: bit 0 graphics, bit 1 chain odd/even, bits 2-3 memory map select.
    pub const MISC: usize = 6;
    /// Colour don't care: the planes read mode 1 compares.
    pub const COLOR_DONT_CARE: usize = 7;
    /// Bit mask: the bits a write takes from the computed value rather than the latches.
    pub const BIT_MASK: usize = 8;
}

/// Bits of each register that exist.
const MASKS: [u8; 9] = [0x0F, 0x0F, 0x0F, 0x1F, 0x03, 0x7B, 0x0F, 0x0F, 0xFF];

/// The four plane bytes a read loads (plane n in byte n).
pub type Latches = u32;

/// The graphics controller's registers.
#[derive(Debug, Clone, Default)]
pub struct GraphicsController {
    /// The index port's value.
    pub index: u8,
    /// Registers 0-8.
    pub regs: [u8; 9],
}

impl GraphicsController {
    /// The data port: the selected register, or 0xFF past the last.
    pub fn read_data(&self) -> u8 {
        super::indexed::read(&self.regs, self.index)
    }

    /// Writes the selected register (bits that do not exist are dropped).
    pub fn write_data(&mut self, value: u8) {
        super::indexed::write_masked(&mut self.regs, &MASKS, self.index, value);
    }

    /// The legacy window the card decodes: (first guest-physical address, size), from memory map select.
    pub fn window(&self) -> (u64, u64) {
        match (self.regs[reg::MISC] >> 2) & 3 {
            0 => (0xA_0000, 0x2_0000),
            1 => (0xA_0000, 0x1_0000),
            2 => (0xB_0000, 0x8000),
            _ => (0xB_8000, 0x8000),
        }
    }

    /// Host odd/even reads: odd CPU addresses read planes 1/3, even ones planes 0/2.
    pub fn host_odd_even(&self) -> bool {
        self.regs[reg::MODE] & 0x10 != 0
    }

    /// The plane read mode 0 returns.
    pub fn read_map(&self) -> u8 {
        self.regs[reg::READ_MAP_SELECT]
    }

    /// 256-colour shift mode: each pixel is a whole byte (mode 13h).
    pub fn shift_256(&self) -> bool {
        self.regs[reg::MODE] & 0x40 != 0
    }

    /// A CPU read after `latches` were loaded: read mode 0 returns the selected plane's byte, read mode 1 sets a bit
    /// where every compared plane matches the colour compare register.
    pub fn read(&self, latches: Latches) -> u8 {
        if self.regs[reg::MODE] & 0x08 == 0 {
            return plane_byte(latches, self.read_map());
        }
        let compare = expand(self.regs[reg::COLOR_COMPARE]);
        let care = expand(self.regs[reg::COLOR_DONT_CARE]);
        let differ = (latches ^ compare) & care;
        !(0..4).fold(0, |acc, p| acc | plane_byte(differ, p))
    }

    /// The four plane bytes a CPU write of `value` produces in the current write mode, given the `latches`.
    pub fn write(&self, value: u8, latches: Latches) -> Latches {
        let r = &self.regs;
        let rotated = value.rotate_right(u32::from(r[reg::DATA_ROTATE] & 7));
        let set_reset = expand(r[reg::SET_RESET]);
        let mut bit_mask = r[reg::BIT_MASK];
        let data = match r[reg::MODE] & 3 {
            0 => {
                let enable = expand(r[reg::ENABLE_SET_RESET]);
                (set_reset & enable) | (broadcast(rotated) & !enable)
            }
            1 => return latches,
            2 => expand(value),
            _ => {
                bit_mask &= rotated;
                set_reset
            }
        };
        let computed = match (r[reg::DATA_ROTATE] >> 3) & 3 {
            0 => data,
            1 => data & latches,
            2 => data | latches,
            _ => data ^ latches,
        };
        let mask = broadcast(bit_mask);
        (computed & mask) | (latches & !mask)
    }
}

/// The byte of plane `plane` in four packed plane bytes.
pub fn plane_byte(planes: Latches, plane: u8) -> u8 {
    (planes >> (8 * u32::from(plane & 3))) as u8
}

/// The same byte in all four planes.
fn broadcast(b: u8) -> Latches {
    u32::from(b) * 0x0101_0101
}

/// Bit n of a 4-bit plane mask spread to all eight bits of plane n's byte.
fn expand(bits: u8) -> Latches {
    (0..4).fold(0, |acc, p| {
        if bits & (1 << p) != 0 {
            acc | 0xFF << (8 * p)
        } else {
            acc
        }
    })
}
