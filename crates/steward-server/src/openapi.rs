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
        routes::principals::create_principal,
        routes::principals::list_principals,
        routes::principals::disable_principal,
        routes::erasure::erase_principal,
        routes::reports::compliance,
        routes::tokens::create_token,
        routes::tokens::list_tokens,
        routes::tokens::revoke_token,
        routes::audit::list_events,
        routes::audit::verify,
        routes::audit::tail::tail,
        routes::audit::export::export,
        routes::audit::checkpoints::create_checkpoint,
        routes::audit::checkpoints::latest_checkpoint,
        routes::audit::checkpoints::show_checkpoint,
        routes::audit::checkpoints::list_checkpoints,
        routes::audit::checkpoints::public_key,
        routes::audit::proofs::inclusion,
        routes::audit::proofs::consistency,
        routes::workers::register,
        routes::workers::list,
        routes::workers::show,
        routes::workers::eligibility,
        routes::workers::approve_promotion,
        routes::workers::suspend,
        routes::workers::reinstate,
        routes::workers::revoke,
        routes::workers::recertify,
        routes::workers::end_probation,
        routes::workers::record_outcome,
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
        routes::principals::CreatePrincipal,
        routes::principals::PrincipalView,
        routes::principals::PrincipalList,
        routes::erasure::ErasureView,
        routes::tokens::CreateToken,
        routes::tokens::CreatedToken,
        routes::tokens::TokenView,
        routes::tokens::TokenList,
        routes::audit::EventPage,
        routes::audit::Verification,
        routes::audit::checkpoints::CheckpointView,
        routes::audit::checkpoints::CheckpointPage,
        routes::audit::checkpoints::PublicKeyView,
        routes::audit::proofs::InclusionProofView,
        routes::audit::proofs::ConsistencyProofView,
        routes::workers::RegisterWorker,
        routes::workers::PromotionRequest,
        routes::workers::StatusRequest,
        routes::workers::OutcomeRequest,
        routes::workers::WorkerView,
        routes::workers::WorkerList,
        routes::workers::EligibilityView,
        routes::workers::PromotionView,
        routes::workers::RevocationView,
        routes::workers::OutcomeView,
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
