//! Initial certification (adopting a worker with a record elsewhere): the worker's owner
//! or an admin asks for level 1–4 with a justification and evidence of the prior record;
//! human approvers approve as for a promotion to that level; when the approvals meet the
//! quorum the worker is certified (`worker.certified_initially`) and starts the level's
//! probation. The rules are `steward_permits::{check_initial_certification,
//! check_approver, certify_initially}`; this module loads, locks and writes.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::types::Json;
use steward_audit::Actor;
use steward_permits::{
    Candidate, InitialCertification, Parties, PriorRecord, QuorumStatus, RecordedApproval,
    Timestamp, certify_initially, check_approver, check_initial_certification, check_promotion,
    initial_certification_approvals,
};
use steward_policy::{Level, Role};

use super::{Worker, WorkerError, promotion, row, worker_event};
use crate::audit::append_event;
use crate::error::StoreError;
use crate::personal::PersonalText;
use crate::principal::{Principal, PrincipalKind};
use crate::store::{Store, Tx, on_tx};

/// An initial certification as stored: what was asked, by whom, and who approved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitialCertificationRecord {
    pub worker_id: String,
    pub target_level: Level,
    pub justification: String,
    pub prior_record: PriorRecordView,
    pub requested_by: String,
    pub requested_at_ms: i64,
    /// Approvals so far (principal, role, time); their comments are in the audit events.
    pub approvals: Vec<InitialApproval>,
    /// Set when the approvals met the quorum and the worker was certified.
    pub certified_at_ms: Option<i64>,
}

/// The prior record at the wire and in the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorRecordView {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    pub prior_operations: u32,
}

/// One approval of an initial certification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitialApproval {
    pub principal_id: String,
    pub role: Role,
    pub created_at_ms: i64,
}

/// Where an initial certification stands after a request or an approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialCertificationState {
    pub worker: Worker,
    pub request: InitialCertificationRecord,
    /// What the approvals still lack; `met` once certified.
    pub quorum: QuorumStatus,
    pub certified: bool,
}

impl Store {
    /// Asks for worker `worker_id` to be certified at `request.target` (its owner or an
    /// admin). Refused, writing nothing, when the worker has a certification history,
    /// the justification or the evidence is missing (`check_initial_certification`), or
    /// a request was already made for it. Appends `worker.initial_certification_requested`.
    pub async fn request_initial_certification(
        &self,
        by: &Actor,
        by_principal: &Principal,
        worker_id: &str,
        request: &InitialCertification,
        now_ms: i64,
    ) -> Result<InitialCertificationState, WorkerError> {
        let mut tx = self.begin().await?;
        let worker = row::lock(&mut tx, worker_id).await?;
        if by_principal.id != worker.owner_id && !by_principal.has_role(Role::Admin) {
            return Err(WorkerError::NotOwner {
                worker_id: worker.id,
                action: "ask for its initial certification",
            });
        }
        check_initial_certification(&worker.record(), request)
            .map_err(WorkerError::InitialCertification)?;
        if load(&mut tx, &worker.id).await?.is_some() {
            return Err(WorkerError::Store(StoreError::Conflict {
                message: format!(
                    "an initial certification of worker `{}` was already asked for; approve it (`steward worker certify approve`) instead",
                    worker.id
                ),
            }));
        }
        let record = InitialCertificationRecord {
            worker_id: worker.id.clone(),
            target_level: request.target,
            justification: request.justification.trim().to_owned(),
            prior_record: PriorRecordView {
                document: request.prior_record.document.clone(),
                link: request.prior_record.link.clone(),
                prior_operations: request.prior_record.prior_operations,
            },
            requested_by: by_principal.id.clone(),
            requested_at_ms: now_ms,
            approvals: Vec::new(),
            certified_at_ms: None,
        };
        insert(&mut tx, &record).await?;
        append_event(
            &mut tx,
            worker_event(
                by,
                now_ms,
                "worker.initial_certification_requested",
                &worker,
                json!({
                    "target_level": record.target_level.value(),
                    "justification": record.justification,
                    "prior_record": record.prior_record,
                    "requested_by": record.requested_by,
                    "approvals_needed": approvals_needed(record.target_level),
                }),
            ),
        )
        .await?;
        tx.commit().await?;
        let quorum = check_promotion(&initial_certification_approvals(record.target_level), &[]);
        Ok(InitialCertificationState {
            worker,
            request: record,
            quorum,
            certified: false,
        })
    }

    /// Records `by_principal`'s approval, as `role`, of the initial certification asked
    /// for worker `worker_id`, and certifies the worker when the approvals meet the
    /// quorum of a promotion to that level. The approver must pass `check_approver`
    /// (a human with an eligible role; neither whoever asked, nor the owner, nor the
    /// worker; one vote each). Appends `worker.initial_certification_approved` and, on
    /// the last approval, `worker.certified_initially`.
    pub async fn approve_initial_certification(
        &self,
        by: &Actor,
        by_principal: &Principal,
        worker_id: &str,
        role: Role,
        comment: Option<PersonalText>,
        now_ms: i64,
    ) -> Result<InitialCertificationState, WorkerError> {
        let mut tx = self.begin().await?;
        let before = row::lock(&mut tx, worker_id).await?;
        let Some(mut record) = load(&mut tx, &before.id).await? else {
            return Err(WorkerError::Store(StoreError::NotFound {
                what: "initial certification of worker",
                id: before.id,
            }));
        };
        let target = record.target_level;
        if record.certified_at_ms.is_some() {
            return Err(WorkerError::Store(StoreError::Conflict {
                message: format!(
                    "worker `{}` was already certified initially at level {target}",
                    before.id
                ),
            }));
        }
        // The worker may have been suspended or revoked since the request.
        let request = InitialCertification {
            target,
            justification: record.justification.clone(),
            prior_record: PriorRecord {
                document: record.prior_record.document.clone(),
                link: record.prior_record.link.clone(),
                prior_operations: record.prior_record.prior_operations,
            },
        };
        check_initial_certification(&before.record(), &request)
            .map_err(WorkerError::InitialCertification)?;
        let rules = initial_certification_approvals(target);
        let parties = Parties {
            requester: record.requested_by.clone(),
            worker_id: before
                .principal_id
                .clone()
                .unwrap_or_else(|| before.id.clone()),
            worker_owner: before.owner_id.clone(),
        };
        let candidate = Candidate {
            principal_id: by_principal.id.clone(),
            human: by_principal.kind == PrincipalKind::Human,
            roles: by_principal.roles.clone(),
        };
        check_approver(
            &rules.requirements(),
            &parties,
            &candidate,
            role,
            &recorded(&record.approvals),
        )
        .map_err(|refusal| WorkerError::ApproverRefused { target, refusal })?;
        record.approvals.push(InitialApproval {
            principal_id: by_principal.id.clone(),
            role,
            created_at_ms: now_ms,
        });
        append_event(
            &mut tx,
            worker_event(
                by,
                now_ms,
                "worker.initial_certification_approved",
                &before,
                crate::personal::with_personal(
                    json!({
                        "target_level": target.value(),
                        "principal_id": by_principal.id,
                        "role": role.as_str(),
                    }),
                    &by_principal.id,
                    crate::personal::PersonalValues::new().text("comment", comment.as_ref()),
                ),
            ),
        )
        .await?;
        let counted = recorded(&record.approvals);
        let quorum = check_promotion(&rules, &counted);
        let certified = certify_initially(&before.record(), target, &counted, Timestamp(now_ms));
        let worker = match certified {
            Some(certified) => {
                let after = row::save(&mut tx, &before, &certified, now_ms).await?;
                // Promotion approvals given before the worker had a level count no more.
                promotion::close_open_approvals(
                    &mut tx,
                    &after.id,
                    promotion::ClosedBy::Voided,
                    now_ms,
                )
                .await?;
                record.certified_at_ms = Some(now_ms);
                append_event(
                    &mut tx,
                    worker_event(
                        by,
                        now_ms,
                        "worker.certified_initially",
                        &after,
                        json!({
                            "from_level": before.level.value(),
                            "to_level": after.level.value(),
                            "status": after.status.as_str(),
                            "probation_until": after.probation_until_ms,
                            "recertify_by": after.recertify_by_ms,
                            "justification": record.justification,
                            "prior_record": record.prior_record,
                            "requested_by": record.requested_by,
                            "approvals": record.approvals,
                        }),
                    ),
                )
                .await?;
                after
            }
            None => before,
        };
        save(&mut tx, &record).await?;
        tx.commit().await?;
        Ok(InitialCertificationState {
            certified: record.certified_at_ms.is_some(),
            worker,
            request: record,
            quorum,
        })
    }

    /// The initial certification asked for worker `worker_id`, if any.
    pub async fn initial_certification(
        &self,
        worker_id: &str,
    ) -> Result<Option<InitialCertificationRecord>, StoreError> {
        let mut tx = self.begin().await?;
        let record = load(&mut tx, worker_id).await?;
        tx.rollback().await?;
        Ok(record)
    }
}

/// What a request needs, for its event: count and roles.
fn approvals_needed(target: Level) -> Value {
    let rules = initial_certification_approvals(target);
    json!({
        "approvers_required": rules.approvers_required,
        "approver_roles": rules.approver_roles,
        "required_roles": rules.required_roles,
    })
}

fn recorded(approvals: &[InitialApproval]) -> Vec<RecordedApproval> {
    approvals
        .iter()
        .map(|a| RecordedApproval {
            principal_id: a.principal_id.clone(),
            role: a.role,
        })
        .collect()
}

/// One `initial_certifications` row.
#[derive(sqlx::FromRow)]
struct Row {
    target_level: i64,
    justification: String,
    /// JSON.
    prior_record: String,
    requested_by: String,
    requested_at: i64,
    /// JSON.
    approvals: String,
    certified_at: Option<i64>,
}

async fn load(
    tx: &mut Tx<'_>,
    worker_id: &str,
) -> Result<Option<InitialCertificationRecord>, StoreError> {
    let sql = format!(
        "SELECT target_level, justification, CAST(prior_record AS TEXT) AS prior_record, \
         requested_by, requested_at, CAST(approvals AS TEXT) AS approvals, certified_at \
         FROM initial_certifications WHERE worker_id = $1{}",
        tx.for_update()
    );
    let row = on_tx!(tx, |conn| {
        sqlx::query_as::<_, Row>(&sql)
            .bind(worker_id)
            .fetch_optional(&mut **conn)
            .await?
    });
    let Some(Row {
        target_level: level,
        justification,
        prior_record: prior,
        requested_by,
        requested_at,
        approvals,
        certified_at: certified,
    }) = row
    else {
        return Ok(None);
    };
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        StoreError::corrupt("initial certification", worker_id, format!("{what}: {e}"))
    };
    Ok(Some(InitialCertificationRecord {
        worker_id: worker_id.to_owned(),
        target_level: u8::try_from(level)
            .ok()
            .and_then(Level::new)
            .ok_or_else(|| bad("target_level", &level))?,
        justification,
        prior_record: serde_json::from_str(&prior).map_err(|e| bad("prior_record", &e))?,
        requested_by,
        requested_at_ms: requested_at,
        approvals: serde_json::from_str(&approvals).map_err(|e| bad("approvals", &e))?,
        certified_at_ms: certified,
    }))
}

async fn insert(tx: &mut Tx<'_>, r: &InitialCertificationRecord) -> Result<(), StoreError> {
    const SQL: &str = "INSERT INTO initial_certifications (worker_id, target_level, \
         justification, prior_record, requested_by, requested_at) \
         VALUES ($1, $2, $3, $4, $5, $6)";
    on_tx!(tx, |conn| {
        sqlx::query(SQL)
            .bind(&r.worker_id)
            .bind(i64::from(r.target_level.value()))
            .bind(&r.justification)
            .bind(Json(json!(r.prior_record)))
            .bind(&r.requested_by)
            .bind(r.requested_at_ms)
            .execute(&mut **conn)
            .await?;
    });
    Ok(())
}

async fn save(tx: &mut Tx<'_>, r: &InitialCertificationRecord) -> Result<(), StoreError> {
    const SQL: &str = "UPDATE initial_certifications SET approvals = $1, certified_at = $2 \
         WHERE worker_id = $3";
    on_tx!(tx, |conn| {
        sqlx::query(SQL)
            .bind(Json(json!(r.approvals)))
            .bind(r.certified_at_ms)
            .bind(&r.worker_id)
            .execute(&mut **conn)
            .await?;
    });
    Ok(())
}
