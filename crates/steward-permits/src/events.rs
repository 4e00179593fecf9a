//! The audit events a plan appends about its permit, as the typed payloads of
//! `steward_audit::event`: [`PermitPayload`] is one of them, bound to its event type.
//!
//! Plans build payloads, never `json!` literals, so a member's name and shape are written
//! in one place (the payload struct, pinned by steward-audit's golden tests) and a
//! person's free text can only travel sealed, as the payload's [`Personal`].

use serde::{Deserialize, Deserializer};
use serde_json::Value;
use steward_audit::EventPayload;
use steward_audit::event::{
    EmergencyApproved, EmergencyDeclared, EmergencyEnded, EmergencyRenewed, EmergencyResolved,
    EmergencyReviewFiled, PermitApprovalOverdue, PermitApprovalRecorded, PermitApproved,
    PermitArchived, PermitCabSignedOff, PermitChangesRequested, PermitClosed, PermitCompleted,
    PermitEscalated, PermitExpired, PermitExpiryGraceStarted, PermitExpiryWarning, PermitIssued,
    PermitRejected, PermitRenewalApprovalRecorded, PermitRenewed, PermitRequested,
    PermitResubmitted, PermitReviewStarted, PermitRevoked, PermitStarted,
};
use steward_policy::Level;

use crate::state::PermitState;

/// Declares a union of event payloads (`$name`) over payload structs, with a `From` for
/// each: it serializes as the payload it holds and names that payload's type, so a store
/// appends it through `NewEvent::typed` as if it were the payload itself. Never read back.
macro_rules! payload_union {
    ($(#[$meta:meta])* $name:ident, $placeholder:ident { $($variant:ident($payload:ident),)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub enum $name {
            $($variant($payload),)*
        }

        $(impl From<$payload> for $name {
            fn from(payload: $payload) -> $name {
                $name::$variant(payload)
            }
        })*

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                match self {
                    $($name::$variant(payload) => serde::Serialize::serialize(payload, serializer),)*
                }
            }
        }

        impl steward_audit::EventPayload for $name {
            /// Meaningless for the union: [`EventPayload::event_type`] names the type.
            const TYPE: steward_audit::EventType = steward_audit::EventType::$placeholder;

            fn event_type(&self) -> steward_audit::EventType {
                match self {
                    $($name::$variant(payload) => steward_audit::EventPayload::event_type(payload),)*
                }
            }

            fn take_personal(&mut self) -> Option<steward_audit::Personal> {
                match self {
                    $($name::$variant(payload) => steward_audit::EventPayload::take_personal(payload),)*
                }
            }
        }
    };
}
pub(crate) use payload_union;

payload_union! {
    /// The data of one event a plan appends about its permit.
    #[expect(
        clippy::large_enum_variant,
        reason = "a plan holds a few events for one use case; boxing buys nothing"
    )]
    PermitPayload, PermitRequested {
    Requested(PermitRequested),
    ReviewStarted(PermitReviewStarted),
    ApprovalRecorded(PermitApprovalRecorded),
    CabSignedOff(PermitCabSignedOff),
    Approved(PermitApproved),
    Rejected(PermitRejected),
    ChangesRequested(PermitChangesRequested),
    Resubmitted(PermitResubmitted),
    Issued(PermitIssued),
    Started(PermitStarted),
    Completed(PermitCompleted),
    Closed(PermitClosed),
    Revoked(PermitRevoked),
    Expired(PermitExpired),
    Archived(PermitArchived),
    RenewalApprovalRecorded(PermitRenewalApprovalRecorded),
    Renewed(PermitRenewed),
    ApprovalOverdue(PermitApprovalOverdue),
    Escalated(PermitEscalated),
    ExpiryWarning(PermitExpiryWarning),
    ExpiryGraceStarted(PermitExpiryGraceStarted),
    EmergencyDeclared(EmergencyDeclared),
    EmergencyApproved(EmergencyApproved),
    EmergencyRenewed(EmergencyRenewed),
    EmergencyResolved(EmergencyResolved),
    EmergencyEnded(EmergencyEnded),
    EmergencyReviewFiled(EmergencyReviewFiled),
}}

/// A plan's events are written, never read as the union: a reader knows the event type
/// and reads that type's payload.
impl<'de> Deserialize<'de> for PermitPayload {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<PermitPayload, D::Error> {
        Err(serde::de::Error::custom(
            "a permit event is read as the payload of its own type",
        ))
    }
}

impl PermitPayload {
    /// Records a transition's states in the payload (`from` and `to`; `permit.started`
    /// named only `from` before plans wrote both).
    pub(crate) fn moved(&mut self, from: PermitState, to: PermitState) {
        let (from, to) = (from.as_str().to_owned(), to.as_str().to_owned());
        let states = match self {
            PermitPayload::ReviewStarted(p) => (&mut p.from, &mut p.to),
            PermitPayload::Approved(p) => (&mut p.from, &mut p.to),
            PermitPayload::Rejected(p) => (&mut p.from, &mut p.to),
            PermitPayload::ChangesRequested(p) => (&mut p.from, &mut p.to),
            PermitPayload::Resubmitted(p) => (&mut p.from, &mut p.to),
            PermitPayload::Issued(p) => (&mut p.from, &mut p.to),
            PermitPayload::Completed(p) => (&mut p.from, &mut p.to),
            PermitPayload::Closed(p) => (&mut p.from, &mut p.to),
            PermitPayload::Expired(p) => (&mut p.from, &mut p.to),
            PermitPayload::Archived(p) => (&mut p.from, &mut p.to),
            PermitPayload::Started(p) => {
                (p.from, p.to) = (from, Some(to));
                return;
            }
            PermitPayload::Revoked(p) => {
                (p.from, p.to) = (Some(from), Some(to));
                return;
            }
            _ => return,
        };
        (*states.0, *states.1) = (from, to);
    }

    /// The level the event is recorded at: an emergency's own events at level 4, kept as
    /// long as the longest retention (SPEC §9); the permit's events at its level.
    pub fn level(&self, permit_level: Level) -> Level {
        if self.event_type().family() == "emergency" {
            Level::MASTER
        } else {
            permit_level
        }
    }

    /// The event's data as stored, without its personal values (which stay sealed).
    pub fn data(&self) -> Value {
        // A payload has string keys and infallible members: this does not fail.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}
