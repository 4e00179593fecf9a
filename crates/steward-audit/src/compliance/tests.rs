//! Unit tests for compliance report assembly: counting, controls per framework, every
//! exception kind linked to its seq, period bounds, history before the period, and the
//! Markdown rendering.

use serde_json::{Value, json};

use super::*;
use crate::{Actor, ActorKind, Hash, Subject};

const FROM: i64 = 1_000;
const TO: i64 = 2_000;

fn actor(id: &str, kind: ActorKind) -> Actor {
    Actor {
        kind,
        id: id.to_owned(),
        roles: Vec::new(),
        channel: None,
    }
}

fn event(
    seq: u64,
    ts_ms: i64,
    event_type: &str,
    by: &str,
    level: Option<u8>,
    data: Value,
) -> AuditEntry {
    AuditEntry {
        seq,
        ts_ms,
        event_type: event_type.to_owned(),
        actor: actor(
            by,
            if by == "steward" {
                ActorKind::System
            } else {
                ActorKind::Human
            },
        ),
        subject: Subject {
            task_id: None,
            worker_id: Some("w-1".to_owned()),
            permit_id: Some("p-1".to_owned()),
        },
        level,
        data,
        prev_hash: Hash::ZERO,
        hash: Hash::ZERO,
    }
}

fn intact(head_seq: u64) -> Verification {
    Verification {
        ok: true,
        head_seq,
        first_bad_seq: None,
        problem: None,
    }
}

fn build(framework: Framework, events: &[AuditEntry]) -> ComplianceReport {
    let mut builder = ReportBuilder::new(
        framework,
        Period {
            from_ms: FROM,
            to_ms: TO,
        },
    );
    for entry in events {
        builder.add(entry);
    }
    builder.finish(intact(events.len() as u64), None)
}

/// A trail with one of each exception inside the period, history before it and an event
/// after it.
fn trail() -> Vec<AuditEntry> {
    vec![
        // Before the period: the worker is at level 1 and alice requested p-1.
        event(
            1,
            10,
            "worker.registered",
            "admin",
            None,
            json!({"level": 1}),
        ),
        event(2, 20, "permit.requested", "alice", Some(3), json!({})),
        // In the period.
        event(
            3,
            FROM,
            "permit.approval_recorded",
            "alice",
            Some(3),
            json!({}),
        ),
        event(
            4,
            1_100,
            "permit.approval_recorded",
            "bob",
            Some(3),
            json!({}),
        ),
        event(5, 1_200, "permit.started", "w-agent", Some(3), json!({})),
        event(
            6,
            1_300,
            "authorize.denied",
            "w-agent",
            Some(3),
            json!({"rule": "access_matrix"}),
        ),
        event(
            7,
            1_400,
            "telemetry.breach",
            "steward",
            None,
            json!({"metric": "error_rate"}),
        ),
        event(
            8,
            1_500,
            "permit.revoked",
            "steward",
            Some(3),
            json!({"reason": "scope_expansion"}),
        ),
        event(
            9,
            1_510,
            "permit.revoked",
            "bob",
            Some(3),
            json!({"reason": "manual"}),
        ),
        event(
            10,
            1_600,
            "rollback.escalated",
            "steward",
            Some(3),
            json!({}),
        ),
        event(11, 1_700, "permit.escalated", "steward", Some(3), json!({})),
        event(
            12,
            1_800,
            "permit.blocked",
            "steward",
            None,
            json!({"hard_blocks": ["no_rollback_plan"]}),
        ),
        event(
            13,
            1_900,
            "worker.outcome_recorded",
            "bob",
            Some(3),
            json!({"result": "safety_violation"}),
        ),
        event(
            14,
            1_950,
            "principal.erased",
            "admin",
            None,
            json!({"principal_id": "x"}),
        ),
        // After the period (to is exclusive).
        event(15, TO, "authorize.denied", "w-agent", None, json!({})),
    ]
}

#[test]
fn every_exception_kind_is_found_and_linked_to_its_seq() {
    let report = build(Framework::Soc2, &trail());
    let found: Vec<(&str, Vec<u64>)> = report
        .exceptions
        .iter()
        .map(|e| (e.kind, e.seqs.clone()))
        .collect();
    assert_eq!(
        found,
        [
            ("self_approval", vec![3]),
            ("above_level_execution", vec![5]),
            ("authorization_denied", vec![6]),
            ("sla_breach", vec![7]),
            ("revocation", vec![8]),
            ("rollback_escalated", vec![10]),
            ("permit_escalated", vec![11]),
            ("hard_block", vec![12]),
            ("safety_violation", vec![13]),
        ]
    );
    let above = &report.exceptions[1];
    assert_eq!(
        above.detail,
        "permit at level 3 started by a worker at level 1"
    );
    assert_eq!(above.permit_id.as_deref(), Some("p-1"));
    assert_eq!(
        report.exceptions[2].detail,
        "authorization denied: access_matrix"
    );
}

#[test]
fn only_events_in_the_period_are_counted() {
    let report = build(Framework::Gdpr, &trail());
    assert_eq!(report.total_events, 12);
    assert_eq!(report.counts["permit.approval_recorded"], 2);
    assert_eq!(
        report.counts["authorize.denied"], 1,
        "seq 15 is at `to`, outside"
    );
    assert!(!report.counts.contains_key("worker.registered"));
    assert_eq!(
        (report.period.from_ms, report.period.to_ms),
        (FROM, TO),
        "the machine bounds stay"
    );
    assert_eq!(report.period.from.rfc3339, "1970-01-01T00:00:01+00:00");
    assert_eq!(report.period.to.human, "1970-01-01 00:00 UTC");
}

#[test]
fn a_promotion_before_the_start_counts_as_the_workers_level() {
    let mut events = trail();
    events.insert(
        2,
        event(
            100,
            30,
            "worker.promoted",
            "admin",
            None,
            json!({"to_level": 3}),
        ),
    );
    let report = build(Framework::Soc2, &events);
    assert!(
        report
            .exceptions
            .iter()
            .all(|e| e.kind != "above_level_execution")
    );
}

#[test]
fn each_framework_lists_its_controls_with_counts_and_status() {
    let report = build(Framework::Soc2, &trail());
    let ids: Vec<&str> = report.controls.iter().map(|c| c.id).collect();
    assert_eq!(
        ids,
        [
            "CC6.1",
            "CC6.2",
            "CC6.3",
            "CC7.2",
            "CC8.1",
            "CC8.1-SoD",
            "CC7.2-Audit"
        ]
    );
    let cc62 = &report.controls[1];
    // The level-3 permit started by a level-1 worker is an approvals exception.
    assert_eq!(
        (cc62.events, cc62.exceptions, cc62.status),
        (2, 1, "exceptions")
    );
    let cc61 = &report.controls[0];
    // authorize.denied and principal.erased; the denial is its exception.
    assert_eq!((cc61.events, cc61.exceptions), (2, 1));
    let cc81 = &report.controls[4];
    // permit.* and rollback.*: approvals 2, started, two revocations, escalations 2, blocked.
    assert_eq!(cc81.events, 8);
    assert_eq!(cc81.status, "exceptions");
    let audit = &report.controls[6];
    assert_eq!((audit.events, audit.status), (12, "satisfied"));

    for framework in Framework::ALL {
        let report = build(framework, &trail());
        let areas: std::collections::BTreeSet<Area> =
            report.controls.iter().map(|c| c.area).collect();
        assert_eq!(areas.len(), 6, "{framework} covers every area");
    }
    let empty = build(Framework::Sox, &[]);
    assert!(empty.controls.iter().all(|c| c.status == "no_activity"));
    assert!(empty.exceptions.is_empty());
}

#[test]
fn a_broken_chain_is_an_exception_naming_the_seq() {
    let builder = ReportBuilder::new(
        Framework::Hipaa,
        Period {
            from_ms: FROM,
            to_ms: TO,
        },
    );
    let report = builder.finish(
        Verification {
            ok: false,
            head_seq: 9,
            first_bad_seq: Some(4),
            problem: Some("hash mismatch (entry altered)".to_owned()),
        },
        None,
    );
    assert_eq!(report.exceptions.len(), 1);
    assert_eq!(report.exceptions[0].kind, "audit_chain_broken");
    assert_eq!(report.exceptions[0].seqs, [4]);
    let audit = report
        .controls
        .iter()
        .find(|c| c.id == "164.312(b)")
        .unwrap();
    assert_eq!(audit.status, "exceptions");
    assert!(
        report
            .to_markdown()
            .contains("**BROKEN** at seq 4: hash mismatch (entry altered).")
    );
}

#[test]
fn frameworks_parse_by_their_names_only() {
    for framework in Framework::ALL {
        assert_eq!(framework.as_str().parse::<Framework>(), Ok(framework));
    }
    let error = "soc2".parse::<Framework>().unwrap_err();
    assert_eq!(
        error.to_string(),
        "unknown framework `soc2`: expected SOC2, HIPAA, PCI_DSS, GDPR or SOX"
    );
}

#[test]
fn json_and_markdown_carry_the_same_facts() {
    let report = build(Framework::PciDss, &trail());
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["framework"], "PCI_DSS");
    assert_eq!(json["controls"][0]["area"], "change_management");
    assert_eq!(json["exceptions"][0]["seqs"], json!([3]));
    assert_eq!(json["verification"]["ok"], true);
    assert_eq!(json["latest_checkpoint"], Value::Null);

    let markdown = report.to_markdown();
    assert!(markdown.starts_with("# PCI_DSS compliance report\n"));
    assert!(markdown.contains(
        "| 6.5.4 | Segregation of duties | segregation_of_duties | 2 | 1 | exceptions |"
    ));
    assert!(markdown.contains("| self_approval | 3 | permit.approval_recorded | p-1 | w-1 | 1970-01-01 00:00 UTC | `alice` approved their own request |"));
    assert!(markdown.contains("Intact: the hash chain verifies up to seq 15."));
    assert!(markdown.contains("No signed checkpoint yet."));
    assert!(markdown.contains("| permit.revoked | 2 |"));
}

// Changes: scope, the permit's story, exceptions linked to seqs, time zones.

/// 2026-12-06 09:14 UTC.
const DEC_6: i64 = 1_796_548_440_000;
const HOUR: i64 = 3_600_000;

/// `entry` about permit `permit` of worker `w-1` (task `t-<permit>`).
fn about(permit: &str, mut entry: AuditEntry) -> AuditEntry {
    entry.subject.permit_id = Some(permit.to_owned());
    entry.subject.task_id = Some(format!("t-{permit}"));
    entry
}

/// A permit request recording its task's scope facts as the store does.
fn requested(seq: u64, ts_ms: i64, permit: &str, task: Value) -> AuditEntry {
    about(
        permit,
        event(
            seq,
            ts_ms,
            "permit.requested",
            "master",
            Some(3),
            json!({"permit_type": "advanced_production", "evidence": ["rollback_plan", "data_protection_impact_assessment"], "task": task}),
        ),
    )
}

/// A PII migration (approved by two people, issued, completed, then a rollback), an
/// unrelated deploy, and an emergency whose review never came, all in December.
fn december() -> Vec<AuditEntry> {
    let pii = json!({"summary": "migrate customers: split the email column", "environment": "production",
        "compliance_frameworks": ["GDPR"], "sensitive_data": ["pii"], "risky_operations": ["schema_migration"]});
    let deploy = json!({"summary": "deploy api", "environment": "production",
        "compliance_frameworks": [], "sensitive_data": [], "risky_operations": []});
    let p = |seq, ts, t: &str, by: &str, data: Value| {
        about("p-pii", event(seq, ts, t, by, Some(3), data))
    };
    vec![
        event(
            1,
            10,
            "worker.registered",
            "admin",
            None,
            json!({"level": 3}),
        ),
        // Requested before the period: the history tells the request and the first approval.
        requested(2, DEC_6 - 2 * HOUR, "p-pii", pii),
        p(
            3,
            DEC_6 - HOUR,
            "permit.approval_recorded",
            "dpo",
            json!({"role": "security_lead"}),
        ),
        requested(4, DEC_6, "p-deploy", deploy),
        p(
            5,
            DEC_6 + 60_000,
            "permit.approval_recorded",
            "director",
            json!({"role": "engineering_director"}),
        ),
        p(
            6,
            DEC_6 + 60_000,
            "permit.approved",
            "director",
            json!({"to": "approved"}),
        ),
        p(
            7,
            DEC_6 + 60_000,
            "permit.issued",
            "steward",
            json!({"valid_from_ms": DEC_6 + 60_000, "expires_at_ms": DEC_6 + 60_000 + 4 * HOUR, "to": "active"}),
        ),
        p(
            8,
            DEC_6 + 120_000,
            "permit.started",
            "w-agent",
            json!({"to": "executing"}),
        ),
        p(
            9,
            DEC_6 + 130_000,
            "authorize.allowed",
            "w-agent",
            json!({}),
        ),
        p(
            10,
            DEC_6 + 140_000,
            "telemetry.breach",
            "steward",
            json!({"metric": "error_rate"}),
        ),
        p(
            11,
            DEC_6 + 140_000,
            "rollback.opened",
            "steward",
            json!({"rollback_id": "rb-1", "trigger": "error_rate", "due_at_ms": DEC_6 + 140_000 + 30 * 60_000}),
        ),
        p(
            12,
            DEC_6 + 600_000,
            "rollback.completed",
            "ops",
            json!({"rollback_id": "rb-1", "outcome": "restored", "completed_at_ms": DEC_6 + 600_000}),
        ),
        p(
            13,
            DEC_6 + 700_000,
            "permit.completed",
            "w-agent",
            json!({"outcome": "failure", "to": "completed"}),
        ),
        // The unrelated deploy is issued with no approval on record.
        about(
            "p-deploy",
            event(
                14,
                DEC_6 + 800_000,
                "permit.issued",
                "steward",
                Some(2),
                json!({"to": "active"}),
            ),
        ),
        // A GDPR emergency: declared, ended, review due in the period, never filed.
        requested(
            15,
            DEC_6 + HOUR,
            "p-emergency",
            json!({"summary": "stop the export of personal data", "environment": "production",
                 "compliance_frameworks": [], "sensitive_data": ["pii"], "risky_operations": []}),
        ),
        about(
            "p-emergency",
            event(
                16,
                DEC_6 + HOUR,
                "emergency.declared",
                "ic",
                Some(3),
                json!({}),
            ),
        ),
        about(
            "p-emergency",
            event(
                17,
                DEC_6 + 2 * HOUR,
                "emergency.ended",
                "steward",
                Some(3),
                json!({"review_due_at_ms": DEC_6 + 26 * HOUR}),
            ),
        ),
    ]
}

fn december_report(framework: Framework, zone: ReportZone) -> ComplianceReport {
    let mut builder = ReportBuilder::new(
        framework,
        Period {
            from_ms: DEC_6 - 9 * HOUR - 14 * 60_000,
            to_ms: DEC_6 + 48 * HOUR,
        },
    )
    .with_time_zone(zone);
    for entry in december() {
        builder.add(&entry);
    }
    let checkpoint = SignedCheckpoint {
        checkpoint: crate::Checkpoint {
            tree_size: 12,
            root_hash: Hash::ZERO,
            ts_ms: DEC_6 + 3 * HOUR,
        },
        key_id: "k".to_owned(),
        signature: [0; 64],
    };
    builder.finish(intact(17), Some(checkpoint))
}

#[test]
fn a_gdpr_report_lists_the_pii_work_with_its_story_and_not_the_rest() {
    let report = december_report(Framework::Gdpr, ReportZone::default());
    let ids: Vec<&str> = report
        .changes
        .iter()
        .map(|c| c.permit_id.as_str())
        .collect();
    assert_eq!(
        ids,
        ["p-pii", "p-emergency"],
        "the deploy touches no personal data"
    );
    let c = &report.changes[0];
    assert_eq!(
        c.in_scope_because,
        ["the task named GDPR", "personal data (pii)"]
    );
    assert_eq!(
        c.summary.as_deref(),
        Some("migrate customers: split the email column")
    );
    assert_eq!(c.task_id.as_deref(), Some("t-p-pii"));
    assert_eq!(
        (c.worker_id.as_deref(), c.level, c.worker_level),
        (Some("w-1"), Some(3), Some(3))
    );
    assert_eq!(c.requester.as_deref(), Some("master"));
    let approvers: Vec<(&str, &str, &str, u64)> = c
        .approvers
        .iter()
        .map(|a| {
            (
                a.principal_id.as_str(),
                a.role.as_str(),
                a.at.human.as_str(),
                a.seq,
            )
        })
        .collect();
    assert_eq!(
        approvers,
        [
            ("dpo", "security_lead", "2026-12-06 08:14 UTC", 3),
            (
                "director",
                "engineering_director",
                "2026-12-06 09:15 UTC",
                5
            ),
        ]
    );
    assert_eq!(
        c.evidence,
        ["rollback_plan", "data_protection_impact_assessment"]
    );
    let window = c.window.as_ref().expect("window");
    assert_eq!(
        window.from.as_ref().map(|w| w.rfc3339.as_str()),
        Some("2026-12-06T09:15:00+00:00")
    );
    assert_eq!(
        window.until.as_ref().map(|w| w.human.as_str()),
        Some("2026-12-06 13:15 UTC")
    );
    assert_eq!(c.outcome, "completed (failure)");
    let rollback = c.rollback.as_ref().expect("rollback");
    assert_eq!(
        (rollback.outcome.as_deref(), rollback.seqs.as_slice()),
        (Some("restored"), &[11, 12][..])
    );
    let exceptions: Vec<(&str, &[u64])> = c
        .exceptions
        .iter()
        .map(|e| (e.kind, e.seqs.as_slice()))
        .collect();
    assert_eq!(exceptions, [("sla_breach", &[10][..])]);
    let seqs: Vec<u64> = c.events.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        [2, 3, 5, 6, 7, 8, 10, 11, 12, 13],
        "authorize allows are left out"
    );
    assert_eq!(
        c.events[0].inclusion_proof.as_deref(),
        Some("/v1/audit/proofs/inclusion?seq=2&tree_size=12")
    );
    assert_eq!(
        c.events[9].inclusion_proof, None,
        "seq 13 is past the checkpoint"
    );

    let emergency = &report.changes[1];
    assert_eq!(emergency.in_scope_because, ["personal data (pii)"]);
    let kinds: Vec<(&str, Vec<u64>)> = report
        .exceptions
        .iter()
        .map(|e| (e.kind, e.seqs.clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("sla_breach", vec![10]),
            ("missing_approval", vec![14]),
            ("emergency_without_review", vec![16, 17]),
        ],
        "exceptions are over the whole period, as the counts are"
    );
    assert_eq!(emergency.exceptions[0].kind, "emergency_without_review");
    assert_eq!(
        report
            .latest_checkpoint_at
            .as_ref()
            .map(|w| w.human.as_str()),
        Some("2026-12-06 12:14 UTC")
    );
}

#[test]
fn each_framework_covers_what_it_governs() {
    for (framework, expected) in [
        (Framework::Gdpr, vec!["p-pii", "p-emergency"]),
        (Framework::Soc2, vec!["p-pii", "p-deploy", "p-emergency"]),
        (Framework::Hipaa, vec![]),
        (Framework::PciDss, vec![]),
        (Framework::Sox, vec![]),
    ] {
        let report = december_report(framework, ReportZone::default());
        let ids: Vec<&str> = report
            .changes
            .iter()
            .map(|c| c.permit_id.as_str())
            .collect();
        assert_eq!(ids, expected, "{framework}");
    }
}

#[test]
fn times_are_shown_in_the_zone_asked() {
    let paris = jiff::tz::TimeZone::tzif("Europe/Paris", PARIS_TZIF).expect("tzif");
    let report = december_report(Framework::Gdpr, ReportZone::new(paris));
    assert_eq!(report.time_zone, "Europe/Paris");
    assert_eq!(
        report.period.from.human,
        "2026-12-06 01:00 Europe/Paris (UTC+01:00)"
    );
    assert_eq!(report.period.from.rfc3339, "2026-12-06T01:00:00+01:00");
    assert_eq!(report.period.from.ms, DEC_6 - 9 * HOUR - 14 * 60_000);
    let fixed = ReportZone::new(jiff::tz::TimeZone::fixed(jiff::tz::offset(-5)));
    assert_eq!(fixed.name(), "UTC-05:00");
    assert_eq!(fixed.at(DEC_6).human, "2026-12-06 04:14 UTC-05:00");
    assert_eq!(fixed.at(DEC_6).rfc3339, "2026-12-06T04:14:00-05:00");
    assert_eq!(
        ReportZone::default().at(DEC_6).human,
        "2026-12-06 09:14 UTC"
    );
}

/// Europe/Paris in the TZif format (a copy of the system's zoneinfo file): the pure crate
/// reads no time zone database, the caller hands it a zone.
const PARIS_TZIF: &[u8] = include_bytes!("paris.tzif");

#[test]
fn the_markdown_names_the_changes_with_human_dates() {
    let markdown = december_report(Framework::Gdpr, ReportZone::default()).to_markdown();
    assert!(
        markdown.contains("Period: 2026-12-06 00:00 UTC to 2026-12-08 09:14 UTC (end exclusive; 2026-12-06T00:00:00+00:00 to 2026-12-08T09:14:00+00:00). Times are in UTC."),
        "{markdown}"
    );
    for line in [
        "## Changes (2)",
        "### Permit `p-pii`: migrate customers: split the email column",
        "- In scope: the task named GDPR; personal data (pii)",
        "  - `director` as engineering_director at 2026-12-06 09:15 UTC (seq 5)",
        "- Evidence: rollback_plan, data_protection_impact_assessment",
        "- Window: 2026-12-06 09:15 UTC to 2026-12-06 13:15 UTC",
        "- Outcome: completed (failure)",
        "- Exceptions: sla_breach (seqs 10)",
        "  - seq 2 `permit.requested` at 2026-12-06 07:14 UTC; inclusion proof `/v1/audit/proofs/inclusion?seq=2&tree_size=12`",
        "  - seq 13 `permit.completed` at 2026-12-06 09:25 UTC; not yet in a signed checkpoint",
        "| emergency_without_review | 16, 17 | emergency.ended | p-emergency |  | 2026-12-07 11:14 UTC | emergency ended without its post-incident review by the deadline |",
    ] {
        assert!(markdown.contains(line), "{line}\n---\n{markdown}");
    }
}

#[test]
fn a_resubmission_leaves_only_the_last_rounds_approvers() {
    let task =
        json!({"summary": "s", "environment": "production", "compliance_frameworks": ["GDPR"]});
    let p = |seq, t: &str, by: &str, data: Value| {
        about("p-r", event(seq, DEC_6 + seq as i64, t, by, Some(3), data))
    };
    let events = [
        requested(1, DEC_6, "p-r", task),
        p(
            2,
            "permit.approval_recorded",
            "first",
            json!({"role": "security_lead"}),
        ),
        p(
            3,
            "permit.changes_requested",
            "second",
            json!({"to": "changes_requested"}),
        ),
        p(
            4,
            "permit.resubmitted",
            "master",
            json!({"to": "under_review"}),
        ),
        p(
            5,
            "permit.approval_recorded",
            "third",
            json!({"role": "engineering_director"}),
        ),
    ];
    let mut builder = ReportBuilder::new(
        Framework::Gdpr,
        Period {
            from_ms: DEC_6,
            to_ms: DEC_6 + HOUR,
        },
    );
    for entry in &events {
        builder.add(entry);
    }
    let report = builder.finish(intact(5), None);
    let approvers: Vec<&str> = report.changes[0]
        .approvers
        .iter()
        .map(|a| a.principal_id.as_str())
        .collect();
    assert_eq!(approvers, ["third"]);
    assert_eq!(report.changes[0].outcome, "under_review");
    assert_eq!(
        report.changes[0].events.len(),
        5,
        "the first round's events stay listed"
    );
}

#[test]
fn every_control_names_catalogued_event_types() {
    for framework in [
        Framework::Soc2,
        Framework::Hipaa,
        Framework::PciDss,
        Framework::Gdpr,
        Framework::Sox,
    ] {
        for spec in controls(framework) {
            for pattern in spec.evidence {
                let known = match pattern.strip_suffix('*') {
                    Some("") => true,
                    Some(family) => EventType::ALL
                        .iter()
                        .any(|kind| kind.as_str().starts_with(family)),
                    None => EventType::of(pattern).is_some(),
                };
                assert!(known, "{framework} {}: `{pattern}`", spec.id);
            }
        }
    }
}
