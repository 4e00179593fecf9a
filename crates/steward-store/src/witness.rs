//! Checking the stored trail against a checkpoint witnessed outside the database (issue 9,
//! item 6): [`Store::check_witnessed`] reads the current tree and the consistency proof
//! from the witnessed size, and applies `steward_audit::check_witnessed`.
//!
//! Damage is an answer, not an error: a tree shorter than the trail's head or than the
//! witness, a node the head covers but the table lacks, an event missing while the tree
//! is caught up — each is a [`WitnessReport`] whose outcome names a kind and a seq. Only
//! a failing database is a [`StoreError`].

use steward_audit::{
    Checkpoint, Hash, SignedCheckpoint, WitnessError, WitnessKind, check_witnessed,
    verify_checkpoint,
};

use crate::error::StoreError;
use crate::merkle::{CheckpointRow, SELECT_CHECKPOINTS, decode_checkpoint};
use crate::store::{Store, in_pool};

/// Stored checkpoints [`Store::check_witnessed`] looks at, at most, to say from which seq
/// an inconsistent trail may differ.
const VOUCHING_CHECKPOINTS: i64 = 32;

/// The current tree measured against a witnessed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessReport {
    /// The size of the current tree: the trail's events with their Merkle nodes stored.
    pub current_size: u64,
    /// Its root, unless a node it needs is missing.
    pub current_root: Option<Hash>,
    /// The consistency proof from the witnessed size to `current_size` (empty when the
    /// current tree is smaller, or the proof could not be read).
    pub proof: Vec<Hash>,
    pub outcome: Result<(), WitnessError>,
}

impl Store {
    /// Measures the stored trail against `witnessed`, a checkpoint kept outside the
    /// database whose signature the caller checked with `public_key`.
    ///
    /// Catches the Merkle tree up with the trail first, then: a tree that covers more
    /// leaves than the trail has events means the end of the trail was removed; a tree
    /// smaller than the witnessed one is truncated; otherwise the consistency proof must
    /// link the witnessed root to the current one. For an inconsistent trail the first
    /// bad seq is raised past the largest stored checkpoint that vouches for a prefix:
    /// signed with `public_key`, no later than the witness, and of the same root as the
    /// current tree at its size (at most [`VOUCHING_CHECKPOINTS`] are tried).
    pub async fn check_witnessed(
        &self,
        witnessed: &SignedCheckpoint,
        public_key: &[u8; 32],
    ) -> Result<WitnessReport, StoreError> {
        let claimed = &witnessed.checkpoint;
        let mut report = WitnessReport {
            current_size: 0,
            current_root: None,
            proof: Vec::new(),
            outcome: Ok(()),
        };
        let size = match self.extend_merkle(None).await {
            Ok(size) => size,
            Err(error) => return damaged(report, claimed, error),
        };
        report.current_size = size;
        // Read after extending: the head only grows, so a head below the tree means
        // events the tree covers were removed from the trail.
        let head = self.audit_head().await?.seq;
        if head < size {
            report.current_size = head;
            report.outcome = Err(WitnessError::cut_end(claimed, head, size));
            return Ok(report);
        }
        let root = match self.merkle_root(size).await {
            Ok(root) => root,
            Err(error) => return damaged(report, claimed, error),
        };
        report.current_root = Some(root);
        if size >= claimed.tree_size {
            report.proof = match self.consistency_proof(claimed.tree_size, size).await {
                Ok(proof) => proof.proof,
                Err(error) => return damaged(report, claimed, error),
            };
        }
        report.outcome = check_witnessed(claimed, size, &root, &report.proof);
        if let Err(error) = &mut report.outcome
            && error.kind == WitnessKind::Inconsistent
            && let Some(vouched) = self.vouched_prefix(claimed, public_key).await?
        {
            error.vouched_up_to(vouched);
        }
        Ok(report)
    }

    /// The largest size among stored checkpoints no larger and no later than `witnessed`
    /// whose signature verifies with `public_key` and whose root the current tree still
    /// has at that size.
    async fn vouched_prefix(
        &self,
        witnessed: &Checkpoint,
        public_key: &[u8; 32],
    ) -> Result<Option<u64>, StoreError> {
        let Ok(size) = i64::try_from(witnessed.tree_size) else {
            return Ok(None);
        };
        let sql = format!(
            "{SELECT_CHECKPOINTS} WHERE tree_size <= $1 AND ts <= $2 \
             ORDER BY tree_size DESC LIMIT $3"
        );
        let rows = in_pool!(
            self.pool,
            fetch_all,
            sqlx::query_as::<_, CheckpointRow>(&sql),
            size,
            witnessed.ts_ms,
            VOUCHING_CHECKPOINTS
        );
        for row in rows {
            // A row that does not decode or verify vouches for nothing.
            let Ok(stored) = decode_checkpoint(row) else {
                continue;
            };
            if verify_checkpoint(&stored, public_key).is_err() {
                continue;
            }
            let stored_size = stored.checkpoint.tree_size;
            match self.merkle_root(stored_size).await {
                Ok(root) if root == stored.checkpoint.root_hash => return Ok(Some(stored_size)),
                Ok(_) | Err(StoreError::Corrupt { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(None)
    }
}

/// The report for a tree that cannot even be read: a missing node or event is damage
/// (`inconsistent`, or `truncated` when the readable tree is smaller than the witness),
/// any other error is the database's.
fn damaged(
    mut report: WitnessReport,
    witnessed: &Checkpoint,
    error: StoreError,
) -> Result<WitnessReport, StoreError> {
    let StoreError::Corrupt { what, id, problem } = error else {
        return Err(error);
    };
    let first_bad_seq = match what {
        "audit event" => id.parse().unwrap_or(1),
        _ => 1,
    };
    let problem = format!("{what} `{id}`: {problem}");
    report.outcome = Err(WitnessError::unreadable(
        witnessed,
        report.current_size,
        first_bad_seq,
        &problem,
    ));
    Ok(report)
}
