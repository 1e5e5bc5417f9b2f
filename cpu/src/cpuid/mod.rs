//! The CPU model vx86 presents: one CPUID table and the model-specific registers, in one place.
//!
//! The model is an Intel 64 processor (family 6, model 15) with only the features the interpreter implements: the
//! x87 FPU, VME, DE, PSE, TSC, MSR, PAE, MCE, CX8, APIC (with TSC-deadline), SEP, PGE, MCA, CMOV, CLFSH, MMX, FXSR,
//! SSE, SSE2, and in the extended leaves long mode, NX, SYSCALL, RDTSCP, LAHF in 64-bit mode and an invariant TSC;
//! leaf 7 offers IA32_ARCH_CAPABILITIES, which says the model has none of the speculative-execution flaws.
//! Features are added here as the interpreter gains them, never before. Its caches are in [`cache`], its
//! machine-check banks in [`machine_check`].

pub mod cache;
pub mod machine_check;

use crate::Cpu;
use machine_check::BankRegister;

/// CPUID.1:EDX feature bits.
pub mod feature {
    /// Virtual-8086 mode extensions.
    pub const VME: u32 = 1 << 1;
    /// Debugging extensions (CR4.DE).
    pub const DE: u32 = 1 << 2;
    /// 4 MiB pages.
    pub const PSE: u32 = 1 << 3;
    /// Time-stamp counter.
    pub const TSC: u32 = 1 << 4;
    /// RDMSR/WRMSR.
    pub const MSR: u32 = 1 << 5;
    /// Physical address extension.
    pub const PAE: u32 = 1 << 6;
    /// Machine-check exception (CR4.MCE).
    pub const MCE: u32 = 1 << 7;
    /// CMPXCHG8B.
    pub const CX8: u32 = 1 << 8;
    /// SYSENTER/SYSEXIT.
    pub const SEP: u32 = 1 << 11;
    /// Global pages.
    pub const PGE: u32 = 1 << 13;
    /// Machine-check architecture (IA32_MCG_CAP and the MCi banks).
    pub const MCA: u32 = 1 << 14;
    /// CMOVcc.
    pub const CMOV: u32 = 1 << 15;
    /// x87 FPU on chip.
    pub const FPU: u32 = 1 << 0;
    /// CLFLUSH.
    pub const CLFSH: u32 = 1 << 19;
    /// MMX.
    pub const MMX: u32 = 1 << 23;
    /// FXSAVE/FXRSTOR and CR4.OSFXSR.
    pub const FXSR: u32 = 1 << 24;
    /// SSE.
    pub const SSE: u32 = 1 << 25;
    /// SSE2.
    pub const SSE2: u32 = 1 << 26;
}

/// CPUID.8000_0001h:EDX feature bits.
pub mod extended_feature {
    /// SYSCALL/SYSRET in 64-bit mode.
    pub const SYSCALL: u32 = 1 << 11;
    /// No-execute page protection.
    pub const NX: u32 = 1 << 20;
    /// RDTSCP and IA32_TSC_AUX.
    pub const RDTSCP: u32 = 1 << 27;
    /// Long mode (Intel 64).
    pub const LM: u32 = 1 << 29;
    /// LAHF/SAHF in 64-bit mode (CPUID.8000_0001h:ECX bit 0).
    pub const LAHF_LM: u32 = 1 << 0;
}

/// The TSC frequency: guest nanoseconds map one-to-one onto TSC ticks.
pub const TSC_HZ: u64 = 1_000_000_000;

/// CPUID.1:ECX feature bits.
pub mod feature_ecx {
    /// The local APIC timer's TSC-deadline mode.
    pub const TSC_DEADLINE: u32 = 1 << 24;
}

/// CPUID.1:EDX bit 9: an on-chip local APIC.
const APIC: u32 = 1 << 9;
/// CPUID.1:EBX: CLFLUSH line size 8 (x 8 bytes), one logical processor, initial APIC ID 0.
const LEAF1_EBX: u32 = (8 << 8) | (1 << 16);

/// Highest extended leaf.
const MAX_EXTENDED_LEAF: u32 = 0x8000_0008;
/// CPUID.8000_0007h:EDX bit 8: the TSC is invariant (it runs at one rate whatever the power state), as the
/// machine clock that drives it does.
const INVARIANT_TSC: u32 = 1 << 8;
/// The processor brand string (CPUID 8000_0002h..8000_0004h), 48 bytes NUL-padded.
const BRAND: &[u8; 48] =
    b"vx86 virtual CPU\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
/// Physical address bits (bits 7..0) and linear address bits (15..8) for CPUID 8000_0008h.
const ADDRESS_SIZES: u32 = 36 | (48 << 8);

/// Highest basic leaf: 7, the structured extended features (of which the model has SERIALIZE and
/// IA32_ARCH_CAPABILITIES);
/// leaves 5 (MONITOR/MWAIT) and 6 (thermal and power) describe nothing.
const MAX_LEAF: u32 = 7;
/// CPUID.7.0:EDX bit 29: IA32_ARCH_CAPABILITIES is there.
pub const ARCH_CAPABILITIES_BIT: u32 = 1 << 29;
/// CPUID.7.0:EDX bit 14: the SERIALIZE instruction. Linux's `sync_core()` (after every patch of its own text)
/// uses it where it is offered, and an IRET to itself where it is not: five pushes, a far return through the
/// GDT's descriptors and a jump to wherever it came from, which cost the translator a callout and a lookup each.
/// The model runs nothing ahead of time, so SERIALIZE has nothing to wait for.
pub const SERIALIZE_BIT: u32 = 1 << 14;
/// IA32_ARCH_CAPABILITIES: the speculative-execution flaws the processor does not have. The model executes nothing
/// speculatively, so it reports itself free of every flaw this MSR names: rogue data cache load (RDCL_NO, bit 0:
/// Meltdown, so Linux needs no page-table isolation), speculative store bypass (4), microarchitectural data sampling
/// (5), machine checks on page-size changes (6), TSX asynchronous abort (8), the MMIO stale-data family (13, 14,
/// 15), post-barrier return-stack predictions (24), gather data sampling (26) and register-file data sampling (27).
pub const ARCH_CAPABILITIES: u64 = 1
    | 1 << 4
    | 1 << 5
    | 1 << 6
    | 1 << 8
    | 1 << 13
    | 1 << 14
    | 1 << 15
    | 1 << 24
    | 1 << 26
    | 1 << 27;
/// Family 6, model 15, stepping 11: a Core 2-class signature, the first Intel family-6 line with Intel 64. Linux
/// keys real decisions on it: from model 14 it trusts the TSC to run at a constant rate and prefers REP string
/// copies, and it has no performance-counter driver for model 15 without architectural perfmon (CPUID leaf 0Ah),
/// which is right, since the model has no counters.
const SIGNATURE: u32 = 0x06FB;
const FEATURES_EDX: u32 = feature::VME
    | feature::DE
    | feature::PSE
    | feature::TSC
    | feature::MSR
    | feature::PAE
    | feature::MCE
    | feature::MCA
    | feature::CX8
    | feature::SEP
    | feature::PGE
    | feature::CMOV
    | feature::FPU
    | feature::CLFSH
    | feature::MMX
    | feature::FXSR
    | feature::SSE
    | feature::SSE2;

/// IA32_APIC_BASE bit 11: the local APIC's global enable.
pub const APIC_BASE_ENABLE: u64 = 1 << 11;

/// CPUID as one processor of the machine answers it: [`cpuid`], with leaf 1 giving this processor's initial
/// APIC ID (EBX bits 31-24) and its APIC feature bit following IA32_APIC_BASE's global enable (SDM vol. 3,
/// 11.4.3: a disabled APIC vanishes from CPUID).
pub fn cpuid_for(leaf: u32, subleaf: u32, apic_id: u8, apic_enabled: bool) -> (u32, u32, u32, u32) {
    let (a, mut b, c, mut d) = cpuid(leaf, subleaf);
    if leaf == 1 {
        b |= u32::from(apic_id) << 24;
        if !apic_enabled {
            d &= !APIC;
        }
    }
    (a, b, c, d)
}

/// CPUID: (EAX, EBX, ECX, EDX) for a leaf and sub-leaf.
pub fn cpuid(leaf: u32, subleaf: u32) -> (u32, u32, u32, u32) {
    match leaf {
        // "GenuineIntel" in EBX, EDX, ECX.
        0 => (MAX_LEAF, 0x756E_6547, 0x6C65_746E, 0x4965_6E69),
        1 => (
            SIGNATURE,
            LEAF1_EBX,
            feature_ecx::TSC_DEADLINE,
            FEATURES_EDX | APIC,
        ),
        2 => cache::leaf2(),
        // Leaf 3 is the processor serial number, which the model lacks; 5 and 6 describe features it lacks.
        3 | 5 | 6 => (0, 0, 0, 0),
        4 => cache::leaf4(subleaf),
        // Sub-leaf 0 only (EAX: the highest sub-leaf).
        7 if subleaf == 0 => (0, 0, 0, SERIALIZE_BIT | ARCH_CAPABILITIES_BIT),
        7 => (0, 0, 0, 0),
        0x8000_0000 => (MAX_EXTENDED_LEAF, 0, 0, 0),
        0x8000_0001 => (
            0,
            0,
            extended_feature::LAHF_LM,
            extended_feature::SYSCALL
                | extended_feature::NX
                | extended_feature::RDTSCP
                | extended_feature::LM,
        ),
        0x8000_0002..=0x8000_0004 => {
            let chunk = &BRAND[(leaf - 0x8000_0002) as usize * 16..][..16];
            let word = |k: usize| {
                u32::from_le_bytes([
                    chunk[4 * k],
                    chunk[4 * k + 1],
                    chunk[4 * k + 2],
                    chunk[4 * k + 3],
                ])
            };
            (word(0), word(1), word(2), word(3))
        }
        0x8000_0006 => cache::leaf_8000_0006(),
        0x8000_0007 => (0, 0, 0, INVARIANT_TSC),
        0x8000_0008 => (ADDRESS_SIZES, 0, 0, 0),
        // Intel returns the data of the highest basic leaf for leaves above it.
        _ if leaf < 0x8000_0000 => cpuid(MAX_LEAF, subleaf),
        _ => (0, 0, 0, 0),
    }
}

/// MSR numbers the model knows.
pub mod msr {
    /// Time-stamp counter.
    pub const TSC: u32 = 0x10;
    /// The local APIC's base address and enables (owned by the APIC device, which the bus reaches).
    pub const APIC_BASE: u32 = 0x1B;
    /// Platform ID (read-only, zero).
    pub const PLATFORM_ID: u32 = 0x17;
    /// Feature control (read-only here: locked, with VMX and SMX off, as firmware leaves it).
    pub const FEATURE_CONTROL: u32 = 0x3A;
    /// SYSENTER target code segment.
    pub const SYSENTER_CS: u32 = 0x174;
    /// SYSENTER stack pointer.
    pub const SYSENTER_ESP: u32 = 0x175;
    /// SYSENTER entry point.
    pub const SYSENTER_EIP: u32 = 0x176;
    /// BIOS update signature (zero: no microcode).
    pub const BIOS_SIGN_ID: u32 = 0x8B;
    /// MTRR capabilities (read-only).
    pub const MTRRCAP: u32 = 0xFE;
    /// Miscellaneous feature enables.
    pub const MISC_ENABLE: u32 = 0x1A0;
    /// First variable-range MTRR base/mask pair (8 pairs follow).
    pub const MTRR_PHYSBASE0: u32 = 0x200;
    /// Last variable-range MTRR mask.
    pub const MTRR_PHYSMASK7: u32 = 0x20F;
    /// Fixed-range MTRRs.
    pub const MTRR_FIX64K: u32 = 0x250;
    /// Fixed-range MTRRs 16K (two).
    pub const MTRR_FIX16K_80000: u32 = 0x258;
    /// Fixed-range MTRRs 16K, second.
    pub const MTRR_FIX16K_A0000: u32 = 0x259;
    /// First 4K fixed-range MTRR (eight follow).
    pub const MTRR_FIX4K_C0000: u32 = 0x268;
    /// Last 4K fixed-range MTRR.
    pub const MTRR_FIX4K_F8000: u32 = 0x26F;
    /// Page attribute table.
    pub const PAT: u32 = 0x277;
    /// Default MTRR type.
    pub const MTRR_DEF_TYPE: u32 = 0x2FF;
    /// Extended feature enables.
    pub const EFER: u32 = 0xC000_0080;
    /// SYSCALL/SYSRET segment selectors.
    pub const STAR: u32 = 0xC000_0081;
    /// SYSCALL target in 64-bit mode.
    pub const LSTAR: u32 = 0xC000_0082;
    /// SYSCALL target in compatibility mode.
    pub const CSTAR: u32 = 0xC000_0083;
    /// RFLAGS bits SYSCALL clears.
    pub const SFMASK: u32 = 0xC000_0084;
    /// FS base.
    pub const FS_BASE: u32 = 0xC000_0100;
    /// GS base.
    pub const GS_BASE: u32 = 0xC000_0101;
    /// The GS base SWAPGS exchanges with.
    pub const KERNEL_GS_BASE: u32 = 0xC000_0102;
    /// The value RDTSCP returns in ECX.
    pub const TSC_AUX: u32 = 0xC000_0103;
    /// The speculative-execution flaws the processor lacks (read-only).
    pub const ARCH_CAPABILITIES: u32 = 0x10A;
}

/// MTRRCAP: 8 variable ranges, fixed ranges, write-combining.
const MTRRCAP_VALUE: u64 = 8 | (1 << 8) | (1 << 10);
/// FEATURE_CONTROL: bit 0, the lock; the VMX-enable bits stay clear (the model has no VMX).
const FEATURE_CONTROL_LOCKED: u64 = 1;
/// PAT's power-on value.
const PAT_DEFAULT: u64 = 0x0007_0406_0007_0406;
/// MISC_ENABLE: fast strings.
const MISC_ENABLE_DEFAULT: u64 = 1;
/// EFER bits software may set.
const EFER_WRITABLE: u64 =
    crate::state::efer::SCE | crate::state::efer::LME | crate::state::efer::NXE;

/// Why an MSR write was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsrError {
    /// The model has no such MSR (#GP, shown in the unimp trace).
    Unknown,
    /// The value sets reserved bits or is not allowed now (#GP).
    Invalid,
}

/// MSRs kept as plain values (MTRRs, PAT, MISC_ENABLE), with their power-on values.
fn stored_msr(index: u32) -> Option<u64> {
    match index {
        msr::PAT => Some(PAT_DEFAULT),
        msr::MISC_ENABLE => Some(MISC_ENABLE_DEFAULT),
        msr::MTRR_PHYSBASE0..=msr::MTRR_PHYSMASK7
        | msr::MTRR_FIX64K
        | msr::MTRR_FIX16K_80000
        | msr::MTRR_FIX16K_A0000
        | msr::MTRR_FIX4K_C0000..=msr::MTRR_FIX4K_F8000
        | msr::MTRR_DEF_TYPE => Some(0),
        _ => None,
    }
}

/// Reads an MSR; `None` for one the model does not have.
pub fn msr_read(cpu: &Cpu, index: u32) -> Option<u64> {
    use crate::state::SegReg;
    let st = &cpu.state;
    Some(match index {
        msr::PLATFORM_ID | msr::BIOS_SIGN_ID => 0,
        msr::SYSENTER_CS..=msr::SYSENTER_EIP => st.sysenter[(index - msr::SYSENTER_CS) as usize],
        msr::MTRRCAP => MTRRCAP_VALUE,
        msr::ARCH_CAPABILITIES => ARCH_CAPABILITIES,
        msr::FEATURE_CONTROL => FEATURE_CONTROL_LOCKED,
        msr::EFER => st.efer,
        msr::STAR => st.star,
        msr::LSTAR => st.lstar,
        msr::CSTAR => st.cstar,
        msr::SFMASK => st.sfmask,
        msr::FS_BASE => st.seg(SegReg::Fs).base,
        msr::GS_BASE => st.seg(SegReg::Gs).base,
        msr::KERNEL_GS_BASE => st.kernel_gs_base,
        msr::TSC_AUX => st.tsc_aux,
        machine_check::MCG_CAP => u64::from(machine_check::BANKS),
        machine_check::MCG_STATUS => 0,
        _ => match machine_check::bank_register(index) {
            Some(BankRegister::Control) => cpu.msrs.get(&index).copied().unwrap_or(0),
            Some(BankRegister::Log) => 0,
            None => return cpu.msrs.get(&index).copied().or_else(|| stored_msr(index)),
        },
    })
}

/// Writes an MSR.
pub fn msr_write(cpu: &mut Cpu, index: u32, value: u64) -> Result<(), MsrError> {
    use crate::state::{efer, SegReg};
    let canonical = crate::mmu::segment::canonical(value);
    let st = &mut cpu.state;
    match index {
        msr::BIOS_SIGN_ID => {}
        // Intel 64 keeps the SYSENTER stack pointer and entry point whole, so they must be canonical.
        msr::SYSENTER_ESP | msr::SYSENTER_EIP if !canonical => return Err(MsrError::Invalid),
        msr::SYSENTER_CS..=msr::SYSENTER_EIP => {
            st.sysenter[(index - msr::SYSENTER_CS) as usize] = value
        }
        msr::EFER => {
            if value & !(EFER_WRITABLE | efer::LMA) != 0 {
                return Err(MsrError::Invalid);
            }
            // LME may not change while paging is on; LMA is read-only.
            if st.paging() && (value ^ st.efer) & efer::LME != 0 {
                return Err(MsrError::Invalid);
            }
            let changed = st.efer ^ value;
            st.efer = (value & EFER_WRITABLE) | (st.efer & efer::LMA);
            if changed & efer::NXE != 0 {
                cpu.flush_tlb(false);
            }
        }
        msr::STAR => st.star = value,
        msr::LSTAR | msr::CSTAR if !canonical => return Err(MsrError::Invalid),
        msr::LSTAR => st.lstar = value,
        msr::CSTAR => st.cstar = value,
        msr::SFMASK => st.sfmask = value & 0xFFFF_FFFF,
        msr::FS_BASE | msr::GS_BASE | msr::KERNEL_GS_BASE if !canonical => {
            return Err(MsrError::Invalid)
        }
        msr::FS_BASE => st.segs[SegReg::Fs as usize].base = value,
        msr::GS_BASE => st.segs[SegReg::Gs as usize].base = value,
        msr::KERNEL_GS_BASE => st.kernel_gs_base = value,
        msr::TSC_AUX => st.tsc_aux = value & 0xFFFF_FFFF,
        // Read-only: MTRRCAP, ARCH_CAPABILITIES and MCG_CAP always, FEATURE_CONTROL because it is locked.
        msr::MTRRCAP | msr::ARCH_CAPABILITIES | msr::FEATURE_CONTROL | machine_check::MCG_CAP => {
            return Err(MsrError::Invalid)
        }
        // Nothing is ever logged: the status registers take only 0.
        machine_check::MCG_STATUS if value != 0 => return Err(MsrError::Invalid),
        machine_check::MCG_STATUS => {}
        _ if machine_check::bank_register(index) == Some(BankRegister::Log) => {
            if value != 0 {
                return Err(MsrError::Invalid);
            }
        }
        _ if machine_check::bank_register(index) == Some(BankRegister::Control) => {
            cpu.msrs.insert(index, value);
        }
        _ if stored_msr(index).is_some() => {
            cpu.msrs.insert(index, value);
        }
        _ => return Err(MsrError::Unknown),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_decodes_to_family_6_model_15_with_intel_vendor() {
        let (max, ebx, ecx, edx) = cpuid(0, 0);
        assert_eq!(max, MAX_LEAF);
        let vendor: Vec<u8> = [ebx, edx, ecx]
            .iter()
            .flat_map(|r| r.to_le_bytes())
            .collect();
        assert_eq!(vendor, b"GenuineIntel");
        let (eax, _, _, _) = cpuid(1, 0);
        let family = (eax >> 8) & 0xF;
        let model = ((eax >> 4) & 0xF) | (((eax >> 16) & 0xF) << 4);
        assert_eq!((family, model, eax & 0xF), (6, 15, 11));
    }

    #[test]
    fn extended_leaves_report_an_invariant_tsc_and_48_bit_linear_addresses() {
        assert_eq!(cpuid(0x8000_0000, 0).0, 0x8000_0008);
        assert_ne!(cpuid(0x8000_0007, 0).3 & INVARIANT_TSC, 0);
        assert_eq!((cpuid(0x8000_0008, 0).0 >> 8) & 0xFF, 48);
    }

    #[test]
    fn feature_control_reads_locked_without_vmx_and_refuses_writes() {
        let mut cpu = Cpu::new();
        assert_eq!(msr_read(&cpu, msr::FEATURE_CONTROL), Some(1));
        assert_eq!(
            msr_write(&mut cpu, msr::FEATURE_CONTROL, 5),
            Err(MsrError::Invalid)
        );
    }

    #[test]
    fn leaf_7_offers_serialize_and_arch_capabilities_which_deny_every_speculation_flaw_and_refuse_writes(
    ) {
        assert_eq!(cpuid(0, 0).0, 7);
        assert_eq!(
            cpuid(7, 0),
            (0, 0, 0, SERIALIZE_BIT | ARCH_CAPABILITIES_BIT)
        );
        assert_eq!(cpuid(7, 1), (0, 0, 0, 0));
        assert_eq!((cpuid(5, 0), cpuid(6, 0)), ((0, 0, 0, 0), (0, 0, 0, 0)));
        let mut cpu = Cpu::new();
        let caps = msr_read(&cpu, msr::ARCH_CAPABILITIES).expect("the MSR CPUID offers");
        let (rdcl_no, mds_no) = (1, 1 << 5);
        assert_eq!(caps & (rdcl_no | mds_no), rdcl_no | mds_no);
        assert_eq!(
            msr_write(&mut cpu, msr::ARCH_CAPABILITIES, 0),
            Err(MsrError::Invalid)
        );
    }

    #[test]
    fn msrs_the_model_lacks_are_unknown_both_ways() {
        let mut cpu = Cpu::new();
        // IA32_PERFEVTSEL0: the model has no performance counters.
        assert_eq!(msr_read(&cpu, 0x186), None);
        assert_eq!(msr_write(&mut cpu, 0x186, 0), Err(MsrError::Unknown));
    }
}
