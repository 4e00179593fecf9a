//! One constraints type: built from a task, stored as JSON compatible with what permits
//! carried before it, read back with its defaults.

use expect_test::{Expect, expect};
use serde_json::json;
use steward_policy::analyze;

use super::*;

fn built(task: serde_json::Value, level: u8, choices: ConstraintChoices) -> PermitConstraints {
    let policy = Policy::builtin();
    let task = Task::from_json_str(&task.to_string()).unwrap();
    let analysis = analyze(&task, &policy);
    PermitConstraints::for_task(
        &policy,
        &task,
        &analysis,
        "wk-1",
        Level::new(level).unwrap(),
        choices,
    )
}

#[track_caller]
fn check(c: &PermitConstraints, expect: Expect) {
    expect.assert_eq(&serde_json::to_string_pretty(c).unwrap());
}

#[test]
fn a_permits_constraints_come_from_its_task_and_the_choices() {
    let task = json!({"id": "deploy-api", "description": "deploy api", "environment": "production",
                      "operations": ["deploy"], "services_affected": ["api"], "regions": ["eu-west-1"],
                      "estimated_tokens": 1000});
    let choices = ConstraintChoices {
        allowed_methods: Some(vec!["GET".into(), "POST".into()]),
        forbidden_methods: vec!["DELETE".into()],
        triggers: TriggerConfig {
            error_rate_window_seconds: 30,
            ..TriggerConfig::default()
        },
    };
    check(
        &built(task, 2, choices),
        expect![[r#"
        {
          "worker_id": "wk-1",
          "environment": "production",
          "allowed_operations": [
            "deploy"
          ],
          "allowed_classes": [
            "read",
            "change"
          ],
          "allowed_services": [
            "api"
          ],
          "allowed_regions": [
            "eu-west-1"
          ],
          "allowed_methods": [
            "GET",
            "POST"
          ],
          "forbidden_methods": [
            "DELETE"
          ],
          "max_error_rate": 0.01,
          "max_latency_p99_ms": 500,
          "health_check_failure_limit": 3,
          "error_rate_window_seconds": 30,
          "latency_window_seconds": 300,
          "auto_rollback": true,
          "token_budget": 1000
        }"#]],
    );
}

#[test]
fn an_emergencys_constraints_are_the_defaults_marked() {
    let task = json!({"id": "hotfix", "description": "restart api", "environment": "production",
                      "operations": ["restart api"], "services_affected": ["api"]});
    let c = built(task, 3, ConstraintChoices::default()).for_emergency(EmergencyMark {
        emergency_id: "em-1".into(),
        incident_id: "INC-7".into(),
    });
    assert!(c.enhanced_audit && c.auto_rollback);
    assert_eq!(c.allowed_methods, None);
    assert_eq!(c.triggers(), TriggerConfig::default());
    let text = serde_json::to_string(&c).unwrap();
    for member in [
        r#""enhanced_audit":true"#,
        r#""emergency_id":"em-1""#,
        r#""incident_id":"INC-7""#,
        r#""allowed_methods":null"#,
    ] {
        assert!(text.contains(member), "{text}");
    }
    assert_eq!(PermitConstraints::from_stored(&text), c);
}

#[test]
fn the_token_budget_is_the_estimate_capped_by_the_extended_allocation() {
    let task = |tokens: Option<u64>| {
        let mut t = json!({"id": "logs", "description": "read production logs", "read_only": true,
                           "environment": "production"});
        if let Some(n) = tokens {
            t["estimated_tokens"] = json!(n);
        }
        t
    };
    let policy = Policy::builtin();
    let parsed = Task::from_json_str(&task(None).to_string()).unwrap();
    let limits = analyze(&parsed, &policy).resource_limits;
    let cap = limits
        .token_allocation_extended
        .unwrap_or(limits.token_allocation);
    let budget = |tokens| built(task(tokens), 1, ConstraintChoices::default()).token_budget;
    assert_eq!(budget(None), limits.token_allocation.min(cap));
    assert_eq!(budget(Some(10)), 10);
    assert_eq!(budget(Some(u64::MAX)), cap);
    assert!(!built(task(None), 1, ConstraintChoices::default()).auto_rollback);
}

#[test]
fn stored_constraints_read_with_their_defaults() {
    // What a permit requested before `allowed_classes` and the windows carried.
    let old = PermitConstraints::from_stored(
        r#"{"worker_id": "wk-1", "environment": "production", "allowed_operations": [],
            "allowed_services": [], "allowed_regions": [], "forbidden_methods": [],
            "token_budget": 1000}"#,
    );
    assert_eq!(old.environment, Some(Environment::Production));
    assert_eq!(old.allowed_classes, None);
    assert_eq!(old.allowed_methods, None);
    assert_eq!(old.token_budget, 1000);
    assert_eq!(old.triggers(), TriggerConfig::default());
    // Nothing stored, or something that is not constraints: no environment, so authorize
    // refuses the permit.
    for text in ["{}", r#"{"allowed_services": "api"}"#, "[]", "not json"] {
        let c = PermitConstraints::from_stored(text);
        assert_eq!(c.environment, None, "{text}");
        assert_eq!(c.triggers(), TriggerConfig::default(), "{text}");
    }
    // A stored threshold that cannot be one takes the default.
    let zero =
        PermitConstraints::from_stored(r#"{"max_error_rate": 0, "latency_window_seconds": 0}"#);
    assert_eq!(zero.triggers(), TriggerConfig::default());
}
