//! Table tests of `check_witnessed` over in-memory trees: an extension, the same tree, a
//! truncation, a truncation followed by new events, a forged proof; and the published
//! form's round trip.

use expect_test::{Expect, expect};
use sha2::{Digest, Sha256};

use super::*;
use crate::merkle::{MemoryTree, consistency_proof, leaf_hash};

/// A tree of `n` leaves; leaves from index `fork` on come from a different history.
fn tree(n: u64, fork: u64) -> MemoryTree {
    let mut tree = MemoryTree::with_capacity(0);
    for i in 0..n {
        let seed = if i >= fork { i + 1_000_000 } else { i };
        tree.push(leaf_hash(&Hash::from_bytes(
            Sha256::digest(seed.to_be_bytes()).into(),
        )));
    }
    tree
}

/// Witnesses the honest tree of `witnessed` leaves, then checks the tree of `current`
/// leaves forked at `fork` against it, with the proof that tree gives.
#[track_caller]
fn check(witnessed: u64, current: u64, fork: u64, expect: Expect) {
    let honest = tree(witnessed, u64::MAX);
    let checkpoint = Checkpoint {
        tree_size: witnessed,
        root_hash: honest.root(),
        ts_ms: 0,
    };
    let now = tree(current, fork);
    let proof = if current >= witnessed {
        consistency_proof(witnessed, current, &now).expect("proof")
    } else {
        Vec::new()
    };
    let outcome = check_witnessed(&checkpoint, current, &now.root(), &proof)
        .map_err(|e| format!("{}: {}", e.kind, e.first_bad_seq));
    expect.assert_eq(&format!("{outcome:?}"));
}

#[test]
fn a_larger_tree_extending_the_witness_is_consistent() {
    check(7, 20, u64::MAX, expect![[r#"Ok(())"#]]);
    check(8, 8, u64::MAX, expect![[r#"Ok(())"#]]);
    check(1, 2, u64::MAX, expect![[r#"Ok(())"#]]);
}

#[test]
fn a_smaller_tree_is_truncated_from_its_first_missing_seq() {
    check(10, 6, u64::MAX, expect![[r#"Err("truncated: 7")"#]]);
    check(10, 0, u64::MAX, expect![[r#"Err("truncated: 1")"#]]);
}

#[test]
fn a_truncation_followed_by_new_events_is_inconsistent() {
    // Truncated to 5, then 15 new events: larger than the witness, but another history.
    check(10, 20, 5, expect![[r#"Err("inconsistent: 1")"#]]);
    // The same size with a rewritten last event.
    check(10, 10, 9, expect![[r#"Err("inconsistent: 1")"#]]);
}

#[test]
fn a_forged_proof_does_not_link_the_roots() {
    let honest = tree(12, u64::MAX);
    let witnessed = Checkpoint {
        tree_size: 7,
        root_hash: honest.root_at(7).expect("root"),
        ts_ms: 0,
    };
    let mut proof = consistency_proof(7, 12, &honest).expect("proof");
    assert_eq!(
        check_witnessed(&witnessed, 12, &honest.root(), &proof),
        Ok(())
    );
    proof[0] = Hash::ZERO;
    let error = check_witnessed(&witnessed, 12, &honest.root(), &proof).expect_err("forged");
    assert_eq!(error.kind, WitnessKind::Inconsistent);
}

#[test]
fn the_published_form_is_flat_and_round_trips() {
    let signed = crate::checkpoint::sign_checkpoint(
        Checkpoint {
            tree_size: 3,
            root_hash: tree(3, u64::MAX).root(),
            ts_ms: 1_800_000_000_000,
        },
        &[7; 32],
    );
    let text = serde_json::to_string(&PublishedCheckpoint::from(&signed)).expect("json");
    expect![[r#"{"tree_size":3,"root_hash":"cc23a6e05f95099459e4b62703c223236972a78997b072a65500b30e26bb6ef3","ts_ms":1800000000000,"key_id":"fe812c12f3ab4ce6","signature":"31dff011047004287d2af68d98d41ba9f6e8a9dc392e49bb0e76bd12b11d782e3bd116c2a1f958a1ca24284d85b195bc6689f7576120c5b5e440bb48333c6d0e"}"#]]
        .assert_eq(&text);
    let back: PublishedCheckpoint = serde_json::from_str(&text).expect("parse");
    assert_eq!(SignedCheckpoint::from(back), signed);
    let extra = text.replace("\"ts_ms\"", "\"extra\":1,\"ts_ms\"");
    assert!(serde_json::from_str::<PublishedCheckpoint>(&extra).is_err());
}

#[test]
fn a_damaged_store_is_named_against_the_witness() {
    let witnessed = Checkpoint {
        tree_size: 8,
        root_hash: Hash::ZERO,
        ts_ms: 0,
    };
    let render = |error: WitnessError| format!("{error}");
    let mut vouched = WitnessError::unreadable(&witnessed, 9, 1, "audit merkle node `0/3`: gone");
    vouched.vouched_up_to(4);
    let table = [
        render(WitnessError::cut_end(&witnessed, 5, 10)),
        render(WitnessError::cut_end(&witnessed, 9, 10)),
        render(WitnessError::unreadable(
            &witnessed,
            6,
            7,
            "audit event `7`: missing",
        )),
        render(WitnessError::unreadable(
            &witnessed,
            0,
            1,
            "audit merkle node `0/0`: gone",
        )),
        render(vouched),
    ];
    expect![[r#"
        [
            "truncated from seq 6: the Merkle tree covers 10 events, but the trail ends at seq 5: events 6 to 10 were removed",
            "inconsistent from seq 10: the Merkle tree covers 10 events, but the trail ends at seq 9: events 10 to 10 were removed",
            "truncated from seq 7: the tree cannot be read: audit event `7`: missing",
            "inconsistent from seq 1: the tree cannot be read: audit merkle node `0/0`: gone",
            "inconsistent from seq 5: the tree cannot be read: audit merkle node `0/3`: gone; events 1 to 4 match the signed checkpoint of that size, signed no later than the witnessed one",
        ]
    "#]].assert_debug_eq(&table);
}
