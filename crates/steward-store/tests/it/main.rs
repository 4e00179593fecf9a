//! Integration tests for steward-store, each run against SQLite and PostgreSQL.

mod support;

mod audit;
mod connect;
mod group_commit;
mod merkle;
mod principals;
mod timers;
mod retention;
mod tokens;
mod webhooks;
mod workers;
