//! Legal holds, the decisions: a new hold, its release (once), and the audit events that
//! record both. The store checks the names a hold refers to and writes the rows.

use serde_json::json;

use crate::event::{HoldCreated, HoldReleased, Personal};
use crate::retention::HoldScope;

/// A legal hold: while active, pruning keeps every event it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegalHold {
    pub id: String,
    pub scope: HoldScope,
    pub reason: String,
    /// The principal (or system actor) id that created it.
    pub created_by: String,
    pub created_at_ms: i64,
    /// Set once released; a released hold stops nothing.
    pub released: Option<HoldRelease>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRelease {
    pub by: String,
    pub at_ms: i64,
    pub reason: String,
}

/// A legal hold to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLegalHold {
    pub scope: HoldScope,
    /// Why (a case or matter reference): required, recorded in the audit event.
    pub reason: String,
}

/// A hold can be released only once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("legal hold `{id}` is already released")]
pub struct HoldReleasedError {
    pub id: String,
}

impl LegalHold {
    /// The active hold `id` that `by` places at `now_ms`, and its `audit.hold_created`
    /// event (the reason, the auditor's free text, is personal to `by`).
    pub fn place(
        id: String,
        hold: NewLegalHold,
        by: &str,
        now_ms: i64,
    ) -> (LegalHold, HoldCreated) {
        let created = LegalHold {
            id,
            scope: hold.scope,
            reason: hold.reason,
            created_by: by.to_owned(),
            created_at_ms: now_ms,
            released: None,
        };
        let event = HoldCreated {
            hold_id: created.id.clone(),
            scope: created.scope.to_json(),
            personal: Some(Personal::of(by).plain("reason", json!(created.reason))),
        };
        (created, event)
    }

    /// Releases the hold, by `by` at `at_ms` for `reason`, and returns its
    /// `audit.hold_released` event (the reason personal to `by`); a hold already released
    /// is refused and left as it was.
    pub fn release(
        &mut self,
        by: &str,
        at_ms: i64,
        reason: &str,
    ) -> Result<HoldReleased, HoldReleasedError> {
        if self.released.is_some() {
            return Err(self.released_error());
        }
        self.released = Some(HoldRelease {
            by: by.to_owned(),
            at_ms,
            reason: reason.to_owned(),
        });
        Ok(HoldReleased {
            hold_id: self.id.clone(),
            scope: self.scope.to_json(),
            personal: Some(Personal::of(by).plain("reason", json!(reason))),
        })
    }

    /// The refusal of a second release.
    pub fn released_error(&self) -> HoldReleasedError {
        HoldReleasedError {
            id: self.id.clone(),
        }
    }
}

#[cfg(test)]
mod tests;
