//! HTTP tests against a real server on a loopback port, on SQLite and on PostgreSQL.

mod api;
mod permits;
mod support;
