//! A real Steward server on 127.0.0.1:<random port> over a fresh database, and a small
//! JSON client. `server_test!` runs one body against SQLite and then PostgreSQL.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::Value;
use steward_permits::Timestamp;
use steward_policy::{Policy, Role};
use steward_server::{AppState, AuditKey, Clock, router, serve};
use steward_store::testing::{self, TestDb};
use steward_store::{Caller, NewPrincipal, NewToken, PrincipalKind, Store, token};
use tokio::sync::oneshot;

/// The audit signing key (Ed25519 seed) of every test server.
pub const TEST_AUDIT_KEY: [u8; 32] = [42; 32];

/// Runs `$body` (an async block using `$s: &TestServer`) on every available backend.
macro_rules! server_test {
    ($name:ident, |$s:ident| $body:block) => {
        $crate::support::server_test!($name, configure = |state| state, |$s| $body);
    };
    // `configure` (a `fn(AppState) -> AppState`) sets options such as rate limits.
    ($name:ident, configure = $configure:expr, |$s:ident| $body:block) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            for db in $crate::support::databases().await {
                let server = $crate::support::TestServer::start_configured(
                    db,
                    Some(steward_server::AuditKey::new($crate::support::TEST_AUDIT_KEY)),
                    $configure,
                )
                .await;
                let $s = &server;
                $body
                server.stop().await;
            }
        }
    };
}
pub(crate) use server_test;

/// SQLite always; PostgreSQL when reachable (and then required in CI).
pub async fn databases() -> Vec<TestDb> {
    let mut dbs = vec![testing::sqlite_store().await];
    if let Some(pg) = testing::postgres_store().await {
        dbs.push(pg);
    }
    dbs
}

pub struct TestServer {
    pub url: String,
    pub db: TestDb,
    pub clock: Clock,
    pub admin: String,
    client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// A completed-operation report of an `operation_type` with every field any level asks
/// for.
pub fn full_report(operation_type: &str) -> Value {
    let mut report = serde_json::Map::new();
    for field in steward_permits::LEVEL_1_FIELDS
        .iter()
        .chain(steward_permits::LEVEL_2_FIELDS)
        .chain(steward_permits::LEVEL_3_FIELDS)
        .chain(steward_permits::LEVEL_4_FIELDS)
    {
        report.insert((*field).to_owned(), Value::from(Vec::<Value>::new()));
    }
    report.insert("operation_type".into(), Value::from(operation_type));
    report.insert("duration_seconds".into(), Value::from(42));
    Value::Object(report)
}

/// The system actor used to seed principals in tests.
pub fn seeder() -> Caller {
    Caller::system("test-setup")
}

impl TestServer {
    /// A server that signs checkpoints with [`TEST_AUDIT_KEY`].
    pub async fn start(db: TestDb) -> TestServer {
        TestServer::start_with_key(db, Some(AuditKey::new(TEST_AUDIT_KEY))).await
    }

    pub async fn start_with_key(db: TestDb, audit_key: Option<AuditKey>) -> TestServer {
        TestServer::start_configured(db, audit_key, |state| state).await
    }

    /// A server whose state `configure` adjusts (rate limits, private webhook targets).
    pub async fn start_configured(
        db: TestDb,
        audit_key: Option<AuditKey>,
        configure: impl FnOnce(AppState) -> AppState,
    ) -> TestServer {
        // A fixed start keeps tests independent of the wall clock.
        let clock = Clock::manual(Timestamp(1_800_000_000_000));
        let state = configure(AppState::new(
            db.store().clone(),
            Arc::new(Policy::builtin()),
            clock.clone(),
            audit_key,
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, router(state), async move {
            let _ = rx.await;
        }));
        let mut server = TestServer {
            url,
            db,
            clock,
            admin: String::new(),
            client: reqwest::Client::new(),
            shutdown: Some(tx),
            task: Some(task),
        };
        server.admin = server
            .principal("admin", PrincipalKind::Human, &[Role::Admin])
            .await
            .1;
        server
    }

    pub fn store(&self) -> &Store {
        self.db.store()
    }

    /// Creates a principal with a token; returns (principal id, token secret).
    pub async fn principal(
        &self,
        name: &str,
        kind: PrincipalKind,
        roles: &[Role],
    ) -> (String, String) {
        let store = self.store();
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

    pub async fn human(&self, name: &str, roles: &[Role]) -> (String, String) {
        self.principal(name, PrincipalKind::Human, roles).await
    }

    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.url));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let bytes = resp.bytes().await.expect("body");
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.request(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.request(reqwest::Method::POST, path, Some(token), Some(&body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.request(reqwest::Method::DELETE, path, Some(token), None)
            .await
    }

    /// A GET whose body is returned as bytes, with the content type.
    pub async fn get_raw(&self, path: &str, token: &str) -> (StatusCode, Option<String>, Vec<u8>) {
        let resp = self
            .client
            .get(format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .expect("request sent");
        let status = resp.status();
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = resp.bytes().await.expect("body");
        (status, ctype, bytes.to_vec())
    }

    /// A POST with an optional bearer token, answering status, body and headers (for
    /// `Retry-After` and the content type).
    pub async fn post_with_headers(
        &self,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let mut req = self.client.post(format!("{}{path}", self.url)).json(body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            headers,
        )
    }

    /// Sends raw bytes with a content type, for malformed-body tests.
    pub async fn post_raw(
        &self,
        path: &str,
        token: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value, Option<String>) {
        let resp = self
            .client
            .post(format!("{}{path}", self.url))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request sent");
        let status = resp.status();
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = resp.bytes().await.expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            ctype,
        )
    }

    /// Another Steward instance over the same database (its own store, pool, caches and
    /// audit feed, on its own port), as a second server behind a load balancer would be.
    /// Meaningful on PostgreSQL; stops when dropped.
    pub async fn another_instance(&self) -> Instance {
        let store = Store::connect(self.db.url())
            .await
            .expect("second instance connects");
        let state = AppState::new(store, Arc::new(Policy::builtin()), self.clock.clone(), None);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(serve(listener, router(state), async move {
            let _ = rx.await;
        }));
        Instance { url, _shutdown: tx }
    }

    /// The number of audit events written so far.
    pub async fn audit_len(&self) -> u64 {
        self.store().audit_head().await.expect("audit head").seq
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// A second instance (see [`TestServer::another_instance`]); dropping it stops it.
pub struct Instance {
    pub url: String,
    _shutdown: oneshot::Sender<()>,
}
