//! `Timestamp`: a point in time as a plain value (unix milliseconds), so that the rules in
//! this crate never read a clock.

use serde::{Deserialize, Serialize};

const MS_PER_MINUTE: i64 = 60_000;
const MS_PER_HOUR: i64 = 60 * MS_PER_MINUTE;
const MS_PER_DAY: i64 = 24 * MS_PER_HOUR;

/// Milliseconds since the unix epoch (UTC). The shell converts from its clock type at the
/// edge; arithmetic here saturates rather than overflowing.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Unix milliseconds.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// `self` plus a possibly fractional number of hours (SLAs and validity windows are
    /// given in hours, e.g. 0.25 h), rounded to the millisecond.
    pub fn plus_hours(self, hours: f64) -> Timestamp {
        // `as` on a float saturates (and maps NaN to 0), which is what we want here.
        let ms = (hours * MS_PER_HOUR as f64).round() as i64;
        Timestamp(self.0.saturating_add(ms))
    }

    /// `self` plus whole minutes (negative goes back).
    pub fn plus_minutes(self, minutes: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(minutes.saturating_mul(MS_PER_MINUTE)))
    }

    /// `self` plus whole days (negative goes back).
    pub fn plus_days(self, days: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(days.saturating_mul(MS_PER_DAY)))
    }

    /// Whole days elapsed from `earlier` to `self`, rounded down; negative if `earlier` is
    /// in the future.
    pub fn days_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0).div_euclid(MS_PER_DAY)
    }

    /// Whole days from `self` until `later`, rounded up (half a day left is "1 day");
    /// zero or negative once `later` has passed.
    pub fn days_until(self, later: Timestamp) -> i64 {
        let ms = later.0.saturating_sub(self.0);
        ms.saturating_add(MS_PER_DAY - 1).div_euclid(MS_PER_DAY)
    }
}

#[cfg(test)]
mod tests;
