//! `GET /auth/profiles/{id}`: what anyone may see of an account. Events and other services carry
//! account ids only; clients resolve names here, so a name change or a forget needs no replay.

use axum::{
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use gewebe_platform::http::extract::{Json, Path};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::store;
use crate::{AppState, error::Error};

/// Shown instead of the name of an account with role-without-name, or a forgotten one.
pub const RON_PLACEHOLDER: &str = "Rolle ohne Namen";

#[derive(Serialize, ToSchema)]
pub struct PublicProfile {
    id: Uuid,
    /// The display name, or the RoN placeholder.
    display_name: String,
    /// True when `display_name` is the placeholder (role without name, or a forgotten account).
    ron: bool,
}

/// A public profile.
#[utoipa::path(get, path = "/auth/profiles/{id}", tag = "accounts",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = PublicProfile),
        (status = 400, description = "`invalid_path`", body = gewebe_platform::http::problem::ProblemBody),
        (status = 404, description = "`not_found`", body = gewebe_platform::http::problem::ProblemBody),
    ))]
pub async fn profile(State(app): State<AppState>, Path(id): Path<Uuid>) -> Result<Response, Error> {
    let mut tx = app.db.begin().await?;
    let found = store::profile(&mut tx, id).await?;
    tx.commit().await?;
    let p = found.ok_or(Error::NotFound)?;
    let (display_name, ron) = match p.display_name {
        Some(name) if !p.ron && !p.forgotten => (name, false),
        _ => (RON_PLACEHOLDER.to_owned(), true),
    };
    Ok((
        // Short: a changed name or RoN setting should show up soon.
        [(header::CACHE_CONTROL, "public, max-age=60")],
        Json(PublicProfile {
            id,
            display_name,
            ron,
        }),
    )
        .into_response())
}
