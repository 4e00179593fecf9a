//! The attacker's suite (issue 9): what an attacker tries against a live server, one
//! module per family — identity and roles, segregation of duties (SPEC §6.3), authorize
//! scope (§7), bad input (§12), races, and direct edits of the audit trail (§9); SPEC §4's
//! access matrix and hard blocks run through `scope`. Every test does what an attacker
//! would over HTTP, on SQLite and PostgreSQL, and asserts both the refusal (status and
//! problem `rule`) and that nothing changed: every table's rows and the audit head
//! (`Fingerprint`).
//!
//! Strict input (duplicate keys at any depth, non-object bodies, problem+json for every
//! 4xx, the `Authorization` scheme) is `strict`. `ssrf` sends webhooks to internal
//! addresses (issue 9, item 7); `identity` includes brute force against the
//! failed-authentication limit (item 9). Left to the suites of other changes: wildcard
//! scopes (an empty `operations` list), forged audit manifests and checkpoints kept outside
//! the database. `kill -9` runs
//! through the real binary in the CLI's tests (`service::…survive_kill_9…`).

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::Value;
use steward_store::testing::fetch_text;
use steward_store::{Backend, Store};

mod duties;
mod identity;
mod input;
mod privacy;
mod races;
mod scope;
mod ssrf;
mod strict;
mod tampering;

/// Columns that change without any change of state: when a token was last used.
const VOLATILE: &[(&str, &str)] = &[("tokens", "last_used_at")];

/// Every row of every table, as text, by table: what "nothing changed" compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(BTreeMap<String, Vec<String>>);

impl Fingerprint {
    pub async fn of(store: &Store) -> Fingerprint {
        let tables_sql = match store.backend() {
            Backend::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name"
            }
            Backend::Postgres => {
                "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() \
                 AND tablename <> '_sqlx_migrations' ORDER BY tablename"
            }
        };
        let mut rows_by_table = BTreeMap::new();
        for table in column(store, tables_sql).await {
            let columns_sql = match store.backend() {
                Backend::Sqlite => format!("SELECT name FROM pragma_table_info('{table}')"),
                Backend::Postgres => format!(
                    "SELECT column_name::text FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name = '{table}' \
                     ORDER BY ordinal_position"
                ),
            };
            let cells: Vec<String> = column(store, &columns_sql)
                .await
                .into_iter()
                .filter(|c| !VOLATILE.contains(&(table.as_str(), c.as_str())))
                .map(|c| match store.backend() {
                    Backend::Sqlite => format!("quote(\"{c}\")"),
                    Backend::Postgres => format!("coalesce(\"{c}\"::text, 'NULL')"),
                })
                .collect();
            let row = match store.backend() {
                Backend::Sqlite => cells.join(" || ',' || "),
                Backend::Postgres => format!("concat_ws(',', {})", cells.join(", ")),
            };
            let rows = column(store, &format!("SELECT {row} FROM \"{table}\" ORDER BY 1")).await;
            rows_by_table.insert(table, rows);
        }
        Fingerprint(rows_by_table)
    }

    /// The rows of `table`.
    pub fn rows(&self, table: &str) -> &[String] {
        self.0.get(table).map(Vec::as_slice).unwrap_or(&[])
    }

    /// This fingerprint without `tables`: for refusals that are audited (an authorize
    /// deny), whose events are checked on their own.
    pub fn without(&self, tables: &[&str]) -> Fingerprint {
        let mut rest = self.0.clone();
        for table in tables {
            rest.remove(*table);
        }
        Fingerprint(rest)
    }
}

/// The first column of every row of `sql`.
async fn column(store: &Store, sql: &str) -> Vec<String> {
    fetch_text(store, sql)
        .await
        .unwrap_or_else(|e| panic!("`{sql}`: {e}"))
        .into_iter()
        .map(|row| row.into_iter().next().flatten().unwrap_or_default())
        .collect()
}

/// Asserts that nothing changed since `before`, naming the table that did.
#[track_caller]
pub fn assert_unchanged(before: &Fingerprint, after: &Fingerprint, what: &str) {
    for (table, rows) in &before.0 {
        assert_eq!(
            Some(rows),
            after.0.get(table),
            "{what}: table `{table}` changed"
        );
    }
    assert_eq!(before.0.len(), after.0.len(), "{what}: tables appeared");
}

/// Asserts a problem+json refusal with `status` and, when given, `rule`.
#[track_caller]
pub fn assert_refused(status: StatusCode, body: &Value, expected: StatusCode, rule: Option<&str>) {
    assert_eq!(status, expected, "{body}");
    assert!(
        body["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("urn:steward:problem:")),
        "not a problem document: {body}"
    );
    assert_eq!(body["status"], expected.as_u16(), "{body}");
    if let Some(rule) = rule {
        assert_eq!(body["rule"], rule, "{body}");
    }
}
