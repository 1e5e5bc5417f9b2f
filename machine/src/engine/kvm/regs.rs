//! Register state between vx86's [`CpuState`] and KVM's `kvm_regs`/`kvm_sregs`/MSRs, both ways.
//!
//! KVM keeps a segment's descriptor cache as separate fields; vx86 packs the same bits into `Segment::attrs` in
//! descriptor order (type, S, DPL, P, AVL, L, D/B, G), so the conversion is a shuffle of bits.

use kvm_bindings::{kvm_dtable, kvm_msr_entry, kvm_regs, kvm_segment, kvm_sregs, Msrs};
use vx86_cpu::cpuid::msr;
use vx86_cpu::state::{attr, gpr, Segment, TableReg};
use vx86_cpu::{CpuState, SegReg};

/// vx86's segment cache as KVM's.
pub fn segment_to_kvm(s: &Segment) -> kvm_segment {
    let bit = |b: u16| u8::from(s.attrs & b != 0);
    kvm_segment {
        base: s.base,
        limit: s.limit,
        selector: s.selector,
        type_: (s.attrs & 0xF) as u8,
        present: bit(attr::P),
        dpl: s.dpl(),
        db: bit(attr::DB),
        s: bit(attr::S),
        l: bit(attr::L),
        g: bit(attr::G),
        avl: bit(1 << 12),
        // A not-present cache (a null selector in protected mode) is "unusable" to VMX.
        unusable: u8::from(!s.present()),
        padding: 0,
    }
}

/// KVM's segment cache as vx86's.
pub fn segment_from_kvm(k: &kvm_segment) -> Segment {
    let flag = |v: u8, b: u16| if v != 0 { b } else { 0 };
    Segment {
        base: k.base,
        limit: k.limit,
        selector: k.selector,
        attrs: u16::from(k.type_ & 0xF)
            | flag(k.s, attr::S)
            | (u16::from(k.dpl & 3) << attr::DPL_SHIFT)
            | flag(k.present & u8::from(k.unusable == 0), attr::P)
            | flag(k.avl, 1 << 12)
            | flag(k.l, attr::L)
            | flag(k.db, attr::DB)
            | flag(k.g, attr::G),
    }
}

fn table_to_kvm(t: &TableReg) -> kvm_dtable {
    kvm_dtable {
        base: t.base,
        limit: t.limit.min(0xFFFF) as u16,
        padding: [0; 3],
    }
}

fn table_from_kvm(t: &kvm_dtable) -> TableReg {
    TableReg {
        base: t.base,
        limit: u32::from(t.limit),
    }
}

/// The general registers, RIP and RFLAGS as `kvm_regs`.
pub fn regs_to_kvm(s: &CpuState) -> kvm_regs {
    let g = &s.gpr;
    kvm_regs {
        rax: g[gpr::RAX],
        rbx: g[gpr::RBX],
        rcx: g[gpr::RCX],
        rdx: g[gpr::RDX],
        rsi: g[gpr::RSI],
        rdi: g[gpr::RDI],
        rsp: g[gpr::RSP],
        rbp: g[gpr::RBP],
        r8: g[8],
        r9: g[9],
        r10: g[10],
        r11: g[11],
        r12: g[12],
        r13: g[13],
        r14: g[14],
        r15: g[15],
        rip: s.rip,
        rflags: s.rflags,
    }
}

/// Copies `kvm_regs` into the general registers, RIP and RFLAGS.
pub fn regs_from_kvm(r: &kvm_regs, s: &mut CpuState) {
    s.gpr = [
        r.rax, r.rcx, r.rdx, r.rbx, r.rsp, r.rbp, r.rsi, r.rdi, r.r8, r.r9, r.r10, r.r11, r.r12,
        r.r13, r.r14, r.r15,
    ];
    s.rip = r.rip;
    s.rflags = r.rflags;
}

/// Fills the segment, table and control registers of `k` (keeping KVM's APIC base and pending-interrupt bitmap).
pub fn sregs_to_kvm(s: &CpuState, k: &mut kvm_sregs) {
    let seg = |r: SegReg| segment_to_kvm(s.seg(r));
    k.cs = seg(SegReg::Cs);
    k.ds = seg(SegReg::Ds);
    k.es = seg(SegReg::Es);
    k.fs = seg(SegReg::Fs);
    k.gs = seg(SegReg::Gs);
    k.ss = seg(SegReg::Ss);
    k.ldt = segment_to_kvm(&s.ldtr);
    k.tr = segment_to_kvm(&s.tr);
    // TR must be usable even before LTR (it is in the reset state on real hardware).
    k.tr.unusable = 0;
    k.gdt = table_to_kvm(&s.gdtr);
    k.idt = table_to_kvm(&s.idtr);
    k.cr0 = s.cr0;
    k.cr2 = s.cr2;
    k.cr3 = s.cr3;
    k.cr4 = s.cr4;
    k.efer = s.efer;
}

/// Copies `kvm_sregs` into the segment, table and control registers, and derives the CPL.
pub fn sregs_from_kvm(k: &kvm_sregs, s: &mut CpuState) {
    for (r, ks) in [
        (SegReg::Es, &k.es),
        (SegReg::Cs, &k.cs),
        (SegReg::Ss, &k.ss),
        (SegReg::Ds, &k.ds),
        (SegReg::Fs, &k.fs),
        (SegReg::Gs, &k.gs),
    ] {
        s.segs[r as usize] = segment_from_kvm(ks);
    }
    s.ldtr = segment_from_kvm(&k.ldt);
    s.tr = segment_from_kvm(&k.tr);
    s.gdtr = table_from_kvm(&k.gdt);
    s.idtr = table_from_kvm(&k.idt);
    s.cr0 = k.cr0;
    s.cr2 = k.cr2;
    s.cr3 = k.cr3;
    s.cr4 = k.cr4;
    s.efer = k.efer;
    s.cpl = if !s.protected() {
        0
    } else if s.v86() {
        3
    } else {
        (k.cs.selector & 3) as u8
    };
}

/// The MSRs whose values `CpuState` holds in fields of their own (FS and GS bases travel with the segment
/// registers instead): the SYSENTER trio and the SYSCALL/SWAPGS set.
const STATE_MSRS: [u32; 8] = [
    msr::SYSENTER_CS,
    msr::SYSENTER_ESP,
    msr::SYSENTER_EIP,
    msr::STAR,
    msr::LSTAR,
    msr::CSTAR,
    msr::SFMASK,
    msr::KERNEL_GS_BASE,
];

/// The `CpuState` field behind one of [`STATE_MSRS`].
fn state_msr(s: &mut CpuState, index: u32) -> Option<&mut u64> {
    Some(match index {
        msr::SYSENTER_CS..=msr::SYSENTER_EIP => {
            &mut s.sysenter[(index - msr::SYSENTER_CS) as usize]
        }
        msr::STAR => &mut s.star,
        msr::LSTAR => &mut s.lstar,
        msr::CSTAR => &mut s.cstar,
        msr::SFMASK => &mut s.sfmask,
        msr::KERNEL_GS_BASE => &mut s.kernel_gs_base,
        _ => return None,
    })
}

/// The MSRs kept in `CpuState` with their values in `s`, for KVM_SET_MSRS (or as the list KVM_GET_MSRS fills).
pub fn state_msrs(s: &CpuState) -> Msrs {
    let mut copy = s.clone();
    let entries: Vec<kvm_msr_entry> = STATE_MSRS
        .iter()
        .map(|&index| kvm_msr_entry {
            index,
            data: state_msr(&mut copy, index).map_or(0, |v| *v),
            ..Default::default()
        })
        .collect();
    Msrs::from_entries(&entries).expect("eight MSR entries fit")
}

/// Copies the first `count` entries KVM_GET_MSRS filled back into `s`.
pub fn state_msrs_into(msrs: &Msrs, count: usize, s: &mut CpuState) {
    for e in msrs.as_slice().iter().take(count) {
        if let Some(field) = state_msr(s, e.index) {
            *field = e.data;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_and_registers_round_trip() {
        let mut s = CpuState::reset();
        s.segs[SegReg::Ds as usize] = Segment {
            base: 0x1234_0000,
            limit: 0xFFFF_FFFF,
            selector: 0x23,
            attrs: attr::P | attr::S | attr::RW | attr::ACCESSED | attr::DB | attr::G | (3 << 5),
        };
        s.gpr = std::array::from_fn(|k| k as u64 * 0x1111);
        let mut k = kvm_sregs::default();
        sregs_to_kvm(&s, &mut k);
        let mut back = CpuState::reset();
        sregs_from_kvm(&k, &mut back);
        regs_from_kvm(&regs_to_kvm(&s), &mut back);
        assert_eq!(back.segs, s.segs);
        assert_eq!(back.gpr, s.gpr);
        assert_eq!(back.gdtr, s.gdtr);
        assert_eq!(k.cs.base, 0xFFFF_0000);
    }

    #[test]
    fn state_msrs_round_trip_through_a_kvm_msr_list() {
        let mut s = CpuState::reset();
        s.sysenter = [0x10, 0x2000, 0x3000];
        s.star = 0x0023_0010_0000_0000;
        s.lstar = 0xFFFF_FFFF_8100_0000;
        s.cstar = 0xFFFF_FFFF_8100_1000;
        s.sfmask = 0x4700;
        s.kernel_gs_base = 0xFFFF_8880_0F80_0000;
        let msrs = state_msrs(&s);
        assert_eq!(msrs.as_slice().len(), STATE_MSRS.len());
        let mut back = CpuState::reset();
        state_msrs_into(&msrs, STATE_MSRS.len(), &mut back);
        assert_eq!(
            (
                back.sysenter,
                back.star,
                back.lstar,
                back.cstar,
                back.sfmask,
                back.kernel_gs_base
            ),
            (
                s.sysenter,
                s.star,
                s.lstar,
                s.cstar,
                s.sfmask,
                s.kernel_gs_base
            )
        );
        // Entries KVM did not fill leave the state alone.
        let mut partial = CpuState::reset();
        state_msrs_into(&msrs, 3, &mut partial);
        assert_eq!((partial.sysenter, partial.lstar), (s.sysenter, 0));
    }
}
