//! The MCP server: Streamable HTTP at `/mcp` (the official Rust SDK, `rmcp`), which
//! `steward mcp` bridges to stdio for agent hosts that spawn their servers.
//!
//! Six tools, each calling the same use case as its JSON route (`analyze_via`,
//! `request_via`, `visible_permit`, `authorize_via`, `telemetry_via`, `declare_via`) with
//! the channel `mcp`, so every event a call appends records `data.channel: "mcp"`. No rule
//! is checked here: a refusal is the route's problem document, returned as a tool error.
//! Nothing waits for a person: a permit that needs approval is answered at once with its
//! state and the link where people decide it.
//!
//! Every request to `/mcp` is authenticated like `/v1` (a bearer token → [`Caller`]) and a
//! browser request from another origin is refused (403) before the SDK sees it. The SDK
//! runs stateless with JSON answers: no session lives on an instance, so any instance on
//! the same database serves any request.

use std::borrow::Cow;
use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, header, request::Parts};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, ListToolsResult,
    PaginatedRequestParams, ProtocolVersion, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use steward_permits::PermitState;
use steward_policy::Refusal;
use steward_store::{Channel, Permit};
use utoipa::PartialSchema;

use crate::auth::Caller;
use crate::error::{ApiError, InternalCause};
use crate::routes;
use crate::state::AppState;

/// The protocol versions served: the current one and the one before it.
pub const PROTOCOL_VERSIONS: [ProtocolVersion; 2] =
    [ProtocolVersion::V_2025_11_25, ProtocolVersion::V_2026_07_28];

/// The `/mcp` route: origin check, authentication, then the SDK's Streamable HTTP service.
pub fn router(state: AppState) -> Router<AppState> {
    let handler_state = state.clone();
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        // The Host check guards unauthenticated local servers against DNS rebinding;
        // here every request needs a bearer token and `guard` refuses other origins.
        .disable_allowed_hosts()
        .with_max_request_body_bytes(crate::json::BODY_LIMIT);
    let service = StreamableHttpService::new(
        move || {
            Ok(StewardMcp {
                state: handler_state.clone(),
            })
        },
        Arc::new(LocalSessionManager::default()),
        config,
    );
    Router::new()
        .route_service("/mcp", service)
        .layer(middleware::from_fn_with_state(state, guard))
}

/// Refuses cross-origin browser requests (403), then authenticates the bearer token like
/// every `/v1` route (401) and hands the [`Caller`] to the tools in the request's
/// extensions.
async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Err(refusal) = same_origin(request.headers(), &state.public_url) {
        return refusal.into_response();
    }
    let (mut parts, body) = request.into_parts();
    match Caller::from_request_parts(&mut parts, &state).await {
        Ok(caller) => {
            parts.extensions.insert(caller);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(refusal) => refusal.into_response(),
    }
}

/// A request without `Origin` (agents, command-line clients) passes; one with `Origin`
/// passes only when that origin is this server as the request names it (`Host`) or as
/// people reach it (`public_url`).
fn same_origin(headers: &HeaderMap, public_url: &str) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("").trim().to_ascii_lowercase();
    let authority = origin
        .split_once("://")
        .map(|(_, rest)| rest.trim_end_matches('/'));
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_ascii_lowercase);
    let public = public_url.to_ascii_lowercase();
    let same = authority.is_some_and(|a| host.as_deref() == Some(a))
        || origin == public.trim_end_matches('/');
    if same {
        return Ok(());
    }
    Err(ApiError::refused(
        Refusal::CrossOrigin,
        format!(
            "requests to `/mcp` from origin `{origin}` are refused: only this server's own origin may call it from a browser"
        ),
    ))
}

/// The MCP server handler of one instance.
#[derive(Debug, Clone)]
pub struct StewardMcp {
    state: AppState,
}

impl StewardMcp {
    pub fn new(state: AppState) -> StewardMcp {
        StewardMcp { state }
    }
}

impl ServerHandler for StewardMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("steward", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Owned(PROTOCOL_VERSIONS.to_vec())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(tools()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        tools().into_iter().find(|t| t.name == name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let caller = context
            .extensions
            .get::<Parts>()
            .and_then(|parts| parts.extensions.get::<Caller>())
            .cloned()
            .ok_or_else(|| McpError::invalid_request("the request is not authenticated", None))?;
        let arguments = Value::Object(request.arguments.unwrap_or_default());
        let answer = match request.name.as_ref() {
            ANALYZE => self.analyze(&caller, arguments).await,
            REQUEST_PERMIT => self.request_permit(&caller, arguments).await,
            PERMIT_STATUS => self.permit_status(&caller, arguments).await,
            AUTHORIZE => self.authorize(&caller, arguments).await,
            TELEMETRY => self.telemetry(&caller, arguments).await,
            EMERGENCY => self.emergency(&caller, arguments).await,
            other => {
                return Err(McpError::invalid_params(
                    format!("unknown tool `{other}`"),
                    None,
                ));
            }
        };
        Ok(tool_result(answer).await.into())
    }
}

const INSTRUCTIONS: &str = "Steward decides whether an agent's operation may run. \
Call analyze_task to learn a task's risk and what it needs; request_permit when it needs a \
permit (people approve it at the returned link; this never waits, follow it with \
permit_status); authorize_operation before each operation; report_telemetry while it runs; \
declare_emergency only for a declared incident.";

const ANALYZE: &str = "analyze_task";
const REQUEST_PERMIT: &str = "request_permit";
const PERMIT_STATUS: &str = "permit_status";
const AUTHORIZE: &str = "authorize_operation";
const TELEMETRY: &str = "report_telemetry";
const EMERGENCY: &str = "declare_emergency";

/// The tool definitions: schemas from the routes' own request types where there is one.
pub fn tools() -> Vec<Tool> {
    let task = json!({"type": "object", "description": "the task (Steward's task format: description, environment, operations, services_affected, …)"});
    let telemetry = {
        let mut schema = schema_of::<routes::monitoring::TelemetryRequest>();
        insert_property(
            &mut schema,
            "permit_id",
            json!({"type": "string", "description": "the permit the operation runs under"}),
        );
        schema
    };
    vec![
        tool(
            ANALYZE,
            "Analyse a task",
            "Analyse a task: risk factors with evidence, the certification level it needs, the approvals and the permit type. Changes nothing (each analysis is recorded in the audit trail).",
            json!({
                "type": "object",
                "properties": {"task": task},
                "required": ["task"],
                "additionalProperties": false,
            }),
            Hints::READ,
        ),
        tool(
            REQUEST_PERMIT,
            "Request a permit",
            "Request a permit for a task and a worker (masters and admins). Returns at once: a permit that needs people is `requested` or `under_review`, with the link where they decide it; follow it with permit_status. Never waits.",
            schema_of::<routes::permits::PermitRequest>(),
            Hints::CREATE,
        ),
        tool(
            PERMIT_STATUS,
            "Permit status",
            "The state of a permit, whether it still waits for people, and the link where they decide it.",
            json!({
                "type": "object",
                "properties": {"permit_id": {"type": "string"}},
                "required": ["permit_id"],
                "additionalProperties": false,
            }),
            Hints::READ,
        ),
        tool(
            AUTHORIZE,
            "Authorize an operation",
            "Ask whether a worker may perform an operation now; call it before each operation. Denies name the rule. An operation outside its permit's scope revokes the permit; an allowed operation spends the permit's tokens.",
            schema_of::<routes::authorize::AuthorizeRequest>(),
            Hints::DESTRUCTIVE,
        ),
        tool(
            TELEMETRY,
            "Report telemetry",
            "Report a telemetry sample (error rate, p99 latency, health check) for a running permit. A sustained breach of the permit's limits revokes it and opens a rollback.",
            telemetry,
            Hints::DESTRUCTIVE,
        ),
        tool(
            EMERGENCY,
            "Declare an emergency",
            "Declare an emergency for an incident: a level-3 emergency permit for the worker, which an incident commander or on-call lead must approve within 15 minutes. Returns at once.",
            schema_of::<routes::emergencies::DeclareRequest>(),
            Hints::CREATE,
        ),
    ]
}

/// What a tool does to the world, as MCP's annotations say it.
#[derive(Debug, Clone, Copy)]
struct Hints {
    read_only: bool,
    destructive: bool,
    idempotent: bool,
}

impl Hints {
    /// Reads (and records that it read); answers the same to the same question.
    const READ: Hints = Hints {
        read_only: true,
        destructive: false,
        idempotent: true,
    };
    /// Creates something new each call, destroys nothing.
    const CREATE: Hints = Hints {
        read_only: false,
        destructive: false,
        idempotent: false,
    };
    /// May end something (a permit) as a consequence of the call.
    const DESTRUCTIVE: Hints = Hints {
        read_only: false,
        destructive: true,
        idempotent: false,
    };
}

fn tool(name: &str, title: &str, description: &str, input: Value, hints: Hints) -> Tool {
    // Built from JSON: the SDK's model types are non-exhaustive, and this is their wire
    // shape, which the tests read back through a real client.
    let value = json!({
        "name": name,
        "title": title,
        "description": description,
        "inputSchema": input,
        "annotations": {
            "title": title,
            "readOnlyHint": hints.read_only,
            "destructiveHint": hints.destructive,
            "idempotentHint": hints.idempotent,
            // Steward's own records only: no outside system is touched.
            "openWorldHint": false,
        },
    });
    match serde_json::from_value(value) {
        Ok(tool) => tool,
        Err(error) => unreachable!("tool `{name}` is not a valid MCP tool: {error}"),
    }
}

/// The JSON schema of a route's request type, from its OpenAPI annotation.
fn schema_of<T: PartialSchema>() -> Value {
    let mut value = serde_json::to_value(T::schema()).unwrap_or_else(|_| json!({}));
    if let Some(object) = value.as_object_mut() {
        object.insert("type".into(), json!("object"));
    }
    value
}

fn insert_property(schema: &mut Value, name: &str, property: Value) {
    if let Some(object) = schema.as_object_mut() {
        let properties = object
            .entry("properties")
            .or_insert_with(|| json!({}))
            .as_object_mut();
        if let Some(properties) = properties {
            properties.insert(name.into(), property);
        }
        let required = object.entry("required").or_insert_with(|| json!([]));
        if let Some(list) = required.as_array_mut() {
            list.push(json!(name));
        }
    }
}

/// Arguments parsed as strictly as a JSON body: errors name the field.
fn parse<T: DeserializeOwned>(arguments: &Value) -> Result<T, ApiError> {
    let bytes = serde_json::to_vec(arguments).map_err(ApiError::internal)?;
    crate::json::parse(&bytes)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskArgs {
    task: Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PermitArgs {
    permit_id: String,
}

const MCP: Option<Channel> = Some(Channel::Mcp);

impl StewardMcp {
    async fn analyze(&self, caller: &Caller, arguments: Value) -> Result<Value, ApiError> {
        let args: TaskArgs = parse(&arguments)?;
        let analysis = routes::analyze::analyze_via(&self.state, caller, MCP, args.task).await?;
        serde_json::to_value(routes::analyze::AnalysisView::from(&analysis))
            .map_err(ApiError::internal)
    }

    async fn request_permit(&self, caller: &Caller, arguments: Value) -> Result<Value, ApiError> {
        let body = parse(&arguments)?;
        let permit = routes::permits::request_via(&self.state, caller, MCP, body).await?;
        Ok(self.permit_answer(permit))
    }

    async fn permit_status(&self, caller: &Caller, arguments: Value) -> Result<Value, ApiError> {
        let args: PermitArgs = parse(&arguments)?;
        let permit = routes::permits::visible_permit(&self.state, caller, &args.permit_id).await?;
        Ok(self.permit_answer(permit))
    }

    async fn authorize(&self, caller: &Caller, arguments: Value) -> Result<Value, ApiError> {
        let body = parse(&arguments)?;
        let decision = routes::authorize::authorize_via(&self.state, caller, MCP, body).await?;
        serde_json::to_value(decision).map_err(ApiError::internal)
    }

    async fn telemetry(&self, caller: &Caller, arguments: Value) -> Result<Value, ApiError> {
        // The route's body plus `permit_id` (its path parameter there).
        let mut sample = match arguments {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let permit_id = match sample.remove("permit_id") {
            Some(Value::String(id)) => id,
            _ => {
                return Err(ApiError::bad_request(
                    "`permit_id`: a string is required",
                    "permit_id",
                ));
            }
        };
        let sample = parse(&Value::Object(sample))?;
        let outcome =
            routes::monitoring::telemetry_via(&self.state, caller, MCP, &permit_id, sample).await?;
        serde_json::to_value(routes::monitoring::view::TelemetryOutcomeView::from(
            &outcome,
        ))
        .map_err(ApiError::internal)
    }

    async fn emergency(&self, caller: &Caller, arguments: Value) -> Result<Value, ApiError> {
        let body = parse(&arguments)?;
        let emergency = routes::emergencies::declare_via(&self.state, caller, MCP, body).await?;
        let link = self.state.permit_link(&emergency.permit_id);
        let view =
            routes::emergencies::EmergencyView::new(&emergency, self.state.clock.now().millis());
        let mut value = serde_json::to_value(view).map_err(ApiError::internal)?;
        if let Some(object) = value.as_object_mut() {
            object.insert("link".into(), json!(link));
        }
        Ok(value)
    }

    /// A permit as an agent needs it: its state, whether people still have to act, where
    /// they do, and the permit itself.
    fn permit_answer(&self, permit: Permit) -> Value {
        let link = self.state.permit_link(&permit.id);
        let awaiting_people = matches!(
            permit.state,
            PermitState::Requested | PermitState::UnderReview | PermitState::ChangesRequested
        );
        let message = if awaiting_people {
            format!(
                "permit {} is {}: it waits for people, who decide it at {link}; follow it with permit_status",
                permit.id, permit.state
            )
        } else {
            format!("permit {} is {}", permit.id, permit.state)
        };
        json!({
            "permit_id": permit.id,
            "state": permit.state,
            "awaiting_people": awaiting_people,
            "link": link,
            "message": message,
            "permit": crate::routes::permits::PermitView::new(&permit, self.state.clock.now().millis()),
        })
    }
}

/// A use case's answer as a tool result: the value as structured content (and as text for
/// clients that read only text), or the route's problem document with `isError`.
async fn tool_result(answer: Result<Value, ApiError>) -> CallToolResult {
    let (value, is_error) = match answer {
        Ok(value) => (value, false),
        Err(error) => (problem(error).await, true),
    };
    let text = match value.get("message").or_else(|| value.get("detail")) {
        Some(Value::String(message)) => format!("{message}\n{value}"),
        _ => value.to_string(),
    };
    let wire = json!({
        "resultType": "complete",
        "content": [{"type": "text", "text": text}],
        "structuredContent": value,
        "isError": is_error,
    });
    match serde_json::from_value(wire) {
        Ok(result) => result,
        Err(error) => unreachable!("a tool result is always valid: {error}"),
    }
}

/// The problem+json document the JSON route would answer with; a 5xx's cause is logged,
/// never shown.
async fn problem(error: ApiError) -> Value {
    let response = error.into_response();
    if let Some(cause) = response.extensions().get::<InternalCause>() {
        tracing::error!(error = %cause.0, "internal error in an MCP tool");
    }
    let bytes = axum::body::to_bytes(response.into_body(), crate::json::BODY_LIMIT)
        .await
        .unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or_else(|_| json!({"detail": "internal error"}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_schemas_are_self_contained_objects() {
        for tool in tools() {
            let schema = Value::Object((*tool.input_schema).clone());
            assert_eq!(schema["type"], "object", "{}", tool.name);
            assert!(
                !schema.to_string().contains("$ref"),
                "{}: {schema}",
                tool.name
            );
        }
    }

    #[test]
    fn origin_must_be_this_server() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::HOST,
            "127.0.0.1:8080".parse().unwrap_or_else(|_| unreachable!()),
        );
        assert!(same_origin(&headers, "https://steward.example").is_ok());
        headers.insert(
            header::ORIGIN,
            "http://127.0.0.1:8080"
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
        assert!(same_origin(&headers, "https://steward.example").is_ok());
        headers.insert(
            header::ORIGIN,
            "https://steward.example"
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
        assert!(same_origin(&headers, "https://steward.example/").is_ok());
        headers.insert(
            header::ORIGIN,
            "https://evil.example"
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
        assert!(same_origin(&headers, "https://steward.example").is_err());
        headers.insert(
            header::ORIGIN,
            "null".parse().unwrap_or_else(|_| unreachable!()),
        );
        assert!(same_origin(&headers, "https://steward.example").is_err());
    }
}
