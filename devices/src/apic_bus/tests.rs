use super::*;
use crate::lapic::{reg, WriteEffect, DM_INIT, DM_LOWEST, DM_NMI, DM_STARTUP, ICR_LEVEL_ASSERT};
use crate::lapic::{ICR_DEST_LOGICAL, SHORTHAND_ALL, SHORTHAND_OTHERS, SVR_ENABLE};

/// `cpus` processors with every APIC software-enabled and each one's logical ID bit `1 << i` (flat model).
fn board(cpus: usize) -> ApicBus {
    let mut apics = ApicBus::new(&Clock::virtual_time(), cpus);
    for cpu in 0..cpus {
        apics.set_current(cpu);
        write(&mut apics, reg::SVR, SVR_ENABLE | 0xFF);
        write(&mut apics, reg::LDR, (1 << cpu) << 24);
    }
    apics.set_current(0);
    apics.take_yield();
    apics
}

/// A register write by the running processor, with the IPI it sends delivered.
fn write(apics: &mut ApicBus, offset: u64, value: u32) {
    if let Some(WriteEffect::Ipi(ipi)) = apics.lapic_mut().write_register(offset, value) {
        apics.send_ipi(ipi);
    }
}

/// The running processor sends an IPI: ICR high (destination) then low.
fn send(apics: &mut ApicBus, dest: u8, low: u32) {
    write(apics, reg::ICR_HIGH, u32::from(dest) << 24);
    write(apics, reg::ICR_LOW, low);
}

fn pending(apics: &ApicBus, cpu: usize) -> Option<u8> {
    apics.lapic_of(cpu).unwrap().pending_vector()
}

#[test]
fn fixed_ipis_reach_their_destinations_and_ask_the_sender_to_yield() {
    let mut apics = board(3);
    send(&mut apics, 1, 0x41);
    assert_eq!(pending(&apics, 1), Some(0x41));
    assert_eq!((pending(&apics, 0), pending(&apics, 2)), (None, None));
    assert!(apics.take_yield(), "the target is not running");
    assert!(!apics.take_yield());
    // Logical flat: processors 0 and 2.
    send(&mut apics, 0b101, ICR_DEST_LOGICAL | 0x52);
    assert_eq!(pending(&apics, 0), Some(0x52));
    assert_eq!(pending(&apics, 2), Some(0x52));
    // Shorthands, sent by processor 2.
    apics.set_current(2);
    send(&mut apics, 0, SHORTHAND_OTHERS | 0x63);
    assert_eq!(pending(&apics, 0), Some(0x63));
    assert_eq!(pending(&apics, 1), Some(0x63));
    assert_eq!(pending(&apics, 2), Some(0x52));
    send(&mut apics, 0, SHORTHAND_ALL | 0x74);
    assert!((0..3).all(|cpu| pending(&apics, cpu) == Some(0x74)));
}

#[test]
fn lowest_priority_goes_to_the_lowest_task_priority() {
    let mut apics = board(3);
    for (cpu, tpr) in [(0, 0x30), (1, 0x20), (2, 0x10)] {
        apics.set_current(cpu);
        write(&mut apics, reg::TPR, tpr);
    }
    apics.set_current(0);
    send(&mut apics, 0b011, ICR_DEST_LOGICAL | DM_LOWEST | 0x85);
    assert_eq!(
        apics.lapic_of(1).unwrap().read_register(reg::IRR + 0x40),
        1 << 5
    );
    assert_eq!(apics.lapic_of(0).unwrap().read_register(reg::IRR + 0x40), 0);
    assert_eq!(apics.lapic_of(2).unwrap().read_register(reg::IRR + 0x40), 0);
}

#[test]
fn nmi_ipis_wait_until_taken() {
    let mut apics = board(2);
    send(&mut apics, 1, DM_NMI);
    assert!(apics.nmi_pending(1) && !apics.nmi_pending(0));
    apics.set_current(1);
    apics.acknowledge_nmi();
    assert!(!apics.nmi_pending(1));
}

#[test]
fn init_and_startup_become_signals_for_the_machine() {
    let mut apics = board(2);
    apics.set_current(1);
    write(&mut apics, reg::TPR, 0x40);
    apics.set_current(0);
    send(&mut apics, 1, DM_INIT | ICR_LEVEL_ASSERT);
    assert_eq!(apics.lapic_of(1).unwrap().tpr(), 0, "INIT resets the APIC");
    assert_eq!(
        apics.lapic_of(1).unwrap().read_register(reg::LDR),
        0,
        "all but ID and base"
    );
    // The de-assert form does nothing.
    send(&mut apics, 1, DM_INIT | crate::lapic::ICR_TRIGGER_LEVEL);
    send(&mut apics, 1, DM_STARTUP | 0x9A);
    assert!(apics.take_yield());
    assert_eq!(apics.take_startup(), Some((1, StartupSignal::Init)));
    assert_eq!(
        apics.take_startup(),
        Some((1, StartupSignal::Startup(0x9A)))
    );
    assert_eq!(apics.take_startup(), None);
}

#[test]
fn ioapic_messages_and_the_board_nmi() {
    let mut apics = board(2);
    apics.deliver_message(IoApicMessage {
        vector: 0x30,
        level: true,
        dest: 1,
        logical: false,
        lowest_priority: false,
    });
    assert_eq!((pending(&apics, 0), pending(&apics, 1)), (None, Some(0x30)));
    // LINT1: NMI on processor 0, masked on processor 1.
    write(&mut apics, reg::LVT_LINT1, DM_NMI);
    apics.board_nmi();
    assert!(apics.nmi_pending(0) && !apics.nmi_pending(1));
}
