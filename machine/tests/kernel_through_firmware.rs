//! `-kernel`, `-initrd` and `-append` with `-bios`, as QEMU boots them: vx86 hands the Debian guest's kernel to
//! Debian's unmodified SeaBIOS through fw_cfg with vx86's Linux loader option ROM first in the boot order; SeaBIOS
//! boots the ROM, which loads the setup, kernel, initrd and command line and enters the kernel's real-mode setup.
//! The kernel runs the workload to the host's results and powers off. Without `-bios` the same flags still boot the
//! kernel directly, with no firmware in the way. Both through the `vx86` binary under the translator. A multiboot
//! image cannot go through the firmware: vx86 says so.
//!
//! The ROM on its own, with no guest to fetch: a small BIOS runs its boot entry with a made-up bzImage whose setup
//! records the registers it was entered with; the pieces must be where the boot protocol wants them, the initrd
//! moved below the top of memory the BIOS reports through INT 15h E801h.
//!
//! Skipped (with a message) when the guest or the firmware has not been fetched, and failed under `CI=true`.

mod common;

use common::bzimage::Bz;
use common::{s, stderr_of, Scratch};
use iced_x86::code_asm::*;
use vx86_machine::fw_cfg::kernel::{CMDLINE_ADDR, KERNEL_ADDR, SETUP_ADDR};
use vx86_machine::loader::zero_page::*;
use vx86_machine::loader::KernelRequest;
use vx86_machine::{boot, EngineKind, Outcome, Vm, VmConfig};

/// Runs `vx86` under the translator with the Debian guest's kernel and initramfs, the workload's command line and
/// `firmware` (a `-bios` image, or none for our own BIOS): the console, and how the run ended as vx86 reports it.
/// `None` (after saying why) when the guest or the firmware is not there.
fn boot_kernel(scratch: &Scratch, firmware: Option<Vec<u8>>) -> Option<(String, String)> {
    let (kernel, initrd) = common::debian_guest()?;
    let kernel = scratch.file("vmlinuz", &kernel);
    let initrd = scratch.file("initrd.gz", &initrd);
    let console = scratch.0.join("console.txt");
    let mut vx86 = common::vx86();
    if let Some(image) = firmware {
        vx86.args(["-bios", s(&scratch.file("bios.bin", &image))]);
    }
    let out = vx86
        .args(["-kernel", s(&kernel), "-initrd", s(&initrd)])
        .args(["-append", "console=ttyS0 panic=-1", "-m", "256"])
        .args(["-serial", &format!("file:{}", s(&console))])
        .args(["-accel", "bt", "-icount", "-no-reboot"])
        .args(["-max-instructions", "20000000000"])
        .output()
        .unwrap();
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    Some((std::fs::read_to_string(&console).unwrap(), stderr))
}

/// The kernel got the command line, ran the workload and powered off (which vx86 reported).
fn assert_booted_to_power_off(text: &str, stderr: &str) {
    assert!(
        stderr.contains("exit: PowerOff"),
        "{stderr}\nconsole:\n{text}"
    );
    assert!(
        text.contains("Command line: console=ttyS0 panic=-1"),
        "console:\n{text}"
    );
    common::assert_workload_ran(&Outcome::PowerOff, text);
}

#[test]
fn seabios_boots_kernel_initrd_and_append_through_the_loader_rom_to_the_workload_and_power_off() {
    let Some(seabios) = common::debian_seabios() else {
        return;
    };
    let scratch = Scratch::new("kernel-seabios");
    let Some((text, stderr)) = boot_kernel(&scratch, Some(seabios)) else {
        return;
    };
    eprintln!("{stderr}");
    for line in ["SeaBIOS (version", "Booting from ROM"] {
        assert!(text.contains(line), "missing '{line}'; console:\n{text}");
    }
    assert_booted_to_power_off(&text, &stderr);
}

#[test]
fn without_bios_the_kernel_still_boots_directly_with_no_firmware_in_the_way() {
    let scratch = Scratch::new("kernel-direct");
    let Some((text, stderr)) = boot_kernel(&scratch, None) else {
        return;
    };
    for firmware in ["SeaBIOS", "vx86 BIOS", "Booting from"] {
        assert!(
            !text.contains(firmware),
            "'{firmware}' ran; console:\n{text}"
        );
    }
    assert_booted_to_power_off(&text, &stderr);
}

#[test]
fn a_multiboot_kernel_with_bios_is_refused_with_a_line_saying_what_to_do() {
    let scratch = Scratch::new("kernel-multiboot-bios");
    let kernel = common::multiboot_image(0x10_0000, common::bochs_shutdown);
    let kernel = scratch.file("kernel.flat", &kernel);
    let bios = scratch.file("bios.bin", &vx86_firmware::bios::image());
    let out = common::vx86()
        .args(["-bios", s(&bios), "-kernel", s(&kernel), "-serial", "none"])
        .output()
        .unwrap();
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("with a BIOS, -kernel must be a Linux bzImage"),
        "{stderr}"
    );
}

/// Where the small BIOS keeps the loader ROM (segment F800).
const ROM_OFFSET: usize = 0x8000;
/// Where its INT 15h handler is: E801h reports 15 MiB above 1 MiB and [`E801_BLOCKS_ABOVE_16M`] 64 KiB blocks.
const INT15_OFFSET: usize = 0x7000;
/// Where its INT 18h (boot failure) handler is: it halts for good.
const INT18_OFFSET: usize = 0x7100;
/// 32 MiB above 16 MiB: the top of memory the firmware reports is 48 MiB, below the 64 MiB of RAM.
const E801_BLOCKS_ABOVE_16M: u32 = 512;
/// Where the made-up setup stores CS, DS, ES, SS and SP (offsets in it, and so in its segment).
const RECORD: u32 = 0x900;

/// Where the made-up setup's code starts, past the header.
const SETUP_CODE: usize = 0x280;

/// A protocol 2.10 bzImage: four setup sectors whose entry (at 0x200, the header's jump to its code) records its
/// segment registers and SP, then powers off; then `kernel_len` bytes of kernel.
fn recording_bzimage(kernel_len: usize) -> Vec<u8> {
    let mut image = Bz {
        version: 0x020A,
        xloadflags: 0,
        relocatable: false,
        cmdline_size: 255,
        initrd_addr_max: 0x37FF_FFFF,
        body_len: kernel_len,
        ..Bz::default()
    }
    .build();
    let mut a = CodeAssembler::new(16).unwrap();
    for (i, seg) in [cs, ds, es, ss].into_iter().enumerate() {
        a.mov(word_ptr(RECORD + 2 * i as u32), seg).unwrap();
    }
    a.mov(word_ptr(RECORD + 8), sp).unwrap();
    common::acpi_power_off(&mut a);
    let code = a.assemble(SETUP_CODE as u64).unwrap();
    image[SETUP_CODE..SETUP_CODE + code.len()].copy_from_slice(&code);
    // The entry is the header's two-byte jump over the rest of the header.
    let mut jump = CodeAssembler::new(16).unwrap();
    jump.jmp(SETUP_CODE as u64).unwrap();
    let jump = jump.assemble(HDR_JUMP as u64).unwrap();
    assert_eq!(jump.len(), 2);
    image[HDR_JUMP..HDR_JUMP + 2].copy_from_slice(&jump);
    image
}

/// A 64 KiB BIOS that installs its INT 15h and INT 18h handlers, sets up a stack and jumps to the loader ROM's boot
/// entry, as SeaBIOS boots it.
fn bios_booting_the_loader_rom() -> Vec<u8> {
    let rom = vx86_firmware::linuxboot::image();
    let pnp = usize::from(u16::from_le_bytes([rom[0x1A], rom[0x1B]]));
    let bev = u16::from_le_bytes([rom[pnp + 0x1A], rom[pnp + 0x1B]]);
    let mut a = CodeAssembler::new(16).unwrap();
    a.xor(ax, ax).unwrap();
    a.mov(ds, ax).unwrap();
    a.mov(ss, ax).unwrap();
    a.mov(sp, 0x7000u32).unwrap();
    for (vector, handler) in [(0x15u32, INT15_OFFSET), (0x18, INT18_OFFSET)] {
        a.mov(word_ptr(vector * 4), handler as u32).unwrap();
        a.mov(word_ptr(vector * 4 + 2), 0xF000u32).unwrap();
    }
    a.mov(ax, 0xF000u32 + (ROM_OFFSET as u32 >> 4)).unwrap();
    a.push(ax).unwrap();
    a.mov(ax, u32::from(bev)).unwrap();
    a.push(ax).unwrap();
    a.retf().unwrap();
    let mut image = common::bios_with_code(&a.assemble(0).unwrap());
    let mut int15 = CodeAssembler::new(16).unwrap();
    int15.mov(ax, 15 * 1024u32).unwrap();
    int15.mov(cx, ax).unwrap();
    int15.mov(bx, E801_BLOCKS_ABOVE_16M).unwrap();
    int15.mov(dx, bx).unwrap();
    int15.clc().unwrap();
    int15.retf_1(2).unwrap();
    let int15 = int15.assemble(INT15_OFFSET as u64).unwrap();
    image[INT15_OFFSET..INT15_OFFSET + int15.len()].copy_from_slice(&int15);
    image[INT18_OFFSET..INT18_OFFSET + 2].copy_from_slice(&[0xFA, 0xF4]); // CLI; HLT
    image[ROM_OFFSET..ROM_OFFSET + rom.len()].copy_from_slice(&rom);
    image
}

#[test]
fn the_loader_rom_puts_the_pieces_in_place_and_enters_the_setup_as_the_boot_protocol_says() {
    let image = recording_bzimage(10_000);
    let initrd: Vec<u8> = (0..5000u32).map(|k| (k * 13) as u8).collect();
    let cmdline = "console=ttyS0 vx86";
    for engine in [EngineKind::Interp, EngineKind::Bt] {
        let config = VmConfig {
            no_reboot: true,
            instruction_limit: Some(10_000_000),
            ..VmConfig::new(64 << 20, bios_booting_the_loader_rom())
        };
        let mut vm = Vm::with_engine(config, engine).unwrap();
        let request = KernelRequest {
            kernel: &image,
            initrd: Some(&initrd),
            cmdline,
            ..KernelRequest::default()
        };
        boot::hand_to_firmware(&mut vm, &request).unwrap();
        let (outcome, _) = vm.run();
        assert_eq!(outcome, Outcome::PowerOff, "{engine}");
        let read = |at: u32, len: usize| {
            let mut bytes = vec![0; len];
            vm.board.memory.read_phys(u64::from(at), &mut bytes);
            bytes
        };
        let word = |at: u32| u16::from_le_bytes(read(at, 2).try_into().unwrap());
        let dword = |at: u32| u32::from_le_bytes(read(at, 4).try_into().unwrap());
        // Entered at setup + 0x200 with the data segments at the setup and SP 16 bytes below the command line.
        let seg = (SETUP_ADDR >> 4) as u16;
        let record: Vec<u16> = (0..5).map(|i| word(SETUP_ADDR + RECORD + 2 * i)).collect();
        assert_eq!(
            record,
            [
                seg + 0x20,
                seg,
                seg,
                seg,
                (CMDLINE_ADDR - SETUP_ADDR - 16) as u16
            ],
            "{engine}: CS, DS, ES, SS, SP"
        );
        assert_eq!(read(KERNEL_ADDR, 10_000), &image[5 * 512..], "{engine}");
        assert_eq!(
            read(CMDLINE_ADDR, cmdline.len() + 1),
            format!("{cmdline}\0").as_bytes(),
            "{engine}"
        );
        // The initrd went, page aligned, right below the 48 MiB the firmware reports, and the header says so.
        let initrd_at = dword(SETUP_ADDR + HDR_RAMDISK_IMAGE as u32);
        assert_eq!(initrd_at, ((48 << 20) - 5000) & !0xFFF, "{engine}");
        assert_eq!(read(initrd_at, initrd.len()), initrd, "{engine}");
        assert_eq!(dword(SETUP_ADDR + HDR_RAMDISK_SIZE as u32), 5000);
        // The rest of the header is the loader's.
        assert_eq!(
            read(SETUP_ADDR + HDR_TYPE_OF_LOADER as u32, 2),
            [LOADER_TYPE_QEMU, LOADED_HIGH | CAN_USE_HEAP],
            "{engine}"
        );
    }
}
