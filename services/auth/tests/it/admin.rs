//! Admin endpoints (roles, audit log) and the audit chain's verification.

use reqwest::Method;
use serde_json::json;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::{api::Api, spawn};

const PASSWORD: &str = "correct horse battery";

/// An admin made the way an operator does it (`gewebe-auth roles set`, here its library call).
async fn admin(api: &Api, db: &gewebe_testkit::TestDb) -> (Uuid, String) {
    let account = api.register("root@example.org", PASSWORD, "Root").await;
    let id: Uuid = account["id"].as_str().unwrap().parse().unwrap();
    let mut conn = PgConnection::connect(&db.direct_url).await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    gewebe_auth::admin::change_roles(&mut tx, id, &["user".into(), "admin".into()], None)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    (id, api.token("root@example.org", PASSWORD).await)
}

#[tokio::test]
async fn only_admins_change_roles_and_changes_apply_to_the_next_token() {
    let (server, db) = spawn().await;
    let api = Api::new(server);
    let (admin_id, admin_token) = admin(&api, &db).await;
    let user = api.register("mod@example.org", PASSWORD, "Mod").await;
    let user_id = user["id"].as_str().unwrap();
    let user_token = api.token("mod@example.org", PASSWORD).await;
    let path = format!("/auth/admin/accounts/{user_id}/roles");

    let r = api
        .call(
            Method::PUT,
            &path,
            Some(&user_token),
            Some(json!({"roles": ["admin"]})),
            &[],
        )
        .await;
    assert_eq!((r.status, r.code()), (403, Some("forbidden")));
    let r = api
        .call(
            Method::PUT,
            &path,
            Some(&admin_token),
            Some(json!({"roles": ["moderator"]})),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["roles"], json!(["user", "moderator"]));
    let r = api
        .call(
            Method::PUT,
            &path,
            Some(&admin_token),
            Some(json!({"roles": ["root"]})),
            &[],
        )
        .await;
    assert_eq!((r.status, r.code()), (422, Some("validation_failed")));
    assert_eq!(r.body["errors"][0]["field"], "roles[0]");
    let r = api
        .call(
            Method::PUT,
            &format!("/auth/admin/accounts/{}/roles", Uuid::now_v7()),
            Some(&admin_token),
            Some(json!({"roles": []})),
            &[],
        )
        .await;
    assert_eq!(r.status, 404);

    // The old token still says "user"; the next one carries the new role.
    let me = api
        .call(Method::GET, "/auth/me", Some(&user_token), None, &[])
        .await;
    assert_eq!(me.body["roles"], json!(["user", "moderator"]));
    let fresh = api.token("mod@example.org", PASSWORD).await;
    let claims = decode_claims(&fresh);
    assert_eq!(claims["roles"], json!(["user", "moderator"]));
    assert_eq!(decode_claims(&user_token)["roles"], json!(["user"]));

    // The last admin cannot demote itself.
    let r = api
        .call(
            Method::PUT,
            &format!("/auth/admin/accounts/{admin_id}/roles"),
            Some(&admin_token),
            Some(json!({"roles": ["user"]})),
            &[],
        )
        .await;
    assert_eq!((r.status, r.code()), (409, Some("last_admin")));
}

fn decode_claims(token: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&raw).unwrap()
}

#[tokio::test]
async fn the_audit_log_pages_filters_and_holds_no_pii() {
    let (server, db) = spawn().await;
    let api = Api::new(server);
    let (_, admin_token) = admin(&api, &db).await;
    let other = api
        .register("audited@example.org", PASSWORD, "Audited")
        .await;
    let other_id = other["id"].as_str().unwrap();
    for _ in 0..3 {
        api.login_from("audited@example.org", "wrong password", "192.0.2.9")
            .await;
    }
    api.token("audited@example.org", PASSWORD).await;
    // Failed logins arrive aggregated, one entry per account and window, once the window closes.
    let failed = crate::brute_force::flushed_failures(&db, other_id).await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["failures"], 3);

    let r = api
        .call(
            Method::GET,
            &format!("/auth/admin/audit?account_id={other_id}&limit=2"),
            Some(&admin_token),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut kinds: Vec<String> = Vec::new();
    let mut page = r.body;
    loop {
        for item in page["items"].as_array().unwrap() {
            assert_eq!(item["account_id"], other_id);
            assert_eq!(item["hash"].as_str().unwrap().len(), 64);
            kinds.push(item["kind"].as_str().unwrap().to_owned());
        }
        let Some(cursor) = page["next_cursor"].as_str() else {
            break;
        };
        let r = api
            .call(
                Method::GET,
                &format!("/auth/admin/audit?account_id={other_id}&limit=2&cursor={cursor}"),
                Some(&admin_token),
                None,
                &[],
            )
            .await;
        assert_eq!(r.status, 200);
        page = r.body;
    }
    assert_eq!(
        kinds,
        ["login.failed", "login.succeeded", "account.registered"]
    );

    let whole = api
        .call(
            Method::GET,
            "/auth/admin/audit?limit=200",
            Some(&admin_token),
            None,
            &[],
        )
        .await;
    let text = whole.body.to_string();
    for pii in [
        "audited@example.org",
        "Audited",
        "192.0.2.9",
        "root@example.org",
    ] {
        assert!(!text.contains(pii), "{pii} in the audit log");
    }
    assert!(
        text.contains("roles.changed") && text.contains("key.rotated"),
        "{text}"
    );

    for bad in ["cursor=garbage", "limit=0", "limit=201", "account_id=nope"] {
        let r = api
            .call(
                Method::GET,
                &format!("/auth/admin/audit?{bad}"),
                Some(&admin_token),
                None,
                &[],
            )
            .await;
        assert_eq!(r.status / 100, 4, "{bad}: {}", r.body);
        assert_ne!(r.status, 404);
    }
}

#[tokio::test]
async fn verify_finds_an_altered_row_a_removed_row_and_a_cut_tail() {
    let (server, db) = spawn().await;
    let api = Api::new(server);
    for i in 0..4 {
        api.register(&format!("a{i}@example.org"), PASSWORD, "A")
            .await;
    }
    let mut conn = PgConnection::connect(&db.direct_url).await.unwrap();
    let v = {
        let mut tx = conn.begin().await.unwrap();
        let v = gewebe_auth::audit::verify(&mut tx, None).await.unwrap();
        tx.commit().await.unwrap();
        v
    };
    // key rotation at start-up + 4 registrations
    assert_eq!((v.entries, v.broken.clone()), (5, None));

    // Append-only for the service's own role...
    let err = sqlx::query("UPDATE auth.audit_log SET kind = 'x' WHERE seq = 3")
        .execute(&mut conn)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    // ...and a superuser who goes around the trigger is caught by the chain.
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("UPDATE auth.audit_log SET data = '{\"reason\":\"nothing\"}' WHERE seq = 3")
        .execute(&mut conn)
        .await
        .unwrap();
    let v = {
        let mut tx = conn.begin().await.unwrap();
        let v = gewebe_auth::audit::verify(&mut tx, None).await.unwrap();
        tx.commit().await.unwrap();
        v
    };
    assert_eq!(v.broken.as_ref().map(|b| b.0), Some(3), "{v:?}");
    assert!(v.broken.unwrap().1.contains("altered"));

    sqlx::query("DELETE FROM auth.audit_log WHERE seq = 3")
        .execute(&mut conn)
        .await
        .unwrap();
    let v = {
        let mut tx = conn.begin().await.unwrap();
        let v = gewebe_auth::audit::verify(&mut tx, None).await.unwrap();
        tx.commit().await.unwrap();
        v
    };
    assert_eq!(v.broken.as_ref().map(|b| b.0), Some(3), "{v:?}");
    assert!(v.broken.unwrap().1.contains("missing"));

    sqlx::query("DELETE FROM auth.audit_log WHERE seq >= 3")
        .execute(&mut conn)
        .await
        .unwrap();
    let v = {
        let mut tx = conn.begin().await.unwrap();
        let v = gewebe_auth::audit::verify(&mut tx, None).await.unwrap();
        tx.commit().await.unwrap();
        v
    };
    assert_eq!(v.broken.as_ref().map(|b| b.0), Some(3), "{v:?}");
    assert!(v.broken.unwrap().1.contains("removed from the end"));
}

/// Issue 13, item 5: admin powers end with the demotion or the session, not with the token.
#[tokio::test]
async fn a_demoted_admin_or_an_ended_session_with_a_valid_token_gets_403() {
    let (server, db) = spawn().await;
    let api = Api::new(server);
    let (root_id, root_token) = admin(&api, &db).await;
    let second = api.register("second@example.org", PASSWORD, "Second").await;
    let second_id = second["id"].as_str().unwrap().to_owned();
    let roles = |id: &str| format!("/auth/admin/accounts/{id}/roles");
    let r = api
        .call(
            Method::PUT,
            &roles(&second_id),
            Some(&root_token),
            Some(json!({"roles": ["admin"]})),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let second_token = api.token("second@example.org", PASSWORD).await;
    assert_eq!(
        decode_claims(&second_token)["roles"],
        json!(["user", "admin"])
    );

    // root demotes second; second's token still says admin for up to 15 minutes...
    let r = api
        .call(
            Method::PUT,
            &roles(&second_id),
            Some(&root_token),
            Some(json!({"roles": []})),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // ...but cannot promote itself back, demote root, or read the log.
    for (path, body) in [
        (roles(&second_id), json!({"roles": ["admin"]})),
        (roles(&root_id.to_string()), json!({"roles": []})),
    ] {
        let r = api
            .call(Method::PUT, &path, Some(&second_token), Some(body), &[])
            .await;
        assert_eq!((r.status, r.code()), (403, Some("forbidden")), "{}", r.body);
    }
    let r = api
        .call(
            Method::GET,
            "/auth/admin/audit",
            Some(&second_token),
            None,
            &[],
        )
        .await;
    assert_eq!((r.status, r.code()), (403, Some("forbidden")), "{}", r.body);
    let mut conn = PgConnection::connect(&db.direct_url).await.unwrap();
    let still: Vec<String> =
        sqlx::query_scalar("SELECT unnest(roles) FROM auth.accounts WHERE id = $1::uuid")
            .bind(&second_id)
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(still, ["user"]);

    // An admin whose session ended (logout) keeps a valid access token, but no admin powers.
    let r = api
        .login_from("root@example.org", PASSWORD, "192.0.2.5")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (access, refresh) = (
        r.body["access_token"].as_str().unwrap().to_owned(),
        r.body["refresh_token"].as_str().unwrap().to_owned(),
    );
    let r = api
        .call(Method::GET, "/auth/admin/audit", Some(&access), None, &[])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api
        .call(
            Method::POST,
            "/auth/logout",
            None,
            Some(json!({"refresh_token": refresh})),
            &[],
        )
        .await;
    assert_eq!(r.status, 204);
    let r = api
        .call(Method::GET, "/auth/admin/audit", Some(&access), None, &[])
        .await;
    assert_eq!((r.status, r.code()), (403, Some("forbidden")), "{}", r.body);
    let r = api
        .call(
            Method::PUT,
            &roles(&second_id),
            Some(&access),
            Some(json!({"roles": ["admin"]})),
            &[],
        )
        .await;
    assert_eq!((r.status, r.code()), (403, Some("forbidden")), "{}", r.body);
    // root's other session is untouched.
    let r = api
        .call(
            Method::GET,
            "/auth/admin/audit",
            Some(&root_token),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}
