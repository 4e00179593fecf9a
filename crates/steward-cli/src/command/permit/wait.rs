//! `steward permit wait` and `steward permit request … --wait`: wait until a permit is
//! active (or decided), and exit by how the wait ended, so a master's script can branch on
//! it:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | reached: the permit is `active` (or, with `--until decided`, approved) |
//! | 4 | rejected by an approver |
//! | 5 | expired: nobody decided within twice the approval SLA |
//! | 6 | revoked (the permit's revocation says why) |
//! | 7 | changes requested: resubmit before anyone decides again |
//! | 8 | ended: it already ran (completed or closed) |
//! | 9 | timed out: `--timeout` passed while the permit was still on its way |
//!
//! 1 (server unreachable past the timeout, or failing), 2 (bad input, or the server refused
//! the request: unknown permit, bad token) and 3 keep their meaning.
//!
//! The wait is a loop of long polls (`GET /v1/permits/{id}/wait`, at most a minute each):
//! a lost connection or a restarting server is retried with backoff until the wait's own
//! timeout; without `--timeout` it waits until the permit settles, which it always does
//! (a request nobody decides expires at twice its approval SLA).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use steward_permits::{WaitOutcome, WaitUntil};

use super::{permit_path, permit_text};
use crate::client::{Client, PollError};
use crate::command::token::str_of;
use crate::failure::{WAIT_TIMED_OUT, wait_exit_code};
use crate::output::{print, print_json};

/// The longest one poll asks the server to wait (its own cap).
const POLL_SECONDS: u64 = 60;

/// How much longer than the poll the client gives the server to answer.
const POLL_GRACE: Duration = Duration::from_secs(15);

/// The longest pause between retries after a failed poll.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Waits on permit `id` and prints how the wait ended; the exit code says it too (see the
/// module docs). `connected` says the server answered this command already (it just
/// created the permit): until the server has answered once, failing to reach it is an
/// error (exit 1), not something to wait out.
pub fn wait(
    client: &Client,
    id: &str,
    until: WaitUntil,
    timeout: Option<Duration>,
    connected: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut connected = connected;
    let mut last: Option<Value> = None;
    let mut backoff = Duration::from_secs(1);
    let mut warned = false;
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        // Whole seconds, rounded up so the last poll covers the rest of the timeout.
        let seconds = left.map_or(POLL_SECONDS, |l| {
            u64::try_from(l.as_millis().div_ceil(1000))
                .unwrap_or(u64::MAX)
                .min(POLL_SECONDS)
        });
        let path = format!(
            "{}?until={}&timeout={seconds}",
            permit_path(id, "/wait"),
            until.as_str()
        );
        let asked = Instant::now();
        match client.long_poll(&path, Duration::from_secs(seconds) + POLL_GRACE) {
            Ok(answer) => {
                let outcome = answer["outcome"]
                    .as_str()
                    .and_then(|o| o.parse::<WaitOutcome>().ok())
                    .unwrap_or(WaitOutcome::Waiting);
                if outcome != WaitOutcome::Waiting {
                    report(&answer, outcome, json)?;
                    return Ok(ExitCode::from(wait_exit_code(outcome)));
                }
                last = Some(answer);
                connected = true;
                if asked.elapsed() < Duration::from_secs(seconds) / 2 {
                    // Answered early without news: the instance is shutting down. Pause
                    // before asking again rather than spin.
                    let pause = left.map_or(backoff, |l| backoff.min(l));
                    std::thread::sleep(pause);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                } else {
                    backoff = Duration::from_secs(1);
                }
            }
            Err(PollError::Refused(error)) => return Err(error),
            Err(PollError::Retry(error)) => {
                if !connected {
                    // Never heard from the server: that is the failure to report.
                    return Err(error);
                }
                if deadline.is_none_or(|d| Instant::now() < d) {
                    if !warned {
                        warned = true;
                        eprint_line(&format!("steward: {error:#}; retrying"));
                    }
                    let pause = left.map_or(backoff, |l| backoff.min(l));
                    std::thread::sleep(pause);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            timed_out(id, until, last.as_ref(), timeout, json)?;
            return Ok(ExitCode::from(WAIT_TIMED_OUT));
        }
    }
}

fn report(answer: &Value, outcome: WaitOutcome, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(answer);
    }
    let permit = &answer["permit"];
    let id = str_of(permit, "id");
    let state = str_of(permit, "state");
    let headline = match outcome {
        WaitOutcome::Reached => format!(
            "reached `{}`: permit {id} is {state}",
            str_of(answer, "until")
        ),
        WaitOutcome::Rejected => format!("rejected: permit {id} will not be issued"),
        WaitOutcome::Expired => format!("expired: nobody decided permit {id} in time"),
        WaitOutcome::Revoked => format!(
            "revoked: permit {id} ({})",
            str_of(&permit["revocation"], "reason")
        ),
        WaitOutcome::ChangesRequested => {
            format!("changes requested: resubmit permit {id} (`steward permit resubmit {id}`)")
        }
        WaitOutcome::Ended => {
            format!("ended: permit {id} is {state} and authorizes nothing more")
        }
        WaitOutcome::Waiting => format!("waiting: permit {id} is {state}"),
    };
    print(&format!(
        "{headline}\n{}  review: {}\n",
        permit_text(permit),
        str_of(answer, "link")
    ))
}

fn timed_out(
    id: &str,
    until: WaitUntil,
    last: Option<&Value>,
    timeout: Option<Duration>,
    json: bool,
) -> anyhow::Result<()> {
    let waited = humantime::format_duration(timeout.unwrap_or_default());
    if json {
        let mut answer = last.cloned().unwrap_or_else(|| json!({"permit": null}));
        answer["outcome"] = json!("timed_out");
        answer["until"] = json!(until.as_str());
        return print_json(&answer);
    }
    let state = last.map_or("?", |a| str_of(&a["permit"], "state"));
    print(&format!(
        "timed out after {waited}: permit {id} is still {state}, not yet `{until}`\n"
    ))
}

fn eprint_line(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{line}");
}
