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
