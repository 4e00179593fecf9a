//! `steward audit export` and `steward audit verify`: download the trail as JSON Lines,
//! and verify an export here with `steward_audit::verify_export` (chain, checkpoint
//! signatures, Merkle roots, truncation), online or offline from a file with only the
//! public key.
//!
//! Exit codes of `verify`: 0 intact, 3 damaged (the first bad seq, the kind of damage and
//! what is wrong are printed), 2 unusable input (the file or the key cannot be read, or
//! the file is not an export at all), 1 the server could not be reached.

use std::fs::File;
use std::io::{BufRead as _, BufReader, BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use serde_json::{Value, json};
use steward_audit::{
    Damage, ExportVerifier, VerifyError, VerifyErrorKind, VerifyReport, parse_public_key,
};

use crate::client::{Client, ClientArgs};
use crate::command::audit::EXIT_VERIFY_FAILED;
use crate::command::token::str_of;
use crate::failure::invalid;
use crate::output::{print, print_json};

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Export events from this seq on (to resume: the last exported seq + 1).
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub from_seq: u64,
    /// Write to FILE (through `FILE.partial`, renamed once complete) instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Verify this export file, without a server.
    #[arg(long, value_name = "FILE", requires = "public_key")]
    pub offline: Option<PathBuf>,
    /// The public key to trust: `ed25519:…`, or a file holding it (`audit-signing.pub`).
    /// Required with `--offline`; online, the default is the key the server reports.
    #[arg(long, value_name = "KEY|FILE")]
    pub public_key: Option<String>,
    /// Verify the trail against a checkpoint kept outside the server: FILE as `GET
    /// /v1/audit/checkpoints/latest` returned it, or the JSON Lines of `steward serve
    /// --checkpoint-sink` (the largest tree is used). Exit 3 when the trail is shorter
    /// than it (truncated) or the consistency proof does not link it to the server's
    /// signed tree (inconsistent); the proof is verified here.
    #[arg(long, value_name = "FILE", conflicts_with = "offline")]
    pub checkpoint: Option<PathBuf>,
}

/// What an export holds, counted from its lines.
#[derive(Debug, Default)]
struct Counts {
    events: u64,
    checkpoints: u64,
    last_seq: Option<u64>,
}

pub fn export(client_args: &ClientArgs, args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(client_args)?;
    let path = format!("/v1/audit/export?from_seq={}", args.from_seq);
    let mut counts = Counts::default();
    let mut pending = Vec::new();
    match &args.output {
        Some(output) => {
            let partial = partial_path(output);
            let file = File::create(&partial)
                .with_context(|| format!("creating `{}`", partial.display()))?;
            let mut writer = BufWriter::new(file);
            client.download(&path, |chunk| {
                count_lines(&mut pending, chunk, &mut counts);
                writer
                    .write_all(chunk)
                    .with_context(|| format!("writing `{}`", partial.display()))
            })?;
            let file = writer
                .into_inner()
                .map_err(|e| anyhow::anyhow!("writing `{}`: {}", partial.display(), e.error()))?;
            file.sync_all()
                .with_context(|| format!("writing `{}`", partial.display()))?;
            std::fs::rename(&partial, output).with_context(|| {
                format!("renaming `{}` to `{}`", partial.display(), output.display())
            })?;
            let message = summary(&counts, args.from_seq);
            if client_args.json {
                print_json(&json!({
                    "file": output.display().to_string(),
                    "events": counts.events,
                    "checkpoints": counts.checkpoints,
                    "last_seq": counts.last_seq,
                }))?;
            } else {
                print(&format!("{message} to {}\n", output.display()))?;
            }
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            client.download(&path, |chunk| {
                count_lines(&mut pending, chunk, &mut counts);
                out.write_all(chunk).context("writing to stdout")
            })?;
            out.flush().context("writing to stdout")?;
            let _ = writeln!(
                std::io::stderr(),
                "steward: {}",
                summary(&counts, args.from_seq)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn verify(client_args: &ClientArgs, args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let pinned = args
        .public_key
        .as_deref()
        .map(read_public_key)
        .transpose()?;
    if let Some(file) = &args.checkpoint {
        return super::witness::verify(client_args, file, pinned);
    }
    let json = client_args.json;
    if let Some(file) = &args.offline {
        let key = pinned.ok_or_else(|| invalid("`--offline` needs `--public-key`"))?;
        let unreadable =
            |e: std::io::Error| invalid(format!("cannot read `{}`: {e}", file.display()));
        let mut reader = BufReader::new(File::open(file).map_err(unreadable)?);
        let mut verifier = ExportVerifier::new(&key);
        let mut line = Vec::new();
        let mut failed = None;
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line).map_err(unreadable)? == 0 {
                break;
            }
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            if let Err(error) = verifier.push_line(text) {
                failed = Some(error);
                break;
            }
        }
        let result = match failed {
            Some(error) => Err(error),
            None => verifier.finish(),
        };
        if let Err(error) = &result
            && unusable(error)
        {
            // Unusable input, not damage: name the problem without calling it damage.
            return Err(invalid(format!(
                "`{}` is not an audit export: {}",
                file.display(),
                error.kind
            )));
        }
        return report(&result, None, json);
    }

    let client = Client::new(client_args)?;
    let key = trusted_key(&client, pinned)?;
    // Verified line by line as it arrives: only the Merkle leaves are kept in memory.
    let mut verifier = ExportVerifier::new(&key);
    let mut pending = Vec::new();
    let mut failed = None;
    let downloaded = client.download("/v1/audit/export", |chunk| {
        if failed.is_some() {
            return Ok(());
        }
        pending.extend_from_slice(chunk);
        let Some(end) = pending.iter().rposition(|b| *b == b'\n') else {
            return Ok(());
        };
        for line in pending[..end].split(|b| *b == b'\n') {
            if let Err(error) = verifier.push_line(line) {
                failed = Some(error);
                break;
            }
        }
        pending.drain(..=end);
        Ok(())
    });
    // The server's own check of the stored chain, reported alongside.
    let stored = client.get("/v1/audit/verify")?;
    if let Err(error) = downloaded {
        // An export cut off mid-way is damage only if the stored trail is damaged too
        // (the server ends the stream where it cannot read a row); otherwise it is the
        // transport's failure.
        if stored["ok"].as_bool() != Some(false) {
            return Err(error);
        }
        pending.clear();
    }
    let result = match failed {
        Some(error) => Err(error),
        None if !pending.is_empty() => verifier
            .push_line(&pending)
            .and_then(|()| verifier.finish()),
        None => verifier.finish(),
    };
    report(&result, Some(&stored), json)
}

/// The key to check signatures with: the one pinned with `--public-key`, or else the one
/// the server reports.
pub(super) fn trusted_key(client: &Client, pinned: Option<[u8; 32]>) -> anyhow::Result<[u8; 32]> {
    match pinned {
        Some(key) => Ok(key),
        None => {
            let view = client.get("/v1/audit/public-key")?;
            parse_public_key(str_of(&view, "key"))
                .map_err(|e| anyhow::anyhow!("the server's public key is unusable: {e}"))
        }
    }
}

/// Prints the outcome and picks the exit code: 0 when the export (and the server's own
/// check, online) is intact, 3 otherwise.
fn report(
    result: &Result<VerifyReport, VerifyError>,
    stored: Option<&Value>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let stored_ok = stored.is_none_or(|v| v["ok"].as_bool() == Some(true));
    let ok = result.is_ok() && stored_ok;
    if json {
        let mut out = match result {
            Ok(report) => json!({
                "ok": ok,
                "events": report.events,
                "checkpoints": report.checkpoints,
                "manifests": report.manifests,
                "pruned_events": report.pruned_events,
                "first_seq": report.first_seq,
                "last_seq": report.last_seq,
                "head_hash": report.head_hash.to_string(),
                "roots_checked": report.roots_checked,
            }),
            Err(error) => json!({
                "ok": false,
                "first_bad_seq": error.seq,
                "kind": Damage::from(&error.kind),
                "problem": error.kind.to_string(),
            }),
        };
        if let Some(stored) = stored {
            out["server"] = stored.clone();
        }
        print_json(&out)?;
    } else {
        let mut text = match result {
            Ok(report) => format!("audit export intact: {report}\n"),
            Err(error) => {
                let kind = Damage::from(&error.kind);
                match error.seq {
                    Some(seq) => {
                        format!(
                            "audit export DAMAGED at seq {seq} ({kind}): {}\n",
                            error.kind
                        )
                    }
                    None => format!("audit export DAMAGED ({kind}): {}\n", error.kind),
                }
            }
        };
        if let Some(stored) = stored {
            if stored_ok {
                text.push_str(&format!(
                    "server's stored chain intact: {} events\n",
                    stored["head_seq"]
                ));
            } else {
                text.push_str(&format!(
                    "server's stored trail DAMAGED at seq {} ({}): {}\n",
                    stored["first_bad_seq"],
                    stored["kind"].as_str().unwrap_or("damage"),
                    str_of(stored, "problem"),
                ));
            }
        }
        print(&text)?;
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_VERIFY_FAILED)
    })
}

/// Whether the input is no export at all (exit 2) rather than a damaged one (exit 3):
/// its first line is not a header.
fn unusable(error: &VerifyError) -> bool {
    matches!(error.kind, VerifyErrorKind::Malformed { line: 1, .. })
}

/// Counts the events and checkpoints of complete lines, carrying a partial line over to
/// the next chunk in `pending`.
fn count_lines(pending: &mut Vec<u8>, chunk: &[u8], counts: &mut Counts) {
    pending.extend_from_slice(chunk);
    let Some(end) = pending.iter().rposition(|b| *b == b'\n') else {
        return;
    };
    for line in pending[..end].split(|b| *b == b'\n') {
        if line.starts_with(b"{\"checkpoint\":") {
            counts.checkpoints += 1;
        } else if !line.starts_with(b"{\"export\":") {
            counts.events += 1;
            if let Ok(event) = serde_json::from_slice::<Value>(line) {
                counts.last_seq = event["seq"].as_u64().or(counts.last_seq);
            }
        }
    }
    pending.drain(..=end);
}

fn summary(counts: &Counts, from_seq: u64) -> String {
    match counts.last_seq {
        Some(last) => format!(
            "exported {} events (seq {from_seq} to {last}) and {} checkpoints; resume with \
             --from-seq {}",
            counts.events,
            counts.checkpoints,
            last + 1
        ),
        None => format!("exported no events (nothing from seq {from_seq} on)"),
    }
}

/// `FILE.partial`, next to `FILE`.
fn partial_path(output: &Path) -> PathBuf {
    let mut name = output.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// `ed25519:…` as given, or read from a file; unreadable or invalid is exit 2.
fn read_public_key(arg: &str) -> anyhow::Result<[u8; 32]> {
    let text = if arg.starts_with(steward_audit::PUBLIC_KEY_PREFIX) {
        arg.to_owned()
    } else {
        std::fs::read_to_string(arg)
            .map_err(|e| invalid(format!("cannot read the public key file `{arg}`: {e}")))?
    };
    parse_public_key(text.trim()).map_err(|e| invalid(format!("`--public-key`: {e}")))
}
