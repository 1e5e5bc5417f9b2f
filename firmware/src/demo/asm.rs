//! A small two-pass layer over iced-x86's `CodeAssembler`.
//!
//! `code_asm` can use a label as a memory operand only RIP-relatively, which exists in 64-bit code alone. In 16- and
//! 32-bit code an address must be written as a number: a string's address in `mov esi, imm32`, a handler's address in
//! an IDT gate. So the demo is assembled repeatedly: each pass learns the address of every symbol from the pass before,
//! and assembly stops when no address moves (the first pass uses 0 everywhere). The instruction forms used with symbol
//! addresses have a fixed size, so this takes two or three passes.

use iced_x86::code_asm::{ecx, esi, CodeAssembler, CodeLabel};
use iced_x86::{BlockEncoderOptions, IcedError};

/// A label whose address is also needed as a number.
#[derive(Clone, Copy)]
pub(crate) struct Sym {
    /// The label, for `call`, `jmp` and [`Asm::place`].
    pub(crate) label: CodeLabel,
    /// Its address as found by the previous pass (0 in the first pass).
    pub(crate) addr: u32,
}

/// One pass of assembly: the assembler, the symbols created so far, and data waiting to be placed after the code.
pub(crate) struct Asm {
    /// The underlying iced-x86 assembler.
    pub(crate) a: CodeAssembler,
    /// Prints the NUL-terminated string at ESI (see `text.rs`).
    pub(crate) print: CodeLabel,
    /// Prints EAX as ECX hex digits.
    pub(crate) hex: CodeLabel,
    /// Prints EAX in decimal.
    pub(crate) dec: CodeLabel,
    /// Prints the character in AL, turning `\n` into `\r\n`.
    pub(crate) putc: CodeLabel,
    known: Vec<u32>,
    syms: Vec<CodeLabel>,
    data: Vec<(CodeLabel, Vec<u8>)>,
}

/// The result of assembling one piece of code.
pub(crate) struct Assembled {
    /// The machine code followed by its data.
    pub(crate) bytes: Vec<u8>,
    /// How many leading bytes are instructions; data (strings, tables) follows.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) code_len: usize,
}

impl Asm {
    fn new(bitness: u32, known: Vec<u32>) -> Result<Self, IcedError> {
        let mut a = CodeAssembler::new(bitness)?;
        let (print, hex, dec, putc) = (
            a.create_label(),
            a.create_label(),
            a.create_label(),
            a.create_label(),
        );
        Ok(Self {
            a,
            print,
            hex,
            dec,
            putc,
            known,
            syms: Vec::new(),
            data: Vec::new(),
        })
    }

    /// Creates a symbol, to be placed later with [`Asm::place`] (or by [`Asm::data`]).
    pub(crate) fn sym(&mut self) -> Sym {
        let label = self.a.create_label();
        let addr = self.known.get(self.syms.len()).copied().unwrap_or(0);
        self.syms.push(label);
        Sym { label, addr }
    }

    /// Places a label (plain or from [`Asm::sym`]) at the next instruction.
    pub(crate) fn place(&mut self, label: CodeLabel) -> Result<(), IcedError> {
        let mut placed = label;
        self.a.set_label(&mut placed)?;
        if let Some(slot) = self.syms.iter_mut().find(|s| **s == label) {
            *slot = placed;
        }
        Ok(())
    }

    /// Queues bytes to be placed after all code and returns their address.
    pub(crate) fn data(&mut self, bytes: Vec<u8>) -> u32 {
        let sym = self.sym();
        self.data.push((sym.label, bytes));
        sym.addr
    }

    /// Queues a NUL-terminated string and returns its address.
    pub(crate) fn msg(&mut self, text: &str) -> u32 {
        let mut bytes = text.as_bytes().to_vec();
        bytes.push(0);
        self.data(bytes)
    }

    /// Emits code that prints `text` (ESI is clobbered).
    pub(crate) fn say(&mut self, text: &str) -> Result<(), IcedError> {
        let addr = self.msg(text);
        self.a.mov(esi, addr)?;
        self.a.call(self.print)
    }

    /// Emits code that prints EAX as `digits` hex digits.
    pub(crate) fn say_hex(&mut self, digits: u32) -> Result<(), IcedError> {
        self.a.push(ecx)?;
        self.a.mov(ecx, digits)?;
        self.a.call(self.hex)?;
        self.a.pop(ecx)
    }

    /// Emits code that prints EAX in decimal.
    pub(crate) fn say_dec(&mut self) -> Result<(), IcedError> {
        self.a.call(self.dec)
    }

    fn finish(mut self, base: u32) -> Result<(Assembled, Vec<u32>), IcedError> {
        let data = std::mem::take(&mut self.data);
        let first_data = data.first().map(|(label, _)| *label);
        for (label, bytes) in data {
            self.place(label)?;
            self.a.db(&bytes)?;
        }
        let result = self.a.assemble_options(
            u64::from(base),
            BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS,
        )?;
        let addr = |label: &CodeLabel| result.label_ip(label).map(|ip| ip as u32);
        let addrs = self.syms.iter().map(addr).collect::<Result<Vec<_>, _>>()?;
        let code_len = match first_data.and_then(|label| self.syms.iter().position(|s| *s == label))
        {
            Some(index) => (addrs[index] - base) as usize,
            None => result.inner.code_buffer.len(),
        };
        let bytes = result.inner.code_buffer;
        Ok((Assembled { bytes, code_len }, addrs))
    }
}

/// Assembles `emit`'s code for `bitness` at `base`, repeating until every symbol's address is stable.
pub(crate) fn assemble(
    bitness: u32,
    base: u32,
    emit: impl Fn(&mut Asm) -> Result<(), IcedError>,
) -> Result<Assembled, IcedError> {
    let mut known = Vec::new();
    for _pass in 0..8 {
        let mut asm = Asm::new(bitness, known.clone())?;
        emit(&mut asm)?;
        let (out, addrs) = asm.finish(base)?;
        if addrs == known {
            return Ok(out);
        }
        known = addrs;
    }
    panic!("demo guest: symbol addresses did not settle after 8 assembler passes")
}
