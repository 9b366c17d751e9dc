//! The JWT extractors against a JWKS endpoint serving keys this test generates.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{Json, Router, extract::FromRef, routing::get};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use gewebe_platform::{
    auth::{Admin, AuthUser, JwtConfig, JwtVerifier},
    http::{HttpConfig, RunningServer},
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::serve;

struct Key {
    kid: String,
    signing: ed25519_dalek::SigningKey,
}

impl Key {
    fn generate(kid: &str) -> Self {
        let mut seed = [0u8; 32];
        seed[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        seed[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        Self {
            kid: kid.to_owned(),
            signing: ed25519_dalek::SigningKey::from_bytes(&seed),
        }
    }

    fn jwk(&self) -> Value {
        json!({
            "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": self.kid,
            "x": B64.encode(self.signing.verifying_key().to_bytes()),
        })
    }

    fn sign(&self, claims: &Value) -> String {
        // PKCS#8 v1 wrapping of an Ed25519 seed: a fixed 16-byte prefix (RFC 8410).
        let mut der = vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        der.extend_from_slice(&self.signing.to_bytes());
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(&der)).unwrap()
    }
}

fn claims(roles: &[&str]) -> Value {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    json!({
        "sub": uuid::Uuid::now_v7(), "sid": uuid::Uuid::now_v7(), "roles": roles,
        "iat": now, "exp": now + 900, "iss": "gewebe-auth", "aud": "gewebe",
    })
}

/// A JWKS endpoint whose key list the test can change, counting fetches.
struct Jwks {
    server: RunningServer,
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
}

async fn jwks(keys: Vec<Value>) -> Jwks {
    let keys = Arc::new(Mutex::new(keys));
    let fetches = Arc::new(AtomicUsize::new(0));
    let (k, f) = (keys.clone(), fetches.clone());
    let api = Router::new().route(
        "/.well-known/jwks.json",
        get(move || {
            f.fetch_add(1, Ordering::SeqCst);
            let keys = k.lock().unwrap().clone();
            async move { Json(json!({ "keys": keys })) }
        }),
    );
    Jwks {
        server: serve(api, HttpConfig::local(), None).await,
        keys,
        fetches,
    }
}

#[derive(Clone, FromRef)]
struct State {
    verifier: JwtVerifier,
}

async fn protected(jwks: &Jwks, refresh_min_interval: Duration) -> RunningServer {
    let verifier = JwtVerifier::new(JwtConfig {
        jwks_url: jwks.server.url("/.well-known/jwks.json"),
        issuer: "gewebe-auth".into(),
        audience: "gewebe".into(),
        refresh_min_interval,
        cache_ttl: Duration::from_mins(5),
        leeway_secs: 5,
    })
    .unwrap();
    let api =
        Router::new()
            .route(
                "/me",
                get(|user: AuthUser| async move { Json(json!({ "id": user.id })) }),
            )
            .route(
                "/maybe",
                get(|user: Option<AuthUser>| async move {
                    Json(json!({ "anonymous": user.is_none() }))
                }),
            )
            .route(
                "/admin",
                get(|Admin(user): Admin| async move { Json(json!({ "id": user.id })) }),
            )
            .with_state(State { verifier });
    serve(api, HttpConfig::local(), None).await
}

async fn call(server: &RunningServer, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = gewebe_testkit::http().get(server.url(path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn valid_tokens_pass_and_every_forgery_is_a_401_problem() {
    let key = Key::generate("k1");
    let jwks = jwks(vec![key.jwk()]).await;
    let server = protected(&jwks, Duration::from_hours(1)).await;

    let good = claims(&["user"]);
    let (status, body) = call(&server, "/me", Some(&key.sign(&good))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], good["sub"]);

    let mut expired = claims(&["user"]);
    expired["exp"] = json!(expired["iat"].as_i64().unwrap() - 600);
    let mut wrong_aud = claims(&["user"]);
    wrong_aud["aud"] = json!("someone-else");
    let mut wrong_iss = claims(&["user"]);
    wrong_iss["iss"] = json!("evil");

    let valid = key.sign(&good);
    let (head, rest) = valid.split_once('.').unwrap();
    let (payload, sig) = rest.split_once('.').unwrap();
    let mut forged_claims = good.clone();
    forged_claims["roles"] = json!(["admin"]);
    let tampered = format!("{head}.{}.{sig}", B64.encode(forged_claims.to_string()));
    let alg_none = format!(
        "{}.{payload}.",
        B64.encode(r#"{"alg":"none","typ":"JWT","kid":"k1"}"#)
    );
    // HS256 "signed" with the public key: the classic algorithm-confusion attack.
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.kid = Some("k1".into());
    let public = key.signing.verifying_key().to_bytes();
    let hs256 =
        jsonwebtoken::encode(&hs_header, &good, &EncodingKey::from_secret(&public)).unwrap();
    let unknown_kid = Key::generate("k-unknown").sign(&good);

    let cases = [
        ("expired", key.sign(&expired)),
        ("wrong audience", key.sign(&wrong_aud)),
        ("wrong issuer", key.sign(&wrong_iss)),
        ("tampered", tampered),
        ("alg none", alg_none),
        ("hs256 with public key", hs256),
        ("unknown kid", unknown_kid),
        ("garbage", "not.a.jwt".to_owned()),
    ];
    for (name, token) in cases {
        let (status, body) = call(&server, "/me", Some(&token)).await;
        assert_eq!(status, 401, "{name}: {body}");
        assert_eq!(body["code"], "invalid_token", "{name}: {body}");
        assert!(body["request_id"].is_string());
    }

    let (status, body) = call(&server, "/me", None).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));

    // Optional auth: anonymous is fine, a bad token is not silently ignored.
    assert_eq!(
        call(&server, "/maybe", None).await,
        (200, json!({ "anonymous": true }))
    );
    assert_eq!(
        call(&server, "/maybe", Some(&valid)).await,
        (200, json!({ "anonymous": false }))
    );
    assert_eq!(call(&server, "/maybe", Some("x.y.z")).await.0, 401);

    // Roles.
    let (status, body) = call(&server, "/admin", Some(&valid)).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
    assert_eq!(
        call(
            &server,
            "/admin",
            Some(&key.sign(&claims(&["user", "admin"])))
        )
        .await
        .0,
        200
    );

    // With the refresh interval at an hour, none of the bad kids caused a second fetch.
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_unknown_kid_refetches_at_most_once_per_interval() {
    let old = Key::generate("old");
    let jwks = jwks(vec![old.jwk()]).await;
    let server = protected(&jwks, Duration::from_millis(500)).await;
    assert_eq!(
        call(&server, "/me", Some(&old.sign(&claims(&["user"]))))
            .await
            .0,
        200
    );
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 1);

    // Rotation: the issuer publishes a new key and signs with it.
    let new = Key::generate("new");
    jwks.keys.lock().unwrap().push(new.jwk());
    let token = new.sign(&claims(&["user"]));

    // Inside the interval: no refetch, however many requests arrive.
    let burst =
        futures::future::join_all((0..20).map(|_| call(&server, "/me", Some(&token)))).await;
    assert!(burst.iter().all(|(s, _)| *s == 401));
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 1);

    // After the interval: one refetch, then the new key verifies; a burst still causes one fetch.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let burst =
        futures::future::join_all((0..20).map(|_| call(&server, "/me", Some(&token)))).await;
    assert!(burst.iter().all(|(s, _)| *s == 200), "{burst:?}");
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 2);
    // Old tokens keep verifying while the old key is still published.
    assert_eq!(
        call(&server, "/me", Some(&old.sign(&claims(&["user"]))))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn unreachable_jwks_without_cached_keys_is_503_not_401() {
    let key = Key::generate("k1");
    let jwks = jwks(vec![]).await;
    let jwks_url = jwks.server.url("/.well-known/jwks.json");
    jwks.server.stop().await.unwrap();
    let verifier = JwtVerifier::new(JwtConfig {
        jwks_url,
        issuer: "gewebe-auth".into(),
        audience: "gewebe".into(),
        refresh_min_interval: Duration::from_secs(1),
        cache_ttl: Duration::from_mins(5),
        leeway_secs: 5,
    })
    .unwrap();
    let api = Router::new()
        .route("/me", get(|_: AuthUser| async { "ok" }))
        .with_state(State { verifier });
    let server = serve(api, HttpConfig::local(), None).await;
    let (status, body) = call(&server, "/me", Some(&key.sign(&claims(&["user"])))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("auth_keys_unavailable"))
    );
}

/// A verified token is remembered, but never past its expiry or past its key leaving the JWKS.
#[tokio::test]
async fn remembered_tokens_end_with_their_expiry_and_with_their_key() {
    let key = Key::generate("k1");
    let jwks = jwks(vec![key.jwk()]).await;
    let verifier = JwtVerifier::new(JwtConfig {
        jwks_url: jwks.server.url("/.well-known/jwks.json"),
        issuer: "gewebe-auth".into(),
        audience: "gewebe".into(),
        refresh_min_interval: Duration::from_millis(100),
        cache_ttl: Duration::from_millis(300),
        leeway_secs: 0,
    })
    .unwrap();
    let token = key.sign(&claims(&["user"]));
    let mut short = claims(&["user"]);
    short["exp"] = json!(time::OffsetDateTime::now_utc().unix_timestamp() + 1);
    let short = key.sign(&short);
    for _ in 0..3 {
        verifier.verify(&token).await.unwrap();
        verifier.verify(&short).await.unwrap();
    }
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 1);

    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(
        verifier.verify(&short).await.is_err(),
        "expired, though remembered"
    );
    jwks.keys.lock().unwrap().clear();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        verifier.verify(&token).await.is_err(),
        "its key left the JWKS"
    );
}
