//! A small HTTP client for the tests: JSON in, (status, headers, JSON) out.

use reqwest::{Method, header::HeaderMap};
use serde_json::{Value, json};

use gewebe_platform::http::RunningServer;

pub struct Api {
    pub server: RunningServer,
    pub http: reqwest::Client,
}

pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn code(&self) -> Option<&str> {
        self.body["code"].as_str()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Api {
    pub fn new(server: RunningServer) -> Self {
        Self {
            server,
            http: gewebe_testkit::http(),
        }
    }

    /// A request; `ip` is sent as `X-Forwarded-For` (the test client is a trusted loopback proxy).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = self.http.request(method, self.server.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn register(&self, email: &str, password: &str, name: &str) -> Value {
        let r = self
            .call(
                Method::POST,
                "/auth/register",
                None,
                Some(json!({"email": email, "password": password, "display_name": name})),
                &[],
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body
    }

    pub async fn login_from(&self, email: &str, password: &str, ip: &str) -> Resp {
        self.call(
            Method::POST,
            "/auth/login",
            None,
            Some(json!({"email": email, "password": password, "refresh_token_in_body": true})),
            &[("x-forwarded-for", ip)],
        )
        .await
    }

    /// Logs in and returns the access token.
    pub async fn token(&self, email: &str, password: &str) -> String {
        let r = self.login_from(email, password, "192.0.2.1").await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["access_token"].as_str().unwrap().to_owned()
    }
}
