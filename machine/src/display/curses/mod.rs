//! `-display curses`: the VGA's text screen drawn in the terminal vx86 runs in, and the keys typed there sent to
//! the guest's keyboard, as QEMU's curses display does (text modes only; a graphics mode shows as a notice).
//!
//! The machine hands each new picture to [`CursesDisplay::show`]; a painter thread sends the terminal only what
//! changed ([`TerminalPainter`]), and an input thread turns what the terminal sends into scan codes
//! ([`keys::decode`]) for the i8042. Standard input belongs to the display, so COM1 is not on stdio then.

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
    /// To the painter; `None` once closed.
    pictures: Option<Sender<TextScreen>>,
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

    /// Shows `screen` when the painter is free (a picture that finds it busy is dropped: the next one carries
    /// the change).
    pub fn show(&self, screen: TextScreen) {
        if let Some(p) = &self.pictures {
            let _ = p.try_send(screen);
        }
    }
}

impl Drop for CursesDisplay {
    fn drop(&mut self) {
        // Closing the channel ends the painter; the terminal is restored after its last write.
        self.pictures = None;
        if let Some(p) = self.painter.take() {
            let _ = p.join();
        }
    }
}

fn paint_until_closed(pictures: &Receiver<TextScreen>) {
    let mut painter = TerminalPainter::new();
    for screen in pictures {
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
