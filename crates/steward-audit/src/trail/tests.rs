//! Table tests of the stored-trail rules over in-memory trees: an honest trail, forged and
//! wrong checkpoints, missing and altered nodes, a cut end, a start past pruned history,
//! and where a manifest's damage starts.

use std::collections::BTreeMap;

use expect_test::{Expect, expect};
use sha2::{Digest, Sha256};

use super::*;
use crate::checkpoint::{Checkpoint, public_key, sign_checkpoint};
use crate::merkle::MemoryTree;

const SECRET: [u8; 32] = [7; 32];

/// The chain hash of event `seq` in a made-up trail.
fn entry(seq: u64) -> Hash {
    Hash::from_bytes(Sha256::digest(seq.to_be_bytes()).into())
}

/// The tree of events `1..=size`.
fn tree(size: u64) -> MemoryTree {
    (1..=size).map(|seq| leaf_hash(&entry(seq))).collect()
}

fn checkpoint(tree_size: u64, root_hash: Hash) -> SignedCheckpoint {
    sign_checkpoint(
        Checkpoint {
            tree_size,
            root_hash,
            ts_ms: 0,
        },
        &SECRET,
    )
}

/// Every stored node of the honest tree of `size` leaves.
fn stored(size: u64) -> BTreeMap<NodeId, Hash> {
    let tree = tree(size);
    let mut nodes = BTreeMap::new();
    for level in 0..64u8 {
        for index in 0..(size >> level) {
            let id = NodeId::new(level, index);
            nodes.insert(id, tree.node(id).expect("perfect node"));
        }
    }
    nodes
}

/// Runs a check over events `1..=last` against a stored tree of `merkle_size` leaves,
/// with `checkpoints` (tree size and signed root), `nodes` as stored, and a key or not;
/// renders the first damage or `ok`.
#[track_caller]
fn check(
    last: u64,
    merkle_size: u64,
    checkpoints: &[(u64, Hash)],
    nodes: &BTreeMap<NodeId, Hash>,
    key: Option<&[u8; 32]>,
    expect: Expect,
) {
    let outcome = run(last, merkle_size, checkpoints, nodes, key).map_or_else(
        |d| format!("{} at {}: {}", d.kind, d.seq, d.problem),
        |()| "ok".into(),
    );
    expect.assert_eq(&outcome);
}

fn run(
    last: u64,
    merkle_size: u64,
    checkpoints: &[(u64, Hash)],
    nodes: &BTreeMap<NodeId, Hash>,
    key: Option<&[u8; 32]>,
) -> Result<(), TrailDamage> {
    let mut trail = TrailCheck::new(Frontier::default(), merkle_size, key);
    let mut queued: Vec<SignedCheckpoint> = checkpoints
        .iter()
        .map(|(size, root)| checkpoint(*size, *root))
        .collect();
    queued.reverse();
    for seq in 1..=last {
        trail.leaf(&entry(seq));
        while queued
            .last()
            .is_some_and(|signed| signed.checkpoint.tree_size <= seq)
        {
            let signed = queued.pop().expect("queued");
            trail.checkpoint(&signed, seq)?;
        }
        // Compare every three events, as a store compares once per page.
        if seq % 3 == 0 {
            compare_nodes(&trail.covered_nodes(), nodes)?;
        }
    }
    compare_nodes(&trail.covered_nodes(), nodes)?;
    trail.finish(queued.last(), last)
}

#[test]
fn trails() {
    let key = public_key(&SECRET);
    let honest = stored(10);
    let root = |size| tree(size).root();
    check(
        10,
        10,
        &[(4, root(4)), (10, root(10))],
        &honest,
        Some(&key),
        expect!["ok"],
    );
    // The tree may trail the chain by a tick.
    check(
        10,
        7,
        &[(4, root(4))],
        &stored(7),
        Some(&key),
        expect!["ok"],
    );
    check(
        10,
        10,
        &[(4, root(4)), (8, root(7))],
        &honest,
        None,
        expect![
            "checkpoint_root_mismatch at 5: checkpoint of tree size 8 signs root 76bad20ef3db6c3f44b3e36ef58905da600ae85fb5baba5ba86dc3f61cde4ac5, the events make 4270d8a2bfc8b0d8c044bc6915a6312d5010587ae40f7f6cdcf52fde40ce8d4d: an event after seq 4 was rewritten, or the checkpoint was"
        ],
    );
    check(
        3,
        3,
        &[(5, root(5))],
        &stored(3),
        Some(&key),
        expect![
            "truncated at 4: a checkpoint signs a tree of 5 events, but the trail ends at seq 3: events were cut from its end"
        ],
    );
    check(
        3,
        5,
        &[],
        &stored(5),
        Some(&key),
        expect![
            "truncated at 4: the merkle tree covers 5 events, but the trail ends at seq 3: events were cut from its end"
        ],
    );
}

#[test]
fn a_forged_checkpoint_is_damage_at_its_size() {
    let key = public_key(&SECRET);
    let mut trail = TrailCheck::new(Frontier::default(), 0, Some(&key));
    for seq in 1..=4 {
        trail.leaf(&entry(seq));
    }
    let mut forged = checkpoint(4, tree(4).root());
    forged.checkpoint.ts_ms += 1;
    let damage = trail.checkpoint(&forged, 4).expect_err("forged");
    assert_eq!((damage.seq, damage.kind), (4, Damage::CheckpointForged));
    // A signature is checked only against a key.
    let mut unkeyed = TrailCheck::new(Frontier::default(), 0, None);
    for seq in 1..=4 {
        unkeyed.leaf(&entry(seq));
    }
    assert_eq!(unkeyed.checkpoint(&forged, 4), Ok(()));
    // A checkpoint of a size no event had (the chain check fails on the gap) passes.
    let mut trail = TrailCheck::new(Frontier::default(), 0, Some(&key));
    trail.leaf(&entry(1));
    assert_eq!(trail.checkpoint(&checkpoint(3, Hash::ZERO), 5), Ok(()));
}

#[test]
fn stored_nodes_must_be_the_events_nodes() {
    let mut missing = stored(8);
    missing.remove(&NodeId::new(1, 2));
    missing.remove(&NodeId::new(2, 1));
    let mut altered = stored(8);
    altered.insert(NodeId::new(0, 6), Hash::ZERO);
    let outcome =
        |nodes: &BTreeMap<NodeId, Hash>| run(8, 8, &[], nodes, None).map_err(|d| (d.kind, d.seq));
    // Node 1/2 (over seq 5 and 6) is missing: found when seq 6's nodes are compared.
    assert_eq!(outcome(&missing), Err((Damage::MerkleNodesMissing, 5)));
    assert_eq!(outcome(&altered), Err((Damage::MerkleNodesAltered, 7)));
    // Nodes beyond the stored tree are not compared.
    let mut trail = TrailCheck::new(Frontier::default(), 2, None);
    for seq in 1..=3 {
        trail.leaf(&entry(seq));
    }
    let ids: Vec<NodeId> = trail
        .covered_nodes()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        ids,
        [NodeId::new(0, 0), NodeId::new(0, 1), NodeId::new(1, 0)]
    );
    assert_eq!(trail.covered_nodes(), []);
}

#[test]
fn a_check_can_start_past_pruned_history() {
    let nodes = stored(9);
    let start = Frontier::from_source(5, &nodes).expect("right edge");
    let mut trail = TrailCheck::new(start, 9, None);
    for seq in 6..=9 {
        trail.leaf(&entry(seq));
    }
    assert_eq!(compare_nodes(&trail.covered_nodes(), &nodes), Ok(()));
    assert_eq!(trail.checkpoint(&checkpoint(9, tree(9).root()), 9), Ok(()));
    // A wrong root after the start is damage after the start.
    let damage = trail
        .checkpoint(&checkpoint(9, Hash::ZERO), 9)
        .expect_err("wrong root");
    assert_eq!(
        (damage.kind, damage.seq),
        (Damage::CheckpointRootMismatch, 10)
    );
}

#[test]
fn manifests() {
    let manifest = RangeManifest {
        first_seq: 5,
        last_seq: 9,
        prev_hash: Hash::ZERO,
        first_hash: Hash::ZERO,
        last_hash: Hash::ZERO,
        range_root: Hash::ZERO,
        tree_size: 9,
        tree_root: tree(9).root(),
        ts_ms: 0,
    };
    let table: Vec<String> = [(5, false), (3, true), (3, false), (7, false)]
        .into_iter()
        .map(|(expected, stored)| {
            format!(
                "expected {expected}, stored {stored}: {}",
                manifest_damage_seq(&manifest, expected, stored)
            )
        })
        .collect();
    expect![[r#"
        [
            "expected 5, stored false: 5",
            "expected 3, stored true: 5",
            "expected 3, stored false: 3",
            "expected 7, stored false: 5",
        ]
    "#]]
    .assert_debug_eq(&table);
    assert_eq!(check_manifest_root(&manifest, &tree(9).root()), Ok(()));
    let damage = check_manifest_root(&manifest, &tree(8).root()).expect_err("mismatch");
    assert_eq!((damage.kind, damage.seq), (Damage::ManifestRootMismatch, 5));
    let damage = TrailDamage::node_missing(MissingNodeError(NodeId::new(3, 2)));
    expect![
        "merkle_nodes_missing from seq 17: merkle node 3/2 is not stored, though the tree covers it"
    ]
    .assert_eq(&damage.to_string());
}

#[test]
fn chain_pages_check_links_across_pages() {
    use crate::entry::{Actor, ActorKind, EntryBody, Subject};
    let actor = Actor {
        kind: ActorKind::System,
        id: "steward".to_owned(),
        roles: Vec::new(),
        channel: None,
    };
    let mut prev = Hash::ZERO;
    let events: Vec<AuditEntry> = (1..=7)
        .map(|seq| {
            let entry = AuditEntry::seal(
                EntryBody {
                    seq,
                    ts_ms: 0,
                    event_type: "worker.updated",
                    actor: &actor,
                    subject: &Subject::default(),
                    level: None,
                    data: &serde_json::Value::Null,
                },
                prev,
            );
            prev = entry.hash;
            entry
        })
        .collect();
    // Honest, from the start and from past pruned history.
    let mut pages = ChainPages::new(0, Hash::ZERO);
    assert_eq!(pages.last(), (0, Hash::ZERO));
    assert_eq!(pages.check(events[..3].to_vec()), Ok(events[..3].to_vec()));
    assert_eq!(pages.check(events[3..].to_vec()), Ok(events[3..].to_vec()));
    assert_eq!(pages.last(), (7, events[6].hash));
    let mut pages = ChainPages::new(2, events[1].hash);
    assert_eq!(pages.check(events[2..].to_vec()), Ok(events[2..].to_vec()));
    // A gap and a broken link between pages, an edit inside one: each named by its seq
    // and its index from the start.
    let outcome = |first: &[AuditEntry], second: &[AuditEntry]| {
        let mut pages = ChainPages::new(0, Hash::ZERO);
        pages.check(first.to_vec()).expect("first page");
        pages
            .check(second.to_vec())
            .map(|_| ())
            .map_err(|e| format!("{} at index {}", e, e.index))
    };
    let mut edited = events.clone();
    edited[5].ts_ms = 1;
    let mut relinked = events.clone();
    relinked[3] = AuditEntry::seal(events[3].body(), Hash::ZERO);
    let table = [
        outcome(&events[..3], &events[4..]),
        outcome(&events[..3], &events[3..]),
        outcome(&edited[..3], &edited[3..]),
        outcome(&relinked[..3], &relinked[3..]),
    ];
    expect![[r#"
        [
            Err(
                "audit chain broken at seq 5: seq gap after the previous entry at index 3",
            ),
            Ok(
                (),
            ),
            Err(
                "audit chain broken at seq 6: hash mismatch (entry altered) at index 5",
            ),
            Err(
                "audit chain broken at seq 4: prev_hash does not match the previous entry (entry removed, inserted or moved) at index 3",
            ),
        ]
    "#]].assert_debug_eq(&table);
}
