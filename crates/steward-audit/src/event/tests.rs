//! The catalogue's table and golden tests: every name round-trips, and each kind's typed
//! payload serializes to exactly the `data` its `json!` literal wrote before payloads were
//! typed (same canonical bytes, so the same hash).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::*;
use crate::{Hash, SignedManifest, canonical_json};

#[test]
fn every_name_round_trips_and_is_unique() {
    let mut seen = BTreeSet::new();
    for kind in EventType::ALL {
        let name = kind.as_str();
        assert!(seen.insert(name), "{name} twice");
        assert_eq!(name.parse::<EventType>(), Ok(*kind));
        assert_eq!(kind.to_string(), name);
        let (family, rest) = name.split_once('.').expect("dotted");
        assert_eq!(kind.family(), family);
        assert!(!rest.is_empty() && !rest.contains('.'), "{name}");
        let json = serde_json::to_value(kind).expect("serializes");
        assert_eq!(json, Value::from(name));
        assert_eq!(serde_json::from_value::<EventType>(json).ok(), Some(*kind));
    }
    assert_eq!(seen.len(), 67);
}

#[test]
fn unknown_names_are_refused() {
    for name in [
        "",
        "permit",
        "permit.",
        "permit.requested ",
        "Permit.requested",
        "rollback.opened_late",
    ] {
        assert_eq!(
            name.parse::<EventType>(),
            Err(UnknownEventType(name.to_owned())),
            "{name}"
        );
    }
}

/// `payload` serializes to `expected` (canonical bytes included), carries `kind`, and
/// reads back from `expected` with the members a trail adds beside it.
fn golden<P: EventPayload + std::fmt::Debug>(payload: P, kind: EventType, expected: Value) {
    assert_eq!(payload.event_type(), kind);
    let data = serde_json::to_value(&payload).expect("serializes");
    assert_eq!(data, expected, "{kind}");
    assert_eq!(canonical_json(&data), canonical_json(&expected), "{kind}");
    let mut stored = expected.clone();
    if let Value::Object(map) = &mut stored {
        // The append writes the actor's channel here, unless the payload has its own
        // (an approval's channel, which the actor's then replaces).
        map.entry("channel").or_insert(json!("web"));
        map.insert("run_mode".into(), json!("rehearsal"));
        map.insert(
            "personal".into(),
            json!({"subject": "p1", "alg": "xchacha20poly1305", "nonce": "00", "ciphertext": "AA=="}),
        );
    }
    let read = P::from_data(&stored).unwrap_or_else(|e| panic!("{kind} reads back: {e}"));
    assert_eq!(
        serde_json::to_value(&read).expect("serializes"),
        expected,
        "{kind}"
    );
}

fn task_facts() -> TaskFacts {
    TaskFacts {
        summary: Some("Rotate the keys".into()),
        environment: json!("production"),
        compliance_frameworks: vec!["soc2".into()],
        sensitive_data: vec!["pii".into()],
        risky_operations: vec!["secret_rotation".into()],
    }
}

fn task_facts_json() -> Value {
    json!({
        "summary": "Rotate the keys",
        "environment": "production",
        "compliance_frameworks": ["soc2"],
        "sensitive_data": ["pii"],
        "risky_operations": ["secret_rotation"],
    })
}

#[test]
fn permit_payloads_are_byte_identical_to_their_literals() {
    golden(
        PermitRequested {
            permit_type: "standard".into(),
            level: 2,
            total_risk_score: 41,
            policy_version: "2026.1".into(),
            evidence: Some(vec!["rollback_plan".into()]),
            hours: 4.0,
            window_start_ms: Some(None),
            emergency_id: None,
            task: Some(task_facts()),
        },
        EventType::PermitRequested,
        json!({
            "permit_type": "standard",
            "level": 2,
            "total_risk_score": 41,
            "policy_version": "2026.1",
            "evidence": ["rollback_plan"],
            "hours": 4.0,
            "window_start_ms": null,
            "task": task_facts_json(),
        }),
    );
    golden(
        PermitRequested {
            permit_type: "emergency".into(),
            level: 3,
            total_risk_score: 70,
            policy_version: "2026.1".into(),
            evidence: None,
            hours: 0.5,
            window_start_ms: None,
            emergency_id: Some("e1".into()),
            task: Some(task_facts()),
        },
        EventType::PermitRequested,
        json!({
            "permit_type": "emergency",
            "level": 3,
            "total_risk_score": 70,
            "policy_version": "2026.1",
            "hours": 0.5,
            "emergency_id": "e1",
            "task": task_facts_json(),
        }),
    );
    golden(
        PermitHardBlocked {
            rule: Some("production_level_0".into()),
            rules: vec!["production_level_0".into()],
            worker_type: json!("union"),
        },
        EventType::PermitHardBlocked,
        json!({"rule": "production_level_0", "rules": ["production_level_0"], "worker_type": "union"}),
    );
    golden(
        PermitReviewStarted {
            from: "requested".into(),
            to: "under_review".into(),
        },
        EventType::PermitReviewStarted,
        json!({"from": "requested", "to": "under_review"}),
    );
    golden(
        PermitApprovalRecorded {
            decision: "approve".into(),
            role: "tech_lead".into(),
            channel: json!("api"),
            conditions: json!({}),
            round: 1,
            personal: Some(Personal::of("p1").text("comment", Some(&"fine".into()))),
        },
        EventType::PermitApprovalRecorded,
        json!({"decision": "approve", "role": "tech_lead", "channel": "api", "conditions": {}, "round": 1}),
    );
    golden(
        PermitCabSignedOff {},
        EventType::PermitCabSignedOff,
        json!({}),
    );
    golden(
        PermitApproved {
            approvers: Some(vec![ApproverRef {
                principal_id: "p1".into(),
                role: "tech_lead".into(),
            }]),
            cab_signed_off: Some(false),
            auto_approved: None,
            reason: None,
            emergency: None,
            from: "under_review".into(),
            to: "approved".into(),
        },
        EventType::PermitApproved,
        json!({"approvers": [{"principal_id": "p1", "role": "tech_lead"}], "cab_signed_off": false,
               "from": "under_review", "to": "approved"}),
    );
    golden(
        PermitApproved {
            approvers: None,
            cab_signed_off: None,
            auto_approved: Some(true),
            reason: Some(
                "read-only access, no sensitive data, worker holds level 1 or more".into(),
            ),
            emergency: None,
            from: "under_review".into(),
            to: "approved".into(),
        },
        EventType::PermitApproved,
        json!({"auto_approved": true, "reason": "read-only access, no sensitive data, worker holds level 1 or more",
               "from": "under_review", "to": "approved"}),
    );
    golden(
        PermitApproved {
            approvers: Some(vec![ApproverRef {
                principal_id: "p1".into(),
                role: "incident_commander".into(),
            }]),
            cab_signed_off: None,
            auto_approved: None,
            reason: None,
            emergency: Some(true),
            from: "under_review".into(),
            to: "approved".into(),
        },
        EventType::PermitApproved,
        json!({"approvers": [{"principal_id": "p1", "role": "incident_commander"}], "emergency": true,
               "from": "under_review", "to": "approved"}),
    );
    let decision = json!({"decision": "reject", "role": "tech_lead", "channel": "web",
                          "conditions": {"max": 1}, "round": 2, "from": "under_review", "to": "rejected"});
    golden(
        PermitRejected {
            decision: "reject".into(),
            role: "tech_lead".into(),
            channel: json!("web"),
            conditions: json!({"max": 1}),
            round: 2,
            from: "under_review".into(),
            to: "rejected".into(),
            personal: Some(Personal::of("p1").text("comment", None)),
        },
        EventType::PermitRejected,
        decision,
    );
    golden(
        PermitChangesRequested {
            decision: "request_changes".into(),
            role: "tech_lead".into(),
            channel: json!("api"),
            conditions: json!({}),
            round: 1,
            from: "under_review".into(),
            to: "changes_requested".into(),
            personal: None,
        },
        EventType::PermitChangesRequested,
        json!({"decision": "request_changes", "role": "tech_lead", "channel": "api", "conditions": {},
               "round": 1, "from": "under_review", "to": "changes_requested"}),
    );
    golden(
        PermitResubmitted {
            from: "changes_requested".into(),
            to: "under_review".into(),
            round: 2,
            evidence: vec!["test_results".into()],
        },
        EventType::PermitResubmitted,
        json!({"from": "changes_requested", "to": "under_review", "round": 2, "evidence": ["test_results"]}),
    );
    golden(
        PermitIssued {
            valid_from_ms: Some(1000),
            expires_at_ms: Some(4_601_000),
            hours: 1.25,
            constraints: json!({"services": ["db"]}),
            from: "approved".into(),
            to: "active".into(),
        },
        EventType::PermitIssued,
        json!({"valid_from_ms": 1000, "expires_at_ms": 4_601_000, "hours": 1.25,
               "constraints": {"services": ["db"]}, "from": "approved", "to": "active"}),
    );
    golden(
        PermitStarted {
            from: "active".into(),
            to: None,
        },
        EventType::PermitStarted,
        json!({"from": "active"}),
    );
    golden(
        PermitStarted {
            from: "active".into(),
            to: Some("executing".into()),
        },
        EventType::PermitStarted,
        json!({"from": "active", "to": "executing"}),
    );
    golden(
        PermitCompleted {
            outcome: "success".into(),
            report: json!({"summary": "done"}),
            worker_id: "w1".into(),
            certification_level: 2,
            approvals: vec![CompletionApproval {
                approver_id: "p1".into(),
                role: "tech_lead".into(),
                approval_timestamp_ms: 5,
            }],
            started_at_ms: 10,
            completed_at_ms: 20,
            from: "executing".into(),
            to: "completed".into(),
        },
        EventType::PermitCompleted,
        json!({
            "outcome": "success",
            "report": {"summary": "done"},
            "worker_id": "w1",
            "certification_level": 2,
            "approvals": [{"approver_id": "p1", "role": "tech_lead", "approval_timestamp_ms": 5}],
            "started_at_ms": 10,
            "completed_at_ms": 20,
            "from": "executing",
            "to": "completed",
        }),
    );
    let summary = AuditSummary {
        operations_performed: json!(["restart"]),
        outcome: Some("success".into()),
        constraints_met: true,
        approvals_verified: true,
        approvals: vec![SummaryApproval {
            principal_id: "p1".into(),
            role: "tech_lead".into(),
            at_ms: 5,
        }],
        cab_signed_off: false,
        notes: Value::Null,
    };
    let summary_json = json!({
        "operations_performed": ["restart"],
        "outcome": "success",
        "constraints_met": true,
        "approvals_verified": true,
        "approvals": [{"principal_id": "p1", "role": "tech_lead", "at_ms": 5}],
        "cab_signed_off": false,
        "notes": null,
    });
    golden(
        PermitClosed {
            audit_summary: summary.clone(),
            actual_level: None,
            certification_feedback: None,
            from: "completed".into(),
            to: "closed".into(),
        },
        EventType::PermitClosed,
        json!({"audit_summary": summary_json, "from": "completed", "to": "closed"}),
    );
    golden(
        PermitClosed {
            audit_summary: summary,
            actual_level: Some(1),
            certification_feedback: Some("over_certified".into()),
            from: "completed".into(),
            to: "closed".into(),
        },
        EventType::PermitClosed,
        json!({"audit_summary": summary_json, "actual_level": 1, "certification_feedback": "over_certified",
               "from": "completed", "to": "closed"}),
    );
    golden(
        PermitExpired {
            reason: "no_quorum_within_twice_the_sla".into(),
            sla_hours: Some(4.0),
            due_at_ms: Some(99),
            emergency_id: None,
            approval_deadline_ms: None,
            from: "under_review".into(),
            to: "expired".into(),
        },
        EventType::PermitExpired,
        json!({"reason": "no_quorum_within_twice_the_sla", "sla_hours": 4.0, "due_at_ms": 99,
               "from": "under_review", "to": "expired"}),
    );
    golden(
        PermitExpired {
            reason: "approval_deadline".into(),
            sla_hours: None,
            due_at_ms: None,
            emergency_id: Some("e1".into()),
            approval_deadline_ms: Some(7),
            from: "under_review".into(),
            to: "expired".into(),
        },
        EventType::PermitExpired,
        json!({"reason": "approval_deadline", "emergency_id": "e1", "approval_deadline_ms": 7,
               "from": "under_review", "to": "expired"}),
    );
    golden(
        PermitArchived {
            from: "closed".into(),
            to: "archived".into(),
        },
        EventType::PermitArchived,
        json!({"from": "closed", "to": "archived"}),
    );
    golden(
        PermitRenewalApprovalRecorded {
            role: "tech_lead".into(),
            hours: 2.0,
            quorum_met: false,
        },
        EventType::PermitRenewalApprovalRecorded,
        json!({"role": "tech_lead", "hours": 2.0, "quorum_met": false}),
    );
    golden(
        PermitRenewed {
            hours: 2.0,
            renewals: 1,
            total_hours: 6.0,
            expires_at_ms: Some(123),
        },
        EventType::PermitRenewed,
        json!({"hours": 2.0, "renewals": 1, "total_hours": 6.0, "expires_at_ms": 123}),
    );
    golden(
        PermitApprovalOverdue {
            state: "under_review".into(),
            sla_hours: 4.0,
            requested_at_ms: 1,
            due_at_ms: 2,
            expires_at_ms: None,
        },
        EventType::PermitApprovalOverdue,
        json!({"state": "under_review", "sla_hours": 4.0, "requested_at_ms": 1, "due_at_ms": 2,
               "expires_at_ms": null}),
    );
    golden(
        PermitEscalated {
            reason: "approval_sla".into(),
            roles: vec!["team_lead".into()],
            approver_roles: vec!["tech_lead".into()],
            due_at_ms: 2,
        },
        EventType::PermitEscalated,
        json!({"reason": "approval_sla", "roles": ["team_lead"], "approver_roles": ["tech_lead"], "due_at_ms": 2}),
    );
    golden(
        PermitExpiryWarning {
            minutes: Some(15),
            expires_at_ms: Some(9),
            state: "executing".into(),
        },
        EventType::PermitExpiryWarning,
        json!({"minutes": 15, "expires_at_ms": 9, "state": "executing"}),
    );
    golden(
        PermitExpiryGraceStarted {
            expires_at_ms: Some(9),
            grace_until_ms: 10,
        },
        EventType::PermitExpiryGraceStarted,
        json!({"expires_at_ms": 9, "grace_until_ms": 10}),
    );
}

#[test]
fn revocation_payloads_are_byte_identical_to_their_literals() {
    let by_person = PermitRevoked {
        from: Some("active".into()),
        to: Some("revoked".into()),
        personal: Some(Personal::of("p1").text("comment", Some(&"stop".into()))),
        ..PermitRevoked::new("manual")
    };
    golden(
        by_person,
        EventType::PermitRevoked,
        json!({"reason": "manual", "from": "active", "to": "revoked"}),
    );
    golden(
        PermitRevoked {
            from: Some("executing".into()),
            to: Some("revoked".into()),
            expires_at_ms: Some(Some(9)),
            in_flight_grace_ended: Some(true),
            grace_until_ms: Some(10),
            ..PermitRevoked::new("time_expiration")
        },
        EventType::PermitRevoked,
        json!({"reason": "time_expiration", "expires_at_ms": 9, "in_flight_grace_ended": true,
               "grace_until_ms": 10, "from": "executing", "to": "revoked"}),
    );
    golden(
        PermitRevoked {
            from: Some("active".into()),
            to: Some("revoked".into()),
            expires_at_ms: Some(None),
            ..PermitRevoked::new("time_expiration")
        },
        EventType::PermitRevoked,
        json!({"reason": "time_expiration", "expires_at_ms": null, "from": "active", "to": "revoked"}),
    );
    golden(
        PermitRevoked {
            from: Some("executing".into()),
            to: Some("revoked".into()),
            rule: Some("scope_violation".into()),
            operation: Some(json!({"action": "drop table"})),
            scope: Some(json!({"miss": "operation"})),
            ..PermitRevoked::new("scope_expansion")
        },
        EventType::PermitRevoked,
        json!({"reason": "scope_expansion", "rule": "scope_violation", "operation": {"action": "drop table"},
               "scope": {"miss": "operation"}, "from": "executing", "to": "revoked"}),
    );
    golden(
        PermitRevoked {
            from: Some("executing".into()),
            to: Some("revoked".into()),
            trigger: Some("error_rate".into()),
            observed: Some(json!(0.5)),
            limit: Some(json!(0.1)),
            window_seconds: Some(json!(120)),
            rollback_id: Some("r1".into()),
            ..PermitRevoked::new("constraint_breach")
        },
        EventType::PermitRevoked,
        json!({"reason": "constraint_breach", "trigger": "error_rate", "observed": 0.5, "limit": 0.1,
               "window_seconds": 120, "rollback_id": "r1", "from": "executing", "to": "revoked"}),
    );
    golden(
        PermitRevoked {
            from: Some("active".into()),
            to: Some("revoked".into()),
            emergency_id: Some("e1".into()),
            incident_id: Some("INC-1".into()),
            ..PermitRevoked::new("incident_resolved")
        },
        EventType::PermitRevoked,
        json!({"reason": "incident_resolved", "emergency_id": "e1", "incident_id": "INC-1",
               "from": "active", "to": "revoked"}),
    );
    golden(
        PermitRevoked {
            from_state: Some("active".into()),
            ..PermitRevoked::new("certification_revoked")
        },
        EventType::PermitRevoked,
        json!({"reason": "certification_revoked", "from_state": "active"}),
    );
}

#[test]
fn emergency_and_monitoring_payloads_are_byte_identical_to_their_literals() {
    golden(
        EmergencyDeclared {
            emergency_id: "e1".into(),
            incident_id: "INC-1".into(),
            minutes: 30,
            approval_deadline_ms: 900,
            scope_required_level: 3,
            enhanced_audit: true,
            personal: None,
        },
        EventType::EmergencyDeclared,
        json!({"emergency_id": "e1", "incident_id": "INC-1", "minutes": 30, "approval_deadline_ms": 900,
               "scope_required_level": 3, "enhanced_audit": true}),
    );
    golden(
        EmergencyApproved {
            emergency_id: "e1".into(),
            incident_id: "INC-1".into(),
            role: "incident_commander".into(),
            authorized_by: "p1".into(),
            approval_timestamp_ms: 5,
            channel: json!("api"),
            expires_at_ms: Some(1805),
            personal: None,
        },
        EventType::EmergencyApproved,
        json!({"emergency_id": "e1", "incident_id": "INC-1", "role": "incident_commander",
               "authorized_by": "p1", "approval_timestamp_ms": 5, "channel": "api", "expires_at_ms": 1805}),
    );
    golden(
        EmergencyRenewed {
            emergency_id: "e1".into(),
            incident_id: "INC-1".into(),
            minutes: 15,
            renewals: 1,
            total_minutes: 45,
            expires_at_ms: Some(2700),
        },
        EventType::EmergencyRenewed,
        json!({"emergency_id": "e1", "incident_id": "INC-1", "minutes": 15, "renewals": 1,
               "total_minutes": 45, "expires_at_ms": 2700}),
    );
    golden(
        EmergencyResolved {
            emergency_id: "e1".into(),
            incident_id: "INC-1".into(),
            review_due_at_ms: Some(86_400_000),
            personal: None,
        },
        EventType::EmergencyResolved,
        json!({"emergency_id": "e1", "incident_id": "INC-1", "review_due_at_ms": 86_400_000}),
    );
    golden(
        EmergencyEnded {
            emergency_id: "e1".into(),
            incident_id: "INC-1".into(),
            reason: "approval_deadline".into(),
            ended_at_ms: None,
            review_due_at_ms: None,
        },
        EventType::EmergencyEnded,
        json!({"emergency_id": "e1", "incident_id": "INC-1", "reason": "approval_deadline",
               "review_due_at_ms": null}),
    );
    golden(
        EmergencyEnded {
            emergency_id: "e1".into(),
            incident_id: "INC-1".into(),
            reason: "time_expiration".into(),
            ended_at_ms: Some(10),
            review_due_at_ms: Some(20),
        },
        EventType::EmergencyEnded,
        json!({"emergency_id": "e1", "incident_id": "INC-1", "reason": "time_expiration",
               "ended_at_ms": 10, "review_due_at_ms": 20}),
    );
    golden(
        EmergencyReviewFiled {
            emergency_id: "e1".into(),
            incident_id: "INC-1".into(),
            post_incident_review_id: "r1".into(),
            review_due_at_ms: 20,
            late: false,
            personal: None,
        },
        EventType::EmergencyReviewFiled,
        json!({"emergency_id": "e1", "incident_id": "INC-1", "post_incident_review_id": "r1",
               "review_due_at_ms": 20, "late": false}),
    );
    golden(
        TelemetryRecorded {
            error_rate: Some(0.5),
            p99_ms: None,
            health: Some("ok".into()),
            seq: 3,
            fired: vec!["error_rate".into()],
        },
        EventType::TelemetryRecorded,
        json!({"error_rate": 0.5, "p99_ms": null, "health": "ok", "seq": 3, "fired": ["error_rate"]}),
    );
    golden(
        TelemetryBreach {
            trigger: "error_rate".into(),
            observed: 0.5,
            limit: 0.1,
            window_seconds: 120,
            since_ms: 1,
            sustained_seconds: 121.5,
            reported_by: "p1".into(),
        },
        EventType::TelemetryBreach,
        json!({"trigger": "error_rate", "observed": 0.5, "limit": 0.1, "window_seconds": 120,
               "since_ms": 1, "sustained_seconds": 121.5, "reported_by": "p1"}),
    );
    golden(
        RollbackOpened {
            rollback_id: "r1".into(),
            trigger: "error_rate".into(),
            breach: json!({"trigger": "error_rate", "observed": 0.5}),
            sla_minutes: 15,
            due_at_ms: Some(900_000),
            notify: RollbackNotify {
                requester_id: "p1".into(),
                worker_owner_id: "p2".into(),
                approver_ids: vec!["p3".into()],
            },
        },
        EventType::RollbackOpened,
        json!({"rollback_id": "r1", "trigger": "error_rate", "breach": {"trigger": "error_rate", "observed": 0.5},
               "sla_minutes": 15, "due_at_ms": 900_000,
               "notify": {"requester_id": "p1", "worker_owner_id": "p2", "approver_ids": ["p3"]}}),
    );
    golden(
        RollbackCompleted {
            rollback_id: "r1".into(),
            outcome: "succeeded".into(),
            opened_at_ms: 0,
            completed_at_ms: Some(60_000),
            duration_seconds: 60.0,
            sla_minutes: 15,
            within_sla: true,
            sla_buffer_seconds: 840.0,
            personal: Some(Personal::of("p1").plain("notes", json!("all good"))),
        },
        EventType::RollbackCompleted,
        json!({"rollback_id": "r1", "outcome": "succeeded", "opened_at_ms": 0, "completed_at_ms": 60_000,
               "duration_seconds": 60.0, "sla_minutes": 15, "within_sla": true, "sla_buffer_seconds": 840.0}),
    );
    golden(
        RollbackEscalated {
            rollback_id: "r1".into(),
            sla_minutes: 15,
            due_at_ms: 900_000,
            overdue_seconds: 1.5,
            status: "open".into(),
            escalated_to: EscalationTargets {
                roles: vec!["team_lead".into()],
                requester_id: "p1".into(),
                worker_owner_id: "p2".into(),
                approver_ids: vec![],
            },
        },
        EventType::RollbackEscalated,
        json!({"rollback_id": "r1", "sla_minutes": 15, "due_at_ms": 900_000, "overdue_seconds": 1.5,
               "status": "open", "escalated_to": {"roles": ["team_lead"], "requester_id": "p1",
               "worker_owner_id": "p2", "approver_ids": []}}),
    );
}

#[test]
fn worker_payloads_are_byte_identical_to_their_literals() {
    golden(
        WorkerRegistered {
            display_name: "Deployer".into(),
            owner_id: "p1".into(),
            principal_id: None,
            domains: vec!["infra".into()],
            level: 0,
            status: "active".into(),
        },
        EventType::WorkerRegistered,
        json!({"display_name": "Deployer", "owner_id": "p1", "principal_id": null, "domains": ["infra"],
               "level": 0, "status": "active"}),
    );
    golden(
        WorkerIdentityCreated {
            principal_id: "a1".into(),
        },
        EventType::WorkerIdentityCreated,
        json!({"principal_id": "a1"}),
    );
    golden(
        WorkerOutcomeRecorded {
            outcome_id: "o1".into(),
            result: "success".into(),
            operation_level: 2,
            basis: "permit".into(),
            counts_towards_promotion: true,
            permit_id: Some("pm1".into()),
            authorize_seq: None,
            status: "active".into(),
            consecutive_union_failures: 0,
        },
        EventType::WorkerOutcomeRecorded,
        json!({"outcome_id": "o1", "result": "success", "operation_level": 2, "basis": "permit",
               "counts_towards_promotion": true, "permit_id": "pm1", "authorize_seq": null,
               "status": "active", "consecutive_union_failures": 0}),
    );
    golden(
        WorkerPromotionApproved {
            approval_id: "ap1".into(),
            target_level: 2,
            principal_id: "p1".into(),
            role: "tech_lead".into(),
            personal: None,
        },
        EventType::WorkerPromotionApproved,
        json!({"approval_id": "ap1", "target_level": 2, "principal_id": "p1", "role": "tech_lead"}),
    );
    golden(
        WorkerPromoted {
            from_level: 1,
            to_level: 2,
            status: "probationary".into(),
            probation_until: Some(5),
            recertify_by: Some(6),
            approvals: vec![PromotionApprovalRef {
                approval_id: "ap1".into(),
                principal_id: "p1".into(),
                role: "tech_lead".into(),
            }],
        },
        EventType::WorkerPromoted,
        json!({"from_level": 1, "to_level": 2, "status": "probationary", "probation_until": 5,
               "recertify_by": 6, "approvals": [{"approval_id": "ap1", "principal_id": "p1", "role": "tech_lead"}]}),
    );
    let needs = ApprovalsNeeded {
        approvers_required: 2,
        approver_roles: vec!["tech_lead".into()],
        required_roles: vec![],
    };
    golden(
        WorkerInitialCertificationRequested {
            target_level: 2,
            justification: "adopted".into(),
            prior_record: json!({"prior_operations": 40}),
            requested_by: "p1".into(),
            approvals_needed: needs,
        },
        EventType::WorkerInitialCertificationRequested,
        json!({"target_level": 2, "justification": "adopted", "prior_record": {"prior_operations": 40},
               "requested_by": "p1", "approvals_needed": {"approvers_required": 2,
               "approver_roles": ["tech_lead"], "required_roles": []}}),
    );
    golden(
        WorkerInitialCertificationApproved {
            target_level: 2,
            principal_id: "p1".into(),
            role: "tech_lead".into(),
            personal: None,
        },
        EventType::WorkerInitialCertificationApproved,
        json!({"target_level": 2, "principal_id": "p1", "role": "tech_lead"}),
    );
    golden(
        WorkerCertifiedInitially {
            from_level: 0,
            to_level: 2,
            status: "probationary".into(),
            probation_until: Some(5),
            recertify_by: None,
            justification: "adopted".into(),
            prior_record: json!({"prior_operations": 40}),
            requested_by: "p1".into(),
            approvals: vec![InitialApprovalRef {
                principal_id: "p2".into(),
                role: "tech_lead".into(),
                created_at_ms: 3,
            }],
        },
        EventType::WorkerCertifiedInitially,
        json!({"from_level": 0, "to_level": 2, "status": "probationary", "probation_until": 5,
               "recertify_by": null, "justification": "adopted", "prior_record": {"prior_operations": 40},
               "requested_by": "p1", "approvals": [{"principal_id": "p2", "role": "tech_lead", "created_at_ms": 3}]}),
    );
    golden(
        WorkerCertificationGrace {
            status: "active".into(),
            recertify_by_ms: 5,
            grace_until_ms: Some(6),
        },
        EventType::WorkerCertificationGrace,
        json!({"status": "active", "recertify_by_ms": 5, "grace_until_ms": 6}),
    );
    // A person's suspension: the reason is sealed, `automatic` is false.
    golden(
        WorkerSuspended {
            from_status: "active".into(),
            to_status: Some("suspended".into()),
            automatic: Some(false),
            personal: Some(Personal::of("p1").plain("reason", json!("checks"))),
            ..WorkerSuspended::default()
        },
        EventType::WorkerSuspended,
        json!({"from_status": "active", "to_status": "suspended", "automatic": false}),
    );
    // Steward's own suspension.
    golden(
        WorkerSuspended {
            from_status: "active".into(),
            to_status: Some("suspended".into()),
            automatic: Some(true),
            cause: Some("safety_violation".into()),
            count: Some(None),
            reason: Some("a safety violation".into()),
            reported_by: Some("p1".into()),
            ..WorkerSuspended::default()
        },
        EventType::WorkerSuspended,
        json!({"automatic": true, "cause": "safety_violation", "count": null, "reason": "a safety violation",
               "from_status": "active", "to_status": "suspended", "reported_by": "p1"}),
    );
    golden(
        WorkerReinstated {
            from_status: "suspended".into(),
            to_status: Some("active".into()),
            ..WorkerReinstated::default()
        },
        EventType::WorkerReinstated,
        json!({"from_status": "suspended", "to_status": "active"}),
    );
    golden(
        WorkerRevoked {
            from_status: "active".into(),
            to_status: Some("revoked".into()),
            revoked_permits: Some(vec!["pm1".into()]),
            ..WorkerRevoked::default()
        },
        EventType::WorkerRevoked,
        json!({"from_status": "active", "to_status": "revoked", "revoked_permits": ["pm1"]}),
    );
    golden(
        WorkerRecertified {
            from_status: "active".into(),
            to_status: Some("active".into()),
            recertify_by: Some(Some(9)),
            ..WorkerRecertified::default()
        },
        EventType::WorkerRecertified,
        json!({"from_status": "active", "to_status": "active", "recertify_by": 9}),
    );
    // A certification timer's change.
    golden(
        WorkerProbationEnded {
            from_status: "probationary".into(),
            to_status: Some("active".into()),
            automatic: Some(true),
            due_at_ms: Some(4),
            recertify_by: Some(Some(9)),
            probation_until: Some(Some(4)),
            ..WorkerProbationEnded::default()
        },
        EventType::WorkerProbationEnded,
        json!({"automatic": true, "from_status": "probationary", "to_status": "active", "due_at_ms": 4,
               "recertify_by": 9, "probation_until": 4}),
    );
    // The expiry sweep's.
    golden(
        WorkerExpired {
            from_status: "active".into(),
            recertify_by: Some(None),
            ..WorkerExpired::default()
        },
        EventType::WorkerExpired,
        json!({"from_status": "active", "recertify_by": null}),
    );
}

#[test]
fn access_payloads_are_byte_identical_to_their_literals() {
    let operation = Operation {
        environment: json!("production"),
        action: "restart".into(),
        service: Some("db".into()),
        region: None,
        method: "POST".into(),
        read_only: false,
        critical: true,
        data_touched: vec![],
        sensitive_data: false,
        tokens: 0,
    };
    let operation_json = json!({"environment": "production", "action": "restart", "service": "db",
        "region": null, "method": "POST", "read_only": false, "critical": true, "data_touched": [],
        "sensitive_data": false, "tokens": 0});
    golden(
        AuthorizeDecided {
            allow: true,
            rule: "allowed".into(),
            worker_level: 2,
            permit_id: Some("pm1".into()),
            operation: operation.clone(),
            scope: None,
            tokens_used: Some(40),
        },
        EventType::AuthorizeAllowed,
        json!({"allow": true, "rule": "allowed", "worker_level": 2, "permit_id": "pm1",
               "operation": operation_json, "tokens_used": 40}),
    );
    golden(
        AuthorizeDecided {
            allow: false,
            rule: "scope_violation".into(),
            worker_level: 2,
            permit_id: None,
            operation,
            scope: Some(AuthorizeScope {
                miss: "operation".into(),
                action_class: "destructive".into(),
                action_classes: vec!["destructive".into()],
                permit_type: Some("standard".into()),
                permit_type_needed: None,
            }),
            tokens_used: None,
        },
        EventType::AuthorizeDenied,
        json!({"allow": false, "rule": "scope_violation", "worker_level": 2, "permit_id": null,
               "operation": operation_json, "scope": {"miss": "operation", "action_class": "destructive",
               "action_classes": ["destructive"], "permit_type": "standard", "permit_type_needed": null}}),
    );
    golden(
        TaskAnalyzed {
            policy_version: "2026.1".into(),
            environment: json!("staging"),
            total_risk_score: 12,
            risk_level: json!("low"),
            worker_type: json!("union"),
            permit_type: Value::Null,
            floors_applied: vec![json!("pii")],
        },
        EventType::TaskAnalyzed,
        json!({"policy_version": "2026.1", "environment": "staging", "total_risk_score": 12,
               "risk_level": "low", "worker_type": "union", "permit_type": null, "floors_applied": ["pii"]}),
    );
    golden(
        PrincipalCreated {
            principal_id: "p1".into(),
            kind: "human".into(),
            roles: vec!["admin".into()],
            personal: Some(Personal::of("p1").plain("name", json!("Alice"))),
        },
        EventType::PrincipalCreated,
        json!({"principal_id": "p1", "kind": "human", "roles": ["admin"]}),
    );
    golden(
        PrincipalDisabled {
            principal_id: "p1".into(),
        },
        EventType::PrincipalDisabled,
        json!({"principal_id": "p1"}),
    );
    golden(
        PrincipalErased {
            principal_id: "p1".into(),
        },
        EventType::PrincipalErased,
        json!({"principal_id": "p1"}),
    );
    golden(
        TokenCreated {
            token_id: "t1".into(),
            principal_id: "p1".into(),
            expires_at: None,
            minted_with: Some("t0".into()),
            personal: None,
        },
        EventType::TokenCreated,
        json!({"token_id": "t1", "principal_id": "p1", "expires_at": null, "minted_with": "t0"}),
    );
    golden(
        TokenRevoked {
            token_id: "t1".into(),
            minted_with: None,
            cascade_from: None,
        },
        EventType::TokenRevoked,
        json!({"token_id": "t1"}),
    );
    golden(
        TokenRevoked {
            token_id: "t2".into(),
            minted_with: Some("t1".into()),
            cascade_from: Some("t0".into()),
        },
        EventType::TokenRevoked,
        json!({"token_id": "t2", "minted_with": "t1", "cascade_from": "t0"}),
    );
    golden(
        WebSessionOpened {
            token_id: "t1".into(),
            expires_at_ms: 5,
        },
        EventType::WebSessionOpened,
        json!({"token_id": "t1", "expires_at_ms": 5}),
    );
    golden(
        WebSessionEnded {
            why: "signed_out".into(),
        },
        EventType::WebSessionEnded,
        json!({"why": "signed_out"}),
    );
    golden(
        WebhookCreated {
            webhook_id: "h1".into(),
            origin: "https://example.com".into(),
            event_types: vec!["permit.*".into()],
            format: json!("steward"),
        },
        EventType::WebhookCreated,
        json!({"webhook_id": "h1", "origin": "https://example.com", "event_types": ["permit.*"],
               "format": "steward"}),
    );
    golden(
        WebhookDeleted {
            webhook_id: "h1".into(),
        },
        EventType::WebhookDeleted,
        json!({"webhook_id": "h1"}),
    );
    golden(
        RunModeRecorded {
            mode: "rehearsal".into(),
        },
        EventType::RunModeRecorded,
        json!({"mode": "rehearsal"}),
    );
    golden(
        ClockAdvanced {
            by_ms: 60_000,
            offset_ms: 120_000,
        },
        EventType::ClockAdvanced,
        json!({"by_ms": 60_000, "offset_ms": 120_000}),
    );
}

#[test]
fn trail_payloads_are_byte_identical_to_their_literals() {
    let published = crate::PublishedCheckpoint {
        tree_size: 7,
        root_hash: Hash::from_bytes([3; 32]),
        ts_ms: 9,
        key_id: "k1".into(),
        signature: [1; 64],
    };
    let expected = serde_json::to_value(&published).expect("serializes");
    golden(
        CheckpointCreated::from(published),
        EventType::AuditCheckpointCreated,
        expected,
    );
    let manifest: SignedManifest = serde_json::from_value(json!({
        "manifest": {"first_seq": 1, "last_seq": 4, "prev_hash": Hash::ZERO, "first_hash": Hash::from_bytes([1; 32]),
                     "last_hash": Hash::from_bytes([2; 32]), "range_root": Hash::from_bytes([3; 32]), "tree_size": 4,
                     "tree_root": Hash::from_bytes([3; 32]), "ts_ms": 5},
        "key_id": "k1",
        "signature": "00".repeat(64),
    }))
    .expect("a manifest");
    golden(
        Pruned {
            event_count: 4,
            manifest: manifest.clone(),
        },
        EventType::AuditPruned,
        json!({"event_count": 4, "manifest": manifest}),
    );
    golden(
        HoldCreated {
            hold_id: "h1".into(),
            scope: json!({"worker_id": "w1"}),
            personal: Some(Personal::of("p1").plain("reason", json!("litigation"))),
        },
        EventType::AuditHoldCreated,
        json!({"hold_id": "h1", "scope": {"worker_id": "w1"}}),
    );
    golden(
        HoldReleased {
            hold_id: "h1".into(),
            scope: json!({"first_seq": 1, "last_seq": 2}),
            personal: None,
        },
        EventType::AuditHoldReleased,
        json!({"hold_id": "h1", "scope": {"first_seq": 1, "last_seq": 2}}),
    );
    golden(
        SigningKeyRecorded {
            public_key: "ed25519:abc".into(),
            key_id: "k1".into(),
        },
        EventType::AuditSigningKeyRecorded,
        json!({"public_key": "ed25519:abc", "key_id": "k1"}),
    );
}

#[test]
fn personal_values_never_serialize_with_their_payload() {
    let mut payload = PermitApprovalRecorded {
        decision: "approve".into(),
        role: "tech_lead".into(),
        channel: json!("api"),
        conditions: json!({}),
        round: 1,
        personal: Some(Personal::of("p1").text("comment", Some(&"SENTINEL-42".into()))),
    };
    let data = serde_json::to_string(&payload).expect("serializes");
    assert!(
        !data.contains("SENTINEL-42") && !data.contains("personal"),
        "{data}"
    );
    assert!(!format!("{payload:?}").contains("SENTINEL-42"));
    let personal = payload.take_personal().expect("personal values");
    assert_eq!(personal.subject(), "p1");
    assert_eq!(
        personal.unsealed_member(),
        json!({"subject": "p1", "values": {"comment": "SENTINEL-42"}})
    );
    assert!(payload.take_personal().is_none());
}
