//! The server's notion of "now". Injectable so tests (and later, timers) need not wait:
//! `Clock::manual` starts at a given instant and only moves when told to.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use steward_permits::Timestamp;

#[derive(Debug, Clone, Default)]
pub enum Clock {
    #[default]
    System,
    Manual(Arc<AtomicI64>),
}

impl Clock {
    pub fn manual(start: Timestamp) -> Clock {
        Clock::Manual(Arc::new(AtomicI64::new(start.millis())))
    }

    pub fn now(&self) -> Timestamp {
        match self {
            Clock::System => Timestamp(
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            ),
            Clock::Manual(ms) => Timestamp(ms.load(Ordering::SeqCst)),
        }
    }

    /// Moves a manual clock forward; a no-op on the system clock.
    pub fn advance_minutes(&self, minutes: i64) {
        if let Clock::Manual(ms) = self {
            ms.fetch_add(minutes * 60_000, Ordering::SeqCst);
        }
    }
}
