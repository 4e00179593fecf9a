//! Integration tests that run the real `steward` binary.

mod authorize;
mod check;
mod init;
mod policy;
mod service;
mod support;
mod webhook;
