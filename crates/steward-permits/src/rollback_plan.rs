//! Rollback plans (SPEC §7, reference `upstream-rollback-plans.json`): what a permit
//! request of level ≥ 2 must say about undoing its change, checked per level.
//!
//! [`validate_rollback_plan`] returns every problem at once, each with the JSON path of
//! the field at fault (`evidence.rollback_plan.phases[1].command`), so a requester fixes
//! the plan in one round. An empty list means the plan is acceptable.
//!
//! # The plan
//!
//! The upstream example plans are accepted as written; the full upstream schema's
//! sections are understood where they carry the same facts.
//!
//! - Steps: `steps` or `phases`, a non-empty array. A step is a non-empty string, or an
//!   object with a non-empty `command` or `description` (upstream phases are
//!   `{phase, command, time_estimate_seconds}`); `time_estimate_seconds`, when given, is a
//!   number ≥ 0. Upstream's `rollback_procedure.phases` is read too.
//! - Verification: `verification` or `verification_checks` (a non-empty array), or
//!   upstream's `verification_procedure.automated_checks` / `manual_checks`, or at least
//!   one step named `verify…` or `test…` (how the upstream examples verify).
//! - Estimated duration: `estimated_minutes`, `estimated_duration_minutes` or
//!   `total_time_estimate_minutes` (a number), or `total_time_estimate` (`"3-5 minutes"`,
//!   `"30-60 seconds"`: the upper bound counts); the sum of the steps' estimates counts
//!   too, and the larger of the two must fit the level's rollback SLA (30 / 15 / 10 min).
//! - `certification_level`, when given, is 2 to 4 and not below the permit's level: a
//!   plan written for a lower bar does not cover a higher one.
//! - `automation_level`, when given, is `fully_automated`, `semi_automated` or `manual`;
//!   manual plans only at level 4 (upstream decision: exceptional and justified).
//! - Level ≥ 3: the date the rollback was tested, `evidence.rollback_tested` (a date
//!   `YYYY-MM-DD…` or an object with a `date`), not in the future.
//! - Level 4: the date it was rehearsed, `evidence.rollback_rehearsed`, the same way.
//!
//! A plan's own `rollback_time_sla` is informational: Steward tracks every rollback
//! against its level's SLA.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};
use steward_policy::{Evidence, Level};

use crate::monitor::rollback_sla_minutes;
use crate::time::Timestamp;

/// One thing wrong with a rollback plan: where, and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanProblem {
    /// The JSON path in the permit request, e.g. `evidence.rollback_plan.steps`.
    pub path: String,
    pub message: String,
}

const PLAN: &str = "evidence.rollback_plan";

/// Checks the rollback plan (and its tested / rehearsed dates) that a permit of `level`
/// carries in `evidence`. Below level 2 nothing is required and nothing is checked.
pub fn validate_rollback_plan(
    level: Level,
    evidence: &BTreeMap<Evidence, Value>,
    now: Timestamp,
) -> Vec<PlanProblem> {
    let mut problems = Vec::new();
    if level < Level::STANDARD {
        return problems;
    }
    let mut problem = |path: String, message: String| problems.push(PlanProblem { path, message });
    match evidence.get(&Evidence::RollbackPlan) {
        None | Some(Value::Null) => problem(
            PLAN.to_owned(),
            format!("a level-{level} permit needs a rollback plan"),
        ),
        Some(Value::Object(plan)) => check_plan(level, plan, &mut problem),
        Some(_) => problem(
            PLAN.to_owned(),
            "must be an object with steps, verification checks and an estimated duration".into(),
        ),
    }
    if level >= Level::ADVANCED {
        check_date(
            evidence.get(&Evidence::RollbackTested),
            "evidence.rollback_tested",
            "the date the rollback was tested",
            level,
            now,
            &mut problem,
        );
    }
    if level >= Level::MASTER {
        check_date(
            evidence.get(&Evidence::RollbackRehearsed),
            "evidence.rollback_rehearsed",
            "the date the rollback was rehearsed",
            level,
            now,
            &mut problem,
        );
    }
    problems
}

fn check_plan(level: Level, plan: &Map<String, Value>, problem: &mut impl FnMut(String, String)) {
    let at = |field: &str| format!("{PLAN}.{field}");

    // Steps.
    let (steps_field, steps) = match (plan.get("steps"), plan.get("phases")) {
        (Some(s), _) => ("steps", Some(s)),
        (None, Some(p)) => ("phases", Some(p)),
        (None, None) => match plan.get("rollback_procedure").and_then(|p| p.get("phases")) {
            Some(p) => ("rollback_procedure.phases", Some(p)),
            None => ("steps", None),
        },
    };
    let mut phase_seconds = 0.0_f64;
    let mut verifying_step = false;
    match steps {
        None => problem(
            at("steps"),
            "the plan lists no steps (`steps` or `phases`)".into(),
        ),
        Some(Value::Array(items)) if items.is_empty() => {
            problem(at(steps_field), "must list at least one step".into());
        }
        Some(Value::Array(items)) => {
            for (i, step) in items.iter().enumerate() {
                let here = format!("{PLAN}.{steps_field}[{i}]");
                match step {
                    Value::String(s) if !s.trim().is_empty() => {}
                    Value::Object(o) => {
                        let text = |k: &str| {
                            o.get(k)
                                .and_then(Value::as_str)
                                .is_some_and(|s| !s.trim().is_empty())
                        };
                        if !text("command") && !text("description") {
                            problem(
                                format!("{here}.command"),
                                "a step needs a non-empty `command` or `description`".into(),
                            );
                        }
                        match o.get("time_estimate_seconds") {
                            None => {}
                            Some(v) => match v.as_f64() {
                                Some(s) if s.is_finite() && s >= 0.0 => phase_seconds += s,
                                _ => problem(
                                    format!("{here}.time_estimate_seconds"),
                                    "must be a number of seconds, 0 or more".into(),
                                ),
                            },
                        }
                        let name = o
                            .get("phase")
                            .or_else(|| o.get("name"))
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        if name.starts_with("verify") || name.starts_with("test") {
                            verifying_step = true;
                        }
                    }
                    _ => problem(
                        here,
                        "a step is a non-empty string or an object with a `command`".into(),
                    ),
                }
            }
        }
        Some(_) => problem(at(steps_field), "must be an array of steps".into()),
    }

    // Verification checks.
    let listed = |v: Option<&Value>| v.and_then(Value::as_array).is_some_and(|a| !a.is_empty());
    let procedure = plan.get("verification_procedure");
    let verified = listed(plan.get("verification"))
        || listed(plan.get("verification_checks"))
        || listed(procedure.and_then(|p| p.get("automated_checks")))
        || listed(procedure.and_then(|p| p.get("manual_checks")))
        || verifying_step;
    if !verified {
        problem(
            at("verification"),
            "the plan has no verification checks (`verification`, or a step named `verify…`)"
                .into(),
        );
    }

    // Estimated duration against the level's SLA.
    let sla = rollback_sla_minutes(level);
    let mut stated: Option<(String, f64)> = None;
    let mut unreadable = false;
    for field in [
        "estimated_minutes",
        "estimated_duration_minutes",
        "total_time_estimate_minutes",
    ] {
        if let Some(v) = plan.get(field) {
            match v.as_f64() {
                Some(m) if m.is_finite() && m >= 0.0 => stated = Some((at(field), m)),
                _ => {
                    unreadable = true;
                    problem(at(field), "must be a number of minutes, 0 or more".into());
                }
            }
        }
    }
    if stated.is_none()
        && let Some(v) = plan.get("total_time_estimate")
    {
        match v.as_str().and_then(parse_duration_minutes) {
            Some(m) => stated = Some((at("total_time_estimate"), m)),
            None => {
                unreadable = true;
                problem(
                    at("total_time_estimate"),
                    "must read like `5 minutes`, `3-5 minutes` or `30-60 seconds`".into(),
                );
            }
        }
    }
    let phase_minutes = phase_seconds / 60.0;
    let longest = match &stated {
        Some((path, m)) if *m >= phase_minutes => Some((path.clone(), *m)),
        _ if phase_seconds > 0.0 => Some((at(steps_field), phase_minutes)),
        Some((path, m)) => Some((path.clone(), *m)),
        None => None,
    };
    match longest {
        None if unreadable => {}
        None => problem(
            at("estimated_minutes"),
            "the plan states no estimated duration".into(),
        ),
        Some((path, minutes)) if minutes > f64::from(sla) => problem(
            path,
            format!(
                "the rollback is estimated at {} min, over the level-{level} rollback SLA of {sla} min",
                (minutes * 10.0).round() / 10.0
            ),
        ),
        Some(_) => {}
    }

    // Declared level and automation.
    if let Some(v) = plan.get("certification_level") {
        match v.as_u64() {
            Some(l @ 2..=4) if l < u64::from(level.value()) => problem(
                at("certification_level"),
                format!("the plan is written for level {l}; this permit needs level {level}"),
            ),
            Some(2..=4) => {}
            _ => problem(at("certification_level"), "must be 2, 3 or 4".into()),
        }
    }
    if let Some(v) = plan.get("automation_level") {
        match v.as_str() {
            Some("fully_automated" | "semi_automated") => {}
            Some("manual") if level >= Level::MASTER => {}
            Some("manual") => problem(
                at("automation_level"),
                format!(
                    "a manual rollback is allowed only at level 4; level {level} needs `semi_automated` or `fully_automated`"
                ),
            ),
            _ => problem(
                at("automation_level"),
                "must be `fully_automated`, `semi_automated` or `manual`".into(),
            ),
        }
    }
}

/// A tested / rehearsed date: a string starting `YYYY-MM-DD` (a date or an ISO-8601
/// timestamp) or an object with such a `date`, not after `now`.
fn check_date(
    value: Option<&Value>,
    path: &str,
    what: &str,
    level: Level,
    now: Timestamp,
    problem: &mut impl FnMut(String, String),
) {
    let (path, text) = match value {
        Some(Value::String(s)) => (path.to_owned(), Some(s.as_str())),
        Some(Value::Object(o)) => (
            format!("{path}.date"),
            o.get("date").and_then(Value::as_str),
        ),
        _ => (path.to_owned(), None),
    };
    let Some(text) = text else {
        problem(
            path,
            format!("a level-{level} permit needs {what} (`YYYY-MM-DD`)"),
        );
        return;
    };
    match parse_date(text) {
        None => problem(path, format!("`{text}` is not a date (`YYYY-MM-DD`)")),
        Some(day) if day > now => problem(path, format!("`{text}` is in the future")),
        Some(_) => {}
    }
}

/// The start (UTC midnight) of the date a string begins with, `YYYY-MM-DD`.
pub(crate) fn parse_date(text: &str) -> Option<Timestamp> {
    let bytes = text.as_bytes();
    if bytes.len() < 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    if bytes.len() > 10 && !matches!(bytes[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(r)?;
        s.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| s.parse().ok())
            .flatten()
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in_month = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if !(1..=days_in_month).contains(&d) {
        return None;
    }
    // Days from the civil date (H. Hinnant's algorithm), proleptic Gregorian.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(Timestamp(0).plus_days(days))
}

/// Minutes from `"5 minutes"`, `"3-5 minutes"`, `"30-60 seconds"`, `"2 min"`, `"1 hour"`
/// (the upper bound of a range).
pub(crate) fn parse_duration_minutes(text: &str) -> Option<f64> {
    let text = text.trim().to_ascii_lowercase();
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let upper = number.trim().rsplit(['-', '–']).next()?.trim();
    let value: f64 = upper
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && *v >= 0.0)?;
    let per_minute = match unit.trim() {
        "s" | "sec" | "secs" | "second" | "seconds" => 1.0 / 60.0,
        "m" | "min" | "mins" | "minute" | "minutes" => 1.0,
        "h" | "hour" | "hours" => 60.0,
        _ => return None,
    };
    Some(value * per_minute)
}

#[cfg(test)]
mod tests;
