//! The KVM engine: the guest runs on the host CPU through `/dev/kvm` (rust-vmm's kvm-ioctls), against the same guest
//! RAM and the same [`Board`] as the interpreter.
//!
//! - Memory: the board's one host mapping is registered as KVM memory slots following the PC memory map
//!   ([`slots`]); the BIOS ROM windows are read-only slots, so guest writes to them exit as MMIO and are dropped.
//! - Port I/O and MMIO exits become [`Board`] calls, one per element of a string I/O (`rep ins/outs`).
//! - Interrupts: there is no in-kernel irqchip; our 8259 model asserts INTR, and the vector is injected with
//!   KVM_INTERRUPT once the guest can take it (`ready_for_interrupt_injection` and IF), asking KVM for an
//!   interrupt-window exit otherwise.
//! - HLT exits return [`Exit::Halted`]; the vCPU is not re-entered until an interrupt is pending, so the machine's
//!   idle loop sleeps until the next device event instead of spinning.
//! - A helper thread kicks the vCPU out of KVM_RUN every millisecond with a signal so the machine can poll its timers
//!   (a guest in a tight loop makes no exits of its own).
//! - [`CpuState`] is the interface: it is written to the vCPU before the first run (and whenever the machine changed
//!   it: a reset, a start-up IPI, a switch of processor) and read back after every return to the machine.
//! - Processors (`-smp N`): one KVM vCPU each, run in turn on the machine's one thread as the software engines run
//!   theirs ([`crate::processors`]); the vCPU that runs is the one whose APIC ID the [`Cpu`] holds, so each keeps
//!   the state KVM holds beyond [`CpuState`] (FPU and SSE registers, event and interrupt-shadow state).

mod cpuid;
mod exits;
pub mod regs;

pub use exits::ExitStats;

use super::{EngineKind, ExecutionEngine};
use crate::board::Board;
use crate::layout::{BIOS_LOW_WINDOW_MAX, FOUR_GIB, ONE_MIB, VGA_WINDOW, VGA_WINDOW_END};
use crate::memory::GuestMemory;
use kvm_bindings::{kvm_interrupt, kvm_userspace_memory_region, KVMIO, KVM_MEM_READONLY};
use kvm_ioctls::{Cap, Kvm, VcpuExit, VcpuFd, VmFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;
use vx86_cpu::{Bus, Cpu, CpuState, Exit};

/// How often the vCPU is kicked out of the guest so the machine can serve its timers.
const KICK_PERIOD: Duration = Duration::from_millis(1);
/// Guest-physical address of the three pages KVM may need for real-mode emulation on Intel hosts (in the PCI hole,
/// where QEMU puts it).
const KVM_TSS_ADDR: u64 = 0xFEFF_D000;

/// KVM_INTERRUPT (x86, no in-kernel irqchip) and KVM_X86_SETUP_MCE, which kvm-ioctls does not wrap.
mod ioctl_numbers {
    use super::{kvm_interrupt, KVMIO};
    vmm_sys_util::ioctl_iow_nr!(KVM_INTERRUPT, KVMIO, 0x86, kvm_interrupt);
    vmm_sys_util::ioctl_iow_nr!(KVM_X86_SETUP_MCE, KVMIO, 0x9c, u64);
}
use ioctl_numbers::{KVM_INTERRUPT, KVM_X86_SETUP_MCE};

/// Why the KVM engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum KvmError {
    /// /dev/kvm cannot be opened.
    #[error("-accel kvm: cannot use /dev/kvm ({0}); run with -accel interp")]
    Open(kvm_ioctls::Error),
    /// A KVM set-up call failed.
    #[error("-accel kvm: {0} failed: {1}")]
    Setup(&'static str, kvm_ioctls::Error),
}

/// One KVM memory slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// First guest-physical address.
    pub guest: u64,
    /// Length in bytes.
    pub size: u64,
    /// Offset into the board's host mapping.
    pub host_offset: u64,
    /// Read-only (BIOS ROM).
    pub rom: bool,
}

/// The KVM memory slots for a board with `ram_bytes` of RAM and a `rom_bytes` BIOS: the same map as
/// [`GuestMemory::backing`].
pub fn slots(ram_bytes: u64, rom_bytes: u64) -> Vec<Slot> {
    let (below_4g, above_4g) = vx86_devices::ram_split(ram_bytes);
    let low_window = rom_bytes.min(BIOS_LOW_WINDOW_MAX);
    // No slot covers the VGA window: accesses there exit as MMIO to the card.
    let mut v = vec![
        Slot {
            guest: 0,
            size: VGA_WINDOW,
            host_offset: 0,
            rom: false,
        },
        Slot {
            guest: VGA_WINDOW_END,
            size: ONE_MIB - low_window - VGA_WINDOW_END,
            host_offset: VGA_WINDOW_END,
            rom: false,
        },
        Slot {
            guest: ONE_MIB - low_window,
            size: low_window,
            host_offset: ram_bytes + rom_bytes - low_window,
            rom: true,
        },
        Slot {
            guest: ONE_MIB,
            size: below_4g - ONE_MIB,
            host_offset: ONE_MIB,
            rom: false,
        },
        Slot {
            guest: FOUR_GIB - rom_bytes,
            size: rom_bytes,
            host_offset: ram_bytes,
            rom: true,
        },
    ];
    if above_4g > 0 {
        v.push(Slot {
            guest: FOUR_GIB,
            size: above_4g,
            host_offset: below_4g,
            rom: false,
        });
    }
    v
}

/// Whether /dev/kvm can be opened and a VM created: `Err` says why not.
pub fn probe() -> Result<(), String> {
    let kvm = Kvm::new().map_err(|e| format!("cannot open /dev/kvm: {e}"))?;
    kvm.create_vm()
        .map_err(|e| format!("/dev/kvm refuses KVM_CREATE_VM: {e}"))?;
    Ok(())
}

/// One processor's KVM vCPU.
struct Vcpu {
    fd: VcpuFd,
    /// The guest executed HLT and has not been woken by an interrupt.
    halted: bool,
}

/// The KVM engine: a VM with a vCPU per processor over the board's memory.
pub struct KvmEngine {
    /// Processor `i`'s vCPU (APIC ID `i`).
    vcpus: Vec<Vcpu>,
    /// The processor whose vCPU runs.
    current: usize,
    // The VM must outlive its vCPUs; dropped after them.
    _vm: VmFd,
    kvm: Kvm,
    /// The machine changed `Cpu::state` (creation, reset, start-up, a switch of processor): write it to the
    /// current processor's vCPU before running.
    upload: bool,
    /// The BIOS ROM is mapped read-only (KVM_CAP_READONLY_MEM on a host with vmx/svm); otherwise writable.
    pub readonly_rom: bool,
    /// Leaf 1 EDX features of vx86's CPU model the host could not offer.
    pub dropped_cpuid_features: u32,
    /// VM exits by reason.
    pub stats: ExitStats,
    kicker: Option<Kicker>,
}

impl Vcpu {
    /// Queues a waiting NMI in KVM, which delivers it when the guest's NMI blocking allows (and wakes a halted
    /// vCPU for it).
    fn offer_nmi(&mut self, board: &mut Board) {
        if board.nmi_pending() && self.fd.nmi().is_ok() {
            board.acknowledge_nmi();
            self.halted = false;
        }
    }

    /// Injects the PIC's interrupt if the guest can take it now, else asks KVM to exit when it can.
    fn offer_interrupt(&mut self, board: &mut Board, pending: bool, stats: &mut ExitStats) {
        let run = self.fd.get_kvm_run();
        if !pending {
            run.request_interrupt_window = 0;
            return;
        }
        if run.ready_for_interrupt_injection != 0 && run.if_flag != 0 {
            run.request_interrupt_window = 0;
            let vector = board.acknowledge_interrupt();
            let irq = kvm_interrupt {
                irq: u32::from(vector),
            };
            // SAFETY: KVM_INTERRUPT takes a pointer to a kvm_interrupt, which `irq` is, on a vCPU fd; the kernel
            // only reads it. kvm-ioctls has no wrapper for this x86 ioctl.
            let rc =
                unsafe { vmm_sys_util::ioctl::ioctl_with_ref(&self.fd, KVM_INTERRUPT(), &irq) };
            if rc == 0 {
                stats.injected += 1;
                self.halted = false;
            }
        } else {
            run.request_interrupt_window = 1;
        }
    }
}

impl KvmEngine {
    /// Creates the VM over `memory`, with vx86's CPUID model, and `cpus` vCPUs (at least one).
    ///
    /// `memory`'s host mapping must outlive the engine (the machine drops the engine first).
    pub fn new(memory: &mut GuestMemory, cpus: usize) -> Result<KvmEngine, KvmError> {
        let kvm = Kvm::new().map_err(KvmError::Open)?;
        let vm = kvm
            .create_vm()
            .map_err(|e| KvmError::Setup("KVM_CREATE_VM", e))?;
        // PVM (KVM without vmx/svm) advertises read-only slots, but its instruction emulator spins forever on a write
        // into one (the BIOS's `mov fs, ax` setting the accessed bit of a GDT descriptor held in ROM) instead of
        // exiting as MMIO. There the ROM is mapped writable: guest writes to it stick, unlike on real hardware.
        let readonly_rom = kvm.check_extension(Cap::ReadonlyMem) && super::cpu_has_hardware_virt();
        let ram_bytes = memory.ram_bytes();
        let host = memory.host();
        let rom_bytes = host.len() as u64 - ram_bytes;
        let base = host.as_mut_ptr() as u64;
        for (k, s) in slots(ram_bytes, rom_bytes).iter().enumerate() {
            let region = kvm_userspace_memory_region {
                slot: k as u32,
                flags: if s.rom && readonly_rom {
                    KVM_MEM_READONLY
                } else {
                    0
                },
                guest_phys_addr: s.guest,
                memory_size: s.size,
                userspace_addr: base + s.host_offset,
            };
            // SAFETY: the region lies inside the board's anonymous mapping (`slots` stays within RAM + ROM), which
            // lives as long as the machine; the machine drops this engine (and so the VM) before its memory.
            unsafe { vm.set_user_memory_region(region) }
                .map_err(|e| KvmError::Setup("KVM_SET_USER_MEMORY_REGION", e))?;
        }
        // Only needed (and only implemented) on Intel hosts; elsewhere it is harmless to skip.
        let _ = vm.set_tss_address(KVM_TSS_ADDR as usize);
        let vcpus = (0..cpus.max(1) as u8)
            .map(|apic_id| {
                let fd = vm
                    .create_vcpu(u64::from(apic_id))
                    .map_err(|e| KvmError::Setup("KVM_CREATE_VCPU", e))?;
                let table = cpuid::table(&kvm, apic_id)
                    .map_err(|e| KvmError::Setup("KVM_GET_SUPPORTED_CPUID", e))?;
                fd.set_cpuid2(&table)
                    .map_err(|e| KvmError::Setup("KVM_SET_CPUID2", e))?;
                if kvm.check_extension(Cap::Mce) {
                    setup_machine_check(&fd)?;
                }
                Ok(Vcpu { fd, halted: false })
            })
            .collect::<Result<Vec<_>, KvmError>>()?;
        let dropped_cpuid_features = cpuid::dropped_features(&kvm).unwrap_or(0);
        install_kick_handler();
        Ok(KvmEngine {
            vcpus,
            current: 0,
            _vm: vm,
            kvm,
            upload: true,
            readonly_rom,
            dropped_cpuid_features,
            stats: ExitStats::default(),
            kicker: None,
        })
    }

    /// The guest's TSC rate in kHz (the host's, under KVM), if KVM reports it.
    pub fn tsc_khz(&self) -> Option<u32> {
        self.vcpus[0].fd.get_tsc_khz().ok().filter(|&k| k > 0)
    }

    fn run_until_exit(&mut self, board: &mut Board) -> Exit {
        let stats = &mut self.stats;
        let vcpu = &mut self.vcpus[self.current];
        loop {
            vcpu.offer_nmi(board);
            let pending = board.interrupt_pending();
            if vcpu.halted && !pending {
                return Exit::Halted;
            }
            vcpu.offer_interrupt(board, pending, stats);
            // Without an in-kernel APIC, KVM takes CR8 from kvm_run on entry and leaves it there on exit: the
            // APIC's TPR is that register.
            // The APIC is told only when the guest changed CR8.
            let cr8_in = board.task_priority().map(|tpr| u64::from(tpr >> 4));
            if let Some(cr8) = cr8_in {
                vcpu.fd.get_kvm_run().cr8 = cr8;
            }
            let run_ptr: *const kvm_bindings::kvm_run = vcpu.fd.get_kvm_run();
            let exit = vcpu.fd.run();
            // SAFETY: `run_ptr` points at the vCPU's mapped kvm_run, alive as long as the vCPU.
            let cr8 = unsafe { (*run_ptr).cr8 };
            if cr8_in != Some(cr8) {
                board.set_task_priority((cr8 << 4) as u8);
            }
            match exit {
                Ok(VcpuExit::IoIn(port, data)) => {
                    stats.io_in += 1;
                    // SAFETY: `run_ptr` points at the vCPU's mapped kvm_run, alive as long as the vCPU; after an
                    // I/O exit the kernel has filled its `io` union member, which does not overlap `data`.
                    let size = usize::from(unsafe { (*run_ptr).__bindgen_anon_1.io.size }).max(1);
                    for chunk in data.chunks_mut(size) {
                        let v = board.io_read(port, chunk.len() as u8);
                        chunk.copy_from_slice(&v.to_le_bytes()[..chunk.len()]);
                    }
                }
                Ok(VcpuExit::IoOut(port, data)) => {
                    stats.io_out += 1;
                    // SAFETY: as for IoIn above.
                    let size = usize::from(unsafe { (*run_ptr).__bindgen_anon_1.io.size }).max(1);
                    for chunk in data.chunks(size) {
                        board.io_write(port, chunk.len() as u8, le_value(chunk) as u32);
                    }
                }
                Ok(VcpuExit::MmioRead(addr, data)) => {
                    stats.mmio_read += 1;
                    let v = board.mmio_read(addr, data.len() as u8);
                    let n = data.len().min(8);
                    data[..n].copy_from_slice(&v.to_le_bytes()[..n]);
                }
                Ok(VcpuExit::MmioWrite(addr, data)) => {
                    stats.mmio_write += 1;
                    board.mmio_write(addr, data.len() as u8, le_value(data));
                }
                Ok(VcpuExit::Hlt) => {
                    stats.hlt += 1;
                    vcpu.halted = true;
                    return Exit::Halted;
                }
                Ok(VcpuExit::IrqWindowOpen) => stats.irq_window += 1,
                Ok(VcpuExit::Intr) => {
                    stats.kick += 1;
                    return Exit::BudgetExhausted;
                }
                Ok(VcpuExit::Shutdown) => {
                    stats.shutdown += 1;
                    return Exit::TripleFault;
                }
                Ok(VcpuExit::InternalError) => {
                    stats.other += 1;
                    // SAFETY: as for IoIn above; after KVM_EXIT_INTERNAL_ERROR the kernel filled `internal`.
                    let internal = unsafe { (*run_ptr).__bindgen_anon_1.internal };
                    let n = (internal.ndata as usize).min(internal.data.len());
                    return Exit::EngineFailed(format!(
                        "KVM internal error {} ({}), data {:x?}",
                        internal.suberror,
                        internal_error_name(internal.suberror),
                        &internal.data[..n]
                    ));
                }
                Ok(other) => {
                    stats.other += 1;
                    return Exit::EngineFailed(format!("KVM stopped the guest: {other:?}"));
                }
                Err(e) if e.errno() == libc::EINTR => {
                    stats.kick += 1;
                    return Exit::BudgetExhausted;
                }
                Err(e) if e.errno() == libc::EAGAIN => {}
                Err(e) => {
                    stats.other += 1;
                    return Exit::EngineFailed(format!("KVM_RUN failed: {e}"));
                }
            }
            if board.devices.request_pending() {
                return Exit::DeviceRequest;
            }
        }
    }

    fn push_state(&mut self, s: &CpuState) -> Result<(), kvm_ioctls::Error> {
        let mut sregs = self.vcpus[self.current].fd.get_sregs()?;
        regs::sregs_to_kvm(s, &mut sregs);
        self.vcpus[self.current].fd.set_sregs(&sregs)?;
        self.vcpus[self.current]
            .fd
            .set_regs(&regs::regs_to_kvm(s))?;
        self.vcpus[self.current].fd.set_msrs(&regs::state_msrs(s))?;
        Ok(())
    }

    fn pull_state(&mut self, s: &mut CpuState) -> Result<(), kvm_ioctls::Error> {
        regs::regs_from_kvm(&self.vcpus[self.current].fd.get_regs()?, s);
        regs::sregs_from_kvm(&self.vcpus[self.current].fd.get_sregs()?, s);
        let mut msrs = regs::state_msrs(s);
        let count = self.vcpus[self.current].fd.get_msrs(&mut msrs)?;
        regs::state_msrs_into(&msrs, count, s);
        Ok(())
    }

    /// The `/dev/kvm` handle (for capability checks).
    pub fn kvm(&self) -> &Kvm {
        &self.kvm
    }

    fn kicker_for_this_thread(&mut self) -> &Kicker {
        // SAFETY: pthread_self has no preconditions.
        let me = unsafe { libc::pthread_self() };
        if self.kicker.as_ref().is_none_or(|k| k.target != me) {
            self.kicker = Some(Kicker::start(me));
        }
        self.kicker.as_ref().expect("just set")
    }
}

impl ExecutionEngine for KvmEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Kvm
    }

    fn counts_instructions(&self) -> bool {
        false
    }

    /// Runs the guest until something needs the machine: HLT, a triple fault, a device request after port I/O, a
    /// refusal, or the periodic kick (reported as [`Exit::BudgetExhausted`]; KVM cannot count to `budget`).
    fn run(&mut self, cpu: &mut Cpu, board: &mut Board, _budget: u64) -> Exit {
        let current = usize::from(cpu.apic_id());
        if current >= self.vcpus.len() {
            return Exit::EngineFailed(format!("no vCPU for processor {current}"));
        }
        self.current = current;
        if self.upload {
            if let Err(e) = self.push_state(&cpu.state) {
                return Exit::EngineFailed(format!("cannot set the vCPU's registers: {e}"));
            }
            self.upload = false;
            self.vcpus[current].halted = cpu.state.halted;
        }
        self.kicker_for_this_thread().set_running(true);
        let exit = self.run_until_exit(board);
        if let Some(k) = &self.kicker {
            k.set_running(false);
        }
        if let Err(e) = self.pull_state(&mut cpu.state) {
            return Exit::EngineFailed(format!("cannot read the vCPU's registers: {e}"));
        }
        cpu.state.halted = self.vcpus[current].halted;
        exit
    }

    /// The machine replaced the CPU state (a reset, a start-up IPI, another processor's turn): write it to that
    /// processor's vCPU before the next run.
    fn state_changed(&mut self) {
        self.upload = true;
    }

    fn stats_report(&self, _cpu: &Cpu, _instructions: u64) -> String {
        self.stats.to_string()
    }

    fn kvm(&self) -> Option<&KvmEngine> {
        Some(self)
    }
}

/// Gives the vCPU vx86's machine-check model: IA32_MCG_CAP with its bank count and no optional features.
fn setup_machine_check(fd: &VcpuFd) -> Result<(), KvmError> {
    let mcg_cap = u64::from(vx86_cpu::cpuid::machine_check::BANKS);
    // SAFETY: KVM_X86_SETUP_MCE reads one u64 from the pointer, which `mcg_cap` is, on a vCPU fd.
    let rc = unsafe { vmm_sys_util::ioctl::ioctl_with_ref(fd, KVM_X86_SETUP_MCE(), &mcg_cap) };
    if rc != 0 {
        return Err(KvmError::Setup(
            "KVM_X86_SETUP_MCE",
            kvm_ioctls::Error::last(),
        ));
    }
    Ok(())
}

fn internal_error_name(suberror: u32) -> &'static str {
    match suberror {
        1 => "the host could not emulate an instruction",
        2 => "simultaneous exceptions",
        3 => "delivery event failed",
        _ => "unknown",
    }
}

fn le_value(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = bytes.len().min(8);
    b[..n].copy_from_slice(&bytes[..n]);
    u64::from_le_bytes(b)
}

extern "C" fn on_kick(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {}

/// Installs the (empty) handler of the kick signal once, without SA_RESTART, so KVM_RUN returns EINTR.
fn install_kick_handler() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let _ = vmm_sys_util::signal::register_signal_handler(
            vmm_sys_util::signal::SIGRTMIN(),
            on_kick,
        );
    });
}

/// A thread that sends the kick signal to the vCPU thread every [`KICK_PERIOD`] while it is inside KVM_RUN.
struct Kicker {
    target: libc::pthread_t,
    /// Whether the vCPU thread is inside [`KvmEngine::run`]; held while signalling, so the target is alive.
    running: Arc<Mutex<bool>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Kicker {
    fn start(target: libc::pthread_t) -> Kicker {
        let running = Arc::new(Mutex::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (running.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                std::thread::sleep(KICK_PERIOD);
                let inside = r.lock().unwrap_or_else(|p| p.into_inner());
                if *inside {
                    // SAFETY: `target` is the thread inside KvmEngine::run (the flag is set on entry and cleared
                    // on exit under this lock), so it is alive; the signal's handler is installed and does nothing.
                    unsafe { libc::pthread_kill(target, vmm_sys_util::signal::SIGRTMIN()) };
                }
            }
        });
        Kicker {
            target,
            running,
            stop,
            thread: Some(thread),
        }
    }

    fn set_running(&self, on: bool) {
        *self.running.lock().unwrap_or_else(|p| p.into_inner()) = on;
    }
}

impl Drop for Kicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vx86_cpu::PageBacking;

    #[test]
    fn slots_follow_the_board_memory_map() {
        for (ram, rom) in [(32u64 << 20, 64u64 << 10), (5 << 30, 256 << 10)] {
            let mem = GuestMemory::new(ram, &vec![0; rom as usize]).unwrap();
            for s in slots(ram, rom) {
                for addr in [s.guest, s.guest + s.size - 4096] {
                    let off = (s.host_offset + addr - s.guest) as usize;
                    let want = if s.rom {
                        PageBacking::Rom(off)
                    } else {
                        PageBacking::Ram(off)
                    };
                    assert_eq!(mem.backing(addr), want, "slot {s:?} at {addr:#x}");
                }
                assert!(
                    !(s.guest..s.guest + s.size).contains(&VGA_WINDOW),
                    "the VGA window stays MMIO"
                );
            }
        }
    }
}
