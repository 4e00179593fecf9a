//! Parsing Steward's own parameters out of database URLs.

use super::*;

#[test]
fn synchronous_parameter_is_taken_out_of_sqlite_urls() {
    assert_eq!(
        take_synchronous("sqlite://./steward.db").unwrap(),
        ("sqlite://./steward.db".to_owned(), SqliteDurability::Normal)
    );
    assert_eq!(
        take_synchronous("sqlite://./s.db?synchronous=FULL").unwrap(),
        ("sqlite://./s.db".to_owned(), SqliteDurability::Full)
    );
    assert_eq!(
        take_synchronous("sqlite://./s.db?mode=rwc&synchronous=normal").unwrap(),
        (
            "sqlite://./s.db?mode=rwc".to_owned(),
            SqliteDurability::Normal
        )
    );
    let err = take_synchronous("sqlite://./s.db?synchronous=off").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid database URL: `synchronous=off`: expected `synchronous=normal` or `synchronous=full`"
    );
}

/// Both backends have the same migrations: same versions, same names, in order.
#[test]
fn sqlite_and_postgres_migrations_are_in_step() {
    let names = |migrator: &Migrator| -> Vec<(i64, String)> {
        migrator
            .iter()
            .map(|m| (m.version, m.description.to_string()))
            .collect()
    };
    let sqlite = names(&SQLITE_MIGRATIONS);
    assert_eq!(sqlite, names(&POSTGRES_MIGRATIONS));
    assert!(sqlite.len() > 1, "{sqlite:?}");
    assert!(sqlite.windows(2).all(|w| w[0].0 < w[1].0), "{sqlite:?}");
}

/// Row writes held for the commit (`Tx::defer_write`) on SQLite's writer connection land
/// with the commit, in order. When the guarded one (the last) changes no row, the
/// transaction fails with the write's own conflict (not "head moved"), with or without
/// audit events to carry it and with or without a writer queued behind it; every held
/// write is undone and the trail stays as it was.
#[tokio::test]
async fn a_deferred_write_commits_with_its_transaction_or_fails_it_with_its_conflict() {
    use crate::{Caller, NewEvent, NewPrincipal, PrincipalKind};

    let db = crate::testing::sqlite_store().await;
    let store = db.store().clone();
    let setup = Caller::system("test");
    let create = async |name: &str| {
        let new = NewPrincipal {
            kind: PrincipalKind::Human,
            name: name.into(),
            roles: vec![],
        };
        store
            .create_principal(&setup, new)
            .await
            .expect("principal")
    };
    let principal = create("before").await;
    let rename = |id: &str, name: &'static str| -> DeferredWrite {
        let id = id.to_owned();
        Box::new(move |query: &mut sqlx::QueryBuilder<'_, Sqlite>| {
            query
                .push("UPDATE principals SET name = ")
                .push_bind(name)
                .push(" WHERE id = ")
                .push_bind(id);
        })
    };
    let conflict = || StoreError::Conflict {
        message: "changed meanwhile".into(),
    };
    let event = || NewEvent::now("test.deferred", setup.actor());
    let other = create("other").await;
    let head = store.audit_head().await.expect("head");

    // Carried by the audit rows' round trip, in order, the guarded one last.
    let mut tx = store.begin().await.expect("begin");
    assert!(tx.defer_write(rename(&other.id, "unguarded"), None).is_ok());
    let guarded = tx.defer_write(rename(&principal.id, "after"), Some(conflict()));
    assert!(guarded.is_ok());
    assert!(
        tx.defer_write(rename(&principal.id, "twice"), None)
            .is_err(),
        "a guarded write is the last one held: a later one is given back"
    );
    crate::append_event(&mut tx, event()).await.expect("append");
    tx.commit().await.expect("commit");
    let renamed = store.principal_by_id(&principal.id).await.expect("read");
    assert_eq!(renamed.name, "after");
    let renamed = store.principal_by_id(&other.id).await.expect("read");
    assert_eq!(renamed.name, "unguarded");
    assert_eq!(store.audit_head().await.expect("head").seq, head.seq + 1);

    // A write that changes no row fails the transaction: with events, without, and with
    // a writer queued (whose transaction the failed round trip would have begun).
    for (events, queued) in [(true, false), (false, false), (true, true)] {
        let before = store.audit_head().await.expect("head");
        let mut tx = store.begin().await.expect("begin");
        assert!(tx.defer_write(rename(&other.id, "never"), None).is_ok());
        let guarded = tx.defer_write(rename("nobody", "x"), Some(conflict()));
        assert!(guarded.is_ok());
        if events {
            crate::append_event(&mut tx, event()).await.expect("append");
        }
        let next = queued.then(|| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut tx = store.begin().await.expect("queued begin");
                let entry = crate::append_event(
                    &mut tx,
                    NewEvent::now("test.next", Caller::system("test").actor()),
                )
                .await
                .expect("queued append");
                tx.commit().await.expect("queued commit");
                entry.seq
            })
        });
        if queued {
            while store.shared.writers_queued.load(Ordering::SeqCst) == 0 {
                tokio::task::yield_now().await;
            }
        }
        let error = tx.commit().await.expect_err("nothing to update");
        assert!(
            matches!(&error, StoreError::Conflict { message } if message == "changed meanwhile"),
            "events {events}, queued {queued}: {error}"
        );
        let mut expected = before.seq;
        if let Some(next) = next {
            expected += 1;
            assert_eq!(
                next.await.expect("queued task"),
                expected,
                "the queued writer goes on"
            );
        }
        assert_eq!(store.audit_head().await.expect("head").seq, expected);
    }
    store.verify_audit_chain().await.expect("chain intact");
    assert_eq!(
        store
            .principal_by_id(&principal.id)
            .await
            .expect("read")
            .name,
        "after"
    );
    assert_eq!(
        store.principal_by_id(&other.id).await.expect("read").name,
        "unguarded",
        "a failed transaction's held writes are rolled back with it"
    );
}
