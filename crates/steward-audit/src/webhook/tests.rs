//! Table tests of the webhook rules: patterns, delivery names, retries, attempt outcomes.

use super::*;

#[test]
fn patterns_parse_and_match() {
    let all = EventPattern::parse("*").expect("all");
    let permits = EventPattern::parse("permit.*").expect("prefix");
    let opened = EventPattern::parse("rollback.opened").expect("exact");
    assert!(all.matches("anything.at_all"));
    assert!(permits.matches("permit.approved"));
    assert!(!permits.matches("permits.approved"));
    assert!(!permits.matches("permit"));
    assert!(opened.matches("rollback.opened"));
    assert!(!opened.matches("rollback.opened_late"));
    // Checkpoint publication is a name of its own for the checkpoint event.
    let published = EventPattern::parse("audit.checkpoint").expect("publication");
    assert_eq!(published, EventPattern::Checkpoint);
    assert!(published.matches("audit.checkpoint_created"));
    assert!(!published.matches("audit.checkpoint"));
    assert!(!published.matches("audit.pruned"));
    for bad in [
        "",
        ".",
        "permit.",
        "Permit.*",
        "permit.**",
        "*.approved",
        "a b",
        ".*",
    ] {
        assert!(
            EventPattern::parse(bad).is_err(),
            "{bad:?} should be refused"
        );
    }
}

#[test]
fn deliveries_are_named_by_what_was_subscribed() {
    let patterns =
        |texts: &[&str]| parse_patterns(&texts.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>());
    let cases: &[(&[&str], &str, Option<&str>)] = &[
        (&["*"], "permit.approved", Some("permit.approved")),
        (&["permit.*"], "rollback.opened", None),
        (
            &["rollback.opened"],
            "rollback.opened",
            Some("rollback.opened"),
        ),
        // A checkpoint goes out in its published form once publication is subscribed,
        // whichever other pattern matches too.
        (
            &["*"],
            "audit.checkpoint_created",
            Some("audit.checkpoint_created"),
        ),
        (
            &["audit.checkpoint"],
            "audit.checkpoint_created",
            Some(CHECKPOINT_PUBLICATION),
        ),
        (
            &["*", "audit.checkpoint"],
            "audit.checkpoint_created",
            Some(CHECKPOINT_PUBLICATION),
        ),
        (&["audit.checkpoint"], "audit.pruned", None),
        // A stored pattern that no longer parses selects nothing.
        (&["Bad.*"], "bad.thing", None),
        (&[], "permit.approved", None),
    ];
    for (texts, event_type, expected) in cases {
        assert_eq!(
            delivery_type(&patterns(texts), event_type),
            *expected,
            "{texts:?} {event_type}"
        );
    }
}

#[test]
fn retries_back_off_exponentially_and_stop() {
    let delays: Vec<Option<i64>> = (1..=MAX_ATTEMPTS).map(retry_delay_ms).collect();
    assert_eq!(delays[0], Some(30_000));
    assert_eq!(delays[1], Some(60_000));
    assert_eq!(delays[2], Some(120_000));
    assert_eq!(delays[7], Some(RETRY_CAP_MS));
    assert_eq!(delays[8], Some(RETRY_CAP_MS));
    assert_eq!(delays[9], None, "the tenth attempt is the last");
}

#[test]
fn an_attempt_delivers_retries_or_fails() {
    let failed = |code| AttemptResult::Failed {
        status_code: code,
        error: "e".repeat(600),
    };
    let long = Some("e".repeat(MAX_ERROR_CHARS));
    let cases = [
        (
            1,
            AttemptResult::Delivered { status_code: 204 },
            Finish {
                status: "delivered",
                next_attempt_at_ms: 1_000,
                last_status_code: Some(204),
                last_error: None,
                delivered_at_ms: Some(1_000),
            },
        ),
        (
            2,
            failed(Some(503)),
            Finish {
                status: "pending",
                next_attempt_at_ms: 61_000,
                last_status_code: Some(503),
                last_error: long.clone(),
                delivered_at_ms: None,
            },
        ),
        (
            MAX_ATTEMPTS,
            failed(None),
            Finish {
                status: "failed",
                next_attempt_at_ms: 1_000,
                last_status_code: None,
                last_error: long.clone(),
                delivered_at_ms: None,
            },
        ),
        (
            1,
            AttemptResult::Refused {
                error: "internal address".to_owned(),
            },
            Finish {
                status: "failed",
                next_attempt_at_ms: 1_000,
                last_status_code: None,
                last_error: Some("internal address".to_owned()),
                delivered_at_ms: None,
            },
        ),
    ];
    for (attempt, result, expected) in cases {
        assert_eq!(finish(attempt, &result, 1_000), expected, "{result:?}");
    }
}

#[test]
fn the_audit_trail_sees_only_the_origin() {
    assert_eq!(
        url_origin("https://user:pw@hooks.slack.com/services/T0/B0/XYZ?x=1"),
        "https://hooks.slack.com"
    );
    assert_eq!(url_origin("http://127.0.0.1:9/x"), "http://127.0.0.1:9");
}
