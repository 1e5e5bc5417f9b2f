//! REP STOS and REP MOVS in generated code ([`Plan::RepString`](crate::plan::Plan::RepString)).
//!
//! Linux clears and copies with them all the time (`memset` and `memcpy` of a few hundred bytes, `clear_page`): the
//! Debian guest's kernel init runs half a million of them. When the direction flag is clear and every element lies
//! in one page on each side, whose TLB entry serves the access (RAM, writable and dirty for the destination, no
//! translated code there), the host's own REP does the work on the host addresses, and RCX, RDI and RSI end as the
//! guest's would: the whole instruction retires at once, as the interpreter's page-at-a-time path retires it. An
//! empty count does nothing. Everything else (DF set, a range that crosses a page or misses the TLB, MMIO, a fault)
//! goes to the CPU's step.

use super::{BlockEmitter, StepPath, IDENTITY};
use crate::regs::RegSet;
use dynasmrt::{dynasm, DynasmApi, DynasmLabelApi};
use vx86_cpu::state::offsets as state;

/// RAX: STOS's value.
const RAX: u8 = 0;
/// RCX: the count.
const RCX: u8 = 1;
/// RSI: MOVS's source.
const RSI: u8 = 6;
/// RDI: the destination.
const RDI: u8 = 7;
/// Scratch: the byte count.
const BYTES: u8 = 2;
/// Scratch: the TLB entry of the lookup.
const ENTRY: u8 = 8;
/// Scratch: the last byte's offset in the page, then the lookup's last page.
const LAST: u8 = 9;
/// Scratch: the destination's host address minus its guest address.
const DST: u8 = 10;
/// Scratch: the source's host address minus its guest address.
const SRC: u8 = 11;

impl BlockEmitter<'_> {
    /// Emits site `k`, a REP STOS (`moves` false) or REP MOVS of `size`-byte elements, as the module describes.
    pub(super) fn rep_string(&mut self, k: usize, moves: bool, size: u32) {
        // The checks below clobber the host's flags; the instruction leaves the guest's alone.
        self.save_flags();
        self.flags.in_host = false;
        let scratch = RegSet(1 << BYTES | 1 << ENTRY | 1 << LAST | 1 << DST | 1 << SRC);
        self.flush(scratch);
        self.cached.0 &= !scratch.0;
        let index = if moves { RSI } else { RAX };
        let used = RegSet(1 << RCX | 1 << RDI | 1 << index);
        self.load_regs(used, &IDENTITY);
        let (dirty, cached_before) = (self.dirty, self.cached);
        let (step, done) = (self.ops.new_dynamic_label(), self.ops.new_dynamic_label());
        let rflags = state::RFLAGS as i32;
        let df = vx86_cpu::flags::DF as i32;
        let most = 4096 / size as i32;
        dynasm!(self.ops
            ; .arch x64
            ; test QWORD [r15 + rflags], df
            ; jnz =>step
            ; test rcx, rcx
            ; jz =>done
            ; cmp rcx, most
            ; ja =>step
        );
        match size {
            1 => dynasm!(self.ops ; .arch x64 ; mov Rq(BYTES), rcx),
            2 => dynasm!(self.ops ; .arch x64 ; lea Rq(BYTES), [rcx * 2]),
            4 => dynasm!(self.ops ; .arch x64 ; lea Rq(BYTES), [rcx * 4]),
            _ => dynasm!(self.ops ; .arch x64 ; lea Rq(BYTES), [rcx * 8]),
        }
        // The destination, and for MOVS the source: (guest register, offset register, written).
        let both = [(RDI, DST, true), (RSI, SRC, false)];
        let sides = &both[..1 + usize::from(moves)];
        for &(guest, host, write) in sides {
            // All of the side's bytes in the page of its first, then that page through the TLB.
            dynasm!(self.ops
                ; .arch x64
                ; mov Rq(LAST), Rq(guest)
                ; and Rq(LAST), 0xFFF
                ; add Rq(LAST), Rq(BYTES)
                ; cmp Rq(LAST), 0x1000
                ; ja =>step
                ; mov Rq(host), Rq(guest)
            );
            self.range_lookup(host, (ENTRY, LAST), 1, write, step);
            dynasm!(self.ops ; .arch x64 ; sub Rq(host), Rq(guest));
        }
        // Only now, with nothing left to send to the step, do the index registers hold host addresses.
        for &(guest, host, _) in sides {
            dynasm!(self.ops ; .arch x64 ; add Rq(guest), Rq(host));
        }
        match (moves, size) {
            (false, 1) => dynasm!(self.ops ; .arch x64 ; rep stosb),
            (false, 2) => dynasm!(self.ops ; .arch x64 ; rep stosw),
            (false, 4) => dynasm!(self.ops ; .arch x64 ; rep stosd),
            (false, _) => dynasm!(self.ops ; .arch x64 ; rep stosq),
            (true, 1) => dynasm!(self.ops ; .arch x64 ; rep movsb),
            (true, 2) => dynasm!(self.ops ; .arch x64 ; rep movsw),
            (true, 4) => dynasm!(self.ops ; .arch x64 ; rep movsd),
            (true, _) => dynasm!(self.ops ; .arch x64 ; rep movsq),
        }
        for &(guest, host, _) in sides {
            dynasm!(self.ops ; .arch x64 ; sub Rq(guest), Rq(host));
        }
        let written = RegSet(used.0 & !(1 << RAX));
        self.store_regs(written, &IDENTITY);
        dynasm!(self.ops ; .arch x64 ; =>done);
        self.steps.push(StepPath::one(
            step,
            k,
            done,
            RegSet(self.cached.0 | cached_before.0),
            dirty,
        ));
    }
}
