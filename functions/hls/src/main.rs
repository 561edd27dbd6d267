//! The `hls` function: `/api/v1/hls/...` — playlists, segment redirects, just-in-time claims
//! (SPEC §3, §6). A thin adapter: `stream_http::handle` routes to `stream_http::handlers::hls`; with
//! `STREAM_TRANSCODE_FUNCTION` set, claimed segments are made by the `transcode` function.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    stream_http::lambda::run_http().await
}
