//! Steward's audit trail core: the audit entry, its canonical encoding, the hash chain
//! and chain verification, the Merkle tree and signed checkpoints, and the JSON Lines
//! export with its offline verification.
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
//! - The Merkle and signature verifiers ([`verify_inclusion`], [`verify_consistency`],
//!   [`verify_checkpoint`], [`verify_manifest`]) return an error for any input, however
//!   hostile (sizes near 2^64 included), and never panic.
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
//! # Merkle tree
//!
//! SPEC §9 adds an RFC 6962 Merkle tree over the chain, with the hashing and the
//! inclusion and consistency proofs of RFC 9162 §2.1. Leaf `i` is the entry with
//! `seq == i + 1`; its leaf input is that entry's 32-byte `hash`, so the leaf hash is
//! `SHA-256(0x00 || entry.hash)` ([`leaf_hash`]), and node hashes are
//! `SHA-256(0x01 || left || right)` ([`node_hash`]). The empty tree's root is SHA-256 of
//! the empty string ([`EMPTY_ROOT`]). The 0x00 / 0x01 prefixes keep leaves, nodes and entry
//! hashes (which start with [`ENTRY_DOMAIN`]) from ever being confused.
//!
//! A store persists *perfect nodes*: [`NodeId`] `{ level, index }` is the complete subtree
//! over leaves `[index · 2^level, (index + 1) · 2^level)`, immutable once complete.
//! [`append_nodes`] returns the nodes each new leaf completes (one, plus one per pair it
//! closes). Every root and proof, for any tree size up to the current one, is computed
//! from O(log n) of them, hashing ragged right edges on the fly: [`root_nodes`],
//! [`inclusion_proof_nodes`] and [`consistency_proof_nodes`] name the nodes to fetch, and
//! [`root_from_nodes`], [`inclusion_proof`] and [`consistency_proof`] take them from any
//! [`NodeSource`] (a map of fetched rows, or a [`MemoryTree`]). [`verify_inclusion`] and
//! [`verify_consistency`] are the RFC 9162 verification algorithms and need no nodes.
//!
//! # Checkpoints and range manifests
//!
//! A [`Checkpoint`] `{ tree_size, root_hash, ts_ms }` is signed with Ed25519 over a
//! fixed, domain-separated message ([`CHECKPOINT_DOMAIN`]; layout in
//! [`Checkpoint::signed_message`]). A [`RangeManifest`] is the permanent, signed record of
//! an entry range removed by pruning ([`MANIFEST_DOMAIN`]). Keys arrive as 32 raw bytes;
//! the crate never generates one, and Ed25519 signing is deterministic, so signing stays
//! pure. A public key's text form is `ed25519:<64 hex digits>`, and signed statements name
//! their key by [`key_id`], the first 16 hex digits of SHA-256 of the public key.
//!
//! # Retention
//!
//! [`retention_days`] is the retention table (SPEC §4; emergency permits' events as level
//! 4, events without a level a year), [`keep_reason`] says why pruning must stop at an
//! event (retained, under a legal hold, or not yet under a signed checkpoint), and
//! [`check_manifest`] is the one rule by which a [`SignedManifest`] stands in for a pruned
//! range, used by the store's online verification and by [`ExportVerifier`] alike.
//! [`PruneScan`] takes a store's events one by one and says where the next prunable range
//! ends ([`PendingRange`], whose [`PendingRange::manifest`] the store signs).
//!
//! # The stored trail's check
//!
//! [`TrailCheck`], [`compare_nodes`] and [`check_manifest_root`] are the rules of a
//! store's online verification of its trail (manifests, chain, checkpoints, Merkle
//! nodes), each damage a [`TrailDamage`] naming the first affected `seq`.
//!
//! # Audit export and verification
//!
//! An export is JSON Lines ([`ExportLine`]), one JSON object per line, in this order:
//!
//! 1. `{"export": {"from_seq", "to_seq", "public_key", "key_id", "prev_hash",
//!    "latest_checkpoint"}}` ([`ExportHeader`]): the first and last `seq` exported (the
//!    last is the head when the export began), the signing key's text form and id (`null`
//!    when the server has none), the hash of event `from_seq - 1` (zeros from `seq` 1),
//!    and the latest signed checkpoint when the export began (or `null`).
//! 2. Every event from `from_seq` in `seq` order, each an [`AuditEntry`] in its serde form.
//! 3. Right after the event whose `seq` equals a stored checkpoint's `tree_size`, the line
//!    `{"checkpoint": <SignedCheckpoint>}`.
//!
//! 4. Format version 2, only when history was pruned: in the place of each pruned range,
//!    `{"manifest": <SignedManifest>, "frontier": [<hash>, …]}` (`frontier` optional):
//!    the range's signed [`RangeManifest`], and the right-edge Merkle nodes of the tree at
//!    its `last_seq` ([`Frontier::node_ids`], largest first). An export without pruned
//!    history is byte for byte a version 1 export, so old exports still verify; a version
//!    1 verifier refuses a manifest line as malformed rather than misreading it.
//!
//! A manifest line counts for its range only if [`check_manifest`] accepts it: signed by
//! the key given, starting right after what precedes it and linking to its hash; the
//! next event must then link to its `last_hash`. A forged, edited or misplaced manifest,
//! or a gap with none, is damage at the first `seq` of the range. The frontier is not
//! signed: it is used only when it makes the manifest's signed `tree_root`, and then the
//! Merkle root checks go on after the range as if its leaves were present
//! ([`VerifyErrorKind::BadFrontier`] otherwise).
//!
//! An export resumes with `from_seq` = the last exported `seq` + 1; appended to the export
//! it continues (header included), the two verify as one. [`verify_export`] checks a
//! stream of lines with only the public key: every line parses, the chain is unbroken
//! from the header's `prev_hash`, each checkpoint's signature, each checkpoint's root
//! against the events (only when the export starts at `seq` 1: a resumed export proves
//! its links and signatures, not the roots), and that the export reaches its `to_seq` and
//! its header's latest checkpoint. [`ExportVerifier`] does the same one pushed line at a
//! time (for a download). Errors ([`VerifyError`]) name the first bad `seq`: the position
//! where the export stops matching the trail, or the first missing `seq` when cut short.
//!
//! What a resumed export proves on its own: its events chain unbroken from the header's
//! `prev_hash` and its checkpoints carry valid signatures. It does not prove that
//! `prev_hash` is the hash of the real event `from_seq - 1` (appending it to the earlier
//! export does), nor the checkpoints' roots (that needs every leaf from `seq` 1). The
//! header is not signed: its `to_seq` catches a cut-short download, while deliberate
//! removal of the tail is bounded by the signed latest checkpoint.

mod canonical;
mod chain;
mod checkpoint;
mod compliance;
mod damage;
mod entry;
pub mod event;
mod export;
mod hash;
mod merkle;
pub mod metrics;
mod prepared;
mod retention;
mod trail;
pub mod webhook;
mod witness;

pub use canonical::{ENTRY_DOMAIN, canonical_body, canonical_json, entry_hash};
pub use chain::{ChainError, ChainErrorKind, verify_chain};
pub use checkpoint::{
    CHECKPOINT_DOMAIN, Checkpoint, CheckpointError, MANIFEST_DOMAIN, PUBLIC_KEY_PREFIX,
    PublicKeyParseError, RangeManifest, SignedCheckpoint, SignedManifest, format_public_key,
    key_id, parse_public_key, public_key, sign_checkpoint, sign_manifest, verify_checkpoint,
    verify_manifest,
};
pub use compliance::{
    Approver, Area, Change, ChangeEvent, ChangeException, ComplianceReport, ControlReport,
    Exception, Framework, Period, ReportBuilder, ReportPeriod, ReportZone, Rollback,
    UnknownFrameworkError, Verification, When, Window,
};
pub use damage::Damage;
pub use entry::{Actor, ActorKind, AuditEntry, Channel, EntryBody, Subject, UnknownActorKindError};
pub use event::{EventPayload, EventType, Personal, PersonalText, UnknownEventType};
pub use export::{
    ExportHeader, ExportLine, ExportVerifier, VerifyError, VerifyErrorKind, VerifyReport,
    verify_export,
};
pub use hash::{Hash, HashParseError};
pub use merkle::{
    ConsistencyProof, EMPTY_ROOT, ExtendError, Frontier, InclusionProof, MemoryTree,
    MissingNodeError, NodeId, NodeSource, ProofError, append_nodes, consistency_proof,
    consistency_proof_nodes, extend_nodes, inclusion_proof, inclusion_proof_nodes, leaf_hash,
    merkle_root, node_hash, root_from_nodes, root_nodes, verify_consistency, verify_inclusion,
};
pub use prepared::PreparedBody;
pub use retention::{
    DAY_MS, HoldRelease, HoldReleasedError, HoldScope, KeepReason, LegalHold, MAX_RANGE_EVENTS,
    ManifestErrorKind, NewLegalHold, PendingRange, PruneRange, PruneReport, PruneScan,
    PruneScanError, PruneStop, RetainedEvent, ScanEnd, UNLEVELLED_RETENTION_DAYS, check_manifest,
    keep_reason, prunable_from_ms, retention_days,
};
pub use trail::{
    ChainPages, TrailCheck, TrailDamage, check_manifest_root, compare_nodes, manifest_damage_seq,
};
pub use witness::{PublishedCheckpoint, WitnessError, WitnessKind, check_witnessed};
