//! `steward audit verify --checkpoint FILE`: checks the trail against a signed checkpoint
//! kept outside the server's database (issue 9, item 6), as transparency logs' witnesses
//! do, so a truncation that also removed the later checkpoints and Merkle nodes is found.
//!
//! FILE is one checkpoint as `GET /v1/audit/checkpoints/latest` returns it (or as an
//! `audit.checkpoint` webhook receives it), or the JSON Lines `steward serve
//! --checkpoint-sink` writes, of which the largest tree is used. Its signature is checked
//! here with the pinned `--public-key` or the server's key. Then, without trusting the
//! server's word: the server must still hold a signed checkpoint at least as large
//! (signature checked here), and the consistency proof the server supplies must lead,
//! checked here with `steward_audit`, from the witnessed root to that signed root. The server's own
//! measure of its current trail (`POST /v1/audit/verify/checkpoint`) is reported beside,
//! and damage either way is damage.
//!
//! Exit codes: 0 consistent, 3 damaged (truncated or inconsistent, with the first seq
//! affected and the proof's outcome), 2 an unusable FILE (unreadable, not a checkpoint,
//! or not signed by the key), 1 the server could not be reached.

use std::path::Path;
use std::process::ExitCode;

use serde_json::{Value, json};
use steward_audit::{
    Hash, PublishedCheckpoint, SignedCheckpoint, WitnessError, WitnessKind, check_witnessed,
    verify_checkpoint,
};

use crate::client::{Client, ClientArgs};
use crate::command::audit::EXIT_VERIFY_FAILED;
use crate::failure::{InvalidInput, invalid};
use crate::output::{print, print_json};

/// What the local check found, against the server's signed checkpoints.
struct LocalCheck {
    /// The signed checkpoint the witness was checked against (the smallest of at least its
    /// size), when the server holds one whose signature verified.
    latest: Option<SignedCheckpoint>,
    proof: Vec<Hash>,
    outcome: Result<(), WitnessError>,
}

/// Runs `steward audit verify --checkpoint FILE`; `pinned` is `--public-key`, if given.
pub fn verify(
    client_args: &ClientArgs,
    file: &Path,
    pinned: Option<[u8; 32]>,
) -> anyhow::Result<ExitCode> {
    let witnessed = read_witness(file)?;
    let client = Client::new(client_args)?;
    let key = super::export::trusted_key(&client, pinned)?;
    if let Err(error) = verify_checkpoint(&witnessed, &key) {
        return Err(invalid(format!(
            "`{}`: the checkpoint of tree size {} does not verify with the key `{}`: {error}",
            file.display(),
            witnessed.checkpoint.tree_size,
            steward_audit::key_id(&key)
        )));
    }
    let published = serde_json::to_value(PublishedCheckpoint::from(&witnessed))?;
    let server = client.post("/v1/audit/verify/checkpoint", Some(&published))?;
    let server_ok = server["ok"].as_bool() == Some(true);
    let local = match check_locally(&client, &witnessed, &key) {
        Ok(local) => local,
        // The server answered a moment ago: a refusal now (or a failure while it reports
        // damage) means the proof cannot be had, which is damage too.
        Err(error) if !server_ok || error.chain().any(|e| e.is::<InvalidInput>()) => LocalCheck {
            latest: None,
            proof: Vec::new(),
            outcome: Err(WitnessError {
                kind: WitnessKind::Inconsistent,
                first_bad_seq: 1,
                problem: format!("no verifiable proof from the server: {error:#}"),
            }),
        },
        Err(error) => return Err(error),
    };
    report(file, &witnessed, &local, &server, client_args.json)
}

/// The witnessed checkpoint in FILE: one JSON object, or JSON Lines of them (the largest
/// tree wins). Anything else is unusable input (exit 2).
fn read_witness(file: &Path) -> anyhow::Result<SignedCheckpoint> {
    let name = file.display();
    let text =
        std::fs::read_to_string(file).map_err(|e| invalid(format!("cannot read `{name}`: {e}")))?;
    // One object, however it is laid out (a saved `GET …/latest` answer, pretty-printed).
    if let Ok(one) = serde_json::from_str::<PublishedCheckpoint>(&text) {
        return Ok(one.into());
    }
    let mut best: Option<PublishedCheckpoint> = None;
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let checkpoint: PublishedCheckpoint = serde_json::from_str(line).map_err(|e| {
            invalid(format!(
                "`{name}` line {}: not a checkpoint as `GET /v1/audit/checkpoints/latest` \
                 returns it: {e}",
                index + 1
            ))
        })?;
        if best
            .as_ref()
            .is_none_or(|b| checkpoint.tree_size > b.tree_size)
        {
            best = Some(checkpoint);
        }
    }
    best.map(SignedCheckpoint::from).ok_or_else(|| {
        invalid(format!(
            "`{name}` holds no checkpoint: expected `GET /v1/audit/checkpoints/latest`'s \
             JSON, or the JSON Lines of `steward serve --checkpoint-sink`"
        ))
    })
}

/// Checks the witnessed checkpoint against the server's latest signed checkpoint with a
/// proof verified here. The server must hold one at least as large: the witness was
/// signed by its key, and signed checkpoints are never deleted.
fn check_locally(
    client: &Client,
    witnessed: &SignedCheckpoint,
    key: &[u8; 32],
) -> anyhow::Result<LocalCheck> {
    let size = witnessed.checkpoint.tree_size;
    let none_left = |held: String| LocalCheck {
        latest: None,
        proof: Vec::new(),
        outcome: Err(WitnessError {
            kind: WitnessKind::Truncated,
            first_bad_seq: 1,
            problem: format!(
                "the server holds {held}, though it signed the witnessed tree of {size} \
                 events: its later checkpoints were removed"
            ),
        }),
    };
    let view = match client.get("/v1/audit/checkpoints/latest") {
        Ok(view) => view,
        // The request was fine a moment ago (same token): a 4xx here is the 404 of a
        // server without any checkpoint.
        Err(error) if error.chain().any(|e| e.is::<InvalidInput>()) => {
            return Ok(none_left("no signed checkpoint".to_owned()));
        }
        Err(error) => return Err(error),
    };
    let latest: SignedCheckpoint = serde_json::from_value::<PublishedCheckpoint>(view)
        .map_err(|e| invalid(format!("the server's checkpoint is malformed: {e}")))?
        .into();
    if let Err(error) = verify_checkpoint(&latest, key) {
        return Ok(LocalCheck {
            latest: None,
            proof: Vec::new(),
            outcome: Err(WitnessError {
                kind: WitnessKind::Inconsistent,
                first_bad_seq: 1,
                problem: format!(
                    "the server's checkpoint of tree size {} is not validly signed: {error}",
                    latest.checkpoint.tree_size
                ),
            }),
        });
    }
    let latest_size = latest.checkpoint.tree_size;
    if latest_size < size {
        let mut check = none_left(format!(
            "signed checkpoints of at most {latest_size} events"
        ));
        if let Err(error) = &mut check.outcome {
            error.first_bad_seq = latest_size + 1;
        }
        return Ok(check);
    }
    let answer = client.get(&format!(
        "/v1/audit/proofs/consistency?old_size={size}&new_size={latest_size}"
    ))?;
    let proof = hashes(&answer["proof"])?;
    let outcome = check_witnessed(
        &witnessed.checkpoint,
        latest_size,
        &latest.checkpoint.root_hash,
        &proof,
    );
    Ok(LocalCheck {
        latest: Some(latest),
        proof,
        outcome,
    })
}

/// Prints the outcome and picks the exit code: 0 when both the local check and the
/// server's measure of its current trail are consistent, 3 otherwise.
fn report(
    file: &Path,
    witnessed: &SignedCheckpoint,
    local: &LocalCheck,
    server: &Value,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let server_ok = server["ok"].as_bool() == Some(true);
    let ok = local.outcome.is_ok() && server_ok;
    // The server sees its current trail, which may be past the latest signed tree, so its
    // seq and kind are preferred when it reports damage.
    let (kind, first_bad_seq, problem) = match (&local.outcome, server_ok) {
        (_, false) => (
            server["kind"].as_str().unwrap_or("inconsistent").to_owned(),
            server["first_bad_seq"].as_u64(),
            server["problem"].as_str().unwrap_or_default().to_owned(),
        ),
        (Err(error), true) => (
            error.kind.as_str().to_owned(),
            Some(error.first_bad_seq),
            error.problem.clone(),
        ),
        (Ok(()), true) => (String::new(), None, String::new()),
    };
    let w = &witnessed.checkpoint;
    let proof_outcome = match (&local.latest, &local.outcome) {
        (Some(latest), Ok(())) => format!(
            "verified here: the witnessed tree of {} events is a prefix of the signed tree of {} \
             events (root {}, key {})",
            w.tree_size, latest.checkpoint.tree_size, latest.checkpoint.root_hash, latest.key_id
        ),
        (_, Err(error)) => format!("NOT verified: {}", error.problem),
        (None, Ok(())) => "not checked".to_owned(),
    };
    if json {
        let mut out = json!({
            "ok": ok,
            "witnessed": {
                "file": file.display().to_string(),
                "tree_size": w.tree_size,
                "root_hash": w.root_hash.to_string(),
                "ts_ms": w.ts_ms,
                "key_id": witnessed.key_id,
            },
            "local": {
                "ok": local.outcome.is_ok(),
                "signed": local.latest.as_ref().map(|l| json!({
                    "tree_size": l.checkpoint.tree_size,
                    "root_hash": l.checkpoint.root_hash.to_string(),
                })),
                "consistency_proof": local.proof.iter().map(Hash::to_string).collect::<Vec<_>>(),
                "proof": proof_outcome,
            },
            "server": server,
        });
        if !ok {
            out["kind"] = json!(kind);
            out["first_bad_seq"] = json!(first_bad_seq);
            out["problem"] = json!(problem);
        }
        print_json(&out)?;
    } else if ok {
        print(&format!(
            "audit trail consistent with the witnessed checkpoint of {} events (root {})\n\
             consistency proof {proof_outcome}\n\
             server's current tree: {} events\n",
            w.tree_size, w.root_hash, server["current"]["tree_size"]
        ))?;
    } else {
        let at = first_bad_seq.map_or_else(String::new, |seq| format!(" from seq {seq}"));
        print(&format!(
            "audit trail DAMAGED against the witnessed checkpoint of {} events (root {}): \
             {kind}{at}\n{problem}\nconsistency proof {proof_outcome}\n",
            w.tree_size, w.root_hash
        ))?;
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_VERIFY_FAILED)
    })
}

/// A proof's hex hashes.
fn hashes(value: &Value) -> anyhow::Result<Vec<Hash>> {
    super::prove::proof_hashes(value)
        .ok_or_else(|| invalid("the server's consistency proof is not a list of hashes"))
}
