use axum::extract::State;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use gewebe_platform::{
    FieldError,
    auth::{Admin, AuthUser, Role},
    http::extract::{Json, Path, Query},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    AppState,
    accounts::store,
    audit::{self, Kind},
    error::Error,
};

/// `limit` above this is refused.
pub const MAX_LIMIT: i64 = 200;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only entries about this account.
    account_id: Option<Uuid>,
    /// 1–200, default 50.
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    /// Newest first.
    items: Vec<audit::Entry>,
    next_cursor: Option<String>,
}

fn encode_cursor(seq: i64) -> String {
    B64.encode(format!("audit:{seq}"))
}

fn decode_cursor(cursor: &str) -> Result<i64, Error> {
    B64.decode(cursor)
        .ok()
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|s| s.strip_prefix("audit:")?.parse::<i64>().ok())
        .filter(|seq| *seq > 0)
        .ok_or(Error::InvalidCursor)
}

/// The security audit log, newest first, optionally for one account.
#[utoipa::path(get, path = "/auth/admin/audit", tag = "admin", security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, body = AuditPage),
        (status = 400, description = "`invalid_cursor`, `invalid_query`", body = gewebe_platform::http::problem::ProblemBody),
        (status = 403, description = "not an admin, checked against the database, not only the token: a demoted admin or a logged-out session is refused at once (`forbidden`)", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
    ))]
pub async fn audit_log(
    State(app): State<AppState>,
    Admin(caller): Admin,
    Query(q): Query<AuditQuery>,
) -> Result<Json<AuditPage>, Error> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Error::Validation(vec![FieldError::new(
            "limit",
            "out_of_range",
            format!("must be 1 to {MAX_LIMIT}"),
        )]));
    }
    let before = q.cursor.as_deref().map(decode_cursor).transpose()?;
    let mut tx = app.db.begin().await?;
    let admin = store::is_admin(&mut tx, caller.id).await?;
    still_admin(&mut tx, admin, &caller).await?;
    let page = audit::list(&mut tx, q.account_id, before, limit).await?;
    tx.commit().await?;
    Ok(Json(AuditPage {
        items: page.items,
        next_cursor: page.next_before.map(encode_cursor),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRoles {
    /// The complete set: `user`, `moderator`, `admin` (`user` is always kept).
    roles: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Roles {
    account_id: Uuid,
    roles: Vec<String>,
    version: i64,
}

/// Replaces an account's roles. In tokens they take effect with the account's next access token (at
/// the latest after `ACCESS_TOKEN_TTL_SECS`), but admin powers end at once: every admin request
/// re-reads its caller's roles and session. The last admin cannot lose the role (409 `last_admin`).
#[utoipa::path(put, path = "/auth/admin/accounts/{id}/roles", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = SetRoles,
    responses(
        (status = 200, body = Roles),
        (status = 403, description = "not an admin, checked against the database in the same transaction as the change: a demoted admin or a logged-out session is refused at once (`forbidden`)", body = gewebe_platform::http::problem::ProblemBody, content_type = "application/problem+json"),
        (status = 404, body = gewebe_platform::http::problem::ProblemBody),
        (status = 409, description = "`last_admin`", body = gewebe_platform::http::problem::ProblemBody),
        (status = 422, description = "unknown role (`validation_failed`)", body = gewebe_platform::http::problem::ProblemBody),
    ))]
pub async fn set_roles(
    State(app): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<Uuid>,
    Json(req): Json<SetRoles>,
) -> Result<Json<Roles>, Error> {
    let roles = normalise_roles(&req.roles)?;
    let mut tx = app.db.begin().await?;
    let account = change_roles(&mut tx, id, &roles, Some(&admin)).await?;
    tx.commit().await?;
    tracing::info!(account_id = %id, actor_id = %admin.id, roles = ?account.roles, "roles changed");
    Ok(Json(Roles {
        account_id: account.id,
        roles: account.roles,
        version: account.version,
    }))
}

/// Sets the roles and records who did it (`actor`: `None` for the command line). An actor's own
/// standing is checked here, under the same locks as the change.
pub async fn change_roles(
    conn: &mut sqlx::PgConnection,
    id: Uuid,
    roles: &[String],
    actor: Option<&AuthUser>,
) -> Result<store::Account, Error> {
    let admins = store::lock_admins(conn).await?;
    if let Some(actor) = actor {
        still_admin(conn, admins.contains(&actor.id), actor).await?;
    }
    let account = store::set_roles(conn, &admins, id, roles)
        .await?
        .map_err(|store::LastAdmin| Error::LastAdmin)?
        .ok_or(Error::NotFound)?;
    audit::record(
        conn,
        Kind::RolesChanged,
        Some(id),
        actor.map(|a| a.id),
        json!({ "roles": account.roles, "via": if actor.is_some() { "api" } else { "cli" } }),
    )
    .await?;
    Ok(account)
}

/// The token said admin, but it may be up to `ACCESS_TOKEN_TTL_SECS` old (and verified tokens are
/// cached): the caller must still be an admin in the database (`admin`, read in the caller's
/// transaction), with a live session.
async fn still_admin(
    conn: &mut sqlx::PgConnection,
    admin: bool,
    caller: &AuthUser,
) -> Result<(), Error> {
    if !admin {
        return Err(Error::Forbidden("this action needs the admin role"));
    }
    let live = match caller.session_id {
        Some(session) => store::session_live(conn, caller.id, session).await?,
        None => false,
    };
    if live {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "the session of this token has ended; log in again",
        ))
    }
}

/// Known roles only, `user` always, in a fixed order.
pub fn normalise_roles(requested: &[String]) -> Result<Vec<String>, Error> {
    let mut errors = Vec::new();
    let mut wanted = vec![Role::User];
    for (i, name) in requested.iter().enumerate() {
        match name.parse::<Role>() {
            Ok(role) => wanted.push(role),
            Err(_) => errors.push(FieldError::new(
                format!("roles[{i}]"),
                "unknown_role",
                "must be one of user, moderator, admin",
            )),
        }
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    Ok([Role::User, Role::Moderator, Role::Admin]
        .into_iter()
        .filter(|r| wanted.contains(r))
        .map(|r| r.as_str().to_owned())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        assert_eq!(decode_cursor(&encode_cursor(42)).ok(), Some(42));
        for bad in ["", "!!", "YXVkaXQ6eA", "MTI"] {
            assert!(decode_cursor(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn roles_are_normalised() {
        let roles = normalise_roles(&["admin".into(), "admin".into()]).ok();
        assert_eq!(roles, Some(vec!["user".to_owned(), "admin".to_owned()]));
        assert!(normalise_roles(&["root".into()]).is_err());
    }
}
