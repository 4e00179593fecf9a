//! Merkle tree tests: the published RFC 6962 vectors, agreement with the recursive
//! definitions of RFC 9162 written out naively, perfect-node bookkeeping, and proof
//! properties.

use std::collections::BTreeMap;

use expect_test::{Expect, expect};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

use super::*;

fn h(hex_digits: &str) -> Hash {
    hex_digits.parse().unwrap()
}

/// A distinct leaf hash for each `i`.
fn test_leaf(i: u64) -> Hash {
    leaf_hash(&Hash::from_bytes(Sha256::digest(i.to_be_bytes()).into()))
}

fn test_leaves(n: u64) -> Vec<Hash> {
    (0..n).map(test_leaf).collect()
}

// ---------------------------------------------------------------------------------------
// The RFC 6962 test data published with Certificate Transparency's reference code (the
// leaf inputs, every perfect node, every root, and the inclusion and consistency proofs of
// transparency-dev/merkle `testonly/constants.go` and `proof/verify_test.go`). Only the
// data is reproduced here. Leaf inputs there are arbitrary byte strings, while Steward's
// leaf input is always an entry hash, so these tests hash the inputs themselves and start
// from leaf hashes.

const CT_LEAF_INPUTS: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// Every perfect node of the 8-leaf tree, by level, then index.
const CT_NODES: [&[&str]; 4] = [
    &[
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    &[
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    &[
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    &["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
];

/// The root of the tree of the first `n` leaves, by `n`.
const CT_ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// (leaf index, tree size, audit path). The published vectors number leaves from 1; the
/// indices here are 0-based.
const CT_INCLUSION: [(u64, u64, &[&str]); 5] = [
    (0, 1, &[]),
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        3,
        &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        1,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

/// (old size, new size, consistency proof).
const CT_CONSISTENCY: [(u64, u64, &[&str]); 5] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

fn ct_leaf_hashes() -> Vec<Hash> {
    CT_LEAF_INPUTS
        .iter()
        .map(|input| {
            let mut hasher = Sha256::new();
            hasher.update([0x00]);
            hasher.update(hex::decode(input).unwrap());
            Hash::from_bytes(hasher.finalize().into())
        })
        .collect()
}

fn ct_tree() -> MemoryTree {
    ct_leaf_hashes().into_iter().collect()
}

fn hashes(hex_list: &[&str]) -> Vec<Hash> {
    hex_list.iter().map(|s| h(s)).collect()
}

#[test]
fn empty_root_is_sha256_of_nothing() {
    assert_eq!(EMPTY_ROOT, Hash::from_bytes(Sha256::digest([]).into()));
    assert_eq!(EMPTY_ROOT, h(CT_ROOTS[0]));
    assert_eq!(merkle_root(&[]), EMPTY_ROOT);
    assert_eq!(MemoryTree::default().root(), EMPTY_ROOT);
}

#[test]
fn ct_vectors_every_perfect_node() {
    let tree = ct_tree();
    for (level, nodes) in CT_NODES.iter().enumerate() {
        for (index, expected) in nodes.iter().enumerate() {
            let id = NodeId::new(level as u8, index as u64);
            assert_eq!(tree.node(id), Some(h(expected)), "{id:?}");
        }
    }
    // Nothing beyond the published nodes is stored.
    assert_eq!(tree.node(NodeId::new(0, 8)), None);
    assert_eq!(tree.node(NodeId::new(3, 1)), None);
    assert_eq!(tree.node(NodeId::new(4, 0)), None);
}

#[test]
fn ct_vectors_every_root() {
    let leaves = ct_leaf_hashes();
    let tree = ct_tree();
    for (size, expected) in CT_ROOTS.iter().enumerate() {
        let expected = h(expected);
        assert_eq!(
            merkle_root(&leaves[..size]),
            expected,
            "merkle_root() of {size}"
        );
        assert_eq!(tree.root_at(size as u64), Some(expected), "root_at({size})");
        let prefix: MemoryTree = leaves[..size].iter().copied().collect();
        assert_eq!(prefix.root(), expected, "MemoryTree::root of {size}");
    }
    assert_eq!(tree.root_at(9), None);
}

#[test]
fn ct_vectors_inclusion() {
    let tree = ct_tree();
    for (index, size, path) in CT_INCLUSION {
        let expected = hashes(path);
        let leaf = tree.leaf(index).unwrap();
        let root = h(CT_ROOTS[size as usize]);
        assert_eq!(
            inclusion_proof(index, size, &tree).unwrap(),
            expected,
            "inclusion_proof({index}, {size})"
        );
        assert_eq!(
            verify_inclusion(&leaf, index, size, &expected, &root),
            Ok(())
        );
        assert_inclusion_probes_fail(&leaf, index, size, &expected, &root);
    }
}

#[test]
fn ct_vectors_consistency() {
    let tree = ct_tree();
    for (old_size, new_size, path) in CT_CONSISTENCY {
        let expected = hashes(path);
        let old_root = h(CT_ROOTS[old_size as usize]);
        let new_root = h(CT_ROOTS[new_size as usize]);
        assert_eq!(
            consistency_proof(old_size, new_size, &tree).unwrap(),
            expected,
            "consistency_proof({old_size}, {new_size})"
        );
        assert_eq!(
            verify_consistency(old_size, new_size, &old_root, &new_root, &expected),
            Ok(())
        );
        if !expected.is_empty() {
            assert_consistency_probes_fail(old_size, new_size, &old_root, &new_root, &expected);
        }
    }
}

/// Every way of bending a valid inclusion proof that the published test suite tries.
fn assert_inclusion_probes_fail(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) {
    let other = h("abacaba000000000000000000000000000000000000000000060061e00123456");
    let mut probes: Vec<(String, Hash, u64, u64, Vec<Hash>, Hash)> = vec![
        (
            "index + 1".into(),
            *leaf,
            index + 1,
            size,
            proof.to_vec(),
            *root,
        ),
        (
            "index ^ 2".into(),
            *leaf,
            index ^ 2,
            size,
            proof.to_vec(),
            *root,
        ),
        (
            "size * 2".into(),
            *leaf,
            index,
            size * 2,
            proof.to_vec(),
            *root,
        ),
        (
            "size / 2".into(),
            *leaf,
            index,
            size / 2,
            proof.to_vec(),
            *root,
        ),
        (
            "wrong leaf".into(),
            other,
            index,
            size,
            proof.to_vec(),
            *root,
        ),
        (
            "empty root".into(),
            *leaf,
            index,
            size,
            proof.to_vec(),
            EMPTY_ROOT,
        ),
        (
            "other root".into(),
            *leaf,
            index,
            size,
            proof.to_vec(),
            other,
        ),
        (
            "trailing root".into(),
            *leaf,
            index,
            size,
            [proof, &[*root]].concat(),
            *root,
        ),
        (
            "preceding root".into(),
            *leaf,
            index,
            size,
            [&[*root], proof].concat(),
            *root,
        ),
    ];
    if index > 0 {
        probes.push((
            "index - 1".into(),
            *leaf,
            index - 1,
            size,
            proof.to_vec(),
            *root,
        ));
    }
    for i in 0..proof.len() {
        let mut bent = proof.to_vec();
        let mut bytes = bent[i].to_bytes();
        bytes[0] ^= 8;
        bent[i] = Hash::from_bytes(bytes);
        probes.push((
            format!("proof[{i}] bit flipped"),
            *leaf,
            index,
            size,
            bent,
            *root,
        ));
        let mut shorter = proof.to_vec();
        shorter.remove(i);
        probes.push((
            format!("proof[{i}] removed"),
            *leaf,
            index,
            size,
            shorter,
            *root,
        ));
    }
    for (what, leaf, index, size, proof, root) in probes {
        assert!(
            verify_inclusion(&leaf, index, size, &proof, &root).is_err(),
            "{what} verified"
        );
    }
}

/// Every way of bending a valid, non-empty consistency proof that the published test suite
/// tries.
fn assert_consistency_probes_fail(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) {
    let wrong = h("abacaba000000000000000000000000000000000000000000060061e00123456");
    let mut probes: Vec<(String, u64, u64, Hash, Hash, Vec<Hash>)> = vec![
        (
            "old - 1".into(),
            old - 1,
            new,
            *old_root,
            *new_root,
            proof.to_vec(),
        ),
        (
            "old + 1".into(),
            old + 1,
            new,
            *old_root,
            *new_root,
            proof.to_vec(),
        ),
        (
            "old ^ 2".into(),
            old ^ 2,
            new,
            *old_root,
            *new_root,
            proof.to_vec(),
        ),
        (
            "new * 2".into(),
            old,
            new * 2,
            *old_root,
            *new_root,
            proof.to_vec(),
        ),
        (
            "new / 2".into(),
            old,
            new / 2,
            *old_root,
            *new_root,
            proof.to_vec(),
        ),
        (
            "wrong old root".into(),
            old,
            new,
            wrong,
            *new_root,
            proof.to_vec(),
        ),
        (
            "wrong new root".into(),
            old,
            new,
            *old_root,
            wrong,
            proof.to_vec(),
        ),
        (
            "swapped roots".into(),
            old,
            new,
            *new_root,
            *old_root,
            proof.to_vec(),
        ),
        (
            "empty proof".into(),
            old,
            new,
            *old_root,
            *new_root,
            Vec::new(),
        ),
        (
            "trailing old root".into(),
            old,
            new,
            *old_root,
            *new_root,
            [proof, &[*old_root]].concat(),
        ),
        (
            "trailing new root".into(),
            old,
            new,
            *old_root,
            *new_root,
            [proof, &[*new_root]].concat(),
        ),
        (
            "preceding old root".into(),
            old,
            new,
            *old_root,
            *new_root,
            [&[*old_root], proof].concat(),
        ),
        (
            "preceding proof[0]".into(),
            old,
            new,
            *old_root,
            *new_root,
            [&proof[..1], proof].concat(),
        ),
        (
            "truncated".into(),
            old,
            new,
            *old_root,
            *new_root,
            proof[..proof.len() - 1].to_vec(),
        ),
    ];
    for i in 0..proof.len() {
        let mut bent = proof.to_vec();
        let mut bytes = bent[i].to_bytes();
        bytes[0] ^= 16;
        bent[i] = Hash::from_bytes(bytes);
        probes.push((
            format!("proof[{i}] bit flipped"),
            old,
            new,
            *old_root,
            *new_root,
            bent,
        ));
    }
    for (what, old, new, old_root, new_root, proof) in probes {
        assert!(
            verify_consistency(old, new, &old_root, &new_root, &proof).is_err(),
            "{what} verified"
        );
    }
}

// ---------------------------------------------------------------------------------------
// RFC 9162 §2.1, written as literally as possible: slices, recursion, no perfect nodes.

fn naive_mth(d: &[Hash]) -> Hash {
    match d.len() {
        0 => EMPTY_ROOT,
        1 => d[0],
        n => {
            let k = largest_power_of_two_below(n);
            node_hash(&naive_mth(&d[..k]), &naive_mth(&d[k..]))
        }
    }
}

fn naive_path(m: usize, d: &[Hash]) -> Vec<Hash> {
    let n = d.len();
    if n == 1 {
        return Vec::new();
    }
    let k = largest_power_of_two_below(n);
    if m < k {
        let mut path = naive_path(m, &d[..k]);
        path.push(naive_mth(&d[k..]));
        path
    } else {
        let mut path = naive_path(m - k, &d[k..]);
        path.push(naive_mth(&d[..k]));
        path
    }
}

fn naive_proof(m: usize, d: &[Hash]) -> Vec<Hash> {
    naive_subproof(m, d, true)
}

fn naive_subproof(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
    let n = d.len();
    if m == n {
        return if b { Vec::new() } else { vec![naive_mth(d)] };
    }
    let k = largest_power_of_two_below(n);
    if m <= k {
        let mut proof = naive_subproof(m, &d[..k], b);
        proof.push(naive_mth(&d[k..]));
        proof
    } else {
        let mut proof = naive_subproof(m - k, &d[k..], false);
        proof.push(naive_mth(&d[..k]));
        proof
    }
}

fn largest_power_of_two_below(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

#[test]
fn agrees_with_the_recursive_definitions_up_to_70_leaves() {
    let leaves = test_leaves(70);
    let tree: MemoryTree = leaves.iter().copied().collect();
    for n in 0..=leaves.len() {
        let d = &leaves[..n];
        let size = n as u64;
        let root = naive_mth(d);
        assert_eq!(merkle_root(d), root, "merkle_root({n})");
        assert_eq!(tree.root_at(size), Some(root), "root_at({n})");
        for m in 0..n {
            let proof = inclusion_proof(m as u64, size, &tree).unwrap();
            assert_eq!(proof, naive_path(m, d), "PATH({m}, D[{n}])");
            assert_eq!(
                verify_inclusion(&d[m], m as u64, size, &proof, &root),
                Ok(())
            );
        }
        for m in 1..n {
            let proof = consistency_proof(m as u64, size, &tree).unwrap();
            assert_eq!(proof, naive_proof(m, d), "PROOF({m}, D[{n}])");
            let old_root = naive_mth(&d[..m]);
            assert_eq!(
                verify_consistency(m as u64, size, &old_root, &root, &proof),
                Ok(())
            );
        }
    }
}

#[test]
fn leaf_and_node_hashes_are_domain_separated() {
    let zero = Hash::ZERO;
    let mut leaf_input = vec![0x00];
    leaf_input.extend_from_slice(zero.as_bytes());
    assert_eq!(
        leaf_hash(&zero),
        Hash::from_bytes(Sha256::digest(&leaf_input).into())
    );
    let mut node_input = vec![0x01];
    node_input.extend_from_slice(zero.as_bytes());
    node_input.extend_from_slice(zero.as_bytes());
    assert_eq!(
        node_hash(&zero, &zero),
        Hash::from_bytes(Sha256::digest(&node_input).into())
    );
    expect!["7f9c9e31ac8256ca2f258583df262dbc7d6f68f2a03043d5c99a4ae5a7396ce9"]
        .assert_eq(&leaf_hash(&zero).to_string());
}

// ---------------------------------------------------------------------------------------
// Perfect-node bookkeeping: what a store persists and what it reads.

/// Builds the node table a store would hold by calling `append_nodes` for each leaf.
fn store_nodes(leaves: &[Hash]) -> BTreeMap<NodeId, Hash> {
    let mut nodes = BTreeMap::new();
    for (size, leaf) in leaves.iter().enumerate() {
        let created = append_nodes(&nodes, size as u64, *leaf).unwrap();
        nodes.extend(created);
    }
    nodes
}

#[test]
fn append_nodes_creates_exactly_the_perfect_nodes() {
    let leaves = test_leaves(100);
    let tree: MemoryTree = leaves.iter().copied().collect();
    let nodes = store_nodes(&leaves);
    for (id, hash) in &nodes {
        assert_eq!(tree.node(*id), Some(*hash), "{id:?}");
    }
    // 100 leaves: 100 + 50 + 25 + 12 + 6 + 3 + 1 perfect nodes.
    assert_eq!(nodes.len(), 197);
    assert_eq!(
        nodes.len() as u64,
        (0..7).map(|level| 100u64 >> level).sum::<u64>()
    );
}

#[test]
fn append_nodes_reads_only_the_root_nodes() {
    let leaves = test_leaves(64);
    let nodes = store_nodes(&leaves);
    for (size, leaf) in leaves.iter().enumerate() {
        let size = size as u64;
        let frontier: BTreeMap<NodeId, Hash> = root_nodes(size)
            .into_iter()
            .map(|id| (id, nodes[&id]))
            .collect();
        let created = append_nodes(&frontier, size, *leaf).unwrap();
        assert_eq!(
            created.len() as u32,
            size.trailing_ones() + 1,
            "append at {size}"
        );
        for (id, hash) in created {
            assert_eq!(nodes[&id], hash);
        }
    }
}

#[test]
fn extend_nodes_appends_a_run_of_events_from_the_stored_right_edge() {
    // Leaf `i` is the event with `seq == i + 1`, whose entry hash is `entry(seq)`.
    let entry = |seq: u64| Hash::from_bytes(Sha256::digest(seq.to_be_bytes()).into());
    let all: Vec<Hash> = (1..=23).map(|seq| leaf_hash(&entry(seq))).collect();
    let stored = store_nodes(&all);
    let events: Vec<(u64, Hash)> = (6..=23).map(|seq| (seq, entry(seq))).collect();
    let edge: HashMap<NodeId, Hash> = root_nodes(5)
        .into_iter()
        .map(|id| (id, stored[&id]))
        .collect();
    let mut nodes = edge.clone();
    let created = extend_nodes(&mut nodes, 5, 23, &events).expect("extended");
    let expected: Vec<(NodeId, Hash)> = stored
        .iter()
        .filter(|(id, _)| id.first_leaf() + id.leaf_count() > 5)
        .map(|(id, hash)| (*id, *hash))
        .collect();
    let mut sorted = created.clone();
    sorted.sort();
    assert_eq!(sorted, expected);
    assert_eq!(root_from_nodes(23, &nodes), Ok(merkle_root(&all)));
    // A missing event, at the start, inside or at the end, is named by its seq.
    let outcomes: Vec<_> = [&events[1..], &[events[0], events[2]][..], &events[..3]]
        .into_iter()
        .map(|run| extend_nodes(&mut edge.clone(), 5, 23, run))
        .collect();
    assert_eq!(
        outcomes,
        [
            Err(ExtendError::MissingEvent { seq: 6 }),
            Err(ExtendError::MissingEvent { seq: 7 }),
            Err(ExtendError::MissingEvent { seq: 9 }),
        ]
    );
    // Without the stored right edge, the first left sibling needed is missing.
    assert_eq!(
        extend_nodes(&mut HashMap::new(), 5, 23, &events),
        Err(ExtendError::MissingNode(MissingNodeError(NodeId::leaf(4))))
    );
}

#[test]
fn append_nodes_names_the_missing_left_sibling() {
    let nodes: BTreeMap<NodeId, Hash> = BTreeMap::new();
    assert_eq!(
        append_nodes(&nodes, 3, test_leaf(3)),
        Err(MissingNodeError(NodeId::leaf(2)))
    );
    assert_eq!(
        append_nodes(&nodes, 4, test_leaf(4)),
        Ok(vec![(NodeId::leaf(4), test_leaf(4))])
    );
}

#[track_caller]
fn check_nodes(ids: Result<Vec<NodeId>, ProofError>, expect: Expect) {
    let text = match ids {
        Ok(ids) => ids
            .iter()
            .map(|id| format!("({},{})", id.level, id.index))
            .collect::<Vec<_>>()
            .join(" "),
        Err(error) => format!("error: {error}"),
    };
    expect.assert_eq(&text);
}

#[test]
fn node_lists() {
    check_nodes(Ok(root_nodes(0)), expect![[""]]);
    check_nodes(Ok(root_nodes(1)), expect!["(0,0)"]);
    check_nodes(Ok(root_nodes(8)), expect!["(3,0)"]);
    check_nodes(Ok(root_nodes(13)), expect!["(3,0) (2,2) (0,12)"]);
    check_nodes(
        Ok(root_nodes(10_000_000)),
        expect!["(23,0) (20,8) (19,18) (15,304) (12,2440) (10,9764) (9,19530) (7,78124)"],
    );
    check_nodes(inclusion_proof_nodes(5, 8), expect!["(0,4) (1,3) (2,0)"]);
    check_nodes(
        inclusion_proof_nodes(0, 13),
        expect!["(0,1) (1,1) (2,1) (2,2) (0,12)"],
    );
    check_nodes(inclusion_proof_nodes(12, 13), expect!["(2,2) (3,0)"]);
    check_nodes(
        inclusion_proof_nodes(13, 13),
        expect!["error: leaf index 13 is not in a tree of size 13"],
    );
    check_nodes(consistency_proof_nodes(6, 8), expect!["(1,2) (1,3) (2,0)"]);
    check_nodes(
        consistency_proof_nodes(3, 13),
        expect!["(0,2) (0,3) (1,0) (2,1) (2,2) (0,12)"],
    );
    check_nodes(consistency_proof_nodes(8, 8), expect![[""]]);
    check_nodes(
        consistency_proof_nodes(9, 8),
        expect!["error: old tree size 9 is larger than new tree size 8"],
    );
}

#[test]
fn proofs_need_only_the_listed_nodes() {
    let leaves = test_leaves(45);
    let all = store_nodes(&leaves);
    let fetch = |ids: Vec<NodeId>| -> BTreeMap<NodeId, Hash> {
        ids.into_iter().map(|id| (id, all[&id])).collect()
    };
    for size in 0..=45u64 {
        assert_eq!(
            root_from_nodes(size, &fetch(root_nodes(size))),
            Ok(merkle_root(&leaves[..size as usize]))
        );
        for index in 0..size {
            let fetched = fetch(inclusion_proof_nodes(index, size).unwrap());
            assert_eq!(
                inclusion_proof(index, size, &fetched),
                inclusion_proof(index, size, &all)
            );
        }
        for old in 0..=size {
            let fetched = fetch(consistency_proof_nodes(old, size).unwrap());
            assert_eq!(
                consistency_proof(old, size, &fetched),
                consistency_proof(old, size, &all)
            );
        }
    }
}

#[test]
fn a_served_proof_is_of_event_seq_and_verifies() {
    // Leaf `i` is the event with `seq == i + 1`, whose entry hash is `entry(seq)`.
    let entry = |seq: u64| Hash::from_bytes(Sha256::digest(seq.to_be_bytes()).into());
    let leaves: Vec<Hash> = (1..=13).map(|seq| leaf_hash(&entry(seq))).collect();
    let all = store_nodes(&leaves);
    let fetch = |ids: Vec<NodeId>| -> BTreeMap<NodeId, Hash> {
        ids.into_iter().map(|id| (id, all[&id])).collect()
    };
    let root = merkle_root(&leaves[..11]);
    for seq in 1..=11 {
        let nodes = fetch(InclusionProof::node_ids(seq, 11).unwrap());
        let served = InclusionProof::from_nodes(seq, 11, entry(seq), &nodes).unwrap();
        assert_eq!(
            (served.leaf_index, served.leaf_hash),
            (seq - 1, leaves[seq as usize - 1])
        );
        assert_eq!(
            verify_inclusion(
                &served.leaf_hash,
                served.leaf_index,
                11,
                &served.proof,
                &root
            ),
            Ok(())
        );
    }
    assert_eq!(
        InclusionProof::node_ids(0, 11),
        Err(ProofError::IndexOutOfRange {
            index: u64::MAX,
            tree_size: 11
        })
    );
    let nodes = fetch(consistency_proof_nodes(4, 13).unwrap());
    let served = ConsistencyProof::from_nodes(4, 13, &nodes).unwrap();
    let (old_root, new_root) = (merkle_root(&leaves[..4]), merkle_root(&leaves));
    assert_eq!(
        verify_consistency(4, 13, &old_root, &new_root, &served.proof),
        Ok(())
    );
    assert_eq!(
        ConsistencyProof::from_nodes(4, 13, &BTreeMap::new()).map(|_| ()),
        Err(ProofError::MissingNode(MissingNodeError(NodeId::new(2, 1))))
    );
}

#[test]
fn proof_sizes_stay_logarithmic_at_ten_million() {
    let size = 10_000_000;
    let most_nodes = (0..size)
        .step_by(9_973)
        .chain([size - 1])
        .map(|index| inclusion_proof_nodes(index, size).unwrap().len())
        .max();
    assert!(most_nodes <= Some(48), "{most_nodes:?}");
    let most_nodes = (1..size)
        .step_by(9_973)
        .chain([size - 1])
        .map(|old| consistency_proof_nodes(old, size).unwrap().len())
        .max();
    assert!(most_nodes <= Some(48), "{most_nodes:?}");
}

// ---------------------------------------------------------------------------------------
// Errors and edge cases.

#[track_caller]
fn check_error(result: Result<impl std::fmt::Debug, ProofError>, expect: Expect) {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(error) => expect.assert_eq(&error.to_string()),
    }
}

#[test]
fn errors() {
    let tree = ct_tree();
    let root8 = tree.root();
    check_error(
        inclusion_proof(8, 8, &tree),
        expect!["leaf index 8 is not in a tree of size 8"],
    );
    check_error(
        inclusion_proof(0, 0, &tree),
        expect!["leaf index 0 is not in a tree of size 0"],
    );
    check_error(
        inclusion_proof(0, 9, &tree),
        expect!["merkle node at level 0, index 8 is not stored"],
    );
    check_error(
        consistency_proof(5, 4, &tree),
        expect!["old tree size 5 is larger than new tree size 4"],
    );
    check_error(
        consistency_proof(3, 9, &tree),
        expect!["merkle node at level 0, index 8 is not stored"],
    );
    check_error(
        verify_inclusion(&root8, 0, 0, &[], &root8),
        expect!["leaf index 0 is not in a tree of size 0"],
    );
    check_error(
        verify_inclusion(&root8, 0, 1, &[root8], &root8),
        expect!["proof has length 1, but the tree sizes call for 0"],
    );
    check_error(
        verify_inclusion(&EMPTY_ROOT, 0, 1, &[], &root8),
        expect!["inclusion proof does not lead to the expected root"],
    );
    check_error(
        verify_consistency(2, 1, &root8, &root8, &[]),
        expect!["old tree size 2 is larger than new tree size 1"],
    );
    check_error(
        verify_consistency(0, 8, &root8, &root8, &[]),
        expect!["consistency proof does not lead to the expected old root"],
    );
    check_error(
        verify_consistency(0, 8, &EMPTY_ROOT, &root8, &[root8]),
        expect!["proof has length 1, but the tree sizes call for 0"],
    );
    check_error(
        verify_consistency(8, 8, &root8, &EMPTY_ROOT, &[]),
        expect!["consistency proof does not lead to the expected new root"],
    );
    check_error(
        verify_consistency(8, 8, &root8, &root8, &[root8]),
        expect!["proof has length 1, but the tree sizes call for 0"],
    );
}

#[test]
fn hostile_sizes_are_refused_without_panicking() {
    // An export may claim any tree size; verification must answer, not overflow.
    let leaf = test_leaf(0);
    let refused = |result: Result<(), ProofError>| {
        assert!(
            matches!(result, Err(ProofError::WrongLength { .. })),
            "{result:?}"
        );
    };
    refused(verify_inclusion(&leaf, 0, u64::MAX, &[], &leaf));
    refused(verify_inclusion(
        &leaf,
        u64::MAX - 1,
        u64::MAX,
        &[leaf],
        &leaf,
    ));
    refused(verify_consistency(1, u64::MAX, &leaf, &leaf, &[]));
    refused(verify_consistency(
        u64::MAX - 1,
        u64::MAX,
        &leaf,
        &leaf,
        &[],
    ));
    assert!(inclusion_proof_nodes(u64::MAX - 1, u64::MAX).unwrap().len() <= 128);
    assert!(
        consistency_proof_nodes(u64::MAX - 1, u64::MAX)
            .unwrap()
            .len()
            <= 128
    );
    assert_eq!(root_nodes(u64::MAX).len(), 64);
}

#[test]
fn trivial_consistency_holds() {
    let root8 = ct_tree().root();
    assert_eq!(
        verify_consistency(0, 0, &EMPTY_ROOT, &EMPTY_ROOT, &[]),
        Ok(())
    );
    assert_eq!(verify_consistency(0, 8, &EMPTY_ROOT, &root8, &[]), Ok(()));
    assert_eq!(verify_consistency(8, 8, &root8, &root8, &[]), Ok(()));
}

// ---------------------------------------------------------------------------------------
// Properties over random trees.

fn flip(hash: Hash, bit: u8) -> Hash {
    let mut bytes = hash.to_bytes();
    bytes[usize::from(bit / 8) % 32] ^= 1 << (bit % 8);
    Hash::from_bytes(bytes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn every_inclusion_proof_verifies_and_resists_tampering(
        size in 1u64..300,
        seed in any::<u64>(),
        bit in any::<u8>(),
    ) {
        let leaves: Vec<Hash> = (0..size).map(|i| test_leaf(i ^ seed)).collect();
        let tree: MemoryTree = leaves.iter().copied().collect();
        let root = tree.root();
        for index in 0..size {
            let leaf = leaves[index as usize];
            let proof = inclusion_proof(index, size, &tree).unwrap();
            prop_assert_eq!(verify_inclusion(&leaf, index, size, &proof, &root), Ok(()));
            // A different leaf, index, root, or a shortened or lengthened proof fails.
            prop_assert!(verify_inclusion(&flip(leaf, bit), index, size, &proof, &root).is_err());
            prop_assert!(verify_inclusion(&leaf, index, size, &proof, &flip(root, bit)).is_err());
            let other_index = (index + 1 + u64::from(bit)) % size;
            if other_index != index {
                prop_assert!(verify_inclusion(&leaf, other_index, size, &proof, &root).is_err());
            }
            prop_assert!(verify_inclusion(&leaf, index, size, &[proof.clone(), vec![root]].concat(), &root).is_err());
            if let Some((_, shorter)) = proof.split_last() {
                prop_assert!(verify_inclusion(&leaf, index, size, shorter, &root).is_err());
                let mut bent = proof.clone();
                let at = usize::from(bit) % bent.len();
                bent[at] = flip(bent[at], bit);
                prop_assert!(verify_inclusion(&leaf, index, size, &bent, &root).is_err());
            }
        }
    }

    #[test]
    fn every_consistency_proof_verifies_and_resists_tampering(
        new_size in 1u64..2000,
        old_fraction in 0.0f64..=1.0,
        seed in any::<u64>(),
        bit in any::<u8>(),
    ) {
        let old_size = ((new_size as f64 * old_fraction) as u64).clamp(1, new_size);
        let leaves: Vec<Hash> = (0..new_size).map(|i| test_leaf(i ^ seed)).collect();
        let tree: MemoryTree = leaves.iter().copied().collect();
        let old_root = tree.root_at(old_size).unwrap();
        let new_root = tree.root();
        let proof = consistency_proof(old_size, new_size, &tree).unwrap();
        prop_assert_eq!(verify_consistency(old_size, new_size, &old_root, &new_root, &proof), Ok(()));
        if old_size < new_size {
            prop_assert!(verify_consistency(old_size, new_size, &flip(old_root, bit), &new_root, &proof).is_err());
            prop_assert!(verify_consistency(old_size, new_size, &old_root, &flip(new_root, bit), &proof).is_err());
            // A tree that differs from the old one in any leaf is not a prefix.
            let mut forked = leaves[..old_size as usize].to_vec();
            let at = usize::from(bit) % forked.len();
            forked[at] = flip(forked[at], bit);
            prop_assert!(verify_consistency(old_size, new_size, &merkle_root(&forked), &new_root, &proof).is_err());
            prop_assert!(verify_consistency(old_size, new_size, &old_root, &new_root, &proof[1..]).is_err());
            prop_assert!(verify_consistency(old_size, new_size, &old_root, &new_root, &[proof.clone(), vec![new_root]].concat()).is_err());
        }
    }

    #[test]
    fn root_at_every_size_matches_the_tree_when_it_had_that_size(
        size in 0u64..600,
        seed in any::<u64>(),
    ) {
        let leaves: Vec<Hash> = (0..size).map(|i| test_leaf(i ^ seed)).collect();
        let tree: MemoryTree = leaves.iter().copied().collect();
        prop_assert_eq!(tree.size(), size);
        prop_assert_eq!(tree.root(), merkle_root(&leaves));
        let mut growing = MemoryTree::default();
        prop_assert_eq!(tree.root_at(0), Some(growing.root()));
        for leaf in &leaves {
            growing.push(*leaf);
            prop_assert_eq!(tree.root_at(growing.size()), Some(growing.root()));
        }
        prop_assert_eq!(tree.root_at(size + 1), None);
    }
}
