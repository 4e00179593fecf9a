//! `PreparedBody`: an entry's canonical body encoded before its `seq` and `prev_hash` are
//! known, so that a writer can do the per-event encoding work outside the section that
//! must run one append at a time.

use sha2::{Digest, Sha256};

use crate::canonical::{AfterSeq, ENTRY_DOMAIN, put_after_seq};
use crate::entry::{Actor, Subject};
use crate::hash::Hash;

/// Everything an entry's hash covers except `seq` and `prev_hash`, already encoded.
///
/// In the canonical encoding `seq` comes first and every later field is independent of
/// it, so the encoding of fields 2–11 can be computed once, ahead of time; sealing then
/// only hashes. For every body,
/// `PreparedBody::new(…fields of body…).hash_at(body.seq, &prev) == body.hash_after(&prev)`
/// (unit- and property-tested), so entries sealed either way verify the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedBody {
    after_seq: Vec<u8>,
}

impl PreparedBody {
    /// Encodes the fields of a body other than `seq`. `data_json` must be
    /// [`canonical_json`](crate::canonical_json) of the event's data; the store keeps the
    /// same text in its `data` column.
    pub fn new(
        ts_ms: i64,
        event_type: &str,
        actor: &Actor,
        subject: &Subject,
        level: Option<u8>,
        data_json: &str,
    ) -> PreparedBody {
        let mut after_seq = Vec::with_capacity(96 + data_json.len());
        put_after_seq(
            &mut after_seq,
            &AfterSeq {
                ts_ms,
                event_type,
                actor,
                subject,
                level,
                data_json,
            },
        );
        PreparedBody { after_seq }
    }

    /// The hash of this body at position `seq`, chained after `prev`: the same value as
    /// [`entry_hash`](crate::entry_hash)`(prev, canonical_body(body))`.
    pub fn hash_at(&self, seq: u64, prev: &Hash) -> Hash {
        let mut hasher = Sha256::new();
        hasher.update(ENTRY_DOMAIN);
        hasher.update([0x00]);
        hasher.update(prev.as_bytes());
        hasher.update(seq.to_be_bytes());
        hasher.update(&self.after_seq);
        Hash::from_bytes(hasher.finalize().into())
    }
}

#[cfg(test)]
mod tests;
