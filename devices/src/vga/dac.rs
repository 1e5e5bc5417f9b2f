//! The DAC (ports 0x3C6 pixel mask, 0x3C7 read index and state, 0x3C8 write index, 0x3C9 data): 256 colours of
//! three 6-bit components, written and read as red, green, blue triplets with the index moving on after each.

/// The DAC's palette and its index registers.
#[derive(Debug, Clone)]
pub struct Dac {
    /// 256 entries of (red, green, blue), 6 bits each (8 with Bochs VBE's 8-bit DAC).
    pub palette: [[u8; 3]; 256],
    /// Pixel mask: ANDed with every index before lookup.
    pub pel_mask: u8,
    /// The entry the next data write fills.
    write_index: u8,
    /// The entry the next data read returns.
    read_index: u8,
    /// Component (0 red, 1 green, 2 blue) of the next data access.
    component: usize,
    /// The last index write was to the read index (0x3C7 reads 3), else the write index (0).
    reading: bool,
    /// Components are 8 bits wide (Bochs VBE's 8-bit DAC), else 6.
    pub eight_bit: bool,
}

impl Default for Dac {
    fn default() -> Self {
        Dac {
            palette: [[0; 3]; 256],
            pel_mask: 0xFF,
            write_index: 0,
            read_index: 0,
            component: 0,
            reading: false,
            eight_bit: false,
        }
    }
}

impl Dac {
    /// 0x3C7 write: the next data reads start at `index`.
    pub fn set_read_index(&mut self, index: u8) {
        self.read_index = index;
        self.component = 0;
        self.reading = true;
    }

    /// 0x3C8 write: the next data writes start at `index`.
    pub fn set_write_index(&mut self, index: u8) {
        self.write_index = index;
        self.component = 0;
        self.reading = false;
    }

    /// 0x3C8 read: the write index.
    pub fn write_index(&self) -> u8 {
        self.write_index
    }

    /// 0x3C7 read: 3 after a read index was set, 0 after a write index.
    pub fn state(&self) -> u8 {
        if self.reading {
            3
        } else {
            0
        }
    }

    /// 0x3C9 write: one component of the write index's entry.
    pub fn write_data(&mut self, value: u8) {
        let mask = if self.eight_bit { 0xFF } else { 0x3F };
        self.palette[usize::from(self.write_index)][self.component] = value & mask;
        self.component += 1;
        if self.component == 3 {
            self.component = 0;
            self.write_index = self.write_index.wrapping_add(1);
        }
    }

    /// 0x3C9 read: one component of the read index's entry.
    pub fn read_data(&mut self) -> u8 {
        let v = self.palette[usize::from(self.read_index)][self.component];
        self.component += 1;
        if self.component == 3 {
            self.component = 0;
            self.read_index = self.read_index.wrapping_add(1);
        }
        v
    }

    /// The colour of DAC index `index` (after the pixel mask) as 0x00RRGGBB.
    pub fn rgb(&self, index: u8) -> u32 {
        let [r, g, b] = self.palette[usize::from(index & self.pel_mask)];
        let widen = |c: u8| -> u32 {
            if self.eight_bit {
                u32::from(c)
            } else {
                u32::from(c << 2 | c >> 4)
            }
        };
        widen(r) << 16 | widen(g) << 8 | widen(b)
    }
}
