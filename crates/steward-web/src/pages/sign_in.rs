//! Sign-in with an API token, and sign-out.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use steward_server::AppState;
use steward_server::auth::Caller;
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
pub async fn form(session: Result<Session, WebError>) -> Response {
    if session.is_ok() {
        return Redirect::to("/").into_response();
    }
    render(
        StatusCode::OK,
        &SignInPage {
            layout: Layout::new("Sign in", None, ""),
            error: None,
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    token: String,
}

/// Checks the token and opens a session bound to it.
pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, WebError> {
    session::check_origin(&headers, &state)?;
    let Some(principal) = state
        .store
        .authenticate(form.token.trim())
        .await
        .map_err(WebError::internal)?
    else {
        return Ok(render(
            StatusCode::UNAUTHORIZED,
            &SignInPage {
                layout: Layout::new("Sign in", None, ""),
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
            &caller.actor_via(Channel::Web),
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
            &session.actor(),
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
