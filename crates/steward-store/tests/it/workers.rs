//! Workers and the certification lifecycle: registration, reads and pages, promotion by
//! distinct human approvals, automatic suspension, revocation's permit cascade, expiry
//! and recertification, and refusals that change nothing.

use serde_json::json;
use steward_permits::{
    ApprovalRefusal, AutoSuspension, CertAction, OperationResult, OutcomeBasis, OutcomeRefusal,
    Recertification,
};
use steward_policy::{CertificationStatus, Level, Role};
use steward_store::{
    ActorKind, Caller, NewEvent, NewOutcome, NewWorker, OutcomeEvidence, Principal, PrincipalKind,
    PromotionState, Store, StoreError, Subject, Worker, WorkerError, WorkerFilter, WorkerPage,
};

use crate::support::{admin, event_types, execute, fetch_text, principal, store_test};

/// A fixed start, so no test depends on the wall clock.
const T0: i64 = 1_800_000_000_000;
const DAY: i64 = 86_400_000;

async fn human(store: &Store, name: &str, roles: &[Role]) -> Principal {
    principal(store, name, PrincipalKind::Human, roles).await
}

/// The people of a promotion story: an owner (who is also an engineering manager, to
/// show that owning beats the role), a manager, a director, a security lead, each
/// approving in their first role; and the worker's own agent identity.
struct Cast {
    owner: Principal,
    manager: Principal,
    director: Principal,
    security: Principal,
    identity: Principal,
}

async fn cast(store: &Store) -> Cast {
    Cast {
        owner: human(store, "olga", &[Role::EngineeringManager]).await,
        manager: human(store, "mia", &[Role::EngineeringManager]).await,
        director: human(store, "dan", &[Role::EngineeringDirector, Role::TechLead]).await,
        security: human(store, "sue", &[Role::SecurityLead]).await,
        identity: principal(store, "bot-1", PrincipalKind::Agent, &[Role::Worker]).await,
    }
}

async fn register(store: &Store, cast: &Cast, now: i64) -> Worker {
    store
        .register_worker(
            &admin(),
            NewWorker {
                display_name: "  Deploy bot ".to_owned(),
                owner_id: cast.owner.id.clone(),
                principal_id: Some(cast.identity.id.clone()),
                domains: vec!["payments".to_owned(), "infra".to_owned()],
            },
            now,
        )
        .await
        .expect("register worker")
}

/// A worker `name` of `owner`, registered at `at`, with no identity of its own.
async fn register_unowned(store: &Store, owner: &Principal, name: &str, at: i64) -> Worker {
    let new = NewWorker {
        display_name: name.to_owned(),
        owner_id: owner.id.clone(),
        principal_id: None,
        domains: vec![],
    };
    store
        .register_worker(&admin(), new, at)
        .await
        .expect("register worker")
}

fn master() -> Caller {
    Caller {
        kind: ActorKind::Agent,
        id: "master-1".to_owned(),
        roles: vec![Role::Master],
        channel: None,
    }
}

/// Appends the `authorize.allowed` event the server writes for an allowed, audited
/// decision of worker `id`: in development for level 0, under a permit of `level` above.
async fn allowed_decision(store: &Store, id: &str, level: u8, at: i64) -> u64 {
    let (permit_id, environment) = match level {
        0 => (None, "development"),
        _ => (Some("p-1"), "production"),
    };
    store
        .record_event(NewEvent {
            ts_ms: at,
            event_type: "authorize.allowed".to_owned(),
            actor: master().actor(),
            subject: Subject {
                worker_id: Some(id.to_owned()),
                ..Subject::default()
            },
            level: Level::new(level).filter(|_| level > 0),
            data: json!({"allow": true, "rule": "allowed", "permit_id": permit_id,
                         "operation": {"environment": environment}}),
        })
        .await
        .expect("decision event")
        .seq
}

/// `n` successes of worker `id` at `level`, reported by its owner `by`, each backed by an
/// allowed decision of its own.
async fn successes(store: &Store, by: &Principal, id: &str, level: u8, n: u32, at: i64) {
    for _ in 0..n {
        let new = NewOutcome {
            result: OperationResult::Success,
            level: None,
            evidence: Some(OutcomeEvidence::Decision(
                allowed_decision(store, id, level, at).await,
            )),
        };
        let recorded = store
            .record_outcome(&by.caller(), id, new, at)
            .await
            .expect("record outcome");
        assert_eq!(recorded.outcome.level.value(), level);
    }
}

/// An outcome reported by `by` without evidence.
fn unbacked(result: OperationResult, level: u8) -> NewOutcome {
    NewOutcome {
        result,
        level: Level::new(level),
        evidence: None,
    }
}

/// Promotes a fresh worker to level 2 the shortest legal way: 20 successes, 30 days, one
/// engineering manager who is not the owner.
async fn level_two(store: &Store, cast: &Cast) -> (Worker, i64) {
    let worker = register(store, cast, T0).await;
    successes(store, &cast.owner, &worker.id, 0, 20, T0 + DAY).await;
    let now = T0 + 30 * DAY;
    let state = approve(store, &cast.manager, &worker.id, Level::STANDARD, now)
        .await
        .expect("promote to level 2");
    assert!(state.promoted);
    (state.worker, now)
}

/// A level-2 worker (from [`level_two`]) out of probation, with the 25 level-2
/// successes level 3 needs; returns it as promoted and the time, 90 days after its
/// promotion, from which it is eligible for level 3.
async fn eligible_for_level_three(store: &Store, cast: &Cast) -> (Worker, i64) {
    let (worker, now) = level_two(store, cast).await;
    store
        .end_probation(&admin(), &worker.id, now + 30 * DAY)
        .await
        .expect("end probation");
    successes(store, &cast.owner, &worker.id, 2, 25, now + 31 * DAY).await;
    (worker, now + 90 * DAY)
}

/// `by` approves worker `id`'s promotion to `target` at `at`, in the first of their roles
/// and without a comment.
async fn approve(
    store: &Store,
    by: &Principal,
    id: &str,
    target: Level,
    at: i64,
) -> Result<PromotionState, WorkerError> {
    store
        .approve_promotion(&by.caller(), id, target, by.roles[0], None, at)
        .await
}

/// Whether no approval of worker `id`'s promotion to `target` is open.
async fn no_open_approvals(store: &Store, id: &str, target: Level) -> bool {
    let approvals = store.promotion_approvals(id, target).await;
    approvals.expect("promotion approvals").is_empty()
}

/// Registers `new` as [`admin`] at `T0`, which must be refused, and returns the refusal.
async fn refused_registration(store: &Store, new: NewWorker) -> WorkerError {
    let result = store.register_worker(&admin(), new, T0).await;
    result.expect_err("registration refused")
}

/// Asserts that `error` refuses the principal named in `field`.
#[track_caller]
fn assert_bad_reference(error: &WorkerError, field: &str) {
    assert!(
        matches!(error, WorkerError::BadReference { field: f, .. } if *f == field),
        "{error:?}"
    );
}

store_test!(
    registration_reads_back_and_records_its_event,
    |store: Store| async move {
        let cast = cast(&store).await;
        let worker = register(&store, &cast, T0).await;
        assert_eq!(worker.display_name, "Deploy bot");
        assert_eq!(worker.level, Level::NON_UNION);
        assert_eq!(worker.status, CertificationStatus::Active);
        assert_eq!(worker.level_granted_at_ms, T0);
        assert_eq!(worker.recertify_by_ms, None);
        assert_eq!(worker.version, 1);
        assert_eq!(
            worker.recertification(T0 + 1000 * DAY),
            Recertification::NotRequired
        );

        assert_eq!(store.worker(&worker.id).await.unwrap(), worker);
        assert_eq!(
            store.worker_by_principal(&cast.identity.id).await.unwrap(),
            Some(worker.clone())
        );
        assert_eq!(
            store.worker_by_principal(&cast.owner.id).await.unwrap(),
            None
        );
        let missing = store.worker("w-404").await.unwrap_err();
        assert_eq!(missing.to_string(), "worker `w-404` not found");

        let events = store.events(1, 100).await.unwrap();
        let registered = events.last().unwrap();
        assert_eq!(registered.event_type, "worker.registered");
        assert_eq!(registered.actor, admin().actor());
        assert_eq!(registered.ts_ms, T0);
        assert_eq!(
            registered.subject.worker_id.as_deref(),
            Some(worker.id.as_str())
        );
        assert_eq!(registered.level, Some(0));
        assert_eq!(registered.data["owner_id"], cast.owner.id.as_str());
        assert_eq!(
            registered.data["domains"],
            serde_json::json!(["payments", "infra"])
        );
    }
);

store_test!(
    registration_refuses_bad_references_and_writes_nothing,
    |store: Store| async move {
        let cast = cast(&store).await;
        let ghost_owner = NewWorker {
            display_name: "w".to_owned(),
            owner_id: "nobody".to_owned(),
            principal_id: None,
            domains: vec![],
        };
        let head = store.audit_head().await.unwrap();
        let error = refused_registration(&store, ghost_owner.clone()).await;
        assert_bad_reference(&error, "owner_id");
        assert_eq!(error.to_string(), "`owner_id`: no principal `nobody`");

        // An owner that is an agent without `master`.
        let agent_owner = NewWorker {
            owner_id: cast.identity.id.clone(),
            ..ghost_owner.clone()
        };
        assert_bad_reference(&refused_registration(&store, agent_owner).await, "owner_id");

        // An identity that is a human, or an agent without `worker`.
        let master = principal(&store, "m", PrincipalKind::Agent, &[Role::Master]).await;
        for identity in [&cast.manager.id, &master.id] {
            let bad_identity = NewWorker {
                owner_id: cast.owner.id.clone(),
                principal_id: Some(identity.clone()),
                ..ghost_owner.clone()
            };
            let error = refused_registration(&store, bad_identity).await;
            assert_bad_reference(&error, "principal_id");
        }
        let blank_name = NewWorker {
            display_name: " ".to_owned(),
            owner_id: cast.owner.id.clone(),
            ..ghost_owner.clone()
        };
        let error = refused_registration(&store, blank_name).await;
        assert_eq!(error.to_string(), "`display_name`: must not be empty");
        let head_after_refusals = store.audit_head().await.unwrap();
        // Only the `m` principal was created in between.
        assert_eq!(head_after_refusals.seq, head.seq + 1);

        // One worker per identity.
        register(&store, &cast, T0).await;
        let head = store.audit_head().await.unwrap();
        let taken_identity = NewWorker {
            owner_id: master.id.clone(),
            principal_id: Some(cast.identity.id.clone()),
            ..ghost_owner
        };
        let error = refused_registration(&store, taken_identity).await;
        assert!(
            matches!(&error, WorkerError::Store(StoreError::Conflict { message })
                if message.contains("already the identity of a worker")),
            "{error:?}"
        );
        assert_eq!(store.audit_head().await.unwrap(), head);
        assert_eq!(
            store
                .list_workers(&WorkerFilter::default(), &WorkerPage::default())
                .await
                .unwrap()
                .len(),
            1
        );
    }
);

store_test!(list_filters_and_pages_by_id, |store: Store| async move {
    let cast = cast(&store).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let owner = if n % 2 == 0 {
            &cast.owner
        } else {
            &cast.manager
        };
        let worker = register_unowned(&store, owner, &format!("w{n}"), T0 + n).await;
        ids.push(worker.id);
    }
    store
        .suspend(&admin(), &ids[3], "testing", T0 + 10)
        .await
        .unwrap();

    let list = |filter: &WorkerFilter, after: Option<&String>, limit| {
        let (store, filter) = (store.clone(), filter.clone());
        let page = WorkerPage {
            after_id: after.cloned(),
            limit,
        };
        async move { store.list_workers(&filter, &page).await.unwrap() }
    };
    let all = WorkerFilter::default();
    let first = list(&all, None, 2).await;
    let second = list(&all, Some(&first[1].id), 2).await;
    let third = list(&all, Some(&second[1].id), 2).await;
    let paged: Vec<&String> = first
        .iter()
        .chain(&second)
        .chain(&third)
        .map(|w| &w.id)
        .collect();
    assert_eq!(paged, ids.iter().collect::<Vec<_>>());

    let owned = WorkerFilter {
        owner_id: Some(cast.owner.id.clone()),
        ..WorkerFilter::default()
    };
    let names: Vec<String> = list(&owned, None, 0)
        .await
        .into_iter()
        .map(|w| w.display_name)
        .collect();
    assert_eq!(names, ["w0", "w2", "w4"]);

    let suspended = WorkerFilter {
        status: Some(CertificationStatus::Suspended),
        level: Some(Level::NON_UNION),
        ..WorkerFilter::default()
    };
    let found = list(&suspended, None, 0).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, ids[3]);
    let none = WorkerFilter {
        level: Some(Level::STANDARD),
        ..WorkerFilter::default()
    };
    assert!(list(&none, None, 0).await.is_empty());
});

store_test!(
    promotion_needs_eligibility_and_distinct_human_approvals,
    |store: Store| async move {
        let cast = cast(&store).await;
        let worker = register(&store, &cast, T0).await;
        let approve = |who: &Principal, role: Role, target: Level, now: i64| {
            let store = store.clone();
            let who = who.clone();
            let id = worker.id.clone();
            async move {
                store
                    .approve_promotion(&who.caller(), &id, target, role, Some("ok".into()), now)
                    .await
            }
        };
        // An approval that must be refused: why it was.
        let refused = |who: &Principal, role: Role, target: Level, now: i64| {
            let approval = approve(who, role, target, now);
            async move {
                match approval.await {
                    Err(WorkerError::ApproverRefused { refusal, .. }) => refusal,
                    other => panic!("{other:?}"),
                }
            }
        };

        // Not eligible: no approval is recorded, nothing is written.
        let head = store.audit_head().await.unwrap();
        let error = approve(&cast.manager, Role::EngineeringManager, Level::STANDARD, T0)
            .await
            .unwrap_err();
        let WorkerError::NotEligible { eligibility, .. } = &error else {
            panic!("{error:?}");
        };
        let unmet: Vec<&str> = eligibility.unmet().collect();
        assert_eq!(
            unmet,
            [
                "30+ days at a lower level (has 0 days at level 0)",
                "20+ successful operations that Steward saw (has 0)",
            ]
        );
        assert_eq!(store.audit_head().await.unwrap(), head);
        assert!(no_open_approvals(&store, &worker.id, Level::STANDARD).await);

        successes(&store, &cast.owner, &worker.id, 0, 20, T0 + DAY).await;
        let now = T0 + 30 * DAY;
        let (_, eligibility) = store
            .eligibility(&worker.id, Level::STANDARD, now)
            .await
            .unwrap();
        assert!(eligibility.eligible, "{eligibility:?}");

        // Refusals by the rules of who may approve; each writes nothing.
        let head = store.audit_head().await.unwrap();
        let owner = refused(&cast.owner, Role::EngineeringManager, Level::STANDARD, now).await;
        assert!(
            matches!(owner, ApprovalRefusal::WorkerOwner { .. }),
            "{owner:?}"
        );
        let wrong_role = refused(&cast.security, Role::SecurityLead, Level::STANDARD, now).await;
        assert_eq!(
            wrong_role,
            ApprovalRefusal::RoleNotEligible {
                role: Role::SecurityLead
            }
        );
        let not_held = refused(
            &cast.security,
            Role::EngineeringManager,
            Level::STANDARD,
            now,
        )
        .await;
        assert!(matches!(not_held, ApprovalRefusal::RoleNotHeld { .. }));
        let agent = refused(&cast.identity, Role::Worker, Level::STANDARD, now).await;
        assert!(matches!(agent, ApprovalRefusal::NotHuman { .. }));
        assert_eq!(store.audit_head().await.unwrap(), head);

        // One engineering manager promotes to 2, with 30 days of probation.
        let state = approve(
            &cast.manager,
            Role::EngineeringManager,
            Level::STANDARD,
            now,
        )
        .await
        .unwrap();
        assert!(state.promoted);
        assert!(state.quorum.met);
        let promoted = state.worker;
        assert_eq!(promoted.level, Level::STANDARD);
        assert_eq!(promoted.status, CertificationStatus::Probationary);
        assert_eq!(promoted.level_granted_at_ms, now);
        assert_eq!(promoted.probation_until_ms, Some(now + 30 * DAY));
        assert_eq!(promoted.recertify_by_ms, Some(now + 365 * DAY));
        assert_eq!(promoted.stats.successes_at_level, 0);
        assert_eq!(promoted.stats.successes_by_level[0], 20);
        assert_eq!(promoted.version, worker.version + 21);
        assert_eq!(
            event_types(&store, head.seq + 1).await,
            ["worker.promotion_approved", "worker.promoted"]
        );
        let promoted_event = store.events(head.seq + 2, 1).await.unwrap().remove(0);
        assert_eq!(promoted_event.data["from_level"], 0);
        assert_eq!(promoted_event.data["to_level"], 2);
        assert_eq!(
            promoted_event.data["approvals"][0]["principal_id"],
            cast.manager.id.as_str()
        );
        // Used approvals are closed.
        assert!(no_open_approvals(&store, &worker.id, Level::STANDARD).await);

        // Level 3: probation over, 90 days and 25 level-2 successes later.
        let error = approve(
            &cast.director,
            Role::EngineeringDirector,
            Level::ADVANCED,
            now,
        )
        .await
        .unwrap_err();
        assert!(matches!(error, WorkerError::NotEligible { .. }));
        let end = store
            .end_probation(&admin(), &worker.id, now + 10 * DAY)
            .await
            .unwrap_err();
        assert!(
            matches!(end, WorkerError::ProbationNotOver { until_ms, .. } if until_ms == now + 30 * DAY)
        );
        let active = store
            .end_probation(&admin(), &worker.id, now + 30 * DAY)
            .await
            .unwrap();
        assert_eq!(active.status, CertificationStatus::Active);
        successes(&store, &cast.owner, &worker.id, 2, 25, now + 31 * DAY).await;
        let later = now + 90 * DAY;

        let first = approve(
            &cast.director,
            Role::EngineeringDirector,
            Level::ADVANCED,
            later,
        )
        .await
        .unwrap();
        assert!(!first.promoted);
        assert_eq!(first.worker.level, Level::STANDARD);
        assert_eq!(first.quorum.roles_missing, [Role::SecurityLead]);
        assert_eq!(first.approvals.len(), 1);
        assert_eq!(first.approvals[0].comment.as_deref(), Some("ok"));
        // Another role the director holds is not eligible for level 3, and the same
        // person may not approve twice.
        let head = store.audit_head().await.unwrap();
        let twice = refused(&cast.director, Role::TechLead, Level::ADVANCED, later).await;
        assert!(
            matches!(twice, ApprovalRefusal::RoleNotEligible { .. }),
            "tech_lead may not approve level 3: {twice:?}"
        );
        let twice = refused(
            &cast.director,
            Role::EngineeringDirector,
            Level::ADVANCED,
            later,
        )
        .await;
        assert!(
            matches!(twice, ApprovalRefusal::AlreadyApproved { .. }),
            "{twice:?}"
        );
        assert_eq!(store.audit_head().await.unwrap(), head);

        let second = approve(&cast.security, Role::SecurityLead, Level::ADVANCED, later)
            .await
            .unwrap();
        assert!(second.promoted);
        assert_eq!(second.approvals.len(), 2);
        assert_eq!(second.worker.level, Level::ADVANCED);
        assert_eq!(second.worker.status, CertificationStatus::Probationary);
        assert_eq!(second.worker.probation_until_ms, Some(later + 60 * DAY));
        assert_eq!(second.worker.recertify_by_ms, Some(later + 90 * DAY));
        assert!(no_open_approvals(&store, &worker.id, Level::ADVANCED).await);
        store.verify_audit_chain().await.unwrap();
    }
);

store_test!(
    suspension_voids_pending_promotion_approvals,
    |store: Store| async move {
        let cast = cast(&store).await;
        let (worker, later) = eligible_for_level_three(&store, &cast).await;
        approve(&store, &cast.director, &worker.id, Level::ADVANCED, later)
            .await
            .unwrap();
        store
            .suspend(&admin(), &worker.id, "investigation", later)
            .await
            .unwrap();
        store
            .reinstate(&admin(), &worker.id, "cleared", later)
            .await
            .unwrap();
        // The director's approval was voided; the security lead alone is not a quorum.
        let state = approve(&store, &cast.security, &worker.id, Level::ADVANCED, later)
            .await
            .unwrap();
        assert!(!state.promoted);
        assert_eq!(state.quorum.roles_missing, [Role::EngineeringDirector]);
        assert_eq!(state.approvals.len(), 1);
    }
);

store_test!(
    a_safety_violation_suspends_automatically,
    |store: Store| async move {
        let cast = cast(&store).await;
        let worker = register(&store, &cast, T0).await;
        // The owner reports a safety violation at `at`.
        let violation = |at: i64| {
            let (store, by, id) = (store.clone(), cast.owner.caller(), worker.id.clone());
            async move {
                let outcome = unbacked(OperationResult::SafetyViolation, 0);
                store.record_outcome(&by, &id, outcome, at).await.unwrap()
            }
        };
        let head = store.audit_head().await.unwrap();
        let recorded = violation(T0 + 5).await;
        let (after, suspension) = (recorded.worker, recorded.suspension);
        assert_eq!(suspension, Some(AutoSuspension::SafetyViolation));
        assert_eq!(after.status, CertificationStatus::Suspended);
        assert_eq!(after.stats.safety_violations, 1);
        assert_eq!(store.worker(&worker.id).await.unwrap(), after);

        let events = store.events(head.seq + 1, 10).await.unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].event_type, "worker.outcome_recorded");
        assert_eq!(events[0].actor, cast.owner.actor());
        assert_eq!(events[0].data["result"], "safety_violation");
        assert_eq!(events[0].data["basis"], "reported");
        assert_eq!(events[1].event_type, "worker.suspended");
        assert_eq!(events[1].actor.kind, ActorKind::System);
        assert_eq!(events[1].data["automatic"], true);
        assert_eq!(events[1].data["cause"], "safety_violation");
        assert_eq!(events[1].data["reported_by"], cast.owner.id.as_str());

        // A further outcome is still recorded, and suspends nothing again.
        let again = violation(T0 + 6).await;
        assert_eq!(again.suspension, None);
        assert_eq!(
            event_types(&store, head.seq + 3).await,
            ["worker.outcome_recorded"]
        );
    }
);

store_test!(
    three_consecutive_failed_union_operations_suspend,
    |store: Store| async move {
        let cast = cast(&store).await;
        let worker = register(&store, &cast, T0).await;
        // To level 1: one engineering manager, no probation.
        let state = approve(&store, &cast.manager, &worker.id, Level::BASIC, T0)
            .await
            .unwrap();
        assert!(state.promoted);
        assert_eq!(state.worker.status, CertificationStatus::Active);
        assert_eq!(state.worker.probation_until_ms, None);

        let fail = |level: u8| unbacked(OperationResult::Failure, level);
        let record = |outcome| {
            let store = store.clone();
            let id = worker.id.clone();
            let identity = cast.identity.clone();
            async move {
                let recorded = store
                    .record_outcome(&identity.caller(), &id, outcome, T0 + 1)
                    .await
                    .unwrap();
                (recorded.worker, recorded.suspension)
            }
        };
        assert_eq!(record(fail(1)).await.1, None);
        assert_eq!(record(fail(1)).await.1, None);
        // A non-union failure neither extends nor breaks the streak.
        assert_eq!(record(fail(0)).await.1, None);
        let (after, suspension) = record(fail(1)).await;
        assert_eq!(
            suspension,
            Some(AutoSuspension::ConsecutiveUnionFailures { count: 3 })
        );
        assert_eq!(after.status, CertificationStatus::Suspended);
        assert_eq!(after.stats.failures_at_level, 4);
        let last = store.events(1, 1000).await.unwrap().pop().unwrap();
        assert_eq!(last.event_type, "worker.suspended");
        assert_eq!(last.data["cause"], "consecutive_union_failures");
        assert_eq!(last.data["count"], 3);
    }
);

/// Inserts a permit row for `worker_id` in `state` directly: the permit use cases are
/// not what this test is about.
async fn insert_permit(store: &Store, id: &str, worker_id: &str, requester: &str, state: &str) {
    execute(
        store,
        &format!(
            "INSERT INTO permits (id, task_id, task, analysis, permit_type, level, worker_id, \
             requester_id, state, evidence, constraints, created_at, updated_at) VALUES \
             ('{id}', 'task-{id}', '{{}}', '{{}}', 'standard_production', 2, '{worker_id}', \
             '{requester}', '{state}', '{{}}', '{{}}', {T0}, {T0})"
        ),
    )
    .await
    .expect("insert permit");
}

store_test!(
    revoking_a_certification_revokes_its_live_permits,
    |store: Store| async move {
        let cast = cast(&store).await;
        let worker = register(&store, &cast, T0).await;
        let other = register_unowned(&store, &cast.owner, "other", T0).await;
        let r = &cast.owner.id;
        for (id, state) in [
            ("p-approved", "approved"),
            ("p-active", "active"),
            ("p-executing", "executing"),
            ("p-requested", "requested"),
            ("p-closed", "closed"),
        ] {
            insert_permit(&store, id, &worker.id, r, state).await;
        }
        insert_permit(&store, "p-other", &other.id, r, "active").await;
        let head = store.audit_head().await.unwrap();

        let now = T0 + DAY;
        let revocation = store
            .revoke(&admin(), &worker.id, "leaked credentials", now)
            .await
            .unwrap();
        assert_eq!(revocation.worker.status, CertificationStatus::Revoked);
        assert_eq!(
            revocation.revoked_permits,
            ["p-active", "p-approved", "p-executing"]
        );
        let rows = fetch_text(
            &store,
            "SELECT id, state, revocation_reason, CAST(version AS TEXT), CAST(updated_at AS TEXT) \
             FROM permits ORDER BY id",
        )
        .await
        .unwrap();
        let now_text = now.to_string();
        let t0_text = T0.to_string();
        let expect = |id: &str, state: &str, reason: Option<&str>, version: &str, at: &str| {
            vec![
                Some(id.to_owned()),
                Some(state.to_owned()),
                reason.map(str::to_owned),
                Some(version.to_owned()),
                Some(at.to_owned()),
            ]
        };
        let cr = Some("certification_revoked");
        assert_eq!(
            rows,
            [
                expect("p-active", "revoked", cr, "2", &now_text),
                expect("p-approved", "revoked", cr, "2", &now_text),
                expect("p-closed", "closed", None, "1", &t0_text),
                expect("p-executing", "revoked", cr, "2", &now_text),
                expect("p-other", "active", None, "1", &t0_text),
                expect("p-requested", "requested", None, "1", &t0_text),
            ]
        );

        let events = store.events(head.seq + 1, 10).await.unwrap();
        let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
        assert_eq!(
            types,
            [
                "worker.revoked",
                "permit.revoked",
                "permit.revoked",
                "permit.revoked"
            ]
        );
        // The reason is a person's free text: sealed, never in the event as written.
        assert_eq!(events[0].data.get("reason"), None);
        assert_eq!(events[0].data["personal"]["alg"], "xchacha20poly1305");
        assert!(!events[0].data.to_string().contains("leaked credentials"));
        assert_eq!(
            events[0].data["revoked_permits"],
            serde_json::json!(["p-active", "p-approved", "p-executing"])
        );
        assert_eq!(events[1].subject.permit_id.as_deref(), Some("p-active"));
        assert_eq!(
            events[1].subject.worker_id.as_deref(),
            Some(worker.id.as_str())
        );
        assert_eq!(events[1].level, Some(2));
        assert_eq!(events[1].data["reason"], "certification_revoked");
        assert_eq!(events[1].data["from_state"], "active");
        assert_eq!(events[3].data["from_state"], "executing");

        // Idempotent: a second revocation changes and records nothing.
        let head = store.audit_head().await.unwrap();
        let again = store
            .revoke(&admin(), &worker.id, "again", now + 1)
            .await
            .unwrap();
        assert_eq!(again.worker, revocation.worker);
        assert!(again.revoked_permits.is_empty());
        assert_eq!(store.audit_head().await.unwrap(), head);
        store.verify_audit_chain().await.unwrap();
    }
);

store_test!(
    illegal_status_moves_are_typed_and_change_nothing,
    |store: Store| async move {
        let cast = cast(&store).await;
        let worker = register(&store, &cast, T0).await;
        let head = store.audit_head().await.unwrap();

        let error = store
            .reinstate(&admin(), &worker.id, "why not", T0)
            .await
            .unwrap_err();
        let WorkerError::IllegalTransition { error: inner, .. } = &error else {
            panic!("{error:?}");
        };
        assert_eq!(inner.from, CertificationStatus::Active);
        assert_eq!(inner.action, CertAction::Reinstate);
        assert_eq!(
            error.to_string(),
            format!(
                "cannot reinstate worker `{}`: its certification is `active`",
                worker.id
            )
        );

        let error = store
            .recertify(&admin(), &worker.id, "yearly", T0)
            .await
            .unwrap_err();
        assert!(matches!(
            error,
            WorkerError::RecertificationNotRequired { .. }
        ));
        let error = store
            .recertify(&master(), &worker.id, "yearly", T0)
            .await
            .unwrap_err();
        assert!(matches!(
            error,
            WorkerError::HumanOnly {
                action: CertAction::Recertify
            }
        ));
        let error = store
            .suspend(&admin(), &worker.id, "  ", T0)
            .await
            .unwrap_err();
        assert!(matches!(
            error,
            WorkerError::Invalid {
                field: "reason",
                ..
            }
        ));
        let error = store
            .end_probation(&admin(), &worker.id, T0)
            .await
            .unwrap_err();
        assert!(matches!(error, WorkerError::IllegalTransition { .. }));
        let error = store.suspend(&admin(), "w-404", "x", T0).await.unwrap_err();
        assert!(matches!(
            error,
            WorkerError::Store(StoreError::NotFound { what: "worker", .. })
        ));
        assert_eq!(store.worker(&worker.id).await.unwrap(), worker);
        assert_eq!(store.audit_head().await.unwrap(), head);

        // Revoked is terminal.
        store
            .revoke(&admin(), &worker.id, "done", T0)
            .await
            .unwrap();
        let revoked = store.worker(&worker.id).await.unwrap();
        let head = store.audit_head().await.unwrap();
        for action in [CertAction::Suspend, CertAction::Reinstate] {
            let result = match action {
                CertAction::Suspend => store.suspend(&admin(), &worker.id, "x", T0).await,
                _ => store.reinstate(&admin(), &worker.id, "x", T0).await,
            };
            let error = result.unwrap_err();
            assert!(
                matches!(&error, WorkerError::IllegalTransition { error, .. }
                    if error.from == CertificationStatus::Revoked && error.action == action),
                "{error:?}"
            );
        }
        assert_eq!(store.worker(&worker.id).await.unwrap(), revoked);
        assert_eq!(store.audit_head().await.unwrap(), head);
    }
);

store_test!(
    past_grace_expires_and_a_human_recertifies,
    |store: Store| async move {
        let cast = cast(&store).await;
        let worker = register(&store, &cast, T0).await;
        let level_one = approve(&store, &cast.manager, &worker.id, Level::BASIC, T0)
            .await
            .unwrap()
            .worker;
        assert_eq!(level_one.recertify_by_ms, Some(T0 + 365 * DAY));
        assert_eq!(
            level_one.recertification(T0 + 370 * DAY),
            Recertification::InGrace { grace_left_days: 9 }
        );

        // Inside grace nothing expires.
        let system = Caller::system("timer");
        let expired = store
            .expire_overdue_certifications(&system, T0 + 370 * DAY)
            .await
            .unwrap();
        assert!(expired.is_empty());
        let past_grace = T0 + 379 * DAY;
        let expired = store
            .expire_overdue_certifications(&system, past_grace)
            .await
            .unwrap();
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].status, CertificationStatus::Expired);
        let last = store.events(1, 1000).await.unwrap().pop().unwrap();
        assert_eq!(last.event_type, "worker.expired");
        assert_eq!(last.actor, system.actor());

        // An expired certification cannot be promoted, and recertification renews it.
        let (_, eligibility) = store
            .eligibility(&worker.id, Level::STANDARD, past_grace)
            .await
            .unwrap();
        assert!(!eligibility.eligible);
        let renewed = store
            .recertify(&cast.manager.caller(), &worker.id, "reviewed", past_grace)
            .await
            .unwrap();
        assert_eq!(renewed.status, CertificationStatus::Active);
        assert_eq!(renewed.recertify_by_ms, Some(past_grace + 365 * DAY));
        let last = store.events(1, 1000).await.unwrap().pop().unwrap();
        assert_eq!(last.event_type, "worker.recertified");
        assert_eq!(last.data["from_status"], "expired");
        assert_eq!(last.data["to_status"], "active");
    }
);

store_test!(
    every_change_increments_the_version_it_read,
    |store: Store| async move {
        let cast = cast(&store).await;
        let worker = register(&store, &cast, T0).await;
        // Another writer's change.
        execute(
            &store,
            &format!(
                "UPDATE workers SET version = version + 1 WHERE id = '{}'",
                worker.id
            ),
        )
        .await
        .unwrap();
        // Each use case reads the version under its lock, so it still succeeds and
        // increments from the version it read.
        let suspended = store.suspend(&admin(), &worker.id, "x", T0).await.unwrap();
        assert_eq!(suspended.version, worker.version + 2);
    }
);

store_test!(
    racing_approvals_promote_exactly_once,
    |store: Store| async move {
        let cast = cast(&store).await;
        let (worker, later) = eligible_for_level_three(&store, &cast).await;
        // `who` approves the promotion to level 3 as `role` twice at once: both results.
        let twice = |who: &Principal, role: Role| {
            let approve = || {
                let (store, who, id) = (store.clone(), who.caller(), worker.id.clone());
                tokio::spawn(async move {
                    store
                        .approve_promotion(&who, &id, Level::ADVANCED, role, None, later)
                        .await
                })
            };
            let (a, b) = (approve(), approve());
            async move { [a.await.unwrap(), b.await.unwrap()] }
        };

        // The same person twice at once: exactly one vote counts.
        let results = twice(&cast.director, Role::EngineeringDirector).await;
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
        let refused = results.into_iter().find_map(Result::err).unwrap();
        assert!(
            matches!(
                refused,
                WorkerError::ApproverRefused {
                    refusal: ApprovalRefusal::AlreadyApproved { .. },
                    ..
                }
            ),
            "{refused:?}"
        );

        // The last approval and a duplicate of it at once: one promotion, one event.
        let head = store.audit_head().await.unwrap();
        let results = twice(&cast.security, Role::SecurityLead).await;
        let promoted: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(promoted.len(), 1, "{results:?}");
        assert!(promoted[0].promoted);
        assert_eq!(
            event_types(&store, head.seq + 1).await,
            ["worker.promotion_approved", "worker.promoted"]
        );
        let after = store.worker(&worker.id).await.unwrap();
        assert_eq!(after.level, Level::ADVANCED);
        store.verify_audit_chain().await.unwrap();
    }
);

store_test!(
    outcomes_come_from_the_owner_or_the_worker_and_count_with_evidence,
    |store: Store| async move {
        let cast = cast(&store).await;
        let worker = register(&store, &cast, T0).await;
        let other = register_unowned(&store, &cast.owner, "other", T0).await;
        let refused = |error: WorkerError| match error {
            WorkerError::OutcomeRefused(refusal) => refusal,
            other => panic!("{other:?}"),
        };
        let head = store.audit_head().await.unwrap();
        let success = |evidence| NewOutcome {
            result: OperationResult::Success,
            level: None,
            evidence: Some(evidence),
        };
        // Every report here is about `worker`, at `T0`.
        let report = |by: &Principal, outcome: NewOutcome| {
            let (store, by, id) = (store.clone(), by.caller(), worker.id.clone());
            async move { store.record_outcome(&by, &id, outcome, T0).await }
        };

        // Nobody but the owner and the worker; the worker only success or failure.
        let error = report(&cast.manager, unbacked(OperationResult::SafetyViolation, 0))
            .await
            .unwrap_err();
        assert!(matches!(
            refused(error),
            OutcomeRefusal::NotAReporter { .. }
        ));
        let error = report(&cast.identity, unbacked(OperationResult::Incident, 1))
            .await
            .unwrap_err();
        assert!(matches!(
            refused(error),
            OutcomeRefusal::SelfReportLimited { .. }
        ));

        // Evidence that does not hold.
        let mine = allowed_decision(&store, &worker.id, 0, T0).await;
        let theirs = allowed_decision(&store, &other.id, 0, T0).await;
        let head_after_decisions = store.audit_head().await.unwrap();
        assert_eq!(head_after_decisions.seq, head.seq + 2);
        for (evidence, expected) in [
            (OutcomeEvidence::Decision(theirs), "another worker"),
            (OutcomeEvidence::Decision(9_999), "does not exist"),
            // A worker event is no decision.
            (
                OutcomeEvidence::Decision(head.seq),
                "not an allowed authorize decision",
            ),
            (
                OutcomeEvidence::Permit("p-none".to_owned()),
                "does not exist",
            ),
        ] {
            let error = report(&cast.identity, success(evidence)).await.unwrap_err();
            assert!(refused(error).to_string().contains(expected));
        }
        insert_permit(&store, "p-live", &worker.id, &cast.owner.id, "active").await;
        let error = report(
            &cast.owner,
            success(OutcomeEvidence::Permit("p-live".into())),
        )
        .await
        .unwrap_err();
        assert!(matches!(
            refused(error),
            OutcomeRefusal::PermitNotClosed { .. }
        ));
        assert_eq!(store.audit_head().await.unwrap(), head_after_decisions);
        assert_eq!(
            store.worker(&worker.id).await.unwrap(),
            worker,
            "nothing changed"
        );

        // A success without evidence is recorded but does not count.
        let recorded = report(&cast.identity, unbacked(OperationResult::Success, 0))
            .await
            .unwrap();
        assert_eq!(recorded.outcome.basis, OutcomeBasis::Reported);
        assert_eq!(recorded.worker.stats.uncounted_successes, 1);
        assert_eq!(recorded.worker.stats.successes_by_level, [0; 5]);

        // A decision backs one outcome, at its level.
        let recorded = report(&cast.identity, success(OutcomeEvidence::Decision(mine)))
            .await
            .unwrap();
        assert_eq!(recorded.outcome.basis, OutcomeBasis::AuthorizedOperation);
        assert_eq!(recorded.worker.stats.successes_by_level, [1, 0, 0, 0, 0]);
        let again = report(&cast.owner, success(OutcomeEvidence::Decision(mine)))
            .await
            .unwrap_err();
        assert!(
            matches!(again, WorkerError::EvidenceAlreadyUsed { .. }),
            "{again:?}"
        );

        // A closed permit that succeeded backs one outcome at the permit's level.
        insert_permit(&store, "p-done", &worker.id, &cast.owner.id, "closed").await;
        execute(
            &store,
            "UPDATE permits SET outcome = 'success', audit_summary = '{}' WHERE id = 'p-done'",
        )
        .await
        .unwrap();
        let recorded = report(
            &cast.owner,
            success(OutcomeEvidence::Permit("p-done".into())),
        )
        .await
        .unwrap();
        assert_eq!(recorded.outcome.level, Level::STANDARD);
        assert_eq!(recorded.outcome.basis, OutcomeBasis::ClosedPermit);
        assert_eq!(recorded.worker.stats.successes_by_level, [1, 0, 1, 0, 0]);
        let rows = fetch_text(
            &store,
            &format!(
                "SELECT basis, permit_id, CAST(authorize_seq AS TEXT), reported_by FROM worker_outcomes \
                 WHERE worker_id = '{}' ORDER BY recorded_at, id",
                worker.id
            ),
        )
        .await
        .unwrap();
        let row = |cells: [Option<&str>; 4]| cells.map(|c| c.map(str::to_owned)).to_vec();
        let (identity, owner) = (
            Some(cast.identity.id.as_str()),
            Some(cast.owner.id.as_str()),
        );
        let mine = mine.to_string();
        assert_eq!(
            rows,
            [
                row([Some("reported"), None, None, identity]),
                row([Some("authorized_operation"), None, Some(&mine), identity]),
                row([Some("closed_permit"), Some("p-done"), None, owner]),
            ]
        );
    }
);

/// Issue 9, item 2, for databases made before it: the successes they recorded were never
/// tied to work Steward saw, so migration 0013 keeps them as `uncounted_successes` and
/// they stop counting towards promotion; nothing else in the record changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn successes_recorded_before_evidence_was_required_stop_counting() {
    use steward_store::testing::{postgres_store_at, sqlite_store_at};

    let old = [Some(sqlite_store_at(11).await), postgres_store_at(11).await];
    for db in old.into_iter().flatten() {
        execute(
            db.store(),
            "INSERT INTO principals (id, kind, name, roles, created_at) \
             VALUES ('p-owner', 'human', 'olga', '[\"engineering_manager\"]', 0); \
             INSERT INTO workers (id, display_name, owner_id, level, status, domains, \
             level_granted_at, stats, version, created_at, updated_at) VALUES ('w-old', 'old', \
             'p-owner', 1, 'active', '[]', 0, '{\"successes_at_level\":7,\"failures_at_level\":1,\
             \"successes_by_level\":[20,3,0,0,0],\"last_incident_at\":null,\
             \"safety_violations\":0,\"consecutive_union_failures\":1}', 4, 0, 0)",
        )
        .await
        .expect("an old worker");
        let store = Store::connect(db.url()).await.expect("upgrade");
        let worker = store.worker("w-old").await.expect("worker");
        assert_eq!(worker.stats.uncounted_successes, 23);
        assert_eq!(worker.stats.successes_by_level, [0; 5]);
        assert_eq!(worker.stats.successes_at_level, 0);
        assert_eq!(worker.stats.failures_at_level, 1);
        assert_eq!(worker.stats.consecutive_union_failures, 1);
        assert_eq!(worker.version, 5, "the change moves the row's version");
        let (_, verdict) = store
            .eligibility("w-old", Level::STANDARD, 40 * DAY)
            .await
            .expect("eligibility");
        assert!(
            verdict.unmet().any(|u| u
                == "20+ successful operations that Steward saw (has 0; 23 successes reported \
                    without a closed permit or an authorized operation do not count)"),
            "{verdict:?}"
        );
        store.close().await;
    }
}
