//! Step-up: the change-advisory-board sign-off asks the person to enter their token
//! again, and it must be a live token of the signed-in person (both backends).

use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::json;
use steward_store::testing::{self, TestDb};

use crate::support;

async fn databases() -> Vec<TestDb> {
    let mut dbs = vec![testing::sqlite_store().await];
    if let Some(pg) = testing::postgres_store().await {
        dbs.push(pg);
    }
    dbs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cab_sign_off_asks_for_the_persons_own_token_again() {
    for db in databases().await {
        let server = support::start(db.store().clone(), support::clock(), None).await;
        let cast = support::cast(&server.store).await;
        let owner = server
            .store
            .principal_by_name("owen-owner")
            .await
            .expect("owner")
            .id;
        testing::execute(
            &server.store,
            &format!(
                "INSERT INTO workers (id, display_name, owner_id, principal_id, level, status, domains, \
                 level_granted_at, stats, version, created_at, updated_at) VALUES ('wk-4', 'four', '{owner}', \
                 NULL, 4, 'active', '[]', 1800000000000, '{{\"successes_at_level\":0,\"failures_at_level\":0,\"successes_by_level\":[0,0,0,0,0],\"last_incident_at\":null,\"safety_violations\":0,\"consecutive_union_failures\":0}}', 1, 0, 0)"
            ),
        )
        .await
        .expect("insert worker");
        let id = support::request_permit(
            &server,
            &cast.requester,
            "wk-4",
            json!({"id": "regions", "description": "Deploy the api to two regions",
                   "environment": "production", "operations": ["deploy"],
                   "regions": ["us-east-1", "eu-west-1"], "services_affected": ["api"]}),
        )
        .await;
        let client = reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .expect("client");
        let resp = client
            .post(format!("{}/sign-in", server.url))
            .form(&[("token", cast.admin.as_str())])
            .send()
            .await
            .expect("sign in");
        let cookie = resp.headers()["set-cookie"]
            .to_str()
            .expect("ascii")
            .split(';')
            .next()
            .expect("cookie")
            .to_owned();
        let page = client
            .get(format!("{}/permits/{id}", server.url))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("html");
        assert!(
            page.contains("id=\"cab-form\""),
            "the admin is offered the sign-off"
        );
        let at = page.find("data-csrf=\"").expect("csrf") + 11;
        let csrf = page[at..at + 64].to_owned();
        let sign_off = |token: Option<&str>| {
            let mut form = vec![("_csrf", csrf.clone())];
            if let Some(t) = token {
                form.push(("token", t.to_owned()));
            }
            client
                .post(format!("{}/permits/{id}/cab-signoff", server.url))
                .header("cookie", &cookie)
                .form(&form)
                .send()
        };
        let resp = sign_off(None).await.expect("post");
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert!(
            resp.text()
                .await
                .expect("html")
                .contains("enter your API token again")
        );
        // Another person's valid token is not a step-up.
        let resp = sign_off(Some(&cast.lead)).await.expect("post");
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert!(
            resp.text()
                .await
                .expect("html")
                .contains("not a valid token of the signed-in person")
        );
        assert_eq!(
            support::permit(&server, &cast.admin, &id).await["cab_signed_off"],
            false
        );
        // The person's own token: signed off, audited through the dashboard.
        let resp = sign_off(Some(&cast.admin)).await.expect("post");
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            support::permit(&server, &cast.admin, &id).await["cab_signed_off"],
            true
        );
        let events = server
            .store
            .query_events(
                &steward_store::EventQuery {
                    permit_id: Some(id.clone()),
                    event_type: Some(steward_store::TypeFilter::Exact(
                        "permit.cab_signed_off".into(),
                    )),
                    ..Default::default()
                },
                1,
                10,
            )
            .await
            .expect("events");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data["channel"], "web");
    }
}
