//! The vx86 BIOS: a small PC BIOS, assembled at run time with iced-x86 `code_asm`.
//!
//! A PC starts in real mode at physical 0xFFFFFFF0, which the board aliases to the last 16 bytes of this 64 KiB
//! image (it is also mapped at 0xF0000-0xFFFFF, so code runs in segment F000). From there the BIOS does what
//! every PC BIOS does, in this order (see `post.rs`):
//!
//! 1. POST: set up a stack, the BIOS Data Area, the interrupt vector table, the interrupt controller, the timer,
//!    the serial port and the A20 gate, size memory from the CMOS, find the hard disk, print a banner.
//! 2. Boot: INT 19h loads sector 0 of the first hard disk to 0000:7C00 and jumps to it.
//! 3. Afterwards it stays resident as a library of real-mode services reached with `INT n`: video (`video.rs`),
//!    disk (`disk.rs`), memory (`memory.rs`), keyboard (`keyboard.rs`), time (`time.rs`).
//!
//! The image is assembled in passes: the first finds where every label lands; the next uses those addresses as
//! plain numbers (the vector table, string pointers), until a pass reproduces the addresses it was given.

mod boot;
mod common;
mod disk;
mod keyboard;
pub mod layout;
pub mod memory;
mod post;
mod serial;
mod time;
mod video;

use iced_x86::code_asm::{CodeAssembler, CodeLabel};
use iced_x86::{BlockEncoderOptions, IcedError};

/// Size of the BIOS image in bytes; it is mapped at 0xF0000 and aliased below 4 GiB.
pub const BIOS_SIZE: usize = 64 * 1024;

/// Offset of the reset vector in the image (physical 0xFFFF0 and 0xFFFFFFF0).
pub const RESET_VECTOR_OFFSET: usize = 0xFFF0;

/// The BIOS release date, kept at F000:FFF5 where DOS-era software looks for it.
const BIOS_DATE: &[u8; 8] = b"06/01/25";

/// Machine model byte at F000:FFFE: 0xFC means "PC/AT".
const MODEL_BYTE: u8 = 0xFC;

/// Declares every label that one file emits and another file uses, plus a twin struct holding their addresses.
macro_rules! labels {
    ($($name:ident),* $(,)?) => {
        /// The named labels of the image (shared between files).
        pub(crate) struct Labels {
            $(pub(crate) $name: CodeLabel,)*
        }

        /// Offsets (within segment F000) of the named labels, as found by an assembly pass.
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub(crate) struct Addrs {
            $(pub(crate) $name: u32,)*
        }

        impl Labels {
            fn new(a: &mut CodeAssembler) -> Self {
                Self { $($name: a.create_label(),)* }
            }

            fn resolve(&self, r: &iced_x86::code_asm::CodeAssemblerResult) -> Result<Addrs, IcedError> {
                Ok(Addrs { $($name: r.label_ip(&self.$name)? as u32,)* })
            }
        }

        impl Addrs {
            fn list(&self) -> Vec<(&'static str, u16)> {
                vec![$((stringify!($name), self.$name as u16),)*]
            }
        }
    };
}

labels!(
    // Entry points.
    post,
    int_default,
    irq_master_default,
    irq_slave_default,
    int08_timer,
    int10_video,
    int11_equipment,
    int12_memory_size,
    int13_disk,
    int15_system,
    int16_keyboard,
    int18_no_boot,
    int19_boot,
    int1a_time,
    // Subroutines.
    serial_putc,
    serial_getc,
    tty_putc,
    tty_putc_attr,
    video_clear,
    print_str,
    print_dec,
    cmos_read,
    bcd_to_bin,
    memory_probe,
    ticks_from_rtc,
    ata_detect,
    ata_rw,
    kbd_poll,
    // Data in ROM.
    vector_table,
    gdt,
    gdt_descriptor,
    e820_template,
    scan_codes,
    msg_banner,
    msg_memory,
    msg_mib,
    msg_disk,
    msg_no_disk,
    msg_booting,
    msg_no_boot,
);

/// What every emitting function gets: the assembler, the labels, and the addresses from the previous pass.
pub(crate) struct Ctx {
    /// The assembler (16-bit code).
    pub(crate) a: CodeAssembler,
    /// Named labels shared between files.
    pub(crate) l: Labels,
    /// Label addresses from the previous pass (all zero in the first pass).
    pub(crate) prev: Addrs,
}

/// Result type of the emitting functions.
pub(crate) type Emit = Result<(), IcedError>;

/// One assembly pass: the code part of the image (from offset 0) and where its labels landed.
fn assemble(prev: Addrs) -> Result<(Vec<u8>, Addrs), IcedError> {
    let mut a = CodeAssembler::new(16)?;
    let l = Labels::new(&mut a);
    let mut c = Ctx { a, l, prev };
    post::emit(&mut c)?;
    common::emit(&mut c)?;
    serial::emit(&mut c)?;
    video::emit(&mut c)?;
    disk::emit(&mut c)?;
    memory::emit(&mut c)?;
    keyboard::emit(&mut c)?;
    time::emit(&mut c)?;
    boot::emit(&mut c)?;
    post::emit_vector_table(&mut c)?;
    let r =
        c.a.assemble_options(0, BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS)?;
    let addrs = c.l.resolve(&r)?;
    Ok((r.inner.code_buffer, addrs))
}

/// Assembles until the label addresses stop moving (an address used as an immediate can change an
/// instruction's size, e.g. imm8 vs imm16), and returns the code and the final label addresses.
fn build() -> (Vec<u8>, Addrs) {
    let mut addrs = Addrs::default();
    for _ in 0..8 {
        let (code, next) = assemble(addrs.clone()).expect("the BIOS assembles");
        if next == addrs {
            assert!(
                code.len() <= RESET_VECTOR_OFFSET,
                "BIOS code ({} bytes) overlaps the reset vector",
                code.len()
            );
            return (code, next);
        }
        addrs = next;
    }
    panic!("BIOS label addresses do not settle");
}

/// Assembles the BIOS image: exactly [`BIOS_SIZE`] bytes, to be mapped at 0xF0000 (and 0xFFFF0000).
///
/// # Panics
///
/// Only if the BIOS source itself is broken (an assembler error); the unit tests catch that.
pub fn image() -> Vec<u8> {
    let (code, addrs) = build();
    let mut rom = vec![0xFF; BIOS_SIZE];
    rom[..code.len()].copy_from_slice(&code);
    // The reset vector: JMP FAR F000:post (opcode EA, offset, segment).
    let tail = &mut rom[RESET_VECTOR_OFFSET..];
    tail[0] = 0xEA;
    tail[1..3].copy_from_slice(&(addrs.post as u16).to_le_bytes());
    tail[3..5].copy_from_slice(&(layout::BIOS_SEG as u16).to_le_bytes());
    tail[5..13].copy_from_slice(BIOS_DATE);
    tail[13] = 0;
    tail[14] = MODEL_BYTE;
    tail[15] = 0;
    rom
}

/// The named entry points, subroutines and tables of the image, with their offsets in segment F000.
///
/// Handy for a debugger or a trace: for example `("int13_disk", 0x1234)` is the INT 13h handler at F000:1234.
pub fn symbols() -> Vec<(&'static str, u16)> {
    build().1.list()
}

#[cfg(test)]
mod tests {
    use super::*;
    use iced_x86::{Code, Decoder, DecoderOptions};

    #[test]
    fn image_is_64k() {
        assert_eq!(image().len(), BIOS_SIZE);
    }

    #[test]
    fn reset_vector_jumps_far_to_post() {
        let rom = image();
        let mut d = Decoder::with_ip(
            16,
            &rom[RESET_VECTOR_OFFSET..],
            0xFFF0,
            DecoderOptions::NONE,
        );
        let insn = d.decode();
        assert_eq!(insn.code(), Code::Jmp_ptr1616);
        assert_eq!(insn.far_branch_selector(), 0xF000);
        let target = insn.far_branch16() as usize;
        assert!(target < RESET_VECTOR_OFFSET);
        let post = symbols().into_iter().find(|(n, _)| *n == "post").unwrap().1;
        assert_eq!(target, post as usize);
        // POST starts with CLI.
        assert_eq!(rom[target], 0xFA);
    }

    #[test]
    fn every_vector_points_into_the_image() {
        let rom = image();
        let syms = symbols();
        let table = syms.iter().find(|(n, _)| *n == "vector_table").unwrap().1 as usize;
        let entries: Vec<u16> = (0..256)
            .map(|i| u16::from_le_bytes([rom[table + 2 * i], rom[table + 2 * i + 1]]))
            .collect();
        for (vector, &off) in entries.iter().enumerate() {
            assert!(
                (off as usize) < RESET_VECTOR_OFFSET,
                "vector {vector:#x} -> {off:#x}"
            );
            assert!(
                syms.iter().any(|(_, a)| *a == off),
                "vector {vector:#x} -> {off:#x} is not an entry point"
            );
        }
        let named = |name: &str| syms.iter().find(|(n, _)| *n == name).unwrap().1;
        assert_eq!(entries[0x08], named("int08_timer"));
        assert_eq!(entries[0x0F], named("irq_master_default"));
        assert_eq!(entries[0x10], named("int10_video"));
        assert_eq!(entries[0x13], named("int13_disk"));
        assert_eq!(entries[0x19], named("int19_boot"));
        assert_eq!(entries[0x75], named("irq_slave_default"));
        assert_eq!(entries[0x80], named("int_default"));
    }

    #[test]
    fn date_and_model_byte() {
        let rom = image();
        assert_eq!(&rom[0xFFF5..0xFFFD], BIOS_DATE);
        assert_eq!(rom[0xFFFE], MODEL_BYTE);
    }
}
