//! The guest as a Multiboot (v1) image, for emulators that boot a kernel file instead of taking a memory image and
//! a CPU state (QEMU's `-kernel`): the same memory image, and a small entry stub that puts the CPU in the guest's
//! start state.
//!
//! The image is a flat binary loaded by its header's address fields (flag 16, the "a.out kludge"; QEMU refuses
//! ELF64 multiboot kernels) at [`LOAD_ADDR`]:
//!
//! | part | what |
//! |---|---|
//! | header | magic, flags, checksum, then header, load, load end and entry addresses (no bss) |
//! | payload | the memory image from its lowest to its highest address, gaps zero |
//! | operands | the GDTR and IDTR operands, then the stub's 16-byte stack |
//! | trampoline | code of the start state's mode: segment registers, TR, RFLAGS, general registers, jump to RIP |
//! | entry | 32-bit code: the payload copied down, GDTR, IDTR, CR4, CR3, EFER, CR0, far jump to the trampoline |
//!
//! The payload is copied rather than loaded in place because a loader may still be using low memory while it loads
//! (QEMU's loader is an option ROM running on the BIOS's stack), and because the guest expects RAM it did not write
//! to be zero, as vx86's fresh RAM is, where a BIOS has left its data. The stub and its stack must stay mapped when the
//! start state's paging goes on: the 64-bit guest maps the first 2 MiB one to one.
//!
//! Of the start state the stub reproduces the general registers, RIP, RFLAGS, CS, SS, DS, ES, FS, GS, TR, GDTR,
//! IDTR, CR0, CR3, CR4 and EFER, and nothing else (no MSRs: the guests set the ones they use); the test boot through
//! vx86's multiboot loader checks that this is the whole start state.

use super::kernel::wrmsrs;
use iced_x86::code_asm::*;
use iced_x86::{Code, IcedError, Instruction};
use vx86_cpu::cpuid::msr;
use vx86_cpu::state::{attr, efer, SegReg};
use vx86_cpu::testing::{asm_r32, asm_r64};
use vx86_cpu::CpuState;
use vx86_machine::loader::multiboot::{FLAG_ADDRESSES, HEADER_MAGIC};

/// Where the image loads: 1 MiB, the lowest address multiboot loaders commonly accept, above the BIOS areas.
pub const LOAD_ADDR: u32 = 0x10_0000;
/// The header: eight u32 fields, at the image's start.
const HEADER_BYTES: u32 = 32;
/// The GDTR and IDTR operands (6 bytes each, padded), then the stub's stack.
const OPERANDS_BYTES: u32 = 16;
/// The stub's stack: one RFLAGS push.
const STACK_BYTES: u32 = 16;
/// Alignment of the parts after the payload.
const ALIGN: u32 = 16;
/// The busy bit in a TSS descriptor's type.
const TSS_BUSY_BIT: u8 = 0x02;

/// Why an image could not be built.
#[derive(Debug, thiserror::Error)]
pub enum MultibootError {
    /// The stub did not assemble.
    #[error("the multiboot entry stub does not assemble: {0}")]
    Assemble(#[from] IcedError),
    /// The payload would overwrite the image while the stub copies it.
    #[error("the memory image ends at {end:#x}, above the multiboot image's load address {LOAD_ADDR:#x}")]
    PayloadTooHigh {
        /// The end of the memory image.
        end: u64,
    },
    /// The start state is one the stub cannot reach.
    #[error("the multiboot entry stub cannot start {0}")]
    Unsupported(&'static str),
}

/// Where the parts after the payload are.
struct Layout {
    /// The payload in the loaded image.
    payload_at: u32,
    /// The GDTR operand; the IDTR operand follows 8 bytes on.
    operands_at: u32,
    /// The top of the stub's stack.
    stack_top: u32,
    /// The trampoline.
    trampoline_at: u32,
}

/// The multiboot image that loads `pieces` (physical address, bytes) and enters `start` at CPL 0 in 32-bit
/// protected mode or 64-bit mode.
pub fn image(pieces: &[(u32, Vec<u8>)], start: &CpuState) -> Result<Vec<u8>, MultibootError> {
    let (dest, payload) = payload(pieces)?;
    let payload_at = LOAD_ADDR + HEADER_BYTES;
    let operands_at = (payload_at + payload.len() as u32).next_multiple_of(ALIGN);
    let stack_top = operands_at + OPERANDS_BYTES + STACK_BYTES;
    let layout = Layout {
        payload_at,
        operands_at,
        stack_top,
        trampoline_at: stack_top,
    };
    let trampoline = assemble(mode_bits(start)?, layout.trampoline_at, |a| {
        emit_trampoline(a, start, &layout)
    })?;
    let entry_at = (layout.trampoline_at + trampoline.len() as u32).next_multiple_of(ALIGN);
    let entry = assemble(32, entry_at, |a| {
        emit_entry(a, start, &layout, dest, payload.len() as u32)
    })?;
    let load_end = entry_at + entry.len() as u32;

    let mut out = vec![0; (load_end - LOAD_ADDR) as usize];
    let mut put = |addr: u32, bytes: &[u8]| {
        let at = (addr - LOAD_ADDR) as usize;
        out[at..at + bytes.len()].copy_from_slice(bytes);
    };
    put(LOAD_ADDR, &header(load_end, entry_at));
    put(payload_at, &payload);
    put(
        operands_at,
        &table_operand(start.gdtr.base, start.gdtr.limit)?,
    );
    put(
        operands_at + 8,
        &table_operand(start.idtr.base, start.idtr.limit)?,
    );
    put(layout.trampoline_at, &trampoline);
    put(entry_at, &entry);
    Ok(out)
}

/// The header, at the image's start: load the whole file at [`LOAD_ADDR`], no bss, enter at `entry`.
fn header(load_end: u32, entry: u32) -> Vec<u8> {
    let checksum = 0u32.wrapping_sub(HEADER_MAGIC.wrapping_add(FLAG_ADDRESSES));
    let fields = [
        HEADER_MAGIC,
        FLAG_ADDRESSES,
        checksum,
        LOAD_ADDR,
        LOAD_ADDR,
        load_end,
        0,
        entry,
    ];
    fields.iter().flat_map(|f| f.to_le_bytes()).collect()
}

/// The pieces laid out from the lowest address to the highest end, gaps zero: (lowest address, bytes).
fn payload(pieces: &[(u32, Vec<u8>)]) -> Result<(u32, Vec<u8>), MultibootError> {
    let start = pieces.iter().map(|p| p.0).min().unwrap_or(0);
    let end = pieces
        .iter()
        .map(|(addr, bytes)| u64::from(*addr) + bytes.len() as u64)
        .max()
        .unwrap_or(0);
    if end > u64::from(LOAD_ADDR) {
        return Err(MultibootError::PayloadTooHigh { end });
    }
    let mut bytes = vec![0; (end - u64::from(start)) as usize];
    for (addr, piece) in pieces {
        let at = (addr - start) as usize;
        bytes[at..at + piece.len()].copy_from_slice(piece);
    }
    Ok((start, bytes))
}

/// The 6-byte LGDT/LIDT operand of 32-bit code.
fn table_operand(base: u64, limit: u32) -> Result<[u8; 6], MultibootError> {
    let base = low32(base, "a descriptor table above 4 GiB")?;
    let limit = u16::try_from(limit)
        .map_err(|_| MultibootError::Unsupported("a table limit over 64 KiB"))?;
    let mut op = [0; 6];
    op[..2].copy_from_slice(&limit.to_le_bytes());
    op[2..].copy_from_slice(&base.to_le_bytes());
    Ok(op)
}

/// `value` if it fits in 32 bits, else the start state is `what`.
fn low32(value: u64, what: &'static str) -> Result<u32, MultibootError> {
    u32::try_from(value).map_err(|_| MultibootError::Unsupported(what))
}

/// The code size of the start state's CS: 64 or 32.
fn mode_bits(start: &CpuState) -> Result<u32, MultibootError> {
    let code = start.segs[SegReg::Cs as usize].attrs;
    if start.cpl != 0 {
        Err(MultibootError::Unsupported("a state outside ring 0"))
    } else if code & attr::L != 0 {
        Ok(64)
    } else if code & attr::DB != 0 {
        Ok(32)
    } else {
        Err(MultibootError::Unsupported("16-bit code"))
    }
}

/// Assembles `emit`'s code of `bits` at `addr`.
fn assemble(
    bits: u32,
    addr: u32,
    emit: impl FnOnce(&mut CodeAssembler) -> Result<(), MultibootError>,
) -> Result<Vec<u8>, MultibootError> {
    let mut a = CodeAssembler::new(bits)?;
    emit(&mut a)?;
    Ok(a.assemble(u64::from(addr))?)
}

/// The 32-bit entry (flat protected mode, paging off, as multiboot enters it): the payload to its place, the
/// start state's descriptor tables and control registers, and a far jump through its CS to the trampoline. With
/// EFER.LME set, setting CR0.PG enters long mode and the jump through a 64-bit CS enters 64-bit mode.
fn emit_entry(
    a: &mut CodeAssembler,
    start: &CpuState,
    layout: &Layout,
    dest: u32,
    len: u32,
) -> Result<(), MultibootError> {
    a.cli()?;
    a.cld()?;
    a.mov(esi, layout.payload_at)?;
    a.mov(edi, dest)?;
    a.mov(ecx, len)?;
    a.rep().movsb()?;
    a.lgdt(ptr(layout.operands_at))?;
    a.lidt(ptr(layout.operands_at + 8))?;
    a.mov(eax, low32(start.cr4, "a CR4 above 32 bits")?)?;
    a.mov(cr4, eax)?;
    a.mov(eax, low32(start.cr3, "a CR3 above 4 GiB")?)?;
    a.mov(cr3, eax)?;
    wrmsrs(a, &[(msr::EFER, start.efer & !efer::LMA)])?;
    a.mov(eax, low32(start.cr0, "a CR0 above 32 bits")?)?;
    a.mov(cr0, eax)?;
    let code = start.segs[SegReg::Cs as usize].selector;
    a.add_instruction(Instruction::with_far_branch(
        Code::Jmp_ptr1632,
        code,
        layout.trampoline_at,
    )?)?;
    Ok(())
}

/// The trampoline, in the start state's mode: the data segment registers and TR from the GDT, RFLAGS through the
/// stub's stack, then every general register, and a jump to RIP.
fn emit_trampoline(
    a: &mut CodeAssembler,
    start: &CpuState,
    layout: &Layout,
) -> Result<(), MultibootError> {
    let sregs = [
        (SegReg::Es, es),
        (SegReg::Ss, ss),
        (SegReg::Ds, ds),
        (SegReg::Fs, fs),
        (SegReg::Gs, gs),
    ];
    for (seg, sreg) in sregs {
        a.mov(ax, u32::from(start.segs[seg as usize].selector))?;
        a.mov(sreg, ax)?;
    }
    if start.tr.selector != 0 {
        emit_ltr(a, start)?;
    }
    let rflags = low32(start.rflags, "an RFLAGS above 32 bits")?;
    a.mov(esp, layout.stack_top)?;
    a.push(rflags as i32)?;
    if a.bitness() == 64 {
        a.popfq()?;
        for (n, &value) in start.gpr.iter().enumerate() {
            a.mov(asm_r64(n), value)?;
        }
    } else {
        a.popfd()?;
        if start.gpr[8..].iter().any(|&v| v != 0) {
            return Err(MultibootError::Unsupported(
                "a 32-bit state with R8-R15 set",
            ));
        }
        for (n, &value) in start.gpr[..8].iter().enumerate() {
            let value = low32(value, "a 32-bit state with a register above 32 bits")?;
            a.mov(asm_r32(n), value)?;
        }
    }
    a.jmp(start.rip)?;
    Ok(())
}

/// LTR of the start state's TR. The memory image has its descriptor busy, as loading TR leaves it; LTR wants it
/// available, so the busy bit is cleared first and LTR sets it again.
fn emit_ltr(a: &mut CodeAssembler, start: &CpuState) -> Result<(), MultibootError> {
    let selector = start.tr.selector;
    let access = low32(start.gdtr.base, "a GDT above 4 GiB")? + u32::from(selector & !7) + 5;
    a.and(byte_ptr(access), u32::from(!TSS_BUSY_BIT))?;
    a.mov(ax, u32::from(selector))?;
    Ok(a.ltr(ax)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::Guest;
    use vx86_machine::loader::multiboot::find_header;

    fn le32(image: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(image[at..at + 4].try_into().expect("4 bytes"))
    }

    #[test]
    fn the_header_loads_the_whole_file_at_one_mib_and_the_payload_holds_every_piece() {
        for guest in Guest::ALL {
            let pieces = guest.memory_image(guest.all_ops(), 100);
            let file = image(&pieces, &guest.start_state()).expect("builds");
            let header = find_header(&file).expect("checksum").expect("a header");
            assert_eq!((header.offset, header.flags), (0, FLAG_ADDRESSES));
            let [header_addr, load, load_end, bss_end, entry] =
                [12, 16, 20, 24, 28].map(|at| le32(&file, at));
            assert_eq!((header_addr, load, bss_end), (LOAD_ADDR, LOAD_ADDR, 0));
            assert_eq!(load_end, LOAD_ADDR + file.len() as u32);
            assert!((LOAD_ADDR + HEADER_BYTES..load_end).contains(&entry));

            let lowest = pieces.iter().map(|p| p.0).min().expect("pieces");
            for (addr, bytes) in &pieces {
                let at = (HEADER_BYTES + addr - lowest) as usize;
                assert_eq!(&file[at..at + bytes.len()], bytes, "{guest}: {addr:#x}");
            }
        }
    }

    #[test]
    fn a_memory_image_reaching_the_load_address_is_refused() {
        let pieces = [(LOAD_ADDR - 4, vec![0; 8])];
        let err = image(&pieces, &Guest::Long64.start_state()).expect_err("overlaps");
        assert!(
            matches!(err, MultibootError::PayloadTooHigh { end } if end == u64::from(LOAD_ADDR) + 4)
        );
    }
}
