//! How failures become exit codes: invalid input (a bad task, policy or argument, or a
//! request the server refused with a 4xx) is 2, anything else is 1. A wait for a permit
//! that ends without the permit reaching the state waited for has a code per reason
//! ([`wait_exit_code`]).

use std::fmt;
use std::process::ExitCode;

use steward_permits::WaitOutcome;

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

/// The exit code of a wait (`steward permit wait`, `permit request --wait`) that timed
/// out: the permit was still on its way when the wait's own `--timeout` passed.
pub const WAIT_TIMED_OUT: u8 = 9;

/// The exit code of a wait that ended with `outcome`: 0 reached; 4 rejected; 5 expired
/// (nobody decided in time); 6 revoked; 7 changes requested (resubmit first); 8 ended
/// (completed or closed already). 1, 2 and 3 keep their meaning (unreachable, invalid
/// input or refused, broken audit chain), 9 is [`WAIT_TIMED_OUT`].
pub fn wait_exit_code(outcome: WaitOutcome) -> u8 {
    match outcome {
        WaitOutcome::Reached => 0,
        WaitOutcome::Rejected => 4,
        WaitOutcome::Expired => 5,
        WaitOutcome::Revoked => 6,
        WaitOutcome::ChangesRequested => 7,
        WaitOutcome::Ended => 8,
        WaitOutcome::Waiting => WAIT_TIMED_OUT,
    }
}

/// The error and its causes on one line, newlines folded.
pub fn one_line(err: &anyhow::Error) -> String {
    let text = format!("{err:#}");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
