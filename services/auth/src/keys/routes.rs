use axum::{
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use gewebe_platform::Problem;

use crate::AppState;

/// The public signing keys (RFC 7517 JWK Set): the current one and, during the overlap after a
/// rotation, the previous one.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "keys",
    responses((status = 200, description = "JWK Set of Ed25519 (OKP) keys", content_type = "application/json")))]
pub async fn jwks(State(app): State<AppState>) -> Result<Response, Problem> {
    let keys = app.keys.published().await.map_err(|e| {
        tracing::error!(error = %e, "reading signing keys failed");
        Problem::unavailable(
            "keys_unavailable",
            "the signing keys cannot be read right now",
            5,
        )
    })?;
    let body =
        serde_json::json!({ "keys": keys.iter().map(super::PublicKey::jwk).collect::<Vec<_>>() });
    Ok((
        // Verifiers refetch on an unknown kid anyway, so a few minutes of caching is safe.
        [(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        )],
        axum::Json(body),
    )
        .into_response())
}
