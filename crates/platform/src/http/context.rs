//! Per-request context: the request id (kept from the caller or generated, echoed back), the
//! tracing span continued from a W3C `traceparent`, metrics by route template, and the guarantee
//! that every error answer leaving a service is problem+json.

use std::{sync::Arc, time::Instant};

use axum::{
    body::Body,
    extract::{MatchedPath, Request, State},
    http::{HeaderValue, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http_body_util::BodyExt;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_http::HeaderExtractor;
use tower_http::request_id::{MakeRequestId, RequestId};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::{metrics::HttpMetrics, problem};
use crate::Problem;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being handled on this task, if any.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// UUIDv7 request ids: sortable by time, like every other id in gewebe.
#[derive(Clone, Copy, Default)]
pub struct MakeRequestUuidV7;

impl MakeRequestId for MakeRequestUuidV7 {
    fn make_request_id<B>(&mut self, _request: &http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&uuid::Uuid::now_v7().to_string())
            .ok()
            .map(RequestId::new)
    }
}

/// Caller-supplied ids are kept only when they are short and printable, so a hostile header can
/// neither bloat every log line nor smuggle control characters into it.
pub fn sanitize_incoming(request: &mut Request) {
    let bad = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .is_some_and(|v| v.len() > 128 || !v.as_bytes().iter().all(u8::is_ascii_graphic));
    if bad {
        request.headers_mut().remove(REQUEST_ID_HEADER);
    }
}

pub async fn middleware(
    State(metrics): State<Arc<HttpMetrics>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "<unmatched>".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().clone();

    let parent = opentelemetry_sdk::propagation::TraceContextPropagator::new();
    let parent_cx = opentelemetry::propagation::TextMapPropagator::extract(
        &parent,
        &HeaderExtractor(request.headers()),
    );
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %method,
        route = %route,
        trace_id = tracing::field::Empty,
    );
    let remote = parent_cx.span().span_context().clone();
    if remote.is_valid() {
        span.record("trace_id", tracing::field::display(remote.trace_id()));
    }
    // Errors here only mean no OpenTelemetry layer is installed; the log still has trace_id.
    let _ = span.set_parent(parent_cx);

    let _in_flight = metrics.in_flight_guard();
    let response = REQUEST_ID
        .scope(request_id, async move {
            let response = next.run(request).await;
            ensure_problem(response).await
        })
        .instrument(span.clone())
        .await;

    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    metrics.observe(method.as_str(), &route, status, elapsed);
    span.in_scope(|| {
        let latency_ms = elapsed.as_secs_f64() * 1000.0;
        if status >= 500 {
            tracing::warn!(status, latency_ms, "request failed");
        } else {
            tracing::info!(status, latency_ms, "request finished");
        }
    });
    response
}

/// Turns any error answer that is not problem+json yet (axum's 405, body-limit 413, extractor
/// rejections from routes that bypass our extractors...) into one, keeping its headers (`Allow`,
/// `Retry-After`, ...). 5xx bodies are dropped unread so no internals can leak.
async fn ensure_problem(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let content_type = response.headers().get(header::CONTENT_TYPE);
    if content_type.is_some_and(|v| v.as_bytes().starts_with(problem::CONTENT_TYPE.as_bytes())) {
        return response;
    }
    let is_text = content_type.is_some_and(|v| v.as_bytes().starts_with(b"text/plain"));
    let (parts, body) = response.into_parts();
    let mut problem = Problem::from_status(status);
    if status.is_client_error()
        && is_text
        && let Some(detail) = short_text(body).await
    {
        problem = problem.with_detail(detail);
    }
    let mut fresh = problem.into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            fresh.headers_mut().append(name.clone(), value.clone());
        }
    }
    fresh
}

/// The first KiB of a plain-text rejection message (axum's are written for API users).
async fn short_text(body: Body) -> Option<String> {
    let limited = http_body_util::Limited::new(body, 1024);
    let bytes = limited.collect().await.ok()?.to_bytes();
    let text = String::from_utf8_lossy(&bytes).trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// The body for a panicking handler: logged with its message, answered without it.
#[allow(clippy::needless_pass_by_value)] // the signature CatchPanicLayer::custom expects
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned());
    tracing::error!(panic = %message, "handler panicked");
    Problem::internal().into_response()
}
