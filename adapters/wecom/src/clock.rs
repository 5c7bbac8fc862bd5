//! The adapter's idea of now: callback timestamps, `response_url` and token expiry.

use std::time::SystemTime;

/// Where the adapter reads the time. [`SystemClock`] in production; tests pass their own to
/// check replay windows and expiry without waiting.
pub trait Clock: Send + Sync {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}
