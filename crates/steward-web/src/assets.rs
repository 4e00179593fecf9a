//! Static assets, embedded in the binary: the dashboard works offline and needs no CDN.
//! Names carry a version, so they are served as immutable for a year.
//!
//! htmx 2.0.4 and its SSE extension 2.2.4 come unmodified from the npm registry
//! (`htmx.org`, `htmx-ext-sse`); their licenses sit beside them in `static/`.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The stylesheet's URL (versioned by hand when it changes).
pub const CSS: &str = "/static/steward-4.css";
/// The page script: countdowns and the CSRF header for htmx.
pub const APP_JS: &str = "/static/steward-3.js";
pub const HTMX: &str = "/static/htmx-2.0.4.min.js";
pub const HTMX_SSE: &str = "/static/htmx-ext-sse-2.2.4.min.js";

const FILES: &[(&str, &str, &[u8])] = &[
    (
        "steward-4.css",
        "text/css; charset=utf-8",
        include_bytes!("../static/steward.css"),
    ),
    (
        "steward-3.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../static/steward.js"),
    ),
    (
        "htmx-2.0.4.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../static/htmx-2.0.4.min.js"),
    ),
    (
        "htmx-ext-sse-2.2.4.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../static/htmx-ext-sse-2.2.4.min.js"),
    ),
    (
        "htmx-LICENSE.txt",
        "text/plain; charset=utf-8",
        include_bytes!("../static/htmx-LICENSE.txt"),
    ),
    (
        "htmx-ext-sse-LICENSE.txt",
        "text/plain; charset=utf-8",
        include_bytes!("../static/htmx-ext-sse-LICENSE.txt"),
    ),
];

pub async fn serve(Path(name): Path<String>) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, kind, body)) => (
            [
                (header::CONTENT_TYPE, *kind),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
