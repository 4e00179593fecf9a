//! Bearer-token authentication and role checks. Every `/v1` handler takes a `Caller`, so
//! an unauthenticated request never reaches one.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use steward_policy::Role;
use steward_store::{Actor, AuthenticatedPrincipal, Channel, Principal};

use crate::error::ApiError;
use crate::state::AppState;

/// The authenticated principal making a request.
#[derive(Debug, Clone)]
pub struct Caller(pub AuthenticatedPrincipal);

impl Caller {
    pub fn id(&self) -> &str {
        &self.0.principal.id
    }

    pub fn principal(&self) -> &Principal {
        &self.0.principal
    }

    /// The caller as an audit actor.
    pub fn actor(&self) -> Actor {
        self.0.principal.actor()
    }

    /// The caller as an audit actor acting through `channel` (the dashboard, the MCP
    /// server, a hook): every event the use case appends records it as `data.channel`.
    pub fn actor_via(&self, channel: Channel) -> Actor {
        Actor {
            channel: Some(channel),
            ..self.actor()
        }
    }

    pub fn has(&self, role: Role) -> bool {
        self.0.principal.has_role(role)
    }

    /// Refuses with 403 unless the caller holds one of `roles`.
    pub fn require_any(&self, roles: &[Role], action: &str) -> Result<(), ApiError> {
        if roles.iter().any(|r| self.has(*r)) {
            return Ok(());
        }
        let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        Err(ApiError::Forbidden(format!(
            "{action} needs one of the roles {}; `{}` holds {}",
            names.join(", "),
            self.0.principal.name,
            if self.0.principal.roles.is_empty() {
                "none".to_owned()
            } else {
                self.0
                    .principal
                    .roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        )))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            ApiError::Unauthorized("missing `Authorization: Bearer <token>` header".into())
        })?;
        let value = header
            .to_str()
            .map_err(|_| ApiError::Unauthorized("malformed `Authorization` header".into()))?;
        let secret = bearer_secret(value).ok_or_else(|| {
            ApiError::Unauthorized(
                "malformed `Authorization` header: expected `Bearer <token>`".into(),
            )
        })?;
        match state
            .store
            .authenticate(secret)
            .await
            .map_err(ApiError::internal)?
        {
            Some(principal) => Ok(Caller(principal)),
            None => Err(ApiError::Unauthorized(
                "the token is unknown, expired or revoked".into(),
            )),
        }
    }
}

/// The token of an `Authorization: Bearer <token>` value. The scheme is case-insensitive
/// (RFC 9110 §11.1): `bearer`, `BEARER` and `Bearer` are one scheme.
fn bearer_secret(value: &str) -> Option<&str> {
    let (scheme, secret) = value.trim_start().split_once([' ', '\t'])?;
    let secret = secret.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !secret.is_empty()).then_some(secret)
}
