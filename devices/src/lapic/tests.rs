use super::*;

fn apic() -> (Clock, Lapic) {
    let clock = Clock::virtual_time();
    let mut a = Lapic::new(clock.clone(), 0);
    a.write_register(reg::SVR, SVR_ENABLE | 0xFF);
    (clock, a)
}

#[test]
fn power_on_state_and_identification() {
    let a = Lapic::new(Clock::virtual_time(), 0);
    assert_eq!(a.apic_base(), 0xFEE0_0900);
    assert_eq!(a.read_register(reg::VERSION), 0x0005_0014);
    assert_eq!(a.read_register(reg::SVR), 0xFF);
    assert_eq!(a.read_register(reg::DFR), 0xFFFF_FFFF);
    assert_eq!(a.read_register(reg::LVT_LINT0), LVT_MASKED);
    assert_eq!(a.read_register(reg::ID), 0);
    assert!(a.hw_enabled() && !a.enabled());
    assert!(a.passes_pic_intr(), "software disabled: virtual wire");
    assert!(a.claims(0xFEE0_00B0) && !a.claims(0xFEE0_1000));
    assert_eq!(a.read_register(0x3F0), 0, "unknown register");
}

#[test]
fn svr_disable_masks_lvts_and_blocks_delivery() {
    let (_, mut a) = apic();
    a.write_register(reg::LVT_LINT0, DM_EXTINT);
    assert_eq!(a.read_register(reg::LVT_LINT0), DM_EXTINT);
    assert!(a.passes_pic_intr());
    a.write_register(reg::LVT_LINT0, DM_EXTINT | LVT_MASKED);
    assert!(
        !a.passes_pic_intr(),
        "enabled APIC, LINT0 masked: the IOAPIC carries ISA IRQs"
    );
    a.accept(0x40, false);
    assert_eq!(a.pending_vector(), Some(0x40));
    a.write_register(reg::SVR, 0x1F);
    assert_eq!(a.pending_vector(), None, "software disabled");
    assert!(a.passes_pic_intr());
    a.write_register(reg::LVT_TIMER, 0x50);
    assert_eq!(a.read_register(reg::LVT_TIMER), 0x50 | LVT_MASKED);
    a.write_register(reg::SVR, SVR_ENABLE | 0x1F);
    assert_eq!(a.pending_vector(), Some(0x40), "IRR held while disabled");
    assert_eq!(a.read_register(reg::LVT_LINT0) & LVT_MASKED, LVT_MASKED);
}

#[test]
fn irr_isr_eoi_and_priorities() {
    let (_, mut a) = apic();
    a.accept(0x31, false);
    a.accept(0x55, true);
    assert_eq!(a.read_register(reg::IRR + 0x10), 1 << 0x11);
    assert_eq!(a.read_register(reg::IRR + 0x20), 1 << 0x15);
    assert_eq!(a.read_register(reg::TMR + 0x20), 1 << 0x15);
    assert_eq!(a.acknowledge(), 0x55);
    assert_eq!(a.read_register(reg::ISR + 0x20), 1 << 0x15);
    assert_eq!(a.read_register(reg::IRR + 0x20), 0);
    assert_eq!(a.read_register(reg::PPR), 0x50);
    assert_eq!(
        a.pending_vector(),
        None,
        "0x31 is below the in-service class"
    );
    // A higher class nests.
    a.accept(0x61, false);
    assert_eq!(a.acknowledge(), 0x61);
    assert_eq!(a.write_register(reg::EOI, 0), None, "edge: no broadcast");
    assert_eq!(
        a.write_register(reg::EOI, 0),
        Some(WriteEffect::Eoi(0x55)),
        "level: broadcast"
    );
    assert_eq!(a.read_register(reg::PPR), 0);
    assert_eq!(a.acknowledge(), 0x31);
    a.write_register(reg::EOI, 0);
    assert_eq!(
        a.write_register(reg::EOI, 0),
        None,
        "EOI with nothing in service"
    );
    // Nothing pending: the spurious vector, no ISR bit.
    assert_eq!(a.acknowledge(), 0xFF);
    assert_eq!(a.read_register(reg::ISR + 0x70), 0);
}

#[test]
fn tpr_masks_lower_classes() {
    let (_, mut a) = apic();
    a.write_register(reg::TPR, 0x47);
    assert_eq!(a.read_register(reg::TPR), 0x47);
    assert_eq!(a.read_register(reg::PPR), 0x47);
    a.accept(0x4F, false);
    assert_eq!(a.pending_vector(), None, "same class as the TPR is blocked");
    a.accept(0x50, false);
    assert_eq!(a.pending_vector(), Some(0x50));
    a.write_register(reg::TPR, 0);
    assert_eq!(a.acknowledge(), 0x50);
    assert_eq!(a.read_register(reg::PPR), 0x50);
}

#[test]
fn illegal_vectors_set_esr() {
    let (_, mut a) = apic();
    a.accept(3, false);
    assert_eq!(a.pending_vector(), None);
    assert_eq!(a.read_register(reg::ESR), 0, "ESR latches on write");
    a.write_register(reg::ESR, 0);
    assert_eq!(a.read_register(reg::ESR), ESR_RECEIVE_ILLEGAL_VECTOR);
    a.write_register(reg::ESR, 0);
    assert_eq!(a.read_register(reg::ESR), 0);
    // With the error LVT unmasked, an error interrupts.
    a.write_register(reg::LVT_ERROR, 0xFE);
    a.write_register(reg::ICR_LOW, SHORTHAND_SELF | 5);
    assert_eq!(a.pending_vector(), Some(0xFE));
    a.write_register(reg::ESR, 0);
    assert_eq!(a.read_register(reg::ESR), ESR_SEND_ILLEGAL_VECTOR);
}

#[test]
fn icr_writes_describe_the_ipi_for_the_board() {
    let (_, mut a) = apic();
    let send = |a: &mut Lapic, low: u32| match a.write_register(reg::ICR_LOW, low) {
        Some(WriteEffect::Ipi(ipi)) => Some((ipi.delivery, ipi.vector, ipi.targets, ipi.deassert)),
        _ => None,
    };
    use Delivery::*;
    use IpiTargets::*;
    assert_eq!(
        send(&mut a, SHORTHAND_SELF | 0x80),
        Some((Fixed, 0x80, Myself, false))
    );
    assert_eq!(a.read_register(reg::ICR_LOW), SHORTHAND_SELF | 0x80);
    assert_eq!(
        a.pending_vector(),
        None,
        "the board delivers, not the sender"
    );
    assert_eq!(
        send(&mut a, SHORTHAND_OTHERS | DM_LOWEST | 0x81),
        Some((LowestPriority, 0x81, Others, false))
    );
    assert_eq!(
        send(&mut a, SHORTHAND_ALL | 0x82),
        Some((Fixed, 0x82, All, false))
    );
    a.write_register(reg::ICR_HIGH, 0x0100_0000);
    assert_eq!(a.read_register(reg::ICR_HIGH), 0x0100_0000);
    let physical = Destination {
        dest: 1,
        logical: false,
    };
    assert_eq!(send(&mut a, 0x83), Some((Fixed, 0x83, physical, false)));
    let logical = Destination {
        dest: 1,
        logical: true,
    };
    assert_eq!(
        send(&mut a, ICR_DEST_LOGICAL | DM_NMI),
        Some((Nmi, 0, logical, false))
    );
    // INIT assert, then the level de-assert form; start-up carries its page in the vector field.
    assert_eq!(
        send(&mut a, DM_INIT | ICR_LEVEL_ASSERT),
        Some((Init, 0, physical, false))
    );
    assert_eq!(
        send(&mut a, DM_INIT | ICR_TRIGGER_LEVEL),
        Some((Init, 0, physical, true))
    );
    assert_eq!(
        send(&mut a, DM_STARTUP | 0x9A),
        Some((Startup, 0x9A, physical, false))
    );
}

#[test]
fn destinations_physical_logical_flat_and_cluster() {
    let (_, mut a) = apic();
    // Physical: our ID (0) or broadcast.
    assert!(a.matches_destination(0, false));
    assert!(a.matches_destination(0xFF, false));
    assert!(!a.matches_destination(1, false));
    // Logical flat: LDR bit 0.
    a.write_register(reg::LDR, 0x0100_0000);
    assert!(a.matches_destination(0x01, true));
    assert!(a.matches_destination(0xFF, true));
    assert!(!a.matches_destination(0x02, true));
    // Logical cluster: cluster 1, member bit 1.
    a.write_register(reg::DFR, 0x0FFF_FFFF);
    assert_eq!(a.read_register(reg::DFR), 0x0FFF_FFFF);
    a.write_register(reg::LDR, 0x1200_0000);
    assert!(a.matches_destination(0x12, true));
    assert!(a.matches_destination(0xF2, true));
    assert!(!a.matches_destination(0x22, true));
}

#[test]
fn init_keeps_the_id_and_base_and_an_application_processor_is_not_the_bsp() {
    let clock = Clock::virtual_time();
    let mut ap = Lapic::new(clock, 1);
    assert_eq!(ap.apic_base() & APIC_BASE_BSP, 0);
    assert_eq!(ap.read_register(reg::ID), 1 << 24);
    ap.set_apic_base(0xFEC0_0000 | APIC_BASE_ENABLE | APIC_BASE_BSP)
        .unwrap();
    assert_eq!(
        ap.apic_base(),
        0xFEC0_0000 | APIC_BASE_ENABLE,
        "BSP is read-only"
    );
    ap.write_register(reg::ID, 7 << 24);
    ap.write_register(reg::SVR, SVR_ENABLE | 0xFF);
    ap.write_register(reg::TPR, 0x20);
    ap.init();
    assert_eq!(ap.read_register(reg::ID), 7 << 24);
    assert_eq!(ap.apic_base(), 0xFEC0_0000 | APIC_BASE_ENABLE);
    assert_eq!(ap.read_register(reg::SVR), 0xFF, "software disabled again");
    assert_eq!(ap.tpr(), 0);
    ap.reset();
    assert_eq!(
        ap.read_register(reg::ID),
        1 << 24,
        "a board reset restores the initial ID"
    );
}

#[test]
fn lint1_takes_the_board_nmi() {
    let (_, mut a) = apic();
    assert_eq!(a.lint1_delivery(), None, "masked at power-on");
    a.write_register(reg::SVR, SVR_ENABLE | 0xFF);
    a.write_register(reg::LVT_LINT1, DM_NMI);
    assert_eq!(a.lint1_delivery(), Some(Delivery::Nmi));
    a.write_register(reg::LVT_LINT1, 0x44);
    assert_eq!(a.lint1_delivery(), Some(Delivery::Fixed));
    assert_eq!(a.lint1_vector(), 0x44);
    a.set_apic_base(LAPIC_DEFAULT_BASE).unwrap();
    assert_eq!(
        a.lint1_delivery(),
        Some(Delivery::Nmi),
        "a disabled APIC passes NMI through"
    );
}

#[test]
fn timer_one_shot() {
    let (clock, mut a) = apic();
    a.write_register(reg::TIMER_DIVIDE, 0x3); // divide by 16
    a.write_register(reg::LVT_TIMER, 0x40);
    a.write_register(reg::TIMER_INITIAL, 1000);
    assert_eq!(a.read_register(reg::TIMER_CURRENT), 1000);
    assert_eq!(a.next_timer_ns(), Some(16_000));
    clock.advance_ns(1600);
    assert_eq!(a.read_register(reg::TIMER_CURRENT), 900);
    a.poll();
    assert_eq!(a.pending_vector(), None);
    clock.advance_to_ns(16_000);
    a.poll();
    assert_eq!(a.read_register(reg::TIMER_CURRENT), 0);
    assert_eq!(a.acknowledge(), 0x40);
    a.write_register(reg::EOI, 0);
    assert_eq!(a.next_timer_ns(), None);
    clock.advance_ns(100_000);
    a.poll();
    assert_eq!(a.pending_vector(), None, "one shot fires once");
    // Writing 0 stops a running count.
    a.write_register(reg::TIMER_INITIAL, 10);
    a.write_register(reg::TIMER_INITIAL, 0);
    clock.advance_ns(100_000);
    a.poll();
    assert_eq!(a.pending_vector(), None);
    assert_eq!(a.read_register(reg::TIMER_CURRENT), 0);
}

#[test]
fn timer_periodic_masked_and_divider() {
    let (clock, mut a) = apic();
    a.write_register(reg::TIMER_DIVIDE, 0xB); // divide by 1
    a.write_register(reg::LVT_TIMER, TIMER_PERIODIC | 0x41);
    a.write_register(reg::TIMER_INITIAL, 100);
    for k in 1..=3u64 {
        clock.advance_to_ns(100 * k);
        a.poll();
        assert_eq!(a.acknowledge(), 0x41, "period {k}");
        a.write_register(reg::EOI, 0);
    }
    clock.advance_ns(30);
    assert_eq!(a.read_register(reg::TIMER_CURRENT), 70);
    assert_eq!(a.next_timer_ns(), Some(400));
    // Several periods at once: one interrupt, and the next expiry stays on the grid.
    clock.advance_to_ns(1050);
    a.poll();
    assert_eq!(a.acknowledge(), 0x41);
    a.write_register(reg::EOI, 0);
    assert_eq!(a.pending_vector(), None);
    assert_eq!(a.next_timer_ns(), Some(1100));
    // Masked: counts, but no interrupt.
    a.write_register(reg::LVT_TIMER, TIMER_PERIODIC | LVT_MASKED | 0x41);
    clock.advance_to_ns(1100);
    a.poll();
    assert_eq!(a.pending_vector(), None);
    assert_eq!(a.next_timer_ns(), Some(1200));
    // Divide by 2: the remaining 50 ticks now take 100 ns.
    clock.advance_to_ns(1150);
    a.write_register(reg::TIMER_DIVIDE, 0);
    assert_eq!(a.read_register(reg::TIMER_DIVIDE), 0);
    assert_eq!(a.read_register(reg::TIMER_CURRENT), 50);
    assert_eq!(a.next_timer_ns(), Some(1250));
}

#[test]
fn timer_tsc_deadline() {
    let (clock, mut a) = apic();
    // Not in TSC-deadline mode: the MSR reads 0 and ignores writes.
    a.set_tsc_deadline(5000, 0, 1_000_000_000);
    assert_eq!(a.tsc_deadline(), 0);
    a.write_register(reg::TIMER_INITIAL, 1000);
    a.write_register(reg::LVT_TIMER, TIMER_TSC_DEADLINE | 0x42);
    assert_eq!(
        a.read_register(reg::TIMER_INITIAL),
        0,
        "mode switch disarms"
    );
    a.write_register(reg::TIMER_INITIAL, 1000);
    assert_eq!(
        a.read_register(reg::TIMER_INITIAL),
        0,
        "initial count ignored"
    );
    // TSC at 2 GHz, now at TSC 10_000: deadline 12_000 is 1000 ns away.
    clock.advance_to_ns(500);
    a.set_tsc_deadline(12_000, 10_000, 2_000_000_000);
    assert_eq!(a.tsc_deadline(), 12_000);
    assert_eq!(a.next_timer_ns(), Some(1500));
    clock.advance_to_ns(1499);
    a.poll();
    assert_eq!(a.pending_vector(), None);
    clock.advance_to_ns(1500);
    a.poll();
    assert_eq!(a.acknowledge(), 0x42);
    a.write_register(reg::EOI, 0);
    assert_eq!(a.tsc_deadline(), 0, "fired: the MSR reads 0");
    // A deadline in the past fires at once; writing 0 disarms.
    a.set_tsc_deadline(1, 10_000, 2_000_000_000);
    a.poll();
    assert_eq!(a.acknowledge(), 0x42);
    a.write_register(reg::EOI, 0);
    a.set_tsc_deadline(1_000_000, 0, 1_000_000_000);
    a.set_tsc_deadline(0, 0, 1_000_000_000);
    clock.advance_ns(10_000_000);
    a.poll();
    assert_eq!(a.pending_vector(), None);
    assert_eq!(a.next_timer_ns(), None);
}

#[test]
fn apic_base_msr_relocates_disables_and_refuses_x2apic() {
    let (_, mut a) = apic();
    a.write_register(reg::TPR, 0x20);
    assert_eq!(
        a.set_apic_base(0xFEE0_0000 | APIC_BASE_ENABLE | APIC_BASE_EXTD),
        Err(ApicBaseError::X2ApicUnsupported)
    );
    assert!(matches!(
        a.set_apic_base(1 << 40 | APIC_BASE_ENABLE),
        Err(ApicBaseError::Reserved(_))
    ));
    a.set_apic_base(0xFED0_0000 | APIC_BASE_ENABLE).unwrap();
    assert_eq!(a.apic_base(), 0xFED0_0900, "BSP bit is read only");
    assert!(a.claims(0xFED0_0020) && !a.claims(0xFEE0_0020));
    assert_eq!(a.read_register(reg::TPR), 0x20, "relocation keeps state");
    a.set_apic_base(0xFEE0_0000).unwrap();
    assert!(!a.hw_enabled() && !a.claims(0xFEE0_0020));
    assert!(a.passes_pic_intr());
    a.set_apic_base(0xFEE0_0000 | APIC_BASE_ENABLE).unwrap();
    assert_eq!(a.read_register(reg::TPR), 0, "disable reset the APIC");
    assert_eq!(a.read_register(reg::SVR), 0xFF);
}
