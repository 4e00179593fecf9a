//! Compliance reports (SPEC §10): audit events in, a per-framework report out. Pure: the
//! caller reads the events, verifies the chain and fetches the latest checkpoint, then
//! feeds them to a [`ReportBuilder`] and renders the [`ComplianceReport`] as JSON (serde)
//! or Markdown ([`ComplianceReport::to_markdown`]).
//!
//! # What goes in
//!
//! Feed the builder every `worker.*` and `permit.requested` event before the period (they
//! tell each worker's level and each permit's requester; nothing before the period is
//! counted), then every event of the period, in `seq` order.
//!
//! # Exceptions
//!
//! Every exception names the audit event(s) it comes from by `seq`. Recognised, including
//! event types other parts of Steward add over time:
//!
//! | kind | from |
//! |---|---|
//! | `hard_block` | a `*.blocked` event, or any event whose `data.hard_blocks` is a non-empty list |
//! | `authorization_denied` | `authorize.denied` |
//! | `revocation` | `permit.revoked` for `scope_expansion`, `constraint_breach` or `safety_violation` |
//! | `above_level_execution` | `permit.started` at a level above the worker's level at the time |
//! | `self_approval` | an approval by the permit's own requester |
//! | `sla_breach` | `telemetry.breach` |
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

/// A compliance report for one framework and period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComplianceReport {
    pub framework: Framework,
    pub period: Period,
    /// Events in the period.
    pub total_events: u64,
    /// Events in the period by type.
    pub counts: BTreeMap<String, u64>,
    pub controls: Vec<ControlReport>,
    pub exceptions: Vec<Exception>,
    pub verification: Verification,
    pub latest_checkpoint: Option<SignedCheckpoint>,
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
}

struct ControlSpec {
    id: &'static str,
    title: &'static str,
    area: Area,
    evidence: &'static [&'static str],
}

const ACCESS: &[&str] = &["authorize.*", "token.*", "principal.*"];
const CHANGES: &[&str] = &["permit.*", "rollback.*"];
const APPROVALS: &[&str] = &[
    "permit.approval_recorded",
    "permit.approved",
    "permit.cab_signed_off",
    "worker.promotion_approved",
];
const SEGREGATION: &[&str] = &["permit.approval_recorded", "worker.promotion_approved"];
const PROTECTION: &[&str] = &["principal.erased", "telemetry.breach", "authorize.denied"];
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
            &[
                "permit.revoked",
                "principal.disabled",
                "token.revoked",
                "worker.revoked",
            ],
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
            &["principal.erased"],
        ),
        control(
            "Art.33",
            "Breaches detected and recorded",
            DataProtection,
            &["telemetry.breach", "authorize.denied"],
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
        }
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
        self.learn(entry);
    }

    /// Worker levels and permit requesters, from any event fed.
    fn learn(&mut self, entry: &AuditEntry) {
        let data = &entry.data;
        if let Some(worker) = &entry.subject.worker_id {
            let level = match entry.event_type.as_str() {
                "worker.registered" => data.get("level").and_then(Value::as_u64),
                "worker.promoted" => data.get("to_level").and_then(Value::as_u64),
                _ => None,
            };
            if let Some(level) = level {
                self.worker_levels.insert(worker.clone(), level);
            }
        }
        if entry.event_type == "permit.requested"
            && let Some(permit) = &entry.subject.permit_id
        {
            self.requesters
                .insert(permit.clone(), entry.actor.id.clone());
        }
    }

    fn exceptions_of(&mut self, entry: &AuditEntry) {
        let data = &entry.data;
        let text = |key: &str| data.get(key).and_then(Value::as_str).unwrap_or("");
        let mut push = |kind: &'static str, area: Area, detail: String| {
            self.exceptions.push(Exception {
                kind,
                area,
                seqs: vec![entry.seq],
                ts_ms: entry.ts_ms,
                event_type: entry.event_type.clone(),
                permit_id: entry.subject.permit_id.clone(),
                worker_id: entry.subject.worker_id.clone(),
                detail,
            });
        };
        let hard_blocks = data
            .get("hard_blocks")
            .and_then(Value::as_array)
            .is_some_and(|blocks| !blocks.is_empty());
        if entry.event_type.ends_with(".blocked") || hard_blocks {
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
        match entry.event_type.as_str() {
            "authorize.denied" => {
                let reason = [text("rule"), text("reason"), text("code")]
                    .into_iter()
                    .find(|s| !s.is_empty())
                    .unwrap_or("denied");
                push(
                    "authorization_denied",
                    Area::AccessLogging,
                    format!("authorization denied: {reason}"),
                );
            }
            "permit.revoked" => {
                let reason = text("reason");
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
            "telemetry.breach" => {
                let what = [text("metric"), text("kind"), text("reason")]
                    .into_iter()
                    .find(|s| !s.is_empty())
                    .unwrap_or("breach");
                push(
                    "sla_breach",
                    Area::DataProtection,
                    format!("SLA or constraint breach: {what}"),
                );
            }
            "rollback.escalated" => push(
                "rollback_escalated",
                Area::ChangeManagement,
                "rollback escalated".to_owned(),
            ),
            "permit.escalated" => push(
                "permit_escalated",
                Area::ChangeManagement,
                "permit escalated".to_owned(),
            ),
            "worker.outcome_recorded" if text("result") == "safety_violation" => {
                push(
                    "safety_violation",
                    Area::ChangeManagement,
                    "operation ended in a safety violation".to_owned(),
                );
            }
            "worker.suspended" if data.get("automatic") == Some(&Value::Bool(true)) => {
                push(
                    "safety_violation",
                    Area::ChangeManagement,
                    format!("worker suspended automatically: {}", text("cause")),
                );
            }
            "permit.started" => {
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
            "permit.approval_recorded" | "permit.approved" => {
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
        if !verification.ok {
            self.exceptions.push(Exception {
                kind: "audit_chain_broken",
                area: Area::AuditIntegrity,
                seqs: verification.first_bad_seq.into_iter().collect(),
                ts_ms: self.period.to_ms,
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
        ComplianceReport {
            framework: self.framework,
            period: self.period,
            total_events: self.total,
            counts: self.counts,
            controls,
            exceptions: self.exceptions,
            verification,
            latest_checkpoint,
        }
    }
}

impl ComplianceReport {
    /// The report as Markdown: a heading, the verification and checkpoint, one table of
    /// controls, one of exceptions (each with its `seq`s), and the event counts.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# {} compliance report", self.framework);
        let _ = writeln!(
            out,
            "\nPeriod: {} to {} (Unix ms, end exclusive). Events in the period: {}.",
            self.period.from_ms, self.period.to_ms, self.total_events
        );
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
        match &self.latest_checkpoint {
            Some(signed) => {
                let _ = writeln!(
                    out,
                    "Latest signed checkpoint: tree size {}, root `{}`, signed at {} by key `{}`.",
                    signed.checkpoint.tree_size,
                    signed.checkpoint.root_hash,
                    signed.checkpoint.ts_ms,
                    signed.key_id
                );
            }
            None => {
                let _ = writeln!(out, "No signed checkpoint yet.");
            }
        }
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
                "| kind | audit events (seq) | event | permit | worker | detail |"
            );
            let _ = writeln!(out, "|---|---|---|---|---|---|");
            for e in &self.exceptions {
                let seqs: Vec<String> = e.seqs.iter().map(u64::to_string).collect();
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} |",
                    e.kind,
                    seqs.join(", "),
                    e.event_type,
                    e.permit_id.as_deref().unwrap_or(""),
                    e.worker_id.as_deref().unwrap_or(""),
                    e.detail.replace('|', "\\|")
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
