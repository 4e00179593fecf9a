//! The rules of outbound webhooks (SPEC §11) over values: which events a subscription's
//! patterns select and under which name each is delivered, the retry schedule, and what
//! one attempt's result makes of a delivery. The store keeps the subscriptions, the
//! cursors and the delivery log; it asks these functions what to write.

use serde::{Deserialize, Serialize};

use crate::EventType;

/// Attempts before a delivery is given up as `failed`.
pub const MAX_ATTEMPTS: u32 = 10;

/// The wait after the first failed attempt; it doubles with each further failure.
pub const RETRY_BASE_MS: i64 = 30_000;

/// The longest wait between two attempts.
pub const RETRY_CAP_MS: i64 = 3_600_000;

/// How long a claimed delivery stays out of other instances' reach while it is sent. Far
/// above the HTTP timeout, so a lease only lapses when the sender died.
pub const CLAIM_LEASE_MS: i64 = 120_000;

/// The most characters of an attempt's error kept in the delivery log.
pub const MAX_ERROR_CHARS: usize = 500;

/// The wait after failed attempt number `attempt` (1-based), or `None` when that was the
/// last one: 30 s, 1 min, 2 min, … capped at 1 h; ten attempts span about 3 h (11 010 s of waiting).
pub fn retry_delay_ms(attempt: u32) -> Option<i64> {
    if attempt >= MAX_ATTEMPTS {
        return None;
    }
    let doublings = attempt.saturating_sub(1).min(20);
    Some((RETRY_BASE_MS << doublings).min(RETRY_CAP_MS))
}

/// The subscribable name of checkpoint publication: a subscription listing it receives
/// each signed checkpoint (`audit.checkpoint_created` events) in its published form, the
/// JSON `GET /v1/audit/checkpoints/latest` returns, under this event name.
pub const CHECKPOINT_PUBLICATION: &str = "audit.checkpoint";

/// One entry of a subscription's `event_types`: `*` (every event), `permit.*` (every type
/// under a dotted prefix), an exact type such as `rollback.opened`, or
/// [`CHECKPOINT_PUBLICATION`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventPattern {
    All,
    /// [`CHECKPOINT_PUBLICATION`]: every signed checkpoint, in its published form.
    Checkpoint,
    /// The prefix with its dot: `permit.`.
    Prefix(String),
    Exact(String),
}

impl EventPattern {
    /// Parses one pattern: dotted segments of lower-case letters, digits and `_`, the
    /// last of which may be `*`.
    pub fn parse(text: &str) -> Result<EventPattern, String> {
        if text == "*" {
            return Ok(EventPattern::All);
        }
        if text == CHECKPOINT_PUBLICATION {
            return Ok(EventPattern::Checkpoint);
        }
        let (body, prefix) = match text.strip_suffix(".*") {
            Some(body) => (body, true),
            None => (text, false),
        };
        let valid_segment = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        if body.is_empty() || !body.split('.').all(valid_segment) {
            return Err(format!(
                "`{text}` is not an event type pattern: expected `*`, `permit.*` or a type such as `rollback.opened` (lower-case letters, digits, `_`, dots)"
            ));
        }
        Ok(if prefix {
            EventPattern::Prefix(format!("{body}."))
        } else {
            EventPattern::Exact(body.to_owned())
        })
    }

    pub fn matches(&self, event_type: &str) -> bool {
        match self {
            EventPattern::All => true,
            EventPattern::Checkpoint => event_type == EventType::AuditCheckpointCreated.as_str(),
            EventPattern::Prefix(prefix) => event_type.starts_with(prefix.as_str()),
            EventPattern::Exact(name) => event_type == name,
        }
    }
}

/// The patterns of a subscription's stored `event_types`, skipping any that no longer
/// parse (the API validated them on creation).
pub fn parse_patterns(texts: &[String]) -> Vec<EventPattern> {
    texts
        .iter()
        .filter_map(|p| EventPattern::parse(p).ok())
        .collect()
}

/// The event name under which a subscription with `patterns` receives an event of
/// `event_type`, or `None` when it does not subscribe to it. A subscription to checkpoint
/// publication gets checkpoints under [`CHECKPOINT_PUBLICATION`] (and in that form), even
/// when another pattern matches too.
pub fn delivery_type<'a>(patterns: &[EventPattern], event_type: &'a str) -> Option<&'a str> {
    if !patterns.iter().any(|p| p.matches(event_type)) {
        return None;
    }
    let checkpoint = event_type == EventType::AuditCheckpointCreated.as_str();
    Some(
        if checkpoint && patterns.contains(&EventPattern::Checkpoint) {
            CHECKPOINT_PUBLICATION
        } else {
            event_type
        },
    )
}

/// The body a subscription receives: Steward's event JSON, or a Slack-compatible
/// `{"text", "blocks"}` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    Json,
    Slack,
}

impl WebhookFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookFormat::Json => "json",
            WebhookFormat::Slack => "slack",
        }
    }

    /// The format stored as `text`, `None` for an unknown name.
    pub fn parse(text: &str) -> Option<WebhookFormat> {
        match text {
            "json" => Some(WebhookFormat::Json),
            "slack" => Some(WebhookFormat::Slack),
            _ => None,
        }
    }
}

/// How one attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// The receiver answered 2xx.
    Delivered { status_code: u16 },
    /// A non-2xx answer (`status_code`) or no answer (`None`: refused, timed out).
    Failed {
        status_code: Option<u16>,
        error: String,
    },
    /// Not sent, and never to be: the destination is refused (an internal address, a
    /// cloud metadata service). The delivery is `failed` at once, with `error` as the
    /// reason; retrying would only repeat the refusal.
    Refused { error: String },
}

/// What an attempt's result makes of its delivery row ([`finish`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finish {
    /// `delivered`, `pending` (to be retried) or `failed`.
    pub status: &'static str,
    pub next_attempt_at_ms: i64,
    pub last_status_code: Option<i64>,
    /// The error, cut to [`MAX_ERROR_CHARS`] characters.
    pub last_error: Option<String>,
    pub delivered_at_ms: Option<i64>,
}

/// The delivery after attempt number `attempt` ended with `result` at `now_ms`:
/// `delivered`; or `pending` again after [`retry_delay_ms`]; or `failed` once
/// [`MAX_ATTEMPTS`] are spent, or at once when the destination was refused.
pub fn finish(attempt: u32, result: &AttemptResult, now_ms: i64) -> Finish {
    let cut = |error: &str| Some(error.chars().take(MAX_ERROR_CHARS).collect());
    match result {
        AttemptResult::Delivered { status_code } => Finish {
            status: "delivered",
            next_attempt_at_ms: now_ms,
            last_status_code: Some(i64::from(*status_code)),
            last_error: None,
            delivered_at_ms: Some(now_ms),
        },
        AttemptResult::Failed { status_code, error } => {
            let retry = retry_delay_ms(attempt);
            Finish {
                status: if retry.is_some() { "pending" } else { "failed" },
                next_attempt_at_ms: retry.map_or(now_ms, |delay| now_ms.saturating_add(delay)),
                last_status_code: status_code.map(i64::from),
                last_error: cut(error),
                delivered_at_ms: None,
            }
        }
        AttemptResult::Refused { error } => Finish {
            status: "failed",
            next_attempt_at_ms: now_ms,
            last_status_code: None,
            last_error: cut(error),
            delivered_at_ms: None,
        },
    }
}

/// The scheme and host of `url`, for the audit trail (a path may be a credential).
pub fn url_origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit('@').next().unwrap_or_default();
    format!("{scheme}://{host}")
}

#[cfg(test)]
mod tests;
