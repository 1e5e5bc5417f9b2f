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
        let tail = cpu.decode_straight_line(
            bus,
            successor,
            key.phys_on_page(successor),
            MAX_TAIL.min(max - instrs.len()),
        );
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
