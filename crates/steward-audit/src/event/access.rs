//! Payloads of the run-time, analysis and access events: authorize decisions,
//! `task.analyzed`, principals, tokens, web sessions, webhooks, the run mode and the
//! rehearsal clock.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{EventType, Personal, payload};

/// The operation an authorize decision was about, as the worker described it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Operation {
    pub environment: Value,
    pub action: String,
    pub service: Option<String>,
    pub region: Option<String>,
    pub method: String,
    pub read_only: bool,
    pub critical: bool,
    pub data_touched: Vec<String>,
    /// Whether the decision treated the operation as touching sensitive data.
    pub sensitive_data: bool,
    pub tokens: u64,
}

/// What a scope violation missed (SPEC §7), and what the action would have needed.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthorizeScope {
    pub miss: String,
    pub action_class: String,
    pub action_classes: Vec<String>,
    pub permit_type: Option<String>,
    pub permit_type_needed: Option<String>,
}

/// `authorize.allowed` / `authorize.denied`: one audited decision.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthorizeDecided {
    pub allow: bool,
    pub rule: String,
    pub worker_level: u8,
    pub permit_id: Option<String>,
    pub operation: Operation,
    /// A scope violation's miss.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<AuthorizeScope>,
    /// The permit's tokens spent after an allow that spent some.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_used: Option<u64>,
}

impl super::EventPayload for AuthorizeDecided {
    /// Nominal: [`EventPayload::event_type`](super::EventPayload::event_type) names the
    /// decision's type from `allow`.
    const TYPE: EventType = EventType::AuthorizeAllowed;

    fn event_type(&self) -> EventType {
        if self.allow {
            EventType::AuthorizeAllowed
        } else {
            EventType::AuthorizeDenied
        }
    }
}

/// `task.analyzed`: an analysis served (SPEC §9).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskAnalyzed {
    pub policy_version: String,
    pub environment: Value,
    pub total_risk_score: u8,
    pub risk_level: Value,
    pub worker_type: Value,
    pub permit_type: Value,
    pub floors_applied: Vec<Value>,
}
payload!(TaskAnalyzed => TaskAnalyzed);

/// `principal.created` (the name is personal, the principal's own).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PrincipalCreated {
    pub principal_id: String,
    pub kind: String,
    pub roles: Vec<String>,
    #[serde(skip)]
    pub personal: Option<Personal>,
}
payload!(PrincipalCreated => PrincipalCreated, personal);

/// `principal.disabled`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PrincipalDisabled {
    pub principal_id: String,
}
payload!(PrincipalDisabled => PrincipalDisabled);

/// `principal.erased`: the principal's key destroyed (crypto-shredding).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PrincipalErased {
    pub principal_id: String,
}
payload!(PrincipalErased => PrincipalErased);

/// `token.created` (the label is personal, the token principal's).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenCreated {
    pub token_id: String,
    pub principal_id: String,
    pub expires_at: Option<i64>,
    /// The token its creator authenticated with, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minted_with: Option<String>,
    #[serde(skip)]
    pub personal: Option<Personal>,
}
payload!(TokenCreated => TokenCreated, personal);

/// `token.revoked`: the token, or a descendant revoked with it (`minted_with` its parent,
/// `cascade_from` the token revoked).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenRevoked {
    pub token_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minted_with: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cascade_from: Option<String>,
}
payload!(TokenRevoked => TokenRevoked);

/// `web.session_opened`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WebSessionOpened {
    pub token_id: String,
    pub expires_at_ms: i64,
}
payload!(WebSessionOpened => WebSessionOpened);

/// `web.session_ended`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WebSessionEnded {
    /// `signed_out`.
    pub why: String,
}
payload!(WebSessionEnded => WebSessionEnded);

/// `webhook.created`: the subscription, by its destination's origin (never the secret).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WebhookCreated {
    pub webhook_id: String,
    pub origin: String,
    pub event_types: Vec<String>,
    pub format: Value,
}
payload!(WebhookCreated => WebhookCreated);

/// `webhook.deleted`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WebhookDeleted {
    pub webhook_id: String,
}
payload!(WebhookDeleted => WebhookDeleted);

/// `run_mode.recorded`: a rehearsal instance started on its database.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RunModeRecorded {
    pub mode: String,
}
payload!(RunModeRecorded => RunModeRecorded);

/// `clock.advanced`: a rehearsal's clock moved forward.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ClockAdvanced {
    pub by_ms: i64,
    pub offset_ms: i64,
}
payload!(ClockAdvanced => ClockAdvanced);
