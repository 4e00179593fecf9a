//! The API's edges: health, OpenAPI, authentication, problem+json, bad bodies.

use reqwest::{Method, StatusCode};
use serde_json::json;
use steward_policy::Role;

use crate::support::server_test;

server_test!(healthz_and_openapi_answer_without_a_token, |s| {
    let (status, body) = s.request(Method::GET, "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    let (status, doc) = s.request(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{doc}");
    assert!(doc["paths"]["/v1/analyze"]["post"].is_object());
});

// The router and the document come from one registration: every documented operation
// is routed (answered by its handler, not the router's fallbacks), and what the server
// serves at /openapi.json is that document.
server_test!(every_documented_operation_is_routed_and_served, |s| {
    let document = serde_json::to_value(steward_server::openapi_document()).expect("json");
    let (status, served) = s.request(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(served, document);
    let paths = document["paths"].as_object().expect("paths");
    let mut operations = 0;
    for (path, item) in paths {
        // Every path parameter as a value no handler accepts as an existing row.
        let concrete = path
            .split('/')
            .map(|part| if part.starts_with('{') { "1" } else { part })
            .collect::<Vec<_>>()
            .join("/");
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            operations += 1;
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let (status, body) = s.request(method.clone(), &concrete, None, None).await;
            let fallback = body["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("no route for") || d.contains("is not allowed on"));
            assert!(
                !fallback && status != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is documented but not routed: {status} {body}"
            );
        }
    }
    assert!(operations >= 70, "{operations} operations documented");
});

server_test!(auth_failures_are_401_problems, |s| {
    let task = json!({"id": "t", "environment": "development", "description": "x"});
    // none
    let (status, body) = s
        .request(Method::POST, "/v1/analyze", None, Some(&task))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["type"], "urn:steward:problem:unauthorized");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("missing `Authorization")
    );
    // malformed
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/analyze", s.url))
        .header("authorization", "Basic abc")
        .json(&task)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        resp.headers()["www-authenticate"],
        "Bearer realm=\"steward\""
    );
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    // unknown
    let (status, _) = s
        .post("/v1/analyze", "stw_not-a-real-token", task.clone())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // valid
    let (status, body) = s.post("/v1/analyze", &s.admin, task).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["certification_decision"]["worker_type"], "non-union");
});

server_test!(expired_and_revoked_tokens_are_refused, |s| {
    let (id, secret) = s.human("eve", &[Role::Auditor]).await;
    let (status, _) = s.post("/v1/analyze", &secret, json!({"id": "t"})).await;
    assert_eq!(status, StatusCode::OK);
    let tokens = s.store().list_tokens(&id).await.unwrap();
    s.store()
        .revoke_token(&crate::support::seeder(), &tokens[0].id)
        .await
        .unwrap();
    let (status, body) = s.post("/v1/analyze", &secret, json!({"id": "t"})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    let (pid, _) = s.human("old", &[Role::Auditor]).await;
    let (secret, secret_hash) = steward_store::token::generate();
    s.store()
        .create_token(
            &crate::support::seeder(),
            steward_store::NewToken {
                principal_id: pid,
                label: "expired".into(),
                expires_at_ms: Some(1),
                secret_hash,
            },
        )
        .await
        .unwrap();
    let (status, _) = s.post("/v1/analyze", &secret, json!({"id": "t"})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
});

server_test!(bad_bodies_are_4xx_problems_naming_the_field, |s| {
    let (status, body) = s
        .post("/v1/analyze", &s.admin, json!({"id": "t", "regions": "eu"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "regions");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("`regions`: invalid type"),
        "{body}"
    );

    let (status, body, ctype) = s
        .post_raw(
            "/v1/analyze",
            &s.admin,
            "application/json",
            b"{\"id\": ".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(ctype.as_deref(), Some("application/problem+json"));
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("malformed JSON")
    );

    let (status, body, _) = s
        .post_raw(
            "/v1/analyze",
            &s.admin,
            "application/json",
            b"{\"id\":\"\xff\"}".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["detail"].as_str().unwrap().contains("not valid UTF-8"));

    let (status, _, _) = s
        .post_raw("/v1/analyze", &s.admin, "text/plain", b"{}".to_vec())
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let big = format!(
        "{{\"id\":\"t\",\"description\":\"{}\"}}",
        "a".repeat(300 * 1024)
    );
    let before = s.audit_len().await;
    let (status, body, _) = s
        .post_raw(
            "/v1/analyze",
            &s.admin,
            "application/json",
            big.into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(s.audit_len().await, before, "nothing written");

    let (status, body) = s.get("/v1/nope", &s.admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["detail"], "no route for `GET /v1/nope`");
});

server_test!(every_analysis_served_is_audited, |s| {
    let before = s.audit_len().await;
    let task = json!({"id": "audited", "environment": "production", "operations": ["deploy"]});
    let (status, body) = s.post("/v1/analyze", &s.admin, task).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(s.audit_len().await, before + 1);
    let events = s.store().events(before + 1, 1).await.unwrap();
    assert_eq!(events[0].event_type, "task.analyzed");
    assert_eq!(events[0].subject.task_id.as_deref(), Some("audited"));
    assert_eq!(events[0].level, Some(2));
    assert_eq!(
        events[0].data["total_risk_score"],
        body["risk_assessment"]["total_risk_score"]
    );
    // A refused task writes nothing.
    let (status, _) = s
        .post("/v1/analyze", &s.admin, json!({"id": "x", "regions": 1}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(s.audit_len().await, before + 1);
});

server_test!(
    the_analysis_is_the_policys_answer_documented_field_by_field,
    |s| {
        // Issue 10, item 4: the server answers with its own type, and that type keeps the
        // contract (SPEC §3.5) member for member.
        let task = json!({
            "id": "pii-migration", "description": "migrate the customers table",
            "environment": "production", "operations": ["migration", "delete"],
            "services_affected": ["billing", "checkout"], "regions": ["eu-west-1", "us-east-1"],
            "data_types": ["pii"], "compliance_frameworks": ["GDPR"], "customer_facing": true,
        });
        let (status, body) = s.post("/v1/analyze", &s.admin, task.clone()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let parsed = steward_policy::Task::from_json_str(&task.to_string()).expect("a task");
        let expected = steward_policy::analyze(&parsed, &steward_policy::Policy::builtin());
        assert_eq!(body, serde_json::to_value(&expected).expect("json"));
        assert!(
            !body["certification_decision"]["floors_applied"]
                .as_array()
                .expect("floors")
                .is_empty(),
            "{body}"
        );
        let (_, doc) = s.get("/openapi.json", &s.admin).await;
        crate::reports::assert_documented(
            &doc,
            &body,
            &json!({"$ref": "#/components/schemas/AnalysisView"}),
            "analysis",
        );
    }
);

server_test!(hook_answers_are_documented_field_by_field, |s| {
    // Issue 10, item 4: the hook's answers in Claude Code's shape are the server's own
    // type, documented.
    let (owner_id, _) = s.human("hook-owner", &[Role::EngineeringManager]).await;
    let (status, worker) = s
        .post(
            "/v1/workers",
            &s.admin,
            json!({"display_name": "coder", "owner_id": owner_id, "domains": []}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{worker}");
    let id = worker["id"].as_str().expect("id");
    let (_, doc) = s.get("/openapi.json", &s.admin).await;
    let view = json!({"$ref": "#/components/schemas/HookOutput"});
    for (event, tool, input) in [
        ("PreToolUse", "Read", json!({"file_path": "README.md"})),
        (
            "PreToolUse",
            "Bash",
            json!({"command": "kubectl delete ns prod"}),
        ),
        (
            "PermissionRequest",
            "Read",
            json!({"file_path": "README.md"}),
        ),
        ("PostToolUse", "Read", json!({"file_path": "README.md"})),
    ] {
        let (status, answer) = s
            .post(
                &format!("/v1/hooks/claude-code?worker_id={id}"),
                &s.admin,
                json!({"hook_event_name": event, "session_id": "s1", "tool_name": tool,
                       "tool_input": input}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{event} {tool}: {answer}");
        assert!(answer.is_object(), "{answer}");
        crate::reports::assert_documented(&doc, &answer, &view, event);
        if event == "PreToolUse" {
            let decision = &answer["hookSpecificOutput"]["permissionDecision"];
            assert!(decision.is_string(), "{answer}");
        }
    }
});

server_test!(audit_event_pages_are_documented_field_by_field, |s| {
    // Issue 10, item 4: the export form of an event is documented, not a bare object.
    s.human("page-reader", &[Role::Auditor]).await;
    let (status, page) = s.get("/v1/audit/events?limit=50", &s.admin).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let items = page["items"].as_array().expect("items");
    assert!(!items.is_empty(), "{page}");
    let (_, doc) = s.get("/openapi.json", &s.admin).await;
    crate::reports::assert_documented(
        &doc,
        &page,
        &json!({"$ref": "#/components/schemas/EventPage"}),
        "page",
    );
    let entry = &doc["components"]["schemas"]["AuditEntry"];
    for member in [
        "seq",
        "type",
        "actor",
        "subject",
        "data",
        "prev_hash",
        "hash",
    ] {
        assert!(entry["properties"][member].is_object(), "{member}: {entry}");
    }
});
