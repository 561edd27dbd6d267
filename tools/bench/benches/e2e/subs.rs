//! `subs --base URL --secret S --pid N --plain F --subs F --runs N --out J`: start-up of a
//! session with ten subtitle tracks against the same file without any (issue 12: "start-up of a
//! session is not slower with 10 subtitle tracks than with none").
//!
//! Subtitles are converted to WebVTT at ingest, so what a session's start could pay for them is
//! the decision reading a larger media record, a master playlist ten `EXT-X-MEDIA` lines longer,
//! and a copy job demuxing a source with ten more streams. Start-up is measured exactly as in
//! section 3 ([`ttfs_streamd`]: a fresh upload, then stream request → master → video and audio
//! legs to their first segment in hand), the two files alternated run by run. For the file with
//! subtitles, what a player with a track on fetches besides (that track's playlist and its
//! WebVTT, asked for once the master is in hand) is timed too, on the same session.

use std::path::Path;
use std::time::Instant;

use serde_json::{json, Value};
use stream_bench::Res;

use super::{resolve, ttfs_streamd, write_json, Api, Opts, CHROME_QUERY};

/// The `remux` client of section 3: the MKV sources are copied into HLS.
const METHOD: &str = "remux";

pub async fn cmd_subs(o: &Opts) -> Res<()> {
    let api = Api::new(o);
    let runs = o.num("runs", 5);
    let files = [("none", o.get("plain")), ("ten", o.get("subs"))];
    let mut results: [Vec<Value>; 2] = [vec![], vec![]];
    for run in 0..runs {
        // Alternate which goes first, so a drift in the machine's load hits both.
        let order = if run % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let (name, file) = files[i];
            let mut r =
                ttfs_streamd(&api, Path::new(file), CHROME_QUERY, None, METHOD, false).await?;
            let id = r["media_id"].as_str().ok_or("media_id")?.to_string();
            let (tracks, subtitle_ms) = subtitle_track(&api, &id).await?;
            let want = if name == "none" { 0 } else { 10 };
            if tracks != want {
                return Err(
                    format!("{file}: {tracks} subtitle tracks in the master, not {want}").into(),
                );
            }
            r["subtitle_tracks"] = json!(tracks);
            r["subtitle_ms"] = json!(subtitle_ms);
            eprintln!(
                "  subs {name} run {run}: first segments {:.0} ms, master {:.0} ms",
                r["both_ms"].as_f64().unwrap_or(0.0),
                r["master_ms"].as_f64().unwrap_or(0.0)
            );
            results[i].push(r);
            api.wait_idle().await;
        }
    }
    let [none, ten] = results;
    write_json(
        o.get("out"),
        &json!({
            "runs": runs, "method": METHOD, "query": CHROME_QUERY,
            "plain": file_name(files[0].1), "subs": file_name(files[1].1),
            "none": none, "ten": ten,
        }),
    )
}

/// The session's master again (the same session: the request is idempotent): how many subtitle
/// tracks it lists, and the time to the first one's playlist and WebVTT in hand (`None` when it
/// lists none).
async fn subtitle_track(api: &Api, id: &str) -> Res<(usize, Option<f64>)> {
    let v = api.stream(id, CHROME_QUERY).await?;
    let master_url = api.absolute(v["url"].as_str().ok_or("url")?);
    let master = api.text(&master_url).await?;
    let uris: Vec<&str> = master
        .lines()
        .filter(|l| l.starts_with("#EXT-X-MEDIA:TYPE=SUBTITLES"))
        .filter_map(|l| l.split("URI=\"").nth(1)?.split('"').next())
        .collect();
    let Some(first) = uris.first() else {
        return Ok((0, None));
    };
    let t0 = Instant::now();
    let playlist_url = resolve(&master_url, first)?;
    let playlist = api.text(&playlist_url).await?;
    let vtt = playlist
        .lines()
        .find(|l| !l.starts_with('#') && !l.trim().is_empty())
        .ok_or("a subtitle playlist without a segment")?;
    let text = api.text(&resolve(&playlist_url, vtt.trim())?).await?;
    if !text.starts_with("WEBVTT") {
        return Err(format!("{vtt}: not WebVTT").into());
    }
    Ok((uris.len(), Some(t0.elapsed().as_secs_f64() * 1000.0)))
}

fn file_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
