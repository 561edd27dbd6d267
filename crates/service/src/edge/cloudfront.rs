//! CloudFront signed URLs (trusted key groups): the policy signed with RSA-SHA1, PKCS#1 v1.5
//! padding, as CloudFront verifies it
//! (<https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/CreateURL_General.html>).
//!
//! Written here on the RustCrypto `rsa` crate rather than taken from a CloudFront crate: the
//! ones published (`cloudfront-policy-signer` and similar) sign only canned policies, need
//! OpenSSL, or are unmaintained, and the whole scheme is a hash, a signature and an encoding.
//! The parameters are emitted in the order AWS's JavaScript signer
//! (`@aws-sdk/cloudfront-signer`) emits them, and a test compares our URLs with its URLs byte for
//! byte (PKCS#1 v1.5 signatures are deterministic).
//!
//! `rsa` 0.10, not 0.9: 0.10 does its private-key arithmetic in constant time (`crypto-bigint`),
//! which closes 0.9's advisory RUSTSEC-2023-0071 (Marvin: key timing observable over a
//! network). Besides, the signer only ever signs policies the service itself wrote.

use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::PrivateKey;
use sha1::Sha1;
use stream_core::error::{Error, Result};

use super::policy;

/// Signs with one key of the distribution's trusted key group.
#[derive(Clone)]
pub struct CloudFrontSigner {
    key_pair_id: String,
    key: SigningKey<Sha1>,
}

impl std::fmt::Debug for CloudFrontSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudFrontSigner")
            .field("key_pair_id", &self.key_pair_id)
            .finish_non_exhaustive()
    }
}

impl CloudFrontSigner {
    /// From the public key's id in the key group and the private key (PEM, PKCS#1 `BEGIN RSA
    /// PRIVATE KEY` as `openssl genrsa` writes it, or PKCS#8 `BEGIN PRIVATE KEY`).
    pub fn from_pem(key_pair_id: &str, pem: &str) -> Result<Self> {
        let pem = pem.trim();
        let key = PrivateKey::from_pkcs1_pem(pem)
            .or_else(|_| PrivateKey::from_pkcs8_pem(pem))
            // Never the key material in the message.
            .map_err(|_| Error::Internal("the edge private key is not an RSA PEM key".into()))?;
        let id_ok = !key_pair_id.is_empty()
            && key_pair_id.len() <= 128
            && key_pair_id.bytes().all(|b| b.is_ascii_alphanumeric());
        if !id_ok {
            return Err(Error::Internal(
                "the edge key pair id must be letters and digits".into(),
            ));
        }
        Ok(CloudFrontSigner {
            key_pair_id: key_pair_id.to_string(),
            key: SigningKey::new(key),
        })
    }

    pub fn key_pair_id(&self) -> &str {
        &self.key_pair_id
    }

    /// The signature of `policy` in CloudFront's URL-safe base64.
    fn signature(&self, policy: &str) -> String {
        match self.key.try_sign(policy.as_bytes()) {
            Ok(sig) => policy::encode(&sig.to_vec()),
            // Only for a key too small to hold the digest, which `from_pem` cannot produce
            // from a real CloudFront key (2048 bits); an empty signature is refused at the edge.
            Err(_) => String::new(),
        }
    }

    /// `Policy=…&Key-Pair-Id=…&Signature=…` for `policy` (its JSON text, signed as given).
    pub fn custom_query(&self, policy: &str) -> String {
        format!(
            "Policy={}&Key-Pair-Id={}&Signature={}",
            policy::encode(policy.as_bytes()),
            self.key_pair_id,
            self.signature(policy)
        )
    }

    /// `url` with a custom policy's parameters appended (after its own query, if any).
    pub fn custom_url(&self, url: &str, policy: &str) -> String {
        format!("{url}{}{}", separator(url), self.custom_query(policy))
    }

    /// `url` signed with a canned policy: exactly this URL (query included) until `expires`.
    pub fn canned_url(&self, url: &str, expires: i64) -> String {
        let policy = policy::custom(url, expires);
        format!(
            "{url}{}Expires={expires}&Key-Pair-Id={}&Signature={}",
            separator(url),
            self.key_pair_id,
            self.signature(&policy)
        )
    }
}

fn separator(url: &str) -> char {
    if url.contains('?') {
        '&'
    } else {
        '?'
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::signature::Verifier;

    /// A 1024-bit key made for these tests only (generating one is slow in debug builds); the
    /// byte-for-byte check against AWS's signer, with a 2048-bit key, is in tests/.
    pub(crate) const TEST_KEY: &str = "\
-----BEGIN RSA PRIVATE KEY-----\n\
MIICXAIBAAKBgQDWBFitVqD8kBemKm2M9q+gUvPoPhAUy9jO9OPIKQeQUoshFW4r\n\
w8LkuMS8+ws3AuCpssadCFy0NGDtmegpKwyqP/+ZnUMHJMFq8BDVkAHGekwPQzSd\n\
0cmMGLFJ4j5v/mvfJwft94UUb9yhOApfzSdRypqryX534uOPjh0PuwhiRwIDAQAB\n\
AoGAYl6PD+VQi6YDaLn5rqA4a12VhHr6U0S6+60uAXNyaZC3KFa8U9tf+lc+/on5\n\
RqjI8NceWVFdouqsXqmuPzXtVIA72dkRsaFESETzGsVXlck8WFGjRsukFUk0xQGF\n\
QMd0pPQFDK0NyItbIsKDahuUU1HOS9jPIwItpC1SkbLl2AECQQD1MGQIuj42Ad6U\n\
fB8H9seGZ5FotLGLvBueHsx43FZASicSRZViwvrX1cRsq+4+Dic7g1c5AKX/z2T9\n\
dsd7VuwBAkEA33QYpuuiJVW0Gmt441kCzdXPXNgvQD2VfL0mh3UIW3XtWA8FoF8p\n\
+k5ZzTqGEN3W0nzHnbccF9lPq3S4BoTuRwJBALvJjjQpAJC4qdKrpdChr3s/Q10g\n\
V4MgVT6rdAt1JhIjOP2DkcCMeTZpoQFiRRv+Fwo7s8gSuRDNtRlzqaDLmAECQCx8\n\
GVhJursCB9vmn2drVgKSWTjblPSODg+KPHxlESfcH0cTnoQhzeKV7IzN5NjAwT6g\n\
NsEwLfiVe6Xfk69AkYsCQEXIuQTGGQ6TC3+5YbVmWrsw8XMwIadazNzy7MP27HhU\n\
wDQWQSgyZftOLc5rlAYXRCrRECkMG57crbhmZ1UeCu0=\n\
-----END RSA PRIVATE KEY-----";

    fn signer() -> CloudFrontSigner {
        CloudFrontSigner::from_pem("K2JCJMDEHXQW5F", TEST_KEY).expect("test key")
    }

    #[test]
    fn signatures_verify_with_the_public_key() {
        let s = signer();
        let policy = policy::custom("https://cdn/renditions/ab/*", 2_000_000_000);
        let q = s.custom_query(&policy);
        let sig = q.rsplit("Signature=").next().unwrap();
        let sig = Signature::try_from(policy::decode(sig).unwrap().as_slice()).unwrap();
        let public = VerifyingKey::<Sha1>::new(s.key.as_ref().to_public_key());
        public.verify(policy.as_bytes(), &sig).expect("verifies");
        assert!(public.verify(b"another policy", &sig).is_err());
        assert!(q.starts_with(&format!(
            "Policy={}&Key-Pair-Id=K2JCJMDEHXQW5F&Signature=",
            policy::encode(policy.as_bytes())
        )));
        let u = s.canned_url("https://cdn/uploads/m/source.mp4?x=1", 5);
        assert!(u.starts_with("https://cdn/uploads/m/source.mp4?x=1&Expires=5&Key-Pair-Id="));
        assert_eq!(
            u,
            s.canned_url("https://cdn/uploads/m/source.mp4?x=1", 5),
            "deterministic"
        );
    }

    #[test]
    fn bad_keys_and_ids_are_refused_without_echoing_them() {
        let e = CloudFrontSigner::from_pem("K1", "-----BEGIN RSA PRIVATE KEY-----\nsecret\n")
            .unwrap_err();
        assert!(!format!("{e}").contains("secret"));
        assert!(CloudFrontSigner::from_pem("K 1&x=", TEST_KEY).is_err());
        assert!(!format!("{:?}", signer()).contains("BEGIN"));
    }
}
