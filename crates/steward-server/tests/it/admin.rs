//! Administration over HTTP: principals, tokens (admin and self-service) and reading and
//! verifying the audit trail, with their role checks.

use std::time::{SystemTime, UNIX_EPOCH};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use steward_policy::Role;
use steward_store::{Backend, NewToken, PrincipalKind, testing, token};

use crate::support::{TestServer, seeder, server_test};

const HOUR_MS: i64 = 3_600_000;

fn wall_clock_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(since.as_millis()).expect("milliseconds fit i64")
}

/// Asserts a 403 problem whose detail names every role in `roles`.
#[track_caller]
fn assert_forbidden(status: StatusCode, body: &Value, roles: &[&str]) {
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["type"], "urn:steward:problem:forbidden");
    let detail = body["detail"].as_str().expect("detail");
    for role in roles {
        assert!(detail.contains(role), "`{role}` not named in `{detail}`");
    }
}

async fn post_empty(s: &TestServer, path: &str, token: &str) -> (StatusCode, Value) {
    s.request(Method::POST, path, Some(token), None).await
}

server_test!(principal_routes_check_roles, |s| {
    let (_, auditor) = s.human("audrey", &[Role::Auditor]).await;
    let (_, worker) = s
        .principal("bot", PrincipalKind::Agent, &[Role::Worker])
        .await;
    let new = json!({"kind": "agent", "name": "x", "roles": []});

    let (status, body) = s.post("/v1/principals", &auditor, new.clone()).await;
    assert_forbidden(status, &body, &["admin", "audrey", "auditor"]);
    let (status, body) = s.get("/v1/principals", &worker).await;
    assert_forbidden(status, &body, &["admin", "auditor"]);
    let (status, body) = post_empty(s, "/v1/principals/whoever/disable", &auditor).await;
    assert_forbidden(status, &body, &["admin"]);

    // The problem is problem+json.
    let (status, _, ctype) = s
        .post_raw(
            "/v1/principals",
            &worker,
            "application/json",
            new.to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(ctype.as_deref(), Some("application/problem+json"));

    let (status, body) = s.get("/v1/principals", &auditor).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let names: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "audrey", "bot"]);
    assert_eq!(
        s.store().list_principals().await.unwrap().len(),
        3,
        "nothing created"
    );
});

server_test!(create_list_and_disable_principals, |s| {
    let before = s.audit_len().await;
    let (status, body) = s
        .post(
            "/v1/principals",
            &s.admin,
            json!({"kind": "human", "name": " carol ", "roles": ["security_lead", "team_lead", "security_lead"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["name"], "carol");
    assert_eq!(body["kind"], "human");
    assert_eq!(body["roles"], json!(["security_lead", "team_lead"]));
    assert_eq!(body["disabled_at_ms"], Value::Null);
    let carol = body["id"].as_str().unwrap().to_owned();
    let stored = s.store().principal_by_id(&carol).await.unwrap();
    assert_eq!(stored.roles, [Role::SecurityLead, Role::TeamLead]);
    assert_eq!(
        s.audit_len().await,
        before + 1,
        "principal.created recorded"
    );

    // Bad bodies name the field and create nothing.
    let cases = [
        (
            json!({"kind": "human", "name": "d", "roles": ["cto", "cfo"]}),
            "roles[1]",
            "unknown role `cfo`",
        ),
        (
            json!({"kind": "robot", "name": "d", "roles": []}),
            "kind",
            "unknown principal kind `robot`",
        ),
        (
            json!({"kind": "human", "name": "  ", "roles": []}),
            "name",
            "must not be empty",
        ),
        (
            json!({"kind": "human", "name": "d", "roles": [], "admin": true}),
            "admin",
            "unknown field `admin`",
        ),
        (
            json!({"kind": "human", "name": "d", "roles": "cto"}),
            "roles",
            "invalid type",
        ),
    ];
    for (bad, field, needle) in cases {
        let (status, body) = s.post("/v1/principals", &s.admin, bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["field"], field, "{body}");
        assert!(body["detail"].as_str().unwrap().contains(needle), "{body}");
    }
    let (status, body) = s
        .post(
            "/v1/principals",
            &s.admin,
            json!({"kind": "agent", "name": "carol", "roles": []}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("`carol`"));
    assert_eq!(s.audit_len().await, before + 1, "nothing else recorded");

    // Disabling: the principal's tokens stop working; self and unknown are refused.
    let (dave, dave_token) = s.human("dave", &[Role::Auditor]).await;
    let (status, _) = s.get("/v1/principals", &dave_token).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = post_empty(s, &format!("/v1/principals/{dave}/disable"), &s.admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["disabled_at_ms"].is_i64(), "{body}");
    let (status, _) = s.get("/v1/principals", &dave_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let admin_id = s.store().principal_by_name("admin").await.unwrap().id;
    let (status, body) =
        post_empty(s, &format!("/v1/principals/{admin_id}/disable"), &s.admin).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["rule"], "self-disable");
    let (status, body) = post_empty(s, "/v1/principals/nobody/disable", &s.admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
});

server_test!(token_lifecycle_create_use_list_revoke, |s| {
    let (status, body) = s
        .post(
            "/v1/principals",
            &s.admin,
            json!({"kind": "agent", "name": "orchestrator", "roles": ["master"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let agent = body["id"].as_str().unwrap().to_owned();

    let (status, created) = s
        .post(
            "/v1/tokens",
            &s.admin,
            json!({"principal_id": agent, "label": "ci", "expires_in_hours": 24}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["token"].as_str().unwrap().to_owned();
    let token_id = created["id"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("stw_"), "{created}");
    assert_eq!(created["principal_id"], agent.as_str());
    assert_eq!(created["label"], "ci");
    let expires = created["expires_at_ms"].as_i64().unwrap();
    let expected = wall_clock_ms() + 24 * HOUR_MS;
    assert!((expected - expires).abs() < 60_000, "{created}");

    // Use it.
    let (status, listed) = s.get("/v1/tokens", &secret).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], token_id.as_str());
    assert_eq!(items[0]["state"], "active");
    assert_eq!(items[0]["label"], "ci");
    // Neither the secret nor any hash is ever listed, nor audited.
    let text = listed.to_string();
    assert!(!text.contains(&secret), "{text}");
    assert!(!text.contains("hash"), "{text}");
    let (status, by_admin) = s
        .get(&format!("/v1/tokens?principal_id={agent}"), &s.admin)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_admin["items"], listed["items"]);
    let events = s.store().events(1, 1000).await.unwrap();
    assert!(events.iter().all(|e| !e.data.to_string().contains(&secret)));

    // Revoke it: the secret stops working, and revoking again changes nothing.
    let (status, revoked) = post_empty(s, &format!("/v1/tokens/{token_id}/revoke"), &s.admin).await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_eq!(revoked["state"], "revoked");
    assert!(revoked["revoked_at_ms"].is_i64());
    assert!(!revoked.to_string().contains(&secret));
    let (status, body) = s.get("/v1/tokens", &secret).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let before = s.audit_len().await;
    let (status, again) = post_empty(s, &format!("/v1/tokens/{token_id}/revoke"), &s.admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["revoked_at_ms"], revoked["revoked_at_ms"]);
    assert_eq!(s.audit_len().await, before);

    // Unknowns and bad bodies.
    let (status, _) = post_empty(s, "/v1/tokens/nope/revoke", &s.admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s
        .post(
            "/v1/tokens",
            &s.admin,
            json!({"principal_id": "nobody", "label": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s.get("/v1/tokens?principal_id=nobody", &s.admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for (bad, field) in [
        (json!({"label": ""}), "label"),
        (
            json!({"label": "x", "expires_in_hours": 0}),
            "expires_in_hours",
        ),
        (
            json!({"label": "x", "expires_in_hours": -1}),
            "expires_in_hours",
        ),
        (json!({"label": "x", "secret": "mine"}), "secret"),
        (json!({}), ""),
    ] {
        let (status, body) = s.post("/v1/tokens", &s.admin, bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        if !field.is_empty() {
            assert_eq!(body["field"], field, "{body}");
        }
    }
    let (status, body) = s.get("/v1/tokens?owner=me", &s.admin).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "owner");

    // A disabled principal gets no new token.
    s.store()
        .disable_principal(&seeder(), &agent)
        .await
        .unwrap();
    let (status, body) = s
        .post(
            "/v1/tokens",
            &s.admin,
            json!({"principal_id": agent, "label": "again"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
});

server_test!(self_service_tokens_are_limited_to_ones_own, |s| {
    let (erin, erin_token) = s.human("erin", &[Role::TechLead]).await;
    let (frank, frank_token) = s.human("frank", &[Role::TechLead]).await;

    // For oneself, by default: a token that never expires begets one that never expires.
    let (status, mine) = s
        .post("/v1/tokens", &erin_token, json!({"label": "laptop"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{mine}");
    assert_eq!(mine["principal_id"], erin.as_str());
    assert_eq!(mine["expires_at_ms"], Value::Null);
    let (status, _) = s.get("/v1/tokens", mine["token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);

    // Never for, of, or against anyone else.
    let (status, body) = s
        .post(
            "/v1/tokens",
            &erin_token,
            json!({"principal_id": frank, "label": "sneaky"}),
        )
        .await;
    assert_forbidden(status, &body, &["admin"]);
    let (status, body) = s
        .get(&format!("/v1/tokens?principal_id={frank}"), &erin_token)
        .await;
    assert_forbidden(status, &body, &["admin"]);
    let franks = s.store().list_tokens(&frank).await.unwrap();
    let (status, body) = post_empty(
        s,
        &format!("/v1/tokens/{}/revoke", franks[0].id),
        &erin_token,
    )
    .await;
    assert_forbidden(status, &body, &["admin"]);
    let (status, _) = s.get("/v1/tokens", &frank_token).await;
    assert_eq!(status, StatusCode::OK, "frank's token still works");
    assert_eq!(s.store().list_tokens(&frank).await.unwrap().len(), 1);

    // A self-service token never outlives the token that made it.
    let (secret, secret_hash) = token::generate();
    let limit = wall_clock_ms() + 2 * HOUR_MS;
    s.store()
        .create_token(
            &seeder(),
            NewToken {
                principal_id: erin.clone(),
                label: "two hours".into(),
                expires_at_ms: Some(limit),
                secret_hash,
            },
        )
        .await
        .unwrap();
    let (status, body) = s
        .post("/v1/tokens", &secret, json!({"label": "inherits"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["expires_at_ms"], limit);
    let (status, body) = s
        .post(
            "/v1/tokens",
            &secret,
            json!({"label": "shorter", "expires_in_hours": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body["expires_at_ms"].as_i64().unwrap() < limit);
    let before = s.audit_len().await;
    let (status, body) = s
        .post(
            "/v1/tokens",
            &secret,
            json!({"label": "longer", "expires_in_hours": 3}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["rule"], "token-outlives-caller");
    assert_eq!(body["max_expires_at_ms"], limit);
    assert_eq!(s.audit_len().await, before, "nothing created");

    // Revoking one's own token, even the one in use, works.
    let own = s.store().list_tokens(&erin).await.unwrap();
    assert_eq!(own.len(), 5);
    let (status, body) =
        post_empty(s, &format!("/v1/tokens/{}/revoke", own[0].id), &erin_token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = s.get("/v1/tokens", &erin_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
});

// Issue 9, item 3: a token minted with a token ends with it. Revoking a token revokes
// every token minted with it, transitively, in one transaction with one event each; a
// minted token never expires after its parent, admin-made tokens for others included.
server_test!(issue_9_a_token_minted_by_a_token_ends_with_it, |s| {
    let (erin, erin_token) = s.human("erin", &[Role::TechLead]).await;
    let (orchestrator, _) = s
        .principal("orchestrator", PrincipalKind::Agent, &[Role::Master])
        .await;
    let (root_admin_id, root_admin) = s.human("root-admin", &[Role::Admin]).await;

    // A stolen token mints a successor, which mints another; an admin token mints a token
    // for someone else. Each records the token it was minted with.
    let mint = |token: String, body: Value| async move {
        let (status, created) = s.post("/v1/tokens", &token, body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        (
            created["id"].as_str().expect("id").to_owned(),
            created["token"].as_str().expect("secret").to_owned(),
            created,
        )
    };
    let erins = s.store().list_tokens(&erin).await.expect("tokens");
    let (child, child_secret, created) = mint(erin_token.clone(), json!({"label": "copy"})).await;
    assert_eq!(created["minted_with"], erins[0].id.as_str());
    let (grandchild, grandchild_secret, _) =
        mint(child_secret.clone(), json!({"label": "copy of copy"})).await;
    let (for_bot, for_bot_secret, created) = mint(
        root_admin.clone(),
        json!({"principal_id": orchestrator, "label": "ci"}),
    )
    .await;
    assert_eq!(created["principal_id"], orchestrator.as_str());
    let (status, listed) = s.get("/v1/tokens", &erin_token).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let minted: Vec<(&str, &str)> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap_or(""),
                t["minted_with"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        minted,
        vec![
            (erins[0].id.as_str(), ""),
            (child.as_str(), erins[0].id.as_str()),
            (grandchild.as_str(), child.as_str()),
        ]
    );

    // Revoking the first token ends its whole lineage at once, one event per token, all
    // committed with the revocation; nothing else is touched.
    let before = s.audit_len().await;
    let (status, revoked) =
        post_empty(s, &format!("/v1/tokens/{}/revoke", erins[0].id), &s.admin).await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_eq!(revoked["state"], "revoked");
    assert_eq!(revoked["cascaded"], json!([child, grandchild]));
    for secret in [&erin_token, &child_secret, &grandchild_secret] {
        let (status, body) = s.get("/v1/tokens", secret).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
    let (status, _) = s.get("/v1/tokens", &for_bot_secret).await;
    assert_eq!(status, StatusCode::OK, "another lineage lives on");
    let events = s.store().events(before + 1, 10).await.expect("events");
    let revocations: Vec<(&str, &Value, &Value, &Value)> = events
        .iter()
        .map(|e| {
            (
                e.event_type.as_str(),
                &e.data["token_id"],
                &e.data["minted_with"],
                &e.data["cascade_from"],
            )
        })
        .collect();
    let root = json!(erins[0].id);
    assert_eq!(
        revocations,
        vec![
            ("token.revoked", &root, &Value::Null, &Value::Null),
            ("token.revoked", &json!(child), &root, &root),
            ("token.revoked", &json!(grandchild), &json!(child), &root),
        ]
    );
    let before = s.audit_len().await;
    let (status, again) =
        post_empty(s, &format!("/v1/tokens/{}/revoke", erins[0].id), &s.admin).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["cascaded"], json!([]));
    assert_eq!(
        s.audit_len().await,
        before,
        "revoking again records nothing"
    );

    // The admin's token is the parent of the token it made for the orchestrator.
    let admins = s.store().list_tokens(&root_admin_id).await.expect("tokens");
    let (status, body) =
        post_empty(s, &format!("/v1/tokens/{}/revoke", admins[0].id), &s.admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["cascaded"], json!([for_bot]));
    let (status, _) = s.get("/v1/tokens", &for_bot_secret).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Expiry: a token minted with an expiring token (an admin's included) expires with
    // it at the latest, so its parent's expiry ends it without any walk of the lineage.
    let (admin2, _) = s.human("admin-two", &[Role::Admin]).await;
    let (expiring, secret_hash) = token::generate();
    let limit = wall_clock_ms() + 2 * HOUR_MS;
    s.store()
        .create_token(
            &seeder(),
            NewToken {
                principal_id: admin2,
                label: "two hours".into(),
                expires_at_ms: Some(limit),
                secret_hash,
            },
        )
        .await
        .expect("expiring admin token");
    let (_, _, created) = mint(
        expiring.clone(),
        json!({"principal_id": orchestrator, "label": "inherits"}),
    )
    .await;
    assert_eq!(created["expires_at_ms"], limit);
    let before = s.audit_len().await;
    let (status, body) = s
        .post(
            "/v1/tokens",
            &expiring,
            json!({"principal_id": orchestrator, "label": "forever", "expires_in_hours": 3}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["rule"], "token-outlives-caller");
    assert_eq!(body["max_expires_at_ms"], limit);
    assert_eq!(s.audit_len().await, before, "nothing minted");
    s.store()
        .verify_audit_chain()
        .await
        .expect("chain verifies");
});

server_test!(audit_events_read_in_order_and_verify, |s| {
    let (_, auditor) = s.human("audrey", &[Role::Auditor]).await;
    let (_, worker) = s
        .principal("bot", PrincipalKind::Agent, &[Role::Worker])
        .await;
    let (status, _) = s
        .post(
            "/v1/principals",
            &s.admin,
            json!({"kind": "human", "name": "gina", "roles": ["cto"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let total = s.audit_len().await;
    assert!(total >= 7, "{total}");

    // Page through with a small limit: every seq once, in order.
    let mut seqs = Vec::new();
    let mut types = Vec::new();
    let mut from = 1;
    loop {
        let (status, page) = s
            .get(
                &format!("/v1/audit/events?from_seq={from}&limit=3"),
                &auditor,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let items = page["items"].as_array().unwrap();
        for item in items {
            seqs.push(item["seq"].as_u64().unwrap());
            types.push(item["type"].as_str().unwrap().to_owned());
            assert_eq!(item["hash"].as_str().unwrap().len(), 64);
        }
        let next = page["next_from_seq"].as_u64().unwrap();
        if items.len() < 3 {
            assert_eq!(next, total + 1);
            break;
        }
        from = next;
    }
    assert_eq!(seqs, (1..=total).collect::<Vec<_>>());
    assert_eq!(types.last().unwrap(), "principal.created");
    assert!(types.iter().any(|t| t == "token.created"));

    let (status, page) = s.get("/v1/audit/events", &s.admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len() as u64, total);
    assert_eq!(page["items"][0]["prev_hash"], "0".repeat(64));

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("from_seq=abc", "from_seq"),
        ("from_seq=-1", "from_seq"),
        ("kind=x", "kind"),
    ] {
        let (status, body) = s.get(&format!("/v1/audit/events?{query}"), &auditor).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["field"], field, "{body}");
    }
    let (status, body) = s.get("/v1/audit/events", &worker).await;
    assert_forbidden(status, &body, &["admin", "auditor"]);
    let (status, body) = s.get("/v1/audit/verify", &worker).await;
    assert_forbidden(status, &body, &["admin", "auditor"]);

    let (status, result) = s.get("/v1/audit/verify", &auditor).await;
    assert_eq!(status, StatusCode::OK, "{result}");
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(result["head_seq"], total);
    assert_eq!(
        result["head_hash"],
        page["items"][total as usize - 1]["hash"]
    );

    // Tampering with a stored event (past its append-only trigger) is reported at its seq.
    let drop_trigger = match s.store().backend() {
        Backend::Sqlite => "DROP TRIGGER audit_events_no_update;",
        Backend::Postgres => "DROP TRIGGER audit_events_no_update ON audit_events;",
    };
    testing::execute(
        s.store(),
        &format!(
            "{drop_trigger} UPDATE audit_events SET data = '{{\"forged\":true}}' WHERE seq = 2;"
        ),
    )
    .await
    .unwrap();
    let (status, result) = s.get("/v1/audit/verify", &s.admin).await;
    assert_eq!(status, StatusCode::OK, "{result}");
    assert_eq!(result["ok"], false, "{result}");
    assert_eq!(result["first_bad_seq"], 2);
    assert!(
        result["problem"]
            .as_str()
            .unwrap()
            .contains("hash mismatch")
    );
});

server_test!(openapi_documents_the_admin_routes, |s| {
    let (_, doc) = s.request(Method::GET, "/openapi.json", None, None).await;
    for (path, method) in [
        ("/v1/principals", "post"),
        ("/v1/principals", "get"),
        ("/v1/principals/{id}/disable", "post"),
        ("/v1/tokens", "post"),
        ("/v1/tokens", "get"),
        ("/v1/tokens/{id}/revoke", "post"),
        ("/v1/audit/events", "get"),
        ("/v1/audit/verify", "get"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
    assert!(doc["components"]["schemas"]["CreatedToken"].is_object());
});
