//! HTTP tests against a real server on a loopback port, on SQLite and on PostgreSQL.

mod admin;
mod api;
mod attack;
mod audit_export;
mod audit_proofs;
mod audit_retention;
mod audit_tail;
mod audit_witness;
mod authorize;
mod emergencies;
mod erasure;
mod feed;
mod gate;
mod initial_certification;
mod limits;
mod monitoring;
mod notify;
mod permits;
mod reports;
mod scope;
mod support;
mod timers;
mod workers;
