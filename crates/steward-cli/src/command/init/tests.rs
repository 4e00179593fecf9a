//! Unit tests for the parts of `init` that need no database.

use std::path::PathBuf;

use super::{StoreArgs, redact};

#[test]
fn redact_hides_only_the_password() {
    assert_eq!(
        redact("postgres://steward:s3cret@db.internal:5432/steward"),
        "postgres://steward:***@db.internal:5432/steward"
    );
    assert_eq!(
        redact("postgres://steward@db/steward"),
        "postgres://steward@db/steward"
    );
    assert_eq!(
        redact("sqlite://steward-data/steward.db"),
        "sqlite://steward-data/steward.db"
    );
    // An `@` in the path is not a password separator.
    assert_eq!(
        redact("sqlite:///tmp/a@b/steward.db"),
        "sqlite:///tmp/a@b/steward.db"
    );
}

#[test]
fn the_default_database_lives_in_the_data_dir() {
    let args = StoreArgs {
        data_dir: PathBuf::from("/var/lib/steward"),
        database: None,
    };
    assert_eq!(args.database_url(), "sqlite:///var/lib/steward/steward.db");
    assert_eq!(
        args.key_path(),
        PathBuf::from("/var/lib/steward/audit-signing.key")
    );
}
