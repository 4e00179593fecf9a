//! Principals: creation, lookup, uniqueness, and their audit events.

use steward_policy::Role;
use steward_store::{NewPrincipal, PrincipalKind, Store, StoreError};

use crate::support::{admin, event_types, principal, store_test};

fn alice() -> NewPrincipal {
    NewPrincipal {
        kind: PrincipalKind::Human,
        name: "alice".to_owned(),
        roles: vec![Role::SecurityLead, Role::TeamLead],
    }
}

store_test!(
    created_principal_reads_back_by_id_name_and_list,
    |store: Store| async move {
        let created = store.create_principal(&admin(), alice()).await.unwrap();
        assert_eq!(created.name, "alice");
        assert_eq!(created.roles, vec![Role::SecurityLead, Role::TeamLead]);
        assert_eq!(created.disabled_at_ms, None);

        assert_eq!(store.principal_by_id(&created.id).await.unwrap(), created);
        assert_eq!(store.principal_by_name("alice").await.unwrap(), created);
        let bot = principal(&store, "bot", PrincipalKind::Agent, &[Role::Master]).await;
        let names: Vec<String> = store
            .list_principals()
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(names, ["alice", bot.name.as_str()]);

        let events = store.events(1, 10).await.unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].event_type, "principal.created");
        assert_eq!(events[0].actor, admin().actor());
        assert_eq!(events[0].data["principal_id"], created.id.as_str());
        assert_eq!(
            events[0].data["roles"],
            serde_json::json!(["security_lead", "team_lead"])
        );
    }
);

store_test!(
    duplicate_name_is_a_conflict_and_writes_nothing,
    |store: Store| async move {
        store.create_principal(&admin(), alice()).await.unwrap();
        let head = store.audit_head().await.unwrap();

        let error = store.create_principal(&admin(), alice()).await.unwrap_err();
        assert!(
            matches!(&error, StoreError::Conflict { message } if message == "a principal named `alice` already exists"),
            "{error:?}"
        );
        assert_eq!(store.list_principals().await.unwrap().len(), 1);
        // The refused insert's transaction rolled back: no event, no gap.
        assert_eq!(store.audit_head().await.unwrap(), head);
    }
);

store_test!(unknown_principal_is_not_found, |store: Store| async move {
    let error = store.principal_by_name("nobody").await.unwrap_err();
    assert_eq!(error.to_string(), "principal `nobody` not found");
    let error = store.principal_by_id("p-404").await.unwrap_err();
    assert!(matches!(
        error,
        StoreError::NotFound {
            what: "principal",
            ..
        }
    ));
});

store_test!(disabling_is_recorded_once, |store: Store| async move {
    let alice = store.create_principal(&admin(), alice()).await.unwrap();
    let disabled = store.disable_principal(&admin(), &alice.id).await.unwrap();
    let at = disabled.disabled_at_ms.expect("disabled");
    let again = store.disable_principal(&admin(), &alice.id).await.unwrap();
    assert_eq!(again.disabled_at_ms, Some(at));

    assert_eq!(
        event_types(&store, 1).await,
        ["principal.created", "principal.disabled"]
    );
});
