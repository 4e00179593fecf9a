//! Races: many outcome reports naming the same work (it counts once), many distinct ones
//! at once (none is lost), and minting tokens while their parent is revoked (no minted
//! token outlives it, on either backend).

use std::collections::{BTreeMap, BTreeSet};

use reqwest::StatusCode;
use serde_json::{Value, json};
use steward_policy::Role;
use steward_store::PrincipalKind;
use steward_store::testing::fetch_text;

use super::duties::insert_worker;
use crate::support::{TestServer, server_test};

/// POSTs `body` to `path` with `token` from a task of its own.
fn spawn_post(
    s: &TestServer,
    path: &str,
    token: &str,
    body: Value,
) -> tokio::task::JoinHandle<(StatusCode, Value)> {
    let (url, token) = (format!("{}{path}", s.url), token.to_owned());
    tokio::spawn(async move {
        let resp = reqwest::Client::new()
            .post(url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("sent");
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    })
}

/// An allowed, recorded development decision of worker `wk-race`; its audit seq.
async fn decision(s: &TestServer, agent: &str) -> u64 {
    let (status, body) = s
        .post(
            "/v1/authorize",
            agent,
            json!({"worker_id": "wk-race", "environment": "development", "action": "build",
                   "method": "POST", "record": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["audit_seq"].as_u64().expect("seq")
}

server_test!(
    attack_race_outcome_reports_count_once_and_none_is_lost,
    |s| {
        let (owner_id, owner) = s
            .principal("owner", PrincipalKind::Agent, &[Role::Master])
            .await;
        let (agent_id, agent) = s
            .principal("agent", PrincipalKind::Agent, &[Role::Worker])
            .await;
        insert_worker(s, "wk-race", &owner_id, &agent_id, 0).await;
        let path = "/v1/workers/wk-race/outcomes";

        // Sixteen reports of one decision, from the worker and its owner at once: one counts.
        let seq = decision(s, &agent).await;
        let posts: Vec<_> = (0..16)
            .map(|i| {
                let token = if i % 2 == 0 { &agent } else { &owner };
                spawn_post(
                    s,
                    path,
                    token,
                    json!({"result": "success", "authorize_seq": seq}),
                )
            })
            .collect();
        let mut statuses = BTreeMap::new();
        for post in posts {
            let (status, body) = post.await.expect("task");
            if status != StatusCode::OK {
                assert_eq!(body["rule"], "evidence_already_used", "{body}");
            }
            *statuses.entry(status.as_u16()).or_insert(0) += 1;
        }
        assert_eq!(statuses, BTreeMap::from([(200, 1), (409, 15)]));
        let (_, worker) = s.get("/v1/workers/wk-race", &owner).await;
        assert_eq!(
            worker["stats"]["successes_by_level"],
            json!([1, 0, 0, 0, 0])
        );
        let count = |sql: &str| {
            let sql = sql.to_owned();
            async move { fetch_text(s.store(), &sql).await.expect("count")[0][0].clone() }
        };
        assert_eq!(
            count("SELECT CAST(count(*) AS TEXT) FROM worker_outcomes").await,
            Some("1".to_owned())
        );
        assert_eq!(
        count("SELECT CAST(count(*) AS TEXT) FROM audit_events WHERE type = 'worker.outcome_recorded'")
            .await,
        Some("1".to_owned())
    );

        // Twelve reports of twelve decisions at once: every one counts (no lost update).
        let mut seqs = Vec::new();
        for _ in 0..12 {
            seqs.push(decision(s, &agent).await);
        }
        let version = worker["version"].as_i64().expect("version");
        let posts: Vec<_> = seqs
            .iter()
            .map(|seq| {
                spawn_post(
                    s,
                    path,
                    &agent,
                    json!({"result": "success", "authorize_seq": seq}),
                )
            })
            .collect();
        for post in posts {
            let (status, body) = post.await.expect("task");
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        let (_, worker) = s.get("/v1/workers/wk-race", &owner).await;
        assert_eq!(
            worker["stats"]["successes_by_level"],
            json!([13, 0, 0, 0, 0])
        );
        assert_eq!(worker["version"], version + 12);
        s.store()
            .verify_audit_chain()
            .await
            .expect("chain verifies");
    }
);

/// Every revoked token is tried once from the same address, more than the default
/// failed-authentication allowance: this test is about revocation, not that limit.
fn failures_unlimited(state: steward_server::AppState) -> steward_server::AppState {
    state.with_rate_limits(steward_server::RateLimitConfig {
        auth_failures_per_minute: 0,
        ..steward_server::RateLimitConfig::default()
    })
}

// Tokens minted with a token (and with those) while it is revoked: whatever interleaving
// the database chose, every token descending from it ends revoked and none authenticates.
server_test!(
    attack_race_minting_while_the_parent_is_revoked,
    configure = failures_unlimited,
    |s| {
        let (eve_id, eve) = s.human("eve", &[Role::TechLead]).await;
        let root = s.store().list_tokens(&eve_id).await.expect("tokens")[0]
            .id
            .clone();
        let minters: Vec<_> = (0..12)
            .map(|i| {
                let (url, parent) = (s.url.clone(), eve.clone());
                tokio::spawn(async move {
                    let client = reqwest::Client::new();
                    let mut secrets = Vec::new();
                    let mut current = parent;
                    // A chain: each minted token mints the next.
                    for depth in 0..3 {
                        let resp = client
                            .post(format!("{url}/v1/tokens"))
                            .bearer_auth(&current)
                            .json(&json!({"label": format!("copy {i}.{depth}")}))
                            .send()
                            .await
                            .expect("sent");
                        let status = resp.status();
                        let body: Value = resp.json().await.expect("json");
                        if status != StatusCode::CREATED {
                            assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
                            break;
                        }
                        current = body["token"].as_str().expect("secret").to_owned();
                        secrets.push(current.clone());
                    }
                    secrets
                })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let (status, revoked) = s
            .request(
                reqwest::Method::POST,
                &format!("/v1/tokens/{root}/revoke"),
                Some(&s.admin),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{revoked}");
        let mut minted = Vec::new();
        for minter in minters {
            minted.extend(minter.await.expect("task"));
        }

        // Every token in the lineage of the root is revoked, and none works.
        let rows = fetch_text(
            s.store(),
            "SELECT id, parent_token_id, CAST(revoked_at AS TEXT) FROM tokens",
        )
        .await
        .expect("tokens");
        let mut lineage = BTreeSet::from([root.clone()]);
        loop {
            let before = lineage.len();
            for row in &rows {
                if row[1].as_ref().is_some_and(|p| lineage.contains(p)) {
                    lineage.insert(row[0].clone().expect("id"));
                }
            }
            if lineage.len() == before {
                break;
            }
        }
        assert_eq!(
            lineage.len(),
            minted.len() + 1,
            "every minted token is in the lineage"
        );
        for row in rows
            .iter()
            .filter(|r| lineage.contains(r[0].as_deref().unwrap_or("")))
        {
            assert!(
                row[2].is_some(),
                "token `{:?}` outlived the revocation",
                row[0]
            );
        }
        for secret in minted.iter().chain([&eve]) {
            let (status, body) = s.get("/v1/tokens", secret).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        }
        s.store()
            .verify_audit_chain()
            .await
            .expect("chain verifies");
    }
);
