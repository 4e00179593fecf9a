//! Live fragments over server-sent events, fed by the instance's audit feed
//! (`AppState::feed`), which reads the shared database: an event committed through any
//! instance reaches a page served by this one.
//!
//! Each stream first sends the fragment as it is now (so a reconnect re-reads and misses
//! nothing), then a fresh rendering after every committed event the page cares about
//! (events arriving together are coalesced into one rendering). The session is re-checked
//! before each rendering and at least every [`RECHECK`]: a signed-out or revoked session
//! ends the stream.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, StreamExt, stream};
use steward_server::AppState;
use steward_store::AuditEntry;

use crate::pages::WebError;
use crate::session::{IDLE_MS, Session};

/// How often an idle stream re-checks its session.
pub const RECHECK: Duration = Duration::from_secs(10);

/// How long to wait for more events before rendering.
const COALESCE: Duration = Duration::from_millis(100);

/// The name of the SSE event carrying a fragment (`sse-swap="update"`).
pub const EVENT: &str = "update";

type Feed = Pin<Box<dyn Stream<Item = Arc<AuditEntry>> + Send>>;

struct Live<A, R> {
    state: AppState,
    session: Session,
    feed: Option<Feed>,
    admits: A,
    render: R,
}

/// The stream of renderings of one fragment.
pub fn stream<A, R, Fut>(
    state: AppState,
    session: Session,
    admits: A,
    render: R,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>>
where
    A: Fn(&AuditEntry) -> bool + Send + 'static,
    R: Fn(AppState, Session) -> Fut + Send + 'static,
    Fut: Future<Output = Result<String, WebError>> + Send,
{
    let live = Live {
        state,
        session,
        feed: None,
        admits,
        render,
    };
    let events = stream::unfold(live, |mut l| async move {
        if l.feed.is_none() {
            // Start following before the first rendering: nothing committed in between
            // is missed.
            let next = l.state.feed.next_seq().await.ok()?;
            let feed = l
                .state
                .feed
                .follow(next)
                .take_until(l.state.stopping.wait());
            l.feed = Some(Box::pin(feed));
            let html = (l.render)(l.state.clone(), l.session.clone()).await.ok()?;
            return Some((Ok(fragment(&html)), l));
        }
        loop {
            let feed = l.feed.as_mut()?;
            let entry = match tokio::time::timeout(RECHECK, feed.next()).await {
                Ok(entry) => entry?,
                Err(_) => {
                    if !alive(&l.state, &l.session).await {
                        return None;
                    }
                    continue;
                }
            };
            if !(l.admits)(&entry) {
                continue;
            }
            while let Ok(more) = tokio::time::timeout(COALESCE, feed.next()).await {
                more?;
            }
            if !alive(&l.state, &l.session).await {
                return None;
            }
            let html = (l.render)(l.state.clone(), l.session.clone()).await.ok()?;
            return Some((Ok(fragment(&html)), l));
        }
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

fn fragment(html: &str) -> Event {
    Event::default().event(EVENT).data(html.replace('\r', ""))
}

async fn alive(state: &AppState, session: &Session) -> bool {
    matches!(
        state
            .store
            .web_session(session.id_hash(), state.clock.now().millis(), IDLE_MS)
            .await,
        Ok(Some(_))
    )
}
