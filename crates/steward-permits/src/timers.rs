//! Which timers are due (SPEC §5, §6.2, §6.3): a permit's approval SLA (overdue and
//! escalation, then request expiry at 2 × SLA), its expiry warnings at 30, 15 and 5
//! minutes, its expiry and the in-flight grace of an executing permit; a certification's
//! recertification grace and expiry, and the end of probation.
//!
//! Pure: the shell passes the times it stored and `now`, and persists which timers fired.
//! A timer is named by its [`TimerKind`] and its `due_at`, which is derived from stored
//! times only (a renewal moves `expires_at`, so the new expiry's warnings are new timers).
//! The shell fires each `(subject, kind, due_at)` at most once; these functions guarantee
//! that nothing is due before its time and that a stale timer (a warning overtaken by a
//! later one, an overdue flag overtaken by the request's expiry) is not offered at all.

use steward_audit::event::{
    PermitApprovalOverdue, PermitEscalated, PermitExpired, PermitExpiryGraceStarted,
    PermitExpiryWarning, PermitRevoked,
};
use steward_policy::{CertificationStatus, Level, Role};

use crate::certification::{Recertification, WorkerRecord, recert_rules, recertification};
use crate::names::string_enum;
use crate::plan::{By, Lifecycle, PlannedEvent, transition};
use crate::state::{PermitEvent, PermitState, RevocationReason, TransitionError};
use crate::time::Timestamp;

/// Minutes before `expires_at` at which an active or executing permit's holder and
/// approvers are warned, most distant first.
pub const EXPIRY_WARNING_MINUTES: [i64; 3] = [30, 15, 5];

/// Minutes an operation in flight may run past its permit's `expires_at` (SPEC §6.2).
/// During this grace no new operation starts: `authorize` answers `outside_window` from
/// `expires_at` on.
pub const IN_FLIGHT_GRACE_MINUTES: i64 = 15;

string_enum! {
    /// A kind of timer; with a subject and a `due_at` it names one firing. The store keeps
    /// these strings in its fired-timers ledger.
    TimerKind, "timer" {
        /// The approval SLA passed without a quorum: flag the request overdue and escalate
        /// to the next level's roles.
        ApprovalOverdue = "approval_overdue",
        /// 2 × the approval SLA passed without a quorum: the request expires.
        RequestExpiry = "request_expiry",
        ExpiryWarning30 = "expiry_warning_30",
        ExpiryWarning15 = "expiry_warning_15",
        ExpiryWarning5 = "expiry_warning_5",
        /// An active permit reached `expires_at`: revoked with `time_expiration`.
        PermitExpiry = "permit_expiry",
        /// An executing permit reached `expires_at`: its in-flight operation may finish
        /// within [`IN_FLIGHT_GRACE_MINUTES`], no new one starts.
        GraceStart = "grace_start",
        /// The in-flight grace ended with the permit still executing: revoked with
        /// `time_expiration`.
        GraceEnd = "grace_end",
        /// The recertification date passed: allowed with a warning until the grace ends.
        CertificationGrace = "certification_grace",
        /// The recertification grace ended: the certification expires (a hard block).
        CertificationExpiry = "certification_expiry",
        /// The probation after a promotion is over: the worker becomes `active`.
        ProbationEnd = "probation_end",
    }
}

impl TimerKind {
    /// For an expiry warning, the minutes before expiry it warns at.
    pub fn warning_minutes(self) -> Option<i64> {
        match self {
            TimerKind::ExpiryWarning30 => Some(30),
            TimerKind::ExpiryWarning15 => Some(15),
            TimerKind::ExpiryWarning5 => Some(5),
            TimerKind::ApprovalOverdue
            | TimerKind::RequestExpiry
            | TimerKind::PermitExpiry
            | TimerKind::GraceStart
            | TimerKind::GraceEnd
            | TimerKind::CertificationGrace
            | TimerKind::CertificationExpiry
            | TimerKind::ProbationEnd => None,
        }
    }

    fn warning(minutes: i64) -> TimerKind {
        match minutes {
            30 => TimerKind::ExpiryWarning30,
            15 => TimerKind::ExpiryWarning15,
            _ => TimerKind::ExpiryWarning5,
        }
    }
}

/// A timer whose time has come: fire it unless the ledger says it fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DueTimer {
    pub kind: TimerKind,
    /// When it became due; part of the timer's identity. Always `<= now`.
    pub due_at: Timestamp,
}

/// What the permit timers need to know about a permit, as stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PermitTimes {
    pub state: PermitState,
    /// When the request was made: the approval SLA counts from here.
    pub requested_at: Timestamp,
    /// The permit's approval SLA in hours; zero or less (auto-approval) means none.
    pub approval_sla_hours: f64,
    /// Set once issued.
    pub expires_at: Option<Timestamp>,
}

/// Where an active or executing permit stands against its expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryPhase {
    /// Before `expires_at`: operations may start.
    Valid,
    /// An executing permit past `expires_at`, within the in-flight grace: the operation in
    /// flight may complete until `until`; no new operation may start.
    InFlightGrace { until: Timestamp },
    /// Past `expires_at` (active) or past the grace (executing): nothing may run; the
    /// expiry timer revokes it with `time_expiration`.
    Expired,
}

/// Where a permit in `state` expiring at `expires_at` stands at `now`. For the authorize
/// route and the shell: only [`ExpiryPhase::Valid`] lets a new operation start, and
/// `complete` is accepted in `Valid` and `InFlightGrace`.
pub fn expiry_phase(state: PermitState, expires_at: Timestamp, now: Timestamp) -> ExpiryPhase {
    if now < expires_at {
        return ExpiryPhase::Valid;
    }
    let until = grace_end(expires_at);
    if state == PermitState::Executing && now < until {
        ExpiryPhase::InFlightGrace { until }
    } else {
        ExpiryPhase::Expired
    }
}

/// The end of the in-flight grace of a permit expiring at `expires_at`.
pub fn grace_end(expires_at: Timestamp) -> Timestamp {
    expires_at.plus_minutes(IN_FLIGHT_GRACE_MINUTES)
}

/// When the approval SLA of a request made at `requested_at` passes, if it has one.
pub fn approval_due(requested_at: Timestamp, sla_hours: f64) -> Option<Timestamp> {
    (sla_hours.is_finite() && sla_hours > 0.0).then(|| requested_at.plus_hours(sla_hours))
}

/// When a request made at `requested_at` expires without a quorum: 2 × the SLA.
pub fn request_expiry_due(requested_at: Timestamp, sla_hours: f64) -> Option<Timestamp> {
    approval_due(requested_at, sla_hours).map(|_| requested_at.plus_hours(2.0 * sla_hours))
}

/// Whether a request is overdue at `now`: still waiting for approvers (requested or under
/// review) and past its approval SLA. A flag derived from times, for reads and reports.
pub fn approval_overdue(p: &PermitTimes, now: Timestamp) -> bool {
    matches!(p.state, PermitState::Requested | PermitState::UnderReview)
        && approval_due(p.requested_at, p.approval_sla_hours).is_some_and(|due| now >= due)
}

/// Where a request waiting for a decision stands against its approval SLA, for reads:
/// when approvals are due, when the request expires (2 × SLA), whether it is overdue now
/// and, if so, the roles it was escalated to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReviewClock {
    pub approval_due: Timestamp,
    pub expires_at: Timestamp,
    pub overdue: bool,
    /// Empty until overdue; then [`escalation_roles`] of the permit's level.
    pub escalated_to: &'static [Role],
}

/// The review clock of a permit still waiting for a decision (requested, under review or
/// with changes requested) that has an approval SLA; `None` for any other permit. The
/// overdue flag follows [`approval_overdue`]: a request waiting on its requester is not
/// overdue, but it still expires.
pub fn review_clock(p: &PermitTimes, level: Level, now: Timestamp) -> Option<ReviewClock> {
    if !matches!(
        p.state,
        PermitState::Requested | PermitState::UnderReview | PermitState::ChangesRequested
    ) {
        return None;
    }
    let approval_due = approval_due(p.requested_at, p.approval_sla_hours)?;
    let expires_at = request_expiry_due(p.requested_at, p.approval_sla_hours)?;
    let overdue = approval_overdue(p, now);
    Some(ReviewClock {
        approval_due,
        expires_at,
        overdue,
        escalated_to: if overdue {
            escalation_roles(level)
        } else {
            &[]
        },
    })
}

/// The roles an overdue request at `level` escalates to: the approver roles of the next
/// level (SPEC §4, §6.3). Level 4 has no higher level; its escalation goes to all four
/// executives, every one of whom may approve it.
pub fn escalation_roles(level: Level) -> &'static [Role] {
    const LEVEL_2: &[Role] = &[
        Role::EngineeringManager,
        Role::TechLead,
        Role::SeniorEngineer,
    ];
    const LEVEL_3: &[Role] = &[
        Role::EngineeringDirector,
        Role::SecurityLead,
        Role::ArchitectureLead,
    ];
    const LEVEL_4: &[Role] = &[Role::VpEngineering, Role::Cto, Role::Ciso, Role::Coo];
    match level.value() {
        0 | 1 => LEVEL_2,
        2 => LEVEL_3,
        _ => LEVEL_4,
    }
}

/// What firing a permit's timer needs to know of the permit besides its lifecycle.
#[derive(Debug, Clone, Copy)]
pub struct TimerFacts<'a> {
    pub level: Level,
    pub requested_at: Timestamp,
    pub approval_sla_hours: f64,
    pub approver_roles: &'a [Role],
}

/// Fires one due permit timer (SPEC §6.2, §6.3): the events it records, all as Steward,
/// and the state change it makes in `life` (a request expired, a permit revoked with
/// `time_expiration`). Certification timers are not a permit's: nothing.
pub fn plan_timer(
    life: &mut Lifecycle,
    facts: &TimerFacts<'_>,
    timer: DueTimer,
) -> Result<Vec<PlannedEvent>, TransitionError> {
    let due_at_ms = timer.due_at.millis();
    let sla_hours = facts.approval_sla_hours;
    let names = |roles: &[Role]| roles.iter().map(|r| r.to_string()).collect::<Vec<_>>();
    let record =
        |payload: crate::events::PermitPayload| vec![PlannedEvent::record(By::System, payload)];
    Ok(match timer.kind {
        TimerKind::ApprovalOverdue => vec![
            PlannedEvent::record(
                By::System,
                PermitApprovalOverdue {
                    state: life.state.to_string(),
                    sla_hours,
                    requested_at_ms: facts.requested_at.millis(),
                    due_at_ms,
                    expires_at_ms: request_expiry_due(facts.requested_at, sla_hours)
                        .map(Timestamp::millis),
                },
            ),
            PlannedEvent::record(
                By::System,
                PermitEscalated {
                    reason: "approval_sla".to_owned(),
                    roles: names(escalation_roles(facts.level)),
                    approver_roles: names(facts.approver_roles),
                    due_at_ms,
                },
            ),
        ],
        TimerKind::RequestExpiry => {
            let expired = PermitExpired {
                reason: "no_quorum_within_twice_the_sla".to_owned(),
                sla_hours: Some(sla_hours),
                due_at_ms: Some(due_at_ms),
                ..PermitExpired::default()
            };
            vec![transition(
                &mut life.state,
                PermitEvent::Expire,
                By::System,
                expired,
            )?]
        }
        TimerKind::ExpiryWarning30 | TimerKind::ExpiryWarning15 | TimerKind::ExpiryWarning5 => {
            record(
                PermitExpiryWarning {
                    minutes: timer.kind.warning_minutes(),
                    expires_at_ms: life.expires_at.map(Timestamp::millis),
                    state: life.state.to_string(),
                }
                .into(),
            )
        }
        TimerKind::GraceStart => record(
            PermitExpiryGraceStarted {
                expires_at_ms: life.expires_at.map(Timestamp::millis),
                grace_until_ms: grace_end(timer.due_at).millis(),
            }
            .into(),
        ),
        TimerKind::PermitExpiry | TimerKind::GraceEnd => {
            let reason = RevocationReason::TimeExpiration;
            let grace_ended = timer.kind == TimerKind::GraceEnd;
            let revoked = PermitRevoked {
                expires_at_ms: Some(life.expires_at.map(Timestamp::millis)),
                in_flight_grace_ended: grace_ended.then_some(true),
                grace_until_ms: grace_ended.then_some(due_at_ms),
                ..PermitRevoked::new(reason.as_str())
            };
            let change = PermitEvent::Revoke { reason };
            vec![transition(&mut life.state, change, By::System, revoked)?]
        }
        TimerKind::CertificationGrace
        | TimerKind::CertificationExpiry
        | TimerKind::ProbationEnd => Vec::new(),
    })
}

/// The permit timers due at `now`, in the order to fire them.
///
/// - Requested, under review or changes requested, with an SLA: at 2 × SLA
///   [`TimerKind::RequestExpiry`]; before that, requested or under review past the SLA,
///   [`TimerKind::ApprovalOverdue`] (waiting on the requester is not the approvers' delay).
/// - Active or executing, before `expires_at`: the most urgent expiry warning whose time
///   has come (a warning overtaken by a later one is never offered).
/// - Active at or past `expires_at`: [`TimerKind::PermitExpiry`].
/// - Executing at or past `expires_at`: [`TimerKind::GraceStart`] during the grace,
///   [`TimerKind::GraceEnd`] after it.
/// - Anything else: nothing.
pub fn permit_timers(p: &PermitTimes, now: Timestamp) -> Vec<DueTimer> {
    let mut due = Vec::new();
    match p.state {
        PermitState::Requested | PermitState::UnderReview | PermitState::ChangesRequested => {
            let Some(overdue_at) = approval_due(p.requested_at, p.approval_sla_hours) else {
                return due;
            };
            let expires_at = p.requested_at.plus_hours(2.0 * p.approval_sla_hours);
            if now >= expires_at {
                due.push(DueTimer {
                    kind: TimerKind::RequestExpiry,
                    due_at: expires_at,
                });
            } else if now >= overdue_at && p.state != PermitState::ChangesRequested {
                due.push(DueTimer {
                    kind: TimerKind::ApprovalOverdue,
                    due_at: overdue_at,
                });
            }
        }
        PermitState::Active | PermitState::Executing => {
            let Some(expires_at) = p.expires_at else {
                return due;
            };
            match expiry_phase(p.state, expires_at, now) {
                ExpiryPhase::Valid => {
                    if let Some(minutes) = EXPIRY_WARNING_MINUTES
                        .iter()
                        .rev()
                        .copied()
                        .find(|m| now >= expires_at.plus_minutes(-m))
                    {
                        due.push(DueTimer {
                            kind: TimerKind::warning(minutes),
                            due_at: expires_at.plus_minutes(-minutes),
                        });
                    }
                }
                ExpiryPhase::InFlightGrace { .. } => due.push(DueTimer {
                    kind: TimerKind::GraceStart,
                    due_at: expires_at,
                }),
                ExpiryPhase::Expired => due.push(if p.state == PermitState::Executing {
                    DueTimer {
                        kind: TimerKind::GraceEnd,
                        due_at: grace_end(expires_at),
                    }
                } else {
                    DueTimer {
                        kind: TimerKind::PermitExpiry,
                        due_at: expires_at,
                    }
                }),
            }
        }
        PermitState::Approved
        | PermitState::Completed
        | PermitState::Closed
        | PermitState::Rejected
        | PermitState::Expired
        | PermitState::Revoked
        | PermitState::Archived => {}
    }
    due
}

/// The end of the recertification grace of a certification at `level` due at
/// `recertify_by`: 14 days later for levels 1–2, 7 for 3–4; `None` for level 0.
pub fn certification_grace_end(level: Level, recertify_by: Timestamp) -> Option<Timestamp> {
    recert_rules(level).map(|(_, grace)| recertify_by.plus_days(grace))
}

/// The certification timers due at `now`, in the order to fire them.
///
/// - Probationary past `probation_until`: [`TimerKind::ProbationEnd`].
/// - Active or probationary at level 1–4 past the recertification date:
///   [`TimerKind::CertificationGrace`] inside the grace (14 days for levels 1–2, 7 for
///   3–4), [`TimerKind::CertificationExpiry`] after it.
/// - Suspended, expired, revoked, or level 0: nothing.
pub fn certification_timers(record: &WorkerRecord, now: Timestamp) -> Vec<DueTimer> {
    let mut due = Vec::new();
    if !matches!(
        record.status,
        CertificationStatus::Active | CertificationStatus::Probationary
    ) {
        return due;
    }
    if record.status == CertificationStatus::Probationary
        && let Some(until) = record.probation_until.filter(|until| now >= *until)
    {
        due.push(DueTimer {
            kind: TimerKind::ProbationEnd,
            due_at: until,
        });
    }
    let Some((period, _)) = recert_rules(record.level) else {
        return due;
    };
    let recertify_by = record
        .recertify_by
        .unwrap_or_else(|| record.level_granted_at.plus_days(period));
    match recertification(record, now) {
        Recertification::InGrace { .. } => due.push(DueTimer {
            kind: TimerKind::CertificationGrace,
            due_at: recertify_by,
        }),
        Recertification::Expired => due.push(DueTimer {
            kind: TimerKind::CertificationExpiry,
            due_at: certification_grace_end(record.level, recertify_by).unwrap_or(recertify_by),
        }),
        Recertification::NotRequired | Recertification::Current { .. } => {}
    }
    due
}

#[cfg(test)]
mod tests;
