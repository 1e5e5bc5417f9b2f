//! Test support: a flat-RAM [`Bus`], helpers that assemble a guest snippet with `code_asm` and run it, and a
//! comparison of two runs' end states under the flags the code leaves defined.
//!
//! Used by the cpu crate's unit tests and by other crates' tests (enable the `testing` feature).

use crate::bus::{Bus, PageBacking};
use crate::flags;
use crate::state::{attr, cr0, CpuState, SegReg, Segment};
use crate::{Cpu, Exit};
use iced_x86::code_asm::CodeAssembler;
use iced_x86::{Decoder, DecoderOptions, Instruction, Mnemonic, OpKind};
use std::collections::VecDeque;

/// A bus with `ram` bytes of RAM at physical 0, no ROM, open bus above, and recordable port I/O.
pub struct FlatBus {
    /// Guest RAM.
    pub ram: Vec<u8>,
    /// Every port write, in order: (port, size, value).
    pub io_writes: Vec<(u16, u8, u32)>,
    /// Values port reads return, in order; all ones once empty.
    pub io_reads: VecDeque<u32>,
    /// Interrupt vectors waiting to be acknowledged.
    pub pending_vectors: VecDeque<u8>,
    /// Whether the A20 gate is open.
    pub a20: bool,
    /// A port write to this port asks the engine to stop.
    pub stop_port: Option<u16>,
    /// A local APIC's task-priority register, when the bus models one (CR8 is then its bits 7-4).
    pub tpr: Option<u8>,
    /// IA32_APIC_BASE, when the bus models an APIC that owns it.
    pub apic_base: Option<u64>,
    stop: bool,
}

impl FlatBus {
    /// A bus with `ram` bytes of zeroed RAM.
    pub fn new(ram: usize) -> FlatBus {
        FlatBus {
            ram: vec![0; ram],
            io_writes: Vec::new(),
            io_reads: VecDeque::new(),
            pending_vectors: VecDeque::new(),
            a20: true,
            stop_port: None,
            tpr: None,
            apic_base: None,
            stop: false,
        }
    }

    /// Copies bytes into RAM at a physical address.
    pub fn load(&mut self, addr: u64, bytes: &[u8]) {
        self.ram[addr as usize..addr as usize + bytes.len()].copy_from_slice(bytes);
    }

    /// Reads a little-endian dword of RAM.
    pub fn read_u32(&self, addr: u64) -> u32 {
        let a = addr as usize;
        u32::from_le_bytes(self.ram[a..a + 4].try_into().expect("4 bytes"))
    }

    /// Writes a little-endian dword of RAM.
    pub fn write_u32(&mut self, addr: u64, value: u32) {
        self.load(addr, &value.to_le_bytes());
    }

    /// Writes a little-endian qword of RAM.
    pub fn write_u64(&mut self, addr: u64, value: u64) {
        self.load(addr, &value.to_le_bytes());
    }
}

impl Bus for FlatBus {
    fn memory(&mut self) -> &mut [u8] {
        &mut self.ram
    }
    fn backing(&self, paddr: u64) -> PageBacking {
        if paddr < self.ram.len() as u64 {
            PageBacking::Ram((paddr & !0xFFF) as usize)
        } else {
            PageBacking::Mmio
        }
    }
    fn mmio_read(&mut self, _paddr: u64, size: u8) -> u64 {
        u64::MAX >> (64 - 8 * u32::from(size))
    }
    fn mmio_write(&mut self, _paddr: u64, _size: u8, _value: u64) {}
    fn io_read(&mut self, _port: u16, _size: u8) -> u32 {
        self.io_reads.pop_front().unwrap_or(u32::MAX)
    }
    fn io_write(&mut self, port: u16, size: u8, value: u32) {
        self.io_writes.push((port, size, value));
        if Some(port) == self.stop_port {
            self.stop = true;
        }
    }
    fn interrupt_pending(&self) -> bool {
        !self.pending_vectors.is_empty()
    }
    fn acknowledge_interrupt(&mut self) -> u8 {
        self.pending_vectors.pop_front().unwrap_or(0xFF)
    }
    fn a20_enabled(&self) -> bool {
        self.a20
    }
    fn stop_requested(&self) -> bool {
        self.stop
    }
    fn task_priority(&self) -> Option<u8> {
        self.tpr
    }
    fn set_task_priority(&mut self, tpr: u8) -> bool {
        self.tpr.as_mut().map(|t| *t = tpr).is_some()
    }
    fn read_device_msr(&mut self, index: u32) -> Option<u64> {
        self.apic_base
            .filter(|_| index == crate::cpuid::msr::APIC_BASE)
    }
}

/// An engine tests can run code with: `(cpu, bus, budget) -> exit`, the contract of `Cpu::run`.
pub type Engine = fn(&mut Cpu, &mut FlatBus, u64) -> Exit;

static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();

/// Makes [`run`] use `engine` in this test binary (once, before any test runs): another engine's test suite runs the
/// cpu crate's tests through it. False if an engine was installed already.
pub fn install_engine(engine: Engine) -> bool {
    ENGINE.set(engine).is_ok()
}

/// Runs `cpu` on `bus` for up to `budget` instructions with the installed engine, the interpreter by default. The
/// helpers here and the cpu crate's tests run guest code through it.
pub fn run(cpu: &mut Cpu, bus: &mut FlatBus, budget: u64) -> Exit {
    match ENGINE.get() {
        Some(engine) => engine(cpu, bus, budget),
        None => cpu.run(bus, budget),
    }
}

/// Assembles a snippet at `base` with the given bitness (16, 32).
pub fn assemble(bitness: u32, base: u64, build: impl FnOnce(&mut CodeAssembler)) -> Vec<u8> {
    let mut a = CodeAssembler::new(bitness).expect("valid bitness");
    build(&mut a);
    a.assemble(base).expect("snippet assembles")
}

/// A flat 32-bit protected-mode CPU at CPL 0 (4 GiB code and data segments, no GDT needed until a segment load)
/// with RIP at `entry` and the stack at `stack`.
pub fn flat32_cpu(entry: u64, stack: u64) -> Cpu {
    let mut cpu = Cpu::new();
    cpu.state.cr0 |= cr0::PE;
    let data = Segment {
        base: 0,
        limit: 0xFFFF_FFFF,
        selector: 0x10,
        attrs: attr::P | attr::S | attr::RW | attr::ACCESSED | attr::DB | attr::G,
    };
    for s in SegReg::ALL {
        cpu.state.segs[s as usize] = data;
    }
    cpu.state.segs[SegReg::Cs as usize] = Segment {
        selector: 0x08,
        attrs: data.attrs | attr::CODE,
        ..data
    };
    cpu.state.rip = entry;
    cpu.state.gpr[4] = stack;
    cpu
}

/// A real-mode CPU with all segments 0 and RIP at `entry` (below 64 KiB), SP at `stack`.
pub fn real_cpu(entry: u64, stack: u64) -> Cpu {
    let mut cpu = Cpu::new();
    for s in SegReg::ALL {
        cpu.state.segs[s as usize] = Segment::real_mode(0);
    }
    cpu.state.segs[SegReg::Cs as usize].attrs |= attr::CODE;
    cpu.state.rip = entry;
    cpu.state.gpr[4] = stack;
    cpu
}

/// Runs 32-bit flat code assembled at 0x1000 (stack at 0x8000) until HLT, returning the CPU and bus.
pub fn run32(build: impl FnOnce(&mut CodeAssembler)) -> (Cpu, FlatBus) {
    let mut bus = FlatBus::new(1 << 20);
    let code = assemble(32, 0x1000, build);
    bus.load(0x1000, &code);
    let mut cpu = flat32_cpu(0x1000, 0x8000);
    let exit = run(&mut cpu, &mut bus, 1_000_000);
    assert_eq!(exit, Exit::Halted, "snippet must end with HLT");
    (cpu, bus)
}

/// Runs 16-bit real-mode code assembled at 0x1000 (stack at 0x8000) until HLT.
pub fn run16(build: impl FnOnce(&mut CodeAssembler)) -> (Cpu, FlatBus) {
    let mut bus = FlatBus::new(1 << 20);
    let code = assemble(16, 0x1000, build);
    bus.load(0x1000, &code);
    let mut cpu = real_cpu(0x1000, 0x8000);
    let exit = run(&mut cpu, &mut bus, 1_000_000);
    assert_eq!(exit, Exit::Halted, "snippet must end with HLT");
    (cpu, bus)
}

/// Guest-physical layout of [`ProtectedMachine`].
pub mod layout {
    /// Ring-0 test code.
    pub const KERNEL_CODE: u64 = 0x1000;
    /// Interrupt handler stubs: the handler of vector `v` is one HLT at `HANDLERS + 16 * v`.
    pub const HANDLERS: u64 = 0x3000;
    /// Ring-3 test code.
    pub const USER_CODE: u64 = 0x5000;
    /// Top of the ring-0 stack the test starts on.
    pub const KERNEL_STACK: u64 = 0x8000;
    /// Top of the ring-0 stack named in the TSS (ESP0), used on a privilege change to ring 0.
    pub const TSS_STACK0: u64 = 0x9000;
    /// Top of the ring-3 stack.
    pub const USER_STACK: u64 = 0xB000;
    /// Global descriptor table (32 entries).
    pub const GDT: u64 = 0x10000;
    /// Interrupt descriptor table (256 gates).
    pub const IDT: u64 = 0x11000;
    /// 32-bit TSS; its I/O bitmap (all ports denied) follows at `TSS + 0x68`.
    pub const TSS: u64 = 0x12000;
    /// Offset of the I/O bitmap in the TSS.
    pub const IO_BITMAP_OFFSET: u64 = 0x68;
    /// Page directory built by [`super::ProtectedMachine::identity_paging`].
    pub const PAGE_DIR: u64 = 0x20000;
    /// The page table for the first 4 MiB.
    pub const PAGE_TABLE: u64 = 0x21000;
}

/// Selectors of the standard GDT entries of [`ProtectedMachine`].
pub mod sel {
    /// Ring-0 flat 32-bit code.
    pub const KCODE: u16 = 0x08;
    /// Ring-0 flat data.
    pub const KDATA: u16 = 0x10;
    /// Ring-3 flat 32-bit code (RPL 3).
    pub const UCODE: u16 = 0x1B;
    /// Ring-3 flat data (RPL 3).
    pub const UDATA: u16 = 0x23;
    /// The 32-bit TSS.
    pub const TSS: u16 = 0x28;
    /// First free GDT slot for a test's own descriptors (index 6).
    pub const FREE: u16 = 0x30;
}

/// Encodes a code/data/system descriptor from a base, a raw 20-bit limit and attribute bits in the
/// [`attr`] layout (type, S, DPL, P in the low byte; AVL, L, D/B, G in bits 12..15).
pub fn descriptor(base: u32, limit: u32, attrs: u16) -> u64 {
    let base = u64::from(base);
    let limit = u64::from(limit);
    (limit & 0xFFFF)
        | ((base & 0xFF_FFFF) << 16)
        | (u64::from(attrs & 0xFF) << 40)
        | (((limit >> 16) & 0xF) << 48)
        | (u64::from(attrs >> 12) << 52)
        | ((base >> 24) << 56)
}

/// Encodes a gate (call, interrupt, trap or task gate) of system type `kind` with privilege `dpl`.
pub fn gate(selector: u16, offset: u32, kind: u8, dpl: u8, param_count: u8) -> u64 {
    let offset = u64::from(offset);
    (offset & 0xFFFF)
        | (u64::from(selector) << 16)
        | (u64::from(param_count & 0x1F) << 32)
        | (u64::from(kind) << 40)
        | (u64::from(dpl) << 45)
        | (1 << 47)
        | ((offset >> 16) << 48)
}

/// Flat 4 GiB code segment attributes at `dpl` (32-bit, readable).
pub fn code_attrs(dpl: u8) -> u16 {
    attr::P
        | attr::S
        | attr::CODE
        | attr::RW
        | attr::DB
        | attr::G
        | (u16::from(dpl) << attr::DPL_SHIFT)
}

/// Flat 4 GiB data segment attributes at `dpl` (writable, big).
pub fn data_attrs(dpl: u8) -> u16 {
    attr::P | attr::S | attr::RW | attr::DB | attr::G | (u16::from(dpl) << attr::DPL_SHIFT)
}

/// A protected-mode machine in 2 MiB of flat RAM: a GDT with flat ring-0 and ring-3 segments and a TSS (ESP0 =
/// [`layout::TSS_STACK0`], an all-ones I/O bitmap), an IDT whose 256 ring-0 interrupt gates point at one-HLT stubs
/// (so the vector taken can be read off EIP), and a CPU at CPL 0 on [`layout::KERNEL_CODE`].
pub struct ProtectedMachine {
    /// The CPU.
    pub cpu: Cpu,
    /// Its memory and ports.
    pub bus: FlatBus,
}

impl Default for ProtectedMachine {
    fn default() -> Self {
        ProtectedMachine::new()
    }
}

impl ProtectedMachine {
    /// Builds the machine described on the type.
    pub fn new() -> ProtectedMachine {
        use crate::descriptor::system_type;
        let mut m = ProtectedMachine {
            cpu: Cpu::new(),
            bus: FlatBus::new(2 << 20),
        };
        m.set_gdt(sel::KCODE, descriptor(0, 0xFFFFF, code_attrs(0)));
        m.set_gdt(sel::KDATA, descriptor(0, 0xFFFFF, data_attrs(0)));
        m.set_gdt(sel::UCODE, descriptor(0, 0xFFFFF, code_attrs(3)));
        m.set_gdt(sel::UDATA, descriptor(0, 0xFFFFF, data_attrs(3)));
        let tss_limit = (layout::IO_BITMAP_OFFSET + 0x2000) as u32;
        m.set_gdt(
            sel::TSS,
            descriptor(
                layout::TSS as u32,
                tss_limit,
                attr::P | u16::from(system_type::TSS32_BUSY),
            ),
        );
        m.bus.write_u32(layout::TSS + 4, layout::TSS_STACK0 as u32);
        m.bus.write_u32(layout::TSS + 8, u32::from(sel::KDATA));
        m.bus
            .write_u32(layout::TSS + 0x64, (layout::IO_BITMAP_OFFSET as u32) << 16);
        let bitmap = (layout::TSS + layout::IO_BITMAP_OFFSET) as usize;
        m.bus.ram[bitmap..bitmap + 0x2001].fill(0xFF);
        for v in 0..=255u8 {
            let stub = layout::HANDLERS + 16 * u64::from(v);
            m.bus.ram[stub as usize] = 0xF4;
            m.set_idt(
                v,
                gate(sel::KCODE, stub as u32, system_type::INT_GATE32, 0, 0),
            );
        }
        let s = &mut m.cpu.state;
        s.cr0 |= cr0::PE;
        s.gdtr = crate::state::TableReg {
            base: layout::GDT,
            limit: 32 * 8 - 1,
        };
        s.idtr = crate::state::TableReg {
            base: layout::IDT,
            limit: 256 * 8 - 1,
        };
        m.load_caches(0);
        m.cpu.state.tr = crate::descriptor::Descriptor(m.gdt(sel::TSS)).to_segment(sel::TSS);
        m.cpu.state.rip = layout::KERNEL_CODE;
        m.cpu.state.gpr[4] = layout::KERNEL_STACK;
        m
    }

    /// Loads CS, SS and the data segment caches with the flat segments of ring `cpl` and sets CPL.
    pub fn load_caches(&mut self, cpl: u8) {
        let (cs, ds) = if cpl == 3 {
            (sel::UCODE, sel::UDATA)
        } else {
            (sel::KCODE, sel::KDATA)
        };
        let data = crate::descriptor::Descriptor(self.gdt(ds) | 1 << 40).to_segment(ds);
        for s in SegReg::ALL {
            self.cpu.state.segs[s as usize] = data;
        }
        self.cpu.state.segs[SegReg::Cs as usize] =
            crate::descriptor::Descriptor(self.gdt(cs) | 1 << 40).to_segment(cs);
        self.cpu.state.cpl = cpl;
    }

    /// Switches the CPU to ring 3 at [`layout::USER_CODE`] on [`layout::USER_STACK`].
    pub fn enter_ring3(&mut self) {
        self.load_caches(3);
        self.cpu.state.rip = layout::USER_CODE;
        self.cpu.state.gpr[4] = layout::USER_STACK;
    }

    /// The GDT entry a selector names.
    pub fn gdt(&self, selector: u16) -> u64 {
        let at = (layout::GDT + u64::from(selector & 0xFFF8)) as usize;
        u64::from_le_bytes(self.bus.ram[at..at + 8].try_into().expect("8 bytes"))
    }

    /// Writes the GDT entry a selector names.
    pub fn set_gdt(&mut self, selector: u16, desc: u64) {
        self.bus
            .write_u64(layout::GDT + u64::from(selector & 0xFFF8), desc);
    }

    /// Writes the IDT gate of a vector.
    pub fn set_idt(&mut self, vector: u8, gate: u64) {
        self.bus
            .write_u64(layout::IDT + 8 * u64::from(vector), gate);
    }

    /// Assembles 32-bit code at a physical (= linear) address.
    pub fn code(&mut self, addr: u64, build: impl FnOnce(&mut CodeAssembler)) {
        let bytes = assemble(32, addr, build);
        self.bus.load(addr, &bytes);
    }

    /// Builds a machine, lets `setup` adjust it, runs ring-0 code at `layout::KERNEL_CODE` and returns the machine
    /// once it halted (normally in a handler stub).
    pub fn run_ring0(
        setup: impl FnOnce(&mut ProtectedMachine),
        build: impl FnOnce(&mut CodeAssembler),
    ) -> Self {
        let mut m = ProtectedMachine::new();
        setup(&mut m);
        m.code(layout::KERNEL_CODE, build);
        assert_eq!(m.run(), Exit::Halted);
        m
    }

    /// Runs until HLT (or another exit) with a generous budget.
    pub fn run(&mut self) -> Exit {
        run(&mut self.cpu, &mut self.bus, 100_000)
    }

    /// The vector whose handler stub the CPU halted in, if it halted in one.
    pub fn vector_taken(&self) -> Option<u8> {
        let rip = self.cpu.state.rip.checked_sub(layout::HANDLERS + 1)?;
        (rip % 16 == 0 && rip / 16 < 256).then_some((rip / 16) as u8)
    }

    /// The dword at `ESP + 4 * k` (the handler's view of its stack frame), read through the SS base.
    pub fn stack(&self, k: u64) -> u32 {
        let ss = self.cpu.state.seg(SegReg::Ss);
        self.bus
            .read_u32(ss.base + (self.cpu.state.gpr[4] & 0xFFFF_FFFF) + 4 * k)
    }

    /// Identity-maps the first 4 MiB with 4 KiB pages whose entries carry `flags` (P, R/W, U/S...), loads CR3 and
    /// turns paging on.
    pub fn identity_paging(&mut self, flags: u32) {
        self.bus
            .write_u32(layout::PAGE_DIR, layout::PAGE_TABLE as u32 | 7);
        for k in 0..1024u64 {
            self.bus
                .write_u32(layout::PAGE_TABLE + 4 * k, (k << 12) as u32 | flags);
        }
        self.cpu.state.cr3 = layout::PAGE_DIR;
        self.cpu.state.cr0 |= cr0::PG;
        self.cpu.flush_tlb(false);
    }

    /// Physical address of the page-table entry that maps `linear` (below 4 MiB) after [`Self::identity_paging`].
    pub fn pte_addr(linear: u64) -> u64 {
        layout::PAGE_TABLE + 4 * (linear >> 12)
    }
}

/// Names of the general-purpose registers in encoding order.
const GPR_NAMES: [&str; 16] = [
    "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13",
    "r14", "r15",
];

/// The arithmetic flags with their names, in bit order.
const ARITH_FLAG_NAMES: [(u64, &str); 6] = [
    (flags::CF, "CF"),
    (flags::PF, "PF"),
    (flags::AF, "AF"),
    (flags::ZF, "ZF"),
    (flags::SF, "SF"),
    (flags::OF, "OF"),
];

/// The mask of arithmetic flags (CF PF AF ZF SF OF) whose value after running the straight-line `code` (decoded
/// at `bitness`) is architecturally defined: a flag is defined if the last instruction that may modify it defines
/// it, or if no instruction touches it (it keeps its initial value).
///
/// Where iced-x86's static flag information cannot know the outcome, the mask is conservative: a repeated string
/// instruction may run zero times (it defines nothing new), and a shift or rotate by CL, or by a count whose result
/// is undefined, leaves every flag it may touch undefined.
pub fn defined_flags_after(code: &[u8], bitness: u32) -> u64 {
    Decoder::new(bitness, code, DecoderOptions::NONE)
        .into_iter()
        .fold(flags::ARITH, |defined, insn| {
            let mut modified = flags::arith_from_iced(insn.rflags_modified());
            let mut undefined = flags::arith_from_iced(insn.rflags_undefined());
            match count_effect(&insn) {
                Some(CountEffect::NoFlags) => return defined,
                Some(CountEffect::OverflowUndefined) => undefined |= flags::OF & modified,
                Some(CountEffect::AllUndefined(touched)) => {
                    modified |= touched;
                    undefined = modified;
                }
                None => {}
            }
            let may_not_run =
                insn.is_string_instruction() && (insn.has_rep_prefix() || insn.has_repne_prefix());
            if may_not_run {
                // With RCX = 0 the flags stay as they were: only flags defined before and after stay defined.
                defined & !undefined
            } else {
                (defined & !modified) | (modified & !undefined)
            }
        })
}

/// How the count of a shift or rotate bears on which of its flags are defined.
enum CountEffect {
    /// The masked count is 0: no flag changes.
    NoFlags,
    /// The count is above 1: OF is undefined.
    OverflowUndefined,
    /// The count is unknown (CL), or the operation is out of the range where Intel defines its flags: every flag
    /// of this mask, which the instruction may touch, is undefined.
    AllUndefined(u64),
}

/// The effect of a shift or rotate's count on its flags beyond iced-x86's static information; `None` for any
/// other instruction and for a count of 1.
fn count_effect(insn: &Instruction) -> Option<CountEffect> {
    let through_carry = matches!(insn.mnemonic(), Mnemonic::Rcl | Mnemonic::Rcr);
    let rotate = through_carry || matches!(insn.mnemonic(), Mnemonic::Rol | Mnemonic::Ror);
    let shift = matches!(
        insn.mnemonic(),
        Mnemonic::Shl
            | Mnemonic::Sal
            | Mnemonic::Shr
            | Mnemonic::Sar
            | Mnemonic::Shld
            | Mnemonic::Shrd
    );
    if !rotate && !shift {
        return None;
    }
    let touched = if rotate {
        flags::CF | flags::OF
    } else {
        flags::ARITH
    };
    let width = 8 * if insn.op0_kind() == OpKind::Register {
        insn.op0_register().size()
    } else {
        insn.memory_size().size()
    } as u32;
    let count_mask = if width == 64 { 63 } else { 31 };
    let count = match insn.op_kind(insn.op_count() - 1) {
        OpKind::Immediate8 => u32::from(insn.immediate8()) & count_mask,
        _ => return Some(CountEffect::AllUndefined(touched)),
    };
    match count {
        0 => Some(CountEffect::NoFlags),
        // A shift past the operand width, or a rotation through carry that comes full circle.
        _ if (shift && count >= width)
            || (through_carry && width < 32 && count % (width + 1) == 0) =>
        {
            Some(CountEffect::AllUndefined(touched))
        }
        1 => None,
        _ => Some(CountEffect::OverflowUndefined),
    }
}

/// Compares the state a run reached (`actual`) with the `expected` one: the 16 general-purpose registers, RIP, and
/// the RFLAGS bits in `flags_mask`. The error lists every difference, one per line.
pub fn compare_states(
    expected: &CpuState,
    actual: &CpuState,
    flags_mask: u64,
) -> Result<(), String> {
    let mut differences: Vec<String> = GPR_NAMES
        .iter()
        .zip(expected.gpr.iter().zip(&actual.gpr))
        .filter(|(_, (e, a))| e != a)
        .map(|(name, (e, a))| format!("{name}: expected {e:#x}, got {a:#x}"))
        .collect();
    if expected.rip != actual.rip {
        differences.push(format!(
            "rip: expected {:#x}, got {:#x}",
            expected.rip, actual.rip
        ));
    }
    let flag_differences = (expected.rflags ^ actual.rflags) & flags_mask;
    if flag_differences != 0 {
        let mut names: Vec<String> = ARITH_FLAG_NAMES
            .iter()
            .filter(|(bit, _)| flag_differences & bit != 0)
            .map(|(_, name)| name.to_string())
            .collect();
        let other = flag_differences & !flags::ARITH;
        if other != 0 {
            names.push(format!("{other:#x}"));
        }
        differences.push(format!(
            "rflags: {} differ (expected {:#x}, got {:#x}, compared under {flags_mask:#x})",
            names.join(" "),
            expected.rflags,
            actual.rflags
        ));
    }
    if differences.is_empty() {
        Ok(())
    } else {
        Err(differences.join("\n"))
    }
}

/// Reports that a test cannot run here, because `why`. Under `CI=true` this panics, so a CI run fails rather than
/// skip unseen; elsewhere it prints `skipped: <why>` on stderr, and the caller returns.
pub fn skip_outside_ci(why: impl std::fmt::Display) {
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(!in_ci, "CI=true, so this test may not skip: {why}");
    eprintln!("skipped: {why}");
}

/// The `code_asm` registers by number (0 = RAX ... 15 = R15), for tests that generate instructions: 64-bit.
pub fn asm_r64(n: usize) -> iced_x86::code_asm::AsmRegister64 {
    use iced_x86::code_asm::registers::gpr64::*;
    [
        rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15,
    ][n]
}

/// 32-bit registers by number (see [`asm_r64`]).
pub fn asm_r32(n: usize) -> iced_x86::code_asm::AsmRegister32 {
    use iced_x86::code_asm::registers::gpr32::*;
    [
        eax, ecx, edx, ebx, esp, ebp, esi, edi, r8d, r9d, r10d, r11d, r12d, r13d, r14d, r15d,
    ][n]
}

/// 16-bit registers by number (see [`asm_r64`]).
pub fn asm_r16(n: usize) -> iced_x86::code_asm::AsmRegister16 {
    use iced_x86::code_asm::registers::gpr16::*;
    [
        ax, cx, dx, bx, sp, bp, si, di, r8w, r9w, r10w, r11w, r12w, r13w, r14w, r15w,
    ][n]
}

/// Low-byte registers by number (SPL..DIL for 4..7, as with a REX prefix; see [`asm_r64`]).
pub fn asm_r8(n: usize) -> iced_x86::code_asm::AsmRegister8 {
    use iced_x86::code_asm::registers::gpr8::*;
    [
        al, cl, dl, bl, spl, bpl, sil, dil, r8b, r9b, r10b, r11b, r12b, r13b, r14b, r15b,
    ][n]
}

/// A CPU in 64-bit mode at CPL 0 with flat segments and paging through the PML4 at `pml4` (the caller's page
/// tables); RIP and the registers are the reset values.
pub fn long_mode_at(pml4: u64) -> Cpu {
    let mut cpu = Cpu::new();
    cpu.state.cr0 = cr0::PE | cr0::PG | cr0::ET;
    cpu.state.cr4 = crate::state::cr4::PAE;
    cpu.state.cr3 = pml4;
    cpu.state.efer = crate::state::efer::LME | crate::state::efer::LMA;
    let data = Segment {
        base: 0,
        limit: 0xFFFF_FFFF,
        selector: 0x10,
        attrs: attr::P | attr::S | attr::RW | attr::DB | attr::G,
    };
    for s in SegReg::ALL {
        cpu.state.segs[s as usize] = data;
    }
    cpu.state.segs[SegReg::Cs as usize] = Segment {
        selector: 8,
        attrs: attr::P | attr::S | attr::CODE | attr::L,
        ..data
    };
    cpu
}

/// Where [`long_mode_cpu`] puts its page tables (three pages from here).
pub const LONG_MODE_TABLES: u64 = 0x1000;

/// A CPU in 64-bit mode at CPL 0 with RIP at `entry` and RSP at `stack`: flat segments, 4-level paging that
/// identity-maps the bus's RAM (up to 1 GiB) with 2 MiB pages, its tables at [`LONG_MODE_TABLES`] in `bus`.
pub fn long_mode_cpu(bus: &mut FlatBus, entry: u64, stack: u64) -> Cpu {
    let (pml4, pdpt, pd) = (
        LONG_MODE_TABLES,
        LONG_MODE_TABLES + 0x1000,
        LONG_MODE_TABLES + 0x2000,
    );
    bus.write_u64(pml4, pdpt | 3);
    bus.write_u64(pdpt, pd | 3);
    let large_pages = (bus.ram.len() as u64).div_ceil(2 << 20).min(512);
    for k in 0..large_pages {
        bus.write_u64(pd + 8 * k, (k << 21) | 0x83);
    }
    let mut cpu = long_mode_at(pml4);
    cpu.state.rip = entry;
    cpu.state.gpr[crate::state::gpr::RSP] = stack;
    cpu
}

#[cfg(test)]
mod tests {
    use super::*;
    use iced_x86::code_asm::*;

    fn defined(build: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> u64 {
        defined_flags_after(&assemble(64, 0, |a| build(a).expect("assembles")), 64)
    }

    #[test]
    fn untouched_flags_and_fully_written_flags_are_defined() {
        assert_eq!(defined(|a| a.mov(rax, rbx)), flags::ARITH);
        assert_eq!(defined(|a| a.add(rax, rbx)), flags::ARITH);
    }

    #[test]
    fn the_last_writer_decides() {
        let mul_defines = flags::CF | flags::OF;
        assert_eq!(defined(|a| a.mul(rbx)), mul_defines);
        assert_eq!(
            defined(|a| {
                a.mul(rbx)?;
                a.inc(rax)
            }),
            flags::ARITH
        );
        // INC leaves CF alone, so MUL's CF stays, and BT's undefined flags win over ADD's defined ones.
        assert_eq!(
            defined(|a| {
                a.add(rax, rbx)?;
                a.bt(rax, 3)?;
                a.inc(rcx)
            }),
            flags::ARITH
        );
        assert_eq!(
            defined(|a| {
                a.add(rax, rbx)?;
                a.bt(rax, 3)
            }),
            flags::CF | flags::ZF
        );
        assert_eq!(defined(|a| a.and(rax, rbx)), flags::ARITH & !flags::AF);
    }

    #[test]
    fn shift_counts_decide_what_is_defined() {
        let shift_defines = flags::CF | flags::PF | flags::ZF | flags::SF;
        assert_eq!(defined(|a| a.shl(rax, 1)), shift_defines | flags::OF);
        assert_eq!(defined(|a| a.shl(rax, 5)), shift_defines);
        // A count masked to 0 changes nothing, so MUL's undefined flags stay undefined.
        assert_eq!(
            defined(|a| {
                a.mul(rbx)?;
                a.shl(eax, 32)
            }),
            flags::CF | flags::OF
        );
        assert_eq!(defined(|a| a.shl(al, 8)), 0);
        assert_eq!(defined(|a| a.shl(rax, cl)), 0);
        assert_eq!(defined(|a| a.rol(rax, 3)), flags::ARITH & !flags::OF);
        assert_eq!(
            defined(|a| a.rcl(al, 9)),
            flags::ARITH & !(flags::CF | flags::OF)
        );
    }

    #[test]
    fn a_repeated_string_compare_defines_nothing_new() {
        assert_eq!(defined(|a| a.cmpsb()), flags::ARITH);
        assert_eq!(
            defined(|a| {
                a.mul(rbx)?;
                a.rep().cmpsb()
            }),
            flags::CF | flags::OF
        );
    }

    #[test]
    fn compare_states_lists_each_difference() {
        let expected = Cpu::new().state;
        let mut actual = expected.clone();
        assert_eq!(compare_states(&expected, &actual, flags::ARITH), Ok(()));
        actual.gpr[9] = 7;
        actual.rflags ^= flags::ZF | flags::CF;
        assert_eq!(
            compare_states(&expected, &actual, flags::ZF),
            Err(format!(
                "r9: expected 0x0, got 0x7\nrflags: ZF differ (expected {:#x}, got {:#x}, compared under 0x40)",
                expected.rflags, actual.rflags
            ))
        );
        assert_eq!(
            compare_states(&expected, &actual, flags::CF).map_err(|e| e.contains("CF")),
            Err(true)
        );
        actual.gpr[9] = 0;
        assert_eq!(compare_states(&expected, &actual, flags::PF), Ok(()));
    }

    /// With `VX86_SKIP_PROBE` set, skips for that reason; [`a_skip_is_a_message_outside_ci_and_a_failure_in_ci`]
    /// runs it in a child process. Without it, does nothing.
    #[test]
    fn skip_probe() {
        if let Ok(why) = std::env::var("VX86_SKIP_PROBE") {
            skip_outside_ci(why);
        }
    }

    #[test]
    fn a_skip_is_a_message_outside_ci_and_a_failure_in_ci() {
        let probe = |ci: Option<&str>| {
            let mut child = std::process::Command::new(std::env::current_exe().unwrap());
            child
                .args(["--exact", "testing::tests::skip_probe", "--nocapture"])
                .env("VX86_SKIP_PROBE", "no widget here");
            match ci {
                Some(value) => child.env("CI", value),
                None => child.env_remove("CI"),
            };
            let out = child.output().unwrap();
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        for ci in [None, Some("false")] {
            let (passed, stderr) = probe(ci);
            assert!(
                passed && stderr.contains("skipped: no widget here"),
                "CI={ci:?}: {stderr}"
            );
        }
        let (passed, stderr) = probe(Some("true"));
        assert!(!passed, "{stderr}");
        assert!(
            stderr.contains("CI=true, so this test may not skip: no widget here"),
            "{stderr}"
        );
    }
}
