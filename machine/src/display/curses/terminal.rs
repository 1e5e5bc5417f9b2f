//! The controlling terminal in raw mode on the alternate screen, given back as it was when the display ends.

use std::io::{self, Write};

/// The terminal on standard input/output in raw mode (no echo, no line editing, no signals from keys, so Ctrl-C
/// reaches the guest) showing the alternate screen; dropping it restores both.
pub struct RawTerminal {
    saved: libc::termios,
}

impl RawTerminal {
    /// Puts the terminal in raw mode and switches to the alternate screen; fails when standard input is not a
    /// terminal.
    pub fn enter() -> io::Result<RawTerminal> {
        // SAFETY: isatty and tcgetattr only read the state of file descriptor 0; `saved` is a plain C struct
        // that tcgetattr fills.
        let saved = unsafe {
            if libc::isatty(libc::STDIN_FILENO) != 1 {
                return Err(io::Error::other(
                    "-display curses needs a terminal on standard input",
                ));
            }
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &mut t) != 0 {
                return Err(io::Error::last_os_error());
            }
            t
        };
        let mut raw = saved;
        // SAFETY: cfmakeraw edits the struct it is given; tcsetattr applies a termios derived from the current one.
        unsafe {
            libc::cfmakeraw(&mut raw);
            if libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &raw) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        let mut out = io::stdout().lock();
        out.write_all(b"\x1b[?1049h")?;
        out.flush()?;
        Ok(RawTerminal { saved })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let mut out = io::stdout().lock();
        let _ = out.write_all(b"\x1b[0m\x1b[?25h\x1b[?1049l");
        let _ = out.flush();
        // SAFETY: restores the termios read in `enter` on the same descriptor.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.saved) };
    }
}
