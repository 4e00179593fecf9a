//! `authorize`: each rule of SPEC §7 in its order, scope violations revoking, and what is
//! audited.

use proptest::prelude::*;
use steward_policy::{CertificationStatus, Environment, Level};

use super::*;
use crate::state::{PermitState, RevocationReason};
use crate::time::Timestamp;

const NOW: Timestamp = Timestamp(1_000_000);

fn worker(level: u8) -> WorkerView {
    WorkerView {
        level: Level::new(level).unwrap(),
        status: CertificationStatus::Active,
    }
}

fn op(env: Environment) -> Operation<'static> {
    Operation {
        environment: env,
        action: "deploy",
        service: Some("api"),
        region: Some("eu-west-1"),
        method: "POST",
        read_only: false,
        critical: false,
        sensitive_data: false,
        tokens: 100,
    }
}

struct Owned {
    ops: Vec<String>,
    services: Vec<String>,
    regions: Vec<String>,
    forbidden: Vec<String>,
}

fn owned() -> Owned {
    Owned {
        ops: vec!["deploy".into(), "restart".into()],
        services: vec!["api".into()],
        regions: vec![],
        forbidden: vec!["DELETE".into()],
    }
}

fn permit(o: &Owned) -> PermitView<'_> {
    PermitView {
        worker_id: "w1",
        state: PermitState::Active,
        revocation_reason: None,
        valid_from: Timestamp(0),
        expires_at: Timestamp(2_000_000),
        environment: Environment::Production,
        allowed_operations: &o.ops,
        allowed_services: &o.services,
        allowed_regions: &o.regions,
        allowed_methods: None,
        forbidden_methods: &o.forbidden,
        breached: false,
        token_budget: 1_000,
        tokens_used: 0,
    }
}

#[track_caller]
fn check(w: WorkerView, o: Operation<'_>, p: Option<&PermitView<'_>>, want: Rule) -> Verdict {
    let d = authorize(w, &o, p, "w1", NOW);
    assert_eq!(d.rule, want, "{d:?}");
    assert_eq!(d.allow, want == Rule::Allowed);
    d
}

#[test]
fn development_is_the_fast_path() {
    let d = check(worker(0), op(Environment::Development), None, Rule::Allowed);
    assert!(!d.audit, "a level-0 allow is not audited");
}

#[test]
fn rules_apply_in_the_spec_order() {
    let o = owned();
    let p = permit(&o);
    let suspended = WorkerView {
        status: CertificationStatus::Suspended,
        ..worker(4)
    };
    check(
        suspended,
        op(Environment::Production),
        Some(&p),
        Rule::CertificationNotInForce,
    );
    check(
        worker(0),
        op(Environment::Staging),
        None,
        Rule::NonUnionOutsideDevelopment,
    );
    check(
        worker(0),
        op(Environment::Unknown),
        None,
        Rule::NonUnionOutsideDevelopment,
    );
    check(worker(1), op(Environment::Staging), None, Rule::Allowed);
    check(
        worker(1),
        op(Environment::Production),
        Some(&p),
        Rule::ReadOnlyLevel,
    );
    let read = Operation {
        read_only: true,
        method: "GET",
        ..op(Environment::Production)
    };
    check(worker(1), read, Some(&p), Rule::Allowed);
    let critical = Operation {
        critical: true,
        ..op(Environment::Production)
    };
    check(worker(2), critical, Some(&p), Rule::CriticalNeedsLevel3);
    let sensitive = Operation {
        sensitive_data: true,
        ..op(Environment::Development)
    };
    check(worker(2), sensitive, None, Rule::SensitiveDataNeedsLevel3);
    check(
        worker(2),
        op(Environment::Production),
        None,
        Rule::PermitRequired,
    );
    let d = check(
        worker(2),
        op(Environment::Production),
        Some(&p),
        Rule::Allowed,
    );
    assert!(d.audit, "an allow at level 2 is audited");
}

#[test]
fn permit_checks() {
    let o = owned();
    let w = worker(3);
    let prod = op(Environment::Production);
    let closed = PermitView {
        state: PermitState::Completed,
        ..permit(&o)
    };
    check(w, prod, Some(&closed), Rule::PermitNotActive);
    let breached = PermitView {
        state: PermitState::Revoked,
        revocation_reason: Some(RevocationReason::ConstraintBreach),
        ..permit(&o)
    };
    check(w, prod, Some(&breached), Rule::RollbackRequired);
    let tripped = PermitView {
        breached: true,
        ..permit(&o)
    };
    check(w, prod, Some(&tripped), Rule::RollbackRequired);
    let theirs = PermitView {
        worker_id: "w2",
        ..permit(&o)
    };
    check(w, prod, Some(&theirs), Rule::PermitOfAnotherWorker);
    let expired = PermitView {
        expires_at: NOW,
        ..permit(&o)
    };
    check(w, prod, Some(&expired), Rule::OutsideWindow);
    let early = PermitView {
        valid_from: Timestamp(NOW.0 + 1),
        ..permit(&o)
    };
    check(w, prod, Some(&early), Rule::OutsideWindow);
    let spent = PermitView {
        tokens_used: 950,
        ..permit(&o)
    };
    check(w, prod, Some(&spent), Rule::TokenBudget);
}

#[test]
fn scope_violations_deny_and_revoke() {
    let o = owned();
    let p = permit(&o);
    let w = worker(3);
    for outside in [
        Operation {
            action: "terraform destroy",
            ..op(Environment::Production)
        },
        Operation {
            service: Some("billing"),
            ..op(Environment::Production)
        },
        Operation {
            method: "delete",
            ..op(Environment::Production)
        },
        Operation {
            service: None,
            ..op(Environment::Production)
        },
    ] {
        let d = check(w, outside, Some(&p), Rule::ScopeViolation);
        assert_eq!(d.revoke, Some(RevocationReason::ScopeExpansion));
    }
    // A production permit does not cover staging work.
    let d = check(w, op(Environment::Staging), Some(&p), Rule::ScopeViolation);
    assert!(d.audit);
    // Matching is case-insensitive; allowed methods, when set, must list the method.
    let methods = vec!["GET".to_owned()];
    let get_only = PermitView {
        allowed_methods: Some(&methods),
        ..permit(&o)
    };
    check(
        w,
        Operation {
            action: "RESTART",
            ..op(Environment::Production)
        },
        Some(&p),
        Rule::Allowed,
    );
    check(
        w,
        op(Environment::Production),
        Some(&get_only),
        Rule::ScopeViolation,
    );
}

proptest! {
    /// Whatever else holds, a certification not in force is denied first, and nothing is
    /// allowed in production without a live permit of this worker.
    #[test]
    fn order_and_permit_invariants(
        level in 0u8..=4,
        status in proptest::sample::select(CertificationStatus::ALL),
        env in proptest::sample::select(Environment::ALL),
        read_only: bool, critical: bool, sensitive: bool,
        with_permit: bool,
        state in proptest::sample::select(PermitState::ALL),
        mine: bool,
    ) {
        let o = owned();
        let p = PermitView { state, worker_id: if mine { "w1" } else { "w2" }, ..permit(&o) };
        let w = WorkerView { level: Level::new(level).unwrap(), status };
        let operation = Operation { environment: env, read_only, critical, sensitive_data: sensitive, ..op(env) };
        let d = authorize(w, &operation, with_permit.then_some(&p), "w1", NOW);
        if matches!(status, CertificationStatus::Suspended | CertificationStatus::Expired | CertificationStatus::Revoked) {
            prop_assert_eq!(d.rule, Rule::CertificationNotInForce);
        }
        if d.allow && env.is_production_like() {
            prop_assert!(with_permit && mine && matches!(state, PermitState::Active | PermitState::Executing));
        }
        if d.allow && sensitive {
            prop_assert!(level >= 3);
        }
        prop_assert!(d.allow || d.audit, "every deny is audited");
    }
}
