//! GDPR erasure by crypto-shredding: personal values in audit events are stored encrypted
//! for their subject, readable while the subject's key exists, and gone for good (but
//! still verifiable) once it is erased.

use serde_json::json;
use steward_audit::Personal;
use steward_audit::event::HoldCreated;
use steward_policy::Role;
use steward_store::testing::find_plaintext;
use steward_store::{
    Actor, Backend, NewEvent, NewToken, PrincipalKind, Store, StoreError, Subject,
};

use crate::support::{admin, principal, store_test};

const NAME: &str = "Zelda Quixote-Erasure";
const LABEL: &str = "zelda-laptop-label";
const COMMENT: &str = "zelda wrote this comment";

/// A typed event carrying `comment` as `subject`'s personal value (every producer of
/// personal values goes through `steward_audit::Personal`).
fn noted(by: Actor, subject: &str, comment: &str) -> NewEvent {
    let payload = HoldCreated {
        hold_id: "note".to_owned(),
        personal: Some(Personal::of(subject).plain("comment", json!(comment))),
        ..HoldCreated::default()
    };
    let now = NewEvent::now("", by.clone()).ts_ms;
    NewEvent::typed(now, by, Subject::default(), None, payload).expect("a typed event")
}

store_test!(
    erasure_destroys_personal_data_and_keeps_the_chain_verifiable,
    |store: Store| async move {
        let zelda = principal(&store, NAME, PrincipalKind::Human, &[Role::TechLead]).await;
        store
            .create_token(
                &admin(),
                NewToken {
                    principal_id: zelda.id.clone(),
                    label: LABEL.to_owned(),
                    expires_at_ms: None,
                    secret_hash: [7; 32],
                },
            )
            .await
            .unwrap();
        store
            .record_event(noted(zelda.actor(), &zelda.id, COMMENT))
            .await
            .unwrap();

        // Stored: ciphertext only. The plaintext sits only in the rows that hold it
        // outside the trail.
        let stored = store.events(1, 10).await.unwrap();
        assert_eq!(stored.len(), 3);
        let envelope = &stored[0].data["personal"];
        assert_eq!(envelope["subject"], zelda.id.as_str());
        assert_eq!(envelope["alg"], "xchacha20poly1305");
        assert!(envelope["ciphertext"].is_string());
        assert!(stored[0].data.get("name").is_none());
        assert!(stored[1].data.get("label").is_none());
        let in_principals = find_plaintext(&store, NAME).await.unwrap();
        assert!(
            in_principals
                .iter()
                .all(|at| !at.starts_with("audit_events")),
            "{in_principals:?}"
        );
        assert!(
            in_principals.iter().any(|at| at.starts_with("principals")),
            "{in_principals:?}"
        );
        if store.backend() == Backend::Sqlite {
            // The file scan sees what is there (so its silence after erasure means something).
            assert!(
                in_principals.iter().any(|at| at.starts_with("file")),
                "{in_principals:?}"
            );
        }
        assert!(
            find_plaintext(&store, COMMENT).await.unwrap().is_empty(),
            "a comment only ever recorded in an event is encrypted there"
        );

        // Readers see the values while the key exists.
        let shown = store.reveal_personal(&stored).await.unwrap();
        assert_eq!(
            shown[&1],
            json!({"subject": zelda.id, "values": {"name": NAME}})
        );
        assert_eq!(shown[&2]["values"]["label"], LABEL);
        assert_eq!(shown[&3]["values"]["comment"], COMMENT);

        let erasure = store
            .erase_principal(&admin().actor(), &zelda.id, 1_000)
            .await
            .unwrap();
        assert!(erasure.erased_now);
        assert_eq!(erasure.principal.name, format!("erased:{}", zelda.id));
        assert_eq!(erasure.principal.roles, zelda.roles);

        for needle in [NAME, LABEL, COMMENT] {
            assert_eq!(
                find_plaintext(&store, needle).await.unwrap(),
                Vec::<String>::new(),
                "`{needle}` is still in the database"
            );
        }
        let after = store.events(1, 10).await.unwrap();
        assert_eq!(&after[..3], &stored[..], "the trail itself is unchanged");
        assert_eq!(after[3].event_type, "principal.erased");
        assert_eq!(after[3].data, json!({"principal_id": zelda.id}));
        assert_eq!(store.verify_audit_chain().await.unwrap().seq, 4);

        let shown = store.reveal_personal(&after).await.unwrap();
        assert_eq!(shown.keys().copied().collect::<Vec<_>>(), [1, 2, 3]);
        for seq in 1..=3 {
            assert_eq!(shown[&seq], json!({"subject": zelda.id, "erased": true}));
        }

        // A second erasure changes and records nothing.
        let again = store
            .erase_principal(&admin().actor(), &zelda.id, 2_000)
            .await
            .unwrap();
        assert!(!again.erased_now);
        assert_eq!(again.principal, erasure.principal);
        assert_eq!(store.audit_head().await.unwrap().seq, 4);

        // Personal values recorded after erasure are stored as the erased marker only.
        let late = store
            .record_event(noted(admin().actor(), &zelda.id, "after erasure"))
            .await
            .unwrap();
        assert_eq!(
            late.data["personal"],
            json!({"subject": zelda.id, "erased": true})
        );
        assert!(
            find_plaintext(&store, "after erasure")
                .await
                .unwrap()
                .is_empty()
        );
        store.verify_audit_chain().await.unwrap();
    }
);

store_test!(
    erasing_an_unknown_principal_is_not_found,
    |store: Store| async move {
        let error = store
            .erase_principal(&admin().actor(), "nobody", 1)
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                StoreError::NotFound {
                    what: "principal",
                    ..
                }
            ),
            "{error}"
        );
        assert_eq!(store.audit_head().await.unwrap().seq, 0);
    }
);

store_test!(
    a_malformed_personal_member_is_refused_and_nothing_is_written,
    |store: Store| async move {
        let error = store
            .record_event(NewEvent {
                data: json!({"personal": {"subject": "p-1", "name": "plain"}}),
                ..NewEvent::now("test.noted", admin().actor())
            })
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("`values` must be an object"),
            "{error}"
        );
        assert_eq!(store.audit_head().await.unwrap().seq, 0);
    }
);
