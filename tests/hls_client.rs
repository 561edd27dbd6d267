//! A player's side of HLS for the tests: fetch playlists and segments as a player does (a 503
//! is retried after its `Retry-After`), resolve URIs, and read timestamps with ffprobe.

use std::process::Command;
use std::time::Duration;

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// Resolves a playlist URI against the playlist's URL.
pub fn resolve(base: &str, uri: &str) -> String {
    url::Url::parse(base)
        .unwrap()
        .join(uri)
        .unwrap()
        .to_string()
}

pub async fn text(url: &str) -> String {
    let r = client().get(url).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    assert_eq!(r.headers()["content-type"], "application/vnd.apple.mpegurl");
    r.text().await.unwrap()
}

/// Fetches a segment like a player: follows the redirect, retries a 503 after `Retry-After`.
pub async fn fetch_segment(url: &str) -> Result<bytes::Bytes, (u16, String)> {
    for _ in 0..30 {
        let r = client().get(url).send().await.unwrap();
        match r.status().as_u16() {
            200 => return Ok(r.bytes().await.unwrap()),
            503 => tokio::time::sleep(Duration::from_secs(1)).await,
            s => return Err((s, r.text().await.unwrap_or_default())),
        }
    }
    Err((503, "still pending after 30 retries".into()))
}

/// URIs (non-tag lines) and EXT-X-MAP of a playlist, resolved.
pub fn uris(base: &str, playlist: &str) -> (Option<String>, Vec<String>) {
    let map = playlist
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MAP:URI=\""))
        .map(|rest| resolve(base, rest.trim_end_matches('"')));
    let segs = playlist
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| resolve(base, l))
        .collect();
    (map, segs)
}

pub fn ffprobe_lines(args: &[&str], input: &str) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error"])
        .args(args)
        .arg(input)
        .output()
        .expect("ffprobe runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// (first pts, end) of the packets of the single stream of `input`.
pub fn span(input: &str) -> (f64, f64) {
    let lines = ffprobe_lines(
        &[
            "-show_entries",
            "packet=pts_time,duration_time",
            "-of",
            "csv=p=0",
        ],
        input,
    );
    let mut first = f64::MAX;
    let mut end = 0.0f64;
    for l in lines.lines() {
        let mut it = l.split(',');
        let (Some(pts), Some(d)) = (
            it.next().and_then(|v| v.parse::<f64>().ok()),
            it.next().and_then(|v| v.parse::<f64>().ok()),
        ) else {
            continue;
        };
        first = first.min(pts);
        end = end.max(pts + d);
    }
    (first, end)
}
