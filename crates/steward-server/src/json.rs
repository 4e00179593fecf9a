//! `ApiJson<T>`: a JSON body extractor whose refusals are problem+json naming the rule and
//! the JSON path (duplicate keys at any depth, a body that is not an object, unknown
//! fields, wrong types, malformed JSON, non-UTF-8, wrong content type, too large).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use steward_policy::strict_json::{self, JsonError, JsonErrorKind, Top};

use crate::error::ApiError;

/// The largest request body accepted, in bytes.
pub const BODY_LIMIT: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                let mime = v.split(';').next().unwrap_or("").trim();
                mime.eq_ignore_ascii_case("application/json") || mime.ends_with("+json")
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(
                "the request body must be JSON (`Content-Type: application/json`)".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge { limit: BODY_LIMIT }
            } else {
                ApiError::BadRequest {
                    message: format!("cannot read the request body: {rejection}"),
                    field: None,
                }
            }
        })?;
        parse(&bytes).map(ApiJson)
    }
}

/// Parses a JSON body strictly (`steward_policy::strict_json`, the same parser the CLI
/// reads task and evidence files with): an object, no duplicate key at any depth, no
/// trailing data; a refusal is 400 with the `rule` (`malformed_json`, `duplicate_key`,
/// `body_not_object`, `invalid_field`) and the JSON path in `field`.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    strict_json::from_slice(bytes, Top::Object).map_err(|e| json_error(e, ""))
}

/// The problem for a refused JSON document; `prefix` places a nested document's paths
/// (`task.`).
pub fn json_error(e: JsonError, prefix: &str) -> ApiError {
    let rule = e.rule();
    let path = format!("{prefix}{}", e.path);
    let path = path.trim_end_matches('.');
    let message = match &e.kind {
        JsonErrorKind::NotUtf8 => format!("the request body is {}", e.message),
        JsonErrorKind::NotObject { got } => {
            format!("the request body must be a JSON object, got {got}")
        }
        _ if path.is_empty() => e.message.clone(),
        _ => format!("`{path}`: {}", e.message),
    };
    let mut problem = ApiError::refused(rule, message);
    if !path.is_empty() {
        problem = problem.with("field", path);
    }
    if let JsonErrorKind::DuplicateKey { key } = e.kind {
        problem = problem.with("key", key);
    }
    problem
}
