//! The adapter between `lambda_http` (API Gateway HTTP API v2 / Function URL events) and
//! [`crate::handle`]. Every HTTP function is this adapter and nothing more.

use bytes::Bytes;
use lambda_http::{Body, Request, RequestExt, Response};

use stream_service::AppState;

/// Converts the Lambda request, calls the handlers, converts the response.
pub async fn handle(state: &AppState, req: Request) -> Response<Body> {
    let aws_request_id = req.lambda_context_ref().map(|c| c.request_id.clone());
    let (mut parts, body) = req.into_parts();
    if !parts.headers.contains_key(crate::REQUEST_ID_HEADER) {
        if let Some(v) = aws_request_id.and_then(|id| http::HeaderValue::from_str(&id).ok()) {
            parts.headers.insert(crate::REQUEST_ID_HEADER, v);
        }
    }
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(s) => Bytes::from(s),
        Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    let resp = crate::handle(state, http::Request::from_parts(parts, bytes)).await;
    let (parts, body) = resp.into_parts();
    let body = if body.is_empty() {
        Body::Empty
    } else {
        match String::from_utf8(body.to_vec()) {
            Ok(s) => Body::Text(s),
            Err(e) => Body::Binary(e.into_bytes()),
        }
    };
    Response::from_parts(parts, body)
}

/// Starts the Lambda runtime for an HTTP function: configuration, tracing and state once per
/// cold start, then [`handle`] per request.
pub async fn run_http() -> Result<(), lambda_http::Error> {
    let mut state = AppState::init_from_env().await?;
    // A Lambda's content paths are reached only through its function URL, which admits only
    // the CDN (AWS_IAM + origin access control, infra/template.yaml): the CDN checked the edge
    // signature before its cache.
    state.cdn_origin = true;
    lambda_http::run(lambda_http::service_fn(move |req: Request| {
        let state = state.clone();
        async move { Ok::<_, std::convert::Infallible>(handle(&state, req).await) }
    }))
    .await
}
