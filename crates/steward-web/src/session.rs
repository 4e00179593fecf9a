//! Sign-in sessions, CSRF and origin checks.
//!
//! A person signs in with an API token. The server checks it once, opens a session bound
//! to that token ([`Store::open_web_session`]) and hands the browser a random session
//! secret in an `HttpOnly`, `SameSite=Strict` cookie (`Secure` when the public URL is
//! https). The token never reaches the browser's storage; the database holds only the
//! secret's SHA-256. Every request re-reads the session with its token and principal
//! ([`Store::web_session`]): a revoked token or a disabled principal ends it at once.
//!
//! CSRF: the synchronizer token is derived from the session secret (SHA-256 under a
//! label), so it is bound to the session without being stored; every form carries it in
//! `_csrf` and htmx sends it as `X-CSRF-Token`. [`Posted`] checks it, with `Origin` and
//! `Sec-Fetch-Site`, before a handler runs.
//!
//! [`Store::open_web_session`]: steward_store::Store::open_web_session
//! [`Store::web_session`]: steward_store::Store::web_session

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use rand::RngCore;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use steward_server::AppState;
use steward_server::auth::Caller;
use steward_store::{AuthenticatedPrincipal, Channel, RunMode};

use crate::pages::WebError;

/// The largest form the dashboard reads.
const FORM_LIMIT: usize = 64 * 1024;

/// The session cookie's name.
pub const COOKIE: &str = "steward_session";

/// A session ends after this long without a request.
pub const IDLE_MS: i64 = 30 * 60 * 1000;

/// A session ends this long after sign-in, however busy.
pub const ABSOLUTE_MS: i64 = 12 * 60 * 60 * 1000;

/// The signed-in person making a request.
#[derive(Debug, Clone)]
pub struct Session {
    pub caller: Caller,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
    /// How the instance runs; every page of a rehearsal says so.
    pub run_mode: RunMode,
    id_hash: [u8; 32],
}

impl Session {
    /// The session's principal as the caller of a use case, acting through the
    /// dashboard.
    pub fn by(&self) -> steward_store::Caller {
        self.caller.by_via(Some(Channel::Web))
    }

    pub fn id_hash(&self) -> &[u8; 32] {
        &self.id_hash
    }

    /// Step-up: the person re-entered a token; it must be a live token of the same
    /// principal. Refused with a message otherwise (nothing happens).
    pub async fn step_up(&self, state: &AppState, token: Option<&str>) -> Result<(), WebError> {
        let token = token
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                WebError::forbidden(
                    "This action asks you to confirm who you are: enter your API token again.",
                )
            })?;
        match state
            .store
            .authenticate(token)
            .await
            .map_err(WebError::internal)?
        {
            Some(p) if p.principal.id == self.caller.id() => Ok(()),
            _ => Err(WebError::forbidden(
                "The token you re-entered is not a valid token of the signed-in person.",
            )),
        }
    }
}

/// A fresh session secret (32 random bytes, hex) and its stored hash.
pub fn new_secret() -> (String, [u8; 32]) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
    let hash = hash_secret(&secret);
    (secret, hash)
}

pub fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The CSRF token of the session whose secret is `secret`.
pub fn csrf_token(secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"steward-web-csrf\0");
    h.update(secret.as_bytes());
    hex::encode(h.finalize())
}

/// The session cookie for `secret`; `secure` when the dashboard is served over https.
pub fn cookie(secret: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        ABSOLUTE_MS / 1000,
        if secure { "; Secure" } else { "" }
    )
}

/// The header that removes the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Whether cookies must be `Secure`: the public URL is https.
pub fn secure(state: &AppState) -> bool {
    state.public_url.starts_with("https://")
}

/// The session secret in the request's cookies, if any.
pub fn secret_from(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl FromRequestParts<AppState> for Session {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Session, WebError> {
        let Some(secret) = secret_from(&parts.headers) else {
            return Err(WebError::SignIn);
        };
        let id_hash = hash_secret(&secret);
        let now = state.clock.now().millis();
        match state
            .store
            .web_session(&id_hash, now, IDLE_MS)
            .await
            .map_err(WebError::internal)?
        {
            Some(s) => Ok(Session {
                caller: Caller(AuthenticatedPrincipal {
                    token_id: s.token_id,
                    principal: s.principal,
                }),
                csrf: csrf_token(&secret),
                run_mode: state.run_mode(),
                id_hash,
            }),
            None => Err(WebError::SignIn),
        }
    }
}

/// Refuses a state-changing request from another site: `Sec-Fetch-Site` must say
/// `same-origin` and `Origin` must be this server, whenever the browser sends them.
pub fn check_origin(headers: &HeaderMap, state: &AppState) -> Result<(), WebError> {
    if let Some(site) = headers.get("sec-fetch-site")
        && site.as_bytes() != b"same-origin"
    {
        return Err(WebError::csrf("the request came from another site"));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let authority = origin.split_once("://").map(|(_, a)| a).unwrap_or_default();
        let same = origin == &*state.public_url || (!host.is_empty() && authority == host);
        if !same {
            return Err(WebError::csrf("the request's Origin is not this server"));
        }
    }
    Ok(())
}

/// A state-changing form post from a signed-in person: the session, origin checked, the
/// CSRF token checked, and the form as `T`.
#[derive(Debug)]
pub struct Posted<T> {
    pub session: Session,
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for Posted<T> {
    type Rejection = WebError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, WebError> {
        let (mut parts, body) = request.into_parts();
        if parts.method != Method::POST {
            return Err(WebError::csrf("only POST changes anything"));
        }
        check_origin(&parts.headers, state)?;
        let session = Session::from_request_parts(&mut parts, state).await?;
        let bytes = axum::body::to_bytes(body, FORM_LIMIT)
            .await
            .map_err(|_| WebError::bad_request("the form could not be read"))?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|_| WebError::bad_request("the form could not be read"))?;
        let sent = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| {
                pairs
                    .iter()
                    .find(|(k, _)| k == "_csrf")
                    .map(|(_, v)| v.clone())
            });
        if !sent.is_some_and(|t| constant_time_eq(t.as_bytes(), session.csrf.as_bytes())) {
            return Err(WebError::csrf(
                "the form's CSRF token is missing or wrong; reload the page and try again",
            ));
        }
        let fields: Vec<(String, String)> =
            pairs.into_iter().filter(|(k, _)| k != "_csrf").collect();
        let encoded = serde_urlencoded::to_string(&fields)
            .map_err(|_| WebError::bad_request("the form could not be read"))?;
        let form = serde_urlencoded::from_str::<T>(&encoded)
            .map_err(|e| WebError::bad_request(format!("the form is not valid: {e}")))?;
        Ok(Posted { session, form })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
