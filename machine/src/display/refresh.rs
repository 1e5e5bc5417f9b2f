//! The display refresh: the run loop asks the board to render its screen a few dozen times per host second and
//! publishes what changed.

use super::SharedFrame;
use crate::board::Board;
use crossbeam_channel::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vx86_devices::{Frame, TextScreen};

/// Host time between two renderings of the screen.
pub const REFRESH_PERIOD: Duration = Duration::from_millis(33);

/// Renders the board's screen into a frame and publishes it when it changed (and its text, for a text front end).
pub struct DisplayRefresh {
    shared: Arc<SharedFrame>,
    frame: Frame,
    last: Option<Instant>,
    /// Where the text screen goes when the picture changed (a front end still drawing the last one misses this
    /// one; the next change carries it).
    text: Option<Sender<Option<TextScreen>>>,
}

impl DisplayRefresh {
    /// A refresh publishing into `shared`, and the text screen into `text` if there is one.
    pub fn new(
        shared: Arc<SharedFrame>,
        text: Option<Sender<Option<TextScreen>>>,
    ) -> DisplayRefresh {
        DisplayRefresh {
            shared,
            frame: Frame::default(),
            last: None,
            text,
        }
    }

    /// Renders and publishes if [`REFRESH_PERIOD`] has passed since the last rendering (at once the first time).
    pub fn tick(&mut self, board: &mut Board) {
        if self
            .last
            .is_some_and(|last| last.elapsed() < REFRESH_PERIOD)
        {
            return;
        }
        self.render(board, false);
    }

    /// Renders and publishes at once (when a run ends, so the last screen is what front ends show: a text front
    /// end still drawing the one before is waited for).
    pub fn render_now(&mut self, board: &mut Board) {
        self.render(board, true);
    }

    fn render(&mut self, board: &mut Board, last: bool) {
        self.last = Some(Instant::now());
        let changed = board.render_display(&mut self.frame);
        if changed {
            self.shared.publish(self.frame.clone());
        }
        if let Some(text) = &self.text {
            // The last screen goes to a text front end even when unchanged since the previous rendering: that one
            // may have been dropped while the front end was busy.
            if last {
                let _ = text.send(board.text_screen());
            } else if changed {
                let _ = text.try_send(board.text_screen());
            }
        }
    }
}
