//! RFC 9457 problem details: the only error body any gewebe service sends.

use std::borrow::Cow;

use axum::{
    Json,
    http::{HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

use super::context;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// One invalid field of a request, for 422 answers.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldError {
    /// JSON pointer-ish path of the field, e.g. `location.lat`.
    pub field: String,
    /// Stable machine-readable reason, e.g. `out_of_range`.
    pub code: String,
    pub message: String,
}

impl FieldError {
    pub fn new(
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            code: code.into(),
            message: message.into(),
        }
    }
}

/// A problem answer. Build it with the constructors; `code` is the stable contract for clients.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    pub code: Cow<'static, str>,
    pub title: Cow<'static, str>,
    pub detail: Option<String>,
    pub errors: Vec<FieldError>,
    pub extra: Option<serde_json::Value>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// The wire shape, documented in every service's OpenAPI.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProblemBody {
    /// `urn:gewebe:problem:<code>`
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Stable `snake_case` code.
    pub code: String,
    /// The `x-request-id` of the request, to quote in bug reports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub extra: Option<serde_json::Value>,
}

impl Problem {
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        title: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            code: code.into(),
            title: title.into(),
            detail: None,
            errors: Vec::new(),
            extra: None,
            headers: Vec::new(),
        }
    }

    /// The generic problem for a status, used where nothing more specific is known.
    pub fn from_status(status: StatusCode) -> Self {
        let (code, title) = generic(status);
        Self::new(status, code, title)
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    /// Extra members merged into the body (RFC 9457 extension members).
    pub fn with_extra(mut self, extra: serde_json::Value) -> Self {
        self.extra = Some(extra);
        self
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn with_retry_after(self, secs: u32) -> Self {
        self.with_header(header::RETRY_AFTER, HeaderValue::from(secs))
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, "Bad request").with_detail(detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authentication required",
        )
        .with_detail(detail)
        .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden").with_detail(detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "Not found").with_detail(detail)
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, "Conflict").with_detail(detail)
    }

    pub fn precondition_failed(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "version_mismatch",
            "Precondition failed",
        )
        .with_detail(detail)
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "Invalid request",
        )
        .with_detail("one or more fields are invalid")
        .with_errors(errors)
    }

    pub fn too_many_requests(retry_after_secs: u32) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Too many requests",
        )
        .with_retry_after(retry_after_secs)
    }

    /// A 500. The cause is for the log (the caller logs it), never for the client.
    pub fn internal() -> Self {
        Self::from_status(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn unavailable(
        code: &'static str,
        detail: impl Into<String>,
        retry_after_secs: u32,
    ) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, "Service unavailable")
            .with_detail(detail)
            .with_retry_after(retry_after_secs)
    }

    pub fn body(&self) -> ProblemBody {
        ProblemBody {
            type_: format!("urn:gewebe:problem:{}", self.code),
            title: self.title.to_string(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_string(),
            request_id: context::current_request_id(),
            errors: self.errors.clone(),
            extra: self.extra.clone(),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = self.body();
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        response
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.code)
    }
}

impl std::error::Error for Problem {}

/// Stable codes for bare statuses. Exhaustive for what the stack itself produces.
pub fn generic(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => ("bad_request", "Bad request"),
        401 => ("unauthorized", "Authentication required"),
        403 => ("forbidden", "Forbidden"),
        404 => ("not_found", "Not found"),
        405 => ("method_not_allowed", "Method not allowed"),
        406 => ("not_acceptable", "Not acceptable"),
        408 => ("request_timeout", "Request timeout"),
        409 => ("conflict", "Conflict"),
        411 => ("length_required", "Length required"),
        412 => ("precondition_failed", "Precondition failed"),
        413 => ("payload_too_large", "Payload too large"),
        414 => ("uri_too_long", "URI too long"),
        415 => ("unsupported_media_type", "Unsupported media type"),
        422 => ("unprocessable_entity", "Unprocessable entity"),
        428 => ("precondition_required", "Precondition required"),
        429 => ("rate_limited", "Too many requests"),
        431 => ("headers_too_large", "Request header fields too large"),
        500 => ("internal", "Internal server error"),
        501 => ("not_implemented", "Not implemented"),
        502 => ("bad_gateway", "Bad gateway"),
        503 => ("unavailable", "Service unavailable"),
        504 => ("gateway_timeout", "Gateway timeout"),
        s if s >= 500 => ("internal", "Internal server error"),
        _ => ("bad_request", "Bad request"),
    }
}
