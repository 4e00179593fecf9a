//! `/v1/audit/export`: the audit trail as JSON Lines (SPEC §9), streamed one page at a
//! time, with the signed checkpoints in place, for offline verification with only the
//! public key (`steward_audit::verify_export`).

use std::collections::VecDeque;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt, stream};
use steward_audit::{ExportHeader, ExportLine};
use steward_policy::Role;
use steward_store::{
    Hash, MAX_CHECKPOINT_PAGE, MAX_MANIFEST_PAGE, SignedCheckpoint, Store, StoreError,
};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::audit::{known_params, parse_number};
use crate::routes::principals::store_error;
use crate::state::AppState;

/// The media type of the export.
pub const NDJSON: &str = "application/x-ndjson";

/// Events read per query while streaming. Below [`MAX_CHECKPOINT_PAGE`], so one
/// checkpoint query always covers a page's checkpoints (at most one per event).
const PAGE: u32 = 500;

/// Streams every event from `from_seq` (default 1) up to the head as it stood when the
/// request began, in `seq` order, as JSON Lines:
///
/// 1. `{"export": {"from_seq", "to_seq", "public_key", "key_id", "prev_hash",
///    "latest_checkpoint"}}`, `to_seq` being the head when the export began;
/// 2. each event in its `AuditEntry` serde form;
/// 3. `{"checkpoint": {…}}` right after the event whose `seq` is that checkpoint's
///    `tree_size`;
/// 4. when history was pruned, in its place: `{"manifest": {…}, "frontier": […]}` per
///    pruned range (format version 2, see `steward_audit`), each followed by the
///    checkpoint of its `last_seq` if there is one. An export from inside pruned history
///    starts at the manifest covering `from_seq`.
///
/// To resume, pass the last exported `seq` + 1 as `from_seq`. A failure while streaming
/// ends the body early, which verification reports (an incomplete last line is malformed,
/// and an export ending before its header's `to_seq` is truncated).
#[utoipa::path(get, path = "/v1/audit/export", tag = "audit",
    params(("from_seq" = Option<u64>, Query, description = "first seq to export (default 1)")),
    responses(
        (status = 200, description = "the export, JSON Lines", content_type = "application/x-ndjson", body = String),
        (status = 400, description = "bad query parameter: the problem names it"),
        (status = 401, description = "missing or invalid token"),
        (status = 403, description = "the caller is neither admin nor auditor"),
    ),
    security(("bearer" = [])))]
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require_any(&[Role::Admin, Role::Auditor], "exporting the audit trail")?;
    let mut from_seq: u64 = 1;
    for (key, value) in known_params(query, &["from_seq"])? {
        from_seq = parse_number::<u64>(&key, &value)?.max(1);
    }
    let store = state.store.clone();
    // The latest checkpoint is read before the head, so the head covers it: every export
    // reaches the checkpoint its header names.
    // An unreadable checkpoint row is damage the verifier finds in the trail; the header
    // then names none.
    let latest = match store.latest_checkpoint().await {
        Ok(latest) => latest,
        Err(StoreError::Corrupt { .. }) => None,
        Err(error) => return Err(store_error(error)),
    };
    let head = store.audit_head().await.map_err(store_error)?;
    if from_seq > head.seq.saturating_add(1) {
        return Err(ApiError::bad_request(
            format!(
                "`from_seq` {from_seq} is beyond the end of the trail, which ends at seq {}",
                head.seq
            ),
            "from_seq",
        ));
    }
    // Pruned history is exported as its manifests (format version 2): an export that
    // starts inside it starts at the manifest covering `from_seq`.
    let pruned = store.pruned_head().await.map_err(store_error)?;
    let (header_from, prev_hash, manifests) = if from_seq <= pruned.seq {
        manifest_lines(&store, from_seq)
            .await
            .map_err(store_error)?
    } else if from_seq == pruned.seq + 1 {
        (from_seq, pruned.hash, String::new())
    } else {
        let previous = store.events(from_seq - 1, 1).await.map_err(store_error)?;
        let hash = previous.first().map_or(Hash::ZERO, |entry| entry.hash);
        (from_seq, hash, String::new())
    };
    let header = ExportHeader::new(
        header_from,
        head.seq,
        prev_hash,
        state.audit_key.as_ref().map(|key| key.public_key()),
        latest,
    );
    let mut first = line(&ExportLine::Header(header));
    first.push_str(&manifests);
    let cursor = Cursor {
        store,
        next_seq: from_seq.max(pruned.seq + 1),
        head_seq: head.seq,
    };
    let pages = stream::try_unfold(cursor, |mut cursor| async move {
        let chunk = cursor.next_page().await?;
        Ok::<_, StoreError>(chunk.map(|chunk| (chunk, cursor)))
    });
    let body = stream::iter([Ok::<_, StoreError>(first)]).chain(pages);
    let mut response = Body::from_stream(body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    Ok(response)
}

/// Where the stream stands: the next `seq` to send, and the last one it will send.
struct Cursor {
    store: Store,
    next_seq: u64,
    head_seq: u64,
}

impl Cursor {
    /// The next page of lines, or `None` past the head.
    async fn next_page(&mut self) -> Result<Option<String>, StoreError> {
        if self.next_seq > self.head_seq {
            return Ok(None);
        }
        let mut events = self.store.events(self.next_seq, PAGE).await?;
        events.retain(|entry| entry.seq <= self.head_seq);
        let Some(last) = events.last().map(|entry| entry.seq) else {
            return Ok(None);
        };
        let mut checkpoints: VecDeque<SignedCheckpoint> = self
            .store
            .list_checkpoints(self.next_seq - 1, MAX_CHECKPOINT_PAGE)
            .await?
            .into_iter()
            .filter(|signed| signed.checkpoint.tree_size <= last)
            .collect();
        let mut chunk = String::new();
        for entry in events {
            let seq = entry.seq;
            chunk.push_str(&line(&ExportLine::Event(entry)));
            while checkpoints
                .front()
                .is_some_and(|signed| signed.checkpoint.tree_size == seq)
            {
                if let Some(signed) = checkpoints.pop_front() {
                    chunk.push_str(&line(&ExportLine::Checkpoint(signed)));
                }
            }
        }
        self.next_seq = last.saturating_add(1);
        Ok(Some(chunk))
    }
}

/// The lines of the manifests of pruned ranges from the one covering `from_seq` on,
/// each with its Merkle frontier and followed by the checkpoint of its `last_seq` when
/// there is one; and the `from_seq` and `prev_hash` the header must name (the first
/// manifest's).
async fn manifest_lines(store: &Store, from_seq: u64) -> Result<(u64, Hash, String), StoreError> {
    let mut chunk = String::new();
    let mut start: Option<(u64, Hash)> = None;
    let mut after = 0;
    loop {
        let page = store.list_manifests(after, MAX_MANIFEST_PAGE).await?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.manifest.last_seq;
        for signed in page {
            let manifest = signed.manifest;
            if manifest.last_seq < from_seq {
                continue;
            }
            start.get_or_insert((manifest.first_seq, manifest.prev_hash));
            // Missing or unreadable Merkle nodes and checkpoints are damage for the
            // verifier to report, not a failure to export: the line goes without them
            // (an export without the frontier checks no roots past the range).
            let frontier = match store.merkle_frontier(manifest.last_seq).await {
                Ok(frontier) => Some(frontier),
                Err(StoreError::Corrupt { .. }) => None,
                Err(error) => return Err(error),
            };
            chunk.push_str(&line(&ExportLine::Manifest {
                manifest: signed,
                frontier,
            }));
            match store.checkpoint(manifest.last_seq).await {
                Ok(checkpoint) => chunk.push_str(&line(&ExportLine::Checkpoint(checkpoint))),
                Err(StoreError::NotFound { .. } | StoreError::Corrupt { .. }) => {}
                Err(error) => return Err(error),
            }
        }
    }
    let (from, prev_hash) = start.unwrap_or((from_seq, Hash::ZERO));
    Ok((from, prev_hash, chunk))
}

/// One line of the export with its newline.
fn line(line: &ExportLine) -> String {
    let mut text = line.to_json();
    text.push('\n');
    text
}
