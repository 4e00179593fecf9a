//! The canonical encoding of an entry body, canonical JSON, and the entry hash. The
//! byte layout is specified in the crate documentation; keep the two in step.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::entry::{Actor, EntryBody, Subject};
use crate::hash::Hash;

/// The domain-separation prefix of [`entry_hash`]. It names the encoding version.
pub const ENTRY_DOMAIN: &[u8] = b"steward.audit.entry.v1";

/// Encodes everything an entry's hash covers except `prev_hash`, in the fixed order and
/// layout given in the crate documentation.
pub fn canonical_body(body: &EntryBody<'_>) -> Vec<u8> {
    let data = canonical_json(body.data);
    let mut out = Vec::with_capacity(128 + data.len());
    out.extend_from_slice(&body.seq.to_be_bytes());
    put_after_seq(
        &mut out,
        &AfterSeq {
            ts_ms: body.ts_ms,
            event_type: body.event_type,
            actor: body.actor,
            subject: body.subject,
            level: body.level,
            data_json: &data,
        },
    );
    out
}

/// The fields of a body that follow `seq` in its encoding, with `data` already rendered
/// as canonical JSON.
pub(crate) struct AfterSeq<'a> {
    pub(crate) ts_ms: i64,
    pub(crate) event_type: &'a str,
    pub(crate) actor: &'a Actor,
    pub(crate) subject: &'a Subject,
    pub(crate) level: Option<u8>,
    pub(crate) data_json: &'a str,
}

/// Encodes fields 2–11 of the body (everything after `seq`), as the crate documentation
/// lays them out.
pub(crate) fn put_after_seq(out: &mut Vec<u8>, fields: &AfterSeq<'_>) {
    out.extend_from_slice(&fields.ts_ms.to_be_bytes());
    put_str(out, fields.event_type);
    put_str(out, fields.actor.kind.as_str());
    put_str(out, &fields.actor.id);
    put_len(out, fields.actor.roles.len());
    for role in &fields.actor.roles {
        put_str(out, role);
    }
    put_opt_str(out, fields.subject.task_id.as_deref());
    put_opt_str(out, fields.subject.worker_id.as_deref());
    put_opt_str(out, fields.subject.permit_id.as_deref());
    match fields.level {
        None => out.push(0x00),
        Some(level) => out.extend_from_slice(&[0x01, level]),
    }
    put_str(out, fields.data_json);
}

/// The hash of an entry whose previous entry hashed to `prev` and whose canonical body is
/// `body`.
pub fn entry_hash(prev: &Hash, body: &[u8]) -> Hash {
    // INVARIANT: for every entry e in the trail,
    //   e.hash == entry_hash(&e.prev_hash, &canonical_body(&e.body()))
    // and e.prev_hash is the hash of the entry with seq e.seq - 1 (Hash::ZERO for seq 1).
    // Because prev_hash is hashed, changing, removing, inserting or reordering any entry
    // changes the hash every later entry should have. The prefix and the fixed-length
    // prev_hash before the body make this hash unambiguous: a body can never be mistaken
    // for a prefix and prev_hash, nor for a Merkle leaf or node (which start 0x00 / 0x01).
    let mut hasher = Sha256::new();
    hasher.update(ENTRY_DOMAIN);
    hasher.update([0x00]);
    hasher.update(prev.as_bytes());
    hasher.update(body);
    Hash::from_bytes(hasher.finalize().into())
}

/// The canonical JSON text of `value`: object keys sorted by their UTF-8 bytes, no
/// whitespace, strings and numbers rendered as `serde_json` renders them.
///
/// The result does not depend on whether `serde_json` keeps object keys in insertion
/// order (its `preserve_order` feature), because keys are sorted here.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_json(&mut out, value);
    out
}

fn write_json(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => out.push_str(&number.to_string()),
        Value::String(text) => write_json_string(out, text),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(out, key);
                out.push(':');
                write_json(out, item);
            }
            out.push('}');
        }
    }
}

fn write_json_string(out: &mut String, text: &str) {
    // serde_json's escaping is the canonical one: `"`, `\` and control characters
    // escaped (short forms where JSON has them, `\u00XX` otherwise), all else raw UTF-8.
    // Serializing a `&str` cannot fail, so the fallback is unreachable; it still yields
    // valid, deterministic JSON rather than a panic.
    match serde_json::to_string(text) {
        Ok(json) => out.push_str(&json),
        Err(_) => out.push_str("null"),
    }
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    // usize is at most 64 bits on every platform Rust supports, so this never saturates.
    let len = u64::try_from(len).unwrap_or(u64::MAX);
    out.extend_from_slice(&len.to_be_bytes());
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    put_len(out, text.len());
    out.extend_from_slice(text.as_bytes());
}

fn put_opt_str(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        None => out.push(0x00),
        Some(text) => {
            out.push(0x01);
            put_str(out, text);
        }
    }
}
