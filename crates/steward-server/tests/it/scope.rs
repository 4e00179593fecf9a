//! Issue 9, item 1: an empty scope is no wildcard. A level-2+ permit request names the
//! operations and services it covers (else 422 `missing_scope`), and authorize lets in an
//! action only when it matches a listed operation or is of a class the permit's analysis
//! contained; anything else is a scope violation that revokes the permit, audited, and the
//! answer names the action's class and the permit type it would need.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::attack::{Fingerprint, assert_refused, assert_unchanged};
use crate::authorize::{Cast, ask, cast, event, verdict};
use crate::support::{TestServer, server_test};

fn evidence() -> Value {
    json!({"rollback_plan": {"steps": ["rollback"], "verification": ["status"], "estimated_minutes": 5},
           "test_results": "ci/42", "code_review": "pr/7"})
}

/// The issue's task: deploy api v2.1 to production, a one-approver standard permit.
fn deploy_task() -> Value {
    json!({"id": "deploy-api-v2.1", "description": "deploy api v2.1 to production",
           "environment": "production", "operations": ["deploy api v2.1"],
           "services_affected": ["api"]})
}

/// Requests `task` for `c`'s worker and has it approved by one tech lead: active.
async fn active(s: &TestServer, c: &Cast, task: Value) -> String {
    let (status, p) = s
        .post(
            "/v1/permits",
            &c.master,
            json!({"task": task, "worker_id": c.worker_id, "evidence": evidence()}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(p["permit_type"], "standard_production", "{p}");
    assert_eq!(p["requirements"]["approvers_required"], 1, "{p}");
    let id = p["id"].as_str().expect("permit id").to_owned();
    let (status, p) = s
        .post(
            &format!("/v1/permits/{id}/approvals"),
            &c.approver,
            json!({"decision": "approve", "role": "tech_lead"}),
        )
        .await;
    assert_eq!(
        (status, p["state"].as_str()),
        (StatusCode::OK, Some("active")),
        "{p}"
    );
    id
}

fn action(c: &Cast, permit: &str, action: &str) -> Value {
    json!({"worker_id": c.worker_id, "environment": "production", "action": action,
           "service": "api", "method": "POST", "permit_id": permit})
}

server_test!(
    regression_issue_9_drop_table_under_a_deploy_permit_is_denied_and_revokes,
    |s| {
        let c = cast(s, "drop", 2, "active").await;
        let permit = active(s, &c, deploy_task()).await;
        let (_, p) = s.get(&format!("/v1/permits/{permit}"), &c.master).await;
        assert_eq!(
            p["constraints"]["allowed_classes"],
            json!(["read", "change"]),
            "{p}"
        );

        let body = ask(s, &c, action(&c, &permit, "DROP TABLE customers")).await;
        assert_eq!(verdict(&body), (false, "scope_violation"), "{body}");
        assert_eq!(body["revoked"], true, "{body}");
        assert_eq!(body["scope"], "operation", "{body}");
        assert_eq!(body["action_class"], "destructive", "{body}");
        assert_eq!(body["permit_type_needed"], "destructive", "{body}");

        // Audited: the decision, with the class and the permit type it would need.
        let (kind, data) = event(s, &body["audit_seq"]).await;
        assert_eq!(kind, "authorize.denied");
        assert_eq!(data["rule"], "scope_violation");
        assert_eq!(data["operation"]["action"], "DROP TABLE customers");
        assert_eq!(data["scope"]["action_class"], "destructive", "{data}");
        assert_eq!(
            data["scope"]["permit_type"], "standard_production",
            "{data}"
        );
        assert_eq!(data["scope"]["permit_type_needed"], "destructive", "{data}");

        // Revoked for scope expansion, with its own audit event.
        let (_, p) = s.get(&format!("/v1/permits/{permit}"), &c.master).await;
        assert_eq!(p["state"], "revoked", "{p}");
        assert_eq!(p["revocation_reason"], "scope_expansion", "{p}");
        let (kind, data) = event(s, &p["revocation"]["audit_seq"]).await;
        assert_eq!(kind, "permit.revoked");
        assert_eq!(data["reason"], "scope_expansion");
        assert_eq!(data["scope"]["action_class"], "destructive", "{data}");

        // And it stays refused.
        let body = ask(s, &c, action(&c, &permit, "deploy api v2.1")).await;
        assert_eq!(verdict(&body), (false, "permit_not_active"));
    }
);

/// A request refused for its scope writes nothing.
async fn assert_scope_refused(s: &TestServer, c: &Cast, task: Value, missing: Value) {
    let before = Fingerprint::of(s.store()).await;
    let (status, body) = s
        .post(
            "/v1/permits",
            &c.master,
            json!({"task": task, "worker_id": c.worker_id, "evidence": evidence()}),
        )
        .await;
    assert_refused(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("missing_scope"),
    );
    assert_eq!(body["missing"], missing, "{body}");
    let first = missing[0].as_str().expect("a field");
    assert_eq!(body["field"], format!("task.{first}"), "{body}");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains(&format!("`task.{first}`"))),
        "{body}"
    );
    assert_unchanged(&before, &Fingerprint::of(s.store()).await, "missing scope");
}

server_test!(
    a_level_2_task_without_services_is_refused_naming_services_affected,
    |s| {
        let c = cast(s, "nosvc", 2, "active").await;
        let mut task = deploy_task();
        task.as_object_mut()
            .expect("object")
            .remove("services_affected");
        assert_scope_refused(s, &c, task, json!(["services_affected"])).await;
        // A list of blanks names nothing either.
        let mut task = deploy_task();
        task["services_affected"] = json!(["  "]);
        assert_scope_refused(s, &c, task, json!(["services_affected"])).await;
    }
);

server_test!(
    a_level_2_task_without_operations_is_refused_naming_operations,
    |s| {
        let c = cast(s, "noops", 2, "active").await;
        let mut task = deploy_task();
        task.as_object_mut().expect("object").remove("operations");
        assert_scope_refused(s, &c, task, json!(["operations"])).await;
        let task = json!({"id": "bare", "description": "deploy api v2.1 to production",
                      "environment": "production"});
        assert_scope_refused(s, &c, task, json!(["operations", "services_affected"])).await;
    }
);

server_test!(what_agents_send_matches_a_listed_operation, |s| {
    let c = cast(s, "cmd", 2, "active").await;
    let permit = active(s, &c, deploy_task()).await;
    for text in [
        // A full command line whose verb and object match.
        "deploy api v2.1 --namespace prod --wait",
        // Case and whitespace.
        "DEPLOY   API   V2.1",
        "  Deploy api v2.1  ",
        // A read is in every permit's scope.
        "kubectl get pods -n prod",
    ] {
        let body = ask(s, &c, action(&c, &permit, text)).await;
        assert_eq!(verdict(&body), (true, "allowed"), "{text}: {body}");
        assert_eq!(body.get("revoked"), None, "{body}");
    }
    let (_, p) = s.get(&format!("/v1/permits/{permit}"), &c.master).await;
    assert_eq!(p["state"], "active", "{p}");
});

server_test!(an_action_of_an_unrelated_class_is_denied, |s| {
    for (name, text, class, needed) in [
        (
            "tf",
            "terraform apply -auto-approve",
            "infrastructure",
            "advanced_production",
        ),
        (
            "chain",
            "deploy api v2.1 && DROP TABLE x",
            "destructive",
            "destructive",
        ),
        (
            "kdel",
            "kubectl delete deployment api",
            "data_deletion",
            "advanced_production",
        ),
        (
            "fw",
            "update firewall rules for api",
            "security",
            "advanced_production",
        ),
    ] {
        let c = cast(s, name, 2, "active").await;
        let permit = active(s, &c, deploy_task()).await;
        let body = ask(s, &c, action(&c, &permit, text)).await;
        assert_eq!(verdict(&body), (false, "scope_violation"), "{text}: {body}");
        assert_eq!(
            (&body["action_class"], &body["permit_type_needed"]),
            (&json!(class), &json!(needed)),
            "{text}: {body}"
        );
        assert_eq!(body["revoked"], true, "{body}");
    }
});

server_test!(
    a_service_or_region_the_permit_does_not_list_is_out_of_scope,
    |s| {
        let c = cast(s, "svc", 2, "active").await;
        let permit = active(s, &c, deploy_task()).await;
        let mut op = action(&c, &permit, "deploy api v2.1");
        op["region"] = json!("eu-west-1");
        let body = ask(s, &c, op).await;
        assert_eq!(verdict(&body), (false, "scope_violation"), "{body}");
        assert_eq!(body["scope"], "region", "{body}");
    }
);
