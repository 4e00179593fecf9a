//! A Steward server (API and dashboard) on 127.0.0.1:<random port> over a fresh database,
//! and the cast of a permit story seeded through the store and the JSON API.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use steward_permits::Timestamp;
use steward_policy::{Policy, Role};
use steward_server::{AppState, AuditKey, Clock, serve};
use steward_store::testing::execute;
use steward_store::{Caller, NewPrincipal, NewToken, PrincipalKind, Store, token};
use tokio::sync::oneshot;

/// A server instance; stops when dropped.
pub struct Server {
    pub url: String,
    pub clock: Clock,
    pub store: Store,
    _shutdown: oneshot::Sender<()>,
}

/// Starts a server over `store`, with links pointing at `public_url` when given.
pub async fn start(store: Store, clock: Clock, public_url: Option<&str>) -> Server {
    start_with_key(store, clock, public_url, None).await
}

/// The audit signing key of [`start_signed`] servers.
pub const TEST_AUDIT_KEY: [u8; 32] = [42; 32];

/// A server that signs audit checkpoints with [`TEST_AUDIT_KEY`] (claimed first, as
/// `steward serve` does).
pub async fn start_signed(store: Store, clock: Clock) -> Server {
    store
        .claim_signing_key(
            &seeder(),
            &steward_audit::public_key(&TEST_AUDIT_KEY),
            clock.now().millis(),
        )
        .await
        .expect("claim the signing key");
    start_with_key(store, clock, None, Some(AuditKey::new(TEST_AUDIT_KEY))).await
}

async fn start_with_key(
    store: Store,
    clock: Clock,
    public_url: Option<&str>,
    key: Option<AuditKey>,
) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let state = AppState::new(
        store.clone(),
        Arc::new(Policy::builtin()),
        clock.clone(),
        key,
    )
    .with_public_url(public_url.unwrap_or(&url));
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(serve(listener, steward_web::app(state), async move {
        let _ = rx.await;
    }));
    Server {
        url,
        clock,
        store,
        _shutdown: tx,
    }
}

/// A fixed start keeps tests independent of the wall clock.
pub fn clock() -> Clock {
    Clock::manual(Timestamp(1_800_000_000_000))
}

pub fn seeder() -> Caller {
    Caller::system("test-setup")
}

/// Creates a principal with a token; returns (principal id, token secret).
pub async fn principal(
    store: &Store,
    name: &str,
    kind: PrincipalKind,
    roles: &[Role],
) -> (String, String) {
    let p = store
        .create_principal(
            &seeder(),
            NewPrincipal {
                kind,
                name: name.into(),
                roles: roles.to_vec(),
            },
        )
        .await
        .expect("create principal");
    let (secret, secret_hash) = token::generate();
    store
        .create_token(
            &seeder(),
            NewToken {
                principal_id: p.id.clone(),
                label: format!("{name} test token"),
                expires_at_ms: None,
                secret_hash,
            },
        )
        .await
        .expect("create token");
    (p.id, secret)
}

/// The people of the story.
pub struct Cast {
    pub admin: String,
    /// A human master who also holds `security_lead`: segregation of duties is what keeps
    /// them from approving what they requested.
    pub requester: String,
    pub security: String,
    pub director: String,
    pub lead: String,
    pub worker_id: String,
}

pub async fn cast(store: &Store) -> Cast {
    let (_, admin) = principal(store, "admin", PrincipalKind::Human, &[Role::Admin]).await;
    let (_, requester) = principal(
        store,
        "rita-requester",
        PrincipalKind::Human,
        &[Role::Master, Role::SecurityLead],
    )
    .await;
    let (owner_id, _) = principal(store, "owen-owner", PrincipalKind::Human, &[]).await;
    let (_, security) = principal(
        store,
        "sam-security",
        PrincipalKind::Human,
        &[Role::SecurityLead],
    )
    .await;
    let (_, director) = principal(
        store,
        "dana-director",
        PrincipalKind::Human,
        &[Role::EngineeringDirector],
    )
    .await;
    let (_, lead) = principal(
        store,
        "tess-techlead",
        PrincipalKind::Human,
        &[Role::TechLead],
    )
    .await;
    let worker_id = "wk-deployer".to_owned();
    execute(
        store,
        &format!(
            "INSERT INTO workers (id, display_name, owner_id, principal_id, level, status, domains, \
             level_granted_at, stats, version, created_at, updated_at) VALUES ('{worker_id}', 'deployer', '{owner_id}', \
             NULL, 3, 'active', '[]', 1800000000000, '{{\"successes_at_level\":0,\"failures_at_level\":0,\"successes_by_level\":[0,0,0,0,0],\"last_incident_at\":null,\"safety_violations\":0,\"consecutive_union_failures\":0}}', 1, 0, 0)"
        ),
    )
    .await
    .expect("insert worker");
    Cast {
        admin,
        requester,
        security,
        director,
        lead,
        worker_id,
    }
}

pub fn all_evidence() -> Value {
    json!({
        "rollback_plan": {"steps": ["kubectl rollout undo deploy/orders"],
                          "verification": ["kubectl rollout status deploy/orders"], "estimated_minutes": 5},
        "test_results": "https://ci.example.com/runs/42",
        "code_review": "https://git.example.com/pr/7",
        "rollback_tested": "2026-11-20",
        "security_review": "SEC-12",
        "impact_analysis": "docs/impact.md",
        "rollback_rehearsed": "2026-11-21",
        "architecture_review": "ARCH-3",
        "risk_assessment": "RISK-9",
        "business_justification": "quarterly launch",
        "customer_communication_plan": "status page + email",
        "data_protection_impact_assessment": "DPIA-1",
    })
}

/// A level-3 task: two approvers, one of them an engineering director.
pub fn level3_task(id: &str) -> Value {
    json!({"id": id, "description": format!("Add a column to orders ({id})"),
           "environment": "production",
           "operations": ["ALTER TABLE orders ADD COLUMN note text"],
           "services_affected": ["orders"]})
}

/// A level-2 task: one approver.
pub fn level2_task(id: &str) -> Value {
    json!({"id": id, "description": format!("Deploy the api ({id})"), "environment": "production",
           "operations": ["deploy"], "services_affected": ["api"]})
}

/// Requests a permit through the JSON API; returns its id.
pub async fn request_permit(server: &Server, token: &str, worker_id: &str, task: Value) -> String {
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/permits", server.url))
        .bearer_auth(token)
        .json(&json!({"task": task, "worker_id": worker_id, "evidence": all_evidence()}))
        .send()
        .await
        .expect("request sent");
    let status = resp.status();
    let body: Value = resp.json().await.expect("json body");
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().expect("permit id").to_owned()
}

/// A permit as the JSON API shows it.
pub async fn permit(server: &Server, token: &str, id: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{}/v1/permits/{id}", server.url))
        .bearer_auth(token)
        .send()
        .await
        .expect("request sent")
        .json()
        .await
        .expect("json body")
}
