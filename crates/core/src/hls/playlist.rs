//! Playlist text (SPEC §3 "HLS"). Segment file names are `crate::segment`'s.
//!
//! The text is written here directly rather than through `m3u8-rs` (6.0, which the tests use
//! to parse the output back): its writer stores EXTINF durations as `f32`, sets the printed
//! precision through a process-wide atomic (shared by every concurrent request), prints
//! `FRAME-RATE` and `TIME-OFFSET` with every digit of an `f64`, leaves out
//! `EXT-X-MEDIA-SEQUENCE:0` and goes through `io::Write` into a byte buffer. These playlists
//! are served on every request (SPEC §8: microseconds), so one `String` sized up front is
//! written once, with durations printed from integer microseconds.
//!
//! Rendition playlist URIs in the master are relative (players resolve them against the
//! playlist's URL) and carry the session token's query. Segment URIs in a variant playlist are
//! wherever [`SegmentUris`] says: the rendition's content path at the edge with its edge
//! signature (SPEC §3 "Edge delivery"), or relative names with the session token (the session
//! route, when no edge is configured). Characters that could break out of a URI line or a
//! quoted attribute are percent-encoded.

use std::fmt::Write as _;

use percent_encoding::{AsciiSet, CONTROLS};

use super::ladder::{RenditionSet, AUDIO_ID};
use super::plan::SegmentPlan;
use crate::playback::decision::SegmentFormat;
use crate::segment::{extension, INDEX_DIGITS, INIT_NAME};
use crate::tracks::{is_track_id, SubtitleTrack};

/// The name of every rendition playlist.
pub const PLAYLIST_NAME: &str = "playlist.m3u8";
/// The audio group of the master playlist.
pub const AUDIO_GROUP: &str = "aud";
/// The subtitles group of the master playlist.
pub const SUBTITLE_GROUP: &str = "subs";
/// The rendition names of subtitle playlists start with this (`sub-s2`, `sub-x1a2b3c4d`).
pub const SUBTITLE_RENDITION_PREFIX: &str = "sub-";

/// What may not appear raw in a URI of a playlist: controls (CR/LF would start a new line),
/// space, `"` (ends a quoted attribute), `#`, `<`, `>`, `` ` ``, and everything non-ASCII.
const QUERY_UNSAFE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'`');

/// `?<token_query>` ready to append to a URI, or nothing for an empty query.
fn query_suffix(token_query: &str) -> String {
    let q = token_query.trim_start_matches('?');
    if q.is_empty() {
        String::new()
    } else {
        format!(
            "?{}",
            percent_encoding::utf8_percent_encode(q, QUERY_UNSAFE)
        )
    }
}

/// `EXT-X-VERSION`: 7 for fMP4 (EXT-X-MAP in a non-I-frame playlist needs 6; Apple asks 7);
/// 3 for TS (floating-point EXTINF is the newest feature used).
fn version(format: SegmentFormat) -> u8 {
    match format {
        SegmentFormat::Fmp4 => 7,
        SegmentFormat::Ts => 3,
    }
}

/// A quoted-string attribute value: no `"`, CR or LF allowed (RFC 8216 4.2).
fn quoted(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '"' && *c != '\r' && *c != '\n')
        .collect()
}

/// The master playlist of a rendition set (SPEC §3). `start` (seconds) becomes
/// `EXT-X-START:TIME-OFFSET=<t>,PRECISE=YES` when it is positive; the caller keeps it within
/// the media. Variants are listed best first: the first is the default start for Apple's
/// players (hls.js picks its own from a 500 kbit/s estimate).
pub fn master(set: &RenditionSet, start: Option<f64>, token_query: &str) -> String {
    master_with(set, start, token_query, &[])
}

/// [`master`] with the media's subtitle tracks as a `SUBTITLES` group (SPEC §3 "Tracks"):
/// one `EXT-X-MEDIA:TYPE=SUBTITLES` per playable track, its playlist at
/// [`subtitle_rendition`]`(id)/playlist.m3u8`, and `SUBTITLES="subs"` on every variant.
pub fn master_with(
    set: &RenditionSet,
    start: Option<f64>,
    token_query: &str,
    subtitles: &[SubtitleTrack],
) -> String {
    let q = query_suffix(token_query);
    let mut out = String::with_capacity(512 + set.video.len() * (200 + q.len()));
    // Writing to a String cannot fail; the results are ignored deliberately.
    let _ = writeln!(
        out,
        "#EXTM3U\n#EXT-X-VERSION:{}\n#EXT-X-INDEPENDENT-SEGMENTS",
        version(set.format)
    );
    if let Some(t) = start.filter(|t| t.is_finite() && *t > 0.0) {
        let _ = writeln!(out, "#EXT-X-START:TIME-OFFSET={t:.3},PRECISE=YES");
    }
    let audio_uri = format!("{AUDIO_ID}/{PLAYLIST_NAME}{q}");
    match (&set.audio, set.video.is_empty()) {
        (Some(a), true) => {
            // Audio only: the audio playlist is the one variant.
            let bw = set.audio_bandwidth().unwrap_or(super::ladder::Bandwidth {
                peak: a.bitrate,
                average: a.bitrate,
            });
            let _ = writeln!(
                out,
                "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},CODECS=\"{}\"\n{audio_uri}",
                bw.peak.max(1),
                bw.average.max(1),
                quoted(&a.codecs)
            );
            return out;
        }
        (Some(_), false) => {
            // Every track of the media in one group: the selected one the default.
            for a in set.audio_renditions() {
                let name = if a.name.is_empty() {
                    "Audio"
                } else {
                    a.name.as_str()
                };
                let _ = write!(
                    out,
                    "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"{AUDIO_GROUP}\",NAME=\"{}\"",
                    quoted(name)
                );
                if let Some(l) = &a.language {
                    let _ = write!(out, ",LANGUAGE=\"{}\"", quoted(l));
                }
                let default = if a.id == AUDIO_ID { "YES" } else { "NO" };
                let _ = writeln!(
                    out,
                    ",DEFAULT={default},AUTOSELECT=YES,CHANNELS=\"{}\",URI=\"{}/{PLAYLIST_NAME}{q}\"",
                    a.channels, a.id
                );
            }
        }
        (None, _) => {}
    }
    let subs: Vec<&SubtitleTrack> = subtitles.iter().filter(|t| t.playable()).collect();
    for t in &subs {
        let _ = write!(
            out,
            "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"{SUBTITLE_GROUP}\",NAME=\"{}\"",
            quoted(&t.name)
        );
        if let Some(l) = &t.language {
            let _ = write!(out, ",LANGUAGE=\"{}\"", quoted(l));
        }
        let yes = |b: bool| if b { "YES" } else { "NO" };
        let _ = writeln!(
            out,
            ",DEFAULT={},AUTOSELECT=YES,FORCED={},URI=\"{}/{PLAYLIST_NAME}{q}\"",
            yes(t.default),
            yes(t.forced),
            subtitle_rendition(&t.id)
        );
    }
    for v in &set.video {
        let bw = set.bandwidth(v);
        let _ = write!(
            out,
            "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},RESOLUTION={}x{}",
            bw.peak.max(1),
            bw.average.max(1),
            v.width,
            v.height
        );
        if let Some(f) = v.frame_rate.filter(|f| f.is_finite() && *f > 0.0) {
            let _ = write!(out, ",FRAME-RATE={f:.3}");
        }
        let _ = write!(out, ",VIDEO-RANGE={}", v.video_range.as_hls());
        let _ = write!(out, ",CODECS=\"{}", quoted(&v.codecs));
        // Every audio format of the group (RFC 8216 4.3.4.2), once each.
        let mut audio_codecs: Vec<&str> = vec![];
        for a in set.audio_renditions() {
            if !audio_codecs.contains(&a.codecs.as_str()) {
                audio_codecs.push(&a.codecs);
            }
        }
        for c in audio_codecs {
            let _ = write!(out, ",{}", quoted(c));
        }
        out.push('"');
        if let Some(dv) = &v.supplemental_codecs {
            let _ = write!(out, ",SUPPLEMENTAL-CODECS=\"{}\"", quoted(dv));
        }
        if set.audio.is_some() {
            let _ = write!(out, ",AUDIO=\"{AUDIO_GROUP}\"");
        }
        if !subs.is_empty() {
            let _ = write!(out, ",SUBTITLES=\"{SUBTITLE_GROUP}\"");
        }
        let _ = writeln!(out, "\n{}/{PLAYLIST_NAME}{q}", v.id);
    }
    out
}

/// The rendition name of a subtitle track's playlist in a session (`sub-<track id>`).
pub fn subtitle_rendition(track_id: &str) -> String {
    format!("{SUBTITLE_RENDITION_PREFIX}{track_id}")
}

/// The track id a rendition name of [`subtitle_rendition`] names, if it is one.
pub fn subtitle_track_of(rendition: &str) -> Option<&str> {
    rendition
        .strip_prefix(SUBTITLE_RENDITION_PREFIX)
        .filter(|id| is_track_id(id))
}

/// The WebVTT media playlist of a subtitle track: the whole track as one segment of the
/// media's duration (`total`, the plan's, so it ends with the video), at `url` (a signed URL
/// of its WebVTT). One file, not one per video segment: a track is a few hundred kilobytes at
/// most, fetched once, and its cues carry the timeline map (`X-TIMESTAMP-MAP`) that places
/// them on the segments' timeline.
pub fn subtitle_playlist(total: f64, url: &str) -> String {
    let us = (total.max(0.0) * 1e6).round() as u64;
    let target = us.div_ceil(1_000_000).max(1);
    let url = percent_encoding::utf8_percent_encode(url, QUERY_UNSAFE);
    format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:{}.{:06},\n{url}\n#EXT-X-ENDLIST\n",
        us / 1_000_000,
        us % 1_000_000
    )
}

/// Where the init and media segments of a variant playlist are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentUris<'a> {
    /// Put before each file name: empty (relative to the playlist), a path
    /// (`/renditions/<content key>/`) or an absolute URL prefix.
    pub prefix: &'a str,
    /// The query every segment URI carries (a session token or an edge signature).
    pub query: &'a str,
}

impl<'a> SegmentUris<'a> {
    /// File names relative to the playlist, with `query`.
    pub fn relative(query: &'a str) -> Self {
        SegmentUris { prefix: "", query }
    }
}

/// The VOD media playlist of one rendition (SPEC §3): complete from the first request.
pub fn variant(plan: &SegmentPlan, format: SegmentFormat, uris: SegmentUris<'_>) -> String {
    let q = query_suffix(uris.query);
    let p = percent_encoding::utf8_percent_encode(uris.prefix, QUERY_UNSAFE).to_string();
    let mut out = String::with_capacity(256 + plan.segments.len() * (34 + p.len() + q.len()));
    let _ = writeln!(
        out,
        "#EXTM3U\n#EXT-X-VERSION:{}\n#EXT-X-TARGETDURATION:{}\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS",
        version(format),
        plan.target_duration_tag()
    );
    if format == SegmentFormat::Fmp4 {
        let _ = writeln!(out, "#EXT-X-MAP:URI=\"{p}{INIT_NAME}{q}\"");
    }
    let ext = extension(format);
    for s in &plan.segments {
        let us = s.extinf_micros();
        let _ = writeln!(
            out,
            "#EXTINF:{}.{:06},\n{p}seg_{:0INDEX_DIGITS$}.{ext}{q}",
            us / 1_000_000,
            us % 1_000_000,
            s.index
        );
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hls::ladder::{self, ClientLimits, LadderConfig};
    use crate::hls::plan::{plan_copy, plan_transcode, TRANSCODE_FIRST};
    use crate::model::{AudioStream, HdrKind, Probe, VideoStream};
    use crate::playback::decision::{Decision, Method};
    use crate::segment::{parse_segment_name, SegmentName};
    use m3u8_rs::Playlist;

    const TQ: &str = "token=abc.DEF_123-x";

    fn probe(
        codec: &str,
        profile: &str,
        level: f64,
        w: u32,
        h: u32,
        audio: &str,
        channels: u32,
    ) -> Probe {
        let video = VideoStream {
            index: 0,
            codec: codec.into(),
            profile: Some(profile.into()),
            level: Some(level),
            width: w,
            height: h,
            bit_depth: 8,
            pix_fmt: None,
            frame_rate: Some(24000.0 / 1001.0),
            codec_tag: None,
            color_transfer: None,
            hdr: HdrKind::Sdr,
            interlaced: false,
            bitrate: Some(4_000_000),
            rotation: 0,
            display_width: 0,
            display_height: 0,
            dolby_vision: None,
        };
        let audio = AudioStream {
            index: 1,
            codec: audio.into(),
            profile: Some("LC".into()),
            channels,
            channel_layout: None,
            sample_rate: Some(48_000),
            bitrate: Some(160_000),
            language: Some("eng".into()),
            default: true,
        };
        Probe {
            container: "mkv".into(),
            format_name: "matroska,webm".into(),
            duration_seconds: 95.37,
            start_time: 0.0,
            bitrate: Some(4_200_000),
            video: Some(video),
            audio: vec![audio],
            subtitles: vec![],
            keyframes: (0..48).map(|i| i as f64 * 2.002).collect(),
            notes: vec![],
        }
    }

    fn set(p: &Probe, method: Method, format: SegmentFormat) -> RenditionSet {
        let d = Decision {
            method,
            reasons: vec![],
            audio_track: Some(1),
            segment_format: Some(format),
            subtitle_burn: None,
        };
        ladder::build(
            "media-1",
            p,
            &d,
            &ClientLimits::default(),
            &LadderConfig::default(),
        )
        .unwrap()
    }

    fn parse_master(text: &str) -> m3u8_rs::MasterPlaylist {
        match m3u8_rs::parse_playlist_res(text.as_bytes()) {
            Ok(Playlist::MasterPlaylist(m)) => m,
            other => panic!("not a master playlist: {other:?}\n{text}"),
        }
    }

    fn parse_media(text: &str) -> m3u8_rs::MediaPlaylist {
        match m3u8_rs::parse_playlist_res(text.as_bytes()) {
            Ok(Playlist::MediaPlaylist(m)) => m,
            other => panic!("not a media playlist: {other:?}\n{text}"),
        }
    }

    fn track(id: &str, lang: Option<&str>, name: &str, playable: bool) -> SubtitleTrack {
        SubtitleTrack {
            id: id.into(),
            language: lang.map(Into::into),
            name: name.into(),
            codec: "subrip".into(),
            kind: crate::model::SubtitleKind::Text,
            source: crate::tracks::TrackSource::Embedded,
            forced: id == "s4",
            default: id == "s3",
            stream_index: None,
            vtt_key: playable.then(|| format!("uploads/m/subtitles/{id}.vtt")),
            error: None,
            cues: 1,
        }
    }

    /// Each playable track is a SUBTITLES rendition with its flags, every variant names the
    /// group; a track without WebVTT (bitmap, failed) is not offered.
    #[test]
    fn master_lists_the_playable_subtitle_tracks() {
        let p = probe("h264", "High", 4.0, 1280, 720, "aac", 2);
        let s = set(&p, Method::Remux, SegmentFormat::Fmp4);
        let tracks = [
            track("s3", Some("en"), "English", true),
            track("s4", Some("fr"), "Français (forced)", true),
            track("s5", None, "Subtitles", false),
        ];
        let text = master_with(&s, None, TQ, &tracks);
        assert!(text.lines().any(|l| l == "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"English\",LANGUAGE=\"en\",DEFAULT=YES,AUTOSELECT=YES,FORCED=NO,URI=\"sub-s3/playlist.m3u8?token=abc.DEF_123-x\""), "{text}");
        let m = parse_master(&text);
        let subs: Vec<_> = m
            .alternatives
            .iter()
            .filter(|a| a.media_type == m3u8_rs::AlternativeMediaType::Subtitles)
            .collect();
        assert_eq!(subs.len(), 2, "{text}");
        assert_eq!(subs[1].name, "Français (forced)");
        assert!(subs[1].forced && !subs[1].default);
        assert!(m
            .variants
            .iter()
            .all(|v| v.subtitles.as_deref() == Some("subs")));
        assert_eq!(subtitle_track_of("sub-s3"), Some("s3"));
        assert_eq!(subtitle_track_of("sub-../x"), None);
        assert_eq!(subtitle_track_of("v720"), None);
        // No playable track: no group.
        let none = master_with(&s, None, TQ, &tracks[2..]);
        assert!(!none.contains("SUBTITLES"), "{none}");
        assert_eq!(none, master(&s, None, TQ));
    }

    /// Every audio track of the media is a rendition of one group: the selected one the
    /// default, each with its language, name and channels; CODECS lists every audio format of
    /// the group; an alternate's content key is the key the same track has when another session
    /// selects it (shared).
    #[test]
    fn master_lists_every_audio_track() {
        let mut p = probe("h264", "High", 4.0, 1280, 720, "aac", 2);
        p.audio[0].default = true;
        let mut fr = p.audio[0].clone();
        (fr.index, fr.codec, fr.profile, fr.channels, fr.default) =
            (2, "ac3".into(), None, 6, false);
        fr.language = Some("fre".into());
        let mut it = p.audio[0].clone();
        (it.index, it.default) = (3, false);
        it.language = Some("ita".into());
        p.audio.extend([fr, it]);
        // A client that plays AC-3 5.1: the French track is copied.
        let mut d = Decision {
            method: Method::Remux,
            reasons: vec![],
            audio_track: Some(1),
            segment_format: Some(SegmentFormat::Fmp4),
            subtitle_burn: None,
        };
        let mut caps = crate::playback::profiles::GENERIC.capabilities();
        caps.audio_codecs = vec!["aac".into(), "ac3".into()];
        caps.max_audio_channels = 6;
        let limits = ClientLimits::audio_of(&caps);
        let cfg = LadderConfig::default();
        let s = ladder::build("media-1", &p, &d, &limits, &cfg).unwrap();
        let text = master(&s, None, TQ);
        let m = parse_master(&text);
        let audio: Vec<_> = m
            .alternatives
            .iter()
            .map(|a| {
                (
                    a.name.as_str(),
                    a.language.as_deref(),
                    a.default,
                    a.uri
                        .as_deref()
                        .unwrap_or("")
                        .split('/')
                        .next()
                        .unwrap()
                        .to_string(),
                    a.channels.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            audio,
            [
                ("English", Some("en"), true, "a".to_string(), Some("2")),
                (
                    "Français (5.1)",
                    Some("fr"),
                    false,
                    "a2".to_string(),
                    Some("6")
                ),
                ("Italiano", Some("it"), false, "a3".to_string(), Some("2")),
            ],
            "{text}"
        );
        let codecs = m.variants[0].codecs.as_deref().unwrap();
        assert!(codecs.ends_with(",mp4a.40.2,ac-3"), "{codecs}");
        // Bandwidth: the largest track of the group counts.
        let ac3 = s.rendition("a2").map(|r| match r {
            crate::hls::ladder::Rendition::Audio(a) => a.peak(),
            _ => 0,
        });
        assert!(m.variants[0].bandwidth >= s.video[0].maxrate + ac3.unwrap());
        // A client that plays AAC stereo only (a browser): the French track is made AAC stereo.
        let aac = set(&p, Method::Remux, SegmentFormat::Fmp4);
        let fr = aac.alternates.iter().find(|a| a.id == "a2").unwrap();
        assert_eq!(
            (fr.copy, fr.codec.as_str(), fr.channels, fr.name.as_str()),
            (false, "aac", 2, "Français")
        );
        assert!(!master(&aac, None, TQ).contains("ac-3"));
        // The French track selected in another session: the same content key.
        d.audio_track = Some(2);
        let other = ladder::build("media-1", &p, &d, &limits, &cfg).unwrap();
        assert_eq!(other.content_key("a"), s.content_key("a2"));
        assert_eq!(
            other.content_key("a2"),
            None,
            "the selected track is `a` there"
        );
        assert_eq!(other.content_key("a1"), s.content_key("a"));
        // Audio only: the selected track is the one variant, no group.
        d.audio_track = Some(1);
        let mut audio_only = p.clone();
        audio_only.video = None;
        let s = ladder::build(
            "m1",
            &audio_only,
            &d,
            &ClientLimits::default(),
            &LadderConfig::default(),
        )
        .unwrap();
        assert!(s.alternates.is_empty());
    }

    #[test]
    fn a_subtitle_playlist_is_one_webvtt_for_the_whole_media() {
        let text = subtitle_playlist(61.5, "https://cdn/x.vtt?Policy=a\"b&Signature=c");
        let m = parse_media(&text);
        assert_eq!(m.target_duration, 62);
        assert!(m.end_list);
        assert_eq!(m.segments.len(), 1);
        assert_eq!(m.segments[0].duration, 61.5);
        assert_eq!(
            m.segments[0].uri,
            "https://cdn/x.vtt?Policy=a%22b&Signature=c"
        );
    }

    #[test]
    fn master_of_a_transcode() {
        let p = probe("hevc", "Main 10", 5.1, 1920, 1080, "ac3", 6);
        let s = set(&p, Method::Transcode, SegmentFormat::Fmp4);
        let text = master(&s, Some(754.25), TQ);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[..3],
            ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
        );
        assert!(lines.contains(&"#EXT-X-START:TIME-OFFSET=754.250,PRECISE=YES"));
        assert!(
            lines.contains(&"#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud\",NAME=\"English\",LANGUAGE=\"en\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"a/playlist.m3u8?token=abc.DEF_123-x\""),
            "{text}"
        );
        assert!(lines.contains(&"#EXT-X-STREAM-INF:BANDWIDTH=5490800,AVERAGE-BANDWIDTH=5128000,RESOLUTION=1920x1080,FRAME-RATE=23.976,VIDEO-RANGE=SDR,CODECS=\"avc1.640028,mp4a.40.2\",AUDIO=\"aud\""), "{text}");

        let m = parse_master(&text);
        assert_eq!(m.version, Some(7));
        assert!(m.independent_segments);
        assert_eq!(
            m.start.as_ref().map(|s| (s.time_offset, s.precise)),
            Some((754.25, Some(true)))
        );
        assert_eq!(m.variants.len(), 4);
        let uris: Vec<&str> = m.variants.iter().map(|v| v.uri.as_str()).collect();
        assert_eq!(
            uris,
            [
                "v1080/playlist.m3u8?token=abc.DEF_123-x",
                "v720/playlist.m3u8?token=abc.DEF_123-x",
                "v480/playlist.m3u8?token=abc.DEF_123-x",
                "v360/playlist.m3u8?token=abc.DEF_123-x"
            ]
        );
        // Best first, every variant with both bandwidths, a resolution, frame rate, codecs.
        assert!(m
            .variants
            .windows(2)
            .all(|w| w[0].bandwidth > w[1].bandwidth));
        for v in &m.variants {
            assert!(v.average_bandwidth.is_some_and(|a| a < v.bandwidth));
            assert!(v.resolution.is_some());
            assert_eq!(v.frame_rate, Some(23.976));
            let codecs = v.codecs.as_deref().unwrap();
            assert!(
                codecs.starts_with("avc1.6400") && codecs.ends_with(",mp4a.40.2"),
                "{codecs}"
            );
            assert_eq!(v.audio.as_deref(), Some("aud"));
        }
        assert_eq!(
            m.variants[1].codecs.as_deref(),
            Some("avc1.64001f,mp4a.40.2")
        );
        assert_eq!(m.alternatives.len(), 1);
        let a = &m.alternatives[0];
        assert_eq!(
            (
                a.group_id.as_str(),
                a.default,
                a.autoselect,
                a.channels.as_deref()
            ),
            ("aud", true, true, Some("2"))
        );
        assert_eq!(
            a.uri.as_deref(),
            Some("a/playlist.m3u8?token=abc.DEF_123-x")
        );
    }

    #[test]
    fn master_of_a_remux_copies_codecs() {
        let p = probe("h264", "High", 4.1, 1920, 1080, "eac3", 6);
        let s = set(&p, Method::Remux, SegmentFormat::Ts);
        let text = master(&s, None, TQ);
        assert!(text.starts_with("#EXTM3U\n#EXT-X-VERSION:3\n"));
        assert!(!text.contains("EXT-X-START"));
        let m = parse_master(&text);
        assert_eq!(m.variants.len(), 1);
        assert_eq!(m.variants[0].codecs.as_deref(), Some("avc1.640029,ec-3"));
        assert_eq!(m.variants[0].uri, "copy/playlist.m3u8?token=abc.DEF_123-x");
        assert_eq!(m.alternatives[0].channels.as_deref(), Some("6"));
        // Copy: peak = 4 000 000 x 1.1 + 160 000 x 1.1, average = 4 000 000 + 160 000.
        assert_eq!(
            (m.variants[0].bandwidth, m.variants[0].average_bandwidth),
            (4_576_000, Some(4_160_000))
        );
    }

    #[test]
    fn master_without_token_start_zero_and_audio_only() {
        let p = probe("h264", "High", 4.1, 1280, 720, "aac", 2);
        let s = set(&p, Method::TranscodeAudio, SegmentFormat::Fmp4);
        let text = master(&s, Some(0.0), "");
        assert!(
            !text.contains('?') && !text.contains("EXT-X-START"),
            "{text}"
        );
        assert!(!master(&s, Some(f64::NAN), "").contains("EXT-X-START"));

        let mut audio_only = p.clone();
        audio_only.video = None;
        let s = set(&audio_only, Method::Remux, SegmentFormat::Fmp4);
        let text = master(&s, None, TQ);
        let m = parse_master(&text);
        assert_eq!(m.variants.len(), 1);
        assert_eq!(m.variants[0].uri, "a/playlist.m3u8?token=abc.DEF_123-x");
        assert_eq!(m.variants[0].codecs.as_deref(), Some("mp4a.40.2"));
        assert!(m.alternatives.is_empty());
    }

    #[test]
    fn token_query_cannot_break_out() {
        let p = probe("h264", "High", 4.1, 1280, 720, "aac", 2);
        let s = set(&p, Method::Remux, SegmentFormat::Fmp4);
        let text = master(&s, None, "?token=a\"b\n#EXT-X-ENDLIST x");
        assert!(
            text.contains("token=a%22b%0A%23EXT-X-ENDLIST%20x"),
            "{text}"
        );
        assert!(!text.contains("\n#EXT-X-ENDLIST"));
        let plan = plan_transcode(10.0, 4.0, &[]).unwrap();
        let v = variant(&plan, SegmentFormat::Fmp4, SegmentUris::relative("t=\r\n"));
        assert!(v.contains("seg_00000.m4s?t=%0D%0A\n"), "{v}");
    }

    fn check_variant(plan: &SegmentPlan, format: SegmentFormat) {
        let text = variant(plan, format, SegmentUris::relative(TQ));
        let m = parse_media(&text);
        let tag = plan.target_duration_tag();
        assert_eq!(m.target_duration, tag);
        assert_eq!(m.playlist_type, Some(m3u8_rs::MediaPlaylistType::Vod));
        assert!(m.end_list && m.independent_segments);
        assert_eq!(m.segments.len(), plan.len());
        assert_eq!(
            m.version,
            Some(if format == SegmentFormat::Fmp4 { 7 } else { 3 })
        );
        // The sum of the printed EXTINFs (read from the text: the parser keeps f32) is the total.
        let sum: f64 = text
            .lines()
            .filter_map(|l| l.strip_prefix("#EXTINF:"))
            .map(|l| l.trim_end_matches(',').parse::<f64>().unwrap())
            .sum();
        assert!((sum - plan.total).abs() < 1e-3, "{sum} vs {}", plan.total);
        for (i, seg) in m.segments.iter().enumerate() {
            assert!((seg.duration.round() as u64) <= tag);
            let name = seg
                .uri
                .strip_suffix(&format!("?{TQ}"))
                .unwrap_or_else(|| panic!("token on {}", seg.uri));
            assert_eq!(
                parse_segment_name(name),
                Some(SegmentName::Media {
                    index: i as u32,
                    format
                })
            );
        }
        let extinf_lines = text.lines().filter(|l| l.starts_with("#EXTINF:")).count();
        assert_eq!(extinf_lines, plan.len());
        assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:0\n"));
        if format == SegmentFormat::Fmp4 {
            let map = m.segments[0].map.as_ref().expect("EXT-X-MAP");
            assert_eq!(map.uri, format!("init.mp4?{TQ}"));
        } else {
            assert!(!text.contains("EXT-X-MAP"));
        }
        assert!(text.ends_with("#EXT-X-ENDLIST\n"));
    }

    #[test]
    fn variant_playlists() {
        let kf: Vec<f64> = (0..)
            .map(|i| i as f64 * 2.002)
            .take_while(|&t| t < 7200.0)
            .collect();
        check_variant(&plan_copy(&kf, 7200.0, 6.0).unwrap(), SegmentFormat::Fmp4);
        check_variant(
            &plan_copy(&[0.0, 0.5, 7.3, 8.0, 15.1], 20.0, 6.0).unwrap(),
            SegmentFormat::Ts,
        );
        check_variant(
            &plan_transcode(95.37, 4.0, &TRANSCODE_FIRST).unwrap(),
            SegmentFormat::Fmp4,
        );
        // Thirds of a second never drift in print.
        let thirds: Vec<f64> = (0..3000).map(|i| i as f64 * 10.0 / 3.0).collect();
        check_variant(&plan_copy(&thirds, 9999.9, 6.0).unwrap(), SegmentFormat::Ts);
        let text = variant(
            &plan_transcode(9.0, 4.0, &TRANSCODE_FIRST).unwrap(),
            SegmentFormat::Fmp4,
            SegmentUris::relative(""),
        );
        let expected = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"init.mp4\"\n\
                        #EXTINF:1.000000,\nseg_00000.m4s\n#EXTINF:1.000000,\nseg_00001.m4s\n#EXTINF:2.000000,\nseg_00002.m4s\n#EXTINF:4.000000,\nseg_00003.m4s\n\
                        #EXTINF:1.000000,\nseg_00004.m4s\n#EXT-X-ENDLIST\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn segment_uris_at_the_edge() {
        let plan = plan_transcode(9.0, 4.0, &TRANSCODE_FIRST).unwrap();
        let uris = SegmentUris {
            prefix: "/renditions/abc/",
            query: "session=s1&Policy=p&Key-Pair-Id=k&Signature=x",
        };
        let text = variant(&plan, SegmentFormat::Fmp4, uris);
        let m = parse_media(&text);
        let q = "?session=s1&Policy=p&Key-Pair-Id=k&Signature=x";
        assert_eq!(
            m.segments[0].map.as_ref().map(|m| m.uri.as_str()),
            Some(format!("/renditions/abc/init.mp4{q}").as_str())
        );
        assert_eq!(
            m.segments[4].uri,
            format!("/renditions/abc/seg_00004.m4s{q}")
        );
        // A prefix cannot break out of its line either.
        let bad = variant(
            &plan,
            SegmentFormat::Fmp4,
            SegmentUris {
                prefix: "https://x/\n#EXT-X-ENDLIST\"",
                query: "",
            },
        );
        assert_eq!(bad.matches("#EXT-X-ENDLIST").count(), 1, "{bad}");
    }

    #[test]
    fn master_says_what_the_viewer_sees_and_its_range() {
        // A portrait phone clip (coded 1280x720, turned 90) transcoded: upright rungs, SDR.
        let mut p = probe("hevc", "Main 10", 4.0, 1280, 720, "aac", 2);
        let v = p.video.as_mut().unwrap();
        v.rotation = 90;
        let text = master(&set(&p, Method::Transcode, SegmentFormat::Fmp4), None, TQ);
        let m = parse_master(&text);
        let res: Vec<(u64, u64)> = m
            .variants
            .iter()
            .map(|v| v.resolution.map(|r| (r.width, r.height)).unwrap())
            .collect();
        assert_eq!(res, vec![(720, 1280), (480, 854), (360, 640)], "{text}");
        assert_eq!(text.matches(",VIDEO-RANGE=SDR,").count(), 3, "{text}");

        // The same clip in HLG copied to an HDR client: its turned size, VIDEO-RANGE=HLG.
        let v = p.video.as_mut().unwrap();
        (v.hdr, v.color_transfer) = (HdrKind::Hlg, Some("arib-std-b67".into()));
        let text = master(&set(&p, Method::Remux, SegmentFormat::Fmp4), None, TQ);
        let line = text
            .lines()
            .find(|l| l.starts_with("#EXT-X-STREAM-INF"))
            .unwrap();
        assert!(line.contains(",RESOLUTION=720x1280,"), "{line}");
        assert!(line.contains(",VIDEO-RANGE=HLG,"), "{line}");
        assert!(!line.contains("SUPPLEMENTAL-CODECS"), "{line}");

        // Dolby Vision 8.4 and 8.1: the base layer's CODECS and range, the Dolby Vision codec
        // supplemental; HDR10 is PQ. m3u8-rs reads the attributes back.
        for (hdr, transfer, dv, range, supplemental) in [
            (
                HdrKind::DolbyVision,
                "arib-std-b67",
                Some((8, 4)),
                "HLG",
                Some("dvh1.08.04/db4h"),
            ),
            (
                HdrKind::DolbyVision,
                "smpte2084",
                Some((8, 1)),
                "PQ",
                Some("dvh1.08.04/db1p"),
            ),
            (HdrKind::Hdr10, "smpte2084", None, "PQ", None),
        ] {
            let v = p.video.as_mut().unwrap();
            (v.hdr, v.color_transfer) = (hdr, Some(transfer.into()));
            v.dolby_vision = dv.map(|(profile, compatibility)| crate::model::DolbyVision {
                profile,
                level: 4,
                compatibility,
            });
            let text = master(&set(&p, Method::Remux, SegmentFormat::Fmp4), None, TQ);
            let m = parse_master(&text);
            let variant = &m.variants[0];
            let other = variant.other_attributes.as_ref().unwrap();
            assert_eq!(other["VIDEO-RANGE"].to_string(), range, "{text}");
            assert_eq!(
                variant.codecs.as_deref(),
                Some("hvc1.2.4.L120.B0,mp4a.40.2"),
                "{text}"
            );
            match supplemental {
                Some(s) => assert!(
                    text.contains(&format!(",SUPPLEMENTAL-CODECS=\"{s}\",")),
                    "{text}"
                ),
                None => assert!(!text.contains("SUPPLEMENTAL-CODECS"), "{text}"),
            }
        }
    }
}
