//! Webhook deliveries in the store: fan-out from the trail, claims and their leases,
//! results that apply only to the current attempt.

use steward_policy::Role;
use steward_store::webhook::{
    AttemptResult, CLAIM_LEASE_MS, ClaimedDelivery, MAX_ATTEMPTS, NewWebhook, WebhookFormat,
};
use steward_store::{Principal, PrincipalKind, Store};

use crate::support::{principal, store_test};

const T0: i64 = 1_800_000_000_000;

/// A human `name` with the `admin` role.
async fn person(store: &Store, name: &str) -> Principal {
    principal(store, name, PrincipalKind::Human, &[Role::Admin]).await
}

async fn subscribe(store: &Store, by: &Principal, types: &[&str]) -> String {
    store
        .create_webhook(
            &by.caller(),
            NewWebhook {
                url: "http://127.0.0.1:9/hook".into(),
                event_types: types.iter().map(|t| (*t).to_owned()).collect(),
                format: WebhookFormat::Json,
                secret: "whsec-store-test-0000".into(),
            },
            T0,
        )
        .await
        .expect("create webhook")
        .id
}

/// Up to 10 deliveries due at `now`, claimed.
async fn claim(store: &Store, now: i64) -> Vec<ClaimedDelivery> {
    store
        .claim_webhook_deliveries(now, 10)
        .await
        .expect("claim")
}

store_test!(
    fan_out_follows_the_trail_from_the_subscription_on,
    |store: Store| async move {
        let owner = person(&store, "owner").await;
        person(&store, "before").await;
        let id = subscribe(&store, &owner, &["principal.*"]).await;
        let other = subscribe(&store, &owner, &["permit.*"]).await;
        person(&store, "after-1").await;
        person(&store, "after-2").await;

        assert_eq!(store.fan_out_webhooks(T0).await.expect("fan out"), 2);
        assert_eq!(
            store.fan_out_webhooks(T0).await.expect("again"),
            0,
            "a cursor never re-reads"
        );
        let log = store.webhook_deliveries(&id, 0, 100).await.expect("log");
        assert_eq!(log.len(), 2, "only events after the subscription: {log:?}");
        assert!(
            log.iter()
                .all(|d| d.event_type == "principal.created" && d.status == "pending")
        );
        assert!(
            store
                .webhook_deliveries(&other, 0, 100)
                .await
                .expect("log")
                .is_empty()
        );
        let head = store.audit_head().await.expect("head").seq;
        assert_eq!(
            store.webhook(&id).await.expect("webhook").cursor_seq,
            head as i64
        );
    }
);

store_test!(
    a_claim_is_leased_and_a_stale_result_changes_nothing,
    |store: Store| async move {
        let owner = person(&store, "owner").await;
        let id = subscribe(&store, &owner, &["principal.created"]).await;
        person(&store, "p").await;
        store.fan_out_webhooks(T0).await.expect("fan out");

        let first = claim(&store, T0).await;
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].attempt, 1);
        assert!(
            !format!("{:?}", first[0]).contains("whsec"),
            "Debug hides the secret"
        );
        assert!(claim(&store, T0 + 1_000).await.is_empty(), "leased");
        // The sender died: the lease lapses and another instance claims attempt 2.
        let second = claim(&store, T0 + CLAIM_LEASE_MS).await;
        assert_eq!(second[0].attempt, 2);
        let late = AttemptResult::Delivered { status_code: 200 };
        assert_eq!(
            store
                .finish_webhook_delivery(&first[0], &late, T0 + CLAIM_LEASE_MS)
                .await
                .expect("finish"),
            None,
            "the first attempt's late answer changes nothing"
        );
        let failed = AttemptResult::Failed {
            status_code: Some(503),
            error: "busy".into(),
        };
        assert_eq!(
            store
                .finish_webhook_delivery(&second[0], &failed, T0 + CLAIM_LEASE_MS)
                .await
                .expect("finish"),
            Some("pending")
        );
        let log = store.webhook_deliveries(&id, 0, 10).await.expect("log");
        assert_eq!(
            (
                log[0].attempts,
                log[0].last_status_code,
                log[0].last_error.as_deref()
            ),
            (2, Some(503), Some("busy"))
        );
        assert_eq!(
            log[0].next_attempt_at_ms,
            T0 + CLAIM_LEASE_MS + 60_000,
            "second backoff"
        );

        // Run out the attempts: the last failure is final.
        let mut now = T0 + CLAIM_LEASE_MS;
        let mut last = None;
        for _ in 2..MAX_ATTEMPTS {
            now += 3_600_000;
            let claimed = claim(&store, now).await;
            last = store
                .finish_webhook_delivery(&claimed[0], &failed, now)
                .await
                .expect("finish");
        }
        assert_eq!(last, Some("failed"));
        assert!(claim(&store, now + 86_400_000).await.is_empty());
    }
);
