//! Time, passed in so that tests can set the day (salts, sessions, retention).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A source of the current time in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    fn now_ms(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0)
    }
}

/// A clock that runs from a set instant at the system clock's pace; tests move it.
#[derive(Debug, Clone)]
pub struct OffsetClock {
    offset_ms: Arc<AtomicU64>,
    negative: bool,
}

impl OffsetClock {
    /// A clock showing `start_ms` now.
    pub fn starting_at(start_ms: u64) -> Self {
        let now = SystemClock.now_ms();
        if start_ms >= now {
            Self { offset_ms: Arc::new(AtomicU64::new(start_ms - now)), negative: false }
        } else {
            Self { offset_ms: Arc::new(AtomicU64::new(now - start_ms)), negative: true }
        }
    }

    /// Moves the clock forward.
    pub fn advance_ms(&self, ms: u64) {
        if self.negative {
            self.offset_ms.fetch_sub(ms, Ordering::SeqCst);
        } else {
            self.offset_ms.fetch_add(ms, Ordering::SeqCst);
        }
    }
}

impl Clock for OffsetClock {
    fn now_ms(&self) -> u64 {
        let now = SystemClock.now_ms();
        let offset = self.offset_ms.load(Ordering::SeqCst);
        if self.negative { now.saturating_sub(offset) } else { now.saturating_add(offset) }
    }
}

/// The UTC day of an instant.
pub fn day_of(ms: u64) -> chrono::NaiveDate {
    chrono::DateTime::from_timestamp_millis(i64::try_from(ms).unwrap_or(0)).unwrap_or_default().date_naive()
}
