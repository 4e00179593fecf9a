//! How the dashboard shows times and durations: dates with their time zone (UTC), and
//! durations in words. Never Unix milliseconds.

use chrono::{DateTime, Utc};

/// `Sun 6 Dec 2026, 04:30 UTC`.
pub fn date(ms: i64) -> String {
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(t) => t.format("%a %-d %b %Y, %H:%M UTC").to_string(),
        None => "unknown time".to_owned(),
    }
}

/// `2026-12-06T04:30:00Z`, for `<time datetime>`.
pub fn iso(ms: i64) -> String {
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        None => String::new(),
    }
}

/// A duration in words, largest two units: `2 hours 5 minutes`, `40 seconds`.
pub fn duration(ms: i64) -> String {
    let secs = ms.unsigned_abs() / 1000;
    let units = [
        (86_400, "day"),
        (3_600, "hour"),
        (60, "minute"),
        (1, "second"),
    ];
    let mut parts = Vec::new();
    let mut rest = secs;
    for (size, name) in units {
        let n = rest / size;
        if n > 0 || (parts.is_empty() && size == 1) {
            parts.push(format!("{n} {name}{}", if n == 1 { "" } else { "s" }));
            rest -= n * size;
        }
        if parts.len() == 2 {
            break;
        }
        if !parts.is_empty() && size == 1 {
            break;
        }
    }
    parts.join(" ")
}

/// Relative to now: `in 3 minutes`, `4 hours ago`.
pub fn relative(ms: i64, now_ms: i64) -> String {
    let d = ms - now_ms;
    if d >= 0 {
        format!("in {}", duration(d))
    } else {
        format!("{} ago", duration(d))
    }
}

/// A snake_case name for people: `under_review` → `under review`.
pub fn words(name: &str) -> String {
    name.replace('_', " ")
}

/// Text made safe to place in HTML (element content or a quoted attribute).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_words() {
        assert_eq!(duration(0), "0 seconds");
        assert_eq!(duration(40_000), "40 seconds");
        assert_eq!(duration(61_000), "1 minute 1 second");
        assert_eq!(
            duration(2 * 3_600_000 + 5 * 60_000 + 7_000),
            "2 hours 5 minutes"
        );
        assert_eq!(duration(3 * 86_400_000), "3 days");
        assert_eq!(relative(1_000 + 180_000, 1_000), "in 3 minutes");
        assert_eq!(relative(0, 4 * 3_600_000), "4 hours ago");
        assert_eq!(date(1_800_000_000_000), "Fri 15 Jan 2027, 08:00 UTC");
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
