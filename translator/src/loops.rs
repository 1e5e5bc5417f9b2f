//! Loops through two blocks: a block that ends in a conditional branch, one of whose ways leads (on the same page)
//! to a short block that branches back to the first block's start, is translated together with that block. The
//! pair then runs as one self-loop in generated code ([`crate::emit`]): the branch in the middle goes on with the
//! second block one way and leaves the other (an *inner branch*), where before every pass went through two block
//! transitions. A byte-scanning loop with an `if` in it (the XZ decoder's x86 branch filter) has this shape.

use crate::plan::is_direct_branch;
use crate::Key;
use iced_x86::{FlowControl, Instruction};
use vx86_cpu::{Bus, Cpu};

/// The longest second block joined...
const MAX_TAIL: usize = 8;
/// ...and the longest first block that looks for one (decoding the second block for every block that ends in a
/// branch on its page showed in translation profiles; the loops worth joining are short).
const MAX_HEAD: usize = 16;

/// Appends to `instrs` (the block at `key`, decoded) the block that closes a loop through its final conditional
/// branch, when there is one (see the module's documentation), keeping the total within `max` instructions.
/// Returns the index of the branch in the middle.
pub fn join_successor<B: Bus>(
    cpu: &mut Cpu,
    bus: &mut B,
    key: Key,
    instrs: &mut Vec<Instruction>,
    max: usize,
) -> Option<usize> {
    if instrs.len() > MAX_HEAD {
        return None;
    }
    let middle = instrs.len().checked_sub(1)?;
    let branch = instrs[middle];
    if branch.flow_control() != FlowControl::ConditionalBranch || !is_direct_branch(&branch) {
        return None;
    }
    let linear = |ip: u64| key.mode.cs_base.wrapping_add(ip);
    let page = linear(key.rip) & !0xFFF;
    let ways = [branch.near_branch_target(), branch.next_ip()];
    if ways[0] == ways[1] {
        return None;
    }
    for successor in ways {
        if successor == key.rip || linear(successor) & !0xFFF != page {
            continue;
        }
        // The successor lies on the block's own page, so at the same physical page.
        let phys = key.phys_on_page(successor);
        if !may_branch_to(bus, phys, successor, key.rip, key.mode.bitness) {
            continue;
        }
        let tail = cpu.decode_straight_line(bus, successor, phys, MAX_TAIL.min(max - instrs.len()));
        // The second block's last branch goes back to the first's start when taken (the back edge a self-loop
        // needs).
        let closes = tail
            .last()
            .is_some_and(|end| is_direct_branch(end) && end.near_branch_target() == key.rip);
        if closes {
            instrs.extend(tail);
            return Some(middle);
        }
    }
    None
}

/// How far past the successor's start its back edge is looked for: the loops worth joining have tails of a few
/// short instructions, and scanning further cost what the decodes it saved did.
const MAX_TAIL_BYTES: usize = 48;

/// Whether the code at guest address `from` (guest-physical `phys`) may hold, within [`MAX_TAIL_BYTES`], a direct
/// JMP or Jcc to `target`: a cheap scan of the bytes for the opcodes of those branches and their displacements,
/// so that the tail is decoded only where it can close the loop (decoding a successor for every block that ends in
/// a branch on its page showed in translation profiles). A false yes costs only that decode. A branch the scan
/// does not know (an operand-size prefix, 16-bit code: no scan) may be missed, and the loop is then not joined.
fn may_branch_to<B: Bus>(bus: &mut B, phys: u64, from: u64, target: u64, bitness: u32) -> bool {
    if bitness == 16 {
        return true;
    }
    let Some(bytes) = bus.page_bytes(phys) else {
        return true;
    };
    let bytes = &bytes[..bytes.len().min(MAX_TAIL_BYTES + 6)];
    let wrap = |a: u64| if bitness == 32 { a & 0xFFFF_FFFF } else { a };
    let rel32 = |k: usize| {
        bytes
            .get(k..k + 4)
            .map(|b| i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])))
    };
    (0..bytes.len().min(MAX_TAIL_BYTES)).any(|k| {
        let ip = from.wrapping_add(k as u64);
        let lands = |len: u64, rel: Option<i64>| {
            rel.is_some_and(|rel| wrap(ip.wrapping_add(len).wrapping_add(rel as u64)) == target)
        };
        let rel8 = || bytes.get(k + 1).map(|&b| i64::from(b as i8));
        match bytes[k] {
            0xEB | 0x70..=0x7F => lands(2, rel8()),
            0xE9 => lands(5, rel32(k + 1)),
            0x0F => bytes
                .get(k + 1)
                .is_some_and(|b| (0x80..=0x8F).contains(b) && lands(6, rel32(k + 2))),
            _ => false,
        }
    })
}
