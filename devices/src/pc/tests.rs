use super::*;
use crate::ata::{IdeDevice, MemDisk};
use crate::pm::PM_TMR;
use crate::test_sink::SharedSink as Shared;

fn board(disk: bool) -> (Clock, PcDevices) {
    let clock = Clock::virtual_time();
    let config = PcConfig {
        clock: clock.clone(),
        ram_bytes: 128 << 20,
        cpus: 1,
        serial_out: None,
        serial_in: None,
        ide: [
            disk.then(|| IdeDevice::Disk(Box::new(MemDisk::zeroed(64)))),
            None,
            None,
            None,
        ],
        trace_post: false,
        trace_unassigned_ports: false,
        debugcon_out: None,
        pc_testdev: false,
    };
    (clock, PcDevices::new(config))
}

/// Linux-style PIC setup: vectors 0x20/0x28, everything unmasked.
fn init_pic(pc: &mut PcDevices) {
    for (port, v) in [
        (0x20, 0x11),
        (0xA0, 0x11),
        (0x21, 0x20),
        (0xA1, 0x28),
        (0x21, 4),
        (0xA1, 2),
        (0x21, 1),
        (0xA1, 1),
    ] {
        pc.io_write(port, 1, v);
    }
    pc.io_write(0x21, 1, 0);
    pc.io_write(0xA1, 1, 0);
}

#[test]
fn ram_split_follows_the_i440fx_layout() {
    assert_eq!(ram_split(128 << 20), (128 << 20, 0));
    assert_eq!(ram_split(0xE000_0000), (0xC000_0000, 0x2000_0000));
    assert_eq!(ram_split(8 << 30), (0xC000_0000, (8 << 30) - 0xC000_0000));
}

#[test]
fn pit_drives_irq0_through_the_pic() {
    let (clock, mut pc) = board(false);
    init_pic(&mut pc);
    pc.io_write(0x43, 1, 0x34);
    pc.io_write(0x40, 1, 0x9C); // 11932: about 100 Hz
    pc.io_write(0x40, 1, 0x2E);
    pc.poll();
    assert!(!pc.interrupt_pending());
    let next = pc.next_event_ns().unwrap();
    assert!((9_999_000..=10_001_000).contains(&next), "{next}");
    clock.advance_to_ns(next);
    pc.poll();
    assert!(pc.interrupt_pending());
    assert_eq!(pc.acknowledge_interrupt(), 0x20);
    assert!(!pc.interrupt_pending());
    pc.io_write(0x20, 1, 0x20);
    clock.advance_to_ns(next * 2);
    pc.poll();
    assert_eq!(pc.acknowledge_interrupt(), 0x20);
}

#[test]
fn rtc_periodic_reaches_irq8_and_cmos_memory() {
    let (clock, mut pc) = board(false);
    init_pic(&mut pc);
    pc.io_write(0x70, 1, 0x0B);
    pc.io_write(0x71, 1, 0x42);
    clock.advance_ns(1_000_000);
    pc.poll();
    assert!(pc.interrupt_pending());
    assert_eq!(pc.acknowledge_interrupt(), 0x28);
    pc.io_write(0x70, 1, 0x0C);
    assert_eq!(pc.io_read(0x71, 1), 0xC0);
    // 128 MiB: 127 MiB extended is capped at 0xFFFF KiB; 112 MiB above 16 MiB = 0x0700 units of 64 KiB.
    pc.io_write(0x70, 1, 0x17);
    assert_eq!(pc.io_read(0x71, 1), 0xFF);
    pc.io_write(0x70, 1, 0x31);
    assert_eq!(pc.io_read(0x71, 1), 0xFF);
    pc.io_write(0x70, 1, 0x34);
    assert_eq!(pc.io_read(0x71, 1), 0x00);
    pc.io_write(0x70, 1, 0x35);
    assert_eq!(pc.io_read(0x71, 1), 0x07);
}

#[test]
fn uart_thre_interrupt_is_visible_right_after_the_write() {
    let sink = Shared::default();
    let (tx, rx) = crossbeam_channel::unbounded();
    let mut pc = PcDevices::new(PcConfig {
        clock: Clock::virtual_time(),
        ram_bytes: 1 << 20,
        cpus: 1,
        serial_out: Some(Box::new(sink.clone())),
        serial_in: Some(rx),
        ide: [None, None, None, None],
        trace_post: false,
        trace_unassigned_ports: false,
        debugcon_out: None,
        pc_testdev: false,
    });
    init_pic(&mut pc);
    pc.io_write(0x3F9, 1, 0x03);
    assert!(pc.interrupt_pending());
    assert_eq!(pc.acknowledge_interrupt(), 0x24);
    assert_eq!(pc.io_read(0x3FA, 1), 0x02);
    pc.io_write(0x20, 1, 0x20);
    pc.io_write(0x3F8, 1, u32::from(b'A'));
    assert_eq!(&*sink.0.lock().unwrap(), b"A");
    assert!(pc.interrupt_pending());
    assert_eq!(pc.acknowledge_interrupt(), 0x24);
    assert_eq!(pc.io_read(0x3FA, 1), 0x02);
    pc.io_write(0x20, 1, 0x20);
    tx.send(b'z').unwrap();
    pc.poll();
    assert!(pc.interrupt_pending());
    assert_eq!(pc.io_read(0x3FD, 1) & 1, 1);
    assert_eq!(pc.io_read(0x3F8, 1), u32::from(b'z'));
}

#[test]
fn ata_completion_raises_irq14() {
    let (_, mut pc) = board(true);
    init_pic(&mut pc);
    pc.io_write(0x1F6, 1, 0xA0);
    pc.io_write(0x1F7, 1, 0xEC);
    assert!(pc.interrupt_pending());
    assert_eq!(pc.acknowledge_interrupt(), 0x2E);
    assert_eq!(pc.io_read(0x1F7, 1), 0x58);
    assert_eq!(pc.io_read(0x1F0, 2), 0x0040);
    assert_eq!(
        pc.io_read(0x1F0, 4),
        1,
        "words 1-2: one (partial) cylinder, as the disk is smaller than one"
    );
    // Without a disk the channel floats.
    let (_, mut nodisk) = board(false);
    assert_eq!(nodisk.io_read(0x1F7, 1), 0xFF);
}

#[test]
fn secondary_channel_cdrom_raises_irq15_and_leaves_the_primary_floating() {
    let clock = Clock::virtual_time();
    let mut pc = PcDevices::new(PcConfig {
        clock,
        ram_bytes: 128 << 20,
        cpus: 1,
        serial_out: None,
        serial_in: None,
        ide: [
            None,
            None,
            Some(IdeDevice::Cdrom(Box::new(MemDisk::zeroed(16)))),
            None,
        ],
        trace_post: false,
        trace_unassigned_ports: false,
        debugcon_out: None,
        pc_testdev: false,
    });
    init_pic(&mut pc);
    assert_eq!(pc.io_read(0x1F7, 1), 0xFF, "no primary channel");
    assert_eq!(pc.io_read(0x174, 1), 0x14, "ATAPI signature");
    assert_eq!(pc.io_read(0x175, 1), 0xEB);
    pc.io_write(0x176, 1, 0xA0);
    pc.io_write(0x177, 1, 0xA1); // IDENTIFY PACKET DEVICE
    assert!(pc.interrupt_pending());
    assert_eq!(pc.acknowledge_interrupt(), 0x2F, "IRQ 15 on the slave 8259");
    assert_eq!(pc.io_read(0x376, 1), 0x58, "alternate status");
    assert_eq!(pc.io_read(0x170, 2) >> 14, 2, "ATAPI device");
    // nIEN masks the line.
    pc.io_write(0x376, 1, 0x02);
    pc.io_write(0x177, 1, 0xA1);
    assert!(!pc.interrupt_pending());
}

#[test]
fn requests_a20_post_and_unassigned_ports() {
    let (_, mut pc) = board(false);
    assert!(pc.a20_enabled(), "A20 is on at power-on");
    pc.io_write(0x64, 1, 0xD1);
    pc.io_write(0x60, 1, 0x01);
    assert!(!pc.a20_enabled());
    pc.io_write(0x92, 1, 0x02);
    assert!(pc.a20_enabled());
    pc.io_write(0x92, 1, 0x00);
    assert!(!pc.a20_enabled());
    assert_eq!(pc.take_request(), None);

    pc.io_write(0x64, 1, 0xFE);
    pc.io_write(0x92, 1, 0x01);
    pc.io_write(0xCF9, 1, 0x06);
    pc.io_write(0x604, 2, 0x2000);
    pc.io_write(0xF4, 4, 0x2A);
    pc.io_write(0xF4, 1, 0x01);
    assert_eq!(pc.take_request(), Some(BoardRequest::Reset));
    assert_eq!(pc.take_request(), Some(BoardRequest::Reset));
    assert_eq!(pc.take_request(), Some(BoardRequest::Reset));
    assert_eq!(pc.take_request(), Some(BoardRequest::PowerOff));
    assert_eq!(pc.take_request(), Some(BoardRequest::DebugExit(0x55)));
    assert_eq!(pc.take_request(), Some(BoardRequest::DebugExit(3)));
    assert_eq!(pc.take_request(), None);

    pc.io_write(0x80, 1, 0x42);
    assert_eq!(pc.post_code(), 0x42);
    assert_eq!(pc.unassigned_port_accesses(), 0);
    assert_eq!(pc.io_read(0x1234, 1), 0xFF);
    assert_eq!(pc.io_read(0x1234, 2), 0xFFFF);
    assert_eq!(pc.io_read(0x1234, 4), 0xFFFF_FFFF);
    pc.io_write(0x1234, 4, 0);
    assert_eq!(pc.unassigned_port_accesses(), 4);
}

#[test]
fn pvpanic_port_reports_a_guest_panic_to_the_machine() {
    let (_, mut pc) = board(false);
    assert_eq!(pc.io_read(0x505, 1), 0x03, "PANICKED and CRASH_LOADED");
    // A word read is split: 0x506 belongs to nobody and floats.
    assert_eq!(pc.io_read(0x505, 2), 0xFF03);
    pc.io_write(0x505, 1, 0x02);
    assert!(
        !pc.request_pending(),
        "a crash kernel takes over: keep running"
    );
    assert!(pc.pvpanic().crash_loaded());
    pc.io_write(0x505, 1, 0x01);
    assert_eq!(pc.take_request(), Some(BoardRequest::GuestPanicked));
    // A wider write reaches the device as its low byte.
    pc.io_write(0x505, 4, 0x0000_0201);
    assert_eq!(pc.take_request(), Some(BoardRequest::GuestPanicked));
    assert_eq!(pc.take_request(), None);
    pc.reset();
    assert!(!pc.pvpanic().crash_loaded());
}

#[test]
fn reset_restores_power_on_state_but_keeps_cmos() {
    let (clock, mut pc) = board(true);
    init_pic(&mut pc);
    pc.io_write(0x70, 1, 0x50);
    pc.io_write(0x71, 1, 0x77);
    pc.io_write(0x43, 1, 0x34);
    pc.io_write(0x40, 1, 0x10);
    pc.io_write(0x40, 1, 0x00);
    pc.io_write(0x92, 1, 0x01);
    assert!(pc.request_pending());
    pc.reset();
    assert!(!pc.request_pending());
    assert_eq!(pc.io_read(0x21, 1), 0x00);
    clock.advance_ns(1_000_000);
    pc.poll();
    assert!(!pc.interrupt_pending(), "PIT has no count after reset");
    assert_eq!(pc.next_event_ns(), None);
    pc.io_write(0x70, 1, 0x50);
    assert_eq!(pc.io_read(0x71, 1), 0x77);
    assert_eq!(pc.io_read(0x1F7, 1), 0x50);
}

#[test]
fn wide_access_to_byte_devices_is_split() {
    let (_, mut pc) = board(false);
    init_pic(&mut pc);
    pc.io_write(0x21, 1, 0xAB);
    pc.io_write(0xA1, 1, 0xCD);
    // 0x20 reads IRR (0), 0x21 the IMR.
    assert_eq!(pc.io_read(0x20, 2), 0xAB00);
    pc.io_write(0x70, 2, 0x5A_40); // index 0x40, then data 0x5A
    pc.io_write(0x70, 1, 0x40);
    assert_eq!(pc.io_read(0x71, 1), 0x5A);
    // 0x4D0/0x4D1 together.
    pc.io_write(0x4D0, 2, 0x0C20);
    assert_eq!(pc.io_read(0x4D0, 2), 0x0C20);
}

/// A tiny xorshift64* generator: no extra crate, reproducible.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[test]
fn fuzz_random_port_traffic_never_panics() {
    const INTERESTING: &[u16] = &[
        0x20, 0x21, 0xA0, 0xA1, 0x4D0, 0x4D1, 0x40, 0x41, 0x42, 0x43, 0x61, 0x70, 0x71, 0x3F8,
        0x3F9, 0x3FA, 0x3FB, 0x3FC, 0x3FD, 0x3FE, 0x3FF, 0x60, 0x64, 0x92, 0x80, 0xF4, 0x600,
        0x602, 0x604, 0x608, 0xCF9, 0x1F0, 0x1F1, 0x1F2, 0x1F3, 0x1F4, 0x1F5, 0x1F6, 0x1F7, 0x3F6,
        0xE0, 0xE2, 0xE4, 0xE9, 0x2000, 0x2004, 0x200E, 0x2017, 0x8900, 0x170, 0x171, 0x172, 0x173,
        0x174, 0x175, 0x176, 0x177, 0x376,
    ];
    for seed in [1u64, 0x9E37_79B9_7F4A_7C15, 0xDEAD_BEEF] {
        let clock = Clock::virtual_time();
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut pc = PcDevices::new(PcConfig {
            clock: clock.clone(),
            ram_bytes: 6 << 30,
            cpus: 1,
            serial_out: Some(Box::new(std::io::sink())),
            serial_in: Some(rx),
            ide: [
                Some(IdeDevice::Disk(Box::new(MemDisk::zeroed(300)))),
                None,
                Some(IdeDevice::Cdrom(Box::new(MemDisk::zeroed(64)))),
                Some(IdeDevice::Disk(Box::new(MemDisk::zeroed(8)))),
            ],
            trace_post: false,
            trace_unassigned_ports: false,
            debugcon_out: Some(Box::new(std::io::sink())),
            pc_testdev: true,
        });
        let mut rng = XorShift(seed);
        for _ in 0..150_000 {
            let r = rng.next();
            let port = if r & 7 == 0 {
                (r >> 8) as u16
            } else {
                INTERESTING[(r >> 8) as usize % INTERESTING.len()]
            };
            let size = [1u8, 2, 4, 1][(r >> 40) as usize & 3];
            let value = (r >> 16) as u32;
            match (r >> 48) & 15 {
                0..=6 => pc.io_write(port, size, value),
                7..=12 => {
                    let v = pc.io_read(port, size);
                    assert_eq!(v & !size_mask(size), 0);
                }
                13 => {
                    clock.advance_ns((r >> 20) & 0xF_FFFF);
                    pc.poll();
                }
                14 => {
                    if pc.interrupt_pending() {
                        pc.acknowledge_interrupt();
                    }
                    let _ = tx.send(r as u8);
                }
                _ => {
                    let _ = pc.next_event_ns();
                    while pc.take_request().is_some() {}
                }
            }
        }
    }
}

#[test]
fn board_can_move_to_the_vcpu_thread() {
    fn is_send<T: Send>() {}
    is_send::<PcDevices>();
    is_send::<Clock>();
}

// ----- APIC routing -----

const LAPIC: u64 = 0xFEE0_0000;
const IOAPIC: u64 = 0xFEC0_0000;

/// Writes IOAPIC redirection entry `pin` through IOREGSEL/IOWIN.
fn ioapic_entry(pc: &mut PcDevices, pin: u64, value: u64) {
    pc.mmio_write(IOAPIC, 4, 0x10 + 2 * pin);
    pc.mmio_write(IOAPIC + 0x10, 4, value & 0xFFFF_FFFF);
    pc.mmio_write(IOAPIC, 4, 0x11 + 2 * pin);
    pc.mmio_write(IOAPIC + 0x10, 4, value >> 32);
}

/// Linux-style APIC setup: software enable with spurious vector 0xFF, LINT0 masked ExtINT, flat logical ID 1.
fn enable_apic(pc: &mut PcDevices) {
    pc.mmio_write(LAPIC + 0xE0, 4, 0xFFFF_FFFF);
    pc.mmio_write(LAPIC + 0xD0, 4, 0x0100_0000);
    pc.mmio_write(LAPIC + 0xF0, 4, 0x1FF);
    pc.mmio_write(LAPIC + 0x350, 4, 0x1_0700);
}

/// Starts PIT channel 0 at about 100 Hz and returns the clock time of its first IRQ0.
fn start_pit(pc: &mut PcDevices) -> u64 {
    pc.io_write(0x43, 1, 0x34);
    pc.io_write(0x40, 1, 0x9C);
    pc.io_write(0x40, 1, 0x2E);
    pc.poll();
    pc.next_event_ns().unwrap()
}

#[test]
fn apic_mmio_reads_identify_both_controllers() {
    let (_, mut pc) = board(false);
    assert_eq!(pc.mmio_read(LAPIC + 0x30, 4), 0x0005_0014);
    assert_eq!(
        pc.mmio_read(LAPIC + 0x32, 1),
        0x05,
        "byte read of the version"
    );
    assert_eq!(pc.mmio_read(LAPIC + 0x34, 4), 0, "bytes 4-15 of a slot");
    assert_eq!(pc.mmio_read(LAPIC + 0xF0, 8), 0xFF);
    pc.mmio_write(IOAPIC, 4, 1);
    assert_eq!(pc.mmio_read(IOAPIC + 0x10, 4), 0x0017_0020);
    assert_eq!(pc.mmio_read(0xFED0_0000, 4), 0xFFFF_FFFF, "open bus");
    assert_eq!(pc.mmio_read(0xFED0_0000, 8), u64::MAX);
    // A byte write to TPR merges.
    pc.mmio_write(LAPIC + 0x80, 1, 0x3C);
    assert_eq!(pc.mmio_read(LAPIC + 0x80, 4), 0x3C);
    assert_eq!(pc.apic_base(), 0xFEE0_0900);
    // Relocated: the old page is open bus.
    pc.set_apic_base(0xFED0_0800).unwrap();
    assert_eq!(pc.mmio_read(0xFED0_0030, 4), 0x0005_0014);
    assert_eq!(pc.mmio_read(LAPIC + 0x30, 4), 0xFFFF_FFFF);
    assert!(pc.set_apic_base(0xFEE0_0C00).is_err(), "x2APIC");
}

#[test]
fn apic_disabled_passes_the_pic_like_virtual_wire() {
    let (clock, mut pc) = board(false);
    init_pic(&mut pc);
    // The IOAPIC entry is programmed, but the LAPIC is software disabled: the PIC delivers.
    ioapic_entry(&mut pc, 2, 0x30);
    let next = start_pit(&mut pc);
    clock.advance_to_ns(next);
    pc.poll();
    assert!(pc.interrupt_pending());
    assert_eq!(pc.acknowledge_interrupt(), 0x20);
    pc.io_write(0x20, 1, 0x20);
    // Globally disabled too.
    pc.set_apic_base(0xFEE0_0000).unwrap();
    clock.advance_to_ns(2 * next);
    pc.poll();
    assert_eq!(pc.acknowledge_interrupt(), 0x20);
}

#[test]
fn apic_enabled_takes_isa_irqs_from_the_ioapic() {
    let (clock, mut pc) = board(false);
    init_pic(&mut pc);
    enable_apic(&mut pc);
    // IRQ0 arrives on pin 2 (the MADT override), flat logical destination 1.
    ioapic_entry(&mut pc, 2, 0x0100_0000_0000_0000 | 0x800 | 0x30);
    let next = start_pit(&mut pc);
    clock.advance_to_ns(next);
    pc.poll();
    assert!(
        pc.interrupt_pending(),
        "PIC INTR is blocked by the masked LINT0; the IOAPIC delivers"
    );
    assert_eq!(pc.acknowledge_interrupt(), 0x30);
    assert!(!pc.interrupt_pending());
    assert_eq!(pc.mmio_read(LAPIC + 0x110, 4), 1 << 16, "ISR bit 0x30");
    // TPR at class 3 holds the next tick back until it is lowered.
    pc.mmio_write(LAPIC + 0xB0, 4, 0);
    pc.mmio_write(LAPIC + 0x80, 4, 0x30);
    clock.advance_to_ns(2 * next);
    pc.poll();
    assert!(!pc.interrupt_pending());
    pc.mmio_write(LAPIC + 0x80, 4, 0);
    assert!(pc.interrupt_pending());
    assert_eq!(pc.acknowledge_interrupt(), 0x30);
    pc.mmio_write(LAPIC + 0xB0, 4, 0);
    // Masking the pin stops it; a destination that is not us drops the message.
    ioapic_entry(&mut pc, 2, 0x1_0030);
    clock.advance_to_ns(3 * next);
    pc.poll();
    assert!(!pc.interrupt_pending());
    ioapic_entry(&mut pc, 2, 0x0200_0000_0000_0000 | 0x800 | 0x30);
    clock.advance_to_ns(4 * next);
    pc.poll();
    assert!(!pc.interrupt_pending());
    // LINT0 unmasked in ExtINT mode: the PIC's vector comes through the APIC.
    ioapic_entry(&mut pc, 2, 0x1_0030);
    pc.mmio_write(LAPIC + 0x350, 4, 0x700);
    clock.advance_to_ns(5 * next);
    pc.poll();
    assert!(pc.interrupt_pending());
    assert_eq!(pc.acknowledge_interrupt(), 0x20);
}

#[test]
fn level_triggered_ioapic_pin_repeats_until_the_device_is_serviced() {
    let (_, mut pc) = board(false);
    enable_apic(&mut pc);
    // COM1 (IRQ4) as a level-triggered, physical-destination interrupt.
    ioapic_entry(&mut pc, 4, 0x8000 | 0x44);
    pc.io_write(0x3F9, 1, 0x02); // THR empty interrupt
    assert!(pc.interrupt_pending());
    assert_eq!(pc.acknowledge_interrupt(), 0x44);
    assert_eq!(pc.mmio_read(LAPIC + 0x1A0, 4), 1 << 4, "TMR bit 0x44");
    pc.mmio_write(IOAPIC, 4, 0x18);
    assert_ne!(pc.mmio_read(IOAPIC + 0x10, 4) & 0x4000, 0, "remote IRR");
    assert!(!pc.interrupt_pending());
    // EOI with the line still high: delivered again.
    pc.mmio_write(LAPIC + 0xB0, 4, 0);
    assert!(pc.interrupt_pending());
    assert_eq!(pc.acknowledge_interrupt(), 0x44);
    // Service the UART (reading IIR clears THRE), then EOI: quiet.
    assert_eq!(pc.io_read(0x3FA, 1), 0x02);
    pc.mmio_write(LAPIC + 0xB0, 4, 0);
    assert!(!pc.interrupt_pending());
    assert_eq!(pc.mmio_read(IOAPIC + 0x10, 4) & 0x4000, 0);
}

#[test]
fn lapic_timer_and_tsc_deadline_through_the_board() {
    let (clock, mut pc) = board(false);
    enable_apic(&mut pc);
    pc.mmio_write(LAPIC + 0x3E0, 4, 0xB);
    pc.mmio_write(LAPIC + 0x320, 4, 0x2_00EF); // periodic, vector 0xEF
    pc.mmio_write(LAPIC + 0x380, 4, 1_000_000);
    assert_eq!(pc.next_event_ns(), Some(1_000_000));
    clock.advance_to_ns(1_000_000);
    pc.poll();
    assert_eq!(pc.acknowledge_interrupt(), 0xEF);
    pc.mmio_write(LAPIC + 0xB0, 4, 0);
    assert_eq!(pc.next_event_ns(), Some(2_000_000));
    // TSC-deadline mode; a deadline already passed is pending at once.
    pc.mmio_write(LAPIC + 0x320, 4, 0x4_00EE);
    pc.set_tsc_deadline(10, 20, 1_000_000_000);
    assert!(pc.interrupt_pending());
    assert_eq!(pc.acknowledge_interrupt(), 0xEE);
    pc.mmio_write(LAPIC + 0xB0, 4, 0);
    pc.set_tsc_deadline(3000, 1000, 1_000_000_000);
    assert_eq!(pc.tsc_deadline(), 3000);
    assert_eq!(pc.next_event_ns(), Some(clock.now_ns() + 2000));
    assert_eq!(pc.read_msr(0x6E0), Some(3000));
    assert_eq!(pc.read_msr(0x10), None, "not a device MSR");
    assert_eq!(pc.write_msr(0x6E0, 0, 0, 1), Some(Ok(())));
    assert_eq!(pc.read_msr(0x6E0), Some(0));
    assert_eq!(pc.read_msr(0x1B), Some(0xFEE0_0900));
    assert!(matches!(
        pc.write_msr(0x1B, 0xFEE0_0C00, 0, 1),
        Some(Err(_))
    ));
    assert_eq!(pc.write_msr(0xC000_0080, 0, 0, 1), None);
    // CR8 is TPR[7:4]: one register with the APIC's TPR.
    pc.set_task_priority(0x30);
    assert_eq!(pc.mmio_read(LAPIC + 0x80, 4), 0x30);
    pc.mmio_write(LAPIC + 0x80, 4, 0x50);
    assert_eq!(pc.task_priority(), 0x50);
    pc.set_task_priority(0);
    // Nothing in service, nothing pending: a stray INTA gets the spurious vector.
    assert!(!pc.interrupt_pending());
    assert_eq!(pc.acknowledge_interrupt(), 0xFF);
    // A board reset puts the APICs back to power-on state.
    pc.reset();
    assert_eq!(pc.mmio_read(LAPIC + 0xF0, 4), 0xFF);
    assert_eq!(pc.tsc_deadline(), 0);
}

#[test]
fn fuzz_random_apic_mmio_never_panics() {
    for seed in [3u64, 0x0123_4567_89AB_CDEF, 0xFEE0_0000] {
        let (clock, mut pc) = board(false);
        let mut rng = XorShift(seed);
        for _ in 0..100_000 {
            let r = rng.next();
            let page =
                [LAPIC, IOAPIC, LAPIC, IOAPIC, 0xFED0_0000, 0xFEBF_F000][(r & 7) as usize % 6];
            let off = (r >> 8) & 0xFFF;
            let off = if r & 0x10_0000 != 0 { off & 0x3F0 } else { off };
            let size = [1u8, 2, 4, 8][(r >> 40) as usize & 3];
            let value = rng.next();
            match (r >> 48) & 7 {
                0..=2 => pc.mmio_write(page + off, size, value),
                3..=4 => {
                    let v = pc.mmio_read(page + off, size);
                    if size < 8 {
                        assert_eq!(v >> (8 * size), 0);
                    }
                }
                5 => {
                    clock.advance_ns((r >> 20) & 0xFFFF);
                    pc.poll();
                    if pc.interrupt_pending() {
                        pc.acknowledge_interrupt();
                    }
                }
                6 => {
                    let _ = pc.set_apic_base(
                        0xFEE0_0000 | (value & 0x900) | u64::from(r & 0xFF == 0) << 11,
                    );
                    pc.set_tsc_deadline(value >> 40, value >> 44, 1 + (r & 0xFFFF_FFFF));
                }
                _ => {
                    pc.io_write(0x3F9, 1, (value & 0xF) as u32);
                    let _ = pc.io_read(0x3FA, 1);
                    let _ = pc.next_event_ns();
                }
            }
        }
    }
}

fn board_with_test_devices(debugcon: Shared) -> PcDevices {
    PcDevices::new(PcConfig {
        clock: Clock::virtual_time(),
        ram_bytes: 16 << 20,
        cpus: 1,
        serial_out: None,
        serial_in: None,
        ide: [None, None, None, None],
        trace_post: false,
        trace_unassigned_ports: false,
        debugcon_out: Some(Box::new(debugcon)),
        pc_testdev: true,
    })
}

#[test]
fn pc_testdev_lines_reach_the_pic_and_its_memory_answers_mmio() {
    let mut pc = board_with_test_devices(Shared::default());
    init_pic(&mut pc);
    pc.io_write(0x2005, 1, 1);
    assert!(pc.interrupt_pending());
    assert_eq!(pc.acknowledge_interrupt(), 0x25);
    pc.io_write(0x20, 1, 0x20);
    pc.io_write(0x2005, 1, 0);
    // A line a device also drives: the UART's IRQ4 is low, the testdev's high wins.
    pc.io_write(0x2004, 1, 1);
    assert_eq!(pc.acknowledge_interrupt(), 0x24);
    pc.io_write(0x20, 1, 0x20);
    pc.io_write(0xE0, 2, 0xBEEF);
    assert_eq!(pc.io_read(0xE1, 1), 0xBE);
    pc.mmio_write(0xFF00_0100, 4, 0xDEAD_BEEF);
    assert_eq!(pc.mmio_read(0xFF00_0100, 4), 0xDEAD_BEEF);
    assert_eq!(pc.mmio_read(0xFF01_0000, 4), 0xFFFF_FFFF, "past the window");
}

#[test]
fn debugcon_prints_and_the_shutdown_string_powers_off() {
    let sink = Shared::default();
    let mut pc = board_with_test_devices(sink.clone());
    for b in *b"ok\n" {
        pc.io_write(0xE9, 1, u32::from(b));
    }
    assert_eq!(*sink.0.lock().unwrap(), b"ok\n");
    assert_eq!(pc.io_read(0xE9, 1), 0xE9);
    for b in *b"Shutdown" {
        assert!(!pc.request_pending());
        pc.io_write(0x8900, 1, u32::from(b));
    }
    assert_eq!(pc.take_request(), Some(BoardRequest::PowerOff));
}

#[test]
fn without_asking_there_is_no_debugcon_and_no_testdev() {
    let (_, mut pc) = board(false);
    assert_eq!(pc.io_read(0xE9, 1), 0xFF);
    assert_eq!(pc.io_read(0xE0, 4), 0xFFFF_FFFF);
    pc.io_write(0x2005, 1, 1);
    assert!(!pc.interrupt_pending());
    assert_eq!(pc.mmio_read(0xFF00_0000, 4), 0xFFFF_FFFF);
}

#[test]
fn firmware_moves_the_pm_block_through_pmba_and_turns_it_off_through_pmregmisc() {
    let (_, mut pc) = board(false);
    let config = |pc: &mut PcDevices, offset: u32, size: u8, value: u32| {
        pc.io_write(0xCF8, 4, 0x8000_0B00 | (offset & !3));
        pc.io_write(0xCFC + (offset & 3) as u16, size, value);
    };
    assert_ne!(
        pc.io_read(PM_TMR, 4),
        0xFFFF_FFFF,
        "the timer answers at 0x608"
    );
    config(&mut pc, 0x40, 4, 0xB001);
    assert_eq!(pc.io_read(PM_TMR, 4), 0xFFFF_FFFF, "no longer at 0x608");
    pc.io_write(0xB004, 2, 0x2000);
    assert_eq!(
        pc.take_request(),
        Some(BoardRequest::PowerOff),
        "S5 at the new base"
    );
    config(&mut pc, 0x80, 1, 0);
    assert_eq!(
        pc.io_read(0xB008, 4),
        0xFFFF_FFFF,
        "PMREGMISC off: decoded nowhere"
    );
    pc.reset();
    assert_ne!(
        pc.io_read(PM_TMR, 4),
        0xFFFF_FFFF,
        "a reset puts it back at 0x600"
    );
}

#[test]
fn display_input_reaches_the_keyboard_on_irq1_and_the_mouse_on_irq12() {
    let (_, mut pc) = board(false);
    init_pic(&mut pc);
    let (tx, rx) = crossbeam_channel::unbounded();
    pc.connect_display_input(rx);
    tx.send(InputEvent::Key {
        scancode: 0x1C,
        down: true,
    })
    .unwrap();
    pc.poll();
    assert!(pc.interrupt_pending());
    assert_eq!(pc.acknowledge_interrupt(), 0x21);
    assert_eq!(pc.io_read(I8042_DATA, 1), 0x1C);
    pc.io_write(0x20, 1, 0x20);
    // Aux interrupt on, the mouse reporting.
    pc.io_write(I8042_COMMAND, 1, 0x60);
    pc.io_write(I8042_DATA, 1, 0x47);
    pc.io_write(I8042_COMMAND, 1, 0xD4);
    pc.io_write(I8042_DATA, 1, 0xF4);
    assert_eq!(pc.acknowledge_interrupt(), 0x2C);
    assert_eq!(pc.io_read(I8042_DATA, 1), 0xFA);
    pc.io_write(0xA0, 1, 0x20);
    pc.io_write(0x20, 1, 0x20);
    tx.send(InputEvent::Pointer {
        dx: 2,
        dy: 0,
        buttons: 0,
    })
    .unwrap();
    pc.poll();
    assert!(pc.interrupt_pending());
    assert_eq!(pc.acknowledge_interrupt(), 0x2C);
    assert_eq!(pc.io_read(I8042_DATA, 1), 0x08);
}

/// A configuration write to the IDE function (01.1).
fn ide_config_write(pc: &mut PcDevices, offset: u8, size: u8, value: u32) {
    pc.io_write(
        CONFIG_ADDRESS,
        4,
        0x8000_0000 | 1 << 11 | 1 << 8 | u32::from(offset & !3),
    );
    pc.io_write(CONFIG_DATA + u16::from(offset & 3), size, value);
}

#[test]
fn ide_bus_master_follows_bar_4_and_moves_data_only_while_mastering() {
    use crate::ata::bus_master::{BM_COMMAND, BM_PRD_TABLE, BM_STATUS, BM_STATUS_INTERRUPT};
    use crate::pci::config::{COMMAND_IO, COMMAND_MASTER};
    let (_, mut pc) = board(true);
    init_pic(&mut pc);
    pc.io_write(CONFIG_ADDRESS, 4, 0x8000_0000 | 1 << 11 | 1 << 8 | 0x40);
    assert_eq!(
        pc.io_read(CONFIG_DATA, 4),
        0x8000_8000,
        "both channels decode"
    );
    let bm = 0xC040;
    assert_eq!(pc.io_read(bm + BM_STATUS, 1), 0xFF, "BAR 4 not placed yet");
    ide_config_write(&mut pc, 0x20, 4, u32::from(bm));
    ide_config_write(&mut pc, 0x04, 2, u32::from(COMMAND_IO));
    assert_eq!(pc.io_read(bm + BM_STATUS, 1), 0);

    // One 512-byte region at 0x2000 for a READ DMA of sector 0 (the disk is zeroed).
    let mut ram = vec![0xAAu8; 1 << 20];
    ram[0x1000..0x1008].copy_from_slice(&[0x00, 0x20, 0, 0, 0x00, 0x02, 0, 0x80]);
    pc.io_write(bm + BM_PRD_TABLE, 4, 0x1000);
    for (port, v) in [
        (0x1F2, 1),
        (0x1F3, 0),
        (0x1F4, 0),
        (0x1F5, 0),
        (0x1F6, 0xE0),
        (0x1F7, 0xC8),
    ] {
        pc.io_write(port, 1, v);
    }
    pc.io_write(bm + BM_COMMAND, 1, 0x09);
    assert!(!pc.run_dma(&mut ram), "bus mastering is off");
    ide_config_write(&mut pc, 0x04, 2, u32::from(COMMAND_IO | COMMAND_MASTER));
    assert!(pc.run_dma(&mut ram));
    assert!(ram[0x2000..0x2200].iter().all(|&b| b == 0));
    assert_eq!(ram[0x2200], 0xAA);
    assert_eq!(
        pc.io_read(bm + BM_STATUS, 1),
        u32::from(BM_STATUS_INTERRUPT)
    );
    assert!(pc.interrupt_pending());
    assert_eq!(pc.acknowledge_interrupt(), 0x2E, "IRQ 14");
    assert_eq!(pc.ide_dma_transfers(), [1, 0]);
}
