//! `GET /v1/reports/compliance`: a report over a period's audit events, with exceptions
//! linked to their seqs, the chain verification and the latest checkpoint, as JSON and as
//! Markdown; roles and bad parameters.

use reqwest::StatusCode;
use serde_json::{Value, json};
use steward_policy::Role;
use steward_store::{NewEvent, Subject};

use crate::support::{TestServer, seeder, server_test};

/// 2026-03-10 12:00 UTC, inside March 2026.
const IN_MARCH: i64 = 1_773_144_000_000;
/// 2026-04-02 00:00 UTC, after March.
const IN_APRIL: i64 = 1_775_088_000_000;

async fn record(s: &TestServer, ts_ms: i64, event_type: &str, data: Value) -> u64 {
    let entry = s
        .store()
        .record_event(NewEvent {
            ts_ms,
            subject: Subject {
                task_id: None,
                worker_id: Some("w-report".to_owned()),
                permit_id: Some("p-report".to_owned()),
            },
            data,
            ..NewEvent::now(event_type, seeder())
        })
        .await
        .expect("record");
    entry.seq
}

const MARCH: &str = "/v1/reports/compliance?framework=SOC2&from=2026-03-01&to=2026-03-31";

server_test!(a_compliance_report_links_exceptions_to_their_events, |s| {
    let denied = record(
        s,
        IN_MARCH,
        "authorize.denied",
        json!({"rule": "access_matrix"}),
    )
    .await;
    let revoked = record(
        s,
        IN_MARCH + 1,
        "permit.revoked",
        json!({"reason": "constraint_breach"}),
    )
    .await;
    record(s, IN_MARCH + 2, "permit.approved", json!({})).await;
    record(s, IN_APRIL, "authorize.denied", json!({"rule": "later"})).await;
    let (status, body) = s.post("/v1/audit/checkpoints", &s.admin, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, officer) = s.human("officer", &[Role::ComplianceOfficer]).await;

    let (status, report) = s.get(MARCH, &officer).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["framework"], "SOC2");
    assert_eq!(
        report["period"],
        json!({"from_ms": 1_772_323_200_000_i64, "to_ms": 1_775_001_600_000_i64})
    );
    assert_eq!(report["total_events"], 3, "April's event is outside");
    assert_eq!(report["counts"]["authorize.denied"], 1);
    let exceptions: Vec<(String, Value)> = report["exceptions"]
        .as_array()
        .expect("exceptions")
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or_default().to_owned(),
                e["seqs"].clone(),
            )
        })
        .collect();
    assert_eq!(
        exceptions,
        [
            ("authorization_denied".to_owned(), json!([denied])),
            ("revocation".to_owned(), json!([revoked])),
        ]
    );
    let cc61 = &report["controls"][0];
    assert_eq!(cc61["id"], "CC6.1");
    assert_eq!(cc61["status"], "exceptions");
    assert_eq!(report["verification"]["ok"], true);
    assert_eq!(report["verification"]["head_seq"], s.audit_len().await);
    assert!(
        report["latest_checkpoint"]["checkpoint"]["tree_size"]
            .as_u64()
            .is_some()
    );

    let (status, ctype, body) = s
        .get_raw(&format!("{MARCH}&format=markdown"), &s.admin)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ctype.as_deref(), Some("text/markdown; charset=utf-8"));
    let text = String::from_utf8(body).expect("utf-8");
    assert!(text.starts_with("# SOC2 compliance report\n"), "{text}");
    assert!(
        text.contains(&format!(
            "| authorization_denied | {denied} | authorize.denied | p-report | w-report |"
        )),
        "{text}"
    );
    assert!(text.contains("Intact: the hash chain verifies"), "{text}");
});

server_test!(compliance_reports_check_roles_and_parameters, |s| {
    let (_, worker) = s.human("report-worker", &[Role::Worker]).await;
    let (status, body) = s.get(MARCH, &worker).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (_, auditor) = s.human("report-auditor", &[Role::Auditor]).await;
    let (status, body) = s.get(MARCH, &auditor).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    for (query, field) in [
        ("framework=ISO&from=2026-03-01&to=2026-03-31", "framework"),
        ("from=2026-03-01&to=2026-03-31", "framework"),
        ("framework=GDPR&to=2026-03-31", "from"),
        ("framework=GDPR&from=2026-03-01", "to"),
        ("framework=GDPR&from=2026-03-32&to=2026-04-01", "from"),
        ("framework=GDPR&from=2026-03-02&to=2026-03-01", "to"),
        (
            "framework=GDPR&from=2026-03-01&to=2026-03-31&format=html",
            "format",
        ),
    ] {
        let (status, body) = s
            .get(&format!("/v1/reports/compliance?{query}"), &s.admin)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(
            body.to_string().contains(&format!("`{field}`")),
            "{query}: {body}"
        );
    }
});
