//! Execution engines and how one is chosen: `-accel interp|kvm|auto`.
//!
//! Every engine has the same contract, [`ExecutionEngine`]: run the guest until it halts, shuts down, a device asks
//! the machine to act, or its slice ends, and say which with a [`vx86_cpu::Exit`]; the machine ([`crate::vm`]) does
//! the rest without knowing which engine it runs. Adding an engine is one [`EngineKind`] variant, one
//! [`ExecutionEngine`] impl, and one line in [`build`].

pub mod bt;
pub mod interp;
pub mod kvm;
pub mod phase_table;

use crate::board::Board;
use crate::memory::GuestMemory;
use crate::vm::VmError;
use std::fmt;
use vx86_cpu::{Cpu, Exit};

/// What the user asked for with `-accel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    /// The reference interpreter.
    Interp,
    /// The binary translator (`bt`, or QEMU's spelling `tcg`).
    Bt,
    /// KVM through /dev/kvm.
    Kvm,
    /// KVM where the host has hardware virtualization, else the fastest software engine.
    Auto,
}

impl std::str::FromStr for Accel {
    type Err = String;
    fn from_str(s: &str) -> Result<Accel, String> {
        match s {
            "interp" => Ok(Accel::Interp),
            "bt" | "tcg" => Ok(Accel::Bt),
            "kvm" => Ok(Accel::Kvm),
            "auto" => Ok(Accel::Auto),
            other => Err(format!(
                "unknown accelerator '{other}': use interp, bt (or tcg), kvm or auto"
            )),
        }
    }
}

/// The engine a machine runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    /// The reference interpreter.
    Interp,
    /// The binary translator.
    Bt,
    /// KVM.
    Kvm,
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EngineKind::Interp => "interp",
            EngineKind::Bt => "bt",
            EngineKind::Kvm => "kvm",
        })
    }
}

/// What the host offers for virtualization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostVirt {
    /// /proc/cpuinfo lists `vmx` or `svm`: KVM runs guests on hardware virtualization.
    pub hardware: bool,
    /// /dev/kvm opens and creates a VM (`Err` says why not).
    pub kvm: Result<(), String>,
}

impl HostVirt {
    /// Looks at /proc/cpuinfo and /dev/kvm.
    pub fn probe() -> HostVirt {
        HostVirt {
            hardware: cpu_has_hardware_virt(),
            kvm: kvm::probe(),
        }
    }

    /// KVM works here but without vmx/svm: a paravirtual KVM (such as PVM) that emulates guest kernel mode.
    pub fn paravirtual_kvm(&self) -> bool {
        self.kvm.is_ok() && !self.hardware
    }

    /// The label of the kvm engine in reports: says when guest kernel mode is emulated by the host.
    pub fn kvm_label(&self) -> &'static str {
        if self.paravirtual_kvm() {
            "kvm (PVM: kernel mode emulated by host)"
        } else {
            "kvm"
        }
    }
}

/// Whether /proc/cpuinfo lists the `vmx` (Intel VT-x) or `svm` (AMD-V) flag.
pub fn cpu_has_hardware_virt() -> bool {
    std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|text| {
        text.lines()
            .filter(|l| l.starts_with("flags"))
            .any(|l| l.split_whitespace().any(|f| f == "vmx" || f == "svm"))
    })
}

/// Picks the engine for `accel` on a host like `host`: the engine, and one line saying why (for `auto`).
pub fn choose(accel: Accel, host: &HostVirt) -> Result<(EngineKind, String), String> {
    match accel {
        Accel::Interp => Ok((EngineKind::Interp, "-accel interp".into())),
        Accel::Bt if cfg!(target_arch = "x86_64") => Ok((EngineKind::Bt, "-accel bt".into())),
        Accel::Bt => {
            Err("-accel bt: the translator emits x86-64 code and this host is not x86-64".into())
        }
        Accel::Kvm => match &host.kvm {
            Ok(()) => Ok((EngineKind::Kvm, "-accel kvm".into())),
            Err(why) => Err(format!("-accel kvm: {why}; run with -accel interp")),
        },
        Accel::Auto => Ok(match (&host.kvm, host.hardware) {
            (Ok(()), true) => (
                EngineKind::Kvm,
                "-accel auto picked kvm: /dev/kvm works and the CPU has vmx/svm".into(),
            ),
            (kvm, _) => {
                let why = match kvm {
                    Ok(()) => "/dev/kvm works but the CPU has no vmx/svm flag (a paravirtual KVM that emulates \
                               guest kernel mode), so kvm would be slow; use -accel kvm to force it"
                        .to_string(),
                    Err(why) => why.clone(),
                };
                let software = software_engine();
                (software, format!("-accel auto picked {software}: {why}"))
            }
        }),
    }
}

/// The fastest software engine for this host: the translator where the host runs x86-64 code, else the
/// interpreter.
pub fn software_engine() -> EngineKind {
    if cfg!(target_arch = "x86_64") {
        EngineKind::Bt
    } else {
        EngineKind::Interp
    }
}

/// What the machine asks of an engine. The run loop drives every engine through this trait alone.
pub trait ExecutionEngine {
    /// Which engine this is.
    fn kind(&self) -> EngineKind;

    /// Whether the engine counts retired guest instructions in `Cpu::instructions`: only then can guest time follow
    /// them and can `-icount` and `-max-instructions` be honoured.
    fn counts_instructions(&self) -> bool;

    /// Runs the guest from `cpu.state` until it halts, shuts down, a device asks the machine to act, or `budget`
    /// instructions have retired (an engine that cannot count them returns after a time slice of its own). After
    /// the run `cpu.state` holds the guest's registers.
    fn run(&mut self, cpu: &mut Cpu, board: &mut Board, budget: u64) -> Exit;

    /// The machine replaced `cpu.state` between runs (a reset): the engine must take it up before running again.
    fn state_changed(&mut self) {}

    /// The engine's own counts for `-d stats`, one line each, for a run that retired `instructions`.
    fn stats_report(&self, cpu: &Cpu, instructions: u64) -> String;

    /// The KVM engine, if this is it (its exit counts and TSC rate, for reports and the benchmark).
    fn kvm(&self) -> Option<&kvm::KvmEngine> {
        None
    }
}

/// Builds the engine `kind` over the board's guest `memory` (whose host mapping must outlive the engine); a
/// translator gets a code cache of `code_cache_bytes`, KVM a vCPU for each of the `cpus` processors.
pub fn build(
    kind: EngineKind,
    memory: &mut GuestMemory,
    code_cache_bytes: usize,
    cpus: usize,
) -> Result<Box<dyn ExecutionEngine>, VmError> {
    Ok(match kind {
        EngineKind::Interp => Box::new(interp::InterpEngine),
        EngineKind::Bt => Box::new(bt::BtEngine::new(code_cache_bytes)?),
        EngineKind::Kvm => Box::new(kvm::KvmEngine::new(memory, cpus)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_picks_kvm_only_with_hardware_virtualization() {
        let host = |hardware, kvm: Result<(), String>| HostVirt { hardware, kvm };
        let pick = |h: &HostVirt| choose(Accel::Auto, h).unwrap().0;
        assert_eq!(pick(&host(true, Ok(()))), EngineKind::Kvm);
        assert_eq!(pick(&host(false, Ok(()))), software_engine());
        assert_eq!(
            pick(&host(true, Err("no /dev/kvm".into()))),
            software_engine()
        );
        assert_eq!("tcg".parse::<Accel>(), Ok(Accel::Bt));
        let e = choose(Accel::Kvm, &host(true, Err("cannot open /dev/kvm".into()))).unwrap_err();
        assert!(e.contains("cannot open /dev/kvm") && !e.contains('\n'));
        assert_eq!("kvm".parse::<Accel>(), Ok(Accel::Kvm));
        assert!("xen".parse::<Accel>().is_err());
        assert!(host(false, Ok(())).kvm_label().contains("PVM"));
    }
}
