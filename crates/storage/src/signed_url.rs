//! Expiring, HMAC-signed URLs for the embedded object route: the stand-in for S3 presigned URLs.
//! The signature covers the method, the object key and the expiry; any change is refused. A part
//! URL of a multipart upload also signs the upload id and the part number
//! (`&upload_id=..&part=..`), so it writes that part of that upload and nothing else.

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

/// The part of a multipart upload a URL writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part<'a> {
    pub upload_id: &'a str,
    pub number: u32,
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

    fn mac(&self, method: SignedMethod, key: &str, expires: i64, part: Option<Part>) -> Vec<u8> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes keys of any length");
        mac.update(method.as_str().as_bytes());
        mac.update(b"\n");
        mac.update(key.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        if let Some(Part { upload_id, number }) = part {
            mac.update(format!("\npart\n{upload_id}\n{number}").as_bytes());
        }
        mac.finalize().into_bytes().to_vec()
    }

    /// `{base}/objects/{key}?method=..&expires=..&signature=..`
    pub fn sign(&self, base_url: &str, method: SignedMethod, key: &str, expires: i64) -> String {
        self.sign_with(base_url, method, key, expires, None)
    }

    /// The URL a client PUTs one part of a multipart upload to:
    /// `{base}/objects/{key}?method=PUT&upload_id=..&part=..&expires=..&signature=..`.
    pub fn sign_part(&self, base_url: &str, key: &str, part: Part, expires: i64) -> String {
        self.sign_with(base_url, SignedMethod::Put, key, expires, Some(part))
    }

    fn sign_with(
        &self,
        base_url: &str,
        method: SignedMethod,
        key: &str,
        expires: i64,
        part: Option<Part>,
    ) -> String {
        let sig = hex::encode(self.mac(method, key, expires, part));
        let path: String = key
            .split('/')
            .map(|s| {
                percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join("/");
        let part = part.map_or(String::new(), |p| {
            format!("&upload_id={}&part={}", p.upload_id, p.number)
        });
        format!(
            "{base_url}{OBJECT_ROUTE}{path}?method={}{part}&expires={expires}&signature={sig}",
            method.as_str()
        )
    }

    /// Checks a signature; `part` is the upload id and part number the URL names, if any (a
    /// whole-object URL does not verify as a part URL, nor the other way round).
    pub fn verify(
        &self,
        method: SignedMethod,
        key: &str,
        expires: i64,
        signature_hex: &str,
        now: i64,
    ) -> Result<(), SignatureError> {
        self.verify_part(method, key, None, expires, signature_hex, now)
    }

    pub fn verify_part(
        &self,
        method: SignedMethod,
        key: &str,
        part: Option<Part>,
        expires: i64,
        signature_hex: &str,
        now: i64,
    ) -> Result<(), SignatureError> {
        let given = hex::decode(signature_hex).map_err(|_| SignatureError::Invalid)?;
        if !constant_time_eq(&given, &self.mac(method, key, expires, part)) {
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

    #[test]
    fn part_urls_sign_their_upload_and_number() {
        let s = UrlSigner::new(b"k");
        let key = "uploads/abc/source.mp4";
        let part = Part {
            upload_id: "u1",
            number: 3,
        };
        let url = s.sign_part("http://h", key, part, 2000);
        assert!(url.contains("?method=PUT&upload_id=u1&part=3&expires=2000&signature="));
        let sig = url.rsplit("signature=").next().unwrap();
        let put = SignedMethod::Put;
        assert_eq!(s.verify_part(put, key, Some(part), 2000, sig, 1000), Ok(()));
        for other in [
            Part { number: 4, ..part },
            Part {
                upload_id: "u2",
                ..part
            },
        ] {
            let r = s.verify_part(put, key, Some(other), 2000, sig, 1000);
            assert_eq!(r, Err(SignatureError::Invalid));
        }
        // A part URL is not a whole-object URL, nor the other way round.
        assert_eq!(
            s.verify(put, key, 2000, sig, 1000),
            Err(SignatureError::Invalid)
        );
        let whole = s.sign("http://h", put, key, 2000);
        let sig = whole.rsplit("signature=").next().unwrap();
        let r = s.verify_part(put, key, Some(part), 2000, sig, 1000);
        assert_eq!(r, Err(SignatureError::Invalid));
    }
}
