//! The latest frame, shared between the emulation thread that publishes it and the front-end threads that read it.
//!
//! Publishing swaps a pointer under a mutex that readers also hold only long enough to clone that pointer, so the
//! emulation thread never waits on a slow client; a generation number tells readers whether anything changed, and a
//! condition variable wakes those waiting for a change.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;
use vx86_devices::Frame;

/// A published frame and its generation (1 for the first published frame, 0 before any).
#[derive(Default)]
struct Published {
    generation: u64,
    frame: Arc<Frame>,
}

/// The latest frame of a machine's screen.
#[derive(Default)]
pub struct SharedFrame {
    published: Mutex<Published>,
    changed: Condvar,
}

impl SharedFrame {
    /// An empty (0x0) frame at generation 0, before the machine publishes one.
    pub fn new() -> Arc<SharedFrame> {
        Arc::new(SharedFrame::default())
    }

    fn lock(&self) -> MutexGuard<'_, Published> {
        // A reader that panicked holding the lock left nothing half-written: the pointer swap is atomic.
        self.published.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes `frame` the latest frame and wakes the readers waiting for a change.
    pub fn publish(&self, frame: Frame) {
        let frame = Arc::new(frame);
        let mut p = self.lock();
        p.generation += 1;
        p.frame = frame;
        drop(p);
        self.changed.notify_all();
    }

    /// The latest frame and its generation.
    pub fn latest(&self) -> (u64, Arc<Frame>) {
        let p = self.lock();
        (p.generation, p.frame.clone())
    }

    /// The latest frame once its generation is past `generation`, or after `timeout` whatever it is.
    pub fn wait_newer(&self, generation: u64, timeout: Duration) -> (u64, Arc<Frame>) {
        let p = self.lock();
        let (p, _) = self
            .changed
            .wait_timeout_while(p, timeout, |p| p.generation <= generation)
            .unwrap_or_else(|e| e.into_inner());
        (p.generation, p.frame.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishing_moves_the_generation_and_wakes_a_waiting_reader() {
        let shared = SharedFrame::new();
        assert_eq!(shared.latest().0, 0);
        let reader = {
            let shared = shared.clone();
            std::thread::spawn(move || shared.wait_newer(0, Duration::from_secs(30)))
        };
        shared.publish(Frame::new(4, 2));
        let (generation, frame) = reader.join().unwrap();
        assert_eq!(generation, 1);
        assert_eq!((frame.width, frame.height), (4, 2));
        let (generation, _) = shared.wait_newer(1, Duration::from_millis(1));
        assert_eq!(generation, 1, "a timeout returns the unchanged frame");
    }
}
