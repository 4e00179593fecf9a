//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(title = "Steward API", description = "The safety layer for fleets of AI agents."),
    paths(
        routes::health::healthz,
        routes::analyze::analyze_task,
        routes::permits::request,
        routes::permits::list,
        routes::permits::show,
        routes::permits::decide,
        routes::permits::cab_signoff,
        routes::permits::resubmit,
        routes::permits::start,
        routes::permits::complete,
        routes::permits::close,
        routes::permits::revoke,
        routes::permits::renew,
        routes::permits::archive,
    ),
    components(schemas(
        routes::health::Health,
        routes::permits::PermitRequest,
        routes::permits::DecisionRequest,
        routes::permits::ResubmitRequest,
        routes::permits::CompleteRequest,
        routes::permits::CloseRequest,
        routes::permits::RevokeRequest,
        routes::permits::RenewRequest,
    )),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
