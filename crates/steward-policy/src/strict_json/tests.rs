//! Strict JSON: duplicate keys at any depth, non-object documents and syntax errors are
//! refused with the JSON path; every document serde_json itself writes is accepted.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

#[track_caller]
fn refused(text: &str, top: Top) -> JsonError {
    check(text, top).unwrap_err()
}

#[test]
fn duplicate_at_the_top_is_named() {
    let err = refused(r#"{"a":1,"b":2,"a":3}"#, Top::Object);
    assert_eq!(err.kind, JsonErrorKind::DuplicateKey { key: "a".into() });
    assert_eq!(err.path, "a");
    assert_eq!(err.rule().code(), "duplicate_key");
}

#[test]
fn nested_duplicates_name_their_path() {
    let cases = [
        (r#"{"task":{"id":"t","id":"u"}}"#, "task.id", "id"),
        (
            r#"{"task":{"environment_variables":{"X":"1","X":"2"}}}"#,
            "task.environment_variables.X",
            "X",
        ),
        (
            r#"{"a":[{"ok":1},{"b":{"c":[0,{"d":1,"d":2}]}}]}"#,
            "a[1].b.c[1].d",
            "d",
        ),
        (r#"[{"x":1},{"y":1,"y":2}]"#, "[1].y", "y"),
    ];
    for (text, path, key) in cases {
        let err = refused(text, Top::Any);
        assert_eq!(err.path, path, "{text}");
        assert_eq!(
            err.kind,
            JsonErrorKind::DuplicateKey { key: key.into() },
            "{text}"
        );
        assert!(
            err.to_string().contains(&format!("duplicate key `{key}`")),
            "{err}"
        );
    }
}

#[test]
fn escaped_keys_that_decode_equal_are_duplicates() {
    let err = refused(r#"{"a":1,"\u0061":2}"#, Top::Object);
    assert_eq!(err.kind, JsonErrorKind::DuplicateKey { key: "a".into() });
}

#[test]
fn same_key_in_sibling_objects_is_fine() {
    check(
        r#"{"a":{"k":1},"b":{"k":1},"c":[{"k":1},{"k":2}]}"#,
        Top::Object,
    )
    .unwrap();
}

#[test]
fn non_objects_are_refused_where_an_object_is_needed() {
    for (text, kind) in [
        ("[1,2]", "an array"),
        ("\"x\"", "a string"),
        ("3", "a number"),
        ("null", "null"),
        ("true", "a boolean"),
    ] {
        let err = refused(text, Top::Object);
        assert_eq!(err.kind, JsonErrorKind::NotObject { got: kind }, "{text}");
        assert_eq!(err.rule().code(), "body_not_object");
        assert!(err.message.contains(kind), "{err}");
        check(text, Top::Any).unwrap();
    }
}

#[test]
fn syntax_errors_and_trailing_data_are_malformed() {
    for text in ["{", "{\"a\":}", "{} {}", "{}x", ""] {
        let err = refused(text, Top::Object);
        assert_eq!(err.kind, JsonErrorKind::Syntax, "{text:?}");
        assert_eq!(err.rule().code(), "malformed_json");
    }
}

#[test]
fn not_utf8_is_refused() {
    let err = from_slice::<Value>(b"{\"a\":\"\xff\"}", Top::Object).unwrap_err();
    assert_eq!(err.kind, JsonErrorKind::NotUtf8);
}

#[test]
fn schema_errors_name_the_path() {
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only the refusal is under test")]
    struct Body {
        items: Vec<u32>,
    }
    let err = from_str::<Body>(r#"{"items":[1,"x"]}"#, Top::Object).unwrap_err();
    assert_eq!(err.kind, JsonErrorKind::Schema);
    assert_eq!(err.path, "items[1]");
    assert_eq!(err.rule().code(), "invalid_field");
    // An array is never read positionally into a struct.
    let err = from_str::<Body>(r#"[[1]]"#, Top::Object).unwrap_err();
    assert_eq!(err.kind, JsonErrorKind::NotObject { got: "an array" });
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-z\\\\\"\u{e9}]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-z\"]{0,4}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    /// Whatever serde_json writes (no duplicates by construction) parses back unchanged.
    #[test]
    fn every_written_document_is_accepted(value in any_json()) {
        let text = serde_json::to_string(&value).unwrap();
        let back: Value = from_str(&text, Top::Any).unwrap();
        prop_assert_eq!(back, value);
    }

    /// Repeating any key of any object, at any depth, is refused, naming that key.
    #[test]
    fn any_repeated_key_is_found(value in any_json(), pick in any::<prop::sample::Index>()) {
        // Every object member, found by its path; repeat one of them textually.
        let text = serde_json::to_string(&value).unwrap();
        let mut objects = Vec::new();
        collect_objects(&value, &mut objects);
        let candidates: Vec<&serde_json::Map<String, Value>> =
            objects.into_iter().filter(|m| !m.is_empty()).collect();
        prop_assume!(!candidates.is_empty());
        let target = candidates[pick.index(candidates.len())];
        let object_text = serde_json::to_string(target).unwrap();
        let (key, member) = target.iter().next().unwrap();
        let extra = format!(
            "{}:{},",
            serde_json::to_string(key).unwrap(),
            serde_json::to_string(member).unwrap()
        );
        let doubled = format!("{{{extra}{}", &object_text[1..]);
        let changed = text.replacen(&object_text, &doubled, 1);
        let err = check(&changed, Top::Any).unwrap_err();
        prop_assert!(
            matches!(err.kind, JsonErrorKind::DuplicateKey { .. }),
            "{changed}: {err}"
        );
    }
}

fn collect_objects<'a>(value: &'a Value, out: &mut Vec<&'a serde_json::Map<String, Value>>) {
    match value {
        Value::Object(map) => {
            out.push(map);
            map.values().for_each(|v| collect_objects(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_objects(v, out)),
        _ => {}
    }
}
