//! `vx86`: boot a PC guest. With no drive it boots the bundled demo guest through vx86's own BIOS.

use clap::Parser;
use std::io::{Read, Write};
use std::process::ExitCode;
use vx86_machine::cli::{self, ArgError, Args};
use vx86_machine::display::curses::CursesDisplay;
use vx86_machine::display::vnc::VncServer;
use vx86_machine::display::{DisplayLink, SharedFrame};
use vx86_machine::engine::{self, HostVirt};
use vx86_machine::loader::{self, KernelRequest};
use vx86_machine::{boot, drive, screenshot, status, Outcome, RunStats, Vm, VmConfig};

fn main() -> ExitCode {
    // A panic anywhere (any thread) is a bug in vx86: say so with a status no guest can give.
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        std::process::exit(i32::from(status::INTERNAL_ERROR));
    }));
    let args = match Args::try_parse_from(cli::normalize_args(std::env::args())) {
        Ok(a) => a,
        Err(e) => {
            // Help and version are not errors.
            let code = if e.use_stderr() { status::USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(args) {
        Ok(code) => ExitCode::from(code),
        Err(message) => {
            eprintln!("vx86: {message}");
            ExitCode::from(status::USAGE)
        }
    }
}

/// The std-vga's video BIOS, looked for beside `-bios` (Debian's `vgabios` package names it so).
const VGA_ROM_NAME: &str = "vgabios-stdvga.bin";

fn run(args: Args) -> Result<u8, String> {
    let ram_bytes = cli::parse_memory(&args.memory).map_err(|e| e.to_string())?;
    let accel = cli::parse_accel(&args.accel).map_err(|e| e.to_string())?;
    let (engine_kind, why) = engine::choose(accel, &HostVirt::probe())?;
    if accel == engine::Accel::Auto && !args.quiet {
        eprintln!("vx86: {why}");
    }
    let traces = cli::parse_traces(args.trace.as_deref()).map_err(|e| e.to_string())?;
    let devices = cli::parse_devices(&args.device).map_err(|e| e.to_string())?;
    let bios = match &args.bios {
        Some(path) => std::fs::read(path)
            .map_err(|e| format!("cannot read BIOS image {}: {e}", path.display()))?,
        None => vx86_firmware::bios::image(),
    };
    // As QEMU finds the VGA's video BIOS in its firmware folder, vx86 takes the one beside `-bios`, if any.
    let vga_rom = match args.bios.as_deref().map(|p| p.with_file_name(VGA_ROM_NAME)) {
        Some(path) if path.exists() => Some(
            std::fs::read(&path)
                .map_err(|e| format!("cannot read VGA BIOS {}: {e}", path.display()))?,
        ),
        _ => None,
    };
    if args.initrd.is_some() && args.kernel.is_none() {
        return Err("-initrd needs -kernel".to_string());
    }
    let mut drives = drive::open_drives(&args).map_err(|e| e.to_string())?;
    if !drives.any() && args.kernel.is_none() {
        // With neither a drive nor a kernel, boot the bundled demo guest.
        drives.ide[0] = Some(vx86_devices::IdeDevice::Disk(Box::new(
            vx86_devices::MemDisk::new(vx86_firmware::demo::disk_image()),
        )));
    }
    let curses = cli::parse_display(args.display.as_deref()).map_err(|e| e.to_string())?;
    // The curses display takes the terminal, so COM1 leaves stdio unless asked for (as under QEMU, where it goes to
    // a virtual console).
    let serial = args
        .serial
        .as_deref()
        .unwrap_or(if curses { "none" } else { "stdio" });
    if curses && serial == "stdio" {
        return Err(
            "-display curses takes the terminal: give -serial file:PATH or none".to_string(),
        );
    }
    let (serial_out, serial_in) = serial_backend(serial)?;
    let debugcon_out = match &args.debugcon {
        Some(spec) => output_backend("debugcon", spec)?,
        None => None,
    };
    let vnc_addr = match &args.vnc {
        Some(spec) => cli::parse_vnc(spec).map_err(|e| e.to_string())?,
        None => None,
    };
    // Both front ends send their keys (and VNC its pointer) down one channel to the i8042.
    let (input_tx, input_rx) = crossbeam_channel::unbounded();
    let terminal = if curses {
        Some(CursesDisplay::start(input_tx.clone()).map_err(|e| format!("-display curses: {e}"))?)
    } else {
        None
    };
    let (display, vnc_input) = if vnc_addr.is_some() || terminal.is_some() {
        let link = DisplayLink {
            frame: SharedFrame::new(),
            input: input_rx,
            text: terminal.as_ref().and_then(CursesDisplay::screens),
        };
        (Some(link), vnc_addr.as_ref().map(|_| input_tx))
    } else {
        (None, None)
    };
    let display_frame = display.as_ref().map(|link| link.frame.clone());
    let config = VmConfig {
        ram_bytes,
        bios,
        ide: drives.ide,
        boot_cdrom: drives.boot_cdrom,
        serial_out,
        serial_in,
        debugcon_out,
        pc_testdev: devices.pc_testdev,
        no_reboot: args.no_reboot,
        deterministic: args.icount,
        trace: traces.cpu,
        trace_post: traces.post,
        instruction_limit: args.max_instructions,
        cpus: cli::parse_smp(&args.smp).map_err(|e| e.to_string())?,
        vga_rom,
        code_cache_bytes: args
            .tb_size
            .map_or(vx86_translator::DEFAULT_CACHE_BYTES, |mib| {
                (mib as usize) << 20
            }),
        display,
    };
    let mut vm = Vm::with_engine(config, engine_kind).map_err(|e| e.to_string())?;
    // The machine has published its first frame: clients connecting now see the screen.
    if let (Some(addr), Some(frame), Some(input)) = (vnc_addr, display_frame, vnc_input) {
        let server = VncServer::start(addr.as_str(), frame, input)
            .map_err(|e| format!("-vnc: cannot listen on {addr}: {e}"))?;
        eprintln!("vx86: VNC server on {}", server.local_addr());
    }
    if let Some(kernel_path) = &args.kernel {
        let read = |path: &std::path::Path, what: &str| {
            std::fs::read(path).map_err(|e| format!("cannot read {what} {}: {e}", path.display()))
        };
        let kernel = read(kernel_path, "kernel image")?;
        let initrd = args
            .initrd
            .as_deref()
            .map(|p| read(p, "initrd"))
            .transpose()?;
        let kernel_name = kernel_path.to_string_lossy();
        let initrd_name = args.initrd.as_deref().map(|p| p.to_string_lossy());
        let request = KernelRequest {
            kernel: &kernel,
            initrd: initrd.as_deref(),
            cmdline: args
                .append
                .as_deref()
                .unwrap_or_else(|| loader::default_cmdline(&kernel)),
            kernel_name: &kernel_name,
            initrd_name: initrd_name.as_deref().unwrap_or(""),
        };
        // With -bios the firmware loads the kernel (as under QEMU); our own BIOS leaves it to a direct boot.
        let prepared = if args.bios.is_some() {
            boot::hand_to_firmware(&mut vm, &request)
        } else {
            boot::prepare(&mut vm, &request).map(|_| ())
        };
        prepared.map_err(|e| format!("{}: {e}", kernel_path.display()))?;
    }
    let (outcome, stats) = vm.run();
    match &outcome {
        Outcome::TripleFault { cs, rip } => {
            eprintln!("vx86: the guest triple-faulted at {cs:04x}:{rip:08x}; the CPU shut down")
        }
        Outcome::HaltedForever => {
            eprintln!("vx86: the guest halted with interrupts disabled and can never resume")
        }
        Outcome::InstructionLimit => eprintln!("vx86: instruction limit reached"),
        Outcome::EngineFailed(why) => eprintln!("vx86: the engine stopped the guest: {why}"),
        Outcome::GuestPanicked => eprintln!("vx86: the guest reported a kernel panic (pvpanic)"),
        _ => {}
    }
    if !args.quiet {
        print_summary(&vm, &stats, &outcome);
    }
    if traces.stats {
        print_stats(&vm, &stats);
    }
    for (what, count) in &vm.cpu.unimplemented {
        eprintln!("vx86: unimplemented: {what} x{count}");
    }
    if let Some(path) = &args.screenshot_on_exit {
        let frame = screenshot::capture(&mut vm.board.devices);
        screenshot::write_png(&frame, path).map_err(|e| format!("screenshot: {e}"))?;
    }
    if args.no_shutdown && outcome == Outcome::PowerOff {
        eprintln!(
            "vx86: the guest powered off; -no-shutdown keeps vx86 running until it is killed"
        );
        loop {
            std::thread::park();
        }
    }
    Ok(outcome.exit_status())
}

fn print_summary(vm: &Vm, stats: &RunStats, outcome: &Outcome) {
    match stats.exits {
        Some(exits) => eprintln!(
            "vx86: kvm ran the guest for {:.3} s with {exits} VM exits, exit: {outcome:?}",
            stats.wall.as_secs_f64()
        ),
        None => eprintln!(
            "vx86: {} guest instructions in {:.3} s ({:.1} MIPS) on {}, exit: {outcome:?}",
            stats.instructions,
            stats.wall.as_secs_f64(),
            stats.mips(),
            vm.engine().kind()
        ),
    }
}

/// `-d stats`: what the engine counts (VM exits by reason under kvm; instructions, blocks and exceptions under the
/// interpreter) beside the bus accesses that would each be an exit under kvm.
fn print_stats(vm: &Vm, stats: &RunStats) {
    eprintln!("{}", vm.engine().stats_report(&vm.cpu, stats.instructions));
    let b = &vm.board.stats;
    eprintln!("bus accesses (every engine):");
    for (what, n) in [
        ("port reads", b.io_reads),
        ("port writes", b.io_writes),
        ("mmio reads", b.mmio_reads),
        ("mmio writes", b.mmio_writes),
        ("interrupts delivered", b.interrupts),
    ] {
        eprintln!("  {what:<22} {n:>12}");
    }
}

type SerialPair = (
    Option<Box<dyn Write + Send>>,
    Option<crossbeam_channel::Receiver<u8>>,
);

/// Opens the COM1 backend named by -serial; stdio also feeds the guest's keyboard input from stdin.
fn serial_backend(spec: &str) -> Result<SerialPair, String> {
    let out = output_backend("serial", spec)?;
    if spec != "stdio" {
        return Ok((out, None));
    }
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::spawn(move || {
        let mut byte = [0u8; 1];
        let mut stdin = std::io::stdin().lock();
        while let Ok(1) = stdin.read(&mut byte) {
            if tx.send(byte[0]).is_err() {
                break;
            }
        }
    });
    Ok((out, Some(rx)))
}

/// Opens the host side of a guest output named by `-flag spec`: stdio, file:PATH (created) or none.
fn output_backend(flag: &'static str, spec: &str) -> Result<Option<Box<dyn Write + Send>>, String> {
    match spec {
        "stdio" => Ok(Some(Box::new(std::io::stdout()))),
        "none" => Ok(None),
        _ => match spec.strip_prefix("file:") {
            Some(path) if !path.is_empty() => {
                let f = std::fs::File::create(path)
                    .map_err(|e| format!("cannot create {flag} file {path}: {e}"))?;
                Ok(Some(Box::new(f)))
            }
            _ => Err(ArgError::Backend {
                flag,
                spec: spec.to_string(),
            }
            .to_string()),
        },
    }
}
