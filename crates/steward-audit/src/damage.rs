//! The kinds of damage a verification can find, one closed set named alike by the
//! server's check of the stored trail (`GET /v1/audit/verify`), the offline check of an
//! export ([`crate::verify_export`]) and the `steward audit verify` command, so an
//! auditor reads the same word wherever the damage was found.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::chain::ChainErrorKind;
use crate::export::VerifyErrorKind;
use crate::retention::ManifestErrorKind;
use crate::witness::WitnessKind;

/// What kind of damage a verification found at its first bad `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Damage {
    /// An event's fields do not hash to its stored hash: the event was edited.
    EventAltered,
    /// An event does not link to the one before it: an event was removed, inserted or
    /// moved before it.
    ChainBroken,
    /// `seq` skips numbers, or goes backwards.
    SeqGap,
    /// A stored event cannot even be decoded.
    EventUnreadable,
    /// The trail ends before the head, the header or the checkpoint says it reaches:
    /// events were cut from its end.
    Truncated,
    /// A pruned range's manifest contradicts itself.
    ManifestInconsistent,
    /// A manifest's signature does not verify: forged or edited.
    ManifestForged,
    /// A manifest does not start right after the pruned history before it.
    ManifestOutOfPlace,
    /// A manifest does not link to the range or event before it.
    ManifestUnlinked,
    /// A manifest signs a tree root other than the stored Merkle tree's.
    ManifestRootMismatch,
    /// Merkle nodes the tree's head covers are not stored.
    MerkleNodesMissing,
    /// Stored Merkle nodes differ from the ones the events make (proofs would lie).
    MerkleNodesAltered,
    /// A checkpoint's signature does not verify: forged or edited.
    CheckpointForged,
    /// A checkpoint signs a root other than the one the events make.
    CheckpointRootMismatch,
    /// A checkpoint is not where its tree size puts it.
    CheckpointOutOfPlace,
    /// The trail is not an extension of a checkpoint kept outside it (the consistency
    /// proof fails).
    Inconsistent,
    /// An export line is not an export line, or an export does not continue the one
    /// before it.
    Malformed,
    /// An export names a signing key other than the one trusted.
    KeyMismatch,
}

impl Damage {
    /// The kind's name, as it appears in JSON (`manifest_forged`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Damage::EventAltered => "event_altered",
            Damage::ChainBroken => "chain_broken",
            Damage::SeqGap => "seq_gap",
            Damage::EventUnreadable => "event_unreadable",
            Damage::Truncated => "truncated",
            Damage::ManifestInconsistent => "manifest_inconsistent",
            Damage::ManifestForged => "manifest_forged",
            Damage::ManifestOutOfPlace => "manifest_out_of_place",
            Damage::ManifestUnlinked => "manifest_unlinked",
            Damage::ManifestRootMismatch => "manifest_root_mismatch",
            Damage::MerkleNodesMissing => "merkle_nodes_missing",
            Damage::MerkleNodesAltered => "merkle_nodes_altered",
            Damage::CheckpointForged => "checkpoint_forged",
            Damage::CheckpointRootMismatch => "checkpoint_root_mismatch",
            Damage::CheckpointOutOfPlace => "checkpoint_out_of_place",
            Damage::Inconsistent => "inconsistent",
            Damage::Malformed => "malformed",
            Damage::KeyMismatch => "key_mismatch",
        }
    }

    /// Every kind, in declaration order (for documentation and exhaustive tests).
    pub const ALL: [Damage; 18] = [
        Damage::EventAltered,
        Damage::ChainBroken,
        Damage::SeqGap,
        Damage::EventUnreadable,
        Damage::Truncated,
        Damage::ManifestInconsistent,
        Damage::ManifestForged,
        Damage::ManifestOutOfPlace,
        Damage::ManifestUnlinked,
        Damage::ManifestRootMismatch,
        Damage::MerkleNodesMissing,
        Damage::MerkleNodesAltered,
        Damage::CheckpointForged,
        Damage::CheckpointRootMismatch,
        Damage::CheckpointOutOfPlace,
        Damage::Inconsistent,
        Damage::Malformed,
        Damage::KeyMismatch,
    ];
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<ChainErrorKind> for Damage {
    fn from(kind: ChainErrorKind) -> Damage {
        match kind {
            ChainErrorKind::HashMismatch => Damage::EventAltered,
            ChainErrorKind::BrokenLink => Damage::ChainBroken,
            ChainErrorKind::SeqGap | ChainErrorKind::SeqNotIncreasing => Damage::SeqGap,
        }
    }
}

impl From<&ManifestErrorKind> for Damage {
    fn from(kind: &ManifestErrorKind) -> Damage {
        match kind {
            ManifestErrorKind::Inconsistent { .. } => Damage::ManifestInconsistent,
            ManifestErrorKind::Signature { .. } => Damage::ManifestForged,
            ManifestErrorKind::OutOfPlace { .. } => Damage::ManifestOutOfPlace,
            ManifestErrorKind::BrokenLink { .. } => Damage::ManifestUnlinked,
        }
    }
}

impl From<&VerifyErrorKind> for Damage {
    fn from(kind: &VerifyErrorKind) -> Damage {
        match kind {
            VerifyErrorKind::Malformed { .. } | VerifyErrorKind::BadContinuation { .. } => {
                Damage::Malformed
            }
            VerifyErrorKind::Chain(kind) => Damage::from(*kind),
            VerifyErrorKind::Checkpoint { .. } => Damage::CheckpointForged,
            VerifyErrorKind::RootMismatch { .. } => Damage::CheckpointRootMismatch,
            VerifyErrorKind::CheckpointOutOfPlace { .. } => Damage::CheckpointOutOfPlace,
            VerifyErrorKind::KeyMismatch { .. } => Damage::KeyMismatch,
            VerifyErrorKind::Truncated { .. } | VerifyErrorKind::BeyondEnd { .. } => {
                Damage::Truncated
            }
            VerifyErrorKind::Manifest(kind) => Damage::from(kind),
            VerifyErrorKind::BadFrontier { .. } => Damage::ManifestRootMismatch,
        }
    }
}

impl From<WitnessKind> for Damage {
    fn from(kind: WitnessKind) -> Damage {
        match kind {
            WitnessKind::Truncated => Damage::Truncated,
            WitnessKind::Inconsistent => Damage::Inconsistent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Damage;

    #[test]
    fn every_kind_serializes_as_its_name_and_back() {
        for kind in Damage::ALL {
            let json = serde_json::to_value(kind).expect("serialize");
            assert_eq!(json, serde_json::Value::from(kind.as_str()));
            let back: Damage = serde_json::from_value(json).expect("deserialize");
            assert_eq!(back, kind);
        }
    }

    #[test]
    fn a_witness_kind_is_the_damage_of_the_same_name() {
        use crate::witness::WitnessKind;
        for kind in [WitnessKind::Truncated, WitnessKind::Inconsistent] {
            assert_eq!(
                serde_json::to_value(kind).expect("serialize"),
                serde_json::to_value(Damage::from(kind)).expect("serialize")
            );
        }
    }
}
