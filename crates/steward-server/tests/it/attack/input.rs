//! Bad input (SPEC §12) at every write route: malformed JSON, wrong types, unknown fields
//! and values, out-of-range numbers, non-UTF-8, the wrong content type, an oversized
//! body. Each is a 4xx problem naming the field or rule, and nothing is written.

use reqwest::StatusCode;
use serde_json::json;
use steward_policy::Role;
use steward_store::PrincipalKind;

use super::duties::{evidence, insert_worker};
use super::{Fingerprint, assert_refused, assert_unchanged};
use crate::support::server_test;

/// A bad request: what it is, the token, the path, the content type, the body, and the
/// status and `field` expected.
type Case<'a> = (
    &'a str,
    &'a str,
    String,
    &'a str,
    Vec<u8>,
    StatusCode,
    Option<&'a str>,
);

server_test!(attack_input_bad_bodies_write_nothing, |s| {
    let (master_id, master) = s
        .principal("master", PrincipalKind::Agent, &[Role::Master])
        .await;
    let (agent_id, agent) = s
        .principal("agent", PrincipalKind::Agent, &[Role::Worker])
        .await;
    let (_, lead) = s.human("lead", &[Role::TechLead]).await;
    insert_worker(s, "wk-in", &master_id, &agent_id, 2).await;
    let (status, permit) = s
        .post(
            "/v1/permits",
            &master,
            json!({"task": {"id": "deploy-api", "environment": "production", "operations": ["deploy"],
                            "services_affected": ["api"]},
                   "worker_id": "wk-in", "evidence": evidence()}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{permit}");
    let permit = permit["id"].as_str().expect("id").to_owned();
    let approvals = format!("/v1/permits/{permit}/approvals");
    let outcomes = "/v1/workers/wk-in/outcomes".to_owned();

    let json_ct = "application/json";
    let big = format!("{{\"label\":\"{}\"}}", "a".repeat(300 * 1024));
    // (what, token, path, content type, body, status, field or rule)
    let cases: Vec<Case<'_>> = vec![
        ("malformed JSON", &s.admin, "/v1/principals".into(), json_ct,
         b"{\"kind\": \"human\", ".to_vec(), StatusCode::BAD_REQUEST, None),
        ("trailing garbage", &s.admin, "/v1/principals".into(), json_ct,
         br#"{"kind":"human","name":"x","roles":[]} {"#.to_vec(), StatusCode::BAD_REQUEST, None),
        ("a role that does not exist", &s.admin, "/v1/principals".into(), json_ct,
         br#"{"kind":"human","name":"x","roles":["root"]}"#.to_vec(), StatusCode::BAD_REQUEST,
         Some("roles[0]")),
        ("roles of the wrong type", &s.admin, "/v1/principals".into(), json_ct,
         br#"{"kind":"human","name":"x","roles":"admin"}"#.to_vec(), StatusCode::BAD_REQUEST,
         Some("roles")),
        ("an unknown field", &s.admin, "/v1/principals".into(), json_ct,
         br#"{"kind":"human","name":"x","roles":[],"is_admin":true}"#.to_vec(),
         StatusCode::BAD_REQUEST, Some("is_admin")),
        ("not UTF-8", &s.admin, "/v1/principals".into(), json_ct,
         b"{\"kind\":\"human\",\"name\":\"\xff\",\"roles\":[]}".to_vec(), StatusCode::BAD_REQUEST, None),
        ("not JSON at all", &s.admin, "/v1/principals".into(), "text/plain",
         br#"{"kind":"human","name":"x","roles":[]}"#.to_vec(), StatusCode::UNSUPPORTED_MEDIA_TYPE, None),
        ("no body", &s.admin, "/v1/tokens".into(), json_ct, Vec::new(), StatusCode::BAD_REQUEST, None),
        ("an oversized body", &s.admin, "/v1/tokens".into(), json_ct, big.into_bytes(),
         StatusCode::PAYLOAD_TOO_LARGE, None),
        ("a negative expiry", &s.admin, "/v1/tokens".into(), json_ct,
         br#"{"label":"x","expires_in_hours":-1}"#.to_vec(), StatusCode::BAD_REQUEST,
         Some("expires_in_hours")),
        ("an expiry past ten years", &s.admin, "/v1/tokens".into(), json_ct,
         br#"{"label":"x","expires_in_hours":100000}"#.to_vec(), StatusCode::BAD_REQUEST,
         Some("expires_in_hours")),
        ("a control character in a label", &s.admin, "/v1/tokens".into(), json_ct,
         b"{\"label\":\"a\\u0000b\"}".to_vec(), StatusCode::BAD_REQUEST, Some("label")),
        ("a misspelt task field", &master, "/v1/permits".into(), json_ct,
         serde_json::to_vec(&json!({"task": {"id": "t", "enviroment": "production"},
                                   "worker_id": "wk-in"})).expect("json"),
         StatusCode::BAD_REQUEST, Some("task.enviroment")),
        ("an unknown evidence kind", &master, "/v1/permits".into(), json_ct,
         serde_json::to_vec(&json!({"task": {"id": "t", "environment": "production",
                                            "operations": ["deploy"], "services_affected": ["api"]},
                                   "worker_id": "wk-in", "evidence": {"trust_me": true}}))
             .expect("json"),
         StatusCode::BAD_REQUEST, None),
        ("a decision that does not exist", &lead, approvals.clone(), json_ct,
         br#"{"decision":"maybe","role":"tech_lead"}"#.to_vec(), StatusCode::BAD_REQUEST,
         Some("decision")),
        ("an environment that does not exist", &agent, "/v1/authorize".into(), json_ct,
         br#"{"worker_id":"wk-in","environment":"prod","action":"deploy","method":"POST"}"#
             .to_vec(), StatusCode::BAD_REQUEST, Some("environment")),
        ("negative tokens", &agent, "/v1/authorize".into(), json_ct,
         br#"{"worker_id":"wk-in","environment":"development","action":"x","method":"GET","tokens":-5}"#
             .to_vec(), StatusCode::BAD_REQUEST, Some("tokens")),
        ("an outcome that does not exist", &master, outcomes.clone(), json_ct,
         br#"{"result":"great","level":0}"#.to_vec(), StatusCode::BAD_REQUEST, Some("result")),
        ("a level above 4", &master, outcomes.clone(), json_ct,
         br#"{"result":"failure","level":9}"#.to_vec(), StatusCode::BAD_REQUEST, Some("level")),
        ("a seq that is not a number", &master, outcomes.clone(), json_ct,
         br#"{"result":"success","authorize_seq":"12"}"#.to_vec(), StatusCode::BAD_REQUEST,
         Some("authorize_seq")),
        ("an emergency of a negative length", &master, "/v1/emergencies".into(), json_ct,
         br#"{"incident_id":"INC-1","worker_id":"wk-in","scope":{"id":"t"},"reason":"r","minutes":-1}"#
             .to_vec(), StatusCode::UNPROCESSABLE_ENTITY, None),
        ("an emergency with a huge length", &master, "/v1/emergencies".into(), json_ct,
         br#"{"incident_id":"INC-1","worker_id":"wk-in","scope":{"id":"t"},"reason":"r","minutes":1e40}"#
             .to_vec(), StatusCode::BAD_REQUEST, Some("minutes")),
    ];
    let before = Fingerprint::of(s.store()).await;
    for (what, token, path, content_type, body, status, field) in cases {
        let (got, problem, ctype) = s.post_raw(&path, token, content_type, body).await;
        assert_eq!(ctype.as_deref(), Some("application/problem+json"), "{what}");
        assert_refused(got, &problem, status, None);
        if let Some(field) = field {
            assert_eq!(problem["field"], field, "{what}: {problem}");
        }
        if status == StatusCode::UNPROCESSABLE_ENTITY {
            assert_eq!(problem["rule"], "emergency_duration", "{what}: {problem}");
            assert_eq!(problem["field"], "minutes", "{what}: {problem}");
        }
        assert_unchanged(&before, &Fingerprint::of(s.store()).await, what);
    }
});
