//! Canonical JSON and canonical body properties.

use expect_test::expect;
use proptest::prelude::*;
use serde_json::{Value, json};
use steward_audit::{Actor, ActorKind, EntryBody, Subject, canonical_body, canonical_json};

#[test]
fn keys_sorted_no_whitespace_serde_rendering() {
    let value = json!({
        "b": [1, 2.5, -0.0, 1e300, null],
        "a": { "z": "quote \" backslash \\ newline \n tab \t bell \u{7} é ✓", "y": false },
        "A": 18446744073709551615u64,
        "": -9223372036854775808i64
    });
    expect![[r#"{"":-9223372036854775808,"A":18446744073709551615,"a":{"y":false,"z":"quote \" backslash \\ newline \n tab \t bell \u0007 é ✓"},"b":[1,2.5,-0.0,1e+300,null]}"#]]
        .assert_eq(&canonical_json(&value));
}

#[test]
fn keys_sort_by_utf8_bytes() {
    // "é" (0xC3 0xA9) sorts after "z" (0x7A) by bytes.
    let value = json!({ "é": 1, "z": 2, "Z": 3 });
    assert_eq!(canonical_json(&value), r#"{"Z":3,"z":2,"é":1}"#);
}

#[test]
fn absent_and_empty_ids_encode_differently() {
    let actor = Actor {
        kind: ActorKind::System,
        id: String::new(),
        roles: vec![],
        channel: None,
    };
    let data = Value::Null;
    let absent = Subject::default();
    let empty = Subject {
        task_id: Some(String::new()),
        ..Subject::default()
    };
    let body = |subject| EntryBody {
        seq: 1,
        ts_ms: 0,
        event_type: "x",
        actor: &actor,
        subject,
        level: None,
        data: &data,
    };
    assert_ne!(
        canonical_body(&body(&absent)),
        canonical_body(&body(&empty))
    );
}

#[test]
fn role_boundaries_are_unambiguous() {
    let data = Value::Null;
    let subject = Subject::default();
    let actor = |roles: &[&str]| Actor {
        kind: ActorKind::Agent,
        id: "a".to_owned(),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        channel: None,
    };
    let encode = |actor: &Actor| {
        canonical_body(&EntryBody {
            seq: 1,
            ts_ms: 0,
            event_type: "x",
            actor,
            subject: &subject,
            level: None,
            data: &data,
        })
    };
    assert_ne!(encode(&actor(&["ab", "c"])), encode(&actor(&["a", "bc"])));
    assert_ne!(encode(&actor(&["abc"])), encode(&actor(&["ab", "c"])));
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".*".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".*", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    // Stored entries are re-parsed from text before they are verified, so the canonical
    // form must survive a text round trip exactly, floats included.
    #[test]
    fn canonical_json_survives_a_text_round_trip(value in arb_json()) {
        let text = canonical_json(&value);
        let parsed: Value = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&parsed, &value);
        prop_assert_eq!(canonical_json(&parsed), text);
    }

    #[test]
    fn canonical_json_ignores_pretty_printing(value in arb_json()) {
        let pretty = serde_json::to_string_pretty(&value).unwrap();
        let reparsed: Value = serde_json::from_str(&pretty).unwrap();
        prop_assert_eq!(canonical_json(&reparsed), canonical_json(&value));
    }
}
