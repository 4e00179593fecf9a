//! The dashboard in a real browser: sign-in, the inbox, the permit page with a
//! two-approver decision made from two browsers (the second sees the first's approval
//! arrive without reloading), segregation of duties, a reject without a reason, the live
//! board, History, sign-out and token revocation; and the live update across two
//! instances on PostgreSQL. Screenshots of each page go to `target/screenshots/`.

use serde_json::json;
use steward_store::testing;

use crate::browser;
use crate::support::{self, Server};

/// Revokes the (only) token of principal `name` through the JSON API, as an admin.
async fn revoke_token_of(server: &Server, admin: &str, name: &str) {
    let id = server
        .store
        .principal_by_name(name)
        .await
        .expect("principal")
        .id;
    let token = server.store.list_tokens(&id).await.expect("tokens")[0]
        .id
        .clone();
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/tokens/{token}/revoke", server.url))
        .bearer_auth(admin)
        .json(&json!({}))
        .send()
        .await
        .expect("revoke");
    assert!(resp.status().is_success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_decide_watch_and_search_permits_in_a_browser() {
    let Some(driver) = browser::driver().await else {
        return;
    };
    let db = testing::sqlite_store().await;
    let server = support::start(db.store().clone(), support::clock(), None).await;
    let cast = support::cast(&server.store).await;
    let base = server.url.clone();

    // A request nobody decided, expired (2 × its SLA later) before the story starts.
    let stale = support::request_permit(
        &server,
        &cast.requester,
        &cast.worker_id,
        support::level2_task("stale"),
    )
    .await;
    server.clock.advance_minutes(100 * 60);
    server
        .store
        .run_timers(server.clock.now().millis())
        .await
        .expect("timers");
    assert_eq!(
        support::permit(&server, &cast.admin, &stale).await["state"],
        "expired"
    );

    let two = support::request_permit(
        &server,
        &cast.requester,
        &cast.worker_id,
        support::level3_task("orders-note"),
    )
    .await;
    let one = support::request_permit(
        &server,
        &cast.requester,
        &cast.worker_id,
        support::level2_task("api-deploy"),
    )
    .await;

    // Sam (security lead) signs in: the level-3 permit is his to decide.
    let sam = driver.browser("sam").await;
    sam.sign_in(&base, &cast.security).await;
    assert_eq!(sam.path().await, "/");
    let inbox = sam.text("main").await;
    assert!(inbox.contains("Yours to decide (1)"), "{inbox}");
    let card = sam.text(&format!("li[data-permit='{two}']")).await;
    assert!(card.contains("Add a column to orders"), "{card}");
    assert!(card.contains("/50"), "risk score out of 50: {card}");
    assert!(card.contains("Level 3"), "{card}");
    assert!(card.contains("0 of 2"), "{card}");
    assert!(
        card.contains("engineering director"),
        "the required role is named: {card}"
    );
    assert!(card.contains("UTC"), "dates carry their time zone: {card}");
    assert!(card.contains("security_lead"), "{card}");
    // The HttpOnly cookie is invisible to scripts.
    let cookies = sam
        .client
        .execute("return document.cookie", vec![])
        .await
        .expect("script");
    assert_eq!(cookies, json!(""));
    sam.screenshot("inbox").await;

    // Dana (engineering director) watches the same permit from another browser.
    let dana = driver.browser("dana").await;
    dana.sign_in(&base, &cast.director).await;
    dana.goto(&format!("{base}/permits/{two}")).await;
    let before = dana.text("#live-status").await;
    assert!(before.contains("0 of 2"), "{before}");
    // Labels are upper-cased by the stylesheet; compare in lower case.
    let page = dana.page_text().await.to_lowercase();
    assert!(page.contains("risk factors"), "{page}");
    assert!(page.contains("floors applied"), "{page}");
    assert!(
        page.contains("kubectl rollout undo deploy/orders"),
        "the rollback plan is rendered: {page}"
    );
    assert!(page.contains("token budget"), "{page}");
    assert!(
        page.contains("0 of 2 approvers") || page.contains("2 approvers from engineering director"),
        "{page}"
    );
    assert!(page.contains("permit.requested"), "the timeline: {page}");
    dana.screenshot("permit").await;

    // Sam approves; level 3 asks him to re-enter his token (a wrong one first).
    sam.goto(&format!("{base}/permits/{two}")).await;
    sam.fill("#approve-token", &cast.director).await;
    sam.click("#approve-form button[type=submit]").await;
    let refused = sam.text("#error").await;
    assert!(
        refused.contains("not a valid token of the signed-in person"),
        "{refused}"
    );
    sam.fill("#approve-token", &cast.security).await;
    sam.fill("#approve-comment", "schema change reviewed").await;
    sam.click("#approve-form button[type=submit]").await;
    sam.wait_for_text("#live-status", "1 of 2").await;

    // Dana's page shows it without a reload.
    let live = dana.wait_for_text("#live-status", "sam-security").await;
    assert!(live.contains("1 of 2"), "{live}");
    assert!(live.contains("approved as security lead"), "{live}");
    assert!(live.contains("via web"), "{live}");
    dana.fill("#approve-token", &cast.director).await;
    dana.click("#approve-form button[type=submit]").await;
    dana.wait_for_text("#live-status", "active").await;
    let p = support::permit(&server, &cast.admin, &two).await;
    assert_eq!(p["state"], "active");
    assert_eq!(p["approvals"].as_array().map(Vec::len), Some(2));

    // Rita requested it: she may not decide, and the pages say why.
    let rita = driver.browser("rita").await;
    let third = support::request_permit(
        &server,
        &cast.requester,
        &cast.worker_id,
        support::level3_task("orders-index"),
    )
    .await;
    rita.sign_in(&base, &cast.requester).await;
    let row = rita.text(&format!("li[data-permit='{third}']")).await;
    assert!(
        row.contains("Segregation of duties: you requested it."),
        "{row}"
    );
    rita.goto(&format!("{base}/permits/{third}")).await;
    let why = rita.text("#decide").await;
    assert!(
        why.contains("Segregation of duties: you requested it."),
        "{why}"
    );

    // Tess rejects the level-2 permit: not without a reason.
    let tess = driver.browser("tess").await;
    tess.sign_in(&base, &cast.lead).await;
    tess.goto(&format!("{base}/permits/{one}")).await;
    tess.click("#reject-form button[type=submit]").await;
    let refused = tess.text("#error").await;
    assert!(refused.contains("A reason is required"), "{refused}");
    assert_eq!(
        support::permit(&server, &cast.admin, &one).await["state"],
        "under_review"
    );
    tess.fill("#reject-reason", "no load test").await;
    tess.click("#reject-form button[type=submit]").await;
    tess.wait_for_text("#live-status", "rejected").await;
    assert_eq!(
        support::permit(&server, &cast.admin, &one).await["state"],
        "rejected"
    );

    // The live board: the active permit with its error rate against the limit, then its
    // revocation as it happens.
    let resp = reqwest::Client::new()
        .post(format!("{base}/v1/permits/{two}/telemetry"))
        .bearer_auth(&cast.requester)
        .json(&json!({"error_rate": 0.004}))
        .send()
        .await
        .expect("telemetry");
    assert!(resp.status().is_success(), "{:?}", resp.text().await);
    sam.goto(&format!("{base}/board")).await;
    let board = sam.text(&format!("tr[data-permit='{two}']")).await;
    assert!(board.contains("active"), "{board}");
    assert!(
        board.contains("0.4% of 1.0% allowed"),
        "the error rate against its limit: {board}"
    );
    sam.screenshot("board").await;
    dana.goto(&format!("{base}/permits/{two}")).await;
    dana.click("#revoke-form button[type=submit]").await;
    dana.wait_for_text("#live-status", "revoked").await;
    let revoked = sam.wait_for_text("#board", "revoked by").await;
    assert!(revoked.contains(&two), "{revoked}");
    assert!(revoked.contains("manual"), "{revoked}");

    // History finds the expired request, and the rejected one.
    sam.goto(&format!("{base}/history?state=expired")).await;
    let hist = sam.text("table.history").await;
    assert!(hist.contains("Deploy the api (stale)"), "{hist}");
    assert!(!hist.contains("api-deploy"), "{hist}");
    sam.goto(&format!("{base}/history")).await;
    sam.fill("#h-worker", &cast.worker_id).await;
    sam.click("form.search button[type=submit]").await;
    let all = sam.wait_for_text("table.history", "rejected").await;
    for state in ["expired", "rejected", "revoked", "under review"] {
        assert!(all.contains(state), "{state}: {all}");
    }
    sam.screenshot("history").await;

    // Sign-out ends Sam's session.
    sam.click("form[action='/sign-out'] button").await;
    sam.find("#token").await;
    sam.goto(&format!("{base}/")).await;
    sam.find("#token").await;
    assert_eq!(sam.path().await, "/sign-in");
    sam.screenshot("sign-in").await;

    // Revoking Dana's token ends hers.
    revoke_token_of(&server, &cast.admin, "dana-director").await;
    dana.goto(&format!("{base}/")).await;
    dana.find("#token").await;
    assert_eq!(dana.path().await, "/sign-in");

    for b in [sam, dana, rita, tess] {
        b.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_through_one_instance_reaches_a_page_served_by_another_on_postgres() {
    let Some(db) = testing::postgres_store().await else {
        return;
    };
    let Some(driver) = browser::driver().await else {
        return;
    };
    let clock = support::clock();
    let first = support::start(db.store().clone(), clock.clone(), None).await;
    let second_store = steward_store::Store::connect(db.url())
        .await
        .expect("second instance connects");
    let second = support::start(second_store, clock, None).await;
    let cast = support::cast(&first.store).await;
    let id = support::request_permit(
        &first,
        &cast.requester,
        &cast.worker_id,
        support::level3_task("two-instances"),
    )
    .await;

    let dana = driver.browser("dana").await;
    dana.sign_in(&second.url, &cast.director).await;
    dana.goto(&format!("{}/permits/{id}", second.url)).await;
    assert!(dana.text("#live-status").await.contains("0 of 2"));

    let sam = driver.browser("sam").await;
    sam.sign_in(&first.url, &cast.security).await;
    sam.goto(&format!("{}/permits/{id}", first.url)).await;
    sam.fill("#approve-token", &cast.security).await;
    sam.click("#approve-form button[type=submit]").await;
    sam.wait_for_text("#live-status", "1 of 2").await;

    let live = dana.wait_for_text("#live-status", "sam-security").await;
    assert!(live.contains("1 of 2"), "{live}");

    // Dana decides through the second instance; Sam's page on the first follows.
    dana.fill("#approve-token", &cast.director).await;
    dana.click("#approve-form button[type=submit]").await;
    sam.wait_for_text("#live-status", "active").await;
    sam.close().await;
    dana.close().await;
}
