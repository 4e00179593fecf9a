//! The server's notion of "now". Injectable so tests (and later, timers) need not wait:
//! `Clock::manual` starts at a given instant and only moves when told to. A rehearsal
//! (`steward serve --rehearsal`) runs on `Clock::rehearsal`: the wall clock plus an
//! offset an admin advances (`POST /v1/clock/advance`).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use steward_permits::Timestamp;

#[derive(Debug, Clone, Default)]
pub enum Clock {
    #[default]
    System,
    Manual(Arc<AtomicI64>),
    /// The wall clock plus this many milliseconds.
    Rehearsal(Arc<AtomicI64>),
}

impl Clock {
    pub fn manual(start: Timestamp) -> Clock {
        Clock::Manual(Arc::new(AtomicI64::new(start.millis())))
    }

    /// A rehearsal's clock: the wall clock, `offset_ms` ahead.
    pub fn rehearsal(offset_ms: i64) -> Clock {
        Clock::Rehearsal(Arc::new(AtomicI64::new(offset_ms)))
    }

    pub fn now(&self) -> Timestamp {
        match self {
            Clock::System => Timestamp(wall_ms()),
            Clock::Manual(ms) => Timestamp(ms.load(Ordering::SeqCst)),
            Clock::Rehearsal(offset) => {
                Timestamp(wall_ms().saturating_add(offset.load(Ordering::SeqCst)))
            }
        }
    }

    /// Whether this is a rehearsal's clock.
    pub fn is_rehearsal(&self) -> bool {
        matches!(self, Clock::Rehearsal(_))
    }

    /// Moves a manual or rehearsal clock forward by `ms`; a no-op on the system clock.
    pub fn advance_ms(&self, ms: i64) {
        match self {
            Clock::System => {}
            Clock::Manual(at) | Clock::Rehearsal(at) => {
                at.fetch_add(ms, Ordering::SeqCst);
            }
        }
    }

    /// Moves a manual clock forward; a no-op on the system clock.
    pub fn advance_minutes(&self, minutes: i64) {
        self.advance_ms(minutes * 60_000);
    }
}

fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
