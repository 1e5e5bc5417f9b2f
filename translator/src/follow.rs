//! Following control transfers within a block: a block whose straight line ends in a direct JMP to its own page
//! goes on with the code at the target instead of ending. In 64-bit code, so does a direct CALL whose callee
//! returns within the block by a RET known to return to it: the return address is pushed, the callee's code
//! follows, and the RET only releases the slot before the code at the return address follows in turn. A small
//! function called and returned from on one page then costs no block transitions, no return-address load and no
//! jump-table lookup: `call f; ...; f: ret` becomes a push and the release of a known value.
//!
//! A RET is known to return to the CALL's return address only when nothing between them can have changed the slot
//! or RSP: every instruction in between runs natively with no memory write and no write to RSP (or is a JMP
//! followed likewise). When the callee does anything else (it pushes, stores, calls on or switches stacks), or its
//! RET does not come within the block, the CALL stays an ordinary one and ends the block: following it would
//! translate the callee again for each caller for no saving.
//!
//! All the code followed lies on the block's page, so it is marked as code with the block's bytes and a write to
//! it invalidates the block, as for any block. A transfer to the block's start or to code already in the block is
//! not followed (the block would repeat itself), nor one the mode does not allow (a target beyond CS's limit
//! faults in the JMP or CALL itself, which the CPU's step raises).

use crate::mode::Mode;
use crate::plan::{self, is_direct_branch, Plan};
use crate::regs;
use crate::Key;
use iced_x86::{Code, FlowControl, Instruction, InstructionInfoFactory};
use vx86_cpu::{Bus, Cpu};

/// Transfers followed in one block at most (each decodes another piece of code; the pieces worth joining are few).
const MAX_FOLLOWED: usize = 4;

/// How a site's transfer is followed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Followed {
    /// A JMP whose target's code follows it in the block.
    Jump,
    /// A CALL whose callee's code follows it in the block (its return address is pushed).
    Call,
    /// A RET from a CALL followed in the block, to the return address `to`; the code there follows it in the
    /// block when `goes_on`, else the block leaves for it.
    Return {
        /// The return address.
        to: u64,
        /// The code at `to` follows in the block.
        goes_on: bool,
    },
}

impl Followed {
    /// The plan of a site followed so.
    pub fn plan(self, site: &Instruction) -> Plan {
        match self {
            Followed::Jump => Plan::Followed,
            Followed::Call => Plan::Stack(plan::StackOp::PushImm(site.next_ip() as i64)),
            Followed::Return { to, goes_on } => Plan::KnownReturn { to, goes_on },
        }
    }
}

/// Appends to `instrs` (the block at `key`, decoded: it ends with its straight line's last instruction) the code
/// its final transfers lead to, as the module's documentation describes, keeping within `max` instructions.
/// Returns the followed sites and the index where the last piece of code starts.
pub(crate) fn follow_transfers<B: Bus>(
    cpu: &mut Cpu,
    bus: &mut B,
    key: Key,
    instrs: &mut Vec<Instruction>,
    max: usize,
    info: &mut InstructionInfoFactory,
) -> (Vec<(usize, Followed)>, usize) {
    let mut followed: Vec<(usize, Followed)> = Vec::new();
    let mut last_piece = 0;
    // The CALLs followed whose RETs have not come yet, innermost last: each with what to go back to if its RET
    // does not come (the block then ends with the CALL, as an ordinary one).
    let mut calls: Vec<Undo> = Vec::new();
    let page = key.mode.cs_base.wrapping_add(key.rip) & !0xFFF;
    while followed.len() < MAX_FOLLOWED && instrs.len() < max {
        let Some(&end) = instrs.last() else { break };
        let k = instrs.len() - 1;
        let next = match end.code() {
            Code::Call_rel32_64 if key.mode.bitness == 64 => {
                let callee = end.near_branch_target();
                if !may_go_on(instrs, key, page, callee) {
                    break;
                }
                calls.push(Undo {
                    call: k,
                    followed: followed.len(),
                    last_piece,
                });
                followed.push((k, Followed::Call));
                callee
            }
            Code::Retnq => {
                let Some(&Undo { call, .. }) = calls.last() else {
                    break;
                };
                if !quiet_between(instrs, &followed, call, k, &key.mode, info) {
                    break;
                }
                calls.pop();
                let to = instrs[call].next_ip();
                let goes_on = may_go_on(instrs, key, page, to);
                followed.push((k, Followed::Return { to, goes_on }));
                if !goes_on {
                    break;
                }
                to
            }
            _ if end.flow_control() == FlowControl::UnconditionalBranch
                && is_direct_branch(&end) =>
            {
                let target = end.near_branch_target();
                if !may_go_on(instrs, key, page, target) {
                    break;
                }
                followed.push((k, Followed::Jump));
                target
            }
            _ => break,
        };
        // The code lies on the block's own page, so at the same physical page.
        let piece = cpu.decode_straight_line(bus, next, key.phys_on_page(next), max - instrs.len());
        if piece.is_empty() {
            // Nothing decodable there: a JMP or CALL runs as an ordinary one, a known RET leaves for its address.
            match followed.last_mut() {
                Some((_, Followed::Return { goes_on, .. })) => *goes_on = false,
                _ => {
                    followed.pop();
                }
            }
            break;
        }
        last_piece = instrs.len();
        instrs.extend(piece);
    }
    if let Some(outermost) = calls.first() {
        instrs.truncate(outermost.call + 1);
        followed.truncate(outermost.followed);
        last_piece = outermost.last_piece;
    }
    (followed, last_piece)
}

/// A CALL followed, and the state to go back to if its RET does not come in the block.
struct Undo {
    call: usize,
    followed: usize,
    last_piece: usize,
}

/// Whether the code at `to` may follow in the block: on its page, in 64-bit code (where CALL and RET are
/// followed) or within the code segment's limit, and neither the block's start nor code already in it.
fn may_go_on(instrs: &[Instruction], key: Key, page: u64, to: u64) -> bool {
    key.mode.cs_base.wrapping_add(to) & !0xFFF == page
        && key.mode.jump_target_ok(to)
        && to != key.rip
        && instrs.iter().all(|i| i.ip() != to)
}

/// Whether nothing between the CALL at `call` and the RET at `ret` can change the return-address slot or RSP:
/// each runs natively without writing memory or RSP, or is a JMP followed.
fn quiet_between(
    instrs: &[Instruction],
    followed: &[(usize, Followed)],
    call: usize,
    ret: usize,
    mode: &Mode,
    info: &mut InstructionInfoFactory,
) -> bool {
    (call + 1..ret).all(|k| {
        if followed.contains(&(k, Followed::Jump)) {
            return true;
        }
        match plan::plan(&instrs[k], mode, info) {
            Plan::Native(n) => !n.written.contains(regs::RSP) && n.memory.is_none_or(|m| !m.write),
            _ => false,
        }
    })
}
