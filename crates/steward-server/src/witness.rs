//! Publishing signed checkpoints outside the database (issue 9, item 6), as transparency
//! logs have witnesses: a truncation that also deletes the later checkpoints and Merkle
//! nodes verifies clean from inside the database, but not against a checkpoint kept
//! elsewhere (`POST /v1/audit/verify/checkpoint`, `steward audit verify --checkpoint`).
//!
//! Every checkpoint this instance signs ([`sign_checkpoint`]: the maintenance loop and
//! `POST /v1/audit/checkpoints`) goes out two ways:
//!
//! - its `audit.checkpoint_created` event holds the whole signed checkpoint, so a webhook
//!   subscribed to `audit.checkpoint` receives it in the published form (see
//!   [`crate::webhooks`]), from whichever instance delivers it;
//! - the instance's [`CheckpointSink`] (`steward serve --checkpoint-sink PATH`, `-` for
//!   stdout) appends it as one JSON line, exactly as `GET /v1/audit/checkpoints/latest`
//!   returns it, and syncs the file before the next one.
//!
//! A sink that cannot be written is logged and skipped: publishing never stops signing,
//! and the checkpoint is still in the database and in the webhook's delivery log.
//!
//! # An instance never signs a rewritten history
//!
//! A witness only helps if the signer does not go on to sign the rewritten trail: after a
//! truncation and enough new events, a freshly signed, larger checkpoint of the other
//! history would be what a witness keeps last. So each instance remembers the last
//! checkpoint it signed ([`LastSigned`], in memory, seeded at start from the sink file's
//! largest line) and, before signing, measures the trail against it
//! (`Store::check_witnessed`); a trail that does not extend it is refused
//! ([`SignError::Inconsistent`]: the route answers 409 `trail_inconsistent`, the
//! maintenance loop logs an error each time) until an operator looks.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use steward_audit::{PublishedCheckpoint, WitnessError};
use steward_store::{CheckpointOutcome, SignedCheckpoint, StoreError};

use crate::routes::audit::checkpoints::CheckpointView;
use crate::state::{AppState, AuditKey};

/// Where an instance appends the checkpoints it signs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CheckpointSink {
    target: Arc<Target>,
    /// The largest checkpoint the file held when opened.
    found: Option<SignedCheckpoint>,
}

/// The last checkpoint this instance signed (or found in its sink at start), shared by
/// every clone of its state.
#[derive(Debug, Clone, Default)]
pub struct LastSigned(Arc<Mutex<Option<SignedCheckpoint>>>);

impl LastSigned {
    pub fn get(&self) -> Option<SignedCheckpoint> {
        self.lock().clone()
    }

    /// Remembers `signed` unless a larger tree is remembered already.
    pub fn remember(&self, signed: &SignedCheckpoint) {
        let mut last = self.lock();
        if last
            .as_ref()
            .is_none_or(|l| l.checkpoint.tree_size <= signed.checkpoint.tree_size)
        {
            *last = Some(signed.clone());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<SignedCheckpoint>> {
        // A poisoned lock only means a holder panicked; the value is still whole.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Why [`sign_checkpoint`] signed nothing.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The trail does not extend the checkpoint this instance signed last.
    #[error(
        "refusing to sign: the audit trail does not extend the checkpoint of tree size \
         {tree_size} this instance signed last ({error}); verify it with `steward audit \
         verify --checkpoint`"
    )]
    Inconsistent { tree_size: u64, error: WitnessError },
}

#[derive(Debug)]
enum Target {
    Stdout,
    /// The file, opened for appending; the lock keeps lines whole.
    File {
        path: PathBuf,
        file: Mutex<File>,
    },
}

impl CheckpointSink {
    /// The sink at `path`: `-` is stdout, anything else a file opened for appending
    /// (created if missing), so a path that cannot be written fails here, at start. The
    /// largest checkpoint among a regular file's last lines is remembered
    /// ([`CheckpointSink::found`]).
    pub fn open(path: &Path) -> std::io::Result<CheckpointSink> {
        if path == Path::new("-") {
            return Ok(CheckpointSink {
                target: Arc::new(Target::Stdout),
                found: None,
            });
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)?;
        let found = last_published(&file);
        Ok(CheckpointSink {
            target: Arc::new(Target::File {
                path: path.to_owned(),
                file: Mutex::new(file),
            }),
            found,
        })
    }

    /// The largest checkpoint the sink's file held when it was opened.
    pub fn found(&self) -> Option<&SignedCheckpoint> {
        self.found.as_ref()
    }

    /// Whether the sink is stdout (then nothing else should be printed there).
    pub fn is_stdout(&self) -> bool {
        matches!(*self.target, Target::Stdout)
    }

    /// Appends `signed` as one JSON line and syncs it to disk (stdout is flushed). A
    /// failure is logged, never returned: the caller's checkpoint is signed either way.
    pub async fn publish(&self, signed: &SignedCheckpoint) {
        let mut line = match serde_json::to_string(&CheckpointView::from(signed)) {
            Ok(line) => line,
            Err(error) => {
                tracing::warn!(%error, "encoding a checkpoint for the sink failed");
                return;
            }
        };
        line.push('\n');
        let target = Arc::clone(&self.target);
        let written = tokio::task::spawn_blocking(move || target.append(line.as_bytes())).await;
        let tree_size = signed.checkpoint.tree_size;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(
                %error,
                sink = %self.target.name(),
                tree_size,
                "writing a checkpoint to the checkpoint sink failed; it stays in the database"
            ),
            Err(error) => tracing::warn!(%error, tree_size, "the checkpoint sink task failed"),
        }
    }
}

/// How much of an existing sink file's end is read at start: the last checkpoints are
/// there, since an instance appends them in signing order.
const TAIL_BYTES: u64 = 64 * 1024;

/// The largest checkpoint among the complete lines in the last [`TAIL_BYTES`] of `file`,
/// when it is a regular file (a pipe or device is not read). Lines that are not
/// checkpoints are skipped.
fn last_published(file: &File) -> Option<SignedCheckpoint> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let len = file.metadata().ok().filter(|m| m.is_file())?.len();
    let start = len.saturating_sub(TAIL_BYTES);
    let mut reader = file;
    reader.seek(SeekFrom::Start(start)).ok()?;
    let mut tail = Vec::new();
    reader.take(TAIL_BYTES).read_to_end(&mut tail).ok()?;
    let text = String::from_utf8_lossy(&tail);
    let mut lines = text.lines();
    if start > 0 {
        // The first line may be cut.
        lines.next();
    }
    lines
        .filter_map(|line| serde_json::from_str::<PublishedCheckpoint>(line).ok())
        .max_by_key(|c| c.tree_size)
        .map(SignedCheckpoint::from)
}

impl Target {
    fn append(&self, line: &[u8]) -> std::io::Result<()> {
        match self {
            Target::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(line)?;
                out.flush()
            }
            Target::File { file, .. } => {
                // A poisoned lock only means another write panicked; the file is still
                // the file.
                let mut file = file
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                file.write_all(line)?;
                file.sync_data()
            }
        }
    }

    fn name(&self) -> String {
        match self {
            Target::Stdout => "stdout".to_owned(),
            Target::File { path, .. } => path.display().to_string(),
        }
    }
}

/// Signs a checkpoint of the trail as it stands (`Store::sign_checkpoint`) and, when this
/// call signed a new one, publishes it to the instance's sink. The outcome says which.
///
/// First measures the trail against the checkpoint this instance signed last
/// ([`LastSigned`]) and refuses ([`SignError::Inconsistent`]) when it does not extend it.
pub async fn sign_checkpoint(
    state: &AppState,
    by: &steward_store::Caller,
    key: &AuditKey,
    now_ms: i64,
) -> Result<CheckpointOutcome, SignError> {
    if let Some(last) = state.last_signed.get() {
        let report = state.store.check_witnessed(&last, key.public_key()).await?;
        if let Err(error) = report.outcome {
            return Err(SignError::Inconsistent {
                tree_size: last.checkpoint.tree_size,
                error,
            });
        }
    }
    let outcome = state
        .store
        .sign_checkpoint(by, key.secret(), now_ms)
        .await?;
    if let CheckpointOutcome::Signed(signed) = &outcome {
        state.last_signed.remember(signed);
        if let Some(sink) = &state.checkpoint_sink {
            sink.publish(signed).await;
        }
    }
    Ok(outcome)
}
