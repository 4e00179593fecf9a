//! Who may report an outcome and what it rests on: every reporter, every kind of evidence.

use expect_test::{Expect, expect};

use super::*;

const WORKER: &str = "w-1";
const OWNER: &str = "owner";
const IDENTITY: &str = "bot";

fn parties() -> OutcomeParties<'static> {
    OutcomeParties {
        worker_id: WORKER,
        owner_id: OWNER,
        identity_id: Some(IDENTITY),
    }
}

fn level(n: u8) -> Level {
    Level::new(n).unwrap()
}

fn report(result: OperationResult, lvl: Option<u8>) -> OutcomeReport {
    OutcomeReport {
        result,
        level: lvl.map(level),
    }
}

fn permit(worker: &str, state: PermitState, outcome: Option<Outcome>, closed: bool) -> SeenWork {
    SeenWork::Permit(PermitSeen {
        worker_id: worker.to_owned(),
        level: level(2),
        state,
        outcome,
        closed,
    })
}

fn decision(
    allowed: bool,
    worker: &str,
    environment: Option<Environment>,
    permit_level: Option<u8>,
) -> SeenWork {
    SeenWork::Decision(DecisionSeen {
        allowed,
        worker_id: Some(worker.to_owned()),
        environment,
        permit_level: permit_level.map(level),
    })
}

#[track_caller]
fn check(reporter: &str, report: OutcomeReport, seen: SeenWork, expect: Expect) {
    let out = match check_outcome(&parties(), reporter, &report, &seen) {
        Ok(o) => format!("ok: {} at level {} ({})", o.result, o.level, o.basis),
        Err(refusal) => format!("refused: {refusal}"),
    };
    expect.assert_eq(&out);
}

#[test]
fn only_the_owner_or_the_worker_itself_reports() {
    use OperationResult::*;
    check(
        "another-master",
        report(SafetyViolation, Some(0)),
        SeenWork::Nothing,
        expect![
            "refused: `another-master` may not report outcomes of worker `w-1`: only its owner, or the worker about itself, may"
        ],
    );
    check(
        OWNER,
        report(SafetyViolation, Some(0)),
        SeenWork::Nothing,
        expect!["ok: safety_violation at level 0 (reported)"],
    );
    check(
        OWNER,
        report(Incident, Some(2)),
        SeenWork::Nothing,
        expect!["ok: incident at level 2 (reported)"],
    );
    check(
        IDENTITY,
        report(Failure, Some(1)),
        SeenWork::Nothing,
        expect!["ok: failure at level 1 (reported)"],
    );
    check(
        IDENTITY,
        report(SafetyViolation, Some(0)),
        SeenWork::Nothing,
        expect![
            "refused: a worker reports only `success` or `failure` about itself, not `safety_violation`; its owner reports the rest"
        ],
    );
    check(
        IDENTITY,
        report(Incident, Some(0)),
        SeenWork::Nothing,
        expect![
            "refused: a worker reports only `success` or `failure` about itself, not `incident`; its owner reports the rest"
        ],
    );
    // A worker without an identity: only the owner.
    let no_identity = OutcomeParties {
        identity_id: None,
        ..parties()
    };
    assert!(matches!(
        check_outcome(
            &no_identity,
            IDENTITY,
            &report(Success, Some(0)),
            &SeenWork::Nothing
        ),
        Err(OutcomeRefusal::NotAReporter { .. })
    ));
}

#[test]
fn without_evidence_the_level_is_required_and_the_success_does_not_count() {
    use OperationResult::*;
    check(
        OWNER,
        report(Success, None),
        SeenWork::Nothing,
        expect![
            "refused: `level` is required for an outcome without evidence (`permit_id` or `authorize_seq`)"
        ],
    );
    check(
        IDENTITY,
        report(Success, Some(4)),
        SeenWork::Nothing,
        expect!["ok: success at level 4 (reported)"],
    );
    check(
        OWNER,
        report(Success, None),
        SeenWork::Missing,
        expect!["refused: the evidence named does not exist"],
    );
}

#[test]
fn a_permit_counts_once_closed_and_only_for_its_worker_and_ending() {
    use OperationResult::*;
    check(
        IDENTITY,
        report(Success, None),
        permit(WORKER, PermitState::Closed, Some(Outcome::Success), true),
        expect!["ok: success at level 2 (closed_permit)"],
    );
    check(
        OWNER,
        report(Success, None),
        permit(WORKER, PermitState::Archived, Some(Outcome::Success), true),
        expect!["ok: success at level 2 (closed_permit)"],
    );
    check(
        OWNER,
        report(Success, None),
        permit("w-2", PermitState::Closed, Some(Outcome::Success), true),
        expect!["refused: the evidence named is work of another worker"],
    );
    check(
        OWNER,
        report(Success, None),
        permit(
            WORKER,
            PermitState::Completed,
            Some(Outcome::Success),
            false,
        ),
        expect![
            "refused: permit is `completed`: only a permit the worker executed and that was closed is evidence"
        ],
    );
    check(
        OWNER,
        report(Success, None),
        permit(WORKER, PermitState::Active, None, false),
        expect![
            "refused: permit is `active`: only a permit the worker executed and that was closed is evidence"
        ],
    );
    // Revoked and then archived: never closed.
    check(
        OWNER,
        report(Failure, None),
        permit(WORKER, PermitState::Archived, None, false),
        expect![
            "refused: permit is `archived`: only a permit the worker executed and that was closed is evidence"
        ],
    );
    check(
        IDENTITY,
        report(Success, None),
        permit(WORKER, PermitState::Closed, Some(Outcome::RolledBack), true),
        expect![
            "refused: the permit's execution ended `rolled_back`, so it is no evidence of a success"
        ],
    );
    check(
        OWNER,
        report(Failure, None),
        permit(WORKER, PermitState::Closed, Some(Outcome::RolledBack), true),
        expect!["ok: failure at level 2 (closed_permit)"],
    );
    // The level is the permit's; a reporter's other level is refused.
    check(
        OWNER,
        report(Success, Some(4)),
        permit(WORKER, PermitState::Closed, Some(Outcome::Success), true),
        expect!["refused: the evidence shows a level-2 operation, not level 4"],
    );
    check(
        OWNER,
        report(Success, Some(2)),
        permit(WORKER, PermitState::Closed, Some(Outcome::Success), true),
        expect!["ok: success at level 2 (closed_permit)"],
    );
}

#[test]
fn a_decision_counts_when_it_allowed_this_worker() {
    use OperationResult::*;
    check(
        IDENTITY,
        report(Success, None),
        decision(true, WORKER, Some(Environment::Development), None),
        expect!["ok: success at level 0 (authorized_operation)"],
    );
    check(
        IDENTITY,
        report(Success, None),
        decision(true, WORKER, Some(Environment::Staging), None),
        expect!["ok: success at level 1 (authorized_operation)"],
    );
    check(
        OWNER,
        report(Success, None),
        decision(true, WORKER, Some(Environment::Production), Some(3)),
        expect!["ok: success at level 3 (authorized_operation)"],
    );
    check(
        OWNER,
        report(Success, Some(3)),
        decision(true, WORKER, Some(Environment::Staging), None),
        expect!["refused: the evidence shows a level-1 operation, not level 3"],
    );
    check(
        OWNER,
        report(Success, None),
        decision(false, WORKER, Some(Environment::Production), None),
        expect!["refused: the audit event named is not an allowed authorize decision"],
    );
    check(
        OWNER,
        report(Success, None),
        decision(true, "w-2", Some(Environment::Development), None),
        expect!["refused: the evidence named is work of another worker"],
    );
    check(
        OWNER,
        report(Success, None),
        decision(true, WORKER, None, None),
        expect!["refused: the audit event named is not an allowed authorize decision"],
    );
}

#[test]
fn an_audit_entry_as_decision_evidence() {
    use serde_json::json;
    use steward_audit::{Actor, ActorKind, AuditEntry, Hash, Subject};

    let entry = |event_type: &str, level: Option<u8>, data| AuditEntry {
        seq: 7,
        ts_ms: 0,
        event_type: event_type.into(),
        actor: Actor {
            kind: ActorKind::Agent,
            id: IDENTITY.into(),
            roles: Vec::new(),
            channel: None,
        },
        subject: Subject {
            worker_id: Some(WORKER.into()),
            ..Subject::default()
        },
        level,
        data,
        prev_hash: Hash::ZERO,
        hash: Hash::ZERO,
    };
    let allowed =
        json!({"allow": true, "permit_id": "pm1", "operation": {"environment": "production"}});
    let cases = [
        (
            "allowed, under a permit",
            entry("authorize.allowed", Some(3), allowed.clone()),
        ),
        (
            "allowed, no permit",
            entry(
                "authorize.allowed",
                Some(3),
                json!({"allow": true, "permit_id": null,
                  "operation": {"environment": "staging"}}),
            ),
        ),
        (
            "denied",
            entry("authorize.denied", Some(3), json!({"allow": false})),
        ),
        ("another type", entry("permit.requested", Some(3), allowed)),
        (
            "unknown environment",
            entry(
                "authorize.allowed",
                None,
                json!({"allow": true, "operation": {"environment": "moon"}}),
            ),
        ),
    ];
    let out: String = cases
        .iter()
        .map(|(name, entry)| format!("{name}: {:?}\n", DecisionSeen::of(entry)))
        .collect();
    expect![[r#"
        allowed, under a permit: DecisionSeen { allowed: true, worker_id: Some("w-1"), environment: Some(Production), permit_level: Some(Level(3)) }
        allowed, no permit: DecisionSeen { allowed: true, worker_id: Some("w-1"), environment: Some(Staging), permit_level: None }
        denied: DecisionSeen { allowed: false, worker_id: Some("w-1"), environment: None, permit_level: None }
        another type: DecisionSeen { allowed: false, worker_id: Some("w-1"), environment: Some(Production), permit_level: Some(Level(3)) }
        unknown environment: DecisionSeen { allowed: true, worker_id: Some("w-1"), environment: None, permit_level: None }
    "#]]
    .assert_eq(&out);
}
