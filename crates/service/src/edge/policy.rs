//! The policy statement of an edge signature, in CloudFront's format (the same text is signed
//! by the cloud's RSA key and by the embedded server's HMAC key, so both shapes grant exactly the
//! same thing): one statement, a `Resource` URL pattern and an expiry.
//!
//! `{"Statement":[{"Resource":"https://cdn.example.com/renditions/<key>/*","Condition":{"DateLessThan":{"AWS:EpochTime":1767225600}}}]}`
//!
//! Written without whitespace, keys in the order above: that is what AWS's own signer
//! (`@aws-sdk/cloudfront-signer`, `JSON.stringify`) writes for the same values, and the tests
//! compare our signed URLs with its output byte for byte. CloudFront's documentation:
//! <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-creating-signed-url-custom-policy.html>
//! (the policy, the wildcards `*` and `?` in `Resource`, and the URL-safe base64 below).

use base64::Engine;
use serde::Deserialize;

/// The JSON text of a custom policy granting `resource` (a URL pattern) until `expires`.
pub fn custom(resource: &str, expires: i64) -> String {
    // serde_json escapes the resource exactly as JSON.stringify does for URL characters.
    let resource = serde_json::to_string(resource).unwrap_or_else(|_| "\"\"".into());
    format!(
        "{{\"Statement\":[{{\"Resource\":{resource},\"Condition\":{{\"DateLessThan\":{{\"AWS:EpochTime\":{expires}}}}}}}]}}"
    )
}

/// CloudFront's URL-safe base64: standard base64 with `+` → `-`, `=` → `_`, `/` → `~`.
pub fn encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(bytes)
        .chars()
        .map(|c| match c {
            '+' => '-',
            '=' => '_',
            '/' => '~',
            c => c,
        })
        .collect()
}

/// The inverse of [`encode`]; `None` for anything that is not its output.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let standard: String = text
        .chars()
        .map(|c| match c {
            '-' => Some('+'),
            '_' => Some('='),
            '~' => Some('/'),
            '+' | '=' | '/' => None,
            c => Some(c),
        })
        .collect::<Option<_>>()?;
    base64::engine::general_purpose::STANDARD
        .decode(standard)
        .ok()
}

/// What a verifier needs of a policy: its one statement's resource pattern and expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub resource: String,
    pub expires: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyDoc {
    #[serde(rename = "Statement")]
    statement: Vec<Statement>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Statement {
    #[serde(rename = "Resource")]
    resource: String,
    #[serde(rename = "Condition")]
    condition: Condition,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Condition {
    #[serde(rename = "DateLessThan")]
    date_less_than: Epoch,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Epoch {
    #[serde(rename = "AWS:EpochTime")]
    epoch: i64,
}

/// Reads a policy this module writes: one statement, a resource and `DateLessThan`, nothing
/// else (a condition this verifier does not check is refused, never ignored).
pub fn parse(json: &[u8]) -> Option<Grant> {
    let doc: PolicyDoc = serde_json::from_slice(json).ok()?;
    let [s] = <[Statement; 1]>::try_from(doc.statement).ok()?;
    Some(Grant {
        resource: s.resource,
        expires: s.condition.date_less_than.epoch,
    })
}

/// Whether `url` matches the policy resource `pattern`: `*` is any run of characters (`/`
/// included), `?` exactly one, everything else itself (case-sensitive).
pub fn resource_matches(pattern: &str, url: &str) -> bool {
    let (p, u) = (pattern.as_bytes(), url.as_bytes());
    // Iterative wildcard match with one backtrack point (linear in practice, never exponential).
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < u.len() {
        if i < p.len() && (p[i] == b'?' || p[i] == u[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == b'*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_text_is_what_json_stringify_writes() {
        assert_eq!(
            custom("https://d1.cloudfront.net/renditions/ab/*", 1_767_225_600),
            r#"{"Statement":[{"Resource":"https://d1.cloudfront.net/renditions/ab/*","Condition":{"DateLessThan":{"AWS:EpochTime":1767225600}}}]}"#
        );
        let g = parse(custom("/r/\"x\"/*", 5).as_bytes()).unwrap();
        assert_eq!(
            g,
            Grant {
                resource: "/r/\"x\"/*".into(),
                expires: 5
            }
        );
    }

    #[test]
    fn only_single_statement_expiring_policies_parse() {
        for bad in [
            r#"{"Statement":[]}"#,
            r#"{"Statement":[{"Resource":"a","Condition":{"DateLessThan":{"AWS:EpochTime":1}}},{"Resource":"b","Condition":{"DateLessThan":{"AWS:EpochTime":1}}}]}"#,
            r#"{"Statement":[{"Resource":"a","Condition":{}}]}"#,
            r#"{"Statement":[{"Resource":"a","Condition":{"DateLessThan":{"AWS:EpochTime":1},"IpAddress":{"AWS:SourceIp":"1.2.3.4/32"}}}]}"#,
            "not json",
        ] {
            assert_eq!(parse(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn url_safe_base64_round_trips() {
        let bytes: Vec<u8> = (0..=255).collect();
        let text = encode(&bytes);
        assert!(!text.contains(['+', '=', '/']));
        assert_eq!(decode(&text), Some(bytes));
        assert_eq!(decode("ab+c"), None);
        assert_eq!(decode("!!"), None);
    }

    #[test]
    fn wildcards() {
        let p = "https://cdn/renditions/abc/*";
        assert!(resource_matches(
            p,
            "https://cdn/renditions/abc/seg_00001.m4s"
        ));
        assert!(resource_matches(
            p,
            "https://cdn/renditions/abc/init.mp4?session=x"
        ));
        assert!(resource_matches(p, "https://cdn/renditions/abc/"));
        assert!(!resource_matches(
            p,
            "https://cdn/renditions/abd/seg_00001.m4s"
        ));
        assert!(!resource_matches(p, "https://cdn/renditions/abc"));
        assert!(!resource_matches(p, "http://cdn/renditions/abc/x"));
        assert!(resource_matches("https://*/r/?/x", "https://h:1/r/a/x"));
        assert!(!resource_matches("https://*/r/?/x", "https://h/r/ab/x"));
        assert!(resource_matches("a*b*c", "axxbyyc"));
        assert!(!resource_matches("a*b*c", "axxbyy"));
        assert!(resource_matches("*", ""));
        assert!(!resource_matches("", "a"));
        // No exponential blow-up on hostile patterns.
        let long = "a".repeat(5000);
        assert!(!resource_matches(&"*a".repeat(50), &format!("{long}b")));
    }
}
