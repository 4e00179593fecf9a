//! The changes a compliance report lists: one [`Change`] per permit in the framework's
//! scope with an event in the period, assembled from the permit's audit events (its
//! request, approvals, window, outcome, rollback and emergency path), each event with its
//! `seq` and inclusion-proof reference.
//!
//! # Scope
//!
//! A permit is in a framework's scope when its `permit.requested` event's `data.task`
//! names the framework (`compliance_frameworks`), or when the framework governs what the
//! task touches ([`governs`]): GDPR personal data (`pii`), HIPAA health data (`phi`),
//! PCI DSS and SOX financial data, SOC 2 production changes, credentials and security
//! operations. Permits requested before requests recorded `data.task` are in no scope.

use std::collections::HashMap;

use serde::{Deserialize as _, Serialize};
use serde_json::Value;

use super::Framework;
use super::when::{ReportZone, When};
use crate::entry::AuditEntry;
use crate::event::{
    EmergencyApproved, EmergencyEnded, EmergencyRenewed, EmergencyResolved, EventPayload,
    EventType, PermitApprovalRecorded, PermitCompleted, PermitIssued, PermitRenewed,
    PermitRequested, PermitRevoked, RollbackCompleted, RollbackOpened, Transition,
};

/// One permit of the period in the report's scope.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub permit_id: String,
    pub task_id: Option<String>,
    /// The task's description as its request recorded it.
    pub summary: Option<String>,
    pub permit_type: Option<String>,
    pub worker_id: Option<String>,
    /// The permit's level.
    pub level: Option<u8>,
    /// The worker's certification level when the permit was requested, when known.
    pub worker_level: Option<u64>,
    /// Who requested it (principal id).
    pub requester: Option<String>,
    pub requested_at: Option<When>,
    /// Why the framework covers it, such as `the task named GDPR` or `personal data (pii)`.
    pub in_scope_because: Vec<String>,
    /// The approvals of the last round (a resubmission starts a new one).
    pub approvers: Vec<Approver>,
    /// Evidence kinds the request provided.
    pub evidence: Vec<String>,
    pub window: Option<Window>,
    /// The permit's state at the end of the period (or its last event).
    pub state: Option<String>,
    /// `completed (success)`, `revoked (scope_expansion)`, `expired`, `rejected`, or the
    /// state of a permit still in progress.
    pub outcome: String,
    pub rollback: Option<Rollback>,
    /// The report's exceptions about this permit.
    pub exceptions: Vec<ChangeException>,
    /// The permit's events up to the end of the period (authorize allows and telemetry
    /// samples are left out: they are counted in the report's event counts).
    pub events: Vec<ChangeEvent>,
}

/// An approval of a permit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Approver {
    pub principal_id: String,
    pub role: String,
    pub at: When,
    pub seq: u64,
}

/// When the permit was valid.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Window {
    pub from: Option<When>,
    pub until: Option<When>,
}

/// The rollback a monitoring trigger opened on the permit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rollback {
    pub rollback_id: Option<String>,
    pub trigger: Option<String>,
    pub opened_at: When,
    pub due_at: Option<When>,
    pub completed_at: Option<When>,
    pub outcome: Option<String>,
    pub escalated: bool,
    pub seqs: Vec<u64>,
}

/// One exception of the report, as a change lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeException {
    pub kind: &'static str,
    pub seqs: Vec<u64>,
}

/// One audit event of a change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeEvent {
    pub seq: u64,
    pub event_type: String,
    pub at: When,
    /// `GET /v1/audit/proofs/inclusion?seq=…&tree_size=…` against the latest signed
    /// checkpoint, when that checkpoint covers the event.
    pub inclusion_proof: Option<String>,
}

/// What the builder has seen of one permit.
#[derive(Debug, Default)]
pub(super) struct Track {
    task_id: Option<String>,
    summary: Option<String>,
    permit_type: Option<String>,
    worker_id: Option<String>,
    level: Option<u8>,
    worker_level: Option<u64>,
    requester: Option<String>,
    requested_ms: Option<i64>,
    requested: bool,
    frameworks: Vec<String>,
    sensitive: Vec<String>,
    operations: Vec<String>,
    environment: Option<String>,
    evidence: Vec<String>,
    approvals: Vec<(String, String, i64, u64)>,
    pub(super) approved: bool,
    valid_from_ms: Option<i64>,
    expires_at_ms: Option<i64>,
    state: Option<String>,
    completion: Option<String>,
    revocation: Option<String>,
    rollback: Option<RollbackTrack>,
    pub(super) emergency: Option<EmergencyTrack>,
    events: Vec<(u64, String, i64)>,
    /// The first event in the period, which orders the report's changes.
    pub(super) first_in_period: Option<u64>,
}

#[derive(Debug, Default)]
struct RollbackTrack {
    id: Option<String>,
    trigger: Option<String>,
    opened_ms: i64,
    due_ms: Option<i64>,
    completed_ms: Option<i64>,
    outcome: Option<String>,
    escalated: bool,
    seqs: Vec<u64>,
}

/// The emergency path of an emergency permit.
#[derive(Debug, Default)]
pub(super) struct EmergencyTrack {
    pub(super) declared_seq: u64,
    /// The event that set the review deadline (`emergency.ended` or `.resolved`).
    pub(super) ended_seq: Option<u64>,
    pub(super) review_due_ms: Option<i64>,
    pub(super) reviewed: bool,
}

/// The permits the builder follows, in the order it first saw them.
#[derive(Debug, Default)]
pub(super) struct Tracks {
    by_id: HashMap<String, Track>,
    order: Vec<String>,
}

/// A read text member: `None` when the event left it out (read as empty).
fn text(value: String) -> Option<String> {
    Some(value).filter(|text| !text.is_empty())
}

/// `data` as the payload of its catalogued type (its defaults where it cannot be read).
fn read<P: EventPayload + Default>(data: &Value) -> P {
    P::from_data(data).unwrap_or_default()
}

impl Tracks {
    pub(super) fn get(&self, permit_id: &str) -> Option<&Track> {
        self.by_id.get(permit_id)
    }

    /// Takes one event about a permit. `worker_level` is the worker's level as the
    /// builder knows it at this event.
    pub(super) fn add(&mut self, entry: &AuditEntry, in_period: bool, worker_level: Option<u64>) {
        let Some(permit_id) = &entry.subject.permit_id else {
            return;
        };
        let track = match self.by_id.get_mut(permit_id) {
            Some(track) => track,
            None => {
                self.order.push(permit_id.clone());
                self.by_id.entry(permit_id.clone()).or_default()
            }
        };
        let data = &entry.data;
        let kind = EventType::of(&entry.event_type);
        if in_period && track.first_in_period.is_none() {
            track.first_in_period = Some(entry.seq);
        }
        if track.task_id.is_none() {
            track.task_id.clone_from(&entry.subject.task_id);
        }
        if track.worker_id.is_none() {
            track.worker_id.clone_from(&entry.subject.worker_id);
        }
        if entry.level.is_some() {
            track.level = entry.level;
        }
        if kind.is_some_and(EventType::is_permit_transition)
            && let Ok(transition) = Transition::deserialize(data)
            && let Some(to) = transition.to_state()
        {
            track.state = Some(to.to_owned());
        }
        let quiet = matches!(
            kind,
            Some(EventType::AuthorizeAllowed | EventType::TelemetryRecorded)
        );
        if !quiet {
            track
                .events
                .push((entry.seq, entry.event_type.clone(), entry.ts_ms));
        }
        let Some(kind) = kind else {
            return;
        };
        match kind {
            EventType::PermitRequested => {
                let request: PermitRequested = read(data);
                track.requested = true;
                track.requester = Some(entry.actor.id.clone());
                track.requested_ms = Some(entry.ts_ms);
                track.worker_level = worker_level;
                track.permit_type = text(request.permit_type);
                track.evidence = request.evidence.unwrap_or_default();
                if let Some(task) = request.task {
                    track.summary = task.summary;
                    track.environment = task.environment.as_str().map(str::to_owned);
                    track.frameworks = task.compliance_frameworks;
                    track.sensitive = task.sensitive_data;
                    track.operations = task.risky_operations;
                }
            }
            EventType::PermitApprovalRecorded => track.approvals.push((
                entry.actor.id.clone(),
                read::<PermitApprovalRecorded>(data).role,
                entry.ts_ms,
                entry.seq,
            )),
            EventType::PermitCabSignedOff => track.approvals.push((
                entry.actor.id.clone(),
                "change_advisory_board".to_owned(),
                entry.ts_ms,
                entry.seq,
            )),
            // A resubmission starts a new round: earlier approvals no longer count (their
            // events stay in the change's events).
            EventType::PermitResubmitted => {
                track.approvals.clear();
                track.approved = false;
            }
            EventType::PermitApproved => track.approved = true,
            EventType::PermitIssued => {
                let issued: PermitIssued = read(data);
                track.valid_from_ms = issued.valid_from_ms;
                track.expires_at_ms = issued.expires_at_ms;
            }
            EventType::PermitRenewed
            | EventType::EmergencyApproved
            | EventType::EmergencyRenewed => {
                let until = match kind {
                    EventType::PermitRenewed => read::<PermitRenewed>(data).expires_at_ms,
                    EventType::EmergencyApproved => read::<EmergencyApproved>(data).expires_at_ms,
                    _ => read::<EmergencyRenewed>(data).expires_at_ms,
                };
                if let Some(until) = until {
                    track.expires_at_ms = Some(until);
                }
            }
            EventType::PermitCompleted => {
                track.completion = text(read::<PermitCompleted>(data).outcome);
            }
            EventType::PermitRevoked => track.revocation = text(read::<PermitRevoked>(data).reason),
            EventType::RollbackOpened => {
                let opened: RollbackOpened = read(data);
                track.rollback = Some(RollbackTrack {
                    id: text(opened.rollback_id),
                    trigger: text(opened.trigger),
                    opened_ms: entry.ts_ms,
                    due_ms: opened.due_at_ms,
                    seqs: vec![entry.seq],
                    ..RollbackTrack::default()
                });
            }
            EventType::RollbackEscalated => {
                if let Some(rollback) = &mut track.rollback {
                    rollback.seqs.push(entry.seq);
                    rollback.escalated = true;
                }
            }
            EventType::RollbackCompleted => {
                if let Some(rollback) = &mut track.rollback {
                    let completed: RollbackCompleted = read(data);
                    rollback.seqs.push(entry.seq);
                    rollback.completed_ms = completed.completed_at_ms.or(Some(entry.ts_ms));
                    rollback.outcome = text(completed.outcome);
                }
            }
            EventType::EmergencyDeclared => {
                track.emergency = Some(EmergencyTrack {
                    declared_seq: entry.seq,
                    ..EmergencyTrack::default()
                });
            }
            EventType::EmergencyEnded | EventType::EmergencyResolved => {
                let due = if kind == EventType::EmergencyEnded {
                    read::<EmergencyEnded>(data).review_due_at_ms
                } else {
                    read::<EmergencyResolved>(data).review_due_at_ms
                };
                if let Some(emergency) = &mut track.emergency
                    && let Some(due) = due
                {
                    emergency.ended_seq = Some(entry.seq);
                    emergency.review_due_ms = Some(due);
                }
            }
            EventType::EmergencyReviewFiled => {
                if let Some(emergency) = &mut track.emergency {
                    emergency.reviewed = true;
                }
            }
            _ => {}
        }
    }

    /// The permits with an event in the period, in the order of that event.
    pub(super) fn in_period(&self) -> Vec<(&str, &Track)> {
        let mut out: Vec<(&str, &Track)> = self
            .order
            .iter()
            .filter_map(|id| self.by_id.get(id).map(|track| (id.as_str(), track)))
            .filter(|(_, track)| track.first_in_period.is_some())
            .collect();
        out.sort_by_key(|(_, track)| track.first_in_period);
        out
    }

    /// Every permit seen, in the order first seen.
    pub(super) fn all(&self) -> impl Iterator<Item = (&str, &Track)> {
        self.order
            .iter()
            .filter_map(|id| self.by_id.get(id).map(|track| (id.as_str(), track)))
    }
}

/// Why `framework` covers the permit (empty: it does not).
pub(super) fn governs(framework: Framework, track: &Track) -> Vec<String> {
    let mut reasons = Vec::new();
    if track.frameworks.iter().any(|f| f == framework.as_str()) {
        reasons.push(format!("the task named {framework}"));
    }
    let touches = |kind: &str| track.sensitive.iter().any(|s| s == kind);
    let operation = |kind: &str| track.operations.iter().any(|s| s == kind);
    match framework {
        Framework::Gdpr if touches("pii") => reasons.push("personal data (pii)".to_owned()),
        Framework::Hipaa if touches("phi") => reasons.push("health data (phi)".to_owned()),
        Framework::PciDss if touches("financial") => {
            reasons.push("payment or financial data".to_owned());
        }
        Framework::Sox if touches("financial") => reasons.push("financial data".to_owned()),
        Framework::Soc2 => {
            if matches!(track.environment.as_deref(), Some("production" | "unknown")) {
                reasons.push("a production change".to_owned());
            }
            if touches("credentials") {
                reasons.push("credentials".to_owned());
            }
            if operation("security") {
                reasons.push("a security operation".to_owned());
            }
        }
        _ => {}
    }
    reasons
}

/// What a framework's report covers, in words.
pub(super) fn scope_text(framework: Framework) -> &'static str {
    match framework {
        Framework::Soc2 => {
            "permits whose task named SOC2, changed production, touched credentials or was a security operation"
        }
        Framework::Hipaa => "permits whose task named HIPAA or touched health data (phi)",
        Framework::PciDss => {
            "permits whose task named PCI_DSS or touched payment or financial data"
        }
        Framework::Gdpr => "permits whose task named GDPR or touched personal data (pii)",
        Framework::Sox => "permits whose task named SOX or touched financial data",
    }
}

/// The report's view of a permit. `proof_tree_size` is the latest signed checkpoint's
/// tree size; `exceptions` are the report's exceptions about this permit.
pub(super) fn change(
    permit_id: &str,
    track: &Track,
    reasons: Vec<String>,
    exceptions: Vec<ChangeException>,
    zone: &ReportZone,
    proof_tree_size: Option<u64>,
) -> Change {
    let outcome = match (&track.revocation, &track.completion, track.state.as_deref()) {
        (Some(reason), _, _) => format!("revoked ({reason})"),
        (None, Some(outcome), _) => format!("completed ({outcome})"),
        (None, None, Some(state)) => state.to_owned(),
        (None, None, None) => "requested".to_owned(),
    };
    let window = (track.valid_from_ms.is_some() || track.expires_at_ms.is_some()).then(|| Window {
        from: track.valid_from_ms.map(|ms| zone.at(ms)),
        until: track.expires_at_ms.map(|ms| zone.at(ms)),
    });
    Change {
        permit_id: permit_id.to_owned(),
        task_id: track.task_id.clone(),
        summary: track.summary.clone(),
        permit_type: track.permit_type.clone(),
        worker_id: track.worker_id.clone(),
        level: track.level,
        worker_level: track.worker_level,
        requester: track.requester.clone(),
        requested_at: track.requested_ms.map(|ms| zone.at(ms)),
        in_scope_because: reasons,
        approvers: track
            .approvals
            .iter()
            .map(|(id, role, ms, seq)| Approver {
                principal_id: id.clone(),
                role: role.clone(),
                at: zone.at(*ms),
                seq: *seq,
            })
            .collect(),
        evidence: track.evidence.clone(),
        window,
        state: track.state.clone(),
        outcome,
        rollback: track.rollback.as_ref().map(|r| Rollback {
            rollback_id: r.id.clone(),
            trigger: r.trigger.clone(),
            opened_at: zone.at(r.opened_ms),
            due_at: r.due_ms.map(|ms| zone.at(ms)),
            completed_at: r.completed_ms.map(|ms| zone.at(ms)),
            outcome: r.outcome.clone(),
            escalated: r.escalated,
            seqs: r.seqs.clone(),
        }),
        exceptions,
        events: track
            .events
            .iter()
            .map(|(seq, event_type, ms)| ChangeEvent {
                seq: *seq,
                event_type: event_type.clone(),
                at: zone.at(*ms),
                inclusion_proof: proof_tree_size
                    .filter(|size| seq <= size)
                    .map(|size| format!("/v1/audit/proofs/inclusion?seq={seq}&tree_size={size}")),
            })
            .collect(),
    }
}

impl Track {
    pub(super) fn requested(&self) -> bool {
        self.requested
    }
}
