//! Promotion (SPEC §5: "Promotion is always a human act"): eligibility, human approvals
//! under segregation of duties, and the promotion itself once the approvals meet the
//! quorum. Steward never promotes on its own.

use serde_json::json;
use steward_audit::Actor;
use steward_permits::{
    Candidate, Eligibility, Parties, PromotionError, QuorumStatus, RecordedApproval, Timestamp,
    check_approver, check_promotion, eligibility, promote, promotion_approvals,
};
use steward_policy::{Level, Role};

use super::{Worker, WorkerError, row, worker_event};
use crate::audit::append_event;
use crate::error::StoreError;
use crate::personal::{PersonalText, PersonalValues, with_personal};
use crate::principal::{Principal, PrincipalKind};
use crate::store::{Store, Tx, new_id, on_tx};

/// One human's approval of a promotion, still counting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionApproval {
    pub id: String,
    pub principal_id: String,
    pub role: Role,
    pub comment: Option<String>,
    pub created_at_ms: i64,
}

/// Where a promotion stands after an approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionState {
    /// The worker after the approval: at `target`, when `promoted`.
    pub worker: Worker,
    pub target: Level,
    pub promoted: bool,
    /// The approvals towards `target`: those that made the promotion when `promoted`
    /// (they count no more), the ones still open otherwise.
    pub approvals: Vec<PromotionApproval>,
    /// What the approvals still lack; `met` when `promoted`.
    pub quorum: QuorumStatus,
}

/// Why open approvals were closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClosedBy {
    /// The promotion they approved happened.
    Promoted,
    /// The worker was suspended or revoked; approvals given before do not carry over.
    Voided,
}

impl ClosedBy {
    fn as_str(self) -> &'static str {
        match self {
            ClosedBy::Promoted => "promoted",
            ClosedBy::Voided => "voided",
        }
    }
}

impl Store {
    /// Whether worker `worker_id` may be promoted to `target` at `now_ms`, with one reason
    /// per criterion, and the worker it was read from. Reads only.
    pub async fn eligibility(
        &self,
        worker_id: &str,
        target: Level,
        now_ms: i64,
    ) -> Result<(Worker, Eligibility), StoreError> {
        let worker = self.worker(worker_id).await?;
        let verdict = eligibility(&worker.record(), target, Timestamp(now_ms));
        Ok((worker, verdict))
    }

    /// The approvals of worker `worker_id`'s promotion to `target` that still count, oldest
    /// first.
    pub async fn promotion_approvals(
        &self,
        worker_id: &str,
        target: Level,
    ) -> Result<Vec<PromotionApproval>, StoreError> {
        let mut tx = self.begin().await?;
        let approvals = open_approvals(&mut tx, worker_id, Some(target)).await?;
        tx.rollback().await?;
        Ok(approvals)
    }

    /// Records `by_principal`'s approval, as `role`, of promoting worker `worker_id` to
    /// `target`, and promotes the worker when the approvals meet the quorum.
    ///
    /// In order, each refusal writing nothing:
    /// 1. the worker must be eligible now ([`WorkerError::NotEligible`], listing every
    ///    unmet criterion): no approval is recorded for an ineligible worker;
    /// 2. the approver must pass `check_approver` against the promotion's requirements
    ///    ([`WorkerError::ApproverRefused`]): a human holding an eligible role, neither the
    ///    worker's owner nor the worker's own identity, and not having approved this
    ///    promotion already. (A promotion has no requester: nobody asks for it but the
    ///    approvers themselves.)
    ///
    /// Then the approval is recorded (`worker.promotion_approved`). When the open
    /// approvals meet `promotion_approvals(target)`, the worker is promoted
    /// (`worker.promoted`): new level from now, probation where it applies, a
    /// recertification date, and every open approval closed, so none counts towards a
    /// later promotion.
    #[expect(
        clippy::too_many_arguments,
        reason = "one use case, every input a value"
    )]
    pub async fn approve_promotion(
        &self,
        by: &Actor,
        by_principal: &Principal,
        worker_id: &str,
        target: Level,
        role: Role,
        comment: Option<PersonalText>,
        now_ms: i64,
    ) -> Result<PromotionState, WorkerError> {
        let now = Timestamp(now_ms);
        let mut tx = self.begin().await?;
        let before = row::lock(&mut tx, worker_id).await?;
        let record = before.record();

        let verdict = eligibility(&record, target, now);
        if !verdict.eligible {
            return Err(WorkerError::NotEligible {
                worker_id: before.id,
                target,
                eligibility: verdict,
            });
        }

        let rules = promotion_approvals(target);
        let mut approvals = open_approvals(&mut tx, &before.id, Some(target)).await?;
        let parties = Parties {
            requester: String::new(),
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
            &recorded(&approvals),
        )
        .map_err(|refusal| WorkerError::ApproverRefused { target, refusal })?;

        let approval = PromotionApproval {
            id: new_id(),
            principal_id: by_principal.id.clone(),
            role,
            comment: comment.clone().map(PersonalText::into_column),
            created_at_ms: now_ms,
        };
        insert_approval(&mut tx, &before.id, target, &approval).await?;
        append_event(
            &mut tx,
            worker_event(
                by,
                now_ms,
                "worker.promotion_approved",
                &before,
                // The comment is the approver's free text: stored encrypted for them.
                with_personal(
                    json!({
                        "approval_id": approval.id,
                        "target_level": target.value(),
                        "principal_id": approval.principal_id,
                        "role": role.as_str(),
                    }),
                    &approval.principal_id,
                    PersonalValues::new().text("comment", comment.as_ref()),
                ),
            ),
        )
        .await?;
        approvals.push(approval);

        let counted = recorded(&approvals);
        let quorum = check_promotion(&rules, &counted);
        let promoted = if quorum.met {
            match promote(&record, target, &counted, now) {
                Ok(promoted) => Some(promoted),
                // Eligibility was checked above on the same record and instant.
                Err(PromotionError::NotEligible { .. }) => {
                    return Err(WorkerError::NotEligible {
                        worker_id: before.id,
                        target,
                        eligibility: verdict,
                    });
                }
                // Cannot happen (the same quorum rule just said met); fail closed.
                Err(PromotionError::ApprovalsMissing { .. }) => None,
            }
        } else {
            None
        };

        let worker = match promoted {
            Some(promoted) => {
                let after = row::save(&mut tx, &before, &promoted, now_ms).await?;
                close_open_approvals(&mut tx, &after.id, ClosedBy::Promoted, now_ms).await?;
                append_event(
                    &mut tx,
                    worker_event(
                        by,
                        now_ms,
                        "worker.promoted",
                        &after,
                        json!({
                            "from_level": before.level.value(),
                            "to_level": after.level.value(),
                            "status": after.status.as_str(),
                            "probation_until": after.probation_until_ms,
                            "recertify_by": after.recertify_by_ms,
                            "approvals": approvals.iter().map(|a| json!({
                                "approval_id": a.id,
                                "principal_id": a.principal_id,
                                "role": a.role.as_str(),
                            })).collect::<Vec<_>>(),
                        }),
                    ),
                )
                .await?;
                after
            }
            None => before,
        };
        tx.commit().await?;
        Ok(PromotionState {
            promoted: worker.level == target,
            worker,
            target,
            approvals,
            quorum,
        })
    }
}

fn recorded(approvals: &[PromotionApproval]) -> Vec<RecordedApproval> {
    approvals
        .iter()
        .map(|a| RecordedApproval {
            principal_id: a.principal_id.clone(),
            role: a.role,
        })
        .collect()
}

/// One `promotion_approvals` row.
#[derive(sqlx::FromRow)]
struct ApprovalRow {
    id: String,
    principal_id: String,
    role: String,
    comment: Option<String>,
    created_at: i64,
}

/// The open approvals of `worker_id`, towards `target` or every target.
async fn open_approvals(
    tx: &mut Tx<'_>,
    worker_id: &str,
    target: Option<Level>,
) -> Result<Vec<PromotionApproval>, StoreError> {
    // `CAST` gives PostgreSQL the type of a parameter only compared with NULL.
    const SQL: &str = "SELECT id, principal_id, role, comment, created_at \
         FROM promotion_approvals WHERE worker_id = $1 \
         AND (CAST($2 AS BIGINT) IS NULL OR target_level = $2) AND closed_at IS NULL \
         ORDER BY created_at, id";
    let target = target.map(|t| i64::from(t.value()));
    let rows = on_tx!(tx, |conn| {
        sqlx::query_as::<_, ApprovalRow>(SQL)
            .bind(worker_id)
            .bind(target)
            .fetch_all(&mut **conn)
            .await?
    });
    rows.into_iter()
        .map(|row| {
            let role = row
                .role
                .parse::<Role>()
                .map_err(|e| StoreError::corrupt("promotion approval", &row.id, e))?;
            Ok(PromotionApproval {
                id: row.id,
                principal_id: row.principal_id,
                role,
                comment: row.comment,
                created_at_ms: row.created_at,
            })
        })
        .collect()
}

async fn insert_approval(
    tx: &mut Tx<'_>,
    worker_id: &str,
    target: Level,
    approval: &PromotionApproval,
) -> Result<(), StoreError> {
    const SQL: &str = "INSERT INTO promotion_approvals (id, worker_id, target_level, \
         principal_id, role, comment, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
    let inserted = on_tx!(tx, |conn| {
        sqlx::query(SQL)
            .bind(&approval.id)
            .bind(worker_id)
            .bind(i64::from(target.value()))
            .bind(&approval.principal_id)
            .bind(approval.role.as_str())
            .bind(&approval.comment)
            .bind(approval.created_at_ms)
            .execute(&mut **conn)
            .await
            .map(|_| ())
    });
    match inserted.map_err(StoreError::from) {
        // The unique index on open approvals: a racing duplicate of this same approval.
        Err(error) if error.is_conflict() => Err(StoreError::Conflict {
            message: format!(
                "`{}` already approved the promotion of worker `{worker_id}` to level {target}",
                approval.principal_id
            ),
        }),
        other => other,
    }
}

/// Closes every open approval of `worker_id`, whatever its target.
pub(super) async fn close_open_approvals(
    tx: &mut Tx<'_>,
    worker_id: &str,
    why: ClosedBy,
    now_ms: i64,
) -> Result<u64, StoreError> {
    const SQL: &str = "UPDATE promotion_approvals SET closed_at = $1, closed_by = $2 \
         WHERE worker_id = $3 AND closed_at IS NULL";
    let closed = on_tx!(tx, |conn| {
        sqlx::query(SQL)
            .bind(now_ms)
            .bind(why.as_str())
            .bind(worker_id)
            .execute(&mut **conn)
            .await?
            .rows_affected()
    });
    Ok(closed)
}
