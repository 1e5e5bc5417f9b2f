use super::*;
use crate::ata::MemDisk;
use std::sync::{Arc, Mutex};

/// A serial sink shared with the test.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn board(disk: bool) -> (Clock, PcDevices) {
    let clock = Clock::virtual_time();
    let config = PcConfig {
        clock: clock.clone(),
        ram_bytes: 128 << 20,
        serial_out: None,
        serial_in: None,
        disk: disk.then(|| Box::new(MemDisk::zeroed(64)) as Box<dyn Disk>),
        trace_post: false,
        trace_unassigned_ports: false,
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
        serial_out: Some(Box::new(sink.clone())),
        serial_in: Some(rx),
        disk: None,
        trace_post: false,
        trace_unassigned_ports: false,
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
    assert_eq!(pc.io_read(0x1F0, 4), 0);
    // Without a disk the channel floats.
    let (_, mut nodisk) = board(false);
    assert_eq!(nodisk.io_read(0x1F7, 1), 0xFF);
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
    ];
    for seed in [1u64, 0x9E37_79B9_7F4A_7C15, 0xDEAD_BEEF] {
        let clock = Clock::virtual_time();
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut pc = PcDevices::new(PcConfig {
            clock: clock.clone(),
            ram_bytes: 6 << 30,
            serial_out: Some(Box::new(std::io::sink())),
            serial_in: Some(rx),
            disk: Some(Box::new(MemDisk::zeroed(300))),
            trace_post: false,
            trace_unassigned_ports: false,
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
