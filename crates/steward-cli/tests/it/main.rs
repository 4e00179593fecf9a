//! Integration tests that run the real `steward` binary.

mod check;
mod policy;
mod support;
