//! The edge cache: keys from a behaviour's cache policy, how long CloudFront keeps a response
//! (success and error alike), and byte ranges answered from what is cached.
//!
//! **Key.** The path, then exactly the query strings, headers and cookies the cache policy
//! puts in the key (query strings in the order the viewer sent them and case-sensitive, as
//! CloudFront keys them; the signature parameters of a signed URL are never part of it). So
//! on `/renditions/*`, whose policy keys on the path alone, every viewer's signed URL of a
//! segment is one entry.
//! <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/controlling-the-cache-key.html>,
//! <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/QueryStringParameters.html>
//! ("The order of parameters matters", "CloudFront considers the case of parameter names and
//! values").
//!
//! **TTL of a success (2xx, 3xx).** `s-maxage`, else `max-age`, else `Expires`, bounded by
//! the policy: with MinTTL 0, the lesser of the header and MaxTTL; with MinTTL > 0, clamped
//! to [MinTTL, MaxTTL]; no header: DefaultTTL (or MinTTL if larger); `no-cache`, `no-store`
//! or `private`: not cached with MinTTL 0, MinTTL otherwise. A TTL of 0 is not cached.
//! <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/Expiration.html>
//!
//! **TTL of an error.** Only the codes CloudFront caches: 404, 405, 410, 414, 500, 501, 502,
//! 503 and 504 always; 400, 403, 412 and 415 only when the origin sends `max-age` or
//! `s-maxage`; 416 never. For the larger of the header's value (at most MaxTTL) and the
//! `ErrorCachingMinTTL` of that code (10 s when the distribution names none). `no-store`,
//! `no-cache` and `private` stop the caching of a 404, 410, 414 or 501 only: on every other
//! code they are ignored, so a `503` with `Cache-Control: no-store` is cached for 10 s unless
//! the distribution sets `ErrorCachingMinTTL: 0` for 503 (the template does).
//! <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/custom-error-pages-expiration.html>,
//! <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/HTTPStatusCodes.html#HTTPStatusCodes-cached-errors>
//!
//! **Ranges.** A range is answered from the cache when the whole object or that part of it is
//! cached; otherwise the request goes to the origin with its `Range`, and a `206` is cached as
//! that part, a `200` (an origin that ignores ranges) as the whole object, which then answers
//! this request whole and later ranges from the cache.
//! <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/RangeGETs.html>
//! (CloudFront may widen the range it asks the origin for; the stand-in asks for the viewer's.)
//!
//! Not modelled: revalidation of expired entries with conditional requests (an expired entry
//! is fetched again), serving stale content when the origin fails, eviction, compression.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{header, HeaderMap, StatusCode};

use super::template::{CachePolicy, Distribution};

/// A cache key.
pub type Key = String;

/// The key of a request under `policy`. `query` holds the raw pairs without the signature's.
pub fn key(
    policy: &CachePolicy,
    method: &str,
    path: &str,
    query: &[String],
    headers: &HeaderMap,
) -> Key {
    let mut k = String::new();
    // GET and HEAD share entries (a HEAD is answered from a cached GET); OPTIONS is its own.
    if method == "OPTIONS" {
        k.push_str("OPTIONS ");
    }
    k.push_str(path);
    let qs: Vec<&str> = query
        .iter()
        .filter(|pair| {
            let name = pair.split_once('=').map_or(pair.as_str(), |(n, _)| n);
            policy.query_strings.selects(name, false)
        })
        .map(String::as_str)
        .collect();
    if !qs.is_empty() {
        k.push('?');
        k.push_str(&qs.join("&"));
    }
    let mut names: Vec<&str> = headers
        .keys()
        .map(|n| n.as_str())
        .filter(|n| *n != "cookie" && policy.headers.selects(n, true))
        .collect();
    names.sort_unstable();
    names.dedup();
    for n in names {
        let values: Vec<&str> = headers
            .get_all(n)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        k.push_str(&format!("\n{n}: {}", values.join(",")));
    }
    let mut cookies: Vec<String> = cookie_pairs(headers)
        .into_iter()
        .filter(|(name, _)| policy.cookies.selects(name, false))
        .map(|(n, v)| format!("{n}={v}"))
        .collect();
    cookies.sort();
    if !cookies.is_empty() {
        k.push_str(&format!("\ncookie: {}", cookies.join("; ")));
    }
    k
}

/// The viewer's cookies as (name, value).
pub fn cookie_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| {
            let (n, v) = c.trim().split_once('=')?;
            Some((n.to_string(), v.to_string()))
        })
        .collect()
}

/// How long a response may be cached, or `None` when it is not cached.
pub fn ttl(
    dist: &Distribution,
    policy: &CachePolicy,
    status: StatusCode,
    headers: &HeaderMap,
) -> Option<Duration> {
    let cc = CacheControl::of(headers);
    let code = status.as_u16();
    let seconds = if status.is_success() || status.is_redirection() {
        if matches!(code, 304) || code == 201 || code == 202 {
            return None;
        }
        if cc.no_store_no_cache_or_private {
            if policy.min_ttl == 0 {
                return None;
            }
            policy.min_ttl
        } else {
            match cc.lifetime {
                Some(v) if policy.min_ttl == 0 => v.min(policy.max_ttl),
                Some(v) => v.clamp(policy.min_ttl, policy.max_ttl.max(policy.min_ttl)),
                None => policy.default_ttl.max(policy.min_ttl),
            }
        }
    } else {
        let always = [404, 405, 410, 414, 500, 501, 502, 503, 504];
        let with_max_age = [400, 403, 412, 415];
        let cached = always.contains(&code) || (with_max_age.contains(&code) && cc.max_age_given);
        if !cached {
            return None;
        }
        if cc.no_store_no_cache_or_private && [404, 410, 414, 501].contains(&code) {
            return None;
        }
        let minimum = dist
            .error_caching_min_ttl
            .get(&code)
            .copied()
            .unwrap_or(dist.default_error_caching_min_ttl);
        cc.lifetime
            .map_or(0, |v| v.min(policy.max_ttl))
            .max(minimum)
    };
    (seconds > 0).then(|| Duration::from_secs(seconds))
}

/// The parts of `Cache-Control` (and `Expires`) that decide CloudFront's TTL.
struct CacheControl {
    /// `s-maxage`, else `max-age`, else `Expires` − now, in seconds.
    lifetime: Option<u64>,
    max_age_given: bool,
    no_store_no_cache_or_private: bool,
}

impl CacheControl {
    fn of(headers: &HeaderMap) -> CacheControl {
        let mut max_age = None;
        let mut s_maxage = None;
        let mut refuse = false;
        for v in headers.get_all(header::CACHE_CONTROL) {
            let Ok(v) = v.to_str() else { continue };
            for d in v.split(',') {
                let d = d.trim().to_ascii_lowercase();
                let (name, value) = d.split_once('=').unwrap_or((d.as_str(), ""));
                let value = value.trim_matches('"');
                match name.trim() {
                    "max-age" => max_age = value.parse::<u64>().ok(),
                    "s-maxage" => s_maxage = value.parse::<u64>().ok(),
                    "no-store" | "no-cache" | "private" => refuse = true,
                    _ => {}
                }
            }
        }
        // "If you specify values both for Cache-Control max-age and for Expires, CloudFront
        // uses only the value of Cache-Control max-age."
        let expires = headers
            .get(header::EXPIRES)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate_seconds_from_now(v));
        CacheControl {
            lifetime: s_maxage.or(max_age).or(expires),
            max_age_given: s_maxage.is_some() || max_age.is_some(),
            no_store_no_cache_or_private: refuse,
        }
    }
}

/// Seconds from now to an HTTP date (0 when past), via chrono's RFC 2822 parser (HTTP dates
/// are its `GMT` form).
fn httpdate_seconds_from_now(v: &str) -> Option<u64> {
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let now = chrono::DateTime::<chrono::Utc>::from(SystemTime::now());
    Some((at.timestamp() - now.timestamp()).max(0) as u64)
}

/// A cached response, whole or in parts.
#[derive(Clone)]
pub struct Entry {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Body,
    pub stored: Instant,
    pub ttl: Duration,
}

#[derive(Clone)]
pub enum Body {
    Whole(Bytes),
    /// Parts of an object of `total` bytes: (first byte, bytes).
    Parts {
        total: u64,
        parts: Vec<(u64, Bytes)>,
    },
}

impl Entry {
    fn fresh(&self) -> bool {
        self.stored.elapsed() < self.ttl
    }
    pub fn age(&self) -> u64 {
        self.stored.elapsed().as_secs()
    }
}

/// A requested byte range (one range: `bytes=a-b`, `bytes=a-`, `bytes=-n`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Range {
    From(u64, Option<u64>),
    Suffix(u64),
}

impl Range {
    /// `None` for no header or one the stand-in does not serve from its cache (several
    /// ranges): the request is then treated as a whole-object request.
    pub fn parse(headers: &HeaderMap) -> Option<Range> {
        let v = headers.get(header::RANGE)?.to_str().ok()?;
        let spec = v.trim().strip_prefix("bytes=")?;
        if spec.contains(',') {
            return None;
        }
        let (a, b) = spec.split_once('-')?;
        match (a.trim(), b.trim()) {
            ("", n) => Some(Range::Suffix(n.parse().ok()?)),
            (a, "") => Some(Range::From(a.parse().ok()?, None)),
            (a, b) => {
                let (a, b) = (a.parse().ok()?, b.parse().ok()?);
                (a <= b).then_some(Range::From(a, Some(b)))
            }
        }
    }

    /// The inclusive byte span in an object of `total` bytes, `None` when unsatisfiable.
    pub fn span(&self, total: u64) -> Option<(u64, u64)> {
        if total == 0 {
            return None;
        }
        match *self {
            Range::From(a, _) if a >= total => None,
            Range::From(a, b) => Some((a, b.map_or(total - 1, |b| b.min(total - 1)))),
            Range::Suffix(0) => None,
            Range::Suffix(n) => Some((total.saturating_sub(n), total - 1)),
        }
    }
}

/// What the cache can answer for a request.
pub enum Lookup {
    /// A whole response (no range asked, or an error, or a range of a whole object: then
    /// `range` is the satisfiable span or `None` for 416).
    Whole(Entry),
    Range {
        entry: Entry,
        first: u64,
        last: u64,
        total: u64,
        bytes: Bytes,
    },
    Unsatisfiable {
        entry: Entry,
        total: u64,
    },
    Miss,
}

#[derive(Default)]
pub struct Store {
    entries: HashMap<Key, Entry>,
}

impl Store {
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn lookup(&self, key: &str, range: Option<Range>) -> Lookup {
        let Some(entry) = self.entries.get(key).filter(|e| e.fresh()) else {
            return Lookup::Miss;
        };
        match (&entry.body, range) {
            (Body::Whole(_), None) => Lookup::Whole(entry.clone()),
            (Body::Whole(b), Some(r)) if entry.status == StatusCode::OK => {
                let total = b.len() as u64;
                match r.span(total) {
                    Some((first, last)) => Lookup::Range {
                        bytes: b.slice(first as usize..=last as usize),
                        entry: entry.clone(),
                        first,
                        last,
                        total,
                    },
                    None => Lookup::Unsatisfiable {
                        entry: entry.clone(),
                        total,
                    },
                }
            }
            // An error (or another status) answers ranges as it answers the whole object.
            (Body::Whole(_), Some(_)) => Lookup::Whole(entry.clone()),
            (Body::Parts { .. }, None) => Lookup::Miss,
            (Body::Parts { total, parts }, Some(r)) => {
                let Some((first, last)) = r.span(*total) else {
                    return Lookup::Unsatisfiable {
                        entry: entry.clone(),
                        total: *total,
                    };
                };
                parts
                    .iter()
                    .find(|(start, b)| *start <= first && last < start + b.len() as u64)
                    .map_or(Lookup::Miss, |(start, b)| Lookup::Range {
                        bytes: b.slice((first - start) as usize..=(last - start) as usize),
                        entry: entry.clone(),
                        first,
                        last,
                        total: *total,
                    })
            }
        }
    }

    /// Stores a whole response.
    pub fn put_whole(
        &mut self,
        key: Key,
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
        ttl: Duration,
    ) {
        self.entries.insert(
            key,
            Entry {
                status,
                headers,
                body: Body::Whole(body),
                stored: Instant::now(),
                ttl,
            },
        );
    }

    /// Stores the part of a `206` (its `Content-Range` says where it is). A part that is the
    /// whole object (`bytes 0-(n-1)/n`: what a player's `Range: bytes=0-` gets) is the object,
    /// kept as a whole `200` that answers every later request, ranged or not.
    pub fn put_part(&mut self, key: Key, headers: HeaderMap, body: Bytes, ttl: Duration) {
        let Some((first, total)) = content_range(&headers) else {
            return;
        };
        if first == 0 && body.len() as u64 == total {
            let mut headers = headers;
            headers.remove(header::CONTENT_RANGE);
            headers.insert(header::CONTENT_LENGTH, total.into());
            return self.put_whole(key, StatusCode::OK, headers, body, ttl);
        }
        if let Some(e) = self.entries.get_mut(&key).filter(|e| e.fresh()) {
            match &mut e.body {
                // Another part of the same object: kept beside the others (and expiring
                // with the first, the entry's age).
                Body::Parts { total: t, parts } if *t == total => {
                    parts.push((first, body));
                    return;
                }
                // The whole object is cached already.
                Body::Whole(_) if e.status == StatusCode::OK => return,
                _ => {}
            }
        }
        let parts = vec![(first, body)];
        self.entries.insert(
            key,
            Entry {
                status: StatusCode::PARTIAL_CONTENT,
                headers,
                body: Body::Parts { total, parts },
                stored: Instant::now(),
                ttl,
            },
        );
    }
}

/// (first byte, total length) of `Content-Range: bytes a-b/total`.
pub fn content_range(headers: &HeaderMap) -> Option<(u64, u64)> {
    let v = headers.get(header::CONTENT_RANGE)?.to_str().ok()?;
    let rest = v.trim().strip_prefix("bytes ")?;
    let (span, total) = rest.split_once('/')?;
    let (a, _) = span.split_once('-')?;
    Some((a.parse().ok()?, total.parse().ok()?))
}
