//! The OpenAPI pieces every service shares: the problem schema and the operational endpoints.

use axum::{
    Router,
    http::header,
    response::{IntoResponse, Response},
    routing::get,
};
use utoipa::OpenApi;

use super::problem::ProblemBody;
use crate::FieldError;

#[utoipa::path(get, path = "/health/live", tag = "operations",
    responses((status = 200, description = "The process is up")))]
#[allow(dead_code)]
fn live() {}

#[utoipa::path(get, path = "/health/ready", tag = "operations",
    responses(
        (status = 200, description = "Every dependency answered in time"),
        (status = 503, description = "A dependency failed; `detail` names it", body = ProblemBody,
            content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn ready() {}

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus/OpenMetrics text", content_type = "application/openmetrics-text")))]
#[allow(dead_code)]
fn metrics() {}

#[derive(OpenApi)]
#[openapi(
    paths(live, ready, metrics),
    components(schemas(ProblemBody, FieldError))
)]
struct Shared;

/// The `bearer` security scheme (JWT access tokens) that services reference with
/// `security(("bearer" = []))`; add it with `modifiers(&BearerAuth)`.
pub struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Merge a service's own document with the shared parts.
pub fn document(service: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    service.merge_from(Shared::openapi())
}

/// A service's routes with its document, served at `path` (e.g. `/geo/openapi.json`): `doc` holds
/// the service's info and modifiers; the feature routers list each handler once
/// (`utoipa_axum::routes!`), for the router and the document alike, so no route goes undocumented.
pub fn with_document<S: Clone + Send + Sync + 'static>(
    path: &str,
    doc: utoipa::openapi::OpenApi,
    features: utoipa_axum::router::OpenApiRouter<S>,
) -> Router<S> {
    let (router, paths) = utoipa_axum::router::OpenApiRouter::with_openapi(doc)
        .merge(features)
        .split_for_parts();
    router.merge(self::router(path, &document(paths)))
}

/// [`with_document`] for a service that also holds long-lived responses: `streams` (SSE, WebSocket
/// routes) go into the same document but come back as their own router, for
/// [`crate::Startup::serve_with_streams`].
pub fn with_streams<S: Clone + Send + Sync + 'static>(
    path: &str,
    doc: utoipa::openapi::OpenApi,
    features: utoipa_axum::router::OpenApiRouter<S>,
    streams: utoipa_axum::router::OpenApiRouter<S>,
) -> (Router<S>, Router<S>) {
    let (streams, streams_doc) = streams.split_for_parts();
    (
        with_document(path, doc.merge_from(streams_doc), features),
        streams,
    )
}

/// Serves `doc` at `path` (e.g. `/auth/openapi.json`), rendered once at start-up.
pub fn router<S: Clone + Send + Sync + 'static>(
    path: &str,
    doc: &utoipa::openapi::OpenApi,
) -> Router<S> {
    let body = doc.to_json().unwrap_or_else(|e| {
        tracing::error!(error = %e, "rendering the OpenAPI document failed");
        "{}".to_owned()
    });
    Router::new().route(
        path,
        get(move || {
            let body = body.clone();
            async move { json_text(body) }
        }),
    )
}

fn json_text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
