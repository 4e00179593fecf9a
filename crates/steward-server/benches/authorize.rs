//! Authorize benchmark: one in-process decision with a warm [`AuthzCache`] (the cache lookup,
//! the views, `steward_permits::authorize`) against the same access check written as Cedar
//! policies and evaluated by the `cedar-policy` crate. Results and method: BENCHMARKS.md.
//!
//! `cargo bench -p steward-server --bench authorize -- --warm-up-time 1 --measurement-time 5`
//!
//! What is timed on Steward's side is what `POST /v1/authorize` does after it has read the
//! rows' current versions from the database (`Store::authz_versions`, one point read per
//! decision): look both entries up at those versions, build the views, decide. The read
//! itself, authentication, JSON and the audit write are not in this figure.
//!
//! Setup (untimed) refuses to run unless both engines give the same decision on every case
//! of a generated set, and name the same rule when Steward denies: a speed comparison
//! between engines that compute different answers would mean nothing.

use std::collections::{HashMap, HashSet};
use std::hint::black_box;
use std::str::FromStr as _;

use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityUid, Policy, PolicyId, PolicySet,
    Request, RestrictedExpression,
};
use criterion::{Criterion, criterion_group, criterion_main};
use steward_permits::{Operation, PermitState, RevocationReason, Timestamp, authorize};
use steward_policy::{
    ActionClass, ActionClasses, CertificationStatus, Environment, Level, ListedOperation,
    PermitType, classify_action,
};
use steward_server::AuthzCache;
use steward_server::authz::{CachedPermit, CachedWorker};

/// SPEC §7 as Cedar: one `forbid` per deny rule of `steward_permits::authorize`, named by
/// the rule, and one `permit` for everything no rule forbids. A permit is the resource; a
/// request without one names `Permit::"none"` and sets `context.has_permit` to false.
/// Cedar matches strings exactly, so the cases below use one spelling per name (Steward
/// compares service, region and method names case-insensitively). Cedar has no tokenizer:
/// the request carries the action's classes as Steward's vocabulary finds them
/// (`classify_action`, also timed on Steward's side), and the permit the classes its
/// analysis contained plus `read`, which every permit covers. A listed operation matches
/// only actions of its own classes, which the permit's classes include, so the class test
/// decides alone.
const POLICIES: &[(&str, &str)] = &[
    (
        "certification_not_in_force",
        r#"forbid (principal, action, resource) when {
            ["suspended", "expired", "revoked"].contains(principal.status) };"#,
    ),
    (
        "non_union_outside_development",
        r#"forbid (principal, action, resource) when {
            principal.level == 0 && !["local", "development", "test"].contains(context.environment) };"#,
    ),
    (
        "staging_needs_certification",
        r#"forbid (principal, action, resource) when {
            context.environment == "staging" && principal.level < 1 };"#,
    ),
    (
        "read_only_level",
        r#"forbid (principal, action, resource) when {
            ["production", "unknown"].contains(context.environment)
            && principal.level == 1 && !context.read_only };"#,
    ),
    (
        "critical_needs_level_3",
        r#"forbid (principal, action, resource) when {
            ["production", "unknown"].contains(context.environment)
            && context.critical && principal.level < 3 };"#,
    ),
    (
        "sensitive_data_needs_level_3",
        r#"forbid (principal, action, resource) when {
            context.sensitive_data && principal.level < 3 };"#,
    ),
    (
        "permit_required",
        r#"forbid (principal, action, resource) when {
            ["production", "unknown"].contains(context.environment) && !context.has_permit };"#,
    ),
    (
        "rollback_required",
        r#"forbid (principal, action, resource) when {
            context.has_permit && resource.state == "revoked"
            && resource.revocation_reason == "constraint_breach" };"#,
    ),
    (
        "permit_not_active",
        r#"forbid (principal, action, resource) when {
            context.has_permit && !["active", "executing"].contains(resource.state) };"#,
    ),
    (
        "permit_of_another_worker",
        r#"forbid (principal, action, resource) when {
            context.has_permit && resource.worker != principal };"#,
    ),
    (
        "outside_window",
        r#"forbid (principal, action, resource) when {
            context.has_permit
            && (context.now < resource.valid_from || context.now >= resource.expires_at) };"#,
    ),
    (
        "scope_violation",
        r#"forbid (principal, action, resource) when {
            context.has_permit && !(
                resource.environment == context.environment
                && resource.allowed_classes.containsAll(context.action_classes)
                && (if context has service
                    then resource.allowed_services.contains(context.service)
                    else resource.allowed_services.isEmpty())
                && (if context has region
                    then resource.allowed_regions.contains(context.region)
                    else resource.allowed_regions.isEmpty())
                && !resource.forbidden_methods.contains(context.method)
                && (!resource.restricts_methods || resource.allowed_methods.contains(context.method))
            ) };"#,
    ),
    (
        "token_budget",
        r#"forbid (principal, action, resource) when {
            context.has_permit && resource.tokens_used + context.tokens > resource.token_budget };"#,
    ),
    (
        "allowed",
        r#"permit (principal, action == Action::"operate", resource);"#,
    ),
];

/// One decision's inputs, in a form both engines are built from.
#[derive(Debug, Clone)]
struct Case {
    worker: CachedWorker,
    permit: Option<CachedPermit>,
    tokens_used: u64,
    environment: Environment,
    action: &'static str,
    service: Option<&'static str>,
    region: Option<&'static str>,
    method: &'static str,
    read_only: bool,
    critical: bool,
    sensitive_data: bool,
    tokens: u64,
    now: Timestamp,
}

const NOW: Timestamp = Timestamp(1_800_000_000_000);
const HOUR_MS: i64 = 3_600_000;

fn worker(id: &str, level: u8, status: CertificationStatus) -> CachedWorker {
    CachedWorker {
        id: id.into(),
        owner_id: "owner".into(),
        principal_id: Some(format!("agent-{id}")),
        level: Level::new(level).expect("levels 0-4 exist"),
        status,
        version: 1,
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// The built-in policy, compiled once.
fn policy() -> &'static steward_policy::Policy {
    static POLICY: std::sync::OnceLock<steward_policy::Policy> = std::sync::OnceLock::new();
    POLICY.get_or_init(steward_policy::Policy::builtin)
}

fn listed(items: &[&str]) -> Vec<ListedOperation> {
    items
        .iter()
        .map(|op| ListedOperation::new(policy(), op))
        .collect()
}

fn permit(id: &str, worker_id: &str) -> CachedPermit {
    CachedPermit {
        id: id.into(),
        task_id: format!("task-{id}"),
        worker_id: worker_id.into(),
        permit_type: PermitType::StandardProduction,
        level: Level::STANDARD,
        state: PermitState::Active,
        revocation_reason: None,
        valid_from: Timestamp(NOW.0 - HOUR_MS),
        expires_at: Timestamp(NOW.0 + HOUR_MS),
        environment: Environment::Production,
        listed_operations: listed(&["deploy", "restart"]),
        allowed_classes: ActionClasses::of(&[ActionClass::Read, ActionClass::Change]),
        allowed_services: strings(&["api", "web"]),
        allowed_regions: strings(&["eu-west-1"]),
        allowed_methods: None,
        forbidden_methods: strings(&["DELETE"]),
        token_budget: 10_000,
        enhanced_audit: false,
        version: 3,
    }
}

/// The representative decision: a level-2 worker deploys `api` in production, `eu-west-1`,
/// under its active permit, spending 100 of 10 000 tokens. Allowed (and audited).
fn representative() -> Case {
    Case {
        worker: worker("w-rep", 2, CertificationStatus::Active),
        permit: Some(permit("p-rep", "w-rep")),
        tokens_used: 1_200,
        environment: Environment::Production,
        action: "deploy",
        service: Some("api"),
        region: Some("eu-west-1"),
        method: "POST",
        read_only: false,
        critical: false,
        sensitive_data: false,
        tokens: 100,
        now: NOW,
    }
}

/// A seeded xorshift, the same sequence on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// `n` cases that reach every rule: every level and status, every environment, permits
/// missing, ended, another worker's, out of window, out of scope in each dimension, and
/// over budget.
fn cases(n: usize) -> Vec<Case> {
    use CertificationStatus as S;
    use Environment as E;
    let mut rng = Rng(0x5eed_a170_2026);
    (0..n)
        .map(|i| {
            let id = format!("w{}", i % 50);
            let status = rng.pick(&[
                S::Active,
                S::Active,
                S::Active,
                S::Probationary,
                S::Suspended,
                S::Expired,
                S::Revoked,
            ]);
            let w = worker(&id, rng.below(5) as u8, status);
            let env = rng.pick(&[
                E::Local,
                E::Development,
                E::Test,
                E::Staging,
                E::Production,
                E::Production,
                E::Unknown,
            ]);
            let permit = rng.chance(75).then(|| {
                let owner = if rng.chance(90) {
                    id.clone()
                } else {
                    "w-other".to_owned()
                };
                let mut p = permit(&format!("p{i}"), &owner);
                p.environment = if rng.chance(85) {
                    env
                } else {
                    rng.pick(&[E::Staging, E::Production])
                };
                p.state = rng.pick(&[
                    PermitState::Active,
                    PermitState::Active,
                    PermitState::Executing,
                    PermitState::Executing,
                    PermitState::Approved,
                    PermitState::Completed,
                    PermitState::Revoked,
                ]);
                if p.state == PermitState::Revoked {
                    p.revocation_reason = Some(rng.pick(&[
                        RevocationReason::ConstraintBreach,
                        RevocationReason::ScopeExpansion,
                        RevocationReason::Manual,
                    ]));
                }
                if rng.chance(10) {
                    p.valid_from = Timestamp(NOW.0 + 1);
                }
                if rng.chance(10) {
                    p.expires_at = NOW;
                }
                if rng.chance(20) {
                    // No listed operation and no class: the permit covers reads only.
                    p.listed_operations.clear();
                    p.allowed_classes = ActionClasses::EMPTY;
                }
                if rng.chance(10) {
                    p.allowed_classes = p.allowed_classes.with(ActionClass::SchemaChange);
                }
                if rng.chance(20) {
                    p.allowed_services.clear();
                }
                if rng.chance(20) {
                    p.allowed_regions.clear();
                }
                if rng.chance(25) {
                    p.allowed_methods = Some(strings(&["GET", "POST"]));
                }
                p
            });
            Case {
                worker: w,
                permit,
                tokens_used: rng.pick(&[0, 5_000, 9_950, 10_000]),
                environment: env,
                action: rng.pick(&[
                    "deploy",
                    "deploy api --version 2.1",
                    "restart",
                    "DROP TABLE customers",
                    "ALTER TABLE users ADD COLUMN x int",
                    "kubectl get pods",
                ]),
                service: rng.pick(&[Some("api"), Some("api"), Some("web"), Some("billing"), None]),
                region: rng.pick(&[
                    Some("eu-west-1"),
                    Some("eu-west-1"),
                    Some("us-east-1"),
                    None,
                ]),
                method: rng.pick(&["GET", "POST", "POST", "PUT", "DELETE"]),
                read_only: rng.chance(30),
                critical: rng.chance(15),
                sensitive_data: rng.chance(15),
                tokens: rng.pick(&[0, 10, 100]),
                now: NOW,
            }
        })
        .collect()
}

/// Steward's decision for `case` from a warm cache, as the handler takes it after the
/// version read: look the entries up at the versions read, build the views, decide.
fn steward_decide(
    cache: &AuthzCache,
    case: &Case,
    worker_version: i64,
    permit_version: Option<(i64, u64)>,
) -> steward_permits::Verdict {
    let worker = cache
        .cached_worker(&case.worker.id, worker_version)
        .expect("the cache is warm");
    let permit = match (&case.permit, permit_version) {
        (Some(p), Some((version, used))) => Some((
            cache
                .cached_permit(&p.id, version)
                .expect("the cache is warm"),
            used,
        )),
        _ => None,
    };
    let action = classify_action(policy(), case.action);
    let op = Operation {
        environment: case.environment,
        action: &action,
        service: case.service,
        region: case.region,
        method: case.method,
        read_only: case.read_only,
        critical: case.critical,
        sensitive_data: case.sensitive_data,
        tokens: case.tokens,
    };
    authorize(
        worker.view(),
        &op,
        permit.as_ref().map(|(p, used)| p.view(*used)).as_ref(),
        &worker.id,
        case.now,
    )
}

fn warm(cache: &AuthzCache, case: &Case) {
    cache.put_worker(case.worker.clone());
    if let Some(p) = &case.permit {
        cache.put_permit(p.clone());
    }
}

fn long(v: impl TryInto<i64>) -> RestrictedExpression {
    RestrictedExpression::new_long(v.try_into().unwrap_or(i64::MAX))
}

fn string(s: &str) -> RestrictedExpression {
    RestrictedExpression::new_string(s.to_owned())
}

fn set(items: &[String]) -> RestrictedExpression {
    RestrictedExpression::new_set(items.iter().map(|s| string(s)))
}

fn class_set(classes: ActionClasses) -> RestrictedExpression {
    RestrictedExpression::new_set(classes.iter().map(|c| string(c.as_str())))
}

fn worker_uid(id: &str) -> EntityUid {
    EntityUid::from_str(&format!("Worker::{id:?}")).expect("a valid entity uid")
}

fn permit_uid(id: &str) -> EntityUid {
    EntityUid::from_str(&format!("Permit::{id:?}")).expect("a valid entity uid")
}

/// The Cedar entities for a case: the worker and, if any, the permit (with its tokens).
fn cedar_entities(case: &Case) -> Vec<Entity> {
    let w = &case.worker;
    let mut out = vec![
        Entity::new(
            worker_uid(&w.id),
            HashMap::from([
                ("level".to_owned(), long(w.level.value())),
                ("status".to_owned(), string(w.status.as_str())),
            ]),
            HashSet::new(),
        )
        .expect("valid worker attributes"),
    ];
    if let Some(p) = &case.permit {
        out.push(
            Entity::new(
                permit_uid(&p.id),
                HashMap::from([
                    (
                        "worker".to_owned(),
                        RestrictedExpression::new_entity_uid(worker_uid(&p.worker_id)),
                    ),
                    ("state".to_owned(), string(p.state.as_str())),
                    (
                        "revocation_reason".to_owned(),
                        string(p.revocation_reason.map_or("", |r| r.as_str())),
                    ),
                    ("valid_from".to_owned(), long(p.valid_from.0)),
                    ("expires_at".to_owned(), long(p.expires_at.0)),
                    ("environment".to_owned(), string(p.environment.as_str())),
                    (
                        "allowed_classes".to_owned(),
                        class_set(p.allowed_classes.with(ActionClass::Read)),
                    ),
                    ("allowed_services".to_owned(), set(&p.allowed_services)),
                    ("allowed_regions".to_owned(), set(&p.allowed_regions)),
                    (
                        "restricts_methods".to_owned(),
                        RestrictedExpression::new_bool(p.allowed_methods.is_some()),
                    ),
                    (
                        "allowed_methods".to_owned(),
                        set(p.allowed_methods.as_deref().unwrap_or_default()),
                    ),
                    ("forbidden_methods".to_owned(), set(&p.forbidden_methods)),
                    ("token_budget".to_owned(), long(p.token_budget)),
                    ("tokens_used".to_owned(), long(case.tokens_used)),
                ]),
                HashSet::new(),
            )
            .expect("valid permit attributes"),
        );
    }
    out
}

/// The Cedar request for a case: the operation is the context.
fn cedar_request(case: &Case) -> Request {
    let mut context = vec![
        ("environment".to_owned(), string(case.environment.as_str())),
        ("action".to_owned(), string(case.action)),
        (
            "action_classes".to_owned(),
            class_set(classify_action(policy(), case.action).classes()),
        ),
        ("method".to_owned(), string(case.method)),
        (
            "read_only".to_owned(),
            RestrictedExpression::new_bool(case.read_only),
        ),
        (
            "critical".to_owned(),
            RestrictedExpression::new_bool(case.critical),
        ),
        (
            "sensitive_data".to_owned(),
            RestrictedExpression::new_bool(case.sensitive_data),
        ),
        ("tokens".to_owned(), long(case.tokens)),
        ("now".to_owned(), long(case.now.0)),
        (
            "has_permit".to_owned(),
            RestrictedExpression::new_bool(case.permit.is_some()),
        ),
    ];
    if let Some(s) = case.service {
        context.push(("service".to_owned(), string(s)));
    }
    if let Some(r) = case.region {
        context.push(("region".to_owned(), string(r)));
    }
    let resource = case.permit.as_ref().map_or("none", |p| p.id.as_str());
    Request::new(
        worker_uid(&case.worker.id),
        EntityUid::from_str(r#"Action::"operate""#).expect("a valid entity uid"),
        permit_uid(resource),
        Context::from_pairs(context).expect("a valid context"),
        None,
    )
    .expect("a valid request")
}

fn cedar_policies() -> PolicySet {
    let mut set = PolicySet::new();
    for (id, text) in POLICIES {
        let policy = Policy::parse(Some(PolicyId::new(*id)), *text).expect("the policy parses");
        set.add(policy).expect("policy ids are unique");
    }
    set
}

/// Compares the engines on every case; returns the disagreements.
fn disagreements(cases: &[Case], policies: &PolicySet) -> Vec<String> {
    let authorizer = Authorizer::new();
    let cache = AuthzCache::default();
    let mut out = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        warm(&cache, case);
        let permit_version = case.permit.as_ref().map(|p| (p.version, case.tokens_used));
        let steward = steward_decide(&cache, case, case.worker.version, permit_version);
        let entities = Entities::from_entities(cedar_entities(case), None).expect("valid entities");
        let response = authorizer.is_authorized(&cedar_request(case), policies, &entities);
        let errors: Vec<String> = response
            .diagnostics()
            .errors()
            .map(ToString::to_string)
            .collect();
        let reasons: Vec<&str> = response
            .diagnostics()
            .reason()
            .map(PolicyId::as_ref)
            .collect();
        let allow = response.decision() == Decision::Allow;
        let agrees =
            errors.is_empty() && allow == steward.allow && reasons.contains(&steward.rule.as_str());
        if !agrees {
            out.push(format!(
                "case {i}: steward {} ({}), cedar {allow} {reasons:?} errors {errors:?}: {case:?}",
                steward.allow,
                steward.rule.as_str()
            ));
        }
    }
    out
}

fn authorize_benches(c: &mut Criterion) {
    let policies = cedar_policies();
    let all = cases(5_000);
    let problems = disagreements(&all, &policies);
    assert!(
        problems.is_empty(),
        "Cedar and Steward disagree on {} of {} cases:\n{}",
        problems.len(),
        all.len(),
        problems.join("\n")
    );
    let mut rules: Vec<&str> = Vec::new();
    let cache = AuthzCache::default();
    for case in &all {
        warm(&cache, case);
        let pv = case.permit.as_ref().map(|p| (p.version, case.tokens_used));
        let rule = steward_decide(&cache, case, case.worker.version, pv)
            .rule
            .as_str();
        if !rules.contains(&rule) {
            rules.push(rule);
        }
    }
    // `staging_needs_certification` (level 0 in staging) cannot decide: a level-0 worker
    // outside development is already refused by `non_union_outside_development`.
    let missing: Vec<&str> = POLICIES
        .iter()
        .map(|(id, _)| *id)
        .filter(|id| !rules.contains(id))
        .collect();
    assert_eq!(
        missing,
        ["staging_needs_certification"],
        "the cases must reach every rule that can decide"
    );

    // The representative decision, the cache warm with 10 000 other workers and permits
    // (as a busy instance's would be).
    let one = representative();
    assert!(disagreements(std::slice::from_ref(&one), &policies).is_empty());
    let cache = AuthzCache::default();
    for i in 0..10_000 {
        let id = format!("w-bg-{i}");
        cache.put_worker(worker(&id, 2, CertificationStatus::Active));
        cache.put_permit(permit(&format!("p-bg-{i}"), &id));
    }
    warm(&cache, &one);
    let pv = Some((3, one.tokens_used));
    let verdict = steward_decide(&cache, &one, 1, pv);
    assert!(
        verdict.allow && verdict.audit,
        "the representative case is an audited allow"
    );

    let authorizer = Authorizer::new();
    let entities = Entities::from_entities(cedar_entities(&one), None).expect("valid entities");
    let request = cedar_request(&one);

    let mut group = c.benchmark_group("authorize");
    group.bench_function("steward/cache_and_decide", |b| {
        b.iter(|| {
            black_box(steward_decide(
                &cache,
                black_box(&one),
                black_box(1),
                black_box(pv),
            ))
        });
    });
    group.bench_function("cedar/is_authorized", |b| {
        b.iter(|| black_box(authorizer.is_authorized(black_box(&request), &policies, &entities)));
    });
    group.bench_function("cedar/request_and_is_authorized", |b| {
        b.iter(|| {
            let request = cedar_request(black_box(&one));
            black_box(authorizer.is_authorized(&request, &policies, &entities))
        });
    });
    group.finish();
}

criterion_group!(benches, authorize_benches);
criterion_main!(benches);
