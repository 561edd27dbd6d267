//! Subtitle tracks end to end, in both shapes (SPEC §3 "Tracks"; the embedded server, and the
//! cloud handlers on LocalStack + DynamoDB Local behind the CDN stand-in):
//!
//! - the generated MKV's three text tracks (SubRip with non-ASCII text, styled ASS, forced,
//!   default, titled) and an MP4's mov_text track become WebVTT at ingest, listed by
//!   `GET /media/{id}` (the ingest suite checks the listing against the generated truth) and
//!   handed out by `/stream` as signed URLs whose cues are the source's, exactly;
//! - HLS: the master's `SUBTITLES` group names each track with its flags, its playlist is one
//!   WebVTT for the whole media, and its `X-TIMESTAMP-MAP` puts the cues on the segments'
//!   timeline: the map's MPEGTS time is where ffprobe finds the first video segment's first
//!   frame, and every segment's frames sit at the map's time plus the playlist's time, within
//!   one frame (so a cue is shown at its source time after a seek too);
//! - sidecar files: added (SRT with non-ASCII text, ASS), listed, offered to new sessions,
//!   removed; what cannot be read, is too large or is not the caller's to change is refused
//!   and changes nothing.

use std::path::Path;

use serde_json::Value;
use stream_tests::hls_client::{client, fetch_segment, ffprobe_lines, resolve, span, text, uris};
use stream_tests::{manifest, media_dir, token, Api};

const REMUX_MP4: &str =
    "containers=mp4&video_codecs=h264&audio_codecs=aac&max_audio_channels=2&max_video_bit_depth=8";

/// One cue of a WebVTT: (start, end, text).
type Cue = (f64, f64, String);

fn seconds(ts: &str) -> f64 {
    let parts: Vec<f64> = ts.split(':').map(|p| p.parse().unwrap()).collect();
    parts.iter().fold(0.0, |acc, p| acc * 60.0 + p)
}

/// The cues of a WebVTT, and its `X-TIMESTAMP-MAP` MPEGTS value.
fn parse_vtt(vtt: &str) -> (Vec<Cue>, Option<u64>) {
    assert!(vtt.starts_with("WEBVTT"), "{vtt}");
    let map = vtt
        .lines()
        .find_map(|l| l.strip_prefix("X-TIMESTAMP-MAP=MPEGTS:"))
        .and_then(|rest| rest.split(',').next()?.parse().ok());
    let mut cues = vec![];
    for block in vtt.split("\n\n") {
        let mut lines = block.lines().skip_while(|l| !l.contains("-->"));
        let Some(timing) = lines.next() else { continue };
        let mut times = timing.split(" --> ");
        let start = seconds(times.next().unwrap().trim());
        let end = seconds(times.next().unwrap().split_whitespace().next().unwrap());
        cues.push((start, end, lines.collect::<Vec<_>>().join("\n")));
    }
    (cues, map)
}

/// The truth of a file's subtitle tracks: (id, cues), each cue's text as generated and its
/// times as ffprobe reads them from the file (the container's own clock: a muxer may shift
/// every stream, e.g. by the encoder delay of the video).
fn truth(file: &str) -> Vec<(String, Vec<Cue>)> {
    let m = manifest();
    let tracks = m["files"][file]["subtitles"].as_array().unwrap().clone();
    let path = media_dir().join(file);
    tracks
        .iter()
        .map(|t| {
            let id = t["id"].as_str().unwrap().to_string();
            let packets = ffprobe_lines(
                &[
                    "-select_streams",
                    id.trim_start_matches('s'),
                    "-show_entries",
                    "packet=pts_time,duration_time,size",
                    "-of",
                    "csv=p=0",
                ],
                path.to_str().unwrap(),
            );
            let times: Vec<(f64, f64)> = packets
                .lines()
                .filter_map(|l| {
                    let mut f = l.split(',');
                    let (p, d, size) = (f.next()?, f.next()?, f.next()?);
                    let (p, d): (f64, f64) = (p.parse().ok()?, d.parse().ok()?);
                    // mov_text fills the gaps between cues with empty samples (2 bytes).
                    (size.parse::<u32>().ok()? > 2).then_some((p, p + d))
                })
                .collect();
            let texts = t["cues"].as_array().unwrap();
            assert_eq!(times.len(), texts.len(), "{file} {id}: {packets}");
            let cues = times
                .iter()
                .zip(texts)
                .map(|((start, end), c)| {
                    let ms = |t: f64| (t * 1000.0).round() / 1000.0;
                    (ms(*start), ms(*end), c[2].as_str().unwrap().to_string())
                })
                .collect();
            (id, cues)
        })
        .collect()
}

/// Cues are equal: the same texts, in order, at the same times within 10 ms (ASS, which the
/// French track is, counts in centiseconds; SubRip and WebVTT in milliseconds), far within
/// the one frame (42 ms at 24 fps) a viewer could notice.
fn assert_cues(got: &[Cue], want: &[Cue], what: &str) {
    let same = got.len() == want.len()
        && got
            .iter()
            .zip(want)
            .all(|(g, w)| (g.0 - w.0).abs() <= 0.0105 && (g.1 - w.1).abs() <= 0.0105 && g.2 == w.2);
    assert!(same, "{what}:\n got {got:?}\nwant {want:?}");
}

async fn fetch(url: &str) -> reqwest::Response {
    client().get(url).send().await.unwrap()
}

/// The `/stream` answer lists each track as a signed WebVTT whose cues are the source's.
async fn direct_play_links(api: &Api, t: &str, id: &str, file: &str) {
    let r = api.get_json(&format!("/api/v1/stream/{id}"), t).await;
    assert_eq!(r.status, 200, "{}: {}", api.name(), r.text());
    let v = r.json();
    let links = v["subtitles"].as_array().expect("subtitles").clone();
    let want = truth(file);
    assert_eq!(links.len(), want.len(), "{}: {v}", api.name());
    for (link, (id, cues)) in links.iter().zip(&want) {
        assert_eq!(link["id"], id.as_str());
        let url = api.absolute(link["url"].as_str().unwrap());
        let r = fetch(&url).await;
        assert_eq!(r.status(), 200, "{}: {url}", api.name());
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with("text/vtt"), "{}: {ct}", api.name());
        let (got, map) = parse_vtt(&r.text().await.unwrap());
        assert!(map.is_some(), "{}: no X-TIMESTAMP-MAP", api.name());
        assert_cues(&got, cues, &format!("{} track {id}", api.name()));
        // A forged signature gets nothing.
        let forged = url.replacen("ignature=", "ignature=AAAA", 1);
        assert_eq!(
            fetch(&forged).await.status(),
            403,
            "{}: {forged}",
            api.name()
        );
    }
}

/// The attribute `name` of an `EXT-X-MEDIA` line.
fn attr<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let rest = line.split(&format!(",{name}=")).nth(1)?;
    let value = rest
        .strip_prefix('"')
        .map_or_else(|| rest.split(',').next(), |q| q.split('"').next());
    value
}

/// HLS: the master's group, each track's playlist and WebVTT, and the timeline they share
/// with the video segments.
async fn hls_tracks(api: &Api, t: &str, id: &str, file: &str, dir: &Path) {
    let r = api
        .get_json(&format!("/api/v1/stream/{id}?{REMUX_MP4}"), t)
        .await;
    assert_eq!(r.status, 200, "{}: {}", api.name(), r.text());
    let master_url = api.absolute(r.json()["url"].as_str().unwrap());
    let master = text(&master_url).await;
    let subs: Vec<&str> = master
        .lines()
        .filter(|l| l.starts_with("#EXT-X-MEDIA:TYPE=SUBTITLES"))
        .collect();
    let want = truth(file);
    assert_eq!(subs.len(), want.len(), "{}: {master}", api.name());
    let m = manifest();
    let meta = m["files"][file]["subtitles"].as_array().unwrap();
    for (line, w) in subs.iter().zip(meta) {
        assert_eq!(attr(line, "NAME"), w["name"].as_str(), "{line}");
        assert_eq!(attr(line, "LANGUAGE"), w["language"].as_str(), "{line}");
        let yes = |b: &Value| {
            if b.as_bool() == Some(true) {
                "YES"
            } else {
                "NO"
            }
        };
        assert_eq!(attr(line, "FORCED"), Some(yes(&w["forced"])), "{line}");
        assert_eq!(attr(line, "DEFAULT"), Some(yes(&w["default"])), "{line}");
    }
    let variants: Vec<&str> = master
        .lines()
        .filter(|l| l.starts_with("#EXT-X-STREAM-INF"))
        .collect();
    assert!(
        variants.iter().all(|l| l.contains("SUBTITLES=\"subs\"")),
        "{master}"
    );

    let mut map = None;
    for (line, (id, cues)) in subs.iter().zip(&want) {
        let playlist_url = resolve(&master_url, attr(line, "URI").unwrap());
        let playlist = text(&playlist_url).await;
        let (_, segs) = uris(&playlist_url, &playlist);
        assert_eq!(segs.len(), 1, "{playlist}");
        let r = fetch(&segs[0]).await;
        assert_eq!(r.status(), 200, "{}: {}", api.name(), segs[0]);
        let (got, m) = parse_vtt(&r.text().await.unwrap());
        assert_cues(
            &got,
            cues,
            &format!("{} track {id} through HLS", api.name()),
        );
        map = m;
    }

    // The timeline: the map's MPEGTS is the media's time 0 on the segments' clock.
    let zero = map.expect("X-TIMESTAMP-MAP") as f64 / 90_000.0;
    let video_url = resolve(
        &master_url,
        master
            .lines()
            .find(|l| !l.starts_with('#') && !l.is_empty())
            .unwrap(),
    );
    let variant = text(&video_url).await;
    let (init, segs) = uris(&video_url, &variant);
    let init = fetch_segment(&init.expect("EXT-X-MAP")).await.unwrap();
    let extinf: Vec<f64> = variant
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(|l| l.trim_end_matches(',').parse().unwrap())
        .collect();
    let frame = 1.0 / 24.0;
    let mut at = 0.0;
    for (i, (seg, d)) in segs.iter().zip(&extinf).enumerate() {
        let bytes = fetch_segment(seg).await.unwrap();
        let path = dir.join(format!("{}-{i}.mp4", api.name()));
        std::fs::write(&path, [init.as_ref(), bytes.as_ref()].concat()).unwrap();
        let (first, _) = span(path.to_str().unwrap());
        assert!(
            (first - (zero + at)).abs() <= frame,
            "{}: segment {i} starts at {first} on the segments' clock, the map puts media time {at} at {}",
            api.name(),
            zero + at
        );
        at += d;
    }
}

async fn sidecars(api: &Api, owner: &str, id: &str) {
    let url = |q: &str| api.absolute(&format!("/api/v1/media/{id}/subtitles{q}"));
    let post = |q: String, token: String, body: Vec<u8>| async move {
        let r = client()
            .post(url(&q))
            .bearer_auth(token)
            .header("content-type", "text/plain")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json::<Value>().await.unwrap_or(Value::Null))
    };
    let srt = "1\r\n00:00:01,250 --> 00:00:02,000\r\nCiao àèìòù — 😀\r\n"
        .as_bytes()
        .to_vec();
    let (s, added) = post("?language=ita".into(), owner.into(), srt).await;
    assert_eq!(s, 201, "{}: {added}", api.name());
    assert_eq!(
        (
            &added["language"],
            &added["name"],
            &added["source"],
            &added["codec"],
            &added["cues"]
        ),
        (
            &Value::from("it"),
            &Value::from("Italiano"),
            &Value::from("sidecar"),
            &Value::from("srt"),
            &Value::from(1)
        ),
        "{added}"
    );
    let sid = added["id"].as_str().unwrap().to_string();

    // Refused, and nothing changes: not subtitles, not UTF-8, too large, unknown language,
    // someone else's media, an embedded track.
    let bad: [(&str, Vec<u8>, u16, &str); 4] = [
        ("", b"just some words\n".to_vec(), 400, "invalid_subtitles"),
        (
            "",
            b"1\n00:00:01,000 --> 00:00:02,000\n\xff\xfe\n".to_vec(),
            400,
            "invalid_subtitles",
        ),
        (
            "?language=klingonese",
            b"1\n00:00:01,000 --> 00:00:02,000\nx\n".to_vec(),
            400,
            "invalid_parameter",
        ),
        (
            "",
            vec![b'a'; 5 * 1024 * 1024 + 1],
            413,
            "payload_too_large",
        ),
    ];
    for (q, body, status, code) in bad {
        let (s, v) = post(q.into(), owner.into(), body).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (status, Some(code)),
            "{}: {v}",
            api.name()
        );
    }
    let intruder = token("subs-intruder");
    let (s, _) = post(
        String::new(),
        intruder.clone(),
        b"1\n00:00:01,000 --> 00:00:02,000\nx\n".to_vec(),
    )
    .await;
    assert_eq!(
        s,
        404,
        "{}: another user's media is not visible",
        api.name()
    );

    let view = api.get(&format!("/api/v1/media/{id}"), owner).await.json();
    let tracks = view["subtitles"].as_array().unwrap();
    assert_eq!(tracks.len(), truth("subs.mkv").len() + 1, "{view}");
    assert_eq!(tracks.last().unwrap()["id"], sid.as_str());

    // A new session offers it; its WebVTT has the cue at its time.
    let r = api.get_json(&format!("/api/v1/stream/{id}"), owner).await;
    let link = r.json()["subtitles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == sid.as_str())
        .cloned()
        .expect("the sidecar is offered");
    let vtt = fetch(&api.absolute(link["url"].as_str().unwrap()))
        .await
        .text()
        .await
        .unwrap();
    let (cues, _) = parse_vtt(&vtt);
    assert_eq!(cues, [(1.25, 2.0, "Ciao àèìòù — 😀".to_string())]);

    let delete = |path: String, token: String| async move {
        client()
            .delete(api.absolute(&path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    let base = format!("/api/v1/media/{id}/subtitles");
    assert_eq!(
        delete(format!("{base}/s2"), owner.into()).await,
        409,
        "embedded"
    );
    assert_eq!(delete(format!("{base}/x00000000"), owner.into()).await, 404);
    assert_eq!(delete(format!("{base}/..%2Fs2"), owner.into()).await, 404);
    assert_eq!(delete(format!("{base}/{sid}"), intruder).await, 404);
    assert_eq!(delete(format!("{base}/{sid}"), owner.into()).await, 204);
    let view = api.get(&format!("/api/v1/media/{id}"), owner).await.json();
    assert_eq!(
        view["subtitles"].as_array().unwrap().len(),
        truth("subs.mkv").len()
    );
    // Its file is gone from the store (a CDN may serve its cached copy to a URL signed
    // before, until that URL expires, as CloudFront does for any deleted object).
    let key = stream_core::tracks::vtt_key(id, &sid);
    assert_eq!(
        api.state().objects.head(&key).await.unwrap(),
        None,
        "{}",
        api.name()
    );
}

async fn all(api: Api) {
    let dir = tempfile::tempdir().unwrap();
    let t = token("subs-user");
    let mkv = api.upload_settled(&t, &media_dir().join("subs.mkv")).await;
    let mp4 = api
        .upload_settled(&t, &media_dir().join("subs_mov_text.mp4"))
        .await;
    direct_play_links(&api, &t, &mkv, "subs.mkv").await;
    direct_play_links(&api, &t, &mp4, "subs_mov_text.mp4").await;
    hls_tracks(&api, &t, &mkv, "subs.mkv", dir.path()).await;
    sidecars(&api, &t, &mkv).await;
    api.stop().await;
}

#[tokio::test]
async fn embedded_subtitle_tracks() {
    all(Api::embedded().await).await;
}

#[tokio::test]
#[ignore = "needs the local AWS stack (scripts/test.sh runs it)"]
async fn cloud_subtitle_tracks() {
    all(Api::cloud().await).await;
}
