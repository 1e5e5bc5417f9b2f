//! The CPUID table given to a KVM vCPU: vx86's CPU model ([`vx86_cpu::cpuid::cpuid`]), limited to what the host's
//! KVM can provide.
//!
//! What had to change from the interpreter's model, and why:
//! - Leaf 1 EDX, leaf 7 EDX (IA32_ARCH_CAPABILITIES, whose value KVM then gives) and leaf 8000_0001h ECX/EDX (long
//!   mode, SYSCALL, NX, RDTSCP, LAHF in 64-bit mode) are intersected with what KVM supports: a feature the host cannot virtualize is not offered (on this PVM host every bit of the
//!   model is supported, so nothing is dropped; see [`dropped_features`]). Without leaf 8000_0001h KVM refuses
//!   EFER.LME, so no guest could enter long mode.
//! - The vendor stays "GenuineIntel" even on an AMD host. KVM keys some emulation on the guest's vendor: with Intel's
//!   vendor, SYSENTER/SYSEXIT are emulated in legacy mode as on Intel.
//! - CPUID itself does not trap when the guest's user mode runs natively on the host (as under PVM): ring-3 code
//!   that executes CPUID sees the host processor, not this table. Kernel-mode CPUID (what OSes probe) sees the table.

use kvm_bindings::{
    kvm_cpuid_entry2, CpuId, KVM_CPUID_FLAG_SIGNIFCANT_INDEX, KVM_MAX_CPUID_ENTRIES,
};
use kvm_ioctls::Kvm;

/// Leaves (and sub-leaves) of the model handed to KVM: the basic leaves with the cache descriptions (leaf 4 by
/// sub-leaf, up to the one that ends its list) and the structured features (leaf 7), and the extended ones (features, brand string, L2 cache,
/// invariant TSC, address sizes).
const LEAVES: [(u32, u32); 18] = [
    (0, 0),
    (1, 0),
    (2, 0),
    (4, 0),
    (4, 1),
    (4, 2),
    (4, 3),
    (5, 0),
    (6, 0),
    (7, 0),
    (0x8000_0000, 0),
    (0x8000_0001, 0),
    (0x8000_0002, 0),
    (0x8000_0003, 0),
    (0x8000_0004, 0),
    (0x8000_0006, 0),
    (0x8000_0007, 0),
    (0x8000_0008, 0),
];

/// Builds the CPUID table of the vCPU whose APIC ID is `apic_id` from the model and the host's supported table.
pub fn table(kvm: &Kvm, apic_id: u8) -> Result<CpuId, kvm_ioctls::Error> {
    let supported = kvm.get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)?;
    let host_edx1 = host_leaf(&supported, 1).3;
    let host_edx7 = host_leaf(&supported, 7).3;
    let (_, _, host_ecx_ext, host_edx_ext) = host_leaf(&supported, 0x8000_0001);
    let entries: Vec<kvm_cpuid_entry2> = LEAVES
        .iter()
        .map(|&(leaf, index)| {
            let (eax, ebx, mut ecx, mut edx) =
                vx86_cpu::cpuid::cpuid_for(leaf, index, apic_id, true);
            match leaf {
                1 => edx &= host_edx1,
                // IA32_ARCH_CAPABILITIES is KVM's to answer, when it offers the MSR at all.
                7 => edx &= host_edx7,
                0x8000_0001 => {
                    ecx &= host_ecx_ext;
                    edx &= host_edx_ext;
                }
                _ => {}
            }
            kvm_cpuid_entry2 {
                function: leaf,
                index,
                flags: if leaf == 4 {
                    KVM_CPUID_FLAG_SIGNIFCANT_INDEX
                } else {
                    0
                },
                eax,
                ebx,
                ecx,
                edx,
                ..Default::default()
            }
        })
        .collect();
    Ok(CpuId::from_entries(&entries).expect("a handful of CPUID entries fit"))
}

/// EAX, EBX, ECX, EDX of `leaf` (sub-leaf 0) in the host's supported table; zeros where KVM lacks it.
fn host_leaf(supported: &CpuId, leaf: u32) -> (u32, u32, u32, u32) {
    supported
        .as_slice()
        .iter()
        .find(|e| e.function == leaf)
        .map_or((0, 0, 0, 0), |e| (e.eax, e.ebx, e.ecx, e.edx))
}

/// Leaf 1 EDX bits of the model that the host's KVM cannot offer.
pub fn dropped_features(kvm: &Kvm) -> Result<u32, kvm_ioctls::Error> {
    let supported = kvm.get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)?;
    Ok(vx86_cpu::cpuid::cpuid(1, 0).3 & !host_leaf(&supported, 1).3)
}
