//! The VGA seen from outside: guests draw through its registers and memory, and `-screenshot-on-exit` writes what
//! it shows to a PNG that is checked here pixel by pixel (text by matching every cell against the card's font).

mod common;

use common::{bochs_shutdown, multiboot_image, s, stderr_of, vx86, Scratch};
use iced_x86::code_asm::*;
use vx86_devices::vga::font::glyphs_8x16;
use vx86_devices::vga::modes::MODE_13H;
use vx86_devices::{Frame, IdeDevice, MemDisk};
use vx86_machine::screenshot::{capture, read_png};
use vx86_machine::{EngineKind, Outcome, Vm, VmConfig};

/// Runs `vx86 args... -screenshot-on-exit` and returns the screenshot; the guest must end with status 0.
fn screenshot(scratch: &Scratch, args: &[&str]) -> Frame {
    let png = scratch.0.join("screen.png");
    let out = vx86()
        .args(args)
        .args(["-quiet", "-screenshot-on-exit", s(&png)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    read_png(&png).expect("the screenshot is a PNG")
}

/// The text on a 720x400 screenshot of an 80x25 text mode, one string per row: each 9x16 cell is matched against
/// every printable glyph of `glyphs` in some foreground and background colour ('?' where none matches).
fn screen_text(f: &Frame, glyphs: &[[u8; 16]]) -> Vec<String> {
    assert_eq!((f.width, f.height), (720, 400));
    let matches = |col: usize, row: usize, glyph: &[u8; 16]| {
        let mut colors = [None, None];
        (0..16).all(|line| {
            (0..9).all(|x| {
                let on = x < 8 && glyph[line] & (0x80 >> x) != 0;
                let px = f.pixel(col * 9 + x, row * 16 + line);
                *colors[usize::from(on)].get_or_insert(px) == px
            })
        })
    };
    (0..25)
        .map(|row| {
            (0..80)
                .map(|col| {
                    // Space first, so a blank cell is a space rather than some other empty glyph.
                    std::iter::once(b' ')
                        .chain(0x21..0x7F)
                        .find(|&c| matches(col, row, &glyphs[usize::from(c)]))
                        .map_or('?', char::from)
                })
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect()
}

#[test]
fn the_demo_guests_text_screen_shows_the_bios_and_the_boot_sector() {
    let scratch = Scratch::new("demo-screen");
    let frame = screenshot(&scratch, &["-icount", "-no-reboot", "-accel", "interp"]);
    let text = screen_text(&frame, &glyphs_8x16());
    let all = text.join("\n");
    assert!(text[0].starts_with("vx86 BIOS"), "{all}");
    assert!(all.contains("Booting from hard disk 0x80..."), "{all}");
    assert!(
        all.contains("this is our last line through INT 10h"),
        "{all}"
    );
    // Every cell is a glyph of the font but one: the cursor's, where the text stopped (its scan lines 13-14 are
    // solid in the cell's grey).
    let unknown: Vec<(usize, usize)> = (0..25)
        .flat_map(|row| {
            text[row]
                .char_indices()
                .filter(|(_, c)| *c == '?')
                .map(move |(col, _)| (col, row))
        })
        .collect();
    let [(col, row)] = unknown[..] else {
        panic!("cells matching no glyph at {unknown:?}:\n{all}");
    };
    assert_eq!(
        (col, row),
        (0, text.iter().rposition(|l| l.len() > 1).unwrap() + 1),
        "{all}"
    );
    for line in [13, 14] {
        assert!((0..9).all(|x| frame.pixel(col * 9 + x, row * 16 + line) == 0xAA_AAAA));
    }
}

/// Emits `out dx, al` of `value` to `port`.
fn outb(a: &mut CodeAssembler, port: u16, value: u8) {
    a.mov(dx, u32::from(port)).unwrap();
    a.mov(al, u32::from(value)).unwrap();
    a.out(dx, al).unwrap();
}

/// Emits `out dx, ax` of `value` to `port`.
fn outw(a: &mut CodeAssembler, port: u16, value: u16) {
    a.mov(dx, u32::from(port)).unwrap();
    a.mov(ax, u32::from(value)).unwrap();
    a.out(dx, ax).unwrap();
}

/// The colours the mode 13h guest loads into DAC entries 1-4 (6 bits each) and what they look like.
const STRIPES: [([u8; 3], u32); 4] = [
    ([0x3F, 0x00, 0x00], 0xFF_0000),
    ([0x00, 0x3F, 0x00], 0x00_FF00),
    ([0x00, 0x00, 0x3F], 0x00_00FF),
    ([0x20, 0x10, 0x3F], 0x82_41FF),
];

#[test]
fn a_guest_sets_mode_13h_through_the_registers_and_draws_stripes() {
    let scratch = Scratch::new("mode13h");
    let kernel = multiboot_image(0x10_0000, |a| {
        let m = &MODE_13H;
        outb(a, 0x3C2, m.misc);
        for (i, &v) in m.sequencer.iter().enumerate() {
            outw(a, 0x3C4, u16::from(v) << 8 | i as u16);
        }
        outw(a, 0x3D4, 0x0E11); // unprotect CRTC 0-7
        for (i, &v) in m.crtc.iter().enumerate() {
            outw(a, 0x3D4, u16::from(v) << 8 | i as u16);
        }
        for (i, &v) in m.graphics.iter().enumerate() {
            outw(a, 0x3CE, u16::from(v) << 8 | i as u16);
        }
        a.mov(dx, 0x3DAu32).unwrap();
        a.in_(al, dx).unwrap(); // reset the attribute flip-flop
        for (i, &v) in m.attribute.iter().enumerate() {
            outb(a, 0x3C0, i as u8);
            outb(a, 0x3C0, v);
        }
        outb(a, 0x3C0, 0x20);
        outb(a, 0x3C8, 1);
        for (rgb, _) in STRIPES {
            for c in rgb {
                outb(a, 0x3C9, c);
            }
        }
        // 200 rows of four 80-pixel stripes in colours 1-4, then one pixel of colour 0x3F (the EGA palette's white,
        // from power-on) at (319, 199).
        let mut row = a.create_label();
        a.cld().unwrap();
        a.mov(edi, 0xA_0000u32).unwrap();
        a.mov(ebx, 200u32).unwrap();
        a.set_label(&mut row).unwrap();
        for color in 1..=4u32 {
            a.mov(al, color).unwrap();
            a.mov(ecx, 80u32).unwrap();
            a.rep().stosb().unwrap();
        }
        a.dec(ebx).unwrap();
        a.jnz(row).unwrap();
        a.mov(byte_ptr(0xA_0000 + 320 * 200 - 1), 0x3F).unwrap();
        bochs_shutdown(a);
    });
    let kernel = scratch.file("mode13h.bin", &kernel);
    for accel in ["interp", "bt"] {
        let f = screenshot(&scratch, &["-kernel", s(&kernel), "-accel", accel]);
        assert_eq!((f.width, f.height), (320, 200), "{accel}");
        for y in [0, 99, 199] {
            for x in 0..320 {
                let want = if (x, y) == (319, 199) {
                    0xFF_FFFF
                } else {
                    STRIPES[x / 80].1
                };
                assert_eq!(f.pixel(x, y), want, "{accel}: pixel ({x}, {y})");
            }
        }
    }
}

#[test]
fn a_guest_draws_a_vbe_1024x768x32_mode_in_the_linear_framebuffer() {
    const LFB: u32 = 0xE000_0000;
    let bands = [0x00FF_0000u32, 0x0000_FF00, 0x0000_00FF, 0x00FF_FFFF];
    let scratch = Scratch::new("vbe");
    let kernel = multiboot_image(0x10_0000, |a| {
        // BAR 0 of the VGA (bus 0, device 2) at LFB, memory decoding on.
        let config = |a: &mut CodeAssembler, reg: u32| {
            a.mov(dx, 0xCF8u32).unwrap();
            a.mov(eax, 0x8000_0000u32 | 2 << 11 | reg).unwrap();
            a.out(dx, eax).unwrap();
            a.mov(dx, 0xCFCu32).unwrap();
        };
        config(a, 0x10);
        a.mov(eax, LFB).unwrap();
        a.out(dx, eax).unwrap();
        config(a, 0x04);
        a.mov(ax, 0x0002u32).unwrap();
        a.out(dx, ax).unwrap();
        for (index, value) in [(1, 1024), (2, 768), (3, 32), (4, 0x41)] {
            outw(a, 0x1CE, index);
            outw(a, 0x1CF, value);
        }
        // Four bands of 192 lines, then one pixel of its own at the bottom right.
        a.cld().unwrap();
        a.mov(edi, LFB).unwrap();
        for color in bands {
            a.mov(eax, color).unwrap();
            a.mov(ecx, 1024 * 192u32).unwrap();
            a.rep().stosd().unwrap();
        }
        a.mov(dword_ptr(LFB + 4 * (1024 * 768 - 1)), 0x0012_3456u32)
            .unwrap();
        bochs_shutdown(a);
    });
    let kernel = scratch.file("vbe.bin", &kernel);
    let f = screenshot(&scratch, &["-kernel", s(&kernel), "-accel", "bt"]);
    assert_eq!((f.width, f.height), (1024, 768));
    for y in (0..768).step_by(7) {
        for x in [0, 1, 511, 1022] {
            assert_eq!(f.pixel(x, y), bands[y / 192], "pixel ({x}, {y})");
        }
    }
    assert_eq!(f.pixel(1023, 767), 0x12_3456);
}

#[test]
fn a_screenshot_that_cannot_be_written_is_a_clear_error() {
    let scratch = Scratch::new("bad-png");
    let out = vx86()
        .args(["-icount", "-no-reboot", "-quiet", "-screenshot-on-exit"])
        .arg(scratch.0.join("no/such/dir/screen.png"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("screenshot: cannot open"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn seabios_with_the_vga_bios_prints_its_banner_and_the_boot_on_the_text_screen() {
    let (Some(seabios), Some(vgabios)) = (common::debian_seabios(), common::debian_vgabios())
    else {
        return;
    };
    // SeaBIOS with the VGA's video BIOS boots the demo disk, which powers off after its real-mode part printed
    // through INT 10h.
    let demo = IdeDevice::Disk(Box::new(MemDisk::new(vx86_firmware::demo::disk_image())));
    let config = VmConfig {
        ide: [Some(demo), None, None, None],
        deterministic: true,
        no_reboot: true,
        instruction_limit: Some(200_000_000),
        vga_rom: Some(vgabios),
        ..VmConfig::new(128 << 20, seabios)
    };
    let mut vm = Vm::with_engine(config, EngineKind::Bt).unwrap();
    let (outcome, _) = vm.run();
    assert_eq!(outcome, Outcome::PowerOff);
    let frame = capture(&mut vm.board.devices);
    // The video BIOS loads its own font into plane 2: read the screen with that font.
    let vga = vm.board.devices.vga();
    let font: Vec<[u8; 16]> = (0..256)
        .map(|c| std::array::from_fn(|line| vga.peek_plane(2, c * 32 + line)))
        .collect();
    // SeaBIOS copied the video BIOS to C0000 and ran it: without one, nothing would draw on the text screen.
    let mut signature = [0u8; 2];
    vm.board.memory.read_phys(0xC_0000, &mut signature);
    assert_eq!(signature, [0x55, 0xAA], "an option ROM at C000:0");
    let all = screen_text(&frame, &font).join("\n");
    assert!(
        all.starts_with("SeaBIOS (version"),
        "SeaBIOS's banner:\n{all}"
    );
    assert!(all.contains("Booting from Hard Disk..."), "{all}");
    assert!(
        all.contains("this is our last line through INT 10h"),
        "{all}"
    );
}
