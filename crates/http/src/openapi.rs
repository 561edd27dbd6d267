//! The OpenAPI 3.1 document of the API (`GET /api/v1/openapi.json`), for the people who write
//! clients (mobile apps generate their SDKs from it). It is generated, not written: the paths,
//! methods and authentication from the route table ([`crate::routes::ROUTES`]), the path
//! parameters from each template (so none can be forgotten), the bodies from the wire types'
//! JSON schemas (`utoipa`). What a route takes and answers is said once, in [`doc_of`].
//!
//! `utoipa`'s builders are used directly rather than its `#[utoipa::path]` attribute: the routes
//! live in a data table, not on handler functions.

use std::sync::LazyLock;

use bytes::Bytes;
use http::{header, HeaderValue, Method, StatusCode};
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ComponentsBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathsBuilder, Ref, RefOr, Required,
    ResponseBuilder,
};
use utoipa::ToSchema;

use crate::response::Resp;
use crate::routes::{Auth, Route, RouteId, ROUTES};
use crate::wire::*;

type Schemas = Vec<(String, RefOr<Schema>)>;
/// A body's schema: registers the component (and what it refers to), returns its `$ref`.
type BodyFn = fn(&mut Schemas) -> RefOr<Schema>;

fn one<T: ToSchema>(acc: &mut Schemas) -> RefOr<Schema> {
    acc.push((T::name().into_owned(), T::schema()));
    T::schemas(acc);
    Ref::from_schema_name(T::name()).into()
}

/// A response: status, description, JSON body (if any).
type Answer = (u16, &'static str, Option<BodyFn>);

/// A query parameter: name, type, description.
type QueryParam = (&'static str, Type, &'static str);

/// What a route takes and answers, besides its path and auth.
struct Doc {
    body: Option<BodyFn>,
    query: &'static [QueryParam],
    answers: &'static [Answer],
    /// A non-JSON success body: (status, content type, description).
    raw: Option<(u16, &'static str, &'static str)>,
}

const ERR: Option<BodyFn> = Some(one::<ErrorBody>);
const UNAUTHENTICATED: Answer = (
    401,
    "Missing, malformed, expired or wrongly signed token",
    ERR,
);
const INVALID: Answer = (
    400,
    "Invalid input; `error.code` and `error.message` name it",
    ERR,
);
const NOT_FOUND: Answer = (
    404,
    "Absent, or not visible to the caller (the same answer)",
    ERR,
);
const UNAVAILABLE: Answer = (
    503,
    "A backing service is unavailable (`storage_unavailable`), or the embedded server's disk is full (`storage_full`); retry after `Retry-After`",
    ERR,
);
const NOT_PLAYABLE: Answer = (
    409,
    "The media cannot be delivered as HLS (`not_playable`)",
    ERR,
);
const MEDIA_GONE: Answer = (410, "The session's media was deleted (`media_gone`)", ERR);
/// The answers every route of an open multipart upload shares (`extra_answers`).
const NOT_OWNER: Answer = (403, "Not the owner or an admin", ERR);
const UPLOAD_COMPLETE: Answer = (
    409,
    "The upload is complete already (`upload_complete`)",
    ERR,
);
const UPLOAD_EXPIRED: Answer = (
    410,
    "The upload expired or was cancelled; its parts are gone (`upload_expired`)",
    ERR,
);

/// The client capabilities (SPEC §3), the query of `/stream` and `/download` alike, then the
/// route's own parameters.
macro_rules! with_capabilities {
    ($($own:expr),* $(,)?) => { &[
    (
        "profile",
        Type::String,
        "A built-in device profile: chrome, firefox, safari, ios, android, tv, generic",
    ),
    (
        "containers",
        Type::String,
        "Comma-separated containers the client plays (mp4,webm,...)",
    ),
    (
        "video_codecs",
        Type::String,
        "Comma-separated video codecs (h264,hevc,vp9,av1)",
    ),
    (
        "audio_codecs",
        Type::String,
        "Comma-separated audio codecs (aac,mp3,opus,ac3,eac3,flac)",
    ),
    ("max_width", Type::Integer, "Largest displayed width"),
    ("max_height", Type::Integer, "Largest displayed height"),
    (
        "max_bitrate",
        Type::Integer,
        "Largest overall bitrate, bits/s",
    ),
    ("max_audio_channels", Type::Integer, "Most audio channels"),
    (
        "max_video_bit_depth",
        Type::Integer,
        "Deepest video bit depth (8, 10)",
    ),
    (
        "hdr",
        Type::Boolean,
        "Whether the client shows HDR (PQ and HLG)",
    ),
    (
        "dolby_vision",
        Type::Boolean,
        "Whether the client decodes Dolby Vision (needed for profile 5)",
    ),
    (
        "audio_switch",
        Type::Boolean,
        "The client switches a file's audio tracks itself (a non-default track may then play directly)",
    ),
    $($own),*
    ] };
}
const STREAM_QUERY: &[QueryParam] = with_capabilities![
    (
        "audio_track",
        Type::Integer,
        "The audio stream index to play (default: the file's default)",
    ),
    (
        "segment_format",
        Type::String,
        "fmp4 (default) or ts (H.264 only)",
    ),
    (
        "subtitle",
        Type::String,
        "A subtitle track id of the media (`s<stream index>`, `x<8 hex>`), as GET /media/{id} lists them",
    ),
    (
        "subtitle_mode",
        Type::String,
        "external (default: the player shows the track) or burn (a bitmap track drawn into the picture: forces transcode, reason subtitle_burn_in; text tracks are refused)",
    ),
    ("start", Type::Number, "Start position, seconds"),
    (
        "resume",
        Type::Boolean,
        "Start at the caller's saved progress",
    ),
];
const DOWNLOAD_QUERY: &[QueryParam] = with_capabilities![(
    "quality",
    Type::String,
    "The highest rung: 1080, 720, 480 or 360 (default: the best the client takes)",
)];
const TOKEN: QueryParam = (
    "token",
    Type::String,
    "The session token the stream answer's URL carries",
);
/// The query of a content path, as the variant playlist writes it.
const EDGE_QUERY: &[QueryParam] = &[
    (
        "session",
        Type::String,
        "The session the URI was issued to (extends it; not an authorization)",
    ),
    (
        "Policy",
        Type::String,
        "The edge policy (CloudFront's URL-safe base64 of its JSON)",
    ),
    ("Signature", Type::String, "The policy's signature"),
    (
        "Key-Pair-Id",
        Type::String,
        "Which key signed it (`local` on the embedded server)",
    ),
];

/// What each route takes and answers.
// Long because it is a table: one arm per route, what it takes and answers, read side by side.
fn doc_of(id: RouteId) -> Doc {
    let doc = |body, query, answers, raw| Doc {
        body,
        query,
        answers,
        raw,
    };
    match id {
        RouteId::Health => doc(None, &[], &[(200, "Up", Some(one::<Health>))], None),
        RouteId::OpenApi => doc(
            None,
            &[],
            &[],
            Some((200, "application/json", "This document")),
        ),
        RouteId::CreateUpload => doc(
            Some(one::<NewUploadBody>),
            &[],
            &[
                (
                    201,
                    "Created: PUT the bytes to `upload_url`, or (a `size` above the part size) each part to its URL",
                    Some(one::<UploadAnswer>),
                ),
                INVALID,
                UNAUTHENTICATED,
                UNAVAILABLE,
            ],
            None,
        ),
        RouteId::UploadParts => doc(
            Some(one::<PartNumbersBody>),
            &[],
            &[
                (200, "The part URLs", Some(one::<PartUrls>)),
                INVALID,
                UNAUTHENTICATED,
            ],
            None,
        ),
        RouteId::UploadProgress => doc(
            None,
            &[],
            &[
                (
                    200,
                    "The parts received",
                    Some(one::<UploadProgressView>),
                ),
                UNAUTHENTICATED,
            ],
            None,
        ),
        RouteId::CompleteUpload => doc(
            Some(one::<CompleteUploadBody>),
            &[],
            &[
                (
                    202,
                    "Assembled; ingest has started",
                    Some(one::<MediaView>),
                ),
                (
                    400,
                    "A part missing, not received, with a wrong ETag, too small, out of order, or parts that do not add up to `size`; the message names it. Nothing changes",
                    ERR,
                ),
                UNAUTHENTICATED,
            ],
            None,
        ),
        RouteId::AbortUpload => doc(
            None,
            &[],
            &[
                (204, "Aborted: the parts are dropped, the media `failed`", None),
                UNAUTHENTICATED,
            ],
            None,
        ),
        RouteId::ListMedia => doc(
            None,
            &[],
            &[
                (200, "What the caller may see", Some(one::<MediaList>)),
                UNAUTHENTICATED,
            ],
            None,
        ),
        RouteId::GetMedia => doc(
            None,
            &[],
            &[
                (200, "The media", Some(one::<MediaView>)),
                UNAUTHENTICATED,
                NOT_FOUND,
            ],
            None,
        ),
        RouteId::PatchMedia => doc(
            Some(one::<MediaPatchBody>),
            &[],
            &[
                (200, "Changed", Some(one::<MediaView>)),
                INVALID,
                UNAUTHENTICATED,
                (403, "Not the owner or an admin", ERR),
                NOT_FOUND,
            ],
            None,
        ),
        RouteId::AddSubtitles => doc(
            None,
            &[(
                "language",
                Type::String,
                "The file's language (ISO 639-1/-2 or BCP 47: en, fre, pt-BR)",
            )],
            &[
                (201, "Added", Some(one::<SubtitleTrackView>)),
                (
                    400,
                    "Not readable as SRT, WebVTT or ASS, no cues, not UTF-8 (`invalid_subtitles`), or an unknown language (`invalid_parameter`)",
                    ERR,
                ),
                UNAUTHENTICATED,
                (403, "Not the owner or an admin", ERR),
                NOT_FOUND,
                (409, "The media has 32 added tracks already (`too_many_subtitles`)", ERR),
            ],
            None,
        ),
        RouteId::DeleteSubtitles => doc(
            None,
            &[],
            &[
                (204, "Removed", None),
                UNAUTHENTICATED,
                (403, "Not the owner or an admin", ERR),
                NOT_FOUND,
                (409, "A track of the uploaded file itself (`embedded_track`)", ERR),
            ],
            None,
        ),
        RouteId::PutProgress => doc(
            Some(one::<ProgressBody>),
            &[],
            &[(204, "Saved", None), INVALID, UNAUTHENTICATED, NOT_FOUND],
            None,
        ),
        RouteId::GetProgress => doc(
            None,
            &[],
            &[
                (200, "The saved position", Some(one::<ProgressView>)),
                UNAUTHENTICATED,
                NOT_FOUND,
            ],
            None,
        ),
        RouteId::Stream => doc(
            None,
            STREAM_QUERY,
            &[
                (
                    200,
                    "With `Accept: application/json`: the decision",
                    Some(one::<StreamAnswer>),
                ),
                (
                    202,
                    "Still uploading or being probed; retry after `Retry-After`",
                    Some(one::<Preparing>),
                ),
                (
                    302,
                    "Redirect to the original (direct play) or the session's master playlist",
                    None,
                ),
                INVALID,
                UNAUTHENTICATED,
                NOT_FOUND,
                (409, "The media failed ingest (`media_failed`)", ERR),
                (410, "The original is no longer stored (`source_gone`)", ERR),
            ],
            None,
        ),
        RouteId::Download => doc(
            None,
            DOWNLOAD_QUERY,
            &[
                (
                    200,
                    "With `Accept: application/json`: ready, and the URL of the file",
                    Some(one::<DownloadReady>),
                ),
                (
                    202,
                    "Being made (or the media is still being probed); `progress` from 0 to 1; retry after `Retry-After`",
                    Some(one::<DownloadPreparing>),
                ),
                (
                    302,
                    "Redirect to the file, answered with `Content-Disposition: attachment`: the original when it fits the client, else an H.264/AAC faststart MP4 of the chosen rung",
                    None,
                ),
                INVALID,
                UNAUTHENTICATED,
                NOT_FOUND,
                (
                    409,
                    "The media failed ingest (`media_failed`), cannot be converted (`not_downloadable`), or its download failed (`download_failed`)",
                    ERR,
                ),
                (410, "The original is no longer stored (`source_gone`)", ERR),
            ],
            None,
        ),
        RouteId::EndSession => doc(
            None,
            &[TOKEN],
            &[
                (204, "Ended", None),
                (401, "No valid token", ERR),
                (403, "Another session's token", ERR),
                NOT_FOUND,
            ],
            None,
        ),
        RouteId::Master | RouteId::Variant => doc(
            None,
            if id == RouteId::Master {
                &[
                    TOKEN,
                    ("start", Type::Number, "Start offset (EXT-X-START), seconds"),
                ]
            } else {
                &[TOKEN]
            },
            &[
                (401, "No valid token", ERR),
                (403, "Another session's token", ERR),
                NOT_FOUND,
            ],
            Some((
                200,
                "application/vnd.apple.mpegurl",
                "The playlist (RFC 8216)",
            )),
        ),
        RouteId::Segment => doc(
            None,
            &[TOKEN],
            &[
                (302, "Redirect to the made segment's object", None),
                (401, "No valid token", ERR),
                (403, "Another session's token", ERR),
                NOT_FOUND,
                (409, "The segment failed for good (`segment_failed`)", ERR),
                (
                    503,
                    "Still being made (`segment_pending`); retry after `Retry-After`",
                    ERR,
                ),
            ],
            None,
        ),
        RouteId::Rendition => doc(
            None,
            EDGE_QUERY,
            &[
                (
                    302,
                    "Made, but above a function's response limit: a short-lived URL of the object",
                    None,
                ),
                (403, "The edge signature is missing, forged, expired or for another rendition", ERR),
                NOT_FOUND,
                (409, "The segment failed for good (`segment_failed`)", ERR),
                (
                    503,
                    "Still being made (`segment_pending`); retry after `Retry-After` (never cached)",
                    ERR,
                ),
            ],
            Some((
                200,
                "video/iso.segment",
                "The piece's bytes (`video/mp4` for `init.mp4`, `video/mp2t` for TS, `image/jpeg` for a trick-play sheet `sheet_00000.jpg`), immutable",
            )),
        ),
        RouteId::Storyboard => doc(
            None,
            &[(
                "token",
                Type::String,
                "The storyboard token the stream answer's `storyboard_url` carries",
            )],
            &[
                (401, "No valid storyboard token", ERR),
                (403, "A token for another media", ERR),
                (404, "No such media, or it has no video (no storyboard)", ERR),
            ],
            Some((
                200,
                "text/vtt",
                "The storyboard: one cue per thumbnail, its text the sheet's URL with `#xywh=x,y,w,h`",
            )),
        ),
    }
}

/// The answers every route of a kind can give besides its own (added unless it names the
/// status itself): an oversized header block, request target or body, a backing service that
/// is down, a JSON body declared as another type, and for HLS sessions a media that cannot be
/// delivered or is gone.
fn extra_answers(id: RouteId) -> Vec<Answer> {
    let mut extra = vec![
        (431, "The header block exceeds 16 KiB", ERR),
        (414, "The path and query exceed 8 KiB", ERR),
    ];
    if matches!(
        id,
        RouteId::CreateUpload
            | RouteId::UploadParts
            | RouteId::CompleteUpload
            | RouteId::PatchMedia
            | RouteId::PutProgress
    ) {
        extra.push((
            415,
            "The body is declared as something else than JSON (`unsupported_content_type`)",
            ERR,
        ));
        extra.push((
            413,
            if id == RouteId::CompleteUpload {
                "The JSON body exceeds 1 MiB (`payload_too_large`)"
            } else {
                "The JSON body exceeds 16 KiB (`payload_too_large`)"
            },
            ERR,
        ));
    } else if id == RouteId::AddSubtitles {
        extra.push((413, "The file exceeds 5 MiB (`payload_too_large`)", ERR));
    } else {
        extra.push((
            413,
            "This route takes no request body (`payload_too_large`)",
            ERR,
        ));
    }
    if !matches!(id, RouteId::Health | RouteId::OpenApi) {
        extra.push(UNAVAILABLE);
    }
    match id {
        RouteId::Master | RouteId::Variant | RouteId::Segment => {
            extra.extend([NOT_PLAYABLE, MEDIA_GONE]);
            if id == RouteId::Master {
                extra.push((400, "`start` is not a number of seconds", ERR));
            }
        }
        RouteId::PatchMedia => extra.push((
            409,
            "A concurrent change won (`concurrent_modification`); retry",
            ERR,
        )),
        RouteId::UploadParts
        | RouteId::UploadProgress
        | RouteId::CompleteUpload
        | RouteId::AbortUpload => {
            extra.extend([NOT_OWNER, NOT_FOUND, UPLOAD_COMPLETE, UPLOAD_EXPIRED])
        }
        _ => {}
    }
    extra
}

fn http_method(m: &Method) -> HttpMethod {
    match *m {
        Method::POST => HttpMethod::Post,
        Method::PUT => HttpMethod::Put,
        Method::PATCH => HttpMethod::Patch,
        Method::DELETE => HttpMethod::Delete,
        Method::HEAD => HttpMethod::Head,
        _ => HttpMethod::Get,
    }
}

fn operation_id(r: &Route) -> String {
    let id = format!("{:?}", r.id);
    // snake_case of the route id, with the method for routes served by several methods.
    let mut out = String::new();
    for (i, c) in id.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    if r.method == Method::HEAD {
        out.push_str("_head");
    }
    out
}

fn parameter(
    name: &str,
    location: ParameterIn,
    ty: Type,
    required: bool,
    description: &str,
) -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(location)
        .required(if required {
            Required::True
        } else {
            Required::False
        })
        .description(Some(description))
        .schema(Some(ObjectBuilder::new().schema_type(ty)))
        .build()
}

fn operation(r: &Route, schemas: &mut Schemas) -> utoipa::openapi::path::Operation {
    let doc = doc_of(r.id);
    let mut op = OperationBuilder::new()
        .operation_id(Some(operation_id(r)))
        .summary(Some(r.summary));
    for name in r
        .path
        .split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
    {
        op = op.parameter(parameter(name, ParameterIn::Path, Type::String, true, name));
    }
    for (name, ty, description) in doc.query {
        let required =
            *name == "token" && r.auth == Auth::SessionToken && r.id != RouteId::EndSession;
        op = op.parameter(parameter(
            name,
            ParameterIn::Query,
            ty.clone(),
            required,
            description,
        ));
    }
    op = match r.auth {
        Auth::Bearer => op.security(SecurityRequirement::new("bearer_jwt", Vec::<String>::new())),
        Auth::SessionToken => op.security(SecurityRequirement::new(
            "session_token",
            Vec::<String>::new(),
        )),
        Auth::EdgeSignature => op.security(SecurityRequirement::new(
            "edge_signature",
            Vec::<String>::new(),
        )),
        Auth::Public => op.securities(Some(Vec::<SecurityRequirement>::new())),
    };
    if let Some(body) = doc.body {
        let content = ContentBuilder::new().schema(Some(body(schemas))).build();
        let body = RequestBodyBuilder::new()
            .required(Some(Required::True))
            .content("application/json", content);
        op = op.request_body(Some(body.build()));
    }
    if r.id == RouteId::AddSubtitles {
        let content = ContentBuilder::new()
            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
            .build();
        let body = RequestBodyBuilder::new()
            .required(Some(Required::True))
            .description(Some(
                "The subtitle file: SRT, WebVTT or ASS/SSA, UTF-8, at most 5 MiB",
            ))
            .content("text/plain", content);
        op = op.request_body(Some(body.build()));
    }
    if let Some((status, content_type, description)) = doc.raw {
        let content = ContentBuilder::new()
            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
            .build();
        let resp = ResponseBuilder::new()
            .description(description)
            .content(content_type, content);
        op = op.response(status.to_string(), resp.build());
    }
    let extra = extra_answers(r.id);
    let own = |status: &u16| doc.answers.iter().any(|(s, ..)| s == status);
    let answers = doc
        .answers
        .iter()
        .chain(extra.iter().filter(|(s, ..)| !own(s)));
    for (status, description, body) in answers {
        let mut resp = ResponseBuilder::new().description(*description);
        if let Some(body) = body {
            resp = resp.content(
                "application/json",
                ContentBuilder::new().schema(Some(body(schemas))).build(),
            );
        }
        op = op.response(status.to_string(), resp.build());
    }
    op.build()
}

/// The document, built from the route table.
pub fn document() -> OpenApi {
    let mut schemas = Schemas::new();
    let mut paths = PathsBuilder::new();
    for r in ROUTES {
        let op = operation(r, &mut schemas);
        paths = paths.path(r.path, PathItem::new(http_method(&r.method), op));
    }
    let bearer = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .bearer_format("JWT")
        .build();
    let components = ComponentsBuilder::new()
        .schemas_from_iter(schemas)
        .security_scheme("bearer_jwt", SecurityScheme::Http(bearer))
        .security_scheme(
            "session_token",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::new("token"))),
        )
        .security_scheme(
            "edge_signature",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::new("Signature"))),
        )
        .build();
    let info = InfoBuilder::new()
        .title("stream: edge-cached video streaming")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Upload media, then play it with one call: `GET /api/v1/stream/{id}` decides per file and \
             per device between direct play of the original, HLS with copied streams, and HLS with \
             just-in-time transcoding. Errors are `{\"error\": {\"code\", \"message\", \"request_id\"}}`.",
        ))
        .build();
    OpenApiBuilder::new()
        .info(info)
        .paths(paths.build())
        .components(Some(components))
        .build()
}

/// The document as JSON, rendered once per process.
pub fn json() -> &'static Bytes {
    static DOC: LazyLock<Bytes> =
        LazyLock::new(|| Bytes::from(document().to_json().unwrap_or_else(|_| "{}".into())));
    &DOC
}

/// `GET /api/v1/openapi.json`.
pub fn response() -> Resp {
    let mut r = http::Response::new(json().clone());
    *r.status_mut() = StatusCode::OK;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    r
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_route_is_documented_with_its_method() {
        let doc: serde_json::Value = serde_json::from_slice(super::json()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        for r in super::ROUTES {
            let method = r.method.as_str().to_ascii_lowercase();
            let op = &doc["paths"][r.path][&method];
            assert!(
                op.is_object(),
                "{} {} is not in the document",
                r.method,
                r.path
            );
            assert!(
                op["responses"].as_object().is_some_and(|m| !m.is_empty()),
                "{} {}",
                r.method,
                r.path
            );
        }
        // Every $ref names a component.
        let text = String::from_utf8(super::json().to_vec()).unwrap();
        for part in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = &part[..part.find('"').unwrap()];
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "dangling $ref {name}"
            );
        }
    }
}
