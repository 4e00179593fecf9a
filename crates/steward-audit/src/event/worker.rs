//! Payloads of the worker and certification events (SPEC §5).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Personal, payload, present};

/// `worker.registered`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerRegistered {
    pub display_name: String,
    pub owner_id: String,
    pub principal_id: Option<String>,
    pub domains: Vec<String>,
    pub level: u8,
    pub status: String,
}
payload!(WorkerRegistered => WorkerRegistered);

/// `worker.identity_created`: the agent principal the worker authenticates as.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerIdentityCreated {
    pub principal_id: String,
}
payload!(WorkerIdentityCreated => WorkerIdentityCreated);

/// `worker.outcome_recorded`: an operation's outcome and what it rests on.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerOutcomeRecorded {
    pub outcome_id: String,
    /// `success`, `failure`, `incident`, `safety_violation`.
    pub result: String,
    pub operation_level: u8,
    pub basis: String,
    pub counts_towards_promotion: bool,
    pub permit_id: Option<String>,
    pub authorize_seq: Option<u64>,
    pub status: String,
    pub consecutive_union_failures: u32,
}
payload!(WorkerOutcomeRecorded => WorkerOutcomeRecorded);

/// `worker.promotion_approved` (the comment is personal).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerPromotionApproved {
    pub approval_id: String,
    pub target_level: u8,
    pub principal_id: String,
    pub role: String,
    #[serde(skip)]
    pub personal: Option<Personal>,
}
payload!(WorkerPromotionApproved => WorkerPromotionApproved, personal);

/// A promotion approval as `worker.promoted` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PromotionApprovalRef {
    pub approval_id: String,
    pub principal_id: String,
    pub role: String,
}

/// `worker.promoted`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerPromoted {
    pub from_level: u8,
    pub to_level: u8,
    pub status: String,
    pub probation_until: Option<i64>,
    pub recertify_by: Option<i64>,
    pub approvals: Vec<PromotionApprovalRef>,
}
payload!(WorkerPromoted => WorkerPromoted);

/// What an initial certification needs: how many approvers, under which roles.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ApprovalsNeeded {
    pub approvers_required: u32,
    pub approver_roles: Vec<String>,
    pub required_roles: Vec<String>,
}

/// `worker.initial_certification_requested`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerInitialCertificationRequested {
    pub target_level: u8,
    pub justification: String,
    pub prior_record: Value,
    pub requested_by: String,
    pub approvals_needed: ApprovalsNeeded,
}
payload!(WorkerInitialCertificationRequested => WorkerInitialCertificationRequested);

/// `worker.initial_certification_approved` (the comment is personal).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerInitialCertificationApproved {
    pub target_level: u8,
    pub principal_id: String,
    pub role: String,
    #[serde(skip)]
    pub personal: Option<Personal>,
}
payload!(WorkerInitialCertificationApproved => WorkerInitialCertificationApproved, personal);

/// An initial certification's approval as `worker.certified_initially` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct InitialApprovalRef {
    pub principal_id: String,
    pub role: String,
    pub created_at_ms: i64,
}

/// `worker.certified_initially`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerCertifiedInitially {
    pub from_level: u8,
    pub to_level: u8,
    pub status: String,
    pub probation_until: Option<i64>,
    pub recertify_by: Option<i64>,
    pub justification: String,
    pub prior_record: Value,
    pub requested_by: String,
    pub approvals: Vec<InitialApprovalRef>,
}
payload!(WorkerCertifiedInitially => WorkerCertifiedInitially);

/// `worker.certification_grace`: the recertification date passed; the grace period runs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerCertificationGrace {
    pub status: String,
    pub recertify_by_ms: i64,
    pub grace_until_ms: Option<i64>,
}
payload!(WorkerCertificationGrace => WorkerCertificationGrace);

/// Declares the payload of a certification status change: the statuses, and what the
/// change adds (a person's reason, which is personal; an automatic change's cause and
/// timer; the permits a revocation revoked; the new recertification date).
macro_rules! status_change {
    ($(#[$doc:meta] $name:ident,)*) => {$(
        #[$doc]
        #[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
        #[serde(default)]
        pub struct $name {
            pub from_status: String,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub to_status: Option<String>,
            /// `true` for Steward's own changes, `false` for a person's suspension.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub automatic: Option<bool>,
            /// An automatic suspension: `safety_violation` or `consecutive_union_failures`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub cause: Option<String>,
            #[serde(
                default,
                with = "present",
                skip_serializing_if = "present::absent"
            )]
            pub count: Option<Option<u32>>,
            /// Steward's reason for an automatic suspension (a person's is personal).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub reason: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub reported_by: Option<String>,
            /// A certification timer's due time.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub due_at_ms: Option<i64>,
            #[serde(
                default,
                with = "present",
                skip_serializing_if = "present::absent"
            )]
            pub recertify_by: Option<Option<i64>>,
            #[serde(
                default,
                with = "present",
                skip_serializing_if = "present::absent"
            )]
            pub probation_until: Option<Option<i64>>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub revoked_permits: Option<Vec<String>>,
            /// A person's `reason`.
            #[serde(skip)]
            pub personal: Option<Personal>,
        }
        payload!($name => $name, personal);
    )*};
}

status_change! {
    /// `worker.suspended`: by a person, or automatically (a safety violation, consecutive failures).
    WorkerSuspended,
    /// `worker.reinstated`.
    WorkerReinstated,
    /// `worker.revoked`, with the permits it revoked.
    WorkerRevoked,
    /// `worker.expired`: the grace period ended without recertification.
    WorkerExpired,
    /// `worker.probation_ended`.
    WorkerProbationEnded,
    /// `worker.recertified`, with the new recertification date.
    WorkerRecertified,
}
