//! Expiring, HMAC-signed URLs for the embedded object route: the stand-in for S3 presigned URLs.
//! The signature covers the method, the object key and the expiry; any change is refused.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use stream_core::ids::constant_time_eq;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedMethod {
    Get,
    Put,
}

impl SignedMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            SignedMethod::Get => "GET",
            SignedMethod::Put => "PUT",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "GET" => Some(SignedMethod::Get),
            "PUT" => Some(SignedMethod::Put),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the URL has expired")]
    Expired,
    #[error("the URL signature is invalid")]
    Invalid,
}

#[derive(Clone)]
pub struct UrlSigner {
    secret: Vec<u8>,
}

/// Route prefix of signed object URLs on the embedded server.
pub const OBJECT_ROUTE: &str = "/objects/";

impl UrlSigner {
    pub fn new(secret: &[u8]) -> Self {
        UrlSigner {
            secret: secret.to_vec(),
        }
    }

    fn mac(&self, method: SignedMethod, key: &str, expires: i64) -> Vec<u8> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes keys of any length");
        mac.update(method.as_str().as_bytes());
        mac.update(b"\n");
        mac.update(key.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// `{base}/objects/{key}?method=..&expires=..&signature=..`
    pub fn sign(&self, base_url: &str, method: SignedMethod, key: &str, expires: i64) -> String {
        let sig = hex::encode(self.mac(method, key, expires));
        let path: String = key
            .split('/')
            .map(|s| {
                percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join("/");
        format!(
            "{base_url}{OBJECT_ROUTE}{path}?method={}&expires={expires}&signature={sig}",
            method.as_str()
        )
    }

    pub fn verify(
        &self,
        method: SignedMethod,
        key: &str,
        expires: i64,
        signature_hex: &str,
        now: i64,
    ) -> Result<(), SignatureError> {
        let given = hex::decode(signature_hex).map_err(|_| SignatureError::Invalid)?;
        if !constant_time_eq(&given, &self.mac(method, key, expires)) {
            return Err(SignatureError::Invalid);
        }
        if now > expires {
            return Err(SignatureError::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify_round_trip_and_tamper() {
        let s = UrlSigner::new(b"k");
        let url = s.sign(
            "http://h",
            SignedMethod::Get,
            "uploads/abc/source.mp4",
            2000,
        );
        assert!(url.starts_with(
            "http://h/objects/uploads/abc/source%2Emp4?method=GET&expires=2000&signature="
        ));
        let sig = url.rsplit("signature=").next().unwrap();
        assert_eq!(
            s.verify(SignedMethod::Get, "uploads/abc/source.mp4", 2000, sig, 1000),
            Ok(())
        );
        assert_eq!(
            s.verify(SignedMethod::Get, "uploads/abc/source.mp4", 2000, sig, 2001),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            s.verify(SignedMethod::Put, "uploads/abc/source.mp4", 2000, sig, 1000),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            s.verify(SignedMethod::Get, "uploads/abd/source.mp4", 2000, sig, 1000),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            s.verify(SignedMethod::Get, "uploads/abc/source.mp4", 3000, sig, 1000),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            s.verify(
                SignedMethod::Get,
                "uploads/abc/source.mp4",
                2000,
                "zz",
                1000
            ),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            UrlSigner::new(b"other").verify(
                SignedMethod::Get,
                "uploads/abc/source.mp4",
                2000,
                sig,
                1000
            ),
            Err(SignatureError::Invalid)
        );
    }
}
