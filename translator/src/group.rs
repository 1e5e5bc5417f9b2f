//! Page groups: memory accesses of one block that share a soft-TLB lookup.
//!
//! Accesses through the same base register that the code between them leaves alone (or RSP, which PUSH, POP, and
//! ADD, SUB or LEA of an immediate move by known amounts) lie at known offsets from the base's value at the first
//! of them. When all of them fit in
//! [`MAX_SPAN`] bytes, the first (the *leader*) looks up the whole range once: the tag compare says the range lies
//! in one page with the rights every member needs, and a callee-saved host register keeps the host address of its
//! low end until the last member. The other members then access `[host + offset]` with no lookup, no flag save
//! and no slow path of their own.
//!
//! When the range cannot be served (it crosses a page, a member's page is MMIO or not yet dirty, a fault), the
//! group's slow path runs every instruction from the leader to the last member in the CPU's step, in order, so
//! faults and accessed and dirty bits come exactly as under the interpreter. A leader whose range keeps failing
//! (a stack frame across a page boundary) has its block translated again without the group.
//!
//! In a self-loop, a group led by the pass's first access through a base register the loop never writes (or RSP,
//! when every pass moves it back to where it started) is looked up once, before the first pass, and its holder kept
//! for every pass (`emit::self_loop::hoisted_group`); such a group may have that one member alone. When that lookup fails, the
//! step runs the whole first pass. So is the range of a table access through such a base and an index
//! a MOVZX from 8 bits wrote earlier in the pass (`emit::self_loop::hoisted_indexed`: CRC32's `[table + byte * 4]`).

use crate::plan::{Native, Plan, StackOp};
use crate::regs::{self, RegSet};
use crate::Site;
use iced_x86::{Instruction, Mnemonic, OpKind, Register};

/// The widest range a group covers: the narrower, the rarer a range that crosses a page.
pub const MAX_SPAN: i64 = 256;

/// Times a leader's range may fail by crossing a page before its block is translated again without the group.
pub const FALLBACK_LIMIT: u32 = 8;

/// Callee-saved host registers that may hold a group's host address (they survive the callouts of the accesses
/// in between), or a self-loop's table range.
pub const HOLDERS: [u8; 4] = [3, 5, 12, 13];

/// One group of accesses sharing a lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageGroup {
    /// The first member's site: it makes the lookup.
    pub leader: usize,
    /// The last member's site.
    pub last: usize,
    /// The members' range, from the base register's value where the leader starts.
    pub range: Range,
    /// Some member writes (the write tag is compared, which implies the read tag).
    pub writes: bool,
    /// The leader's walk on a miss is a write's: its own access writes the range's low end (so the page's dirty
    /// bit is set no earlier than the interpreter would set it).
    pub walk_write: bool,
    /// The host register holding the host address of the low end, from the leader to the last member.
    pub holder: u8,
}

/// A group's range: from the base register's value at the leader's start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    /// The guest register the members' addresses come from.
    pub base: u8,
    /// The range's low end from the base's value.
    pub low: i32,
    /// Bytes from the low end to the end of the highest access.
    pub span: u32,
}

impl Range {
    /// Whether the range crosses a page when the base register holds `base_value`: the one failure that repeats
    /// whatever the page tables say (a fault, a page not yet dirty or shared copy-on-write, passes once the step
    /// has dealt with it).
    pub fn crosses_page(&self, base_value: u64) -> bool {
        let low = base_value.wrapping_add(self.low as i64 as u64);
        (low & 0xFFF) + u64::from(self.span) > 0x1000
    }
}

/// What a site is in the block's groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Not a member (though it may lie inside a group's range).
    Outside,
    /// A member: its group (by its leader's site), and its access's offset from the group's low end.
    Member {
        /// The group's leader.
        leader: usize,
        /// Bytes from the range's low end to this access.
        offset: i32,
    },
}

/// The block's groups, and each site's role.
#[derive(Debug, Default)]
pub struct Groups {
    /// The groups, in block order.
    pub list: Vec<PageGroup>,
    /// One role per site.
    pub roles: Vec<Role>,
}

impl Groups {
    /// The group whose range (leader to last member) holds site `k`, if any.
    pub fn around(&self, k: usize) -> Option<&PageGroup> {
        self.list.iter().find(|g| g.leader <= k && k <= g.last)
    }

    /// Site `k`'s group and its offset, when it is a member.
    pub fn member(&self, k: usize) -> Option<(&PageGroup, i32)> {
        match self.roles.get(k)? {
            Role::Member { leader, offset } => {
                let g = self.list.iter().find(|g| g.leader == *leader)?;
                Some((g, *offset))
            }
            Role::Outside => None,
        }
    }

    /// Undoes the group led by site `leader`, if any (its leader could not be run natively after all): its
    /// members make their own lookups.
    pub fn dissolve(&mut self, leader: usize) {
        self.list.retain(|g| g.leader != leader);
        for role in &mut self.roles {
            if matches!(role, Role::Member { leader: l, .. } if *l == leader) {
                *role = Role::Outside;
            }
        }
    }
}

/// A candidate member's access: its base register, offset from the base's value at the group's start (before
/// `delta` is applied), size and whether it writes.
#[derive(Clone, Copy, Debug)]
struct Access {
    base: u8,
    disp: i64,
    size: u32,
    write: bool,
}

/// The access of `sites[k]` if it may join a group, with RSP's offset since the group started at `rsp_delta`.
fn access(site: &Site, plan: &Plan, rsp_delta: i64) -> Option<Access> {
    match plan {
        Plan::Native(n) => {
            let mem = n.memory?;
            let i = &site.instr;
            let base = i.memory_base();
            let usable = !n.lea
                && !n.align16
                && mem.add_base.is_none()
                && !mem.wrap32
                && base.is_gpr()
                && i.memory_index() == iced_x86::Register::None;
            if !usable {
                return None;
            }
            let base = regs::number(base);
            let disp = i.memory_displacement64() as i64;
            let shift = if base == regs::RSP { rsp_delta } else { 0 };
            Some(Access {
                base,
                disp: disp.checked_add(shift)?,
                size: mem.size,
                write: mem.write,
            })
        }
        Plan::Stack(StackOp::Push(_) | StackOp::PushImm(_) | StackOp::PushFlags) => Some(Access {
            base: regs::RSP,
            disp: rsp_delta - 8,
            size: 8,
            write: true,
        }),
        Plan::Stack(StackOp::Pop(_)) => Some(Access {
            base: regs::RSP,
            disp: rsp_delta,
            size: 8,
            write: false,
        }),
        _ => None,
    }
}

/// Whether `plan` may lie inside a group's range: the emitter runs it with its own code, which leaves a holder
/// register alone.
fn inside(plan: &Plan) -> bool {
    matches!(
        plan,
        Plan::Native(_)
            | Plan::Followed
            | Plan::KnownReturn { goes_on: true, .. }
            | Plan::Stack(
                StackOp::Push(_) | StackOp::PushImm(_) | StackOp::PushFlags | StackOp::Pop(_)
            )
    )
}

/// How `site`'s instruction (one that may lie inside a group, planned as `plan`) moves RSP: `Some(bytes)`, or `None`
/// when it sets RSP to a value not known from the old one. ADD or SUB of an immediate and LEA from RSP itself are
/// known moves, as in function prologues and epilogues.
pub fn rsp_move(site: &Site, plan: &Plan) -> Option<i64> {
    match plan {
        Plan::Native(n) if n.written.contains(regs::RSP) => stack_adjustment(&site.instr),
        Plan::Stack(StackOp::Push(_) | StackOp::PushImm(_) | StackOp::PushFlags) => Some(-8),
        Plan::Stack(StackOp::Pop(r)) if *r == regs::RSP => None,
        Plan::Stack(StackOp::Pop(_)) | Plan::KnownReturn { .. } => Some(8),
        _ => Some(0),
    }
}

/// The amount a 64-bit `add rsp, imm`, `sub rsp, imm` or `lea rsp, [rsp + disp]` moves RSP.
fn stack_adjustment(i: &Instruction) -> Option<i64> {
    if i.op0_register() != Register::RSP {
        return None;
    }
    match i.mnemonic() {
        Mnemonic::Add | Mnemonic::Sub if i.op1_kind() != OpKind::Register => {
            let imm = i.immediate(1) as i64;
            Some(if i.mnemonic() == Mnemonic::Add {
                imm
            } else {
                imm.checked_neg()?
            })
        }
        Mnemonic::Lea if i.memory_base() == Register::RSP && i.memory_index() == Register::None => {
            Some(i.memory_displacement64() as i64)
        }
        _ => None,
    }
}

/// Guest registers `plan` writes.
fn written(plan: &Plan) -> RegSet {
    match plan {
        Plan::Native(n) => n.written,
        Plan::Stack(StackOp::Pop(r)) => RegSet(1 << r),
        _ => RegSet::default(),
    }
}

/// Host registers `sites[k]`'s own code may use in their guest twins' role: what it names, and its address
/// registers.
fn named(site: &Site, n: &Native) -> RegSet {
    let mut set = n.used;
    for r in [site.instr.memory_base(), site.instr.memory_index()] {
        if r.is_gpr() {
            set.insert(regs::number(r));
        }
    }
    set
}

/// Finds the block's groups. `taken`: host registers busy for the whole block (a self-loop's kept registers and
/// budget); `barrier`: a site no group may span (a self-loop's check, whose budget test must run); `lone`: a site
/// that may lead a group of its own access alone (a self-loop's first access, which may be looked up once before
/// the loop); `may_lead`: whether a site may lead a group (a leader whose range kept failing may not).
pub fn plan(
    sites: &[Site],
    plans: &[Plan],
    taken: RegSet,
    barrier: Option<usize>,
    lone: Option<usize>,
    may_lead: &dyn Fn(&Site) -> bool,
) -> Groups {
    let mut groups = Groups {
        list: Vec::new(),
        roles: vec![Role::Outside; sites.len()],
    };
    let mut k = 0;
    while k < sites.len() {
        let grown = may_lead(&sites[k])
            .then(|| grow(sites, plans, k, taken, barrier, lone == Some(k)))
            .flatten();
        match grown {
            Some((group, members)) => {
                for (site, offset) in members {
                    groups.roles[site] = Role::Member { leader: k, offset };
                }
                k = group.last + 1;
                groups.list.push(group);
            }
            _ => k += 1,
        }
    }
    groups
}

/// The group led by `sites[leader]`, if one with at least two members (one is enough when `alone`) and a free
/// holder starts there, with its members' sites and offsets.
fn grow(
    sites: &[Site],
    plans: &[Plan],
    leader: usize,
    taken: RegSet,
    barrier: Option<usize>,
    alone: bool,
) -> Option<(PageGroup, Vec<(usize, i32)>)> {
    if sites[leader].crossing || !inside(&plans[leader]) {
        return None;
    }
    let first = access(&sites[leader], &plans[leader], 0)?;
    let base = first.base;
    let mut members = vec![(leader, first)];
    let (mut low, mut high) = (first.disp, first.disp + i64::from(first.size));
    let mut busy = taken;
    busy.insert(base);
    // The registers busy from the leader through the last member so far (the holder must avoid them).
    let mut busy_through_last = busy;
    let mut rsp_delta = 0;
    for k in leader..sites.len() {
        let plan = &plans[k];
        if k > leader {
            if sites[k].crossing || barrier == Some(k) || !inside(plan) {
                break;
            }
            let mut here = busy;
            if let Plan::Native(n) = plan {
                here.0 |= named(&sites[k], n).0;
            }
            // A holder must stay free through this site too.
            if HOLDERS.iter().all(|&h| here.contains(h)) {
                break;
            }
            busy = here;
            let joins = access(&sites[k], plan, rsp_delta).filter(|a| {
                let (lo, hi) = (low.min(a.disp), high.max(a.disp + i64::from(a.size)));
                a.base == base && hi - lo <= MAX_SPAN
            });
            if let Some(a) = joins {
                low = low.min(a.disp);
                high = high.max(a.disp + i64::from(a.size));
                members.push((k, a));
                busy_through_last = busy;
            }
        } else if let Plan::Native(n) = plan {
            busy.0 |= named(&sites[k], n).0;
            busy_through_last = busy;
        }
        // The base must keep a value known from its value at the leader's start (RSP: moved by known amounts).
        let moved = rsp_move(&sites[k], plan);
        let base_lost = if base == regs::RSP {
            moved.is_none()
        } else {
            written(plan).contains(base)
        };
        if base_lost {
            break;
        }
        rsp_delta += moved.unwrap_or(0);
    }
    let last = members.last()?.0;
    if members.len() < 2 && !alone {
        return None;
    }
    let holder = HOLDERS
        .into_iter()
        .find(|&h| !busy_through_last.contains(h))?;
    let group = PageGroup {
        leader,
        last,
        range: Range {
            base,
            low: i32::try_from(low).ok()?,
            span: (high - low) as u32,
        },
        writes: members.iter().any(|(_, a)| a.write),
        walk_write: first.write && first.disp == low,
        holder,
    };
    let offsets = members
        .into_iter()
        .map(|(k, a)| (k, (a.disp - low) as i32))
        .collect();
    Some((group, offsets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_crosses_a_page_only_when_its_last_byte_is_on_the_next() {
        let range = Range {
            base: 3,
            low: -8,
            span: 24,
        };
        assert!(!range.crosses_page(0x1008), "0x1000..0x1018");
        assert!(
            !range.crosses_page(0x1FF0),
            "0x1FE8..0x2000 ends at the page's end"
        );
        assert!(range.crosses_page(0x1FF1), "0x1FE9..0x2001");
        assert!(range.crosses_page(0x1004), "0x0FFC..0x1014");
    }
}
