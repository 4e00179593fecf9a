//! Identity and roles: no token, a wrong scheme, a token that ended (revoked, expired,
//! minted by a revoked token, its principal disabled), and role escalation (a master
//! making an admin, a token for someone else, a worker acting as its master).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use steward_policy::Role;
use steward_store::{NewToken, PrincipalKind, token};

use super::{Fingerprint, assert_refused, assert_unchanged};
use crate::support::{TestServer, seeder, server_test};

/// What an escalation tries: who, with which token, the request, the refusal expected
/// (status and `rule`, when the refusal has one).
type Attempt<'a> = (
    &'a str,
    &'a String,
    Method,
    String,
    Option<Value>,
    StatusCode,
    Option<&'a str>,
);

/// `POST /v1/principals` making an admin: the prize of most attacks here.
fn new_admin(name: &str) -> Value {
    json!({"kind": "human", "name": name, "roles": ["admin"]})
}

/// Sends `POST /v1/principals` with a raw `Authorization` header (or none).
async fn with_header(s: &TestServer, header: Option<&str>) -> (StatusCode, Value, Option<String>) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/v1/principals", s.url))
        .json(&new_admin("mallory"));
    if let Some(header) = header {
        req = req.header("authorization", header);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status();
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body, challenge)
}

// Without a valid bearer token nothing is reached: every variant is a 401 problem with
// the bearer challenge, and no row changes.
server_test!(attack_identity_no_valid_token_reaches_a_handler, |s| {
    let before = Fingerprint::of(s.store()).await;
    let admin_secret = s.admin.clone();
    for header in [
        None,
        Some("Basic YWRtaW46YWRtaW4=".to_owned()),
        Some("Token ".to_owned() + &admin_secret),
        Some(admin_secret.clone()),
        Some("Bearer".to_owned()),
        Some("Bearer ".to_owned()),
        Some("Bearer stw_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned()),
        Some(format!("Bearer {}x", admin_secret)),
        Some(format!(
            "Bearer {}",
            &admin_secret[..admin_secret.len() - 1]
        )),
    ] {
        let (status, body, challenge) = with_header(s, header.as_deref()).await;
        assert_refused(status, &body, StatusCode::UNAUTHORIZED, None);
        assert_eq!(
            body["type"], "urn:steward:problem:unauthorized",
            "{header:?}"
        );
        assert_eq!(challenge.as_deref(), Some("Bearer realm=\"steward\""));
    }
    assert_unchanged(
        &before,
        &Fingerprint::of(s.store()).await,
        "unauthenticated writes",
    );
});

// A token that ended cannot act: revoked, expired, of a disabled principal, or minted by
// a token that was revoked since (issue 9, item 3).
server_test!(attack_identity_ended_credentials_act_no_more, |s| {
    let (eve_id, eve) = s.human("eve", &[Role::Admin]).await;
    let (_, minted) = s.post("/v1/tokens", &eve, json!({"label": "spare"})).await;
    let minted = minted["token"].as_str().expect("minted secret").to_owned();
    let (_, grandchild) = s
        .post("/v1/tokens", &minted, json!({"label": "spare of spare"}))
        .await;
    let grandchild = grandchild["token"].as_str().expect("secret").to_owned();
    let (expired, secret_hash) = token::generate();
    s.store()
        .create_token(
            &seeder(),
            NewToken {
                principal_id: eve_id.clone(),
                label: "expired".into(),
                expires_at_ms: Some(1_000),
                secret_hash,
            },
        )
        .await
        .expect("expired token");
    let (dora_id, dora) = s.human("dora", &[Role::Admin]).await;
    let eves = s.store().list_tokens(&eve_id).await.expect("tokens");
    s.store()
        .revoke_token(&seeder(), &eves[0].id)
        .await
        .expect("revoke eve's first token");
    s.store()
        .disable_principal(&seeder(), &dora_id)
        .await
        .expect("disable dora");

    let before = Fingerprint::of(s.store()).await;
    for (what, secret) in [
        ("revoked", &eve),
        ("minted by a revoked token", &minted),
        ("minted by a token minted by a revoked token", &grandchild),
        ("expired", &expired),
        ("of a disabled principal", &dora),
    ] {
        let (status, body) = s.post("/v1/principals", secret, new_admin("mallory")).await;
        assert_refused(status, &body, StatusCode::UNAUTHORIZED, None);
        let (status, body) = s
            .post("/v1/tokens", secret, json!({"label": "successor"}))
            .await;
        assert_refused(status, &body, StatusCode::UNAUTHORIZED, None);
        assert_unchanged(&before, &Fingerprint::of(s.store()).await, what);
    }
});

// Role escalation: a principal acting above its roles is refused and nothing changes.
server_test!(attack_identity_role_escalation_is_refused, |s| {
    let (master_id, master) = s
        .principal("orchestrator", PrincipalKind::Agent, &[Role::Master])
        .await;
    let (bot_id, bot) = s
        .principal("bot", PrincipalKind::Agent, &[Role::Worker])
        .await;
    let (lead_id, lead) = s.human("lead", &[Role::TechLead]).await;
    let (_, auditor) = s.human("audrey", &[Role::Auditor]).await;
    let admin_id = s
        .store()
        .principal_by_name("admin")
        .await
        .expect("admin")
        .id;
    let admins_token = s.store().list_tokens(&admin_id).await.expect("tokens")[0]
        .id
        .clone();
    let (status, worker) = s
        .post(
            "/v1/workers",
            &master,
            json!({"display_name": "deploy-bot", "principal_id": bot_id}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{worker}");
    let worker_id = worker["id"].as_str().expect("worker id").to_owned();

    let before = Fingerprint::of(s.store()).await;
    let attempts: Vec<Attempt<'_>> = vec![
        (
            "a master makes an admin",
            &master,
            Method::POST,
            "/v1/principals".into(),
            Some(new_admin("root2")),
            StatusCode::FORBIDDEN,
            None,
        ),
        (
            "a master mints a token for the admin",
            &master,
            Method::POST,
            "/v1/tokens".into(),
            Some(json!({"principal_id": admin_id, "label": "mine now"})),
            StatusCode::FORBIDDEN,
            None,
        ),
        (
            "a worker mints a token for its master",
            &bot,
            Method::POST,
            "/v1/tokens".into(),
            Some(json!({"principal_id": master_id, "label": "up"})),
            StatusCode::FORBIDDEN,
            None,
        ),
        (
            "a tech lead revokes the admin's token",
            &lead,
            Method::POST,
            format!("/v1/tokens/{admins_token}/revoke"),
            None,
            StatusCode::FORBIDDEN,
            None,
        ),
        (
            "a tech lead disables the admin",
            &lead,
            Method::POST,
            format!("/v1/principals/{admin_id}/disable"),
            None,
            StatusCode::FORBIDDEN,
            None,
        ),
        (
            "an auditor erases a principal",
            &auditor,
            Method::POST,
            format!("/v1/principals/{lead_id}/erase"),
            None,
            StatusCode::FORBIDDEN,
            None,
        ),
        (
            "a worker registers a worker",
            &bot,
            Method::POST,
            "/v1/workers".into(),
            Some(json!({"display_name": "shadow"})),
            StatusCode::FORBIDDEN,
            None,
        ),
        (
            "a master registers a worker for the admin",
            &master,
            Method::POST,
            "/v1/workers".into(),
            Some(json!({"display_name": "shadow", "owner_id": admin_id})),
            StatusCode::FORBIDDEN,
            Some("own_workers_only"),
        ),
        (
            "a worker requests its own permit",
            &bot,
            Method::POST,
            "/v1/permits".into(),
            Some(
                json!({"task": {"id": "t", "environment": "production", "operations": ["deploy"],
                              "services_affected": ["api"]}, "worker_id": worker_id}),
            ),
            StatusCode::FORBIDDEN,
            None,
        ),
        (
            "a master suspends its rival's worker",
            &master,
            Method::POST,
            format!("/v1/workers/{worker_id}/suspend"),
            Some(json!({"reason": "x"})),
            StatusCode::FORBIDDEN,
            None,
        ),
        (
            "a master promotes its own worker",
            &master,
            Method::POST,
            format!("/v1/workers/{worker_id}/promotions"),
            Some(json!({"level": 1, "role": "engineering_manager"})),
            StatusCode::FORBIDDEN,
            Some("role_not_eligible"),
        ),
        (
            "a tech lead adds a webhook",
            &lead,
            Method::POST,
            "/v1/webhooks".into(),
            Some(json!({"url": "https://example.com/h", "event_types": ["*"]})),
            StatusCode::FORBIDDEN,
            None,
        ),
        (
            "a worker signs a checkpoint",
            &bot,
            Method::POST,
            "/v1/audit/checkpoints".into(),
            None,
            StatusCode::FORBIDDEN,
            None,
        ),
        (
            "a worker reads the trail",
            &bot,
            Method::GET,
            "/v1/audit/events".into(),
            None,
            StatusCode::FORBIDDEN,
            None,
        ),
        (
            "a worker lists the admin's tokens",
            &bot,
            Method::GET,
            format!("/v1/tokens?principal_id={admin_id}"),
            None,
            StatusCode::FORBIDDEN,
            None,
        ),
    ];
    for (what, token, method, path, body, status, rule) in attempts {
        let (got, problem) = s.request(method, &path, Some(token), body.as_ref()).await;
        assert_refused(got, &problem, status, rule);
        assert_unchanged(&before, &Fingerprint::of(s.store()).await, what);
    }
    assert_eq!(
        s.store().list_principals().await.expect("principals").len(),
        5,
        "no principal was made"
    );
});

// Brute force (issue 9, item 9): guessing tokens from one address spends its allowance of
// failures (30 a minute by default); past it every request from the address — the right
// token included — is answered 429 with Retry-After before any token is looked up, and
// nothing changes.
server_test!(
    attack_identity_token_guessing_is_throttled_per_address,
    |s| {
        let before = Fingerprint::of(s.store()).await;
        let mut throttled = 0;
        for guess in 0..60 {
            let header = format!("Bearer stw_guess{guess:040}");
            let (status, body, _) = with_header(s, Some(&header)).await;
            if status == StatusCode::TOO_MANY_REQUESTS {
                throttled += 1;
                assert_refused(
                    status,
                    &body,
                    StatusCode::TOO_MANY_REQUESTS,
                    Some("rate_limited"),
                );
                assert_eq!(body["limit"], "auth_failures", "{body}");
            } else {
                assert!(
                    guess >= 30 || throttled == 0,
                    "guess {guess} was throttled early"
                );
                assert_refused(status, &body, StatusCode::UNAUTHORIZED, None);
            }
        }
        // One failure refills every 2 s, so at most a few of the last 30 got through.
        assert!(throttled >= 20, "only {throttled} of 60 guesses throttled");
        let admin = s.admin.clone();
        let resp = reqwest::Client::new()
            .post(format!("{}/v1/principals", s.url))
            .bearer_auth(&admin)
            .json(&new_admin("mallory"))
            .send()
            .await
            .expect("sent");
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(resp.headers().contains_key("retry-after"));
        assert_unchanged(&before, &Fingerprint::of(s.store()).await, "token guessing");
    }
);
