//! Every audio track of a title in one HLS session, in both shapes (SPEC §3 "Tracks"): the
//! generated MKV has English AAC (default, 440 Hz), French AC-3 5.1 (660 Hz) and Italian AAC
//! (880 Hz).
//!
//! - Asking for the Italian track with a browser's profile is HLS with the reason
//!   `audio_track_not_default` (a browser playing the original would play English), and the
//!   answer lists the three tracks with their names, the Italian one selected.
//! - The master lists the three as `EXT-X-MEDIA:TYPE=AUDIO` renditions of one group (the
//!   Italian one the default); an independent client (ffmpeg) decodes each rendition's segments,
//!   and each sounds at its own track's tone: a player switches language within the session.
//! - `audio_switch=true` (an app that switches tracks itself) keeps direct play.

use serde_json::Value;
use stream_tests::hls_client::{fetch_segment, resolve, text, uris};
use stream_tests::{manifest, media_dir, token, Api};

/// The dominant frequency of `audio` (any container ffmpeg reads), from the zero crossings of
/// its first channel decoded at 8 kHz.
fn tone_of(path: &std::path::Path) -> f64 {
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args([
            "-map", "0:a:0", "-ac", "1", "-ar", "8000", "-f", "s16le", "-",
        ])
        .output()
        .expect("ffmpeg");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples: Vec<i16> = out
        .stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    // Skip the first and last 0.2 s (encoder priming, padding).
    let body = &samples[1600.min(samples.len())..samples.len().saturating_sub(1600)];
    let crossings = body.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
    crossings as f64 / 2.0 / (body.len() as f64 / 8000.0)
}

async fn every_track(api: Api) {
    let t = token("audio-user");
    let id = api
        .upload_settled(&t, &media_dir().join("audio_langs.mkv"))
        .await;
    let m = manifest();
    let tones: Vec<f64> = m["files"]["audio_langs.mkv"]["audio"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["tone"].as_f64().unwrap())
        .collect();

    // The Italian track, asked for by a browser: HLS, with the reason.
    let r = api
        .get_json(
            &format!("/api/v1/stream/{id}?profile=chrome&audio_track=3"),
            &t,
        )
        .await;
    assert_eq!(r.status, 200, "{}: {}", api.name(), r.text());
    let v = r.json();
    assert_eq!(v["protocol"], "hls", "{v}");
    let reasons = v["reasons"].as_array().unwrap();
    assert!(
        reasons.contains(&Value::from("audio_track_not_default")),
        "{v}"
    );
    let tracks: Vec<(u64, &str, &str, bool, bool)> = v["audio_tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["index"].as_u64().unwrap(),
                a["name"].as_str().unwrap(),
                a["language"].as_str().unwrap(),
                a["default"].as_bool().unwrap(),
                a["selected"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        tracks,
        [
            (1, "English", "en", true, false),
            (2, "Français (5.1)", "fr", false, false),
            (3, "Italiano", "it", false, true),
        ],
        "{}",
        api.name()
    );

    // One session, three renditions; each sounds as its track does.
    let master_url = api.absolute(v["url"].as_str().unwrap());
    let master = text(&master_url).await;
    let audio: Vec<&str> = master
        .lines()
        .filter(|l| l.starts_with("#EXT-X-MEDIA:TYPE=AUDIO"))
        .collect();
    assert_eq!(audio.len(), 3, "{master}");
    let dir = tempfile::tempdir().unwrap();
    for line in &audio {
        let lang = line
            .split("LANGUAGE=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let want = match lang {
            "en" => tones[0],
            "fr" => tones[1],
            "it" => tones[2],
            other => panic!("unexpected language {other}: {line}"),
        };
        assert_eq!(line.contains("DEFAULT=YES"), lang == "it", "{line}");
        let uri = line
            .split("URI=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let playlist_url = resolve(&master_url, uri);
        let playlist = text(&playlist_url).await;
        let (init, segs) = uris(&playlist_url, &playlist);
        let mut bytes = fetch_segment(&init.expect("EXT-X-MAP"))
            .await
            .unwrap()
            .to_vec();
        for s in &segs {
            bytes.extend_from_slice(&fetch_segment(s).await.unwrap());
        }
        let path = dir.path().join(format!("{}-{lang}.mp4", api.name()));
        std::fs::write(&path, bytes).unwrap();
        let tone = tone_of(&path);
        assert!(
            (tone - want).abs() / want < 0.03,
            "{}: the {lang} rendition sounds at {tone:.0} Hz, its track at {want} Hz",
            api.name()
        );
    }

    // An app that switches tracks itself keeps the original.
    let r = api
        .get_json(
            &format!("/api/v1/stream/{id}?profile=chrome&audio_track=3&audio_switch=true&containers=mkv,mp4"),
            &t,
        )
        .await;
    assert_eq!(
        r.json()["method"],
        "direct_play",
        "{}: {}",
        api.name(),
        r.text()
    );
    api.stop().await;
}

#[tokio::test]
async fn embedded_every_audio_track_in_one_session() {
    every_track(Api::embedded().await).await;
}

#[tokio::test]
#[ignore = "needs the local AWS stack (scripts/test.sh runs it)"]
async fn cloud_every_audio_track_in_one_session() {
    every_track(Api::cloud().await).await;
}
