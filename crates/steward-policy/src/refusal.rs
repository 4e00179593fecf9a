//! Every rule a refusal can name, and the HTTP status the API answers it with: one table.
//!
//! A refused request (the API's 4xx problem documents, the CLI's exit code 2, an MCP tool
//! error) names the rule that refused it by its `code`. The pure crates, the store and the
//! server all name rules through [`Refusal`], so a code cannot drift between two places
//! (one spelling, one status) and a client can match on the full list
//! ([`Refusal::ALL`]).

/// Declares [`Refusal`] from one table of `Variant = "code", status, "meaning";` rows.
macro_rules! refusals {
    ($($variant:ident = $code:literal, $status:literal, $meaning:literal;)*) => {
        /// A rule that refuses a request; see the module docs.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Refusal {
            $(#[doc = $meaning] $variant,)*
        }

        impl Refusal {
            /// Every rule, in table order.
            pub const ALL: &'static [Refusal] = &[$(Refusal::$variant,)*];

            /// The rule's code, the problem document's `rule` member.
            pub const fn code(self) -> &'static str {
                match self {
                    $(Refusal::$variant => $code,)*
                }
            }

            /// The HTTP status the API answers this rule with (always a 4xx).
            pub const fn status(self) -> u16 {
                match self {
                    $(Refusal::$variant => $status,)*
                }
            }

            /// What the rule means, for documentation.
            pub const fn meaning(self) -> &'static str {
                match self {
                    $(Refusal::$variant => $meaning,)*
                }
            }
        }
    };
}

refusals! {
    // The request itself.
    InvalidRequest = "invalid_request", 400, "A parameter or field is missing or invalid.";
    MalformedJson = "malformed_json", 400, "The body is not UTF-8 JSON.";
    DuplicateKey = "duplicate_key", 400, "An object in the body names a key twice.";
    BodyNotObject = "body_not_object", 400, "The body is not a JSON object.";
    InvalidField = "invalid_field", 400, "A field of the body has the wrong type or value.";
    InvalidQuery = "invalid_query", 400, "The query string does not parse.";
    InvalidPathParameter = "invalid_path_parameter", 400, "A path parameter does not parse.";
    ClientError = "client_error", 400, "Refused below the handlers for a reason no other rule names.";
    AuthenticationRequired = "authentication_required", 401, "No valid bearer token.";
    RoleRequired = "role_required", 403, "The caller lacks a role the action needs.";
    CrossOrigin = "cross_origin", 403, "A browser request from another origin.";
    NotFound = "not_found", 404, "No such resource, or not one the caller may see.";
    MethodNotAllowed = "method_not_allowed", 405, "The path does not take this method.";
    Conflict = "conflict", 409, "The resource already exists or changed in a way that forbids the action.";
    BodyTooLarge = "body_too_large", 413, "The body is larger than the limit.";
    JsonRequired = "json_required", 415, "The body is not `application/json`.";
    RateLimited = "rate_limited", 429, "A rate limit is exhausted; retry after `Retry-After` seconds.";
    // Who may act.
    SegregationOfDuties = "segregation_of_duties", 403, "The requester, the worker's owner or the executor may not approve.";
    OneVotePerPerson = "one_vote_per_person", 409, "This person already decided.";
    RoleNotEligible = "role_not_eligible", 403, "The role is not held, or cannot decide here.";
    HumanOnly = "human_only", 403, "Only a human principal may do this.";
    NotAParty = "not_a_party", 403, "The caller plays no part in this permit, worker or emergency.";
    NotRequester = "not_requester", 403, "Only the requester (or an admin) may do this.";
    NotExecutor = "not_executor", 403, "Only the permit's worker or its owner may do this.";
    NotADeclarer = "not_a_declarer", 403, "The caller may not declare emergencies.";
    IncidentCommanderOnly = "incident_commander_only", 403, "Only an incident commander may do this.";
    OwnWorkersOnly = "own_workers_only", 403, "A master acts only on workers it owns.";
    OwnWorkerOnly = "own_worker_only", 403, "A worker sees only its own permits.";
    OutcomeReporter = "outcome_reporter", 403, "Only the worker's owner or the worker reports its outcomes.";
    SelfReportLimited = "self_report_limited", 403, "A worker reports only its own successes and failures.";
    SelfDisable = "self-disable", 422, "A principal cannot disable itself.";
    TokenOutlivesCaller = "token-outlives-caller", 422, "A token cannot outlive the token that mints it.";
    // Permits.
    MissingEvidence = "missing_evidence", 422, "The permit's level needs evidence the request lacks.";
    MissingScope = "missing_scope", 422, "A level-2+ request must name its operations and services.";
    HardBlock = "hard_block", 422, "The worker may not run this task at all.";
    NoPermitNeeded = "no_permit_needed", 422, "The task needs no permit.";
    PermitWindow = "permit_window", 422, "The requested validity is outside the type's limits.";
    InvalidRollbackPlan = "invalid_rollback_plan", 422, "The rollback plan does not meet the level's rules.";
    IncompleteReport = "incomplete_report", 422, "The completed-operation report lacks fields its level requires.";
    OutsideWindow = "outside_window", 409, "The permit's window has not begun or has ended.";
    IllegalTransition = "illegal_transition", 409, "The permit's or worker's state does not allow the action.";
    ConcurrentUpdate = "concurrent_update", 409, "Another request changed the row first; retry.";
    PermitNotLive = "permit_not_live", 409, "The permit is not active or executing.";
    CabNotRequired = "cab_not_required", 403, "This permit needs no CAB sign-off.";
    EmergencyPath = "emergency_path", 403, "Emergency permits are decided on the emergency path.";
    UnreadableConstraints = "unreadable_constraints", 422, "The permit's stored constraints cannot be read.";
    // Emergencies.
    EmergencyDuration = "emergency_duration", 422, "Emergencies last 1 to 60 minutes.";
    EmergencyRenewal = "emergency_renewal", 422, "The renewal is outside the emergency type's limits.";
    ApprovalWindowClosed = "approval_window_closed", 409, "The emergency's approval window has closed.";
    EmergencyResolved = "emergency_resolved", 409, "The emergency is resolved.";
    ReviewAlreadyFiled = "review_already_filed", 409, "The emergency's review is filed.";
    ReviewNotDue = "review_not_due", 409, "The emergency has not ended, so no review is due.";
    // Monitoring and rollbacks.
    RollbackReported = "rollback_reported", 409, "The rollback's outcome is reported already.";
    // Workers and certification.
    InvalidReference = "invalid_reference", 422, "The body names a record that does not exist.";
    NotEligible = "not_eligible", 422, "The worker is not eligible for this promotion.";
    InitialCertification = "initial_certification", 422, "The worker cannot be certified initially.";
    RecertificationNotRequired = "recertification_not_required", 422, "The worker needs no recertification.";
    ProbationNotOver = "probation_not_over", 409, "The worker is still on probation.";
    IdentityExists = "identity_exists", 409, "The worker has its identity already.";
    NoIdentity = "no_identity", 409, "The worker has no identity yet.";
    OutcomeEvidence = "outcome_evidence", 422, "The outcome's evidence is not the worker's work.";
    EvidenceAlreadyUsed = "evidence_already_used", 409, "The evidence backs another outcome already.";
    // Webhooks.
    MetadataWebhookTarget = "metadata_webhook_target", 422, "Webhooks never target a cloud metadata service.";
    PrivateWebhookTarget = "private_webhook_target", 422, "Webhooks target no internal address unless allowed.";
    // The audit trail.
    NoSigningKey = "no_signing_key", 409, "The server has no audit signing key.";
    CheckpointSignature = "checkpoint_signature", 422, "The checkpoint is not signed by this server's key.";
    TrailInconsistent = "trail_inconsistent", 409, "The trail does not extend the last checkpoint signed.";
    // Run mode.
    NotRehearsal = "not_rehearsal", 409, "The clock advances only under a rehearsal.";
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests;
