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
    let mut out = Vec::with_capacity(256);
    write_canonical_body(&mut out, body);
    out
}

/// Appends [`canonical_body`]'s bytes to `out` without allocating anything else: the
/// canonical JSON of `data` is written in place behind a length placeholder that is
/// filled in afterwards. Verifiers reuse one buffer for every entry.
pub(crate) fn write_canonical_body(out: &mut Vec<u8>, body: &EntryBody<'_>) {
    out.extend_from_slice(&body.seq.to_be_bytes());
    put_fields_before_data(
        out,
        body.ts_ms,
        body.event_type,
        body.actor,
        body.subject,
        body.level,
    );
    let len_at = out.len();
    out.extend_from_slice(&[0; 8]);
    write_json(out, body.data);
    let len = u64::try_from(out.len() - len_at - 8).unwrap_or(u64::MAX);
    out[len_at..len_at + 8].copy_from_slice(&len.to_be_bytes());
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
    put_fields_before_data(
        out,
        fields.ts_ms,
        fields.event_type,
        fields.actor,
        fields.subject,
        fields.level,
    );
    put_str(out, fields.data_json);
}

/// Encodes fields 2–10 of the body: everything between `seq` and `data`.
fn put_fields_before_data(
    out: &mut Vec<u8>,
    ts_ms: i64,
    event_type: &str,
    actor: &Actor,
    subject: &Subject,
    level: Option<u8>,
) {
    out.extend_from_slice(&ts_ms.to_be_bytes());
    put_str(out, event_type);
    put_str(out, actor.kind.as_str());
    put_str(out, &actor.id);
    put_len(out, actor.roles.len());
    for role in &actor.roles {
        put_str(out, role);
    }
    put_opt_str(out, subject.task_id.as_deref());
    put_opt_str(out, subject.worker_id.as_deref());
    put_opt_str(out, subject.permit_id.as_deref());
    match level {
        None => out.push(0x00),
        Some(level) => out.extend_from_slice(&[0x01, level]),
    }
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
    let mut out = Vec::with_capacity(128);
    write_json(&mut out, value);
    // write_json writes only whole UTF-8 sequences: ASCII punctuation, serde_json's
    // rendering of numbers and strings, and keys copied from `&str`s.
    String::from_utf8(out)
        .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
}

fn write_json(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        // serde_json renders numbers (itoa / ryu) straight into the writer: no String.
        Value::Number(number) => write_serde(out, number),
        Value::String(text) => write_serde(out, text),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            // Without serde_json's `preserve_order` the map is a BTreeMap<String, _>,
            // whose order is already bytewise; only an insertion-ordered map that is not
            // sorted needs the sorted copy.
            if map.keys().is_sorted_by(|a, b| a.as_bytes() <= b.as_bytes()) {
                write_members(out, map.iter());
            } else {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                write_members(out, entries.into_iter());
            }
            out.push(b'}');
        }
    }
}

fn write_members<'a>(out: &mut Vec<u8>, members: impl Iterator<Item = (&'a String, &'a Value)>) {
    for (i, (key, item)) in members.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_serde(out, key.as_str());
        out.push(b':');
        write_json(out, item);
    }
}

/// serde_json's compact rendering is the canonical one for strings (`"`, `\` and control
/// characters escaped, short forms where JSON has them, `\u00XX` otherwise, all else raw
/// UTF-8) and for numbers. Writing a `&str` or a `Number` into a `Vec` cannot fail; were it
/// to, `null` keeps the output valid, deterministic JSON rather than a panic.
fn write_serde<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    let mark = out.len();
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.truncate(mark);
        out.extend_from_slice(b"null");
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
