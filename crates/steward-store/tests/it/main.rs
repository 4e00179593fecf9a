//! Integration tests for steward-store, each run against SQLite and PostgreSQL.

mod support;

mod audit;
mod connect;
mod erasure;
mod group_commit;
mod merkle;
mod metrics;
mod principals;
mod retention;
mod timers;
mod tokens;
mod webhooks;
mod workers;
