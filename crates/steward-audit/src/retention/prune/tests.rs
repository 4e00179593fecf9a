//! Table tests of the pruning scan over made-up trails: what it takes, where and why it
//! stops, a broken trail, the cap, and the range's manifest; and the report's arithmetic.

use expect_test::{Expect, expect};
use serde_json::Value;

use super::*;
use crate::entry::{Actor, ActorKind, EntryBody, Subject};
use crate::merkle::merkle_root;
use crate::retention::DAY_MS;

const NOW: i64 = 1_900_000_000_000;

/// An honest trail of `count` events from `seq` 1: `(age in days, level, type)` repeated
/// from `shape`, every event about worker `w-1`.
fn trail(count: u64, shape: &[(i64, Option<u8>, &str)]) -> Vec<AuditEntry> {
    let actor = Actor {
        kind: ActorKind::System,
        id: "steward".to_owned(),
        roles: Vec::new(),
        channel: None,
    };
    let subject = Subject {
        worker_id: Some("w-1".to_owned()),
        ..Subject::default()
    };
    let mut prev = Hash::ZERO;
    (1..=count)
        .map(|seq| {
            let (age, level, event_type) = shape[(seq as usize - 1) % shape.len()];
            let entry = AuditEntry::seal(
                EntryBody {
                    seq,
                    ts_ms: NOW - age * DAY_MS,
                    event_type,
                    actor: &actor,
                    subject: &subject,
                    level,
                    data: &Value::Null,
                },
                prev,
            );
            prev = entry.hash;
            entry
        })
        .collect()
}

/// Scans `events` from the start (signed up to `signed_size`, under `holds`, `emergency`
/// naming the seqs about an emergency permit) and renders the range taken and the end.
#[track_caller]
fn check(
    events: &[AuditEntry],
    signed_size: u64,
    holds: &[(String, HoldScope)],
    emergency: &[u64],
    expect: Expect,
) {
    let mut scan = PruneScan::new(0, Hash::ZERO, signed_size, holds, NOW);
    let mut end = Ok(ScanEnd::Head);
    for entry in events {
        match scan.push(entry, emergency.contains(&entry.seq)) {
            Ok(None) => continue,
            Ok(Some(stop)) => end = Ok(stop),
            Err(error) => end = Err(error.to_string()),
        }
        break;
    }
    let range = scan.into_range().map(|range| range.range());
    expect.assert_eq(&format!("{range:?}, {end:?}"));
}

#[test]
fn scans() {
    let old = [(400, Some(0), "worker.updated")];
    check(
        &trail(5, &old),
        5,
        &[],
        &[],
        expect![["Some(PruneRange { first_seq: 1, last_seq: 5 }), Ok(Head)"]],
    );
    check(
        &trail(5, &old),
        3,
        &[],
        &[],
        expect![[
            "Some(PruneRange { first_seq: 1, last_seq: 3 }), Ok(Kept(PruneStop { seq: 4, reason: Unsigned }))"
        ]],
    );
    let held = [(
        "h-1".to_owned(),
        HoldScope::Range {
            first_seq: 2,
            last_seq: 2,
        },
    )];
    check(
        &trail(5, &old),
        5,
        &held,
        &[],
        expect![[
            r#"Some(PruneRange { first_seq: 1, last_seq: 1 }), Ok(Kept(PruneStop { seq: 2, reason: Held { hold_id: "h-1" } }))"#
        ]],
    );
    // An event of an emergency permit, or an `emergency.*` event, is kept like level 4.
    check(
        &trail(5, &old),
        5,
        &[],
        &[3],
        expect![
            "Some(PruneRange { first_seq: 1, last_seq: 2 }), Ok(Kept(PruneStop { seq: 3, reason: Retained { prunable_from_ms: 2086192000000 } }))"
        ],
    );
    let emergency = [
        (400, Some(0), "worker.updated"),
        (400, None, "emergency.opened"),
    ];
    check(
        &trail(5, &emergency),
        5,
        &[],
        &[],
        expect![
            "Some(PruneRange { first_seq: 1, last_seq: 1 }), Ok(Kept(PruneStop { seq: 2, reason: Retained { prunable_from_ms: 2086192000000 } }))"
        ],
    );
    check(
        &trail(5, &[(10, Some(0), "worker.updated")]),
        5,
        &[],
        &[],
        expect![
            "None, Ok(Kept(PruneStop { seq: 1, reason: Retained { prunable_from_ms: 1901728000000 } }))"
        ],
    );
}

#[test]
fn a_broken_trail_is_never_pruned() {
    let old = [(400, Some(0), "worker.updated")];
    let mut gap = trail(5, &old);
    gap.remove(2);
    check(
        &gap,
        5,
        &[],
        &[],
        expect![[
            r#"Some(PruneRange { first_seq: 1, last_seq: 2 }), Err("missing from the trail: pruning refuses a broken chain")"#
        ]],
    );
    let mut edited = trail(5, &old);
    edited[3].ts_ms += 1;
    check(
        &edited,
        5,
        &[],
        &[],
        expect![[
            r#"Some(PruneRange { first_seq: 1, last_seq: 3 }), Err("audit chain broken at seq 4: hash mismatch (entry altered)")"#
        ]],
    );
}

#[test]
fn a_range_stops_at_the_cap_and_signs_its_own_tree() {
    let events = trail(MAX_RANGE_EVENTS + 2, &[(400, Some(0), "worker.updated")]);
    let mut scan = PruneScan::new(0, Hash::ZERO, u64::MAX, &[], NOW);
    let mut ends = events
        .iter()
        .map(|entry| scan.push(entry, false).expect("honest"));
    assert_eq!(ends.position(|end| end.is_some()), Some(9_999));
    assert_eq!(scan.after_seq(), MAX_RANGE_EVENTS);
    let range = scan.into_range().expect("range");
    let leaves: Vec<Hash> = events[..10_000]
        .iter()
        .map(|e| leaf_hash(&e.hash))
        .collect();
    let manifest = range.manifest(Hash::from_bytes([3; 32]), NOW);
    assert_eq!(
        manifest,
        RangeManifest {
            first_seq: 1,
            last_seq: MAX_RANGE_EVENTS,
            prev_hash: Hash::ZERO,
            first_hash: events[0].hash,
            last_hash: events[9_999].hash,
            range_root: merkle_root(&leaves),
            tree_size: MAX_RANGE_EVENTS,
            tree_root: Hash::from_bytes([3; 32]),
            ts_ms: NOW,
        }
    );
    // A scan after pruned history links to it.
    let mut next = PruneScan::new(MAX_RANGE_EVENTS, events[9_999].hash, u64::MAX, &[], NOW);
    assert_eq!(next.push(&events[10_000], false), Ok(None));
    let range = next.into_range().expect("range");
    assert_eq!(
        (range.prev_hash, range.first_seq),
        (events[9_999].hash, 10_001)
    );
}

#[test]
fn a_report_counts_its_ranges_and_keeps_its_stop() {
    let mut report = PruneReport::default();
    report.ranges.push(PruneRange {
        first_seq: 1,
        last_seq: 10,
    });
    assert!(!report.finish(ScanEnd::Cap));
    report.ranges.push(PruneRange {
        first_seq: 11,
        last_seq: 12,
    });
    let stop = PruneStop {
        seq: 13,
        reason: KeepReason::Unsigned,
    };
    assert!(report.finish(ScanEnd::Kept(stop.clone())));
    assert_eq!((report.event_count(), report.stop), (12, Some(stop)));
    assert!(PruneReport::default().finish(ScanEnd::Head));
}
