//! Expiring, HMAC-signed URLs for the embedded object route: the stand-in for S3 presigned URLs.
//! The signature covers the method, the object key and the expiry; any change is refused. A part
//! URL of a multipart upload also signs the upload id and the part number
//! (`&upload_id=..&part=..`), so it writes that part of that upload and nothing else; a download
//! URL signs the file name it is saved under (`&filename=..`: the route answers
//! `Content-Disposition: attachment`, as S3 does for `response-content-disposition`).

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

/// What a URL is limited to beyond its method, key and expiry (signed with them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    /// One part of a multipart upload (PUT).
    Part(Part<'a>),
    /// A download, saved under this file name (GET).
    Attachment(&'a str),
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

    fn mac(&self, method: SignedMethod, key: &str, expires: i64, scope: Option<Scope>) -> Vec<u8> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes keys of any length");
        mac.update(method.as_str().as_bytes());
        mac.update(b"\n");
        mac.update(key.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        // Only part and download URLs have a scope: every other URL's signature is as it was.
        match scope {
            Some(Scope::Part(Part { upload_id, number })) => {
                mac.update(format!("\npart\n{upload_id}\n{number}").as_bytes());
            }
            Some(Scope::Attachment(name)) => {
                mac.update(b"\nattachment\n");
                mac.update(name.as_bytes());
            }
            None => {}
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
        self.sign_with(
            base_url,
            SignedMethod::Put,
            key,
            expires,
            Some(Scope::Part(part)),
        )
    }

    /// A GET URL whose answer says `Content-Disposition: attachment; filename="<filename>"`
    /// (`&filename=` is signed too).
    pub fn sign_download(&self, base_url: &str, key: &str, expires: i64, filename: &str) -> String {
        let scope = Some(Scope::Attachment(filename));
        self.sign_with(base_url, SignedMethod::Get, key, expires, scope)
    }

    fn sign_with(
        &self,
        base_url: &str,
        method: SignedMethod,
        key: &str,
        expires: i64,
        scope: Option<Scope>,
    ) -> String {
        let sig = hex::encode(self.mac(method, key, expires, scope));
        let path: String = key
            .split('/')
            .map(|s| {
                percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join("/");
        let (part, filename) = match scope {
            Some(Scope::Part(p)) => (
                format!("&upload_id={}&part={}", p.upload_id, p.number),
                String::new(),
            ),
            Some(Scope::Attachment(name)) => {
                let name =
                    percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
                (String::new(), format!("&filename={name}"))
            }
            None => (String::new(), String::new()),
        };
        format!(
            "{base_url}{OBJECT_ROUTE}{path}?method={}{part}&expires={expires}&signature={sig}{filename}",
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
        self.verify_scoped(method, key, None, expires, signature_hex, now)
    }

    /// Checks a signature of a URL limited to `scope` (a part, a download's file name) or to
    /// none: a URL of one scope never verifies as another's.
    pub fn verify_scoped(
        &self,
        method: SignedMethod,
        key: &str,
        scope: Option<Scope>,
        expires: i64,
        signature_hex: &str,
        now: i64,
    ) -> Result<(), SignatureError> {
        let given = hex::decode(signature_hex).map_err(|_| SignatureError::Invalid)?;
        if !constant_time_eq(&given, &self.mac(method, key, expires, scope)) {
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
        let v = |n: Option<&str>, sig: &str| {
            let scope = n.map(Scope::Attachment);
            s.verify_scoped(SignedMethod::Get, key, scope, 2000, sig, 1000)
        };
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
        assert_eq!(
            s.verify_scoped(put, key, Some(Scope::Part(part)), 2000, sig, 1000),
            Ok(())
        );
        for other in [
            Part { number: 4, ..part },
            Part {
                upload_id: "u2",
                ..part
            },
        ] {
            let r = s.verify_scoped(put, key, Some(Scope::Part(other)), 2000, sig, 1000);
            assert_eq!(r, Err(SignatureError::Invalid));
        }
        // A part URL is not a whole-object URL, nor the other way round.
        assert_eq!(
            s.verify(put, key, 2000, sig, 1000),
            Err(SignatureError::Invalid)
        );
        let whole = s.sign("http://h", put, key, 2000);
        let sig = whole.rsplit("signature=").next().unwrap();
        let r = s.verify_scoped(put, key, Some(Scope::Part(part)), 2000, sig, 1000);
        assert_eq!(r, Err(SignatureError::Invalid));
    }
}
