//! The OpenAPI 3.1 document of the `/v1` API, generated from the code with `utoipa`: the
//! operations from the `#[utoipa::path]` attributes in [`super::handlers`], the schemas
//! from the types in [`super::model`]. The tests check that every route of
//! [`super::ROUTES`] is in it.

use std::sync::LazyLock;

use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{error, handlers, model};

/// The name of the security scheme in the document.
pub const SECURITY_SCHEME: &str = "cos_signature";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "hashscan API",
        description = "hashscan's own JSON API: file hashing jobs and malware detections. \
                       Signed routes take a Tencent COS signature (`q-sign-algorithm=sha1`) \
                       in the `Authorization` header, computed over the method and the path \
                       with an access key of the server; the COS SDKs and tools can make it. \
                       Errors answer `{\"error\":{\"code\",\"message\"},\"request_id\"}`."
    ),
    paths(
        handlers::submit_hash,
        handlers::submit_detection,
        handlers::lookup_detections,
        handlers::get_detection,
        handlers::list_jobs,
        handlers::get_job,
        handlers::cancel_job,
        handlers::version,
        handlers::health,
        openapi_json,
    ),
    components(schemas(
        error::ErrorBody,
        error::ErrorDetail,
        model::HashType,
        model::HashRequest,
        model::JobSubmitted,
        model::DetectionRequest,
        model::LookupRequest,
        model::LookupResponse,
        model::DetectionState,
        model::VerdictView,
        model::DetectionView,
        model::HitView,
        model::ArchiveView,
        model::MemberView,
        model::JobView,
        model::JobList,
        model::VersionInfo,
        model::Health,
    )),
    modifiers(&Security),
    tags(
        (name = "detections", description = "Malware detection of uploads, bucket objects and URLs."),
        (name = "jobs", description = "Hash jobs on bucket objects, and the job store."),
        (name = "service", description = "Version, health and this document (unsigned)."),
    )
)]
pub struct ApiDoc;

/// Describes the signature scheme, and adds its 401/403 answers to every signed operation.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            SECURITY_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "A Tencent COS request signature: `q-sign-algorithm=sha1&q-ak=<access key id>\
                 &q-sign-time=<start>;<end>&q-key-time=<start>;<end>&q-header-list=<names>\
                 &q-url-param-list=<names>&q-signature=<hex>`, over the method, the path and the \
                 listed headers (sign `host`) and query parameters. The secret never travels.",
            ))),
        );
        let error = |description: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        utoipa::openapi::ContentBuilder::new()
                            .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                                "ErrorBody",
                            ))))
                            .build(),
                    )
                    .build(),
            )
        };
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in operations.into_iter().flatten() {
                if op.security.is_some() {
                    op.responses.responses.insert(
                        "401".to_string(),
                        error("Unsigned, or the signature cannot be read."),
                    );
                    op.responses.responses.insert(
                        "403".to_string(),
                        error("Unknown access key, wrong signature, or outside its time window."),
                    );
                }
            }
        }
    }
}

/// The document as JSON (made once).
pub fn document() -> String {
    static DOC: LazyLock<String> =
        LazyLock::new(|| ApiDoc::openapi().to_pretty_json().unwrap_or_default());
    DOC.clone()
}

/// This API's OpenAPI 3.1 document, generated from the code.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "service",
    responses((status = 200, description = "The OpenAPI document.", content_type = "application/json"))
)]
pub fn openapi_json() -> Response {
    let mut r = (StatusCode::OK, document()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}
