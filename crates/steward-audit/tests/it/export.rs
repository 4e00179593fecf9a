//! `verify_export`: an intact export verifies, and every tamper (a flipped byte, an edited
//! field, a deleted, inserted or swapped event, a cut-off tail, a forged checkpoint) is
//! caught, naming the first bad `seq`.

use proptest::prelude::*;
use serde_json::json;
use steward_audit::{
    Actor, ActorKind, AuditEntry, ChainErrorKind, Checkpoint, EntryBody, ExportHeader, ExportLine,
    ExportVerifier, Frontier, Hash, ManifestErrorKind, MemoryTree, NodeSource, RangeManifest,
    Subject, VerifyErrorKind, leaf_hash, public_key, sign_checkpoint, sign_manifest, verify_export,
};

const SECRET: [u8; 32] = [7; 32];
const EVENTS: u64 = 50;
/// Checkpoints at these tree sizes; the last one is the header's latest.
const CHECKPOINTS: [u64; 3] = [17, 32, 48];

/// The sample trail: events 1 to 50 and checkpoints at 17, 32 and 48.
struct Trail {
    entries: Vec<AuditEntry>,
    /// Checkpoints in tree-size order.
    checkpoints: Vec<steward_audit::SignedCheckpoint>,
}

fn trail() -> Trail {
    let mut entries: Vec<AuditEntry> = Vec::new();
    let mut tree = MemoryTree::default();
    let mut checkpoints = Vec::new();
    let mut prev = Hash::ZERO;
    for seq in 1..=EVENTS {
        let actor = Actor {
            kind: ActorKind::ALL[(seq % 3) as usize],
            id: format!("actor-{}", seq % 5),
            roles: vec!["operator".to_owned()],
            channel: None,
        };
        let subject = Subject {
            task_id: Some(format!("task-{seq}")),
            worker_id: (seq % 2 == 0).then(|| format!("worker-{}", seq % 4)),
            permit_id: None,
        };
        let data = json!({ "n": seq, "note": format!("event number {seq}") });
        let body = EntryBody {
            seq,
            ts_ms: 1_700_000_000_000 + seq as i64 * 1000,
            event_type: if seq % 2 == 0 {
                "permit.approved"
            } else {
                "worker.registered"
            },
            actor: &actor,
            subject: &subject,
            level: Some((seq % 5) as u8),
            data: &data,
        };
        let entry = AuditEntry::seal(body, prev);
        prev = entry.hash;
        tree.push(leaf_hash(&entry.hash));
        entries.push(entry);
        if CHECKPOINTS.contains(&seq) {
            let checkpoint = Checkpoint {
                tree_size: seq,
                root_hash: tree.root(),
                ts_ms: 1_700_000_000_000 + seq as i64 * 1000,
            };
            checkpoints.push(sign_checkpoint(checkpoint, &SECRET));
        }
    }
    Trail {
        entries,
        checkpoints,
    }
}

/// The export lines from `from_seq`, as a server writes them.
fn export(trail: &Trail, from_seq: u64) -> Vec<ExportLine> {
    let prev_hash = match from_seq {
        0 | 1 => Hash::ZERO,
        _ => trail.entries[(from_seq - 2) as usize].hash,
    };
    let key = public_key(&SECRET);
    let mut lines = vec![ExportLine::Header(ExportHeader::new(
        from_seq,
        EVENTS,
        prev_hash,
        Some(&key),
        trail.checkpoints.last().cloned(),
    ))];
    for entry in trail.entries.iter().filter(|e| e.seq >= from_seq) {
        lines.push(ExportLine::Event(entry.clone()));
        if let Some(cp) = trail
            .checkpoints
            .iter()
            .find(|cp| cp.checkpoint.tree_size == entry.seq)
        {
            lines.push(ExportLine::Checkpoint(cp.clone()));
        }
    }
    lines
}

fn text(lines: &[ExportLine]) -> Vec<Vec<u8>> {
    lines.iter().map(|l| l.to_json().into_bytes()).collect()
}

/// The index in `lines` of the event with `seq`.
fn line_of(lines: &[ExportLine], seq: u64) -> usize {
    lines
        .iter()
        .position(|l| matches!(l, ExportLine::Event(e) if e.seq == seq))
        .expect("the event is in the export")
}

fn verify(lines: &[Vec<u8>]) -> Result<steward_audit::VerifyReport, steward_audit::VerifyError> {
    verify_export(lines, &public_key(&SECRET))
}

#[derive(Debug, Clone)]
enum Tamper {
    /// XOR one byte of event `seq`'s line with `mask`.
    FlipByte {
        seq: u64,
        at: usize,
        mask: u8,
    },
    /// Change one field of event `seq` without resealing it.
    Edit {
        seq: u64,
        field: u8,
    },
    Delete {
        seq: u64,
    },
    /// A correctly sealed forgery with `seq`, inserted before the real event `seq`.
    Insert {
        seq: u64,
    },
    Swap {
        first: u64,
        second: u64,
    },
    /// Cut everything after event `keep` (below the header's `to_seq`).
    Truncate {
        keep: u64,
    },
    /// A correctly sealed forgery appended after the last event.
    Append,
}

fn arb_tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        (1..=EVENTS, any::<usize>(), 1..=255u8).prop_map(|(seq, at, mask)| Tamper::FlipByte {
            seq,
            at,
            mask
        }),
        (1..=EVENTS, 0..6u8).prop_map(|(seq, field)| Tamper::Edit { seq, field }),
        (1..=EVENTS).prop_map(|seq| Tamper::Delete { seq }),
        (1..=EVENTS).prop_map(|seq| Tamper::Insert { seq }),
        (1..EVENTS, 1..EVENTS).prop_map(|(a, b)| {
            let (first, second) = if a < b {
                (a, b)
            } else {
                (a.min(b), a.max(b) + 1)
            };
            Tamper::Swap { first, second }
        }),
        (0..EVENTS).prop_map(|keep| Tamper::Truncate { keep }),
        Just(Tamper::Append),
    ]
}

/// Applies `tamper` to the intact export and returns the damaged lines and the `seq` range
/// the verifier may name (`None`: any).
fn apply(trail: &Trail, tamper: &Tamper) -> (Vec<Vec<u8>>, Option<(u64, u64)>) {
    let lines = export(trail, 1);
    let mut out = text(&lines);
    match *tamper {
        Tamper::FlipByte { seq, at, mask } => {
            let index = line_of(&lines, seq);
            let line = &mut out[index];
            let at = at % line.len();
            line[at] ^= mask;
            (out, Some((seq, seq)))
        }
        Tamper::Edit { seq, field } => {
            let index = line_of(&lines, seq);
            let mut entry = trail.entries[(seq - 1) as usize].clone();
            match field {
                0 => entry.ts_ms += 1,
                1 => entry.event_type.push('x'),
                2 => entry.actor.id.push('x'),
                3 => entry.subject.permit_id = Some("permit-x".to_owned()),
                4 => entry.level = None,
                _ => entry.data = json!({ "n": 0 }),
            }
            out[index] = ExportLine::Event(entry).to_json().into_bytes();
            (out, Some((seq, seq)))
        }
        Tamper::Delete { seq } => {
            out.remove(line_of(&lines, seq));
            (out, Some((seq, seq)))
        }
        Tamper::Insert { seq } => {
            let real = &trail.entries[(seq - 1) as usize];
            let data = json!({ "forged": true });
            let body = EntryBody {
                data: &data,
                ..real.body()
            };
            let forged = AuditEntry::seal(body, real.prev_hash);
            out.insert(
                line_of(&lines, seq),
                ExportLine::Event(forged).to_json().into_bytes(),
            );
            // A perfectly sealed forgery links correctly; the chain breaks at the real
            // event that follows it, one position later.
            (out, Some((seq, seq + 1)))
        }
        Tamper::Swap { first, second } => {
            out.swap(line_of(&lines, first), line_of(&lines, second));
            (out, Some((first, first)))
        }
        Tamper::Append => {
            let last = &trail.entries[(EVENTS - 1) as usize];
            let data = json!({ "forged": true });
            let body = EntryBody {
                seq: EVENTS + 1,
                data: &data,
                ..last.body()
            };
            let forged = AuditEntry::seal(body, last.hash);
            out.push(ExportLine::Event(forged).to_json().into_bytes());
            (out, Some((EVENTS + 1, EVENTS + 1)))
        }
        Tamper::Truncate { keep } => {
            let cut = if keep == 0 {
                1
            } else {
                line_of(&lines, keep) + 1
            };
            out.truncate(cut);
            (out, Some((keep + 1, keep + 1)))
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn every_tamper_is_caught_at_the_first_bad_seq(tamper in arb_tamper()) {
        let trail = trail();
        let (damaged, expected) = apply(&trail, &tamper);
        if let Tamper::FlipByte { seq, .. } = tamper {
            // Some flips do not change what the line means (a hex digit's case): no tamper.
            let index = line_of(&export(&trail, 1), seq);
            let original = export(&trail, 1)[index].clone();
            prop_assume!(ExportLine::parse(&damaged[index]).ok() != Some(original));
        }
        let error = verify(&damaged).expect_err("the tamper is detected");
        if let Some((low, high)) = expected {
            let seq = error.seq.expect("the error names a seq");
            prop_assert!(
                (low..=high).contains(&seq),
                "{tamper:?}: named seq {seq}, expected {low}..={high}: {error}"
            );
        }
    }
}

#[test]
fn an_intact_export_verifies() {
    let report = verify(&text(&export(&trail(), 1))).expect("intact");
    assert_eq!(report.events, EVENTS);
    assert_eq!(report.checkpoints, 3);
    assert_eq!(report.last_seq, Some(EVENTS));
    assert!(report.roots_checked);
}

#[test]
fn a_resumed_export_verifies_alone_and_appended() {
    let trail = trail();
    let resumed = verify(&text(&export(&trail, 21))).expect("resumed export alone");
    assert_eq!((resumed.first_seq, resumed.events), (Some(21), 30));
    assert!(
        !resumed.roots_checked,
        "a resumed export cannot recompute roots"
    );

    let mut first = export(&trail, 1);
    first.truncate(line_of(&first, 20) + 1);
    let mut both = text(&first);
    both.extend(text(&export(&trail, 21)));
    let joined = verify(&both).expect("export and its continuation");
    assert_eq!((joined.events, joined.checkpoints), (EVENTS, 3));
    assert!(joined.roots_checked);
}

#[test]
fn a_tampered_checkpoint_signature_is_caught() {
    let trail = trail();
    let mut lines = export(&trail, 1);
    let index = line_of(&lines, 32) + 1;
    let ExportLine::Checkpoint(cp) = &mut lines[index] else {
        panic!("a checkpoint follows event 32");
    };
    cp.signature[5] ^= 1;
    let error = verify(&text(&lines)).expect_err("bad signature");
    assert_eq!(error.seq, Some(32));
    assert!(matches!(
        error.kind,
        VerifyErrorKind::Checkpoint { tree_size: 32, .. }
    ));
}

#[test]
fn a_signed_but_wrong_root_is_caught() {
    let trail = trail();
    let mut lines = export(&trail, 1);
    let index = line_of(&lines, 17) + 1;
    let forged = Checkpoint {
        tree_size: 17,
        root_hash: Hash::from_bytes([9; 32]),
        ts_ms: 0,
    };
    lines[index] = ExportLine::Checkpoint(sign_checkpoint(forged, &SECRET));
    let error = verify(&text(&lines)).expect_err("wrong root");
    assert_eq!(error.seq, Some(17));
    assert!(matches!(
        error.kind,
        VerifyErrorKind::RootMismatch { tree_size: 17, .. }
    ));
}

#[test]
fn a_root_edited_in_place_breaks_the_signature() {
    let trail = trail();
    let mut lines = export(&trail, 1);
    let index = line_of(&lines, 48) + 1;
    let ExportLine::Checkpoint(cp) = &mut lines[index] else {
        panic!("a checkpoint follows event 48");
    };
    cp.checkpoint.root_hash = Hash::from_bytes([1; 32]);
    let error = verify(&text(&lines)).expect_err("edited root");
    assert!(matches!(
        error.kind,
        VerifyErrorKind::Checkpoint { tree_size: 48, .. }
    ));
}

#[test]
fn deleting_a_checkpoint_line_keeps_the_events_verifiable() {
    // Deleting a checkpoint line alone keeps the events intact: the chain and the header's
    // latest checkpoint still verify. What the export proves is the events.
    let trail = trail();
    let mut lines = text(&export(&trail, 1));
    let index = line_of(&export(&trail, 1), 17) + 1;
    lines.remove(index);
    let report = verify(&lines).expect("events intact");
    assert_eq!(report.checkpoints, 2);
}

#[test]
fn garbage_and_wrong_keys_are_reported() {
    let error = verify(&[b"not json".to_vec()]).expect_err("garbage");
    assert!(matches!(
        error.kind,
        VerifyErrorKind::Malformed { line: 1, .. }
    ));

    let lines = text(&export(&trail(), 1));
    let other = public_key(&[8; 32]);
    let error = verify_export(&lines, &other).expect_err("another key");
    assert!(matches!(error.kind, VerifyErrorKind::KeyMismatch { .. }));

    let error = verify(&lines[1..]).expect_err("no header");
    assert!(matches!(
        error.kind,
        VerifyErrorKind::Malformed { line: 1, .. }
    ));
}

#[test]
fn deleting_the_first_event_is_a_broken_link_at_seq_1() {
    let mut lines = text(&export(&trail(), 1));
    lines.remove(1);
    let error = verify(&lines).expect_err("first event deleted");
    assert_eq!(error.seq, Some(1));
    assert_eq!(
        error.kind,
        VerifyErrorKind::Chain(ChainErrorKind::BrokenLink)
    );
}

#[test]
fn the_push_verifier_agrees_with_verify_export() {
    let lines = text(&export(&trail(), 1));
    let mut verifier = ExportVerifier::new(&public_key(&SECRET));
    for line in &lines {
        verifier.push_line(line).expect("intact line");
    }
    assert_eq!(verifier.finish(), verify(&lines));
    let mut verifier = ExportVerifier::new(&public_key(&SECRET));
    verifier.push_line(&lines[0]).expect("header");
    assert_eq!(
        verifier.finish().expect_err("nothing after the header").seq,
        Some(1),
        "the first missing seq"
    );
}

/// The export of the sample trail after pruning `1..=pruned` (a checkpoint's size): the
/// header, the signed manifest of the range (with its frontier when `frontier`), then the
/// remaining events and checkpoints.
fn pruned_export(trail: &Trail, pruned: u64, frontier: bool) -> Vec<ExportLine> {
    let entries = &trail.entries[..pruned as usize];
    let all: MemoryTree = trail.entries.iter().map(|e| leaf_hash(&e.hash)).collect();
    let range: MemoryTree = entries.iter().map(|e| leaf_hash(&e.hash)).collect();
    let manifest = RangeManifest {
        first_seq: 1,
        last_seq: pruned,
        prev_hash: Hash::ZERO,
        first_hash: entries[0].hash,
        last_hash: entries[entries.len() - 1].hash,
        range_root: range.root(),
        tree_size: pruned,
        tree_root: all.root_at(pruned).expect("in the tree"),
        ts_ms: 1_800_000_000_000,
    };
    let nodes = Frontier::node_ids(pruned)
        .into_iter()
        .map(|id| all.node(id).expect("stored"))
        .collect();
    let mut lines = export(trail, 1);
    let first_kept = line_of(&lines, pruned + 1);
    lines.splice(
        1..first_kept,
        [ExportLine::Manifest {
            manifest: sign_manifest(manifest, &SECRET),
            frontier: frontier.then_some(nodes),
        }],
    );
    lines
}

#[test]
fn a_pruned_export_verifies_through_its_manifest() {
    let trail = trail();
    let lines = pruned_export(&trail, 17, true);
    let report = verify(&text(&lines)).expect("intact pruned export");
    assert_eq!(
        (report.events, report.manifests, report.pruned_events),
        (EVENTS - 17, 1, 17)
    );
    assert_eq!((report.first_seq, report.last_seq), (Some(1), Some(EVENTS)));
    // The frontier carries the root checks past the range: checkpoints 32 and 48 are
    // recomputed (a wrong root there would fail, see below).
    assert!(report.roots_checked);
    assert_eq!(report.checkpoints, 2);

    let without = verify(&text(&pruned_export(&trail, 17, false))).expect("no frontier");
    assert!(!without.roots_checked);

    // The line round-trips through its text form.
    let manifest_line = &text(&lines)[1];
    assert_eq!(
        ExportLine::parse(manifest_line).expect("parses"),
        lines[1].clone()
    );
}

#[test]
fn a_tampered_manifest_or_frontier_is_damage_at_its_range() {
    let trail = trail();
    let lines = text(&pruned_export(&trail, 17, true));
    let manifest: serde_json::Value = serde_json::from_slice(&lines[1]).expect("json");

    // Flip one hex digit of the manifest's last hash: the signature no longer holds.
    let mut edited = manifest.clone();
    let last_hash = edited["manifest"]["manifest"]["last_hash"]
        .as_str()
        .expect("hex")
        .to_owned();
    let flipped = format!(
        "{}{}",
        if last_hash.starts_with('0') { "1" } else { "0" },
        &last_hash[1..]
    );
    edited["manifest"]["manifest"]["last_hash"] = json!(flipped);
    let mut damaged = lines.clone();
    damaged[1] = edited.to_string().into_bytes();
    let error = verify(&damaged).expect_err("edited manifest");
    assert_eq!(error.seq, Some(1));
    assert!(
        matches!(
            error.kind,
            VerifyErrorKind::Manifest(ManifestErrorKind::Signature { .. })
        ),
        "{error}"
    );

    // A wrong frontier is caught against the signed tree root.
    let mut bad_frontier = manifest.clone();
    bad_frontier["frontier"][0] = json!(Hash::ZERO.to_string());
    let mut damaged = lines.clone();
    damaged[1] = bad_frontier.to_string().into_bytes();
    let error = verify(&damaged).expect_err("bad frontier");
    assert_eq!(
        (error.seq, error.kind),
        (Some(1), VerifyErrorKind::BadFrontier { last_seq: 17 })
    );

    // Dropping the manifest leaves a gap: the first kept event is damage at seq 1.
    let mut gap = lines.clone();
    gap.remove(1);
    let error = verify(&gap).expect_err("gap without manifest");
    assert_eq!(error.seq, Some(1));
}
