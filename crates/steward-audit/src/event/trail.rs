//! Payloads of the events about the trail itself: checkpoints, pruning, legal holds and
//! the signing key.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Personal, payload};
use crate::{Hash, PublishedCheckpoint, SignedManifest};

/// `audit.checkpoint_created`: the signed checkpoint in its published form (the members
/// of [`PublishedCheckpoint`], read leniently: a rehearsal's event also has `run_mode`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointCreated {
    pub tree_size: u64,
    pub root_hash: Hash,
    pub ts_ms: i64,
    pub key_id: String,
    #[serde(with = "crate::checkpoint::signature_hex")]
    pub signature: [u8; 64],
}
payload!(CheckpointCreated => AuditCheckpointCreated);

impl From<PublishedCheckpoint> for CheckpointCreated {
    fn from(published: PublishedCheckpoint) -> CheckpointCreated {
        let PublishedCheckpoint {
            tree_size,
            root_hash,
            ts_ms,
            key_id,
            signature,
        } = published;
        CheckpointCreated {
            tree_size,
            root_hash,
            ts_ms,
            key_id,
            signature,
        }
    }
}

/// `audit.pruned`: a range of events replaced by its signed manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pruned {
    pub event_count: u64,
    pub manifest: SignedManifest,
}
payload!(Pruned => AuditPruned);

impl From<SignedManifest> for Pruned {
    fn from(manifest: SignedManifest) -> Pruned {
        let range = &manifest.manifest;
        Pruned {
            event_count: range.last_seq - range.first_seq + 1,
            manifest,
        }
    }
}

/// `audit.hold_created` (the reason is personal, the auditor's).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct HoldCreated {
    pub hold_id: String,
    /// `{"worker_id"}`, `{"permit_id"}` or `{"first_seq", "last_seq"}`.
    pub scope: Value,
    #[serde(skip)]
    pub personal: Option<Personal>,
}
payload!(HoldCreated => AuditHoldCreated, personal);

/// `audit.hold_released` (the reason is personal, the releaser's).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct HoldReleased {
    pub hold_id: String,
    pub scope: Value,
    #[serde(skip)]
    pub personal: Option<Personal>,
}
payload!(HoldReleased => AuditHoldReleased, personal);

/// `audit.signing_key_recorded`: the instance's checkpoint signing key, first recorded.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SigningKeyRecorded {
    pub public_key: String,
    pub key_id: String,
}
payload!(SigningKeyRecorded => AuditSigningKeyRecorded);
