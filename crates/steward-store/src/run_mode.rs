//! How a database is run (issue 13): `production`, on the wall clock, or `rehearsal`
//! (`steward serve --rehearsal`), on a clock an admin advances to rehearse the time rules.
//! The first `serve` records the mode (table `run_mode`, one row) and a later serve in the
//! other mode is refused, so a rehearsal never writes into a production trail nor the
//! reverse. A rehearsal's advance of the clock is kept in the row, so a restart resumes
//! the rehearsal's time.

use std::sync::atomic::Ordering;

use steward_audit::event::{ClockAdvanced, RunModeRecorded};

use crate::audit::append_unscoped_event;
use crate::caller::Caller;
use crate::error::StoreError;
use crate::permit::system_actor;
use crate::store::{Store, in_tx};

/// How a database is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    Production,
    Rehearsal,
}

impl RunMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RunMode::Production => "production",
            RunMode::Rehearsal => "rehearsal",
        }
    }

    fn parse(text: &str) -> Option<RunMode> {
        match text {
            "production" => Some(RunMode::Production),
            "rehearsal" => Some(RunMode::Rehearsal),
            _ => None,
        }
    }
}

/// Why `serve` may not run this database in the mode asked.
#[derive(Debug, thiserror::Error)]
pub enum RunModeError {
    #[error(
        "this database is run in {recorded} mode and cannot be served in {asked} mode: a rehearsal never shares a trail with production (use another database{hint})"
    )]
    Mismatch {
        recorded: &'static str,
        asked: &'static str,
        hint: &'static str,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Store {
    /// Makes every event this store (and its clones) appends from now on carry
    /// `data.run_mode: "rehearsal"`. Called once by `serve --rehearsal`, before anything
    /// is written.
    pub fn set_rehearsal(&self) {
        self.rehearsal.store(true, Ordering::SeqCst);
    }

    /// Whether this store runs a rehearsal.
    pub fn is_rehearsal(&self) -> bool {
        self.rehearsal.load(Ordering::SeqCst)
    }

    /// The mode of this store.
    pub fn run_mode(&self) -> RunMode {
        if self.is_rehearsal() {
            RunMode::Rehearsal
        } else {
            RunMode::Production
        }
    }

    /// Checks that this database may be served in `mode`, recording the mode on the first
    /// serve (a rehearsal also in the trail, `run_mode.recorded`), and returns how far a
    /// rehearsal's clock was advanced (ms; 0 in production). A database with workers or
    /// permits but no recorded mode was run before modes existed, on the wall clock: it is
    /// `production`.
    pub async fn claim_run_mode(&self, mode: RunMode, now_ms: i64) -> Result<i64, RunModeError> {
        let mut tx = self.begin().await?;
        let sql = format!(
            "SELECT mode, clock_offset_ms FROM run_mode WHERE id = 1{}",
            tx.for_update()
        );
        let row = in_tx!(tx, fetch_optional, sqlx::query_as::<_, (String, i64)>(&sql));
        let (recorded, offset) = match row {
            Some((text, offset)) => (
                RunMode::parse(&text)
                    .ok_or_else(|| StoreError::corrupt("run mode", 1, text.clone()))?,
                offset,
            ),
            None => {
                const USED: &str =
                    "SELECT (SELECT COUNT(*) FROM workers) + (SELECT COUNT(*) FROM permits)";
                let used = in_tx!(tx, fetch_one, sqlx::query_scalar::<_, i64>(USED));
                let recorded = if used > 0 { RunMode::Production } else { mode };
                const INSERT: &str = "INSERT INTO run_mode (id, mode, recorded_at) \
                     VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING";
                in_tx!(tx, execute, sqlx::query(INSERT), recorded.as_str(), now_ms);
                // Production is what every database was before modes existed, and what
                // the absence of `data.run_mode` on events already says; a rehearsal is
                // recorded in the trail too.
                if recorded == mode && mode == RunMode::Rehearsal {
                    append_unscoped_event(
                        &mut tx,
                        now_ms,
                        system_actor(),
                        RunModeRecorded {
                            mode: recorded.as_str().to_owned(),
                        },
                    )
                    .await?;
                }
                (recorded, 0)
            }
        };
        if recorded != mode {
            tx.rollback().await?;
            return Err(RunModeError::Mismatch {
                recorded: recorded.as_str(),
                asked: mode.as_str(),
                hint: match recorded {
                    RunMode::Production => ", or a fresh data directory, for a rehearsal",
                    RunMode::Rehearsal => " for production",
                },
            });
        }
        tx.commit().await?;
        Ok(offset)
    }

    /// Advances a rehearsal's clock by `by_ms` (an admin's act, `clock.advanced`), so the
    /// time rules can be rehearsed; returns the new total offset. Refused in production.
    pub async fn advance_rehearsal_clock(
        &self,
        by: &Caller,
        by_ms: i64,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        if !self.is_rehearsal() {
            return Err(StoreError::Conflict {
                message: "the clock advances only under `steward serve --rehearsal`".to_owned(),
            });
        }
        let mut tx = self.begin().await?;
        const UPDATE: &str = "UPDATE run_mode SET clock_offset_ms = clock_offset_ms + $1 \
             WHERE id = 1 AND mode = 'rehearsal' RETURNING clock_offset_ms";
        let offset = in_tx!(
            tx,
            fetch_optional,
            sqlx::query_scalar::<_, i64>(UPDATE),
            by_ms
        );
        let Some(offset) = offset else {
            return Err(StoreError::Conflict {
                message: "this database is not run as a rehearsal".to_owned(),
            });
        };
        append_unscoped_event(
            &mut tx,
            // The event is stamped at the new time: what follows happens after it.
            now_ms + by_ms,
            by.actor(),
            ClockAdvanced {
                by_ms,
                offset_ms: offset,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(offset)
    }
}
