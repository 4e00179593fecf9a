//! `ApiQuery<T>` and `ApiPath<T>`: axum's query-string and path extractors with refusals
//! rendered as problem+json naming the rule and the parameter (axum's own answer is
//! `text/plain`).

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use steward_policy::Refusal;

use crate::error::ApiError;

/// The query string, deserialized strictly (`deny_unknown_fields` on `T` refuses unknown
/// parameters; a repeated parameter is refused); a refusal is 400 `invalid_query`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(ApiQuery)
            .map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                if path == "." {
                    ApiError::refused(Refusal::InvalidQuery, format!("bad query string: {inner}"))
                } else {
                    ApiError::refused(
                        Refusal::InvalidQuery,
                        format!("query parameter `{path}`: {inner}"),
                    )
                    .with("field", path)
                }
            })
    }
}

/// Path parameters; a refusal (a segment that is not valid percent-encoded UTF-8, or not
/// of the parameter's type) is 400 `invalid_path_parameter`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(rejection) if rejection.status().is_client_error() => Err(ApiError::refused(
                Refusal::InvalidPathParameter,
                format!("bad path parameter: {}", rejection.body_text()),
            )),
            Err(rejection) => Err(ApiError::internal(rejection)),
        }
    }
}
