//! AWS's own CloudFront signer (`@aws-sdk/cloudfront-signer`, pinned with its lock file in
//! `tests/edge-signer`, installed by `scripts/player-assets.sh --test`), run with `node`: the
//! independent implementation that the stand-in's verification (`tests/cdn_standin.rs`) and the
//! project's signer (`tests/edge_signer.rs`) are both checked against.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::repo_root;

/// One URL to sign.
#[derive(Clone, Copy, Debug)]
pub enum Request<'a> {
    /// A canned policy on exactly `url` until `expires` (seconds since the epoch).
    Canned { url: &'a str, expires: i64 },
    /// A custom policy (its JSON text, signed as given), appended to `url`.
    Custom { url: &'a str, policy: &'a str },
    /// A canned policy signed with RSA-SHA256 (`Hash-Algorithm=SHA256`).
    CannedSha256 { url: &'a str, expires: i64 },
}

/// Whether the signer is installed (node and `tests/edge-signer/node_modules`).
pub fn installed() -> bool {
    repo_root()
        .join("tests/edge-signer/node_modules/@aws-sdk/cloudfront-signer")
        .exists()
        && Command::new("node")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

/// The signed URLs of `requests`, in order, signed by key `key_pair_id` with the private key
/// in the PEM file `private_key`.
pub fn sign(
    key_pair_id: &str,
    private_key: &std::path::Path,
    requests: &[Request<'_>],
) -> Result<Vec<String>, String> {
    if !installed() {
        return Err("the npm signer is not installed: run scripts/player-assets.sh --test".into());
    }
    let requests: Vec<serde_json::Value> = requests
        .iter()
        .map(|r| match r {
            Request::Canned { url, expires } => serde_json::json!({"url": url, "expires": expires}),
            Request::Custom { url, policy } => serde_json::json!({"url": url, "policy": policy}),
            Request::CannedSha256 { url, expires } => {
                serde_json::json!({"url": url, "expires": expires, "algorithm": "SHA256"})
            }
        })
        .collect();
    let input = serde_json::json!({
        "key_pair_id": key_pair_id,
        "private_key_file": private_key,
        "requests": requests,
    });
    let mut child = Command::new("node")
        .arg("sign.mjs")
        .current_dir(repo_root().join("tests/edge-signer"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("node: {e}"))?;
    child
        .stdin
        .take()
        .ok_or("node's stdin")?
        .write_all(input.to_string().as_bytes())
        .map_err(|e| format!("writing to node: {e}"))?;
    let out = child.wait_with_output().map_err(|e| format!("node: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "tests/edge-signer/sign.mjs failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("sign.mjs output: {e}"))
}
