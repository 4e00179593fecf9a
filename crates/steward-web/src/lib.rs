//! Steward's dashboard: server-rendered pages for the people who decide and the people
//! who check, served by the same axum server as `/v1` ([`app`] merges both).
//!
//! # Layout
//!
//! - `session`: sign-in with an API token, the session cookie, the [`session::Session`]
//!   extractor (one indexed read per request), CSRF tokens and origin checks.
//! - `security`: the response headers every page carries (strict CSP, no framing).
//! - `assets`: htmx, its SSE extension, the stylesheet and the page script, embedded in
//!   the binary and served with long cache lifetimes.
//! - `view`: human dates (with the time zone) and durations in words.
//! - `svg`: server-rendered SVG bar charts (title, desc, no script) for the reports page.
//! - `pages`: one module per page; each action calls the same `Store` use case as the
//!   JSON route, audited as `Session::by` (the caller through `Channel::Web`).
//!
//! # Invariants
//!
//! - Every page and action takes a [`session::Session`]: no anonymous request reaches
//!   one. The session dies with its token or principal (checked on every request).
//! - Every state-changing request carries the session's CSRF token (hidden field or
//!   `X-CSRF-Token` header) and, when the browser sends them, a same-origin `Origin` and
//!   `Sec-Fetch-Site`; otherwise it is refused with 403 before anything runs.
//! - The acting principal is always the session's; no form field names an actor.
//! - No page re-checks a rule the use case checks: a refusal from the use case is shown
//!   to the person as its message.

pub mod assets;
pub mod live;
pub mod pages;
pub mod security;
pub mod session;
pub mod svg;
pub mod view;

use axum::Router;
use axum::middleware;
use axum::routing::{get, post};
use steward_server::AppState;

/// The dashboard's routes (without `/v1`).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(pages::inbox::inbox))
        .route("/inbox", get(pages::inbox::inbox))
        .route(
            "/sign-in",
            get(pages::sign_in::form).post(pages::sign_in::sign_in),
        )
        .route("/sign-out", post(pages::sign_in::sign_out))
        .route("/permits/{id}", get(pages::permit::show))
        .route("/permits/{id}/live", get(pages::permit::live))
        .route("/permits/{id}/decide", post(pages::permit::decide))
        .route(
            "/permits/{id}/cab-signoff",
            post(pages::permit::cab_signoff),
        )
        .route("/permits/{id}/revoke", post(pages::permit::revoke))
        .route("/board", get(pages::board::board))
        .route("/board/live", get(pages::board::live))
        .route("/history", get(pages::history::history))
        .route("/audit", get(pages::audit::search))
        .route("/audit/verify", get(pages::audit::verify))
        .route("/audit/export", get(pages::audit::download))
        .route("/audit/events/{seq}", get(pages::audit::event))
        .route("/workers", get(pages::workers::list))
        .route("/workers/{id}", get(pages::workers::show))
        .route("/workers/{id}/{action}", post(pages::workers::act))
        .route(
            "/emergencies",
            get(pages::emergencies::list).post(pages::emergencies::declare),
        )
        .route("/emergencies/{id}", get(pages::emergencies::show))
        .route("/emergencies/{id}/{action}", post(pages::emergencies::act))
        .route("/reports", get(pages::reports::reports))
        .route("/reports/compliance", get(pages::reports::download))
        .route("/static/{name}", get(assets::serve))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            pages::error_pages_in_mode,
        ))
        .layer(middleware::from_fn(security::headers))
        .with_state(state)
}

/// The whole application: the JSON API and the dashboard on one router.
pub fn app(state: AppState) -> Router {
    steward_server::router(state.clone()).merge(router(state))
}
