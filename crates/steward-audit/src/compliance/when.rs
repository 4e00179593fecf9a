//! Times in a compliance report, each shown three ways: Unix milliseconds (for machines
//! and existing clients), RFC 3339 with the zone's offset at that instant, and a human
//! form naming the zone ("2026-12-06 09:14 UTC", "2026-12-06 10:14 Europe/Paris
//! (UTC+01:00)"). The caller resolves the zone (an IANA name needs the time zone
//! database, which is IO); this module only computes with it.

use jiff::Timestamp;
use jiff::tz::{Offset, TimeZone};
use serde::Serialize;

/// One instant of a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct When {
    pub ms: i64,
    /// RFC 3339 with the report zone's offset, such as `2026-12-06T10:14:00+01:00`.
    pub rfc3339: String,
    /// Minutes and the zone, such as `2026-12-06 09:14 UTC`.
    pub human: String,
}

/// The time zone a report shows its times in (UTC unless the caller chose another).
#[derive(Debug, Clone)]
pub struct ReportZone {
    tz: TimeZone,
    name: String,
}

impl Default for ReportZone {
    fn default() -> ReportZone {
        ReportZone::new(TimeZone::UTC)
    }
}

impl ReportZone {
    /// A zone the caller resolved: an IANA zone (named by its name) or a fixed offset
    /// (named `UTC+02:00`).
    pub fn new(tz: TimeZone) -> ReportZone {
        let name = match tz.iana_name() {
            Some(name) if is_utc(name) => "UTC".to_owned(),
            Some(name) => name.to_owned(),
            None => match tz.to_fixed_offset() {
                Ok(offset) if offset.seconds() == 0 => "UTC".to_owned(),
                Ok(offset) => format!("UTC{}", offset_text(offset)),
                Err(_) => "UTC".to_owned(),
            },
        };
        ReportZone { tz, name }
    }

    /// `UTC`, an IANA name such as `Europe/Paris`, or a fixed offset such as `UTC+02:00`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ms` in this zone. An instant outside the supported range (years -9999 to 9999)
    /// is shown by its milliseconds only.
    pub fn at(&self, ms: i64) -> When {
        let Ok(ts) = Timestamp::from_millisecond(ms) else {
            return When {
                ms,
                rfc3339: ms.to_string(),
                human: format!("{ms} ms"),
            };
        };
        let offset = self.tz.to_offset(ts);
        let dt = offset.to_datetime(ts);
        let clock = format!(
            "{:04}-{:02}-{:02} {:02}:{:02}",
            dt.year(),
            dt.month(),
            dt.day(),
            dt.hour(),
            dt.minute()
        );
        let human = if self.name == "UTC" || self.tz.iana_name().is_none() {
            format!("{clock} {}", self.name)
        } else {
            format!("{clock} {} (UTC{})", self.name, offset_text(offset))
        };
        When {
            ms,
            rfc3339: ts.display_with_offset(offset).to_string(),
            human,
        }
    }
}

fn is_utc(name: &str) -> bool {
    matches!(
        name,
        "UTC" | "Etc/UTC" | "Etc/UCT" | "UCT" | "Zulu" | "Etc/Zulu"
    )
}

/// `+01:00`, `-05:30`.
fn offset_text(offset: Offset) -> String {
    let seconds = offset.seconds();
    let sign = if seconds < 0 { '-' } else { '+' };
    let abs = seconds.unsigned_abs();
    format!("{sign}{:02}:{:02}", abs / 3600, abs % 3600 / 60)
}
