//! `verify_chain`: every edit, deletion, insertion and reordering is caught at the right
//! entry, and honest chains pass.

use proptest::prelude::*;
use serde_json::{Map, Value};
use steward_audit::{
    Actor, ActorKind, AuditEntry, ChainError, ChainErrorKind, EntryBody, Hash, Subject,
    verify_chain,
};

/// The fields of one entry before sealing. Strings are ASCII so that flipping one of their
/// low seven bits keeps them valid UTF-8 and changes them.
#[derive(Debug, Clone)]
struct Fields {
    ts_ms: i64,
    event_type: String,
    actor: Actor,
    subject: Subject,
    level: Option<u8>,
    data: Value,
}

fn ascii() -> impl Strategy<Value = String> {
    "[ -~]{0,12}"
}

fn arb_fields() -> impl Strategy<Value = Fields> {
    let actor = (
        prop::sample::select(ActorKind::ALL.to_vec()),
        ascii(),
        prop::collection::vec(ascii(), 0..4),
    )
        .prop_map(|(kind, id, roles)| Actor {
            kind,
            id,
            roles,
            channel: None,
        });
    let subject = (
        prop::option::of(ascii()),
        prop::option::of(ascii()),
        prop::option::of(ascii()),
    )
        .prop_map(|(task_id, worker_id, permit_id)| Subject {
            task_id,
            worker_id,
            permit_id,
        });
    let data = prop::collection::btree_map(
        "[a-z]{1,6}",
        prop_oneof![
            any::<i64>().prop_map(Value::from),
            ascii().prop_map(Value::String)
        ],
        0..5,
    )
    .prop_map(|map| Value::Object(map.into_iter().collect::<Map<_, _>>()));
    (
        any::<i64>(),
        "[a-z]{1,8}\\.[a-z_]{1,12}",
        actor,
        subject,
        prop::option::of(0u8..=4),
        data,
    )
        .prop_map(|(ts_ms, event_type, actor, subject, level, data)| Fields {
            ts_ms,
            event_type,
            actor,
            subject,
            level,
            data,
        })
}

/// Seals `fields` into an honest chain with seqs `first_seq..` after `first_prev`.
fn seal_chain(fields: &[Fields], first_seq: u64, first_prev: Hash) -> Vec<AuditEntry> {
    let mut prev = first_prev;
    let mut chain = Vec::with_capacity(fields.len());
    for (i, f) in fields.iter().enumerate() {
        let body = EntryBody {
            seq: first_seq + i as u64,
            ts_ms: f.ts_ms,
            event_type: &f.event_type,
            actor: &f.actor,
            subject: &f.subject,
            level: f.level,
            data: &f.data,
        };
        let entry = AuditEntry::seal(body, prev);
        prev = entry.hash;
        chain.push(entry);
    }
    chain
}

fn arb_chain(len: std::ops::Range<usize>) -> impl Strategy<Value = Vec<AuditEntry>> {
    prop::collection::vec(arb_fields(), len).prop_map(|f| seal_chain(&f, 1, Hash::ZERO))
}

/// Which field of an entry to flip a byte in.
#[derive(Debug, Clone, Copy)]
enum Field {
    Seq,
    Ts,
    EventType,
    ActorKind,
    ActorId,
    ActorRoles,
    TaskId,
    WorkerId,
    PermitId,
    Level,
    Data,
    PrevHash,
    Hash,
}

const FIELDS: [Field; 13] = [
    Field::Seq,
    Field::Ts,
    Field::EventType,
    Field::ActorKind,
    Field::ActorId,
    Field::ActorRoles,
    Field::TaskId,
    Field::WorkerId,
    Field::PermitId,
    Field::Level,
    Field::Data,
    Field::PrevHash,
    Field::Hash,
];

fn flip_ascii(text: &mut String, at: usize, mask: u8) {
    let mut bytes = std::mem::take(text).into_bytes();
    let i = at % bytes.len();
    bytes[i] ^= mask & 0x7f;
    *text = String::from_utf8(bytes).expect("flipping a low bit of ASCII keeps it ASCII");
}

/// Flips one byte of `field`, or for a field with no byte to flip (an empty string, an
/// absent id) makes the smallest change there is. `mask` is in `1..=0x7f`.
fn flip(entry: &mut AuditEntry, field: Field, at: usize, mask: u8) {
    let flip_opt = |id: &mut Option<String>| match id {
        None => *id = Some(String::new()),
        Some(text) if text.is_empty() => *id = None,
        Some(text) => flip_ascii(text, at, mask),
    };
    let flip_str = |text: &mut String| {
        if text.is_empty() {
            text.push(char::from(mask));
        } else {
            flip_ascii(text, at, mask);
        }
    };
    let shift = 8 * (at % 8);
    match field {
        Field::Seq => entry.seq ^= u64::from(mask) << shift,
        Field::Ts => entry.ts_ms ^= i64::from(mask) << shift,
        Field::EventType => flip_str(&mut entry.event_type),
        Field::ActorKind => {
            let i = ActorKind::ALL
                .iter()
                .position(|k| *k == entry.actor.kind)
                .expect("ALL lists every kind");
            entry.actor.kind = ActorKind::ALL[(i + 1 + at % 2) % 3];
        }
        Field::ActorId => flip_str(&mut entry.actor.id),
        Field::ActorRoles => {
            let roles = &mut entry.actor.roles;
            if roles.is_empty() {
                roles.push(String::new());
            } else {
                let n = roles.len();
                let role = &mut roles[at % n];
                if role.is_empty() {
                    roles.remove(at % n);
                } else {
                    flip_ascii(role, at, mask);
                }
            }
        }
        Field::TaskId => flip_opt(&mut entry.subject.task_id),
        Field::WorkerId => flip_opt(&mut entry.subject.worker_id),
        Field::PermitId => flip_opt(&mut entry.subject.permit_id),
        Field::Level => {
            entry.level = match entry.level {
                None => Some(mask),
                Some(level) => Some(level ^ mask),
            }
        }
        Field::Data => {
            let Value::Object(map) = &mut entry.data else {
                unreachable!("test data is always an object")
            };
            if map.is_empty() {
                map.insert("k".to_owned(), Value::from(mask));
            } else {
                let key = map
                    .keys()
                    .nth(at % map.len())
                    .expect("index is in range")
                    .clone();
                match map.get_mut(&key).expect("key was just read from the map") {
                    Value::String(text) => flip_str(text),
                    Value::Number(n) => {
                        let v = n.as_i64().expect("test numbers are i64");
                        *n = (v ^ i64::from(mask)).into();
                    }
                    other => unreachable!("unexpected test value {other}"),
                }
            }
        }
        Field::PrevHash | Field::Hash => {
            let hash = if matches!(field, Field::PrevHash) {
                &mut entry.prev_hash
            } else {
                &mut entry.hash
            };
            let mut bytes = hash.to_bytes();
            bytes[at % 32] ^= mask;
            *hash = Hash::from_bytes(bytes);
        }
    }
}

fn err(index: usize, seq: u64, kind: ChainErrorKind) -> Result<(), ChainError> {
    Err(ChainError { index, seq, kind })
}

proptest! {
    #[test]
    fn honest_chains_verify(chain in arb_chain(0..12)) {
        prop_assert_eq!(verify_chain(&chain, Hash::ZERO), Ok(()));
    }

    #[test]
    fn a_chain_verifies_in_pages(chain in arb_chain(1..12), split in any::<prop::sample::Index>()) {
        let at = split.index(chain.len());
        let (head, tail) = chain.split_at(at);
        prop_assert_eq!(verify_chain(head, Hash::ZERO), Ok(()));
        let boundary = head.last().map_or(Hash::ZERO, |e| e.hash);
        prop_assert_eq!(verify_chain(tail, boundary), Ok(()));
    }

    #[test]
    fn flipping_any_byte_of_any_field_fails_at_that_entry(
        chain in arb_chain(1..10),
        victim in any::<prop::sample::Index>(),
        field in prop::sample::select(FIELDS.to_vec()),
        at in any::<usize>(),
        mask in 1u8..=0x7f,
    ) {
        let mut chain = chain;
        let i = victim.index(chain.len());
        let original = chain[i].clone();
        flip(&mut chain[i], field, at, mask);
        prop_assert_ne!(&chain[i], &original);
        let error = verify_chain(&chain, Hash::ZERO).unwrap_err();
        prop_assert_eq!(error.index, i);
        prop_assert_eq!(error.seq, chain[i].seq);
        prop_assert_eq!(error.kind, ChainErrorKind::HashMismatch);
    }

    #[test]
    fn deleting_an_entry_is_caught_at_its_successor(
        chain in arb_chain(2..10),
        victim in any::<prop::sample::Index>(),
    ) {
        let mut chain = chain;
        // The last entry is excluded: truncating the tail leaves a valid prefix, which
        // only the stored head reveals (see `truncating_the_tail_needs_the_head`).
        let k = victim.index(chain.len() - 1);
        chain.remove(k);
        let expected = if k == 0 {
            err(0, 2, ChainErrorKind::BrokenLink)
        } else {
            err(k, k as u64 + 2, ChainErrorKind::SeqGap)
        };
        prop_assert_eq!(verify_chain(&chain, Hash::ZERO), expected);
    }

    #[test]
    fn swapping_neighbours_is_caught_at_the_first_moved_entry(
        chain in arb_chain(2..10),
        victim in any::<prop::sample::Index>(),
    ) {
        let mut chain = chain;
        let k = victim.index(chain.len() - 1);
        chain.swap(k, k + 1);
        let expected = if k == 0 {
            err(0, 2, ChainErrorKind::BrokenLink)
        } else {
            err(k, k as u64 + 2, ChainErrorKind::SeqGap)
        };
        prop_assert_eq!(verify_chain(&chain, Hash::ZERO), expected);
    }

    #[test]
    fn a_resealed_edit_breaks_the_next_link(
        chain in arb_chain(2..10),
        victim in any::<prop::sample::Index>(),
        mask in 1u8..=0x7f,
    ) {
        // An attacker who edits an entry and recomputes its hash still breaks the link
        // from the entry after it.
        let mut chain = chain;
        let k = victim.index(chain.len() - 1);
        chain[k].ts_ms ^= i64::from(mask);
        chain[k] = AuditEntry::seal(chain[k].body(), chain[k].prev_hash);
        prop_assert_eq!(
            verify_chain(&chain, Hash::ZERO),
            err(k + 1, k as u64 + 2, ChainErrorKind::BrokenLink)
        );
    }

    #[test]
    fn inserting_a_sealed_entry_renumbers_or_breaks(
        fields in prop::collection::vec(arb_fields(), 2..8),
        extra in arb_fields(),
        victim in any::<prop::sample::Index>(),
    ) {
        // A forged entry sealed onto entry k and given seq k + 1 collides with the real
        // entry k + 1, whose link then points at the real entry k, not the forgery.
        let mut chain = seal_chain(&fields, 1, Hash::ZERO);
        let k = victim.index(chain.len() - 1);
        let forged = seal_chain(std::slice::from_ref(&extra), chain[k].seq + 1, chain[k].hash);
        chain.insert(k + 1, forged[0].clone());
        prop_assert_eq!(
            verify_chain(&chain, Hash::ZERO),
            err(k + 2, k as u64 + 2, ChainErrorKind::SeqNotIncreasing)
        );
    }
}

#[test]
fn truncating_the_tail_needs_the_head() {
    let chain = seal_chain(
        &[sample_fields(), sample_fields(), sample_fields()],
        1,
        Hash::ZERO,
    );
    // The chain alone cannot tell a truncated trail from a short one; the store compares
    // the last hash with its head row, and signed checkpoints will do the same offline.
    assert_eq!(verify_chain(&chain[..2], Hash::ZERO), Ok(()));
    assert_ne!(chain[1].hash, chain[2].hash);
}

#[test]
fn wrong_starting_hash_is_a_broken_link_at_the_first_entry() {
    let chain = seal_chain(&[sample_fields(), sample_fields()], 1, Hash::ZERO);
    assert_eq!(
        verify_chain(&chain, Hash::from_bytes([1; 32])),
        err(0, 1, ChainErrorKind::BrokenLink)
    );
}

#[test]
fn repeated_seq_is_not_increasing() {
    let fields = [sample_fields(), sample_fields()];
    let first = seal_chain(&fields[..1], 5, Hash::ZERO);
    let second = seal_chain(&fields[1..], 5, first[0].hash);
    let chain = [first[0].clone(), second[0].clone()];
    let error = verify_chain(&chain, Hash::ZERO).unwrap_err();
    assert_eq!(
        error,
        ChainError {
            index: 1,
            seq: 5,
            kind: ChainErrorKind::SeqNotIncreasing
        }
    );
    assert_eq!(
        error.to_string(),
        "audit chain broken at seq 5: seq not greater than the previous entry's"
    );
}

fn sample_fields() -> Fields {
    Fields {
        ts_ms: 1_767_225_600_000,
        event_type: "worker.suspended".to_owned(),
        actor: Actor {
            kind: ActorKind::System,
            id: "steward".to_owned(),
            roles: vec![],
            channel: None,
        },
        subject: Subject {
            worker_id: Some("w-1".to_owned()),
            ..Subject::default()
        },
        level: Some(2),
        data: serde_json::json!({ "reason": "safety_violation" }),
    }
}
