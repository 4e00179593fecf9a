//! Strict input everywhere (issue 9, item 8): a duplicate key at any depth of any body
//! (inside `task`, `evidence`, a report, conditions, an analysis request, inside arrays of
//! objects) is 400 `duplicate_key` naming the key and its JSON path; a body that is not a
//! JSON object is 400 `body_not_object`; every 4xx — unknown route, wrong method, bad
//! query string, bad path parameter, wrong content type, too large, no token — is
//! problem+json with a `rule`; the `Authorization` scheme is case-insensitive.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use steward_policy::Role;
use steward_store::PrincipalKind;

use super::duties::{evidence, insert_worker};
use super::{Fingerprint, assert_refused, assert_unchanged};
use crate::support::{TestServer, server_test};

/// A raw request: the status, the content type, the `Allow` header and the body as JSON
/// (`Null` when it is not JSON).
async fn raw(
    s: &TestServer,
    method: Method,
    path: &str,
    authorization: Option<&str>,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Option<String>, Option<String>, Value) {
    let mut req = reqwest::Client::new().request(method, format!("{}{path}", s.url));
    if let Some(authorization) = authorization {
        req = req.header("authorization", authorization);
    }
    if let Some(content_type) = content_type {
        req = req.header("content-type", content_type);
    }
    let resp = req.body(body).send().await.expect("request sent");
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (ctype, allow) = (header("content-type"), header("allow"));
    let status = resp.status();
    let bytes = resp.bytes().await.expect("body");
    (
        status,
        ctype,
        allow,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

server_test!(
    attack_input_duplicate_keys_at_any_depth_write_nothing,
    |s| {
        let (master_id, master) = s
            .principal("master", PrincipalKind::Agent, &[Role::Master])
            .await;
        let (agent_id, agent) = s
            .principal("agent", PrincipalKind::Agent, &[Role::Worker])
            .await;
        let (_, lead) = s.human("lead", &[Role::TechLead]).await;
        insert_worker(s, "wk-dup", &master_id, &agent_id, 2).await;
        let (status, permit) = s
        .post(
            "/v1/permits",
            &master,
            json!({"task": {"id": "deploy-api", "environment": "production", "operations": ["deploy"],
                            "services_affected": ["api"]},
                   "worker_id": "wk-dup", "evidence": evidence()}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{permit}");
        let permit = permit["id"].as_str().expect("id").to_owned();

        let task = r#"{"id":"deploy-api","environment":"production","operations":["deploy"],"services_affected":["api"]}"#;
        // (what, token, path, body, JSON path of the repeated key, the key)
        let cases: Vec<(&str, &str, String, String, &str, &str)> = vec![
        ("a repeated top-level member", &s.admin, "/v1/principals".into(),
         r#"{"kind":"human","name":"x","roles":[],"name":"y"}"#.into(), "name", "name"),
        ("a repeated task field in an analysis", &s.admin, "/v1/analyze".into(),
         r#"{"id":"t","environment":"development","environment":"production"}"#.into(),
         "environment", "environment"),
        ("a repeated environment variable in an analysis", &s.admin, "/v1/analyze".into(),
         r#"{"id":"t","environment_variables":{"ENV":"dev","ENV":"production"}}"#.into(),
         "environment_variables.ENV", "ENV"),
        ("a repeated task field inside a permit request", &master, "/v1/permits".into(),
         format!(r#"{{"task":{{"id":"t","operations":["read"],"operations":["drop table"]}},"worker_id":"wk-dup","evidence":{}}}"#,
                 evidence()), "task.operations", "operations"),
        ("a repeated key deep in the evidence", &master, "/v1/permits".into(),
         format!(r#"{{"task":{task},"worker_id":"wk-dup","evidence":{{"rollback_plan":{{"steps":["a"],"verification":["b"],"estimated_minutes":5,"estimated_minutes":500}}}}}}"#),
         "evidence.rollback_plan.estimated_minutes", "estimated_minutes"),
        ("a repeated key in an object inside an array", &master, "/v1/permits".into(),
         format!(r#"{{"task":{task},"worker_id":"wk-dup","evidence":{{"test_results":[{{"suite":"a","passed":true,"passed":false}}]}}}}"#),
         "evidence.test_results[0].passed", "passed"),
        ("a repeated key in approval conditions", &lead, format!("/v1/permits/{permit}/approvals"),
         r#"{"decision":"approve","role":"tech_lead","conditions":{"window":{"from":"a","from":"b"}}}"#.into(),
         "conditions.window.from", "from"),
        ("a repeated key in a completion report", &agent, format!("/v1/permits/{permit}/complete"),
         r#"{"outcome":"success","report":{"changes":[{"file":"a"},{"file":"b","file":"c"}]}}"#.into(),
         "report.changes[1].file", "file"),
        ("a repeated key in an authorize request", &agent, "/v1/authorize".into(),
         r#"{"worker_id":"wk-dup","environment":"development","action":"build","method":"GET","action":"drop"}"#.into(),
         "action", "action"),
        ("a repeated key in an emergency scope", &master, "/v1/emergencies".into(),
         r#"{"incident_id":"INC-1","worker_id":"wk-dup","scope":{"id":"t","services_affected":["a"],"services_affected":["b"]},"reason":"r","minutes":30}"#.into(),
         "scope.services_affected", "services_affected"),
    ];
        let before = Fingerprint::of(s.store()).await;
        for (what, token, path, body, field, key) in cases {
            let (got, problem, ctype) = s
                .post_raw(&path, token, "application/json", body.into_bytes())
                .await;
            assert_eq!(ctype.as_deref(), Some("application/problem+json"), "{what}");
            assert_refused(
                got,
                &problem,
                StatusCode::BAD_REQUEST,
                Some("duplicate_key"),
            );
            assert_eq!(problem["field"], field, "{what}: {problem}");
            assert_eq!(problem["key"], key, "{what}: {problem}");
            let detail = problem["detail"].as_str().expect("detail");
            assert!(
                detail.contains(&format!("duplicate key `{key}`")),
                "{what}: {detail}"
            );
            assert_unchanged(&before, &Fingerprint::of(s.store()).await, what);
        }
    }
);

server_test!(
    attack_input_bodies_that_are_not_objects_write_nothing,
    |s| {
        let (_, master) = s
            .principal("master", PrincipalKind::Agent, &[Role::Master])
            .await;
        // serde reads a JSON array positionally into a struct: `["human","x",[]]` would have
        // been a principal.
        let cases: Vec<(&str, &str, &[u8], &str)> = vec![
            (
                "/v1/principals",
                &s.admin,
                br#"["human","x",[]]"#,
                "an array",
            ),
            ("/v1/tokens", &s.admin, br#"["label"]"#, "an array"),
            ("/v1/analyze", &s.admin, br#"[{"id":"t"}]"#, "an array"),
            (
                "/v1/permits",
                &master,
                br#"[{"id":"t"},"wk",{}]"#,
                "an array",
            ),
            ("/v1/workers", &master, br#""deploy-bot""#, "a string"),
            ("/v1/authorize", &master, b"42", "a number"),
            ("/v1/audit/holds", &s.admin, b"null", "null"),
        ];
        let before = Fingerprint::of(s.store()).await;
        for (path, token, body, kind) in cases {
            let (got, problem, ctype) = s
                .post_raw(path, token, "application/json", body.to_vec())
                .await;
            assert_eq!(ctype.as_deref(), Some("application/problem+json"), "{path}");
            assert_refused(
                got,
                &problem,
                StatusCode::BAD_REQUEST,
                Some("body_not_object"),
            );
            let detail = problem["detail"].as_str().expect("detail");
            assert!(detail.contains(&format!("got {kind}")), "{path}: {detail}");
            assert_unchanged(&before, &Fingerprint::of(s.store()).await, path);
        }
    }
);

/// A request and the refusal expected: what it is, method, path, `Authorization`, content
/// type, body, status, rule.
type RequestCase<'a> = (
    &'a str,
    Method,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    Vec<u8>,
    StatusCode,
    &'a str,
);

server_test!(attack_input_every_4xx_is_problem_json_with_a_rule, |s| {
    let admin = format!("Bearer {}", s.admin);
    let json_ct = Some("application/json");
    let big = format!("{{\"label\":\"{}\"}}", "a".repeat(300 * 1024)).into_bytes();
    // (what, method, path, authorization, content type, body, status, rule)
    let cases: Vec<RequestCase<'_>> = vec![
        (
            "an unknown route",
            Method::GET,
            "/v1/nope",
            Some(&admin),
            None,
            vec![],
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "an unknown route outside /v1",
            Method::POST,
            "/admin",
            None,
            json_ct,
            b"{}".to_vec(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "a wrong method",
            Method::PUT,
            "/v1/permits",
            Some(&admin),
            json_ct,
            b"{}".to_vec(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            "a wrong method, no token",
            Method::DELETE,
            "/v1/analyze",
            None,
            None,
            vec![],
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            "a limit that is not a number",
            Method::GET,
            "/v1/permits?limit=abc",
            Some(&admin),
            None,
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "an unknown query parameter",
            Method::GET,
            "/v1/permits?owner=me",
            Some(&admin),
            None,
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "a repeated query parameter",
            Method::GET,
            "/v1/rollbacks?limit=1&limit=2",
            Some(&admin),
            None,
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "a boolean that is not one",
            Method::GET,
            "/v1/emergencies?overdue=maybe",
            Some(&admin),
            None,
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "a bad limit on workers",
            Method::GET,
            "/v1/workers?limit=-1",
            Some(&admin),
            None,
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "a path parameter that is not UTF-8",
            Method::GET,
            "/v1/permits/%FF%FE",
            Some(&admin),
            None,
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_path_parameter",
        ),
        (
            "a pair of path parameters that is not UTF-8",
            Method::POST,
            "/v1/workers/w/tokens/%C3%28/revoke",
            Some(&admin),
            json_ct,
            b"{}".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_path_parameter",
        ),
        (
            "a permit that does not exist",
            Method::GET,
            "/v1/permits/no-such-permit",
            Some(&admin),
            None,
            vec![],
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "the wrong content type",
            Method::POST,
            "/v1/tokens",
            Some(&admin),
            Some("text/plain"),
            br#"{"label":"x"}"#.to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "json_required",
        ),
        (
            "no content type",
            Method::POST,
            "/v1/tokens",
            Some(&admin),
            None,
            br#"{"label":"x"}"#.to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "json_required",
        ),
        (
            "a body too large",
            Method::POST,
            "/v1/tokens",
            Some(&admin),
            json_ct,
            big,
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
        (
            "no token",
            Method::GET,
            "/v1/permits",
            None,
            None,
            vec![],
            StatusCode::UNAUTHORIZED,
            "authentication_required",
        ),
        (
            "another scheme",
            Method::GET,
            "/v1/permits",
            Some("Basic YWRtaW46YWRtaW4="),
            None,
            vec![],
            StatusCode::UNAUTHORIZED,
            "authentication_required",
        ),
        (
            "a scheme with no token",
            Method::GET,
            "/v1/permits",
            Some("Bearer "),
            None,
            vec![],
            StatusCode::UNAUTHORIZED,
            "authentication_required",
        ),
        (
            "malformed JSON",
            Method::POST,
            "/v1/tokens",
            Some(&admin),
            json_ct,
            b"{\"label\":".to_vec(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            "an unknown field",
            Method::POST,
            "/v1/tokens",
            Some(&admin),
            json_ct,
            br#"{"label":"x","admin":true}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
    ];
    let before = Fingerprint::of(s.store()).await;
    for (what, method, path, authorization, content_type, body, status, rule) in cases {
        let is_405 = status == StatusCode::METHOD_NOT_ALLOWED;
        let (got, ctype, allow, problem) =
            raw(s, method, path, authorization, content_type, body).await;
        assert_eq!(
            ctype.as_deref(),
            Some("application/problem+json"),
            "{what}: {problem}"
        );
        assert_refused(got, &problem, status, Some(rule));
        assert!(
            problem["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{what}: {problem}"
        );
        if is_405 {
            assert!(
                allow.is_some_and(|a| a.contains("POST")),
                "{what}: no `Allow`"
            );
        }
        assert_unchanged(&before, &Fingerprint::of(s.store()).await, what);
    }
});

server_test!(attack_identity_bearer_scheme_is_case_insensitive, |s| {
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let authorization = format!("{scheme} {}", s.admin);
        let (status, ctype, _, body) = raw(
            s,
            Method::GET,
            "/v1/workers",
            Some(&authorization),
            None,
            vec![],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{scheme}: {body}");
        assert_eq!(ctype.as_deref(), Some("application/json"), "{scheme}");
        assert!(body["items"].is_array(), "{scheme}: {body}");
    }
    // A tab also separates the scheme from the token; a look-alike scheme does not count.
    let (status, _, _, _) = raw(
        s,
        Method::GET,
        "/v1/workers",
        Some(&format!("bearer\t{}", s.admin)),
        None,
        vec![],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _, problem) = raw(
        s,
        Method::GET,
        "/v1/workers",
        Some(&format!("Bearerx {}", s.admin)),
        None,
        vec![],
    )
    .await;
    assert_refused(
        status,
        &problem,
        StatusCode::UNAUTHORIZED,
        Some("authentication_required"),
    );
});
