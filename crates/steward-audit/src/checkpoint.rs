//! Signed statements about the audit tree: checkpoints (`{tree_size, root_hash, ts}`,
//! SPEC §9) and the manifests that stand in for pruned ranges, with Ed25519 signing and
//! verification and the public key's text form.
//!
//! # Signed messages (version 1)
//!
//! Each statement is signed as a fixed-layout byte string that starts with a
//! domain-separation string naming the statement and its version. Integers are big-endian
//! (`i64` in two's complement), hashes are their 32 raw bytes, there are no separators.
//!
//! Checkpoint, 76 bytes ([`Checkpoint::signed_message`]):
//! `"steward.audit.checkpoint.v1" 0x00 || tree_size (u64) || ts_ms (i64) || root_hash`.
//!
//! Range manifest, 218 bytes ([`RangeManifest::signed_message`]):
//! `"steward.audit.manifest.v1" 0x00 || first_seq (u64) || last_seq (u64) || prev_hash ||
//! first_hash || last_hash || range_root || tree_size (u64) || tree_root || ts_ms (i64)`.
//!
//! The domain strings keep a signature over one kind of statement from being replayed as
//! another, and keep both apart from entry hashes. A new layout gets a new domain string.
//!
//! # Keys
//!
//! Keys are raw 32-byte Ed25519 keys (RFC 8032); this crate never generates one. The
//! public key's text form is `ed25519:` followed by its 64 lowercase hex digits
//! ([`format_public_key`], [`parse_public_key`]). A signed statement names its key by
//! [`key_id`]: the first 16 hex digits of SHA-256 of the public key. The key id is a hint
//! for picking the right key, not part of the signed message; verification checks it
//! matches the key given, then checks the signature with `verify_strict`.

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::hash::Hash;

/// The domain-separation prefix of [`Checkpoint::signed_message`].
pub const CHECKPOINT_DOMAIN: &[u8] = b"steward.audit.checkpoint.v1\0";

/// The domain-separation prefix of [`RangeManifest::signed_message`].
pub const MANIFEST_DOMAIN: &[u8] = b"steward.audit.manifest.v1\0";

/// The prefix of a public key's text form.
pub const PUBLIC_KEY_PREFIX: &str = "ed25519:";

/// The tree as it stood at one moment: its size and root, and when that was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub tree_size: u64,
    pub root_hash: Hash,
    /// Unix time in milliseconds, as supplied by the caller.
    pub ts_ms: i64,
}

/// A checkpoint with its Ed25519 signature and the id of the signing key.
///
/// The serde form holds the signature as 128 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedCheckpoint {
    pub checkpoint: Checkpoint,
    /// [`key_id`] of the signing key.
    pub key_id: String,
    #[serde(with = "signature_hex")]
    pub signature: [u8; 64],
}

/// The permanent record of a range of entries `first_seq..=last_seq` that pruning removed
/// (SPEC §9), so that verification still spans pruned history.
///
/// With the entry numbering of the audit trail (leaf index = `seq - 1`), the chain
/// continues across a pruned range when the entry after it has `prev_hash == last_hash`,
/// and the range itself attaches to what precedes it through `prev_hash`. `tree_root` lets
/// a consistency proof connect the range to any later checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeManifest {
    pub first_seq: u64,
    pub last_seq: u64,
    /// The `prev_hash` of entry `first_seq`: the hash of entry `first_seq - 1`, or
    /// [`Hash::ZERO`] when the range starts the trail.
    pub prev_hash: Hash,
    /// The `hash` of entry `first_seq`.
    pub first_hash: Hash,
    /// The `hash` of entry `last_seq`.
    pub last_hash: Hash,
    /// The Merkle tree hash over the leaf hashes of the range's entries alone, in order:
    /// lets a copy of the range, kept elsewhere, be checked against the manifest.
    pub range_root: Hash,
    /// The size of the whole tree once entry `last_seq` was appended (`last_seq` when
    /// leaves and entries are numbered alike).
    pub tree_size: u64,
    /// The root of the whole tree at `tree_size`.
    pub tree_root: Hash,
    /// Unix time in milliseconds when the manifest was made, as supplied by the caller.
    pub ts_ms: i64,
}

/// A range manifest with its Ed25519 signature and the id of the signing key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedManifest {
    pub manifest: RangeManifest,
    /// [`key_id`] of the signing key.
    pub key_id: String,
    #[serde(with = "signature_hex")]
    pub signature: [u8; 64],
}

/// Why a signed checkpoint or manifest did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("public key is not a valid ed25519 key")]
    InvalidPublicKey,
    #[error("signed by key `{signed_by}`, but the key given is `{given}`")]
    KeyIdMismatch { signed_by: String, given: String },
    #[error("signature does not match the signed content")]
    BadSignature,
}

/// A string that is not a public key in text form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid public key `{input}`: expected `ed25519:` and 64 hex digits of a valid key")]
pub struct PublicKeyParseError {
    input: String,
}

impl Checkpoint {
    /// The bytes the signature covers; layout in the module documentation.
    pub fn signed_message(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(CHECKPOINT_DOMAIN.len() + 48);
        out.extend_from_slice(CHECKPOINT_DOMAIN);
        out.extend_from_slice(&self.tree_size.to_be_bytes());
        out.extend_from_slice(&self.ts_ms.to_be_bytes());
        out.extend_from_slice(self.root_hash.as_bytes());
        out
    }
}

impl RangeManifest {
    /// The bytes the signature covers; layout in the module documentation.
    pub fn signed_message(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MANIFEST_DOMAIN.len() + 192);
        out.extend_from_slice(MANIFEST_DOMAIN);
        out.extend_from_slice(&self.first_seq.to_be_bytes());
        out.extend_from_slice(&self.last_seq.to_be_bytes());
        out.extend_from_slice(self.prev_hash.as_bytes());
        out.extend_from_slice(self.first_hash.as_bytes());
        out.extend_from_slice(self.last_hash.as_bytes());
        out.extend_from_slice(self.range_root.as_bytes());
        out.extend_from_slice(&self.tree_size.to_be_bytes());
        out.extend_from_slice(self.tree_root.as_bytes());
        out.extend_from_slice(&self.ts_ms.to_be_bytes());
        out
    }
}

/// Signs `checkpoint` with the Ed25519 secret key `signing_key` (its 32-byte seed).
/// Deterministic: the same checkpoint and key always give the same signature.
pub fn sign_checkpoint(checkpoint: Checkpoint, signing_key: &[u8; 32]) -> SignedCheckpoint {
    let (key_id, signature) = sign(&checkpoint.signed_message(), signing_key);
    SignedCheckpoint {
        checkpoint,
        key_id,
        signature,
    }
}

/// Checks that `signed` was signed by the holder of `public_key`'s secret key and not
/// altered since.
pub fn verify_checkpoint(
    signed: &SignedCheckpoint,
    public_key: &[u8; 32],
) -> Result<(), CheckpointError> {
    verify(
        &signed.checkpoint.signed_message(),
        &signed.key_id,
        &signed.signature,
        public_key,
    )
}

/// Signs `manifest` with the Ed25519 secret key `signing_key` (its 32-byte seed).
pub fn sign_manifest(manifest: RangeManifest, signing_key: &[u8; 32]) -> SignedManifest {
    let (key_id, signature) = sign(&manifest.signed_message(), signing_key);
    SignedManifest {
        manifest,
        key_id,
        signature,
    }
}

/// Checks that `signed` was signed by the holder of `public_key`'s secret key and not
/// altered since.
pub fn verify_manifest(
    signed: &SignedManifest,
    public_key: &[u8; 32],
) -> Result<(), CheckpointError> {
    verify(
        &signed.manifest.signed_message(),
        &signed.key_id,
        &signed.signature,
        public_key,
    )
}

/// The public key that belongs to the secret key `signing_key`.
pub fn public_key(signing_key: &[u8; 32]) -> [u8; 32] {
    SigningKey::from_bytes(signing_key)
        .verifying_key()
        .to_bytes()
}

/// The short name of a public key: the first 16 hex digits of its SHA-256.
pub fn key_id(public_key: &[u8; 32]) -> String {
    let digest = Sha256::digest(public_key);
    hex::encode(&digest[..8])
}

/// The text form of a public key: `ed25519:` and 64 lowercase hex digits.
pub fn format_public_key(public_key: &[u8; 32]) -> String {
    format!("{PUBLIC_KEY_PREFIX}{}", hex::encode(public_key))
}

/// Reads a public key in the text form of [`format_public_key`] (hex digits in either
/// case), refusing bytes that are not a valid Ed25519 point.
pub fn parse_public_key(text: &str) -> Result<[u8; 32], PublicKeyParseError> {
    let error = || PublicKeyParseError {
        input: text.to_owned(),
    };
    let digits = text.strip_prefix(PUBLIC_KEY_PREFIX).ok_or_else(error)?;
    let mut bytes = [0; 32];
    hex::decode_to_slice(digits, &mut bytes).map_err(|_| error())?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| error())?;
    Ok(bytes)
}

fn sign(message: &[u8], signing_key: &[u8; 32]) -> (String, [u8; 64]) {
    let key = SigningKey::from_bytes(signing_key);
    let signature = key.sign(message).to_bytes();
    (key_id(&key.verifying_key().to_bytes()), signature)
}

fn verify(
    message: &[u8],
    signed_key_id: &str,
    signature: &[u8; 64],
    public_key: &[u8; 32],
) -> Result<(), CheckpointError> {
    let given = key_id(public_key);
    if given != signed_key_id {
        return Err(CheckpointError::KeyIdMismatch {
            signed_by: signed_key_id.to_owned(),
            given,
        });
    }
    let key =
        VerifyingKey::from_bytes(public_key).map_err(|_| CheckpointError::InvalidPublicKey)?;
    // `verify_strict` also refuses weak keys and non-canonical signatures, so one message
    // has one valid signature per key.
    key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(signature))
        .map_err(|_| CheckpointError::BadSignature)
}

/// Serde for a 64-byte signature as 128 lowercase hex digits.
pub(crate) mod signature_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        bytes: &[u8; 64],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(bytes))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<[u8; 64], D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        let mut bytes = [0; 64];
        hex::decode_to_slice(text.as_bytes(), &mut bytes).map_err(|_| {
            serde::de::Error::custom(format!(
                "invalid signature `{text}`: expected 128 hex digits"
            ))
        })?;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests;
