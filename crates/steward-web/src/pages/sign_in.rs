//! Sign-in with an API token, and sign-out.

use std::net::SocketAddr;

use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use steward_server::AppState;
use steward_server::auth::Caller;
use steward_server::error::ApiError;
use steward_store::{Channel, NewWebSession, WebSessionEnd};

use super::{Layout, WebError, now, render};
use crate::session::{self, Posted, Session};

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    layout: Layout,
    error: Option<String>,
}

/// The sign-in form; a person already signed in goes to the inbox.
pub async fn form(State(state): State<AppState>, session: Result<Session, WebError>) -> Response {
    if session.is_ok() {
        return Redirect::to("/").into_response();
    }
    render(
        StatusCode::OK,
        &SignInPage {
            layout: Layout::new("Sign in", None, "").in_mode(state.run_mode()),
            error: None,
        },
    )
}

/// The sign-in page answering 429 (with the API's `Retry-After`) to an address past its
/// failed-authentication limit.
fn too_many(state: &AppState, refused: ApiError) -> Response {
    let message = format!("Too many failed sign-ins from this address. {refused}");
    let retry_after = refused
        .into_response()
        .headers()
        .get(header::RETRY_AFTER)
        .cloned();
    let mut response = render(
        StatusCode::TOO_MANY_REQUESTS,
        &SignInPage {
            layout: Layout::new("Sign in", None, "").in_mode(state.run_mode()),
            error: Some(message),
        },
    );
    if let Some(value) = retry_after {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    token: String,
}

/// Checks the token and opens a session bound to it.
pub async fn sign_in(
    State(state): State<AppState>,
    extensions: Extensions,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, WebError> {
    session::check_origin(&headers, &state)?;
    // The API's failed-authentication limit covers this form too: a token guessed here
    // counts against the address like a bad bearer token, and an address past the limit
    // is refused before its token is looked up.
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    if let Some(ip) = peer
        && let Err(refused) = state.limits.check_address(ip)
    {
        return Ok(too_many(&state, refused));
    }
    let Some(principal) = state
        .store
        .authenticate(form.token.trim())
        .await
        .map_err(WebError::internal)?
    else {
        if let Some(ip) = peer {
            let failure = ApiError::Unauthorized("unknown token".into());
            let refused = state.limits.auth_failed(ip, failure);
            if refused.status() == StatusCode::TOO_MANY_REQUESTS {
                return Ok(too_many(&state, refused));
            }
        }
        return Ok(render(
            StatusCode::UNAUTHORIZED,
            &SignInPage {
                layout: Layout::new("Sign in", None, "").in_mode(state.run_mode()),
                error: Some("That token is unknown, expired or revoked.".to_owned()),
            },
        ));
    };
    let caller = Caller(principal);
    let (secret, id_hash) = session::new_secret();
    let now = now(&state);
    state
        .store
        .open_web_session(
            &caller.by_via(Some(Channel::Web)),
            NewWebSession {
                id_hash,
                principal_id: caller.id().to_owned(),
                token_id: caller.0.token_id.clone(),
                now_ms: now,
                expires_at_ms: now + session::ABSOLUTE_MS,
            },
        )
        .await
        .map_err(WebError::internal)?;
    let mut response = Redirect::to("/").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session::cookie(&secret, session::secure(&state))
            .parse()
            .map_err(WebError::internal)?,
    );
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub struct NoFields {}

/// Ends the session and clears the cookie.
pub async fn sign_out(
    State(state): State<AppState>,
    posted: Posted<NoFields>,
) -> Result<Response, WebError> {
    let session = posted.session;
    state
        .store
        .end_web_session(
            &session.by(),
            session.id_hash(),
            WebSessionEnd::SignedOut,
            now(&state),
        )
        .await
        .map_err(WebError::internal)?;
    let mut response = Redirect::to("/sign-in").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session::clear_cookie(session::secure(&state))
            .parse()
            .map_err(WebError::internal)?,
    );
    Ok(response)
}
