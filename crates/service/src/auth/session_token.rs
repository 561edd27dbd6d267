//! Session tokens (SPEC §2): HLS URLs are capabilities, because players cannot add headers to
//! segment requests. A token is bound to one session and one user and expires:
//! `<expires epoch seconds>.<base64url HMAC-SHA256(key, "stream-session-v1\n" sid \n user \n expires)>`.
//! The playlist writer puts it on every URI it emits (`?token=...`).

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use stream_core::ids::constant_time_eq;

const CONTEXT: &str = "stream-session-v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionTokenError {
    #[error("the session token is missing")]
    Missing,
    #[error("the session token is malformed")]
    Malformed,
    #[error("the session token has expired")]
    Expired,
    #[error("the session token is not valid for this session")]
    Invalid,
}

#[derive(Clone)]
pub struct SessionTokens {
    key: Vec<u8>,
}

impl std::fmt::Debug for SessionTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionTokens(<redacted>)")
    }
}

impl SessionTokens {
    pub fn new(key: &[u8]) -> Self {
        SessionTokens { key: key.to_vec() }
    }

    /// A key derived from another secret (the HS256 JWT secret) for a different purpose.
    pub fn derived_from(secret: &[u8]) -> Self {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(b"stream session token key");
        Self::new(&mac.finalize().into_bytes())
    }

    fn mac(&self, session_id: &str, user_id: &str, expires: i64) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .expect("HMAC takes any key length");
        mac.update(format!("{CONTEXT}\n{session_id}\n{user_id}\n{expires}").as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    pub fn mint(&self, session_id: &str, user_id: &str, expires: i64) -> String {
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(self.mac(session_id, user_id, expires));
        format!("{expires}.{sig}")
    }

    /// A key for another purpose (`purpose` names it), derived from this one: the embedded
    /// edge's HMAC key, so one configured or generated secret keys both.
    pub fn derive_key(&self, purpose: &str) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// The expiry written in a token (epoch seconds); only meaningful for a verified token.
    pub fn expiry_of(token: &str) -> Option<i64> {
        token.split_once('.')?.0.parse().ok()
    }

    /// Checks `token` for `session_id` owned by `user_id` at `now`.
    pub fn verify(
        &self,
        token: Option<&str>,
        session_id: &str,
        user_id: &str,
        now: i64,
    ) -> Result<(), SessionTokenError> {
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or(SessionTokenError::Missing)?;
        if token.len() > 128 {
            return Err(SessionTokenError::Malformed);
        }
        let (exp, sig) = token.split_once('.').ok_or(SessionTokenError::Malformed)?;
        let expires: i64 = exp.parse().map_err(|_| SessionTokenError::Malformed)?;
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| SessionTokenError::Malformed)?;
        if !constant_time_eq(&sig, &self.mac(session_id, user_id, expires)) {
            return Err(SessionTokenError::Invalid);
        }
        if expires <= now {
            return Err(SessionTokenError::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_to_session_user_and_time() {
        let t = SessionTokens::new(b"k1-0123456789abcdef0123456789abcdef");
        let tok = t.mint("sid-a", "alice", 1_000);
        assert_eq!(t.verify(Some(&tok), "sid-a", "alice", 999), Ok(()));
        assert_eq!(
            t.verify(Some(&tok), "sid-a", "alice", 1_000),
            Err(SessionTokenError::Expired)
        );
        assert_eq!(
            t.verify(Some(&tok), "sid-b", "alice", 999),
            Err(SessionTokenError::Invalid)
        );
        assert_eq!(
            t.verify(Some(&tok), "sid-a", "bob", 999),
            Err(SessionTokenError::Invalid)
        );
        assert_eq!(
            t.verify(None, "sid-a", "alice", 999),
            Err(SessionTokenError::Missing)
        );
        assert_eq!(
            t.verify(Some(""), "sid-a", "alice", 999),
            Err(SessionTokenError::Missing)
        );
        assert_eq!(
            t.verify(Some("garbage"), "sid-a", "alice", 999),
            Err(SessionTokenError::Malformed)
        );
        assert_eq!(
            t.verify(Some("12.!!"), "sid-a", "alice", 999),
            Err(SessionTokenError::Malformed)
        );
        // Moving the expiry forward breaks the signature.
        let forged = tok.replacen("1000.", "9999.", 1);
        assert_eq!(
            t.verify(Some(&forged), "sid-a", "alice", 999),
            Err(SessionTokenError::Invalid)
        );
        // Another key's token is refused.
        let other = SessionTokens::new(b"k2-0123456789abcdef0123456789abcdef")
            .mint("sid-a", "alice", 1_000);
        assert_eq!(
            t.verify(Some(&other), "sid-a", "alice", 999),
            Err(SessionTokenError::Invalid)
        );
        assert!(!format!("{t:?}").contains("k1"), "the key never prints");
    }

    #[test]
    fn derived_keys_differ_from_the_source_secret() {
        let a = SessionTokens::derived_from(b"jwt-secret");
        let b = SessionTokens::new(b"jwt-secret");
        assert_ne!(a.mint("s", "u", 5), b.mint("s", "u", 5));
        assert_ne!(a.derive_key("edge"), b.derive_key("edge"));
        assert_ne!(a.derive_key("edge"), a.derive_key("other"));
        assert_eq!(SessionTokens::expiry_of(&a.mint("s", "u", 77)), Some(77));
        assert_eq!(SessionTokens::expiry_of("x"), None);
    }
}
