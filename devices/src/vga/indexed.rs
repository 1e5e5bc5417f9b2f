//! The access pattern most VGA register groups share: an index port selects one of a bank of data registers,
//! and the data port reads or writes it.

/// The data port's read: the selected register, or 0xFF past the last.
pub fn read(regs: &[u8], index: u8) -> u8 {
    regs.get(usize::from(index)).copied().unwrap_or(0xFF)
}

/// The data port's write: the selected register takes `value` with only the bits `masks` says it has (past the
/// last register, nothing).
pub fn write_masked(regs: &mut [u8], masks: &[u8], index: u8, value: u8) {
    let i = usize::from(index);
    if let (Some(r), Some(&mask)) = (regs.get_mut(i), masks.get(i)) {
        *r = value & mask;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_past_the_bank_float_and_writes_keep_only_existing_bits() {
        let mut regs = [0u8; 2];
        write_masked(&mut regs, &[0x0F, 0xFF], 0, 0xAB);
        write_masked(&mut regs, &[0x0F, 0xFF], 1, 0xAB);
        write_masked(&mut regs, &[0x0F, 0xFF], 2, 0xAB);
        assert_eq!(regs, [0x0B, 0xAB]);
        assert_eq!((read(&regs, 1), read(&regs, 2)), (0xAB, 0xFF));
    }
}
