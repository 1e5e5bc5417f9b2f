//! The sequencer (ports 0x3C4 index, 0x3C5 data): character clock width, which planes CPU writes reach (map mask),
//! the character generator's font blocks and how CPU addresses reach the planes (odd/even, chain-4).

/// Register indices.
pub mod reg {
    /// Reset (bits 0-1: asynchronous and synchronous reset).
    pub const RESET: usize = 0;
    /// Clocking mode (bit 0: 8-dot characters, bit 5: screen off).
    pub const CLOCKING_MODE: usize = 1;
    /// Map mask: bit n lets CPU writes reach plane n.
    pub const MAP_MASK: usize = 2;
    /// Character map select: the font blocks for attribute bit 3 clear (map B) and set (map A).
    pub const CHAR_MAP_SELECT: usize = 3;
    /// Memory mode (bit 1: more than 64 KiB, bit 2: sequential rather than odd/even, bit 3: chain-4).
    pub const MEMORY_MODE: usize = 4;
}

/// Bits of each register that exist (the rest read 0).
const MASKS: [u8; 5] = [0x03, 0x3D, 0x0F, 0x3F, 0x0E];

/// The sequencer's registers.
#[derive(Debug, Clone, Default)]
pub struct Sequencer {
    /// The index port's value.
    pub index: u8,
    /// Registers 0-4.
    pub regs: [u8; 5],
}

impl Sequencer {
    /// The data port: the selected register, or 0xFF past the last.
    pub fn read_data(&self) -> u8 {
        super::indexed::read(&self.regs, self.index)
    }

    /// Writes the selected register (bits that do not exist are dropped).
    pub fn write_data(&mut self, value: u8) {
        super::indexed::write_masked(&mut self.regs, &MASKS, self.index, value);
    }

    /// Map mask: the planes CPU writes reach.
    pub fn map_mask(&self) -> u8 {
        self.regs[reg::MAP_MASK]
    }

    /// Chain-4: CPU address bits 0-1 pick the plane (mode 13h).
    pub fn chain4(&self) -> bool {
        self.regs[reg::MEMORY_MODE] & 0x08 != 0
    }

    /// Odd/even: even CPU addresses reach planes 0 and 2, odd ones planes 1 and 3 (text modes).
    pub fn odd_even(&self) -> bool {
        self.regs[reg::MEMORY_MODE] & 0x04 == 0
    }

    /// Character cells are 8 dots wide (else 9).
    pub fn eight_dot_chars(&self) -> bool {
        self.regs[reg::CLOCKING_MODE] & 0x01 != 0
    }

    /// The screen is switched off (blank).
    pub fn screen_off(&self) -> bool {
        self.regs[reg::CLOCKING_MODE] & 0x20 != 0
    }

    /// Offsets in plane 2 of the two fonts: (map A for attribute bit 3 set, map B for it clear).
    pub fn font_offsets(&self) -> (usize, usize) {
        let v = self.regs[reg::CHAR_MAP_SELECT];
        let a = ((v >> 2) & 3) | ((v >> 3) & 4);
        let b = (v & 3) | ((v >> 2) & 4);
        (font_block_offset(a), font_block_offset(b))
    }
}

/// Where font block `n` (0-7) starts in plane 2: blocks 0-3 at 16 KiB steps, 4-7 at 8 KiB past each of those.
fn font_block_offset(n: u8) -> usize {
    let n = usize::from(n);
    (n & 3) * 0x4000 + (n >> 2) * 0x2000
}
