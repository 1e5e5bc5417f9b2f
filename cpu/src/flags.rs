//! EFLAGS bit definitions.

/// Carry.
pub const CF: u64 = 1 << 0;
/// Bit 1 reads as one.
pub const FLAGS_FIXED_ONE: u64 = 1 << 1;
/// Parity of the low result byte.
pub const PF: u64 = 1 << 2;
/// Auxiliary (BCD) carry out of bit 3.
pub const AF: u64 = 1 << 4;
/// Zero.
pub const ZF: u64 = 1 << 6;
/// Sign.
pub const SF: u64 = 1 << 7;
/// Trap (single-step).
pub const TF: u64 = 1 << 8;
/// Interrupt enable.
pub const IF: u64 = 1 << 9;
/// Direction.
pub const DF: u64 = 1 << 10;
/// Overflow.
pub const OF: u64 = 1 << 11;
/// I/O privilege level (two bits).
pub const IOPL: u64 = 3 << 12;
/// Nested task.
pub const NT: u64 = 1 << 14;
/// Resume.
pub const RF: u64 = 1 << 16;
/// Virtual-8086 mode.
pub const VM: u64 = 1 << 17;
/// Alignment check.
pub const AC: u64 = 1 << 18;
/// Virtual interrupt flag.
pub const VIF: u64 = 1 << 19;
/// Virtual interrupt pending.
pub const VIP: u64 = 1 << 20;
/// CPUID available.
pub const ID: u64 = 1 << 21;

/// The six arithmetic status flags.
pub const ARITH: u64 = CF | PF | AF | ZF | SF | OF;
/// Flags that exist on an i686 (software can set these; others read as zero).
pub const IMPLEMENTED: u64 = ARITH | TF | IF | DF | IOPL | NT | RF | VM | AC | VIF | VIP | ID;

/// The arithmetic RFLAGS bits named by iced-x86's `RflagsBits` (which numbers flags its own way), as found in
/// `Instruction::rflags_read()`, `rflags_modified()` and the like.
pub fn arith_from_iced(iced: u32) -> u64 {
    use iced_x86::RflagsBits as R;
    [
        (R::CF, CF),
        (R::PF, PF),
        (R::AF, AF),
        (R::ZF, ZF),
        (R::SF, SF),
        (R::OF, OF),
    ]
    .into_iter()
    .filter(|(bit, _)| iced & bit != 0)
    .fold(0, |mask, (_, flag)| mask | flag)
}

#[cfg(test)]
mod iced_tests {
    use super::*;

    #[test]
    fn iced_flag_bits_map_to_rflags_bits() {
        use iced_x86::RflagsBits as R;
        assert_eq!(arith_from_iced(R::SF | R::PF), SF | PF);
        assert_eq!(arith_from_iced(R::DF | R::IF), 0);
    }
}
