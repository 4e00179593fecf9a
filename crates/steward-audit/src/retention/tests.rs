//! Retention classes, what keeps an event, and the manifest check, including every way a
//! manifest can be wrong.

use expect_test::expect;

use super::*;
use crate::checkpoint::{RangeManifest, public_key, sign_manifest};
use crate::merkle::{Frontier, MemoryTree, leaf_hash};

const SECRET: [u8; 32] = [9; 32];
const NOW: i64 = 1_900_000_000_000;

fn event(seq: u64, age_days: i64, level: Option<u8>) -> RetainedEvent<'static> {
    RetainedEvent {
        seq,
        ts_ms: NOW - age_days * DAY_MS,
        level,
        emergency: false,
        worker_id: Some("w-1"),
        permit_id: Some("p-1"),
    }
}

#[test]
fn retention_follows_the_spec_table() {
    let table: Vec<String> = [None, Some(0), Some(1), Some(2), Some(3), Some(4), Some(9)]
        .into_iter()
        .map(|level| {
            format!(
                "{level:?}: {} (emergency {})",
                retention_days(level, false),
                retention_days(level, true)
            )
        })
        .collect();
    expect![[r#"
        [
            "None: 365 (emergency 2555)",
            "Some(0): 30 (emergency 2555)",
            "Some(1): 30 (emergency 2555)",
            "Some(2): 90 (emergency 2555)",
            "Some(3): 365 (emergency 2555)",
            "Some(4): 2555 (emergency 2555)",
            "Some(9): 2555 (emergency 2555)",
        ]
    "#]]
    .assert_debug_eq(&table);
}

#[test]
fn an_event_goes_exactly_when_its_retention_ends() {
    let mut e = event(1, 90, Some(2));
    assert_eq!(keep_reason(&e, NOW, 10, &[]), None);
    e.ts_ms += 1;
    assert_eq!(
        keep_reason(&e, NOW, 10, &[]),
        Some(KeepReason::Retained {
            prunable_from_ms: NOW + 1
        })
    );
    // An emergency permit's level-2 event is kept as level 4.
    let mut emergency = event(1, 400, Some(2));
    emergency.emergency = true;
    assert!(matches!(
        keep_reason(&emergency, NOW, 10, &[]),
        Some(KeepReason::Retained { .. })
    ));
    assert_eq!(prunable_from_ms(i64::MAX, Some(4), false), i64::MAX);
}

#[test]
fn holds_and_the_signed_size_keep_events() {
    let old = event(5, 5000, Some(0));
    assert_eq!(keep_reason(&old, NOW, 4, &[]), Some(KeepReason::Unsigned));
    let holds = |scope| vec![("h-1".to_owned(), scope)];
    let held = Some(KeepReason::Held {
        hold_id: "h-1".to_owned(),
    });
    for scope in [
        HoldScope::Worker("w-1".to_owned()),
        HoldScope::Permit("p-1".to_owned()),
        HoldScope::Range {
            first_seq: 5,
            last_seq: 5,
        },
        HoldScope::Range {
            first_seq: 1,
            last_seq: 9,
        },
    ] {
        assert_eq!(
            keep_reason(&old, NOW, 9, &holds(scope.clone())),
            held,
            "{scope:?}"
        );
    }
    for scope in [
        HoldScope::Worker("w-2".to_owned()),
        HoldScope::Permit("p-2".to_owned()),
        HoldScope::Range {
            first_seq: 6,
            last_seq: 9,
        },
        HoldScope::Range {
            first_seq: 1,
            last_seq: 4,
        },
    ] {
        assert_eq!(
            keep_reason(&old, NOW, 9, &holds(scope.clone())),
            None,
            "{scope:?}"
        );
    }
}

/// A manifest over leaves 3..=5 of a 10-leaf trail whose entry hashes are `[i; 32]`.
fn manifest() -> (SignedManifest, Hash) {
    let hashes: Vec<Hash> = (1..=10u8).map(|i| Hash::from_bytes([i; 32])).collect();
    let tree: MemoryTree = hashes.iter().map(leaf_hash).collect();
    let range: MemoryTree = hashes[2..5].iter().map(leaf_hash).collect();
    let manifest = RangeManifest {
        first_seq: 3,
        last_seq: 5,
        prev_hash: hashes[1],
        first_hash: hashes[2],
        last_hash: hashes[4],
        range_root: range.root(),
        tree_size: 5,
        tree_root: tree.root_at(5).expect("size 5"),
        ts_ms: NOW,
    };
    (sign_manifest(manifest, &SECRET), hashes[1])
}

#[test]
fn a_manifest_in_place_and_signed_checks() {
    let (signed, prev) = manifest();
    let key = public_key(&SECRET);
    assert_eq!(check_manifest(&signed, 3, prev, Some(&key)), Ok(()));
    assert_eq!(check_manifest(&signed, 3, prev, None), Ok(()));
}

#[test]
fn every_wrong_manifest_is_named() {
    let (signed, prev) = manifest();
    let key = public_key(&SECRET);
    let check = |signed: &SignedManifest, next: u64, prev: Hash| {
        check_manifest(signed, next, prev, Some(&key))
            .expect_err("refused")
            .to_string()
    };
    let mut edited = signed.clone();
    edited.manifest.last_hash = Hash::from_bytes([0xee; 32]);
    let mut inconsistent = signed.clone();
    inconsistent.manifest.tree_size = 6;
    let mut other_key = signed.clone();
    other_key.signature = sign_manifest(signed.manifest, &[1; 32]).signature;
    let results = [
        check(&edited, 3, prev),
        check(&inconsistent, 3, prev),
        check(&other_key, 3, prev),
        check(&signed, 4, prev),
        check(&signed, 3, Hash::ZERO),
    ];
    expect![[r#"
        [
            "manifest of seq 3 to 5 does not verify: signature does not match the signed content",
            "manifest of seq 3 to 5 is inconsistent",
            "manifest of seq 3 to 5 does not verify: signature does not match the signed content",
            "manifest of seq 3 to 5 is out of place",
            "manifest of seq 3 to 5 does not link to what precedes it",
        ]
    "#]]
    .assert_debug_eq(&results);
}

#[test]
fn a_frontier_grows_like_the_whole_tree() {
    let mut tree = MemoryTree::default();
    let mut frontier = Frontier::default();
    for i in 0..70u8 {
        assert_eq!(frontier.root(), tree.root(), "size {i}");
        let leaf = leaf_hash(&Hash::from_bytes([i; 32]));
        tree.push(leaf);
        frontier.push(leaf);
        // Rebuilt from the stored right edge, it continues the same way.
        let size = tree.size();
        let nodes = Frontier::node_ids(size)
            .into_iter()
            .map(|id| crate::merkle::NodeSource::node(&tree, id).expect("stored"))
            .collect();
        assert_eq!(Frontier::from_nodes(size, nodes).as_ref(), Some(&frontier));
    }
    assert_eq!(Frontier::from_nodes(3, vec![Hash::ZERO]), None);
}

#[test]
fn a_frontier_names_the_nodes_it_makes_and_loads_from_a_store() {
    let mut tree = MemoryTree::default();
    let mut frontier = Frontier::default();
    let mut made = std::collections::BTreeMap::new();
    for i in 0..70u8 {
        let leaf = leaf_hash(&Hash::from_bytes([i; 32]));
        let expected = crate::merkle::append_nodes(&tree, tree.size(), leaf).expect("nodes");
        tree.push(leaf);
        let mut nodes = Vec::new();
        frontier.push_with(leaf, |id, hash| nodes.push((id, hash)));
        assert_eq!(nodes, expected, "leaf {i}");
        made.extend(nodes);
        assert_eq!(
            Frontier::from_source(tree.size(), &made).as_ref(),
            Ok(&frontier)
        );
    }
    let first = Frontier::node_ids(70)[0];
    made.remove(&first);
    assert_eq!(
        Frontier::from_source(70, &made),
        Err(crate::merkle::MissingNodeError(first))
    );
}

#[test]
fn a_hold_names_its_subject_and_scope() {
    let table: Vec<String> = [
        HoldScope::Worker("w-1".to_owned()),
        HoldScope::Permit("p-1".to_owned()),
        HoldScope::Range {
            first_seq: 2,
            last_seq: 9,
        },
    ]
    .iter()
    .map(|scope| format!("{} {:?}", scope.to_json(), scope.subject()))
    .collect();
    expect![[r#"
        [
            "{\"worker_id\":\"w-1\"} Subject { task_id: None, worker_id: Some(\"w-1\"), permit_id: None }",
            "{\"permit_id\":\"p-1\"} Subject { task_id: None, worker_id: None, permit_id: Some(\"p-1\") }",
            "{\"first_seq\":2,\"last_seq\":9} Subject { task_id: None, worker_id: None, permit_id: None }",
        ]
    "#]].assert_debug_eq(&table);
}
