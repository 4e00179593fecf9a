//! `ApiError`: every failure the API reports, rendered as RFC 9457 problem+json.
//!
//! 4xx responses carry the message. 5xx responses say only "internal error"; the real
//! error rides along as a response extension that the logging middleware records, so
//! nothing is logged here (conversions have no side effects).

use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use steward_policy::Refusal;

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
    /// The resource is not in a state that allows the action.
    #[error("{message}")]
    Conflict {
        message: String,
        extra: Map<String, Value>,
    },
    /// Refused by a named rule, answered with the rule's status from the one table
    /// ([`Refusal::status`]: 403 segregation of duties, 409 an illegal transition, 422
    /// missing evidence, …); `extra` members join the problem document.
    #[error("{message}")]
    Refused {
        rule: Refusal,
        message: String,
        extra: Map<String, Value>,
    },
    /// A 4xx produced below the handlers (axum, tower) with a status no rule of the table
    /// answers with: kept as it came, named [`Refusal::ClientError`].
    #[error("{message}")]
    Rewritten { status: StatusCode, message: String },
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

    /// Refused by `rule`, answered with the rule's status.
    pub fn refused(rule: Refusal, message: impl Into<String>) -> ApiError {
        ApiError::Refused {
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
                ApiError::refused(Refusal::SegregationOfDuties, message)
            }
            R::AlreadyApproved { .. } => ApiError::refused(Refusal::OneVotePerPerson, message),
            R::NotHuman { .. } | R::RoleNotHeld { .. } | R::RoleNotEligible { .. } => {
                ApiError::refused(Refusal::RoleNotEligible, message)
            }
        }
    }

    pub fn internal(err: impl std::error::Error + Send + Sync + 'static) -> ApiError {
        ApiError::Internal(Arc::new(err))
    }

    /// Adds a member to the problem document (`missing`, `current_state`, …).
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> ApiError {
        match &mut self {
            ApiError::Conflict { extra, .. } | ApiError::Refused { extra, .. } => {
                extra.insert(key.to_owned(), value.into());
            }
            _ => {}
        }
        self
    }

    pub fn status(&self) -> StatusCode {
        match (self, self.rule()) {
            (ApiError::Rewritten { status, .. }, _) => *status,
            (_, Some(rule)) => {
                StatusCode::from_u16(rule.status()).unwrap_or(StatusCode::BAD_REQUEST)
            }
            (_, None) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn slug(&self) -> &'static str {
        match self.status().as_u16() {
            400 => "invalid-request",
            401 => "unauthorized",
            403 => "forbidden",
            404 => "not-found",
            405 => "method-not-allowed",
            409 => "conflict",
            413 => "payload-too-large",
            415 => "unsupported-media-type",
            429 => "rate-limited",
            500.. => "internal",
            _ => "rule-violation",
        }
    }

    /// The rule a 4xx names (every problem below 500 has one, and its status is the
    /// rule's); the variants that carry no rule of their own name their kind.
    pub fn rule(&self) -> Option<Refusal> {
        match self {
            ApiError::Unauthorized(_) => Some(Refusal::AuthenticationRequired),
            ApiError::Forbidden(_) => Some(Refusal::RoleRequired),
            ApiError::NotFound(_) => Some(Refusal::NotFound),
            ApiError::BadRequest { .. } => Some(Refusal::InvalidRequest),
            ApiError::Refused { rule, .. } => Some(*rule),
            ApiError::Rewritten { .. } => Some(Refusal::ClientError),
            ApiError::Conflict { .. } => Some(Refusal::Conflict),
            ApiError::TooManyRequests { .. } => Some(Refusal::RateLimited),
            ApiError::PayloadTooLarge { .. } => Some(Refusal::BodyTooLarge),
            ApiError::UnsupportedMediaType(_) => Some(Refusal::JsonRequired),
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
            body.insert("rule".into(), json!(rule.code()));
        }
        let mut cause = None;
        let mut retry_after = None;
        match self {
            ApiError::BadRequest {
                field: Some(field), ..
            } => {
                body.insert("field".into(), json!(field));
            }
            ApiError::Conflict { extra, .. } | ApiError::Refused { extra, .. } => {
                body.extend(extra)
            }
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
