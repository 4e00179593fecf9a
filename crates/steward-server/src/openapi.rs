//! The OpenAPI 3.1 document: `ApiDoc` holds what is not a route (info, shared schemas,
//! the bearer scheme); the paths come from the handlers' annotations as
//! `crate::api_routes` registers them.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(title = "Steward API", description = "The safety layer for fleets of AI agents."),
    components(schemas(
        routes::health::Health,
        routes::reports::ComplianceReportView,
        routes::clock::AdvanceRequest,
        routes::clock::ClockView,
        routes::authorize::AuthorizeRequest,
        routes::authorize::AuthorizeResponse,
        routes::permits::PermitRequest,
        routes::permits::wait::WaitAnswer,
        routes::workers::identity::CreateIdentity,
        routes::workers::identity::CreateWorkerToken,
        routes::workers::identity::IdentityView,
        routes::workers::initial::InitialCertificationRequest,
        routes::workers::initial::PriorRecordBody,
        routes::workers::initial::InitialApprovalRequest,
        routes::workers::initial::InitialCertificationView,
        routes::permits::DecisionRequest,
        routes::permits::ResubmitRequest,
        routes::permits::CompleteRequest,
        routes::permits::CloseRequest,
        routes::permits::RevokeRequest,
        routes::permits::RenewRequest,
        routes::emergencies::DeclareRequest,
        routes::emergencies::ApproveRequest,
        routes::emergencies::ResolveRequest,
        routes::emergencies::EmergencyRenewRequest,
        routes::emergencies::ReviewRequest,
        routes::monitoring::TelemetryRequest,
        routes::monitoring::RollbackReport,
        routes::monitoring::Health,
        routes::principals::CreatePrincipal,
        routes::principals::PrincipalView,
        routes::principals::PrincipalList,
        routes::erasure::ErasureView,
        routes::tokens::CreateToken,
        routes::tokens::CreatedToken,
        routes::tokens::TokenView,
        routes::tokens::TokenList,
        routes::tokens::RevokedTokenView,
        routes::audit::EventPage,
        routes::audit::Verification,
        routes::audit::checkpoints::CheckpointView,
        routes::audit::checkpoints::CheckpointPage,
        routes::audit::checkpoints::PublicKeyView,
        routes::audit::witness::TreeView,
        routes::audit::witness::WitnessVerification,
        routes::audit::proofs::InclusionProofView,
        routes::audit::proofs::ConsistencyProofView,
        routes::audit::retention::PruneRequest,
        routes::audit::retention::PruneView,
        routes::audit::retention::RangeView,
        routes::audit::retention::StopView,
        routes::audit::retention::ManifestView,
        routes::audit::retention::ManifestPage,
        routes::audit::retention::CreateHold,
        routes::audit::retention::ReleaseHold,
        routes::audit::retention::HoldView,
        routes::audit::retention::HoldList,
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
        routes::webhooks::CreateWebhook,
        routes::webhooks::CreatedWebhook,
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

/// The document as served, once the routes added their paths: the bearer scheme is
/// added last, so it is there whatever the routes brought.
pub fn finish(mut document: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    BearerAuth.modify(&mut document);
    document
}
