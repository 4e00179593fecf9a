//! HTTP tests against a real server on a loopback port, on SQLite and on PostgreSQL.

mod admin;
mod api;
mod audit_export;
mod audit_proofs;
mod audit_tail;
mod erasure;
mod permits;
mod reports;
mod support;
mod workers;
