//! The embedded shape's edge signatures: `streamd` is its own CDN, so it checks the policies
//! itself. The same policy text as CloudFront's (`policy`), a `Resource` pattern on the request
//! path (and query), an expiry; signed with HMAC-SHA256 under a key derived from the session-
//! token key, and carried in the same query parameters (`Policy`, `Signature`, `Key-Pair-Id`),
//! so a player, a test or a reader sees one scheme in both shapes.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use stream_core::error::{Error, Result};
use stream_core::ids::constant_time_eq;

use super::policy;
use super::SIGNATURE_PARAMS;

/// The `Key-Pair-Id` of embedded signatures.
pub const LOCAL_KEY_ID: &str = "local";
/// Longest signed query accepted (a policy is ~200 bytes; anything huge is refused unread).
const MAX_QUERY: usize = 4096;

#[derive(Clone)]
pub struct LocalSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for LocalSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalSigner(<redacted>)")
    }
}

impl LocalSigner {
    pub fn new(key: &[u8]) -> Self {
        LocalSigner { key: key.to_vec() }
    }

    fn mac(&self, policy: &[u8]) -> Vec<u8> {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(policy);
        mac.finalize().into_bytes().to_vec()
    }

    /// `Policy=…&Key-Pair-Id=local&Signature=…` granting `resource` (a path pattern) until
    /// `expires`.
    pub fn grant(&self, resource: &str, expires: i64) -> String {
        let policy = policy::custom(resource, expires);
        format!(
            "Policy={}&Key-Pair-Id={LOCAL_KEY_ID}&Signature={}",
            policy::encode(policy.as_bytes()),
            policy::encode(&self.mac(policy.as_bytes()))
        )
    }

    /// Checks the signature of a request for `path` with raw query `query` at `now`: the
    /// policy's signature, its expiry, and that its resource matches the path and the rest of
    /// the query. Every refusal is `Forbidden` (403, as CloudFront answers), without detail.
    pub fn verify(&self, path: &str, query: &str, now: i64) -> Result<()> {
        let denied =
            || Error::Forbidden("the edge signature is missing, invalid or expired".into());
        if query.len() > MAX_QUERY {
            return Err(denied());
        }
        let (mut policy_b64, mut sig_b64, mut key_id) = (None, None, None);
        let mut rest = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let slot = match k {
                "Policy" => &mut policy_b64,
                "Signature" => &mut sig_b64,
                "Key-Pair-Id" => &mut key_id,
                // A canned `Expires` is never issued here.
                k if SIGNATURE_PARAMS.contains(&k) => return Err(denied()),
                _ => {
                    rest.push(pair);
                    continue;
                }
            };
            // A parameter given twice is ambiguous: refused.
            if slot.replace(v).is_some() {
                return Err(denied());
            }
        }
        let (Some(p), Some(s), Some(LOCAL_KEY_ID)) = (policy_b64, sig_b64, key_id) else {
            return Err(denied());
        };
        let (policy, sig) = policy::decode(p)
            .zip(policy::decode(s))
            .ok_or_else(denied)?;
        if !constant_time_eq(&sig, &self.mac(&policy)) {
            return Err(denied());
        }
        let grant = policy::parse(&policy).ok_or_else(denied)?;
        let url = match rest.is_empty() {
            true => path.to_string(),
            false => format!("{path}?{}", rest.join("&")),
        };
        if grant.expires <= now || !policy::resource_matches(&grant.resource, &url) {
            return Err(denied());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "/renditions/abc/seg_00001.m4s";

    fn q(signer: &LocalSigner, resource: &str, expires: i64) -> String {
        format!("session=s1&{}", signer.grant(resource, expires))
    }

    #[test]
    fn a_grant_opens_its_prefix_until_it_expires() {
        let s = LocalSigner::new(b"key");
        let query = q(&s, "/renditions/abc/*", 100);
        assert!(s.verify(P, &query, 99).is_ok());
        assert!(s.verify("/renditions/abc/init.mp4", &query, 99).is_ok());
        let refused = |path: &str, query: &str, now| s.verify(path, query, now).is_err();
        assert!(refused(P, &query, 100), "expired");
        assert!(
            refused("/renditions/abd/seg_00001.m4s", &query, 99),
            "other prefix"
        );
        assert!(refused(P, "session=s1", 99), "missing");
        assert!(refused(P, "", 99), "missing");
        let other = LocalSigner::new(b"other key");
        assert!(
            refused(P, &q(&other, "/renditions/abc/*", 100), 99),
            "other key"
        );
        // Tampered in each field.
        let later = q(&s, "/renditions/abc/*", 100_000);
        let later_policy = later.split('&').find(|p| p.starts_with("Policy=")).unwrap();
        let swapped: String = query
            .split('&')
            .map(|p| {
                if p.starts_with("Policy=") {
                    later_policy
                } else {
                    p
                }
            })
            .collect::<Vec<_>>()
            .join("&");
        assert!(refused(P, &swapped, 99), "policy swapped");
        assert!(refused(
            P,
            &query.replace("Key-Pair-Id=local", "Key-Pair-Id=x"),
            99
        ));
        let flipped = query.replace("Signature=", "Signature=A");
        assert!(refused(P, &flipped, 99), "signature");
        assert!(refused(P, &format!("{query}&Signature=x"), 99), "twice");
        assert!(
            refused(P, &format!("{query}&Expires=1"), 99),
            "canned mixed in"
        );
        assert!(refused(P, &"a".repeat(5000), 99), "huge");
    }
}
