//! A hold placed, released once, and refused a second release; with the events each
//! records.

use expect_test::expect;

use super::*;

#[test]
fn a_hold_is_placed_and_released_once() {
    let (mut hold, created) = LegalHold::place(
        "h-1".to_owned(),
        NewLegalHold {
            scope: HoldScope::Worker("w-1".to_owned()),
            reason: "case 7".to_owned(),
        },
        "auditor",
        1_000,
    );
    expect![[r#"
        (
            LegalHold {
                id: "h-1",
                scope: Worker(
                    "w-1",
                ),
                reason: "case 7",
                created_by: "auditor",
                created_at_ms: 1000,
                released: None,
            },
            HoldCreated {
                hold_id: "h-1",
                scope: Object {
                    "worker_id": String("w-1"),
                },
                personal: Some(
                    Personal {
                        subject: "auditor",
                        fields: [
                            "reason",
                        ],
                    },
                ),
            },
        )
    "#]]
    .assert_debug_eq(&(&hold, &created));
    let released = hold.release("lead", 2_000, "closed").expect("active");
    expect![[r#"
        (
            Some(
                HoldRelease {
                    by: "lead",
                    at_ms: 2000,
                    reason: "closed",
                },
            ),
            HoldReleased {
                hold_id: "h-1",
                scope: Object {
                    "worker_id": String("w-1"),
                },
                personal: Some(
                    Personal {
                        subject: "lead",
                        fields: [
                            "reason",
                        ],
                    },
                ),
            },
        )
    "#]]
    .assert_debug_eq(&(&hold.released, &released));
    let before = hold.clone();
    assert_eq!(
        hold.release("lead", 3_000, "again").map(|_| ()),
        Err(HoldReleasedError {
            id: "h-1".to_owned()
        })
    );
    assert_eq!(hold, before);
    assert_eq!(
        hold.released_error().to_string(),
        "legal hold `h-1` is already released"
    );
}
