//! What a browser hides, checked over raw HTTP on both backends: the session cookie's
//! flags, CSRF and origin refusals (nothing changes), the security headers, and sessions
//! ending at sign-out, token revocation and principal disabling.

use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::json;
use steward_store::testing::{self, TestDb};

use crate::support::{self, Server};

async fn databases() -> Vec<TestDb> {
    let mut dbs = vec![testing::sqlite_store().await];
    if let Some(pg) = testing::postgres_store().await {
        dbs.push(pg);
    }
    dbs
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client")
}

/// Signs in with `token`; returns the `Set-Cookie` header and the session secret.
async fn sign_in(server: &Server, token: &str) -> (String, String) {
    let resp = client()
        .post(format!("{}/sign-in", server.url))
        .form(&[("token", token)])
        .send()
        .await
        .expect("sign in");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let cookie = resp
        .headers()
        .get("set-cookie")
        .expect("a session cookie")
        .to_str()
        .expect("ascii")
        .to_owned();
    let secret = cookie
        .split(';')
        .next()
        .and_then(|kv| kv.strip_prefix("steward_session="))
        .expect("steward_session=…")
        .to_owned();
    (cookie, secret)
}

async fn get(server: &Server, path: &str, secret: &str) -> (StatusCode, String) {
    let resp = client()
        .get(format!("{}{path}", server.url))
        .header("cookie", format!("steward_session={secret}"))
        .send()
        .await
        .expect("get");
    let status = resp.status();
    (status, resp.text().await.expect("body"))
}

/// The CSRF token the page embeds for this session.
async fn csrf(server: &Server, secret: &str) -> String {
    let (status, html) = get(server, "/", secret).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let at = html
        .find("data-csrf=\"")
        .expect("the page carries its CSRF token")
        + 11;
    html[at..at + 64].to_owned()
}

async fn post(
    server: &Server,
    path: &str,
    secret: &str,
    form: &impl serde::Serialize,
    origin: Option<&str>,
) -> (StatusCode, String) {
    let mut req = client()
        .post(format!("{}{path}", server.url))
        .header("cookie", format!("steward_session={secret}"))
        .form(form);
    if let Some(origin) = origin {
        req = req.header("origin", origin);
    }
    let resp = req.send().await.expect("post");
    let status = resp.status();
    (status, resp.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_flags_headers_and_the_token_never_in_the_browser() {
    for db in databases().await {
        let server = support::start(db.store().clone(), support::clock(), None).await;
        let cast = support::cast(&server.store).await;
        let (cookie, secret) = sign_in(&server, &cast.security).await;
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        assert!(cookie.contains("SameSite=Strict"), "{cookie}");
        assert!(cookie.contains("Path=/"), "{cookie}");
        assert!(
            !cookie.contains("Secure"),
            "plain http: no Secure flag: {cookie}"
        );
        assert!(
            !cookie.contains(&cast.security),
            "the token is not the cookie"
        );
        // Only the secret's hash is stored.
        let hex = if db.url().starts_with("postgres") {
            "SELECT encode(id_hash, 'hex') FROM web_sessions"
        } else {
            "SELECT lower(hex(id_hash)) FROM web_sessions"
        };
        let rows = testing::fetch_text(&server.store, hex).await.expect("rows");
        assert_eq!(rows.len(), 1);
        let stored = rows[0][0].clone().expect("hash");
        assert_ne!(stored, secret);
        assert_eq!(
            stored,
            hex::encode(steward_web::session::hash_secret(&secret)),
            "the database holds the secret's SHA-256, nothing else"
        );
        let (status, html) = get(&server, "/", &secret).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            !html.contains(&cast.security),
            "the page never shows the token"
        );
        let resp = client()
            .get(format!("{}/", server.url))
            .header("cookie", format!("steward_session={secret}"))
            .send()
            .await
            .expect("get");
        let h = resp.headers();
        let csp = h["content-security-policy"].to_str().expect("ascii");
        assert!(csp.contains("default-src 'self'"), "{csp}");
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "same-origin");
        assert_eq!(h["cache-control"], "no-store");
        // Assets are embedded and cached for long.
        let asset = client()
            .get(format!("{}{}", server.url, steward_web::assets::HTMX))
            .send()
            .await
            .expect("asset");
        assert_eq!(asset.status(), StatusCode::OK);
        assert!(
            asset.headers()["cache-control"]
                .to_str()
                .expect("ascii")
                .contains("immutable")
        );
        assert!(asset.text().await.expect("js").contains("htmx"));

        // Behind https, the cookie is Secure.
        let tls = support::start(
            server.store.clone(),
            server.clock.clone(),
            Some("https://steward.example.com"),
        )
        .await;
        let (cookie, _) = sign_in(&tls, &cast.lead).await;
        assert!(cookie.contains("; Secure"), "{cookie}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csrf_and_cross_site_posts_are_refused_and_change_nothing() {
    for db in databases().await {
        let server = support::start(db.store().clone(), support::clock(), None).await;
        let cast = support::cast(&server.store).await;
        let id = support::request_permit(
            &server,
            &cast.requester,
            &cast.worker_id,
            support::level2_task("csrf"),
        )
        .await;
        let (_, secret) = sign_in(&server, &cast.lead).await;
        let token = csrf(&server, &secret).await;
        let head = server.store.audit_head().await.expect("head").seq;
        let path = format!("/permits/{id}/decide");
        let approve = |csrf: Option<&str>| {
            let mut form = vec![("decision", "approve"), ("role", "tech_lead")];
            if let Some(c) = csrf {
                form.push(("_csrf", c));
            }
            form.into_iter()
                .map(|(k, v)| (k, v.to_owned()))
                .collect::<Vec<_>>()
        };
        // No token.
        let (status, html) = post(&server, &path, &secret, &approve(None), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
        assert!(html.contains("CSRF"), "{html}");
        // A wrong token.
        let wrong = "0".repeat(64);
        let (status, _) = post(&server, &path, &secret, &approve(Some(&wrong)), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        // Another session's token.
        let (_, other) = sign_in(&server, &cast.director).await;
        let others = csrf(&server, &other).await;
        let (status, _) = post(&server, &path, &secret, &approve(Some(&others)), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        // The right token from another site.
        let (status, html) = post(
            &server,
            &path,
            &secret,
            &approve(Some(&token)),
            Some("https://evil.example.com"),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
        let resp = client()
            .post(format!("{}{path}", server.url))
            .header("cookie", format!("steward_session={secret}"))
            .header("sec-fetch-site", "cross-site")
            .form(&approve(Some(&token)))
            .send()
            .await
            .expect("post");
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        // Nothing changed: still under review, no approval; only the second sign-in's
        // session event was appended.
        let p = support::permit(&server, &cast.admin, &id).await;
        assert_eq!(p["state"], "under_review");
        assert_eq!(p["approvals"], json!([]));
        let after = server.store.audit_head().await.expect("head").seq;
        assert_eq!(
            after,
            head + 1,
            "only `web.session_opened` of the second sign-in"
        );

        // The right token, same origin: approved, audited as channel `web`.
        let (status, html) = post(
            &server,
            &path,
            &secret,
            &approve(Some(&token)),
            Some(&server.url),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
        let p = support::permit(&server, &cast.admin, &id).await;
        assert_eq!(p["state"], "active");
        assert_eq!(p["approvals"][0]["channel"], "web");
        let events = server
            .store
            .query_events(
                &steward_store::EventQuery {
                    permit_id: Some(id.clone()),
                    event_type: Some(steward_store::TypeFilter::Exact(
                        "permit.approval_recorded".into(),
                    )),
                    ..Default::default()
                },
                1,
                10,
            )
            .await
            .expect("events");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data["channel"], "web");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_at_sign_out_revocation_disabling_and_idle() {
    for db in databases().await {
        let server = support::start(db.store().clone(), support::clock(), None).await;
        let cast = support::cast(&server.store).await;
        // An unknown token does not sign in.
        let resp = client()
            .post(format!("{}/sign-in", server.url))
            .form(&[("token", "stw_nope")])
            .send()
            .await
            .expect("sign in");
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert!(resp.headers().get("set-cookie").is_none());
        // Without a session every page sends you to sign in.
        for path in ["/", "/board", "/history", "/permits/x"] {
            let resp = client()
                .get(format!("{}{path}", server.url))
                .send()
                .await
                .expect("get");
            assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{path}");
            assert_eq!(resp.headers()["location"], "/sign-in", "{path}");
        }

        // Sign-out.
        let (_, secret) = sign_in(&server, &cast.lead).await;
        let token = csrf(&server, &secret).await;
        let (status, _) = post(&server, "/sign-out", &secret, &[("_csrf", &token)], None).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let (status, _) = get(&server, "/", &secret).await;
        assert_eq!(
            status,
            StatusCode::SEE_OTHER,
            "a signed-out session is dead"
        );

        // Token revocation (through the API, by the admin).
        let (_, secret) = sign_in(&server, &cast.director).await;
        assert_eq!(get(&server, "/", &secret).await.0, StatusCode::OK);
        let dana_id = server
            .store
            .principal_by_name("dana-director")
            .await
            .expect("dana")
            .id;
        let dana = server.store.list_tokens(&dana_id).await.expect("tokens")[0]
            .id
            .clone();
        let resp = reqwest::Client::new()
            .post(format!("{}/v1/tokens/{dana}/revoke", server.url))
            .bearer_auth(&cast.admin)
            .json(&json!({}))
            .send()
            .await
            .expect("revoke");
        assert!(resp.status().is_success(), "{:?}", resp.text().await);
        assert_eq!(get(&server, "/", &secret).await.0, StatusCode::SEE_OTHER);

        // Principal disabled.
        let (_, secret) = sign_in(&server, &cast.security).await;
        assert_eq!(get(&server, "/", &secret).await.0, StatusCode::OK);
        let sam = server
            .store
            .principal_by_name("sam-security")
            .await
            .expect("sam");
        server
            .store
            .disable_principal(&support::seeder(), &sam.id)
            .await
            .expect("disable");
        assert_eq!(get(&server, "/", &secret).await.0, StatusCode::SEE_OTHER);

        // Idle too long.
        let (_, secret) = sign_in(&server, &cast.lead).await;
        assert_eq!(get(&server, "/", &secret).await.0, StatusCode::OK);
        server
            .clock
            .advance_minutes(steward_web::session::IDLE_MS / 60_000 + 1);
        assert_eq!(get(&server, "/", &secret).await.0, StatusCode::SEE_OTHER);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_sees_only_its_own_permits_as_in_the_api() {
    for db in databases().await {
        let server = support::start(db.store().clone(), support::clock(), None).await;
        let cast = support::cast(&server.store).await;
        // A second worker with an agent identity whose only role is `worker`.
        let (agent_id, agent) = support::principal(
            &server.store,
            "agent-7",
            steward_store::PrincipalKind::Agent,
            &[steward_policy::Role::Worker],
        )
        .await;
        let owner = server
            .store
            .principal_by_name("owen-owner")
            .await
            .expect("owner")
            .id;
        testing::execute(
            &server.store,
            &format!(
                "INSERT INTO workers (id, display_name, owner_id, principal_id, level, status, domains, \
                 level_granted_at, stats, version, created_at, updated_at) VALUES ('wk-7', 'seven', '{owner}', \
                 '{agent_id}', 3, 'active', '[]', 1800000000000, '{{\"successes_at_level\":0,\"failures_at_level\":0,\"successes_by_level\":[0,0,0,0,0],\"last_incident_at\":null,\"safety_violations\":0,\"consecutive_union_failures\":0}}', 1, 0, 0)"
            ),
        )
        .await
        .expect("insert worker");
        let mine = support::request_permit(
            &server,
            &cast.requester,
            "wk-7",
            support::level2_task("mine"),
        )
        .await;
        let other = support::request_permit(
            &server,
            &cast.requester,
            &cast.worker_id,
            support::level2_task("other"),
        )
        .await;
        let (_, secret) = sign_in(&server, &agent).await;
        let (status, html) = get(&server, "/", &secret).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains(&mine), "{html}");
        assert!(!html.contains(&other), "{html}");
        assert!(html.contains("You hold no approver role."), "{html}");
        // Another worker's permit does not exist for it, as in the API.
        let (status, _) = get(&server, &format!("/permits/{other}"), &secret).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = get(&server, &format!("/permits/{mine}"), &secret).await;
        assert_eq!(status, StatusCode::OK);
        // Asking History for another worker is a 403 page, not an empty list.
        let (status, html) = get(
            &server,
            &format!("/history?worker={}", cast.worker_id),
            &secret,
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(html.contains("only its own permits"), "{html}");
        let (status, html) = get(&server, "/history", &secret).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains(&mine) && !html.contains(&other), "{html}");
        let (status, html) = get(&server, "/board", &secret).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!html.contains(&other), "{html}");
        // A bad search names its field.
        let (status, html) = get(&server, "/history?state=nope", &secret).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(html.contains("`state`"), "{html}");
        // Forged decisions by the worker are refused by the use case, shown as its message.
        let token = csrf(&server, &secret).await;
        let (status, html) = post(
            &server,
            &format!("/permits/{mine}/decide"),
            &secret,
            &[
                ("_csrf", token.as_str()),
                ("decision", "approve"),
                ("role", "tech_lead"),
            ],
            None,
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
        assert_eq!(
            support::permit(&server, &cast.admin, &mine).await["state"],
            "under_review"
        );

        // The requester posting an approval anyway: the use case refuses with the
        // segregation-of-duties reason, and the page says so.
        let level3 = support::request_permit(
            &server,
            &cast.requester,
            &cast.worker_id,
            support::level3_task("own"),
        )
        .await;
        let (_, rita) = sign_in(&server, &cast.requester).await;
        let token = csrf(&server, &rita).await;
        let (status, html) = post(
            &server,
            &format!("/permits/{level3}/decide"),
            &rita,
            &[
                ("_csrf", token.as_str()),
                ("decision", "approve"),
                ("role", "security_lead"),
                ("token", cast.requester.as_str()),
            ],
            None,
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
        assert!(html.contains("segregation of duties"), "{html}");
        assert!(html.contains("requested this permit"), "{html}");
        let p = support::permit(&server, &cast.admin, &level3).await;
        assert_eq!(
            (p["state"].as_str(), p["approvals"].as_array().map(Vec::len)),
            (Some("under_review"), Some(0))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_tokens_at_the_sign_in_form_is_throttled_per_address() {
    let db = testing::sqlite_store().await;
    let server = support::start(db.store().clone(), support::clock(), None).await;
    let cast = support::cast(&server.store).await;
    // The API's default allowance of failed authentications per address, then 429.
    let mut statuses = Vec::new();
    for i in 0..40 {
        let resp = client()
            .post(format!("{}/sign-in", server.url))
            .form(&[("token", format!("stw_guess_{i}"))])
            .send()
            .await
            .expect("sign in");
        statuses.push(resp.status());
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(resp.headers().contains_key("retry-after"), "Retry-After");
            let body = resp.text().await.expect("body");
            assert!(body.contains("Too many failed sign-ins"), "{body}");
            break;
        }
    }
    let refused_at = statuses
        .iter()
        .position(|s| *s == StatusCode::TOO_MANY_REQUESTS)
        .expect("429 within 40 guesses");
    assert!(
        statuses[..refused_at]
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    // Past the limit even a correct token is refused, and no session is opened.
    let resp = client()
        .post(format!("{}/sign-in", server.url))
        .form(&[("token", cast.lead.as_str())])
        .send()
        .await
        .expect("sign in");
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().get("set-cookie").is_none());
}
