//! Integration tests for steward-store, each run against SQLite and PostgreSQL.

mod support;

mod audit;
mod connect;
mod erasure;
mod merkle;
mod principals;
mod tokens;
mod workers;
