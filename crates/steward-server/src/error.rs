//! `ApiError`: every failure the API reports, rendered as RFC 9457 problem+json.
//!
//! 4xx responses carry the message. 5xx responses say only "internal error"; the real
//! error rides along as a response extension that the logging middleware records, so
//! nothing is logged here (conversions have no side effects).

use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{message}")]
    BadRequest {
        message: String,
        /// The JSON path or parameter at fault, when there is one.
        field: Option<String>,
    },
    /// Well-formed but refused by a rule (missing evidence, segregation of duties…).
    #[error("{message}")]
    Unprocessable {
        message: String,
        rule: &'static str,
        extra: Map<String, Value>,
    },
    /// The resource is not in a state that allows the action.
    #[error("{message}")]
    Conflict {
        message: String,
        extra: Map<String, Value>,
    },
    /// Refused by a named rule with a given status (403 segregation of duties, 409 an
    /// illegal transition, …); `extra` members join the problem document.
    #[error("{message}")]
    Refused {
        status: StatusCode,
        rule: &'static str,
        message: String,
        extra: Map<String, Value>,
    },
    /// A rate limit (see `limits`): 429 with `Retry-After`, rule `rate_limited`.
    #[error("{message}")]
    TooManyRequests {
        message: String,
        /// Which limit: `auth_failures`, `token_creation` or `authorize`.
        limit: &'static str,
        retry_after_s: u64,
    },
    #[error("request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("internal error")]
    Internal(#[source] Arc<dyn std::error::Error + Send + Sync>),
}

/// The real cause of a 5xx, attached to the response for the logging middleware.
#[derive(Debug, Clone)]
pub struct InternalCause(pub Arc<dyn std::error::Error + Send + Sync>);

impl ApiError {
    pub fn bad_request(message: impl Into<String>, field: impl Into<String>) -> ApiError {
        ApiError::BadRequest {
            message: message.into(),
            field: Some(field.into()),
        }
    }

    pub fn unprocessable(rule: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::Unprocessable {
            message: message.into(),
            rule,
            extra: Map::new(),
        }
    }

    pub fn refused(status: StatusCode, rule: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::Refused {
            status,
            rule,
            message: message.into(),
            extra: Map::new(),
        }
    }

    /// The problem for an approver the rules refused: 403 for roles and segregation of
    /// duties, 409 for a second vote by the same person. Shared by permits and promotions.
    pub fn approval_refused(
        refusal: &steward_permits::ApprovalRefusal,
        message: String,
    ) -> ApiError {
        use steward_permits::ApprovalRefusal as R;
        match refusal {
            R::Requester { .. } | R::WorkerOwner { .. } | R::Executor { .. } => {
                ApiError::refused(StatusCode::FORBIDDEN, "segregation_of_duties", message)
            }
            R::AlreadyApproved { .. } => {
                ApiError::refused(StatusCode::CONFLICT, "one_vote_per_person", message)
            }
            R::NotHuman { .. } | R::RoleNotHeld { .. } | R::RoleNotEligible { .. } => {
                ApiError::refused(StatusCode::FORBIDDEN, "role_not_eligible", message)
            }
        }
    }

    pub fn internal(err: impl std::error::Error + Send + Sync + 'static) -> ApiError {
        ApiError::Internal(Arc::new(err))
    }

    /// Adds a member to the problem document (`missing`, `current_state`, …).
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> ApiError {
        match &mut self {
            ApiError::Unprocessable { extra, .. }
            | ApiError::Conflict { extra, .. }
            | ApiError::Refused { extra, .. } => {
                extra.insert(key.to_owned(), value.into());
            }
            _ => {}
        }
        self
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Refused { status, .. } => *status,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn slug(&self) -> &'static str {
        match self {
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not-found",
            ApiError::BadRequest { .. } => "invalid-request",
            ApiError::Unprocessable { .. } => "rule-violation",
            ApiError::Conflict { .. } => "conflict",
            ApiError::Refused { status, .. } => match status.as_u16() {
                400 => "invalid-request",
                403 => "forbidden",
                404 => "not-found",
                405 => "method-not-allowed",
                409 => "conflict",
                413 => "payload-too-large",
                415 => "unsupported-media-type",
                _ => "rule-violation",
            },
            ApiError::TooManyRequests { .. } => "rate-limited",
            ApiError::PayloadTooLarge { .. } => "payload-too-large",
            ApiError::UnsupportedMediaType(_) => "unsupported-media-type",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The rule a 4xx names (every problem below 500 has one); the variants that carry no
    /// rule of their own name their kind.
    pub fn rule(&self) -> Option<&'static str> {
        match self {
            ApiError::Unauthorized(_) => Some("authentication_required"),
            ApiError::Forbidden(_) => Some("role_required"),
            ApiError::NotFound(_) => Some("not_found"),
            ApiError::BadRequest { .. } => Some("invalid_request"),
            ApiError::Unprocessable { rule, .. } | ApiError::Refused { rule, .. } => Some(rule),
            ApiError::Conflict { .. } => Some("conflict"),
            ApiError::TooManyRequests { .. } => Some("rate_limited"),
            ApiError::PayloadTooLarge { .. } => Some("body_too_large"),
            ApiError::UnsupportedMediaType(_) => Some("json_required"),
            ApiError::Internal(_) => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut body = Map::new();
        body.insert(
            "type".into(),
            json!(format!("urn:steward:problem:{}", self.slug())),
        );
        body.insert(
            "title".into(),
            json!(status.canonical_reason().unwrap_or("error")),
        );
        body.insert("status".into(), json!(status.as_u16()));
        body.insert("detail".into(), json!(self.to_string()));
        if let Some(rule) = self.rule() {
            body.insert("rule".into(), json!(rule));
        }
        let mut cause = None;
        let mut retry_after = None;
        match self {
            ApiError::BadRequest {
                field: Some(field), ..
            } => {
                body.insert("field".into(), json!(field));
            }
            ApiError::Unprocessable { extra, .. }
            | ApiError::Conflict { extra, .. }
            | ApiError::Refused { extra, .. } => body.extend(extra),
            ApiError::TooManyRequests {
                limit,
                retry_after_s,
                ..
            } => {
                body.insert("limit".into(), json!(limit));
                body.insert("retry_after_s".into(), json!(retry_after_s));
                retry_after = Some(HeaderValue::from(retry_after_s));
            }
            ApiError::Internal(err) => cause = Some(InternalCause(err)),
            _ => {}
        }
        let mut response = (status, axum::Json(Value::Object(body))).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"steward\""),
            );
        }
        if let Some(retry_after) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after);
        }
        if let Some(cause) = cause {
            response.extensions_mut().insert(cause);
        }
        response
    }
}
