//! vx86's BIOS services, exercised by a boot sector running on the interpreter and on the binary translator: each
//! service's results are stored in low memory and checked after the guest powers off.

use iced_x86::code_asm::*;
use vx86_devices::{IdeDevice, MemDisk};
use vx86_machine::capture::SerialCapture;
use vx86_machine::{EngineKind, Outcome, Vm, VmConfig};

/// Where the boot sector stores its results.
const RESULTS: u64 = 0x600;

/// A boot sector that calls BIOS services and records what they return at [`RESULTS`], then powers off.
fn service_probe_disk() -> Vec<u8> {
    let mut a = CodeAssembler::new(16).unwrap();
    // INT 12h: base memory in KiB -> [0x600].
    a.int(0x12).unwrap();
    a.mov(word_ptr(0x600), ax).unwrap();
    // INT 11h: equipment word -> [0x602].
    a.int(0x11).unwrap();
    a.mov(word_ptr(0x602), ax).unwrap();
    // INT 15h E820, first entry into 0:0x700; EAX (signature) -> [0x604], CF -> [0x608].
    a.xor(ebx, ebx).unwrap();
    a.mov(di, 0x700u32).unwrap();
    a.mov(eax, 0xE820u32).unwrap();
    a.mov(edx, 0x534D_4150u32).unwrap();
    a.mov(ecx, 20u32).unwrap();
    a.int(0x15).unwrap();
    a.mov(dword_ptr(0x604), eax).unwrap();
    a.setc(byte_ptr(0x608)).unwrap();
    // INT 13h AH=42h: read LBA 1 (one sector) to 0:0x800 -> CF at [0x609].
    a.mov(si, 0x7DC0u32).unwrap();
    a.mov(dl, 0x80u32).unwrap();
    a.mov(ah, 0x42u32).unwrap();
    a.int(0x13).unwrap();
    a.setc(byte_ptr(0x609)).unwrap();
    // INT 13h AH=08h: drive parameters, DH (max head) -> [0x60A], CL -> [0x60B].
    a.mov(dl, 0x80u32).unwrap();
    a.mov(ah, 0x08u32).unwrap();
    a.int(0x13).unwrap();
    a.mov(byte_ptr(0x60A), dh).unwrap();
    a.mov(byte_ptr(0x60B), cl).unwrap();
    // INT 13h for a drive that does not exist: CF must be set -> [0x60C].
    a.mov(dl, 0x81u32).unwrap();
    a.mov(ah, 0x02u32).unwrap();
    a.mov(al, 1u32).unwrap();
    a.mov(cx, 1u32).unwrap();
    a.mov(dh, 0u32).unwrap();
    a.mov(bx, 0x900u32).unwrap();
    a.int(0x13).unwrap();
    a.setc(byte_ptr(0x60C)).unwrap();
    // INT 1Ah AH=02h: RTC time, CF -> [0x60D].
    a.mov(ah, 0x02u32).unwrap();
    a.int(0x1A).unwrap();
    a.setc(byte_ptr(0x60D)).unwrap();
    // INT 10h teletype: "OK" on the screen and COM1.
    for letter in [b'O', b'K', b'\r', b'\n'] {
        a.mov(ah, 0x0Eu32).unwrap();
        a.mov(al, u32::from(letter)).unwrap();
        a.int(0x10).unwrap();
    }
    // Power off through the ACPI PM1a control port.
    a.mov(dx, 0x604u32).unwrap();
    a.mov(ax, 0x2000u32).unwrap();
    a.out(dx, ax).unwrap();
    a.cli().unwrap();
    a.hlt().unwrap();
    let code = a.assemble(0x7C00).unwrap();
    let mut disk = vec![0u8; 4 * 512];
    disk[..code.len()].copy_from_slice(&code);
    // Disk address packet at 0x7C00 + 0x1C0, after the code: size 16, 1 sector, to 0000:0800, LBA 1.
    let dap = [16u8, 0, 1, 0, 0x00, 0x08, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0];
    assert!(
        code.len() <= 0x1C0,
        "probe code overlaps its disk address packet"
    );
    disk[0x1C0..0x1D0].copy_from_slice(&dap);
    disk[510] = 0x55;
    disk[511] = 0xAA;
    for (k, b) in disk[512..1024].iter_mut().enumerate() {
        *b = (k * 7) as u8;
    }
    disk
}

/// Boots `disk` under the interpreter, and under the binary translator, which must end the same way with the same
/// serial output, instruction count and low megabyte of memory; returns the interpreter's run.
fn boot(disk: Vec<u8>) -> (Vm, Outcome, String) {
    let run = |engine| {
        let serial = SerialCapture::new();
        let config = VmConfig {
            ide: [
                Some(IdeDevice::Disk(Box::new(MemDisk::new(disk.clone())))),
                None,
                None,
                None,
            ],
            serial_out: Some(Box::new(serial.clone())),
            no_reboot: true,
            deterministic: true,
            instruction_limit: Some(200_000_000),
            ..VmConfig::new(16 << 20, vx86_firmware::bios::image())
        };
        let mut vm = Vm::with_engine(config, engine).unwrap();
        let (outcome, _) = vm.run();
        (vm, outcome, serial.text())
    };
    let reference = run(EngineKind::Interp);
    let translated = run(EngineKind::Bt);
    assert_eq!(translated.1, reference.1, "bt outcome");
    assert_eq!(translated.2, reference.2, "bt serial output");
    assert_eq!(translated.0.cpu.instructions, reference.0.cpu.instructions);
    assert!(
        read(&translated.0, 0, 1 << 20) == read(&reference.0, 0, 1 << 20),
        "bt left different memory below 1 MiB"
    );
    reference
}

fn read(vm: &Vm, addr: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    vm.board.memory.read_phys(addr, &mut out);
    out
}

#[test]
fn bios_services_answer_a_boot_sector() {
    let (vm, outcome, serial) = boot(service_probe_disk());
    assert_eq!(outcome, Outcome::PowerOff, "serial:\n{serial}");
    let r = read(&vm, RESULTS, 16);
    let base_kib = u16::from_le_bytes([r[0], r[1]]);
    assert!(
        (600..=640).contains(&base_kib),
        "INT 12h gave {base_kib} KiB"
    );
    assert_eq!(&r[4..8], b"PAMS", "E820 returns 'SMAP' in EAX");
    assert_eq!(r[8], 0, "E820 CF");
    assert_eq!(r[9], 0, "INT 13h AH=42h CF");
    assert_eq!(r[12], 1, "INT 13h on a missing drive must fail");
    assert_eq!(r[13], 0, "INT 1Ah AH=02h CF");
    assert_eq!(r[11] & 0x3F, 63, "63 sectors per track");
    // First E820 entry: base 0, usable.
    let e = read(&vm, 0x700, 20);
    assert_eq!(u64::from_le_bytes(e[0..8].try_into().unwrap()), 0);
    assert_eq!(u32::from_le_bytes(e[16..20].try_into().unwrap()), 1);
    // The sector read by LBA arrived intact.
    let sector = read(&vm, 0x800, 512);
    assert!(sector.iter().enumerate().all(|(k, b)| *b == (k * 7) as u8));
    assert!(
        serial.contains("OK"),
        "teletype output mirrored to COM1:\n{serial}"
    );
    // And on the VGA text screen: 'O' with attribute 7 somewhere in the buffer (characters in plane 0 and
    // attributes in plane 1, at every other byte).
    let vga = vm.board.devices.vga();
    let screen: Vec<u8> = (0..80 * 25 * 2)
        .map(|k| vga.peek_plane((k & 1) as u8, k & !1))
        .collect();
    assert!(
        screen.windows(4).any(|w| w == [b'O', 7, b'K', 7]),
        "teletype output on screen"
    );
}

#[test]
fn a_disk_without_boot_signature_is_refused_with_a_message() {
    let (_, outcome, serial) = boot(vec![0u8; 4096]);
    assert_eq!(outcome, Outcome::HaltedForever);
    assert!(serial.contains("No bootable disk"), "{serial}");
}
