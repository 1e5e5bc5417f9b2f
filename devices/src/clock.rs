//! The one clock that feeds every timer device.
//!
//! Devices never read host time themselves: they hold a [`Clock`] and ask it. The machine picks the mode:
//! [`Clock::host`] follows the host's monotonic time, [`Clock::virtual_time`] only moves when the machine advances
//! it (in proportion to guest instructions), so a run replays identically.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Wall-clock start of a virtual clock made by [`Clock::virtual_time`]: 2024-01-01 00:00:00 UTC, in Unix seconds.
pub const VIRTUAL_EPOCH_UNIX_SECS: u64 = 1_704_067_200;

/// Where a clock's time comes from.
#[derive(Debug)]
enum Source {
    /// Host monotonic time since `start`.
    Host { start: Instant },
    /// Nanoseconds set by the machine; only moves forward.
    Virtual { now_ns: AtomicU64 },
}

#[derive(Debug)]
struct Inner {
    source: Source,
    /// Unix time in nanoseconds at `now_ns() == 0`; what the RTC shows as wall-clock time.
    wall_base_unix_ns: u64,
}

/// A cheap, clonable handle on the machine's clock (all clones see the same time).
#[derive(Debug, Clone)]
pub struct Clock {
    inner: Arc<Inner>,
}

impl Clock {
    /// A clock that follows the host's monotonic time, starting at 0 now; wall-clock time is the host's (UTC).
    pub fn host() -> Self {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Self::with(
            Source::Host {
                start: Instant::now(),
            },
            wall,
        )
    }

    /// A deterministic clock at 0 that only moves when [`Clock::advance_to_ns`] or [`Clock::advance_ns`] is called;
    /// its wall-clock time starts at [`VIRTUAL_EPOCH_UNIX_SECS`].
    pub fn virtual_time() -> Self {
        Self::virtual_time_at(VIRTUAL_EPOCH_UNIX_SECS)
    }

    /// Like [`Clock::virtual_time`], with the wall clock starting at `unix_secs` (seconds since 1970, UTC).
    pub fn virtual_time_at(unix_secs: u64) -> Self {
        Self::with(
            Source::Virtual {
                now_ns: AtomicU64::new(0),
            },
            unix_secs.saturating_mul(1_000_000_000),
        )
    }

    fn with(source: Source, wall_base_unix_ns: u64) -> Self {
        Self {
            inner: Arc::new(Inner {
                source,
                wall_base_unix_ns,
            }),
        }
    }

    /// Whether this is a virtual (deterministic) clock.
    pub fn is_virtual(&self) -> bool {
        matches!(self.inner.source, Source::Virtual { .. })
    }

    /// Nanoseconds since the clock was created (host) or since time 0 (virtual). Never goes backwards.
    pub fn now_ns(&self) -> u64 {
        match &self.inner.source {
            Source::Host { start } => start.elapsed().as_nanos() as u64,
            Source::Virtual { now_ns } => now_ns.load(Ordering::Acquire),
        }
    }

    /// Wall-clock time in nanoseconds since the Unix epoch (UTC), for the RTC.
    pub fn wall_unix_ns(&self) -> u64 {
        self.inner.wall_base_unix_ns.saturating_add(self.now_ns())
    }

    /// Moves a virtual clock forward to `ns` (never backwards). Does nothing on a host clock.
    pub fn advance_to_ns(&self, ns: u64) {
        if let Source::Virtual { now_ns } = &self.inner.source {
            now_ns.fetch_max(ns, Ordering::AcqRel);
        }
    }

    /// Moves a virtual clock forward by `delta_ns`. Does nothing on a host clock.
    pub fn advance_ns(&self, delta_ns: u64) {
        if let Source::Virtual { now_ns } = &self.inner.source {
            // A CAS loop so that concurrent advances never lose time and never wrap.
            let mut cur = now_ns.load(Ordering::Acquire);
            loop {
                let next = cur.saturating_add(delta_ns);
                match now_ns.compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => break,
                    Err(actual) => cur = actual,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_clock_moves_only_when_advanced_and_never_back() {
        let c = Clock::virtual_time();
        let d = c.clone();
        assert!(c.is_virtual());
        assert_eq!(c.now_ns(), 0);
        c.advance_ns(1500);
        assert_eq!(d.now_ns(), 1500);
        d.advance_to_ns(1000);
        assert_eq!(c.now_ns(), 1500);
        d.advance_to_ns(9000);
        assert_eq!(c.now_ns(), 9000);
        assert_eq!(
            c.wall_unix_ns(),
            VIRTUAL_EPOCH_UNIX_SECS * 1_000_000_000 + 9000
        );
        c.advance_ns(u64::MAX);
        assert_eq!(c.now_ns(), u64::MAX);
    }

    #[test]
    fn host_clock_is_monotonic_and_ignores_advance() {
        let c = Clock::host();
        assert!(!c.is_virtual());
        let a = c.now_ns();
        c.advance_ns(1_000_000_000_000);
        let b = c.now_ns();
        assert!(b >= a && b < 1_000_000_000_000);
        assert!(c.wall_unix_ns() > VIRTUAL_EPOCH_UNIX_SECS * 1_000_000_000);
    }
}
