//! `GET /v1/reports/compliance`: a compliance report for one framework and period (SPEC
//! §10), assembled by the pure `steward_audit::ReportBuilder` from the period's audit
//! events, the verification of the stored chain and the latest signed checkpoint.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use steward_audit::{Framework, Period, ReportBuilder, Verification};
use steward_policy::Role;
use steward_store::{EventQuery, Store, StoreError, TypeFilter};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::audit::known_params;
use crate::routes::principals::store_error;
use crate::state::AppState;

const PARAMS: [&str; 4] = ["framework", "from", "to", "format"];
/// Events read per query while assembling a report.
const PAGE: u32 = 1000;
const DAY_MS: i64 = 86_400_000;

/// A compliance report: the framework's controls with the period's event counts, every
/// exception linked to its audit event `seq`s, the verification of the whole stored chain
/// and the latest signed checkpoint. `from` and `to` are dates (`YYYY-MM-DD`, UTC); the
/// period runs from the start of `from` to the end of `to`.
#[utoipa::path(get, path = "/v1/reports/compliance", tag = "audit",
    params(
        ("framework" = String, Query, description = "SOC2, HIPAA, PCI_DSS, GDPR or SOX"),
        ("from" = String, Query, description = "first day of the period, YYYY-MM-DD (UTC)"),
        ("to" = String, Query, description = "last day of the period, YYYY-MM-DD (UTC), inclusive"),
        ("format" = Option<String>, Query, description = "`json` (default) or `markdown`"),
    ),
    responses(
        (status = 200, description = "the report, as JSON or text/markdown", body = Object),
        (status = 400, description = "bad parameter: the problem names it"),
        (status = 401, description = "missing or invalid token"),
        (status = 403, description = "the caller is not an admin, auditor or compliance_officer"),
    ),
    security(("bearer" = [])))]
pub async fn compliance(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require_any(
        &[Role::Admin, Role::Auditor, Role::ComplianceOfficer],
        "reading a compliance report",
    )?;
    let mut framework = None;
    let mut from = None;
    let mut to = None;
    let mut markdown = false;
    for (key, value) in known_params(query, &PARAMS)? {
        match key.as_str() {
            "framework" => {
                framework = Some(value.parse::<Framework>().map_err(|e| {
                    ApiError::bad_request(format!("`framework`: {e}"), "framework")
                })?);
            }
            "from" => from = Some(parse_date("from", &value)?),
            "to" => to = Some(parse_date("to", &value)?),
            _ => {
                markdown = match value.as_str() {
                    "json" => false,
                    "markdown" => true,
                    other => {
                        return Err(ApiError::bad_request(
                            format!("`format` must be `json` or `markdown`, got `{other}`"),
                            "format",
                        ));
                    }
                };
            }
        }
    }
    let missing =
        |field: &str| ApiError::bad_request(format!("`{field}` is required"), field.to_owned());
    let framework = framework.ok_or_else(|| missing("framework"))?;
    let from_ms = from.ok_or_else(|| missing("from"))?;
    let to_ms = to.ok_or_else(|| missing("to"))? + DAY_MS;
    if to_ms <= from_ms {
        return Err(ApiError::bad_request("`to` is before `from`", "to"));
    }
    let period = Period { from_ms, to_ms };
    let report = build(&state.store, framework, period)
        .await
        .map_err(store_error)?;
    if markdown {
        let headers = [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")];
        return Ok((headers, report.to_markdown()).into_response());
    }
    Ok(axum::Json(report).into_response())
}

/// Builds the report of `framework` over `period` from the store (the route's use case;
/// the dashboard's reports page calls it too).
pub async fn build(
    store: &Store,
    framework: Framework,
    period: Period,
) -> Result<steward_audit::ComplianceReport, StoreError> {
    let mut builder = ReportBuilder::new(framework, period);
    // History the report needs from before the period: worker levels and requesters.
    for event_type in [
        TypeFilter::Prefix("worker.".to_owned()),
        TypeFilter::Exact("permit.requested".to_owned()),
    ] {
        let query = EventQuery {
            event_type: Some(event_type),
            to_ts_ms: Some(period.from_ms),
            ..EventQuery::default()
        };
        feed(store, &query, &mut builder).await?;
    }
    let query = EventQuery {
        from_ts_ms: Some(period.from_ms),
        to_ts_ms: Some(period.to_ms),
        ..EventQuery::default()
    };
    feed(store, &query, &mut builder).await?;
    let verification = match store.verify_audit_chain().await {
        Ok(head) => Verification {
            ok: true,
            head_seq: head.seq,
            first_bad_seq: None,
            problem: None,
        },
        Err(error) => match error.audit_damage() {
            Some((seq, _, problem)) => Verification {
                ok: false,
                head_seq: store.audit_head().await?.seq,
                first_bad_seq: Some(seq),
                problem: Some(problem),
            },
            None => return Err(error),
        },
    };
    let checkpoint = store.latest_checkpoint().await?;
    Ok(builder.finish(verification, checkpoint))
}

async fn feed(
    store: &Store,
    query: &EventQuery,
    builder: &mut ReportBuilder,
) -> Result<(), StoreError> {
    let mut from_seq = 1;
    loop {
        let page = store.query_events(query, from_seq, PAGE).await?;
        for entry in &page {
            builder.add(entry);
        }
        match page.last() {
            Some(last) if page.len() == PAGE as usize => from_seq = last.seq + 1,
            _ => return Ok(()),
        }
    }
}

/// `YYYY-MM-DD` as Unix milliseconds at 00:00 UTC.
pub fn parse_date(field: &str, text: &str) -> Result<i64, ApiError> {
    let bad = || {
        ApiError::bad_request(
            format!("`{field}` must be a date YYYY-MM-DD, got `{text}`"),
            field.to_owned(),
        )
    };
    let parts: Vec<&str> = text.split('-').collect();
    let [year, month, day] = parts.as_slice() else {
        return Err(bad());
    };
    if year.len() != 4 || month.len() != 2 || day.len() != 2 {
        return Err(bad());
    }
    let year: i64 = year.parse().map_err(|_| bad())?;
    let month: i64 = month.parse().map_err(|_| bad())?;
    let day: i64 = day.parse().map_err(|_| bad())?;
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(bad()),
    };
    if !(1..=days_in_month).contains(&day) {
        return Err(bad());
    }
    Ok(days_from_civil(year, month, day) * DAY_MS)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_midnights() {
        assert_eq!(parse_date("from", "1970-01-01").ok(), Some(0));
        assert_eq!(
            parse_date("from", "2026-11-22").ok(),
            Some(1_795_305_600_000)
        );
        assert_eq!(
            parse_date("from", "2024-02-29").ok(),
            Some(1_709_164_800_000)
        );
        for bad in [
            "2023-02-29",
            "2026-13-01",
            "2026-1-01",
            "26-01-01",
            "2026-01-01T00",
            "x",
        ] {
            assert!(parse_date("from", bad).is_err(), "{bad}");
        }
    }
}
