//! Issue 9, item 10: the audit signing key is recorded in the database at `init`, and an
//! instance whose key is missing or different refuses to start, saying how to supply it
//! (`--audit-key FILE`, `STEWARD_AUDIT_KEY_FILE`) — a second instance on one PostgreSQL,
//! a single SQLite instance, and a database initialised before keys were recorded.

use std::path::Path;

use super::{Served, serve_refused};
use crate::support::{Run, scratch, scratch_dir};

#[track_caller]
fn ok(run: Run) -> Run {
    assert_eq!(
        run.code, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    run
}

/// The key id `steward init` printed for the key in `dir`.
fn key_id_of(dir: &Path) -> String {
    let secret: [u8; 32] = std::fs::read(dir.join("audit-signing.key"))
        .expect("key file")
        .try_into()
        .expect("32 bytes");
    let public = ed25519_dalek::SigningKey::from_bytes(&secret)
        .verifying_key()
        .to_bytes();
    steward_audit::key_id(&public)
}

/// Asserts a refused start: exit 2, one line on stderr containing every `needle`,
/// nothing listening.
#[track_caller]
fn assert_refused_start(run: &Run, needles: &[&str]) {
    assert_eq!(
        run.code, 2,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    assert!(!run.stdout.contains("listening"), "{}", run.stdout);
    let last = run.stderr.trim_end().lines().last().unwrap_or("");
    for needle in needles {
        assert!(last.contains(needle), "`{needle}` not in: {}", run.stderr);
    }
}

#[test]
fn issue_9_a_second_instance_on_postgres_needs_the_recorded_key() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // `None` when PostgreSQL is unreachable and not required (see steward_store::testing).
    let Some(db) = runtime.block_on(steward_store::testing::postgres_store()) else {
        return;
    };
    let url = db.url().to_owned();
    let first_dir = scratch_dir("key-pg-first");
    let first = Served::start_on(&first_dir, Some(&url));
    let admin = first.token.clone().expect("the first instance initialises");
    let key_id = key_id_of(&first_dir);
    assert!(
        first
            .stdout
            .contains(&format!("key id {key_id}, recorded in the database"))
    );

    // Started as the README once said, on an empty data directory: refused, naming the
    // key and how to supply it.
    let second_dir = scratch_dir("key-pg-second");
    let refused = serve_refused(&second_dir, Some(&url), &[], &[]);
    assert_refused_start(
        &refused,
        &[
            &format!("signed with key {key_id}"),
            "--audit-key FILE",
            "STEWARD_AUDIT_KEY_FILE",
        ],
    );
    // Another key: refused too, naming both.
    let stranger = scratch("stranger.key");
    std::fs::write(&stranger, [7u8; 32]).expect("a key");
    let stranger_arg = stranger.to_str().expect("utf-8 path");
    let refused = serve_refused(&second_dir, Some(&url), &["--audit-key", stranger_arg], &[]);
    assert_refused_start(&refused, &["is not the key", &format!("(key {key_id})")]);

    // With the first instance's key, by flag: the second instance signs and verifies
    // like the first, so an auditor behind a load balancer gets the same answers.
    let key_file = first_dir.join("audit-signing.key");
    let key_arg = key_file.to_str().expect("utf-8 path");
    let second = Served::start_with(&second_dir, Some(&url), &["--audit-key", key_arg], &[]);
    assert!(second.token.is_none(), "nothing is initialised twice");
    let public = std::fs::read_to_string(first_dir.join("audit-signing.pub")).expect("pub");
    for served in [&first, &second] {
        let run = ok(served.run(&["audit", "public-key"], &admin));
        assert_eq!(run.stdout, public);
    }
    let checkpoint = ok(second.run(&["audit", "checkpoint", "--json"], &admin)).json();
    assert_eq!(checkpoint["key_id"], key_id.as_str());
    for served in [&first, &second] {
        let run = ok(served.run(&["audit", "verify"], &admin));
        assert!(run.stdout.contains("intact"), "{}", run.stdout);
    }
    assert!(second.terminate().success());

    // By environment variable, too.
    let third_dir = scratch_dir("key-pg-third");
    let third = Served::start_with(
        &third_dir,
        Some(&url),
        &[],
        &[("STEWARD_AUDIT_KEY_FILE", key_arg)],
    );
    let run = ok(third.run(&["audit", "public-key"], &admin));
    assert_eq!(run.stdout, public);
    assert!(third.terminate().success());
    assert!(first.terminate().success());
    drop(db);
}

#[test]
fn issue_9_sqlite_needs_the_recorded_key_and_old_databases_record_theirs() {
    let dir = scratch_dir("key-sqlite");
    let first = Served::start(&dir);
    let admin = first.token.clone().expect("first run");
    let key_id = key_id_of(&dir);
    ok(first.run(&["audit", "checkpoint"], &admin));
    assert!(first.terminate().success());

    // The key moved out of the data directory: refused; named by flag: serves.
    let moved = scratch("moved-audit-signing.key");
    std::fs::rename(dir.join("audit-signing.key"), &moved).expect("move the key");
    let moved_arg = moved.to_str().expect("utf-8 path");
    let refused = serve_refused(&dir, None, &[], &[]);
    assert_refused_start(
        &refused,
        &["no audit signing key", &key_id, "--audit-key FILE"],
    );
    let served = Served::start_with(&dir, None, &["--audit-key", moved_arg], &[]);
    ok(served.run(&["audit", "verify"], &admin));
    assert!(served.terminate().success());
    // A named file that does not exist is an error of its own.
    let refused = serve_refused(&dir, None, &["--audit-key", "/nonexistent/key"], &[]);
    assert_refused_start(
        &refused,
        &["cannot read the audit signing key `/nonexistent/key`"],
    );

    // A database initialised before keys were recorded (as migration 0013 leaves one:
    // the table empty): a start with another key is refused by the signed checkpoints,
    // and nothing is recorded; the start with the checkpoints' key records it, says so,
    // and audits it.
    let url = format!("sqlite://{}", dir.join("steward.db").display());
    forget_the_recorded_key(&url);
    let stranger = scratch("stranger-sqlite.key");
    std::fs::write(&stranger, [9u8; 32]).expect("a key");
    let stranger_arg = stranger.to_str().expect("utf-8 path");
    let refused = serve_refused(&dir, None, &["--audit-key", stranger_arg], &[]);
    assert_refused_start(&refused, &["is not the key", &format!("(key {key_id})")]);
    let served = Served::start_with(&dir, None, &["--audit-key", moved_arg], &[]);
    assert!(
        served.stdout.contains(&format!(
            "Recorded the audit signing key {key_id} in the database"
        )),
        "{}",
        served.stdout
    );
    let events = ok(served.run(
        &[
            "audit",
            "events",
            "--type",
            "audit.signing_key_recorded",
            "--json",
        ],
        &admin,
    ))
    .json();
    let items = events["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "init's and this start's: {events}");
    assert_eq!(items[1]["data"]["key_id"], key_id.as_str());
    ok(served.run(&["audit", "verify"], &admin));
    assert!(served.terminate().success());

    // Without any key, an old database says how to record one.
    forget_the_recorded_key(&url);
    let refused = serve_refused(&dir, None, &[], &[]);
    assert_refused_start(
        &refused,
        &["none is recorded in the database", "--audit-key FILE"],
    );
}

/// Empties `audit_signing_key` past its triggers, as a database that was initialised
/// before keys were recorded is after migration 0013.
fn forget_the_recorded_key(url: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store = steward_store::Store::connect(url).await.expect("open");
        steward_store::testing::execute(
            &store,
            "DROP TRIGGER audit_signing_key_no_delete; DELETE FROM audit_signing_key; \
             CREATE TRIGGER audit_signing_key_no_delete BEFORE DELETE ON audit_signing_key \
             BEGIN SELECT RAISE(ABORT, 'audit_signing_key is permanent'); END;",
        )
        .await
        .expect("forget the key");
        store.close().await;
    });
}
