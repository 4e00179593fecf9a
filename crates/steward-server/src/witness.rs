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

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use steward_store::{Actor, CheckpointOutcome, SignedCheckpoint, StoreError};

use crate::routes::audit::checkpoints::CheckpointView;
use crate::state::AppState;

/// Where an instance appends the checkpoints it signs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CheckpointSink {
    target: Arc<Target>,
}

#[derive(Debug)]
enum Target {
    Stdout,
    /// The file, opened for appending; the lock keeps lines whole.
    File { path: PathBuf, file: Mutex<File> },
}

impl CheckpointSink {
    /// The sink at `path`: `-` is stdout, anything else a file opened for appending
    /// (created if missing), so a path that cannot be written fails here, at start.
    pub fn open(path: &Path) -> std::io::Result<CheckpointSink> {
        let target = if path == Path::new("-") {
            Target::Stdout
        } else {
            let file = OpenOptions::new().create(true).append(true).open(path)?;
            Target::File {
                path: path.to_owned(),
                file: Mutex::new(file),
            }
        };
        Ok(CheckpointSink {
            target: Arc::new(target),
        })
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
                let mut file = file.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
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
pub async fn sign_checkpoint(
    state: &AppState,
    by: &Actor,
    signing_key: &[u8; 32],
    now_ms: i64,
) -> Result<CheckpointOutcome, StoreError> {
    let outcome = state
        .store
        .sign_checkpoint(by, signing_key, now_ms)
        .await?;
    if let (CheckpointOutcome::Signed(signed), Some(sink)) = (&outcome, &state.checkpoint_sink) {
        sink.publish(signed).await;
    }
    Ok(outcome)
}
