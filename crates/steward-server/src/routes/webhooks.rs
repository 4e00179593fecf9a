//! `/v1/webhooks`: outbound webhook subscriptions (admin only) and their delivery log.
//!
//! A subscription's `secret` keys the HMAC signature of its deliveries, so Steward stores
//! it as given. It is accepted on creation (or generated, and then shown in that one
//! response) and never returned afterwards; nothing logs it. How deliveries are sent,
//! signed and retried is in [`crate::webhooks`]; which destinations are refused, in
//! [`crate::webhooks::target`].

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use steward_policy::Role;
use steward_store::token;
use steward_store::webhook::{Delivery, EventPattern, NewWebhook, Webhook, WebhookFormat};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::json::ApiJson;
use crate::routes::audit::known_params;
use crate::routes::principals::store_error;
use crate::state::AppState;
use crate::webhooks::target::{self, UrlError};

/// The longest URL accepted, in bytes.
pub const MAX_URL_BYTES: usize = 2048;

/// The most patterns one subscription may list.
pub const MAX_EVENT_TYPES: usize = 50;

/// The shortest secret accepted, in bytes: HMAC keys shorter than this are guessable.
pub const MIN_SECRET_BYTES: usize = 16;

/// Delivery log rows per page.
pub const MAX_DELIVERY_PAGE: u32 = 1000;

/// `POST /v1/webhooks` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// Where deliveries are POSTed: an `http://` or `https://` URL. Internal addresses
    /// (loopback, private, link-local, unique-local, …) are refused unless the server
    /// allows private targets; cloud metadata services always.
    #[schema(example = "https://hooks.example.com/steward")]
    pub url: String,
    /// Which audit event types to deliver: `*`, a prefix such as `permit.*`, exact
    /// types such as `rollback.opened`, or `audit.checkpoint`: each signed checkpoint, as
    /// `GET /v1/audit/checkpoints/latest` returns it, to keep outside the database.
    pub event_types: Vec<String>,
    /// `json` (Steward's event, the default) or `slack` (`{"text", "blocks"}`).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub format: Option<WebhookFormat>,
    /// The HMAC-SHA256 key, at least 16 bytes. Absent: Steward generates one and shows it
    /// in this response only.
    #[serde(default)]
    pub secret: Option<String>,
}

/// A subscription, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: String,
    pub url: String,
    /// The event type patterns it delivers.
    pub event_types: Vec<String>,
    /// `json` or `slack`.
    #[schema(value_type = String)]
    pub format: WebhookFormat,
    /// The last audit seq fanned out into deliveries.
    pub cursor_seq: i64,
    /// The admin who created it.
    pub created_by: String,
    pub created_at_ms: i64,
    /// Set once deleted.
    pub deleted_at_ms: Option<i64>,
}

impl From<&Webhook> for WebhookView {
    fn from(w: &Webhook) -> Self {
        WebhookView {
            id: w.id.clone(),
            url: w.url.clone(),
            event_types: w.event_types.clone(),
            format: w.format,
            cursor_seq: w.cursor_seq,
            created_by: w.created_by.clone(),
            created_at_ms: w.created_at_ms,
            deleted_at_ms: w.deleted_at_ms,
        }
    }
}

/// The created subscription; `secret` only when Steward generated it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// The generated HMAC key, shown in this response only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub secret: Option<String>,
}

/// One row of a subscription's delivery log.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub webhook_id: String,
    /// The audit event's seq; also the idempotency id the receiver sees.
    pub seq: i64,
    pub event_type: String,
    /// `pending`, `delivered`, `failed` (attempts exhausted, or the destination refused)
    /// or `cancelled` (the subscription was deleted first).
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at_ms: i64,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub delivered_at_ms: Option<i64>,
}

impl From<&Delivery> for DeliveryView {
    fn from(d: &Delivery) -> Self {
        DeliveryView {
            webhook_id: d.webhook_id.clone(),
            seq: d.seq,
            event_type: d.event_type.clone(),
            status: d.status.clone(),
            attempts: d.attempts,
            next_attempt_at_ms: d.next_attempt_at_ms,
            last_status_code: d.last_status_code,
            last_error: d.last_error.clone(),
            created_at_ms: d.created_at_ms,
            updated_at_ms: d.updated_at_ms,
            delivered_at_ms: d.delivered_at_ms,
        }
    }
}

/// Subscribes a URL to audit events (admin).
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", request_body = CreateWebhook,
    responses((status = 201, description = "created", body = CreatedWebhook),
        (status = 400, description = "invalid url, event_types, format or secret"),
        (status = 422, description = "`private_webhook_target` or `metadata_webhook_target`: the url reaches an internal address or a cloud metadata service"),
        (status = 403, description = "not an admin")),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateWebhook>,
) -> Result<(StatusCode, Json<CreatedWebhook>), ApiError> {
    caller.require_any(&[Role::Admin], "managing webhooks")?;
    let url = parse_url(&body.url, state.webhook_allow_private)?;
    let event_types = parse_event_types(body.event_types)?;
    let (secret, generated) = match body.secret {
        Some(secret) if secret.len() < MIN_SECRET_BYTES => {
            return Err(ApiError::bad_request(
                format!("`secret` must be at least {MIN_SECRET_BYTES} bytes"),
                "secret",
            ));
        }
        Some(secret) => (secret, false),
        None => (token::generate().0, true),
    };
    let webhook = state
        .store
        .create_webhook(
            &caller.by(),
            NewWebhook {
                url,
                event_types,
                format: body.format.unwrap_or(WebhookFormat::Json),
                secret: secret.clone(),
            },
            state.clock.now().millis(),
        )
        .await
        .map_err(store_error)?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedWebhook {
            webhook: WebhookView::from(&webhook),
            secret: generated.then_some(secret),
        }),
    ))
}

/// The live subscriptions (admin), without secrets.
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks",
    responses((status = 200, description = "subscriptions", body = [WebhookView])),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<WebhookView>>, ApiError> {
    caller.require_any(&[Role::Admin], "managing webhooks")?;
    state
        .store
        .list_webhooks()
        .await
        .map(|hooks| Json(hooks.iter().map(WebhookView::from).collect()))
        .map_err(store_error)
}

/// Deletes a subscription (admin): its pending deliveries are cancelled. Idempotent.
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "webhook id")),
    responses((status = 200, description = "deleted", body = WebhookView),
        (status = 404, description = "no such webhook")),
    security(("bearer" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<WebhookView>, ApiError> {
    caller.require_any(&[Role::Admin], "managing webhooks")?;
    state
        .store
        .delete_webhook(&caller.by(), &id, state.clock.now().millis())
        .await
        .map(|hook| Json(WebhookView::from(&hook)))
        .map_err(store_error)
}

/// A subscription's delivery log in seq order (admin, auditor): status, attempts, last
/// status code or error, times. `after_seq` pages; `limit` is 1 to 1000 (100).
#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path, description = "webhook id"),
        ("after_seq" = Option<i64>, Query, description = "rows after this audit seq"),
        ("limit" = Option<u32>, Query, description = "1 to 1000, default 100")),
    responses((status = 200, description = "delivery log", body = [DeliveryView]),
        (status = 404, description = "no such webhook")),
    security(("bearer" = [])))]
pub async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Vec<DeliveryView>>, ApiError> {
    caller.require_any(&[Role::Admin, Role::Auditor], "reading webhook deliveries")?;
    let mut after_seq = 0i64;
    let mut limit = 100u32;
    for (name, value) in known_params(query, &["after_seq", "limit"])? {
        match name.as_str() {
            "after_seq" => {
                after_seq = value.parse().map_err(|_| {
                    ApiError::bad_request("`after_seq` must be an integer", "after_seq")
                })?;
            }
            _ => {
                limit = value
                    .parse()
                    .ok()
                    .filter(|l| (1..=MAX_DELIVERY_PAGE).contains(l))
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            format!("`limit` must be an integer from 1 to {MAX_DELIVERY_PAGE}"),
                            "limit",
                        )
                    })?;
            }
        }
    }
    state.store.webhook(&id).await.map_err(store_error)?;
    state
        .store
        .webhook_deliveries(&id, after_seq, limit)
        .await
        .map(|rows| Json(rows.iter().map(DeliveryView::from).collect()))
        .map_err(store_error)
}

/// Checks a webhook URL: an `http(s)` URL with a host, and a destination the rule of
/// [`crate::webhooks::target`] allows (422 naming the rule otherwise). A name's addresses
/// are judged at each delivery, when they are resolved.
fn parse_url(url: &str, allow_private: bool) -> Result<String, ApiError> {
    let bad = |why: &str| ApiError::bad_request(format!("`url` {why}"), "url");
    if url.len() > MAX_URL_BYTES {
        return Err(bad(&format!("is longer than {MAX_URL_BYTES} bytes")));
    }
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| bad("must start with `http://` or `https://`"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("must name a host and contain no spaces"));
    }
    match target::check_url(url, allow_private) {
        Ok(_) => Ok(url.to_owned()),
        Err(UrlError::Invalid(why)) => Err(bad(&why)),
        Err(UrlError::Refused(refusal)) => Err(ApiError::refused(
            refusal.rule(),
            format!("`url`: {refusal}"),
        )
        .with("field", "url")
        .with("target", refusal.target.clone())
        .with("target_class", refusal.class.as_str())),
    }
}

fn parse_event_types(patterns: Vec<String>) -> Result<Vec<String>, ApiError> {
    if patterns.is_empty() {
        return Err(ApiError::bad_request(
            "`event_types` must list at least one pattern, such as `permit.*` or `*`",
            "event_types",
        ));
    }
    if patterns.len() > MAX_EVENT_TYPES {
        return Err(ApiError::bad_request(
            format!("`event_types` lists more than {MAX_EVENT_TYPES} patterns"),
            "event_types",
        ));
    }
    for (i, pattern) in patterns.iter().enumerate() {
        EventPattern::parse(pattern)
            .map_err(|message| ApiError::bad_request(message, format!("event_types[{i}]")))?;
    }
    Ok(patterns)
}
