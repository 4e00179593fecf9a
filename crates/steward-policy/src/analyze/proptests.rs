//! Property tests of the risk model's invariants over generated tasks.

use proptest::prelude::*;

use crate::{
    ComplianceFramework, CustomerImpact, DataSensitivity, Environment, ImpactScope, Level, Policy,
    Reversibility, Task, WorkerType, analyze,
};

fn pick<T: Clone + std::fmt::Debug + 'static>(items: &'static [T]) -> impl Strategy<Value = T> {
    proptest::sample::select(items)
}

fn some_of(items: &'static [&'static str], max: usize) -> impl Strategy<Value = Vec<String>> {
    proptest::sample::subsequence(items, 0..=max.min(items.len()))
        .prop_map(|v| v.into_iter().map(str::to_owned).collect())
}

const OPERATIONS: &[&str] = &[
    "deploy",
    "restart",
    "kubectl get pods",
    "SELECT * FROM orders",
    "ALTER TABLE users ADD COLUMN x int",
    "DROP TABLE sessions",
    "DELETE FROM users WHERE id = 4",
    "terraform apply",
    "update firewall rules",
    "rm -rf /var/cache/app",
    "list buckets",
    "scale up",
];
/// The operations of `OPERATIONS` that are reads.
const READS: &[&str] = &["kubectl get pods", "SELECT * FROM orders", "list buckets"];
const DATA: &[&str] = &[
    "pii",
    "email",
    "test_data",
    "public",
    "internal",
    "credit card",
    "logs",
];
const SERVICES: &[&str] = &["api", "web", "billing", "search", "load balancer", "worker"];
const REGIONS: &[&str] = &["us-east-1", "eu-west-1", "ap-south-1"];
const DESCRIPTIONS: &[&str] = &[
    "fix typo",
    "deploy the new release to production",
    "backfill patient records",
    "rename the healthcheck tokenizer",
    "clean up staging caches",
    "investigate latency in prod",
    "add unit tests",
];

fn task() -> impl Strategy<Value = Task> {
    let env = proptest::option::of(pick(Environment::ALL));
    let text = (
        proptest::option::of(pick(DESCRIPTIONS)),
        some_of(OPERATIONS, 3),
        some_of(DATA, 2),
        proptest::option::of(pick(&[
            "main",
            "feature/x",
            "release/1.2",
            "dev",
            "hotfix/prod",
        ])),
        proptest::option::of(pick(&[
            "api.prod.example.com",
            "localhost",
            "stg-db-1",
            "box",
        ])),
    );
    let scope = (
        some_of(SERVICES, 4),
        some_of(REGIONS, 3),
        proptest::option::of(0u64..100_000),
        proptest::option::of(any::<bool>()),
        proptest::option::of(any::<bool>()),
        proptest::option::of(any::<bool>()),
    );
    let declared = (
        proptest::option::of(pick(Reversibility::ALL)),
        proptest::option::of(pick(DataSensitivity::ALL)),
        proptest::option::of(pick(ImpactScope::ALL)),
        proptest::option::of(pick(CustomerImpact::ALL)),
        proptest::sample::subsequence(ComplianceFramework::ALL, 0..=2),
    );
    (env, text, scope, declared).prop_map(
        |(environment, (description, ops, data, branch, host), scope, declared)| {
            let (services, regions, customers, read_only, customer_facing, critical) = scope;
            let (reversibility, data_sensitivity, impact_scope, customer_impact, frameworks) =
                declared;
            Task {
                id: Some("p".into()),
                description: description.map(str::to_owned),
                environment,
                git_branch: branch.map(str::to_owned),
                hostname: host.map(str::to_owned),
                operations: Some(ops),
                data_types: data,
                services_affected: services,
                regions,
                customers_affected: customers,
                read_only,
                customer_facing,
                critical,
                reversibility,
                data_sensitivity,
                impact_scope,
                customer_impact,
                compliance_frameworks: frameworks,
                ..Task::default()
            }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn total_is_the_sum_of_bounded_factors(t in task()) {
        let a = analyze(&t, &Policy::builtin());
        let r = &a.risk_assessment;
        prop_assert!(r.factors.iter().all(|f| f.points <= 10));
        prop_assert_eq!(r.factors.iter().map(|f| u32::from(f.points)).sum::<u32>(), u32::from(r.total_risk_score));
        prop_assert_eq!(
            r.environment_risk + r.reversibility_risk + r.data_sensitivity_risk + r.impact_scope_risk + r.customer_impact_risk,
            r.total_risk_score
        );
        prop_assert!(r.factors.iter().all(|f| !f.evidence.is_empty()));
    }

    #[test]
    fn non_union_iff_level_zero(t in task()) {
        let a = analyze(&t, &Policy::builtin());
        let d = &a.certification_decision;
        prop_assert_eq!(d.worker_type == WorkerType::NonUnion, d.certification_level_required == Level::NON_UNION);
        prop_assert_eq!(d.permit_required, a.approval_requirements.permit_type.is_some());
    }

    /// An oracle written independently of the engine: conditions read straight off the task.
    #[test]
    fn level_is_at_least_every_applicable_floor(t in task()) {
        let a = analyze(&t, &Policy::builtin());
        let level = a.level().value();
        let declared_prod = t.environment == Some(Environment::Production) || t.critical == Some(true);
        let ops = t.operations();
        let mut floor = 0u8;
        if t.data_types.iter().any(|d| d == "pii" || d == "email" || d == "credit card")
            || t.data_sensitivity == Some(DataSensitivity::Sensitive)
        {
            floor = floor.max(3);
        }
        for f in &t.compliance_frameworks {
            floor = floor.max(match f {
                ComplianceFramework::Soc2 => 2,
                ComplianceFramework::Sox => 4,
                _ => 3,
            });
        }
        if declared_prod {
            if ops.iter().any(|o| o.starts_with("ALTER") || o.starts_with("DROP") || o.starts_with("terraform") || o.contains("firewall") || o.starts_with("DELETE")) {
                floor = floor.max(3);
            }
            let regions: std::collections::BTreeSet<_> = t.regions.iter().collect();
            if regions.len() >= 2 || t.impact_scope == Some(ImpactScope::MultiRegion) {
                floor = floor.max(4);
            }
            if t.services_affected.len() >= 3 {
                floor = floor.max(3);
            }
            // Writing: declared so, any operation that is not a read, or no operation at
            // all without the read-only flag (a read-only task needs evidence of it).
            let writing = t.read_only == Some(false)
                || ops.iter().any(|o| !READS.contains(&o.as_str()))
                || (ops.is_empty() && t.read_only != Some(true));
            floor = floor.max(if writing { 2 } else { 1 });
        }
        prop_assert!(level >= floor, "level {level} below floor {floor}: {:#?}", a.certification_decision);
    }

    #[test]
    fn moving_to_production_never_lowers_the_level(t in task()) {
        let policy = Policy::builtin();
        let before = analyze(&t, &policy);
        let moved = Task { environment: Some(Environment::Production), ..t };
        let after = analyze(&moved, &policy);
        prop_assert!(after.level() >= before.level(), "{} -> {}", before.level(), after.level());
        prop_assert!(after.risk_assessment.total_risk_score >= before.risk_assessment.total_risk_score);
    }

    #[test]
    fn adding_sensitive_data_never_lowers_the_level(t in task(), kind in pick(&["pii", "patient records", "credit card numbers", "api keys"])) {
        let policy = Policy::builtin();
        let before = analyze(&t, &policy);
        let mut more = t.clone();
        more.data_types.push(kind.to_owned());
        let after = analyze(&more, &policy);
        prop_assert!(after.level() >= before.level());
        prop_assert!(after.level() >= Level::ADVANCED);
        prop_assert!(after.risk_assessment.total_risk_score >= before.risk_assessment.total_risk_score);
    }

    #[test]
    fn analysis_never_panics_on_arbitrary_text(desc in ".{0,200}", op in ".{0,80}", host in ".{0,40}") {
        let t = Task {
            description: Some(desc),
            operations: Some(vec![op]),
            hostname: Some(host),
            ..Task::default()
        };
        let a = analyze(&t, &Policy::builtin());
        prop_assert!(a.risk_assessment.total_risk_score <= 50);
    }
}
