//! The `vx86` command line, following QEMU's conventions (`-m 64M`, `-bios FILE`, `-serial stdio`, ...).
//!
//! QEMU spells long options with one dash; clap wants two, so [`normalize_args`] rewrites the known single-dash
//! spellings before parsing. Both `-bios` and `--bios` work.

use clap::Parser;
use std::path::PathBuf;

/// The options of the `vx86` binary.
#[derive(Debug, Parser)]
#[command(
    name = "vx86",
    version,
    about = "vx86: an x86 PC emulator (interpreter, binary translator, KVM)"
)]
pub struct Args {
    /// Guest RAM, in MiB or with a suffix (K, M, G), as QEMU's -m.
    #[arg(short = 'm', long = "memory", default_value = "128M")]
    pub memory: String,

    /// Processors, as QEMU's -smp: N, cpus=N, or sockets=S,cores=C,threads=T (their product).
    #[arg(long, default_value = "1")]
    pub smp: String,

    /// A PC BIOS image (64, 128 or 256 KiB) instead of vx86's own BIOS.
    #[arg(long)]
    pub bios: Option<PathBuf>,

    /// A drive: file=PATH, then any of ,format=raw|qcow2 ,if=ide ,index=0..3 ,media=disk|cdrom ,readonly=on
    /// ,snapshot=on. Without a drive, vx86 boots its bundled demo guest.
    #[arg(long)]
    pub drive: Vec<String>,

    /// A kernel to boot directly, without the BIOS: a Linux bzImage (64-bit entry) or a multiboot image.
    #[arg(long)]
    pub kernel: Option<PathBuf>,

    /// An initial ramdisk for -kernel (for multiboot: the first module).
    #[arg(long)]
    pub initrd: Option<PathBuf>,

    /// The kernel command line for -kernel (default: console=ttyS0 for Linux, nothing for multiboot). It may begin
    /// with '-'.
    #[arg(long, allow_hyphen_values = true)]
    pub append: Option<String>,

    /// Shorthand for -drive file=PATH,if=ide (the format probed).
    #[arg(long)]
    pub hda: Option<PathBuf>,

    /// The primary slave IDE disk: -drive file=PATH,index=1.
    #[arg(long)]
    pub hdb: Option<PathBuf>,

    /// The secondary master IDE disk: -drive file=PATH,index=2.
    #[arg(long)]
    pub hdc: Option<PathBuf>,

    /// The secondary slave IDE disk: -drive file=PATH,index=3.
    #[arg(long)]
    pub hdd: Option<PathBuf>,

    /// A CD-ROM image (a raw ISO) in an ATAPI drive on the secondary master: -drive file=PATH,index=2,media=cdrom.
    #[arg(long)]
    pub cdrom: Option<PathBuf>,

    /// The boot device: c (the first hard disk, the default) or d (the CD-ROM; put first in SeaBIOS's boot order,
    /// vx86's own BIOS boots the primary master disk either way).
    #[arg(long)]
    pub boot: Option<String>,

    /// Where COM1 goes: stdio (the default, but none under -display curses, which takes the terminal), file:PATH
    /// or none.
    #[arg(long)]
    pub serial: Option<String>,

    /// A debug console at port 0xE9 (QEMU's isa-debugcon): stdio, file:PATH or none.
    #[arg(long)]
    pub debugcon: Option<String>,

    /// An extra device, as QEMU's -device: pc-testdev, or isa-debug-exit (always there; iobase=0xf4 and iosize
    /// may be given).
    #[arg(long)]
    pub device: Vec<String>,

    /// No graphical display (the default without -vnc; accepted for QEMU compatibility).
    #[arg(long)]
    pub nographic: bool,

    /// The local display: none (the default) or curses (the VGA's text screen in this terminal, keys to the
    /// guest's keyboard).
    #[arg(long)]
    pub display: Option<String>,

    /// Serve the screen over VNC (RFB 3.8): :N listens on 127.0.0.1, port 5900+N; HOST:N on HOST; none: no server.
    #[arg(long)]
    pub vnc: Option<String>,

    /// A guest reset ends vx86 (status 0) instead of rebooting the guest.
    #[arg(long = "no-reboot")]
    pub no_reboot: bool,

    /// When the guest powers off, keep vx86 (and its VNC server, showing the last screen) running until it is
    /// killed, as QEMU's -no-shutdown keeps its window.
    #[arg(long = "no-shutdown")]
    pub no_shutdown: bool,

    /// Execution engine: interp (the reference interpreter), bt or tcg (the binary translator), kvm (/dev/kvm),
    /// or auto (kvm where the CPU has vmx/svm, else bt on an x86-64 host, else the interpreter).
    #[arg(long, default_value = "auto")]
    pub accel: String,

    /// The binary translator's code cache in MiB (QEMU's spelling); flushed whole when full.
    #[arg(long = "tb-size", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub tb_size: Option<u32>,

    /// Traces on stderr, comma separated: in_asm, out_asm, int, post, unimp, stats.
    #[arg(short = 'd', long = "trace")]
    pub trace: Option<String>,

    /// Deterministic guest time: clocks advance with guest instructions, so runs replay identically.
    #[arg(long)]
    pub icount: bool,

    /// Stop after this many guest instructions.
    #[arg(long = "max-instructions")]
    pub max_instructions: Option<u64>,

    /// Do not print the run summary on exit.
    #[arg(long)]
    pub quiet: bool,

    /// When the guest stops, write its VGA screen to this PNG file (vx86's own flag; QEMU has none).
    #[arg(long = "screenshot-on-exit")]
    pub screenshot_on_exit: Option<PathBuf>,
}

/// Long options QEMU users type with a single dash, and whether each takes a value.
const SINGLE_DASH_LONG: &[(&str, bool)] = &[
    ("kernel", true),
    ("initrd", true),
    ("append", true),
    ("bios", true),
    ("drive", true),
    ("hda", true),
    ("hdb", true),
    ("hdc", true),
    ("hdd", true),
    ("cdrom", true),
    ("boot", true),
    ("serial", true),
    ("debugcon", true),
    ("device", true),
    ("nographic", false),
    ("display", true),
    ("no-reboot", false),
    ("no-shutdown", false),
    ("vnc", true),
    ("accel", true),
    ("tb-size", true),
    ("icount", false),
    ("max-instructions", true),
    ("quiet", false),
    ("screenshot-on-exit", true),
    ("memory", true),
    ("trace", true),
    ("smp", true),
];

/// Short options that take a value.
const SHORT_WITH_VALUE: &[&str] = &["-m", "-d"];

/// Rewrites `-bios` to `--bios` (and the other QEMU-style long options) so clap can parse them. The argument after
/// an option that takes a value is that value and is never rewritten, as QEMU reads it: `-append -quiet` is a
/// command line of "-quiet".
pub fn normalize_args(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut value_next = false;
    args.into_iter()
        .map(|a| {
            if std::mem::take(&mut value_next) {
                return a;
            }
            value_next = SHORT_WITH_VALUE.contains(&a.as_str());
            let Some(rest) = a.strip_prefix('-') else {
                return a;
            };
            let long = rest.strip_prefix('-');
            let name = long.unwrap_or(rest);
            let Some(&(_, takes_value)) = SINGLE_DASH_LONG.iter().find(|(n, _)| {
                name.strip_prefix(n)
                    .is_some_and(|tail| tail.is_empty() || tail.starts_with('='))
            }) else {
                return a;
            };
            value_next = takes_value && !name.contains('=');
            match long {
                Some(_) => a,
                None => format!("-{a}"),
            }
        })
        .collect()
}

/// Why a command-line value was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ArgError {
    /// A memory size that does not parse.
    #[error("invalid memory size '{0}': use a number of MiB or a size like 512M or 2G")]
    Memory(String),
    /// A -smp specification that does not parse.
    #[error("invalid -smp '{0}': use N, cpus=N or sockets=S,cores=C,threads=T (1 to 255 processors, no hotplug)")]
    Smp(String),
    /// A -drive specification that does not parse.
    #[error("invalid -drive '{0}': expected file=PATH[,format=raw|qcow2][,if=ide][,index=0..3][,media=disk|cdrom][,readonly=on][,snapshot=on]")]
    Drive(String),
    /// An unknown disk image format.
    #[error("unknown disk format '{0}': use format=raw or format=qcow2")]
    DriveFormat(String),
    /// A bad -serial or -debugcon value.
    #[error("invalid -{flag} '{spec}': use stdio, file:PATH or none")]
    Backend {
        /// The flag, without its dash.
        flag: &'static str,
        /// The value given.
        spec: String,
    },
    /// A -device vx86 does not have.
    #[error("unknown -device '{0}': vx86 has pc-testdev and isa-debug-exit (at iobase=0xf4, iosize=0x4)")]
    Device(String),
    /// An unknown engine.
    #[error("unknown accelerator '{0}': use interp, bt (or tcg), kvm or auto")]
    Accel(String),
    /// A -display that vx86 does not have.
    #[error("unknown -display '{0}': use none or curses")]
    Display(String),
    /// A -vnc value that does not parse.
    #[error("invalid -vnc '{0}': use :N (port 5900+N on 127.0.0.1), HOST:N or none")]
    Vnc(String),
    /// An unknown trace name.
    #[error("unknown trace '{0}' in -d: use in_asm, out_asm, int, post, unimp, stats")]
    Trace(String),
}

/// Parses `-accel`.
pub fn parse_accel(text: &str) -> Result<crate::engine::Accel, ArgError> {
    text.parse().map_err(|_| ArgError::Accel(text.to_string()))
}

/// Parses a QEMU-style memory size into bytes (a bare number means MiB).
pub fn parse_memory(text: &str) -> Result<u64, ArgError> {
    let t = text.trim();
    let (digits, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((k, _)) => t.split_at(k),
        None => (t, "M"),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| ArgError::Memory(text.to_string()))?;
    let shift = match unit.to_ascii_uppercase().trim_end_matches(['B', 'I']) {
        "K" => 10,
        "M" => 20,
        "G" => 30,
        _ => return Err(ArgError::Memory(text.to_string())),
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| ArgError::Memory(text.to_string()))
}

/// Parses `-smp` into a number of processors: `N`, `cpus=N`, or `sockets`, `cores` and `threads` (whose product is
/// the count when `cpus` is not given). `maxcpus` may only repeat the count: there is no CPU hotplug.
pub fn parse_smp(spec: &str) -> Result<usize, ArgError> {
    let bad = || ArgError::Smp(spec.to_string());
    let (mut cpus, mut topology, mut maxcpus) = (None, 1usize, None);
    for (k, part) in spec.split(',').enumerate() {
        let (key, value) = match part.split_once('=') {
            Some((key, value)) => (key, value),
            None if k == 0 => ("cpus", part),
            None => return Err(bad()),
        };
        let n: usize = value.parse().map_err(|_| bad())?;
        match key {
            "cpus" => cpus = Some(n),
            "sockets" | "cores" | "threads" | "dies" => {
                topology = topology.checked_mul(n).ok_or_else(bad)?
            }
            "maxcpus" => maxcpus = Some(n),
            _ => return Err(bad()),
        }
    }
    let count = cpus.unwrap_or(topology);
    if !(1..=crate::vm::MAX_CPUS).contains(&count) || maxcpus.is_some_and(|m| m != count) {
        return Err(bad());
    }
    Ok(count)
}

/// What a drive holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    /// A hard disk.
    Disk,
    /// A CD-ROM.
    Cdrom,
}

/// A parsed `-drive`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriveSpec {
    /// The image file.
    pub file: PathBuf,
    /// Hard disk or CD-ROM.
    pub media: Media,
    /// The IDE slot `index=` asks for (0-3), or None for the first free one.
    pub index: Option<usize>,
    /// Format, read-only and snapshot modes.
    pub options: vx86_devices::ImageOptions,
}

/// An on/off drive property (`readonly=on`; a bare `readonly` means on, as in QEMU).
fn parse_switch(value: Option<&str>) -> Option<bool> {
    match value {
        None | Some("on" | "true" | "yes") => Some(true),
        Some("off" | "false" | "no") => Some(false),
        Some(_) => None,
    }
}

/// Parses `file=PATH[,format=raw|qcow2][,if=ide][,index=0..3][,media=disk|cdrom][,readonly=on][,snapshot=on]`.
pub fn parse_drive(spec: &str) -> Result<DriveSpec, ArgError> {
    let bad = || ArgError::Drive(spec.to_string());
    let mut drive = DriveSpec {
        file: PathBuf::new(),
        media: Media::Disk,
        index: None,
        options: vx86_devices::ImageOptions::default(),
    };
    for part in spec.split(',') {
        let (key, value) = match part.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (part, None),
        };
        match (key, value) {
            ("file", Some(path)) if !path.is_empty() => drive.file = PathBuf::from(path),
            ("format", Some(name)) => {
                let format = vx86_devices::ImageFormat::from_name(name)
                    .ok_or_else(|| ArgError::DriveFormat(name.to_string()))?;
                drive.options.format = Some(format);
            }
            ("if", Some("ide")) => {}
            ("index", Some(i)) => {
                drive.index = Some(i.parse().ok().filter(|&i| i < 4).ok_or_else(bad)?);
            }
            ("media", Some("disk")) => drive.media = Media::Disk,
            ("media", Some("cdrom")) => drive.media = Media::Cdrom,
            ("readonly", v) => drive.options.read_only = parse_switch(v).ok_or_else(bad)?,
            ("snapshot", v) => drive.options.snapshot = parse_switch(v).ok_or_else(bad)?,
            _ => return Err(bad()),
        }
    }
    if drive.file.as_os_str().is_empty() {
        return Err(bad());
    }
    Ok(drive)
}

/// What the `-device` options ask for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Devices {
    /// QEMU's pc-testdev.
    pub pc_testdev: bool,
}

/// Parses the `-device` options. isa-debug-exit is always on the board, so it is accepted where it would be (at its
/// default port 0xF4, four ports wide, as kvm-unit-tests ask for it) and changes nothing.
pub fn parse_devices(specs: &[String]) -> Result<Devices, ArgError> {
    let mut devices = Devices::default();
    for spec in specs {
        let mut parts = spec.split(',');
        match parts.next().unwrap_or("") {
            "pc-testdev" if parts.next().is_none() => devices.pc_testdev = true,
            "isa-debug-exit" => {
                for option in parts {
                    match option.split_once('=') {
                        Some(("iobase", base)) if parse_u16(base) == Some(0xF4) => {}
                        Some(("iosize", size)) if matches!(parse_u16(size), Some(1 | 2 | 4)) => {}
                        _ => return Err(ArgError::Device(spec.clone())),
                    }
                }
            }
            _ => return Err(ArgError::Device(spec.clone())),
        }
    }
    Ok(devices)
}

/// Parses `-display`: whether the curses display is wanted (`curses`, with QEMU's options such as
/// `curses,charset=CP437` ignored) or none (`none`, or no flag).
pub fn parse_display(spec: Option<&str>) -> Result<bool, ArgError> {
    match spec.map(|s| s.split(',').next().unwrap_or_default()) {
        None | Some("none") => Ok(false),
        Some("curses") => Ok(true),
        Some(_) => Err(ArgError::Display(spec.unwrap_or_default().to_string())),
    }
}

/// Parses `-vnc` (QEMU's display numbers): `:N` is port 5900+N on 127.0.0.1, `HOST:N` (`[IPV6]:N`) on HOST,
/// `none` no server. Returns the address to listen on as `host:port`.
pub fn parse_vnc(spec: &str) -> Result<Option<String>, ArgError> {
    if spec == "none" {
        return Ok(None);
    }
    let bad = || ArgError::Vnc(spec.to_string());
    let (host, display) = spec.rsplit_once(':').ok_or_else(bad)?;
    let display: u16 = display.parse().map_err(|_| bad())?;
    let port = crate::display::vnc::BASE_PORT
        .checked_add(display)
        .ok_or_else(bad)?;
    let host = if host.is_empty() { "127.0.0.1" } else { host };
    if host.contains(',') || host.contains(char::is_whitespace) {
        return Err(bad());
    }
    Ok(Some(format!("{host}:{port}")))
}

/// A port number or size as QEMU writes it: decimal, or hexadecimal after `0x`.
fn parse_u16(text: &str) -> Option<u16> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u16::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// The parsed `-d` list.
#[derive(Clone, Copy, Debug, Default)]
pub struct Traces {
    /// CPU traces.
    pub cpu: vx86_cpu::Trace,
    /// POST codes.
    pub post: bool,
    /// Counts at exit: VM exits by reason (kvm), instructions and bus accesses by kind (interp).
    pub stats: bool,
}

/// Parses the `-d` list.
pub fn parse_traces(list: Option<&str>) -> Result<Traces, ArgError> {
    let mut t = Traces::default();
    for name in list.unwrap_or("").split(',').filter(|s| !s.is_empty()) {
        match name {
            "in_asm" => t.cpu.in_asm = true,
            "out_asm" => t.cpu.out_asm = true,
            "int" => t.cpu.interrupts = true,
            "unimp" => t.cpu.unimplemented = true,
            "post" => t.post = true,
            "stats" => t.stats = true,
            other => return Err(ArgError::Trace(other.to_string())),
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_none_or_curses() {
        assert!(!parse_display(None).unwrap());
        assert!(!parse_display(Some("none")).unwrap());
        assert!(parse_display(Some("curses")).unwrap());
        assert!(parse_display(Some("curses,charset=CP437")).unwrap());
        let e = parse_display(Some("gtk")).unwrap_err().to_string();
        assert!(e.contains("unknown -display 'gtk'"), "{e}");
    }

    #[test]
    fn vnc_display_numbers_become_ports_on_loopback_by_default() {
        assert_eq!(parse_vnc(":0").unwrap().as_deref(), Some("127.0.0.1:5900"));
        assert_eq!(parse_vnc(":7").unwrap().as_deref(), Some("127.0.0.1:5907"));
        assert_eq!(
            parse_vnc("0.0.0.0:1").unwrap().as_deref(),
            Some("0.0.0.0:5901")
        );
        assert_eq!(parse_vnc("[::1]:2").unwrap().as_deref(), Some("[::1]:5902"));
        assert_eq!(parse_vnc("none").unwrap(), None);
        for bad in ["", "5900", ":x", ":-1", ":65535", ":1,password"] {
            assert!(matches!(parse_vnc(bad), Err(ArgError::Vnc(_))), "{bad}");
        }
        let argv = ["vx86", "-vnc", ":3", "-no-shutdown"].map(String::from);
        let args = Args::try_parse_from(normalize_args(argv)).unwrap();
        assert_eq!(args.vnc.as_deref(), Some(":3"));
        assert!(args.no_shutdown);
    }

    #[test]
    fn qemu_drive_shorthands_parse() {
        let argv = [
            "vx86", "-hda", "a.img", "-hdb", "b.img", "-hdc", "c.img", "-hdd", "d.img", "-cdrom",
            "e.iso", "-boot", "d",
        ];
        let args =
            Args::try_parse_from(normalize_args(argv.iter().map(|s| s.to_string()))).unwrap();
        assert_eq!(args.hda.unwrap(), PathBuf::from("a.img"));
        assert_eq!(args.hdb.unwrap(), PathBuf::from("b.img"));
        assert_eq!(args.hdc.unwrap(), PathBuf::from("c.img"));
        assert_eq!(args.hdd.unwrap(), PathBuf::from("d.img"));
        assert_eq!(args.cdrom.unwrap(), PathBuf::from("e.iso"));
        assert_eq!(args.boot.as_deref(), Some("d"));
    }

    #[test]
    fn qemu_single_dash_options_parse() {
        let argv = [
            "vx86",
            "-m",
            "64M",
            "-bios",
            "b.bin",
            "-no-reboot",
            "-serial",
            "none",
            "-d",
            "int,post",
        ];
        let args =
            Args::try_parse_from(normalize_args(argv.iter().map(|s| s.to_string()))).unwrap();
        assert_eq!(args.memory, "64M");
        assert_eq!(args.bios.unwrap(), PathBuf::from("b.bin"));
        assert!(args.no_reboot);
        assert_eq!(args.serial.as_deref(), Some("none"));
        let t = parse_traces(args.trace.as_deref()).unwrap();
        assert!(t.cpu.interrupts && t.post && !t.cpu.in_asm);
    }

    #[test]
    fn a_value_after_an_option_is_never_taken_for_an_option() {
        let parse = |argv: &[&str]| {
            Args::try_parse_from(normalize_args(argv.iter().map(|s| s.to_string()))).unwrap()
        };
        let args = parse(&["vx86", "-append", "-quiet", "-m", "64"]);
        assert_eq!(args.append.as_deref(), Some("-quiet"));
        assert!(!args.quiet);
        let args = parse(&["vx86", "--append", "-kernel x", "-quiet"]);
        assert_eq!(args.append.as_deref(), Some("-kernel x"));
        assert!(args.quiet && args.kernel.is_none());
        let args = parse(&["vx86", "-append=-s", "-device", "pc-testdev"]);
        assert_eq!(args.append.as_deref(), Some("-s"));
        assert!(parse_devices(&args.device).unwrap().pc_testdev);
        assert_eq!(
            parse(&["vx86"]).append,
            None,
            "the default depends on the kernel"
        );
    }

    #[test]
    fn devices_follow_qemus_spelling() {
        let specs = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let d = parse_devices(&specs(&["isa-debug-exit,iobase=0xf4,iosize=0x04"])).unwrap();
        assert!(!d.pc_testdev);
        assert!(parse_devices(&specs(&["pc-testdev"])).unwrap().pc_testdev);
        for bad in [
            "pc-testdev,x=1",
            "isa-debug-exit,iobase=0x501",
            "pci-testdev",
            "",
        ] {
            assert!(
                matches!(parse_devices(&specs(&[bad])), Err(ArgError::Device(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn memory_sizes_follow_qemu() {
        assert_eq!(parse_memory("64").unwrap(), 64 << 20);
        assert_eq!(parse_memory("512M").unwrap(), 512 << 20);
        assert_eq!(parse_memory("2G").unwrap(), 2 << 30);
        assert_eq!(parse_memory("1024k").unwrap(), 1 << 20);
        assert!(parse_memory("lots").is_err());
    }

    #[test]
    fn smp_specs_count_processors_and_reject_garbage() {
        assert_eq!(parse_smp("2").unwrap(), 2);
        assert_eq!(parse_smp("cpus=4").unwrap(), 4);
        assert_eq!(parse_smp("sockets=2,cores=2,threads=1").unwrap(), 4);
        assert_eq!(parse_smp("2,maxcpus=2").unwrap(), 2);
        for bad in ["0", "256", "two", "2,maxcpus=4", "2,bogus=1", "2,3", ""] {
            assert!(parse_smp(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn drive_specs_parse_and_reject_garbage() {
        use vx86_devices::ImageFormat;
        let d = parse_drive("file=d.img,format=raw,if=ide").unwrap();
        assert_eq!(d.file, PathBuf::from("d.img"));
        assert_eq!(d.options.format, Some(ImageFormat::Raw));
        assert_eq!(d.media, Media::Disk);
        let d =
            parse_drive("file=d.qcow2,format=qcow2,media=disk,readonly=on,snapshot=on").unwrap();
        assert_eq!(d.options.format, Some(ImageFormat::Qcow2));
        assert!(d.options.read_only && d.options.snapshot);
        let d = parse_drive("media=cdrom,file=x.iso,readonly").unwrap();
        assert_eq!(d.media, Media::Cdrom);
        assert!(d.options.read_only && d.options.format.is_none());
        let err = parse_drive("file=d.img,format=vmdk")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown disk format 'vmdk'"), "{err}");
        assert!(parse_drive("d.img").is_err());
        assert!(parse_drive("file=d.img,readonly=maybe").is_err());
        assert!(parse_drive("file=d.img,if=virtio").is_err());
        assert!(parse_drive("format=raw").is_err());
        assert_eq!(parse_drive("file=x.iso,index=2").unwrap().index, Some(2));
        assert_eq!(parse_drive("file=x.iso").unwrap().index, None);
        assert!(parse_drive("file=x.iso,index=4").is_err());
        assert!(parse_drive("file=x.iso,index=-1").is_err());
        assert!(parse_traces(Some("bogus")).is_err());
        assert!(parse_traces(Some("stats")).unwrap().stats);
    }
}
