//! Machines whose bootstrap processor starts at CPL 0 in a flat address space, in 64-bit mode (a GDT,
//! identity-mapped page tables and an IDT of 64-bit interrupt gates) or in 32-bit protected mode without paging
//! or interrupts, for snippets that must run under every engine, KVM included (this host's paravirtual KVM runs
//! 64-bit kernel code, IRETQ included, and 32-bit code that takes no interrupt, but not a 32-bit IRETD).

use iced_x86::code_asm::*;
use vx86_cpu::state::{attr, cr0, cr4, efer, CpuState, SegReg, Segment, TableReg};
use vx86_cpu::testing::{code_attrs, data_attrs, descriptor};
use vx86_machine::{EngineKind, Vm, VmConfig};

/// The GDT: null, 64-bit code ([`CODE64`]), flat data ([`DATA`]), flat 32-bit code ([`CODE32`]), flat data with
/// a 16-bit stack pointer ([`DATA16`]).
pub const GDT: u64 = 0x500;
/// LGDT's operand for the GDT (for real-mode trampolines).
pub const GDT_POINTER: u64 = 0x5F0;
/// The 64-bit code segment's selector.
pub const CODE64: u16 = 0x08;
/// The flat data segment's selector.
pub const DATA: u16 = 0x10;
/// The flat 32-bit code segment's selector.
pub const CODE32: u16 = 0x18;
/// A flat data segment whose B bit is clear: as SS, a 16-bit stack pointer.
pub const DATA16: u16 = 0x20;
/// The IDT: 256 16-byte gates, all empty until [`set_handler`].
pub const IDT: u64 = 0x1000;
/// The bootstrap processor's code.
pub const CODE: u64 = 0x10000;
/// The page tables: the PML4, the PDPT, then four page directories of 2 MiB pages mapping the low 4 GiB one to
/// one (the APIC included).
pub const PML4: u64 = 0x30000;
/// The top of the bootstrap processor's stack.
pub const STACK_TOP: u64 = 0x41000;

/// A machine of `cpus` processors under `engine` whose bootstrap processor runs `code` (assembled at [`CODE`]) in
/// 64-bit mode. Under the software engines it keeps deterministic time and stops after 5 million instructions;
/// KVM does neither.
pub fn long_mode_machine(
    engine: EngineKind,
    cpus: usize,
    code: impl FnOnce(&mut CodeAssembler),
) -> Vm {
    let mut vm = machine_with_tables(engine, cpus);
    vm.write_phys(CODE, &assemble(64, CODE, code));
    let s = &mut vm.cpu.state;
    s.cr0 |= cr0::PE | cr0::PG;
    s.cr4 |= cr4::PAE;
    s.cr3 = PML4;
    s.efer |= efer::LME | efer::LMA;
    start_flat(s, CODE64, code_attrs(0) & !attr::DB | attr::L);
    vm
}

/// A one-processor machine under `engine` whose processor runs `code` (assembled at [`CODE`]) in flat 32-bit
/// protected mode, paging off, with the GDT of [`long_mode_machine`] (an exception finds an empty IDT and ends in
/// a triple fault).
pub fn protected_machine(engine: EngineKind, code: impl FnOnce(&mut CodeAssembler)) -> Vm {
    let mut vm = machine_with_tables(engine, 1);
    vm.write_phys(CODE, &assemble(32, CODE, code));
    let s = &mut vm.cpu.state;
    s.cr0 |= cr0::PE;
    start_flat(s, CODE32, code_attrs(0));
    vm
}

/// Flat segments (code `code_selector` with `code_attrs`, data [`DATA`]), the descriptor tables, RIP at
/// [`CODE`] and the stack at [`STACK_TOP`].
fn start_flat(s: &mut CpuState, code_selector: u16, code_attrs: u16) {
    let data_segment = Segment {
        base: 0,
        limit: 0xFFFF_FFFF,
        selector: DATA,
        attrs: data_attrs(0) | attr::ACCESSED,
    };
    for r in SegReg::ALL {
        s.segs[r as usize] = data_segment;
    }
    s.segs[SegReg::Cs as usize] = Segment {
        selector: code_selector,
        attrs: code_attrs | attr::ACCESSED,
        ..data_segment
    };
    s.gdtr = TableReg {
        base: GDT,
        limit: GDT_ENTRIES as u32 * 8 - 1,
    };
    s.idtr = TableReg {
        base: IDT,
        limit: 16 * 256 - 1,
    };
    s.rip = CODE;
    s.gpr[4] = STACK_TOP;
}

/// Entries in the GDT.
const GDT_ENTRIES: usize = 5;

/// A machine of `cpus` processors under `engine` with the GDT, an empty IDT and the page tables in memory. Under
/// the software engines it keeps deterministic time and stops after 5 million instructions; KVM does neither.
fn machine_with_tables(engine: EngineKind, cpus: usize) -> Vm {
    let software = engine != EngineKind::Kvm;
    let config = VmConfig {
        no_reboot: true,
        deterministic: software,
        instruction_limit: software.then_some(5_000_000),
        cpus,
        ..VmConfig::new(16 << 20, vx86_firmware::bios::image())
    };
    let mut vm = Vm::with_engine(config, engine).unwrap();
    let mut gdt = Vec::new();
    for d in [
        0,
        descriptor(0, 0xFFFFF, code_attrs(0) & !attr::DB | attr::L),
        descriptor(0, 0xFFFFF, data_attrs(0)),
        descriptor(0, 0xFFFFF, code_attrs(0)),
        descriptor(0, 0xFFFFF, data_attrs(0) & !attr::DB),
    ] {
        gdt.extend(d.to_le_bytes());
    }
    debug_assert_eq!(gdt.len(), 8 * GDT_ENTRIES);
    vm.write_phys(GDT, &gdt);
    let gdt_limit = gdt.len() as u16 - 1;
    vm.write_phys(
        GDT_POINTER,
        &[&gdt_limit.to_le_bytes()[..], &(GDT as u32).to_le_bytes()].concat(),
    );
    vm.write_phys(IDT, &[0u8; 16 * 256]);
    vm.write_phys(PML4, &identity_page_tables());
    vm
}

/// Points `vector`'s IDT entry at a 64-bit interrupt gate to `handler` and writes `build`'s code there.
pub fn set_handler(vm: &mut Vm, vector: u8, handler: u64, build: impl FnOnce(&mut CodeAssembler)) {
    let mut g = [0u8; 16];
    g[0..2].copy_from_slice(&(handler as u16).to_le_bytes());
    g[2..4].copy_from_slice(&CODE64.to_le_bytes());
    g[5] = 0x8E; // present, DPL 0, 64-bit interrupt gate
    g[6..8].copy_from_slice(&((handler >> 16) as u16).to_le_bytes());
    g[8..12].copy_from_slice(&((handler >> 32) as u32).to_le_bytes());
    vm.write_phys(IDT + 16 * u64::from(vector), &g);
    vm.write_phys(handler, &assemble(64, handler, build));
}

/// Assembles `build` for `bitness` at `base`.
pub fn assemble(bitness: u32, base: u64, build: impl FnOnce(&mut CodeAssembler)) -> Vec<u8> {
    let mut a = CodeAssembler::new(bitness).unwrap();
    build(&mut a);
    a.assemble(base).unwrap()
}

/// The PML4 (one entry), the PDPT (four entries) and four page directories of 2 MiB pages: the low 4 GiB one to
/// one, writable.
fn identity_page_tables() -> Vec<u8> {
    const PRESENT_WRITABLE: u64 = 0x3;
    const LARGE: u64 = 0x80;
    let pdpt = PML4 + 0x1000;
    let directories = pdpt + 0x1000;
    let mut tables = vec![0u8; 6 * 0x1000];
    let mut put = |at: u64, entry: u64| {
        let i = (at - PML4) as usize;
        tables[i..i + 8].copy_from_slice(&entry.to_le_bytes());
    };
    put(PML4, pdpt | PRESENT_WRITABLE);
    for gib in 0..4 {
        put(
            pdpt + 8 * gib,
            (directories + 0x1000 * gib) | PRESENT_WRITABLE,
        );
    }
    for page in 0..4 * 512 {
        put(
            directories + 8 * page,
            (page << 21) | LARGE | PRESENT_WRITABLE,
        );
    }
    tables
}

/// The engines a snippet runs under: the interpreter (the reference) and the translator, then KVM where it is
/// usable (where it is not, [`super::usable_kvm`] says so, and under CI that fails).
pub fn engines() -> Vec<EngineKind> {
    let mut v = vec![EngineKind::Interp, EngineKind::Bt];
    if super::usable_kvm().is_some() {
        v.push(EngineKind::Kvm);
    }
    v
}
