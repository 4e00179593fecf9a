//! Rate limits over HTTP (issue 9, item 9), on SQLite and PostgreSQL: failed
//! authentications per address, token creation per token. The authorize limit is tested
//! in `authorize`.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use steward_policy::Role;
use steward_server::limits::DEFAULT_AUTH_FAILURES_PER_MINUTE;
use steward_server::{AppState, RateLimitConfig};

use crate::support::server_test;

/// Asserts a 429 problem of `limit` with a `Retry-After` of at least a second; returns
/// the seconds.
#[track_caller]
pub fn assert_rate_limited(
    status: StatusCode,
    body: &Value,
    headers: &HeaderMap,
    limit: &str,
) -> u64 {
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    assert_eq!(body["type"], "urn:steward:problem:rate-limited", "{body}");
    assert_eq!(body["status"], 429, "{body}");
    assert_eq!(body["rule"], "rate_limited", "{body}");
    assert_eq!(body["limit"], limit, "{body}");
    let retry_after: u64 = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no numeric Retry-After: {headers:?}"));
    assert!(retry_after >= 1, "{retry_after}");
    assert_eq!(body["retry_after_s"], retry_after, "{body}");
    retry_after
}

/// A token nobody holds.
const BAD: &str = "stw_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

// With the defaults: an address gets its allowance of failures as 401s, then 429 with
// Retry-After — and then even a correct token from that address is answered 429 before it
// is looked up. Requests without a token do not count.
server_test!(bad_tokens_from_one_address_are_answered_429, |s| {
    for _ in 0..5 {
        let (status, _, _) = s
            .post_with_headers("/v1/tokens", None, &json!({"label": "x"}))
            .await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "no token counts no failure"
        );
    }
    // The allowance is answered 401; then 429 (a refill every 2 s may let a late one
    // through on a slow machine, never an early one).
    let mut failures = 0;
    let (status, body, headers) = loop {
        let (status, body, headers) = s
            .post_with_headers("/v1/tokens", Some(BAD), &json!({"label": "x"}))
            .await;
        if status != StatusCode::UNAUTHORIZED {
            break (status, body, headers);
        }
        failures += 1;
        assert!(
            failures <= 2 * DEFAULT_AUTH_FAILURES_PER_MINUTE,
            "never limited"
        );
    };
    assert!(
        failures >= DEFAULT_AUTH_FAILURES_PER_MINUTE,
        "limited after {failures}"
    );
    let wait = assert_rate_limited(status, &body, &headers, "auth_failures");
    assert!(wait <= 60, "one cell refills in 60/N s: {wait}");
    let (status, body, headers) = s
        .post_with_headers("/v1/tokens", Some(&s.admin), &json!({"label": "x"}))
        .await;
    assert_rate_limited(status, &body, &headers, "auth_failures");
    let tokens = s
        .store()
        .list_tokens(
            &s.store()
                .authenticate(&s.admin)
                .await
                .expect("auth")
                .expect("admin")
                .principal
                .id,
        )
        .await
        .expect("tokens");
    assert_eq!(tokens.len(), 1, "no token was created");
});

fn strict(state: AppState) -> AppState {
    state.with_rate_limits(RateLimitConfig {
        auth_failures_per_minute: 3,
        token_creations_per_minute: 3,
        authorize_per_second: 0,
    })
}

// A malformed header counts like an unknown token; the limit is configurable.
server_test!(the_failure_limit_is_configurable, configure = strict, |s| {
    for header in [
        "Bearer stw_nope",
        "Basic YWRtaW46YWRtaW4=",
        "Bearer stw_nope2",
    ] {
        let resp = reqwest::Client::new()
            .get(format!("{}/v1/principals", s.url))
            .header("authorization", header)
            .send()
            .await
            .expect("sent");
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{header}");
    }
    let (status, body, headers) = s
        .post_with_headers("/v1/principals", Some(BAD), &json!({}))
        .await;
    assert_rate_limited(status, &body, &headers, "auth_failures");
});

// Token creation is limited per token: a burst past the limit is answered 429 with
// Retry-After and creates nothing; another token is not affected.
server_test!(
    a_token_creation_burst_is_answered_429,
    configure = strict,
    |s| {
        let (alice_id, alice) = s.human("alice", &[Role::TechLead]).await;
        for i in 0..3 {
            let (status, body) = s
                .post("/v1/tokens", &alice, json!({"label": format!("spare {i}")}))
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        let (status, body, headers) = s
            .post_with_headers(
                "/v1/tokens",
                Some(&alice),
                &json!({"label": "one too many"}),
            )
            .await;
        let wait = assert_rate_limited(status, &body, &headers, "token_creation");
        assert!(wait <= 20, "one cell refills in 60/3 s: {wait}");
        assert_eq!(
            s.store()
                .list_tokens(&alice_id)
                .await
                .expect("tokens")
                .len(),
            4,
            "alice's own token and the three spares"
        );
        // Another token, of the same principal, has its own allowance.
        let (status, body) = s
            .post(
                "/v1/tokens",
                &s.admin,
                json!({"principal_id": alice_id, "label": "by admin"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
);
