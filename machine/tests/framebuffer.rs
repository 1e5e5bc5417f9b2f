//! Linux's framebuffer console on the std-vga: Debian 12's kernel, with the display archive of
//! `guests/debian-linux.sh` appended to its initramfs, loads the `bochs` DRM driver, which sets the card to a
//! 1024x768x32 Bochs VBE mode and gives fbcon its framebuffer; the guest clears the console, writes known lines and
//! powers off, and the PNG vx86 writes with `-screenshot-on-exit` shows them in the console's 8x16 cells and
//! nothing else. Skipped (with a message) when the guest has not been built, and failed under `CI=true`;
//! `.ci/run` builds it.

mod common;

use common::{s, stderr_of, vx86, Scratch};
use std::time::Instant;
use vx86_devices::Frame;
use vx86_machine::screenshot::read_png;

/// The console's cell size: Linux's 8x16 VGA font, the one fbcon picks at 1024x768.
const CELL: (usize, usize) = (8, 16);

/// The pixels of the console cell at `col`, `row`.
fn cell(f: &Frame, col: usize, row: usize) -> Vec<u32> {
    let (w, h) = CELL;
    (0..h)
        .flat_map(|y| (0..w).map(move |x| f.pixel(col * w + x, row * h + y)))
        .collect()
}

/// Row `row` of the console shows `line` (and nothing after it), without knowing the font: a cell is empty exactly
/// where the line has a space, two cells are alike exactly where the line has the same character, and the text
/// is in one colour on `background`.
fn assert_row_shows(f: &Frame, row: usize, line: &str, background: u32) {
    let chars: Vec<char> = line.chars().collect();
    let cells: Vec<Vec<u32>> = (0..f.width / CELL.0).map(|col| cell(f, col, row)).collect();
    let mut colours: Vec<u32> = cells.iter().flatten().copied().collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(
        colours.len() == 2 && colours.contains(&background),
        "row {row} ('{line}') is not one colour on the background: {colours:06x?}"
    );
    for (col, pixels) in cells.iter().enumerate() {
        let c = chars.get(col).copied().unwrap_or(' ');
        let empty = pixels.iter().all(|&p| p == background);
        assert_eq!(
            empty,
            c == ' ',
            "row {row} ('{line}'), column {col} ('{c}')"
        );
    }
    for (i, a) in chars.iter().enumerate() {
        for (j, b) in chars.iter().enumerate().skip(i + 1) {
            assert_eq!(
                cells[i] == cells[j],
                a == b,
                "row {row} ('{line}'): the cells of '{a}' (column {i}) and '{b}' (column {j})"
            );
        }
    }
}

#[test]
fn linux_with_bochs_drm_shows_its_framebuffer_console_at_1024x768() {
    let Some((kernel, initrd)) = common::debian_guest_with("fb-modules.cpio.gz") else {
        return;
    };
    let scratch = Scratch::new("fbcon");
    let kernel = scratch.file("vmlinuz", &kernel);
    let initrd = scratch.file("initrd.cpio.gz", &initrd);
    let png = scratch.0.join("fbcon.png");
    let started = Instant::now();
    // The serial console last, so /dev/console (the guest's messages) is the serial port, while the kernel's log
    // also goes to the screen until the guest quiets it.
    let out = vx86()
        .args(["-kernel", s(&kernel), "-initrd", s(&initrd)])
        .args(["-append", "console=tty0 console=ttyS0 panic=-1 vx86.fb"])
        .args([
            "-m",
            "256",
            "-accel",
            "bt",
            "-icount",
            "-no-reboot",
            "-nographic",
        ])
        .args(["-max-instructions", "20000000000"])
        .args(["-screenshot-on-exit", s(&png)])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!(
        "boot to the framebuffer console and power-off: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\nconsole:\n{text}",
        stderr_of(&out)
    );

    // The driver found the card and made fb0 in the mode the screen has.
    for line in [
        "[drm] Found bochs VGA",
        "VX86-FB-NAME bochs-drmdrmfb",
        "VX86-FB-MODE 1024,768 32",
        "VX86-FB-SHOWN",
    ] {
        assert!(text.contains(line), "missing '{line}'; console:\n{text}");
    }
    for bad in ["VX86-FB-ERROR", "Oops", "WARNING:", "BUG", "Kernel panic"] {
        assert!(!text.contains(bad), "'{bad}' in:\n{text}");
    }

    let frame = read_png(&png).expect("the screenshot is a PNG");
    assert_eq!((frame.width, frame.height), (1024, 768));
    // The lines the guest wrote, in the first rows; the background is that of the cleared screen's last cell.
    let background = frame.pixel(frame.width - 1, frame.height - 1);
    let lines: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("VX86-FB-TEXT "))
        .collect();
    assert_eq!(lines.len(), 2, "console:\n{text}");
    assert_eq!(lines[0], "VX86 FRAMEBUFFER CONSOLE");
    for (row, line) in lines.iter().enumerate() {
        assert_row_shows(&frame, row, line, background);
    }
    // The rest of the screen is cleared to the background of the text.
    let lit = (2 * CELL.1..frame.height)
        .flat_map(|y| (0..frame.width).map(move |x| (x, y)))
        .filter(|&(x, y)| frame.pixel(x, y) != background)
        .count();
    assert_eq!(
        lit, 0,
        "pixels below the two lines of text that are not the background"
    );
}
