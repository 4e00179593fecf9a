//! `/v1/clock`: the server's time and, under `steward serve --rehearsal`, advancing it
//! (admins only) so a team can rehearse the SLA, escalation, expiry, grace and review
//! rules that span hours to weeks. Refused in production: there the clock is the wall's.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use steward_policy::{Refusal, Role};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::state::AppState;

/// The longest single advance: a rehearsal moves in steps a person can follow.
const MAX_ADVANCE_MS: i64 = 400 * 24 * 3_600_000;

/// `POST /v1/clock/advance` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdvanceRequest {
    /// How far: `25h`, `90m`, `14d`, `1h 30m` (at most 400 days).
    #[schema(example = "25h")]
    pub by: String,
}

/// The server's time.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClockView {
    /// `production` or `rehearsal`.
    pub run_mode: &'static str,
    pub now_ms: i64,
    /// RFC 3339, UTC.
    pub now: String,
}

fn clock_view(state: &AppState) -> ClockView {
    let now_ms = state.clock.now().millis();
    ClockView {
        run_mode: state.run_mode().as_str(),
        now_ms,
        now: chrono::DateTime::from_timestamp_millis(now_ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default(),
    }
}

/// The server's time and run mode (any authenticated caller).
#[utoipa::path(get, path = "/v1/clock", tag = "meta",
    responses((status = 200, description = "the server's time", body = ClockView)),
    security(("bearer" = [])))]
pub async fn show(State(state): State<AppState>, _caller: Caller) -> Json<ClockView> {
    Json(clock_view(&state))
}

/// Advances a rehearsal's clock (admins only): the timers fire as if that much time had
/// passed, within a second. Audited as `clock.advanced`.
#[utoipa::path(post, path = "/v1/clock/advance", tag = "meta",
    request_body = AdvanceRequest,
    responses(
        (status = 200, description = "the new time", body = ClockView),
        (status = 400, description = "`by` is not a duration (names the field)"),
        (status = 403, description = "not an admin"),
        (status = 409, description = "`not_rehearsal`: the server runs on the wall clock"),
    ),
    security(("bearer" = [])))]
pub async fn advance(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<AdvanceRequest>,
) -> Result<Json<ClockView>, ApiError> {
    caller.require_any(&[Role::Admin], "advancing the clock")?;
    if !state.clock.is_rehearsal() || !state.store.is_rehearsal() {
        return Err(ApiError::refused(
            Refusal::NotRehearsal,
            "the clock advances only under `steward serve --rehearsal`; this server runs on the wall clock",
        ));
    }
    let by_ms = parse_by(&body.by)?;
    let now = state.clock.now().millis();
    state
        .store
        .advance_rehearsal_clock(&caller.by(), by_ms, now)
        .await
        .map_err(ApiError::internal)?;
    state.clock.advance_ms(by_ms);
    Ok(Json(clock_view(&state)))
}

fn parse_by(text: &str) -> Result<i64, ApiError> {
    let bad = |why: String| ApiError::bad_request(format!("`by`: {why}"), "by");
    let duration = humantime::parse_duration(text.trim())
        .map_err(|e| bad(format!("`{text}` is not a duration such as `25h` ({e})")))?;
    let ms = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
    if ms <= 0 || ms > MAX_ADVANCE_MS {
        return Err(bad(format!(
            "advance by more than nothing and at most 400 days, got `{text}`"
        )));
    }
    Ok(ms)
}
