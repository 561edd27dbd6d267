//! A stand-in for the CDN in front of the cloud shape: a loopback HTTP server that behaves as
//! the CloudFront distribution of `infra/template.yaml` does, for every property the design
//! relies on, so the tests can show what the edge costs the origins.
//!
//! **Why it exists.** The cloud shape is only edge-cached if CloudFront, configured as the
//! template configures it, answers every made segment from its cache for every viewer, refuses
//! bad signatures before any origin sees them, and sends what is not made yet to the function
//! that makes it. None of that can be observed against AWS in a test, so the stand-in does what
//! CloudFront's documentation says it does (each rule is implemented next to the page that
//! states it) with the settings it *reads from the template* ([`template`]): behaviours chosen
//! by path pattern, signed URLs checked against the trusted key group ([`signed_url`]), the
//! cache key and TTLs of each behaviour's cache policy, errors cached per
//! `ErrorCachingMinTTL`, origin groups failing over on their status codes, what is forwarded
//! per the origin request policy, ranges answered from the cache ([`cache`]), an S3 origin
//! read as origin access control reads it ([`origin`]). It counts what reaches each origin,
//! so a test can say "the second viewer cost the function and the bucket nothing".
//!
//! **Use.**
//! ```text
//! let cdn = Cdn::start(
//!     Setup::new()                                   // infra/template.yaml
//!         .origin("http-api", Origin::http(&api))
//!         .origin("hls-function", Origin::http(&function_url))
//!         .origin("media-bucket", Origin::s3(&s3_endpoint, &bucket))
//!         .key("K2JCJMDEHXQW5F", &public_key_pem),   // the key group's public key
//! ).await?;
//! // ... play through cdn.url ...
//! assert_eq!(cdn.stats().fetches_to("hls-function"), 0);
//! ```
//! When the origins need the CDN's URL before the CDN can start (the functions put it on the
//! URLs they sign), take the port first: `let l = Cdn::bind().await?; … l.url …;
//! l.start(setup).await?`.
//!
//! [`Cdn::pass_through`] keeps the older, policy-free front of the cloud tests: bucket paths
//! (`/<bucket>/...`, S3's path-style presigned URLs) to S3, the rest to the API, nothing
//! cached, nothing checked.
//!
//! Not modelled (refused when the template uses it, see [`template`]): signed cookies, custom
//! error pages, edge functions, compression, revalidation of expired entries and serving them
//! stale, field-level encryption, origin shield.

pub mod npm_signer;
pub mod template;

mod cache;
mod origin;
mod signed_url;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use bytes::Bytes;

pub use origin::Origin;
pub use template::Distribution;

use cache::{Lookup, Range, Store};
use origin::{OriginRequest, OriginResponse, Target, Unreachable};
use signed_url::KeyGroup;
use template::{Behavior, CachePolicy, OriginConfig, Selection};

/// What the stand-in is built from: the template, a target for each origin id, and the public
/// keys of the trusted key groups.
#[derive(Clone, Debug)]
pub struct Setup {
    template: PathBuf,
    parameters: Vec<(String, String)>,
    origins: Vec<(String, Origin)>,
    keys: Vec<(String, String)>,
}

impl Default for Setup {
    fn default() -> Self {
        Self::new()
    }
}

impl Setup {
    /// The repository's `infra/template.yaml`, no origins, no keys.
    pub fn new() -> Setup {
        Setup {
            template: crate::repo_root().join("infra/template.yaml"),
            parameters: vec![],
            origins: vec![],
            keys: vec![],
        }
    }

    /// Another template.
    pub fn template(mut self, path: impl Into<PathBuf>) -> Setup {
        self.template = path.into();
        self
    }

    /// A template parameter's value (instead of its `Default`).
    pub fn parameter(mut self, name: &str, value: &str) -> Setup {
        self.parameters.push((name.into(), value.into()));
        self
    }

    /// Where the distribution's origin `id` (its `Origins[].Id`) is.
    pub fn origin(mut self, id: &str, origin: Origin) -> Setup {
        self.origins.push((id.into(), origin));
        self
    }

    /// A public key of the trusted key groups: its key pair id (the `Key-Pair-Id` of signed
    /// URLs; in AWS, the id CloudFront gives the `AWS::CloudFront::PublicKey`) and its PEM.
    pub fn key(mut self, key_pair_id: &str, public_key_pem: &str) -> Setup {
        self.keys.push((key_pair_id.into(), public_key_pem.into()));
        self
    }
}

/// One request the stand-in sent to an origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetch {
    /// The origin id (`media-bucket`, `hls-function`, …).
    pub origin: String,
    pub method: String,
    /// Path and forwarded query, as the origin got them.
    pub path: String,
    /// The origin's status; 502/504 when it could not be reached.
    pub status: u16,
}

/// Counters since the start or the last [`Cdn::reset_stats`].
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Requests sent to each origin id.
    pub fetches: BTreeMap<String, u64>,
    /// Every origin request, in order.
    pub fetched: Vec<Fetch>,
    /// Requests answered from the cache.
    pub hits: u64,
    /// Cacheable requests the cache could not answer.
    pub misses: u64,
    /// Requests refused at the edge (`403`: bad signature, method not allowed) without any
    /// origin request; `refusals` says why, with the path.
    pub refused: u64,
    pub refusals: Vec<String>,
}

impl Stats {
    /// Requests sent to origin `id`.
    pub fn fetches_to(&self, id: &str) -> u64 {
        self.fetches.get(id).copied().unwrap_or(0)
    }
    /// Origin requests in all.
    pub fn total_fetches(&self) -> u64 {
        self.fetches.values().sum()
    }
}

/// A port taken for the stand-in before it serves (so the origins can be given its URL).
pub struct Listener {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    listener: tokio::net::TcpListener,
}

impl Listener {
    /// Serves the distribution of `setup`'s template.
    pub async fn start(self, setup: Setup) -> Result<Cdn, String> {
        let dist = Distribution::from_template(&setup.template, &setup.parameters)?;
        let keys = KeyGroup::new(&setup.keys)?;
        let signed = dist
            .behaviors
            .iter()
            .chain([&dist.default_behavior])
            .any(Behavior::signed);
        if signed && setup.keys.is_empty() {
            return Err("the template has behaviours with trusted key groups: give their public keys (Setup::key)".into());
        }
        let targets = targets(&dist, &setup.origins).await?;
        Ok(self.serve(dist, targets, keys))
    }

    /// The older front of the cloud tests, without CloudFront's rules: `/<bucket>/...`
    /// (path-style S3 URLs, presigned) to `s3_endpoint` with their query string, everything
    /// else to `api`; every method, nothing cached, nothing checked. The origin ids in
    /// [`Stats`] are `s3` and `api`.
    pub async fn pass_through(
        self,
        api: &str,
        s3_endpoint: &str,
        bucket: &str,
    ) -> Result<Cdn, String> {
        let dist = pass_through_distribution(bucket);
        let origins = [
            ("api".to_string(), Origin::http(api)),
            ("s3".to_string(), Origin::http(s3_endpoint)),
        ];
        let targets = targets(&dist, &origins).await?;
        Ok(self.serve(dist, targets, KeyGroup::default()))
    }

    fn serve(self, dist: Distribution, targets: HashMap<String, Target>, keys: KeyGroup) -> Cdn {
        let shared = Arc::new(Shared {
            host: self.url.trim_start_matches("http://").to_string(),
            dist,
            targets,
            keys,
            cache: Mutex::default(),
            stats: Mutex::default(),
            inflight: Mutex::default(),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone())
            .into_make_service_with_connect_info::<SocketAddr>();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let listener = self.listener;
        let handle = tokio::spawn(async move {
            // HTTP/1.1 with keep-alive, as a CDN keeps its viewers' connections.
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Cdn {
            url: self.url,
            shared,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }
}

/// The running stand-in.
pub struct Cdn {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<()>>,
}

impl Cdn {
    /// Takes a free loopback port.
    pub async fn bind() -> Result<Listener, String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("bind the CDN stand-in: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("the CDN stand-in's address: {e}"))?;
        Ok(Listener {
            url: format!("http://{addr}"),
            listener,
        })
    }

    /// [`Cdn::bind`] then [`Listener::start`].
    pub async fn start(setup: Setup) -> Result<Cdn, String> {
        Self::bind().await?.start(setup).await
    }

    /// [`Cdn::bind`] then [`Listener::pass_through`].
    pub async fn pass_through(api: &str, s3_endpoint: &str, bucket: &str) -> Result<Cdn, String> {
        Self::bind()
            .await?
            .pass_through(api, s3_endpoint, bucket)
            .await
    }

    /// The distribution as read from the template.
    pub fn distribution(&self) -> &Distribution {
        &self.shared.dist
    }

    pub fn stats(&self) -> Stats {
        self.shared.stats().clone()
    }

    pub fn reset_stats(&self) {
        *self.shared.stats() = Stats::default();
    }

    /// Empties the cache (an invalidation of `/*`).
    pub fn invalidate_all(&self) {
        self.shared.cache().clear();
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
    }
}

/// A target for every origin of the distribution.
async fn targets(
    dist: &Distribution,
    given: &[(String, Origin)],
) -> Result<HashMap<String, Target>, String> {
    let mut missing = vec![];
    let mut out = HashMap::new();
    let mut ids: Vec<&String> = dist.origins.keys().collect();
    ids.sort();
    for id in ids {
        let config = &dist.origins[id];
        match given.iter().rev().find(|(g, _)| g == id) {
            Some((_, origin)) => {
                out.insert(
                    id.clone(),
                    Target::new(origin, config.connect_timeout).await?,
                );
            }
            None => missing.push(id.clone()),
        }
    }
    if let Some((unknown, _)) = given.iter().find(|(g, _)| !dist.origins.contains_key(g)) {
        return Err(format!(
            "Setup::origin({unknown:?}): the distribution has no such origin (it has {:?})",
            dist.origins.keys().collect::<Vec<_>>()
        ));
    }
    if !missing.is_empty() {
        return Err(format!(
            "no target for the distribution's origins {missing:?} (Setup::origin)"
        ));
    }
    Ok(out)
}

/// The pass-through front as a distribution: two behaviours, CachingDisabled, all viewer
/// headers but `Host` forwarded, no error caching.
fn pass_through_distribution(bucket: &str) -> Distribution {
    let all_methods: Vec<String> = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
        .iter()
        .map(|m| m.to_string())
        .collect();
    let behavior = |pattern: String, target: &str| Behavior {
        path_pattern: pattern,
        target: target.into(),
        allowed_methods: all_methods.clone(),
        cached_methods: vec!["GET".into(), "HEAD".into()],
        cache_policy: CachePolicy {
            name: "pass-through".into(),
            min_ttl: 0,
            default_ttl: 0,
            max_ttl: 0,
            headers: Selection::None,
            cookies: Selection::None,
            query_strings: Selection::None,
        },
        origin_request_policy: template::managed_origin_request_policy(
            "b689b0a8-53d0-40ab-baf2-68738e2966ac", // AllViewerExceptHostHeader
        ),
        response_headers_policy: None,
        trusted_key_groups: vec![],
    };
    let origin = |id: &str| {
        (
            id.to_string(),
            OriginConfig {
                id: id.into(),
                s3: false,
                origin_path: String::new(),
                read_timeout: Duration::from_secs(120),
                connect_timeout: Duration::from_secs(10),
            },
        )
    };
    Distribution {
        origins: [origin("api"), origin("s3")].into_iter().collect(),
        origin_groups: HashMap::new(),
        behaviors: vec![behavior(format!("/{bucket}/*"), "s3")],
        default_behavior: behavior("*".into(), "api"),
        error_caching_min_ttl: HashMap::new(),
        default_error_caching_min_ttl: 0,
    }
}

struct Shared {
    /// `127.0.0.1:<port>`, when a viewer sends no `Host`.
    host: String,
    dist: Distribution,
    targets: HashMap<String, Target>,
    keys: KeyGroup,
    cache: Mutex<Store>,
    stats: Mutex<Stats>,
    /// The cache keys being fetched, each with a lock its fetcher holds until the answer is
    /// in the cache (see [`handle`]).
    inflight: Mutex<HashMap<cache::Key, Arc<tokio::sync::RwLock<()>>>>,
}

/// A cacheable miss: the first one fetches (and holds the key's lock until its answer is
/// cached); the others wait for it, then try the cache again.
enum Flight {
    Leader(InFlight),
    Follower(Arc<tokio::sync::RwLock<()>>),
}

/// The first miss of a key, fetching it; dropping it lets the followers go.
struct InFlight {
    shared: Arc<Shared>,
    key: cache::Key,
    _fetching: tokio::sync::OwnedRwLockWriteGuard<()>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut map = self
            .shared
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        map.remove(&self.key);
    }
}

impl Shared {
    fn stats(&self) -> MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn cache(&self) -> MutexGuard<'_, Store> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn join_flight(self: &Arc<Self>, key: &str) -> Flight {
        let mut map = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(l) = map.get(key) {
            return Flight::Follower(l.clone());
        }
        let lock = Arc::new(tokio::sync::RwLock::new(()));
        match lock.clone().try_write_owned() {
            Ok(guard) => {
                map.insert(key.to_string(), lock);
                Flight::Leader(InFlight {
                    shared: self.clone(),
                    key: key.to_string(),
                    _fetching: guard,
                })
            }
            // A lock nobody else has seen is always free; go alone if it were not.
            Err(_) => Flight::Follower(lock),
        }
    }
    fn refuse(&self, path: &str, why: &str) {
        let mut s = self.stats();
        s.refused += 1;
        s.refusals.push(format!("{path}: {why}"));
    }
}

/// One viewer request, from behaviour selection to the response:
/// 1. the behaviour of the path; its allowed methods (else `403`);
/// 2. on a behaviour with trusted key groups, the signed URL (else `403`, no origin request);
/// 3. for a cached method, the cache (a hit ends here); concurrent misses of one key wait for
///    the first one's answer instead of all going to the origin, as CloudFront collapses
///    simultaneous requests for the same object
///    (<https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/RequestAndResponseBehaviorCustomOrigin.html#request-custom-traffic-spikes>);
/// 4. the origin (or origin group), with what the policies forward;
/// 5. the answer cached for its TTL, and returned with the response headers policy applied.
///
/// Long because it is CloudFront's request pipeline, step after step in that order; each step's
/// rules live in the function or module it calls.
async fn handle(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_string();
    let path = parts.uri.path().to_string();
    let query: Vec<String> = parts
        .uri
        .query()
        .map(|q| {
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let behavior = s.dist.behavior_for(&path).clone();
    if !behavior.allows(&method) {
        s.refuse(&path, &format!("method {method} not allowed"));
        return edge_error(StatusCode::FORBIDDEN, "MethodNotAllowed", "This distribution is not configured to allow the HTTP request method that was used for this request.");
    }
    let body = match axum::body::to_bytes(body, 1 << 30).await {
        Ok(b) => b,
        Err(e) => {
            return edge_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!("request body: {e}"),
            )
        }
    };
    // "If a viewer GET request includes a body, CloudFront returns an HTTP status code 403."
    // https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/RequestAndResponseBehaviorCustomOrigin.html#RequestCustom-get-body
    if method == "GET" && !body.is_empty() {
        s.refuse(&path, "GET with a body");
        return edge_error(StatusCode::FORBIDDEN, "AccessDenied", "GET with a body");
    }
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or(&s.host)
        .to_string();
    let query = if behavior.signed() {
        let viewer = signed_url::Viewer {
            origin: &format!("http://{host}"),
            path: &path,
            query: &query,
            ip: peer.ip(),
            now: now(),
        };
        if let Err(refusal) = signed_url::verify(&s.keys, &viewer) {
            s.refuse(&path, &format!("{refusal:?}"));
            let mut r = edge_error(StatusCode::FORBIDDEN, refusal.code(), "Access denied");
            if let Ok(v) = HeaderValue::from_str(&format!("{refusal:?}")) {
                r.headers_mut().insert("x-cdn-standin-refusal", v);
            }
            return r;
        }
        query
            .into_iter()
            .filter(|p| !signed_url::is_signature_param(p))
            .collect()
    } else {
        query
    };
    let cacheable = behavior.caches(&method);
    let range = if method == "GET" {
        Range::parse(&parts.headers)
    } else {
        None
    };
    let key = cache::key(
        &behavior.cache_policy,
        &method,
        &path,
        &query,
        &parts.headers,
    );
    let head = method == "HEAD";
    let mut flight = None;
    if cacheable {
        if let Some(r) = answer_from_cache(&s, &key, range, head) {
            return finish(&behavior, &parts.headers, r);
        }
        match s.join_flight(&key) {
            Flight::Leader(f) => flight = Some(f),
            Flight::Follower(lock) => {
                // Simultaneous misses wait for the first one's answer; when it is not
                // cacheable (a 503), each then goes to the origin itself, not in a queue.
                drop(lock.read().await);
                if let Some(r) = answer_from_cache(&s, &key, range, head) {
                    return finish(&behavior, &parts.headers, r);
                }
            }
        }
        s.stats().misses += 1;
    }
    let origin_req = origin_request(
        &behavior,
        &parts.method,
        &parts.headers,
        &path,
        &query,
        body,
        peer.ip(),
        &host,
    );
    let resp = fetch_target(&s, &behavior.target, &origin_req).await;
    if cacheable && !head {
        if let Some(ttl) = cache::ttl(&s.dist, &behavior.cache_policy, resp.status, &resp.headers) {
            let mut c = s.cache();
            if resp.status == StatusCode::PARTIAL_CONTENT {
                c.put_part(key.clone(), resp.headers.clone(), resp.body.clone(), ttl);
            } else {
                c.put_whole(
                    key.clone(),
                    resp.status,
                    resp.headers.clone(),
                    resp.body.clone(),
                    ttl,
                );
            }
        }
    }
    // The answer is cached (or not cacheable): the requests waiting for it may go.
    drop(flight);
    let mut r = viewer_response(resp.status, &resp.headers, resp.body, head);
    r.headers_mut()
        .insert("x-cache", HeaderValue::from_static("Miss from cloudfront"));
    finish(&behavior, &parts.headers, r)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The cached answer to a request, if the cache has one (counted as a hit).
fn answer_from_cache(s: &Shared, key: &str, range: Option<Range>, head: bool) -> Option<Response> {
    let found = s.cache().lookup(key, range);
    let mut r = match found {
        Lookup::Miss => return None,
        Lookup::Whole(e) => {
            let body = match &e.body {
                cache::Body::Whole(b) => b.clone(),
                cache::Body::Parts { .. } => return None,
            };
            let mut r = viewer_response(e.status, &e.headers, body, head);
            r.headers_mut()
                .insert(header::AGE, HeaderValue::from(e.age()));
            r
        }
        Lookup::Range {
            entry,
            first,
            last,
            total,
            bytes,
        } => {
            let mut r = viewer_response(StatusCode::PARTIAL_CONTENT, &entry.headers, bytes, false);
            let h = r.headers_mut();
            h.remove(header::CONTENT_LENGTH);
            h.insert(header::AGE, HeaderValue::from(entry.age()));
            h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {first}-{last}/{total}")) {
                h.insert(header::CONTENT_RANGE, v);
            }
            r
        }
        Lookup::Unsatisfiable { entry, total } => {
            let mut r = viewer_response(
                StatusCode::RANGE_NOT_SATISFIABLE,
                &entry.headers,
                Bytes::new(),
                false,
            );
            let h = r.headers_mut();
            h.remove(header::CONTENT_LENGTH);
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{total}")) {
                h.insert(header::CONTENT_RANGE, v);
            }
            r
        }
    };
    s.stats().hits += 1;
    r.headers_mut()
        .insert("x-cache", HeaderValue::from_static("Hit from cloudfront"));
    Some(r)
}

/// Hop-by-hop headers (RFC 9110 §7.6.1), which no proxy forwards, and those CloudFront removes
/// from requests
/// (<https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/RequestAndResponseBehaviorCustomOrigin.html#request-custom-headers-behavior>).
fn hop_by_hop(name: &HeaderName) -> bool {
    name == header::CONNECTION
        || name == header::TRANSFER_ENCODING
        || name == header::TE
        || name == header::TRAILER
        || name == header::UPGRADE
        || name == header::PROXY_AUTHORIZATION
        || name == header::PROXY_AUTHENTICATE
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

/// The request CloudFront sends the origin: the viewer's path; the query strings and headers
/// the cache policy keys on plus those the origin request policy adds (a signed URL's
/// signature parameters are already gone); `Range` on GETs; `X-Forwarded-For` and `Via`.
/// <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/controlling-origin-requests.html>
#[allow(clippy::too_many_arguments)]
fn origin_request(
    behavior: &Behavior,
    method: &Method,
    viewer_headers: &HeaderMap,
    path: &str,
    query: &[String],
    body: Bytes,
    viewer_ip: IpAddr,
    host: &str,
) -> OriginRequest {
    let cp = &behavior.cache_policy;
    let orp = behavior.origin_request_policy.as_ref();
    let forwarded_query: Vec<&str> = query
        .iter()
        .filter(|pair| {
            let name = pair.split_once('=').map_or(pair.as_str(), |(n, _)| n);
            cp.query_strings.selects(name, false)
                || orp.is_some_and(|o| o.query_strings.selects(name, false))
        })
        .map(String::as_str)
        .collect();
    let mut headers = HeaderMap::new();
    for (name, value) in viewer_headers {
        if hop_by_hop(name)
            || name == header::HOST
            || name == header::CONTENT_LENGTH
            || name == header::COOKIE
            || name == header::VIA
            || name.as_str() == "x-forwarded-for"
        {
            continue;
        }
        let selected = cp.headers.selects(name.as_str(), true)
            || orp.is_some_and(|o| o.headers.selects(name.as_str(), true))
            || (name == header::RANGE && method == Method::GET);
        if selected {
            headers.append(name.clone(), value.clone());
        }
    }
    if orp.is_some_and(|o| o.forward_host)
        || matches!(&cp.headers, Selection::Only(n) if n.iter().any(|h| h.eq_ignore_ascii_case("host")))
    {
        if let Ok(v) = HeaderValue::from_str(host) {
            headers.insert(header::HOST, v);
        }
    }
    let cookies: Vec<String> = cache::cookie_pairs(viewer_headers)
        .into_iter()
        .filter(|(n, _)| {
            cp.cookies.selects(n, false) || orp.is_some_and(|o| o.cookies.selects(n, false))
        })
        .map(|(n, v)| format!("{n}={v}"))
        .collect();
    if let Ok(v) = HeaderValue::from_str(&cookies.join("; ")) {
        if !cookies.is_empty() {
            headers.insert(header::COOKIE, v);
        }
    }
    let xff = match viewer_headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
    {
        Some(prior) => format!("{prior}, {viewer_ip}"),
        None => viewer_ip.to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        headers.insert("x-forwarded-for", v);
    }
    headers.insert(
        header::VIA,
        HeaderValue::from_static("1.1 stand-in.cloudfront.net (CloudFront)"),
    );
    if !headers.contains_key(header::USER_AGENT) {
        headers.insert(
            header::USER_AGENT,
            HeaderValue::from_static("Amazon CloudFront"),
        );
    }
    OriginRequest {
        method: method.clone(),
        path: path.to_string(),
        query: forwarded_query.join("&"),
        headers,
        body,
    }
}

/// Sends the request to the behaviour's target: an origin, or an origin group's primary and,
/// when that answers a failover status or cannot be reached, its secondary, whose answer is
/// the one returned (and cached). Only GET, HEAD and OPTIONS fail over.
/// <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/high_availability_origin_failover.html>,
/// <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/RequestAndResponseBehaviorOriginGroups.html>
/// ("CloudFront fails over to the secondary origin only when the HTTP method of the viewer
/// request is GET, HEAD, or OPTIONS").
async fn fetch_target(s: &Shared, target: &str, req: &OriginRequest) -> OriginResponse {
    let Some(group) = s.dist.origin_groups.get(target) else {
        return fetch_one(s, target, req).await;
    };
    let idempotent = matches!(req.method, Method::GET | Method::HEAD | Method::OPTIONS);
    let primary = fetch_one_raw(s, &group.primary, req).await;
    let fail_over = idempotent
        && match &primary {
            Ok(r) => group.failover_statuses.contains(&r.status.as_u16()),
            Err(_) => true,
        };
    if !fail_over {
        return unreachable_as_response(primary);
    }
    fetch_one(s, &group.secondary, req).await
}

async fn fetch_one(s: &Shared, id: &str, req: &OriginRequest) -> OriginResponse {
    unreachable_as_response(fetch_one_raw(s, id, req).await)
}

async fn fetch_one_raw(
    s: &Shared,
    id: &str,
    req: &OriginRequest,
) -> Result<OriginResponse, Unreachable> {
    let (Some(target), Some(config)) = (s.targets.get(id), s.dist.origins.get(id)) else {
        return Err(Unreachable::Connect(format!("no origin {id}")));
    };
    let with_path = OriginRequest {
        method: req.method.clone(),
        path: format!("{}{}", config.origin_path, req.path),
        query: req.query.clone(),
        headers: req.headers.clone(),
        body: req.body.clone(),
    };
    let result = origin::fetch(target, &with_path, config.read_timeout).await;
    let status = match &result {
        Ok(r) => r.status.as_u16(),
        Err(Unreachable::Connect(_)) => 502,
        Err(Unreachable::Timeout) => 504,
    };
    let mut st = s.stats();
    *st.fetches.entry(id.to_string()).or_default() += 1;
    let shown = if with_path.query.is_empty() {
        with_path.path.clone()
    } else {
        format!("{}?{}", with_path.path, with_path.query)
    };
    st.fetched.push(Fetch {
        origin: id.to_string(),
        method: with_path.method.to_string(),
        path: shown,
        status,
    });
    result
}

/// An unreachable origin as CloudFront answers it: `502` when it could not connect, `504` when
/// the origin did not answer within its read timeout.
fn unreachable_as_response(r: Result<OriginResponse, Unreachable>) -> OriginResponse {
    match r {
        Ok(r) => r,
        Err(u) => {
            let (status, why) = match u {
                Unreachable::Connect(e) => (StatusCode::BAD_GATEWAY, e),
                Unreachable::Timeout => (StatusCode::GATEWAY_TIMEOUT, "origin read timeout".into()),
            };
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            OriginResponse {
                status,
                headers,
                body: Bytes::from(format!("CDN stand-in: {why}")),
            }
        }
    }
}

/// A response to the viewer: the origin's status and headers (without hop-by-hop ones and a
/// `Content-Length` that the body sets), `Via`.
fn body_len_known(h: &HeaderMap) -> bool {
    h.contains_key(header::CONTENT_LENGTH)
}

fn viewer_response(status: StatusCode, headers: &HeaderMap, body: Bytes, head: bool) -> Response {
    let body_len = body.len();
    let mut r = Response::new(if head {
        Body::empty()
    } else {
        Body::from(body)
    });
    *r.status_mut() = status;
    for (k, v) in headers {
        if hop_by_hop(k) || (k == header::CONTENT_LENGTH && !head) {
            continue;
        }
        r.headers_mut().append(k.clone(), v.clone());
    }
    // A HEAD answered from a cached GET says the length of what a GET would get (without it,
    // the empty body would be sent as `Content-Length: 0`).
    if head && !body_len_known(r.headers()) && body_len > 0 {
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(body_len as u64));
    }
    r.headers_mut().insert(
        header::VIA,
        HeaderValue::from_static("1.1 stand-in.cloudfront.net (CloudFront)"),
    );
    r
}

/// The response headers policy: CORS headers on responses to CORS requests (those with an
/// `Origin`), the preflight ones on preflights, custom headers.
/// <https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_ResponseHeadersPolicyCorsConfig.html>
/// ("CloudFront adds these headers to HTTP responses that it sends for CORS requests";
/// `OriginOverride`: whether they replace the origin's).
fn finish(behavior: &Behavior, request: &HeaderMap, mut r: Response) -> Response {
    let Some(policy) = &behavior.response_headers_policy else {
        return r;
    };
    let h = r.headers_mut();
    for (name, value, replace) in &policy.custom_headers {
        let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) else {
            continue;
        };
        if *replace || !h.contains_key(&n) {
            h.insert(n, v);
        }
    }
    let (Some(cors), Some(origin)) = (&policy.cors, request.get(header::ORIGIN)) else {
        return r;
    };
    let origin = origin.to_str().unwrap_or_default();
    let wildcard = cors.allow_origins.iter().any(|o| o == "*");
    if !wildcard && !cors.allow_origins.iter().any(|o| o == origin) {
        return r;
    }
    let preflight = request.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut set = |name: HeaderName, value: String| {
        if value.is_empty() {
            return;
        }
        if let Ok(v) = HeaderValue::from_str(&value) {
            if cors.origin_override || !h.contains_key(&name) {
                h.insert(name, v);
            }
        }
    };
    let allow_origin = if wildcard && !cors.allow_credentials {
        "*".to_string()
    } else {
        origin.to_string()
    };
    set(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
    set(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        cors.expose_headers.join(", "),
    );
    if cors.allow_credentials {
        set(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true".into());
    }
    if preflight {
        set(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            cors.allow_methods.join(", "),
        );
        set(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            cors.allow_headers.join(", "),
        );
        if let Some(age) = cors.max_age {
            set(header::ACCESS_CONTROL_MAX_AGE, age.to_string());
        }
    }
    r
}

/// An answer made by the edge itself (CloudFront's XML error body).
fn edge_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>");
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    r.headers_mut()
        .insert("x-cache", HeaderValue::from_static("Error from cloudfront"));
    r
}
