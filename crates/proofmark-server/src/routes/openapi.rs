//! The OpenAPI 3.1 document served at `/openapi.json`, generated from the handlers' `#[utoipa::path]`
//! attributes and the `proofmark_api` types they take and answer. A test checks that it names every route.
use proofmark_api::ErrorBody;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    auth, capture, dashboard, devices, jwks, keys, log, publishers, records, register, sign, validate, verify, webhooks,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Proofmark API",
        description = "The capture plane (SignedShot-compatible, SPEC §1.4) and the publisher plane (`/api/v1`, SPEC §2). Errors are {\"detail\": \"…\"}.",
    ),
    paths(
        super::health,
        super::openapi_json,
        publishers::create_publisher,
        publishers::get_publisher,
        publishers::patch_publisher,
        devices::register_device,
        capture::create_session,
        capture::trust,
        validate::validate,
        jwks::jwks,
        auth::register,
        auth::login,
        auth::me,
        keys::create_api_key,
        keys::list_api_keys,
        keys::revoke_api_key,
        keys::create_signing_key,
        keys::list_signing_keys,
        keys::retire_signing_key,
        sign::sign,
        sign::sign_batch,
        verify::verify,
        register::register,
        records::list,
        records::show,
        records::remove,
        records::file,
        records::certificate_route,
        records::search,
        records::origin_types,
        dashboard::stats,
        webhooks::create,
        webhooks::list,
        webhooks::show,
        webhooks::remove,
        webhooks::deliveries,
        log::checkpoint,
        log::tile,
        log::key,
        log::inclusion,
        log::consistency,
        log::entry,
        log::cosign,
        log::receipt,
    ),
    components(schemas(ErrorBody)),
    modifiers(&SecuritySchemes),
)]
pub(super) struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some(description)).build(),
            )
        };
        components
            .add_security_scheme("admin", bearer("An admin token (`proofmark admin token`, or PROOFMARK_ADMIN_TOKEN)"));
        components.add_security_scheme("device", bearer("The device_token from POST /devices"));
        components.add_security_scheme("session", bearer("The access_token from POST /api/v1/auth/login or register"));
        components.add_security_scheme("api_key", bearer("An API key (pmk_…) from POST /api/v1/keys/api-keys"));
    }
}

/// The document, built once.
pub(super) fn document() -> &'static utoipa::openapi::OpenApi {
    static DOC: std::sync::OnceLock<utoipa::openapi::OpenApi> = std::sync::OnceLock::new();
    DOC.get_or_init(ApiDoc::openapi)
}
