//! Integration tests for steward-store, each run against SQLite and PostgreSQL.

mod support;

mod audit;
mod connect;
mod merkle;
mod principals;
mod retention;
mod tokens;
mod workers;
