//! The JSON Lines export of the audit trail (SPEC §9) and its offline verification:
//! [`ExportLine`] is one line, [`verify_export`] checks a whole export (chain, checkpoint
//! signatures, Merkle roots, truncation) with only the public key, and names the first
//! bad `seq`.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::chain::{ChainErrorKind, check_link};
use crate::checkpoint::{
    CheckpointError, SignedCheckpoint, SignedManifest, format_public_key, key_id, verify_checkpoint,
};
use crate::entry::AuditEntry;
use crate::hash::Hash;
use crate::merkle::{Frontier, leaf_hash};
use crate::retention::{ManifestErrorKind, check_manifest};

/// The first line of an export: where it starts and what it must be checked against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportHeader {
    /// The `seq` of the first event in the export.
    pub from_seq: u64,
    /// The `seq` of the last event the export holds (the head when it began), or
    /// `from_seq - 1` when it holds none. An export that ends before it was cut short.
    pub to_seq: u64,
    /// The key that signed the checkpoints, in text form (`ed25519:…`), when the server
    /// has one. A hint: the verifier checks against the key it is given.
    pub public_key: Option<String>,
    pub key_id: Option<String>,
    /// The hash of event `from_seq - 1`, or [`Hash::ZERO`] when the export starts the trail.
    pub prev_hash: Hash,
    /// The latest checkpoint when the export began. Every export holds at least the events
    /// it covers, so an export that ends before it was cut short.
    pub latest_checkpoint: Option<SignedCheckpoint>,
}

/// One line of an export.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportLine {
    /// `{"export": {…}}`: the first line; a later one continues the export (concatenated
    /// resumed exports).
    Header(ExportHeader),
    /// An [`AuditEntry`] in its serde form.
    Event(AuditEntry),
    /// `{"checkpoint": {…}}`, right after the event whose `seq` is its tree size.
    Checkpoint(SignedCheckpoint),
    /// `{"manifest": {…}, "frontier": […]}`: a pruned range, in the place of its events
    /// (format version 2; see the crate docs). `frontier` is optional.
    Manifest {
        manifest: SignedManifest,
        /// The right-edge Merkle nodes of the tree at the manifest's `last_seq`, largest
        /// first ([`Frontier::node_ids`]); checked against the signed `tree_root`, they
        /// let root checks continue after the range.
        frontier: Option<Vec<Hash>>,
    },
}

/// What an intact export proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub events: u64,
    /// Manifest lines checked: pruned ranges, each standing in for its events.
    pub manifests: u64,
    /// Events the manifests stand in for.
    pub pruned_events: u64,
    /// Checkpoint lines whose signature (and, with [`VerifyReport::roots_checked`], root)
    /// was checked.
    pub checkpoints: u64,
    /// The first `seq` the export covers (by an event or a manifest), or `None` when it
    /// covers none.
    pub first_seq: Option<u64>,
    /// The last `seq` the export covers.
    pub last_seq: Option<u64>,
    /// The hash of the last event (the header's `prev_hash` when there is none).
    pub head_hash: Hash,
    /// Whether each checkpoint's root was recomputed from the events. Only an export that
    /// starts at `seq` 1 holds every leaf; a resumed export proves its chain links to the
    /// header's `prev_hash` and that the checkpoints are signed, but not their roots.
    pub roots_checked: bool,
}

/// The first thing wrong with an export.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", match .seq {
    Some(seq) => format!("audit export damaged at seq {seq}: {kind}"),
    None => format!("audit export damaged: {kind}"),
})]
pub struct VerifyError {
    /// The first `seq` that is not as it should be: the position in the trail where the
    /// export stops being the trail (for a missing event, the missing `seq`).
    pub seq: Option<u64>,
    pub kind: VerifyErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyErrorKind {
    /// A line is not JSON of any line form, or the first line is not a header.
    #[error("line {line} is malformed: {message}")]
    Malformed { line: u64, message: String },
    /// The hash chain breaks (an event edited, removed, inserted or moved).
    #[error("{0}")]
    Chain(ChainErrorKind),
    /// A checkpoint's signature does not verify with the key given.
    #[error("checkpoint of tree size {tree_size} does not verify: {error}")]
    Checkpoint {
        tree_size: u64,
        error: CheckpointError,
    },
    /// A checkpoint signs a root other than the one the events make.
    #[error("checkpoint of tree size {tree_size} signs root {signed}, the events make {computed}")]
    RootMismatch {
        tree_size: u64,
        signed: Hash,
        computed: Hash,
    },
    /// A checkpoint line is not right after the event whose `seq` is its tree size.
    #[error("checkpoint of tree size {tree_size} is out of place")]
    CheckpointOutOfPlace { tree_size: u64 },
    /// A header names a key other than the one given.
    #[error("the export names key `{named}`, but the key given is `{given}`")]
    KeyMismatch { named: String, given: String },
    /// A continuation header does not continue the export before it.
    #[error("header on line {line} does not continue the export before it")]
    BadContinuation { line: u64 },
    /// The export ends before the `to_seq` or the latest checkpoint a header names.
    #[error("the export ends at seq {last_seq}, but it should reach seq {expected_last}")]
    Truncated { last_seq: u64, expected_last: u64 },
    /// An event lies beyond the `to_seq` of every header so far.
    #[error("event beyond the end of the export, which its header puts at seq {to_seq}")]
    BeyondEnd { to_seq: u64 },
    /// A manifest line does not stand in for the range it claims: forged or edited (bad
    /// signature), out of place, or not linked to what precedes it.
    #[error("{0}")]
    Manifest(ManifestErrorKind),
    /// A manifest line's frontier does not make the manifest's signed tree root.
    #[error("the frontier of the manifest ending at seq {last_seq} does not make its tree root")]
    BadFrontier { last_seq: u64 },
}

impl ExportLine {
    /// Parses one line (without its newline).
    pub fn parse(line: &[u8]) -> Result<ExportLine, serde_json::Error> {
        let value: Value = serde_json::from_slice(line)?;
        if let Value::Object(map) = &value {
            if let Some(manifest) = map.get("manifest") {
                let frontier = map.get("frontier");
                if map.len() == 1 + usize::from(frontier.is_some()) {
                    return Ok(ExportLine::Manifest {
                        manifest: SignedManifest::deserialize(manifest)?,
                        frontier: frontier.map(<Vec<Hash>>::deserialize).transpose()?,
                    });
                }
            }
            if map.len() == 1 {
                if let Some(header) = map.get("export") {
                    return ExportHeader::deserialize(header).map(ExportLine::Header);
                }
                if let Some(checkpoint) = map.get("checkpoint") {
                    return SignedCheckpoint::deserialize(checkpoint).map(ExportLine::Checkpoint);
                }
            }
        }
        AuditEntry::deserialize(value).map(ExportLine::Event)
    }

    /// The line's JSON text, without a newline.
    pub fn to_json(&self) -> String {
        let value = match self {
            ExportLine::Header(header) => serde_json::json!({ "export": header }),
            ExportLine::Event(entry) => serde_json::json!(entry),
            ExportLine::Checkpoint(checkpoint) => serde_json::json!({ "checkpoint": checkpoint }),
            ExportLine::Manifest {
                manifest,
                frontier: None,
            } => serde_json::json!({ "manifest": manifest }),
            ExportLine::Manifest {
                manifest,
                frontier: Some(frontier),
            } => serde_json::json!({ "manifest": manifest, "frontier": frontier }),
        };
        value.to_string()
    }
}

impl ExportHeader {
    /// The header of an export from `from_seq`, signed checkpoints verifying with
    /// `public_key` when there is one.
    pub fn new(
        from_seq: u64,
        to_seq: u64,
        prev_hash: Hash,
        public_key: Option<&[u8; 32]>,
        latest_checkpoint: Option<SignedCheckpoint>,
    ) -> ExportHeader {
        ExportHeader {
            from_seq,
            to_seq,
            public_key: public_key.map(format_public_key),
            key_id: public_key.map(key_id),
            prev_hash,
            latest_checkpoint,
        }
    }
}

/// Verifies an export, one line at a time, with only the public key.
///
/// Checks, naming the first bad `seq` (the position where the export stops matching the
/// trail, whatever the damaged line claims):
/// - every line parses, and the first is a header ([`VerifyErrorKind::Malformed`]);
/// - the events form the chain from the header's `prev_hash` and `from_seq`, with the
///   rules of [`crate::verify_chain`] ([`VerifyErrorKind::Chain`]);
/// - every checkpoint line follows the event at its tree size, is signed by
///   `public_key`, and — when the export starts at `seq` 1 — signs the Merkle root of the
///   events up to its tree size ([`VerifyErrorKind::RootMismatch`]);
/// - the export holds exactly the events up to its header's `to_seq`
///   ([`VerifyErrorKind::Truncated`], naming the first missing `seq`;
///   [`VerifyErrorKind::BeyondEnd`]), and reaches the tree size of the latest checkpoint
///   a header names.
///
/// A later header continues the export when its `from_seq` and `prev_hash` are the next
/// `seq` and the last hash, so a resumed export appended to the one it resumes verifies.
/// The header is not signed: `to_seq` catches an interrupted download, but someone who
/// edits the header and cuts the events after the latest checkpoint goes unnoticed
/// offline. The signed latest checkpoint bounds what can be cut that way.
pub fn verify_export<I>(lines: I, public_key: &[u8; 32]) -> Result<VerifyReport, VerifyError>
where
    I: IntoIterator,
    I::Item: AsRef<[u8]>,
{
    let mut verifier = ExportVerifier::new(public_key);
    for line in lines {
        verifier.push_line(line.as_ref())?;
    }
    verifier.finish()
}

/// [`verify_export`] fed one line at a time, for a caller that receives the export in
/// chunks (a download) and should not hold it all. Stop at the first error: after one,
/// the verifier's state is unspecified.
#[derive(Debug)]
pub struct ExportVerifier {
    public_key: [u8; 32],
    /// The number of lines pushed so far.
    line: u64,
    state: Option<Verifier>,
}

impl ExportVerifier {
    pub fn new(public_key: &[u8; 32]) -> ExportVerifier {
        ExportVerifier {
            public_key: *public_key,
            line: 0,
            state: None,
        }
    }

    /// Checks the next line (without its newline).
    pub fn push_line(&mut self, line: &[u8]) -> Result<(), VerifyError> {
        self.line += 1;
        let number = self.line;
        let public_key = &self.public_key;
        let parsed = ExportLine::parse(line).map_err(|error| VerifyError {
            seq: self.state.as_ref().map(Verifier::next_seq),
            kind: VerifyErrorKind::Malformed {
                line: number,
                message: error.to_string(),
            },
        })?;
        match (&mut self.state, parsed) {
            (None, ExportLine::Header(header)) => {
                self.state = Some(Verifier::start(header, public_key)?);
                Ok(())
            }
            (None, _) => Err(VerifyError {
                seq: None,
                kind: VerifyErrorKind::Malformed {
                    line: number,
                    message: "the first line is not an `export` header".to_owned(),
                },
            }),
            (Some(verifier), ExportLine::Header(header)) => {
                verifier.continue_with(header, number, public_key)
            }
            (Some(verifier), ExportLine::Event(entry)) => verifier.event(entry),
            (Some(verifier), ExportLine::Checkpoint(checkpoint)) => {
                verifier.checkpoint(&checkpoint, public_key)
            }
            (Some(verifier), ExportLine::Manifest { manifest, frontier }) => {
                verifier.manifest(&manifest, frontier, public_key)
            }
        }
    }

    /// The checks that need the whole export (truncation), and the report.
    pub fn finish(self) -> Result<VerifyReport, VerifyError> {
        match self.state {
            Some(verifier) => verifier.finish(),
            None => Err(VerifyError {
                seq: None,
                kind: VerifyErrorKind::Malformed {
                    line: 1,
                    message: "the export is empty".to_owned(),
                },
            }),
        }
    }
}

/// The running state of [`verify_export`], once the header is read.
#[derive(Debug)]
struct Verifier {
    from_seq: u64,
    first_prev: Hash,
    /// What the export covered last.
    last: Last,
    /// The right edge of the tree so far, while every leaf from `seq` 1 is accounted for
    /// (by the events themselves or by a manifest's checked frontier).
    tree: Option<Frontier>,
    /// Whether root checks stopped for part of the export (no frontier to go on with).
    roots_lost: bool,
    /// The first `seq` covered, by an event or a manifest.
    first_covered: Option<u64>,
    events: u64,
    checkpoints: u64,
    manifests: u64,
    pruned_events: u64,
    /// The largest tree size a header's latest checkpoint names, or `to_seq`.
    must_reach: u64,
    /// The largest `to_seq` a header names.
    to_seq: u64,
    /// The encoding buffer reused for every event's hash.
    scratch: Vec<u8>,
}

/// What the export covered last: nothing yet, an event, or a pruned range.
#[derive(Debug)]
enum Last {
    Start,
    Event(Box<AuditEntry>),
    Range { last_seq: u64, last_hash: Hash },
}

impl Verifier {
    fn start(header: ExportHeader, public_key: &[u8; 32]) -> Result<Verifier, VerifyError> {
        let mut verifier = Verifier {
            from_seq: header.from_seq,
            first_prev: header.prev_hash,
            last: Last::Start,
            tree: (header.from_seq <= 1).then(Frontier::default),
            roots_lost: header.from_seq > 1,
            first_covered: None,
            events: 0,
            checkpoints: 0,
            manifests: 0,
            pruned_events: 0,
            must_reach: 0,
            to_seq: 0,
            scratch: Vec::new(),
        };
        verifier.header_checks(&header, public_key)?;
        Ok(verifier)
    }

    /// The last `seq` covered, if any.
    fn last_seq(&self) -> Option<u64> {
        match &self.last {
            Last::Start => None,
            Last::Event(entry) => Some(entry.seq),
            Last::Range { last_seq, .. } => Some(*last_seq),
        }
    }

    /// The `seq` the next event must have.
    fn next_seq(&self) -> u64 {
        self.last_seq()
            .map_or(self.from_seq.max(1), |seq| seq.saturating_add(1))
    }

    fn last_hash(&self) -> Hash {
        match &self.last {
            Last::Start => self.first_prev,
            Last::Event(entry) => entry.hash,
            Last::Range { last_hash, .. } => *last_hash,
        }
    }

    fn header_checks(
        &mut self,
        header: &ExportHeader,
        public_key: &[u8; 32],
    ) -> Result<(), VerifyError> {
        self.to_seq = self.to_seq.max(header.to_seq);
        self.must_reach = self.must_reach.max(header.to_seq);
        let given = format_public_key(public_key);
        if let Some(named) = header.public_key.as_ref().filter(|named| **named != given) {
            return Err(VerifyError {
                seq: None,
                kind: VerifyErrorKind::KeyMismatch {
                    named: named.clone(),
                    given,
                },
            });
        }
        if let Some(latest) = &header.latest_checkpoint {
            verify_checkpoint(latest, public_key).map_err(|error| VerifyError {
                seq: Some(latest.checkpoint.tree_size),
                kind: VerifyErrorKind::Checkpoint {
                    tree_size: latest.checkpoint.tree_size,
                    error,
                },
            })?;
            self.must_reach = self.must_reach.max(latest.checkpoint.tree_size);
        }
        Ok(())
    }

    fn continue_with(
        &mut self,
        header: ExportHeader,
        line: u64,
        public_key: &[u8; 32],
    ) -> Result<(), VerifyError> {
        if header.from_seq != self.next_seq() || header.prev_hash != self.last_hash() {
            return Err(VerifyError {
                seq: Some(self.next_seq()),
                kind: VerifyErrorKind::BadContinuation { line },
            });
        }
        self.header_checks(&header, public_key)
    }

    fn event(&mut self, entry: AuditEntry) -> Result<(), VerifyError> {
        let position = self.next_seq();
        let fail = |kind| VerifyError {
            seq: Some(position),
            kind: VerifyErrorKind::Chain(kind),
        };
        // After the header or a pruned range, the event is the first of a run: it links
        // to the header's or the manifest's hash, and its seq is checked below.
        let previous = match &self.last {
            Last::Event(previous) => Some(&**previous),
            Last::Start | Last::Range { .. } => None,
        };
        let expected_first_prev = self.last_hash();
        check_link(previous, expected_first_prev, &entry, &mut self.scratch).map_err(fail)?;
        if position > self.to_seq {
            return Err(VerifyError {
                seq: Some(position),
                kind: VerifyErrorKind::BeyondEnd {
                    to_seq: self.to_seq,
                },
            });
        }
        if previous.is_none() && entry.seq != position {
            let kind = if entry.seq < position {
                ChainErrorKind::SeqNotIncreasing
            } else {
                ChainErrorKind::SeqGap
            };
            return Err(fail(kind));
        }
        if let Some(tree) = &mut self.tree {
            tree.push(leaf_hash(&entry.hash));
        }
        self.events += 1;
        self.first_covered.get_or_insert(entry.seq);
        self.last = Last::Event(Box::new(entry));
        Ok(())
    }

    fn manifest(
        &mut self,
        signed: &SignedManifest,
        frontier: Option<Vec<Hash>>,
        public_key: &[u8; 32],
    ) -> Result<(), VerifyError> {
        let position = self.next_seq();
        let fail = |kind| VerifyError {
            seq: Some(position),
            kind,
        };
        check_manifest(signed, position, self.last_hash(), Some(public_key))
            .map_err(|kind| fail(VerifyErrorKind::Manifest(kind)))?;
        let manifest = &signed.manifest;
        if manifest.last_seq > self.to_seq {
            return Err(fail(VerifyErrorKind::BeyondEnd {
                to_seq: self.to_seq,
            }));
        }
        // The frontier is unsigned: it counts only when it makes the signed tree root.
        match frontier {
            Some(nodes) => match Frontier::from_nodes(manifest.last_seq, nodes) {
                Some(tree) if tree.root() == manifest.tree_root => self.tree = Some(tree),
                _ => {
                    return Err(fail(VerifyErrorKind::BadFrontier {
                        last_seq: manifest.last_seq,
                    }));
                }
            },
            None => {
                self.roots_lost |= self.tree.is_some();
                self.tree = None;
            }
        }
        self.manifests += 1;
        self.pruned_events += manifest.last_seq - manifest.first_seq + 1;
        self.first_covered.get_or_insert(manifest.first_seq);
        self.last = Last::Range {
            last_seq: manifest.last_seq,
            last_hash: manifest.last_hash,
        };
        Ok(())
    }

    fn checkpoint(
        &mut self,
        signed: &SignedCheckpoint,
        public_key: &[u8; 32],
    ) -> Result<(), VerifyError> {
        let tree_size = signed.checkpoint.tree_size;
        let fail = |kind| VerifyError {
            seq: Some(tree_size),
            kind,
        };
        verify_checkpoint(signed, public_key)
            .map_err(|error| fail(VerifyErrorKind::Checkpoint { tree_size, error }))?;
        if self.last_seq() != Some(tree_size) {
            return Err(fail(VerifyErrorKind::CheckpointOutOfPlace { tree_size }));
        }
        if let Some(tree) = &self.tree {
            let computed = tree.root();
            if computed != signed.checkpoint.root_hash {
                return Err(fail(VerifyErrorKind::RootMismatch {
                    tree_size,
                    signed: signed.checkpoint.root_hash,
                    computed,
                }));
            }
        }
        self.checkpoints += 1;
        Ok(())
    }

    fn finish(self) -> Result<VerifyReport, VerifyError> {
        let last_seq = self.last_seq();
        let reached = last_seq.unwrap_or(self.from_seq.saturating_sub(1));
        if reached < self.must_reach {
            return Err(VerifyError {
                seq: Some(reached + 1),
                kind: VerifyErrorKind::Truncated {
                    last_seq: reached,
                    expected_last: self.must_reach,
                },
            });
        }
        Ok(VerifyReport {
            events: self.events,
            manifests: self.manifests,
            pruned_events: self.pruned_events,
            checkpoints: self.checkpoints,
            first_seq: self.first_covered,
            last_seq,
            head_hash: self.last_hash(),
            roots_checked: self.tree.is_some() && !self.roots_lost,
        })
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.first_seq, self.last_seq) {
            (Some(first), Some(last)) => write!(f, "events {first} to {last}")?,
            _ => f.write_str("no events")?,
        }
        if self.manifests > 0 {
            write!(
                f,
                " ({} events, {} pruned in {} signed manifests)",
                self.events, self.pruned_events, self.manifests
            )?;
        }
        write!(
            f,
            ", {} checkpoints, head {}, merkle roots {}",
            self.checkpoints,
            self.head_hash,
            if self.roots_checked {
                "checked"
            } else {
                "not checked (export does not start at seq 1)"
            }
        )
    }
}
