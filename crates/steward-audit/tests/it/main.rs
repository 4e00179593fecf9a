//! Integration tests for steward-audit: golden vectors, canonical JSON, chain checks.

mod canonical;
mod chain;
mod export;
mod golden;
