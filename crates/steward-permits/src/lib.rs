//! Steward's permit and certification rules: the permit state machine (SPEC §6.2), approval
//! and quorum rules (§6.3), evidence, validity windows and renewal (§6.1), and the worker
//! certification lifecycle (§5) with who may report outcomes and which count (`outcome`),
//! and the timers they set off (`timers`).
//!
//! # Invariants
//!
//! - Pure: no IO, no async, no clock, no randomness. Time comes in as a [`Timestamp`]
//!   value and every other input is a value too; the shell (store, server) decides when
//!   "now" is and persists what these functions return.
//! - One transition function per lifecycle: [`apply`] for permits and
//!   [`apply_cert_action`] for certification statuses. Each is one `match` that spells out
//!   every legal pair; every other pair is a typed error, never a panic and never ignored.
//! - Terminal permit states (`rejected`, `expired`, `revoked`, `closed`) have exactly one
//!   exit, `archive`, and nothing leaves `archived`. Revocation is idempotent.
//! - Each human counts once towards a quorum whatever roles they hold, and nobody may
//!   approve a permit they requested, one for a worker they own, or one they will execute.
//! - Adding an approval never makes a met quorum unmet; adding a success never makes an
//!   eligible worker ineligible.
//!
//! # Strings
//!
//! Every closed enum here has exactly one snake_case string form, used by `as_str`,
//! `FromStr`, `Display` and serde alike: that is the form at the wire and in the database.

mod approval;
mod authorize;
mod certification;
mod constraints;
mod emergency;
mod events;
mod evidence;
mod initial;
mod lifecycle;
mod monitor;
mod names;
mod outcome;
mod plan;
mod report;
mod request;
mod rollback_plan;
mod scope;
mod state;
mod time;
mod timers;
mod wait;
mod window;
mod worker_plan;

pub use approval::{
    ApprovalRefusal, Candidate, Channel, Decision, Parties, QuorumStatus, RecordedApproval,
    check_approver, quorum,
};
pub use authorize::{Operation, PermitView, Rule, ScopeMiss, Verdict, WorkerView, authorize};
pub use certification::{
    AutoSuspension, CertAction, CertTransitionError, Eligibility, OperationOutcome,
    OperationResult, OperationStats, PromotionError, PromotionQuorum, Recertification,
    WorkerRecord, apply_cert_action, check_promotion, eligibility, probation_days, promote,
    promotion_approvals, recertification, recertification_due, record_outcome,
};
pub use constraints::{ConstraintChoices, EmergencyMark, PermitConstraints};
pub use emergency::{
    ApproveSnapshot, DECLARER_ROLES, Declaration, DeclarePlan, EMERGENCY_APPROVER_ROLES,
    EmergencyEnd, EmergencyError, EmergencyRef, EmergencyRefusal, EmergencyReview, EmergencyStatus,
    MAX_DECLARED_MINUTES, REVIEW_DUE_HOURS, RenewSnapshot, ResolvePlan, ResolveSnapshot,
    ReviewFiling, ReviewStatus, SweepAction, SweepView, approval_deadline, check_approval_window,
    check_declared_minutes, check_declarer, check_emergency_renewal, check_incident_role,
    check_review_filer, emergency_end, emergency_status, plan_approve, plan_declare,
    plan_emergency_renewal, plan_end, plan_lapse, plan_resolve, plan_review, review_due,
    review_status, sweep_action,
};
pub use events::PermitPayload;
pub use evidence::{is_provided, missing_evidence, provided_evidence};
pub use initial::{
    InitialCertification, InitialCertificationError, MIN_JUSTIFICATION_CHARS, PriorRecord,
    certify_initially, check_initial_certification, initial_certification_approvals,
};
pub use lifecycle::{
    CAB_ROLES, CastDecision, CloseSnapshot, Completion, DecisionNote, PendingRenewal,
    REVOKER_ROLES, RenewalApprovalRecord, RenewalPlan, RenewalSnapshot, ResubmitSnapshot,
    ReviewPlan, ReviewSnapshot, certification_feedback, certification_in_force, check_cab_role,
    executor_or_requester, may_revoke, plan_archive, plan_cab_sign_off, plan_close, plan_complete,
    plan_decision, plan_renewal, plan_resubmit, plan_revoke, plan_start, requester_or_admin,
    revocation_by,
};
pub use monitor::{
    Breach, ConfigError, MonitorRefusal, MonitorState, MonitoredPermit, OpenRollbackPlan, Rollback,
    RollbackCompletionPlan, RollbackOutcome, Sample, SampleError, SamplePlan, TriggerConfig,
    TriggerKind, breach_revocation, evaluate, observe, opening_breach, plan_open_rollback,
    plan_rollback_completion, plan_rollback_escalation, plan_sample, rollback_escalation_roles,
    rollback_sla_minutes, rollback_within_sla,
};
pub use outcome::{
    DecisionSeen, OUTCOME_COUNTING_RULE, OutcomeBasis, OutcomeParties, OutcomeRefusal,
    OutcomeReport, PermitSeen, SeenWork, check_outcome,
};
pub use plan::{
    By, Lifecycle, PermitRefusal, PlannedEvent, event_type, issue_if_due, issue_window,
    renewed_expiry, transition,
};
pub use report::{
    LEVEL_1_FIELDS, LEVEL_2_FIELDS, LEVEL_3_FIELDS, LEVEL_4_FIELDS, ROLLBACK_FIELDS,
    missing_report_fields,
};
pub use request::{
    Admitted, RequestFacts, RequestPlan, RequestSnapshot, admit_request, auto_approves,
    check_rollback_plan, plan_request, task_facts,
};
pub use rollback_plan::{PlanProblem, validate_rollback_plan};
pub use scope::{ScopeField, missing_scope};
pub use state::{
    Outcome, PermitEvent, PermitEventKind, PermitState, RevocationReason, TransitionError, apply,
};
pub use time::Timestamp;
pub use timers::{
    DueTimer, EXPIRY_WARNING_MINUTES, ExpiryPhase, IN_FLIGHT_GRACE_MINUTES, PermitTimes,
    ReviewClock, TimerFacts, TimerKind, approval_due, approval_overdue, certification_grace_end,
    certification_timers, escalation_roles, expiry_phase, grace_end, permit_timers, plan_timer,
    request_expiry_due, review_clock,
};
pub use wait::{WaitFacts, WaitOutcome, WaitUntil, wait_outcome};
pub use window::{RenewalApproval, WindowError, check_renewal, validity};
pub use worker_plan::{
    CascadeRevocation, InitialApproval, InitialApprovalPlan, InitialApprovalSnapshot,
    InitialCertificationRecord, InitialRequestPlan, InitialRequestSnapshot, LivePermit,
    OutcomePlan, OutcomeSnapshot, PrincipalFacts, PriorRecordView, PromotionApproval,
    PromotionPlan, PromotionSnapshot, RegistrationPlan, RegistrationSnapshot, StatusPlan,
    StatusSnapshot, WorkerEvent, WorkerFacts, WorkerPayload, WorkerRefusal, check_status_request,
    check_token_revocation, identity_name, identity_of, may_manage, plan_certification_timer,
    plan_expiry, plan_identity, plan_initial_approval, plan_initial_request, plan_outcome,
    plan_promotion_approval, plan_registration, plan_status_change,
};
