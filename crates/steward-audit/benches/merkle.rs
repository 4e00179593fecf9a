//! Audit trail benchmarks: chain verification throughput (and where its time goes), and
//! Merkle inclusion and consistency proofs at 2^20 and 10 million leaves.
//!
//! `cargo bench -p steward-audit --bench merkle -- --warm-up-time 1 --measurement-time 3`
//!
//! Setup (untimed) seals a 1,000,000-entry chain with the crate's own `AuditEntry::seal`
//! and builds `MemoryTree`s of 2^20 and 10,000,000 leaves (about 640 MB for the larger).
//! Proof benchmarks walk leaf indices and tree sizes in a fixed pseudo-random order, so
//! the node lookups are not all cache hits, and every generated proof is checked once
//! before timing starts.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use steward_audit::{
    Actor, ActorKind, AuditEntry, EntryBody, Hash, MemoryTree, Subject, canonical_body,
    canonical_json, consistency_proof, entry_hash, inclusion_proof, leaf_hash, verify_chain,
    verify_consistency, verify_inclusion,
};

const CHAIN_LEN: u64 = 1_000_000;
const TREE_SIZES: [u64; 2] = [1 << 20, 10_000_000];
/// How many distinct proofs each verification benchmark cycles through.
const PROOF_POOL: usize = 4096;

/// A plausible trail: a handful of event types and actors, ids that vary per entry, and a
/// small type-specific `data` object like the catalogue's.
fn chain(len: u64) -> Vec<AuditEntry> {
    const TYPES: [&str; 4] = [
        "permit.requested",
        "permit.approved",
        "authorize.allowed",
        "telemetry.breach",
    ];
    let actors = [
        Actor {
            kind: ActorKind::Agent,
            id: "agent-deployer-07".to_owned(),
            roles: vec!["deployer".to_owned()],
            channel: None,
        },
        Actor {
            kind: ActorKind::Human,
            id: "alice".to_owned(),
            roles: vec!["security_lead".to_owned(), "team_lead".to_owned()],
            channel: None,
        },
    ];
    let mut entries = Vec::with_capacity(len as usize);
    let mut prev = Hash::ZERO;
    for seq in 1..=len {
        let subject = Subject {
            task_id: Some(format!("task-{}", seq / 3)),
            worker_id: Some("worker-12".to_owned()),
            permit_id: Some(format!("pmt-{}", seq / 5)),
        };
        let data = json!({
            "reason": "quorum met",
            "approvals": seq % 4,
            "risk_score": 0.25 + (seq % 7) as f64 / 8.0,
            "env": "prod",
        });
        let body = EntryBody {
            seq,
            ts_ms: 1_767_225_600_000 + seq as i64 * 37,
            event_type: TYPES[(seq % 4) as usize],
            actor: &actors[(seq % 2) as usize],
            subject: &subject,
            level: Some((seq % 5) as u8),
            data: &data,
        };
        let entry = AuditEntry::seal(body, prev);
        prev = entry.hash;
        entries.push(entry);
    }
    entries
}

fn chain_benches(c: &mut Criterion) {
    let entries = chain(CHAIN_LEN);
    assert_eq!(verify_chain(&entries, Hash::ZERO), Ok(()));

    let mut group = c.benchmark_group("chain");
    group.sample_size(10);
    group.throughput(Throughput::Elements(CHAIN_LEN));
    group.bench_function("verify_chain/1M", |b| {
        b.iter(|| verify_chain(black_box(&entries), Hash::ZERO));
    });
    // The encoder as it was before it wrote into a reused buffer (one String per value,
    // one Vec per object, one Vec per entry), measured in the same run as the ratio's base.
    assert!(baseline::verify_chain(&entries, Hash::ZERO));
    group.bench_function("verify_chain_baseline/1M", |b| {
        b.iter(|| baseline::verify_chain(black_box(&entries), Hash::ZERO));
    });
    group.finish();

    // The parts of one entry's check, to show where verify_chain's time goes.
    let entry = &entries[12_345];
    let body = canonical_body(&entry.body());
    let mut group = c.benchmark_group("chain/per_entry");
    group.throughput(Throughput::Elements(1));
    group.bench_function("computed_hash", |b| {
        b.iter(|| black_box(entry).computed_hash());
    });
    group.bench_function("canonical_body", |b| {
        b.iter(|| canonical_body(&black_box(entry).body()));
    });
    group.bench_function("canonical_json", |b| {
        b.iter(|| canonical_json(black_box(&entry.data)));
    });
    group.bench_function("entry_hash", |b| {
        b.iter(|| entry_hash(black_box(&entry.prev_hash), black_box(&body)));
    });
    group.finish();
}

/// The allocating encoder `verify_chain` used before, kept verbatim as the baseline its
/// successor is measured against. It must agree with the crate's encoding: setup asserts
/// the baseline accepts the same chain.
mod baseline {
    use serde_json::Value;
    use steward_audit::{AuditEntry, EntryBody, Hash, entry_hash};

    pub fn verify_chain(entries: &[AuditEntry], first_prev: Hash) -> bool {
        let mut previous: Option<&AuditEntry> = None;
        for entry in entries {
            if entry_hash(&entry.prev_hash, &canonical_body(&entry.body())) != entry.hash {
                return false;
            }
            let expected_prev = match previous {
                None => first_prev,
                Some(previous) => {
                    if entry.seq != previous.seq + 1 {
                        return false;
                    }
                    previous.hash
                }
            };
            if entry.prev_hash != expected_prev {
                return false;
            }
            previous = Some(entry);
        }
        true
    }

    fn canonical_body(body: &EntryBody<'_>) -> Vec<u8> {
        let data = canonical_json(body.data);
        let mut out = Vec::with_capacity(128 + data.len());
        out.extend_from_slice(&body.seq.to_be_bytes());
        out.extend_from_slice(&body.ts_ms.to_be_bytes());
        put_str(&mut out, body.event_type);
        put_str(&mut out, body.actor.kind.as_str());
        put_str(&mut out, &body.actor.id);
        put_len(&mut out, body.actor.roles.len());
        for role in &body.actor.roles {
            put_str(&mut out, role);
        }
        put_opt_str(&mut out, body.subject.task_id.as_deref());
        put_opt_str(&mut out, body.subject.worker_id.as_deref());
        put_opt_str(&mut out, body.subject.permit_id.as_deref());
        match body.level {
            None => out.push(0x00),
            Some(level) => out.extend_from_slice(&[0x01, level]),
        }
        put_str(&mut out, &data);
        out
    }

    fn canonical_json(value: &Value) -> String {
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
        match serde_json::to_string(text) {
            Ok(json) => out.push_str(&json),
            Err(_) => out.push_str("null"),
        }
    }

    fn put_len(out: &mut Vec<u8>, len: usize) {
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
}

/// A deterministic stand-in for random numbers: a 64-bit LCG (Knuth's MMIX constants).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) % bound
    }
}

fn tree(size: u64) -> MemoryTree {
    let mut tree = MemoryTree::with_capacity(size as usize);
    let mut entry_hash = Hash::ZERO;
    for _ in 0..size {
        // Any distinct 32-byte values will do as entry hashes; chaining leaf hashes gives
        // them without a second hash per leaf.
        entry_hash = leaf_hash(&entry_hash);
        tree.push(entry_hash);
    }
    tree
}

fn proof_benches(c: &mut Criterion) {
    for size in TREE_SIZES {
        let tree = tree(size);
        let root = tree.root();
        let label = if size == 10_000_000 {
            "10M".to_owned()
        } else {
            format!("2^{}", size.ilog2())
        };

        let mut rng = Lcg(size);
        let inclusion: Vec<(u64, Hash, Vec<Hash>)> = (0..PROOF_POOL)
            .map(|i| {
                // Always include the last leaf, whose path crosses the ragged right edge.
                let index = if i == 0 { size - 1 } else { rng.below(size) };
                let proof = inclusion_proof(index, size, &tree).expect("inclusion proof");
                let leaf = tree.leaf(index).expect("leaf");
                assert_eq!(verify_inclusion(&leaf, index, size, &proof, &root), Ok(()));
                (index, leaf, proof)
            })
            .collect();
        let consistency: Vec<(u64, Hash, Vec<Hash>)> = (0..PROOF_POOL)
            .map(|_| {
                let old_size = 1 + rng.below(size - 1);
                let old_root = tree.root_at(old_size).expect("old root");
                let proof = consistency_proof(old_size, size, &tree).expect("consistency proof");
                assert_eq!(
                    verify_consistency(old_size, size, &old_root, &root, &proof),
                    Ok(())
                );
                (old_size, old_root, proof)
            })
            .collect();

        let mut group = c.benchmark_group("inclusion");
        group.throughput(Throughput::Elements(1));
        let mut next = cycle(inclusion.len());
        group.bench_function(BenchmarkId::new("generate", &label), |b| {
            b.iter(|| inclusion_proof(inclusion[next()].0, size, black_box(&tree)));
        });
        group.bench_function(BenchmarkId::new("verify", &label), |b| {
            b.iter(|| {
                let (index, leaf, proof) = &inclusion[next()];
                verify_inclusion(leaf, *index, size, black_box(proof), &root)
            });
        });
        group.bench_function(BenchmarkId::new("generate+verify", &label), |b| {
            b.iter(|| {
                let (index, leaf, _) = &inclusion[next()];
                let proof = inclusion_proof(*index, size, black_box(&tree))?;
                verify_inclusion(leaf, *index, size, &proof, &root)
            });
        });
        group.finish();

        let mut group = c.benchmark_group("consistency");
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::new("generate", &label), |b| {
            b.iter(|| consistency_proof(consistency[next()].0, size, black_box(&tree)));
        });
        group.bench_function(BenchmarkId::new("verify", &label), |b| {
            b.iter(|| {
                let (old_size, old_root, proof) = &consistency[next()];
                verify_consistency(*old_size, size, old_root, &root, black_box(proof))
            });
        });
        group.bench_function(BenchmarkId::new("root_at", &label), |b| {
            b.iter(|| black_box(&tree).root_at(consistency[next()].0));
        });
        group.finish();
    }
}

/// Appending to a `MemoryTree`, per leaf: one leaf hash stored, plus a parent for each
/// pair it completes (amortised, one more hash per leaf).
fn append_benches(c: &mut Criterion) {
    const LEAVES: u64 = 1 << 16;
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Elements(LEAVES));
    group.bench_function("push/2^16", |b| {
        b.iter(|| {
            let mut tree = MemoryTree::with_capacity(LEAVES as usize);
            for i in 0..LEAVES {
                tree.push(Hash::from_bytes([i as u8; 32]));
            }
            tree.root()
        });
    });
    group.finish();
}

/// An endless 0, 1, …, len - 1, 0, 1, … counter.
fn cycle(len: usize) -> impl FnMut() -> usize {
    let mut i = 0;
    move || {
        i = (i + 1) % len;
        i
    }
}

criterion_group!(benches, chain_benches, proof_benches, append_benches);
criterion_main!(benches);
