//! The jump table: a direct-mapped cache from guest RIP to translated code that generated code searches itself, so
//! returns, indirect jumps and exits to another page go from block to block without the dispatcher (QEMU's
//! `lookup_and_goto_ptr`, done inline at each site so the host's branch predictor sees each site on its own).
//!
//! Only the dispatcher fills it, right after it fetched the block's first instruction through the current mapping
//! and found the block current. An entry stays valid while the TLB epoch it is tagged with stays current: every
//! flush, INVLPG and write to a code page moves the epochs (see `vx86_cpu::mmu::tlb::Tlb`), so a changed mapping
//! or rewritten code is never entered from here. Code on a global page (kernel text) is tagged with the global
//! epoch, which the CR3 writes of a kernel with page-table isolation leave alone. The tag also holds the id of the
//! block's [`Mode`](crate::mode::Mode): a near transfer keeps the mode, so a site looks for blocks of its own.

use crate::ctx::offsets as ctx;
use crate::emit::Ops;
use dynasmrt::{dynasm, DynamicLabel, DynasmApi, DynasmLabelApi};
use vx86_cpu::mmu::tlb::{ANY_EPOCH, GLOBAL_EPOCH};

/// One entry, laid out for generated code.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct Entry {
    /// The guest RIP the entry is for.
    pub rip: u64,
    /// Epoch, mode id and global bit ([`tag`]).
    pub tag: u64,
    /// Host address of the block's code.
    pub code: u64,
    /// Padding to a power-of-two size, for the index's shift.
    _pad: u64,
}

/// Entries in the table: 1 MiB. QEMU's jump cache has 4,096; here that many left a fifth of the Debian boot's
/// lookups from generated code to conflicts between the user workload's and the kernel's targets (5.3 M lookup
/// callouts in the user phase at 4,096 entries, 4.2 M at 32,768, 4.1 M at 65,536: the rest follow CR3 writes).
pub const SLOTS: usize = 32768;
/// log2 of `size_of::<Entry>()`.
const SLOT_SHIFT: i8 = 5;
/// Tag bit: the entry is tagged with the global epoch.
const GLOBAL: u64 = 1 << 15;
/// The highest mode id a tag can hold.
pub const MAX_MODE_ID: u16 = (GLOBAL - 1) as u16;
/// An unfilled slot: its tag is one no epoch reaches (2^48 flushes).
const EMPTY: Entry = Entry {
    rip: 1,
    tag: u64::MAX,
    code: 0,
    _pad: 0,
};

/// The slot of `rip`.
pub fn slot(rip: u64) -> usize {
    ((rip ^ (rip >> 12)) as usize) & (SLOTS - 1)
}

/// The TLB's epochs (`[ANY_EPOCH, GLOBAL_EPOCH]`) as the two tag bases an entry for a non-global or a global page
/// is made with: a tag is its base with the mode id in the low bits.
pub fn epoch_tags(epochs: [u64; 2]) -> [u64; 2] {
    [
        epochs[ANY_EPOCH] << 16,
        (epochs[GLOBAL_EPOCH] << 16) | GLOBAL,
    ]
}

/// The tag of an entry for a block of mode `mode_id` on a page reached through a global translation (`global`)
/// or not, made when the TLB's epochs were `epochs`.
pub fn tag(epochs: [u64; 2], mode_id: u16, global: bool) -> u64 {
    epoch_tags(epochs)[usize::from(global)] | u64::from(mode_id)
}

/// The table.
pub struct JumpTable {
    entries: Box<[Entry]>,
}

impl Default for JumpTable {
    fn default() -> Self {
        JumpTable {
            entries: vec![EMPTY; SLOTS].into_boxed_slice(),
        }
    }
}

impl JumpTable {
    /// Points `rip` at the code at host address `code`, valid while `tag` matches.
    pub fn insert(&mut self, rip: u64, tag: u64, code: usize) {
        self.entries[slot(rip)] = Entry {
            rip,
            tag,
            code: code as u64,
            _pad: 0,
        };
    }

    /// Empties the slot of `rip` if it holds `rip`'s entry.
    pub fn remove(&mut self, rip: u64) {
        let entry = &mut self.entries[slot(rip)];
        if entry.rip == rip {
            *entry = EMPTY;
        }
    }

    /// Forgets every entry (when the code cache is flushed).
    pub fn clear(&mut self) {
        self.entries.fill(EMPTY);
    }

    /// The first entry, for generated code; it stays at this address for the table's lifetime.
    pub fn as_ptr(&self) -> *const Entry {
        self.entries.as_ptr()
    }
}

/// Emits the lookup of the guest RIP in host register `target` (not RAX or RCX, which it uses) for a site
/// translated in mode `mode_id`: a hit jumps to the entry's code (flags must be saved, as at any block entry); a
/// miss jumps to `miss` with `target` unchanged.
pub fn emit_lookup(ops: &mut Ops, target: u8, mode_id: u16, miss: DynamicLabel) {
    debug_assert!(
        target > 1 && target != 4,
        "RAX and RCX are the lookup's scratch"
    );
    let id = i32::from(mode_id);
    let global = ops.new_dynamic_label();
    // The common case (a match on the first tag) falls through to its jump: one taken branch per lookup.
    dynasm!(ops
        ; .arch x64
        ; mov rax, Rq(target)
        ; shr rax, 12
        ; xor rax, Rq(target)
        ; and eax, (SLOTS - 1) as i32
        ; shl eax, SLOT_SHIFT
        ; add rax, [BYTE r14 + ctx::JUMP_TABLE as i8]
        ; cmp Rq(target), [rax]
        ; jne =>miss
        ; mov rcx, [BYTE r14 + ctx::EPOCH_TAGS as i8]
        ; or rcx, id
        ; cmp rcx, [rax + 8]
        ; jne =>global
        ; jmp QWORD [rax + 16]
        ; =>global
        ; mov rcx, [BYTE r14 + (ctx::EPOCH_TAGS + 8) as i8]
        ; or rcx, id
        ; cmp rcx, [rax + 8]
        ; jne =>miss
        ; jmp QWORD [rax + 16]
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_of_the_two_epochs_never_meet() {
        for epoch in [0u64, 1, 7, 1 << 40] {
            for other in [0u64, 1, 7, 1 << 40] {
                assert_ne!(tag([epoch, 0], 3, false), tag([0, other], 3, true));
            }
            assert_ne!(tag([epoch, 0], 3, false), tag([epoch, 0], 4, false));
            assert_ne!(tag([epoch, 0], 3, false), tag([epoch + 1, 0], 3, false));
            assert_eq!(tag([epoch, 0], 3, false), tag([epoch, 9], 3, false));
        }
    }

    #[test]
    fn an_entry_lands_in_its_slot_and_a_clear_forgets_it() {
        let mut t = JumpTable::default();
        let rip = 0xFFFF_FFFF_8100_1234;
        t.insert(rip, tag([6, 5], 1, true), 0x1000);
        let e = t.entries[slot(rip)];
        assert_eq!((e.rip, e.tag, e.code), (rip, tag([6, 5], 1, true), 0x1000));
        t.clear();
        assert_eq!(t.entries[slot(rip)].rip, EMPTY.rip);
    }
}
