//! Connecting by URL: schemes, migrations on open, reopening an existing file.

use steward_store::{AuditEntry, Backend, NewEvent, Store, StoreError};

use crate::support::admin;

/// Records a `steward.initialized` event by [`admin`], now.
async fn record_initialized(store: &Store) -> AuditEntry {
    let event = NewEvent::now("steward.initialized", admin().actor());
    store.record_event(event).await.expect("record event")
}

#[tokio::test]
async fn unknown_scheme_is_refused_without_echoing_the_url() {
    let error = Store::connect("mysql://user:hunter2@localhost/db")
        .await
        .unwrap_err();
    assert!(matches!(&error, StoreError::UnsupportedUrl { scheme } if scheme == "mysql"));
    assert_eq!(
        error.to_string(),
        "unsupported database URL scheme `mysql`: expected `sqlite:` or `postgres:`"
    );
    assert!(!error.to_string().contains("hunter2"));
}

#[tokio::test]
async fn sqlite_file_is_created_migrated_and_reopened() {
    let path = std::env::temp_dir().join(format!(
        "steward-connect-{}.db",
        uuid::Uuid::new_v4().simple()
    ));
    let url = format!("sqlite://{}", path.display());

    let store = Store::connect(&url).await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    let entry = record_initialized(&store).await;
    store.close().await;

    // Reopening runs the migrations again (a no-op) and keeps the trail.
    let reopened = Store::connect(&url).await.unwrap();
    assert_eq!(reopened.events(1, 10).await.unwrap(), [entry]);
    assert_eq!(reopened.verify_audit_chain().await.unwrap().seq, 1);
    reopened.close().await;

    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[tokio::test]
async fn sqlite_in_memory_works_on_one_connection() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let entry = record_initialized(&store).await;
    assert_eq!(entry.seq, 1);
    assert_eq!(store.verify_audit_chain().await.unwrap().seq, 1);
}
