//! Writing results: the `--format` choice, JSON and text output, and times for humans.

use std::io::Write as _;

use clap::ValueEnum;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Machine-readable JSON.
    Json,
    /// A short human summary.
    Text,
}

/// Treats a closed pipe on stdout (`steward check … | head`) as a normal end, not an error.
pub fn finish_output(result: std::io::Result<()>) -> anyhow::Result<()> {
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Writes `text` to stdout as it is.
pub fn print(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    finish_output(out.write_all(text.as_bytes()).and_then(|()| out.flush()))
}

/// Writes `value` to stdout as pretty JSON and a newline.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    print(&(serde_json::to_string_pretty(value)? + "\n"))
}

/// Unix milliseconds as `2026-11-05 14:03:12Z`, or `never` for none.
pub fn time(ms: Option<i64>) -> String {
    match ms.and_then(chrono::DateTime::from_timestamp_millis) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%SZ").to_string(),
        None if ms.is_some() => format!("{} ms", ms.unwrap_or_default()),
        None => "never".to_owned(),
    }
}
