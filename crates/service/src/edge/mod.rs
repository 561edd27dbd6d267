//! Edge delivery (SPEC §3 "Edge delivery"): once a segment exists, serving it to the next viewer
//! costs the origin nothing.
//!
//! - **Content paths.** A variant playlist lists every piece of a rendition at
//!   `/renditions/<content key>/<file>`, the object's own key: the same path for every session
//!   and user, so a CDN that keys its cache on the path serves one cached object to everyone.
//! - **One signature per session and rendition.** The path is not a capability by itself (a
//!   content key is a hash anyone who saw one playlist knows), so each URI carries an edge
//!   signature: a policy granting `…/renditions/<content key>/*` until the session token
//!   expires, signed once and appended to every URI of that playlist. In the cloud it is a
//!   CloudFront signed URL ([`cloudfront`]), checked by CloudFront itself before its cache (the
//!   cache key leaves the signature out). Embedded, `streamd` is the edge and checks the same
//!   policy under an HMAC key ([`local`]). Signed URLs, not signed cookies: AVPlayer, ExoPlayer
//!   and hls.js on another origin cannot be relied on to send cookies cross-origin, while every
//!   player keeps a URI's query.
//! - **Misses reach an origin that makes them** ([`origin`]): the bucket answers what is made;
//!   what is not falls over to the `hls` function (embedded: `streamd`'s same route), which finds
//!   how to make it from the content key alone (a stored `RenditionRecord`), makes it under the
//!   usual claims and answers the bytes, which the edge then caches.
//! - The segment URI also names its session (`session=<id>`, the one query parameter the CDN
//!   forwards to the origin): a segment made by the origin still extends its session and records
//!   the position. Segments served from the cache never reach a function, so a session is also
//!   kept alive by its playlist requests and progress reports.

pub mod cloudfront;
pub mod local;
pub mod origin;
pub mod policy;

use stream_core::segment::{object_key, RENDITIONS_PREFIX};

use self::cloudfront::CloudFrontSigner;
use self::local::LocalSigner;

/// The query parameter naming the session on a segment URI (forwarded to the origin).
pub const SESSION_PARAM: &str = "session";
/// The query parameters of an edge signature (never forwarded, never logged).
pub const SIGNATURE_PARAMS: [&str; 4] = ["Expires", "Policy", "Signature", "Key-Pair-Id"];

/// Who checks edge signatures, and so how they are made.
#[derive(Clone, Debug)]
pub enum Edge {
    /// CloudFront with a trusted key group. `base`: the CDN's public origin (`STREAM_EDGE_URL`),
    /// the host every policy names: a policy on any host (`https://*/…`) would also match
    /// another path that carries this one in its query (`*` matches `/`), so none is signed.
    CloudFront {
        signer: CloudFrontSigner,
        base: url::Url,
    },
    /// This process is the edge (`streamd`): HMAC policies on paths, checked by [`local`].
    Local(LocalSigner),
}

/// Where a variant playlist's pieces are for one session: a prefix to put before each file name
/// and the query every URI carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenditionUris {
    pub prefix: String,
    pub query: String,
}

impl Edge {
    /// The URIs of the rendition with `content_key` for session `session_id`, signed until
    /// `expires` (the session token's expiry).
    pub fn rendition_uris(
        &self,
        content_key: &str,
        session_id: &str,
        expires: i64,
    ) -> RenditionUris {
        self.content_uris(content_key, Some(session_id), expires)
    }

    /// [`Self::rendition_uris`] for any content key, naming a session or none (trick-play
    /// sheets of a direct-play viewer, who has no session).
    pub fn content_uris(
        &self,
        content_key: &str,
        session_id: Option<&str>,
        expires: i64,
    ) -> RenditionUris {
        let path = format!("/{}", object_key(content_key, ""));
        let session = session_id
            .map(|sid| format!("{SESSION_PARAM}={sid}&"))
            .unwrap_or_default();
        match self {
            Edge::CloudFront { signer, base } => {
                let url = format!("{}{path}", origin_of(base));
                let policy = policy::custom(&format!("{url}*"), expires);
                RenditionUris {
                    prefix: url,
                    query: format!("{session}{}", signer.custom_query(&policy)),
                }
            }
            Edge::Local(signer) => RenditionUris {
                query: format!("{session}{}", signer.grant(&format!("{path}*"), expires)),
                prefix: path,
            },
        }
    }

    /// A CloudFront signed URL of an original object (direct play through the edge), when the
    /// edge is a CDN; `None` embedded (the object route's signed URL is the way there).
    pub fn original_url(&self, key: &str, expires: i64) -> Option<String> {
        match self {
            // Canned: exactly this URL, query and all (the shortest URL CloudFront accepts).
            Edge::CloudFront { signer, base } => {
                Some(signer.canned_url(&format!("{}/{key}", origin_of(base)), expires))
            }
            Edge::Local(_) => None,
        }
    }

    /// Whether this process is itself the edge: it serves made objects before anything else
    /// (the bucket's part), and nothing limits the size of what it answers.
    pub fn is_local(&self) -> bool {
        matches!(self, Edge::Local(_))
    }
}

/// `scheme://host[:port]` of a configured origin URL (no trailing slash).
fn origin_of(u: &url::Url) -> String {
    u.origin().ascii_serialization()
}

/// Whether a request path is under the edge's renditions prefix.
pub fn is_rendition_path(path: &str) -> bool {
    path.strip_prefix('/')
        .is_some_and(|p| p.starts_with(RENDITIONS_PREFIX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloudfront_policies_name_the_cdn_host_never_a_wildcard() {
        let signer = CloudFrontSigner::from_pem("K1", cloudfront::tests::TEST_KEY).unwrap();
        let base = url::Url::parse("https://cdn.example.com").unwrap();
        let edge = Edge::CloudFront { signer, base };
        let key = "ab".repeat(32);
        let u = edge.rendition_uris(&key, "s1", 100);
        assert_eq!(
            u.prefix,
            format!("https://cdn.example.com/renditions/{key}/")
        );
        let p = u
            .query
            .split('&')
            .find_map(|p| p.strip_prefix("Policy="))
            .unwrap();
        let grant = policy::parse(&policy::decode(p).unwrap()).unwrap();
        assert_eq!(
            grant.resource,
            format!("https://cdn.example.com/renditions/{key}/*")
        );
        assert_eq!(grant.expires, 100);
        let o = edge.original_url("uploads/m/source.mp4", 5).unwrap();
        assert!(o.starts_with("https://cdn.example.com/uploads/m/source.mp4?Expires=5&"));
        // The other path, with this rendition's path in its query, is not granted.
        let other = format!("https://cdn.example.com/uploads/m/source.mp4?x=/renditions/{key}/");
        assert!(!policy::resource_matches(&grant.resource, &other));
    }

    #[test]
    fn local_uris_are_path_absolute_with_a_prefix_policy() {
        let edge = Edge::Local(LocalSigner::new(b"k"));
        let u = edge.rendition_uris(&"ab".repeat(32), "s1", 100);
        assert_eq!(u.prefix, format!("/renditions/{}/", "ab".repeat(32)));
        assert!(u.query.starts_with("session=s1&Policy="), "{}", u.query);
        // Two sessions: identical paths, different signatures.
        let v = edge.rendition_uris(&"ab".repeat(32), "s2", 100);
        assert_eq!(u.prefix, v.prefix);
        assert_ne!(u.query, v.query);
        assert!(edge.original_url("uploads/m/source.mp4", 5).is_none());
        assert!(is_rendition_path(&u.prefix) && !is_rendition_path("/renditionsX/a"));
    }
}
