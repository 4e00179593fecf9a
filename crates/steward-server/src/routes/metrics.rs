//! `GET /metrics`: the metrics of SPEC §10 in the Prometheus text exposition format
//! (version 0.0.4), read from counters the database keeps (`Store::metrics_snapshot`,
//! which first folds the events appended since the last fold), so every instance on one
//! database reports the same and a scrape does not grow with the trail.
//!
//! Like every API call it is authenticated: a bearer token of a principal holding
//! `admin` or `auditor`. A Prometheus scrape job sets it with
//! `authorization: { type: Bearer, credentials_file: /etc/prometheus/steward.token }`.
//!
//! Levels are label values `0`–`4`, or `none` for an event without one.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use steward_audit::EventType;
use steward_policy::Role;
use steward_store::{Count, Histogram, MetricsSnapshot};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// The exposition format's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The metrics, for a principal holding `admin` or `auditor`.
#[utoipa::path(get, path = "/metrics", tag = "metrics",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4", body = String),
        (status = 401, description = "missing or invalid token"),
        (status = 403, description = "neither admin nor auditor")),
    security(("bearer" = [])))]
pub async fn metrics(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require_any(&[Role::Admin, Role::Auditor], "reading metrics")?;
    let snapshot = state
        .store
        .metrics_snapshot()
        .await
        .map_err(ApiError::internal)?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], render(&snapshot)).into_response())
}

/// Renders a snapshot. Every family has its `# HELP` and `# TYPE` lines, even with no
/// samples yet.
pub fn render(s: &MetricsSnapshot) -> String {
    let mut out = Exposition::default();

    out.family(
        "steward_decisions_total",
        "Decisions by kind (analysis, authorize, permit), decision, required level and worker type.",
        "counter",
    );
    for c in &s.decisions {
        let (kind, decision) = match EventType::of(&c.event_type) {
            Some(EventType::TaskAnalyzed) => ("analysis", "scored"),
            Some(EventType::AuthorizeAllowed) => ("authorize", "allowed"),
            Some(EventType::AuthorizeDenied) => ("authorize", "denied"),
            Some(EventType::PermitApproved) => ("permit", "approved"),
            Some(EventType::PermitRejected) => ("permit", "rejected"),
            Some(EventType::PermitChangesRequested) => ("permit", "changes_requested"),
            _ => continue,
        };
        let level = level(c.level);
        out.sample(
            "steward_decisions_total",
            &[
                ("kind", kind),
                ("decision", decision),
                ("level", &level),
                ("worker_type", &c.label),
            ],
            c.count as f64,
        );
    }

    histogram(
        &mut out,
        "steward_approval_time_seconds",
        "Time from permit request to issue, by permit level.",
        &s.approval_time,
    );

    out.family(
        "steward_permit_outcomes_total",
        "Completed permits by level and outcome (success, rolled_back, rollback_failed, partial).",
        "counter",
    );
    let mut success: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for c in &s.outcomes {
        let level = level(c.level);
        out.sample(
            "steward_permit_outcomes_total",
            &[("level", &level), ("outcome", &c.label)],
            c.count as f64,
        );
        let entry = success.entry(level).or_default();
        entry.1 += c.count;
        if c.label == "success" {
            entry.0 += c.count;
        }
    }
    out.family(
        "steward_permit_success_ratio",
        "Share of completed permits whose outcome was success, by level.",
        "gauge",
    );
    for (level, (ok, total)) in &success {
        out.sample(
            "steward_permit_success_ratio",
            &[("level", level)],
            ratio(*ok, *total),
        );
    }

    out.family(
        "steward_hard_blocks_total",
        "Hard blocks by source (permit_request, authorize), level and rule; none is ever executed.",
        "counter",
    );
    for c in &s.hard_blocks {
        let source = match EventType::of(&c.event_type) {
            Some(EventType::PermitHardBlocked) => "permit_request",
            _ => "authorize",
        };
        let level = level(c.level);
        out.sample(
            "steward_hard_blocks_total",
            &[("source", source), ("level", &level), ("rule", &c.label)],
            c.count as f64,
        );
    }

    out.family(
        "steward_emergency_permits",
        "Emergency permits by level and current state.",
        "gauge",
    );
    for c in &s.emergency_permits {
        let level = level(c.level);
        out.sample(
            "steward_emergency_permits",
            &[("level", &level), ("state", &c.label)],
            c.count as f64,
        );
    }

    let by_type = |kind: EventType| {
        s.events
            .iter()
            .filter(move |c| c.event_type == kind.as_str())
    };
    out.family(
        "steward_sla_breaches_total",
        "Missed SLAs: approvals escalated (kind approval) and rollbacks escalated (kind rollback), by level.",
        "counter",
    );
    for (kind, event_type) in [
        ("approval", EventType::PermitEscalated),
        ("rollback", EventType::RollbackEscalated),
    ] {
        for c in by_type(event_type) {
            let level = level(c.level);
            out.sample(
                "steward_sla_breaches_total",
                &[("kind", kind), ("level", &level)],
                c.count as f64,
            );
        }
    }

    simple(
        &mut out,
        "steward_permits_expired_total",
        "Permits expired (window ended, or no quorum within twice the SLA), by level.",
        by_type(EventType::PermitExpired),
    );
    simple(
        &mut out,
        "steward_telemetry_breaches_total",
        "Telemetry reports that breached a permit's constraints, by level.",
        by_type(EventType::TelemetryBreach),
    );

    out.family(
        "steward_rollbacks_total",
        "Rollbacks opened and completed, by level.",
        "counter",
    );
    for (status, event_type) in [
        ("opened", EventType::RollbackOpened),
        ("completed", EventType::RollbackCompleted),
    ] {
        for c in by_type(event_type) {
            let level = level(c.level);
            out.sample(
                "steward_rollbacks_total",
                &[("status", status), ("level", &level)],
                c.count as f64,
            );
        }
    }
    histogram(
        &mut out,
        "steward_rollback_duration_seconds",
        "Time from a rollback's opening to its completion, by level.",
        &s.rollback_time,
    );

    feedback(&mut out, &s.feedback);
    out.text
}

/// Outcome feedback on close: counts by verdict, and the over/under rates by level.
fn feedback(out: &mut Exposition, counts: &[Count]) {
    out.family(
        "steward_certification_feedback_total",
        "Permits closed with the actual risk level observed, by required level and verdict (over_certified: actual below required; under_certified: above).",
        "counter",
    );
    // level -> (over, matched, under)
    let mut by_level: BTreeMap<String, [i64; 3]> = BTreeMap::new();
    for c in counts {
        let (Some(required), Ok(actual)) = (c.level, c.label.parse::<i64>()) else {
            continue;
        };
        let index = match actual.cmp(&required) {
            std::cmp::Ordering::Less => 0,
            std::cmp::Ordering::Equal => 1,
            std::cmp::Ordering::Greater => 2,
        };
        by_level.entry(level(c.level)).or_default()[index] += c.count;
    }
    for (level, tally) in &by_level {
        for (verdict, count) in ["over_certified", "matched", "under_certified"]
            .iter()
            .zip(tally)
        {
            out.sample(
                "steward_certification_feedback_total",
                &[("level", level), ("verdict", verdict)],
                *count as f64,
            );
        }
    }
    for (name, help, index) in [
        (
            "steward_over_certification_ratio",
            "Share of closes with feedback whose actual level was below the required level, by level.",
            0,
        ),
        (
            "steward_under_certification_ratio",
            "Share of closes with feedback whose actual level was above the required level, by level.",
            2,
        ),
    ] {
        out.family(name, help, "gauge");
        for (level, tally) in &by_level {
            out.sample(
                name,
                &[("level", level)],
                ratio(tally[index], tally.iter().sum()),
            );
        }
    }
}

fn simple<'a>(
    out: &mut Exposition,
    name: &str,
    help: &str,
    counts: impl Iterator<Item = &'a Count>,
) {
    out.family(name, help, "counter");
    for c in counts {
        let level = level(c.level);
        out.sample(name, &[("level", &level)], c.count as f64);
    }
}

fn histogram(out: &mut Exposition, name: &str, help: &str, series: &[Histogram]) {
    out.family(name, help, "histogram");
    let bucket = format!("{name}_bucket");
    for h in series {
        let level = level(h.level);
        for (bound, count) in &h.buckets {
            let le = number(*bound);
            out.sample(&bucket, &[("level", &level), ("le", &le)], *count as f64);
        }
        out.sample(
            &bucket,
            &[("level", &level), ("le", "+Inf")],
            h.count as f64,
        );
        out.sample(&format!("{name}_sum"), &[("level", &level)], h.sum_seconds);
        out.sample(
            &format!("{name}_count"),
            &[("level", &level)],
            h.count as f64,
        );
    }
}

fn level(level: Option<i64>) -> String {
    level.map_or_else(|| "none".to_owned(), |l| l.to_string())
}

fn ratio(part: i64, whole: i64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// A sample value or `le` bound as the format writes it.
fn number(value: f64) -> String {
    if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else if value.is_nan() {
        "NaN".to_owned()
    } else {
        value.to_string()
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A `# HELP` text with `\` and newlines escaped.
fn escape_help(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\n', "\\n")
}

#[derive(Debug, Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, help: &str, kind: &str) {
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (key, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{key}=\"{}\"", escape_label(value));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {}", number(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_and_help_are_escaped() {
        assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label("two\nlines"), "two\\nlines");
        assert_eq!(escape_help("x\\y\nz"), "x\\\\y\\nz");
        let mut out = Exposition::default();
        out.sample("m", &[("rule", "say \"no\"")], 2.0);
        assert_eq!(out.text, "m{rule=\"say \\\"no\\\"\"} 2\n");
    }

    #[test]
    fn a_histogram_has_cumulative_buckets_inf_sum_and_count() {
        let mut out = Exposition::default();
        histogram(
            &mut out,
            "h_seconds",
            "help",
            &[Histogram {
                level: Some(2),
                buckets: vec![(60.0, 1), (300.0, 3)],
                sum_seconds: 450.5,
                count: 4,
            }],
        );
        assert_eq!(
            out.text,
            "# HELP h_seconds help\n# TYPE h_seconds histogram\n\
             h_seconds_bucket{level=\"2\",le=\"60\"} 1\n\
             h_seconds_bucket{level=\"2\",le=\"300\"} 3\n\
             h_seconds_bucket{level=\"2\",le=\"+Inf\"} 4\n\
             h_seconds_sum{level=\"2\"} 450.5\n\
             h_seconds_count{level=\"2\"} 4\n"
        );
    }
}
