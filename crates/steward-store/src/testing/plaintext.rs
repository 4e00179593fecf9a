//! `find_plaintext`: where a string sits in a test database, for erasure tests that must
//! show personal data is gone from every table (and, on SQLite, from the file itself).

use crate::error::StoreError;
use crate::store::{Pool, Store};

/// Every place `needle` occurs in the store's database: `table.column` for each column
/// (of any type) holding it, on both backends; on SQLite also `file` when the database
/// file's bytes contain it after the WAL has been checkpointed into it and truncated.
/// Empty when the text is nowhere.
pub async fn find_plaintext(store: &Store, needle: &str) -> Result<Vec<String>, StoreError> {
    let mut found = Vec::new();
    // Per backend: the catalogues differ (sqlite_master, information_schema), and only
    // SQLite has a file whose bytes can be searched.
    match &store.pool {
        Pool::Sqlite(pool) => {
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .fetch_all(pool)
            .await?;
            for table in tables {
                let columns: Vec<String> =
                    sqlx::query_scalar("SELECT name FROM pragma_table_info(?)")
                        .bind(&table)
                        .fetch_all(pool)
                        .await?;
                for column in columns {
                    let sql = format!(
                        "SELECT count(*) FROM \"{table}\" \
                         WHERE instr(CAST(\"{column}\" AS BLOB), CAST(? AS BLOB)) > 0"
                    );
                    let count: i64 = sqlx::query_scalar(&sql)
                        .bind(needle)
                        .fetch_one(pool)
                        .await?;
                    if count > 0 {
                        found.push(format!("{table}.{column}"));
                    }
                }
            }
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(pool)
                .await?;
            let file: String =
                sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                    .fetch_one(pool)
                    .await?;
            for path in [file.clone(), format!("{file}-wal")] {
                let bytes = std::fs::read(&path).unwrap_or_default();
                if bytes
                    .windows(needle.len().max(1))
                    .any(|window| window == needle.as_bytes())
                {
                    found.push(format!("file {path}"));
                }
            }
        }
        Pool::Postgres(pool) => {
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
            )
            .fetch_all(pool)
            .await?;
            for table in tables {
                // A row's text form holds every column's text form (bytea as hex).
                let sql =
                    format!("SELECT count(*) FROM \"{table}\" AS t WHERE strpos(t::text, $1) > 0");
                let count: i64 = sqlx::query_scalar(&sql)
                    .bind(needle)
                    .fetch_one(pool)
                    .await?;
                if count > 0 {
                    found.push(table);
                }
            }
        }
    }
    Ok(found)
}
