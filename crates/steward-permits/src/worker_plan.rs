//! The worker use cases' decisions (SPEC §5), as plans: registration, the worker's
//! identity and who manages it, initial certification, promotion approvals, status
//! changes (with the revocation's permit cascade), the expiry sweep, the certification
//! timers and operation outcomes.
//!
//! The store locks and loads the worker (and what else the decision reads), builds a
//! snapshot of plain values, asks one function here for a plan, writes it and commits; or
//! it gets a [`WorkerRefusal`] and writes nothing. A plan is the worker's new
//! [`WorkerRecord`] (when it changes), the rows to write beside it, and the audit events
//! to append in order, each a typed payload of `steward_audit::event` with who it is
//! recorded as ([`By`]) and at which level. Every status change goes through
//! [`apply_cert_action`], the one certification gate.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use steward_audit::event::{
    ApprovalsNeeded, InitialApprovalRef, PermitRevoked, Personal, PersonalText,
    PromotionApprovalRef, WorkerCertificationGrace, WorkerCertifiedInitially, WorkerExpired,
    WorkerIdentityCreated, WorkerInitialCertificationApproved, WorkerInitialCertificationRequested,
    WorkerOutcomeRecorded, WorkerProbationEnded, WorkerPromoted, WorkerPromotionApproved,
    WorkerRecertified, WorkerRegistered, WorkerReinstated, WorkerRevoked, WorkerSuspended,
};
use steward_policy::{Level, Role};

use crate::approval::check_approver;
use crate::approval::{ApprovalRefusal, Candidate, Parties, QuorumStatus, RecordedApproval};
use crate::certification::{
    AutoSuspension, CertAction, CertTransitionError, Eligibility, OperationOutcome, PromotionError,
    Recertification, WorkerRecord, apply_cert_action, check_promotion, eligibility, promote,
    promotion_approvals, recertification, recertification_due, record_outcome,
};
use crate::initial::{
    InitialCertification, InitialCertificationError, PriorRecord, certify_initially,
    check_initial_certification, initial_certification_approvals,
};
use crate::outcome::{OutcomeParties, OutcomeRefusal, OutcomeReport, SeenWork, check_outcome};
use crate::plan::By;
use crate::state::{PermitEvent, PermitState, RevocationReason, apply};
use crate::time::Timestamp;
use crate::timers::{DueTimer, TimerKind, certification_grace_end};

/// Why a worker use case is refused: nothing is written. The store names each in its own
/// error (same fields, the API's rule codes).
#[derive(Debug, Clone, PartialEq)]
pub enum WorkerRefusal {
    /// Input the rules refuse (an empty name or reason); names the field.
    Invalid {
        field: &'static str,
        message: String,
    },
    /// A principal named in the input cannot play its part; names the field.
    BadReference {
        field: &'static str,
        message: String,
    },
    /// Only the worker's owner or an admin may do `action`.
    NotOwner {
        worker_id: String,
        action: &'static str,
    },
    IdentityExists {
        worker_id: String,
        principal_id: String,
    },
    NoIdentity {
        worker_id: String,
    },
    /// SPEC §5's criteria for `target` are not met.
    NotEligible {
        worker_id: String,
        target: Level,
        eligibility: Eligibility,
    },
    /// The approver may not approve this promotion or certification.
    Approver {
        target: Level,
        refusal: ApprovalRefusal,
    },
    InitialCertification(InitialCertificationError),
    /// [`apply_cert_action`] refuses the change from the current status.
    IllegalTransition {
        worker_id: String,
        error: CertTransitionError,
    },
    HumanOnly {
        action: CertAction,
    },
    RecertificationNotRequired {
        worker_id: String,
    },
    ProbationNotOver {
        worker_id: String,
        until_ms: i64,
    },
    /// The reporter may not report this outcome, or its evidence does not hold.
    Outcome(OutcomeRefusal),
    /// A record the use case needs does not exist (`what`, `id`).
    NotFound {
        what: &'static str,
        id: String,
    },
    /// What exists already forbids the act.
    Conflict {
        message: String,
    },
    /// A stored row the rules cannot act on (a live permit its state machine cannot
    /// revoke): the store's data is wrong, not the request.
    Corrupt {
        what: &'static str,
        id: String,
        problem: String,
    },
}

crate::events::payload_union! {
    /// The data of one event a worker plan appends: one of the closed set of payloads
    /// of `steward_audit::event`, written through `NewEvent::typed` as its own type.
    WorkerPayload, WorkerRegistered {
    Registered(WorkerRegistered),
    IdentityCreated(WorkerIdentityCreated),
    OutcomeRecorded(WorkerOutcomeRecorded),
    PromotionApproved(WorkerPromotionApproved),
    Promoted(WorkerPromoted),
    InitialCertificationRequested(WorkerInitialCertificationRequested),
    InitialCertificationApproved(WorkerInitialCertificationApproved),
    CertifiedInitially(WorkerCertifiedInitially),
    CertificationGrace(WorkerCertificationGrace),
    Suspended(WorkerSuspended),
    Reinstated(WorkerReinstated),
    Revoked(WorkerRevoked),
    Expired(WorkerExpired),
    ProbationEnded(WorkerProbationEnded),
    Recertified(WorkerRecertified),
}}

/// A plan's events are written, never read as the union: a reader knows the event type
/// and reads that type's payload.
impl<'de> Deserialize<'de> for WorkerPayload {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<WorkerPayload, D::Error> {
        Err(serde::de::Error::custom(
            "a worker event is read as the payload of its own type",
        ))
    }
}

/// One audit event a worker plan appends about its worker.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerEvent {
    pub by: By,
    /// The event's level: the worker's at that point of the plan (an outcome's, the
    /// operation's).
    pub level: Level,
    pub payload: WorkerPayload,
}

impl WorkerEvent {
    fn new(by: By, level: Level, payload: impl Into<WorkerPayload>) -> WorkerEvent {
        WorkerEvent {
            by,
            level,
            payload: payload.into(),
        }
    }
}

/// A principal as the worker use cases see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalFacts {
    pub id: String,
    pub human: bool,
    pub roles: Vec<Role>,
    pub disabled: bool,
}

impl PrincipalFacts {
    /// This principal as an approver.
    pub fn candidate(&self) -> Candidate {
        Candidate {
            principal_id: self.id.clone(),
            human: self.human,
            roles: self.roles.clone(),
        }
    }
}

/// A worker as the use cases see it, read under its lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerFacts<'a> {
    pub id: &'a str,
    pub owner_id: &'a str,
    /// The agent identity it authenticates as, if any.
    pub principal_id: Option<&'a str>,
    pub record: WorkerRecord,
}

impl WorkerFacts<'_> {
    /// The parties of an approval: the worker acts as its identity (or, without one, as
    /// its id).
    fn parties(&self, requester: &str) -> Parties {
        Parties {
            requester: requester.to_owned(),
            worker_id: self.principal_id.unwrap_or(self.id).to_owned(),
            worker_owner: self.owner_id.to_owned(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Registration and identity.

/// A worker to register, as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationSnapshot<'a> {
    pub display_name: &'a str,
    pub owner_id: &'a str,
    /// The owner as read, `None` when there is no such principal.
    pub owner: Option<&'a PrincipalFacts>,
    pub principal_id: Option<&'a str>,
    /// The identity as read, when one is named.
    pub identity: Option<&'a PrincipalFacts>,
    pub domains: &'a [String],
    pub now: Timestamp,
}

/// What registering writes: the worker's (trimmed) name, its record and its event.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistrationPlan {
    pub display_name: String,
    pub record: WorkerRecord,
    pub event: WorkerEvent,
}

/// Registers a worker at level 0, `active`, with no history: a non-empty name and
/// domains, an owner that is an enabled human or an enabled agent holding `master`, and,
/// if named, an identity other than the owner that is an enabled agent holding `worker`.
pub fn plan_registration(s: &RegistrationSnapshot<'_>) -> Result<RegistrationPlan, WorkerRefusal> {
    let display_name = s.display_name.trim();
    if display_name.is_empty() {
        return Err(invalid("display_name", "must not be empty".to_owned()));
    }
    if let Some(i) = s.domains.iter().position(|d| d.trim().is_empty()) {
        return Err(invalid("domains", format!("domain {i} is empty")));
    }
    let id = s.owner_id;
    let owner_problem = match s.owner {
        None => Some(format!("no principal `{id}`")),
        Some(p) if p.disabled => Some(format!("principal `{id}` is disabled")),
        Some(p) if !p.human && !p.roles.contains(&Role::Master) => Some(format!(
            "principal `{id}` is an agent without the role `master`; an owner is a human or a master"
        )),
        Some(_) => None,
    };
    if let Some(message) = owner_problem {
        return Err(bad_reference("owner_id", message));
    }
    if let Some(id) = s.principal_id {
        if id == s.owner_id {
            return Err(bad_reference(
                "principal_id",
                "a worker cannot own itself".to_owned(),
            ));
        }
        let problem = match s.identity {
            None => Some(format!("no principal `{id}`")),
            Some(p) if p.disabled => Some(format!("principal `{id}` is disabled")),
            Some(p) if p.human => Some(format!("principal `{id}` is not an agent")),
            Some(p) if !p.roles.contains(&Role::Worker) => {
                Some(format!("principal `{id}` does not hold the role `worker`"))
            }
            Some(_) => None,
        };
        if let Some(message) = problem {
            return Err(bad_reference("principal_id", message));
        }
    }
    let record = WorkerRecord::registered(s.now);
    let event = WorkerEvent::new(
        By::Caller,
        record.level,
        WorkerRegistered {
            display_name: display_name.to_owned(),
            owner_id: s.owner_id.to_owned(),
            principal_id: s.principal_id.map(str::to_owned),
            domains: s.domains.to_vec(),
            level: record.level.value(),
            status: record.status.as_str().to_owned(),
        },
    );
    Ok(RegistrationPlan {
        display_name: display_name.to_owned(),
        record,
        event,
    })
}

/// The owner of `worker`, or an admin, may manage its identity and its tokens (`action`
/// names what was asked, for the refusal); nobody else.
pub fn may_manage(
    caller: &PrincipalFacts,
    worker: &WorkerFacts<'_>,
    action: &'static str,
) -> Result<(), WorkerRefusal> {
    if caller.id == worker.owner_id || caller.roles.contains(&Role::Admin) {
        return Ok(());
    }
    Err(WorkerRefusal::NotOwner {
        worker_id: worker.id.to_owned(),
        action,
    })
}

/// The name of a new worker identity: `name` trimmed, or `worker:<worker id>`.
pub fn identity_name(worker_id: &str, name: Option<&str>) -> Result<String, WorkerRefusal> {
    match name.map(str::trim) {
        None => Ok(format!("worker:{worker_id}")),
        Some("") => Err(invalid("name", "must not be empty".to_owned())),
        Some(name) => Ok(name.to_owned()),
    }
}

/// Binding the new agent `identity_id` as `worker`'s identity: its manager only, and a
/// worker has one identity. Answers `worker.identity_created`.
pub fn plan_identity(
    caller: &PrincipalFacts,
    worker: &WorkerFacts<'_>,
    identity_id: &str,
) -> Result<WorkerEvent, WorkerRefusal> {
    may_manage(caller, worker, "create its identity")?;
    if let Some(bound) = worker.principal_id {
        return Err(WorkerRefusal::IdentityExists {
            worker_id: worker.id.to_owned(),
            principal_id: bound.to_owned(),
        });
    }
    Ok(WorkerEvent::new(
        By::Caller,
        worker.record.level,
        WorkerIdentityCreated {
            principal_id: identity_id.to_owned(),
        },
    ))
}

/// The identity a token is minted for: the worker's, which must exist.
pub fn identity_of<'a>(worker: &WorkerFacts<'a>) -> Result<&'a str, WorkerRefusal> {
    worker
        .principal_id
        .ok_or_else(|| WorkerRefusal::NoIdentity {
            worker_id: worker.id.to_owned(),
        })
}

/// Revoking token `token_id` of principal `token_principal` as one of `worker`'s: its
/// manager only, and only a token of the worker's identity (any other is not found, so
/// whose token it is stays unsaid).
pub fn check_token_revocation(
    caller: &PrincipalFacts,
    worker: &WorkerFacts<'_>,
    token_id: &str,
    token_principal: &str,
) -> Result<(), WorkerRefusal> {
    may_manage(caller, worker, "revoke its tokens")?;
    if worker.principal_id != Some(token_principal) {
        return Err(WorkerRefusal::NotFound {
            what: "token of this worker",
            id: token_id.to_owned(),
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Initial certification.

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

impl InitialCertificationRecord {
    fn request(&self) -> InitialCertification {
        InitialCertification {
            target: self.target_level,
            justification: self.justification.clone(),
            prior_record: PriorRecord {
                document: self.prior_record.document.clone(),
                link: self.prior_record.link.clone(),
                prior_operations: self.prior_record.prior_operations,
            },
        }
    }

    fn recorded(&self) -> Vec<RecordedApproval> {
        self.approvals
            .iter()
            .map(|a| RecordedApproval {
                principal_id: a.principal_id.clone(),
                role: a.role,
            })
            .collect()
    }
}

/// A request for an initial certification, with what the store read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialRequestSnapshot<'a> {
    pub caller: &'a PrincipalFacts,
    pub worker: &'a WorkerFacts<'a>,
    pub request: &'a InitialCertification,
    /// Whether an initial certification of the worker was asked for already.
    pub asked_before: bool,
    pub now: Timestamp,
}

/// What a request writes: the record, the quorum it needs, and its event.
#[derive(Debug, Clone, PartialEq)]
pub struct InitialRequestPlan {
    pub record: InitialCertificationRecord,
    pub quorum: QuorumStatus,
    pub event: WorkerEvent,
}

/// Asks for an initial certification: the worker's owner or an admin, a request
/// [`check_initial_certification`] accepts, and no earlier request for the worker.
pub fn plan_initial_request(
    s: &InitialRequestSnapshot<'_>,
) -> Result<InitialRequestPlan, WorkerRefusal> {
    may_manage(s.caller, s.worker, "ask for its initial certification")?;
    check_initial_certification(&s.worker.record, s.request)
        .map_err(WorkerRefusal::InitialCertification)?;
    if s.asked_before {
        return Err(WorkerRefusal::Conflict {
            message: format!(
                "an initial certification of worker `{}` was already asked for; approve it (`steward worker certify approve`) instead",
                s.worker.id
            ),
        });
    }
    let prior = &s.request.prior_record;
    let record = InitialCertificationRecord {
        worker_id: s.worker.id.to_owned(),
        target_level: s.request.target,
        justification: s.request.justification.trim().to_owned(),
        prior_record: PriorRecordView {
            document: prior.document.clone(),
            link: prior.link.clone(),
            prior_operations: prior.prior_operations,
        },
        requested_by: s.caller.id.clone(),
        requested_at_ms: s.now.millis(),
        approvals: Vec::new(),
        certified_at_ms: None,
    };
    let rules = initial_certification_approvals(record.target_level);
    let names = |roles: &[Role]| roles.iter().map(|r| r.as_str().to_owned()).collect();
    let event = WorkerEvent::new(
        By::Caller,
        s.worker.record.level,
        WorkerInitialCertificationRequested {
            target_level: record.target_level.value(),
            justification: record.justification.clone(),
            prior_record: json!(record.prior_record),
            requested_by: record.requested_by.clone(),
            approvals_needed: ApprovalsNeeded {
                approvers_required: rules.approvers_required,
                approver_roles: names(&rules.approver_roles),
                required_roles: names(&rules.required_roles),
            },
        },
    );
    Ok(InitialRequestPlan {
        quorum: check_promotion(&rules, &[]),
        record,
        event,
    })
}

/// An approval of an initial certification, with what the store read.
#[derive(Debug, Clone, PartialEq)]
pub struct InitialApprovalSnapshot<'a> {
    pub worker: &'a WorkerFacts<'a>,
    /// The request, `None` when none was made.
    pub record: Option<InitialCertificationRecord>,
    pub approver: &'a PrincipalFacts,
    pub role: Role,
    pub comment: Option<&'a PersonalText>,
    pub now: Timestamp,
}

/// What an approval writes: the record with the approval (and the certification time),
/// the worker's new record when the approvals meet the quorum, and the events.
#[derive(Debug, Clone, PartialEq)]
pub struct InitialApprovalPlan {
    pub record: InitialCertificationRecord,
    /// The certified worker; open promotion approvals count no more (voided).
    pub certified: Option<WorkerRecord>,
    pub quorum: QuorumStatus,
    pub events: Vec<WorkerEvent>,
}

/// Approves an initial certification: it was asked for and not yet granted, the worker
/// still qualifies (it may have been suspended or revoked since), and the approver
/// passes [`check_approver`] (whoever asked is the requester). Certifies the worker when
/// the approvals meet the quorum ([`certify_initially`]).
pub fn plan_initial_approval(
    s: InitialApprovalSnapshot<'_>,
) -> Result<InitialApprovalPlan, WorkerRefusal> {
    let worker = s.worker;
    let Some(mut record) = s.record else {
        return Err(WorkerRefusal::NotFound {
            what: "initial certification of worker",
            id: worker.id.to_owned(),
        });
    };
    let target = record.target_level;
    if record.certified_at_ms.is_some() {
        return Err(WorkerRefusal::Conflict {
            message: format!(
                "worker `{}` was already certified initially at level {target}",
                worker.id
            ),
        });
    }
    check_initial_certification(&worker.record, &record.request())
        .map_err(WorkerRefusal::InitialCertification)?;
    let rules = initial_certification_approvals(target);
    check_approver(
        &rules.requirements(),
        &worker.parties(&record.requested_by),
        &s.approver.candidate(),
        s.role,
        &record.recorded(),
    )
    .map_err(|refusal| WorkerRefusal::Approver { target, refusal })?;
    record.approvals.push(InitialApproval {
        principal_id: s.approver.id.clone(),
        role: s.role,
        created_at_ms: s.now.millis(),
    });
    let mut events = vec![WorkerEvent::new(
        By::Caller,
        worker.record.level,
        WorkerInitialCertificationApproved {
            target_level: target.value(),
            principal_id: s.approver.id.clone(),
            role: s.role.as_str().to_owned(),
            personal: Some(Personal::of(&s.approver.id).text("comment", s.comment)),
        },
    )];
    let counted = record.recorded();
    let quorum = check_promotion(&rules, &counted);
    let certified = certify_initially(&worker.record, target, &counted, s.now);
    if let Some(after) = &certified {
        record.certified_at_ms = Some(s.now.millis());
        events.push(WorkerEvent::new(
            By::Caller,
            after.level,
            WorkerCertifiedInitially {
                from_level: worker.record.level.value(),
                to_level: after.level.value(),
                status: after.status.as_str().to_owned(),
                probation_until: after.probation_until.map(Timestamp::millis),
                recertify_by: after.recertify_by.map(Timestamp::millis),
                justification: record.justification.clone(),
                prior_record: json!(record.prior_record),
                requested_by: record.requested_by.clone(),
                approvals: record
                    .approvals
                    .iter()
                    .map(|a| InitialApprovalRef {
                        principal_id: a.principal_id.clone(),
                        role: a.role.as_str().to_owned(),
                        created_at_ms: a.created_at_ms,
                    })
                    .collect(),
            },
        ));
    }
    Ok(InitialApprovalPlan {
        record,
        certified,
        quorum,
        events,
    })
}

// ---------------------------------------------------------------------------------------
// Promotion.

/// One human's approval of a promotion, still counting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionApproval {
    pub id: String,
    pub principal_id: String,
    pub role: Role,
    pub comment: Option<String>,
    pub created_at_ms: i64,
}

/// An approval of a promotion, with what the store read.
#[derive(Debug, Clone, PartialEq)]
pub struct PromotionSnapshot<'a> {
    pub worker: &'a WorkerFacts<'a>,
    pub target: Level,
    pub approver: &'a PrincipalFacts,
    pub role: Role,
    pub comment: Option<&'a PersonalText>,
    /// The open approvals towards `target`, oldest first.
    pub open: Vec<PromotionApproval>,
    /// The id the new approval gets.
    pub approval_id: String,
    pub now: Timestamp,
}

/// What an approval writes: the approval, the worker's new record when the approvals
/// meet the quorum (every open approval is then closed as promoted), and the events.
#[derive(Debug, Clone, PartialEq)]
pub struct PromotionPlan {
    pub approval: PromotionApproval,
    /// The approvals towards the target, the new one last.
    pub approvals: Vec<PromotionApproval>,
    pub promoted: Option<WorkerRecord>,
    pub quorum: QuorumStatus,
    pub events: Vec<WorkerEvent>,
}

/// Approves promoting a worker: it must be eligible now ([`eligibility`], no approval of
/// an ineligible worker is recorded), and the approver must pass [`check_approver`] (a
/// promotion has no requester). Promotes ([`promote`]) when the approvals meet the
/// quorum.
pub fn plan_promotion_approval(s: PromotionSnapshot<'_>) -> Result<PromotionPlan, WorkerRefusal> {
    let worker = s.worker;
    let target = s.target;
    let verdict = eligibility(&worker.record, target, s.now);
    let not_eligible = |eligibility: Eligibility| WorkerRefusal::NotEligible {
        worker_id: worker.id.to_owned(),
        target,
        eligibility,
    };
    if !verdict.eligible {
        return Err(not_eligible(verdict));
    }
    let rules = promotion_approvals(target);
    let mut approvals = s.open;
    check_approver(
        &rules.requirements(),
        &worker.parties(""),
        &s.approver.candidate(),
        s.role,
        &recorded(&approvals),
    )
    .map_err(|refusal| WorkerRefusal::Approver { target, refusal })?;
    let approval = PromotionApproval {
        id: s.approval_id,
        principal_id: s.approver.id.clone(),
        role: s.role,
        comment: s.comment.map(|c| c.as_column().to_owned()),
        created_at_ms: s.now.millis(),
    };
    // The comment is the approver's free text: sealed for them.
    let mut events = vec![WorkerEvent::new(
        By::Caller,
        worker.record.level,
        WorkerPromotionApproved {
            approval_id: approval.id.clone(),
            target_level: target.value(),
            principal_id: approval.principal_id.clone(),
            role: s.role.as_str().to_owned(),
            personal: Some(Personal::of(&approval.principal_id).text("comment", s.comment)),
        },
    )];
    approvals.push(approval.clone());
    let counted = recorded(&approvals);
    let quorum = check_promotion(&rules, &counted);
    let promoted = if quorum.met {
        match promote(&worker.record, target, &counted, s.now) {
            Ok(promoted) => Some(promoted),
            // Eligibility was checked above on the same record and instant.
            Err(PromotionError::NotEligible { .. }) => return Err(not_eligible(verdict)),
            // Cannot happen (the same quorum rule just said met); fail closed.
            Err(PromotionError::ApprovalsMissing { .. }) => None,
        }
    } else {
        None
    };
    if let Some(after) = &promoted {
        events.push(WorkerEvent::new(
            By::Caller,
            after.level,
            WorkerPromoted {
                from_level: worker.record.level.value(),
                to_level: after.level.value(),
                status: after.status.as_str().to_owned(),
                probation_until: after.probation_until.map(Timestamp::millis),
                recertify_by: after.recertify_by.map(Timestamp::millis),
                approvals: approvals
                    .iter()
                    .map(|a| PromotionApprovalRef {
                        approval_id: a.id.clone(),
                        principal_id: a.principal_id.clone(),
                        role: a.role.as_str().to_owned(),
                    })
                    .collect(),
            },
        ));
    }
    Ok(PromotionPlan {
        approval,
        approvals,
        promoted,
        quorum,
        events,
    })
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

// ---------------------------------------------------------------------------------------
// Status changes.

/// A status change as asked, before anything is read: recertification is a human act,
/// and a person's reason, when the change takes one, is not blank. Answers the trimmed
/// reason.
pub fn check_status_request(
    action: CertAction,
    reason: Option<&str>,
    human: bool,
) -> Result<Option<&str>, WorkerRefusal> {
    if action == CertAction::Recertify && !human {
        return Err(WorkerRefusal::HumanOnly { action });
    }
    let reason = reason.map(str::trim);
    if reason.is_some_and(str::is_empty) {
        return Err(invalid(
            "reason",
            format!("a reason to {action} must not be empty"),
        ));
    }
    Ok(reason)
}

/// A live permit of a worker whose certification is revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivePermit {
    pub id: String,
    pub state: PermitState,
    pub level: Option<Level>,
}

/// A status change, with what the store read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSnapshot<'a> {
    pub worker: &'a WorkerFacts<'a>,
    pub action: CertAction,
    /// The person's reason, checked by [`check_status_request`].
    pub reason: Option<&'a str>,
    /// Who asks (the reason is sealed for them).
    pub caller_id: &'a str,
    /// The worker's live permits, read for a revocation only.
    pub live_permits: &'a [LivePermit],
    pub now: Timestamp,
}

/// One permit a revocation revokes with the certification.
#[derive(Debug, Clone, PartialEq)]
pub struct CascadeRevocation {
    pub permit_id: String,
    /// The state it leaves (the write checks it is still the state) and the one it enters.
    pub from: PermitState,
    pub to: PermitState,
    pub level: Option<Level>,
    pub reason: RevocationReason,
    /// `permit.revoked`, recorded as the caller about the permit and the worker.
    pub event: PermitRevoked,
}

/// What a status change writes.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusPlan {
    pub record: WorkerRecord,
    /// Whether open promotion approvals are voided (a suspension, a revocation).
    pub void_approvals: bool,
    pub event: WorkerEvent,
    /// The permits revoked with the certification, in order, after `event`.
    pub revocations: Vec<CascadeRevocation>,
}

/// Changes a certification's status through [`apply_cert_action`]. A recertification
/// needs a level above 0 and sets the next due date; ending a probation needs its end
/// passed; a revocation revokes every live permit (reason `certification_revoked`).
/// `None` for an idempotent repeat (suspending a suspended worker, revoking a revoked one
/// with no live permit): nothing to change, nothing to record.
pub fn plan_status_change(s: &StatusSnapshot<'_>) -> Result<Option<StatusPlan>, WorkerRefusal> {
    let worker = s.worker;
    let before = &worker.record;
    let status = apply_cert_action(before.status, s.action).map_err(|error| {
        WorkerRefusal::IllegalTransition {
            worker_id: worker.id.to_owned(),
            error,
        }
    })?;
    let mut record = WorkerRecord {
        status,
        ..before.clone()
    };
    match s.action {
        CertAction::Recertify => {
            if before.level == Level::NON_UNION {
                return Err(WorkerRefusal::RecertificationNotRequired {
                    worker_id: worker.id.to_owned(),
                });
            }
            record.recertify_by = recertification_due(before.level, s.now);
        }
        CertAction::EndProbation => {
            if let Some(until) = record.probation_until.filter(|until| s.now < *until) {
                return Err(WorkerRefusal::ProbationNotOver {
                    worker_id: worker.id.to_owned(),
                    until_ms: until.millis(),
                });
            }
        }
        CertAction::Suspend | CertAction::Reinstate | CertAction::Revoke | CertAction::Expire => {}
    }
    let live: &[LivePermit] = if s.action == CertAction::Revoke {
        s.live_permits
    } else {
        &[]
    };
    if record == *before && live.is_empty() {
        return Ok(None);
    }
    let reason = RevocationReason::CertificationRevoked;
    let revocations = live
        .iter()
        .map(|permit| {
            let to = apply(permit.state, &PermitEvent::Revoke { reason }).map_err(|e| {
                WorkerRefusal::Corrupt {
                    what: "permit",
                    id: permit.id.clone(),
                    problem: e.to_string(),
                }
            })?;
            Ok(CascadeRevocation {
                permit_id: permit.id.clone(),
                from: permit.state,
                to,
                level: permit.level,
                reason,
                event: PermitRevoked {
                    from_state: Some(permit.state.as_str().to_owned()),
                    ..PermitRevoked::new(reason.as_str())
                },
            })
        })
        .collect::<Result<Vec<_>, WorkerRefusal>>()?;
    // A person's reason is free text: sealed for them.
    let personal = s
        .reason
        .map(|reason| Personal::of(s.caller_id).plain("reason", json!(reason)));
    let from_status = before.status.as_str().to_owned();
    let to_status = Some(record.status.as_str().to_owned());
    macro_rules! change {
        ($payload:ident { $($field:ident: $value:expr),* $(,)? }) => {
            WorkerPayload::from($payload {
                from_status,
                to_status,
                personal,
                $($field: $value,)*
                ..$payload::default()
            })
        };
    }
    let payload = match s.action {
        CertAction::Suspend => change!(WorkerSuspended {
            automatic: Some(false)
        }),
        CertAction::Reinstate => change!(WorkerReinstated {}),
        CertAction::Revoke => change!(WorkerRevoked {
            revoked_permits: Some(live.iter().map(|p| p.id.clone()).collect()),
        }),
        CertAction::Expire => change!(WorkerExpired {}),
        CertAction::EndProbation => change!(WorkerProbationEnded {}),
        CertAction::Recertify => change!(WorkerRecertified {
            recertify_by: Some(record.recertify_by.map(Timestamp::millis)),
        }),
    };
    Ok(Some(StatusPlan {
        void_approvals: matches!(s.action, CertAction::Suspend | CertAction::Revoke),
        event: WorkerEvent::new(By::Caller, record.level, payload),
        record,
        revocations,
    }))
}

/// The expiry sweep's step for one worker: a certification past its recertification
/// grace period at `now` expires (`worker.expired`, recorded as the sweep's caller).
/// `None` when it is not past it, or its status cannot expire.
pub fn plan_expiry(before: &WorkerRecord, now: Timestamp) -> Option<(WorkerRecord, WorkerEvent)> {
    if recertification(before, now) != Recertification::Expired {
        return None;
    }
    let status = apply_cert_action(before.status, CertAction::Expire).ok()?;
    let event = WorkerEvent::new(
        By::Caller,
        before.level,
        WorkerExpired {
            from_status: before.status.as_str().to_owned(),
            recertify_by: Some(before.recertify_by.map(Timestamp::millis)),
            ..WorkerExpired::default()
        },
    );
    Some((
        WorkerRecord {
            status,
            ..before.clone()
        },
        event,
    ))
}

/// One claimed certification timer of worker `worker_id`, recorded as Steward: the grace
/// warning changes nothing; expiry and the end of probation change the status through
/// [`apply_cert_action`]. Answers the new record (`None` when unchanged) and the event.
pub fn plan_certification_timer(
    worker_id: &str,
    before: &WorkerRecord,
    timer: DueTimer,
) -> Result<(Option<WorkerRecord>, WorkerEvent), WorkerRefusal> {
    let action = match timer.kind {
        TimerKind::CertificationGrace => {
            let grace = WorkerCertificationGrace {
                status: before.status.as_str().to_owned(),
                recertify_by_ms: timer.due_at.millis(),
                grace_until_ms: certification_grace_end(before.level, timer.due_at)
                    .map(Timestamp::millis),
            };
            return Ok((None, WorkerEvent::new(By::System, before.level, grace)));
        }
        TimerKind::CertificationExpiry => CertAction::Expire,
        TimerKind::ProbationEnd => CertAction::EndProbation,
        other => {
            return Err(WorkerRefusal::Conflict {
                message: format!("`{other}` is not a certification timer"),
            });
        }
    };
    let status = apply_cert_action(before.status, action).map_err(|error| {
        WorkerRefusal::IllegalTransition {
            worker_id: worker_id.to_owned(),
            error,
        }
    })?;
    let after = WorkerRecord {
        status,
        ..before.clone()
    };
    let from_status = before.status.as_str().to_owned();
    let to_status = Some(status.as_str().to_owned());
    let due_at_ms = Some(timer.due_at.millis());
    let recertify_by = Some(before.recertify_by.map(Timestamp::millis));
    let probation_until = Some(before.probation_until.map(Timestamp::millis));
    let payload = if action == CertAction::Expire {
        WorkerPayload::from(WorkerExpired {
            from_status,
            to_status,
            automatic: Some(true),
            due_at_ms,
            recertify_by,
            probation_until,
            ..WorkerExpired::default()
        })
    } else {
        WorkerPayload::from(WorkerProbationEnded {
            from_status,
            to_status,
            automatic: Some(true),
            due_at_ms,
            recertify_by,
            probation_until,
            ..WorkerProbationEnded::default()
        })
    };
    let event = WorkerEvent {
        by: By::System,
        level: after.level,
        payload,
    };
    Ok((Some(after), event))
}

// ---------------------------------------------------------------------------------------
// Outcomes.

/// An outcome report, with what the store read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeSnapshot<'a> {
    pub worker: &'a WorkerFacts<'a>,
    pub reporter_id: &'a str,
    pub report: OutcomeReport,
    /// The work the report's evidence names, as found.
    pub seen: &'a SeenWork,
    /// The id the outcome gets, and its evidence's identity.
    pub outcome_id: &'a str,
    pub permit_id: Option<&'a str>,
    pub authorize_seq: Option<u64>,
    pub now: Timestamp,
}

/// What an outcome writes: the outcome, the worker's new record, why it suspended the
/// worker (open promotion approvals are then voided), and the events.
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomePlan {
    pub outcome: OperationOutcome,
    pub record: WorkerRecord,
    pub suspension: Option<AutoSuspension>,
    pub events: Vec<WorkerEvent>,
}

/// Records one operation's outcome: [`check_outcome`] decides who may report it and what
/// it counts for, [`record_outcome`] folds it into the record and may suspend it
/// (`worker.suspended`, recorded as Steward, `automatic: true`, with its cause).
pub fn plan_outcome(s: &OutcomeSnapshot<'_>) -> Result<OutcomePlan, WorkerRefusal> {
    let worker = s.worker;
    let parties = OutcomeParties {
        worker_id: worker.id,
        owner_id: worker.owner_id,
        identity_id: worker.principal_id,
    };
    let outcome = check_outcome(&parties, s.reporter_id, &s.report, s.seen)
        .map_err(WorkerRefusal::Outcome)?;
    let before = &worker.record;
    let (record, suspension) = record_outcome(before.clone(), outcome, s.now);
    let mut events = vec![WorkerEvent::new(
        By::Caller,
        outcome.level,
        WorkerOutcomeRecorded {
            outcome_id: s.outcome_id.to_owned(),
            result: outcome.result.as_str().to_owned(),
            operation_level: outcome.level.value(),
            basis: outcome.basis.as_str().to_owned(),
            counts_towards_promotion: outcome.basis.counts(),
            permit_id: s.permit_id.map(str::to_owned),
            authorize_seq: s.authorize_seq,
            status: record.status.as_str().to_owned(),
            consecutive_union_failures: record.stats.consecutive_union_failures,
        },
    )];
    if let Some(cause) = suspension {
        let (name, count) = match cause {
            AutoSuspension::SafetyViolation => ("safety_violation", None),
            AutoSuspension::ConsecutiveUnionFailures { count } => {
                ("consecutive_union_failures", Some(count))
            }
        };
        events.push(WorkerEvent::new(
            By::System,
            record.level,
            WorkerSuspended {
                from_status: before.status.as_str().to_owned(),
                to_status: Some(record.status.as_str().to_owned()),
                automatic: Some(true),
                cause: Some(name.to_owned()),
                count: Some(count),
                reason: Some(cause.to_string()),
                reported_by: Some(s.reporter_id.to_owned()),
                ..WorkerSuspended::default()
            },
        ));
    }
    Ok(OutcomePlan {
        outcome,
        record,
        suspension,
        events,
    })
}

fn invalid(field: &'static str, message: String) -> WorkerRefusal {
    WorkerRefusal::Invalid { field, message }
}

fn bad_reference(field: &'static str, message: String) -> WorkerRefusal {
    WorkerRefusal::BadReference { field, message }
}

#[cfg(test)]
mod tests;
