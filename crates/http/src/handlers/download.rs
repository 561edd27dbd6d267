//! `GET /download/{media_id}`: a file for offline playback (SPEC §3 "Downloads"). The query is
//! `/stream`'s capabilities plus `quality`; the service gives the original, the assembled MP4 of
//! a rung, or how far that has come. Ready: `302` to the file (whose answer says
//! `Content-Disposition: attachment`; so does this one), or with `Accept: application/json` the
//! URL as JSON (a page's `fetch` cannot read a redirect's target). Being made: `202` with the
//! progress and `Retry-After`.

use http::{header, HeaderValue, StatusCode};
use stream_core::error::Result;
use stream_core::model::Caller;
use stream_core::playback::query::{from_query, quality_from_query};
use stream_service::download::{download as make_download, DownloadOutcome};
use stream_service::AppState;

use crate::response::{header_str, json, query, redirect, Req, Resp};
use crate::wire::{DownloadPreparing, DownloadReady};

/// Seconds a client is asked to wait before asking again how far the download has come.
const RETRY_AFTER: &str = "2";

pub async fn download(
    state: &AppState,
    caller: &Caller,
    req: &Req,
    media_id: &str,
) -> Result<Resp> {
    let q = query(req);
    let (caps, _) = from_query(&q, header_str(req, header::USER_AGENT))?;
    let quality = quality_from_query(&q)?;
    let (progress, media_status) =
        match make_download(state, caller, media_id, &caps, quality).await? {
            DownloadOutcome::Preparing(status) => (0.0, Some(status)),
            DownloadOutcome::Making { progress } => (progress, None),
            DownloadOutcome::Ready(ready) => return ready_answer(req, ready),
        };
    let body = DownloadPreparing {
        status: "preparing".into(),
        progress,
        media_status,
    };
    let mut r = json(StatusCode::ACCEPTED, &body);
    let h = r.headers_mut();
    h.insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

fn ready_answer(req: &Req, ready: stream_service::download::Ready) -> Result<Resp> {
    let wants_json =
        header_str(req, header::ACCEPT).is_some_and(|a| a.contains("application/json"));
    let disposition =
        HeaderValue::from_str(&format!("attachment; filename=\"{}\"", ready.file_name));
    // The answer carries a capability: never cached anywhere.
    let mut resp = if wants_json {
        json(StatusCode::OK, &DownloadReady::from(ready))
    } else {
        redirect(&ready.url, "private, no-store")?
    };
    let h = resp.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    if let Ok(d) = disposition {
        h.insert(header::CONTENT_DISPOSITION, d);
    }
    h.insert(
        header::VARY,
        HeaderValue::from_static("Authorization, Accept, User-Agent"),
    );
    Ok(resp)
}
