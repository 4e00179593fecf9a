//! `steward audit prove`: fetches a Merkle proof, the signed checkpoint(s) it is about
//! and the public key, and verifies all of them here, so the answer does not rest on the
//! server's word.
//!
//! For `--seq N`, the event itself is fetched and its hash recomputed from its content, so
//! "event N is included" speaks of the event as it reads now, not of a hash the server
//! names. Pass `--public-key` (the `audit-signing.pub` written by `steward init`, or its
//! `ed25519:…` text) to trust a key kept apart from the server instead of the one the
//! server reports.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{ArgGroup, Args};
use serde_json::{Value, json};
use steward_audit::{
    AuditEntry, Checkpoint, Hash, SignedCheckpoint, leaf_hash, parse_public_key, verify_checkpoint,
    verify_consistency, verify_inclusion,
};

use crate::client::Client;
use crate::command::audit::EXIT_VERIFY_FAILED;
use crate::output::{print, print_json};

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("claim").required(true).args(["seq", "consistency"])))]
pub struct ProveArgs {
    /// The event to prove included.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub seq: Option<u64>,
    /// The signed tree to prove it in [default: the latest checkpoint].
    #[arg(long, value_name = "M", requires = "seq")]
    pub tree_size: Option<u64>,
    /// Prove that the signed tree of size OLD is a prefix of the signed tree of size NEW.
    #[arg(long, num_args = 2, value_names = ["OLD", "NEW"])]
    pub consistency: Option<Vec<u64>>,
    /// The public key to trust: `ed25519:…`, or a file holding it (`audit-signing.pub`)
    /// [default: the key the server reports].
    #[arg(long, value_name = "KEY|FILE")]
    pub public_key: Option<String>,
}

/// Why a claim did not verify; printed, and the exit code is 3. Carried through
/// `anyhow` so that `?` works, and told apart from other failures (server unreachable,
/// a 4xx) by downcasting.
#[derive(Debug)]
struct NotVerified(String);

impl std::fmt::Display for NotVerified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotVerified {}

fn not_verified(reason: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(NotVerified(reason.into()))
}

/// What was verified: the line to print and its JSON form.
struct Verified {
    message: String,
    json: Value,
}

pub fn run(client: &Client, args: &ProveArgs, json: bool) -> anyhow::Result<ExitCode> {
    let pinned = args
        .public_key
        .as_deref()
        .map(read_public_key)
        .transpose()?;
    let outcome = match (args.consistency.as_deref(), args.seq) {
        (Some(&[old_size, new_size]), _) => prove_consistency(client, old_size, new_size, pinned),
        (None, Some(seq)) => prove_inclusion(client, seq, args.tree_size, pinned),
        // clap's required group and `num_args = 2` make this unreachable; refuse plainly
        // all the same.
        _ => {
            return Err(crate::failure::invalid(
                "`steward audit prove` needs `--seq N` or `--consistency OLD NEW`",
            ));
        }
    };
    match outcome {
        Ok(verified) => {
            if json {
                print_json(&verified.json)?;
            } else {
                print(&format!("{}\n", verified.message))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            let NotVerified(reason) = error.downcast::<NotVerified>()?;
            if json {
                print_json(&json!({"verified": false, "reason": reason}))?;
            }
            let _ = writeln!(std::io::stderr(), "steward: NOT VERIFIED: {reason}");
            Ok(ExitCode::from(EXIT_VERIFY_FAILED))
        }
    }
}

fn prove_inclusion(
    client: &Client,
    seq: u64,
    asked_size: Option<u64>,
    pinned: Option<[u8; 32]>,
) -> anyhow::Result<Verified> {
    let view = match asked_size {
        Some(size) => client.get(&format!("/v1/audit/checkpoints/{size}"))?,
        None => client.get("/v1/audit/checkpoints/latest")?,
    };
    let key = public_key(client, pinned)?;
    let signed = checked_checkpoint(&view, &key)?;
    let Checkpoint {
        tree_size,
        root_hash,
        ..
    } = signed.checkpoint;
    if let Some(asked) = asked_size.filter(|asked| *asked != tree_size) {
        return Err(not_verified(format!(
            "asked for the checkpoint of tree size {asked}, the server returned size {tree_size}"
        )));
    }
    if seq > tree_size {
        return Err(not_verified(format!(
            "event {seq} is after the signed tree of size {tree_size}; sign a newer \
             checkpoint (`steward audit checkpoint`) or pass a larger `--tree-size`"
        )));
    }
    let proof = client.get(&format!(
        "/v1/audit/proofs/inclusion?seq={seq}&tree_size={tree_size}"
    ))?;
    let page = client.get(&format!("/v1/audit/events?from_seq={seq}&limit=1"))?;
    let entry = match page["items"]
        .get(0)
        .cloned()
        .map(serde_json::from_value::<AuditEntry>)
    {
        Some(Ok(entry)) if entry.seq == seq => entry,
        Some(Ok(entry)) => {
            return Err(not_verified(format!(
                "asked for event {seq}, the server returned event {}",
                entry.seq
            )));
        }
        Some(Err(error)) => {
            return Err(not_verified(format!(
                "event {seq} as the server returned it is malformed: {error}"
            )));
        }
        None => return Err(not_verified(format!("the server has no event {seq}"))),
    };
    if entry.computed_hash() != entry.hash {
        return Err(not_verified(format!(
            "event {seq}'s content does not match its hash: the event was altered"
        )));
    }
    let path = hashes(&proof["proof"])?;
    let leaf = leaf_hash(&entry.hash);
    if let Err(error) = verify_inclusion(&leaf, seq - 1, tree_size, &path, &root_hash) {
        return Err(not_verified(format!(
            "event {seq} is not in the signed tree of size {tree_size} (root {root_hash}): \
             {error}"
        )));
    }
    Ok(Verified {
        message: format!(
            "event {seq} is included in the signed tree of size {tree_size} (root {root_hash}, \
             key {})",
            signed.key_id
        ),
        json: json!({
            "verified": true,
            "seq": seq,
            "entry_hash": entry.hash.to_string(),
            "tree_size": tree_size,
            "root_hash": root_hash.to_string(),
            "key_id": signed.key_id,
            "proof": proof["proof"],
        }),
    })
}

fn prove_consistency(
    client: &Client,
    old_size: u64,
    new_size: u64,
    pinned: Option<[u8; 32]>,
) -> anyhow::Result<Verified> {
    if old_size > new_size {
        return Err(crate::failure::invalid(format!(
            "`--consistency {old_size} {new_size}`: OLD must not be larger than NEW"
        )));
    }
    let old_view = client.get(&format!("/v1/audit/checkpoints/{old_size}"))?;
    let new_view = client.get(&format!("/v1/audit/checkpoints/{new_size}"))?;
    let key = public_key(client, pinned)?;
    let old = checked_checkpoint(&old_view, &key)?;
    let new = checked_checkpoint(&new_view, &key)?;
    for (asked, signed) in [(old_size, &old), (new_size, &new)] {
        if signed.checkpoint.tree_size != asked {
            return Err(not_verified(format!(
                "asked for the checkpoint of tree size {asked}, the server returned size {}",
                signed.checkpoint.tree_size
            )));
        }
    }
    let proof = client.get(&format!(
        "/v1/audit/proofs/consistency?old_size={old_size}&new_size={new_size}"
    ))?;
    let path = hashes(&proof["proof"])?;
    let (old_root, new_root) = (old.checkpoint.root_hash, new.checkpoint.root_hash);
    if let Err(error) = verify_consistency(old_size, new_size, &old_root, &new_root, &path) {
        return Err(not_verified(format!(
            "the signed tree of size {old_size} is not a prefix of the signed tree of size \
             {new_size}: {error}"
        )));
    }
    Ok(Verified {
        message: format!(
            "the signed tree of size {old_size} (root {old_root}) is a prefix of the signed \
             tree of size {new_size} (root {new_root}, key {})",
            new.key_id
        ),
        json: json!({
            "verified": true,
            "old_size": old_size,
            "old_root": old_root.to_string(),
            "new_size": new_size,
            "new_root": new_root.to_string(),
            "key_id": new.key_id,
            "proof": proof["proof"],
        }),
    })
}

/// `--public-key`: the `ed25519:…` text, or a file holding it.
fn read_public_key(arg: &str) -> anyhow::Result<[u8; 32]> {
    let text = if arg.starts_with(steward_audit::PUBLIC_KEY_PREFIX) {
        arg.to_owned()
    } else {
        std::fs::read_to_string(arg)
            .with_context(|| format!("reading the public key file `{arg}`"))?
    };
    parse_public_key(text.trim())
        .map_err(|e| crate::failure::invalid(format!("`--public-key`: {e}")))
}

/// The pinned key, or the one the server reports.
fn public_key(client: &Client, pinned: Option<[u8; 32]>) -> anyhow::Result<[u8; 32]> {
    if let Some(key) = pinned {
        return Ok(key);
    }
    let view = client.get("/v1/audit/public-key")?;
    let text = view["key"].as_str().unwrap_or_default();
    parse_public_key(text)
        .map_err(|e| not_verified(format!("the server's public key is unusable: {e}")))
}

/// The checkpoint in the server's JSON form, once its signature verifies with `key`.
fn checked_checkpoint(view: &Value, key: &[u8; 32]) -> anyhow::Result<SignedCheckpoint> {
    let malformed =
        |what: &str| not_verified(format!("the server's checkpoint has no valid `{what}`"));
    let tree_size = view["tree_size"]
        .as_u64()
        .ok_or_else(|| malformed("tree_size"))?;
    let root_hash: Hash = view["root_hash"]
        .as_str()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| malformed("root_hash"))?;
    let ts_ms = view["ts_ms"].as_i64().ok_or_else(|| malformed("ts_ms"))?;
    let key_id = view["key_id"]
        .as_str()
        .ok_or_else(|| malformed("key_id"))?
        .to_owned();
    let mut signature = [0; 64];
    view["signature"]
        .as_str()
        .and_then(|text| hex::decode_to_slice(text, &mut signature).ok())
        .ok_or_else(|| malformed("signature"))?;
    let signed = SignedCheckpoint {
        checkpoint: Checkpoint {
            tree_size,
            root_hash,
            ts_ms,
        },
        key_id,
        signature,
    };
    verify_checkpoint(&signed, key).map_err(|e| {
        not_verified(format!(
            "the checkpoint of tree size {tree_size} is not validly signed: {e}"
        ))
    })?;
    Ok(signed)
}

/// A proof's hex hashes.
fn hashes(value: &Value) -> anyhow::Result<Vec<Hash>> {
    proof_hashes(value).ok_or_else(|| not_verified("the server's proof is not a list of hashes"))
}

/// A JSON list of hex hashes (a proof as the server sends it), or `None` when it is not one.
pub(super) fn proof_hashes(value: &Value) -> Option<Vec<Hash>> {
    value
        .as_array()?
        .iter()
        .map(|item| item.as_str().and_then(|text| text.parse().ok()))
        .collect()
}
