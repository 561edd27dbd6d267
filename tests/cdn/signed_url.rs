//! CloudFront signed URLs, verified as CloudFront verifies them on a behaviour with trusted key
//! groups: before its cache and before any origin is asked, so a refused request costs the
//! origins nothing and gets no byte of the object.
//!
//! A signed URL carries, after the viewer's own query parameters:
//! - canned policy: `Expires=E&Key-Pair-Id=K&Signature=S`; CloudFront rebuilds the policy
//!   `{"Statement":[{"Resource":"<url>","Condition":{"DateLessThan":{"AWS:EpochTime":E}}}]}`
//!   from the request URL and checks `S` against it, so it grants exactly that URL;
//!   <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-creating-signed-url-canned-policy.html>
//! - custom policy: `Policy=P&Key-Pair-Id=K&Signature=S`, `P` the policy JSON itself; its
//!   `Resource` may hold wildcards (`*` any run of characters, `/` included; `?` one), and it
//!   may add `DateGreaterThan` and `IpAddress` to the required `DateLessThan`;
//!   <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-creating-signed-url-custom-policy.html>
//!   ("The base URL including your query strings, if any, but excluding the CloudFront
//!   `Policy`, `Signature`, and `Key-Pair-Id` parameters"; "You can include only one
//!   statement").
//!
//! `P` and `S` use CloudFront's URL-safe base64 (`+`→`-`, `=`→`_`, `/`→`~`); `S` is RSA
//! PKCS#1 v1.5 over SHA-1 of the policy (SHA-256 when the URL says `Hash-Algorithm=SHA256`),
//! checked with the public key of the key group whose id is `K`. The URL compared with the
//! resource is the one the viewer asked for (scheme, `Host`, raw path and query) without the
//! signature parameters, which CloudFront also removes before it forwards a request
//! (<https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/QueryStringParameters.html>,
//! "CloudFront removes the following query string parameters before forwarding the rest of the
//! URL to your origin: Expires, Key-Pair-Id, Policy, Signature").

use std::net::IpAddr;

use base64::Engine;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::PublicKey as RsaPublicKey;

/// Query parameters that belong to the signature, never to the object.
pub const SIGNATURE_PARAMS: [&str; 5] = [
    "Expires",
    "Policy",
    "Signature",
    "Key-Pair-Id",
    "Hash-Algorithm",
];

/// The public keys of the trusted key groups, by key pair id.
#[derive(Clone, Default)]
pub struct KeyGroup {
    keys: Vec<(String, RsaPublicKey)>,
}

impl KeyGroup {
    /// `keys`: (key pair id, public key PEM: SubjectPublicKeyInfo, as CloudFront takes it, or
    /// PKCS#1).
    pub fn new(keys: &[(String, String)]) -> Result<Self, String> {
        let keys = keys
            .iter()
            .map(|(id, pem)| {
                let key = RsaPublicKey::from_public_key_pem(pem)
                    .or_else(|_| RsaPublicKey::from_pkcs1_pem(pem))
                    .map_err(|e| format!("public key {id}: {e}"))?;
                Ok((id.clone(), key))
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(KeyGroup { keys })
    }

    fn key(&self, id: &str) -> Option<&RsaPublicKey> {
        self.keys.iter().find(|(k, _)| k == id).map(|(_, key)| key)
    }
}

/// Why a signed URL was refused (each is a `403` with no origin fetch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No `Key-Pair-Id` / `Signature` / `Expires`-or-`Policy`.
    MissingSignature,
    /// A parameter that does not decode, or a policy that is not the JSON CloudFront takes.
    Malformed(String),
    /// `Key-Pair-Id` is not a key of a trusted key group.
    UnknownKey,
    /// The signature does not verify with that key.
    BadSignature,
    /// `DateLessThan` (or `Expires`) is past.
    Expired,
    /// `DateGreaterThan` is still ahead.
    NotYetValid,
    /// The URL is not the policy's `Resource`.
    WrongResource,
    /// The viewer's address is outside the policy's `IpAddress`.
    WrongAddress,
}

impl Refusal {
    /// The `Code` of CloudFront's XML error body.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::MissingSignature => "MissingKey",
            _ => "AccessDenied",
        }
    }
}

/// A viewer request, as the signature check sees it.
pub struct Viewer<'a> {
    /// `http://<Host header>` (the stand-in listens on plain HTTP).
    pub origin: &'a str,
    /// The raw path, as received.
    pub path: &'a str,
    /// The raw query pairs, in order (`name=value`, still percent-encoded).
    pub query: &'a [String],
    pub ip: IpAddr,
    /// Seconds since the epoch.
    pub now: i64,
}

/// Checks the signed URL of `viewer` against `keys`.
pub fn verify(keys: &KeyGroup, viewer: &Viewer<'_>) -> Result<(), Refusal> {
    let param = |name: &str| {
        viewer.query.iter().find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then(|| percent_decode(v))
        })
    };
    let key_id = param("Key-Pair-Id").ok_or(Refusal::MissingSignature)?;
    let signature = param("Signature").ok_or(Refusal::MissingSignature)?;
    let signature = cloudfront_base64_decode(&signature)
        .ok_or_else(|| Refusal::Malformed("Signature is not CloudFront base64".into()))?;
    let url = resource_url(viewer);
    let (policy, canned) = match (param("Policy"), param("Expires")) {
        (Some(p), _) => (
            cloudfront_base64_decode(&p)
                .ok_or_else(|| Refusal::Malformed("Policy is not CloudFront base64".into()))?,
            false,
        ),
        (None, Some(e)) => {
            let expires: i64 = e
                .parse()
                .map_err(|_| Refusal::Malformed(format!("Expires={e} is not a number")))?;
            (canned_policy(&url, expires).into_bytes(), true)
        }
        (None, None) => return Err(Refusal::MissingSignature),
    };
    let key = keys.key(&key_id).ok_or(Refusal::UnknownKey)?;
    let verified = match param("Hash-Algorithm").as_deref() {
        None | Some("SHA1") => key.pkcs1v15_verify::<sha1::Sha1>(&policy, &signature),
        Some("SHA256") => key.pkcs1v15_verify::<sha2::Sha256>(&policy, &signature),
        Some(other) => return Err(Refusal::Malformed(format!("Hash-Algorithm={other}"))),
    };
    verified.map_err(|_| Refusal::BadSignature)?;
    let statement = Statement::parse(&policy)?;
    if !canned {
        if let Some(resource) = &statement.resource {
            if !super::template::wildcard_match(resource, &url) {
                return Err(Refusal::WrongResource);
            }
        }
    }
    // "CloudFront checks the expiration date and time in a signed URL at the time of the
    // HTTP request."
    // https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-signed-urls.html#private-content-check-expiration
    if viewer.now >= statement.date_less_than {
        return Err(Refusal::Expired);
    }
    if let Some(start) = statement.date_greater_than {
        if viewer.now <= start {
            return Err(Refusal::NotYetValid);
        }
    }
    if let Some(cidr) = &statement.source_ip {
        if !in_cidr(viewer.ip, cidr)? {
            return Err(Refusal::WrongAddress);
        }
    }
    Ok(())
}

/// The URL a policy is about: the viewer's URL without the signature parameters.
pub fn resource_url(viewer: &Viewer<'_>) -> String {
    let rest: Vec<&str> = viewer
        .query
        .iter()
        .filter(|pair| !is_signature_param(pair))
        .map(String::as_str)
        .collect();
    if rest.is_empty() {
        format!("{}{}", viewer.origin, viewer.path)
    } else {
        format!("{}{}?{}", viewer.origin, viewer.path, rest.join("&"))
    }
}

/// Whether a raw `name=value` pair is one of the signature's.
pub fn is_signature_param(pair: &str) -> bool {
    let name = pair.split_once('=').map_or(pair, |(k, _)| k);
    SIGNATURE_PARAMS.contains(&name)
}

/// The canned policy CloudFront rebuilds for `Expires=expires` on `url`.
pub fn canned_policy(url: &str, expires: i64) -> String {
    format!(
        r#"{{"Statement":[{{"Resource":"{url}","Condition":{{"DateLessThan":{{"AWS:EpochTime":{expires}}}}}}}]}}"#
    )
}

/// CloudFront's URL-safe base64 (standard base64 with `+`→`-`, `=`→`_`, `/`→`~`), decoded.
pub fn cloudfront_base64_decode(text: &str) -> Option<Vec<u8>> {
    let standard: String = text
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '=',
            '~' => '/',
            c => c,
        })
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(standard)
        .ok()
}

/// The one statement of a policy.
struct Statement {
    resource: Option<String>,
    date_less_than: i64,
    date_greater_than: Option<i64>,
    source_ip: Option<String>,
}

impl Statement {
    fn parse(policy: &[u8]) -> Result<Statement, Refusal> {
        let bad = |why: &str| Refusal::Malformed(format!("policy: {why}"));
        let v: serde_json::Value =
            serde_json::from_slice(policy).map_err(|e| bad(&e.to_string()))?;
        let statements = v["Statement"]
            .as_array()
            .ok_or_else(|| bad("no Statement list"))?;
        let [s] = statements.as_slice() else {
            return Err(bad("not exactly one statement"));
        };
        let resource = match &s["Resource"] {
            serde_json::Value::Null => None,
            serde_json::Value::String(r) => Some(r.clone()),
            _ => return Err(bad("Resource is not a string")),
        };
        let c = &s["Condition"];
        let epoch = |name: &str| c[name]["AWS:EpochTime"].as_i64();
        let date_less_than = epoch("DateLessThan").ok_or_else(|| bad("no DateLessThan"))?;
        let source_ip = match &c["IpAddress"]["AWS:SourceIp"] {
            serde_json::Value::Null => None,
            serde_json::Value::String(ip) => Some(ip.clone()),
            _ => return Err(bad("AWS:SourceIp is not a string")),
        };
        Ok(Statement {
            resource,
            date_less_than,
            date_greater_than: epoch("DateGreaterThan"),
            source_ip,
        })
    }
}

/// Whether `ip` is in `cidr` (IPv4 `a.b.c.d/n`; CloudFront's policies take IPv4 only).
fn in_cidr(ip: IpAddr, cidr: &str) -> Result<bool, Refusal> {
    let bad = || Refusal::Malformed(format!("AWS:SourceIp {cidr:?}"));
    let (addr, bits) = cidr.split_once('/').unwrap_or((cidr, "32"));
    let addr: std::net::Ipv4Addr = addr.parse().map_err(|_| bad())?;
    let bits: u32 = bits.parse().map_err(|_| bad())?;
    if bits > 32 {
        return Err(bad());
    }
    let IpAddr::V4(ip) = ip else {
        return Ok(false);
    };
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    Ok(u32::from(ip) & mask == u32::from(addr) & mask)
}

/// Percent-decoding of a query value (invalid escapes are kept as they are).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
