//! Probing with ffprobe: its JSON output parsed into typed structs, the keyframe index read from
//! the packet list (demuxing only, no decoding), and failures turned into messages a person
//! understands. ffprobe reads the source by path or by HTTP range from a presigned URL, so a
//! large file is never held in memory.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

use stream_core::model::{AudioStream, HdrKind, Probe, SubtitleKind, SubtitleStream, VideoStream};

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The file is not usable media; the message is meant for the uploader.
    #[error("{0}")]
    Unusable(String),
    /// ffprobe itself could not run or did not finish (an operator problem, not the file's).
    #[error("ffprobe failed: {0}")]
    Tool(String),
}

// ---- ffprobe's JSON, as it prints it (numbers often as strings) ----

#[derive(Debug, Deserialize)]
pub struct FfprobeOutput {
    #[serde(default)]
    pub streams: Vec<FfStream>,
    pub format: Option<FfFormat>,
}

#[derive(Debug, Deserialize)]
pub struct FfFormat {
    pub format_name: String,
    pub duration: Option<String>,
    pub start_time: Option<String>,
    pub bit_rate: Option<String>,
    pub size: Option<String>,
    #[serde(default)]
    pub tags: HashMap<String, String>,
}

#[derive(Debug, Deserialize)]
pub struct FfStream {
    pub index: u32,
    pub codec_type: Option<String>,
    pub codec_name: Option<String>,
    pub profile: Option<String>,
    pub codec_tag_string: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub pix_fmt: Option<String>,
    pub level: Option<i64>,
    pub field_order: Option<String>,
    pub avg_frame_rate: Option<String>,
    pub r_frame_rate: Option<String>,
    pub bits_per_raw_sample: Option<String>,
    pub color_transfer: Option<String>,
    pub bit_rate: Option<String>,
    pub duration: Option<String>,
    pub channels: Option<u32>,
    pub channel_layout: Option<String>,
    pub sample_rate: Option<String>,
    #[serde(default)]
    pub disposition: HashMap<String, i64>,
    #[serde(default)]
    pub tags: HashMap<String, String>,
    #[serde(default)]
    pub side_data_list: Vec<serde_json::Value>,
}

fn num<T: std::str::FromStr>(s: &Option<String>) -> Option<T> {
    s.as_deref().and_then(|v| v.trim().parse().ok())
}

/// "24000/1001" → 23.976…; "0/0" → None.
pub fn parse_rate(s: &str) -> Option<f64> {
    let (n, d) = s.split_once('/').unwrap_or((s, "1"));
    let (n, d): (f64, f64) = (n.trim().parse().ok()?, d.trim().parse().ok()?);
    (d > 0.0 && n > 0.0).then(|| n / d)
}

fn bit_depth(st: &FfStream) -> u8 {
    if let Some(b) = num::<u8>(&st.bits_per_raw_sample).filter(|b| *b > 0) {
        return b;
    }
    match st.pix_fmt.as_deref() {
        Some(p) if p.contains("16") => 16,
        Some(p) if p.contains("12") => 12,
        Some(p) if p.contains("10") => 10,
        _ => 8,
    }
}

fn hdr_kind(st: &FfStream) -> HdrKind {
    let dovi = st.side_data_list.iter().any(|d| {
        d.get("side_data_type")
            .and_then(|t| t.as_str())
            .is_some_and(|t| t.contains("DOVI"))
    });
    if dovi {
        return HdrKind::DolbyVision;
    }
    match st.color_transfer.as_deref() {
        Some("smpte2084") => HdrKind::Hdr10,
        Some("arib-std-b67") => HdrKind::Hlg,
        _ => HdrKind::Sdr,
    }
}

fn level(codec: &str, raw: Option<i64>) -> Option<f64> {
    let raw = raw.filter(|l| *l > 0)?;
    Some(match codec {
        "h264" => raw as f64 / 10.0,
        "hevc" => raw as f64 / 30.0,
        _ => raw as f64,
    })
}

fn container_name(
    format_name: &str,
    tags: &HashMap<String, String>,
    filename: &str,
    has_video: bool,
) -> String {
    let ext = filename
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let first = format_name.split(',').next().unwrap_or(format_name);
    if format_name.contains("mp4") || format_name.starts_with("mov") {
        if tags.get("major_brand").is_some_and(|b| b.trim() == "qt") {
            return "mov".into();
        }
        if !has_video && ext == "m4a" {
            return "m4a".into();
        }
        return "mp4".into();
    }
    if format_name.contains("matroska") {
        return if ext == "webm" {
            "webm".into()
        } else {
            "mkv".into()
        };
    }
    match first {
        "mpegts" => "ts".into(),
        other => other.to_string(),
    }
}

/// Formats whose "media" is other files or URLs named inside them (an HLS or DASH playlist, a
/// concat list, an SDP description). Accepted, such an upload would make ffprobe and every later
/// ffmpeg run read whatever it names (another file on the server's disk, a host on its network)
/// and serve that as the uploader's media; ffmpeg picks the HLS demuxer from the content alone,
/// whatever the file is called. They are refused at ingest, so nothing is ever made from them.
fn refers_elsewhere(format_name: &str) -> bool {
    const REFERENCING: &[&str] = &["hls", "applehttp", "dash", "concat", "sdp", "rtsp", "rtp"];
    format_name.split(',').any(|f| REFERENCING.contains(&f))
}

/// Turns ffprobe's JSON into a [`Probe`] (keyframes are filled in separately).
// Long because it maps each part of ffprobe's output (format, video, audio, subtitles, and the
// sentences for unusable files) to the model in one place, in the order of SPEC §3 "Ingest".
pub fn interpret(out: &FfprobeOutput, filename: &str) -> Result<Probe, ProbeError> {
    let format = out.format.as_ref().ok_or_else(|| {
        ProbeError::Unusable("Not a media file: no container format was recognised.".into())
    })?;
    if refers_elsewhere(&format.format_name) {
        return Err(ProbeError::Unusable(
            "A playlist or a list of other files is not a media file: upload the media itself."
                .into(),
        ));
    }
    let is = |st: &&FfStream, kind: &str| st.codec_type.as_deref() == Some(kind);
    let video_st = out.streams.iter().find(|st| {
        is(st, "video")
            && st.disposition.get("attached_pic").copied().unwrap_or(0) == 0
            && st.width.unwrap_or(0) > 0
    });
    let audio: Vec<AudioStream> = out
        .streams
        .iter()
        .filter(|st| is(st, "audio"))
        .map(|st| AudioStream {
            index: st.index,
            codec: st.codec_name.clone().unwrap_or_else(|| "unknown".into()),
            profile: st.profile.clone(),
            channels: st.channels.unwrap_or(0),
            channel_layout: st.channel_layout.clone(),
            sample_rate: num(&st.sample_rate),
            bitrate: num(&st.bit_rate),
            language: st.tags.get("language").cloned().filter(|l| l != "und"),
            default: st.disposition.get("default").copied().unwrap_or(0) == 1,
        })
        .collect();
    let subtitles = out
        .streams
        .iter()
        .filter(|st| is(st, "subtitle"))
        .map(|st| {
            let codec = st.codec_name.clone().unwrap_or_else(|| "unknown".into());
            let kind = if matches!(
                codec.as_str(),
                "hdmv_pgs_subtitle" | "dvd_subtitle" | "dvb_subtitle" | "xsub"
            ) {
                SubtitleKind::Bitmap
            } else {
                SubtitleKind::Text
            };
            SubtitleStream {
                index: st.index,
                codec,
                language: st.tags.get("language").cloned().filter(|l| l != "und"),
                kind,
                forced: st.disposition.get("forced").copied().unwrap_or(0) == 1,
                default: st.disposition.get("default").copied().unwrap_or(0) == 1,
                title: st.tags.get("title").cloned(),
            }
        })
        .collect();
    let video = video_st.map(|st| {
        let codec = st.codec_name.clone().unwrap_or_else(|| "unknown".into());
        VideoStream {
            index: st.index,
            level: level(&codec, st.level),
            profile: st.profile.clone(),
            width: st.width.unwrap_or(0),
            height: st.height.unwrap_or(0),
            bit_depth: bit_depth(st),
            pix_fmt: st.pix_fmt.clone(),
            frame_rate: st
                .avg_frame_rate
                .as_deref()
                .and_then(parse_rate)
                .or_else(|| st.r_frame_rate.as_deref().and_then(parse_rate))
                .map(stream_core::frame_rate::normalize),
            codec_tag: st.codec_tag_string.clone().filter(|t| !t.starts_with('[')),
            color_transfer: st.color_transfer.clone(),
            hdr: hdr_kind(st),
            interlaced: st
                .field_order
                .as_deref()
                .is_some_and(|f| f != "progressive" && f != "unknown"),
            bitrate: num(&st.bit_rate),
            codec,
        }
    });
    if video.is_none() && audio.is_empty() {
        return Err(ProbeError::Unusable(
            "The file has neither a video nor an audio stream.".into(),
        ));
    }
    let duration = num::<f64>(&format.duration)
        .or_else(|| video_st.and_then(|st| num::<f64>(&st.duration)))
        .filter(|d| d.is_finite() && *d > 0.0)
        .ok_or_else(|| {
            ProbeError::Unusable(
                "The file's duration cannot be determined: it is probably truncated or damaged."
                    .into(),
            )
        })?;
    let size: Option<f64> = num(&format.size);
    let bitrate =
        num::<u64>(&format.bit_rate).or_else(|| size.map(|s| (s * 8.0 / duration) as u64));
    let mut notes = vec![];
    if video.is_none() {
        notes.push("Audio only: the file has no video stream.".to_string());
    }
    Ok(Probe {
        container: container_name(&format.format_name, &format.tags, filename, video.is_some()),
        format_name: format.format_name.clone(),
        duration_seconds: duration,
        start_time: num::<f64>(&format.start_time)
            .filter(|t| t.is_finite())
            .unwrap_or(0.0),
        bitrate,
        video,
        audio,
        subtitles,
        keyframes: vec![],
        notes,
    })
}

/// A person-readable reason for an ffprobe failure, from its stderr.
pub fn explain_failure(stderr: &str) -> String {
    let s = stderr.to_ascii_lowercase();
    if s.contains("max_streams") {
        "The file declares more streams than are accepted (at most 1000).".into()
    } else if s.contains("moov atom not found") {
        "The file is truncated or incomplete: its MP4 index (moov atom) is missing.".into()
    } else if s.contains("invalid data found when processing input") {
        "Not a media file: no known audio or video format was recognised.".into()
    } else if s.contains("end of file") || s.contains("truncat") || s.contains("partial file") {
        "The file is truncated or damaged and cannot be read.".into()
    } else {
        let first = stderr
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("unknown error");
        // Drop the input path/URL ffprobe prefixes its messages with: it may be a presigned URL.
        let reason = first.rsplit(": ").next().unwrap_or(first);
        format!("The file could not be read as media: {reason}.")
    }
}

pub struct Prober {
    pub ffprobe: String,
    /// The bound on one whole probe (streams and keyframe scan). A file can be built to keep
    /// ffprobe busy for minutes (a megabyte of laced one-byte packets does); past this the run is
    /// killed and the file refused with a sentence that says so, rather than the ingest hanging
    /// (or, in the cloud, the ingest function being killed and the media left `probing`).
    pub timeout: Duration,
}

/// The default of [`Prober::timeout`]: with the subtitle pass (bounded alike), under the ingest
/// function's 240 s Lambda timeout
/// (infra/template.yaml), so the outcome is always recorded.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(100);

impl Prober {
    pub fn new(ffprobe: &str) -> Self {
        Prober {
            ffprobe: ffprobe.to_string(),
            timeout: DEFAULT_PROBE_TIMEOUT,
        }
    }

    /// The same prober with another bound on a whole probe.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Probes `location` (a path or URL) within [`Prober::timeout`]; a probe that takes longer
    /// is stopped (its ffprobe killed) and the file refused as [`ProbeError::Unusable`].
    pub async fn probe(&self, location: &str, filename: &str) -> Result<Probe, ProbeError> {
        match tokio::time::timeout(self.timeout, self.probe_unbounded(location, filename)).await {
            Ok(result) => result,
            Err(_) => Err(ProbeError::Unusable(format!(
                "Reading the file took longer than the limit of {} s, so it was stopped: it is \
                 probably damaged or built to be slow to read.",
                self.timeout.as_secs()
            ))),
        }
    }

    /// Probes `location` (a path or URL). `filename` is the uploaded name, a container hint.
    /// The ffprobe runs are `kill_on_drop`: dropping this future (the timeout) stops them.
    async fn probe_unbounded(&self, location: &str, filename: &str) -> Result<Probe, ProbeError> {
        let output = self.run_json(location).await?;
        let mut probe = interpret(&output, filename)?;
        if probe.video.is_some() {
            let start = output
                .format
                .as_ref()
                .and_then(|f| num::<f64>(&f.start_time))
                .unwrap_or(0.0);
            probe.keyframes = self.keyframes(location, start).await?;
            if probe.keyframes.is_empty() {
                return Err(ProbeError::Unusable(
                    "The video stream has no keyframes: the file is damaged.".into(),
                ));
            }
        }
        Ok(probe)
    }

    async fn run_json(&self, location: &str) -> Result<FfprobeOutput, ProbeError> {
        let mut cmd = Command::new(&self.ffprobe);
        cmd.args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            "-i",
            location,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| ProbeError::Tool(format!("cannot run `{}`: {e}", self.ffprobe)))?;
        let (Some(mut stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(ProbeError::Tool("ffprobe without its pipes".into()));
        };
        let mut json = Vec::new();
        let (read, stderr) = tokio::join!(stdout.read_to_end(&mut json), read_capped(stderr));
        read.map_err(|e| ProbeError::Tool(format!("reading ffprobe's output: {e}")))?;
        let status = child
            .wait()
            .await
            .map_err(|e| ProbeError::Tool(e.to_string()))?;
        if !status.success() {
            return Err(ProbeError::Unusable(explain_failure(&stderr)));
        }
        serde_json::from_slice(&json)
            .map_err(|e| ProbeError::Tool(format!("unexpected ffprobe output: {e}")))
    }

    /// Keyframe times of the first video stream, relative to the file's start, ascending.
    /// Reads packets only (no decoding), streaming ffprobe's output line by line.
    async fn keyframes(&self, location: &str, start_time: f64) -> Result<Vec<f64>, ProbeError> {
        let mut child = Command::new(&self.ffprobe)
            .args([
                "-v",
                "error",
                "-select_streams",
                "v:0",
                "-show_entries",
                "packet=pts_time,dts_time,flags",
                "-of",
                "compact=p=0",
                "-i",
                location,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| ProbeError::Tool(format!("cannot run `{}`: {e}", self.ffprobe)))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| ProbeError::Tool("no stdout".into()))?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| ProbeError::Tool("no stderr".into()))?;
        let collect = async {
            let mut times = vec![];
            let mut lines = BufReader::new(stdout).lines();
            while let Some(line) = lines
                .next_line()
                .await
                .map_err(|e| ProbeError::Tool(e.to_string()))?
            {
                if let Some(t) = keyframe_time(&line) {
                    times.push(((t - start_time) * 1000.0).round() / 1000.0);
                }
            }
            Ok::<_, ProbeError>(times)
        };
        // Both pipes at once: ffprobe blocked on a full stderr would never finish its stdout.
        let (times, err) = tokio::join!(collect, read_capped(stderr));
        let status = child
            .wait()
            .await
            .map_err(|e| ProbeError::Tool(e.to_string()))?;
        let mut times = times?;
        if !status.success() && times.is_empty() {
            return Err(ProbeError::Unusable(explain_failure(&err)));
        }
        times.retain(|t| t.is_finite());
        times.sort_by(f64::total_cmp);
        times.dedup();
        if let Some(first) = times.first_mut() {
            // A first keyframe a hair off zero (edit lists, rounding) starts the file.
            if first.abs() < 0.002 {
                *first = 0.0;
            }
        }
        Ok(times)
    }
}

/// The most of ffprobe's stderr kept: its first lines say what is wrong with a file. A damaged
/// file can make it print millions of lines (one per packet it cannot decode); the rest is read
/// and dropped, so the pipe never blocks ffprobe and never fills memory.
const STDERR_KEPT: usize = 64 * 1024;

/// Reads `stderr` to its end, keeping the first [`STDERR_KEPT`] bytes.
async fn read_capped(mut stderr: impl tokio::io::AsyncRead + Unpin) -> String {
    let mut kept = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        match stderr.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = STDERR_KEPT.saturating_sub(kept.len());
                kept.extend_from_slice(&chunk[..n.min(room)]);
            }
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

/// `pts_time=1.000000|dts_time=0.958333|flags=K__` → Some(1.0) for a keyframe packet.
fn keyframe_time(line: &str) -> Option<f64> {
    let mut pts = None;
    let mut dts = None;
    let mut key = false;
    for field in line.split('|') {
        match field.split_once('=') {
            Some(("pts_time", v)) => pts = v.parse::<f64>().ok(),
            Some(("dts_time", v)) => dts = v.parse::<f64>().ok(),
            Some(("flags", v)) => key = v.starts_with('K'),
            _ => {}
        }
    }
    if key {
        pts.or(dts)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MKV_HEVC: &str = r#"{
      "streams": [
        {"index":0,"codec_name":"hevc","profile":"Main 10","codec_type":"video","codec_tag_string":"[0][0][0][0]","width":1280,"height":720,"pix_fmt":"yuv420p10le","level":93,"field_order":"progressive","r_frame_rate":"24/1","avg_frame_rate":"24/1","color_transfer":"smpte2084","disposition":{"default":1,"attached_pic":0},"tags":{"language":"eng"}},
        {"index":1,"codec_name":"ac3","codec_type":"audio","sample_rate":"48000","channels":6,"channel_layout":"5.1(side)","bit_rate":"448000","disposition":{"default":1},"tags":{"language":"fre"}},
        {"index":2,"codec_name":"hdmv_pgs_subtitle","codec_type":"subtitle","disposition":{"default":0},"tags":{"language":"eng"}},
        {"index":3,"codec_name":"mjpeg","codec_type":"video","width":300,"height":300,"disposition":{"attached_pic":1}}
      ],
      "format": {"format_name":"matroska,webm","duration":"4.000000","start_time":"0.000000","size":"500000","bit_rate":"1000000","tags":{}}
    }"#;

    #[test]
    fn interprets_hevc_10bit_hdr_mkv() {
        let out: FfprobeOutput = serde_json::from_str(MKV_HEVC).unwrap();
        let p = interpret(&out, "film.mkv").unwrap();
        assert_eq!(p.container, "mkv");
        assert_eq!(p.duration_seconds, 4.0);
        assert_eq!(p.bitrate, Some(1_000_000));
        let v = p.video.unwrap();
        assert_eq!(
            (v.codec.as_str(), v.width, v.height, v.bit_depth),
            ("hevc", 1280, 720, 10)
        );
        assert_eq!(v.profile.as_deref(), Some("Main 10"));
        assert_eq!(v.level, Some(3.1));
        assert_eq!(v.hdr, HdrKind::Hdr10);
        assert_eq!(v.frame_rate, Some(24.0));
        assert_eq!(v.codec_tag, None);
        assert!(!v.interlaced);
        assert_eq!(p.audio.len(), 1);
        assert_eq!(
            (
                p.audio[0].codec.as_str(),
                p.audio[0].channels,
                p.audio[0].default
            ),
            ("ac3", 6, true)
        );
        assert_eq!(p.audio[0].language.as_deref(), Some("fre"));
        assert_eq!(p.subtitles[0].kind, SubtitleKind::Bitmap);
    }

    #[test]
    fn audio_only_is_usable_and_says_so() {
        let out: FfprobeOutput = serde_json::from_str(
            r#"{"streams":[{"index":0,"codec_type":"audio","codec_name":"aac","channels":2}],"format":{"format_name":"mov,mp4,m4a,3gp,3g2,mj2","duration":"4.0","tags":{"major_brand":"M4A "}}}"#,
        )
        .unwrap();
        let p = interpret(&out, "song.m4a").unwrap();
        assert!(p.video.is_none());
        assert_eq!(p.container, "m4a");
        assert_eq!(
            p.notes,
            vec!["Audio only: the file has no video stream.".to_string()]
        );
    }

    #[test]
    fn no_streams_or_no_duration_is_unusable() {
        let out: FfprobeOutput =
            serde_json::from_str(r#"{"streams":[],"format":{"format_name":"mp3"}}"#).unwrap();
        assert!(matches!(
            interpret(&out, "x.mp3"),
            Err(ProbeError::Unusable(_))
        ));
        let out: FfprobeOutput = serde_json::from_str(r#"{"streams":[{"index":0,"codec_type":"audio","codec_name":"mp3","channels":2}],"format":{"format_name":"mp3"}}"#).unwrap();
        assert!(matches!(
            interpret(&out, "x.mp3"),
            Err(ProbeError::Unusable(_))
        ));
    }

    #[test]
    fn containers_are_normalised() {
        let t = |f: &str, brand: &str, name: &str| {
            let tags = HashMap::from([("major_brand".to_string(), brand.to_string())]);
            container_name(f, &tags, name, true)
        };
        assert_eq!(t("mov,mp4,m4a,3gp,3g2,mj2", "isom", "a.mp4"), "mp4");
        assert_eq!(t("mov,mp4,m4a,3gp,3g2,mj2", "qt  ", "a.mov"), "mov");
        assert_eq!(t("matroska,webm", "", "a.webm"), "webm");
        assert_eq!(t("matroska,webm", "", "a.mkv"), "mkv");
        assert_eq!(t("avi", "", "a.avi"), "avi");
        assert_eq!(t("mpegts", "", "a.ts"), "ts");
    }

    #[test]
    fn rates_levels_and_keyframe_lines() {
        assert!((parse_rate("24000/1001").unwrap() - 23.976).abs() < 0.001);
        assert_eq!(parse_rate("0/0"), None);
        assert_eq!(level("h264", Some(41)), Some(4.1));
        assert_eq!(level("hevc", Some(120)), Some(4.0));
        assert_eq!(
            keyframe_time("pts_time=2.000000|dts_time=1.916667|flags=K__"),
            Some(2.0)
        );
        assert_eq!(
            keyframe_time("pts_time=2.041667|dts_time=1.958333|flags=___"),
            None
        );
        assert_eq!(
            keyframe_time("pts_time=N/A|dts_time=3.5|flags=K_"),
            Some(3.5)
        );
    }

    #[tokio::test]
    async fn stderr_is_drained_whole_and_kept_short() {
        let flood = "no frame!\n".repeat(100_000);
        let kept = read_capped(flood.as_bytes()).await;
        assert_eq!(kept.len(), STDERR_KEPT);
        assert!(kept.starts_with("no frame!\n"));
        assert_eq!(read_capped(&b"short"[..]).await, "short");
    }

    #[test]
    fn playlists_and_lists_of_files_are_refused() {
        for name in ["hls", "dash", "concat", "sdp"] {
            let json = format!(
                r#"{{"streams":[{{"index":0,"codec_type":"audio","codec_name":"aac","channels":2}}],"format":{{"format_name":"{name}","duration":"4.0"}}}}"#
            );
            let out: FfprobeOutput = serde_json::from_str(&json).unwrap();
            let e = interpret(&out, "x.mp4").unwrap_err();
            assert!(e.to_string().contains("playlist"), "{name}: {e}");
        }
        assert!(!refers_elsewhere("mov,mp4,m4a,3gp,3g2,mj2"));
        assert!(!refers_elsewhere("matroska,webm"));
    }

    #[test]
    fn failures_are_explained_without_leaking_the_location() {
        assert!(explain_failure(
            "[matroska,webm @ 0x1] Number of streams exceeds max_streams parameter (1000)\nx: Cannot allocate memory"
        )
        .contains("more streams"));
        assert!(
            explain_failure("https://bucket/x?X-Amz-Signature=abc: moov atom not found")
                .contains("moov atom")
        );
        assert!(
            explain_failure("/data/x: Invalid data found when processing input")
                .starts_with("Not a media file")
        );
        let m = explain_failure("https://h/x?X-Amz-Signature=secret: Something odd");
        assert!(!m.contains("secret"), "{m}");
    }
}
