//! A guest drives the ATAPI CD-ROM on the secondary master over PIO, as a driver does: INQUIRY, TEST UNIT READY
//! (which reports the power-on unit attention), then READ(10), each by PACKET with a 2048-byte byte-count limit,
//! reading every DRQ block the drive offers; the test checks the bytes under the interpreter and the translator.

mod common;

use iced_x86::code_asm::*;
use vx86_devices::{IdeDevice, MemDisk};
use vx86_machine::{EngineKind, Outcome, Vm, VmConfig};

/// Where the guest builds each command packet.
const PACKET: u16 = 0x500;
/// Where each command's final status byte goes (one byte per command).
const STATUS: u16 = 0x600;
/// Where INQUIRY data goes.
const INQUIRY_DATA: u16 = 0x1000;
/// Where READ(10) data goes.
const SECTOR_DATA: u16 = 0x2000;
/// The CD-ROM sector the guest reads.
const LBA: u8 = 3;

/// A 4-sector ISO image: sector n is filled with 0xC0 + n, its first four bytes "ISO" and n.
fn iso() -> Vec<u8> {
    let mut v = vec![0u8; 4 * 2048];
    for (n, s) in v.chunks_mut(2048).enumerate() {
        s.fill(0xC0 + n as u8);
        s[..4].copy_from_slice(&[b'I', b'S', b'O', n as u8]);
    }
    v
}

/// Emits one PACKET command with `cdb`: the data lands at `dest`, the final status at `status_at`.
fn packet(a: &mut CodeAssembler, cdb: [u8; 12], dest: u16, status_at: u16) {
    for (i, w) in cdb.chunks(2).enumerate() {
        let word = u16::from_le_bytes([w[0], w[1]]);
        a.mov(word_ptr(u32::from(PACKET) + 2 * i as u32), u32::from(word))
            .unwrap();
    }
    for (port, value) in [
        (0x171u32, 0u32),
        (0x174, 0x00),
        (0x175, 0x08),
        (0x177, 0xA0),
    ] {
        a.mov(dx, port).unwrap();
        a.mov(al, value).unwrap();
        a.out(dx, al).unwrap();
    }
    let mut wait_drq = a.create_label();
    a.set_label(&mut wait_drq).unwrap();
    a.in_(al, dx).unwrap();
    a.test(al, 0x08u32).unwrap();
    a.jz(wait_drq).unwrap();
    a.mov(si, u32::from(PACKET)).unwrap();
    a.mov(cx, 6u32).unwrap();
    a.mov(dx, 0x170u32).unwrap();
    a.rep().outsw().unwrap();
    a.mov(di, u32::from(dest)).unwrap();
    let mut block = a.create_label();
    let mut done = a.create_label();
    a.set_label(&mut block).unwrap();
    a.mov(dx, 0x177u32).unwrap();
    a.in_(al, dx).unwrap();
    a.test(al, 0x08u32).unwrap();
    a.jz(done).unwrap();
    a.mov(dx, 0x174u32).unwrap();
    a.in_(al, dx).unwrap();
    a.mov(cl, al).unwrap();
    a.mov(dx, 0x175u32).unwrap();
    a.in_(al, dx).unwrap();
    a.mov(ch, al).unwrap();
    a.shr(cx, 1u32).unwrap();
    a.mov(dx, 0x170u32).unwrap();
    a.rep().insw().unwrap();
    a.jmp(block).unwrap();
    a.set_label(&mut done).unwrap();
    a.mov(byte_ptr(u32::from(status_at)), al).unwrap();
}

/// The guest, as BIOS code at the reset vector.
fn guest() -> Vec<u8> {
    let mut a = CodeAssembler::new(16).unwrap();
    a.xor(ax, ax).unwrap();
    a.mov(ds, ax).unwrap();
    a.mov(es, ax).unwrap();
    a.cld().unwrap();
    a.mov(dx, 0x176u32).unwrap();
    a.mov(al, 0xA0u32).unwrap();
    a.out(dx, al).unwrap();
    packet(
        &mut a,
        [0x12, 0, 0, 0, 36, 0, 0, 0, 0, 0, 0, 0],
        INQUIRY_DATA,
        STATUS,
    );
    packet(&mut a, [0; 12], INQUIRY_DATA, STATUS + 1);
    let read10 = [0x28, 0, 0, 0, 0, LBA, 0, 0, 1, 0, 0, 0];
    packet(&mut a, read10, SECTOR_DATA, STATUS + 2);
    common::acpi_power_off(&mut a);
    common::bios_with_code(&a.assemble(0).unwrap())
}

#[test]
fn a_guest_reads_inquiry_data_and_a_sector_over_pio_under_interp_and_bt() {
    for engine in [EngineKind::Interp, EngineKind::Bt] {
        let config = VmConfig {
            ide: [
                None,
                None,
                Some(IdeDevice::Cdrom(Box::new(MemDisk::new(iso())))),
                None,
            ],
            no_reboot: true,
            instruction_limit: Some(10_000_000),
            ..VmConfig::new(16 << 20, guest())
        };
        let mut vm = Vm::with_engine(config, engine).unwrap();
        let (outcome, _) = vm.run();
        assert_eq!(outcome, Outcome::PowerOff, "{engine}");
        let read = |at: u16, len: usize| {
            let mut b = vec![0u8; len];
            vm.board.memory.read_phys(u64::from(at), &mut b);
            b
        };
        assert_eq!(
            read(STATUS, 3),
            [0x50, 0x51, 0x50],
            "{engine}: INQUIRY ok, TEST UNIT READY reports the unit attention (ERR), READ(10) ok"
        );
        let inquiry = read(INQUIRY_DATA, 36);
        assert_eq!(inquiry[0], 0x05, "{engine}: a CD/DVD device");
        assert_eq!(&inquiry[8..12], b"VX86", "{engine}");
        let sector = read(SECTOR_DATA, 2048);
        assert_eq!(&sector[..4], &[b'I', b'S', b'O', LBA], "{engine}");
        assert!(sector[4..].iter().all(|&b| b == 0xC0 + LBA), "{engine}");
    }
}
