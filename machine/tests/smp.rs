//! Several processors and non-maskable interrupts on the PC board, under the interpreter and the binary
//! translator (which must agree to the byte under `-icount`):
//! - the bootstrap processor starts the application processors with INIT and start-up IPIs through a real-mode
//!   trampoline, each reports its CPUID APIC ID and answers with a fixed IPI, and an NMI IPI reaches the one it
//!   names;
//! - an NMI is taken with IF clear, a second one waits until the handler's IRET, and the board's NMI line wakes a
//!   processor halted with interrupts off.

mod common;

use iced_x86::code_asm::*;
use vx86_cpu::state::TableReg;
use vx86_cpu::testing::{code_attrs, data_attrs, descriptor, flat32_cpu, gate};
use vx86_machine::{EngineKind, Outcome, Vm, VmConfig};

/// The GDT: null, flat 32-bit code (0x08), flat data (0x10).
const GDT: u64 = 0x500;
/// LGDT's operand for the GDT, for the trampoline.
const GDT_POINTER: u64 = 0x5F0;
/// The IDT (vectors 0 to [`IPI_VECTOR`] + 2).
const IDT: u64 = 0x600;
/// LIDT's operand.
const IDT_POINTER: u64 = 0x5F8;
/// The application processors' real-mode start-up code: start-up IPI page 8.
const TRAMPOLINE: u64 = 0x8000;
/// The bootstrap processor's code.
const BSP_CODE: u64 = 0x10000;
/// The application processors' 32-bit code.
const AP_CODE: u64 = 0x11000;
/// The NMI handler.
const NMI_HANDLER: u64 = 0x12000;
/// The fixed IPI's handler.
const IPI_HANDLER: u64 = 0x12800;
/// Counters and results, one dword each.
const DATA: u64 = 0x20000;
/// Application processors that came up.
const AP_COUNT: u64 = DATA;
/// Fixed IPIs the bootstrap processor took.
const IPI_COUNT: u64 = DATA + 4;
/// NMIs taken.
const NMI_COUNT: u64 = DATA + 8;
/// The APIC ID of the processor that took the last NMI.
const NMI_WHO: u64 = DATA + 12;
/// The APIC ID each application processor read with CPUID, at `DATA + 16 + 4 * id`.
const AP_IDS: u64 = DATA + 16;
/// Per-test results (see each test).
const RESULTS: u64 = DATA + 0x40;
/// Stacks: processor `id` at `STACKS + 0x1000 * (id + 1)`.
const STACKS: u64 = 0x40000;
/// The vector of the fixed IPI from processor 0 (each processor sends its own: the IRR holds one request per
/// vector, so two IPIs of one vector that arrive together are taken once, as on real hardware).
const IPI_VECTOR: u8 = 0x40;
/// The local APIC's register page.
const APIC: u64 = 0xFEE0_0000;
/// APIC registers.
const APIC_EOI: u64 = APIC + 0xB0;
const APIC_SVR: u64 = APIC + 0xF0;
const APIC_ICR_LOW: u64 = APIC + 0x300;
const APIC_ICR_HIGH: u64 = APIC + 0x310;
const APIC_LVT_LINT1: u64 = APIC + 0x360;

/// A machine of `cpus` processors whose bootstrap processor runs `bsp` in flat 32-bit protected mode with the
/// GDT, IDT (NMI and IPI handlers), trampoline and application-processor code in place.
fn machine(engine: EngineKind, cpus: usize, bsp: impl FnOnce(&mut CodeAssembler)) -> Vm {
    let config = VmConfig {
        no_reboot: true,
        deterministic: true,
        instruction_limit: Some(5_000_000),
        cpus,
        ..VmConfig::new(16 << 20, vx86_firmware::bios::image())
    };
    let mut vm = Vm::with_engine(config, engine).unwrap();
    let mut gdt = Vec::new();
    for d in [
        0,
        descriptor(0, 0xFFFFF, code_attrs(0)),
        descriptor(0, 0xFFFFF, data_attrs(0)),
    ] {
        gdt.extend(d.to_le_bytes());
    }
    vm.write_phys(GDT, &gdt);
    let pointer =
        |limit: u16, base: u64| [&limit.to_le_bytes()[..], &(base as u32).to_le_bytes()].concat();
    vm.write_phys(GDT_POINTER, &pointer(23, GDT));
    let interrupt_gate = 0xE;
    let ipi = usize::from(IPI_VECTOR);
    let mut idt = vec![0u8; 8 * (ipi + 3)];
    for (vector, handler) in [
        (2, NMI_HANDLER),
        (ipi + 1, IPI_HANDLER),
        (ipi + 2, IPI_HANDLER),
    ] {
        let g = gate(0x08, handler as u32, interrupt_gate, 0, 0);
        idt[8 * vector..8 * vector + 8].copy_from_slice(&g.to_le_bytes());
    }
    vm.write_phys(IDT, &idt);
    vm.write_phys(IDT_POINTER, &pointer(idt.len() as u16 - 1, IDT));
    vm.write_phys(TRAMPOLINE, &trampoline());
    vm.write_phys(AP_CODE, &assemble(AP_CODE, application_processor));
    vm.write_phys(NMI_HANDLER, &assemble(NMI_HANDLER, nmi_handler));
    vm.write_phys(IPI_HANDLER, &assemble(IPI_HANDLER, ipi_handler));
    vm.write_phys(BSP_CODE, &assemble(BSP_CODE, bsp));
    let mut cpu = flat32_cpu(BSP_CODE, STACKS + 0x1000);
    cpu.state.gdtr = TableReg {
        base: GDT,
        limit: 23,
    };
    cpu.state.idtr = TableReg {
        base: IDT,
        limit: idt.len() as u32 - 1,
    };
    vm.cpu.state = cpu.state;
    vm
}

fn assemble(base: u64, build: impl FnOnce(&mut CodeAssembler)) -> Vec<u8> {
    let mut a = CodeAssembler::new(32).unwrap();
    build(&mut a);
    a.assemble(base).unwrap()
}

/// Real mode at 0800:0000: load the GDT, enter protected mode, far-jump to [`AP_CODE`].
fn trampoline() -> Vec<u8> {
    let mut a = CodeAssembler::new(16).unwrap();
    a.cli().unwrap();
    a.xor(ax, ax).unwrap();
    a.mov(ds, ax).unwrap();
    a.lgdt(ptr(GDT_POINTER as u32)).unwrap();
    a.mov(eax, cr0).unwrap();
    a.or(eax, 1).unwrap();
    a.mov(cr0, eax).unwrap();
    let mut code = a.assemble(TRAMPOLINE).unwrap();
    // JMP FAR 0x08:AP_CODE with a 32-bit offset (66 EA imm32 imm16).
    code.extend([0x66, 0xEA]);
    code.extend((AP_CODE as u32).to_le_bytes());
    code.extend(0x08u16.to_le_bytes());
    code
}

/// EBX = this processor's APIC ID, from CPUID leaf 1 (EAX, ECX, EDX clobbered).
fn apic_id_to_ebx(a: &mut CodeAssembler) {
    a.mov(eax, 1).unwrap();
    a.cpuid().unwrap();
    a.shr(ebx, 24).unwrap();
}

/// Software-enables this processor's APIC (spurious vector 0xFF).
fn enable_apic(a: &mut CodeAssembler) {
    a.mov(dword_ptr(APIC_SVR as u32), 0x1FF).unwrap();
}

/// Sends an IPI: ICR high (destination APIC ID), then ICR low.
fn send_ipi(a: &mut CodeAssembler, dest: u8, low: u32) {
    a.mov(dword_ptr(APIC_ICR_HIGH as u32), u32::from(dest) << 24)
        .unwrap();
    a.mov(dword_ptr(APIC_ICR_LOW as u32), low).unwrap();
}

/// Spins (with PAUSE) until the dword at `addr` is at least `value`.
fn wait_for(a: &mut CodeAssembler, addr: u64, value: u32) {
    let mut again = a.create_label();
    a.set_label(&mut again).unwrap();
    a.pause().unwrap();
    a.cmp(dword_ptr(addr as u32), value).unwrap();
    a.jb(again).unwrap();
}

/// An application processor: segments, IDT, its own stack, report its APIC ID, answer the bootstrap processor
/// with a fixed IPI of vector [`IPI_VECTOR`] + its APIC ID, then halt with interrupts on, for ever.
fn application_processor(a: &mut CodeAssembler) {
    a.mov(ax, 0x10).unwrap();
    for s in [ds, es, ss] {
        a.mov(s, ax).unwrap();
    }
    a.lidt(ptr(IDT_POINTER as u32)).unwrap();
    apic_id_to_ebx(a);
    a.mov(esp, ebx).unwrap();
    a.add(esp, 1).unwrap();
    a.shl(esp, 12).unwrap();
    a.add(esp, STACKS as u32).unwrap();
    a.mov(dword_ptr(ebx * 4 + AP_IDS as u32), ebx).unwrap();
    a.lock().inc(dword_ptr(AP_COUNT as u32)).unwrap();
    enable_apic(a);
    a.sti().unwrap();
    a.mov(dword_ptr(APIC_ICR_HIGH as u32), 0).unwrap();
    a.lea(eax, ptr(ebx + u32::from(IPI_VECTOR))).unwrap();
    a.mov(dword_ptr(APIC_ICR_LOW as u32), eax).unwrap();
    let mut idle = a.create_label();
    a.set_label(&mut idle).unwrap();
    a.hlt().unwrap();
    a.jmp(idle).unwrap();
}

/// NMI: note who took it and count it.
fn nmi_handler(a: &mut CodeAssembler) {
    a.pushad().unwrap();
    apic_id_to_ebx(a);
    a.mov(dword_ptr(NMI_WHO as u32), ebx).unwrap();
    a.lock().inc(dword_ptr(NMI_COUNT as u32)).unwrap();
    a.popad().unwrap();
    a.iretd().unwrap();
}

/// The fixed IPIs: count them and EOI.
fn ipi_handler(a: &mut CodeAssembler) {
    a.lock().inc(dword_ptr(IPI_COUNT as u32)).unwrap();
    a.mov(dword_ptr(APIC_EOI as u32), 0).unwrap();
    a.iretd().unwrap();
}

/// Runs `vm`, returning how it ended and the data page.
fn run(vm: &mut Vm) -> (Outcome, Vec<u8>) {
    let (outcome, _) = vm.run();
    let mut data = vec![0u8; 0x100];
    vm.board.memory.read_phys(DATA, &mut data);
    (outcome, data)
}

fn dword(data: &[u8], addr: u64) -> u32 {
    let at = (addr - DATA) as usize;
    u32::from_le_bytes(data[at..at + 4].try_into().unwrap())
}

/// Runs the same machine under the interpreter and the translator; they must end alike with the same data.
fn on_both_engines(make: impl Fn(EngineKind) -> Vm) -> (Outcome, Vec<u8>) {
    let reference = run(&mut make(EngineKind::Interp));
    let translated = run(&mut make(EngineKind::Bt));
    assert_eq!(translated, reference, "bt differs from interp");
    reference
}

#[test]
fn application_processors_start_with_init_and_startup_ipis_and_exchange_ipis() {
    let (outcome, data) = on_both_engines(|engine| {
        machine(engine, 3, |a| {
            enable_apic(a);
            a.lidt(ptr(IDT_POINTER as u32)).unwrap();
            a.sti().unwrap();
            // INIT (assert), then two start-up IPIs at page 8, to all but self.
            let others = 3 << 18;
            a.mov(dword_ptr(APIC_ICR_LOW as u32), others | 0x4500)
                .unwrap();
            for _ in 0..2 {
                a.mov(
                    dword_ptr(APIC_ICR_LOW as u32),
                    others | 0x4600 | (TRAMPOLINE >> 12) as u32,
                )
                .unwrap();
            }
            wait_for(a, AP_COUNT, 2);
            wait_for(a, IPI_COUNT, 2);
            // An NMI for processor 2 alone.
            send_ipi(a, 2, 0x400);
            wait_for(a, NMI_COUNT, 1);
            common::acpi_power_off(a);
        })
    });
    assert_eq!(outcome, Outcome::PowerOff, "data: {:x?}", &data[..32]);
    assert_eq!(dword(&data, AP_COUNT), 2, "both application processors ran");
    assert_eq!(
        [dword(&data, AP_IDS + 4), dword(&data, AP_IDS + 8)],
        [1, 2],
        "each reads its own APIC ID"
    );
    assert_eq!(dword(&data, IPI_COUNT), 2, "one IPI from each");
    assert_eq!(dword(&data, NMI_COUNT), 1);
    assert_eq!(dword(&data, NMI_WHO), 2, "the NMI went where it was sent");
}

#[test]
fn nmis_ignore_if_wait_for_iret_and_the_board_nmi_wakes_a_halted_processor() {
    // RESULTS: +0 NMIs counted inside the first handler after it sent itself a second NMI, +4 NMIs after the
    // first IRET, +8 NMIs after the HLT the board's NMI ended.
    let make = |engine| {
        let mut vm = machine(engine, 1, |a| {
            enable_apic(a);
            a.mov(dword_ptr(APIC_LVT_LINT1 as u32), 0x400).unwrap();
            a.lidt(ptr(IDT_POINTER as u32)).unwrap();
            a.cli().unwrap();
            // A self-NMI (shorthand self, NMI delivery, level assert), with IF clear.
            a.mov(dword_ptr(APIC_ICR_LOW as u32), (1 << 18) | 0x4400)
                .unwrap();
            a.mov(eax, dword_ptr(NMI_COUNT as u32)).unwrap();
            a.mov(dword_ptr(RESULTS as u32 + 4), eax).unwrap();
            a.hlt().unwrap();
            a.mov(eax, dword_ptr(NMI_COUNT as u32)).unwrap();
            a.mov(dword_ptr(RESULTS as u32 + 8), eax).unwrap();
            common::acpi_power_off(a);
        });
        // This test's NMI handler: the first time, send itself another NMI, which must wait for the IRET.
        vm.write_phys(
            NMI_HANDLER,
            &assemble(NMI_HANDLER, |a| {
                let mut done = a.create_label();
                a.push(eax).unwrap();
                a.lock().inc(dword_ptr(NMI_COUNT as u32)).unwrap();
                a.cmp(dword_ptr(NMI_COUNT as u32), 1).unwrap();
                a.jne(done).unwrap();
                a.mov(dword_ptr(APIC_ICR_LOW as u32), (1 << 18) | 0x4400)
                    .unwrap();
                a.nop().unwrap();
                a.mov(eax, dword_ptr(NMI_COUNT as u32)).unwrap();
                a.mov(dword_ptr(RESULTS as u32), eax).unwrap();
                a.set_label(&mut done).unwrap();
                a.pop(eax).unwrap();
                a.iretd().unwrap();
            }),
        );
        vm
    };
    // Not under kvm here: the paravirtual KVM of this host emulates guest kernel mode and cannot emulate this
    // 32-bit guest's IRETD ("KVM internal error 1").
    let mut outcomes = Vec::new();
    for engine in [EngineKind::Interp, EngineKind::Bt] {
        let mut vm = make(engine);
        let (first, _) = run(&mut vm);
        assert_eq!(
            first,
            Outcome::HaltedForever,
            "{engine}: HLT with IF clear and no NMI to come"
        );
        vm.inject_nmi();
        outcomes.push(run(&mut vm));
    }
    assert_eq!(outcomes[1], outcomes[0], "bt differs from interp");
    let (outcome, data) = &outcomes[0];
    assert_eq!(*outcome, Outcome::PowerOff);
    assert_eq!(dword(data, RESULTS), 1, "the second NMI waits for IRET");
    assert_eq!(dword(data, RESULTS + 4), 2, "and is taken right after it");
    assert_eq!(dword(data, RESULTS + 8), 3, "the board's NMI ends the HLT");
}
