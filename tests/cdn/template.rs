//! The CloudFront distribution of a SAM/CloudFormation template, read into what the stand-in
//! needs to behave like it: origins, origin groups, cache behaviours in order, the cache,
//! origin request and response headers policies they name, and the error caching TTLs.
//!
//! Everything here is read from the template, never restated: a test that passes against the
//! stand-in passes because of what `infra/template.yaml` says. CloudFormation's short-form tags
//! (`!Ref X`, `!GetAtt X.Id`, `!Sub '…'`) reach us as plain strings (yaml-rust2 keeps the value
//! and drops the tag), so a policy id is either the logical name of a policy resource in the
//! same template (`!Ref RenditionCachePolicy`, `!GetAtt RenditionCachePolicy.Id`) or the id of
//! one of AWS's managed policies, which the stand-in knows by id (the few the project may use;
//! any other id is an error that says so, rather than a guess). A `!Ref` to a template
//! parameter resolves to the parameter's `Default`, or to a value the test gives.
//!
//! What is not modelled is refused when the template is read (legacy `ForwardedValues`,
//! `TrustedSigners`, custom error pages with a `ResponsePagePath`), so a template that starts
//! relying on it fails loudly here instead of passing against a stand-in that ignores it.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use yaml_rust2::{Yaml, YamlLoader};

/// What a cache behaviour's target is, by CloudFront's origin id.
#[derive(Clone, Debug)]
pub struct OriginConfig {
    pub id: String,
    /// An S3 origin (`S3OriginConfig`, with or without origin access control).
    pub s3: bool,
    /// `OriginPath`, prepended to the request path (empty when absent).
    pub origin_path: String,
    /// `CustomOriginConfig.OriginReadTimeout` (default 30 s).
    pub read_timeout: Duration,
    /// `ConnectionTimeout` (default 10 s).
    pub connect_timeout: Duration,
}

/// An origin group: the primary, then the secondary when the primary answers a status in
/// `failover_statuses` (or cannot be reached).
#[derive(Clone, Debug)]
pub struct OriginGroup {
    pub id: String,
    pub primary: String,
    pub secondary: String,
    pub failover_statuses: Vec<u16>,
}

/// Which viewer values of one kind (headers, cookies or query strings) a policy selects.
#[derive(Clone, Debug, PartialEq)]
pub enum Selection {
    None,
    /// `whitelist`: these names (header names compared case-insensitively, the others exactly).
    Only(Vec<String>),
    /// `allExcept`: every one but these.
    AllExcept(Vec<String>),
    /// `all` (query strings, cookies) or `allViewer` (headers).
    All,
}

impl Selection {
    /// Whether `name` is selected; `fold` compares case-insensitively (header names).
    pub fn selects(&self, name: &str, fold: bool) -> bool {
        let eq = |a: &String| {
            if fold {
                a.eq_ignore_ascii_case(name)
            } else {
                a == name
            }
        };
        match self {
            Selection::None => false,
            Selection::Only(names) => names.iter().any(eq),
            Selection::AllExcept(names) => !names.iter().any(eq),
            Selection::All => true,
        }
    }
}

/// A cache policy: what is in the cache key (and so forwarded), and the TTL bounds.
#[derive(Clone, Debug)]
pub struct CachePolicy {
    pub name: String,
    pub min_ttl: u64,
    pub default_ttl: u64,
    pub max_ttl: u64,
    pub headers: Selection,
    pub cookies: Selection,
    pub query_strings: Selection,
}

/// An origin request policy: what is forwarded beyond the cache key.
#[derive(Clone, Debug)]
pub struct OriginRequestPolicy {
    pub name: String,
    pub headers: Selection,
    /// Host is not forwarded by `allViewerExceptHost`-style policies.
    pub forward_host: bool,
    pub cookies: Selection,
    pub query_strings: Selection,
}

/// The CORS part of a response headers policy, and its custom headers.
#[derive(Clone, Debug, Default)]
pub struct ResponseHeadersPolicy {
    pub name: String,
    pub cors: Option<Cors>,
    /// (name, value, override the origin's).
    pub custom_headers: Vec<(String, String, bool)>,
}

#[derive(Clone, Debug, Default)]
pub struct Cors {
    pub allow_origins: Vec<String>,
    pub allow_methods: Vec<String>,
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub allow_credentials: bool,
    pub max_age: Option<u64>,
    pub origin_override: bool,
}

/// One cache behaviour (the default one has the path pattern `*`).
#[derive(Clone, Debug)]
pub struct Behavior {
    pub path_pattern: String,
    /// An origin id or an origin group id.
    pub target: String,
    pub allowed_methods: Vec<String>,
    pub cached_methods: Vec<String>,
    pub cache_policy: CachePolicy,
    pub origin_request_policy: Option<OriginRequestPolicy>,
    pub response_headers_policy: Option<ResponseHeadersPolicy>,
    /// Logical names of the trusted key groups; non-empty = signed URLs required.
    pub trusted_key_groups: Vec<String>,
}

impl Behavior {
    pub fn allows(&self, method: &str) -> bool {
        self.allowed_methods.iter().any(|m| m == method)
    }
    pub fn caches(&self, method: &str) -> bool {
        self.cached_methods.iter().any(|m| m == method)
    }
    pub fn signed(&self) -> bool {
        !self.trusted_key_groups.is_empty()
    }
}

/// The distribution, as the stand-in serves it.
#[derive(Clone, Debug)]
pub struct Distribution {
    pub origins: HashMap<String, OriginConfig>,
    pub origin_groups: HashMap<String, OriginGroup>,
    /// `CacheBehaviors`, in the template's order.
    pub behaviors: Vec<Behavior>,
    pub default_behavior: Behavior,
    /// `CustomErrorResponses[].ErrorCachingMinTTL` by status.
    pub error_caching_min_ttl: HashMap<u16, u64>,
    /// What a status without a `CustomErrorResponses` entry is cached for (CloudFront: 10 s).
    pub default_error_caching_min_ttl: u64,
}

/// CloudFront's default error caching duration.
/// <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/custom-error-pages-expiration.html>
/// ("CloudFront caches error responses for a default duration of 10 seconds").
pub const DEFAULT_ERROR_CACHING_MIN_TTL: u64 = 10;

impl Distribution {
    /// The behaviour for a request path: the first cache behaviour whose path pattern matches,
    /// in the order listed, else the default one. Patterns are case-sensitive; `*` matches any
    /// run of characters (`/` included), `?` exactly one; a leading `/` is optional.
    /// <https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_CacheBehavior.html>
    /// (PathPattern: "compared with path patterns in the order in which cache behaviors are
    /// listed", "the same with or without the leading /", default `*`) and
    /// <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/DownloadDistValuesCacheBehavior.html#DownloadDistValuesPathPattern>
    /// (wildcards, case sensitivity).
    pub fn behavior_for(&self, path: &str) -> &Behavior {
        self.behaviors
            .iter()
            .find(|b| {
                let pattern = if b.path_pattern.starts_with('/') {
                    b.path_pattern.clone()
                } else {
                    format!("/{}", b.path_pattern)
                };
                wildcard_match(&pattern, path)
            })
            .unwrap_or(&self.default_behavior)
    }

    /// Reads the one `AWS::CloudFront::Distribution` of the template at `path`. `parameters`
    /// override template parameters' defaults.
    pub fn from_template(path: &Path, parameters: &[(String, String)]) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        let docs = YamlLoader::load_from_str(&text)
            .map_err(|e| format!("parsing {}: {e}", path.display()))?;
        let doc = docs
            .first()
            .ok_or_else(|| format!("{}: empty template", path.display()))?;
        let t = Template::new(doc, parameters);
        t.distribution()
            .map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// CloudFront's wildcard matching (path patterns and signed-URL resources): `*` is any run of
/// characters (possibly empty, `/` included), `?` exactly one character; everything else is
/// compared exactly (case-sensitive).
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    // Where the last `*` was, and the text position it currently stands for the end of.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A template and the parameter values in force.
struct Template<'a> {
    resources: &'a Yaml,
    parameters: HashMap<String, Yaml>,
}

impl<'a> Template<'a> {
    fn new(doc: &'a Yaml, overrides: &[(String, String)]) -> Self {
        let mut parameters = HashMap::new();
        if let Some(params) = doc["Parameters"].as_hash() {
            for (k, v) in params {
                if let Some(name) = k.as_str() {
                    if !v["Default"].is_badvalue() {
                        parameters.insert(name.to_string(), v["Default"].clone());
                    }
                }
            }
        }
        for (k, v) in overrides {
            parameters.insert(k.clone(), Yaml::String(v.clone()));
        }
        Template {
            resources: &doc["Resources"],
            parameters,
        }
    }

    /// The resource named by `reference` (`X`, `X.Id`, `{Ref: X}`, `{Fn::GetAtt: [X, Id]}`),
    /// if it is one of this template's resources.
    fn resource(&self, reference: &Yaml) -> Option<(&'a str, &'a Yaml)> {
        let name = match reference {
            Yaml::String(s) => s.split('.').next().unwrap_or(s).to_string(),
            Yaml::Hash(_) => match (&reference["Ref"], &reference["Fn::GetAtt"]) {
                (Yaml::String(s), _) => s.clone(),
                (_, Yaml::Array(a)) => a.first()?.as_str()?.to_string(),
                (_, Yaml::String(s)) => s.split('.').next().unwrap_or(s).to_string(),
                _ => return None,
            },
            _ => return None,
        };
        let hash = self.resources.as_hash()?;
        hash.iter()
            .find(|(k, _)| k.as_str() == Some(name.as_str()))
            .and_then(|(k, v)| Some((k.as_str()?, v)))
    }

    /// A scalar with `!Ref Parameter` resolved.
    fn scalar(&self, v: &Yaml) -> Yaml {
        let name = match v {
            Yaml::String(s) => Some(s.as_str()),
            Yaml::Hash(_) => v["Ref"].as_str(),
            _ => None,
        };
        match name.and_then(|n| self.parameters.get(n)) {
            Some(p) => p.clone(),
            None => v.clone(),
        }
    }

    fn string(&self, v: &Yaml, what: &str) -> Result<String, String> {
        match self.scalar(v) {
            Yaml::String(s) => Ok(s),
            Yaml::Integer(i) => Ok(i.to_string()),
            Yaml::Boolean(b) => Ok(b.to_string()),
            other => Err(format!("{what}: expected a string, found {other:?}")),
        }
    }

    fn number(&self, v: &Yaml, what: &str) -> Result<u64, String> {
        match self.scalar(v) {
            Yaml::Integer(i) if i >= 0 => Ok(i as u64),
            Yaml::String(s) => s
                .parse()
                .map_err(|_| format!("{what}: {s:?} is not a number")),
            other => Err(format!("{what}: expected a number, found {other:?}")),
        }
    }

    fn optional_number(&self, v: &Yaml, what: &str) -> Result<Option<u64>, String> {
        if v.is_badvalue() || v.is_null() {
            return Ok(None);
        }
        self.number(v, what).map(Some)
    }

    fn bool(&self, v: &Yaml, default: bool) -> bool {
        match self.scalar(v) {
            Yaml::Boolean(b) => b,
            Yaml::String(s) => s.eq_ignore_ascii_case("true"),
            _ => default,
        }
    }

    /// A list of strings, given as a YAML list or as CloudFront's `{Quantity, Items}`.
    fn strings(&self, v: &Yaml, what: &str) -> Result<Vec<String>, String> {
        let items = match v {
            Yaml::Array(a) => a.clone(),
            Yaml::Hash(_) => match &v["Items"] {
                Yaml::Array(a) => a.clone(),
                _ => vec![],
            },
            Yaml::BadValue | Yaml::Null => vec![],
            other => return Err(format!("{what}: expected a list, found {other:?}")),
        };
        items.iter().map(|i| self.string(i, what)).collect()
    }

    fn distribution(&self) -> Result<Distribution, String> {
        let resources = self.resources.as_hash().ok_or("no Resources section")?;
        let mut distributions = resources
            .iter()
            .filter(|(_, r)| r["Type"].as_str() == Some("AWS::CloudFront::Distribution"));
        let (name, dist) = distributions
            .next()
            .ok_or("no AWS::CloudFront::Distribution resource")?;
        if distributions.next().is_some() {
            return Err("more than one AWS::CloudFront::Distribution resource".into());
        }
        let config = &dist["Properties"]["DistributionConfig"];
        let name = name.as_str().unwrap_or("Distribution");
        let origins = self
            .origins(&config["Origins"])
            .map_err(|e| format!("{name}: {e}"))?;
        let origin_groups = self
            .origin_groups(&config["OriginGroups"])
            .map_err(|e| format!("{name}: {e}"))?;
        let behavior = |b: &Yaml, default: bool| {
            self.behavior(b, default)
                .map_err(|e| format!("{name}: {e}"))
        };
        let default_behavior = behavior(&config["DefaultCacheBehavior"], true)?;
        let behaviors = match &config["CacheBehaviors"] {
            Yaml::Array(a) => a
                .iter()
                .map(|b| behavior(b, false))
                .collect::<Result<Vec<_>, _>>()?,
            _ => vec![],
        };
        for b in behaviors.iter().chain([&default_behavior]) {
            if !origins.contains_key(&b.target) && !origin_groups.contains_key(&b.target) {
                return Err(format!(
                    "{name}: behaviour {} targets {:?}, which is neither an origin nor an origin group",
                    b.path_pattern, b.target
                ));
            }
        }
        let error_caching_min_ttl = self
            .error_responses(&config["CustomErrorResponses"])
            .map_err(|e| format!("{name}: {e}"))?;
        Ok(Distribution {
            origins,
            origin_groups,
            behaviors,
            default_behavior,
            error_caching_min_ttl,
            default_error_caching_min_ttl: DEFAULT_ERROR_CACHING_MIN_TTL,
        })
    }

    fn origins(&self, v: &Yaml) -> Result<HashMap<String, OriginConfig>, String> {
        let items = match v {
            Yaml::Array(a) => a,
            _ => return Err("DistributionConfig.Origins is not a list".into()),
        };
        let mut out = HashMap::new();
        for o in items {
            let id = self.string(&o["Id"], "Origins[].Id")?;
            let custom = &o["CustomOriginConfig"];
            let read_timeout = self
                .optional_number(&custom["OriginReadTimeout"], "OriginReadTimeout")?
                .unwrap_or(30);
            let connect_timeout = self
                .optional_number(&o["ConnectionTimeout"], "ConnectionTimeout")?
                .unwrap_or(10);
            let origin_path = match &o["OriginPath"] {
                Yaml::BadValue | Yaml::Null => String::new(),
                p => self.string(p, "OriginPath")?,
            };
            out.insert(
                id.clone(),
                OriginConfig {
                    id,
                    s3: !o["S3OriginConfig"].is_badvalue(),
                    origin_path,
                    read_timeout: Duration::from_secs(read_timeout),
                    connect_timeout: Duration::from_secs(connect_timeout),
                },
            );
        }
        Ok(out)
    }

    fn origin_groups(&self, v: &Yaml) -> Result<HashMap<String, OriginGroup>, String> {
        let items = match &v["Items"] {
            Yaml::Array(a) => a.clone(),
            _ => vec![],
        };
        let mut out = HashMap::new();
        for g in &items {
            let id = self.string(&g["Id"], "OriginGroups.Items[].Id")?;
            let members = match &g["Members"]["Items"] {
                Yaml::Array(a) => a
                    .iter()
                    .map(|m| self.string(&m["OriginId"], "Members.Items[].OriginId"))
                    .collect::<Result<Vec<_>, _>>()?,
                _ => return Err(format!("origin group {id}: no Members.Items")),
            };
            let [primary, secondary] = members.as_slice() else {
                return Err(format!(
                    "origin group {id}: {} members, not 2",
                    members.len()
                ));
            };
            let failover_statuses = match &g["FailoverCriteria"]["StatusCodes"]["Items"] {
                Yaml::Array(a) => a
                    .iter()
                    .map(|s| {
                        self.number(s, "FailoverCriteria.StatusCodes.Items")
                            .map(|n| n as u16)
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                _ => {
                    return Err(format!(
                        "origin group {id}: no FailoverCriteria.StatusCodes.Items"
                    ))
                }
            };
            out.insert(
                id.clone(),
                OriginGroup {
                    id,
                    primary: primary.clone(),
                    secondary: secondary.clone(),
                    failover_statuses,
                },
            );
        }
        Ok(out)
    }

    fn behavior(&self, b: &Yaml, default: bool) -> Result<Behavior, String> {
        let path_pattern = if default {
            "*".to_string()
        } else {
            self.string(&b["PathPattern"], "CacheBehaviors[].PathPattern")?
        };
        let what = |field: &str| format!("behaviour {path_pattern}: {field}");
        if !b["ForwardedValues"].is_badvalue() {
            return Err(what(
                "legacy ForwardedValues are not modelled by the stand-in",
            ));
        }
        if !b["TrustedSigners"].is_badvalue() {
            return Err(what(
                "legacy TrustedSigners are not modelled (use TrustedKeyGroups)",
            ));
        }
        let target = self.string(&b["TargetOriginId"], &what("TargetOriginId"))?;
        let methods = |v: &Yaml, field: &str| -> Result<Vec<String>, String> {
            let m = self.strings(v, &what(field))?;
            Ok(if m.is_empty() {
                vec!["GET".into(), "HEAD".into()]
            } else {
                m
            })
        };
        let cache_policy = self
            .cache_policy(&b["CachePolicyId"])
            .map_err(|e| what(&e))?;
        let origin_request_policy = match &b["OriginRequestPolicyId"] {
            Yaml::BadValue | Yaml::Null => None,
            id => Some(self.origin_request_policy(id).map_err(|e| what(&e))?),
        };
        let response_headers_policy = match &b["ResponseHeadersPolicyId"] {
            Yaml::BadValue | Yaml::Null => None,
            id => Some(self.response_headers_policy(id).map_err(|e| what(&e))?),
        };
        let trusted_key_groups = match &b["TrustedKeyGroups"] {
            Yaml::Array(a) => a
                .iter()
                .map(|g| match self.resource(g) {
                    Some((name, r)) if r["Type"].as_str() == Some("AWS::CloudFront::KeyGroup") => {
                        Ok(name.to_string())
                    }
                    _ => Err(what(&format!(
                        "TrustedKeyGroups names {g:?}, not a KeyGroup of this template"
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => vec![],
        };
        Ok(Behavior {
            target,
            allowed_methods: methods(&b["AllowedMethods"], "AllowedMethods")?,
            cached_methods: methods(&b["CachedMethods"], "CachedMethods")?,
            cache_policy,
            origin_request_policy,
            response_headers_policy,
            trusted_key_groups,
            path_pattern,
        })
    }

    fn cache_policy(&self, id: &Yaml) -> Result<CachePolicy, String> {
        if id.is_badvalue() {
            return Err("no CachePolicyId (legacy cache settings are not modelled)".into());
        }
        let Some((name, r)) = self.resource(id) else {
            let id = self.string(id, "CachePolicyId")?;
            return managed_cache_policy(&id)
                .ok_or_else(|| format!("CachePolicyId {id}: neither a policy of this template nor a managed policy the stand-in knows"));
        };
        if r["Type"].as_str() != Some("AWS::CloudFront::CachePolicy") {
            return Err(format!(
                "CachePolicyId names {name}, not an AWS::CloudFront::CachePolicy"
            ));
        }
        let c = &r["Properties"]["CachePolicyConfig"];
        let what = |f: &str| format!("{name}.{f}");
        let min_ttl = self.number(&c["MinTTL"], &what("MinTTL"))?;
        // The API reference's defaults: DefaultTTL 86400 (or MinTTL if larger), MaxTTL
        // 31536000 (or DefaultTTL if larger).
        // https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_CachePolicyConfig.html
        let default_ttl = self
            .optional_number(&c["DefaultTTL"], &what("DefaultTTL"))?
            .unwrap_or(86400.max(min_ttl));
        let max_ttl = self
            .optional_number(&c["MaxTTL"], &what("MaxTTL"))?
            .unwrap_or(31_536_000.max(default_ttl));
        let p = &c["ParametersInCacheKeyAndForwardedToOrigin"];
        Ok(CachePolicy {
            name: name.to_string(),
            min_ttl,
            default_ttl,
            max_ttl,
            headers: self
                .selection(
                    &p["HeadersConfig"],
                    "HeaderBehavior",
                    "Headers",
                    &what("HeadersConfig"),
                )?
                .0,
            cookies: self
                .selection(
                    &p["CookiesConfig"],
                    "CookieBehavior",
                    "Cookies",
                    &what("CookiesConfig"),
                )?
                .0,
            query_strings: self
                .selection(
                    &p["QueryStringsConfig"],
                    "QueryStringBehavior",
                    "QueryStrings",
                    &what("QueryStringsConfig"),
                )?
                .0,
        })
    }

    fn origin_request_policy(&self, id: &Yaml) -> Result<OriginRequestPolicy, String> {
        let Some((name, r)) = self.resource(id) else {
            let id = self.string(id, "OriginRequestPolicyId")?;
            return managed_origin_request_policy(&id)
                .ok_or_else(|| format!("OriginRequestPolicyId {id}: neither a policy of this template nor a managed policy the stand-in knows"));
        };
        if r["Type"].as_str() != Some("AWS::CloudFront::OriginRequestPolicy") {
            return Err(format!(
                "OriginRequestPolicyId names {name}, not an AWS::CloudFront::OriginRequestPolicy"
            ));
        }
        let c = &r["Properties"]["OriginRequestPolicyConfig"];
        let what = |f: &str| format!("{name}.{f}");
        let (headers, forward_host) = self.selection(
            &c["HeadersConfig"],
            "HeaderBehavior",
            "Headers",
            &what("HeadersConfig"),
        )?;
        Ok(OriginRequestPolicy {
            name: name.to_string(),
            headers,
            forward_host,
            cookies: self
                .selection(
                    &c["CookiesConfig"],
                    "CookieBehavior",
                    "Cookies",
                    &what("CookiesConfig"),
                )?
                .0,
            query_strings: self
                .selection(
                    &c["QueryStringsConfig"],
                    "QueryStringBehavior",
                    "QueryStrings",
                    &what("QueryStringsConfig"),
                )?
                .0,
        })
    }

    /// A `{XBehavior, Xs}` config as a selection, and whether it forwards `Host`.
    /// <https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_OriginRequestPolicyHeadersConfig.html>
    /// (`allViewer`, `allViewerAndWhitelistCloudFront`, `allExcept`; CloudFront-* headers are
    /// generated by CloudFront, which the stand-in does not, so they select nothing here).
    fn selection(
        &self,
        config: &Yaml,
        behavior_key: &str,
        names_key: &str,
        what: &str,
    ) -> Result<(Selection, bool), String> {
        if config.is_badvalue() {
            return Ok((Selection::None, false));
        }
        let behavior = self.string(&config[behavior_key], &format!("{what}.{behavior_key}"))?;
        let names = self.strings(&config[names_key], &format!("{what}.{names_key}"))?;
        Ok(match behavior.as_str() {
            "none" => (Selection::None, false),
            "whitelist" => {
                let host = names.iter().any(|n| n.eq_ignore_ascii_case("host"));
                (Selection::Only(names), host)
            }
            "allExcept" => {
                let host = !names.iter().any(|n| n.eq_ignore_ascii_case("host"));
                (Selection::AllExcept(names), host)
            }
            "all" | "allViewer" | "allViewerAndWhitelistCloudFront" => (Selection::All, true),
            other => return Err(format!("{what}.{behavior_key}: unknown value {other:?}")),
        })
    }

    fn response_headers_policy(&self, id: &Yaml) -> Result<ResponseHeadersPolicy, String> {
        let Some((name, r)) = self.resource(id) else {
            let id = self.string(id, "ResponseHeadersPolicyId")?;
            return managed_response_headers_policy(&id)
                .ok_or_else(|| format!("ResponseHeadersPolicyId {id}: neither a policy of this template nor a managed policy the stand-in knows"));
        };
        if r["Type"].as_str() != Some("AWS::CloudFront::ResponseHeadersPolicy") {
            return Err(format!("ResponseHeadersPolicyId names {name}, not an AWS::CloudFront::ResponseHeadersPolicy"));
        }
        let c = &r["Properties"]["ResponseHeadersPolicyConfig"];
        let what = |f: &str| format!("{name}.{f}");
        let cors = match &c["CorsConfig"] {
            Yaml::BadValue | Yaml::Null => None,
            cc => Some(Cors {
                allow_origins: self.strings(
                    &cc["AccessControlAllowOrigins"],
                    &what("AccessControlAllowOrigins"),
                )?,
                allow_methods: self.strings(
                    &cc["AccessControlAllowMethods"],
                    &what("AccessControlAllowMethods"),
                )?,
                allow_headers: self.strings(
                    &cc["AccessControlAllowHeaders"],
                    &what("AccessControlAllowHeaders"),
                )?,
                expose_headers: self.strings(
                    &cc["AccessControlExposeHeaders"],
                    &what("AccessControlExposeHeaders"),
                )?,
                allow_credentials: self.bool(&cc["AccessControlAllowCredentials"], false),
                max_age: self.optional_number(
                    &cc["AccessControlMaxAgeSec"],
                    &what("AccessControlMaxAgeSec"),
                )?,
                origin_override: self.bool(&cc["OriginOverride"], false),
            }),
        };
        let mut custom_headers = vec![];
        if let Yaml::Array(items) = &c["CustomHeadersConfig"]["Items"] {
            for h in items {
                custom_headers.push((
                    self.string(&h["Header"], &what("CustomHeadersConfig.Items[].Header"))?,
                    self.string(&h["Value"], &what("CustomHeadersConfig.Items[].Value"))?,
                    self.bool(&h["Override"], false),
                ));
            }
        }
        Ok(ResponseHeadersPolicy {
            name: name.to_string(),
            cors,
            custom_headers,
        })
    }

    fn error_responses(&self, v: &Yaml) -> Result<HashMap<u16, u64>, String> {
        let items = match v {
            Yaml::Array(a) => a.clone(),
            Yaml::Hash(_) => match &v["Items"] {
                Yaml::Array(a) => a.clone(),
                _ => vec![],
            },
            _ => vec![],
        };
        let mut out = HashMap::new();
        for e in &items {
            let code = self.number(&e["ErrorCode"], "CustomErrorResponses[].ErrorCode")? as u16;
            if !e["ResponsePagePath"].is_badvalue() || !e["ResponseCode"].is_badvalue() {
                return Err(format!(
                    "CustomErrorResponses {code}: custom error pages are not modelled by the stand-in"
                ));
            }
            let ttl = self
                .optional_number(&e["ErrorCachingMinTTL"], "ErrorCachingMinTTL")?
                .unwrap_or(DEFAULT_ERROR_CACHING_MIN_TTL);
            out.insert(code, ttl);
        }
        Ok(out)
    }
}

/// The managed cache policies the stand-in knows, by id.
/// <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-cache-policies.html>
fn managed_cache_policy(id: &str) -> Option<CachePolicy> {
    let p = |name: &str, min, default, max| CachePolicy {
        name: name.to_string(),
        min_ttl: min,
        default_ttl: default,
        max_ttl: max,
        headers: Selection::None,
        cookies: Selection::None,
        query_strings: Selection::None,
    };
    match id {
        "4135ea2d-6df8-44a3-9df3-4b5a84be39ad" => Some(p("Managed-CachingDisabled", 0, 0, 0)),
        "658327ea-f89d-4fab-a63d-7e88639e58f6" => {
            Some(p("Managed-CachingOptimized", 1, 86400, 31_536_000))
        }
        "b2884449-e4de-46a7-ac36-70bc7f1ddd6d" => Some(p(
            "Managed-CachingOptimizedForUncompressedObjects",
            1,
            86400,
            31_536_000,
        )),
        _ => None,
    }
}

/// The managed origin request policies the stand-in knows, by id.
/// <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-origin-request-policies.html>
pub fn managed_origin_request_policy(id: &str) -> Option<OriginRequestPolicy> {
    let p = |name: &str, headers, forward_host, all: bool| OriginRequestPolicy {
        name: name.to_string(),
        headers,
        forward_host,
        cookies: if all { Selection::All } else { Selection::None },
        query_strings: if all { Selection::All } else { Selection::None },
    };
    let names = |n: &[&str]| Selection::Only(n.iter().map(|s| s.to_string()).collect());
    match id {
        "216adef6-5c7f-47e4-b989-5492eafa07d3" => {
            Some(p("Managed-AllViewer", Selection::All, true, true))
        }
        "b689b0a8-53d0-40ab-baf2-68738e2966ac" => Some(p(
            "Managed-AllViewerExceptHostHeader",
            Selection::AllExcept(vec!["host".into()]),
            false,
            true,
        )),
        "88a5eaf4-2fd4-4709-b370-b4c650ea3fcf" => Some(p(
            "Managed-CORS-S3Origin",
            names(&[
                "origin",
                "access-control-request-headers",
                "access-control-request-method",
            ]),
            false,
            false,
        )),
        "59781a5b-3903-41f3-afcb-af62929ccde1" => Some(p(
            "Managed-CORS-CustomOrigin",
            names(&["origin"]),
            false,
            false,
        )),
        _ => None,
    }
}

/// The managed response headers policies the stand-in knows, by id (their CORS part).
/// <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-response-headers-policies.html>
fn managed_response_headers_policy(id: &str) -> Option<ResponseHeadersPolicy> {
    let all = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match id {
        "60669652-455b-4ae9-85a4-c4c02393f86c" => Some(ResponseHeadersPolicy {
            name: "Managed-SimpleCORS".into(),
            cors: Some(Cors {
                allow_origins: all(&["*"]),
                allow_methods: all(&["GET", "HEAD"]),
                origin_override: false,
                ..Cors::default()
            }),
            custom_headers: vec![],
        }),
        "5cc3b908-e619-4b99-88e5-2cf7f45965bd" => Some(ResponseHeadersPolicy {
            name: "Managed-CORS-With-Preflight".into(),
            cors: Some(Cors {
                allow_origins: all(&["*"]),
                allow_methods: all(&["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]),
                allow_headers: all(&["*"]),
                expose_headers: all(&["*"]),
                origin_override: false,
                ..Cors::default()
            }),
            custom_headers: vec![],
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::wildcard_match;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("/renditions/*", "/renditions/k/seg_1.m4s"));
        assert!(wildcard_match("/a/*", "/a/"));
        assert!(!wildcard_match("/a/*", "/a"));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("/a?c", "/abc"));
        assert!(!wildcard_match("/a?c", "/ac"));
        assert!(!wildcard_match("/Renditions/*", "/renditions/x"));
        assert!(wildcard_match(
            "http://h/*game*.zip*",
            "http://h/x_game_download.zip?l=y"
        ));
        assert!(wildcard_match("*a*b*", "xxaxxbxx"));
        assert!(!wildcard_match("*a*b", "xxaxxbxx"));
    }
}
