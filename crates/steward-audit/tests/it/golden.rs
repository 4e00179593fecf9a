//! Golden vectors: a fixed entry must always encode and hash to the same bytes. A change
//! here means every stored trail stops verifying, so it needs a new encoding version.

use expect_test::{Expect, expect};
use serde_json::json;
use steward_audit::{
    Actor, ActorKind, AuditEntry, EntryBody, Hash, Subject, canonical_body, entry_hash,
};

fn golden_entry() -> AuditEntry {
    let actor = Actor {
        kind: ActorKind::Human,
        id: "alice".to_owned(),
        roles: vec!["security_lead".to_owned(), "team_lead".to_owned()],
        channel: None,
    };
    let subject = Subject {
        task_id: Some("task-1".to_owned()),
        worker_id: None,
        permit_id: Some("pmt-7".to_owned()),
    };
    let data = json!({ "reason": "quorum met", "approvals": 2, "ratio": 0.5, "ok": true });
    let body = EntryBody {
        seq: 1,
        ts_ms: 1_767_225_600_000,
        event_type: "permit.approved",
        actor: &actor,
        subject: &subject,
        level: Some(3),
        data: &data,
    };
    AuditEntry::seal(body, Hash::ZERO)
}

#[track_caller]
fn check(actual: &str, expect: Expect) {
    expect.assert_eq(actual);
}

#[test]
fn golden_canonical_body() {
    let entry = golden_entry();
    check(
        &hex::encode(canonical_body(&entry.body())),
        expect![
            "00000000000000010000019b76daa800000000000000000f7065726d69742e617070726f766564000000000000000568756d616e0000000000000005616c6963650000000000000002000000000000000d73656375726974795f6c65616400000000000000097465616d5f6c6561640100000000000000067461736b2d3100010000000000000005706d742d370103000000000000003b7b22617070726f76616c73223a322c226f6b223a747275652c22726174696f223a302e352c22726561736f6e223a2271756f72756d206d6574227d"
        ],
    );
}

#[test]
fn golden_entry_hash() {
    let entry = golden_entry();
    check(
        &entry.hash.to_string(),
        expect!["1c5e8bff2dd7cf4c05dddf7df2cf39f21e54ca49446455e03425a7d614963f1d"],
    );
    assert_eq!(
        entry.hash,
        entry_hash(&Hash::ZERO, &canonical_body(&entry.body()))
    );
}

#[test]
fn golden_second_entry_hash_depends_on_prev() {
    let first = golden_entry();
    let mut second = first.clone();
    second.seq = 2;
    let second = AuditEntry::seal(second.body(), first.hash);
    check(
        &second.hash.to_string(),
        expect!["505bc74b41f559f5c348eba91b0426f0dced19be29857180b06d754ee4b950e8"],
    );
}

#[test]
fn golden_export_line() {
    let entry = golden_entry();
    check(
        &serde_json::to_string(&entry).unwrap(),
        expect![[
            r#"{"seq":1,"ts_ms":1767225600000,"type":"permit.approved","actor":{"kind":"human","id":"alice","roles":["security_lead","team_lead"]},"subject":{"task_id":"task-1","worker_id":null,"permit_id":"pmt-7"},"level":3,"data":{"approvals":2,"ok":true,"ratio":0.5,"reason":"quorum met"},"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","hash":"1c5e8bff2dd7cf4c05dddf7df2cf39f21e54ca49446455e03425a7d614963f1d"}"#
        ]],
    );
    let back: AuditEntry = serde_json::from_str(&serde_json::to_string(&entry).unwrap()).unwrap();
    assert_eq!(back, entry);
}
