//! `GET /v1/reports/compliance`: a report over a period's audit events, with exceptions
//! linked to their seqs, the chain verification and the latest checkpoint, as JSON and as
//! Markdown; the changes in a framework's scope (a real PII migration in a GDPR report,
//! and not the unrelated work of the same day); time zones; roles and bad parameters.

use std::sync::atomic::Ordering;

use reqwest::StatusCode;
use serde_json::{Value, json};
use steward_policy::Role;
use steward_server::Clock;
use steward_store::testing::execute;
use steward_store::{NewEvent, PrincipalKind, Subject};

use crate::support::{TestServer, full_report, seeder, server_test};

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
            ..NewEvent::now(event_type, seeder().actor())
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
        (&report["period"]["from_ms"], &report["period"]["to_ms"]),
        (&json!(1_772_323_200_000_i64), &json!(1_775_001_600_000_i64))
    );
    assert_eq!(report["period"]["from"]["human"], "2026-03-01 00:00 UTC");
    assert_eq!(report["time_zone"], "UTC");
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
            "| authorization_denied | {denied} | authorize.denied | p-report | w-report | 2026-03-10 12:00 UTC |"
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
        (
            "framework=GDPR&from=2026-03-01&to=2026-03-31&tz=Mars/Olympus",
            "tz",
        ),
        (
            "framework=GDPR&from=2026-03-01&to=2026-03-31&tz=%2B25:00",
            "tz",
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

// A real PII migration in a GDPR report (issue #13 §3).

fn advance_minutes(clock: &Clock, minutes: i64) {
    if let Clock::Manual(ms) = clock {
        ms.fetch_add(minutes * 60_000, Ordering::SeqCst);
    }
}

fn evidence() -> Value {
    json!({
        "rollback_plan": {"steps": ["ALTER TABLE customers DROP COLUMN email_hash"],
                          "verification": ["SELECT count(*) FROM customers"], "estimated_minutes": 5},
        "test_results": "https://ci.example.com/runs/42",
        "code_review": "https://git.example.com/pr/7",
        "rollback_tested": "2027-01-14",
        "security_review": "SEC-12",
        "impact_analysis": "docs/impact.md",
        "rollback_rehearsed": "2027-01-14",
        "architecture_review": "ARCH-3",
        "risk_assessment": "RISK-9",
        "business_justification": "GDPR minimisation",
        "customer_communication_plan": "none needed",
        "data_protection_impact_assessment": "DPIA-2027-01",
    })
}

fn pii_task(id: &str) -> Value {
    json!({"id": id, "description": "migrate the customers table: hash the email column (personal data)",
           "environment": "production", "operations": ["ALTER TABLE customers ADD COLUMN email_hash text"],
           "services_affected": ["customers"], "data_types": ["pii"], "compliance_frameworks": ["GDPR"]})
}

/// The GDPR report's changes, for the day of the test clock (2027-01-15).
const GDPR_DAY: &str = "/v1/reports/compliance?framework=GDPR&from=2027-01-15&to=2027-01-15";

server_test!(
    a_gdpr_report_lists_the_pii_migration_with_its_approvers_and_evidence,
    |s| {
        // The cast: a master (agent) requests for a level-3 worker; two distinct people approve.
        let (master_id, master) = s
            .principal("master", PrincipalKind::Agent, &[Role::Master])
            .await;
        let (owner_id, _) = s.human("owner", &[Role::EngineeringManager]).await;
        let (agent_id, worker) = s
            .principal("agent", PrincipalKind::Agent, &[Role::Worker])
            .await;
        execute(
        s.store(),
        &format!(
            "INSERT INTO workers (id, display_name, owner_id, principal_id, level, status, domains, \
             level_granted_at, stats, version, created_at, updated_at) VALUES ('wk-3', 'wk-3', '{owner_id}', \
             '{agent_id}', 3, 'active', '[]', 0, '{{\"successes_at_level\":0,\"failures_at_level\":0,\"successes_by_level\":[0,0,0,0,0],\"last_incident_at\":null,\"safety_violations\":0,\"consecutive_union_failures\":0}}', 1, 0, 0)"
        ),
    )
    .await
    .expect("insert worker");
        let (sec_id, sec) = s.human("dpo", &[Role::SecurityLead]).await;
        let (dir_id, dir) = s.human("director", &[Role::EngineeringDirector]).await;
        let (_, tl) = s.human("tech-lead", &[Role::TechLead]).await;
        let request = |task: Value| {
            let master = master.clone();
            async move {
                let (status, p) = s
                    .post(
                        "/v1/permits",
                        &master,
                        json!({"task": task, "worker_id": "wk-3", "evidence": evidence()}),
                    )
                    .await;
                assert_eq!(status, StatusCode::CREATED, "{p}");
                p
            }
        };
        let approve = |token: String, id: String, role: &'static str| async move {
            let (status, body) = s
                .post(
                    &format!("/v1/permits/{id}/approvals"),
                    &token,
                    json!({"decision": "approve", "role": role}),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body
        };

        // The PII migration: requested, approved by two people, issued, run and completed.
        let pii = request(pii_task("pii-migration")).await;
        assert_eq!(pii["permit_type"], "advanced_production", "{pii}");
        let pii_id = pii["id"].as_str().expect("id").to_owned();
        let requested_at = s.clock.now().0;
        advance_minutes(&s.clock, 5);
        approve(sec.clone(), pii_id.clone(), "security_lead").await;
        let sec_at = s.clock.now().0;
        advance_minutes(&s.clock, 7);
        let issued = approve(dir.clone(), pii_id.clone(), "engineering_director").await;
        assert_eq!(issued["state"], "active", "{issued}");
        let dir_at = s.clock.now().0;
        advance_minutes(&s.clock, 1);
        let (status, body) = s
            .post(&format!("/v1/permits/{pii_id}/start"), &worker, json!({}))
            .await;
        assert_eq!(
            (status, &body["state"]),
            (StatusCode::OK, &json!("executing")),
            "{body}"
        );
        advance_minutes(&s.clock, 20);
        let (status, body) = s
            .post(
                &format!("/v1/permits/{pii_id}/complete"),
                &worker,
                json!({"outcome": "success", "report": full_report("schema_migration")}),
            )
            .await;
        assert_eq!(
            (status, &body["state"]),
            (StatusCode::OK, &json!("completed")),
            "{body}"
        );

        // Unrelated work the same day: a deploy with no personal data.
        let deploy = request(
            json!({"id": "deploy-api", "description": "deploy api", "environment": "production",
        "operations": ["deploy"], "services_affected": ["api"]}),
        )
        .await;
        let deploy_id = deploy["id"].as_str().expect("id").to_owned();
        assert_eq!(
            approve(tl.clone(), deploy_id.clone(), "tech_lead").await["state"],
            "active"
        );

        // A second PII change whose health checks fail: a breach, a revocation, a rollback.
        let backfill = request(pii_task("pii-backfill")).await;
        let backfill_id = backfill["id"].as_str().expect("id").to_owned();
        approve(sec.clone(), backfill_id.clone(), "security_lead").await;
        approve(dir.clone(), backfill_id.clone(), "engineering_director").await;
        let (_, body) = s
            .post(
                &format!("/v1/permits/{backfill_id}/start"),
                &worker,
                json!({}),
            )
            .await;
        assert_eq!(body["state"], "executing", "{body}");
        let mut fired = Value::Null;
        for _ in 0..3 {
            let (status, body) = s
                .post(
                    &format!("/v1/permits/{backfill_id}/telemetry"),
                    &worker,
                    json!({"health": "fail"}),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            fired = body;
        }
        assert_eq!(fired["fired"], true, "{fired}");
        let (status, body) = s.post("/v1/audit/checkpoints", &s.admin, json!({})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (_, officer) = s.human("officer", &[Role::ComplianceOfficer]).await;

        let (status, report) = s.get(GDPR_DAY, &officer).await;
        assert_eq!(status, StatusCode::OK, "{report}");
        let ids: Vec<&str> = report["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .filter_map(|c| c["permit_id"].as_str())
            .collect();
        assert_eq!(
            ids,
            [pii_id.as_str(), backfill_id.as_str()],
            "the deploy is not GDPR work: {report}"
        );
        let c = &report["changes"][0];
        assert_eq!(c["task_id"], "pii-migration");
        assert_eq!(
            c["summary"],
            "migrate the customers table: hash the email column (personal data)"
        );
        assert_eq!(
            c["in_scope_because"],
            json!(["the task named GDPR", "personal data (pii)"])
        );
        assert_eq!((&c["worker_id"], &c["level"]), (&json!("wk-3"), &json!(3)));
        // The worker row was inserted without its `worker.registered` event: level unknown.
        assert_eq!(c["worker_level"], Value::Null);
        assert_eq!(c["requester"], master_id.as_str());
        assert_eq!(c["requested_at"]["ms"], requested_at);
        assert_eq!(c["requested_at"]["human"], "2027-01-15 08:00 UTC");
        let approvers: Vec<(Value, Value, Value, Value)> = c["approvers"]
            .as_array()
            .expect("approvers")
            .iter()
            .map(|a| {
                (
                    a["principal_id"].clone(),
                    a["role"].clone(),
                    a["at"]["ms"].clone(),
                    a["at"]["rfc3339"].clone(),
                )
            })
            .collect();
        assert_eq!(
            approvers,
            [
                (
                    json!(sec_id),
                    json!("security_lead"),
                    json!(sec_at),
                    json!("2027-01-15T08:05:00+00:00")
                ),
                (
                    json!(dir_id),
                    json!("engineering_director"),
                    json!(dir_at),
                    json!("2027-01-15T08:12:00+00:00")
                ),
            ]
        );
        let evidence = c["evidence"].as_array().expect("evidence");
        for kind in [
            "data_protection_impact_assessment",
            "rollback_plan",
            "test_results",
        ] {
            assert!(evidence.contains(&json!(kind)), "{kind}: {evidence:?}");
        }
        assert_eq!(c["window"]["from"]["ms"], dir_at, "issued on the quorum");
        assert_eq!(c["window"]["until"]["ms"], issued["expires_at_ms"]);
        assert_eq!(c["outcome"], "completed (success)");
        assert_eq!(c["state"], "completed");
        assert_eq!(c["rollback"], Value::Null);
        assert_eq!(c["exceptions"], json!([]));
        let trail: Vec<(u64, String)> = s
            .store()
            .events(1, 10_000)
            .await
            .expect("events")
            .into_iter()
            .filter(|e| e.subject.permit_id.as_deref() == Some(pii_id.as_str()))
            .map(|e| (e.seq, e.event_type))
            .collect();
        let listed: Vec<(u64, String)> = c["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| {
                (
                    e["seq"].as_u64().unwrap_or_default(),
                    e["event_type"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        assert_eq!(listed, trail, "every event of the permit, by seq");
        // Each event's proof reference answers with a proof.
        let proof = c["events"][0]["inclusion_proof"]
            .as_str()
            .expect("covered by the checkpoint");
        assert!(
            proof.starts_with(&format!(
                "/v1/audit/proofs/inclusion?seq={}&tree_size=",
                trail[0].0
            )),
            "{proof}"
        );
        let (status, body) = s.get(proof, &s.admin).await;
        assert_eq!(status, StatusCode::OK, "{body}");

        // The breach is an exception of the second change, linked to its seqs.
        let b = &report["changes"][1];
        assert_eq!(b["outcome"], "revoked (constraint_breach)");
        assert_eq!(b["rollback"]["trigger"], "health_checks");
        let breach_seq = s
            .store()
            .events(1, 10_000)
            .await
            .expect("events")
            .into_iter()
            .find(|e| e.event_type == "telemetry.breach")
            .expect("breach")
            .seq;
        assert!(
            b["exceptions"]
                .as_array()
                .expect("exceptions")
                .contains(&json!({"kind": "sla_breach", "seqs": [breach_seq]})),
            "{b}"
        );
        let linked = report["exceptions"]
            .as_array()
            .expect("exceptions")
            .iter()
            .find(|e| e["kind"] == "sla_breach")
            .expect("sla_breach");
        assert_eq!(
            (&linked["seqs"], &linked["permit_id"]),
            (&json!([breach_seq]), &json!(backfill_id))
        );

        // The Markdown is the same report, dates in words with their zone.
        let (status, _, body) = s
            .get_raw(&format!("{GDPR_DAY}&format=markdown"), &officer)
            .await;
        assert_eq!(status, StatusCode::OK);
        let text = String::from_utf8(body).expect("utf-8");
        for line in [
        "Period: 2027-01-15 00:00 UTC to 2027-01-16 00:00 UTC (end exclusive; 2027-01-15T00:00:00+00:00 to 2027-01-16T00:00:00+00:00). Times are in UTC.".to_owned(),
        format!("### Permit `{pii_id}`: migrate the customers table: hash the email column (personal data)"),
        format!("  - `{dir_id}` as engineering_director at 2027-01-15 08:12 UTC"),
        "- Outcome: completed (success)".to_owned(),
        format!("- Exceptions: sla_breach (seqs {breach_seq})"),
    ] {
        assert!(text.contains(&line), "{line}\n---\n{text}");
    }
        assert!(
            !text.contains(&deploy_id),
            "the deploy is in no GDPR section: {text}"
        );

        // Another zone: the day is Paris's, every time shown there.
        let (status, paris) = s
            .get(&format!("{GDPR_DAY}&tz=Europe/Paris"), &officer)
            .await;
        assert_eq!(status, StatusCode::OK, "{paris}");
        assert_eq!(paris["time_zone"], "Europe/Paris");
        assert_eq!(
            paris["period"]["from"]["rfc3339"],
            "2027-01-15T00:00:00+01:00"
        );
        assert_eq!(
            paris["changes"][0]["requested_at"]["human"],
            "2027-01-15 09:00 Europe/Paris (UTC+01:00)"
        );
        let (_, offset) = s.get(&format!("{GDPR_DAY}&tz=UTC-05:00"), &officer).await;
        assert_eq!(
            offset["changes"][0]["requested_at"]["human"], "2027-01-15 03:00 UTC-05:00",
            "{offset}"
        );

        // Every field of the JSON is in the OpenAPI document's schema of the response.
        let (_, doc) = s.get("/openapi.json", &s.admin).await;
        assert_documented(
            &doc,
            &report,
            &json!({"$ref": "#/components/schemas/ComplianceReportView"}),
            "report",
        );
    }
);

/// Fails unless every object member of `value` is a property of `schema` (following
/// `$ref`, `oneOf`, `anyOf`, `allOf`, `items` and `additionalProperties`).
pub(crate) fn assert_documented(doc: &Value, value: &Value, schema: &Value, path: &str) {
    if let Some(target) = schema["$ref"].as_str() {
        let name = target.trim_start_matches("#/components/schemas/");
        let resolved = &doc["components"]["schemas"][name];
        assert!(
            !resolved.is_null(),
            "{path}: `{name}` is not in the document"
        );
        return assert_documented(doc, value, resolved, path);
    }
    if let Some(parts) = schema["allOf"].as_array() {
        // Every part holds: the object's members are the union of the parts' properties
        // (how `#[serde(flatten)]` is documented).
        let mut properties = serde_json::Map::new();
        for part in parts {
            let part = match part["$ref"].as_str() {
                Some(target) => {
                    &doc["components"]["schemas"]
                        [target.trim_start_matches("#/components/schemas/")]
                }
                None => part,
            };
            if let Some(own) = part["properties"].as_object() {
                properties.extend(own.clone());
            }
        }
        let merged = serde_json::json!({"type": "object", "properties": properties});
        return assert_documented(doc, value, &merged, path);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema[key].as_array() {
            if value.is_null() {
                return;
            }
            let typed: Vec<&Value> = options.iter().filter(|o| o["type"] != "null").collect();
            assert!(!typed.is_empty(), "{path}: only null allowed, got {value}");
            return assert_documented(doc, value, typed[0], path);
        }
    }
    match value {
        Value::Object(members) => {
            let extra = &schema["additionalProperties"];
            let Some(properties) = schema["properties"].as_object() else {
                // A map (`additionalProperties`) or a free-form object.
                if extra.is_object() {
                    for (key, member) in members {
                        assert_documented(doc, member, extra, &format!("{path}.{key}"));
                    }
                }
                return;
            };
            for (key, member) in members {
                let child = format!("{path}.{key}");
                let property = properties.get(key);
                assert!(property.is_some(), "{child} is not documented: {schema}");
                if let Some(property) = property {
                    assert_documented(doc, member, property, &child);
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                assert_documented(doc, item, &schema["items"], &format!("{path}[{i}]"));
            }
        }
        _ => {}
    }
}
