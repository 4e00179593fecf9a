//! Initial certification over HTTP (issue 13): a worker with no certification history is
//! certified at a level on a justification and evidence of its prior record, with the
//! human approvals of a promotion to that level; every refusal writes nothing.

use reqwest::StatusCode;
use serde_json::{Value, json};
use steward_policy::Role;
use steward_store::PrincipalKind;

use crate::support::{TestServer, server_test};

const DAY_MS: i64 = 24 * 3_600_000;

/// Registers a worker owned by `owner_id` (as an admin) and returns its id.
async fn register(s: &TestServer, owner_id: &str, name: &str) -> String {
    let (status, body) = s
        .post(
            "/v1/workers",
            &s.admin,
            json!({"display_name": name, "owner_id": owner_id, "domains": ["payments"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().expect("id").to_owned()
}

fn ask(level: u8) -> Value {
    json!({
        "level": level,
        "justification": "ran 340 production deploys for payments in 2026 without an incident",
        "prior_record": {"link": "https://ci.example.com/bots/deploy-bot", "prior_operations": 340},
    })
}

async fn events_of(s: &TestServer, kind: &str, worker: &str) -> Vec<Value> {
    let (status, page) = s
        .get(
            &format!("/v1/audit/events?type={kind}&worker_id={worker}"),
            &s.admin,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"].as_array().cloned().unwrap_or_default()
}

server_test!(
    a_worker_with_a_record_elsewhere_is_certified_at_level_3_by_two_people,
    |s| {
        let (owner_id, owner) = s.human("olga", &[Role::EngineeringManager]).await;
        let (_, master) = s
            .principal("master-1", PrincipalKind::Agent, &[Role::Master])
            .await;
        let (dan_id, dan) = s.human("dan", &[Role::EngineeringDirector]).await;
        let (_, sue) = s.human("sue", &[Role::SecurityLead]).await;
        let worker = register(s, &owner_id, "deploy-bot").await;
        let path = format!("/v1/workers/{worker}/initial-certification");

        // Refused, writing nothing: not the owner; no justification; no evidence.
        let (status, body) = s.post(&path, &master, ask(3)).await;
        assert_eq!(
            (status, body["rule"].as_str()),
            (StatusCode::FORBIDDEN, Some("own_workers_only")),
            "{body}"
        );
        let mut short = ask(3);
        short["justification"] = json!("trust me");
        let (status, body) = s.post(&path, &owner, short).await;
        assert_eq!(
            (status, body["rule"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("initial_certification")
            ),
            "{body}"
        );
        assert!(
            body["detail"].as_str().unwrap().contains("`justification`"),
            "{body}"
        );
        let mut no_evidence = ask(3);
        no_evidence["prior_record"] = json!({"prior_operations": 340});
        let (status, body) = s.post(&path, &owner, no_evidence).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            body["detail"].as_str().unwrap().contains("`prior_record`"),
            "{body}"
        );
        let (status, _) = s.get(&path, &owner).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "nothing was written");

        // Asked: a promotion to 3's approvals are needed.
        let (status, body) = s.post(&path, &owner, ask(3)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["certified"], false);
        assert_eq!(body["missing"]["approvals"], 2);
        assert_eq!(
            body["missing"]["roles"],
            json!(["engineering_director", "security_lead"])
        );
        let (status, body) = s.post(&path, &owner, ask(3)).await;
        assert_eq!(status, StatusCode::CONFLICT, "asked once: {body}");

        // The owner (who asked) may not approve; a director approves, once.
        let approvals = format!("{path}/approvals");
        let (status, body) = s
            .post(&approvals, &owner, json!({"role": "engineering_manager"}))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        let (status, body) = s
            .post(
                &approvals,
                &dan,
                json!({"role": "engineering_director", "comment": "seen the runs"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["certified"], false);
        assert_eq!(body["worker"]["level"], 0);
        let (status, body) = s
            .post(&approvals, &dan, json!({"role": "engineering_director"}))
            .await;
        assert_eq!(
            (status, body["rule"].as_str()),
            (StatusCode::CONFLICT, Some("one_vote_per_person")),
            "{body}"
        );

        // The security lead's approval certifies: level 3, on its 60-day probation.
        let now = s.clock.now().millis();
        let (status, body) = s
            .post(&approvals, &sue, json!({"role": "security_lead"}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["certified"], true);
        assert_eq!(body["worker"]["level"], 3);
        assert_eq!(body["worker"]["status"], "probationary");
        assert_eq!(body["worker"]["probation_until_ms"], now + 60 * DAY_MS);
        // Issue 10, item 4: both answers are documented field by field.
        let (_, doc) = s.get("/openapi.json", &s.admin).await;
        let view = json!({"$ref": "#/components/schemas/InitialCertificationView"});
        crate::reports::assert_documented(&doc, &body, &view, "approved");
        let (status, record) = s.get(&path, &owner).await;
        assert_eq!(status, StatusCode::OK, "{record}");
        assert_eq!(record["approvals"].as_array().map(Vec::len), Some(2));
        let view = json!({"$ref": "#/components/schemas/InitialCertificationRecordView"});
        crate::reports::assert_documented(&doc, &record, &view, "shown");

        let certified = events_of(s, "worker.certified_initially", &worker).await;
        assert_eq!(certified.len(), 1, "{certified:?}");
        let data = &certified[0]["data"];
        assert_eq!(data["to_level"], 3);
        assert_eq!(data["prior_record"]["prior_operations"], 340);
        assert!(
            data["justification"]
                .as_str()
                .unwrap()
                .contains("340 production deploys")
        );
        assert_eq!(data["approvals"][0]["principal_id"], dan_id);
        assert_eq!(data["approvals"][1]["role"], "security_lead");
        assert!(
            events_of(s, "worker.promoted", &worker).await.is_empty(),
            "shown apart from earned promotions"
        );

        // Now it has a history: no second initial certification.
        let other = register(s, &owner_id, "other-bot").await;
        let (status, _) = s
            .post(
                &format!("/v1/workers/{other}/initial-certification"),
                &owner,
                ask(2),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, body) = s.post(&path, &owner, ask(4)).await;
        assert_eq!(
            (status, body["rule"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("initial_certification")
            ),
            "{body}"
        );
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("certification history"),
            "{body}"
        );
    }
);
