//! Operation outcomes: each finished operation folds into the worker's history, and
//! suspends its certification automatically on a safety violation or the third
//! consecutive failed union operation (SPEC §5).

use serde_json::json;
use steward_audit::{Actor, ActorKind};
use steward_permits::{AutoSuspension, OperationOutcome, Timestamp, record_outcome};

use super::promotion::{ClosedBy, close_open_approvals};
use super::{Worker, WorkerError, row, worker_event};
use crate::audit::append_event;
use crate::store::Store;

/// The actor of automatic acts: Steward itself.
fn steward() -> Actor {
    Actor {
        kind: ActorKind::System,
        id: "steward".to_owned(),
        roles: Vec::new(),
        channel: None,
    }
}

impl Store {
    /// Records one operation's outcome (`worker.outcome_recorded`, at the operation's
    /// level) and returns the worker with why it was suspended, if it was.
    ///
    /// An automatic suspension records `worker.suspended` by the system actor, with
    /// `automatic: true` and the cause, and voids pending promotion approvals.
    ///
    /// Outcomes are facts, so they are recorded whatever the certification's status:
    /// a suspended, expired or revoked worker's late report still counts in its history
    /// (a safety violation there still counts towards "no violation ever"), and its
    /// status does not change.
    pub async fn record_outcome(
        &self,
        by: &Actor,
        worker_id: &str,
        outcome: OperationOutcome,
        now_ms: i64,
    ) -> Result<(Worker, Option<AutoSuspension>), WorkerError> {
        let mut tx = self.begin().await?;
        let before = row::lock(&mut tx, worker_id).await?;
        let (record, suspension) = record_outcome(before.record(), outcome, Timestamp(now_ms));
        let after = row::save(&mut tx, &before, &record, now_ms).await?;
        let mut event = worker_event(
            by,
            now_ms,
            "worker.outcome_recorded",
            &after,
            json!({
                "result": outcome.result.as_str(),
                "operation_level": outcome.level.value(),
                "status": after.status.as_str(),
                "consecutive_union_failures": after.stats.consecutive_union_failures,
            }),
        );
        event.level = Some(outcome.level);
        append_event(&mut tx, event).await?;
        if let Some(cause) = suspension {
            close_open_approvals(&mut tx, &after.id, ClosedBy::Voided, now_ms).await?;
            let (name, count) = match cause {
                AutoSuspension::SafetyViolation => ("safety_violation", None),
                AutoSuspension::ConsecutiveUnionFailures { count } => {
                    ("consecutive_union_failures", Some(count))
                }
            };
            append_event(
                &mut tx,
                worker_event(
                    &steward(),
                    now_ms,
                    "worker.suspended",
                    &after,
                    json!({
                        "automatic": true,
                        "cause": name,
                        "count": count,
                        "reason": cause.to_string(),
                        "from_status": before.status.as_str(),
                        "to_status": after.status.as_str(),
                        "reported_by": by.id,
                    }),
                ),
            )
            .await?;
        }
        tx.commit().await?;
        Ok((after, suspension))
    }
}
