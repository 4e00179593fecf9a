//! The audit entry and its parts: who acted (`Actor`), on what (`Subject`), and the
//! borrowed `EntryBody` view that is hashed.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::canonical::{entry_hash, write_canonical_body};
use crate::hash::Hash;

/// One audit event as written to, and read back from, the trail.
///
/// The serde form is the JSON Lines export format (SPEC §9): the field `event_type` is
/// named `type` there, hashes are hex strings, and unknown fields are refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    /// Position in the trail: 1 for the first entry, then gap-free.
    pub seq: u64,
    /// Unix time in milliseconds, as stamped by the writer.
    pub ts_ms: i64,
    /// Dotted event type, such as `permit.approved`.
    #[serde(rename = "type")]
    pub event_type: String,
    pub actor: Actor,
    pub subject: Subject,
    /// The certification level the event concerns, when it concerns one.
    pub level: Option<u8>,
    /// Type-specific payload. Serialized with object keys sorted by their UTF-8 bytes,
    /// so an export line does not depend on how the `Value` was built or on whether
    /// `serde_json` preserves insertion order (a feature another crate may switch on).
    #[serde(serialize_with = "sorted_json")]
    pub data: Value,
    /// The `hash` of the entry before this one; [`Hash::ZERO`] for the first entry.
    pub prev_hash: Hash,
    /// `entry_hash(&prev_hash, &canonical_body(&self.body()))`.
    pub hash: Hash,
}

/// Everything of an entry that its hash covers besides `prev_hash`, borrowed.
///
/// Writers build one from the new event's fields, hash it with [`EntryBody::hash_after`],
/// and then move the fields into an [`AuditEntry`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EntryBody<'a> {
    pub seq: u64,
    pub ts_ms: i64,
    pub event_type: &'a str,
    pub actor: &'a Actor,
    pub subject: &'a Subject,
    pub level: Option<u8>,
    pub data: &'a Value,
}

/// The principal (or Steward itself) that caused an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    pub kind: ActorKind,
    pub id: String,
    /// The roles the actor held when acting, in the order they were recorded.
    pub roles: Vec<String>,
    /// The door the actor came through, when it is not the JSON API. Not part of the
    /// actor's encoding: the writer moves it into the event's `data` as `"channel"`
    /// (hashed like the rest of `data`), so an entry read back has `None` here.
    #[serde(skip)]
    pub channel: Option<Channel>,
}

/// How an actor reached Steward, recorded in each event it causes (`data.channel`). The
/// JSON API is the default and is not recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// The `steward` command line.
    Cli,
    /// The dashboard's pages.
    Web,
    /// The MCP server (`steward mcp`, `/mcp`).
    Mcp,
    /// An agent tool-call hook (`steward hook …`, `/v1/hooks/…`).
    Hook,
}

impl Channel {
    /// The name recorded in `data.channel`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::Cli => "cli",
            Channel::Web => "web",
            Channel::Mcp => "mcp",
            Channel::Hook => "hook",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    Human,
    Agent,
    /// Steward itself: timers, automatic revocations, start-up.
    System,
}

/// The ids an event is about. Every id is optional.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subject {
    pub task_id: Option<String>,
    pub worker_id: Option<String>,
    pub permit_id: Option<String>,
}

/// A string that names no [`ActorKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown actor kind `{0}`: expected `human`, `agent` or `system`")]
pub struct UnknownActorKindError(pub String);

impl AuditEntry {
    /// Builds an entry from its body and the previous entry's hash, computing `hash`.
    pub fn seal(body: EntryBody<'_>, prev_hash: Hash) -> AuditEntry {
        AuditEntry {
            seq: body.seq,
            ts_ms: body.ts_ms,
            event_type: body.event_type.to_owned(),
            actor: body.actor.clone(),
            subject: body.subject.clone(),
            level: body.level,
            data: body.data.clone(),
            prev_hash,
            hash: body.hash_after(&prev_hash),
        }
    }

    pub fn body(&self) -> EntryBody<'_> {
        EntryBody {
            seq: self.seq,
            ts_ms: self.ts_ms,
            event_type: &self.event_type,
            actor: &self.actor,
            subject: &self.subject,
            level: self.level,
            data: &self.data,
        }
    }

    /// The hash this entry's fields call for, which equals `self.hash` unless the entry
    /// was altered.
    pub fn computed_hash(&self) -> Hash {
        self.body().hash_after(&self.prev_hash)
    }
}

impl EntryBody<'_> {
    /// The hash of this body chained after `prev`.
    pub fn hash_after(&self, prev: &Hash) -> Hash {
        self.hash_after_in(prev, &mut Vec::new())
    }

    /// [`EntryBody::hash_after`] encoding into `scratch` (cleared first), so a verifier
    /// checking many entries allocates once rather than once per entry.
    pub fn hash_after_in(&self, prev: &Hash, scratch: &mut Vec<u8>) -> Hash {
        scratch.clear();
        write_canonical_body(scratch, self);
        entry_hash(prev, scratch)
    }
}

impl ActorKind {
    pub const ALL: [ActorKind; 3] = [ActorKind::Human, ActorKind::Agent, ActorKind::System];

    /// The name used in the canonical encoding, the export and the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            ActorKind::Human => "human",
            ActorKind::Agent => "agent",
            ActorKind::System => "system",
        }
    }
}

impl fmt::Display for ActorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ActorKind {
    type Err = UnknownActorKindError;

    fn from_str(s: &str) -> Result<ActorKind, UnknownActorKindError> {
        ActorKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| UnknownActorKindError(s.to_owned()))
    }
}

/// Serializes `value` with every object's keys in UTF-8 byte order (the canonical
/// encoding's order), whatever order the map holds them in.
fn sorted_json<S: serde::Serializer>(value: &Value, serializer: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&Sorted(value), serializer)
}

/// A [`Value`] that serializes with sorted object keys.
struct Sorted<'a>(&'a Value);

impl serde::Serialize for Sorted<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap as _, SerializeSeq as _};
        match self.0 {
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Sorted(item))?;
                }
                seq.end()
            }
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                let mut out = serializer.serialize_map(Some(entries.len()))?;
                for (key, item) in entries {
                    out.serialize_entry(key, &Sorted(item))?;
                }
                out.end()
            }
            scalar => scalar.serialize(serializer),
        }
    }
}
