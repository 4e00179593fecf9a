//! `authorize`: each rule of SPEC §7 in its order, scope violations revoking, and what is
//! audited.

use proptest::prelude::*;
use steward_policy::{
    Action, ActionClass, ActionClasses, CertificationStatus, Environment, Level, ListedOperation,
    Policy, classify_action,
};

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

/// `text` classified with the built-in policy, for the life of the test binary.
fn action(text: &str) -> &'static Action {
    Box::leak(Box::new(classify_action(&Policy::builtin(), text)))
}

fn op(env: Environment) -> Operation<'static> {
    Operation {
        environment: env,
        action: action("deploy"),
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
    ops: Vec<ListedOperation>,
    classes: ActionClasses,
    services: Vec<String>,
    regions: Vec<String>,
    forbidden: Vec<String>,
}

fn owned() -> Owned {
    let policy = Policy::builtin();
    let ops: Vec<ListedOperation> = ["deploy", "restart"]
        .iter()
        .map(|o| ListedOperation::new(&policy, o))
        .collect();
    Owned {
        classes: ops
            .iter()
            .fold(ActionClasses::EMPTY, |c, o| c.union(o.classes())),
        ops,
        services: vec!["api".into()],
        regions: vec!["eu-west-1".into()],
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
        listed_operations: &o.ops,
        allowed_classes: o.classes,
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
            action: action("terraform destroy"),
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
    // No list means nothing: a region the permit does not list is outside it.
    let d = check(
        w,
        Operation {
            region: Some("us-east-1"),
            ..op(Environment::Production)
        },
        Some(&p),
        Rule::ScopeViolation,
    );
    assert_eq!(d.scope, Some(ScopeMiss::Region));
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
            action: action("RESTART"),
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

/// Issue 9: an empty operation list is no wildcard, and an action is in scope only by a
/// listed operation or a class the permit's analysis contained.
#[test]
fn regression_issue_9_an_empty_scope_is_no_wildcard() {
    let w = worker(3);
    let none = Owned {
        ops: Vec::new(),
        classes: ActionClasses::EMPTY,
        ..owned()
    };
    let empty = permit(&none);
    let drop = Operation {
        action: action("DROP TABLE customers"),
        ..op(Environment::Production)
    };
    let d = check(w, drop, Some(&empty), Rule::ScopeViolation);
    assert_eq!(
        (d.scope, d.revoke),
        (
            Some(ScopeMiss::Operation),
            Some(RevocationReason::ScopeExpansion)
        )
    );
    let o = owned();
    let p = permit(&o);
    let d = check(w, drop, Some(&p), Rule::ScopeViolation);
    assert_eq!(d.scope, Some(ScopeMiss::Operation));
    // What agents send: a full command line, any case and spacing.
    for text in [
        "deploy api --version 2.1",
        "  DEPLOY   Api  ",
        "Restart api",
    ] {
        let o = Operation {
            action: action(text),
            ..op(Environment::Production)
        };
        check(w, o, Some(&p), Rule::Allowed);
    }
    // A change of a class the analysis contained is in scope; a read always is.
    for text in ["scale api to 3 replicas", "kubectl get pods"] {
        let o = Operation {
            action: action(text),
            ..op(Environment::Production)
        };
        check(w, o, Some(&p), Rule::Allowed);
    }
    for text in [
        "deploy api && DROP TABLE x",
        "kubectl delete deployment api",
        "terraform apply",
        "update firewall rules",
        "ALTER TABLE users ADD COLUMN x int",
    ] {
        let o = Operation {
            action: action(text),
            ..op(Environment::Production)
        };
        let d = check(w, o, Some(&p), Rule::ScopeViolation);
        assert_eq!(d.scope, Some(ScopeMiss::Operation), "{text}");
    }
    // A schema permit's analysis contains the schema class.
    let schema = Owned {
        classes: ActionClasses::of(&[ActionClass::Change, ActionClass::SchemaChange]),
        ..owned()
    };
    let alter = Operation {
        action: action("ALTER TABLE users ADD COLUMN x int"),
        ..op(Environment::Production)
    };
    check(w, alter, Some(&permit(&schema)), Rule::Allowed);
    // Services: no list means none.
    let no_services = Owned {
        services: Vec::new(),
        ..owned()
    };
    let d = check(
        w,
        op(Environment::Production),
        Some(&permit(&no_services)),
        Rule::ScopeViolation,
    );
    assert_eq!(d.scope, Some(ScopeMiss::Service));
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
