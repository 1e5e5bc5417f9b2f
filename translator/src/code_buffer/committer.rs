//! Commits the code cache ahead of the code written, on a thread of its own: populating a shared-memory page (a
//! fault, a zeroed page, two page-table entries) costs more than translating into it, and the machine's other core
//! can do it while this one translates. Only advice, as populating is: a page the thread has not reached yet is
//! committed by its first touch instead.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

/// How far ahead of the code written the thread is asked to commit.
pub const LEAD: usize = 8 << 20;

/// The two views of the cache, as addresses (the mappings outlive the thread: [`Committer`] joins it when
/// dropped).
#[derive(Clone, Copy)]
pub struct Views {
    /// The readable and executable view.
    pub executable: usize,
    /// The readable and writable view.
    pub writable: usize,
}

/// What the thread is asked for.
#[derive(Default)]
struct Request {
    /// Commit the first `to` bytes.
    to: usize,
    /// Stop (the cache is being dropped).
    stop: bool,
}

/// The request and the condition the thread waits on.
#[derive(Default)]
struct Shared {
    request: Mutex<Request>,
    wake: Condvar,
}

/// The committing thread.
pub struct Committer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// The furthest point asked for so far.
    asked: usize,
}

impl Committer {
    /// Starts a thread that commits both views in `step`-byte steps as asked; `None` if no thread could be
    /// started.
    pub fn start(views: Views, step: usize) -> Option<Committer> {
        let shared = Arc::new(Shared::default());
        let theirs = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("vx86-code-commit".into())
            .spawn(move || commit_as_asked(&theirs, views, step))
            .ok()?;
        Some(Committer {
            shared,
            thread: Some(thread),
            asked: 0,
        })
    }

    /// Asks for the first `to` bytes to be committed (no wait).
    pub fn ask(&mut self, to: usize) {
        if to <= self.asked {
            return;
        }
        self.asked = to;
        self.tell(|request| request.to = to);
    }

    /// Changes the request and wakes the thread.
    fn tell(&self, change: impl FnOnce(&mut Request)) {
        change(
            &mut self
                .shared
                .request
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        self.shared.wake.notify_one();
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        self.tell(|request| request.stop = true);
        if let Some(thread) = self.thread.take() {
            // A panic in the thread left nothing to clean up.
            let _ = thread.join();
        }
    }
}

/// The thread: commits what is asked for, a step at a time, until told to stop.
fn commit_as_asked(shared: &Shared, views: Views, step: usize) {
    let mut done = 0;
    loop {
        let to = {
            let mut request = shared
                .request
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            while request.to <= done && !request.stop {
                request = shared
                    .wake
                    .wait(request)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if request.stop {
                return;
            }
            request.to
        };
        while done < to {
            let len = step.min(to - done);
            populate(views, done, len);
            done += len;
        }
    }
}

/// Populates `len` bytes at offset `at` of both views: the writable one for writing, the executable one for
/// reading (its own page-table entries).
pub fn populate(views: Views, at: usize, len: usize) {
    for (view, advice) in [
        (views.writable, libc::MADV_POPULATE_WRITE),
        (views.executable, libc::MADV_POPULATE_READ),
    ] {
        // SAFETY: [at, at + len) lies within both mappings, which outlive this call; populating changes no
        // contents. Failure (a kernel without MADV_POPULATE_*) leaves the pages to their first touch.
        unsafe { libc::madvise((view + at) as *mut libc::c_void, len, advice) };
    }
}
