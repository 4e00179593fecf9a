//! Bearer-token authentication and role checks. Every `/v1` handler takes a `Caller`, so
//! an unauthenticated request never reaches one. Failed authentications count against
//! the peer address's rate limit, and an address past it is answered 429 before its
//! token is looked up (see `limits`).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
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

    /// The caller of a store use case, through the JSON API.
    pub fn by(&self) -> steward_store::Caller {
        self.0.principal.caller()
    }

    /// The caller of a store use case acting through `channel` (the dashboard, the MCP
    /// server, a hook; `None`: the JSON API): every event the use case appends records
    /// it as `data.channel`.
    pub fn by_via(&self, channel: Option<Channel>) -> steward_store::Caller {
        steward_store::Caller {
            channel,
            ..self.by()
        }
    }

    /// The caller as an audit actor.
    pub fn actor(&self) -> Actor {
        self.by().into_actor()
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
        // The peer address, when the server was started with it (`serve`): without it
        // (a router driven in-process) failures are not counted.
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        if let Some(ip) = peer {
            state.limits.check_address(ip)?;
        }
        let header = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            ApiError::Unauthorized("missing `Authorization: Bearer <token>` header".into())
        })?;
        authenticate(header, state)
            .await
            .map_err(|failure| match peer {
                Some(ip) if failure.status() == StatusCode::UNAUTHORIZED => {
                    state.limits.auth_failed(ip, failure)
                }
                _ => failure,
            })
    }
}

/// Authenticates the value of an `Authorization` header.
async fn authenticate(header: &HeaderValue, state: &AppState) -> Result<Caller, ApiError> {
    let value = header
        .to_str()
        .map_err(|_| ApiError::Unauthorized("malformed `Authorization` header".into()))?;
    let secret = bearer_secret(value).ok_or_else(|| {
        ApiError::Unauthorized("malformed `Authorization` header: expected `Bearer <token>`".into())
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

/// The token of an `Authorization: Bearer <token>` value. The scheme is case-insensitive
/// (RFC 9110 §11.1): `bearer`, `BEARER` and `Bearer` are one scheme.
fn bearer_secret(value: &str) -> Option<&str> {
    let (scheme, secret) = value.trim_start().split_once([' ', '\t'])?;
    let secret = secret.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !secret.is_empty()).then_some(secret)
}
