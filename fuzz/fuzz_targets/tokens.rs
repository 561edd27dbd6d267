//! The token and signature parsers, on arbitrary input; none may panic (SPEC §3: never a
//! panic), and each must accept what its signer writes and nothing forged:
//!
//! - session tokens (`auth::SessionTokens`): a minted token verifies for its session and user
//!   until it expires, and never for another user; arbitrary text is refused cleanly;
//! - the embedded edge's HMAC signatures (`edge::local::LocalSigner`): a grant verifies for its
//!   resource until it expires; arbitrary queries are refused cleanly; a policy of arbitrary
//!   bytes, correctly signed, reaches the policy parser (`edge::policy::parse`, the CloudFront
//!   policy format) and the wildcard matcher, and is only accepted when it grants the path;
//! - the CloudFront policy helpers: `decode(encode(x)) == x`, `parse(custom(r, e)) == (r, e)`,
//!   a resource pattern matches itself;
//! - bearer JWTs (`auth::TokenVerifier`, HS256): an arbitrary token or `Authorization` value,
//!   and an arbitrary header and payload correctly signed, are verified without a panic; an
//!   accepted token has a subject; a token minted for a subject verifies as that subject.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;
use stream_service::auth::{mint_hs256, SessionTokenError, SessionTokens, TokenVerifier};
use stream_service::config::JwtConfig;
use stream_service::edge::local::LocalSigner;
use stream_service::edge::policy;

const SESSION_KEY: &[u8] = b"fuzz session token key";
const EDGE_KEY: &[u8] = b"fuzz edge key";
const JWT_SECRET: &str = "fuzz-jwt-secret-0123456789";
/// A session id as the service issues them (32 lowercase hex).
const SESSION: &str = "0123456789abcdef0123456789abcdef";
/// `auth::jwt::MAX_BEARER_TOKEN` (SPEC §2: 8 KiB).
const MAX_BEARER_TOKEN: usize = 8 * 1024;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    token: &'a str,
    user: &'a str,
    other_user: &'a str,
    now: i64,
    expires: i64,
    path: &'a str,
    query: &'a str,
    resource: &'a str,
    policy: &'a [u8],
    jwt_header: &'a [u8],
    jwt_payload: &'a [u8],
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn verifier() -> &'static TokenVerifier {
    static V: OnceLock<TokenVerifier> = OnceLock::new();
    V.get_or_init(|| {
        TokenVerifier::new(&JwtConfig {
            secret: Some(JWT_SECRET.to_string()),
            jwks_file: None,
            jwks_url: None,
            algorithms: vec![],
            issuer: None,
            audience: None,
        })
        .expect("an HS256 verifier")
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
    })
}

fn session_tokens(i: &Input<'_>) {
    let tokens = SessionTokens::new(SESSION_KEY);
    let _ = tokens.verify(Some(i.token), SESSION, i.user, i.now);
    let _ = SessionTokens::expiry_of(i.token);
    let minted = tokens.mint(SESSION, i.user, i.expires);
    let expected = if i.expires > i.now {
        Ok(())
    } else {
        Err(SessionTokenError::Expired)
    };
    assert_eq!(
        tokens.verify(Some(&minted), SESSION, i.user, i.now),
        expected
    );
    if i.other_user != i.user {
        assert_eq!(
            tokens.verify(Some(&minted), SESSION, i.other_user, i.now),
            Err(SessionTokenError::Invalid)
        );
    }
}

fn edge_signatures(i: &Input<'_>) {
    let signer = LocalSigner::new(EDGE_KEY);
    let _ = signer.verify(i.path, i.query, i.now);

    // A grant of the resource pattern verifies for the resource itself until it expires.
    let grant = signer.grant(i.resource, i.expires);
    let ok = signer.verify(i.resource, &grant, i.now).is_ok();
    // A resource containing '?' or '&' splits into a path and a query at verification.
    if !i.resource.contains(['?', '&']) && grant.len() <= 4096 {
        assert_eq!(ok, i.expires > i.now, "grant of {:?}", i.resource);
    }

    // Arbitrary policy bytes, correctly signed: only the parser and the matcher stand between
    // them and an accepted request.
    let q = format!(
        "Policy={}&Key-Pair-Id=local&Signature={}&{}",
        policy::encode(i.policy),
        policy::encode(&hmac(EDGE_KEY, i.policy)),
        i.query
    );
    if signer.verify(i.path, &q, i.now).is_ok() {
        let g = policy::parse(i.policy).expect("an accepted policy parses");
        assert!(g.expires > i.now);
    }

    // The policy helpers.
    assert_eq!(
        policy::decode(&policy::encode(i.policy)),
        Some(i.policy.to_vec())
    );
    let _ = policy::decode(i.query);
    let _ = policy::parse(i.policy);
    let text = policy::custom(i.resource, i.expires);
    let g = policy::parse(text.as_bytes()).expect("a custom policy parses back");
    assert_eq!((g.resource.as_str(), g.expires), (i.resource, i.expires));
    assert!(policy::resource_matches(i.resource, i.resource));
    let _ = policy::resource_matches(i.resource, i.path);
}

fn bearer_tokens(i: &Input<'_>) {
    let v = verifier();
    let rt = runtime();
    for token in [i.token, i.query] {
        if let Ok(caller) = rt.block_on(v.verify(token)) {
            assert!(!caller.user_id.is_empty());
        }
        let _ = rt.block_on(v.verify_header(Some(token)));
    }
    // An arbitrary header and payload, signed with the right secret.
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signing_input = format!("{}.{}", b64.encode(i.jwt_header), b64.encode(i.jwt_payload));
    let sig = b64.encode(hmac(JWT_SECRET.as_bytes(), signing_input.as_bytes()));
    let token = format!("{signing_input}.{sig}");
    if let Ok(caller) = rt.block_on(v.verify(&token)) {
        assert!(!caller.user_id.is_empty());
    }
    // A token we mint for a subject verifies as that subject.
    if !i.user.is_empty() {
        let minted = mint_hs256(JWT_SECRET, i.user, &["admin"], Duration::from_secs(3600));
        if minted.len() <= MAX_BEARER_TOKEN {
            let caller = rt
                .block_on(v.verify(&minted))
                .expect("a minted token verifies");
            assert_eq!(caller.user_id, i.user);
            assert!(caller.is_admin);
        }
    }
}

fuzz_target!(|i: Input<'_>| {
    session_tokens(&i);
    edge_signatures(&i);
    bearer_tokens(&i);
});
