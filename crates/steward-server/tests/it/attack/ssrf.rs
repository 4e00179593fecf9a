//! Server-side request forgery through webhooks (issue 9, item 7): an admin (or whoever
//! holds an admin token) registers internal destinations in every spelling; each is
//! refused with 422 naming `url` and the rule, and nothing is stored. A destination that
//! got in anyway (registered while private targets were allowed) is refused again at
//! delivery: one failed attempt with the reason, no request sent, never retried.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use reqwest::StatusCode;
use serde_json::json;
use steward_server::webhooks::Dispatcher;
use steward_store::webhook::{NewWebhook, WebhookFormat};

use super::{Fingerprint, assert_refused, assert_unchanged};
use crate::support::server_test;

// Every form from the issue, and the classes around them.
server_test!(attack_ssrf_internal_webhook_targets_are_refused, |s| {
    let before = Fingerprint::of(s.store()).await;
    for (url, rule) in [
        (
            "http://169.254.169.254/latest/meta-data/iam/",
            "metadata_webhook_target",
        ),
        ("http://2852039166/", "metadata_webhook_target"),
        ("http://0251.0376.0251.0376/", "metadata_webhook_target"),
        ("http://0xa9.0xfe.0xa9.0xfe/", "metadata_webhook_target"),
        ("http://169.254.43518/", "metadata_webhook_target"),
        (
            "http://[::ffff:169.254.169.254]/",
            "metadata_webhook_target",
        ),
        ("http://[fd00:ec2::254]/", "metadata_webhook_target"),
        (
            "http://metadata.google.internal/computeMetadata/v1/",
            "metadata_webhook_target",
        ),
        ("http://127.0.0.1:8080/", "private_webhook_target"),
        ("http://127.1/", "private_webhook_target"),
        ("http://2130706433/", "private_webhook_target"),
        ("http://localhost/", "private_webhook_target"),
        ("http://[::1]/", "private_webhook_target"),
        ("http://[::ffff:127.0.0.1]/", "private_webhook_target"),
        ("http://10.0.0.1/", "private_webhook_target"),
        ("http://172.16.5.4/", "private_webhook_target"),
        ("http://192.168.0.1/", "private_webhook_target"),
        ("http://100.64.0.1/", "private_webhook_target"),
        ("http://169.254.1.1/", "private_webhook_target"),
        ("http://[fe80::1]/", "private_webhook_target"),
        ("http://[fd12:3456::1]/", "private_webhook_target"),
        ("http://[fc00::1]/", "private_webhook_target"),
        ("http://0.0.0.0/", "private_webhook_target"),
        ("http://224.0.0.1/", "private_webhook_target"),
        ("http://255.255.255.255/", "private_webhook_target"),
    ] {
        let (status, body) = s
            .post(
                "/v1/webhooks",
                &s.admin,
                json!({"url": url, "event_types": ["*"], "secret": "whsec-0123456789abcdef"}),
            )
            .await;
        assert_refused(status, &body, StatusCode::UNPROCESSABLE_ENTITY, Some(rule));
        assert_eq!(body["field"], "url", "{url}: {body}");
        assert!(body["target_class"].is_string(), "{url}: {body}");
    }
    assert_unchanged(
        &before,
        &Fingerprint::of(s.store()).await,
        "internal webhook targets",
    );
});

// Allowing private targets never opens cloud metadata.
server_test!(
    attack_ssrf_metadata_stays_refused_with_private_targets_allowed,
    configure = |state: steward_server::AppState| state.with_webhook_allow_private(true),
    |s| {
        let before = Fingerprint::of(s.store()).await;
        for url in [
            "http://169.254.169.254/",
            "http://0251.0376.0251.0376/",
            "http://[::ffff:a9fe:a9fe]/",
            "http://metadata.google.internal/",
        ] {
            let (status, body) = s
                .post(
                    "/v1/webhooks",
                    &s.admin,
                    json!({"url": url, "event_types": ["*"]}),
                )
                .await;
            assert_refused(
                status,
                &body,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("metadata_webhook_target"),
            );
        }
        assert_unchanged(
            &before,
            &Fingerprint::of(s.store()).await,
            "metadata targets",
        );
    }
);

// A subscription to an internal address that is already stored (registered while the
// server allowed private targets) is refused at delivery by a dispatcher that does not:
// the receiver gets nothing, the delivery is `failed` after one attempt with the reason,
// and later ticks do not retry it.
server_test!(
    attack_ssrf_a_stored_internal_target_is_refused_at_delivery,
    |s| {
        let hits = Arc::new(AtomicUsize::new(0));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let counter = Arc::clone(&hits);
        let receiver = tokio::spawn(async move {
            let app = axum::Router::new().route(
                "/hook",
                axum::routing::post(move || {
                    counter.fetch_add(1, Ordering::SeqCst);
                    async { "ok" }
                }),
            );
            let _ = axum::serve(listener, app).await;
        });
        let admin = s
            .store()
            .authenticate(&s.admin)
            .await
            .expect("auth")
            .expect("admin")
            .principal;
        let hook = s
            .store()
            .create_webhook(
                &admin.caller(),
                NewWebhook {
                    url,
                    event_types: vec!["*".into()],
                    format: WebhookFormat::Json,
                    secret: "whsec-0123456789abcdef".into(),
                },
                s.clock.now().millis(),
            )
            .await
            .expect("stored directly");
        let (status, body) = s
            .post(
                "/v1/principals",
                &s.admin,
                json!({"kind": "human", "name": "carol", "roles": []}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");

        let dispatcher = Dispatcher::new(s.store().clone(), s.clock.clone());
        let report = dispatcher.run_once().await.expect("tick");
        assert!(report.failed >= 1 && report.delivered == 0, "{report:?}");
        // Hours later, nothing is retried.
        for _ in 0..3 {
            s.clock.advance_minutes(240);
            let report = dispatcher.run_once().await.expect("tick");
            assert_eq!(report.delivered, 0, "{report:?}");
        }
        let deliveries = s
            .store()
            .webhook_deliveries(&hook.id, 0, 100)
            .await
            .expect("deliveries");
        assert!(!deliveries.is_empty());
        for delivery in &deliveries {
            assert_eq!(delivery.status, "failed", "{delivery:?}");
            assert_eq!(
                delivery.attempts, 1,
                "refused once, never retried: {delivery:?}"
            );
            let error = delivery.last_error.as_deref().unwrap_or_default();
            assert!(
                error.contains("destination refused") && error.contains("loopback"),
                "{delivery:?}"
            );
        }
        assert_eq!(
            hits.load(Ordering::SeqCst),
            0,
            "nothing reached the receiver"
        );
        receiver.abort();
    }
);
