//! Compliance reports (SPEC §10): audit events in, a per-framework report out. Pure: the
//! caller reads the events, verifies the chain, fetches the latest checkpoint and resolves
//! the time zone, then feeds them to a [`ReportBuilder`] and renders the one
//! [`ComplianceReport`] as JSON (serde), Markdown ([`ComplianceReport::to_markdown`]) or,
//! in the dashboard, HTML (a template over the same struct).
//!
//! # What goes in
//!
//! Feed the builder every `worker.*`, `permit.*`, `emergency.*` and `rollback.*` event
//! before the period (they tell each worker's level and each permit's request, approvals
//! and window; nothing before the period is counted), then every event of the period, in
//! `seq` order.
//!
//! # What comes out
//!
//! Counts of the period's events by type and per control (over every event, whatever the
//! framework), every exception with its `seq`s, and the changes: each permit in the
//! framework's scope with an event in the period ([`Change`]: task, worker and level,
//! requester, approvers with role and time, evidence, window, outcome, rollback, its
//! exceptions and its events with inclusion-proof references). Every time is given in
//! Unix milliseconds, RFC 3339 with the offset, and a human form naming the zone
//! ([`When`]).
//!
//! # Exceptions
//!
//! Every exception names the audit event(s) it comes from by `seq`. Catalogued events
//! ([`EventType`]) are read through their typed payloads; recognised, including event
//! types other parts of Steward add over time:
//!
//! | kind | from |
//! |---|---|
//! | `hard_block` | an event type outside the catalogue named `*.blocked`, or whose `data.hard_blocks` is a non-empty list |
//! | `authorization_denied` | `authorize.denied` |
//! | `revocation` | `permit.revoked` for `scope_expansion`, `constraint_breach` or `safety_violation` |
//! | `above_level_execution` | `permit.started` at a level above the worker's level at the time |
//! | `self_approval` | an approval by the permit's own requester |
//! | `sla_breach` | `telemetry.breach`; `permit.approval_overdue` (the approval SLA) |
//! | `missing_approval` | `permit.issued` for a permit whose request the builder saw and that no `permit.approved` preceded |
//! | `emergency_without_review` | an emergency whose post-incident review fell due in the period and was not filed (the `emergency.declared` and `emergency.ended` seqs) |
//! | `rollback_escalated`, `permit_escalated` | `rollback.escalated`, `permit.escalated` |
//! | `safety_violation` | `worker.outcome_recorded` with result `safety_violation`, an automatic `worker.suspended` |
//! | `audit_chain_broken` | the verification the caller passes in failed |

use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Write as _};
use std::str::FromStr;

use serde::Serialize;
use serde_json::Value;

use crate::checkpoint::SignedCheckpoint;
use crate::entry::AuditEntry;
use crate::event::{
    AuthorizeDecided, EventPayload, EventType, PermitRevoked, TelemetryBreach,
    WorkerOutcomeRecorded, WorkerPromoted, WorkerRegistered, WorkerSuspended,
};

mod changes;
mod when;

pub use changes::{Approver, Change, ChangeEvent, ChangeException, Rollback, Window};
pub use when::{ReportZone, When};

/// A compliance framework a report can be made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Framework {
    #[serde(rename = "SOC2")]
    Soc2,
    #[serde(rename = "HIPAA")]
    Hipaa,
    #[serde(rename = "PCI_DSS")]
    PciDss,
    #[serde(rename = "GDPR")]
    Gdpr,
    #[serde(rename = "SOX")]
    Sox,
}

/// A framework name that is none of `SOC2`, `HIPAA`, `PCI_DSS`, `GDPR`, `SOX`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown framework `{0}`: expected SOC2, HIPAA, PCI_DSS, GDPR or SOX")]
pub struct UnknownFrameworkError(pub String);

/// What a control is about. Exceptions are attributed to the controls of their area.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Area {
    ChangeManagement,
    Approvals,
    SegregationOfDuties,
    AccessLogging,
    DataProtection,
    AuditIntegrity,
}

/// One control of a framework and what the period's events show about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ControlReport {
    /// The framework's id for the control, such as `CC8.1` or `164.312(b)`.
    pub id: &'static str,
    pub title: &'static str,
    pub area: Area,
    /// The event types (or `prefix.*`) that evidence the control.
    pub evidence: &'static [&'static str],
    /// Events of the period matching `evidence`.
    pub events: u64,
    /// Exceptions of the period in this control's area.
    pub exceptions: u64,
    /// `exceptions` when there are any, `no_activity` when no event evidences the
    /// control, `satisfied` otherwise.
    pub status: &'static str,
}

/// One exception, linked to its audit events.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exception {
    pub kind: &'static str,
    pub area: Area,
    /// The audit events that show it, by `seq`.
    pub seqs: Vec<u64>,
    pub ts_ms: i64,
    pub at: When,
    pub event_type: String,
    pub permit_id: Option<String>,
    pub worker_id: Option<String>,
    pub detail: String,
}

/// The result of verifying the stored chain, as the caller found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub ok: bool,
    /// The verified head (`ok`) or the head that was read.
    pub head_seq: u64,
    /// The first bad `seq`, when the chain is broken there.
    pub first_bad_seq: Option<u64>,
    /// What failed, when `ok` is false.
    pub problem: Option<String>,
}

/// The report period, Unix milliseconds, `from_ms` inclusive, `to_ms` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Period {
    pub from_ms: i64,
    pub to_ms: i64,
}

/// The period as a report shows it: the machine bounds and both ends as [`When`]s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportPeriod {
    pub from_ms: i64,
    /// Exclusive.
    pub to_ms: i64,
    pub from: When,
    /// Exclusive.
    pub to: When,
}

/// A compliance report for one framework and period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComplianceReport {
    pub framework: Framework,
    pub period: ReportPeriod,
    /// The zone every [`When`] of the report is shown in: `UTC`, an IANA name, or a
    /// fixed offset such as `UTC+02:00`.
    pub time_zone: String,
    /// What the framework covers, in words (see [`Change`]).
    pub scope: &'static str,
    /// The permits in scope with an event in the period, in the order of that event.
    pub changes: Vec<Change>,
    /// Events in the period.
    pub total_events: u64,
    /// Events in the period by type.
    pub counts: BTreeMap<String, u64>,
    pub controls: Vec<ControlReport>,
    pub exceptions: Vec<Exception>,
    pub verification: Verification,
    pub latest_checkpoint: Option<SignedCheckpoint>,
    /// When the latest checkpoint was signed.
    pub latest_checkpoint_at: Option<When>,
}

/// Builds a [`ComplianceReport`] from events fed in `seq` order (see the module docs).
#[derive(Debug)]
pub struct ReportBuilder {
    framework: Framework,
    period: Period,
    total: u64,
    counts: BTreeMap<String, u64>,
    exceptions: Vec<Exception>,
    worker_levels: HashMap<String, u64>,
    requesters: HashMap<String, String>,
    tracks: changes::Tracks,
    zone: ReportZone,
}

struct ControlSpec {
    id: &'static str,
    title: &'static str,
    area: Area,
    evidence: &'static [&'static str],
}

// Evidence: event types by their catalogue names, or a family (`permit.*`) of the
// catalogue (a test checks that every family names catalogued types).
const ACCESS: &[&str] = &["authorize.*", "token.*", "principal.*"];
const CHANGES: &[&str] = &["permit.*", "rollback.*"];
const APPROVALS: &[&str] = &[
    EventType::PermitApprovalRecorded.as_str(),
    EventType::PermitApproved.as_str(),
    EventType::PermitCabSignedOff.as_str(),
    EventType::WorkerPromotionApproved.as_str(),
];
const SEGREGATION: &[&str] = &[
    EventType::PermitApprovalRecorded.as_str(),
    EventType::WorkerPromotionApproved.as_str(),
];
const PROTECTION: &[&str] = &[
    EventType::PrincipalErased.as_str(),
    EventType::TelemetryBreach.as_str(),
    EventType::AuthorizeDenied.as_str(),
];
const REMOVAL: &[&str] = &[
    EventType::PermitRevoked.as_str(),
    EventType::PrincipalDisabled.as_str(),
    EventType::TokenRevoked.as_str(),
    EventType::WorkerRevoked.as_str(),
];
const ERASURE: &[&str] = &[EventType::PrincipalErased.as_str()];
const BREACHES: &[&str] = &[
    EventType::TelemetryBreach.as_str(),
    EventType::AuthorizeDenied.as_str(),
];
const ALL: &[&str] = &["*"];

const fn control(
    id: &'static str,
    title: &'static str,
    area: Area,
    evidence: &'static [&'static str],
) -> ControlSpec {
    ControlSpec {
        id,
        title,
        area,
        evidence,
    }
}

/// The controls each framework needs, with the framework's own ids where it has them
/// (SOC2 trust services criteria, HIPAA §164.312, PCI DSS v4 requirements, GDPR articles;
/// SOX has none of its own for IT, so its section 404 IT general controls are named
/// `ITGC-…`).
fn controls(framework: Framework) -> &'static [ControlSpec] {
    use Area::*;
    const SOC2: &[ControlSpec] = &[
        control(
            "CC6.1",
            "Logical access: access reports and refusals",
            AccessLogging,
            ACCESS,
        ),
        control(
            "CC6.2",
            "Permit issuance and approval",
            Approvals,
            APPROVALS,
        ),
        control(
            "CC6.3",
            "Access removal (revocations, disabled principals)",
            ChangeManagement,
            REMOVAL,
        ),
        control(
            "CC7.2",
            "Security events monitored",
            DataProtection,
            PROTECTION,
        ),
        control(
            "CC8.1",
            "Change management audit trail",
            ChangeManagement,
            CHANGES,
        ),
        control(
            "CC8.1-SoD",
            "Changes approved by someone other than the requester",
            SegregationOfDuties,
            SEGREGATION,
        ),
        control(
            "CC7.2-Audit",
            "Audit trail integrity (hash chain, signed checkpoints)",
            AuditIntegrity,
            ALL,
        ),
    ];
    const HIPAA: &[ControlSpec] = &[
        control("164.312(a)(1)", "Access control", AccessLogging, ACCESS),
        control("164.312(b)", "Audit controls", AuditIntegrity, ALL),
        control(
            "164.312(c)(1)",
            "Integrity: changes to systems holding PHI",
            ChangeManagement,
            CHANGES,
        ),
        control(
            "164.308(a)(4)",
            "Access authorization: approvals",
            Approvals,
            APPROVALS,
        ),
        control(
            "164.308(a)(3)",
            "Workforce security: separation of approver and requester",
            SegregationOfDuties,
            SEGREGATION,
        ),
        control(
            "164.312(e)(1)",
            "Transmission and data protection events",
            DataProtection,
            PROTECTION,
        ),
    ];
    const PCI_DSS: &[ControlSpec] = &[
        control(
            "6.5.1",
            "Changes to system components follow change control",
            ChangeManagement,
            CHANGES,
        ),
        control(
            "6.5.2",
            "Changes approved by authorised parties",
            Approvals,
            APPROVALS,
        ),
        control(
            "6.5.4",
            "Segregation of duties",
            SegregationOfDuties,
            SEGREGATION,
        ),
        control("7.2", "Access assigned and logged", AccessLogging, ACCESS),
        control(
            "10.2",
            "Audit logs capture user and system activity",
            AuditIntegrity,
            ALL,
        ),
        control(
            "3.1",
            "Cardholder data protection events",
            DataProtection,
            PROTECTION,
        ),
    ];
    const GDPR: &[ControlSpec] = &[
        control(
            "Art.30",
            "Records of processing activities",
            AuditIntegrity,
            ALL,
        ),
        control(
            "Art.32",
            "Security of processing: access",
            AccessLogging,
            ACCESS,
        ),
        control(
            "Art.32-Changes",
            "Security of processing: controlled changes",
            ChangeManagement,
            CHANGES,
        ),
        control(
            "Art.32-Approvals",
            "Security of processing: approvals",
            Approvals,
            APPROVALS,
        ),
        control(
            "Art.5(1)(f)",
            "Integrity and confidentiality: separation of duties",
            SegregationOfDuties,
            SEGREGATION,
        ),
        control(
            "Art.17",
            "Erasure of personal data (keeps the trail verifiable)",
            DataProtection,
            ERASURE,
        ),
        control(
            "Art.33",
            "Breaches detected and recorded",
            DataProtection,
            BREACHES,
        ),
    ];
    const SOX: &[ControlSpec] = &[
        control("ITGC-CM", "Change management", ChangeManagement, CHANGES),
        control("ITGC-APPR", "Approval workflows", Approvals, APPROVALS),
        control(
            "ITGC-SOD",
            "Segregation of duties",
            SegregationOfDuties,
            SEGREGATION,
        ),
        control("ITGC-ACCESS", "Logical access", AccessLogging, ACCESS),
        control(
            "ITGC-AUDIT",
            "Audit trail completeness and integrity",
            AuditIntegrity,
            ALL,
        ),
        control(
            "ITGC-DATA",
            "Financial data protection events",
            DataProtection,
            PROTECTION,
        ),
    ];
    match framework {
        Framework::Soc2 => SOC2,
        Framework::Hipaa => HIPAA,
        Framework::PciDss => PCI_DSS,
        Framework::Gdpr => GDPR,
        Framework::Sox => SOX,
    }
}

fn matches(patterns: &[&str], event_type: &str) -> bool {
    patterns
        .iter()
        .any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => event_type.starts_with(prefix),
            None => *pattern == event_type,
        })
}

impl ReportBuilder {
    pub fn new(framework: Framework, period: Period) -> ReportBuilder {
        ReportBuilder {
            framework,
            period,
            total: 0,
            counts: BTreeMap::new(),
            exceptions: Vec::new(),
            worker_levels: HashMap::new(),
            requesters: HashMap::new(),
            tracks: changes::Tracks::default(),
            zone: ReportZone::default(),
        }
    }

    /// Shows the report's times in `zone` (UTC otherwise). Call before [`add`].
    ///
    /// [`add`]: ReportBuilder::add
    pub fn with_time_zone(mut self, zone: ReportZone) -> ReportBuilder {
        self.zone = zone;
        self
    }

    /// Takes the next event. Events before the period only update what the builder knows
    /// (worker levels, permit requesters); events at or after `to_ms` are ignored.
    pub fn add(&mut self, entry: &AuditEntry) {
        let in_period = entry.ts_ms >= self.period.from_ms && entry.ts_ms < self.period.to_ms;
        if entry.ts_ms >= self.period.to_ms {
            return;
        }
        if in_period {
            self.total += 1;
            *self.counts.entry(entry.event_type.clone()).or_insert(0) += 1;
            self.exceptions_of(entry);
        }
        let worker_level = entry
            .subject
            .worker_id
            .as_ref()
            .and_then(|worker| self.worker_levels.get(worker))
            .copied();
        self.tracks.add(entry, in_period, worker_level);
        self.learn(entry);
    }

    /// Worker levels and permit requesters, from any event fed.
    fn learn(&mut self, entry: &AuditEntry) {
        let kind = EventType::of(&entry.event_type);
        if let Some(worker) = &entry.subject.worker_id {
            let level = match kind {
                Some(EventType::WorkerRegistered) => WorkerRegistered::from_data(&entry.data)
                    .ok()
                    .map(|w| w.level),
                Some(EventType::WorkerPromoted) => WorkerPromoted::from_data(&entry.data)
                    .ok()
                    .map(|w| w.to_level),
                _ => None,
            };
            if let Some(level) = level {
                self.worker_levels.insert(worker.clone(), u64::from(level));
            }
        }
        if kind == Some(EventType::PermitRequested)
            && let Some(permit) = &entry.subject.permit_id
        {
            self.requesters
                .insert(permit.clone(), entry.actor.id.clone());
        }
    }

    fn exceptions_of(&mut self, entry: &AuditEntry) {
        let data = &entry.data;
        let kind = EventType::of(&entry.event_type);
        let at = self.zone.at(entry.ts_ms);
        let mut push = |kind: &'static str, area: Area, detail: String| {
            self.exceptions.push(Exception {
                kind,
                area,
                seqs: vec![entry.seq],
                ts_ms: entry.ts_ms,
                at: at.clone(),
                event_type: entry.event_type.clone(),
                permit_id: entry.subject.permit_id.clone(),
                worker_id: entry.subject.worker_id.clone(),
                detail,
            });
        };
        // Types outside the catalogue that other parts record (`*.blocked`, or any event
        // listing `hard_blocks`) are recognised by name and member.
        let hard_blocks = kind.is_none()
            && data
                .get("hard_blocks")
                .and_then(Value::as_array)
                .is_some_and(|blocks| !blocks.is_empty());
        if (kind.is_none() && entry.event_type.ends_with(".blocked")) || hard_blocks {
            let blocks = data
                .get("hard_blocks")
                .map(Value::to_string)
                .unwrap_or_default();
            push(
                "hard_block",
                Area::ChangeManagement,
                format!("hard block {blocks}").trim_end().to_owned(),
            );
        }
        let Some(kind) = kind else {
            return;
        };
        match kind {
            EventType::AuthorizeDenied => {
                let decision = AuthorizeDecided::from_data(data).unwrap_or_default();
                let reason = Some(decision.rule.as_str())
                    .filter(|rule| !rule.is_empty())
                    .unwrap_or("denied");
                push(
                    "authorization_denied",
                    Area::AccessLogging,
                    format!("authorization denied: {reason}"),
                );
            }
            EventType::PermitRevoked => {
                let revoked = PermitRevoked::from_data(data).unwrap_or_default();
                let reason = revoked.reason.as_str();
                if matches!(
                    reason,
                    "scope_expansion" | "constraint_breach" | "safety_violation"
                ) {
                    push(
                        "revocation",
                        Area::ChangeManagement,
                        format!("permit revoked for {reason}"),
                    );
                }
            }
            EventType::TelemetryBreach => {
                let breach = TelemetryBreach::from_data(data).unwrap_or_default();
                let what = Some(breach.trigger.as_str())
                    .filter(|trigger| !trigger.is_empty())
                    .unwrap_or("breach");
                push(
                    "sla_breach",
                    Area::DataProtection,
                    format!("SLA or constraint breach: {what}"),
                );
            }
            EventType::PermitApprovalOverdue => push(
                "sla_breach",
                Area::Approvals,
                "approval SLA missed: the permit waited past its approval time".to_owned(),
            ),
            EventType::PermitIssued
                if entry
                    .subject
                    .permit_id
                    .as_ref()
                    .and_then(|permit| self.tracks.get(permit))
                    .is_some_and(|track| track.requested() && !track.approved) =>
            {
                push(
                    "missing_approval",
                    Area::Approvals,
                    "permit issued without a recorded approval".to_owned(),
                );
            }
            EventType::RollbackEscalated => push(
                "rollback_escalated",
                Area::ChangeManagement,
                "rollback escalated".to_owned(),
            ),
            EventType::PermitEscalated => push(
                "permit_escalated",
                Area::ChangeManagement,
                "permit escalated".to_owned(),
            ),
            EventType::WorkerOutcomeRecorded
                if WorkerOutcomeRecorded::from_data(data)
                    .is_ok_and(|outcome| outcome.result == "safety_violation") =>
            {
                push(
                    "safety_violation",
                    Area::ChangeManagement,
                    "operation ended in a safety violation".to_owned(),
                );
            }
            EventType::WorkerSuspended => {
                let suspended = WorkerSuspended::from_data(data).unwrap_or_default();
                if suspended.automatic == Some(true) {
                    push(
                        "safety_violation",
                        Area::ChangeManagement,
                        format!(
                            "worker suspended automatically: {}",
                            suspended.cause.unwrap_or_default()
                        ),
                    );
                }
            }
            EventType::PermitStarted => {
                let worker_level = entry
                    .subject
                    .worker_id
                    .as_ref()
                    .and_then(|worker| self.worker_levels.get(worker));
                if let (Some(level), Some(worker_level)) = (entry.level, worker_level)
                    && u64::from(level) > *worker_level
                {
                    push(
                        "above_level_execution",
                        Area::Approvals,
                        format!(
                            "permit at level {level} started by a worker at level {worker_level}"
                        ),
                    );
                }
            }
            EventType::PermitApprovalRecorded | EventType::PermitApproved => {
                let requester = entry
                    .subject
                    .permit_id
                    .as_ref()
                    .and_then(|permit| self.requesters.get(permit));
                if requester == Some(&entry.actor.id)
                    && entry.actor.kind != crate::ActorKind::System
                {
                    push(
                        "self_approval",
                        Area::SegregationOfDuties,
                        format!("`{}` approved their own request", entry.actor.id),
                    );
                }
            }
            _ => {}
        }
    }

    /// The report, with the chain verification the caller ran and the latest checkpoint.
    pub fn finish(
        mut self,
        verification: Verification,
        latest_checkpoint: Option<SignedCheckpoint>,
    ) -> ComplianceReport {
        let period = self.period;
        for (permit_id, track) in self.tracks.all() {
            let Some(emergency) = &track.emergency else {
                continue;
            };
            let Some(due) = emergency.review_due_ms else {
                continue;
            };
            if emergency.reviewed || due < period.from_ms || due >= period.to_ms {
                continue;
            }
            self.exceptions.push(Exception {
                kind: "emergency_without_review",
                area: Area::ChangeManagement,
                seqs: [Some(emergency.declared_seq), emergency.ended_seq]
                    .into_iter()
                    .flatten()
                    .collect(),
                ts_ms: due,
                at: self.zone.at(due),
                event_type: EventType::EmergencyEnded.as_str().to_owned(),
                permit_id: Some(permit_id.to_owned()),
                worker_id: None,
                detail: "emergency ended without its post-incident review by the deadline"
                    .to_owned(),
            });
        }
        if !verification.ok {
            self.exceptions.push(Exception {
                kind: "audit_chain_broken",
                area: Area::AuditIntegrity,
                seqs: verification.first_bad_seq.into_iter().collect(),
                ts_ms: self.period.to_ms,
                at: self.zone.at(self.period.to_ms),
                event_type: String::new(),
                permit_id: None,
                worker_id: None,
                detail: verification
                    .problem
                    .clone()
                    .unwrap_or_else(|| "the audit chain does not verify".to_owned()),
            });
        }
        let controls = controls(self.framework)
            .iter()
            .map(|spec| {
                let events = self
                    .counts
                    .iter()
                    .filter(|(event_type, _)| matches(spec.evidence, event_type))
                    .map(|(_, count)| *count)
                    .sum();
                let exceptions = self
                    .exceptions
                    .iter()
                    .filter(|e| e.area == spec.area)
                    .count() as u64;
                let status = if exceptions > 0 {
                    "exceptions"
                } else if events == 0 {
                    "no_activity"
                } else {
                    "satisfied"
                };
                ControlReport {
                    id: spec.id,
                    title: spec.title,
                    area: spec.area,
                    evidence: spec.evidence,
                    events,
                    exceptions,
                    status,
                }
            })
            .collect();
        let tree_size = latest_checkpoint
            .as_ref()
            .map(|signed| signed.checkpoint.tree_size);
        let changes = self
            .tracks
            .in_period()
            .into_iter()
            .filter_map(|(permit_id, track)| {
                let reasons = changes::governs(self.framework, track);
                if reasons.is_empty() {
                    return None;
                }
                let exceptions = self
                    .exceptions
                    .iter()
                    .filter(|e| e.permit_id.as_deref() == Some(permit_id))
                    .map(|e| ChangeException {
                        kind: e.kind,
                        seqs: e.seqs.clone(),
                    })
                    .collect();
                Some(changes::change(
                    permit_id, track, reasons, exceptions, &self.zone, tree_size,
                ))
            })
            .collect();
        ComplianceReport {
            framework: self.framework,
            period: ReportPeriod {
                from_ms: period.from_ms,
                to_ms: period.to_ms,
                from: self.zone.at(period.from_ms),
                to: self.zone.at(period.to_ms),
            },
            time_zone: self.zone.name().to_owned(),
            scope: changes::scope_text(self.framework),
            changes,
            total_events: self.total,
            counts: self.counts,
            controls,
            exceptions: self.exceptions,
            verification,
            latest_checkpoint_at: latest_checkpoint
                .as_ref()
                .map(|signed| self.zone.at(signed.checkpoint.ts_ms)),
            latest_checkpoint,
        }
    }
}

impl ComplianceReport {
    /// The report as Markdown: a heading with the period in human dates, the scope, the
    /// verification and checkpoint, one section per change, one table of controls, one of
    /// exceptions (each with its `seq`s), and the event counts.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# {} compliance report", self.framework);
        let _ = writeln!(
            out,
            "\nPeriod: {} to {} (end exclusive; {} to {}). Times are in {}. Events in the period: {}.",
            self.period.from.human,
            self.period.to.human,
            self.period.from.rfc3339,
            self.period.to.rfc3339,
            self.time_zone,
            self.total_events
        );
        let _ = writeln!(out, "\nScope: {}.", self.scope);
        let v = &self.verification;
        let _ = writeln!(out, "\n## Audit verification\n");
        if v.ok {
            let _ = writeln!(
                out,
                "Intact: the hash chain verifies up to seq {}.",
                v.head_seq
            );
        } else {
            let _ = writeln!(
                out,
                "**BROKEN** at seq {}: {}.",
                v.first_bad_seq
                    .map_or("?".to_owned(), |seq| seq.to_string()),
                v.problem.as_deref().unwrap_or("the chain does not verify")
            );
        }
        match (&self.latest_checkpoint, &self.latest_checkpoint_at) {
            (Some(signed), Some(at)) => {
                let _ = writeln!(
                    out,
                    "Latest signed checkpoint: tree size {}, root `{}`, signed at {} by key `{}`.",
                    signed.checkpoint.tree_size,
                    signed.checkpoint.root_hash,
                    at.human,
                    signed.key_id
                );
            }
            _ => {
                let _ = writeln!(out, "No signed checkpoint yet.");
            }
        }
        self.changes_markdown(&mut out);
        let _ = writeln!(out, "\n## Controls\n");
        let _ = writeln!(
            out,
            "| control | title | area | events | exceptions | status |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|");
        for c in &self.controls {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                c.id, c.title, c.area, c.events, c.exceptions, c.status
            );
        }
        let _ = writeln!(out, "\n## Exceptions\n");
        if self.exceptions.is_empty() {
            let _ = writeln!(out, "None.");
        } else {
            let _ = writeln!(
                out,
                "| kind | audit events (seq) | event | permit | worker | when | detail |"
            );
            let _ = writeln!(out, "|---|---|---|---|---|---|---|");
            for e in &self.exceptions {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} |",
                    e.kind,
                    seq_list(&e.seqs),
                    e.event_type,
                    e.permit_id.as_deref().unwrap_or(""),
                    e.worker_id.as_deref().unwrap_or(""),
                    e.at.human,
                    cell(&e.detail)
                );
            }
        }
        let _ = writeln!(out, "\n## Events by type\n");
        let _ = writeln!(out, "| type | count |");
        let _ = writeln!(out, "|---|---|");
        for (event_type, count) in &self.counts {
            let _ = writeln!(out, "| {event_type} | {count} |");
        }
        out
    }

    fn changes_markdown(&self, out: &mut String) {
        let _ = writeln!(out, "\n## Changes ({})\n", self.changes.len());
        if self.changes.is_empty() {
            let _ = writeln!(out, "None in scope in the period.");
            return;
        }
        let none = || "none".to_owned();
        for (i, c) in self.changes.iter().enumerate() {
            if i > 0 {
                let _ = writeln!(out);
            }
            let _ = write!(out, "### Permit `{}`", c.permit_id);
            if let Some(summary) = &c.summary {
                let _ = write!(out, ": {}", summary.replace('\n', " "));
            }
            let _ = writeln!(out, "\n");
            let _ = writeln!(
                out,
                "- Task: `{}`; permit type {}; level {}",
                c.task_id.as_deref().unwrap_or("?"),
                c.permit_type.as_deref().unwrap_or("?"),
                c.level.map_or("?".to_owned(), |l| l.to_string())
            );
            let _ = writeln!(
                out,
                "- Worker: `{}`{}",
                c.worker_id.as_deref().unwrap_or("?"),
                c.worker_level
                    .map_or(String::new(), |l| format!(" (level {l} when requested)"))
            );
            let _ = writeln!(
                out,
                "- Requested by `{}` at {}",
                c.requester.as_deref().unwrap_or("?"),
                c.requested_at.as_ref().map_or("?", |w| w.human.as_str())
            );
            let _ = writeln!(out, "- In scope: {}", c.in_scope_because.join("; "));
            if c.approvers.is_empty() {
                let _ = writeln!(out, "- Approvers: none");
            } else {
                let _ = writeln!(out, "- Approvers:");
                for a in &c.approvers {
                    let _ = writeln!(
                        out,
                        "  - `{}` as {} at {} (seq {})",
                        a.principal_id, a.role, a.at.human, a.seq
                    );
                }
            }
            let evidence = if c.evidence.is_empty() {
                none()
            } else {
                c.evidence.join(", ")
            };
            let _ = writeln!(out, "- Evidence: {evidence}");
            let window = c.window.as_ref().map_or_else(none, |w| {
                format!(
                    "{} to {}",
                    w.from.as_ref().map_or("?", |t| t.human.as_str()),
                    w.until.as_ref().map_or("?", |t| t.human.as_str())
                )
            });
            let _ = writeln!(out, "- Window: {window}");
            let _ = writeln!(out, "- Outcome: {}", c.outcome);
            let rollback = c.rollback.as_ref().map_or_else(none, |r| {
                format!(
                    "opened at {} ({}), {}{} (seqs {})",
                    r.opened_at.human,
                    r.trigger.as_deref().unwrap_or("trigger not recorded"),
                    match (&r.completed_at, &r.outcome) {
                        (Some(at), outcome) => format!(
                            "completed at {} ({})",
                            at.human,
                            outcome.as_deref().unwrap_or("?")
                        ),
                        (None, _) => "not completed".to_owned(),
                    },
                    if r.escalated { ", escalated" } else { "" },
                    seq_list(&r.seqs)
                )
            });
            let _ = writeln!(out, "- Rollback: {rollback}");
            let exceptions = if c.exceptions.is_empty() {
                none()
            } else {
                c.exceptions
                    .iter()
                    .map(|e| format!("{} (seqs {})", e.kind, seq_list(&e.seqs)))
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            let _ = writeln!(out, "- Exceptions: {exceptions}");
            let _ = writeln!(out, "- Audit events:");
            for e in &c.events {
                let _ = write!(
                    out,
                    "  - seq {} `{}` at {}",
                    e.seq, e.event_type, e.at.human
                );
                match &e.inclusion_proof {
                    Some(proof) => {
                        let _ = writeln!(out, "; inclusion proof `{proof}`");
                    }
                    None => {
                        let _ = writeln!(out, "; not yet in a signed checkpoint");
                    }
                }
            }
        }
    }
}

fn seq_list(seqs: &[u64]) -> String {
    seqs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Text in a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

impl Framework {
    pub const ALL: [Framework; 5] = [
        Framework::Soc2,
        Framework::Hipaa,
        Framework::PciDss,
        Framework::Gdpr,
        Framework::Sox,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Framework::Soc2 => "SOC2",
            Framework::Hipaa => "HIPAA",
            Framework::PciDss => "PCI_DSS",
            Framework::Gdpr => "GDPR",
            Framework::Sox => "SOX",
        }
    }
}

impl fmt::Display for Framework {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Framework {
    type Err = UnknownFrameworkError;

    fn from_str(s: &str) -> Result<Framework, UnknownFrameworkError> {
        Framework::ALL
            .into_iter()
            .find(|framework| framework.as_str() == s)
            .ok_or_else(|| UnknownFrameworkError(s.to_owned()))
    }
}

impl Area {
    pub const fn as_str(self) -> &'static str {
        match self {
            Area::ChangeManagement => "change_management",
            Area::Approvals => "approvals",
            Area::SegregationOfDuties => "segregation_of_duties",
            Area::AccessLogging => "access_logging",
            Area::DataProtection => "data_protection",
            Area::AuditIntegrity => "audit_integrity",
        }
    }
}

impl fmt::Display for Area {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests;
