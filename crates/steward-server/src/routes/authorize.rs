//! `POST /v1/authorize`: the run-time check a worker makes before each operation (SPEC §7).
//!
//! The worker's standing and the permit come from the [`AuthzCache`](crate::authz), checked
//! against the database's current versions by every call; the decision is the pure
//! `steward_permits::authorize`. A scope violation revokes the permit (`scope_expansion`).
//! Every deny, every allow at worker level ≥ 2, every allow that spends a permit's tokens,
//! every decision under an emergency permit and every decision asked with `record: true`
//! is audited, and the answer is sent only once its event is committed (no audit, no
//! operation).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use steward_audit::event::{
    AuthorizeDecided, AuthorizeScope, Operation as AuditedOperation, PermitRevoked,
};
use steward_permits::{Operation, RevocationReason, Rule, Verdict, authorize};
use steward_policy::{
    Action, Environment, PermitType, Refusal, Role, action_requirement, classify_action,
    names_sensitive_data,
};
use steward_store::{Channel, NewEvent, Subject};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::authz::{CachedPermit, CachedWorker, LookupError};
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::state::AppState;

/// An operation a worker is about to perform.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeRequest {
    pub worker_id: String,
    /// `local`, `development`, `test`, `staging`, `production` or `unknown`.
    #[schema(value_type = String)]
    pub environment: Environment,
    /// The operation: a name (`deploy`, `restart`) or the full command line (`deploy api
    /// --version 2.1`, `SELECT … FROM orders`). It is classified with the policy's
    /// vocabulary and must match one of the permit's listed operations or be of a class the
    /// permit's analysis contained.
    pub action: String,
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    /// An HTTP-like method (`GET`, `POST`, `DELETE`, …).
    pub method: String,
    #[serde(default)]
    pub read_only: bool,
    /// The target is a critical production system (needs level 3).
    #[serde(default)]
    pub critical: bool,
    /// Data types the operation touches (`pii`, `email`, `test_data`, …), classified by
    /// the policy's vocabulary.
    #[serde(default)]
    pub data_touched: Vec<String>,
    /// The operation touches sensitive data, whatever `data_touched` says.
    #[serde(default)]
    pub sensitive_data: bool,
    /// Tokens the operation will spend from the permit's budget.
    #[serde(default)]
    pub tokens: u64,
    #[serde(default)]
    pub permit_id: Option<String>,
    /// Audit this decision even where the rules do not ask for it (an allow below level
    /// 2 that spends no tokens), so that its `audit_seq` can back the operation's outcome
    /// (`authorize_seq` of `POST /v1/workers/{id}/outcomes`).
    #[serde(default)]
    pub record: bool,
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuthorizeResponse {
    pub allow: bool,
    /// The rule that decided (`allowed`, `certification_not_in_force`, `scope_violation`, …).
    pub rule: String,
    /// The worker's certification level.
    pub level: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permit_id: Option<String>,
    /// The permit was revoked by this decision (a scope violation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked: Option<bool>,
    /// For a scope violation: the constraint the operation fell outside of
    /// (`operation`, `service`, `region`, `environment` or `method`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// For a scope violation: the action's class under the policy's vocabulary, its most
    /// demanding one (`read`, `change`, `schema_change`, `infrastructure`, `security`,
    /// `data_deletion`, `destructive`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_class: Option<String>,
    /// For a scope violation: the permit type an action of this class needs in this
    /// environment (`destructive` for a `DROP TABLE` in production), at least.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permit_type_needed: Option<String>,
    /// The `seq` of the decision's audit event, when it was audited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_seq: Option<u64>,
    /// Tokens spent under the permit after this decision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_used: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_budget: Option<u64>,
}

/// Decides whether a worker may perform an operation now (the worker's own agent, its
/// owner, or an admin).
#[utoipa::path(post, path = "/v1/authorize", tag = "authorize", request_body = AuthorizeRequest,
    responses(
        (status = 200, description = "the decision: allow or deny with the rule that decided", body = AuthorizeResponse),
        (status = 400, description = "invalid body; the problem names the field"),
        (status = 403, description = "the caller is not the worker, its owner, or an admin"),
        (status = 404, description = "unknown worker or permit"),
        (status = 429, description = "`rate_limited`: the per-token authorize limit (off unless configured)"),
    ), security(("bearer" = [])))]
pub async fn authorize_operation(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<AuthorizeRequest>,
) -> Result<Json<AuthorizeResponse>, ApiError> {
    authorize_via(&state, &caller, None, body).await.map(Json)
}

/// The use case behind `POST /v1/authorize`, the MCP tool `authorize_operation` and the
/// coding-agent hooks, acting through `channel` (`None` for the JSON API).
pub async fn authorize_via(
    state: &AppState,
    caller: &Caller,
    channel: Option<Channel>,
    body: AuthorizeRequest,
) -> Result<AuthorizeResponse, ApiError> {
    state.limits.check_authorize(&caller.0.token_id)?;
    let now = state.clock.now();
    let current = state
        .authz
        .current(
            &state.store,
            &state.policy,
            &body.worker_id,
            body.permit_id.as_deref(),
        )
        .await
        .map_err(lookup_error)?;
    let worker = &current.worker;
    may_ask(caller, worker)?;

    let sensitive = body.sensitive_data || names_sensitive_data(&body.data_touched, &state.policy);
    let action = classify_action(&state.policy, &body.action);
    let op = Operation {
        environment: body.environment,
        action: &action,
        service: body.service.as_deref(),
        region: body.region.as_deref(),
        method: &body.method,
        read_only: body.read_only,
        critical: body.critical,
        sensitive_data: sensitive,
        tokens: body.tokens,
    };
    let permit = current.permit.as_ref();
    let verdict = authorize(
        worker.view(),
        &op,
        permit.map(|(p, used)| p.view(*used)).as_ref(),
        &worker.id,
        now,
    );
    let mut response = AuthorizeResponse {
        allow: verdict.allow,
        rule: verdict.rule.as_str().to_owned(),
        level: worker.level.value(),
        permit_id: body.permit_id.clone(),
        revoked: None,
        scope: None,
        action_class: None,
        permit_type_needed: None,
        audit_seq: None,
        tokens_used: permit.map(|(_, used)| *used),
        token_budget: permit.map(|(p, _)| p.token_budget),
    };
    let violation = verdict.scope.map(|miss| {
        let classes = action.classes();
        let needed = action_requirement(&state.policy, classes, body.environment);
        Violation {
            scope: miss.as_str(),
            action_class: classes.riskiest().as_str(),
            permit_type_needed: needed.permit_type.map(PermitType::as_str),
            permit_type: permit.map(|(p, _)| p.permit_type.as_str()),
        }
    });
    if let Some(v) = &violation {
        response.scope = Some(v.scope.to_owned());
        response.action_class = Some(v.action_class.to_owned());
        response.permit_type_needed = v.permit_type_needed.map(str::to_owned);
    }
    let record = Record {
        state,
        caller,
        channel,
        body: &body,
        action: &action,
        worker,
        permit: permit.map(|(p, _)| p.as_ref()),
        sensitive,
        violation,
    };

    if let (Some(reason), Some((p, _))) = (verdict.revoke, permit) {
        response.revoked = Some(revoke(&record, p, reason, now.millis()).await?);
    }

    // An allowed operation that spends a permit's tokens: the spend and its event commit
    // together, guarded against overdrawing by racing decisions on any instance.
    if verdict.allow
        && body.tokens > 0
        && let Some((p, _)) = permit
    {
        let event = record.event(&verdict, now.millis())?;
        match state
            .store
            .spend_tokens(&p.id, body.tokens, p.token_budget, event)
            .await
            .map_err(ApiError::internal)?
        {
            Some((used, entry)) => {
                response.tokens_used = Some(used);
                response.audit_seq = Some(entry.seq);
                return Ok(response);
            }
            None => {
                // The budget ran out (or the permit ended) since the version read.
                let denied = Verdict {
                    allow: false,
                    rule: Rule::TokenBudget,
                    scope: None,
                    revoke: None,
                    audit: true,
                };
                response.allow = false;
                response.rule = denied.rule.as_str().to_owned();
                response.audit_seq = Some(record.write(&denied, now.millis()).await?);
                return Ok(response);
            }
        }
    }

    let emergency = permit.is_some_and(|(p, _)| p.enhanced_audit);
    if verdict.audit || emergency || body.record {
        response.audit_seq = Some(record.write(&verdict, now.millis()).await?);
    }
    Ok(response)
}

/// The worker's own agent, the worker's owner (its master), or an admin.
fn may_ask(caller: &Caller, worker: &CachedWorker) -> Result<(), ApiError> {
    if caller.has(Role::Admin)
        || caller.id() == worker.owner_id
        || worker.principal_id.as_deref() == Some(caller.id())
    {
        return Ok(());
    }
    Err(ApiError::refused(
        Refusal::NotAParty,
        format!(
            "only worker `{}`'s own agent, its owner or an admin may authorize its operations",
            worker.id
        ),
    ))
}

fn lookup_error(e: LookupError) -> ApiError {
    let message = e.to_string();
    match e {
        LookupError::UnknownWorker(_) | LookupError::UnknownPermit(_) => {
            ApiError::NotFound(message)
        }
        LookupError::UnreadablePermit(_) => {
            ApiError::refused(Refusal::UnreadableConstraints, message)
        }
        LookupError::Store(e) => ApiError::internal(e),
    }
}

/// Revokes the permit for a scope violation. Returns whether this decision revoked it (a
/// permit that ended meanwhile is left as it is; the decision denies either way).
async fn revoke(
    record: &Record<'_>,
    permit: &CachedPermit,
    reason: RevocationReason,
    now_ms: i64,
) -> Result<bool, ApiError> {
    let result = record
        .state
        .store
        .revoke_permit_by_system(
            &permit.id,
            reason,
            PermitRevoked {
                rule: Some(Rule::ScopeViolation.as_str().to_owned()),
                operation: Some(json!(record.operation())),
                scope: Some(json!(record.scope())),
                ..PermitRevoked::new(reason.as_str())
            },
            now_ms,
        )
        .await;
    record.state.authz.forget_permit(&permit.id);
    match result {
        Ok(p) => Ok(p.revocation_reason == Some(reason)),
        Err(steward_store::PermitError::Transition(_)) => Ok(false),
        Err(e) => Err(crate::routes::permits::permit_error(e)),
    }
}

/// Why an operation fell outside its permit, in the policy's words.
struct Violation {
    scope: &'static str,
    action_class: &'static str,
    permit_type_needed: Option<&'static str>,
    permit_type: Option<&'static str>,
}

/// What an audited decision records.
struct Record<'a> {
    state: &'a AppState,
    caller: &'a Caller,
    channel: Option<Channel>,
    body: &'a AuthorizeRequest,
    action: &'a Action,
    worker: &'a CachedWorker,
    permit: Option<&'a CachedPermit>,
    sensitive: bool,
    violation: Option<Violation>,
}

impl Record<'_> {
    fn scope(&self) -> Option<AuthorizeScope> {
        self.violation.as_ref().map(|v| AuthorizeScope {
            miss: v.scope.to_owned(),
            action_class: v.action_class.to_owned(),
            action_classes: self
                .action
                .classes()
                .names()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            permit_type: v.permit_type.map(str::to_owned),
            permit_type_needed: v.permit_type_needed.map(str::to_owned),
        })
    }

    fn operation(&self) -> AuditedOperation {
        let b = self.body;
        AuditedOperation {
            environment: json!(b.environment),
            action: b.action.clone(),
            service: b.service.clone(),
            region: b.region.clone(),
            method: b.method.clone(),
            read_only: b.read_only,
            critical: b.critical,
            data_touched: b.data_touched.clone(),
            sensitive_data: self.sensitive,
            tokens: b.tokens,
        }
    }

    /// The decision's `authorize.allowed` or `authorize.denied` event.
    fn event(&self, verdict: &Verdict, now_ms: i64) -> Result<NewEvent, ApiError> {
        NewEvent::typed(
            now_ms,
            self.caller.by_via(self.channel).into_actor(),
            Subject {
                task_id: self.permit.map(|p| p.task_id.clone()),
                worker_id: Some(self.worker.id.clone()),
                permit_id: self.body.permit_id.clone(),
            },
            Some(self.permit.map_or(self.worker.level, |p| p.level)),
            AuthorizeDecided {
                allow: verdict.allow,
                rule: verdict.rule.as_str().to_owned(),
                worker_level: self.worker.level.value(),
                permit_id: self.body.permit_id.clone(),
                operation: self.operation(),
                scope: self.scope(),
                tokens_used: None,
            },
        )
        .map_err(ApiError::internal)
    }

    /// Appends the decision's event and returns its `seq`.
    async fn write(&self, verdict: &Verdict, now_ms: i64) -> Result<u64, ApiError> {
        self.state
            .store
            .record_event(self.event(verdict, now_ms)?)
            .await
            .map(|e| e.seq)
            .map_err(ApiError::internal)
    }
}
