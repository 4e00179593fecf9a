//! `POST /v1/hooks/claude-code`: Claude Code's hook events (PreToolUse, PermissionRequest,
//! PostToolUse, PostToolUseFailure) answered in Claude Code's documented output shape.
//! `steward hook claude-code` posts its stdin here, so the command hook and the HTTP hook
//! are the same code.
//!
//! A tool call becomes an operation of the worker bound to the session (`worker_id`, and
//! optionally the permit the master bound to it, `permit_id`): a Bash command is described
//! by its text, a file write by its path, an MCP tool by its name. The analysis of that
//! description under the policy (`analyze`) says whether it needs a permit; the permit is
//! the bound one, else the session's own (requested once per distinct operation, found again
//! on a retry); the decision is `authorize_via`'s, the answer a mapping of it. Nothing here
//! decides a rule, and nothing waits for a person: a permit awaiting approval answers
//! `deny` with its link (or `defer` for headless runs).

use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use steward_permits::PermitState;
use steward_policy::{Environment, Task, analyze};
use steward_store::{Channel, Permit, PermitFilter};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::routes;
use crate::routes::authorize::{AuthorizeRequest, authorize_via};
use crate::state::AppState;

/// Who the session acts as, from the hook's URL (the command hook adds it from its
/// configuration).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HookQuery {
    /// The worker the coding agent runs as.
    pub worker_id: String,
    /// A permit the master requested for this session (with its evidence).
    pub permit_id: Option<String>,
    /// Where the session works when a command does not say (default `development`).
    #[param(value_type = Option<String>)]
    pub environment: Option<Environment>,
    /// A headless run (`claude -p`): a permit awaiting people answers `defer`, not `deny`.
    #[serde(default)]
    pub headless: bool,
}

/// The fields of a hook event Steward reads; the others are accepted and ignored.
#[derive(Debug, Deserialize)]
pub struct HookEvent {
    pub hook_event_name: String,
    #[serde(default)]
    pub session_id: Option<String>,
    #[serde(default)]
    pub tool_name: Option<String>,
    #[serde(default)]
    pub tool_input: Option<Value>,
}

/// Answers a Claude Code hook event for the session's worker.
#[utoipa::path(post, path = "/v1/hooks/claude-code", tag = "hooks",
    params(HookQuery),
    request_body(content = Object, description = "a Claude Code hook event (PreToolUse, PermissionRequest, PostToolUse, PostToolUseFailure)"),
    responses(
        (status = 200, description = "the hook output in Claude Code's shape", body = HookOutput),
        (status = 400, description = "not a hook event Steward answers; the problem names the field"),
        (status = 401, description = "missing or invalid token"),
    ), security(("bearer" = [])))]
pub async fn claude_code(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HookQuery>,
    ApiJson(event): ApiJson<HookEvent>,
) -> Result<Json<HookOutput>, ApiError> {
    let name = event.hook_event_name.as_str();
    let tool = || {
        event
            .tool_name
            .as_deref()
            .ok_or_else(|| ApiError::bad_request("`tool_name` is required", "tool_name"))
    };
    let input = event.tool_input.clone().unwrap_or_else(|| json!({}));
    let answer = match name {
        "PreToolUse" => {
            let op = Op::of(tool()?, &input, &query, &state)?;
            match decide(&state, &caller, &query, &event, &op).await? {
                Decision::Allow(reason) => pre_tool_use("allow", &reason),
                Decision::Deny(reason) => pre_tool_use("deny", &reason),
                Decision::Pending { id, link } => {
                    let reason = format!("Steward: permit {id} pending approval at {link}");
                    pre_tool_use(if query.headless { "defer" } else { "deny" }, &reason)
                }
            }
        }
        "PermissionRequest" => {
            // Allows what Steward allows (a covering permit); anything else is left to
            // the person answering the prompt, unless Steward refuses it outright.
            let op = Op::of(tool()?, &input, &query, &state)?;
            match decide(&state, &caller, &query, &event, &op).await? {
                Decision::Allow(_) => HookOutput::specific(HookSpecificOutput {
                    decision: Some(PermissionDecision {
                        behavior: "allow",
                        message: None,
                    }),
                    ..HookSpecificOutput::of("PermissionRequest")
                }),
                Decision::Deny(reason) => HookOutput::specific(HookSpecificOutput {
                    decision: Some(PermissionDecision {
                        behavior: "deny",
                        message: Some(reason),
                    }),
                    ..HookSpecificOutput::of("PermissionRequest")
                }),
                Decision::Pending { .. } => HookOutput::default(),
            }
        }
        "PostToolUse" | "PostToolUseFailure" => {
            let op = Op::of(tool()?, &input, &query, &state)?;
            report(&state, &caller, &query, &event, &op, name == "PostToolUse").await?
        }
        other => {
            return Err(ApiError::bad_request(
                format!(
                    "`hook_event_name`: `{other}` is not answered by Steward (PreToolUse, PermissionRequest, PostToolUse, PostToolUseFailure)"
                ),
                "hook_event_name",
            ));
        }
    };
    Ok(Json(answer))
}

/// A hook's answer, in Claude Code's shape: `{}` leaves the call to Claude Code.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct HookOutput {
    #[serde(rename = "hookSpecificOutput", skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub hook_specific_output: Option<HookSpecificOutput>,
    /// `block` after a tool call that fired a monitoring trigger.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub decision: Option<&'static str>,
    /// Why it blocks.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub reason: Option<String>,
}

impl HookOutput {
    fn specific(output: HookSpecificOutput) -> HookOutput {
        HookOutput {
            hook_specific_output: Some(output),
            ..HookOutput::default()
        }
    }
}

/// The event-specific part of a hook's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct HookSpecificOutput {
    /// The event answered: `PreToolUse`, `PermissionRequest`, `PostToolUse` or
    /// `PostToolUseFailure`.
    #[serde(rename = "hookEventName")]
    pub hook_event_name: String,
    /// `PreToolUse`: `allow`, `deny` or `defer` (headless, waiting for people).
    #[serde(rename = "permissionDecision", skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub permission_decision: Option<&'static str>,
    #[serde(
        rename = "permissionDecisionReason",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(required = false)]
    pub permission_decision_reason: Option<String>,
    /// `PermissionRequest`: allow or deny, without asking the person.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub decision: Option<PermissionDecision>,
    /// `PostToolUse`: what Steward recorded, for the model to read.
    #[serde(rename = "additionalContext", skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub additional_context: Option<String>,
}

impl HookSpecificOutput {
    fn of(event: &str) -> HookSpecificOutput {
        HookSpecificOutput {
            hook_event_name: event.to_owned(),
            permission_decision: None,
            permission_decision_reason: None,
            decision: None,
            additional_context: None,
        }
    }
}

/// A `PermissionRequest` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct PermissionDecision {
    /// `allow` or `deny`.
    pub behavior: &'static str,
    /// Why it is denied.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub message: Option<String>,
}

fn pre_tool_use(decision: &'static str, reason: &str) -> HookOutput {
    HookOutput::specific(HookSpecificOutput {
        permission_decision: Some(decision),
        permission_decision_reason: Some(reason.to_owned()),
        ..HookSpecificOutput::of("PreToolUse")
    })
}

const HOOK: Option<Channel> = Some(Channel::Hook);

/// A tool call as an operation: what it is called, how it is described to the analysis,
/// and whether it only reads.
#[derive(Debug)]
struct Op {
    action: String,
    method: &'static str,
    read_only: bool,
    /// The task the analysis read, as JSON (a permit request sends it).
    task: Value,
    environment: Environment,
    permit_required: bool,
}

/// Claude Code's tools that only read.
const READ_TOOLS: [&str; 8] = [
    "Read",
    "Glob",
    "Grep",
    "LS",
    "WebFetch",
    "WebSearch",
    "TodoWrite",
    "NotebookRead",
];

/// Claude Code's tools that write files, and the input field naming the file.
const WRITE_TOOLS: [(&str, &str); 4] = [
    ("Write", "file_path"),
    ("Edit", "file_path"),
    ("MultiEdit", "file_path"),
    ("NotebookEdit", "notebook_path"),
];

impl Op {
    fn of(tool: &str, input: &Value, query: &HookQuery, state: &AppState) -> Result<Op, ApiError> {
        let text = |field: &str| input.get(field).and_then(Value::as_str).unwrap_or("");
        let mut task = json!({});
        let (action, method, read_only) = if tool == "Bash" {
            let command = text("command").trim();
            task["description"] = json!(command);
            (clip(command), "POST", false)
        } else if let Some((_, field)) = WRITE_TOOLS.iter().find(|(t, _)| *t == tool) {
            let path = text(field);
            task["description"] = json!(format!("{} {path}", tool.to_lowercase()));
            if !path.is_empty() {
                task["paths"] = json!([path]);
            }
            (
                format!("{} {}", tool.to_lowercase(), clip(path)),
                "PUT",
                false,
            )
        } else if READ_TOOLS.contains(&tool) {
            let target = ["file_path", "path", "pattern", "url", "query"]
                .iter()
                .map(|f| text(f))
                .find(|t| !t.is_empty())
                .unwrap_or("");
            task["description"] = json!(format!("read {target}"));
            task["read_only"] = json!(true);
            (tool.to_lowercase(), "GET", true)
        } else {
            // MCP tools (`mcp__server__tool`) and any other tool: by name.
            task["description"] = json!(tool.replace("__", " "));
            (tool.to_owned(), "POST", false)
        };
        // Where: what the call itself names, unless the session is configured for a
        // production-like environment (then that), or the call names none (then the
        // session's environment, default development).
        let configured = query.environment.unwrap_or(Environment::Development);
        let named = analyze(&parse_task(&task)?, &state.policy).environment_detected;
        let environment = if configured.is_production_like() || named == Environment::Unknown {
            configured
        } else {
            named
        };
        task["environment"] = json!(environment);
        let analysis = analyze(&parse_task(&task)?, &state.policy);
        Ok(Op {
            action,
            method,
            read_only,
            environment: analysis.environment_detected,
            permit_required: analysis.certification_decision.permit_required,
            task,
        })
    }
}

fn parse_task(task: &Value) -> Result<Task, ApiError> {
    Task::from_value(task.clone()).map_err(|e| ApiError::BadRequest {
        message: format!("`tool_input`: {}", e.message),
        field: Some("tool_input".into()),
    })
}

/// At most 200 characters (an action name, not a transcript).
fn clip(text: &str) -> String {
    text.chars().take(200).collect()
}

enum Decision {
    Allow(String),
    Deny(String),
    Pending { id: String, link: String },
}

/// The decision on a tool call: the permit it runs under (bound, the session's, or newly
/// requested), then `authorize`.
async fn decide(
    state: &AppState,
    caller: &Caller,
    query: &HookQuery,
    event: &HookEvent,
    op: &Op,
) -> Result<Decision, ApiError> {
    let mut permit_id = query.permit_id.clone();
    if permit_id.is_none() && op.permit_required {
        match session_permit(state, caller, query, event, op).await? {
            SessionPermit::Live(id) => permit_id = Some(id),
            SessionPermit::Waiting(id) => {
                let link = state.permit_link(&id);
                return Ok(Decision::Pending { id, link });
            }
            SessionPermit::Refused(reason) => return Ok(Decision::Deny(reason)),
        }
    }
    let request = AuthorizeRequest {
        worker_id: query.worker_id.clone(),
        environment: op.environment,
        action: op.action.clone(),
        service: None,
        region: None,
        method: op.method.to_owned(),
        read_only: op.read_only,
        critical: false,
        data_touched: Vec::new(),
        sensitive_data: false,
        tokens: 0,
        permit_id,
        record: false,
    };
    match authorize_via(state, caller, HOOK, request).await {
        Ok(answer) if answer.allow => {
            let under = answer
                .permit_id
                .map(|p| format!(", permit {p}"))
                .unwrap_or_default();
            Ok(Decision::Allow(format!(
                "Steward: allowed (worker level {}{under})",
                answer.level
            )))
        }
        Ok(answer) if answer.rule == "permit_not_active" => {
            // Not active yet: say where people decide it, if that is where it is.
            let id = answer.permit_id.unwrap_or_default();
            let permit = routes::permits::visible_permit(state, caller, &id).await?;
            if matches!(
                permit.state,
                PermitState::Requested | PermitState::UnderReview | PermitState::Approved
            ) {
                let link = state.permit_link(&id);
                return Ok(Decision::Pending { id, link });
            }
            Ok(Decision::Deny(format!(
                "Steward denied: permit_not_active: permit {id} is {}",
                permit.state
            )))
        }
        Ok(answer) => Ok(Decision::Deny(format!(
            "Steward denied: {}{}",
            answer.rule,
            if answer.revoked == Some(true) {
                " (the permit is revoked)"
            } else {
                ""
            }
        ))),
        Err(error) => refusal(error).map(Decision::Deny),
    }
}

/// A refusal of the request itself (4xx) as the reason a tool call is denied; a 5xx stays
/// an error (the hook then blocks: fail closed).
fn refusal(error: ApiError) -> Result<String, ApiError> {
    let rule = match &error {
        ApiError::Refused { rule, .. } => Some(*rule),
        ApiError::Internal(_) => return Err(error),
        _ => None,
    };
    Ok(match rule {
        Some(rule) => format!("Steward denied: {rule}: {error}"),
        None => format!("Steward denied: {error}"),
    })
}

enum SessionPermit {
    Live(String),
    Waiting(String),
    Refused(String),
}

/// The session's permit for this operation: found by its task id (one per session and
/// distinct operation), or requested now through the same use case as `POST /v1/permits`.
async fn session_permit(
    state: &AppState,
    caller: &Caller,
    query: &HookQuery,
    event: &HookEvent,
    op: &Op,
) -> Result<SessionPermit, ApiError> {
    let task_id = session_task_id(event.session_id.as_deref(), op);
    if let Some(permit) = find_permit(state, &query.worker_id, &task_id).await? {
        match permit.state {
            PermitState::Active | PermitState::Executing => {
                return Ok(SessionPermit::Live(permit.id));
            }
            PermitState::Requested | PermitState::UnderReview | PermitState::Approved => {
                return Ok(SessionPermit::Waiting(permit.id));
            }
            PermitState::ChangesRequested | PermitState::Rejected => {
                return Ok(SessionPermit::Refused(format!(
                    "Steward denied: permit {} was {}",
                    permit.id, permit.state
                )));
            }
            // Ended: a new request below.
            _ => {}
        }
    }
    let mut task = op.task.clone();
    if let Some(object) = task.as_object_mut() {
        object.insert("id".into(), json!(task_id));
        object.insert("environment".into(), json!(op.environment));
        object.insert("operations".into(), json!([op.action]));
    }
    let body = serde_json::from_value(json!({"task": task, "worker_id": query.worker_id}))
        .map_err(ApiError::internal)?;
    match routes::permits::request_via(state, caller, HOOK, body).await {
        Ok(permit) if matches!(permit.state, PermitState::Active | PermitState::Executing) => {
            Ok(SessionPermit::Live(permit.id))
        }
        Ok(permit) => Ok(SessionPermit::Waiting(permit.id)),
        Err(error) => refusal(error).map(SessionPermit::Refused),
    }
}

/// `claude-code-<session>-<first 12 hex digits of SHA-256(environment, action)>`.
fn session_task_id(session: Option<&str>, op: &Op) -> String {
    let digest = Sha256::digest(format!("{}\n{}", op.environment, op.action));
    let session: String = session
        .unwrap_or("none")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(64)
        .collect();
    format!("claude-code-{session}-{}", &hex::encode(digest)[..12])
}

/// The worker's latest permit for `task_id`, if any.
async fn find_permit(
    state: &AppState,
    worker_id: &str,
    task_id: &str,
) -> Result<Option<Permit>, ApiError> {
    let filter = PermitFilter {
        worker_id: Some(worker_id.to_owned()),
        ..PermitFilter::default()
    };
    let mut after: Option<String> = None;
    let mut found = None;
    loop {
        let page = state
            .store
            .list_permits(&filter, after.as_deref(), 200)
            .await
            .map_err(ApiError::internal)?;
        for permit in &page {
            if permit.task_id == task_id {
                found = Some(permit.clone());
            }
        }
        match page.last() {
            Some(last) if page.len() == 200 => after = Some(last.id.clone()),
            _ => return Ok(found),
        }
    }
}

/// PostToolUse / PostToolUseFailure: the outcome as a telemetry sample (a health check)
/// for the permit the call ran under, through the same use case as
/// `POST /v1/permits/{id}/telemetry`. A call under no permit has nothing to report.
async fn report(
    state: &AppState,
    caller: &Caller,
    query: &HookQuery,
    event: &HookEvent,
    op: &Op,
    succeeded: bool,
) -> Result<HookOutput, ApiError> {
    let mut permit_id = query.permit_id.clone();
    if permit_id.is_none() && op.permit_required {
        let task_id = session_task_id(event.session_id.as_deref(), op);
        permit_id = find_permit(state, &query.worker_id, &task_id)
            .await?
            .filter(|p| matches!(p.state, PermitState::Active | PermitState::Executing))
            .map(|p| p.id);
    }
    let Some(permit_id) = permit_id else {
        return Ok(HookOutput::default());
    };
    let sample = serde_json::from_value(json!({"health": if succeeded { "ok" } else { "fail" }}))
        .map_err(ApiError::internal)?;
    match routes::monitoring::telemetry_via(state, caller, HOOK, &permit_id, sample).await {
        Ok(outcome) if outcome.fired => Ok(HookOutput {
            decision: Some("block"),
            reason: Some(format!(
                "Steward: a monitoring trigger fired; permit {permit_id} is revoked and a rollback is open"
            )),
            ..HookOutput::default()
        }),
        Ok(_) => Ok(HookOutput::specific(HookSpecificOutput {
            additional_context: Some(format!("Steward: outcome recorded for permit {permit_id}")),
            ..HookSpecificOutput::of(&event.hook_event_name)
        })),
        Err(error) => Ok(HookOutput::specific(HookSpecificOutput {
            additional_context: Some(refusal(error)?),
            ..HookSpecificOutput::of(&event.hook_event_name)
        })),
    }
}
