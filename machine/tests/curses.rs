//! `-display curses` on a real (pseudo-)terminal: vx86 takes the terminal in raw mode on the alternate screen,
//! draws the VGA's text screen there (the demo guest's narration, with its colours), and gives the terminal back
//! as it found it when the guest powers off.

mod common;

use std::fs::File;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::Stdio;

/// A pseudo-terminal: the master end, and the slave end for the child's standard streams.
fn pseudo_terminal() -> (File, OwnedFd) {
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes two new descriptors into the integers it is given; the name, termios and window
    // size arguments may be null.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened by openpty and are owned by nothing else.
    unsafe { (File::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}

#[test]
fn the_demo_guest_is_drawn_on_the_terminal_and_the_terminal_is_given_back() {
    let (mut master, slave) = pseudo_terminal();
    let mut child = common::vx86()
        .args(["-display", "curses", "-quiet"])
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave))
        .spawn()
        .expect("vx86 starts");
    // Read until the child's end of the terminal closes (EIO on Linux once no process holds the slave).
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = master.read(&mut buf) {
        out.extend_from_slice(&buf[..n]);
    }
    let status = child.wait().unwrap();
    let text = String::from_utf8_lossy(&out);
    assert_eq!(status.code(), Some(0), "{text}");
    assert!(
        text.starts_with("\x1b[?1049h"),
        "the alternate screen first: {text:?}"
    );
    assert!(
        text.contains("vx86 BIOS"),
        "the BIOS banner on the VGA text screen: {text:?}"
    );
    // The demo's last words through INT 10h (in protected mode it writes to COM1 only), on the screen as the
    // terminal shows it at the end: later pictures only send the cells that changed, so the words need not come
    // in one piece in the stream.
    let screen = final_screen(&text);
    assert!(
        screen
            .iter()
            .any(|row| row.contains("this is our last line through INT 10h.")),
        "{}",
        screen.join("\n")
    );
    assert!(
        text.contains("\x1b[38;2;170;170;170;48;2;0;0;0m"),
        "light grey on black, the PC's default colours: {text:?}"
    );
    assert!(
        text.ends_with("\x1b[0m\x1b[?25h\x1b[?1049l"),
        "the terminal given back: {:?}",
        &text[text.len().saturating_sub(80)..]
    );
}

/// The 80x25 text a terminal shows after `stream`, which uses only what the painter sends: clears, cursor
/// positioning, colours and modes (ignored), and characters.
fn final_screen(stream: &str) -> Vec<String> {
    let mut screen = vec![vec![' '; 80]; 25];
    let (mut row, mut col) = (0usize, 0usize);
    let mut chars = stream.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            if let Some(cell) = screen.get_mut(row).and_then(|r| r.get_mut(col)) {
                *cell = c;
            }
            col += 1;
            continue;
        }
        // A control sequence: ESC [ parameters final-byte.
        chars.next();
        let mut params = String::new();
        let mut last = ' ';
        for p in chars.by_ref() {
            if p.is_ascii_alphabetic() {
                last = p;
                break;
            }
            params.push(p);
        }
        match last {
            'H' => {
                let mut at = params.split(';').map(|n| n.parse::<usize>().unwrap_or(1));
                row = at.next().unwrap_or(1) - 1;
                col = at.next().unwrap_or(1) - 1;
            }
            'J' => screen = vec![vec![' '; 80]; 25],
            _ => {}
        }
    }
    screen
        .into_iter()
        .map(|r| r.into_iter().collect())
        .collect()
}

#[test]
fn curses_with_the_serial_port_on_stdio_is_refused_in_one_line() {
    let out = common::vx86()
        .args(["-display", "curses", "-serial", "stdio"])
        .output()
        .unwrap();
    let err = common::stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("-display curses takes the terminal"), "{err}");
    let out = common::vx86().args(["-display", "gtk"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(common::stderr_of(&out).contains("unknown -display 'gtk'"));
}
