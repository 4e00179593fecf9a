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
        report.period,
        Period {
            from_ms: FROM,
            to_ms: TO
        }
    );
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
    assert!(markdown.contains("| self_approval | 3 | permit.approval_recorded | p-1 | w-1 | `alice` approved their own request |"));
    assert!(markdown.contains("Intact: the hash chain verifies up to seq 15."));
    assert!(markdown.contains("No signed checkpoint yet."));
    assert!(markdown.contains("| permit.revoked | 2 |"));
}
