//! Steward's audit trail core: the audit entry, its canonical encoding, the hash chain
//! and chain verification.
//!
//! # Invariants
//!
//! - Pure: no IO, no async, no clock, no randomness. The caller supplies `seq`, `ts_ms`
//!   and the previous hash; this crate only encodes, hashes and checks.
//! - The chain rule lives in one place, [`entry_hash`]:
//!   `entry.hash == entry_hash(&entry.prev_hash, &canonical_body(&entry.body()))`, and
//!   every entry's `prev_hash` is the `hash` of the entry before it ([`Hash::ZERO`] for the
//!   first entry ever written).
//! - [`verify_chain`] names the first entry that breaks the rule and never panics.
//!
//! # Canonical encoding (version 1)
//!
//! The body of an entry is every field except `prev_hash` and `hash`, encoded by
//! [`canonical_body`] in this fixed order, with no separators and no padding:
//!
//! | # | field | encoding |
//! |---|---|---|
//! | 1 | `seq` | u64, 8 bytes big-endian |
//! | 2 | `ts_ms` | i64, 8 bytes big-endian two's complement |
//! | 3 | `event_type` | string |
//! | 4 | `actor.kind` | string: `human`, `agent` or `system` |
//! | 5 | `actor.id` | string |
//! | 6 | `actor.roles` | u64 count, 8 bytes big-endian, then each role as a string, in stored order |
//! | 7 | `subject.task_id` | optional string |
//! | 8 | `subject.worker_id` | optional string |
//! | 9 | `subject.permit_id` | optional string |
//! | 10 | `level` | optional: `0x00`, or `0x01` followed by the level as one byte |
//! | 11 | `data` | string holding the canonical JSON of `data` (below) |
//!
//! - A *string* is its UTF-8 length as a u64 (8 bytes big-endian) followed by its UTF-8
//!   bytes. Length prefixes make the encoding injective: no two different bodies encode
//!   to the same bytes.
//! - An *optional string* is `0x00` when absent, or `0x01` followed by the string, so an
//!   absent id and an empty id differ.
//! - *Canonical JSON* ([`canonical_json`]) is the JSON text of the value with object keys
//!   sorted by their UTF-8 bytes, no whitespace, strings and numbers rendered exactly as
//!   `serde_json` renders them (numbers: integers in decimal, floats in their shortest
//!   round-trip form; strings: `"`, `\` and control characters escaped, everything else
//!   as raw UTF-8). It is close to, but not, RFC 8785 (JCS), which sorts by UTF-16 code
//!   units and formats numbers the ECMAScript way.
//!
//! The hash of an entry is
//! `SHA-256("steward.audit.entry.v1" || 0x00 || prev_hash (32 bytes) || body)`,
//! see [`entry_hash`]. The domain string keeps these hashes apart from any other SHA-256
//! use (the Merkle tree's leaf and node hashes in particular) and names the encoding
//! version: a new encoding gets a new domain string.
//!
//! # Merkle tree (not built yet)
//!
//! SPEC §9 adds an RFC 6962 Merkle tree over the chain. Its leaf input for an entry is
//! that entry's 32-byte `hash`, so the leaf hash is `SHA-256(0x00 || entry.hash)`, and node
//! hashes are `SHA-256(0x01 || left || right)`. The tree will live in a `merkle` module
//! of this crate, next to the chain.

mod canonical;
mod chain;
mod entry;
mod hash;

pub use canonical::{ENTRY_DOMAIN, canonical_body, canonical_json, entry_hash};
pub use chain::{ChainError, ChainErrorKind, verify_chain};
pub use entry::{Actor, ActorKind, AuditEntry, EntryBody, Subject, UnknownActorKindError};
pub use hash::{Hash, HashParseError};
