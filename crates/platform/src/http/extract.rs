//! Extractors whose rejections are problem+json with stable codes, so handlers never hand-roll
//! error bodies for malformed input.

use axum::{
    extract::{
        FromRequest, FromRequestParts,
        rejection::{JsonRejection, PathRejection, QueryRejection},
    },
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;

use crate::{FieldError, Problem};

/// `axum::Json` with problem+json rejections: 415 without a JSON content type, 400 for malformed
/// JSON, 422 for JSON of the wrong shape (with the field path), 413 past the body limit.
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(Problem))]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

impl From<JsonRejection> for Problem {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
            )
            .with_detail("expected a request body with `Content-Type: application/json`"),
            JsonRejection::JsonSyntaxError(e) => {
                Problem::bad_request("malformed_json", e.body_text())
            }
            JsonRejection::JsonDataError(e) => {
                let text = e.body_text();
                let field = field_path(&text);
                Problem::validation(vec![FieldError::new(field, "invalid", text)])
            }
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Problem::from_status(StatusCode::PAYLOAD_TOO_LARGE)
                    .with_detail("the request body is larger than this endpoint accepts")
            }
            other => Problem::bad_request("unreadable_body", other.body_text()),
        }
    }
}

/// `serde_path_to_error` (used by axum) reports `path: message`; the path names the field.
fn field_path(text: &str) -> String {
    let rest = text.split_once(": ").map_or(text, |(_, r)| r);
    match rest.split_once(": ") {
        Some((path, _)) if !path.contains(' ') => path.to_owned(),
        _ => String::new(),
    }
}

/// `axum::extract::Query` with a 400 `invalid_query` rejection.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(Problem))]
pub struct Query<T>(pub T);

impl From<QueryRejection> for Problem {
    fn from(rejection: QueryRejection) -> Self {
        Problem::bad_request("invalid_query", rejection.body_text())
    }
}

/// `axum::extract::Path` with a 400 `invalid_path` rejection (a malformed id is the client's error).
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(Problem))]
pub struct Path<T>(pub T);

impl From<PathRejection> for Problem {
    fn from(rejection: PathRejection) -> Self {
        Problem::bad_request("invalid_path", rejection.body_text())
    }
}

/// The version a client read, from `If-Match: "<version>"` (optimistic concurrency; the ETag of a
/// versioned resource is its version in quotes). Absent header: `IfMatch(None)`, an unconditional
/// write. A header that is not one version (`*`, a list, garbage) is a 400 `invalid_if_match`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IfMatch(pub Option<i64>);

impl IfMatch {
    pub fn parse(raw: &str) -> Option<i64> {
        let tag = raw.trim();
        let tag = tag.strip_prefix("W/").unwrap_or(tag);
        let tag = tag
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .unwrap_or(tag);
        tag.parse::<i64>().ok().filter(|v| *v >= 0)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(axum::http::header::IF_MATCH) else {
            return Ok(Self(None));
        };
        value
            .to_str()
            .ok()
            .and_then(Self::parse)
            .map(|v| Self(Some(v)))
            .ok_or_else(|| {
                Problem::bad_request(
                    "invalid_if_match",
                    "If-Match must carry the version from the ETag, e.g. If-Match: \"3\"",
                )
            })
    }
}

/// The `ETag` header value for a version.
pub fn etag(version: i64) -> axum::http::HeaderValue {
    // Digits and quotes only: always a valid header value.
    axum::http::HeaderValue::from_str(&format!("\"{version}\""))
        .unwrap_or_else(|_| axum::http::HeaderValue::from_static("\"0\""))
}

#[cfg(test)]
mod tests {
    use super::IfMatch;

    #[test]
    fn if_match_takes_one_quoted_or_bare_version() {
        assert_eq!(IfMatch::parse("\"3\""), Some(3));
        assert_eq!(IfMatch::parse("W/\"12\""), Some(12));
        assert_eq!(IfMatch::parse(" 7 "), Some(7));
        for bad in ["*", "\"1\", \"2\"", "\"x\"", "-1", ""] {
            assert_eq!(IfMatch::parse(bad), None, "{bad:?}");
        }
    }
}
