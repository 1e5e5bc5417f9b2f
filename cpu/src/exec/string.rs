//! String instructions with their REP prefixes: MOVS, CMPS, STOS, LODS, SCAS, INS, OUTS.
//!
//! The address size (SI/DI/CX, ESI/EDI/ECX or RSI/RDI/RCX) comes from the operand kinds iced reports. The DS:SI
//! operand honours segment overrides; ES:DI never does. Each iteration does every access that can fault before it
//! updates a register, and a repeated instruction commits its registers after every iteration, so a fault mid-way
//! leaves a consistent state with RIP at the instruction (the run loop restores it). A long REP runs at most
//! [`MAX_ITERATIONS`] iterations per execution and then points RIP back at itself, so interrupts are taken in
//! between; a device stop request after port I/O ends the batch early the same way.

use crate::alu;
use crate::bus::Bus;
use crate::fault::Fault;
use crate::flags::{ARITH, DF, RF, ZF};
use crate::interp::operands::mask;
use crate::mmu::Access;
use crate::state::SegReg;
use crate::Cpu;
use iced_x86::{Instruction, Mnemonic as M, OpKind, Register};

/// Iterations of a REP string instruction done before it re-executes itself.
const MAX_ITERATIONS: u32 = 4096;

/// What one iteration does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Movs,
    Cmps,
    Stos,
    Lods,
    Scas,
    Ins,
    Outs,
}

/// How a string instruction walks memory: its operation, element size, and index and count registers.
struct Walk {
    op: Op,
    /// Element size in bytes.
    size: usize,
    si: Register,
    di: Register,
    cx: Register,
    /// Address size in bytes: the index registers wrap at it.
    asz: usize,
    /// Added to the index registers per element (negative when DF is set).
    step: u64,
}

/// Address size in bytes of a string instruction, from its implicit memory operands; `None` when it has none (the
/// SSE MOVSD/CMPSD that share a mnemonic with the dword string forms).
fn string_address_size(i: &Instruction) -> Option<usize> {
    (0..i.op_count()).find_map(|n| match i.op_kind(n) {
        OpKind::MemorySegSI | OpKind::MemoryESDI => Some(2),
        OpKind::MemorySegESI | OpKind::MemoryESEDI => Some(4),
        OpKind::MemorySegRSI | OpKind::MemoryESRDI => Some(8),
        _ => None,
    })
}

impl Cpu {
    pub(super) fn exec_string<B: Bus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
    ) -> Result<(), Fault> {
        let (op, size) = match i.mnemonic() {
            M::Movsb => (Op::Movs, 1),
            M::Movsw => (Op::Movs, 2),
            M::Movsd => (Op::Movs, 4),
            M::Cmpsb => (Op::Cmps, 1),
            M::Cmpsw => (Op::Cmps, 2),
            M::Cmpsd => (Op::Cmps, 4),
            M::Stosb => (Op::Stos, 1),
            M::Stosw => (Op::Stos, 2),
            M::Stosd => (Op::Stos, 4),
            M::Lodsb => (Op::Lods, 1),
            M::Lodsw => (Op::Lods, 2),
            M::Lodsd => (Op::Lods, 4),
            M::Scasb => (Op::Scas, 1),
            M::Scasw => (Op::Scas, 2),
            M::Scasd => (Op::Scas, 4),
            M::Insb => (Op::Ins, 1),
            M::Insw => (Op::Ins, 2),
            M::Insd => (Op::Ins, 4),
            M::Outsb => (Op::Outs, 1),
            M::Outsw => (Op::Outs, 2),
            M::Outsd => (Op::Outs, 4),
            M::Movsq => (Op::Movs, 8),
            M::Cmpsq => (Op::Cmps, 8),
            M::Stosq => (Op::Stos, 8),
            M::Lodsq => (Op::Lods, 8),
            M::Scasq => (Op::Scas, 8),
            _ => return Err(self.unimplemented(i)),
        };
        let Some(asz) = string_address_size(i) else {
            return Err(self.unimplemented(i));
        };
        let (si, di, cx) = match asz {
            2 => (Register::SI, Register::DI, Register::CX),
            4 => (Register::ESI, Register::EDI, Register::ECX),
            _ => (Register::RSI, Register::RDI, Register::RCX),
        };
        let step = if self.state.rflags & DF != 0 {
            (size as u64).wrapping_neg()
        } else {
            size as u64
        };
        let walk = Walk {
            op,
            size,
            si,
            di,
            cx,
            asz,
            step,
        };
        // REPNE (F2) before a non-comparing string instruction repeats like REP.
        let rep = i.has_rep_prefix() || i.has_repne_prefix();
        let mut done = 0;
        loop {
            if rep && self.reg(walk.cx) == 0 {
                return Ok(());
            }
            if rep {
                let chunk = self.rep_in_pages(bus, i, &walk, MAX_ITERATIONS - done);
                if chunk > 0 {
                    done += chunk;
                    if self.reg(walk.cx) == 0 {
                        return Ok(());
                    }
                    if done >= MAX_ITERATIONS {
                        self.pause_repeat(i);
                        return Ok(());
                    }
                    continue;
                }
            }
            self.string_iteration(bus, i, &walk)?;
            if !rep {
                return Ok(());
            }
            let count = self.reg(walk.cx).wrapping_sub(1) & mask(walk.asz);
            self.set_reg(walk.cx, count);
            if count == 0 {
                return Ok(());
            }
            if matches!(op, Op::Cmps | Op::Scas) {
                let zf = self.state.rflags & ZF != 0;
                if (i.has_repe_prefix() && !zf) || (i.has_repne_prefix() && zf) {
                    return Ok(());
                }
            }
            done += 1;
            if done >= MAX_ITERATIONS || self.stop || self.debug_pauses_repeat() {
                self.pause_repeat(i);
                return Ok(());
            }
        }
    }

    /// Stops a repeated string instruction between iterations, to run again from its start: RIP points back at it,
    /// and RF is set, so that an interrupt or debug trap taken now pushes RF and its instruction breakpoint, if any,
    /// does not fire again (SDM vol. 3, 17.3.1.1).
    fn pause_repeat(&mut self, i: &Instruction) {
        self.state.rip = i.ip();
        self.state.rflags |= RF;
    }

    /// REP STOS and REP MOVS with 64-bit addresses, going up or (DF set) down, a page at a time: the elements that
    /// lie within the current destination (and source) page, up to `limit` of them, done as one host memory operation when
    /// the TLB's fast path already serves those bytes (RAM, writable, dirty, no code on the page). Returns how many
    /// elements it did, with RCX, RDI and RSI updated as the element-by-element path would leave them; 0 when it
    /// does not apply, and that path runs (and faults, fills the TLB or invalidates code as it must).
    fn rep_in_pages<B: Bus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
        walk: &Walk,
        limit: u32,
    ) -> u32 {
        let size = walk.size as u64;
        let down = walk.step == size.wrapping_neg();
        // With data breakpoints enabled, every element goes through the accessors that match them.
        let watched = self.state.breakpoints_enabled();
        if watched
            || !matches!(walk.op, Op::Stos | Op::Movs)
            || walk.asz != 8
            || (walk.step != size && !down)
        {
            return 0;
        }
        let user = self.user_mode();
        // Elements from the one at `linear` to the page's end, or (DF set) down to its start.
        let in_page = |linear: u64| {
            if down {
                (linear & 0xFFF) / size + 1
            } else {
                (0x1000 - (linear & 0xFFF)) / size
            }
        };
        // The lowest byte of the elements from the one at `linear` on.
        let low = |linear: u64, bytes: u64| {
            if down {
                linear.wrapping_sub(bytes - size)
            } else {
                linear
            }
        };
        let (di, si) = (self.reg(walk.di), self.reg(walk.si));
        let Ok(dst_linear) = self.seg_linear(SegReg::Es, di, walk.size, Access::Write) else {
            return 0;
        };
        let mut n = self
            .reg(walk.cx)
            .min(u64::from(limit))
            .min(in_page(dst_linear));
        let src_linear = if walk.op == Op::Movs {
            let Ok(linear) = self.seg_linear(Self::memory_segment(i), si, walk.size, Access::Read)
            else {
                return 0;
            };
            n = n.min(in_page(linear));
            Some(linear)
        } else {
            None
        };
        let bytes = (n * size) as usize;
        if n == 0 {
            return 0;
        }
        let Some(dst) = self
            .tlb
            .fast_offset(low(dst_linear, n * size), bytes, user, true)
        else {
            return 0;
        };
        let src = match src_linear {
            Some(linear) => match self
                .tlb
                .fast_offset(low(linear, n * size), bytes, user, false)
            {
                Some(src) => Some(src),
                None => return 0,
            },
            None => None,
        };
        let memory = bus.memory();
        if dst + bytes > memory.len() || src.is_some_and(|s| s + bytes > memory.len()) {
            return 0;
        }
        match src {
            None => fill(
                &mut memory[dst..dst + bytes],
                self.reg(Register::RAX),
                walk.size,
            ),
            // Going down, a destination just below the source sees elements this copy wrote: element by element,
            // highest first.
            Some(src) if down && dst < src && src < dst + bytes => match walk.size {
                8 => copy_descending::<8>(memory, src, dst, bytes),
                4 => copy_descending::<4>(memory, src, dst, bytes),
                2 => copy_descending::<2>(memory, src, dst, bytes),
                _ => copy_descending::<1>(memory, src, dst, bytes),
            },
            // Going up, a destination just above the source does.
            Some(src) if !down && dst > src && dst < src + bytes => match walk.size {
                8 => copy_ascending::<8>(memory, src, dst, bytes),
                4 => copy_ascending::<4>(memory, src, dst, bytes),
                2 => copy_ascending::<2>(memory, src, dst, bytes),
                _ => copy_ascending::<1>(memory, src, dst, bytes),
            },
            Some(src) => memory.copy_within(src..src + bytes, dst),
        }
        let moved = |index: u64| {
            if down {
                index.wrapping_sub(bytes as u64)
            } else {
                index.wrapping_add(bytes as u64)
            }
        };
        self.set_reg(walk.cx, self.reg(walk.cx) - n);
        self.set_reg(walk.di, moved(di));
        if src.is_some() {
            self.set_reg(walk.si, moved(si));
        }
        n as u32
    }

    /// One element: all accesses first, then the index registers (and flags for CMPS/SCAS).
    fn string_iteration<B: Bus>(
        &mut self,
        bus: &mut B,
        i: &Instruction,
        walk: &Walk,
    ) -> Result<(), Fault> {
        let (op, size) = (walk.op, walk.size);
        let src_seg = Self::memory_segment(i);
        let si = self.reg(walk.si);
        let di = self.reg(walk.di);
        let acc = match size {
            1 => Register::AL,
            2 => Register::AX,
            4 => Register::EAX,
            _ => Register::RAX,
        };
        let port = self.reg(Register::DX) as u16;
        let (advance_si, advance_di) = match op {
            Op::Movs => {
                let v = self.read_mem(bus, src_seg, si, size)?;
                self.write_mem(bus, SegReg::Es, di, size, v)?;
                (true, true)
            }
            Op::Cmps | Op::Scas => {
                let (a, b) = if op == Op::Cmps {
                    let a = self.read_mem(bus, src_seg, si, size)?;
                    (a, self.read_mem(bus, SegReg::Es, di, size)?)
                } else {
                    (self.reg(acc), self.read_mem(bus, SegReg::Es, di, size)?)
                };
                let (_, f) = alu::sub(a, b, false, size);
                self.set_flags(f, ARITH);
                (op == Op::Cmps, true)
            }
            Op::Stos => {
                let v = self.reg(acc);
                self.write_mem(bus, SegReg::Es, di, size, v)?;
                (false, true)
            }
            Op::Lods => {
                let v = self.read_mem(bus, src_seg, si, size)?;
                self.set_reg(acc, v);
                (true, false)
            }
            Op::Ins => {
                self.check_io_permission(bus, port, size)?;
                // Check the destination before reading the port, so a fault does not lose the data.
                let linear = self.seg_linear(SegReg::Es, di, size, Access::Write)?;
                let user = self.user_mode();
                self.probe_write(bus, linear, size, user)?;
                bus.sync_instructions(self.instructions);
                let v = bus.io_read(port, size as u8);
                self.write_mem(bus, SegReg::Es, di, size, u64::from(v))?;
                self.after_io(bus);
                (false, true)
            }
            Op::Outs => {
                self.check_io_permission(bus, port, size)?;
                let v = self.read_mem(bus, src_seg, si, size)?;
                bus.sync_instructions(self.instructions);
                bus.io_write(port, size as u8, v as u32);
                self.after_io(bus);
                (true, false)
            }
        };
        if advance_si {
            self.set_reg(walk.si, si.wrapping_add(walk.step) & mask(walk.asz));
        }
        if advance_di {
            self.set_reg(walk.di, di.wrapping_add(walk.step) & mask(walk.asz));
        }
        Ok(())
    }
}

/// Fills `area` with the low `size` bytes (1, 2, 4 or 8) of `value`, as REP STOS stores them: one memset when every
/// byte is the same (a page cleared to zero), else whole elements of a size the compiler knows (not a call per
/// element).
fn fill(area: &mut [u8], value: u64, size: usize) {
    let bytes = value.to_le_bytes();
    if bytes[..size].iter().all(|&b| b == bytes[0]) {
        area.fill(bytes[0]);
        return;
    }
    match size {
        8 => fill_with(area, bytes),
        4 => fill_with(area, (value as u32).to_le_bytes()),
        2 => fill_with(area, (value as u16).to_le_bytes()),
        _ => area.fill(bytes[0]),
    }
}

/// Copies `bytes` from `src` to `dst` in `memory` an `N`-byte element at a time, lowest first, as REP MOVS does: a
/// destination just above the source reads elements the copy itself wrote.
fn copy_ascending<const N: usize>(memory: &mut [u8], src: usize, dst: usize, bytes: usize) {
    for k in (0..bytes).step_by(N) {
        let mut element = [0u8; N];
        element.copy_from_slice(&memory[src + k..src + k + N]);
        memory[dst + k..dst + k + N].copy_from_slice(&element);
    }
}

/// Copies `bytes` from `src` to `dst` in `memory` an `N`-byte element at a time, highest first, as REP MOVS with DF
/// set does: a destination just below the source reads elements the copy itself wrote.
fn copy_descending<const N: usize>(memory: &mut [u8], src: usize, dst: usize, bytes: usize) {
    for k in (0..bytes).step_by(N).rev() {
        let mut element = [0u8; N];
        element.copy_from_slice(&memory[src + k..src + k + N]);
        memory[dst + k..dst + k + N].copy_from_slice(&element);
    }
}

/// Fills `area` (a whole number of elements) with copies of `element`.
fn fill_with<const N: usize>(area: &mut [u8], element: [u8; N]) {
    for slot in area.chunks_exact_mut(N) {
        slot.copy_from_slice(&element);
    }
}

#[cfg(test)]
mod tests {
    use super::{copy_ascending, copy_descending, fill};

    #[test]
    fn a_descending_copy_onto_itself_repeats_what_it_wrote() {
        // MOVSW two bytes down, highest first, as REP MOVSW with DF set and RDI = RSI - 2.
        let mut memory: Vec<u8> = (1..=8).collect();
        copy_descending::<2>(&mut memory, 2, 0, 6);
        assert_eq!(memory, [7, 8, 7, 8, 7, 8, 7, 8]);
    }

    #[test]
    fn an_ascending_copy_onto_itself_repeats_what_it_wrote() {
        // MOVSW two bytes up, as REP MOVSW with RDI = RSI + 2: the first element repeats.
        let mut memory: Vec<u8> = (1..=8).collect();
        copy_ascending::<2>(&mut memory, 0, 2, 6);
        assert_eq!(memory, [1, 2, 1, 2, 1, 2, 1, 2]);
        let mut memory: Vec<u8> = (1..=8).collect();
        copy_ascending::<1>(&mut memory, 1, 3, 4);
        assert_eq!(memory, [1, 2, 3, 2, 3, 2, 3, 8]);
    }

    #[test]
    fn fill_repeats_the_element_of_each_size() {
        for (size, value, expected) in [
            (8, 0x0102_0304_0506_0708u64, vec![8u8, 7, 6, 5, 4, 3, 2, 1]),
            (4, 0xAABB_CCDD, vec![0xDD, 0xCC, 0xBB, 0xAA]),
            (2, 0x1234, vec![0x34, 0x12]),
            (1, 0x5A, vec![0x5A]),
            (8, 0, vec![0; 8]),
            // Only the element's own bytes count: the rest of RAX is not stored.
            (4, 0xFFFF_FFFF_0000_0000, vec![0; 4]),
        ] {
            let mut area = vec![0xEE; 32];
            fill(&mut area, value, size);
            let expected: Vec<u8> = expected.iter().copied().cycle().take(32).collect();
            assert_eq!(area, expected, "size {size}, value {value:#x}");
        }
    }
}
