//! What the guest prints on COM1, both sides of it: the kernel's print routines and result lines, and the host's
//! parsers for them.
//!
//! A result line is `bench <name> <iterations> <ticks>`, both numbers in hex (8 and 16 digits); after the last one
//! comes [`DONE_LINE`]. An unexpected exception prints [`FAILED_PREFIX`] and its vector (8 hex digits) instead.

use super::kernel::Emit;
use iced_x86::code_asm::*;

/// How the line printed on an unexpected exception starts; the vector follows in hex.
pub const FAILED_PREFIX: &str = "bench: FAILED: unexpected exception";
/// The last line printed before power-off.
pub const DONE_LINE: &str = "bench: done";

const COM1: u16 = 0x3F8;
/// Line status register: the transmitter holding register is empty.
const LSR_THRE: u32 = 0x20;

/// The kernel's print routines (shared code: 32-bit registers, no PUSH/POP).
pub(super) struct Serial {
    /// putc(AL); clobbers AH, DX.
    putc: CodeLabel,
    /// print_str(ESI: a NUL-terminated string); clobbers AX, DX, ESI.
    print_str: CodeLabel,
    /// print_hex(EAX: 8 digits); clobbers EAX, EBX, ECX, DX.
    print_hex: CodeLabel,
}

impl Serial {
    /// Labels for routines placed later by [`Serial::emit_routines`].
    pub(super) fn new(a: &mut CodeAssembler) -> Serial {
        Serial {
            putc: a.create_label(),
            print_str: a.create_label(),
            print_hex: a.create_label(),
        }
    }

    /// `bench <name> <iterations> <ticks>\n`: the string at `prefix` (`bench <name> `), then the u32 at
    /// `iterations` and the u64 at `ticks`.
    pub(super) fn emit_result_line(
        &self,
        a: &mut CodeAssembler,
        prefix: u32,
        iterations: u32,
        ticks: u32,
    ) -> Emit {
        a.mov(esi, prefix)?;
        a.call(self.print_str)?;
        a.mov(eax, dword_ptr(iterations))?;
        a.call(self.print_hex)?;
        a.mov(al, u32::from(b' '))?;
        a.call(self.putc)?;
        a.mov(eax, dword_ptr(ticks + 4))?;
        a.call(self.print_hex)?;
        a.mov(eax, dword_ptr(ticks))?;
        a.call(self.print_hex)?;
        self.emit_newline(a)
    }

    /// The string at `text`.
    pub(super) fn emit_print(&self, a: &mut CodeAssembler, text: u32) -> Emit {
        a.mov(esi, text)?;
        a.call(self.print_str)
    }

    /// EAX in hex, then a newline.
    pub(super) fn emit_hex_line(&self, a: &mut CodeAssembler) -> Emit {
        a.call(self.print_hex)?;
        self.emit_newline(a)
    }

    fn emit_newline(&self, a: &mut CodeAssembler) -> Emit {
        a.mov(al, u32::from(b'\n'))?;
        a.call(self.putc)
    }

    /// The routines themselves.
    pub(super) fn emit_routines(&mut self, a: &mut CodeAssembler) -> Emit {
        a.set_label(&mut self.putc)?;
        a.mov(ah, al)?;
        a.mov(dx, u32::from(COM1 + 5))?;
        let mut wait = a.create_label();
        a.set_label(&mut wait)?;
        a.in_(al, dx)?;
        a.test(al, LSR_THRE)?;
        a.jz(wait)?;
        a.mov(al, ah)?;
        a.mov(dx, u32::from(COM1))?;
        a.out(dx, al)?;
        a.ret()?;

        a.set_label(&mut self.print_str)?;
        let mut end = a.create_label();
        a.lodsb()?;
        a.test(al, al)?;
        a.jz(end)?;
        a.call(self.putc)?;
        a.jmp(self.print_str)?;
        a.set_label(&mut end)?;
        a.ret()?;

        a.set_label(&mut self.print_hex)?;
        a.mov(ebx, eax)?;
        a.mov(ecx, 8)?;
        let (mut next, mut digit) = (a.create_label(), a.create_label());
        a.set_label(&mut next)?;
        a.rol(ebx, 4)?;
        a.mov(eax, ebx)?;
        a.and(eax, 0xF)?;
        a.add(al, u32::from(b'0'))?;
        a.cmp(al, u32::from(b'9'))?;
        a.jbe(digit)?;
        a.add(al, 7)?;
        a.set_label(&mut digit)?;
        a.call(self.putc)?;
        a.dec(ecx)?;
        a.jnz(next)?;
        a.ret()
    }
}

/// Parses the guest's result lines: (name, iterations, ticks).
pub fn parse_results(serial: &str) -> Vec<(String, u64, u64)> {
    serial
        .lines()
        .filter_map(|l| {
            let mut w = l.strip_prefix("bench ")?.split_whitespace();
            let name = w.next()?.to_string();
            let iters = u64::from_str_radix(w.next()?, 16).ok()?;
            let ticks = u64::from_str_radix(w.next()?, 16).ok()?;
            Some((name, iters, ticks))
        })
        .collect()
}

/// The vector of the unexpected exception the guest reported, if it did.
pub fn unexpected_exception(serial: &str) -> Option<u8> {
    serial.lines().find_map(|l| {
        let vector = u32::from_str_radix(l.strip_prefix(FAILED_PREFIX)?.trim(), 16).ok()?;
        u8::try_from(vector).ok()
    })
}

/// The mnemonic of an exception vector (`#GP`), or `interrupt` above 21.
pub fn exception_name(vector: u8) -> &'static str {
    const NAMES: [&str; 22] = [
        "#DE",
        "#DB",
        "NMI",
        "#BP",
        "#OF",
        "#BR",
        "#UD",
        "#NM",
        "#DF",
        "coprocessor overrun",
        "#TS",
        "#NP",
        "#SS",
        "#GP",
        "#PF",
        "reserved",
        "#MF",
        "#AC",
        "#MC",
        "#XM",
        "#VE",
        "#CP",
    ];
    NAMES
        .get(usize::from(vector))
        .copied()
        .unwrap_or("interrupt")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unexpected_exceptions_are_named() {
        let out = "bench: FAILED: unexpected exception 0000000D\n";
        assert_eq!(unexpected_exception(out), Some(13));
        assert_eq!(exception_name(13), "#GP");
        assert_eq!(
            unexpected_exception("bench: FAILED: unexpected exception 00000000"),
            Some(0)
        );
        assert_eq!(unexpected_exception("bench: done"), None);
    }

    #[test]
    fn result_lines_parse() {
        let out = "noise\nbench int80 00004E20 00000000000186A0\nbench: done\n";
        assert_eq!(
            parse_results(out),
            vec![("int80".to_string(), 20000, 100_000)]
        );
    }
}
