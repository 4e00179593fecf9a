//! How failures become exit codes: invalid input (a bad task, policy or argument, or a
//! request the server refused with a 4xx) is 2, anything else is 1.

use std::fmt;
use std::process::ExitCode;

/// Marks an error as the user's input being invalid (exit code 2).
#[derive(Debug)]
pub struct InvalidInput(pub String);

impl fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidInput {}

/// Shorthand for returning an invalid-input error.
pub fn invalid(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(InvalidInput(message.into()))
}

pub fn exit_code(err: &anyhow::Error) -> ExitCode {
    if err.chain().any(|e| e.is::<InvalidInput>()) {
        ExitCode::from(2)
    } else {
        ExitCode::from(1)
    }
}

/// The error and its causes on one line, newlines folded.
pub fn one_line(err: &anyhow::Error) -> String {
    let text = format!("{err:#}");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
