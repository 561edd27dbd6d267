//! `GET|HEAD /stream/{media_id}`: the unified stream endpoint (SPEC §3). Capabilities come from
//! the query (a bad parameter is the client's bug whatever the media's state), the service
//! decides and opens what that needs, and the answer is a redirect or, with
//! `Accept: application/json`, the decision as JSON.

use http::{header, HeaderValue, Method, StatusCode};
use stream_core::error::Result;
use stream_core::model::Caller;
use stream_core::playback::query::from_query;
use stream_service::playback::{play, StreamOutcome, UrlUse};
use stream_service::AppState;

use crate::response::{header_str, json, query, redirect, Req, Resp};
use crate::wire::{Preparing, StreamAnswer};

/// Seconds a client is asked to wait while a file is still uploading or being probed.
const PREPARING_RETRY_AFTER: &str = "2";

pub async fn stream(state: &AppState, caller: &Caller, req: &Req, media_id: &str) -> Result<Resp> {
    let (caps, opts) = from_query(&query(req), header_str(req, header::USER_AGENT))?;
    let url_use = if req.method() == Method::HEAD {
        UrlUse::Head
    } else {
        UrlUse::Get
    };
    let playback = match play(state, caller, media_id, &caps, &opts, url_use).await? {
        StreamOutcome::Preparing(media_status) => {
            let body = Preparing {
                status: "preparing".into(),
                media_status,
            };
            let mut r = json(StatusCode::ACCEPTED, &body);
            let h = r.headers_mut();
            h.insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(PREPARING_RETRY_AFTER),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            return Ok(r);
        }
        StreamOutcome::Play(p) => p,
    };
    let wants_json =
        header_str(req, header::ACCEPT).is_some_and(|a| a.contains("application/json"));
    // The answer depends on the caller and carries a capability: never cached anywhere.
    let mut resp = if wants_json {
        let mut r = json(StatusCode::OK, &StreamAnswer::from(playback));
        r.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        );
        r
    } else {
        redirect(&playback.url, "private, no-store")?
    };
    let vary = HeaderValue::from_static("Authorization, Accept, User-Agent");
    resp.headers_mut().insert(header::VARY, vary);
    Ok(resp)
}
