//! A configured virtual machine and its run loop: build the board, run the CPU in slices, serve timers and HLT,
//! and turn guest requests (power-off, reset, debug exit, pvpanic, triple fault) into an outcome.

use crate::acpi;
use crate::board::Board;
use crate::display::{DisplayLink, DisplayRefresh};
use crate::engine::kvm::{ExitStats, KvmError};
use crate::engine::{self, EngineKind, ExecutionEngine};
use crate::fw_cfg::{self, FirmwareConfig};
use crate::layout::ACPI_TABLES_BASE;
use crate::loader::MemoryMap;
use crate::memory::{GuestMemory, MemoryError};
use crate::pacing::Pacing;
use crate::processors::Processors;
use crate::status;
use std::io::Write;
use std::time::{Duration, Instant};
use vx86_cpu::{Bus, Cpu, Exit, PageBacking, SegReg, Trace};
use vx86_devices::{BoardRequest, FwCfgError, IdeDevice, PcConfig, PcDevices};

/// Instructions a processor runs before the machine polls its devices and switches to the next processor, with
/// several processors, or under an engine that does not count instructions.
const SLICE: u64 = 20_000;
/// With one processor whose engine counts instructions (so guest time follows them), a slice runs to the next timer
/// event, but at least this many instructions...
const MIN_SLICE: u64 = 1_000;
/// ...and at most this many, so host input (the serial line, the display) is still looked at every 0.1 ms or so of
/// translated code. Each slice's end leaves generated code and polls every device: at 20,000 instructions, a
/// quarter of a second of the Debian boot under bt went to that.
const MAX_SLICE: u64 = 200_000;
/// The most processors a machine can have (`-smp`): APIC IDs are 8 bits, 0xFF is the broadcast.
pub const MAX_CPUS: usize = 255;

/// Everything needed to build a machine.
pub struct VmConfig {
    /// Guest RAM in bytes.
    pub ram_bytes: u64,
    /// The BIOS image (64, 128 or 256 KiB).
    pub bios: Vec<u8>,
    /// The IDE drives in QEMU's index order: primary master and slave, secondary master and slave.
    pub ide: [Option<IdeDevice>; 4],
    /// `-boot d`: firmware that reads the boot order (SeaBIOS) tries the CD-ROM first.
    pub boot_cdrom: bool,
    /// COM1 output.
    pub serial_out: Option<Box<dyn Write + Send>>,
    /// COM1 input.
    pub serial_in: Option<crossbeam_channel::Receiver<u8>>,
    /// Where the debug console at port 0xE9 goes (`-debugcon`; None: no debug console).
    pub debugcon_out: Option<Box<dyn Write + Send>>,
    /// Add QEMU's pc-testdev (`-device pc-testdev`).
    pub pc_testdev: bool,
    /// A guest reset ends the run instead of restarting the machine.
    pub no_reboot: bool,
    /// Guest time advances with instructions and jumps over idle periods, so runs replay exactly (`-icount`).
    /// Otherwise guest time still advances with instructions under an engine that counts them (see [`crate::pacing`])
    /// but idles in host time, and under KVM it follows the host's clock.
    pub deterministic: bool,
    /// CPU traces.
    pub trace: Trace,
    /// Print POST codes.
    pub trace_post: bool,
    /// Stop after this many guest instructions (None: run until the guest ends).
    pub instruction_limit: Option<u64>,
    /// The binary translator's code-cache size in bytes (`-tb-size`), under bt.
    pub code_cache_bytes: usize,
    /// Number of processors (`-smp`; at least one).
    pub cpus: usize,
    /// Where the screen is published and display input comes from (`-vnc`; None: no display).
    pub display: Option<DisplayLink>,
    /// The VGA's option ROM (a video BIOS such as Debian's `vgabios-stdvga.bin`), given to firmware through fw_cfg.
    pub vga_rom: Option<Vec<u8>>,
}

impl VmConfig {
    /// A machine with `ram_bytes` of RAM, `bios` and nothing else: no disk, no serial connections, no debug console
    /// or test device, guest-paced (not deterministic) time, resets reboot, no traces and no instruction limit.
    /// Change fields with struct-update syntax (`VmConfig { no_reboot: true, ..VmConfig::new(ram, bios) }`).
    pub fn new(ram_bytes: u64, bios: Vec<u8>) -> VmConfig {
        VmConfig {
            ram_bytes,
            bios,
            ide: Default::default(),
            boot_cdrom: false,
            serial_out: None,
            serial_in: None,
            debugcon_out: None,
            pc_testdev: false,
            no_reboot: false,
            deterministic: false,
            trace: Trace::default(),
            trace_post: false,
            instruction_limit: None,
            code_cache_bytes: vx86_translator::DEFAULT_CACHE_BYTES,
            cpus: 1,
            display: None,
            vga_rom: None,
        }
    }
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The guest powered the machine off.
    PowerOff,
    /// The guest reset the machine under `-no-reboot`.
    Reset,
    /// The guest wrote to isa-debug-exit; the process exit status it asked for.
    DebugExit(i32),
    /// The guest kernel reported a panic through pvpanic (its panic loop would otherwise spin forever).
    GuestPanicked,
    /// The CPU shut down after a triple fault, at this CS:EIP.
    TripleFault {
        /// Code segment selector.
        cs: u16,
        /// Instruction pointer.
        rip: u64,
    },
    /// The instruction limit was reached.
    InstructionLimit,
    /// The CPU halted with interrupts disabled: nothing can ever wake it.
    HaltedForever,
    /// The engine could not go on (KVM refused to enter or run the guest), with KVM's reason.
    EngineFailed(String),
}

impl Outcome {
    /// The process exit status for this outcome: even for vx86's own, odd for a guest's debug exit (the scheme in
    /// [`crate::status`]).
    pub fn exit_status(&self) -> u8 {
        match self {
            Outcome::PowerOff | Outcome::Reset => status::POWER_OFF,
            Outcome::DebugExit(device_status) => status::debug_exit(*device_status),
            Outcome::TripleFault { .. } => status::TRIPLE_FAULT,
            Outcome::InstructionLimit => status::INSTRUCTION_LIMIT,
            Outcome::HaltedForever => status::HALTED_FOREVER,
            Outcome::EngineFailed(_) => status::ENGINE_FAILED,
            Outcome::GuestPanicked => status::GUEST_PANICKED,
        }
    }
}

/// Why a machine could not be built.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    /// Guest memory could not be set up.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// KVM could not be set up.
    #[error(transparent)]
    Kvm(#[from] KvmError),
    /// The fw_cfg contents could not be built.
    #[error("cannot build the fw_cfg contents: {0}")]
    FwCfg(#[from] FwCfgError),
    /// An option the chosen engine cannot honour.
    #[error("{0}")]
    Unsupported(String),
}

/// A machine ready to run.
///
/// `cpu.state` is the bootstrap processor's register state: a caller may set it before the first [`Vm::run`]
/// (every engine starts from it), and after a run it holds the registers the guest stopped with, whatever the
/// engine. With several processors the others run in turn on the same `Cpu` (see [`crate::processors`]).
pub struct Vm {
    /// The CPU: the bootstrap processor's state between runs, and (under the interpreter) the counters and caches.
    pub cpu: Cpu,
    processors: Processors,
    // Declared before the board: a KVM VM is dropped before the memory it maps.
    engine: Box<dyn ExecutionEngine>,
    /// Memory and devices.
    pub board: Board,
    pacing: Pacing,
    no_reboot: bool,
    instruction_limit: Option<u64>,
    /// Renders and publishes the screen, when a display is connected.
    display: Option<DisplayRefresh>,
}

/// Statistics of a finished run.
#[derive(Clone, Debug)]
pub struct RunStats {
    /// Guest instructions executed.
    pub instructions: u64,
    /// Host wall time.
    pub wall: Duration,
    /// VM exits (under kvm, which cannot count guest instructions).
    pub exits: Option<u64>,
}

impl RunStats {
    /// Millions of guest instructions per host second.
    pub fn mips(&self) -> f64 {
        self.instructions as f64 / self.wall.as_secs_f64().max(1e-9) / 1e6
    }
}

impl Vm {
    /// Builds the board and a CPU at its reset vector, run by the interpreter.
    pub fn new(config: VmConfig) -> Result<Vm, MemoryError> {
        match Vm::with_engine(config, EngineKind::Interp) {
            Ok(vm) => Ok(vm),
            Err(VmError::Memory(e)) => Err(e),
            Err(other) => unreachable!("the interpreter needs no set-up: {other}"),
        }
    }

    /// Builds the board and a CPU at its reset vector, run by `engine`.
    pub fn with_engine(config: VmConfig, engine: EngineKind) -> Result<Vm, VmError> {
        if !(1..=MAX_CPUS).contains(&config.cpus) {
            return Err(VmError::Unsupported(format!(
                "-smp {}: between 1 and {MAX_CPUS} processors",
                config.cpus
            )));
        }
        let mut memory = GuestMemory::new(config.ram_bytes, &config.bios)?;
        // A BIOS that leaves the segment below it as RAM (vx86's own, 64 KiB) gets the ACPI tables there, where
        // the OS's RSDP scan finds them; a larger one (SeaBIOS) places the tables fw_cfg gives it itself.
        if matches!(memory.backing(ACPI_TABLES_BASE), PageBacking::Ram(_)) {
            let cpus = u8::try_from(config.cpus).unwrap_or(u8::MAX);
            acpi::install(&mut memory, cpus).map_err(|e| VmError::Unsupported(e.to_string()))?;
        }
        let engine = engine::build(engine, &mut memory, config.code_cache_bytes, config.cpus)?;
        let pacing = Pacing::for_engine(
            engine.as_ref(),
            config.deterministic,
            config.instruction_limit,
        )?;
        let firmware = fw_cfg::items(&FirmwareConfig {
            ram_bytes: config.ram_bytes,
            cpus: config.cpus as u16,
            memory_map: &MemoryMap::for_board(&memory),
            ide: config
                .ide
                .each_ref()
                .map(|d| d.as_ref().map(IdeDevice::media)),
            boot_cdrom: config.boot_cdrom,
            vga_rom: config.vga_rom.as_deref(),
        })?;
        let mut devices = PcDevices::new(PcConfig {
            clock: pacing.clock(),
            ram_bytes: config.ram_bytes,
            cpus: config.cpus,
            serial_out: config.serial_out,
            serial_in: config.serial_in,
            ide: config.ide,
            trace_post: config.trace_post,
            trace_unassigned_ports: config.trace.unimplemented,
            debugcon_out: config.debugcon_out,
            pc_testdev: config.pc_testdev,
        });
        *devices.fw_cfg_mut().items_mut() = firmware;
        let display = config.display.map(|link| {
            devices.connect_display_input(link.input);
            DisplayRefresh::new(link.frame, link.text)
        });
        let mut cpu = Cpu::new();
        cpu.trace = config.trace;
        let mut vm = Vm {
            cpu,
            processors: Processors::new(config.cpus),
            engine,
            board: Board::new(memory, devices),
            pacing,
            no_reboot: config.no_reboot,
            instruction_limit: config.instruction_limit,
            display,
        };
        // Front ends find the screen published before the guest starts.
        vm.refresh_display();
        Ok(vm)
    }

    /// Renders and publishes the screen if a display is connected and its refresh period has passed.
    fn refresh_display(&mut self) {
        if let Some(display) = &mut self.display {
            display.tick(&mut self.board);
        }
    }

    /// Changes where the run stops (`-max-instructions`): a debugger or a test may run a machine in steps.
    pub fn set_instruction_limit(&mut self, limit: Option<u64>) {
        self.instruction_limit = limit;
    }

    /// Runs the guest until it ends, returning how it ended and the run's statistics.
    pub fn run(&mut self) -> (Outcome, RunStats) {
        let start = Instant::now();
        let first = self.cpu.instructions;
        let exits_before = self.kvm_exits().map(ExitStats::total);
        let outcome = self.run_until_end();
        if let Some(display) = &mut self.display {
            display.render_now(&mut self.board);
        }
        if self
            .processors
            .switch_to(0, &mut self.cpu, &mut self.board.devices)
        {
            self.engine.state_changed();
        }
        let stats = RunStats {
            instructions: self.cpu.instructions - first,
            wall: start.elapsed(),
            exits: self
                .kvm_exits()
                .map(|s| s.total() - exits_before.unwrap_or(0)),
        };
        (outcome, stats)
    }

    fn run_until_end(&mut self) -> Outcome {
        loop {
            let slice = self.slice();
            let budget = match self.instruction_limit {
                Some(limit) if self.cpu.instructions >= limit => return Outcome::InstructionLimit,
                Some(limit) => slice.min(limit - self.cpu.instructions),
                None => slice,
            };
            let exit = self.engine.run(&mut self.cpu, &mut self.board, budget);
            self.board.sync_instructions(self.cpu.instructions);
            self.board.devices.poll();
            self.refresh_display();
            if let Some(outcome) = self.take_request() {
                return outcome;
            }
            match exit {
                Exit::EngineFailed(why) => return Outcome::EngineFailed(why),
                Exit::TripleFault => {
                    let cs = self.cpu.state.seg(SegReg::Cs).selector;
                    return Outcome::TripleFault {
                        cs,
                        rip: self.cpu.state.rip,
                    };
                }
                Exit::Halted | Exit::BudgetExhausted | Exit::DeviceRequest => {}
            }
            if let Some(outcome) = self.schedule() {
                return outcome;
            }
        }
    }

    /// How many instructions the next slice runs: [`SLICE`] with several processors or under an engine that does
    /// not count instructions; else up to the next timer event (in guest time, which follows instructions), within
    /// [`MIN_SLICE`] and [`MAX_SLICE`].
    fn slice(&self) -> u64 {
        if self.processors.count() > 1 || !self.engine.counts_instructions() {
            return SLICE;
        }
        let devices = &self.board.devices;
        let now = devices.clock().now_ns();
        devices
            .next_event_ns()
            .map_or(MAX_SLICE, |at| {
                at.saturating_sub(now) / crate::board::VIRTUAL_NS_PER_INSTRUCTION
            })
            .clamp(MIN_SLICE, MAX_SLICE)
    }

    /// Between slices: applies the processors' start-up signals and picks the processor to run next (round
    /// robin); while none can run, waits for a device event, or says that nothing can ever wake one.
    fn schedule(&mut self) -> Option<Outcome> {
        let devices = &mut self.board.devices;
        self.processors.apply_signals(&mut self.cpu, devices);
        devices.apics_mut().take_yield();
        loop {
            if let Some(next) = self
                .processors
                .next_runnable(&self.cpu, &self.board.devices)
            {
                if self
                    .processors
                    .switch_to(next, &mut self.cpu, &mut self.board.devices)
                {
                    self.engine.state_changed();
                }
                return None;
            }
            if !self.processors.any_can_wake(&self.cpu, &self.board.devices)
                || !self.pacing.wait_for_event(&mut self.board)
            {
                return Some(Outcome::HaltedForever);
            }
            self.board.devices.poll();
            self.refresh_display();
        }
    }

    /// Number of processors (`-smp`).
    pub fn processor_count(&self) -> usize {
        self.processors.count()
    }

    /// The board's NMI line (QEMU's `nmi` monitor command): an NMI for every processor whose APIC's LINT1 takes
    /// it, taken at the next instruction boundary.
    pub fn inject_nmi(&mut self) {
        self.board.devices.raise_nmi();
    }

    /// The engine running this machine.
    pub fn engine(&self) -> &dyn ExecutionEngine {
        self.engine.as_ref()
    }

    /// VM exits by reason, under kvm.
    pub fn kvm_exits(&self) -> Option<&ExitStats> {
        self.engine.kvm().map(|k| &k.stats)
    }

    /// Copies `bytes` into guest-physical memory at `paddr` (RAM only; ROM and unbacked bytes are skipped), for
    /// loaders and tests.
    pub fn write_phys(&mut self, paddr: u64, bytes: &[u8]) {
        for (k, b) in bytes.iter().enumerate() {
            let a = paddr + k as u64;
            if let vx86_cpu::PageBacking::Ram(off) = self.board.memory.backing(a) {
                self.board.memory.host()[off + (a & 0xFFF) as usize] = *b;
            }
        }
    }

    /// Handles a guest request from the devices, if any.
    fn take_request(&mut self) -> Option<Outcome> {
        match self.board.devices.take_request()? {
            BoardRequest::PowerOff => Some(Outcome::PowerOff),
            BoardRequest::DebugExit(status) => Some(Outcome::DebugExit(status)),
            BoardRequest::GuestPanicked => Some(Outcome::GuestPanicked),
            BoardRequest::Reset if self.no_reboot => Some(Outcome::Reset),
            BoardRequest::Reset => {
                self.processors
                    .reset(&mut self.cpu, &mut self.board.devices);
                self.cpu.reset();
                self.board.devices.reset();
                self.engine.state_changed();
                None
            }
        }
    }
}
