//! The display refresh: the run loop asks the board to render its screen a few dozen times per host second and
//! publishes what changed.

use super::SharedFrame;
use crate::board::Board;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vx86_devices::Frame;

/// Host time between two renderings of the screen.
pub const REFRESH_PERIOD: Duration = Duration::from_millis(33);

/// Renders the board's screen into a frame and publishes it when it changed.
pub struct DisplayRefresh {
    shared: Arc<SharedFrame>,
    frame: Frame,
    last: Option<Instant>,
}

impl DisplayRefresh {
    /// A refresh publishing into `shared`.
    pub fn new(shared: Arc<SharedFrame>) -> DisplayRefresh {
        DisplayRefresh {
            shared,
            frame: Frame::default(),
            last: None,
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
        self.render_now(board);
    }

    /// Renders and publishes at once (when a run ends, so the last screen is what front ends show).
    pub fn render_now(&mut self, board: &mut Board) {
        self.last = Some(Instant::now());
        if board.render_display(&mut self.frame) {
            self.shared.publish(self.frame.clone());
        }
    }
}
