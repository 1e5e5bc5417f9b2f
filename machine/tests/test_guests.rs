//! What test guests (kvm-unit-tests and the like) ask of the loader and the board, under every engine: the
//! multiboot command line starting with the kernel's file name, multiboot kernels that load below 0x30000, the
//! debug console at port 0xE9, Bochs' shutdown port and QEMU's pc-testdev. Under kvm where the host can run it.

mod common;

use iced_x86::code_asm::*;
use vx86_machine::capture::SerialCapture;
use vx86_machine::loader::KernelRequest;
use vx86_machine::{boot, EngineKind, Outcome, Vm, VmConfig};

/// The software engines, and kvm where it is usable.
fn engines() -> Vec<EngineKind> {
    let mut engines = vec![EngineKind::Interp, EngineKind::Bt];
    if common::usable_kvm().is_some() {
        engines.push(EngineKind::Kvm);
    }
    engines
}

/// Boots `image` with `-kernel kernel_name -append cmdline` on `engine`, with a debug console and the pc-testdev;
/// returns how the run ended and what the guest printed on the debug console.
fn run(engine: EngineKind, image: &[u8], kernel_name: &str, cmdline: &str) -> (Outcome, String) {
    let debugcon = SerialCapture::new();
    let counts = engine != EngineKind::Kvm;
    let config = VmConfig {
        debugcon_out: Some(Box::new(debugcon.clone())),
        pc_testdev: true,
        no_reboot: true,
        deterministic: counts,
        instruction_limit: counts.then_some(1_000_000),
        ..VmConfig::new(32 << 20, vx86_firmware::bios::image())
    };
    let mut vm = Vm::with_engine(config, engine).expect("machine builds");
    let request = KernelRequest {
        kernel: image,
        cmdline,
        kernel_name,
        ..KernelRequest::default()
    };
    boot::prepare(&mut vm, &request).expect("the kernel loads");
    let (outcome, _) = vm.run();
    (outcome, debugcon.text())
}

#[test]
fn the_multiboot_command_line_starts_with_the_kernel_name() {
    let image = common::multiboot_image(0x10_0000, common::print_cmdline_and_shut_down);
    for engine in engines() {
        let (outcome, text) = run(engine, &image, "x86/args.flat", "-v two");
        assert_eq!(outcome, Outcome::PowerOff, "{engine}: {text}");
        assert_eq!(text, "x86/args.flat -v two", "{engine}");
        let (_, text) = run(engine, &image, "x86/args.flat", "");
        assert_eq!(text, "x86/args.flat", "{engine}: no arguments, no space");
    }
}

#[test]
fn a_multiboot_kernel_loaded_below_0x30000_boots() {
    // At 0x8000: over the places of the boot stack and the information structure's fixed address.
    let image = common::multiboot_image(0x8000, common::print_cmdline_and_shut_down);
    for engine in engines() {
        let (outcome, text) = run(engine, &image, "low.bin", "a b");
        assert_eq!(outcome, Outcome::PowerOff, "{engine}: {text}");
        assert_eq!(text, "low.bin a b", "{engine}");
    }
}

#[test]
fn the_debug_console_prints_and_only_the_whole_shutdown_string_powers_off() {
    let image = common::multiboot_image(0x10_0000, |a| {
        a.mov(dx, 0x8900u32).unwrap();
        for b in *b"ShutdowX" {
            a.mov(al, u32::from(b)).unwrap();
            a.out(dx, al).unwrap();
        }
        a.mov(dx, 0xE9u32).unwrap();
        a.in_(al, dx).unwrap();
        a.out(dx, al).unwrap(); // the read-back value, 0xE9, printed as a byte
        for b in *b"alive" {
            a.mov(al, u32::from(b)).unwrap();
            a.out(dx, al).unwrap();
        }
        common::bochs_shutdown(a);
    });
    for engine in engines() {
        let (outcome, text) = run(engine, &image, "k", "");
        assert_eq!(outcome, Outcome::PowerOff, "{engine}: {text:?}");
        assert_eq!(
            text, "\u{FFFD}alive",
            "{engine}: read-back 0xE9, then the text"
        );
    }
}

/// Emits: AL = 'Y' if ZF is set, else 'N', printed on the debug console.
fn report_zf(a: &mut CodeAssembler) {
    let mut print = a.create_label();
    a.mov(al, u32::from(b'Y')).unwrap();
    a.je(print).unwrap();
    a.mov(al, u32::from(b'N')).unwrap();
    a.set_label(&mut print).unwrap();
    a.mov(dx, 0xE9u32).unwrap();
    a.out(dx, al).unwrap();
}

#[test]
fn pc_testdev_ports_memory_window_and_irq_lines() {
    let image = common::multiboot_image(0x10_0000, |a| {
        // The data register at 0xE0-0xE3: a dword in, a byte out at 0xE2.
        a.mov(eax, 0x1122_3344u32).unwrap();
        a.out(0xE0, eax).unwrap();
        a.in_(al, 0xE2).unwrap();
        a.cmp(al, 0x22).unwrap();
        report_zf(a);
        // A flush-page write leaves the register alone.
        a.mov(eax, 0x1000u32).unwrap();
        a.out(0xE4, eax).unwrap();
        a.in_(eax, 0xE0).unwrap();
        a.cmp(eax, 0x1122_3344u32).unwrap();
        report_zf(a);
        // The MMIO window keeps what is stored in it, by MOV and by REP STOSB.
        a.mov(dword_ptr(0xFF00_0010u32), 0xCAFE_BABEu32).unwrap();
        a.mov(eax, dword_ptr(0xFF00_0010u32)).unwrap();
        a.cmp(eax, 0xCAFE_BABEu32).unwrap();
        report_zf(a);
        a.mov(edi, 0xFF00_0100u32).unwrap();
        a.mov(ecx, 8u32).unwrap();
        a.mov(al, 0x5Au32).unwrap();
        a.cld().unwrap();
        a.rep().stosb().unwrap();
        a.mov(eax, dword_ptr(0xFF00_0104u32)).unwrap();
        a.cmp(eax, 0x5A5A_5A5Au32).unwrap();
        report_zf(a);
        // Raising line 5 sets IRQ5 in the master 8259's IRR (OCW3 0x0A selects the IRR for reading).
        a.mov(dx, 0x2005u32).unwrap();
        a.mov(al, 1u32).unwrap();
        a.out(dx, al).unwrap();
        a.mov(al, 0x0Au32).unwrap();
        a.out(0x20, al).unwrap();
        a.in_(al, 0x20).unwrap();
        a.and(al, 0x20).unwrap();
        a.cmp(al, 0x20).unwrap();
        report_zf(a);
        common::bochs_shutdown(a);
    });
    for engine in engines() {
        let (outcome, text) = run(engine, &image, "testdev.flat", "");
        assert_eq!(outcome, Outcome::PowerOff, "{engine}: {text}");
        assert_eq!(text, "YYYYY", "{engine}");
    }
}
