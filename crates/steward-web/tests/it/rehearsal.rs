//! A server run as a rehearsal (`steward serve --rehearsal`) says so on every page: the
//! banner on each page of the dashboard (signed in or not, error pages too) over raw HTTP
//! on both backends, none on a production server, and in a real browser. Also the
//! compliance report as the dashboard renders it from the same report as the API.

use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::json;
use steward_store::testing::{self, TestDb};

use crate::browser;
use crate::support::{self, Server};

const BANNER: &str = "id=\"rehearsal-banner\"";

async fn databases() -> Vec<TestDb> {
    let mut dbs = vec![testing::sqlite_store().await];
    if let Some(pg) = testing::postgres_store().await {
        dbs.push(pg);
    }
    dbs
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client")
}

/// Signs in with `token`; returns the session secret.
async fn sign_in(server: &Server, token: &str) -> String {
    let resp = client()
        .post(format!("{}/sign-in", server.url))
        .form(&[("token", token)])
        .send()
        .await
        .expect("sign in");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let cookie = resp
        .headers()
        .get("set-cookie")
        .expect("a session cookie")
        .to_str()
        .expect("ascii")
        .to_owned();
    cookie
        .split(';')
        .next()
        .and_then(|kv| kv.strip_prefix("steward_session="))
        .expect("steward_session=…")
        .to_owned()
}

async fn get(server: &Server, path: &str, secret: Option<&str>) -> (StatusCode, String) {
    let mut req = client().get(format!("{}{path}", server.url));
    if let Some(secret) = secret {
        req = req.header("cookie", format!("steward_session={secret}"));
    }
    let resp = req.send().await.expect("get");
    let status = resp.status();
    (status, resp.text().await.expect("body"))
}

/// Every kind of page: each top-level page, a permit, a worker, an audit event, the
/// sign-in form, and error pages (404, 403).
async fn pages(server: &Server) -> Vec<(String, Option<String>, StatusCode)> {
    let cast = support::cast(&server.store).await;
    let permit = support::request_permit(
        server,
        &cast.requester,
        &cast.worker_id,
        support::level2_task("rehearsed"),
    )
    .await;
    let admin = sign_in(server, &cast.admin).await;
    let lead = sign_in(server, &cast.lead).await;
    let mut out: Vec<(String, Option<String>, StatusCode)> = [
        "/",
        "/board",
        "/history",
        "/audit",
        "/audit/events/1",
        "/workers",
        "/workers/wk-deployer",
        "/emergencies",
        "/reports",
        &format!("/permits/{permit}"),
        "/permits/no-such-permit",
    ]
    .into_iter()
    .map(|path| {
        let status = if path.ends_with("no-such-permit") {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::OK
        };
        (path.to_owned(), Some(admin.clone()), status)
    })
    .collect();
    out.push(("/audit".to_owned(), Some(lead), StatusCode::FORBIDDEN));
    out.push(("/sign-in".to_owned(), None, StatusCode::OK));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_of_a_rehearsal_shows_the_banner_and_production_pages_do_not() {
    let rehearsals = databases().await.into_iter().map(|db| (db, true));
    let productions = databases().await.into_iter().map(|db| (db, false));
    for (db, rehearsal) in rehearsals.chain(productions) {
        if rehearsal {
            db.store().set_rehearsal();
        }
        let server = support::start(db.store().clone(), support::clock(), None).await;
        for (path, secret, status) in pages(&server).await {
            let (got, html) = get(&server, &path, secret.as_deref()).await;
            assert_eq!(got, status, "{path}: {html}");
            assert_eq!(
                html.contains(BANNER),
                rehearsal,
                "{path} (rehearsal: {rehearsal}): {html}"
            );
            assert_eq!(
                html.contains("steward serve --rehearsal"),
                rehearsal,
                "{path}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rehearsal_banner_is_on_screen_in_a_browser() {
    let Some(driver) = browser::driver().await else {
        return;
    };
    let db = testing::sqlite_store().await;
    db.store().set_rehearsal();
    let server = support::start(db.store().clone(), support::clock(), None).await;
    let cast = support::cast(&server.store).await;
    let base = server.url.clone();
    let ada = driver.browser("ada-rehearsal").await;
    ada.goto(&format!("{base}/sign-in")).await;
    assert!(
        ada.text("#rehearsal-banner")
            .await
            .starts_with("Rehearsal.")
    );
    ada.sign_in(&base, &cast.admin).await;
    for path in ["/", "/reports", "/workers"] {
        ada.goto(&format!("{base}{path}")).await;
        let banner = ada.text("#rehearsal-banner").await;
        assert!(
            banner.contains("nothing here is production"),
            "{path}: {banner}"
        );
        let shown = ada
            .find("#rehearsal-banner")
            .await
            .is_displayed()
            .await
            .expect("displayed");
        assert!(shown, "{path}: the banner is visible");
    }
    ada.screenshot("rehearsal-banner").await;

    // The GDPR report of the day in the browser: the PII change with its people.
    let mut task = support::level3_task("pii-migration");
    task["data_types"] = json!(["pii"]);
    task["compliance_frameworks"] = json!(["GDPR"]);
    let pii = support::request_permit(&server, &cast.requester, &cast.worker_id, task).await;
    ada.goto(&format!(
        "{base}/reports?framework=GDPR&from=2027-01-15&to=2027-01-15"
    ))
    .await;
    let change = ada.text(&format!("#change-{pii}")).await;
    assert!(change.contains("rita-requester"), "{change}");
    assert!(change.contains("personal data (pii)"), "{change}");
    ada.screenshot("reports-gdpr-change").await;
    ada.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reports_page_lists_the_gdpr_changes_from_the_same_report() {
    for db in databases().await {
        let server = support::start(db.store().clone(), support::clock(), None).await;
        let cast = support::cast(&server.store).await;
        let mut task = support::level3_task("pii-migration");
        task["description"] = json!("hash the customers' email column (personal data)");
        task["data_types"] = json!(["pii"]);
        task["compliance_frameworks"] = json!(["GDPR"]);
        let pii = support::request_permit(&server, &cast.requester, &cast.worker_id, task).await;
        let deploy = support::request_permit(
            &server,
            &cast.requester,
            &cast.worker_id,
            support::level2_task("deploy"),
        )
        .await;
        for (token, role) in [
            (&cast.security, "security_lead"),
            (&cast.director, "engineering_director"),
        ] {
            let resp = reqwest::Client::new()
                .post(format!("{}/v1/permits/{pii}/approvals", server.url))
                .bearer_auth(token)
                .json(&json!({"decision": "approve", "role": role}))
                .send()
                .await
                .expect("approve");
            assert_eq!(resp.status(), StatusCode::OK);
        }
        let admin = sign_in(&server, &cast.admin).await;
        let (status, html) = get(
            &server,
            "/reports?framework=GDPR&from=2027-01-15&to=2027-01-15&tz=Europe/Paris",
            Some(&admin),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{html}");
        assert!(html.contains(&format!("id=\"change-{pii}\"")), "{html}");
        assert!(
            !html.contains(&format!("id=\"change-{deploy}\"")),
            "not GDPR work"
        );
        for text in [
            "Changes in scope (1)",
            "hash the customers&#39; email column (personal data)",
            "the task named GDPR; personal data (pii)",
            "engineering_director",
            "dana-director",
            "rita-requester",
            "data_protection_impact_assessment",
            "2027-01-15 09:00 Europe/Paris (UTC+01:00)",
            "times in Europe/Paris",
        ] {
            assert!(html.contains(text), "{text}: {html}");
        }
    }
}
