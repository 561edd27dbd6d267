//! Expiring, HMAC-signed URLs for the embedded object route: the stand-in for S3 presigned URLs.
//! The signature covers the method, the object key and the expiry, and for a download the file
//! name it is saved under (`filename`: the route answers `Content-Disposition: attachment`, as
//! S3 does for `response-content-disposition`); any change is refused.

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

    fn mac(
        &self,
        method: SignedMethod,
        key: &str,
        expires: i64,
        filename: Option<&str>,
    ) -> Vec<u8> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes keys of any length");
        mac.update(method.as_str().as_bytes());
        mac.update(b"\n");
        mac.update(key.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        if let Some(name) = filename {
            // Only download URLs have it: every other URL's signature is as it always was.
            mac.update(b"\nattachment\n");
            mac.update(name.as_bytes());
        }
        mac.finalize().into_bytes().to_vec()
    }

    /// `{base}/objects/{key}?method=..&expires=..&signature=..`
    pub fn sign(&self, base_url: &str, method: SignedMethod, key: &str, expires: i64) -> String {
        self.sign_with(base_url, method, key, expires, None)
    }

    /// A GET URL whose answer says `Content-Disposition: attachment; filename="<filename>"`
    /// (`&filename=` is signed too).
    pub fn sign_download(&self, base_url: &str, key: &str, expires: i64, filename: &str) -> String {
        self.sign_with(base_url, SignedMethod::Get, key, expires, Some(filename))
    }

    fn sign_with(
        &self,
        base_url: &str,
        method: SignedMethod,
        key: &str,
        expires: i64,
        filename: Option<&str>,
    ) -> String {
        let sig = hex::encode(self.mac(method, key, expires, filename));
        let path: String = key
            .split('/')
            .map(|s| {
                percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join("/");
        let mut url = format!(
            "{base_url}{OBJECT_ROUTE}{path}?method={}&expires={expires}&signature={sig}",
            method.as_str()
        );
        if let Some(name) = filename {
            let name =
                percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
            url.push_str(&format!("&filename={name}"));
        }
        url
    }

    pub fn verify(
        &self,
        method: SignedMethod,
        key: &str,
        expires: i64,
        signature_hex: &str,
        now: i64,
    ) -> Result<(), SignatureError> {
        self.verify_download(method, key, expires, signature_hex, now, None)
    }

    /// [`UrlSigner::verify`] of a URL that may carry a signed `filename`.
    pub fn verify_download(
        &self,
        method: SignedMethod,
        key: &str,
        expires: i64,
        signature_hex: &str,
        now: i64,
        filename: Option<&str>,
    ) -> Result<(), SignatureError> {
        let given = hex::decode(signature_hex).map_err(|_| SignatureError::Invalid)?;
        if !constant_time_eq(&given, &self.mac(method, key, expires, filename)) {
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
    fn a_download_url_signs_its_file_name() {
        let s = UrlSigner::new(b"k");
        let key = "renditions/k/download.mp4";
        let url = s.sign_download("http://h", key, 2000, "My Film (720p).mp4");
        assert!(
            url.ends_with("&filename=My%20Film%20%28720p%29%2Emp4"),
            "{url}"
        );
        let sig = url
            .split("signature=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap();
        let name = Some("My Film (720p).mp4");
        let v = |n, sig: &str| s.verify_download(SignedMethod::Get, key, 2000, sig, 1000, n);
        assert_eq!(v(name, sig), Ok(()));
        // Another name, or none, is another URL.
        assert_eq!(v(Some("x.exe"), sig), Err(SignatureError::Invalid));
        assert_eq!(v(None, sig), Err(SignatureError::Invalid));
        let plain = s.sign("http://h", SignedMethod::Get, key, 2000);
        let plain_sig = plain.rsplit("signature=").next().unwrap();
        assert_eq!(v(name, plain_sig), Err(SignatureError::Invalid));
        assert_eq!(v(None, plain_sig), Ok(()));
    }

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
