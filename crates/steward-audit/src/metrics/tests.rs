//! Table tests of the metrics fold: counters per event, histogram buckets, the snapshot.

use super::*;

fn event<'a>(event_type: &'a str, level: Option<i64>, data: &'a str) -> FoldEvent<'a> {
    FoldEvent {
        ts_ms: 1_000_000,
        event_type,
        level,
        data,
        analysis: None,
        requested_at_ms: None,
        rollback_opened: None,
    }
}

fn counts(events: &[FoldEvent<'_>]) -> Vec<(&'static str, String, i64, String, i64)> {
    let mut delta = MetricDelta::default();
    for e in events {
        fold_event(&mut delta, e);
    }
    delta
        .counts
        .into_iter()
        .map(|((family, event_type, level, label), count)| {
            (family, event_type, level, label, count)
        })
        .collect()
}

fn row(
    family: &'static str,
    event_type: &str,
    level: i64,
    label: &str,
    count: i64,
) -> (&'static str, String, i64, String, i64) {
    (
        family,
        event_type.to_owned(),
        level,
        label.to_owned(),
        count,
    )
}

#[test]
fn each_event_type_increments_its_counters() {
    let analysis = r#"{"certification_decision": {"worker_type": "deploy-bot"}}"#;
    let cases: Vec<(FoldEvent<'_>, Vec<_>)> = vec![
        // An analysis records its worker type; without one it is `unknown`.
        (
            event("task.analyzed", Some(2), r#"{"worker_type": "ci"}"#),
            vec![row("decisions", "task.analyzed", 2, "ci", 1)],
        ),
        (
            event("task.analyzed", None, r#"{"worker_type": null}"#),
            vec![row("decisions", "task.analyzed", NO_LEVEL, "unknown", 1)],
        ),
        // A permit decision takes the worker type from its permit's analysis.
        (
            FoldEvent {
                analysis: Some(analysis),
                ..event("permit.approved", Some(3), "{}")
            },
            vec![row("decisions", "permit.approved", 3, "deploy-bot", 1)],
        ),
        // A denial is a decision and a hard block by its rule.
        (
            event(
                "authorize.denied",
                Some(1),
                r#"{"rule": "scope", "worker_type": 7}"#,
            ),
            vec![
                row("decisions", "authorize.denied", 1, "7", 1),
                row("hard_blocks", "authorize.denied", 1, "scope", 1),
            ],
        ),
        (
            event("permit.hard_blocked", Some(4), r#"{"rule": ""}"#),
            vec![row("hard_blocks", "permit.hard_blocked", 4, "unknown", 1)],
        ),
        (
            event("permit.completed", Some(2), r#"{"outcome": "success"}"#),
            vec![row("outcomes", "permit.completed", 2, "success", 1)],
        ),
        (
            event("permit.closed", Some(2), r#"{"actual_level": 3}"#),
            vec![row("feedback", "permit.closed", 2, "3", 1)],
        ),
        (event("permit.closed", Some(2), "{}"), vec![]),
        (
            event("rollback.opened", Some(3), "{}"),
            vec![row("events", "rollback.opened", 3, "", 1)],
        ),
        // Types no figure counts, and names outside the catalogue, add nothing.
        (event("permit.started", Some(2), "{}"), vec![]),
        (event("test.noted", Some(2), "{}"), vec![]),
    ];
    for (e, expected) in cases {
        assert_eq!(counts(&[e]), expected, "{e:?}");
    }
}

#[test]
fn durations_fall_in_the_first_bucket_that_holds_them() {
    let mut delta = MetricDelta::default();
    let issued = |requested_at_ms| FoldEvent {
        requested_at_ms,
        ..event("permit.issued", Some(2), "{}")
    };
    // 60 s exactly is in the 60 s bucket; 61 s in the next; past the last bound, +Inf.
    fold_event(&mut delta, &issued(Some(1_000_000 - 60_000)));
    fold_event(&mut delta, &issued(Some(1_000_000 - 61_000)));
    fold_event(&mut delta, &issued(Some(1_000_000 - 200_000_000)));
    // Without a request time nothing is observed.
    fold_event(&mut delta, &issued(None));
    let completed = |rollback_opened| FoldEvent {
        rollback_opened,
        ..event("rollback.completed", Some(4), "{}")
    };
    fold_event(&mut delta, &completed(Some((1_000_000 - 45_000, Some(3)))));
    fold_event(&mut delta, &completed(None));
    assert_eq!(
        delta.histograms.into_iter().collect::<Vec<_>>(),
        [
            (("approval", 2, 0), (1, 60_000)),
            (("approval", 2, 1), (1, 61_000)),
            (("approval", 2, 10), (1, 200_000_000)),
            // Observed at the level of the rollback's opening.
            (("rollback", 3, 1), (1, 45_000)),
        ]
    );
}

#[test]
fn folded_types_are_each_figure_s_once() {
    let types = folded_types();
    assert_eq!(types.len(), 16, "{types:?}");
    assert!(types.windows(2).all(|w| w[0].as_str() < w[1].as_str()));
    assert!(ends_rollback("rollback.completed"));
    assert!(!ends_rollback("rollback.opened"));
}

#[test]
fn the_snapshot_sorts_counts_and_accumulates_buckets() {
    let counts = vec![
        (
            "events".to_owned(),
            "rollback.opened".to_owned(),
            3,
            String::new(),
            2,
        ),
        (
            "decisions".to_owned(),
            "task.analyzed".to_owned(),
            NO_LEVEL,
            "ci".to_owned(),
            5,
        ),
        (
            "decisions".to_owned(),
            "permit.approved".to_owned(),
            2,
            "ci".to_owned(),
            1,
        ),
        ("retired".to_owned(), "x".to_owned(), 1, String::new(), 9),
    ];
    let buckets = vec![
        ("approval".to_owned(), 2, 0, 1, 30_000),
        ("approval".to_owned(), 2, 2, 2, 1_000_000),
        ("approval".to_owned(), 2, 10, 1, 200_000_000),
        ("rollback".to_owned(), NO_LEVEL, 7, 1, 3_000_000),
    ];
    let s = snapshot(counts, vec![(4, "active".to_owned(), 1)], &buckets);
    let names: Vec<_> = s
        .decisions
        .iter()
        .map(|c| (c.event_type.as_str(), c.level, c.count))
        .collect();
    assert_eq!(
        names,
        [("permit.approved", Some(2), 1), ("task.analyzed", None, 5)]
    );
    assert_eq!(s.events.len(), 1);
    assert_eq!(
        s.emergency_permits,
        [Count {
            event_type: "permit".to_owned(),
            level: Some(4),
            label: "active".to_owned(),
            count: 1
        }]
    );
    let approval = &s.approval_time[0];
    assert_eq!(approval.level, Some(2));
    assert_eq!(approval.count, 4);
    assert_eq!(approval.sum_seconds, 201_030.0);
    let cumulative: Vec<i64> = approval.buckets.iter().map(|(_, n)| *n).collect();
    assert_eq!(cumulative, [1, 1, 3, 3, 3, 3, 3, 3, 3, 3]);
    let rollback = &s.rollback_time[0];
    assert_eq!(rollback.level, None);
    assert_eq!(rollback.buckets.last(), Some(&(3600.0, 1)));
}
