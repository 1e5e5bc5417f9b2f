//! Host registers: which hold what while translated code runs, and iced-x86 register names by number and size.
//!
//! Guest registers live in `CpuState`. Each translated instruction loads the guest registers it uses into the host
//! registers of the same number (so implicit operands such as RAX/RDX of MUL or CL of a shift need no rewriting),
//! runs as itself, and stores what it wrote. Three host registers cannot mirror their guest twins: RSP is the host
//! stack, R15 points at `CpuState` and R14 at the [`crate::ctx::JitCtx`]; a guest RSP, R14 or R15 operand is
//! renamed to a free host register.

use iced_x86::Register;

/// Host register holding the `CpuState` pointer.
pub const STATE: u8 = 15;
/// Host register holding the `JitCtx` pointer.
pub const CTX: u8 = 14;
/// The stack pointer's number.
pub const RSP: u8 = 4;

/// Whether guest register `n` must be renamed on the host.
pub fn needs_rename(n: u8) -> bool {
    n == RSP || n == CTX || n == STATE
}

/// A set of register numbers 0..16.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RegSet(pub u16);

impl RegSet {
    /// Adds register `n`.
    pub fn insert(&mut self, n: u8) {
        self.0 |= 1 << n;
    }
    /// Removes register `n`.
    pub fn remove(&mut self, n: u8) {
        self.0 &= !(1 << n);
    }
    /// Whether `n` is in the set.
    pub fn contains(self, n: u8) -> bool {
        self.0 & (1 << n) != 0
    }
    /// The members, lowest first.
    pub fn iter(self) -> impl Iterator<Item = u8> {
        (0..16u8).filter(move |&n| self.contains(n))
    }
}

/// Every register.
pub const ALL: RegSet = RegSet(0xFFFF);

/// The guest registers that stay in their host registers from block to block (RDX, RSI, RDI, R8..R11): every
/// block entry finds them there, and `CpuState`'s copies may be stale until generated code leaves for the
/// dispatcher or a callout, which stores them first. None of them is a jump-table lookup's scratch or target or a
/// page group's holder (RDX, RSI and RDI are a callout's arguments only once their guest values are stored).
pub const RESIDENT: RegSet = RegSet(0b0000_1111_1100_0100);

/// The host registers a call may clobber (System V): RAX, RCX, RDX, RSI, RDI, R8..R11.
pub const CALLER_SAVED: RegSet = RegSet(0b0000_1111_1100_0111);

/// Hands out host registers that an instruction does not use.
pub struct Pool {
    free: RegSet,
    /// The registers handed out so far.
    pub taken: RegSet,
    /// Registers handed out only when no other is free (they hold something worth keeping).
    spare_last: RegSet,
}

impl Pool {
    /// Registers other than RAX (which flag restores use), RSP, R14, R15 and those in `used`; only RCX..RDI when
    /// the instruction names a high-byte register (AH..BH cannot be encoded beside a REX prefix).
    pub fn new(used: RegSet, legacy_only: bool) -> Pool {
        let mut free = RegSet(0);
        let top = if legacy_only { 8 } else { 14 };
        for n in 1..top {
            if n != RSP && !used.contains(n) {
                free.insert(n);
            }
        }
        Pool {
            free,
            taken: RegSet::default(),
            spare_last: RegSet::default(),
        }
    }

    /// Hands out the registers in `set` only once no other is free.
    pub fn spare(&mut self, set: RegSet) {
        self.spare_last = set;
    }

    /// Takes a free register, if one is left.
    pub fn take(&mut self) -> Option<u8> {
        let n = self
            .free
            .iter()
            .find(|&n| !self.spare_last.contains(n))
            .or_else(|| self.free.iter().next())?;
        self.free.remove(n);
        self.taken.insert(n);
        Some(n)
    }
}

/// The number (0..16) of a general-purpose register's full 64-bit register.
pub fn number(r: Register) -> u8 {
    (r.full_register() as u32 - Register::RAX as u32) as u8
}

/// Whether `r` is AH, CH, DH or BH.
pub fn is_high_byte(r: Register) -> bool {
    matches!(r, Register::AH | Register::CH | Register::DH | Register::BH)
}

/// The register of `r`'s size in host register `n` (`r` is not a high-byte register).
pub fn resized(r: Register, n: u8) -> Register {
    use Register::*;
    const B: [Register; 16] = [
        AL, CL, DL, BL, SPL, BPL, SIL, DIL, R8L, R9L, R10L, R11L, R12L, R13L, R14L, R15L,
    ];
    const W: [Register; 16] = [
        AX, CX, DX, BX, SP, BP, SI, DI, R8W, R9W, R10W, R11W, R12W, R13W, R14W, R15W,
    ];
    const D: [Register; 16] = [
        EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI, R8D, R9D, R10D, R11D, R12D, R13D, R14D, R15D,
    ];
    const Q: [Register; 16] = [
        RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15,
    ];
    let table = match r.size() {
        1 => &B,
        2 => &W,
        4 => &D,
        _ => &Q,
    };
    table[usize::from(n & 15)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_are_renamed_by_number_and_size() {
        assert_eq!(resized(Register::ESP, 3), Register::EBX);
        assert_eq!(resized(Register::R15, 9), Register::R9);
        assert_eq!(resized(Register::R14W, 0), Register::AX);
        assert_eq!(resized(Register::SPL, 12), Register::R12L);
        assert_eq!(resized(Register::R15L, 6), Register::SIL);
        assert_eq!(number(Register::R14D), 14);
        assert_eq!(number(Register::AH), 0);
    }

    #[test]
    fn the_pool_never_hands_out_the_pinned_registers_or_used_ones() {
        let mut used = RegSet::default();
        used.insert(0);
        used.insert(1);
        let mut pool = Pool::new(used, true);
        let got: Vec<u8> = std::iter::from_fn(|| pool.take()).collect();
        assert_eq!(got, vec![2, 3, 5, 6, 7]);
        let mut pool = Pool::new(RegSet::default(), false);
        assert_eq!(pool.take(), Some(1), "RAX is never a scratch register");
    }
}
