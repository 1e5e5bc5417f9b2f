//! Several processors and non-maskable interrupts on the PC board, under every engine: the interpreter and the
//! binary translator (which must agree to the byte under `-icount`) and, where /dev/kvm works, KVM with a vCPU per
//! processor, which must reach the same results:
//! - the bootstrap processor, in long mode, starts the application processors with INIT and start-up IPIs
//!   through a real-mode trampoline into 32-bit protected mode; each reports its CPUID APIC ID and answers with a
//!   fixed IPI, and an NMI IPI reaches the one it names;
//! - an NMI is taken with IF clear, a second one waits until the handler's IRET, and the board's NMI line wakes a
//!   processor halted with interrupts off.
//!
//! Why these modes: this host's paravirtual KVM (PVM) emulates guest kernel mode, and its emulator cannot do a
//! 32-bit IRETD, but runs 64-bit code with IRETQ. So the bootstrap processor, which takes interrupts and returns
//! from them, starts in long mode, and the application processors stay in 32-bit protected mode and never return
//! from an interrupt.

mod common;

use common::flat::{self, assemble};
use iced_x86::code_asm::*;
use vx86_cpu::state::cr0;
use vx86_cpu::testing::gate;
use vx86_machine::{EngineKind, Outcome, Vm};

/// LIDT's operand for the application processors' IDT.
const AP_IDT_POINTER: u64 = 0x5F8;
/// The application processors' IDT: 8-byte 32-bit gates, vectors 0 to 2.
const AP_IDT: u64 = 0x600;
/// The application processors' real-mode start-up code: start-up IPI page 8.
const TRAMPOLINE: u64 = 0x8000;
/// The application processors' 32-bit code.
const AP_CODE: u64 = 0x11000;
/// The bootstrap processor's NMI handler (the NMI test's own).
const NMI_HANDLER: u64 = 0x12000;
/// The application processors' NMI handler.
const AP_NMI_HANDLER: u64 = 0x12400;
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
/// APIC register offsets.
const APIC_EOI: u32 = 0xB0;
const APIC_SVR: u32 = 0xF0;
const APIC_ICR_LOW: u32 = 0x300;
const APIC_ICR_HIGH: u32 = 0x310;
const APIC_LVT_LINT1: u32 = 0x360;

/// The APIC register at `offset`: through R15 in 64-bit code (above 2 GiB, the address cannot be a
/// sign-extended 32-bit displacement), absolute in 32-bit code.
fn apic(a: &CodeAssembler, offset: u32) -> AsmMemoryOperand {
    if a.bitness() == 64 {
        dword_ptr(r15 + offset)
    } else {
        dword_ptr(APIC as u32 + offset)
    }
}

/// A dword of [`DATA`] at its absolute address.
fn data(addr: u64) -> AsmMemoryOperand {
    dword_ptr(addr as u32)
}

/// A machine of `cpus` processors whose bootstrap processor runs `bsp` in 64-bit mode ([`flat::long_mode_machine`])
/// with the IPI handlers, the application processors' IDT, trampoline, code and NMI handler in place.
fn machine(engine: EngineKind, cpus: usize, bsp: impl FnOnce(&mut CodeAssembler)) -> Vm {
    let mut vm = flat::long_mode_machine(engine, cpus, |a| {
        a.mov(r15, APIC).unwrap();
        bsp(a)
    });
    for vector in [IPI_VECTOR + 1, IPI_VECTOR + 2] {
        flat::set_handler(&mut vm, vector, IPI_HANDLER, ipi_handler);
    }
    let interrupt_gate32 = 0xE;
    let nmi = gate(flat::CODE32, AP_NMI_HANDLER as u32, interrupt_gate32, 0, 0);
    let mut ap_idt = vec![0u8; 8 * 3];
    ap_idt[16..].copy_from_slice(&nmi.to_le_bytes());
    vm.write_phys(AP_IDT, &ap_idt);
    let limit = ap_idt.len() as u16 - 1;
    vm.write_phys(
        AP_IDT_POINTER,
        &[&limit.to_le_bytes()[..], &(AP_IDT as u32).to_le_bytes()].concat(),
    );
    vm.write_phys(TRAMPOLINE, &trampoline());
    vm.write_phys(AP_CODE, &assemble(32, AP_CODE, application_processor));
    vm.write_phys(
        AP_NMI_HANDLER,
        &assemble(32, AP_NMI_HANDLER, ap_nmi_handler),
    );
    vm
}

/// Real mode at 0800:0000: load the GDT, enter protected mode, far-jump to [`AP_CODE`] in the 32-bit code
/// segment.
fn trampoline() -> Vec<u8> {
    let mut a = CodeAssembler::new(16).unwrap();
    a.cli().unwrap();
    a.xor(ax, ax).unwrap();
    a.mov(ds, ax).unwrap();
    a.lgdt(ptr(flat::GDT_POINTER as u32)).unwrap();
    a.mov(eax, cr0).unwrap();
    a.or(eax, cr0::PE as u32).unwrap();
    a.mov(cr0, eax).unwrap();
    let mut code = a.assemble(TRAMPOLINE).unwrap();
    // JMP FAR CODE32:AP_CODE with a 32-bit offset (66 EA imm32 imm16).
    code.extend([0x66, 0xEA]);
    code.extend((AP_CODE as u32).to_le_bytes());
    code.extend(flat::CODE32.to_le_bytes());
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
    a.mov(apic(a, APIC_SVR), 0x1FF).unwrap();
}

/// Sends an IPI: ICR high (destination APIC ID), then ICR low.
fn send_ipi(a: &mut CodeAssembler, dest: u8, low: u32) {
    a.mov(apic(a, APIC_ICR_HIGH), u32::from(dest) << 24)
        .unwrap();
    a.mov(apic(a, APIC_ICR_LOW), low).unwrap();
}

/// Spins (with PAUSE) until the dword at `addr` is at least `value`.
fn wait_for(a: &mut CodeAssembler, addr: u64, value: u32) {
    let mut again = a.create_label();
    a.set_label(&mut again).unwrap();
    a.pause().unwrap();
    a.cmp(data(addr), value).unwrap();
    a.jb(again).unwrap();
}

/// An application processor (32-bit): segments, its IDT, its own stack, report its APIC ID, answer the bootstrap
/// processor with a fixed IPI of vector [`IPI_VECTOR`] + its APIC ID, then halt for ever (interrupts off: only
/// an NMI reaches it).
fn application_processor(a: &mut CodeAssembler) {
    a.mov(ax, 0x10).unwrap();
    for s in [ds, es, ss] {
        a.mov(s, ax).unwrap();
    }
    a.lidt(ptr(AP_IDT_POINTER as u32)).unwrap();
    apic_id_to_ebx(a);
    a.lea(esp, ptr(ebx + 1)).unwrap();
    a.shl(esp, 12).unwrap();
    a.add(esp, STACKS as u32).unwrap();
    a.mov(dword_ptr(ebx * 4 + AP_IDS as u32), ebx).unwrap();
    a.lock().inc(data(AP_COUNT)).unwrap();
    enable_apic(a);
    a.mov(apic(a, APIC_ICR_HIGH), 0).unwrap();
    a.lea(eax, ptr(ebx + u32::from(IPI_VECTOR))).unwrap();
    a.mov(apic(a, APIC_ICR_LOW), eax).unwrap();
    halt_for_ever(a);
}

/// HLT in a loop.
fn halt_for_ever(a: &mut CodeAssembler) {
    let mut idle = a.create_label();
    a.set_label(&mut idle).unwrap();
    a.hlt().unwrap();
    a.jmp(idle).unwrap();
}

/// An application processor's NMI: note who took it, count it, and halt (it does not return: see the module
/// comment).
fn ap_nmi_handler(a: &mut CodeAssembler) {
    apic_id_to_ebx(a);
    a.mov(data(NMI_WHO), ebx).unwrap();
    a.lock().inc(data(NMI_COUNT)).unwrap();
    halt_for_ever(a);
}

/// The bootstrap processor's fixed IPIs: count them and EOI.
fn ipi_handler(a: &mut CodeAssembler) {
    a.lock().inc(data(IPI_COUNT)).unwrap();
    a.mov(apic(a, APIC_EOI), 0).unwrap();
    a.iretq().unwrap();
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

/// Runs the same machine under every engine; they must end alike with the same data.
fn on_every_engine(make: impl Fn(EngineKind) -> Vm) -> (Outcome, Vec<u8>) {
    let mut results = flat::engines().into_iter().map(|e| (e, run(&mut make(e))));
    let (_, reference) = results.next().expect("the interpreter runs");
    for (engine, result) in results {
        assert_eq!(result, reference, "{engine} differs from interp");
    }
    reference
}

#[test]
fn application_processors_start_with_init_and_startup_ipis_and_exchange_ipis() {
    let (outcome, data) = on_every_engine(|engine| {
        machine(engine, 3, |a| {
            enable_apic(a);
            a.sti().unwrap();
            // INIT (assert), then two start-up IPIs at page 8, to all but self.
            let others = 3 << 18;
            a.mov(apic(a, APIC_ICR_LOW), others | 0x4500).unwrap();
            for _ in 0..2 {
                a.mov(
                    apic(a, APIC_ICR_LOW),
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
            a.mov(apic(a, APIC_LVT_LINT1), 0x400).unwrap();
            a.cli().unwrap();
            // A self-NMI (shorthand self, NMI delivery, level assert), with IF clear.
            a.mov(apic(a, APIC_ICR_LOW), (1 << 18) | 0x4400).unwrap();
            a.mov(eax, data(NMI_COUNT)).unwrap();
            a.mov(data(RESULTS + 4), eax).unwrap();
            a.hlt().unwrap();
            a.mov(eax, data(NMI_COUNT)).unwrap();
            a.mov(data(RESULTS + 8), eax).unwrap();
            common::acpi_power_off(a);
        });
        // This test's NMI handler: the first time, send itself another NMI, which must wait for the IRET.
        flat::set_handler(&mut vm, 2, NMI_HANDLER, |a| {
            let mut done = a.create_label();
            a.push(rax).unwrap();
            a.lock().inc(data(NMI_COUNT)).unwrap();
            a.cmp(data(NMI_COUNT), 1).unwrap();
            a.jne(done).unwrap();
            a.mov(apic(a, APIC_ICR_LOW), (1 << 18) | 0x4400).unwrap();
            a.nop().unwrap();
            a.mov(eax, data(NMI_COUNT)).unwrap();
            a.mov(data(RESULTS), eax).unwrap();
            a.set_label(&mut done).unwrap();
            a.pop(rax).unwrap();
            a.iretq().unwrap();
        });
        vm
    };
    let engines = flat::engines();
    let mut outcomes = Vec::new();
    for &engine in &engines {
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
    let (outcome, data) = &outcomes[0];
    assert_eq!(*outcome, Outcome::PowerOff);
    assert_eq!(dword(data, RESULTS), 1, "the second NMI waits for IRET");
    assert_eq!(dword(data, RESULTS + 4), 2, "and is taken right after it");
    assert_eq!(dword(data, RESULTS + 8), 3, "the board's NMI ends the HLT");
    for (&engine, (outcome, data)) in engines.iter().zip(&outcomes).skip(1) {
        if engine == EngineKind::Kvm && !common::usable_kvm().is_some_and(|h| h.hardware) {
            // PVM keeps an NMI that arrives while NMIs are blocked pending past the IRETQ that unblocks them
            // (it has no NMI-window exit), until the next NMI: check what holds there.
            assert_eq!(*outcome, Outcome::PowerOff);
            assert_eq!(
                dword(data, RESULTS),
                1,
                "kvm: the second NMI waits for IRET"
            );
            assert!(
                dword(data, RESULTS + 8) > dword(data, RESULTS + 4),
                "kvm: the board's NMI ends the HLT"
            );
            eprintln!(
                "kvm: skipped the check that the blocked NMI is taken right after IRETQ: this paravirtual KVM \
                 delivers it only with the next NMI"
            );
            continue;
        }
        assert_eq!(
            (outcome, data),
            (&outcomes[0].0, &outcomes[0].1),
            "{engine} differs from interp"
        );
    }
}
