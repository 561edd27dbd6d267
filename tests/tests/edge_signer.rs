//! Our CloudFront signer (`stream_service::edge::cloudfront`) against AWS's own
//! (`@aws-sdk/cloudfront-signer`, pinned in tests/edge-signer): same key, same URL, same policy
//! → the same signed URL, byte for byte. RSA PKCS#1 v1.5 signatures are deterministic, so any
//! difference (the policy text, its base64, the parameter order, the separator after an
//! existing query) shows.
//!
//! The key is a test-only RSA-2048 key committed under tests/fixtures/cloudfront (see its
//! README), once as PKCS#1 and once as PKCS#8: both forms must sign the same.

use std::path::PathBuf;

use stream_service::edge::cloudfront::CloudFrontSigner;
use stream_service::edge::policy;
use stream_tests::cdn::npm_signer::{self, Request};
use stream_tests::repo_root;

const KEY_ID: &str = "K2JCJMDEHXQW5F";
const HOST: &str = "https://d111111abcdef8.cloudfront.net";
/// 2026-01-01T00:00:00Z: a fixed expiry, so the URLs are the same on every run.
const EXPIRES: i64 = 1_767_225_600;

fn key_file(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures/cloudfront").join(name)
}

fn ours(pem_file: &str) -> CloudFrontSigner {
    let pem = std::fs::read_to_string(key_file(pem_file)).expect("test key");
    CloudFrontSigner::from_pem(KEY_ID, &pem).expect("the test key loads")
}

#[test]
#[ignore = "needs node and the npm signer (scripts/player-assets.sh --test; scripts/test.sh runs it)"]
fn our_signed_urls_are_aws_signed_urls_byte_for_byte() {
    let original = format!("{HOST}/uploads/0f6e3c/source.mkv");
    let segment = format!("{HOST}/renditions/3f9a/seg_00042.m4s");
    let with_query = format!("{HOST}/renditions/3f9a/seg_00042.m4s?session=abc");
    // One policy per session and rendition: a wildcard on the rendition's prefix.
    let wildcard = policy::custom(&format!("{HOST}/renditions/3f9a/*"), EXPIRES);
    let cases = [
        (
            "canned",
            Request::Canned {
                url: &original,
                expires: EXPIRES,
            },
        ),
        (
            "canned, URL with a query",
            Request::Canned {
                url: &with_query,
                expires: EXPIRES,
            },
        ),
        (
            "custom, wildcard resource",
            Request::Custom {
                url: &segment,
                policy: &wildcard,
            },
        ),
        (
            "custom, URL with a query",
            Request::Custom {
                url: &with_query,
                policy: &wildcard,
            },
        ),
    ];
    let requests: Vec<Request<'_>> = cases.iter().map(|(_, r)| *r).collect();
    let aws = npm_signer::sign(KEY_ID, &key_file("private.pem"), &requests).expect("npm signer");
    assert_eq!(aws.len(), cases.len());
    for pem in ["private.pem", "private-pkcs8.pem"] {
        let signer = ours(pem);
        for ((what, request), expected) in cases.iter().zip(&aws) {
            let got = match request {
                Request::Canned { url, expires } => signer.canned_url(url, *expires),
                Request::Custom { url, policy } => signer.custom_url(url, policy),
                Request::CannedSha256 { .. } => unreachable!("not signed by ours"),
            };
            assert_eq!(&got, expected, "{what} ({pem})");
        }
    }
}

/// The policy text is what AWS's signer builds for a canned policy (`JSON.stringify` of the
/// same statement): signing it as a custom policy and as a canned one gives one signature.
#[test]
#[ignore = "needs node and the npm signer (scripts/player-assets.sh --test; scripts/test.sh runs it)"]
fn our_policy_text_is_aws_canned_policy_text() {
    let url = format!("{HOST}/uploads/0f6e3c/source.mkv");
    let aws = npm_signer::sign(
        KEY_ID,
        &key_file("private.pem"),
        &[Request::Canned {
            url: &url,
            expires: EXPIRES,
        }],
    )
    .expect("npm signer");
    let ours = ours("private.pem").custom_url(&url, &policy::custom(&url, EXPIRES));
    let signature = |u: &str| u.split("Signature=").nth(1).map(str::to_string);
    assert_eq!(signature(&ours), signature(&aws[0]), "{ours}\n{}", aws[0]);
}
