//! Host display front ends: what the guest's screen looks like to the host, and the input the host sends back.
//!
//! The emulation thread renders the board's screen into a [`vx86_devices::Frame`] now and then
//! ([`refresh::DisplayRefresh`]) and publishes it in a [`SharedFrame`]; front ends (the [`vnc`] server) read the
//! latest published frame on their own threads and send keys and pointer motion back as
//! [`vx86_devices::InputEvent`]s through a channel the board's i8042 drains. The [`curses`] display draws text
//! screens in the terminal instead.

pub mod curses;
pub mod refresh;
pub mod shared;
pub mod vnc;

pub use refresh::DisplayRefresh;
pub use shared::SharedFrame;

use crossbeam_channel::{Receiver, Sender};
use std::sync::Arc;
use vx86_devices::{InputEvent, TextScreen};

/// What connects a machine to its display front ends: where it publishes frames and where their input arrives.
pub struct DisplayLink {
    /// The frame the machine publishes and front ends read.
    pub frame: Arc<SharedFrame>,
    /// Keys and pointer motion from the front ends, for the i8042.
    pub input: Receiver<InputEvent>,
    /// Where the text screen goes each time the picture changed, for a front end that draws text (`None` while a
    /// graphics mode shows); no text front end when `None`.
    pub text: Option<Sender<Option<TextScreen>>>,
}
