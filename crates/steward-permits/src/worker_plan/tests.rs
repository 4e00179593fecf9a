//! The worker use cases' decisions, as tables: each case a snapshot and a call, each
//! answer the plan (record, rows, events as their stored data) or the refusal.

use expect_test::expect;
use steward_audit::{EventPayload, canonical_json};
use steward_policy::CertificationStatus;

use super::*;
use crate::certification::{OperationResult, OperationStats};
use crate::outcome::PermitSeen;
use crate::state::Outcome;

const DAY: i64 = 86_400_000;
const T0: Timestamp = Timestamp(1_000 * DAY);

fn level(n: u8) -> Level {
    Level::new(n).unwrap()
}

fn record(lvl: u8, status: CertificationStatus) -> WorkerRecord {
    WorkerRecord {
        level: level(lvl),
        status,
        level_granted_at: T0,
        recertify_by: None,
        probation_until: None,
        stats: OperationStats::default(),
    }
}

fn worker(record: WorkerRecord) -> WorkerFacts<'static> {
    WorkerFacts {
        id: "w1",
        owner_id: "owner",
        principal_id: Some("agent"),
        record,
    }
}

fn principal(id: &str, human: bool, roles: &[Role]) -> PrincipalFacts {
    PrincipalFacts {
        id: id.into(),
        human,
        roles: roles.to_vec(),
        disabled: false,
    }
}

/// Each event as `by@level kind data [personal fields]`, the data as it is hashed.
fn events(events: &[WorkerEvent]) -> String {
    events
        .iter()
        .map(|e| {
            let mut payload = e.payload.clone();
            let personal = payload.take_personal();
            let data = serde_json::to_value(&payload).expect("serializes");
            let personal = personal.map_or(String::new(), |p| format!(" {p:?}"));
            format!(
                "{:?}@{} {} {}{personal}\n",
                e.by,
                e.level,
                payload.event_type(),
                canonical_json(&data)
            )
        })
        .collect()
}

fn status(record: Option<&WorkerRecord>) -> String {
    match record {
        None => "unchanged".to_owned(),
        Some(r) => format!(
            "level {} {} granted {} recertify {:?} probation {:?}",
            r.level,
            r.status,
            r.level_granted_at.millis(),
            r.recertify_by.map(Timestamp::millis),
            r.probation_until.map(Timestamp::millis)
        ),
    }
}

fn refusal(refusal: &WorkerRefusal) -> String {
    match refusal {
        WorkerRefusal::NotEligible {
            target,
            eligibility,
            ..
        } => format!(
            "NotEligible to {target}: {}",
            eligibility.unmet().collect::<Vec<_>>().join("; ")
        ),
        other => format!("{other:?}"),
    }
}

/// A name, the display name, the owner as read, the identity named and as read, domains.
type RegistrationCase<'a> = (
    &'a str,
    &'a str,
    Option<&'a PrincipalFacts>,
    Option<(&'a str, Option<&'a PrincipalFacts>)>,
    &'a [String],
);

#[test]
fn registration() {
    let human = principal("owner", true, &[]);
    let master = principal("owner", false, &[Role::Master]);
    let bare_agent = principal("owner", false, &[]);
    let disabled = PrincipalFacts {
        disabled: true,
        ..human.clone()
    };
    let agent = principal("agent", false, &[Role::Worker]);
    let person = principal("agent", true, &[Role::Worker]);
    let not_worker = principal("agent", false, &[Role::Master]);
    let domains = ["infra".to_owned()];
    let blank = [" ".to_owned()];
    let cases: [RegistrationCase<'_>; 12] = [
        ("human owner", " Deployer ", Some(&human), None, &domains),
        (
            "master owner, identity",
            "Deployer",
            Some(&master),
            Some(("agent", Some(&agent))),
            &[],
        ),
        ("blank name", "  ", Some(&human), None, &domains),
        ("blank domain", "Deployer", Some(&human), None, &blank),
        ("no owner", "Deployer", None, None, &[]),
        ("disabled owner", "Deployer", Some(&disabled), None, &[]),
        ("agent owner", "Deployer", Some(&bare_agent), None, &[]),
        (
            "owns itself",
            "Deployer",
            Some(&master),
            Some(("owner", Some(&master))),
            &[],
        ),
        (
            "no identity",
            "Deployer",
            Some(&human),
            Some(("agent", None)),
            &[],
        ),
        (
            "human identity",
            "Deployer",
            Some(&human),
            Some(("agent", Some(&person))),
            &[],
        ),
        (
            "identity not a worker",
            "Deployer",
            Some(&human),
            Some(("agent", Some(&not_worker))),
            &[],
        ),
        (
            "disabled identity",
            "Deployer",
            Some(&human),
            Some((
                "agent",
                Some(&PrincipalFacts {
                    disabled: true,
                    ..agent.clone()
                }),
            )),
            &[],
        ),
    ];
    let mut out = String::new();
    for (name, display_name, owner, identity, domains) in cases {
        let answer = plan_registration(&RegistrationSnapshot {
            display_name,
            owner_id: "owner",
            owner,
            principal_id: identity.map(|(id, _)| id),
            identity: identity.and_then(|(_, p)| p),
            domains,
            now: T0,
        });
        let answer = match answer {
            Ok(plan) => format!(
                "`{}` {}\n  {}",
                plan.display_name,
                status(Some(&plan.record)),
                events(std::slice::from_ref(&plan.event))
            ),
            Err(e) => format!("{}\n", refusal(&e)),
        };
        out.push_str(&format!("{name}: {answer}"));
    }
    expect![[r#"
        human owner: `Deployer` level 0 active granted 86400000000 recertify None probation None
          Caller@0 worker.registered {"display_name":"Deployer","domains":["infra"],"level":0,"owner_id":"owner","principal_id":null,"status":"active"}
        master owner, identity: `Deployer` level 0 active granted 86400000000 recertify None probation None
          Caller@0 worker.registered {"display_name":"Deployer","domains":[],"level":0,"owner_id":"owner","principal_id":"agent","status":"active"}
        blank name: Invalid { field: "display_name", message: "must not be empty" }
        blank domain: Invalid { field: "domains", message: "domain 0 is empty" }
        no owner: BadReference { field: "owner_id", message: "no principal `owner`" }
        disabled owner: BadReference { field: "owner_id", message: "principal `owner` is disabled" }
        agent owner: BadReference { field: "owner_id", message: "principal `owner` is an agent without the role `master`; an owner is a human or a master" }
        owns itself: BadReference { field: "principal_id", message: "a worker cannot own itself" }
        no identity: BadReference { field: "principal_id", message: "no principal `agent`" }
        human identity: BadReference { field: "principal_id", message: "principal `agent` is not an agent" }
        identity not a worker: BadReference { field: "principal_id", message: "principal `agent` does not hold the role `worker`" }
        disabled identity: BadReference { field: "principal_id", message: "principal `agent` is disabled" }
    "#]]
    .assert_eq(&out);
}

#[test]
fn identity_and_tokens_are_for_the_owner_or_an_admin() {
    let owner = principal("owner", true, &[]);
    let admin = principal("root", true, &[Role::Admin]);
    let other = principal("eve", true, &[Role::SecurityLead]);
    let bound = worker(record(0, CertificationStatus::Active));
    let unbound = WorkerFacts {
        principal_id: None,
        ..bound.clone()
    };
    let mut out = String::new();
    for (name, caller, w) in [
        ("owner, unbound", &owner, &unbound),
        ("admin, unbound", &admin, &unbound),
        ("other, unbound", &other, &unbound),
        ("owner, bound", &owner, &bound),
    ] {
        let identity = match plan_identity(caller, w, "new-agent") {
            Ok(event) => events(&[event]),
            Err(e) => format!("{}\n", refusal(&e)),
        };
        let mint = identity_of(w).map_err(|e| refusal(&e));
        let revoke = check_token_revocation(caller, w, "t1", "agent").map_err(|e| refusal(&e));
        out.push_str(&format!(
            "{name}:\n  identity: {identity}  mint for: {mint:?}\n  revoke t1 of agent: {revoke:?}\n"
        ));
    }
    for name in [None, Some("  "), Some(" deployer-7 ")] {
        out.push_str(&format!("name {name:?}: {:?}\n", identity_name("w1", name)));
    }
    expect![[r#"
        owner, unbound:
          identity: Caller@0 worker.identity_created {"principal_id":"new-agent"}
          mint for: Err("NoIdentity { worker_id: \"w1\" }")
          revoke t1 of agent: Err("NotFound { what: \"token of this worker\", id: \"t1\" }")
        admin, unbound:
          identity: Caller@0 worker.identity_created {"principal_id":"new-agent"}
          mint for: Err("NoIdentity { worker_id: \"w1\" }")
          revoke t1 of agent: Err("NotFound { what: \"token of this worker\", id: \"t1\" }")
        other, unbound:
          identity: NotOwner { worker_id: "w1", action: "create its identity" }
          mint for: Err("NoIdentity { worker_id: \"w1\" }")
          revoke t1 of agent: Err("NotOwner { worker_id: \"w1\", action: \"revoke its tokens\" }")
        owner, bound:
          identity: IdentityExists { worker_id: "w1", principal_id: "agent" }
          mint for: Ok("agent")
          revoke t1 of agent: Ok(())
        name None: Ok("worker:w1")
        name Some("  "): Err(Invalid { field: "name", message: "must not be empty" })
        name Some(" deployer-7 "): Ok("deployer-7")
    "#]]
    .assert_eq(&out);
}

fn initial_request(target: u8) -> InitialCertification {
    InitialCertification {
        target: level(target),
        justification: "  ran payments deploys for two years  ".into(),
        prior_record: PriorRecord {
            document: None,
            link: Some("https://ci.example/history".into()),
            prior_operations: 40,
        },
    }
}

#[test]
fn initial_certification_request() {
    let owner = principal("owner", true, &[]);
    let other = principal("eve", true, &[]);
    let fresh = worker(record(0, CertificationStatus::Active));
    let suspended = worker(record(0, CertificationStatus::Suspended));
    let request = initial_request(3);
    let mut out = String::new();
    for (name, caller, w, asked_before) in [
        ("by the owner", &owner, &fresh, false),
        ("by another", &other, &fresh, false),
        ("with history", &owner, &suspended, false),
        ("asked before", &owner, &fresh, true),
    ] {
        let answer = plan_initial_request(&InitialRequestSnapshot {
            caller,
            worker: w,
            request: &request,
            asked_before,
            now: T0,
        });
        out.push_str(&match answer {
            Ok(plan) => format!(
                "{name}: `{}` by {} at {}, missing {}\n  {}",
                plan.record.justification,
                plan.record.requested_by,
                plan.record.requested_at_ms,
                plan.quorum.approvals_missing,
                events(std::slice::from_ref(&plan.event))
            ),
            Err(e) => format!("{name}: {}\n", refusal(&e)),
        });
    }
    expect![[r#"
        by the owner: `ran payments deploys for two years` by owner at 86400000000, missing 2
          Caller@0 worker.initial_certification_requested {"approvals_needed":{"approver_roles":["engineering_director","security_lead"],"approvers_required":2,"required_roles":["engineering_director","security_lead"]},"justification":"ran payments deploys for two years","prior_record":{"link":"https://ci.example/history","prior_operations":40},"requested_by":"owner","target_level":3}
        by another: NotOwner { worker_id: "w1", action: "ask for its initial certification" }
        with history: InitialCertification(HasHistory { level: Level(0), status: Suspended })
        asked before: Conflict { message: "an initial certification of worker `w1` was already asked for; approve it (`steward worker certify approve`) instead" }
    "#]]
    .assert_eq(&out);
}

#[test]
fn initial_certification_approval() {
    let fresh = worker(record(0, CertificationStatus::Active));
    let director = principal("dir", true, &[Role::EngineeringDirector]);
    let security = principal("sec", true, &[Role::SecurityLead]);
    let requester = principal("req", true, &[Role::SecurityLead]);
    let asked = plan_initial_request(&InitialRequestSnapshot {
        caller: &principal("req", true, &[Role::Admin]),
        worker: &fresh,
        request: &initial_request(3),
        asked_before: false,
        now: T0,
    })
    .unwrap()
    .record;
    let comment = PersonalText::from("looks right");
    let approve = |record: Option<InitialCertificationRecord>, approver, role, now| {
        plan_initial_approval(InitialApprovalSnapshot {
            worker: &fresh,
            record,
            approver,
            role,
            comment: Some(&comment),
            now,
        })
    };
    let first = approve(
        Some(asked.clone()),
        &director,
        Role::EngineeringDirector,
        T0,
    )
    .unwrap();
    let last = approve(
        Some(first.record.clone()),
        &security,
        Role::SecurityLead,
        T0.plus_days(1),
    )
    .unwrap();
    let mut certified = last.record.clone();
    certified.certified_at_ms = Some(1);
    let refused = [
        approve(None, &director, Role::EngineeringDirector, T0),
        approve(Some(certified), &director, Role::EngineeringDirector, T0),
        approve(Some(asked.clone()), &requester, Role::SecurityLead, T0),
        approve(
            Some(first.record.clone()),
            &director,
            Role::EngineeringDirector,
            T0,
        ),
    ];
    let mut out = String::new();
    for plan in [&first, &last] {
        out.push_str(&format!(
            "{} approvals, certified at {:?}, missing {}: {}\n{}",
            plan.record.approvals.len(),
            plan.record.certified_at_ms,
            plan.quorum.approvals_missing,
            status(plan.certified.as_ref()),
            events(&plan.events)
        ));
    }
    for answer in refused {
        out.push_str(&format!("{}\n", refusal(&answer.unwrap_err())));
    }
    expect![[r#"
        1 approvals, certified at None, missing 1: unchanged
        Caller@0 worker.initial_certification_approved {"principal_id":"dir","role":"engineering_director","target_level":3} Personal { subject: "dir", fields: ["comment"] }
        2 approvals, certified at Some(86486400000), missing 0: level 3 probationary granted 86486400000 recertify Some(94262400000) probation Some(91670400000)
        Caller@0 worker.initial_certification_approved {"principal_id":"sec","role":"security_lead","target_level":3} Personal { subject: "sec", fields: ["comment"] }
        Caller@3 worker.certified_initially {"approvals":[{"created_at_ms":86400000000,"principal_id":"dir","role":"engineering_director"},{"created_at_ms":86486400000,"principal_id":"sec","role":"security_lead"}],"from_level":0,"justification":"ran payments deploys for two years","prior_record":{"link":"https://ci.example/history","prior_operations":40},"probation_until":91670400000,"recertify_by":94262400000,"requested_by":"req","status":"probationary","to_level":3}
        NotFound { what: "initial certification of worker", id: "w1" }
        Conflict { message: "worker `w1` was already certified initially at level 3" }
        Approver { target: Level(3), refusal: Requester { principal: "req" } }
        Approver { target: Level(3), refusal: AlreadyApproved { principal: "dir", role: EngineeringDirector } }
    "#]]
    .assert_eq(&out);
}

#[test]
fn promotion_approval() {
    let now = T0.plus_days(40);
    let mut eligible = record(1, CertificationStatus::Active);
    eligible.stats.successes_by_level = [5, 20, 0, 0, 0];
    let eligible = worker(eligible);
    let new_worker = worker(record(1, CertificationStatus::Active));
    let manager = principal("mgr", true, &[Role::EngineeringManager]);
    let owner = principal("owner", true, &[Role::EngineeringManager]);
    let approve = |w, approver, open: Vec<PromotionApproval>| {
        plan_promotion_approval(PromotionSnapshot {
            worker: w,
            target: level(2),
            approver,
            role: Role::EngineeringManager,
            comment: None,
            open,
            approval_id: "ap2".into(),
            now,
        })
    };
    let earlier = PromotionApproval {
        id: "ap1".into(),
        principal_id: "mgr".into(),
        role: Role::EngineeringManager,
        comment: Some("ok".into()),
        created_at_ms: 1,
    };
    let mut out = String::new();
    match approve(&eligible, &manager, Vec::new()) {
        Ok(plan) => out.push_str(&format!(
            "approved {:?}, {} open, met {}: {}\n{}",
            plan.approval,
            plan.approvals.len(),
            plan.quorum.met,
            status(plan.promoted.as_ref()),
            events(&plan.events)
        )),
        Err(e) => out.push_str(&refusal(&e)),
    }
    for answer in [
        approve(&new_worker, &manager, Vec::new()),
        approve(&eligible, &owner, Vec::new()),
        approve(&eligible, &manager, vec![earlier]),
    ] {
        out.push_str(&format!("{}\n", refusal(&answer.unwrap_err())));
    }
    expect![[r#"
        approved PromotionApproval { id: "ap2", principal_id: "mgr", role: EngineeringManager, comment: None, created_at_ms: 89856000000 }, 1 open, met true: level 2 probationary granted 89856000000 recertify Some(121392000000) probation Some(92448000000)
        Caller@1 worker.promotion_approved {"approval_id":"ap2","principal_id":"mgr","role":"engineering_manager","target_level":2} Personal { subject: "mgr", fields: ["comment"] }
        Caller@2 worker.promoted {"approvals":[{"approval_id":"ap2","principal_id":"mgr","role":"engineering_manager"}],"from_level":1,"probation_until":92448000000,"recertify_by":121392000000,"status":"probationary","to_level":2}
        NotEligible to 2: 20+ successful operations that Steward saw (has 0)
        Approver { target: Level(2), refusal: WorkerOwner { principal: "owner" } }
        Approver { target: Level(2), refusal: AlreadyApproved { principal: "mgr", role: EngineeringManager } }
    "#]]
    .assert_eq(&out);
}

#[test]
fn status_requests() {
    let mut out = String::new();
    for (action, reason, human) in [
        (CertAction::Recertify, Some(" yearly "), true),
        (CertAction::Recertify, Some("yearly"), false),
        (CertAction::Suspend, Some("  "), false),
        (CertAction::EndProbation, None, false),
    ] {
        out.push_str(&format!(
            "{action} {reason:?} human={human}: {:?}\n",
            check_status_request(action, reason, human)
        ));
    }
    expect![[r#"
        recertify Some(" yearly ") human=true: Ok(Some("yearly"))
        recertify Some("yearly") human=false: Err(HumanOnly { action: Recertify })
        suspend Some("  ") human=false: Err(Invalid { field: "reason", message: "a reason to suspend must not be empty" })
        end_probation None human=false: Ok(None)
    "#]]
    .assert_eq(&out);
}

/// A name, the worker's record, the change, its reason, the live permits, days after T0.
type StatusCase<'a> = (
    &'a str,
    WorkerRecord,
    CertAction,
    Option<&'a str>,
    &'a [LivePermit],
    i64,
);

#[test]
fn status_changes() {
    use CertificationStatus as S;
    let mut probation = record(2, S::Probationary);
    probation.probation_until = Some(T0.plus_days(30));
    let live = [
        LivePermit {
            id: "pm1".into(),
            state: PermitState::Active,
            level: Some(level(2)),
        },
        LivePermit {
            id: "pm2".into(),
            state: PermitState::Approved,
            level: None,
        },
    ];
    let cases: [StatusCase<'_>; 10] = [
        (
            "suspend",
            record(2, S::Active),
            CertAction::Suspend,
            Some("checks"),
            &[],
            0,
        ),
        (
            "suspend again",
            record(2, S::Suspended),
            CertAction::Suspend,
            Some("checks"),
            &[],
            0,
        ),
        (
            "reinstate",
            record(2, S::Suspended),
            CertAction::Reinstate,
            Some("ok"),
            &[],
            0,
        ),
        (
            "reinstate active",
            record(2, S::Active),
            CertAction::Reinstate,
            Some("ok"),
            &[],
            0,
        ),
        (
            "revoke with permits",
            record(2, S::Active),
            CertAction::Revoke,
            Some("done"),
            &live,
            0,
        ),
        (
            "revoke again",
            record(2, S::Revoked),
            CertAction::Revoke,
            Some("done"),
            &[],
            0,
        ),
        (
            "recertify",
            record(2, S::Expired),
            CertAction::Recertify,
            Some("yearly"),
            &[],
            0,
        ),
        (
            "recertify level 0",
            record(0, S::Active),
            CertAction::Recertify,
            Some("yearly"),
            &[],
            0,
        ),
        (
            "end probation early",
            probation.clone(),
            CertAction::EndProbation,
            None,
            &[],
            29,
        ),
        (
            "end probation",
            probation.clone(),
            CertAction::EndProbation,
            None,
            &[],
            30,
        ),
    ];
    let mut out = String::new();
    for (name, before, action, reason, live_permits, days) in cases {
        let w = worker(before);
        let answer = plan_status_change(&StatusSnapshot {
            worker: &w,
            action,
            reason,
            caller_id: "root",
            live_permits,
            now: T0.plus_days(days),
        });
        out.push_str(&match answer {
            Ok(None) => format!("{name}: nothing to change\n"),
            Ok(Some(plan)) => {
                let mut text = format!(
                    "{name}: {} void={}\n  {}",
                    status(Some(&plan.record)),
                    plan.void_approvals,
                    events(std::slice::from_ref(&plan.event))
                );
                for r in &plan.revocations {
                    let data = serde_json::to_value(&r.event).unwrap();
                    text.push_str(&format!(
                        "  {} {}->{} {:?} {:?} {}\n",
                        r.permit_id,
                        r.from,
                        r.to,
                        r.level,
                        r.reason,
                        canonical_json(&data)
                    ));
                }
                text
            }
            Err(e) => format!("{name}: {}\n", refusal(&e)),
        });
    }
    expect![[r#"
        suspend: level 2 suspended granted 86400000000 recertify None probation None void=true
          Caller@2 worker.suspended {"automatic":false,"from_status":"active","to_status":"suspended"} Personal { subject: "root", fields: ["reason"] }
        suspend again: nothing to change
        reinstate: level 2 active granted 86400000000 recertify None probation None void=false
          Caller@2 worker.reinstated {"from_status":"suspended","to_status":"active"} Personal { subject: "root", fields: ["reason"] }
        reinstate active: IllegalTransition { worker_id: "w1", error: CertTransitionError { from: Active, action: Reinstate } }
        revoke with permits: level 2 revoked granted 86400000000 recertify None probation None void=true
          Caller@2 worker.revoked {"from_status":"active","revoked_permits":["pm1","pm2"],"to_status":"revoked"} Personal { subject: "root", fields: ["reason"] }
          pm1 active->revoked Some(Level(2)) CertificationRevoked {"from_state":"active","reason":"certification_revoked"}
          pm2 approved->revoked None CertificationRevoked {"from_state":"approved","reason":"certification_revoked"}
        revoke again: nothing to change
        recertify: level 2 active granted 86400000000 recertify Some(117936000000) probation None void=false
          Caller@2 worker.recertified {"from_status":"expired","recertify_by":117936000000,"to_status":"active"} Personal { subject: "root", fields: ["reason"] }
        recertify level 0: RecertificationNotRequired { worker_id: "w1" }
        end probation early: ProbationNotOver { worker_id: "w1", until_ms: 88992000000 }
        end probation: level 2 active granted 86400000000 recertify None probation Some(88992000000) void=false
          Caller@2 worker.probation_ended {"from_status":"probationary","to_status":"active"}
    "#]]
    .assert_eq(&out);
}

#[test]
fn expiry_and_certification_timers() {
    use CertificationStatus as S;
    let mut due = record(2, S::Active);
    due.recertify_by = Some(T0.plus_days(365));
    let mut probation = record(2, S::Probationary);
    probation.probation_until = Some(T0.plus_days(30));
    let mut out = String::new();
    for days in [378, 379] {
        let answer = plan_expiry(&due, T0.plus_days(days));
        out.push_str(&match answer {
            None => format!("expiry sweep, day {days}: nothing\n"),
            Some((after, event)) => format!(
                "expiry sweep, day {days}: {}\n  {}",
                status(Some(&after)),
                events(&[event])
            ),
        });
    }
    let timer = |kind, days| DueTimer {
        kind,
        due_at: T0.plus_days(days),
    };
    for (name, before, timer) in [
        ("grace", &due, timer(TimerKind::CertificationGrace, 365)),
        ("expiry", &due, timer(TimerKind::CertificationExpiry, 379)),
        (
            "probation end",
            &probation,
            timer(TimerKind::ProbationEnd, 30),
        ),
        (
            "probation end of an active worker",
            &due,
            timer(TimerKind::ProbationEnd, 30),
        ),
        (
            "a permit's timer",
            &due,
            timer(TimerKind::ApprovalOverdue, 1),
        ),
    ] {
        out.push_str(&match plan_certification_timer("w1", before, timer) {
            Ok((after, event)) => {
                format!("{name}: {}\n  {}", status(after.as_ref()), events(&[event]))
            }
            Err(e) => format!("{name}: {}\n", refusal(&e)),
        });
    }
    expect![[r#"
        expiry sweep, day 378: nothing
        expiry sweep, day 379: level 2 expired granted 86400000000 recertify Some(117936000000) probation None
          Caller@2 worker.expired {"from_status":"active","recertify_by":117936000000}
        grace: unchanged
          System@2 worker.certification_grace {"grace_until_ms":119145600000,"recertify_by_ms":117936000000,"status":"active"}
        expiry: level 2 expired granted 86400000000 recertify Some(117936000000) probation None
          System@2 worker.expired {"automatic":true,"due_at_ms":119145600000,"from_status":"active","probation_until":null,"recertify_by":117936000000,"to_status":"expired"}
        probation end: level 2 active granted 86400000000 recertify None probation Some(88992000000)
          System@2 worker.probation_ended {"automatic":true,"due_at_ms":88992000000,"from_status":"probationary","probation_until":88992000000,"recertify_by":null,"to_status":"active"}
        probation end of an active worker: IllegalTransition { worker_id: "w1", error: CertTransitionError { from: Active, action: EndProbation } }
        a permit's timer: Conflict { message: "`approval_overdue` is not a certification timer" }
    "#]]
    .assert_eq(&out);
}

#[test]
fn outcomes() {
    use CertificationStatus as S;
    let mut failing = record(2, S::Active);
    failing.stats.consecutive_union_failures = 2;
    let closed = SeenWork::Permit(PermitSeen {
        worker_id: "w1".into(),
        level: level(2),
        state: PermitState::Closed,
        outcome: Some(Outcome::Success),
        closed: true,
    });
    let report = |result, level: Option<u8>| OutcomeReport {
        result,
        level: level.map(self::level),
    };
    let cases = [
        (
            "closed permit",
            record(2, S::Active),
            "agent",
            report(OperationResult::Success, None),
            &closed,
            Some("pm1"),
        ),
        (
            "third failure",
            failing,
            "owner",
            report(OperationResult::Failure, Some(2)),
            &SeenWork::Nothing,
            None,
        ),
        (
            "safety violation",
            record(2, S::Active),
            "owner",
            report(OperationResult::SafetyViolation, Some(1)),
            &SeenWork::Nothing,
            None,
        ),
        (
            "violation when suspended",
            record(2, S::Suspended),
            "owner",
            report(OperationResult::SafetyViolation, Some(1)),
            &SeenWork::Nothing,
            None,
        ),
        (
            "by a stranger",
            record(2, S::Active),
            "eve",
            report(OperationResult::Success, Some(1)),
            &SeenWork::Nothing,
            None,
        ),
    ];
    let mut out = String::new();
    for (name, before, reporter_id, report, seen, permit_id) in cases {
        let w = worker(before);
        let answer = plan_outcome(&OutcomeSnapshot {
            worker: &w,
            reporter_id,
            report,
            seen,
            outcome_id: "o1",
            permit_id,
            authorize_seq: None,
            now: T0,
        });
        out.push_str(&match answer {
            Ok(plan) => format!(
                "{name}: {} {} suspension {:?}\n{}",
                plan.outcome.level,
                status(Some(&plan.record)),
                plan.suspension,
                events(&plan.events)
            ),
            Err(e) => format!("{name}: {}\n", refusal(&e)),
        });
    }
    expect![[r#"
        closed permit: 2 level 2 active granted 86400000000 recertify None probation None suspension None
        Caller@2 worker.outcome_recorded {"authorize_seq":null,"basis":"closed_permit","consecutive_union_failures":0,"counts_towards_promotion":true,"operation_level":2,"outcome_id":"o1","permit_id":"pm1","result":"success","status":"active"}
        third failure: 2 level 2 suspended granted 86400000000 recertify None probation None suspension Some(ConsecutiveUnionFailures { count: 3 })
        Caller@2 worker.outcome_recorded {"authorize_seq":null,"basis":"reported","consecutive_union_failures":0,"counts_towards_promotion":false,"operation_level":2,"outcome_id":"o1","permit_id":null,"result":"failure","status":"suspended"}
        System@2 worker.suspended {"automatic":true,"cause":"consecutive_union_failures","count":3,"from_status":"active","reason":"suspended automatically: 3 consecutive failed union operations","reported_by":"owner","to_status":"suspended"}
        safety violation: 1 level 2 suspended granted 86400000000 recertify None probation None suspension Some(SafetyViolation)
        Caller@1 worker.outcome_recorded {"authorize_seq":null,"basis":"reported","consecutive_union_failures":0,"counts_towards_promotion":false,"operation_level":1,"outcome_id":"o1","permit_id":null,"result":"safety_violation","status":"suspended"}
        System@2 worker.suspended {"automatic":true,"cause":"safety_violation","count":null,"from_status":"active","reason":"suspended automatically: a safety violation","reported_by":"owner","to_status":"suspended"}
        violation when suspended: 1 level 2 suspended granted 86400000000 recertify None probation None suspension None
        Caller@1 worker.outcome_recorded {"authorize_seq":null,"basis":"reported","consecutive_union_failures":1,"counts_towards_promotion":false,"operation_level":1,"outcome_id":"o1","permit_id":null,"result":"safety_violation","status":"suspended"}
        by a stranger: Outcome(NotAReporter { principal: "eve", worker: "w1" })
    "#]]
    .assert_eq(&out);
}
