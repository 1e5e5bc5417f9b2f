//! Whether the host's shifts and rotates leave the flags Intel calls undefined as the interpreter does.
//!
//! Generated code runs SHL, SHR, SAR, ROL and ROR as themselves, so the host's ALU sets the guest's flags. Where
//! the SDM leaves a flag undefined (AF after a shift; OF after a shift or rotate by more than one), the interpreter
//! documents a choice of its own: AF set, OF that of the final one-bit step. AMD's processors make the same choice;
//! Intel's do not (AF clear, OF otherwise). So the translator asks the host once: where its answers differ, each
//! shift is followed by a few instructions that set AF and OF as the interpreter would (`emit`'s `fix_shift_flags`),
//! and the rotates and shifts by CL that such a fix cannot cover cheaply run in the CPU's step, so that both engines
//! always agree.

use std::sync::OnceLock;

/// AF (RFLAGS bit 4) and OF (bit 11).
const AF: u64 = 1 << 4;
/// OF.
const OF: u64 = 1 << 11;

/// Whether the host's shifts and rotates set AF and OF as the interpreter's do (measured once).
pub fn shifts_match_the_interpreter() -> bool {
    static MATCH: OnceLock<bool> = OnceLock::new();
    *MATCH.get_or_init(|| {
        // SHL by 2 of 0x4000_0001: the final step shifts out bit 31 of 0x8000_0002, so CF = 1 and the result's
        // sign is 0: OF = 1. SHR by 2 of 0x8000_0000: OF = 0 (the final step's operand has a clear sign). ROL by 2
        // of 0x4000_0000: result 1, CF = 1, sign 0: OF = 1. AF is set after every shift by a nonzero count, and
        // a rotate leaves it alone (here set beforehand, so it stays set).
        let shl = flags_after(Op::Shl, 0x4000_0001, 0);
        let shr = flags_after(Op::Shr, 0x8000_0000, OF);
        let rol = flags_after(Op::Rol, 0x4000_0000, AF);
        shl & (AF | OF) == AF | OF && shr & (AF | OF) == AF && rol & (AF | OF) == AF | OF
    })
}

/// The probed instructions.
#[derive(Clone, Copy)]
enum Op {
    Shl,
    Shr,
    Rol,
}

/// RFLAGS after the host runs `op eax, 2` on `value`, starting from the flags `before`.
fn flags_after(op: Op, value: u32, before: u64) -> u64 {
    let after: u64;
    // SAFETY: the code only touches EAX and the flags, and pushes and pops what it pushed (no `nostack`, so the
    // compiler keeps the red zone clear).
    unsafe {
        match op {
            Op::Shl => std::arch::asm!(
                "push {before}", "popfq", "shl eax, 2", "pushfq", "pop {after}",
                before = in(reg) before | 2, after = lateout(reg) after, inout("eax") value => _,
            ),
            Op::Shr => std::arch::asm!(
                "push {before}", "popfq", "shr eax, 2", "pushfq", "pop {after}",
                before = in(reg) before | 2, after = lateout(reg) after, inout("eax") value => _,
            ),
            Op::Rol => std::arch::asm!(
                "push {before}", "popfq", "rol eax, 2", "pushfq", "pop {after}",
                before = in(reg) before | 2, after = lateout(reg) after, inout("eax") value => _,
            ),
        }
    }
    after
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_reads_the_flags_the_sdm_defines() {
        // CF is defined for all three, whatever the host does with AF and OF.
        assert_eq!(flags_after(Op::Shl, 0x4000_0001, 0) & 1, 1);
        assert_eq!(flags_after(Op::Shr, 0x8000_0000, 0) & 1, 0);
        assert_eq!(flags_after(Op::Rol, 0x4000_0000, 0) & 1, 1);
        // A rotate leaves AF alone.
        assert_eq!(flags_after(Op::Rol, 0x4000_0000, AF) & AF, AF);
        assert_eq!(flags_after(Op::Rol, 0x4000_0000, 0) & AF, 0);
    }
}
