//! The pages of those who check and those who act on workers and incidents, in a real
//! browser: the audit viewer (search, an inclusion proof verified against the latest
//! signed checkpoint, "verify the trail" finding a row tampered with in the database, the
//! export download), the workers pages (a worker suspended from the page, audited with
//! channel `web`), the emergencies pages (declared and approved from the page, with
//! step-up), and the reports page (a compliance report, its downloads, SVG charts). Each
//! page renders for a role that may see it and is 403 for one that may not.

use reqwest::StatusCode;
use serde_json::{Value, json};
use steward_policy::Role;
use steward_store::testing::{self, execute};
use steward_store::{Backend, PrincipalKind};

use crate::browser::{self, Browser};
use crate::support::{self, Server};

/// The session cookie of `browser`, for raw HTTP requests as the same person.
async fn session_cookie(browser: &Browser) -> String {
    let cookie = browser
        .client
        .get_named_cookie("steward_session")
        .await
        .expect("the session cookie");
    format!("steward_session={}", cookie.value())
}

/// A GET with the browser's session; (status, content type, disposition, body).
async fn get_as(browser: &Browser, url: &str) -> (StatusCode, String, String, String) {
    let resp = reqwest::Client::new()
        .get(url)
        .header("cookie", session_cookie(browser).await)
        .send()
        .await
        .expect("request sent");
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (status, content_type, disposition) = (
        resp.status(),
        header("content-type"),
        header("content-disposition"),
    );
    (
        status,
        content_type,
        disposition,
        resp.text().await.expect("body"),
    )
}

/// Asserts that the page at `path` is refused with 403 for this browser's person.
async fn assert_forbidden(browser: &Browser, base: &str, path: &str) {
    browser.goto(&format!("{base}{path}")).await;
    let text = browser.page_text().await;
    assert!(text.contains("HTTP 403"), "{path}: {text}");
    let (status, ..) = get_as(browser, &format!("{base}{path}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
}

async fn api(server: &Server, token: &str, method: &str, path: &str, body: Value) -> Value {
    let client = reqwest::Client::new();
    let url = format!("{}{path}", server.url);
    let req = match method {
        "POST" => client.post(url).json(&body),
        _ => client.get(url),
    };
    let resp = req.bearer_auth(token).send().await.expect("request sent");
    assert!(
        resp.status().is_success(),
        "{method} {path}: {}",
        resp.status()
    );
    resp.json().await.expect("json body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auditors_search_prove_verify_and_export_the_trail_and_see_tampering() {
    let Some(driver) = browser::driver().await else {
        return;
    };
    let db = testing::sqlite_store().await;
    let server = support::start_signed(db.store().clone(), support::clock()).await;
    let cast = support::cast(&server.store).await;
    let base = server.url.clone();
    let (_, auditor) = support::principal(
        &server.store,
        "ada-auditor",
        PrincipalKind::Human,
        &[Role::Auditor],
    )
    .await;
    let permit = support::request_permit(
        &server,
        &cast.requester,
        &cast.worker_id,
        support::level2_task("audited"),
    )
    .await;
    let checkpoint = api(
        &server,
        &auditor,
        "POST",
        "/v1/audit/checkpoints",
        json!({}),
    )
    .await;
    let tree_size = checkpoint["tree_size"].as_u64().expect("tree size");

    let ada = driver.browser("ada").await;
    ada.sign_in(&base, &auditor).await;
    ada.goto(&format!("{base}/audit")).await;
    ada.fill("#a-permit", &permit).await;
    ada.click("form.search button[type=submit]").await;
    ada.wait_for_url(&permit).await;
    let found = ada.wait_for_text("table.audit", "permit.requested").await;
    assert!(!found.contains("principal.created"), "filtered: {found}");
    assert!(found.contains("UTC"), "{found}");
    ada.goto(&format!("{base}/audit?type=principal.*")).await;
    let principals = ada.text("table.audit").await;
    assert!(principals.contains("principal.created"), "{principals}");
    assert!(!principals.contains("permit.requested"), "{principals}");
    ada.screenshot("audit").await;

    // One event: its data, its hashes, and its proof checked against checkpoint #1.
    let requested = server
        .store
        .query_events(
            &steward_store::EventQuery {
                permit_id: Some(permit.clone()),
                ..Default::default()
            },
            1,
            1,
        )
        .await
        .expect("events")[0]
        .clone();
    ada.goto(&format!("{base}/audit?permit={permit}")).await;
    ada.click(&format!("tr[data-seq='{}'] a", requested.seq))
        .await;
    let proof = ada.text("#proof-result").await;
    assert_eq!(
        proof.split(", signed").next(),
        Some(format!("Proof verified against checkpoint #1 (tree size {tree_size})").as_str()),
        "{proof}"
    );
    assert_eq!(ada.text("#event-hash").await, requested.hash.to_string());
    assert_eq!(
        ada.text("#event-prev-hash").await,
        requested.prev_hash.to_string()
    );
    let data = ada.text("#event-data").await;
    let first_key = requested
        .data
        .as_object()
        .and_then(|m| m.keys().next())
        .expect("the event has data")
        .clone();
    assert!(data.contains(&format!("\"{first_key}\"")), "{data}");
    ada.screenshot("audit-event").await;

    // The trail verifies; the export downloads.
    ada.goto(&format!("{base}/audit")).await;
    ada.click("#verify-trail").await;
    let verified = ada.text("#verification").await;
    assert!(verified.starts_with("The trail verifies"), "{verified}");
    let (status, content_type, disposition, body) =
        get_as(&ada, &format!("{base}/audit/export")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/x-ndjson");
    assert!(disposition.starts_with("attachment"), "{disposition}");
    let header: Value = serde_json::from_str(body.lines().next().expect("a line")).expect("json");
    assert_eq!(header["export"]["from_seq"], 1, "{header}");
    assert!(body.contains(&permit));

    // Someone edits a row in the database behind Steward's back.
    let bypass = match server.store.backend() {
        Backend::Sqlite => "DROP TRIGGER audit_events_no_update;",
        Backend::Postgres => "DROP TRIGGER audit_events_no_update ON audit_events;",
    };
    execute(
        &server.store,
        &format!(
            "{bypass} UPDATE audit_events SET data = '{{\"forged\":true}}' WHERE seq = {};",
            requested.seq
        ),
    )
    .await
    .expect("tamper");
    ada.click("#verify-trail").await;
    // The click returns before the new answer loads: wait for it, not the old one.
    let broken = ada
        .wait_for_text("#verification", "Verification failed")
        .await;
    assert!(
        broken.starts_with(&format!("Verification failed at seq {}", requested.seq)),
        "{broken}"
    );
    ada.screenshot("audit-tampered").await;
    ada.goto(&format!("{base}/audit/events/{}", requested.seq))
        .await;
    let proof = ada.text("#proof-result").await;
    assert!(proof.contains("does NOT verify"), "{proof}");

    // A tech lead may not read the trail, nor download it.
    let tess = driver.browser("tess").await;
    tess.sign_in(&base, &cast.lead).await;
    assert_forbidden(&tess, &base, "/audit").await;
    assert_forbidden(&tess, &base, "/audit/export").await;
    assert_forbidden(&tess, &base, "/audit/events/1").await;
    ada.close().await;
    tess.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_director_suspends_a_worker_from_its_page_audited_as_web() {
    let Some(driver) = browser::driver().await else {
        return;
    };
    let db = testing::sqlite_store().await;
    let server = support::start(db.store().clone(), support::clock(), None).await;
    let cast = support::cast(&server.store).await;
    let base = server.url.clone();
    let (_, agent) = support::principal(
        &server.store,
        "some-agent",
        PrincipalKind::Agent,
        &[Role::Worker],
    )
    .await;

    let dana = driver.browser("dana").await;
    dana.sign_in(&base, &cast.director).await;
    dana.goto(&format!("{base}/workers")).await;
    let row = dana
        .text(&format!("tr[data-worker='{}']", cast.worker_id))
        .await;
    assert!(row.contains("deployer"), "{row}");
    assert!(row.contains("Level 3"), "{row}");
    assert!(row.contains("active"), "{row}");
    assert!(row.contains("owen-owner"), "{row}");
    dana.screenshot("workers").await;

    dana.click(&format!("tr[data-worker='{}'] a", cast.worker_id))
        .await;
    let verdict = dana.text("#eligibility-verdict").await;
    assert!(verdict.contains("Not eligible for level 4"), "{verdict}");
    let criteria = dana.text("ul.criteria").await;
    assert!(criteria.contains("not met"), "{criteria}");
    assert!(dana.page_text().await.contains("Track record"));
    dana.screenshot("worker").await;

    // No reason: refused, nothing changes.
    dana.click("#suspend-form button[type=submit]").await;
    let refused = dana.text("#error").await;
    assert!(refused.contains("A reason is required"), "{refused}");
    assert_eq!(
        server
            .store
            .worker(&cast.worker_id)
            .await
            .expect("worker")
            .status
            .as_str(),
        "active"
    );
    dana.fill("#suspend-reason", "incident INC-7 under investigation")
        .await;
    dana.click("#suspend-form button[type=submit]").await;
    dana.wait_for_text("#worker-status", "suspended").await;
    dana.find("#reinstate-form").await;
    assert_eq!(
        server
            .store
            .worker(&cast.worker_id)
            .await
            .expect("worker")
            .status
            .as_str(),
        "suspended"
    );
    let events = api(
        &server,
        &cast.admin,
        "GET",
        "/v1/audit/events?type=worker.suspended",
        json!(null),
    )
    .await;
    let event = &events["items"][0];
    // The store records the door an actor came through in the event's data.
    assert_eq!(event["data"]["channel"], "web", "{event}");
    assert_eq!(event["subject"]["worker_id"], json!(cast.worker_id));

    // A tech lead sees the worker but no suspend button; an agent sees no list.
    let tess = driver.browser("tess").await;
    tess.sign_in(&base, &cast.lead).await;
    tess.goto(&format!("{base}/workers/{}", cast.worker_id))
        .await;
    assert!(tess.page_text().await.contains("Track record"));
    assert!(
        tess.client
            .find(fantoccini::Locator::Css("#reinstate-form"))
            .await
            .is_err()
    );
    let bot = driver.browser("bot").await;
    bot.goto(&format!("{base}/sign-in")).await;
    bot.fill("#token", &agent).await;
    bot.click("form[action='/sign-in'] button").await;
    // The sign-in page has a `main` too: wait for its answer.
    bot.wait_to_leave("/sign-in").await;
    assert_forbidden(&bot, &base, "/workers").await;
    assert_forbidden(&bot, &base, &format!("/workers/{}", cast.worker_id)).await;
    for b in [dana, tess, bot] {
        b.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emergency_is_declared_approved_with_step_up_resolved_and_reviewed() {
    let Some(driver) = browser::driver().await else {
        return;
    };
    let db = testing::sqlite_store().await;
    let server = support::start(db.store().clone(), support::clock(), None).await;
    let cast = support::cast(&server.store).await;
    let base = server.url.clone();
    let (_, commander) = support::principal(
        &server.store,
        "ian-commander",
        PrincipalKind::Human,
        &[Role::IncidentCommander],
    )
    .await;
    let (_, agent) = support::principal(
        &server.store,
        "some-agent",
        PrincipalKind::Agent,
        &[Role::Worker],
    )
    .await;

    // Rita (a master) declares.
    let rita = driver.browser("rita").await;
    rita.sign_in(&base, &cast.requester).await;
    rita.goto(&format!("{base}/emergencies")).await;
    rita.fill("#d-incident", "INC-42").await;
    rita.fill("#d-worker", &cast.worker_id).await;
    rita.fill("#d-minutes", "60").await;
    rita.fill("#d-env", "production").await;
    rita.fill("#d-desc", "Restart the api pods").await;
    rita.fill("#d-ops", "kubectl rollout restart deploy/api")
        .await;
    rita.fill("#d-services", "api").await;
    rita.fill("#d-reason", "checkout is down").await;
    rita.click("#declare-form button[type=submit]").await;
    let status = rita
        .wait_for_text("#emergency-status", "awaiting approval")
        .await;
    assert!(status.contains("awaiting"), "{status}");
    let window = rita.text("p.window").await;
    assert!(window.contains("approve by"), "{window}");
    assert!(window.contains("UTC"), "{window}");
    let id = rita.path().await.rsplit('/').next().expect("id").to_owned();
    // The declarer may not approve: no approve form for her.
    assert!(
        rita.client
            .find(fantoccini::Locator::Css("#approve-form"))
            .await
            .is_err()
    );

    // Ian approves within the window; the wrong token first.
    let ian = driver.browser("ian").await;
    ian.sign_in(&base, &commander).await;
    ian.goto(&format!("{base}/emergencies")).await;
    let row = ian.text(&format!("tr[data-emergency='{id}']")).await;
    assert!(row.contains("INC-42"), "{row}");
    assert!(row.contains("awaiting approval"), "{row}");
    ian.screenshot("emergencies").await;
    ian.click(&format!("tr[data-emergency='{id}'] a")).await;
    ian.fill("#em-token", &cast.requester).await;
    ian.click("#approve-form button[type=submit]").await;
    let refused = ian.text("#error").await;
    assert!(
        refused.contains("not a valid token of the signed-in person"),
        "{refused}"
    );
    let e = api(
        &server,
        &cast.admin,
        "GET",
        &format!("/v1/emergencies/{id}"),
        json!(null),
    )
    .await;
    assert_eq!(e["status"], "awaiting_approval");
    ian.fill("#em-token", &commander).await;
    ian.fill("#em-comment", "confirmed on the bridge").await;
    ian.click("#approve-form button[type=submit]").await;
    ian.wait_for_text("#emergency-status", "active").await;
    assert!(
        ian.text("#emergency-approved")
            .await
            .contains("ian-commander")
    );
    ian.screenshot("emergency").await;
    let e = api(
        &server,
        &cast.admin,
        "GET",
        &format!("/v1/emergencies/{id}"),
        json!(null),
    )
    .await;
    assert_eq!(e["status"], "active", "{e}");
    let events = api(
        &server,
        &cast.admin,
        "GET",
        &format!(
            "/v1/audit/events?permit_id={}&type=permit.approved",
            e["permit_id"].as_str().expect("permit")
        ),
        json!(null),
    )
    .await;
    assert_eq!(events["items"][0]["data"]["channel"], "web", "{events}");

    // Resolved; a day and more later the review is overdue and stands out; then filed.
    ian.fill("#em-resolution", "rolled forward").await;
    ian.click("#resolve-form button[type=submit]").await;
    ian.wait_for_text("#emergency-status", "resolved").await;
    // The permit runs out after its hour; the timers end it; the review is due a day on.
    server.clock.advance_minutes(2 * 60);
    let now = server.clock.now().millis();
    server.store.run_timers(now).await.expect("timers");
    server.store.sweep_emergencies(now).await.expect("sweep");
    server.clock.advance_minutes(25 * 60);
    // A day on, Ian's idle session has ended: he signs in again.
    ian.sign_in(&base, &commander).await;
    ian.goto(&format!("{base}/emergencies")).await;
    let overdue = ian
        .text(&format!("tr[data-emergency='{id}'].overdue"))
        .await;
    assert!(overdue.contains("OVERDUE"), "{overdue}");
    ian.screenshot("emergencies-overdue").await;
    ian.click(&format!("tr[data-emergency='{id}'] a")).await;
    ian.fill("#em-summary", "a bad config push").await;
    ian.fill("#em-actions", "add a canary\nalert on 5xx").await;
    ian.click("#review-form button[type=submit]").await;
    let review = ian.wait_for_text("#emergency-review", "filed").await;
    assert!(review.contains("UTC"), "{review}");

    // An agent may not see emergencies.
    let bot = driver.browser("bot").await;
    bot.goto(&format!("{base}/sign-in")).await;
    bot.fill("#token", &agent).await;
    bot.click("form[action='/sign-in'] button").await;
    // The sign-in page has a `main` too: wait for its answer.
    bot.wait_to_leave("/sign-in").await;
    assert_forbidden(&bot, &base, "/emergencies").await;
    assert_forbidden(&bot, &base, &format!("/emergencies/{id}")).await;
    for b in [rita, ian, bot] {
        b.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_show_a_compliance_report_with_downloads_and_svg_charts() {
    let Some(driver) = browser::driver().await else {
        return;
    };
    let db = testing::sqlite_store().await;
    let server = support::start(db.store().clone(), support::clock(), None).await;
    let cast = support::cast(&server.store).await;
    let base = server.url.clone();
    let (_, auditor) = support::principal(
        &server.store,
        "ada-auditor",
        PrincipalKind::Human,
        &[Role::Auditor],
    )
    .await;
    let (_, officer) = support::principal(
        &server.store,
        "cora-compliance",
        PrincipalKind::Human,
        &[Role::ComplianceOfficer],
    )
    .await;
    // A level-2 permit approved 20 minutes after its request.
    let permit = support::request_permit(
        &server,
        &cast.requester,
        &cast.worker_id,
        support::level2_task("reported"),
    )
    .await;
    server.clock.advance_minutes(20);
    api(
        &server,
        &cast.lead,
        "POST",
        &format!("/v1/permits/{permit}/approvals"),
        json!({"decision": "approve", "role": "tech_lead"}),
    )
    .await;

    // A request for a suspended worker is hard-blocked.
    server
        .store
        .suspend(
            &support::seeder(),
            &cast.worker_id,
            "on hold",
            server.clock.now().millis(),
        )
        .await
        .expect("suspend");
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/permits", server.url))
        .bearer_auth(&cast.requester)
        .json(
            &json!({"task": support::level2_task("blocked"), "worker_id": cast.worker_id,
                      "evidence": support::all_evidence()}),
        )
        .send()
        .await
        .expect("request sent");
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let ada = driver.browser("ada").await;
    ada.sign_in(&base, &auditor).await;
    ada.goto(&format!(
        "{base}/reports?framework=SOC2&from=2027-01-01&to=2027-01-31"
    ))
    .await;
    let report = ada.text("#report").await;
    assert!(report.contains("SOC2 compliance report"), "{report}");
    assert!(report.contains("CC8.1"), "{report}");
    assert!(report.contains("UTC"), "{report}");
    let title = ada
        .client
        .execute(
            "return document.querySelector('#chart-approval-time title').textContent",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(title, json!("Approval time by level"));
    let bars = ada
        .client
        .execute(
            "return document.querySelectorAll('#chart-approval-time rect').length",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(bars, json!(5), "a bar per level");
    let desc = ada
        .client
        .execute(
            "return document.querySelector('#chart-approval-time desc').textContent",
            vec![],
        )
        .await
        .expect("script");
    assert!(
        desc.as_str().is_some_and(|d| d.contains("mean time")),
        "{desc}"
    );
    // A chart without data says so, and still lists its figures.
    let empty = ada.text("#chart-certification-caption").await;
    assert_eq!(empty, "Over- and under-certification by level");
    let figure = ada
        .client
        .execute(
            "return document.getElementById('chart-certification-caption').parentElement.textContent",
            vec![],
        )
        .await
        .expect("script");
    assert!(
        figure.as_str().is_some_and(|t| t.contains("No data yet.")),
        "{figure}"
    );
    // The data table fallback holds the figure: 20 minutes at level 2.
    let table = ada
        .client
        .execute(
            "return document.querySelector('#chart-approval-time').parentElement.querySelector('table').textContent",
            vec![],
        )
        .await
        .expect("script");
    assert!(
        table
            .as_str()
            .is_some_and(|t| t.contains("Level 2") && t.contains("20")),
        "{table}"
    );
    let blocks = ada
        .client
        .execute(
            "return document.getElementById('chart-hard-blocks').parentElement.querySelector('table').textContent",
            vec![],
        )
        .await
        .expect("script");
    assert!(
        blocks
            .as_str()
            .is_some_and(|t| t.contains("certification suspended")),
        "{blocks}"
    );
    ada.screenshot("reports").await;
    ada.client
        .execute(
            "document.getElementById('metrics-title').scrollIntoView()",
            vec![],
        )
        .await
        .expect("scroll");
    ada.screenshot("reports-charts").await;

    let (status, content_type, disposition, body) = get_as(
        &ada,
        &format!(
            "{base}/reports/compliance?framework=SOC2&from=2027-01-01&to=2027-01-31&format=markdown"
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/markdown"), "{content_type}");
    assert!(
        disposition.contains("steward-SOC2-2027-01-01-2027-01-31.md"),
        "{disposition}"
    );
    assert!(body.contains("SOC2"), "{body}");
    let (status, content_type, _, body) = get_as(
        &ada,
        &format!(
            "{base}/reports/compliance?framework=SOC2&from=2027-01-01&to=2027-01-31&format=json"
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let json: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["framework"], "SOC2");

    // A compliance officer reads the report but not the metrics; a tech lead neither.
    let cora = driver.browser("cora").await;
    cora.sign_in(&base, &officer).await;
    cora.goto(&format!("{base}/reports")).await;
    assert!(cora.text("#report").await.contains("compliance report"));
    assert!(
        cora.page_text()
            .await
            .contains("The metrics are for admins and auditors.")
    );
    let tess = driver.browser("tess").await;
    tess.sign_in(&base, &cast.lead).await;
    assert_forbidden(&tess, &base, "/reports").await;
    for b in [ada, cora, tess] {
        b.close().await;
    }
}

/// Signs in over raw HTTP; returns the session secret and the CSRF token of its pages.
async fn raw_session(server: &Server, token: &str) -> (String, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let resp = client
        .post(format!("{}/sign-in", server.url))
        .form(&[("token", token)])
        .send()
        .await
        .expect("sign in");
    let cookie = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie")
        .to_owned();
    let secret = cookie
        .split(';')
        .next()
        .and_then(|kv| kv.strip_prefix("steward_session="))
        .expect("steward_session=…")
        .to_owned();
    let (_, html) = raw(server, "GET", "/", &secret, &[]).await;
    let at = html.find("data-csrf=\"").expect("the CSRF token") + 11;
    (secret.clone(), html[at..at + 64].to_owned())
}

async fn raw(
    server: &Server,
    method: &str,
    path: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let url = format!("{}{path}", server.url);
    let req = match method {
        "POST" => client.post(url).form(form),
        _ => client.get(url),
    };
    let resp = req
        .header("cookie", format!("steward_session={secret}"))
        .send()
        .await
        .expect("request");
    let status = resp.status();
    (status, resp.text().await.expect("body"))
}

// The new pages on both backends over raw HTTP: they render for an allowed role, are 403
// for another, and their forms refuse a post without the session's CSRF token, changing
// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversight_pages_check_roles_and_csrf_on_both_backends() {
    let mut dbs = vec![testing::sqlite_store().await];
    if let Some(pg) = testing::postgres_store().await {
        dbs.push(pg);
    }
    for db in dbs {
        let server = support::start_signed(db.store().clone(), support::clock()).await;
        let cast = support::cast(&server.store).await;
        let (_, auditor) = support::principal(
            &server.store,
            "ada-auditor",
            PrincipalKind::Human,
            &[Role::Auditor],
        )
        .await;
        api(
            &server,
            &auditor,
            "POST",
            "/v1/audit/checkpoints",
            json!({}),
        )
        .await;
        let (ada, _) = raw_session(&server, &auditor).await;
        let (tess, _) = raw_session(&server, &cast.lead).await;
        let (dana, dana_csrf) = raw_session(&server, &cast.director).await;
        for (path, allowed) in [
            ("/audit", &ada),
            ("/audit/events/1", &ada),
            ("/audit/verify", &ada),
            ("/workers", &tess),
            (&format!("/workers/{}", cast.worker_id), &tess),
            ("/emergencies", &tess),
            ("/reports", &ada),
        ] {
            let (status, html) = raw(&server, "GET", path, allowed, &[]).await;
            assert_eq!(status, StatusCode::OK, "{path}: {html}");
        }
        let (_, html) = raw(&server, "GET", "/audit/events/1", &ada, &[]).await;
        assert!(
            html.contains("Proof verified against checkpoint #1"),
            "{html}"
        );
        for path in ["/audit", "/audit/events/1", "/audit/export", "/reports"] {
            let (status, _) = raw(&server, "GET", path, &tess, &[]).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        }
        let head = server.store.audit_head().await.expect("head").seq;
        let suspend = format!("/workers/{}/suspend", cast.worker_id);
        let (status, html) = raw(&server, "POST", &suspend, &dana, &[("reason", "x")]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
        assert!(html.contains("CSRF"), "{html}");
        let (status, _) = raw(
            &server,
            "POST",
            "/emergencies",
            &dana,
            &[("incident_id", "INC-1"), ("worker_id", &cast.worker_id)],
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(server.store.audit_head().await.expect("head").seq, head);
        // With the token: suspended, through the same use case.
        let (status, html) = raw(
            &server,
            "POST",
            &suspend,
            &dana,
            &[("reason", "investigating"), ("_csrf", &dana_csrf)],
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
        let worker = server.store.worker(&cast.worker_id).await.expect("worker");
        assert_eq!(worker.status.as_str(), "suspended");
        // A tech lead may not reinstate: refused with the API's message, nothing changes.
        let (lead, lead_csrf) = raw_session(&server, &cast.lead).await;
        let (status, html) = raw(
            &server,
            "POST",
            &format!("/workers/{}/reinstate", cast.worker_id),
            &lead,
            &[("reason", "fine"), ("_csrf", &lead_csrf)],
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
        assert!(
            html.contains("reinstat") || html.contains("certification"),
            "{html}"
        );
        let worker = server.store.worker(&cast.worker_id).await.expect("worker");
        assert_eq!(worker.status.as_str(), "suspended");
    }
}
