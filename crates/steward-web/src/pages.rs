//! The dashboard's pages, their shared layout, and the error page.

use askama::Template;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use steward_policy::Role;
use steward_server::AppState;
use steward_server::auth::Caller;
use steward_store::RunMode;

use crate::assets;
use crate::session::Session;

pub mod audit;
pub mod board;
pub mod emergencies;
pub mod history;
pub mod inbox;
pub mod permit;
pub mod reports;
pub mod sign_in;
pub mod workers;

/// What every page's frame shows: title, who is signed in, the navigation.
#[derive(Debug, Clone)]
pub struct Layout {
    pub title: String,
    /// The signed-in person's name and roles; `None` on the sign-in page.
    pub user: Option<(String, String)>,
    pub csrf: String,
    /// Which navigation entry is current.
    pub nav: &'static str,
    pub css: &'static str,
    pub app_js: &'static str,
    pub htmx: &'static str,
    pub htmx_sse: &'static str,
    /// Navigation entries the person's roles may open (the others would be 403).
    pub may_audit: bool,
    pub may_workers: bool,
    pub may_emergencies: bool,
    pub may_reports: bool,
    /// The instance runs a rehearsal (`serve --rehearsal`): every page shows a banner.
    pub rehearsal: bool,
}

impl Layout {
    pub fn new(title: impl Into<String>, session: Option<&Session>, nav: &'static str) -> Layout {
        let roles = session.map_or(&[][..], |s| &s.caller.principal().roles[..]);
        let holds = |wanted: &[Role]| roles.iter().any(|r| wanted.contains(r));
        let only_worker = roles.iter().all(|r| *r == Role::Worker);
        Layout {
            title: title.into(),
            user: session.map(|s| {
                let p = s.caller.principal();
                (
                    p.name.clone(),
                    p.roles
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                )
            }),
            csrf: session.map(|s| s.csrf.clone()).unwrap_or_default(),
            nav,
            css: assets::CSS,
            app_js: assets::APP_JS,
            htmx: assets::HTMX,
            htmx_sse: assets::HTMX_SSE,
            may_audit: holds(&audit::READERS),
            may_workers: !only_worker,
            may_emergencies: !only_worker,
            may_reports: holds(&reports::REPORT_READERS),
            rehearsal: session.is_some_and(|s| s.run_mode == RunMode::Rehearsal),
        }
    }

    /// The layout of a page without a session (sign-in, errors) on an instance run in
    /// `mode`.
    pub fn in_mode(mut self, mode: RunMode) -> Layout {
        self.rehearsal = mode == RunMode::Rehearsal;
        self
    }

    /// `aria-current` for navigation entry `name`.
    pub fn current(&self, name: &str) -> &'static str {
        if self.nav == name { "page" } else { "false" }
    }
}

/// Renders a template as an HTML response with `status`.
pub fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => WebError::internal(error).into_response(),
    }
}

/// A page that cannot be shown or an action that was refused.
#[derive(Debug)]
pub enum WebError {
    /// No live session: go and sign in.
    SignIn,
    Page {
        status: StatusCode,
        title: &'static str,
        message: String,
    },
}

impl WebError {
    pub fn forbidden(message: impl Into<String>) -> WebError {
        WebError::Page {
            status: StatusCode::FORBIDDEN,
            title: "Not allowed",
            message: message.into(),
        }
    }

    pub fn csrf(message: impl Into<String>) -> WebError {
        WebError::Page {
            status: StatusCode::FORBIDDEN,
            title: "Request refused",
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> WebError {
        WebError::Page {
            status: StatusCode::BAD_REQUEST,
            title: "Bad request",
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> WebError {
        WebError::Page {
            status: StatusCode::NOT_FOUND,
            title: "Not found",
            message: message.into(),
        }
    }

    /// A failure of Steward itself: logged, never shown.
    pub fn internal(error: impl std::fmt::Display) -> WebError {
        tracing::error!(%error, "dashboard: internal error");
        WebError::Page {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            title: "Something went wrong",
            message: "Steward could not show this page. The cause is in the server's log."
                .to_owned(),
        }
    }

    /// An API error (from a helper of the JSON routes) as a page.
    pub fn api(error: steward_server::ApiError) -> WebError {
        let status = error.status();
        if status.is_server_error() {
            return WebError::internal(error);
        }
        WebError::Page {
            status,
            title: match status {
                StatusCode::NOT_FOUND => "Not found",
                StatusCode::FORBIDDEN => "Not allowed",
                _ => "Refused",
            },
            message: error.to_string(),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    message: String,
    status: u16,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            WebError::SignIn => {
                let mut r = Redirect::to("/sign-in").into_response();
                r.headers_mut()
                    .insert(header::CACHE_CONTROL, "no-store".parse().expect("static"));
                r
            }
            WebError::Page {
                status,
                title,
                message,
            } => {
                let shown = ShownError { title, message };
                let mut response = match shown.page(RunMode::Production, status).render() {
                    Ok(html) => (status, Html(html)).into_response(),
                    Err(_) => (status, title).into_response(),
                };
                // The error page has no state here; `error_pages_in_mode` renders it again
                // with the rehearsal banner when the instance runs one.
                response.extensions_mut().insert(shown);
                response
            }
        }
    }
}

/// What an error page shows, kept on its response for [`error_pages_in_mode`].
#[derive(Debug, Clone)]
struct ShownError {
    title: &'static str,
    message: String,
}

impl ShownError {
    fn page(&self, mode: RunMode, status: StatusCode) -> ErrorPage {
        ErrorPage {
            layout: Layout::new(self.title, None, "").in_mode(mode),
            message: self.message.clone(),
            status: status.as_u16(),
        }
    }
}

/// Middleware: on an instance run as a rehearsal, error pages (rendered where no state is
/// at hand) are rendered again with the rehearsal banner, so every page carries it.
pub async fn error_pages_in_mode(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let mode = state.run_mode();
    if mode == RunMode::Rehearsal
        && let Some(shown) = response.extensions().get::<ShownError>().cloned()
        && let Ok(html) = shown.page(mode, response.status()).render()
    {
        *response.body_mut() = Body::from(html);
    }
    response
}

/// Refuses with a 403 page unless the caller holds one of `roles` (the API's coarse role
/// check, same message).
pub fn require_any(caller: &Caller, roles: &[Role], action: &str) -> Result<(), WebError> {
    caller.require_any(roles, action).map_err(WebError::api)
}

/// The worker a principal whose only role is `worker` is limited to, as in the API.
pub async fn own_worker_only(
    state: &AppState,
    caller: &Caller,
) -> Result<Option<String>, WebError> {
    steward_server::routes::permits::own_worker_only(state, caller)
        .await
        .map_err(WebError::api)
}

/// Principals' names by id, read once per page.
#[derive(Debug, Default)]
pub struct Names(std::collections::HashMap<String, String>);

impl Names {
    /// The name of principal `id` (its id when it has none: erased, or the system).
    pub async fn of(&mut self, state: &AppState, id: &str) -> String {
        if let Some(name) = self.0.get(id) {
            return name.clone();
        }
        let name = match state.store.principal_by_id(id).await {
            Ok(p) => p.name,
            Err(_) => id.to_owned(),
        };
        self.0.insert(id.to_owned(), name.clone());
        name
    }
}

/// Now, on the instance's clock.
pub fn now(state: &AppState) -> i64 {
    state.clock.now().millis()
}

/// A `YYYY-MM-DD` (UTC) form field as Unix milliseconds: its midnight, or the next
/// midnight when `end` (so the day is included); `None` when empty.
pub fn day_ms(field: &str, text: &str, end: bool) -> Result<Option<i64>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let d = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| format!("`{field}`: expected a date like 2026-12-06, got `{text}`"))?;
    let d = if end { d.succ_opt().unwrap_or(d) } else { d };
    Ok(d.and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp_millis()))
}
