//! Bearer JWT verification with `jsonwebtoken`: HS256 with a shared secret, RS256/ES256 with
//! public keys from a JWKS (file or URL, e.g. Cognito). The `alg` of a token must be in the
//! allow-list, and the key is chosen by the algorithm's family, so an RS256 public key can never
//! be used as an HS256 secret (HS/RS confusion) and `alg: none` is refused.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

use crate::config::{ConfigError, JwtConfig};
use stream_core::error::{Error, Result};
use stream_core::model::Caller;

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StringOrList {
    One(String),
    Many(Vec<String>),
}

impl StringOrList {
    fn contains_word(&self, word: &str) -> bool {
        match self {
            StringOrList::One(s) => s.split([' ', ',']).any(|w| w == word),
            StringOrList::Many(v) => v.iter().any(|w| w == word),
        }
    }
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    #[allow(dead_code)]
    exp: u64,
    #[serde(default)]
    roles: Option<StringOrList>,
    #[serde(default)]
    scope: Option<StringOrList>,
    #[serde(default, rename = "cognito:groups")]
    cognito_groups: Option<StringOrList>,
}

const JWKS_TTL: Duration = Duration::from_secs(600);
const JWKS_MIN_REFRESH: Duration = Duration::from_secs(30);

enum JwksSource {
    File,
    Url(String),
}

struct JwksCache {
    source: JwksSource,
    keys: RwLock<(JwkSet, Option<Instant>)>,
    http: reqwest::Client,
}

pub struct TokenVerifier {
    secret: Option<DecodingKey>,
    jwks: Option<Arc<JwksCache>>,
    algorithms: Vec<Algorithm>,
    issuer: Option<String>,
    audience: Option<String>,
}

fn cfg_err(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        message: message.into(),
    }
}

/// The longest bearer token accepted (SPEC §2: 8 KiB), and its header (`Bearer ` + token).
pub const MAX_BEARER_TOKEN: usize = 8 * 1024;
const MAX_BEARER_HEADER: usize = MAX_BEARER_TOKEN + "Bearer ".len();

/// The client that fetches a JWKS URL. TLS is rustls with the `ring` provider, which the JWT
/// signatures already link: no second crypto library is compiled into the embedded server.
/// Installed once per process (a provider another library installed first is kept).
fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
}

impl TokenVerifier {
    // Long because it checks every combination of key sources and algorithms at start-up, so a
    // misconfiguration stops the process with a message naming the variable.
    pub fn new(cfg: &JwtConfig) -> Result<Self, ConfigError> {
        let secret = cfg
            .secret
            .as_ref()
            .map(|s| DecodingKey::from_secret(s.as_bytes()));
        if let Some(s) = &cfg.secret {
            if s.len() < 16 {
                return Err(cfg_err(
                    "STREAM_JWT_SECRET",
                    "must be at least 16 characters",
                ));
            }
        }
        let jwks = match (&cfg.jwks_file, &cfg.jwks_url) {
            (Some(_), Some(_)) => {
                return Err(cfg_err(
                    "STREAM_JWT_JWKS_URL",
                    "set either STREAM_JWT_JWKS_FILE or STREAM_JWT_JWKS_URL, not both",
                ))
            }
            (Some(path), None) => Some(Arc::new(JwksCache {
                source: JwksSource::File,
                keys: RwLock::new((load_jwks_file(path)?, None)),
                http: http_client().map_err(|e| cfg_err("STREAM_JWT_JWKS_FILE", e.to_string()))?,
            })),
            (None, Some(url)) => Some(Arc::new(JwksCache {
                source: JwksSource::Url(url.clone()),
                keys: RwLock::new((JwkSet { keys: vec![] }, None)),
                http: http_client().map_err(|e| cfg_err("STREAM_JWT_JWKS_URL", e.to_string()))?,
            })),
            (None, None) => None,
        };
        let algorithms: Vec<Algorithm> = if cfg.algorithms.is_empty() {
            let mut v = vec![];
            if secret.is_some() {
                v.push(Algorithm::HS256);
            }
            if jwks.is_some() {
                v.extend([Algorithm::RS256, Algorithm::ES256]);
            }
            v
        } else {
            cfg.algorithms
                .iter()
                .map(|a| match a.as_str() {
                    "HS256" => Ok(Algorithm::HS256),
                    "RS256" => Ok(Algorithm::RS256),
                    "ES256" => Ok(Algorithm::ES256),
                    other => Err(cfg_err(
                        "STREAM_JWT_ALGORITHMS",
                        format!("unsupported algorithm `{other}` (HS256, RS256, ES256)"),
                    )),
                })
                .collect::<Result<_, _>>()?
        };
        if algorithms.is_empty() {
            return Err(cfg_err(
                "STREAM_JWT_SECRET",
                "no key configured: set STREAM_JWT_SECRET or a JWKS",
            ));
        }
        for alg in &algorithms {
            let ok = if *alg == Algorithm::HS256 {
                secret.is_some()
            } else {
                jwks.is_some()
            };
            if !ok {
                return Err(cfg_err(
                    "STREAM_JWT_ALGORITHMS",
                    format!("{alg:?} is allowed but no key for it is configured"),
                ));
            }
        }
        Ok(TokenVerifier {
            secret,
            jwks,
            algorithms,
            issuer: cfg.issuer.clone(),
            audience: cfg.audience.clone(),
        })
    }

    /// Verifies the `Authorization: Bearer <JWT>` header value.
    pub async fn verify_header(&self, header: Option<&str>) -> Result<Caller> {
        // Refused before any work (SPEC §2): no signature check, no JWKS fetch for a giant.
        if header.is_some_and(|h| h.len() > MAX_BEARER_HEADER) {
            let msg = format!("bearer token longer than {MAX_BEARER_TOKEN} bytes");
            return Err(Error::Unauthenticated(msg));
        }
        let header = header.ok_or_else(|| Error::Unauthenticated("missing bearer token".into()))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Error::Unauthenticated("authorization header is not a bearer token".into())
            })?;
        self.verify(token).await
    }

    pub async fn verify(&self, token: &str) -> Result<Caller> {
        let invalid = |why: &str| Error::Unauthenticated(format!("invalid token: {why}"));
        if token.len() > MAX_BEARER_TOKEN {
            return Err(invalid("longer than 8 KiB"));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed"))?;
        if !self.algorithms.contains(&header.alg) {
            return Err(invalid("algorithm not allowed"));
        }
        let key = match header.alg {
            Algorithm::HS256 => self
                .secret
                .clone()
                .ok_or_else(|| invalid("algorithm not allowed"))?,
            _ => {
                let jwks = self
                    .jwks
                    .as_ref()
                    .ok_or_else(|| invalid("algorithm not allowed"))?;
                jwks.key_for(header.kid.as_deref(), header.alg).await?
            }
        };
        let mut validation = Validation::new(header.alg);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 30;
        // A token not yet valid is refused like an expired one (SPEC §2).
        validation.validate_nbf = true;
        match &self.issuer {
            Some(iss) => validation.set_issuer(&[iss]),
            None => validation.iss = None,
        }
        match &self.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind::*;
            match e.kind() {
                ExpiredSignature => invalid("expired"),
                InvalidSignature => invalid("bad signature"),
                InvalidIssuer => invalid("wrong issuer"),
                InvalidAudience => invalid("wrong audience"),
                MissingRequiredClaim(c) => invalid(&format!("missing claim `{c}`")),
                _ => invalid("rejected"),
            }
        })?;
        let c = data.claims;
        if c.sub.is_empty() {
            return Err(invalid("empty subject"));
        }
        let is_admin = [&c.roles, &c.scope, &c.cognito_groups]
            .iter()
            .any(|claim| claim.as_ref().is_some_and(|v| v.contains_word("admin")));
        Ok(Caller {
            user_id: c.sub,
            is_admin,
        })
    }
}

fn load_jwks_file(path: &Path) -> Result<JwkSet, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| cfg_err("STREAM_JWT_JWKS_FILE", format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        cfg_err(
            "STREAM_JWT_JWKS_FILE",
            format!("{}: not a JWKS: {e}", path.display()),
        )
    })
}

impl JwksCache {
    async fn key_for(&self, kid: Option<&str>, alg: Algorithm) -> Result<DecodingKey> {
        if let Some(key) = self.lookup(kid, alg).await? {
            return Ok(key);
        }
        if let JwksSource::Url(url) = &self.source {
            // Unknown kid or stale cache: refetch (bounded, so forged kids cannot hammer the IdP).
            let stale = {
                let guard = self.keys.read().await;
                guard.1.is_none_or(|t| t.elapsed() > JWKS_MIN_REFRESH)
            };
            if stale {
                let set = self.fetch(url).await?;
                *self.keys.write().await = (set, Some(Instant::now()));
                if let Some(key) = self.lookup(kid, alg).await? {
                    return Ok(key);
                }
            }
        }
        Err(Error::Unauthenticated(
            "invalid token: unknown signing key".into(),
        ))
    }

    async fn lookup(&self, kid: Option<&str>, alg: Algorithm) -> Result<Option<DecodingKey>> {
        let guard = self.keys.read().await;
        if matches!(self.source, JwksSource::Url(_))
            && guard.1.is_none_or(|t| t.elapsed() > JWKS_TTL)
        {
            return Ok(None);
        }
        let jwk = match kid {
            Some(kid) => guard.0.find(kid),
            None if guard.0.keys.len() == 1 => guard.0.keys.first(),
            None => None,
        };
        let Some(jwk) = jwk else { return Ok(None) };
        // The key's own type must match the token's algorithm family.
        let family_ok = matches!(
            (&jwk.algorithm, alg),
            (
                jsonwebtoken::jwk::AlgorithmParameters::RSA(_),
                Algorithm::RS256
            ) | (
                jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_),
                Algorithm::ES256
            )
        );
        if !family_ok {
            return Err(Error::Unauthenticated(
                "invalid token: key does not match algorithm".into(),
            ));
        }
        DecodingKey::from_jwk(jwk)
            .map(Some)
            .map_err(|_| Error::Unauthenticated("invalid token: unusable key".into()))
    }

    async fn fetch(&self, url: &str) -> Result<JwkSet> {
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| Error::Unavailable(format!("JWKS fetch: {e}")))?;
        if !resp.status().is_success() {
            return Err(Error::Unavailable(format!(
                "JWKS fetch: status {}",
                resp.status()
            )));
        }
        resp.json::<JwkSet>()
            .await
            .map_err(|e| Error::Unavailable(format!("JWKS parse: {e}")))
    }
}

#[derive(Serialize)]
struct MintClaims<'a> {
    sub: &'a str,
    exp: u64,
    iat: u64,
    roles: &'a [&'a str],
}

/// Signs an HS256 token (the dev token of `streamd`, and tests).
pub fn mint_hs256(secret: &str, sub: &str, roles: &[&str], ttl: Duration) -> String {
    let now = chrono::Utc::now().timestamp().max(0) as u64;
    let claims = MintClaims {
        sub,
        exp: now + ttl.as_secs(),
        iat: now,
        roles,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 encoding of plain claims cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn verifier(extra: impl FnOnce(&mut JwtConfig)) -> TokenVerifier {
        let mut cfg = JwtConfig {
            secret: Some(SECRET.into()),
            ..Default::default()
        };
        extra(&mut cfg);
        TokenVerifier::new(&cfg).unwrap()
    }

    fn b64(v: &serde_json::Value) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    }

    fn sign(claims: serde_json::Value, secret: &str) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn future() -> u64 {
        chrono::Utc::now().timestamp() as u64 + 3600
    }

    #[tokio::test]
    async fn valid_token_gives_caller_and_admin_role() {
        let v = verifier(|_| {});
        let c = v
            .verify(&mint_hs256(SECRET, "alice", &[], Duration::from_secs(60)))
            .await
            .unwrap();
        assert_eq!(
            c,
            Caller {
                user_id: "alice".into(),
                is_admin: false
            }
        );
        let c = v
            .verify(&mint_hs256(
                SECRET,
                "root",
                &["admin"],
                Duration::from_secs(60),
            ))
            .await
            .unwrap();
        assert!(c.is_admin);
        let t = sign(
            serde_json::json!({"sub":"s","exp":future(),"scope":"read admin"}),
            SECRET,
        );
        assert!(v.verify(&t).await.unwrap().is_admin);
    }

    #[tokio::test]
    async fn refuses_expired_wrong_signature_malformed_and_missing_exp() {
        let v = verifier(|_| {});
        let expired = sign(serde_json::json!({"sub":"a","exp":1_000_000}), SECRET);
        let wrong = sign(
            serde_json::json!({"sub":"a","exp":future()}),
            "another-secret-of-enough-length",
        );
        let no_exp = sign(serde_json::json!({"sub":"a"}), SECRET);
        for t in [
            expired.as_str(),
            wrong.as_str(),
            no_exp.as_str(),
            "not.a.jwt",
            "",
            "abc",
        ] {
            assert!(
                matches!(v.verify(t).await, Err(Error::Unauthenticated(_))),
                "{t}"
            );
        }
    }

    #[tokio::test]
    async fn refuses_alg_none_and_unlisted_algorithms() {
        let v = verifier(|_| {});
        let none = format!(
            "{}.{}.",
            b64(&serde_json::json!({"alg":"none","typ":"JWT"})),
            b64(&serde_json::json!({"sub":"a","exp":future()}))
        );
        assert!(matches!(
            v.verify(&none).await,
            Err(Error::Unauthenticated(_))
        ));
        // HS512 signed with the right secret is still refused: not in the allow-list.
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &serde_json::json!({"sub":"a","exp":future()}),
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap();
        assert!(matches!(
            v.verify(&hs512).await,
            Err(Error::Unauthenticated(_))
        ));
        // An RS256 header without a JWKS configured is refused (no HS/RS confusion).
        let forged = format!(
            "{}.{}.{}",
            b64(&serde_json::json!({"alg":"RS256"})),
            b64(&serde_json::json!({"sub":"a","exp":future()})),
            "c2ln"
        );
        assert!(matches!(
            v.verify(&forged).await,
            Err(Error::Unauthenticated(_))
        ));
    }

    #[tokio::test]
    async fn issuer_and_audience_are_checked_when_configured() {
        let v = verifier(|c| {
            c.issuer = Some("https://idp".into());
            c.audience = Some("stream".into());
        });
        let good = sign(
            serde_json::json!({"sub":"a","exp":future(),"iss":"https://idp","aud":"stream"}),
            SECRET,
        );
        assert!(v.verify(&good).await.is_ok());
        let bad_iss = sign(
            serde_json::json!({"sub":"a","exp":future(),"iss":"https://evil","aud":"stream"}),
            SECRET,
        );
        let bad_aud = sign(
            serde_json::json!({"sub":"a","exp":future(),"iss":"https://idp","aud":"other"}),
            SECRET,
        );
        assert!(v.verify(&bad_iss).await.is_err());
        assert!(v.verify(&bad_aud).await.is_err());
    }

    #[tokio::test]
    async fn bearer_header_parsing() {
        let v = verifier(|_| {});
        assert!(v.verify_header(None).await.is_err());
        assert!(v.verify_header(Some("Basic abc")).await.is_err());
        assert!(v.verify_header(Some("Bearer ")).await.is_err());
        let t = mint_hs256(SECRET, "bob", &[], Duration::from_secs(60));
        assert_eq!(
            v.verify_header(Some(&format!("Bearer {t}")))
                .await
                .unwrap()
                .user_id,
            "bob"
        );
    }

    #[test]
    fn configuration_errors() {
        assert!(TokenVerifier::new(&JwtConfig::default()).is_err());
        assert!(TokenVerifier::new(&JwtConfig {
            secret: Some("short".into()),
            ..Default::default()
        })
        .is_err());
        let e = TokenVerifier::new(&JwtConfig {
            secret: Some(SECRET.into()),
            algorithms: vec!["RS256".into()],
            ..Default::default()
        });
        assert!(e.is_err(), "RS256 without a JWKS must be refused");
    }
}
