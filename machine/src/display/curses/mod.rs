//! `-display curses`: the VGA's text screen drawn in the terminal vx86 runs in, and the keys typed there sent to
//! the guest's keyboard, as QEMU's curses display does (text modes only; a graphics mode shows as a notice).
//!
//! The run loop's refresh sends each new text screen down the channel [`CursesDisplay::screens`] gives (see
//! [`super::DisplayLink::text`]); a painter thread sends the terminal only what changed ([`TerminalPainter`]), and
//! an input thread turns what the terminal sends into scan codes ([`keys::decode`]) for the i8042. Standard input
//! belongs to the display, so COM1 is not on stdio then.

mod cp437;
pub mod keys;
mod painter;
mod terminal;

pub use painter::TerminalPainter;

use crossbeam_channel::{Receiver, Sender};
use std::io::{self, Read, Write};
use terminal::RawTerminal;
use vx86_devices::{InputEvent, TextScreen};

/// The running curses display: the terminal in raw mode and its painter and input threads.
pub struct CursesDisplay {
    /// To the painter (`None` in a graphics mode); `None` once closed.
    pictures: Option<Sender<Option<TextScreen>>>,
    painter: Option<std::thread::JoinHandle<()>>,
    // Restores the terminal on drop, after the painter has finished.
    _terminal: RawTerminal,
}

impl CursesDisplay {
    /// Takes over the terminal and starts the threads; key events go to `keys`.
    pub fn start(keys: Sender<InputEvent>) -> io::Result<CursesDisplay> {
        let terminal = RawTerminal::enter()?;
        let (pictures, incoming) = crossbeam_channel::bounded(1);
        let painter = std::thread::Builder::new()
            .name("curses-painter".into())
            .spawn(move || paint_until_closed(&incoming))?;
        std::thread::Builder::new()
            .name("curses-keys".into())
            .spawn(move || read_keys(&keys))?;
        Ok(CursesDisplay {
            pictures: Some(pictures),
            painter: Some(painter),
            _terminal: terminal,
        })
    }

    /// Where the machine sends each new text screen (`None` while a graphics mode shows); one that finds the
    /// painter busy is dropped, and the next change carries it.
    pub fn screens(&self) -> Option<Sender<Option<TextScreen>>> {
        self.pictures.clone()
    }
}

impl Drop for CursesDisplay {
    /// Waits for the painter to finish (once every sender of [`CursesDisplay::screens`] is gone: drop the machine
    /// first), then gives the terminal back.
    fn drop(&mut self) {
        // Closing the channel ends the painter; the terminal is restored after its last write.
        self.pictures = None;
        if let Some(p) = self.painter.take() {
            let _ = p.join();
        }
    }
}

fn paint_until_closed(pictures: &Receiver<Option<TextScreen>>) {
    let mut painter = TerminalPainter::new();
    for screen in pictures {
        let screen = screen.unwrap_or_else(graphics_notice);
        let text = painter.paint(&screen);
        let mut out = io::stdout().lock();
        if out
            .write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .is_err()
        {
            return;
        }
    }
}

/// What the terminal shows while the guest is in a graphics mode, which text cannot draw (QEMU's curses display
/// shows a notice too).
fn graphics_notice() -> TextScreen {
    let mut screen = TextScreen::blank(80, 25);
    let notice = b"The guest shows a graphics mode: see it with -vnc or -screenshot-on-exit.";
    for (cell, &ch) in screen.cells.iter_mut().zip(notice) {
        cell.ch = ch;
    }
    screen
}

/// Reads the terminal until it closes (the thread ends with the process).
fn read_keys(events: &Sender<InputEvent>) {
    let mut buf = [0u8; 64];
    let mut stdin = io::stdin().lock();
    while let Ok(n @ 1..) = stdin.read(&mut buf) {
        for event in keys::decode(&buf[..n]) {
            if events.send(event).is_err() {
                return;
            }
        }
    }
}
