//! Reports and metrics: a compliance report per framework and period as HTML (built by
//! the same use case as `GET /v1/reports/compliance`, `steward_audit::ReportBuilder`, and
//! rendered by the template from the same `ComplianceReport`: its changes with approvers,
//! evidence, window, outcome and audit events, controls, exceptions, counts), in the time
//! zone asked, with the JSON and Markdown downloads of that route; and the figures of `/metrics` as
//! server-rendered SVG bar charts (approval time, outcomes and success rate, hard
//! blocks, rollbacks, over- and under-certification, each by level) with their data as
//! tables.
//!
//! Roles as in the API: the report for admin, auditor and compliance officer; the
//! metrics for admin and auditor.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use steward_audit::{ComplianceReport, Framework, ReportZone};
use steward_policy::Role;
use steward_server::AppState;
use steward_server::routes::reports as api;
use steward_store::{Count, MetricsSnapshot};

use super::{Layout, Names, WebError, now, render, require_any};
use crate::session::Session;
use crate::svg::Chart;
use crate::view;

/// Who reads compliance reports (as `GET /v1/reports/compliance`).
pub const REPORT_READERS: [Role; 3] = [Role::Admin, Role::Auditor, Role::ComplianceOfficer];
/// Who reads the metrics (as `GET /metrics`).
pub const METRICS_READERS: [Role; 2] = [Role::Admin, Role::Auditor];

const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Default, Deserialize)]
pub struct Params {
    #[serde(default)]
    framework: String,
    /// `YYYY-MM-DD`, in `tz`.
    #[serde(default)]
    from: String,
    /// `YYYY-MM-DD`, in `tz`, inclusive.
    #[serde(default)]
    to: String,
    /// The report's time zone (as the API's `tz`); UTC when empty.
    #[serde(default)]
    tz: String,
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    layout: Layout,
    frameworks: Vec<&'static str>,
    framework: String,
    from: String,
    to: String,
    tz: String,
    download: String,
    error: Option<String>,
    report: Option<ComplianceReport>,
    /// The names of the requesters and approvers the report names by id (the principals'
    /// current names: an erased person shows as their id).
    names: BTreeMap<String, String>,
    charts: Vec<ChartView>,
    metrics_allowed: bool,
}

impl ReportsPage {
    /// The name of principal `id`, or the id itself.
    fn name<'a>(&'a self, id: &'a str) -> &'a str {
        self.names.get(id).map_or(id, String::as_str)
    }
}

#[derive(Debug, Clone)]
struct ChartView {
    id: &'static str,
    title: String,
    svg: String,
    empty: bool,
    /// Header row, then one row per category.
    head: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl From<Chart> for ChartView {
    fn from(c: Chart) -> ChartView {
        let mut head = vec![String::new()];
        head.extend(
            c.series
                .iter()
                .map(|(name, _)| format!("{name} ({})", c.unit)),
        );
        let rows = c
            .categories
            .iter()
            .enumerate()
            .map(|(i, cat)| {
                let mut row = vec![cat.clone()];
                row.extend(
                    c.series
                        .iter()
                        .map(|(_, values)| c.format(values.get(i).copied().unwrap_or(0.0))),
                );
                row
            })
            .collect();
        ChartView {
            id: c.id,
            title: c.title.clone(),
            svg: c.svg(),
            empty: c.is_empty(),
            head,
            rows,
        }
    }
}

pub async fn reports(
    State(state): State<AppState>,
    session: Session,
    Query(p): Query<Params>,
) -> Result<Response, WebError> {
    require_any(
        &session.caller,
        &REPORT_READERS,
        "reading a compliance report",
    )?;
    let today = now(&state).div_euclid(DAY_MS) * DAY_MS;
    let day = |ms: i64| view::iso(ms).get(..10).unwrap_or_default().to_owned();
    let framework = if p.framework.is_empty() {
        "SOC2".to_owned()
    } else {
        p.framework.clone()
    };
    let from = if p.from.is_empty() {
        day(today - 29 * DAY_MS)
    } else {
        p.from.clone()
    };
    let to = if p.to.is_empty() {
        day(today)
    } else {
        p.to.clone()
    };
    let tz = if p.tz.trim().is_empty() {
        "UTC".to_owned()
    } else {
        p.tz.trim().to_owned()
    };
    let mut error = None;
    let mut report = None;
    let parsed = framework
        .parse::<Framework>()
        .map_err(|e| format!("`framework`: {e}"))
        .and_then(|f| {
            let zone = api::parse_zone(&tz).map_err(|e| e.to_string())?;
            let from_ms = api::parse_date("from", &from).map_err(|e| e.to_string())?;
            let to_ms = api::parse_date("to", &to).map_err(|e| e.to_string())?;
            let period = api::period_in(from_ms, to_ms, &zone).map_err(|e| e.to_string())?;
            Ok((f, period, ReportZone::new(zone)))
        });
    match parsed {
        Ok((f, period, zone)) => {
            let r = api::build(&state.store, f, period, zone)
                .await
                .map_err(WebError::internal)?;
            report = Some(r);
        }
        Err(e) => error = Some(e),
    }
    let mut names = BTreeMap::new();
    if let Some(r) = &report {
        let mut lookup = Names::default();
        let mut people: Vec<String> = Vec::new();
        for c in &r.changes {
            people.extend(c.requester.clone());
            people.extend(c.approvers.iter().map(|a| a.principal_id.clone()));
        }
        for id in people {
            if let std::collections::btree_map::Entry::Vacant(slot) = names.entry(id) {
                let name = lookup.of(&state, slot.key()).await;
                slot.insert(name);
            }
        }
    }
    let metrics_allowed = session.caller.require_any(&METRICS_READERS, "").is_ok();
    let charts = if metrics_allowed {
        let s = state
            .store
            .metrics_snapshot()
            .await
            .map_err(WebError::internal)?;
        charts(&s).into_iter().map(ChartView::from).collect()
    } else {
        Vec::new()
    };
    let download = serde_urlencoded::to_string([
        ("framework", framework.as_str()),
        ("from", from.as_str()),
        ("to", to.as_str()),
        ("tz", tz.as_str()),
    ])
    .unwrap_or_default();
    let code = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok(render(
        code,
        &ReportsPage {
            layout: Layout::new("Reports and metrics", Some(&session), "reports"),
            frameworks: Framework::ALL.iter().map(|f| f.as_str()).collect(),
            framework,
            from,
            to,
            tz,
            download,
            error,
            report,
            names,
            charts,
            metrics_allowed,
        },
    ))
}

fn level_name(level: Option<i64>) -> String {
    level.map_or_else(|| "no level".to_owned(), |l| format!("Level {l}"))
}

/// Sums `counts` by (level, label).
fn by_level(counts: &[Count], wanted: impl Fn(&Count) -> bool) -> BTreeMap<Option<i64>, i64> {
    let mut out = BTreeMap::new();
    for c in counts.iter().filter(|c| wanted(c)) {
        *out.entry(c.level).or_insert(0) += c.count;
    }
    out
}

/// The charts of the metrics snapshot (the figures `/metrics` exposes).
fn charts(s: &MetricsSnapshot) -> Vec<Chart> {
    let levels: Vec<Option<i64>> = (0..=4).map(Some).collect();
    let names: Vec<String> = levels.iter().map(|l| level_name(*l)).collect();
    let mut out = Vec::new();

    // Approval time: the mean, request → issued, by level.
    let mean = |l: &Option<i64>| {
        s.approval_time
            .iter()
            .find(|h| h.level == *l && h.count > 0)
            .map_or(0.0, |h| h.sum_seconds / h.count as f64 / 60.0)
    };
    out.push(Chart {
        id: "chart-approval-time",
        title: "Approval time by level".to_owned(),
        desc: "The mean time from a permit's request to its issue, in minutes, for each level."
            .to_owned(),
        unit: "minutes",
        categories: names.clone(),
        series: vec![("mean".to_owned(), levels.iter().map(mean).collect())],
    });

    // Outcomes by level, and the success rate.
    let outcome_names: Vec<String> = {
        let mut v: Vec<String> = s.outcomes.iter().map(|c| c.label.clone()).collect();
        v.sort();
        v.dedup();
        v
    };
    out.push(Chart {
        id: "chart-outcomes",
        title: "Outcomes by level".to_owned(),
        desc: "Completed permits by level and outcome.".to_owned(),
        unit: "permits",
        categories: names.clone(),
        series: outcome_names
            .iter()
            .map(|o| {
                let counts = by_level(&s.outcomes, |c| &c.label == o);
                (
                    view::words(o),
                    levels
                        .iter()
                        .map(|l| counts.get(l).copied().unwrap_or(0) as f64)
                        .collect(),
                )
            })
            .collect(),
    });
    let total = by_level(&s.outcomes, |_| true);
    let ok = by_level(&s.outcomes, |c| c.label == "success");
    out.push(Chart {
        id: "chart-success-rate",
        title: "Success rate by level".to_owned(),
        desc: "The share of completed permits whose outcome was success, per level, in percent."
            .to_owned(),
        unit: "%",
        categories: names.clone(),
        series: vec![(
            "success rate".to_owned(),
            levels
                .iter()
                .map(|l| match total.get(l) {
                    Some(&t) if t > 0 => 100.0 * ok.get(l).copied().unwrap_or(0) as f64 / t as f64,
                    _ => 0.0,
                })
                .collect(),
        )],
    });

    // Hard blocks by rule.
    let mut rules: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for c in &s.hard_blocks {
        let e = rules.entry(view::words(&c.label)).or_default();
        if c.event_type == "permit.hard_blocked" {
            e.0 += c.count;
        } else {
            e.1 += c.count;
        }
    }
    out.push(Chart {
        id: "chart-hard-blocks",
        title: "Hard blocks by rule".to_owned(),
        desc:
            "Permit requests and authorize calls refused by a hard block, by the rule that refused."
                .to_owned(),
        unit: "refusals",
        categories: rules.keys().cloned().collect(),
        series: vec![
            (
                "permit requests".to_owned(),
                rules.values().map(|v| v.0 as f64).collect(),
            ),
            (
                "authorize calls".to_owned(),
                rules.values().map(|v| v.1 as f64).collect(),
            ),
        ],
    });

    // Rollbacks by level.
    out.push(Chart {
        id: "chart-rollbacks",
        title: "Rollbacks by level".to_owned(),
        desc: "Rollbacks opened, completed and escalated (missed their SLA), by level.".to_owned(),
        unit: "rollbacks",
        categories: names.clone(),
        series: [
            ("opened", "rollback.opened"),
            ("completed", "rollback.completed"),
            ("escalated", "rollback.escalated"),
        ]
        .iter()
        .map(|(name, t)| {
            let counts = by_level(&s.events, |c| c.event_type == *t);
            (
                (*name).to_owned(),
                levels
                    .iter()
                    .map(|l| counts.get(l).copied().unwrap_or(0) as f64)
                    .collect(),
            )
        })
        .collect(),
    });

    // Over- and under-certification by required level, from close feedback.
    let mut tally: BTreeMap<Option<i64>, [i64; 3]> = BTreeMap::new();
    for c in &s.feedback {
        let (Some(required), Ok(actual)) = (c.level, c.label.parse::<i64>()) else {
            continue;
        };
        let i = match actual.cmp(&required) {
            std::cmp::Ordering::Less => 0,
            std::cmp::Ordering::Equal => 1,
            std::cmp::Ordering::Greater => 2,
        };
        tally.entry(c.level).or_default()[i] += c.count;
    }
    let rate = |l: &Option<i64>, i: usize| match tally.get(l) {
        Some(t) if t.iter().sum::<i64>() > 0 => 100.0 * t[i] as f64 / t.iter().sum::<i64>() as f64,
        _ => 0.0,
    };
    out.push(Chart {
        id: "chart-certification",
        title: "Over- and under-certification by level".to_owned(),
        desc: "Of the permits closed with the risk level actually observed, the share whose \
               actual level was below the required one (over-certified) and above it \
               (under-certified), per required level, in percent."
            .to_owned(),
        unit: "%",
        categories: names,
        series: vec![
            (
                "over-certified".to_owned(),
                levels.iter().map(|l| rate(l, 0)).collect(),
            ),
            (
                "under-certified".to_owned(),
                levels.iter().map(|l| rate(l, 2)).collect(),
            ),
        ],
    });
    out
}

/// The report as the API's download: `format=json` or `format=markdown`.
pub async fn download(
    State(state): State<AppState>,
    session: Session,
    Query(p): Query<DownloadParams>,
) -> Result<Response, WebError> {
    let (format, ext) = match p.format.as_str() {
        "markdown" => ("markdown", "md"),
        _ => ("json", "json"),
    };
    let mut pairs = vec![
        ("framework".to_owned(), p.framework.clone()),
        ("from".to_owned(), p.from.clone()),
        ("to".to_owned(), p.to.clone()),
        ("format".to_owned(), format.to_owned()),
    ];
    if !p.tz.trim().is_empty() {
        pairs.push(("tz".to_owned(), p.tz.clone()));
    }
    let mut response = api::compliance(State(state), session.caller.clone(), Ok(Query(pairs)))
        .await
        .map_err(WebError::api)?;
    let name: String = format!("steward-{}-{}-{}.{ext}", p.framework, p.from, p.to)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

#[derive(Debug, Default, Deserialize)]
pub struct DownloadParams {
    #[serde(default)]
    framework: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    format: String,
    #[serde(default)]
    tz: String,
}
