//! The route table: every HTTP route of the API, once. The router, the OpenAPI document, the
//! Cargo router table of `cargo lambda watch` and the template's API routes all come from (or
//! are checked against, by `tests/tests/routes.rs`) this list.
//!
//! A route is a method and a path template (`{name}` matches one non-empty path segment); the
//! first route whose template matches wins, so literal routes stand before the templated ones
//! they overlap (`.../playlist.m3u8` before `.../{file}`). `gateway_path` is the template the
//! cloud's HTTP API routes on (API Gateway and the Cargo router match templates, not literal
//! file names: a variant playlist reaches `hls` through `{rendition}/{file}`).

use http::Method;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Anyone.
    Public,
    /// `Authorization: Bearer <JWT>` (SPEC §2).
    Bearer,
    /// An HLS session token in the `token` query parameter (players cannot add headers).
    SessionToken,
    /// An edge signature (SPEC §3 "Edge delivery"): checked by CloudFront before the request
    /// reaches the function (whose URL only CloudFront may call), or by this process when it is
    /// its own edge (embedded).
    EdgeSignature,
}

/// Which Lambda function serves a route in the cloud shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Api,
    Stream,
    Hls,
}

impl Function {
    pub fn name(self) -> &'static str {
        match self {
            Function::Api => "api",
            Function::Stream => "stream",
            Function::Hls => "hls",
        }
    }
}

/// What a route does (the handler it dispatches to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteId {
    Health,
    OpenApi,
    CreateUpload,
    UploadParts,
    UploadProgress,
    CompleteUpload,
    AbortUpload,
    ListMedia,
    GetMedia,
    PatchMedia,
    AddSubtitles,
    DeleteSubtitles,
    PutProgress,
    GetProgress,
    Stream,
    Download,
    EndSession,
    Master,
    Variant,
    Segment,
    Rendition,
    Storyboard,
}

#[derive(Debug, Clone)]
pub struct Route {
    pub id: RouteId,
    pub method: Method,
    pub path: &'static str,
    pub gateway_path: &'static str,
    /// Reached through the cloud's HTTP API (else through the function's URL, as the CDN's
    /// origin: the template has no HTTP API route for it).
    pub on_http_api: bool,
    pub function: Function,
    pub auth: Auth,
    /// One line for the API's readers (the OpenAPI summary).
    pub summary: &'static str,
}

const fn route(
    id: RouteId,
    method: Method,
    path: &'static str,
    function: Function,
    auth: Auth,
    summary: &'static str,
) -> Route {
    Route {
        id,
        method,
        path,
        gateway_path: path,
        on_http_api: true,
        function,
        auth,
        summary,
    }
}

const fn api(
    id: RouteId,
    method: Method,
    path: &'static str,
    auth: Auth,
    s: &'static str,
) -> Route {
    route(id, method, path, Function::Api, auth, s)
}

const fn stream(method: Method, summary: &'static str) -> Route {
    let path = "/api/v1/stream/{id}";
    route(
        RouteId::Stream,
        method,
        path,
        Function::Stream,
        Auth::Bearer,
        summary,
    )
}

/// An HLS route; the cloud's HTTP API reaches it through `gateway_path`.
const fn hls(
    id: RouteId,
    method: Method,
    path: &'static str,
    gateway_path: &'static str,
    s: &'static str,
) -> Route {
    let summary = s;
    let (function, auth) = (Function::Hls, Auth::SessionToken);
    Route {
        id,
        method,
        path,
        gateway_path,
        on_http_api: true,
        function,
        auth,
        summary,
    }
}

/// A content path of the edge: the `hls` function as the CDN's failover origin (its function
/// URL), and `streamd`'s own route.
const fn edge(method: Method, summary: &'static str) -> Route {
    Route {
        id: RouteId::Rendition,
        method,
        path: RENDITION,
        gateway_path: RENDITION,
        on_http_api: false,
        function: Function::Hls,
        auth: Auth::EdgeSignature,
        summary,
    }
}

const GET: Method = Method::GET;
const HEAD: Method = Method::HEAD;
const SESSION: &str = "/api/v1/hls/{session}";
const MASTER: &str = "/api/v1/hls/{session}/master.m3u8";
const VARIANT: &str = "/api/v1/hls/{session}/{rendition}/playlist.m3u8";
const PIECE: &str = "/api/v1/hls/{session}/{rendition}/{file}";
const RENDITION: &str = "/renditions/{content_key}/{file}";
const STORYBOARD: &str = "/api/v1/storyboard/{id}";

/// Every route. HEAD is listed where it is served (a HEAD gets the GET's headers).
#[rustfmt::skip]
pub const ROUTES: &[Route] = &[
    api(RouteId::Health, GET, "/healthz", Auth::Public, "Liveness"),
    api(RouteId::Health, HEAD, "/healthz", Auth::Public, "Liveness (headers)"),
    api(RouteId::OpenApi, GET, "/api/v1/openapi.json", Auth::Public, "This API's OpenAPI 3.1 document"),
    api(RouteId::CreateUpload, Method::POST, "/api/v1/uploads", Auth::Bearer,
        "Create an upload: a media record and a URL to PUT its bytes to (or part URLs)"),
    api(RouteId::UploadParts, Method::POST, "/api/v1/uploads/{id}/parts", Auth::Bearer,
        "More part URLs of a multipart upload"),
    api(RouteId::UploadProgress, GET, "/api/v1/uploads/{id}", Auth::Bearer,
        "The parts a multipart upload has received (to resume)"),
    api(RouteId::CompleteUpload, Method::POST, "/api/v1/uploads/{id}/complete", Auth::Bearer,
        "Assemble a multipart upload from its parts and start ingest"),
    api(RouteId::AbortUpload, Method::DELETE, "/api/v1/uploads/{id}", Auth::Bearer,
        "Abort a multipart upload (its parts are dropped)"),
    api(RouteId::ListMedia, GET, "/api/v1/media", Auth::Bearer, "List the media the caller may see"),
    api(RouteId::GetMedia, GET, "/api/v1/media/{id}", Auth::Bearer,
        "One media record, with what the probe found"),
    api(RouteId::PatchMedia, Method::PATCH, "/api/v1/media/{id}", Auth::Bearer,
        "Change a media's title or visibility (owner or admin)"),
    api(RouteId::AddSubtitles, Method::POST, "/api/v1/media/{id}/subtitles", Auth::Bearer,
        "Add a subtitle file (SRT, WebVTT or ASS/SSA; owner or admin)"),
    api(RouteId::DeleteSubtitles, Method::DELETE, "/api/v1/media/{id}/subtitles/{subtitle_id}",
        Auth::Bearer, "Remove an added subtitle track (owner or admin)"),
    api(RouteId::PutProgress, Method::PUT, "/api/v1/progress/{id}", Auth::Bearer,
        "Save the caller's playback position"),
    api(RouteId::GetProgress, GET, "/api/v1/progress/{id}", Auth::Bearer,
        "The caller's saved playback position"),
    stream(GET, "Play a media: the decision, then a redirect (or JSON) to the original or an HLS session"),
    stream(HEAD, "Play a media (HEAD: a HEAD-signed URL)"),
    api(RouteId::Download, GET, "/api/v1/download/{id}", Auth::Bearer,
        "Download a media for offline playback: the original, or an MP4 of one rung made once and shared"),
    hls(RouteId::EndSession, Method::DELETE, SESSION, SESSION,
        "End an HLS session (session token, or the owner's bearer token)"),
    hls(RouteId::Master, GET, MASTER, MASTER, "The session's master playlist"),
    hls(RouteId::Master, HEAD, MASTER, MASTER, "The session's master playlist (headers)"),
    hls(RouteId::Variant, GET, VARIANT, PIECE, "A rendition's VOD media playlist"),
    hls(RouteId::Variant, HEAD, VARIANT, PIECE, "A rendition's media playlist (headers)"),
    hls(RouteId::Segment, GET, PIECE, PIECE,
        "A segment or init segment: 302 to its object, made just in time"),
    hls(RouteId::Segment, HEAD, PIECE, PIECE, "A segment or init segment (headers)"),
    hls(RouteId::Storyboard, GET, STORYBOARD, STORYBOARD,
        "The media's trick-play storyboard (WebVTT): seek-bar preview tiles on their sheets"),
    edge(GET, "A segment, init segment or trick-play sheet at its content path (edge-signed): its bytes, made just in time"),
    edge(HEAD, "A segment, init segment or trick-play sheet at its content path (headers)"),
];

/// The largest JSON body a route that takes one accepts (SPEC §2 limits): the biggest real one,
/// an upload's title and file name, is well under 2 KiB.
pub const MAX_JSON_BODY: usize = 16 * 1024;

/// The largest body of `POST /uploads/{id}/complete`: its list names every part with its ETag,
/// about 50 bytes each, and an upload may have 10,000 parts (S3's limit); 16 KiB would cap a
/// source at about 300 parts.
pub const MAX_COMPLETE_BODY: usize = 1024 * 1024;

/// The largest subtitle file `POST /media/{id}/subtitles` takes (SPEC §3 "Tracks": 5 MiB).
pub const MAX_SUBTITLE_BODY: usize = stream_service::subtitles::MAX_SUBTITLE_BYTES;

/// The largest body read from a request that matches no route (it is read only to answer
/// `404`/`405`, or a preflight).
pub const MAX_UNROUTED_BODY: usize = MAX_JSON_BODY;

impl Route {
    /// The largest request body this route accepts (SPEC §2 limits): JSON routes a small
    /// document, every other route none. Media bytes never come this way: they go to the
    /// presigned URL (S3, or the embedded object route, with its own limit).
    pub fn max_body(&self) -> usize {
        match self.id {
            RouteId::CreateUpload
            | RouteId::UploadParts
            | RouteId::PatchMedia
            | RouteId::PutProgress => MAX_JSON_BODY,
            RouteId::CompleteUpload => MAX_COMPLETE_BODY,
            RouteId::AddSubtitles => MAX_SUBTITLE_BODY,
            _ => 0,
        }
    }
}

/// The largest body the request `method path` may carry: its route's, else
/// [`MAX_UNROUTED_BODY`]. (A server that reads bodies itself reads no more than this.)
pub fn max_body(method: &Method, path: &str) -> usize {
    match resolve(method, path) {
        Resolution::Found(route, _) => route.max_body(),
        _ => MAX_UNROUTED_BODY,
    }
}

/// The path parameters of a matched route, in template order: (name, value).
pub type Params<'a> = Vec<(&'static str, &'a str)>;

/// What the table says of a request.
#[derive(Debug)]
pub enum Resolution<'a> {
    Found(&'static Route, Params<'a>),
    /// The path is a route's, the method is none of its.
    WrongMethod,
    NotFound,
}

/// Matches `path` against `template`, returning the captured parameters.
pub fn matches<'a>(template: &'static str, path: &'a str) -> Option<Params<'a>> {
    let mut params = Vec::new();
    let mut t = template.split('/');
    let mut p = path.split('/');
    loop {
        match (t.next(), p.next()) {
            (None, None) => return Some(params),
            (Some(ts), Some(ps)) => match ts.strip_prefix('{').and_then(|n| n.strip_suffix('}')) {
                Some(name) if !ps.is_empty() => params.push((name, ps)),
                Some(_) => return None,
                None if ts == ps => {}
                None => return None,
            },
            _ => return None,
        }
    }
}

/// The route of a request.
pub fn resolve<'a>(method: &Method, path: &'a str) -> Resolution<'a> {
    let mut path_known = false;
    for r in ROUTES {
        if let Some(params) = matches(r.path, path) {
            if r.method == *method {
                return Resolution::Found(r, params);
            }
            path_known = true;
        }
    }
    if path_known {
        Resolution::WrongMethod
    } else {
        Resolution::NotFound
    }
}

/// The value of path parameter `name`.
pub fn param<'a>(params: &Params<'a>, name: &str) -> &'a str {
    params
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("", |(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_of(m: Method, p: &str) -> Option<RouteId> {
        match resolve(&m, p) {
            Resolution::Found(r, _) => Some(r.id),
            _ => None,
        }
    }

    #[test]
    fn literal_routes_win_and_params_are_captured() {
        assert_eq!(
            id_of(Method::GET, "/api/v1/hls/s/v720/playlist.m3u8"),
            Some(RouteId::Variant)
        );
        assert_eq!(
            id_of(Method::GET, "/api/v1/hls/s/v720/seg_00001.m4s"),
            Some(RouteId::Segment)
        );
        assert_eq!(
            id_of(Method::GET, "/api/v1/hls/s/master.m3u8"),
            Some(RouteId::Master)
        );
        let Resolution::Found(_, p) = resolve(&Method::GET, "/api/v1/hls/abc/a/init.mp4") else {
            panic!()
        };
        assert_eq!(
            (
                param(&p, "session"),
                param(&p, "rendition"),
                param(&p, "file")
            ),
            ("abc", "a", "init.mp4")
        );
    }

    #[test]
    fn wrong_methods_and_unknown_paths() {
        assert!(matches!(
            resolve(&Method::DELETE, "/api/v1/media"),
            Resolution::WrongMethod
        ));
        assert!(matches!(
            resolve(&Method::GET, "/api/v1/hls/s"),
            Resolution::WrongMethod
        ));
        assert!(matches!(
            resolve(&Method::GET, "/api/v1/nothing"),
            Resolution::NotFound
        ));
        // Empty segments never match a parameter; extra segments never match.
        assert!(matches!(
            resolve(&Method::GET, "/api/v1/media/"),
            Resolution::NotFound
        ));
        assert!(matches!(
            resolve(&Method::GET, "/api/v1/media/a/b"),
            Resolution::NotFound
        ));
        assert!(matches!(
            resolve(&Method::GET, "/api/v1/hls//master.m3u8"),
            Resolution::NotFound
        ));
    }

    #[test]
    fn every_route_is_reachable() {
        for r in ROUTES {
            let path = r
                .path
                .replace("{file}", "seg_00000.m4s")
                .replace("{content_key}", "k")
                .replace('{', "x")
                .replace('}', "");
            match resolve(&r.method, &path) {
                Resolution::Found(found, _) => {
                    assert_eq!((found.id, &found.method), (r.id, &r.method), "{path}")
                }
                other => panic!("{} {path}: {other:?}", r.method),
            }
        }
    }
}
