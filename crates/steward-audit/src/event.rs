//! The closed catalogue of audit events: every event type Steward writes, its dotted name
//! in one table ([`EventType::as_str`], [`FromStr`]), and one typed payload per type
//! (the event's `data`), bound to its type by [`EventPayload`].
//!
//! A payload serializes to exactly the `data` Steward wrote before the payloads were typed
//! (same member names, same shapes, `null` where a value was written as `null`, absent
//! where it was absent), so stored events hash and export as they always did; the golden
//! tests in `event/tests.rs` pin each kind against the literal it replaced. Readers
//! (compliance reports, metrics) deserialize `data` into the same structs: unknown members
//! (`channel`, `run_mode`, the sealed `personal` envelope) are ignored.
//!
//! Personal values never pass through a payload's `Serialize`: a payload holds them as a
//! [`Personal`] (skipped by serde), which only the store's audit append turns into data,
//! sealed for its subject (see `event/personal.rs`).
//!
//! Enumerated values (levels, roles, states, rules) are written as the pure crates spell
//! them; this crate depends on none of them, so they are held here as their wire form
//! (`u8` levels, `String` names).

mod access;
mod permit;
mod personal;
mod trail;
mod worker;

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use access::{
    AuthorizeDecided, AuthorizeScope, ClockAdvanced, Operation, PrincipalCreated,
    PrincipalDisabled, PrincipalErased, RunModeRecorded, TaskAnalyzed, TokenCreated, TokenRevoked,
    WebSessionEnded, WebSessionOpened, WebhookCreated, WebhookDeleted,
};
pub use permit::{
    ApproverRef, AuditSummary, CompletionApproval, EmergencyApproved, EmergencyDeclared,
    EmergencyEnded, EmergencyRenewed, EmergencyResolved, EmergencyReviewFiled, EscalationTargets,
    PermitApprovalOverdue, PermitApprovalRecorded, PermitApproved, PermitArchived,
    PermitCabSignedOff, PermitChangesRequested, PermitClosed, PermitCompleted, PermitEscalated,
    PermitExpired, PermitExpiryGraceStarted, PermitExpiryWarning, PermitHardBlocked, PermitIssued,
    PermitRejected, PermitRenewalApprovalRecorded, PermitRenewed, PermitRequested,
    PermitResubmitted, PermitReviewStarted, PermitRevoked, PermitStarted, RollbackCompleted,
    RollbackEscalated, RollbackNotify, RollbackOpened, SummaryApproval, TaskFacts, TelemetryBreach,
    TelemetryRecorded,
};
pub use personal::{Personal, PersonalText};
pub use trail::{CheckpointCreated, HoldCreated, HoldReleased, Pruned, SigningKeyRecorded};
pub use worker::{
    ApprovalsNeeded, InitialApprovalRef, PromotionApprovalRef, WorkerCertificationGrace,
    WorkerCertifiedInitially, WorkerExpired, WorkerIdentityCreated,
    WorkerInitialCertificationApproved, WorkerInitialCertificationRequested, WorkerOutcomeRecorded,
    WorkerProbationEnded, WorkerPromoted, WorkerPromotionApproved, WorkerRecertified,
    WorkerRegistered, WorkerReinstated, WorkerRevoked, WorkerSuspended,
};

/// Declares [`EventType`] and its one name table.
macro_rules! event_types {
    ($($variant:ident => $name:literal,)*) => {
        /// Every event type Steward writes. The dotted names are in this one table.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum EventType {
            $(#[doc = concat!("`", $name, "`")] $variant,)*
        }

        impl EventType {
            /// Every type, in table order.
            pub const ALL: &'static [EventType] = &[$(EventType::$variant,)*];

            /// The dotted name stored as the event's `event_type`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(EventType::$variant => $name,)*
                }
            }
        }

        impl FromStr for EventType {
            type Err = UnknownEventType;

            fn from_str(name: &str) -> Result<EventType, UnknownEventType> {
                match name {
                    $($name => Ok(EventType::$variant),)*
                    other => Err(UnknownEventType(other.to_owned())),
                }
            }
        }
    };
}

event_types! {
    // Permits (SPEC §6).
    PermitRequested => "permit.requested",
    PermitHardBlocked => "permit.hard_blocked",
    PermitReviewStarted => "permit.review_started",
    PermitApprovalRecorded => "permit.approval_recorded",
    PermitCabSignedOff => "permit.cab_signed_off",
    PermitApproved => "permit.approved",
    PermitRejected => "permit.rejected",
    PermitChangesRequested => "permit.changes_requested",
    PermitResubmitted => "permit.resubmitted",
    PermitIssued => "permit.issued",
    PermitStarted => "permit.started",
    PermitCompleted => "permit.completed",
    PermitClosed => "permit.closed",
    PermitRevoked => "permit.revoked",
    PermitExpired => "permit.expired",
    PermitArchived => "permit.archived",
    PermitRenewalApprovalRecorded => "permit.renewal_approval_recorded",
    PermitRenewed => "permit.renewed",
    PermitApprovalOverdue => "permit.approval_overdue",
    PermitEscalated => "permit.escalated",
    PermitExpiryWarning => "permit.expiry_warning",
    PermitExpiryGraceStarted => "permit.expiry_grace_started",
    // Emergencies (SPEC §8).
    EmergencyDeclared => "emergency.declared",
    EmergencyApproved => "emergency.approved",
    EmergencyRenewed => "emergency.renewed",
    EmergencyResolved => "emergency.resolved",
    EmergencyEnded => "emergency.ended",
    EmergencyReviewFiled => "emergency.review_filed",
    // Monitoring and rollback (SPEC §7).
    TelemetryRecorded => "telemetry.recorded",
    TelemetryBreach => "telemetry.breach",
    RollbackOpened => "rollback.opened",
    RollbackCompleted => "rollback.completed",
    RollbackEscalated => "rollback.escalated",
    // Run time and analysis.
    AuthorizeAllowed => "authorize.allowed",
    AuthorizeDenied => "authorize.denied",
    TaskAnalyzed => "task.analyzed",
    // Workers and certification (SPEC §5).
    WorkerRegistered => "worker.registered",
    WorkerIdentityCreated => "worker.identity_created",
    WorkerOutcomeRecorded => "worker.outcome_recorded",
    WorkerPromotionApproved => "worker.promotion_approved",
    WorkerPromoted => "worker.promoted",
    WorkerInitialCertificationRequested => "worker.initial_certification_requested",
    WorkerInitialCertificationApproved => "worker.initial_certification_approved",
    WorkerCertifiedInitially => "worker.certified_initially",
    WorkerSuspended => "worker.suspended",
    WorkerReinstated => "worker.reinstated",
    WorkerRevoked => "worker.revoked",
    WorkerExpired => "worker.expired",
    WorkerProbationEnded => "worker.probation_ended",
    WorkerRecertified => "worker.recertified",
    WorkerCertificationGrace => "worker.certification_grace",
    // Access.
    PrincipalCreated => "principal.created",
    PrincipalDisabled => "principal.disabled",
    PrincipalErased => "principal.erased",
    TokenCreated => "token.created",
    TokenRevoked => "token.revoked",
    WebSessionOpened => "web.session_opened",
    WebSessionEnded => "web.session_ended",
    WebhookCreated => "webhook.created",
    WebhookDeleted => "webhook.deleted",
    // The trail itself and the instance.
    AuditCheckpointCreated => "audit.checkpoint_created",
    AuditPruned => "audit.pruned",
    AuditHoldCreated => "audit.hold_created",
    AuditHoldReleased => "audit.hold_released",
    AuditSigningKeyRecorded => "audit.signing_key_recorded",
    RunModeRecorded => "run_mode.recorded",
    ClockAdvanced => "clock.advanced",
}

impl EventType {
    /// The catalogued type named `name`, `None` for a name Steward does not write (an
    /// event another part records, or a fixture's).
    pub fn of(name: &str) -> Option<EventType> {
        name.parse().ok()
    }

    /// A permit state change written through the one transition function
    /// (`steward_permits::apply`): its data carries `from` and `to` ([`Transition`]).
    pub const fn is_permit_transition(self) -> bool {
        matches!(
            self,
            EventType::PermitReviewStarted
                | EventType::PermitApproved
                | EventType::PermitRejected
                | EventType::PermitChangesRequested
                | EventType::PermitResubmitted
                | EventType::PermitIssued
                | EventType::PermitCompleted
                | EventType::PermitClosed
                | EventType::PermitRevoked
                | EventType::PermitExpired
                | EventType::PermitArchived
        )
    }

    /// The part of the name before its dot (`permit` for `permit.requested`).
    pub fn family(self) -> &'static str {
        let name = self.as_str();
        name.split_once('.').map_or(name, |(family, _)| family)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for EventType {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<EventType, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// The states every permit transition event carries ([`EventType::is_permit_transition`]),
/// read from any of their payloads alike. A revocation by the certification cascade names
/// only the state it left (`from_state`), so `to` may be empty.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Transition {
    pub from: String,
    pub to: String,
}

impl Transition {
    /// The state moved to, when the event names one.
    pub fn to_state(&self) -> Option<&str> {
        Some(self.to.as_str()).filter(|to| !to.is_empty())
    }
}

/// A name that is not in the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event type `{0}`")]
pub struct UnknownEventType(pub String);

/// The typed `data` of one kind of event.
///
/// `Serialize` gives the stored `data` without personal values; those come from
/// [`EventPayload::take_personal`], which only the store's append consumes (it seals them
/// under the `personal` member before hashing).
///
/// Reading is lenient (`#[serde(default)]`): a member an older version or a fixture did not
/// write reads as its default (`""`, `0`, empty, `None`), so one missing member never
/// hides the rest of an event from a report.
pub trait EventPayload: Serialize + DeserializeOwned {
    /// The type(s) this payload is the data of; [`EventPayload::event_type`] picks one
    /// for payloads shared by two types (an allowed or denied authorize decision).
    const TYPE: EventType;

    /// The type of this event: [`EventPayload::TYPE`] unless the payload decides.
    fn event_type(&self) -> EventType {
        Self::TYPE
    }

    /// The payload's personal values, taken out for sealing; `None` for kinds that carry
    /// none, and for a payload read back from the trail (where they are sealed).
    fn take_personal(&mut self) -> Option<Personal> {
        None
    }

    /// Reads a stored event's `data` as this payload.
    fn from_data(data: &serde_json::Value) -> Result<Self, serde_json::Error> {
        Self::deserialize(data)
    }
}

/// Binds a payload struct to its event type; `personal` when it carries a
/// `personal: Option<Personal>` field.
macro_rules! payload {
    ($payload:ty => $kind:ident) => {
        impl $crate::event::EventPayload for $payload {
            const TYPE: $crate::event::EventType = $crate::event::EventType::$kind;
        }
    };
    ($payload:ty => $kind:ident, personal) => {
        impl $crate::event::EventPayload for $payload {
            const TYPE: $crate::event::EventType = $crate::event::EventType::$kind;

            fn take_personal(&mut self) -> Option<$crate::event::Personal> {
                self.personal.take()
            }
        }
    };
}
use payload;

/// Serde helpers for members that are sometimes written as `null` and sometimes left
/// out: `None` leaves the member out, `Some(None)` writes `null`.
pub(crate) mod present {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// `skip_serializing_if` for these members.
    pub(crate) fn absent<T>(value: &Option<Option<T>>) -> bool {
        value.is_none()
    }

    pub(crate) fn serialize<T: Serialize, S: Serializer>(
        value: &Option<Option<T>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(serializer),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

#[cfg(test)]
mod tests;
