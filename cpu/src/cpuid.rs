//! The CPU model vx86 presents: one CPUID table and the model-specific registers, in one place.
//!
//! The model is an i686-class Intel processor (family 6) with only the features the interpreter implements:
//! VME, DE, PSE, TSC, MSR, PAE, CX8, SEP, PGE and CMOV. Features are added here as the interpreter gains them.

use crate::Cpu;

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
    /// CMPXCHG8B.
    pub const CX8: u32 = 1 << 8;
    /// SYSENTER/SYSEXIT.
    pub const SEP: u32 = 1 << 11;
    /// Global pages.
    pub const PGE: u32 = 1 << 13;
    /// CMOVcc.
    pub const CMOV: u32 = 1 << 15;
}

/// Highest basic leaf.
const MAX_LEAF: u32 = 1;
/// Family 6, model 3, stepping 3 (a Pentium II-class signature).
const SIGNATURE: u32 = 0x0633;
const FEATURES_EDX: u32 = feature::VME
    | feature::DE
    | feature::PSE
    | feature::TSC
    | feature::MSR
    | feature::PAE
    | feature::CX8
    | feature::SEP
    | feature::PGE
    | feature::CMOV;

/// CPUID: (EAX, EBX, ECX, EDX) for a leaf and sub-leaf.
pub fn cpuid(leaf: u32, _subleaf: u32) -> (u32, u32, u32, u32) {
    match leaf {
        // "GenuineIntel" in EBX, EDX, ECX.
        0 => (MAX_LEAF, 0x756E_6547, 0x6C65_746E, 0x4965_6E69),
        1 => (SIGNATURE, 0, 0, FEATURES_EDX),
        0x8000_0000 => (0x8000_0000, 0, 0, 0),
        // Intel returns the data of the highest basic leaf for leaves above it.
        _ if leaf < 0x8000_0000 => cpuid(MAX_LEAF, 0),
        _ => (0, 0, 0, 0),
    }
}

/// MSR numbers the model knows.
pub mod msr {
    /// Time-stamp counter.
    pub const TSC: u32 = 0x10;
    /// Platform ID (read-only, zero).
    pub const PLATFORM_ID: u32 = 0x17;
    /// SYSENTER target code segment.
    pub const SYSENTER_CS: u32 = 0x174;
    /// SYSENTER stack pointer.
    pub const SYSENTER_ESP: u32 = 0x175;
    /// SYSENTER entry point.
    pub const SYSENTER_EIP: u32 = 0x176;
    /// BIOS update signature (zero: no microcode).
    pub const BIOS_SIGN_ID: u32 = 0x8B;
}

/// Reads an MSR; `None` for one the model does not have.
pub fn msr_read(cpu: &Cpu, index: u32) -> Option<u64> {
    Some(match index {
        msr::TSC => cpu.instructions.wrapping_add(cpu.state.tsc_offset),
        msr::PLATFORM_ID | msr::BIOS_SIGN_ID => 0,
        msr::SYSENTER_CS..=msr::SYSENTER_EIP => {
            cpu.state.sysenter[(index - msr::SYSENTER_CS) as usize]
        }
        _ => return None,
    })
}

/// Writes an MSR; `false` for one the model does not have.
pub fn msr_write(cpu: &mut Cpu, index: u32, value: u64) -> bool {
    match index {
        msr::TSC => cpu.state.tsc_offset = value.wrapping_sub(cpu.instructions),
        msr::BIOS_SIGN_ID => {}
        msr::SYSENTER_CS..=msr::SYSENTER_EIP => {
            cpu.state.sysenter[(index - msr::SYSENTER_CS) as usize] = value
        }
        _ => return false,
    }
    true
}
