//! Configuration, read once from the environment into one typed struct.
//! Every variable is documented in the README's configuration table.

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageKind {
    /// Local disk + SQLite (the default when nothing is configured).
    Embedded,
    /// S3 + DynamoDB (the cloud shape; LocalStack + DynamoDB Local in tests).
    Aws,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Clone)]
pub struct Config {
    pub storage: StorageKind,
    pub listen: String,
    /// Base URL clients use to reach this service (signed object URLs of the embedded shape).
    pub public_url: String,
    /// Whether `STREAM_PUBLIC_URL` was given (the cloud shape then writes absolute URLs).
    pub public_url_explicit: bool,
    pub data_dir: PathBuf,
    pub jwt: JwtConfig,
    pub bucket: String,
    pub table_prefix: String,
    pub s3_force_path_style: bool,
    pub upload_url_ttl: Duration,
    pub direct_play_url_ttl: Duration,
    pub segment_url_ttl: Duration,
    /// Origin (`scheme://host[:port]`) given to the presigned URLs of segment redirects instead
    /// of S3's own: the CDN, which forwards `/renditions/*` with its query string (the
    /// signature) to the bucket. Players then get playlists and segments from one host.
    pub segment_url_base: Option<url::Url>,
    pub session_idle: Duration,
    pub max_upload_bytes: u64,
    /// `STREAM_UPLOAD_PART_SIZE` (default 16 MiB, at least 5 MiB: S3's smallest part): an
    /// upload announced larger than this is sent in parts of this size.
    pub upload_part_size: u64,
    /// `STREAM_UPLOAD_EXPIRY_SECONDS` (default 1 day, as the bucket's lifecycle rule): a
    /// multipart upload not completed by then is dropped (the embedded sweep).
    pub upload_expiry: Duration,
    pub ffprobe: String,
    /// `STREAM_PROBE_TIMEOUT_SECONDS` (default 100): the bound on one whole probe at ingest;
    /// a file that keeps ffprobe busy longer ends `failed` with a sentence saying so.
    pub probe_timeout: Duration,
    pub ffmpeg: String,
    pub log_format: LogFormat,
    pub cors_origin: String,
    /// Secret for the embedded shape's signed object URLs; generated into the data dir if unset.
    pub url_signing_secret: Option<String>,
    /// Key of HLS session tokens; derived from the HS256 secret, or kept in the data dir, if unset.
    pub session_secret: Option<String>,
    pub session_token_ttl: Duration,
    /// How long a segment request waits for a just-in-time encode before answering 503.
    pub segment_wait: Duration,
    /// How often a waiting segment request looks at the claim record again when no in-process
    /// completion wakes it (a worker in another process or invocation). Default 20 ms for the
    /// embedded database (a local read), 100 ms for DynamoDB (a billed read).
    pub segment_poll: Duration,
    /// Segments claimed and made ahead of a requested one.
    pub read_ahead: u32,
    /// Trick-play thumbnails (SPEC §3 "Trick-play"): `STREAM_TRICKPLAY_INTERVAL` (seconds,
    /// default 10), `STREAM_TRICKPLAY_WIDTH` (pixels, 320), `STREAM_TRICKPLAY_GRID` (`10x10`).
    pub trickplay: stream_core::trickplay::TrickplayParams,
    /// Read-ahead of a transcoded segment makes that segment of every rung of the ladder, from
    /// one decode (for catalogues watched in several rungs: ABR switches find segments made;
    /// per viewer it costs the other rungs' encodes).
    pub read_ahead_all_rungs: bool,
    /// In-process encode workers (embedded; default: the number of cores).
    pub workers: usize,
    /// The most waited-for video encodes one user may have running at once in-process
    /// (`STREAM_ENCODES_PER_USER`; default one fewer than `workers`, at least 1), so one user
    /// cannot occupy every worker (SPEC §2 limits).
    pub encodes_per_user: usize,
    /// The cloud `transcode` function to invoke; unset = encode in-process.
    pub transcode_function: Option<String>,
    /// CloudFront edge signatures (SPEC §3 "Edge delivery"): the trusted key group's public key
    /// id and where its private key is kept. Unset in the cloud: no edge, segments on the
    /// session route.
    pub edge_key: Option<EdgeKeyConfig>,
    /// The CDN's public origin (`https://cdn.example.com`): the host the edge policies name and
    /// segment URIs point at. Required with `edge_key`.
    pub edge_url: Option<url::Url>,
}

/// Where the edge's private signing key comes from.
#[derive(Clone, Debug)]
pub struct EdgeKeyConfig {
    /// `STREAM_EDGE_KEY_PAIR_ID`: the CloudFront public key's id.
    pub key_pair_id: String,
    /// `STREAM_EDGE_KEY_SECRET`: the Secrets Manager secret (name or ARN) holding the PEM.
    pub secret_id: String,
}

#[derive(Clone, Default)]
pub struct JwtConfig {
    pub secret: Option<String>,
    pub jwks_file: Option<PathBuf>,
    pub jwks_url: Option<String>,
    /// Allowed `alg` values; empty means "derived from which keys are configured".
    pub algorithms: Vec<String>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

impl std::fmt::Debug for JwtConfig {
    // Never print the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtConfig")
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("jwks_file", &self.jwks_file)
            .field("jwks_url", &self.jwks_url)
            .field("algorithms", &self.algorithms)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("storage", &self.storage)
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field("data_dir", &self.data_dir)
            .field("jwt", &self.jwt)
            .field("bucket", &self.bucket)
            .field("table_prefix", &self.table_prefix)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    /// The base of the URLs the API hands out (session playlists): the embedded server's own URL,
    /// the configured public URL (a CDN) in the cloud, else empty = path-absolute URLs, which
    /// every client resolves against the URL it asked.
    pub fn api_base_url(&self) -> &str {
        match self.storage {
            StorageKind::Embedded => &self.public_url,
            StorageKind::Aws if self.public_url_explicit => &self.public_url,
            StorageKind::Aws => "",
        }
    }

    // Long because it is a table: one line per environment variable, with its default.
    /// Reads the configuration through `get` (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let storage = match get("STREAM_STORAGE").as_deref() {
            None | Some("embedded") => StorageKind::Embedded,
            Some("aws") => StorageKind::Aws,
            Some(other) => {
                return Err(err(
                    "STREAM_STORAGE",
                    format!("expected `embedded` or `aws`, got `{other}`"),
                ))
            }
        };
        let listen = get("STREAM_LISTEN").unwrap_or_else(|| "127.0.0.1:8080".into());
        let public_url_explicit = get("STREAM_PUBLIC_URL").is_some();
        let public_url = get("STREAM_PUBLIC_URL")
            .unwrap_or_else(|| format!("http://{listen}"))
            .trim_end_matches('/')
            .to_string();
        let log_format = match get("STREAM_LOG_FORMAT").as_deref() {
            Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            None if storage == StorageKind::Aws => LogFormat::Json,
            None => LogFormat::Pretty,
            Some(other) => {
                return Err(err(
                    "STREAM_LOG_FORMAT",
                    format!("expected `json` or `pretty`, got `{other}`"),
                ))
            }
        };
        let algorithms = get("STREAM_JWT_ALGORITHMS")
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_ascii_uppercase())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        Ok(Config {
            storage,
            listen,
            public_url,
            public_url_explicit,
            data_dir: PathBuf::from(get("STREAM_DATA_DIR").unwrap_or_else(|| "./data".into())),
            jwt: JwtConfig {
                secret: get("STREAM_JWT_SECRET"),
                jwks_file: get("STREAM_JWT_JWKS_FILE").map(PathBuf::from),
                jwks_url: get("STREAM_JWT_JWKS_URL"),
                algorithms,
                issuer: get("STREAM_JWT_ISSUER"),
                audience: get("STREAM_JWT_AUDIENCE"),
            },
            bucket: get("STREAM_BUCKET").unwrap_or_else(|| "stream-media".into()),
            table_prefix: get("STREAM_TABLE_PREFIX").unwrap_or_else(|| "stream".into()),
            s3_force_path_style: parse_bool(&get, "STREAM_S3_FORCE_PATH_STYLE", false)?,
            upload_url_ttl: secs(&get, "STREAM_UPLOAD_URL_TTL_SECONDS", 3600)?,
            direct_play_url_ttl: secs(&get, "STREAM_DIRECT_PLAY_URL_TTL_SECONDS", 6 * 3600)?,
            segment_url_ttl: secs(&get, "STREAM_SEGMENT_URL_TTL_SECONDS", 15 * 60)?,
            segment_url_base: origin_url(&get, "STREAM_SEGMENT_URL_BASE")?,
            session_idle: secs(&get, "STREAM_SESSION_IDLE_SECONDS", 2 * 3600)?,
            max_upload_bytes: num(&get, "STREAM_MAX_UPLOAD_BYTES", 50 * 1024 * 1024 * 1024)?,
            upload_part_size: part_size(&get)?,
            upload_expiry: secs(&get, "STREAM_UPLOAD_EXPIRY_SECONDS", 24 * 3600)?,
            ffprobe: get("STREAM_FFPROBE").unwrap_or_else(|| "ffprobe".into()),
            probe_timeout: secs(&get, "STREAM_PROBE_TIMEOUT_SECONDS", 100)?,
            ffmpeg: get("STREAM_FFMPEG").unwrap_or_else(|| "ffmpeg".into()),
            log_format,
            cors_origin: get("STREAM_CORS_ORIGIN").unwrap_or_else(|| "*".into()),
            url_signing_secret: get("STREAM_URL_SIGNING_SECRET"),
            session_secret: get("STREAM_SESSION_SECRET"),
            session_token_ttl: secs(&get, "STREAM_SESSION_TOKEN_TTL_SECONDS", 12 * 3600)?,
            segment_wait: Duration::from_millis(num(&get, "STREAM_SEGMENT_WAIT_MS", 8000)?),
            segment_poll: Duration::from_millis(
                num(
                    &get,
                    "STREAM_SEGMENT_POLL_MS",
                    if storage == StorageKind::Aws { 100 } else { 20 },
                )?
                .max(1),
            ),
            read_ahead: u32::try_from(num(&get, "STREAM_READ_AHEAD", 3)?)
                .map_err(|_| err("STREAM_READ_AHEAD", "too large"))?,
            read_ahead_all_rungs: parse_bool(&get, "STREAM_READ_AHEAD_ALL_RUNGS", false)?,
            trickplay: trickplay(&get)?,
            workers: match num(&get, "STREAM_WORKERS", 0)? {
                0 => std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(2),
                n => usize::try_from(n).map_err(|_| err("STREAM_WORKERS", "too large"))?,
            },
            encodes_per_user: usize::try_from(num(&get, "STREAM_ENCODES_PER_USER", 0)?)
                .map_err(|_| err("STREAM_ENCODES_PER_USER", "too large"))?,
            transcode_function: get("STREAM_TRANSCODE_FUNCTION"),
            edge_key: match (
                get("STREAM_EDGE_KEY_PAIR_ID"),
                get("STREAM_EDGE_KEY_SECRET"),
            ) {
                (Some(key_pair_id), Some(secret_id)) => Some(EdgeKeyConfig {
                    key_pair_id,
                    secret_id,
                }),
                (None, None) => None,
                _ => {
                    return Err(err(
                        "STREAM_EDGE_KEY_PAIR_ID",
                        "set together with STREAM_EDGE_KEY_SECRET (or neither)",
                    ))
                }
            },
            edge_url: origin_url(&get, "STREAM_EDGE_URL")?,
        })
        .map(|mut c| {
            if c.encodes_per_user == 0 {
                c.encodes_per_user = c.workers.saturating_sub(1).max(1);
            }
            c
        })
        .and_then(|c| match (&c.edge_key, &c.edge_url) {
            // Policies name the CDN's host: a policy on any host (`https://*/…`) would also match
            // another path with this one in its query (`*` matches `/`), so it is never signed.
            (Some(_), None) => Err(err(
                "STREAM_EDGE_URL",
                "required with STREAM_EDGE_KEY_PAIR_ID: the CDN's public origin, which the edge \
                 policies name",
            )),
            // Behind an edge the CDN's `/renditions/*` wants its own signature: a presigned S3
            // URL moved onto the CDN's host would be refused there.
            (Some(_), Some(_)) if c.segment_url_base.is_some() => Err(err(
                "STREAM_SEGMENT_URL_BASE",
                "not with an edge key: the session route then redirects to S3 itself",
            )),
            _ => Ok(c),
        })
    }
}

/// The trick-play parameters, each within its bounds (`TrickplayParams::validate`).
fn trickplay(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<stream_core::trickplay::TrickplayParams, ConfigError> {
    use stream_core::trickplay::TrickplayParams;
    let d = TrickplayParams::default();
    let small = |var: &'static str, v: u64| u32::try_from(v).map_err(|_| err(var, "too large"));
    let (columns, rows) = match get("STREAM_TRICKPLAY_GRID") {
        None => (d.columns, d.rows),
        Some(raw) => TrickplayParams::parse_grid(&raw)
            .ok_or_else(|| err("STREAM_TRICKPLAY_GRID", "must be COLUMNSxROWS, e.g. 10x10"))?,
    };
    let p = TrickplayParams {
        interval: small(
            "STREAM_TRICKPLAY_INTERVAL",
            num(get, "STREAM_TRICKPLAY_INTERVAL", d.interval.into())?,
        )?,
        width: small(
            "STREAM_TRICKPLAY_WIDTH",
            num(get, "STREAM_TRICKPLAY_WIDTH", d.width.into())?,
        )?,
        columns,
        rows,
    };
    p.validate().map_err(|m| err("STREAM_TRICKPLAY", m))?;
    Ok(p)
}

fn err(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        message: message.into(),
    }
}

fn num(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: u64,
) -> Result<u64, ConfigError> {
    match get(var) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| err(var, format!("expected a whole number, got `{v}`"))),
    }
}

/// An `http(s)://host[:port]` origin (no path, query or credentials), or None when unset/empty.
fn origin_url(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
) -> Result<Option<url::Url>, ConfigError> {
    let Some(v) = get(var).filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    let u = url::Url::parse(v.trim()).map_err(|e| err(var, format!("not a URL ({e})")))?;
    let is_origin = matches!(u.scheme(), "http" | "https")
        && u.host().is_some()
        && u.path() == "/"
        && u.query().is_none()
        && u.fragment().is_none()
        && u.username().is_empty()
        && u.password().is_none();
    if !is_origin {
        return Err(err(
            var,
            "expected an origin such as `https://cdn.example.com` (no path, query or credentials)",
        ));
    }
    Ok(Some(u))
}

/// `STREAM_UPLOAD_PART_SIZE`: S3 refuses parts under 5 MiB (but the last) and over 5 GiB.
fn part_size(get: &impl Fn(&str) -> Option<String>) -> Result<u64, ConfigError> {
    const VAR: &str = "STREAM_UPLOAD_PART_SIZE";
    let n = num(get, VAR, 16 << 20)?;
    if !(5 << 20..=5 << 30).contains(&n) {
        return Err(err(VAR, "must be between 5 MiB (5242880) and 5 GiB"));
    }
    Ok(n)
}

fn secs(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: u64,
) -> Result<Duration, ConfigError> {
    let n = num(get, var, default)?;
    if n == 0 {
        return Err(err(var, "must be at least 1 second"));
    }
    Ok(Duration::from_secs(n))
}

fn parse_bool(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match get(var).as_deref() {
        None => Ok(default),
        Some("1" | "true" | "yes") => Ok(true),
        Some("0" | "false" | "no") => Ok(false),
        Some(v) => Err(err(var, format!("expected true or false, got `{v}`"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_work_on_one_machine() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.storage, StorageKind::Embedded);
        assert_eq!(c.listen, "127.0.0.1:8080");
        assert_eq!(c.public_url, "http://127.0.0.1:8080");
        assert_eq!(c.segment_url_ttl, Duration::from_secs(900));
        assert_eq!(c.direct_play_url_ttl, Duration::from_secs(21600));
        assert_eq!(c.log_format, LogFormat::Pretty);
    }

    #[test]
    fn upload_part_size_has_s3_bounds() {
        assert_eq!(cfg(&[]).unwrap().upload_part_size, 16 << 20);
        let c = cfg(&[("STREAM_UPLOAD_PART_SIZE", "5242880")]).unwrap();
        assert_eq!(c.upload_part_size, 5 << 20);
        for bad in ["5242879", "0", "6442450944", "big"] {
            let e = cfg(&[("STREAM_UPLOAD_PART_SIZE", bad)]).unwrap_err();
            assert_eq!(e.var, "STREAM_UPLOAD_PART_SIZE", "{bad}");
        }
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e = cfg(&[("STREAM_STORAGE", "floppy")]).unwrap_err();
        assert_eq!(e.var, "STREAM_STORAGE");
        let e = cfg(&[("STREAM_SEGMENT_URL_TTL_SECONDS", "soon")]).unwrap_err();
        assert_eq!(e.var, "STREAM_SEGMENT_URL_TTL_SECONDS");
        let e = cfg(&[("STREAM_SEGMENT_URL_TTL_SECONDS", "0")]).unwrap_err();
        assert_eq!(e.var, "STREAM_SEGMENT_URL_TTL_SECONDS");
        for bad in [
            "cdn.example.com",
            "ftp://cdn.example.com",
            "https://cdn.example.com/renditions",
            "https://u:p@cdn.example.com",
            "https://cdn.example.com/?a=1",
        ] {
            let e = cfg(&[("STREAM_SEGMENT_URL_BASE", bad)]).unwrap_err();
            assert_eq!(e.var, "STREAM_SEGMENT_URL_BASE", "{bad}");
        }
        let c = cfg(&[("STREAM_SEGMENT_URL_BASE", "https://d1.cloudfront.net/")]).unwrap();
        assert_eq!(
            c.segment_url_base.map(|u| u.to_string()),
            Some("https://d1.cloudfront.net/".into())
        );
        assert!(cfg(&[("STREAM_SEGMENT_URL_BASE", "")])
            .unwrap()
            .segment_url_base
            .is_none());
    }

    #[test]
    fn an_edge_key_needs_its_partner_and_the_cdn_origin() {
        let key = ("STREAM_EDGE_KEY_PAIR_ID", "K1");
        let secret = ("STREAM_EDGE_KEY_SECRET", "stream-edge-key");
        let url = ("STREAM_EDGE_URL", "https://cdn.example.com");
        assert_eq!(cfg(&[key]).unwrap_err().var, "STREAM_EDGE_KEY_PAIR_ID");
        assert_eq!(
            cfg(&[secret, url]).unwrap_err().var,
            "STREAM_EDGE_KEY_PAIR_ID"
        );
        assert_eq!(cfg(&[key, secret]).unwrap_err().var, "STREAM_EDGE_URL");
        let base = ("STREAM_SEGMENT_URL_BASE", "https://cdn.example.com");
        assert_eq!(
            cfg(&[key, secret, url, base]).unwrap_err().var,
            "STREAM_SEGMENT_URL_BASE"
        );
        let c = cfg(&[key, secret, url]).unwrap();
        assert_eq!(c.edge_key.map(|k| k.key_pair_id), Some("K1".into()));
        assert!(cfg(&[]).unwrap().edge_key.is_none());
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let c = cfg(&[("STREAM_JWT_SECRET", "hunter2-very-secret")]).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
