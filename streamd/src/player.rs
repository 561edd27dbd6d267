//! The player page (`player/` in the repository): plain HTML and ES modules, served as static
//! files. `GET /` answers `index.html`, `GET /player/...` the files beside it. The same files can
//! be deployed as-is next to the cloud API; the page's API base URL defaults to its own origin.
//!
//! `index.html` carries `<base href="./">`, a no-op where the files are deployed on their own; at
//! `/` it is rewritten to `<base href="/player/">` so the page's relative URLs resolve to the
//! player directory. Only these two paths are routed here, so `/api/v1/...`, `/healthz` and
//! `/objects/...` are never shadowed. `..` and other hostile paths are refused by tower-http's
//! `ServeDir`; dot files and `node_modules` are not served.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::ServeDir;

/// Where the page lives unless `STREAM_PLAYER_DIR` says otherwise (relative to the current dir:
/// `scripts/run.sh` runs from the repository root).
pub const DEFAULT_DIR: &str = "./player";

const BASE_AS_DEPLOYED: &str = r#"<base href="./">"#;
const BASE_AT_ROOT: &str = r#"<base href="/player/">"#;

const NOT_INSTALLED: &str = "<!doctype html>\n<meta charset=\"utf-8\"><title>stream</title>\n\
<p>The player page is not installed: no <code>index.html</code> in the player directory \
(<code>STREAM_PLAYER_DIR</code>, default <code>./player</code> from where streamd was started). \
The API is served at <code>/api/v1/</code>.</p>\n";

fn security_headers(h: &mut HeaderMap) {
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// `GET /`: the page, with its base pointing at `/player/`.
pub async fn index(dir: &Path) -> Response {
    let mut resp = match tokio::fs::read_to_string(dir.join("index.html")).await {
        Ok(html) => {
            let html = html.replacen(BASE_AS_DEPLOYED, BASE_AT_ROOT, 1);
            let mut r = (StatusCode::OK, html).into_response();
            // Edits to the page show at the next load; the files are small.
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            r
        }
        Err(_) => {
            let mut r = (StatusCode::NOT_FOUND, NOT_INSTALLED).into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
    };
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    security_headers(resp.headers_mut());
    resp
}

fn not_found() -> Response {
    let mut r = (StatusCode::NOT_FOUND, "not found\n").into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Whether a path below `/player/` may be served: no dot files or dot directories (also refuses
/// `..`), nothing from npm's working tree.
fn servable(rest: &str) -> bool {
    rest.split('/')
        .all(|seg| !seg.starts_with('.') && !seg.contains('\\') && seg != "node_modules")
        && !matches!(rest, "package.json" | "package-lock.json")
}

/// `GET|HEAD /player/...`: a file of the player directory.
pub async fn asset(dir: PathBuf, req: Request) -> Response {
    let path = req.uri().path().to_string();
    if path == "/player" {
        return (
            StatusCode::PERMANENT_REDIRECT,
            [(header::LOCATION, "/player/")],
        )
            .into_response();
    }
    let Some(rest) = path.strip_prefix("/player/") else {
        return not_found();
    };
    // Percent-decoding happens inside ServeDir; check the decoded form too.
    let decoded = percent_decode(rest);
    if !servable(rest) || !servable(&decoded) {
        return not_found();
    }
    let (mut parts, body) = req.into_parts();
    let inner = match parts.uri.query() {
        Some(q) => format!("/{rest}?{q}"),
        None => format!("/{rest}"),
    };
    let Ok(uri) = inner.parse::<Uri>() else {
        return not_found();
    };
    parts.uri = uri;
    let svc = ServeDir::new(&dir)
        .append_index_html_on_directories(true)
        .redirect_to_trailing_slash(false);
    let mut resp = match svc.oneshot(Request::from_parts(parts, body)).await {
        Ok(r) => r.map(Body::new),
        Err(e) => match e {},
    };
    let ok = resp.status().is_success() || resp.status() == StatusCode::NOT_MODIFIED;
    let h = resp.headers_mut();
    if ok {
        let ct = h
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let fixed = match ct.as_str() {
            "text/javascript" | "application/javascript" => Some("text/javascript; charset=utf-8"),
            "text/html" => Some("text/html; charset=utf-8"),
            "text/css" => Some("text/css; charset=utf-8"),
            "application/json" => Some("application/json; charset=utf-8"),
            _ => None,
        };
        if let Some(v) = fixed {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(v));
        }
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    security_headers(h);
    resp
}

fn percent_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_or_private_paths_are_refused() {
        for p in [
            "../Cargo.toml",
            "a/../../x",
            ".git/config",
            "node_modules/hls.js/package.json",
            "package.json",
            "package-lock.json",
            "x\\..\\y",
        ] {
            assert!(!servable(p), "{p}");
        }
        for p in ["", "index.html", "app.js", "vendor/hls.min.js", "style.css"] {
            assert!(servable(p), "{p}");
        }
        assert_eq!(percent_decode("%2e%2e/x"), "../x");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert!(!servable(&percent_decode("%2e%2e%2fCargo.toml")));
    }
}
