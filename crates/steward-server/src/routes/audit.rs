//! `/v1/audit`: reading the audit trail in `seq` order and verifying its hash chain
//! (admin, auditor). Reading changes nothing, so it records no event. Signed checkpoints
//! and the signing key are in `checkpoints`, Merkle proofs in `proofs`, the JSON Lines
//! export in `export`, verification against a checkpoint kept elsewhere in `witness`.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Serialize;
use steward_policy::{Level, Role};
use steward_store::{AuditEntry, EventQuery, TypeFilter};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::principals::store_error;
use crate::state::AppState;

pub mod checkpoints;
pub mod export;
pub mod proofs;
pub mod retention;
pub mod tail;
pub mod witness;

/// Events per page when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 100;
/// The most events one page holds.
pub const MAX_LIMIT: u32 = 1000;

/// One page of the trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    /// Entries in `seq` order, in the JSON Lines export form (SPEC §9): `seq`, `ts_ms`,
    /// `type`, `actor`, `subject`, `level`, `data`, `prev_hash`, `hash`.
    #[schema(value_type = Vec<AuditEntrySchema>)]
    pub items: Vec<AuditEntry>,
    /// Where the next page starts: pass it as `from_seq`. A page shorter than `limit`
    /// ends the trail for now; polling from here later returns what was appended since.
    pub next_from_seq: u64,
    /// The personal values of the items that carry any (their `data.personal` is stored
    /// encrypted), by `seq`: `{"subject": ID, "values": {…}}`, or `{"subject": ID,
    /// "erased": true}` once the subject was erased. The items stay as stored, so they
    /// still hash to their `hash`.
    #[schema(value_type = Object)]
    pub personal: std::collections::BTreeMap<u64, serde_json::Value>,
}

/// One audit event in the export form (SPEC §9). The server returns the entry exactly as
/// `steward_audit` encodes it for hashing (its `data` keys sorted), so this type only
/// documents it; a test checks real entries against it.
#[derive(Debug, ToSchema)]
#[schema(as = AuditEntry)]
#[expect(
    dead_code,
    reason = "documentation of steward_audit's export form, never built"
)]
pub struct AuditEntrySchema {
    /// Position in the trail: 1 for the first entry, then gap-free.
    seq: u64,
    /// Unix time in milliseconds, as stamped by the writer.
    ts_ms: i64,
    /// The dotted event type, such as `permit.approved`.
    #[schema(rename = "type")]
    event_type: String,
    actor: AuditActorSchema,
    subject: AuditSubjectSchema,
    /// The certification level the event concerns, when it concerns one.
    level: Option<u8>,
    /// The type's payload; personal values sit encrypted under `personal`.
    #[schema(value_type = Object)]
    data: (),
    /// The `hash` of the entry before (hex; zeros for the first).
    prev_hash: String,
    /// SHA-256 over `prev_hash` and the entry's canonical body (hex).
    hash: String,
}

/// Who acted.
#[derive(Debug, ToSchema)]
#[schema(as = AuditActor)]
#[expect(
    dead_code,
    reason = "documentation of steward_audit's export form, never built"
)]
struct AuditActorSchema {
    /// `human`, `agent` or `system`.
    kind: String,
    id: String,
    /// The roles the actor held when acting.
    roles: Vec<String>,
}

/// The ids an event is about.
#[derive(Debug, ToSchema)]
#[schema(as = AuditSubject)]
#[expect(
    dead_code,
    reason = "documentation of steward_audit's export form, never built"
)]
struct AuditSubjectSchema {
    task_id: Option<String>,
    worker_id: Option<String>,
    permit_id: Option<String>,
}

/// The result of checking the stored hash chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct Verification {
    /// Every entry hashes to its `hash`, links to the one before, `seq` is gap-free from
    /// 1 (pruned ranges through their signed manifests), and the last entry is the head.
    pub ok: bool,
    /// The `seq` of the head the check ran up to (the number of events).
    pub head_seq: u64,
    /// The head's hash (hex), when `ok`.
    pub head_hash: Option<String>,
    /// The first `seq` that fails, when not `ok`.
    pub first_bad_seq: Option<u64>,
    /// The kind of damage found there, when not `ok`: one of `event_altered`,
    /// `chain_broken`, `seq_gap`, `event_unreadable`, `truncated`,
    /// `manifest_inconsistent`, `manifest_forged`, `manifest_out_of_place`,
    /// `manifest_unlinked`, `manifest_root_mismatch`, `merkle_nodes_missing`,
    /// `merkle_nodes_altered`, `checkpoint_forged`, `checkpoint_root_mismatch`,
    /// `checkpoint_out_of_place`, `inconsistent`, `malformed`, `key_mismatch`.
    #[schema(value_type = Option<String>, example = "manifest_forged")]
    pub kind: Option<steward_audit::Damage>,
    /// What is wrong there, when not `ok`.
    pub problem: Option<String>,
}

/// The query parameters of `GET /v1/audit/events`.
const EVENT_PARAMS: [&str; 10] = [
    "from_seq",
    "limit",
    "type",
    "worker_id",
    "permit_id",
    "task_id",
    "actor_id",
    "level",
    "from_ts_ms",
    "to_ts_ms",
];

/// Reads events with `seq >= from_seq` that match every filter given, at most `limit`
/// (1 to 1000, default 100).
#[utoipa::path(get, path = "/v1/audit/events", tag = "audit",
    params(
        ("from_seq" = Option<u64>, Query, description = "first seq to return (default 1)"),
        ("limit" = Option<u32>, Query, description = "events per page, 1 to 1000 (default 100)"),
        ("type" = Option<String>, Query, description = "an event type (`permit.approved`) or a prefix (`permit.*`)"),
        ("worker_id" = Option<String>, Query, description = "events about this worker"),
        ("permit_id" = Option<String>, Query, description = "events about this permit"),
        ("task_id" = Option<String>, Query, description = "events about this task"),
        ("actor_id" = Option<String>, Query, description = "events caused by this principal"),
        ("level" = Option<u8>, Query, description = "events at this level, 0 to 4"),
        ("from_ts_ms" = Option<i64>, Query, description = "events stamped at or after this Unix millisecond"),
        ("to_ts_ms" = Option<i64>, Query, description = "events stamped before this Unix millisecond"),
    ),
    responses(
        (status = 200, description = "a page of events in seq order", body = EventPage),
        (status = 400, description = "bad query parameter: the problem names it"),
        (status = 401, description = "missing or invalid token"),
        (status = 403, description = "the caller is neither admin nor auditor"),
    ),
    security(("bearer" = [])))]
pub async fn list_events(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<EventPage>, ApiError> {
    caller.require_any(&[Role::Admin, Role::Auditor], "reading the audit trail")?;
    let mut from_seq: u64 = 1;
    let mut limit = DEFAULT_LIMIT;
    let mut filter = EventQuery::default();
    for (key, value) in known_params(query, &EVENT_PARAMS)? {
        match key.as_str() {
            "from_seq" => from_seq = parse_number(&key, &value)?,
            "limit" => {
                limit = parse_number(&key, &value)?;
                if !(1..=MAX_LIMIT).contains(&limit) {
                    return Err(ApiError::bad_request(
                        format!("`limit` must be 1 to {MAX_LIMIT}, got {limit}"),
                        "limit",
                    ));
                }
            }
            "type" => filter.event_type = Some(parse_type_filter(&value)?),
            "worker_id" => filter.worker_id = Some(parse_id(&key, value)?),
            "permit_id" => filter.permit_id = Some(parse_id(&key, value)?),
            "task_id" => filter.task_id = Some(parse_id(&key, value)?),
            "actor_id" => filter.actor_id = Some(parse_id(&key, value)?),
            "level" => {
                let level: u8 = parse_number(&key, &value)?;
                filter.level = Some(Level::new(level).ok_or_else(|| {
                    ApiError::bad_request(format!("`level` must be 0 to 4, got {level}"), "level")
                })?);
            }
            "from_ts_ms" => filter.from_ts_ms = Some(parse_millis(&key, &value)?),
            _ => filter.to_ts_ms = Some(parse_millis(&key, &value)?),
        }
    }
    if let (Some(from), Some(to)) = (filter.from_ts_ms, filter.to_ts_ms)
        && to < from
    {
        return Err(ApiError::bad_request(
            format!("`to_ts_ms` ({to}) is before `from_ts_ms` ({from})"),
            "to_ts_ms",
        ));
    }
    let items = state
        .store
        .query_events(&filter, from_seq, limit)
        .await
        .map_err(store_error)?;
    // Personal values shown decrypted, or as erased, beside the stored items.
    let personal = state
        .store
        .reveal_personal(&items)
        .await
        .map_err(store_error)?;
    let next_from_seq = items
        .last()
        .map_or(from_seq.max(1), |e| e.seq.saturating_add(1));
    Ok(Json(EventPage {
        items,
        next_from_seq,
        personal,
    }))
}

/// `permit.approved` (one type) or `permit.*` (every type under `permit.`): lowercase
/// ASCII letters, digits, `_` and `-` in dot-separated parts.
fn parse_type_filter(value: &str) -> Result<TypeFilter, ApiError> {
    let (name, prefix) = match value.strip_suffix(".*") {
        Some(name) => (name, true),
        None => (value, false),
    };
    let part_ok = |part: &str| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    };
    if name.len() > 200 || !name.split('.').all(part_ok) {
        return Err(ApiError::bad_request(
            format!(
                "`type` must be an event type such as `permit.approved` or a prefix such as \
                 `permit.*`, got `{value}`"
            ),
            "type",
        ));
    }
    Ok(if prefix {
        TypeFilter::Prefix(format!("{name}."))
    } else {
        TypeFilter::Exact(name.to_owned())
    })
}

/// A non-empty id, or a 400 naming `key`.
fn parse_id(key: &str, value: String) -> Result<String, ApiError> {
    if value.is_empty() {
        return Err(ApiError::bad_request(
            format!("`{key}` must not be empty"),
            key,
        ));
    }
    Ok(value)
}

/// Unix milliseconds (possibly negative), or a 400 naming `key`.
fn parse_millis(key: &str, value: &str) -> Result<i64, ApiError> {
    value.parse().map_err(|_| {
        ApiError::bad_request(
            format!("`{key}` must be Unix milliseconds (an integer), got `{value}`"),
            key,
        )
    })
}

/// Verifies the whole stored chain and names the first bad `seq`. Pruned history counts
/// only through its signed manifests, each linking to its neighbours. A broken chain is a
/// result (`ok: false`), not an error: the request itself succeeded.
#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit",
    responses(
        (status = 200, description = "the verification result", body = Verification),
        (status = 401, description = "missing or invalid token"),
        (status = 403, description = "the caller is neither admin nor auditor"),
    ),
    security(("bearer" = [])))]
pub async fn verify(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Verification>, ApiError> {
    caller.require_any(&[Role::Admin, Role::Auditor], "verifying the audit trail")?;
    // With the signing key, manifests and checkpoints are checked for their signatures
    // too, not only their links and roots.
    let public_key = state.audit_key.as_ref().map(|key| *key.public_key());
    let result = match state.store.verify_audit_trail(public_key.as_ref()).await {
        Ok(head) => Verification {
            ok: true,
            head_seq: head.seq,
            head_hash: Some(head.hash.to_string()),
            first_bad_seq: None,
            kind: None,
            problem: None,
        },
        // Damage is a result, never a 5xx: the check itself succeeded.
        Err(error) => match error.audit_damage() {
            Some((seq, kind, problem)) => Verification {
                ok: false,
                head_seq: state.store.audit_head().await.map_err(store_error)?.seq,
                head_hash: None,
                first_bad_seq: Some(seq),
                kind: Some(kind),
                problem: Some(problem),
            },
            None => return Err(store_error(error)),
        },
    };
    Ok(Json(result))
}

/// The query string's `key=value` pairs, or a 400 problem (never axum's plain-text one).
pub fn query_pairs(
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Vec<(String, String)>, ApiError> {
    query
        .map(|Query(pairs)| pairs)
        .map_err(|rejection| ApiError::BadRequest {
            message: format!("malformed query string: {}", rejection.body_text()),
            field: None,
        })
}

/// The query string's parameters as `(name, value)`, refusing a name not in `allowed`
/// (naming it, and the ones allowed) and a name given twice.
pub fn known_params(
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    allowed: &[&str],
) -> Result<Vec<(String, String)>, ApiError> {
    let pairs = query_pairs(query)?;
    for (index, (key, _)) in pairs.iter().enumerate() {
        if !allowed.contains(&key.as_str()) {
            let names: Vec<String> = allowed.iter().map(|name| format!("`{name}`")).collect();
            return Err(ApiError::bad_request(
                format!(
                    "unknown query parameter `{key}`; expected {}",
                    names.join(" or ")
                ),
                key.as_str(),
            ));
        }
        if pairs[..index].iter().any(|(earlier, _)| earlier == key) {
            return Err(ApiError::bad_request(
                format!("query parameter `{key}` is given more than once"),
                key.as_str(),
            ));
        }
    }
    Ok(pairs)
}

/// `value` as a non-negative integer, or a 400 naming `key`.
pub fn parse_number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ApiError> {
    value.parse().map_err(|_| {
        ApiError::bad_request(
            format!("`{key}` must be a non-negative integer, got `{value}`"),
            key,
        )
    })
}
