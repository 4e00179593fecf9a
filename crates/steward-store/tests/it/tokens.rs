//! API tokens: generate, store the hash only, authenticate, expire, revoke.

use sha2::{Digest, Sha256};
use steward_policy::Role;
use steward_store::testing::TestDb;
use steward_store::token::{self, SECRET_PREFIX};
use steward_store::{Backend, NewToken, Principal, PrincipalKind, Store, StoreError};

use crate::support::{admin, event_types, fetch_text, principal, store_test};

/// An agent `name` with the `master` role.
async fn agent(store: &Store, name: &str) -> Principal {
    principal(store, name, PrincipalKind::Agent, &[Role::Master]).await
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(since.as_millis()).expect("milliseconds fit i64")
}

#[test]
fn generated_secrets_are_prefixed_long_and_distinct() {
    let (a, hash_a) = token::generate();
    let (b, hash_b) = token::generate();
    assert!(a.starts_with(SECRET_PREFIX));
    // 32 random bytes in unpadded base64url.
    assert_eq!(a.len(), SECRET_PREFIX.len() + 43);
    assert!(
        a[SECRET_PREFIX.len()..]
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    );
    assert_ne!(a, b);
    assert_ne!(hash_a, hash_b);
    assert_eq!(hash_a, <[u8; 32]>::from(Sha256::digest(a.as_bytes())));
    assert_eq!(token::hash(&a), hash_a);
}

store_test!(token_round_trip, |store: Store| async move {
    let bot = agent(&store, "bot").await;
    let (secret, new) = new_token(&bot.id, "ci", None);
    let created = store.create_token(&admin(), new).await.unwrap();

    let authed = store
        .authenticate(&secret)
        .await
        .unwrap()
        .expect("valid secret");
    assert_eq!(authed.token_id, created.id);
    assert_eq!(authed.principal, bot);
    assert_eq!(store.authenticate("stw_wrong").await.unwrap(), None);
    assert_eq!(store.authenticate("").await.unwrap(), None);

    // First use is recorded.
    let listed = store.list_tokens(&bot.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].last_used_at_ms.is_some());
    assert_eq!(listed[0].label, "ci");

    assert_eq!(
        event_types(&store, 1).await,
        ["principal.created", "token.created"]
    );
});

store_test!(only_the_hash_is_stored, |store: Store| async move {
    let bot = agent(&store, "bot").await;
    let (secret, new) = new_token(&bot.id, "ci", Some(now_ms() + 60_000));
    let secret_hash = new.secret_hash;
    store.create_token(&admin(), new).await.unwrap();

    let hex_hash = match store.backend() {
        Backend::Sqlite => "lower(hex(token_hash))",
        Backend::Postgres => "encode(token_hash, 'hex')",
    };
    let sql = format!(
        "SELECT id, principal_id, {hex_hash}, label, CAST(created_at AS TEXT), \
         CAST(expires_at AS TEXT), CAST(revoked_at AS TEXT), CAST(last_used_at AS TEXT) \
         FROM tokens"
    );
    let rows = fetch_text(&store, &sql).await.unwrap();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(
        row[2].as_deref(),
        Some(hex(&Sha256::digest(secret.as_bytes())).as_str())
    );
    let random_part = &secret[SECRET_PREFIX.len()..];
    for cell in row.iter().flatten() {
        assert!(!cell.contains(random_part), "secret leaked into `{cell}`");
    }
    // Nor does the audit trail hold the secret or its hash.
    for entry in store.events(1, 10).await.unwrap() {
        let text = entry.data.to_string();
        assert!(!text.contains(random_part));
        assert!(!text.contains(&hex(&secret_hash)));
    }
});

store_test!(
    expired_revoked_and_disabled_do_not_authenticate,
    |store: Store| async move {
        let bot = agent(&store, "bot").await;

        let (expired, new) = new_token(&bot.id, "expired", Some(now_ms() - 1_000));
        store.create_token(&admin(), new).await.unwrap();
        assert_eq!(store.authenticate(&expired).await.unwrap(), None);

        let (live, new) = new_token(&bot.id, "live", Some(now_ms() + 3_600_000));
        let live_token = store.create_token(&admin(), new).await.unwrap();
        assert!(store.authenticate(&live).await.unwrap().is_some());

        let revoked = store.revoke_token(&admin(), &live_token.id).await.unwrap();
        assert!(revoked.cascaded.is_empty(), "a root token minted nothing");
        let revoked_at = revoked.token.revoked_at_ms.expect("revoked");
        assert_eq!(store.authenticate(&live).await.unwrap(), None);
        // Revoking again is a no-op that reports the first revocation.
        let again = store.revoke_token(&admin(), &live_token.id).await.unwrap();
        assert_eq!(again.token.revoked_at_ms, Some(revoked_at));

        let (forever, new) = new_token(&bot.id, "forever", None);
        store.create_token(&admin(), new).await.unwrap();
        assert!(store.authenticate(&forever).await.unwrap().is_some());
        store.disable_principal(&admin(), &bot.id).await.unwrap();
        assert_eq!(store.authenticate(&forever).await.unwrap(), None);

        let labels: Vec<String> = store
            .list_tokens(&bot.id)
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.label)
            .collect();
        assert_eq!(labels, ["expired", "live", "forever"]);
        let types = event_types(&store, 1).await;
        let revocations = types.iter().filter(|t| *t == "token.revoked").count();
        assert_eq!(revocations, 1);
    }
);

store_test!(token_errors, |store: Store| async move {
    let (_, new) = new_token("nobody", "x", None);
    let error = store.create_token(&admin(), new.clone()).await.unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::NotFound {
                what: "principal",
                ..
            }
        ),
        "{error:?}"
    );

    let bot = agent(&store, "bot").await;
    let new = NewToken {
        principal_id: bot.id,
        ..new
    };
    store.create_token(&admin(), new.clone()).await.unwrap();
    let error = store.create_token(&admin(), new).await.unwrap_err();
    assert!(matches!(error, StoreError::Conflict { .. }), "{error:?}");

    let error = store.revoke_token(&admin(), "t-404").await.unwrap_err();
    assert_eq!(error.to_string(), "token `t-404` not found");
});

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// Authentication answers from memory on SQLite once a token has authenticated; any
// write transaction (a revocation, a disabled principal) makes the very next
// authentication read the database again, and a kept answer ends with its token's expiry.
store_test!(
    the_authentication_after_a_revocation_refuses,
    |store: Store| async move {
        let bot = agent(&store, "bot").await;
        let (secret, new) = new_token(&bot.id, "hot", None);
        let hot = store.create_token(&admin(), new).await.unwrap();
        for _ in 0..3 {
            assert!(store.authenticate(&secret).await.unwrap().is_some());
        }
        store.revoke_token(&admin(), &hot.id).await.unwrap();
        assert_eq!(store.authenticate(&secret).await.unwrap(), None);

        let (brief, new) = new_token(&bot.id, "brief", Some(now_ms() + 300));
        store.create_token(&admin(), new).await.unwrap();
        assert!(store.authenticate(&brief).await.unwrap().is_some());
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        assert_eq!(store.authenticate(&brief).await.unwrap(), None);

        let (other, new) = new_token(&bot.id, "other", None);
        store.create_token(&admin(), new).await.unwrap();
        assert!(store.authenticate(&other).await.unwrap().is_some());
        assert!(store.authenticate(&other).await.unwrap().is_some());
        store.disable_principal(&admin(), &bot.id).await.unwrap();
        assert_eq!(store.authenticate(&other).await.unwrap(), None);
    }
);

/// The SQLite cache is exact only because this process makes every write: a revocation
/// written by another process is seen at the next write transaction of this one (this
/// test shows that the answer really comes from memory).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_authentication_is_answered_from_memory_until_a_write() {
    let db = steward_store::testing::sqlite_store().await;
    let (store, secret) = revoked_by_another_process(&db).await;
    assert!(store.authenticate(&secret).await.unwrap().is_some());
    agent(&store, "another write").await;
    assert_eq!(store.authenticate(&secret).await.unwrap(), None);
}

/// On SQLite a write that changes neither `tokens` nor `principals` leaves the kept
/// authentication answers in place (the writer connection's update hook says what each
/// transaction changed); one that changes a principal refreshes them.
#[tokio::test]
async fn sqlite_authentication_is_kept_across_writes_to_other_tables() {
    let db = steward_store::testing::sqlite_store().await;
    let (store, secret) = revoked_by_another_process(&db).await;
    let event = steward_store::NewEvent {
        ts_ms: now_ms(),
        event_type: "test.other_write".to_owned(),
        actor: admin().actor(),
        subject: steward_store::Subject::default(),
        level: None,
        data: serde_json::json!({}),
    };
    store.record_event_unbatched(event).await.unwrap();
    assert!(store.authenticate(&secret).await.unwrap().is_some());
    agent(&store, "a principal write").await;
    assert_eq!(store.authenticate(&secret).await.unwrap(), None);
}

/// `db`'s store and the secret of a token that authenticated once through it and was then
/// revoked by another process: the store itself made no write since.
async fn revoked_by_another_process(db: &TestDb) -> (Store, String) {
    let store = db.store().clone();
    let bot = agent(&store, "bot").await;
    let (secret, new) = new_token(&bot.id, "hot", None);
    let hot = store
        .create_token(&admin(), new)
        .await
        .expect("create token");
    let authed = store.authenticate(&secret).await.expect("authenticate");
    assert!(authed.is_some());
    let revoke = format!(
        "UPDATE tokens SET revoked_at = {} WHERE id = '{}'",
        now_ms(),
        hot.id
    );
    steward_store::testing::execute_outside(db.url(), &revoke)
        .await
        .expect("revoke outside");
    (store, secret)
}

/// A fresh token for `principal_id`: its secret and the row to create.
fn new_token(principal_id: &str, label: &str, expires_at_ms: Option<i64>) -> (String, NewToken) {
    let (secret, secret_hash) = token::generate();
    let new = NewToken {
        principal_id: principal_id.to_owned(),
        label: label.to_owned(),
        expires_at_ms,
        secret_hash,
    };
    (secret, new)
}
