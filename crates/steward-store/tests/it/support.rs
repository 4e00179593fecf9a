//! Test harness: `store_test!` runs one body against a fresh SQLite store and, when
//! PostgreSQL is reachable (or required: `CI`, `STEWARD_REQUIRE_POSTGRES=1`), a fresh
//! PostgreSQL store. The databases come from `steward_store::testing`, which the crates
//! above reuse through the `test-support` feature.

use steward_policy::Role;
pub use steward_store::testing::{execute, fetch_text, postgres_store, sqlite_store};
use steward_store::{ActorKind, Caller, NewPrincipal, Principal, PrincipalKind, Store};

/// `store_test!(name, |store: Store| async move { ... });` defines the test `name`, which
/// runs the body on SQLite, then on PostgreSQL. Each run gets its own database, deleted
/// afterwards.
macro_rules! store_test {
    ($name:ident, $body:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            {
                let db = $crate::support::sqlite_store().await;
                ($body)(db.store().clone()).await;
            }
            if let Some(db) = $crate::support::postgres_store().await {
                ($body)(db.store().clone()).await;
            }
        }
    };
}
pub(crate) use store_test;

/// An admin acting through the API, for use cases that record who acted.
pub fn admin() -> Caller {
    Caller {
        kind: ActorKind::Human,
        id: "admin-1".to_owned(),
        roles: vec![Role::Admin],
        channel: None,
    }
}

/// A principal `name` of `kind` with `roles`, created by [`admin`].
pub async fn principal(
    store: &Store,
    name: &str,
    kind: PrincipalKind,
    roles: &[Role],
) -> Principal {
    let new = NewPrincipal {
        kind,
        name: name.to_owned(),
        roles: roles.to_vec(),
    };
    store
        .create_principal(&admin(), new)
        .await
        .expect("create principal")
}

/// The types of the events from `from_seq` on, in order.
pub async fn event_types(store: &Store, from_seq: u64) -> Vec<String> {
    let events = store.events(from_seq, 1000).await.expect("events");
    events.into_iter().map(|e| e.event_type).collect()
}
