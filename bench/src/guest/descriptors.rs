//! What both flavours build the same way on the host side: GDT descriptors, the TSS, and the flat start state.

use super::{CODE_ADDR, GDT_ADDR, MAIN_STACK_TOP};
use vx86_cpu::state::{attr, gpr, SegReg, Segment, TableReg};
use vx86_cpu::CpuState;

/// Kernel code selector (both flavours).
pub(super) const KCODE: u16 = 0x08;
/// Kernel data selector (both flavours).
pub(super) const KDATA: u16 = 0x10;
/// Access byte of a present system descriptor, available TSS (32- or 64-bit by mode).
pub(super) const TSS_AVAILABLE: u8 = 0x89;
/// Access byte of a present system descriptor, busy TSS.
pub(super) const TSS_BUSY: u8 = 0x8B;
/// Size of both TSS formats (up to and including the I/O map base).
const TSS_BYTES: usize = 104;

/// An 8-byte segment descriptor. `flags` is the high nibble: G, D/B, L, AVL.
pub(super) fn desc(base: u32, limit: u32, access: u8, flags: u8) -> u64 {
    u64::from(limit & 0xFFFF)
        | (u64::from(base & 0xFF_FFFF) << 16)
        | (u64::from(access) << 40)
        | (u64::from((limit >> 16) & 0xF) << 48)
        | (u64::from(flags) << 52)
        | (u64::from(base >> 24) << 56)
}

/// A GDT's bytes.
pub(super) fn gdt_bytes(entries: &[u64]) -> Vec<u8> {
    entries.iter().flat_map(|d| d.to_le_bytes()).collect()
}

/// A TSS with no I/O permission map and `fields` written at their offsets (the ring-0 stack).
pub(super) fn tss(fields: &[(usize, &[u8])]) -> Vec<u8> {
    let mut t = vec![0u8; TSS_BYTES];
    for (at, bytes) in fields {
        t[*at..*at + bytes.len()].copy_from_slice(bytes);
    }
    t[102..104].copy_from_slice(&(TSS_BYTES as u16).to_le_bytes());
    t
}

/// CPL 0 at [`CODE_ADDR`] on the main stack, flat data segments (4 GiB, writable), CS with `code_attrs`, the GDT of
/// `gdt_entries` descriptors loaded; control registers as at reset (the flavour sets its mode).
pub(super) fn flat_state(code_attrs: u16, gdt_entries: usize) -> CpuState {
    let mut s = CpuState::reset();
    let data = Segment {
        base: 0,
        limit: 0xFFFF_FFFF,
        selector: KDATA,
        attrs: attr::P | attr::S | attr::RW | attr::ACCESSED | attr::DB | attr::G,
    };
    s.segs = [data; 6];
    s.segs[SegReg::Cs as usize] = Segment {
        selector: KCODE,
        attrs: code_attrs,
        ..data
    };
    s.gdtr = TableReg {
        base: u64::from(GDT_ADDR),
        limit: (gdt_entries * 8 - 1) as u32,
    };
    s.rip = u64::from(CODE_ADDR);
    s.gpr = [0; 16];
    s.gpr[gpr::RSP] = u64::from(MAIN_STACK_TOP);
    s.rflags = 2;
    s
}
