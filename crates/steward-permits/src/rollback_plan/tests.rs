//! Rollback-plan validation: the four upstream example plans (verbatim from
//! `reference/upstream-rollback-plans.json`, `example_rollback_plans`) pass at their
//! levels; every rule refuses with the path of the field at fault.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use steward_policy::{Evidence, Level};

use super::*;

/// 2027-01-15, after every date used below except the future one.
const NOW: Timestamp = Timestamp(1_800_000_000_000);

fn examples() -> BTreeMap<String, Value> {
    serde_json::from_str(include_str!("upstream-examples.json")).expect("examples parse")
}

fn level(v: u8) -> Level {
    Level::new(v).unwrap()
}

fn evidence(
    plan: Value,
    tested: Option<Value>,
    rehearsed: Option<Value>,
) -> BTreeMap<Evidence, Value> {
    let mut e = BTreeMap::from([(Evidence::RollbackPlan, plan)]);
    if let Some(t) = tested {
        e.insert(Evidence::RollbackTested, t);
    }
    if let Some(r) = rehearsed {
        e.insert(Evidence::RollbackRehearsed, r);
    }
    e
}

fn problems(l: u8, e: &BTreeMap<Evidence, Value>) -> Vec<(String, String)> {
    validate_rollback_plan(level(l), e, NOW)
        .into_iter()
        .map(|p| (p.path, p.message))
        .collect()
}

fn paths(l: u8, e: &BTreeMap<Evidence, Value>) -> Vec<String> {
    problems(l, e).into_iter().map(|p| p.0).collect()
}

#[test]
fn the_upstream_examples_pass_at_their_levels() {
    let all = examples();
    assert_eq!(all.len(), 4);
    for (name, plan) in all {
        let declared = plan["certification_level"].as_u64().unwrap() as u8;
        let e = evidence(
            plan,
            Some(json!("2026-12-01")),
            Some(json!("2026-12-02T10:00:00Z")),
        );
        assert_eq!(problems(declared, &e), vec![], "{name} at level {declared}");
    }
}

#[test]
fn level_3_examples_pass_at_level_4_only_when_they_fit_its_sla() {
    let all = examples();
    let e = |name: &str| {
        evidence(
            all[name].clone(),
            Some(json!("2026-12-01")),
            Some(json!("2026-12-02")),
        )
    };
    // Database migration: 6 min ≤ 10 min, but written for level 3.
    assert_eq!(
        problems(4, &e("database_migration")),
        vec![(
            "evidence.rollback_plan.certification_level".to_owned(),
            "the plan is written for level 3; this permit needs level 4".to_owned()
        )]
    );
    // Terraform: "8-12 minutes" is over level 4's 10-minute SLA.
    let terraform = problems(4, &e("terraform_infrastructure"));
    assert!(
        terraform.contains(&(
            "evidence.rollback_plan.total_time_estimate".to_owned(),
            "the rollback is estimated at 12 min, over the level-4 rollback SLA of 10 min"
                .to_owned()
        )),
        "{terraform:?}"
    );
}

#[test]
fn below_level_2_nothing_is_required() {
    assert_eq!(problems(1, &BTreeMap::new()), vec![]);
    assert_eq!(
        problems(0, &evidence(json!("anything"), None, None)),
        vec![]
    );
}

#[test]
fn a_missing_or_shapeless_plan_is_refused() {
    assert_eq!(
        problems(2, &BTreeMap::new()),
        vec![(
            "evidence.rollback_plan".to_owned(),
            "a level-2 permit needs a rollback plan".to_owned()
        )]
    );
    assert_eq!(
        paths(2, &evidence(json!("kubectl rollout undo"), None, None)),
        ["evidence.rollback_plan"]
    );
}

#[test]
fn an_empty_plan_names_every_missing_part() {
    assert_eq!(
        paths(2, &evidence(json!({}), None, None)),
        [
            "evidence.rollback_plan.steps",
            "evidence.rollback_plan.verification",
            "evidence.rollback_plan.estimated_minutes",
        ]
    );
}

#[test]
fn steps_are_checked_one_by_one() {
    let plan = json!({
        "phases": [
            {"phase": "undo", "command": "kubectl rollout undo", "time_estimate_seconds": 60},
            {"phase": "nothing", "command": "  "},
            {"phase": "verify", "command": "curl /health", "time_estimate_seconds": -5},
            7,
        ],
    });
    assert_eq!(
        paths(2, &evidence(plan, None, None)),
        [
            "evidence.rollback_plan.phases[1].command",
            "evidence.rollback_plan.phases[2].time_estimate_seconds",
            "evidence.rollback_plan.phases[3]",
        ]
    );
    assert_eq!(
        paths(
            2,
            &evidence(
                json!({"steps": [], "verification": ["x"], "estimated_minutes": 1}),
                None,
                None
            )
        ),
        ["evidence.rollback_plan.steps"]
    );
}

#[test]
fn a_plain_plan_with_steps_checks_and_minutes_passes() {
    let plan = json!({"steps": ["kubectl rollout undo deploy/api"], "verification": ["curl /health"], "estimated_minutes": 5});
    assert_eq!(problems(2, &evidence(plan.clone(), None, None)), vec![]);
    // The full upstream schema's sections count too.
    let full = json!({
        "rollback_procedure": {"phases": [{"phase": "undo", "command": "helm rollback api"}]},
        "verification_procedure": {"automated_checks": ["verify_service_health"]},
        "total_time_estimate_minutes": 4,
    });
    assert_eq!(problems(2, &evidence(full, None, None)), vec![]);
}

#[test]
fn the_estimate_must_fit_the_level_sla() {
    let plan = |minutes: f64| json!({"steps": ["undo"], "verification": ["check"], "estimated_minutes": minutes});
    let tested = Some(json!("2026-12-01"));
    assert_eq!(problems(2, &evidence(plan(30.0), None, None)), vec![]);
    assert_eq!(
        paths(2, &evidence(plan(31.0), None, None)),
        ["evidence.rollback_plan.estimated_minutes"]
    );
    assert_eq!(
        problems(3, &evidence(plan(15.0), tested.clone(), None)),
        vec![]
    );
    assert_eq!(
        paths(3, &evidence(plan(16.0), tested, None)),
        ["evidence.rollback_plan.estimated_minutes"]
    );
    // The phases' sum counts when it is larger than the stated total.
    let long = json!({"phases": [{"phase": "restore", "command": "pg_restore", "time_estimate_seconds": 1900}, {"phase": "verify", "command": "q"}], "estimated_minutes": 5});
    assert_eq!(
        problems(2, &evidence(long, None, None)),
        vec![(
            "evidence.rollback_plan.phases".to_owned(),
            "the rollback is estimated at 31.7 min, over the level-2 rollback SLA of 30 min"
                .to_owned()
        )]
    );
    assert_eq!(
        paths(
            2,
            &evidence(
                json!({"steps": ["a"], "verification": ["b"], "total_time_estimate": "soon"}),
                None,
                None
            )
        ),
        ["evidence.rollback_plan.total_time_estimate"]
    );
    assert_eq!(
        paths(
            2,
            &evidence(
                json!({"steps": ["a"], "verification": ["b"], "estimated_minutes": "5"}),
                None,
                None
            )
        ),
        ["evidence.rollback_plan.estimated_minutes"]
    );
}

#[test]
fn declared_level_and_automation_are_checked() {
    let plan = |extra: Value| {
        let mut p = json!({"steps": ["undo"], "verification": ["check"], "estimated_minutes": 5});
        p.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        p
    };
    assert_eq!(
        paths(
            2,
            &evidence(plan(json!({"certification_level": 7})), None, None)
        ),
        ["evidence.rollback_plan.certification_level"]
    );
    assert_eq!(
        paths(
            2,
            &evidence(plan(json!({"automation_level": "manual"})), None, None)
        ),
        ["evidence.rollback_plan.automation_level"]
    );
    assert_eq!(
        paths(
            2,
            &evidence(plan(json!({"automation_level": "magic"})), None, None)
        ),
        ["evidence.rollback_plan.automation_level"]
    );
    let dates = (Some(json!("2026-01-01")), Some(json!("2026-01-02")));
    assert_eq!(
        problems(
            4,
            &evidence(
                plan(json!({"automation_level": "manual", "certification_level": 4})),
                dates.0,
                dates.1
            )
        ),
        vec![]
    );
}

#[test]
fn level_3_needs_a_past_tested_date_and_level_4_a_rehearsal() {
    let plan = json!({"steps": ["undo"], "verification": ["check"], "estimated_minutes": 5});
    assert_eq!(
        problems(3, &evidence(plan.clone(), None, None)),
        vec![(
            "evidence.rollback_tested".to_owned(),
            "a level-3 permit needs the date the rollback was tested (`YYYY-MM-DD`)".to_owned()
        )]
    );
    assert_eq!(
        problems(3, &evidence(plan.clone(), Some(json!("yesterday")), None)),
        vec![(
            "evidence.rollback_tested".to_owned(),
            "`yesterday` is not a date (`YYYY-MM-DD`)".to_owned()
        )]
    );
    assert_eq!(
        problems(3, &evidence(plan.clone(), Some(json!("2027-02-30")), None)),
        vec![(
            "evidence.rollback_tested".to_owned(),
            "`2027-02-30` is not a date (`YYYY-MM-DD`)".to_owned()
        )]
    );
    assert_eq!(
        problems(
            3,
            &evidence(plan.clone(), Some(json!({"date": "2027-06-01"})), None)
        ),
        vec![(
            "evidence.rollback_tested.date".to_owned(),
            "`2027-06-01` is in the future".to_owned()
        )]
    );
    assert_eq!(
        problems(
            3,
            &evidence(
                plan.clone(),
                Some(json!({"date": "2026-06-01", "by": "sre"})),
                None
            )
        ),
        vec![]
    );
    assert_eq!(
        paths(4, &evidence(plan.clone(), Some(json!("2026-06-01")), None)),
        ["evidence.rollback_rehearsed"]
    );
    assert_eq!(
        problems(
            4,
            &evidence(plan, Some(json!("2026-06-01")), Some(json!("2026-06-02")))
        ),
        vec![]
    );
}

#[test]
fn dates_and_durations_parse() {
    assert_eq!(parse_date("1970-01-01"), Some(Timestamp(0)));
    assert_eq!(
        parse_date("2027-01-15T08:00:00Z"),
        Some(Timestamp(
            1_800_000_000_000 - 1_800_000_000_000 % 86_400_000
        ))
    );
    assert_eq!(parse_date("2024-02-29"), Some(Timestamp(1_709_164_800_000)));
    assert_eq!(parse_date("2023-02-29"), None);
    assert_eq!(parse_date("2023-13-01"), None);
    assert_eq!(parse_date("2023-1-01x"), None);
    assert_eq!(parse_date("2023-01-01x"), None);
    assert_eq!(parse_duration_minutes("3-5 minutes"), Some(5.0));
    assert_eq!(parse_duration_minutes("30-60 seconds"), Some(1.0));
    assert_eq!(parse_duration_minutes("2 min"), Some(2.0));
    assert_eq!(parse_duration_minutes("1 hour"), Some(60.0));
    assert_eq!(parse_duration_minutes("fast"), None);
    assert_eq!(parse_duration_minutes("5 fortnights"), None);
}
