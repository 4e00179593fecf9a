//! Timestamp arithmetic: fractional hours, whole-day rounding, saturation.

use super::*;

#[test]
fn hours_minutes_and_days() {
    let t = Timestamp(0);
    assert_eq!(t.plus_hours(0.25), Timestamp(15 * MS_PER_MINUTE));
    assert_eq!(t.plus_minutes(-90), Timestamp(-90 * MS_PER_MINUTE));
    assert_eq!(t.plus_days(2), Timestamp(2 * MS_PER_DAY));
    assert_eq!(Timestamp(i64::MAX).plus_days(1), Timestamp(i64::MAX));
    assert_eq!(t.plus_hours(f64::INFINITY), Timestamp(i64::MAX));
}

#[test]
fn days_since_rounds_down_and_days_until_rounds_up() {
    let t = Timestamp(0);
    assert_eq!(t.plus_hours(47.9).days_since(t), 1);
    assert_eq!(t.plus_hours(-1.0).days_since(t), -1);
    assert_eq!(t.days_until(t.plus_hours(0.5)), 1);
    assert_eq!(t.days_until(t.plus_days(3)), 3);
    assert_eq!(t.days_until(t), 0);
    assert_eq!(t.days_until(t.plus_hours(-25.0)), -1);
}
