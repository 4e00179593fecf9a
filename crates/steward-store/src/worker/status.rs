//! Certification status changes (SPEC §5), each through `apply_cert_action`: suspend,
//! reinstate, revoke (which revokes the worker's live permits in the same transaction),
//! recertify, end of probation, and expiry past the recertification grace period.

use serde_json::{Value, json};
use sqlx::types::Json;
use steward_audit::{Actor, ActorKind, Subject};
use steward_permits::{
    CertAction, PermitEvent, PermitState, Recertification, RevocationReason, Timestamp,
    WorkerRecord, apply, apply_cert_action, recertification, recertification_due,
};
use steward_policy::Level;

use super::promotion::{ClosedBy, close_open_approvals};
use super::{Worker, WorkerError, row, worker_event};
use crate::audit::{NewEvent, append_event};
use crate::error::StoreError;
use crate::permit::PermitRevocation;
use crate::store::{Store, Tx, on_tx};

/// What [`Store::revoke`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub worker: Worker,
    /// The permits revoked with the certification (reason `certification_revoked`).
    pub revoked_permits: Vec<String>,
}

impl Store {
    /// Suspends the worker's certification (`worker.suspended`) and voids its pending
    /// promotion approvals. Suspending a suspended worker changes and records nothing.
    pub async fn suspend(
        &self,
        by: &Actor,
        worker_id: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<Worker, WorkerError> {
        let change = Change::new(CertAction::Suspend, Some(reason))?;
        Ok(self
            .change_status(by, worker_id, change, now_ms)
            .await?
            .worker)
    }

    /// Reinstates a suspended worker to `active` (`worker.reinstated`).
    pub async fn reinstate(
        &self,
        by: &Actor,
        worker_id: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<Worker, WorkerError> {
        let change = Change::new(CertAction::Reinstate, Some(reason))?;
        Ok(self
            .change_status(by, worker_id, change, now_ms)
            .await?
            .worker)
    }

    /// Revokes the worker's certification (`worker.revoked`), voids its pending
    /// promotion approvals, and revokes every live permit of the worker (approved,
    /// active or executing) with reason `certification_revoked`, one `permit.revoked`
    /// event each, all in one transaction (SPEC §5).
    ///
    /// Idempotent: revoking a revoked worker with no live permit changes and records
    /// nothing; one that somehow still has a live permit gets it revoked.
    pub async fn revoke(
        &self,
        by: &Actor,
        worker_id: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<Revocation, WorkerError> {
        let change = Change::new(CertAction::Revoke, Some(reason))?;
        self.change_status(by, worker_id, change, now_ms).await
    }

    /// Recertifies the worker, a human act (`worker.recertified`): the next
    /// recertification falls one period (365 days for levels 1–2, 90 for 3–4) from now,
    /// and an `expired` certification becomes `active` again. Level 0 is never
    /// recertified.
    pub async fn recertify(
        &self,
        by: &Actor,
        worker_id: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<Worker, WorkerError> {
        if by.kind != ActorKind::Human {
            return Err(WorkerError::HumanOnly {
                action: CertAction::Recertify,
            });
        }
        let change = Change::new(CertAction::Recertify, Some(reason))?;
        Ok(self
            .change_status(by, worker_id, change, now_ms)
            .await?
            .worker)
    }

    /// Ends a probation whose period is over (`worker.probation_ended`): the worker
    /// becomes `active`. Before `probation_until` it is [`WorkerError::ProbationNotOver`].
    pub async fn end_probation(
        &self,
        by: &Actor,
        worker_id: &str,
        now_ms: i64,
    ) -> Result<Worker, WorkerError> {
        let change = Change::new(CertAction::EndProbation, None)?;
        Ok(self
            .change_status(by, worker_id, change, now_ms)
            .await?
            .worker)
    }

    /// Expires every `active` or `probationary` certification past its recertification
    /// grace period at `now_ms` (`worker.expired` each), in one transaction, and returns
    /// the expired workers. For a timer; `by` is normally the system actor.
    pub async fn expire_overdue_certifications(
        &self,
        by: &Actor,
        now_ms: i64,
    ) -> Result<Vec<Worker>, StoreError> {
        let now = Timestamp(now_ms);
        let mut tx = self.begin().await?;
        let mut expired = Vec::new();
        for before in row::lock_overdue(&mut tx, now_ms).await? {
            let mut record = before.record();
            if recertification(&record, now) != Recertification::Expired {
                continue;
            }
            let Ok(status) = apply_cert_action(record.status, CertAction::Expire) else {
                continue;
            };
            record.status = status;
            let after = row::save(&mut tx, &before, &record, now_ms).await?;
            append_event(
                &mut tx,
                worker_event(
                    by,
                    now_ms,
                    "worker.expired",
                    &after,
                    json!({
                        "from_status": before.status.as_str(),
                        "recertify_by": before.recertify_by_ms,
                    }),
                ),
            )
            .await?;
            expired.push(after);
        }
        tx.commit().await?;
        Ok(expired)
    }

    async fn change_status(
        &self,
        by: &Actor,
        worker_id: &str,
        change: Change<'_>,
        now_ms: i64,
    ) -> Result<Revocation, WorkerError> {
        let now = Timestamp(now_ms);
        let mut tx = self.begin().await?;
        let before = row::lock(&mut tx, worker_id).await?;
        let status = apply_cert_action(before.status, change.action).map_err(|error| {
            WorkerError::IllegalTransition {
                worker_id: before.id.clone(),
                error,
            }
        })?;
        let mut record = WorkerRecord {
            status,
            ..before.record()
        };
        match change.action {
            CertAction::Recertify => {
                if before.level == Level::NON_UNION {
                    return Err(WorkerError::RecertificationNotRequired {
                        worker_id: before.id,
                    });
                }
                record.recertify_by = recertification_due(before.level, now);
            }
            CertAction::EndProbation => {
                if let Some(until) = record.probation_until.filter(|until| now < *until) {
                    return Err(WorkerError::ProbationNotOver {
                        worker_id: before.id,
                        until_ms: until.millis(),
                    });
                }
            }
            CertAction::Suspend
            | CertAction::Reinstate
            | CertAction::Revoke
            | CertAction::Expire => {}
        }
        let permits = if change.action == CertAction::Revoke {
            live_permits(&mut tx, &before.id).await?
        } else {
            Vec::new()
        };
        if record == before.record() && permits.is_empty() {
            // An idempotent repeat (suspend a suspended worker, revoke a revoked one):
            // nothing to change, so nothing to record.
            tx.rollback().await?;
            return Ok(Revocation {
                worker: before,
                revoked_permits: Vec::new(),
            });
        }

        let after = row::save(&mut tx, &before, &record, now_ms).await?;
        if matches!(change.action, CertAction::Suspend | CertAction::Revoke) {
            close_open_approvals(&mut tx, &after.id, ClosedBy::Voided, now_ms).await?;
        }
        let mut data = json!({
            "from_status": before.status.as_str(),
            "to_status": after.status.as_str(),
        });
        if let Some(reason) = change.reason {
            // A person's reason is free text: stored encrypted for them.
            data = crate::personal::with_personal(
                data,
                &by.id,
                crate::personal::PersonalValues::new().plain("reason", json!(reason)),
            );
        }
        match change.action {
            CertAction::Suspend => data["automatic"] = Value::Bool(false),
            CertAction::Recertify => data["recertify_by"] = json!(after.recertify_by_ms),
            CertAction::Revoke => {
                data["revoked_permits"] = json!(permits.iter().map(|p| &p.id).collect::<Vec<_>>());
            }
            CertAction::Reinstate | CertAction::Expire | CertAction::EndProbation => {}
        }
        append_event(
            &mut tx,
            worker_event(by, now_ms, change.event_type(), &after, data),
        )
        .await?;
        let mut revoked_permits = Vec::with_capacity(permits.len());
        for permit in permits {
            revoke_permit(&mut tx, by, &after.id, &permit, now_ms).await?;
            revoked_permits.push(permit.id);
        }
        tx.commit().await?;
        Ok(Revocation {
            worker: after,
            revoked_permits,
        })
    }
}

/// A status change asked for, with its reason when a human gives one.
struct Change<'r> {
    action: CertAction,
    reason: Option<&'r str>,
}

impl<'r> Change<'r> {
    fn new(action: CertAction, reason: Option<&'r str>) -> Result<Change<'r>, WorkerError> {
        let reason = reason.map(str::trim);
        if reason.is_some_and(str::is_empty) {
            return Err(WorkerError::Invalid {
                field: "reason",
                message: format!("a reason to {action} must not be empty"),
            });
        }
        Ok(Change { action, reason })
    }

    fn event_type(&self) -> &'static str {
        match self.action {
            CertAction::Suspend => "worker.suspended",
            CertAction::Reinstate => "worker.reinstated",
            CertAction::Revoke => "worker.revoked",
            CertAction::Expire => "worker.expired",
            CertAction::EndProbation => "worker.probation_ended",
            CertAction::Recertify => "worker.recertified",
        }
    }
}

/// A live permit of the worker being revoked: id, state and level.
struct LivePermit {
    id: String,
    state: PermitState,
    level: Option<Level>,
}

/// The worker's live permits, locked (PostgreSQL `FOR UPDATE`) so that each one's state
/// cannot change before it is revoked and its event names the state it left.
async fn live_permits(tx: &mut Tx<'_>, worker_id: &str) -> Result<Vec<LivePermit>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        id: String,
        state: String,
        level: i64,
    }
    // The live states are the enum's own literals, never input, so they are written into
    // the statement: one text for both backends (SQLite has no array parameters).
    let live = PermitState::ALL
        .iter()
        .filter(|state| state.is_live())
        .map(|state| format!("'{}'", state.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT id, state, level FROM permits WHERE worker_id = $1 AND state IN ({live}) \
         ORDER BY id{}",
        tx.for_update()
    );
    let rows = on_tx!(tx, |conn| {
        sqlx::query_as::<_, Row>(&sql)
            .bind(worker_id)
            .fetch_all(&mut **conn)
            .await?
    });
    rows.into_iter()
        .map(|Row { id, state, level }| {
            let state = state
                .parse::<PermitState>()
                .map_err(|e| StoreError::corrupt("permit", &id, e))?;
            let level = u8::try_from(level).ok().and_then(Level::new);
            Ok(LivePermit { id, state, level })
        })
        .collect()
}

/// Revokes one live permit because its worker's certification was revoked, and records
/// `permit.revoked`.
async fn revoke_permit(
    tx: &mut Tx<'_>,
    by: &Actor,
    worker_id: &str,
    permit: &LivePermit,
    now_ms: i64,
) -> Result<(), StoreError> {
    let reason = RevocationReason::CertificationRevoked;
    let to = apply(permit.state, &PermitEvent::Revoke { reason })
        .map_err(|e| StoreError::corrupt("permit", &permit.id, e))?;
    // By id and the state just read, not by worker: a permit that appeared or moved
    // since (it cannot, under the lock) is left alone rather than revoked unrecorded.
    // The event first, so the permit's revocation can name its seq; both commit or
    // neither does.
    let data = json!({
        "reason": reason.as_str(),
        "from_state": permit.state.as_str(),
    });
    let entry = append_event(
        tx,
        NewEvent {
            ts_ms: now_ms,
            event_type: "permit.revoked".to_owned(),
            actor: by.clone(),
            subject: Subject {
                permit_id: Some(permit.id.clone()),
                worker_id: Some(worker_id.to_owned()),
                ..Subject::default()
            },
            level: permit.level,
            data: data.clone(),
        },
    )
    .await?;
    let revocation = PermitRevocation::recorded(reason, by, &data, entry.seq, now_ms);
    // By id and the state just read, not by worker: a permit that appeared or moved
    // since (it cannot, under the lock) is left alone rather than revoked unrecorded.
    const SQL: &str = "UPDATE permits SET state = $1, revocation_reason = $2, revocation = $3, \
         updated_at = $4, version = version + 1 WHERE id = $5 AND state = $6";
    let changed = on_tx!(tx, |conn| {
        sqlx::query(SQL)
            .bind(to.as_str())
            .bind(reason.as_str())
            .bind(Json(&revocation))
            .bind(now_ms)
            .bind(&permit.id)
            .bind(permit.state.as_str())
            .execute(&mut **conn)
            .await?
            .rows_affected()
    });
    if changed != 1 {
        return Err(StoreError::Conflict {
            message: format!(
                "permit `{}` changed while its worker's certification was revoked; retry",
                permit.id
            ),
        });
    }
    Ok(())
}
