//! The playback decision (SPEC §3, normative): one pure function of the probe, the client's
//! capabilities, the selected audio track and the subtitle track to burn in, if any. It lists
//! every reason that applies, none extra.
//!
//! **Burn-in.** A bitmap subtitle track (PGS, DVD, DVB) cannot become WebVTT: a player shows it
//! only if it is drawn into the picture. `subtitle=<id>&subtitle_mode=burn` asks for that
//! ([`select_burn`] checks the id); the reason `subtitle_burn_in` then forces `transcode`, and
//! the track's stream index is part of the decision (and so of the session's reuse key and of
//! the video renditions' content keys: burned segments are never shared with clean ones).
//! Text tracks are refused for burn-in (a `400`): every player we serve shows them as WebVTT,
//! burning them would cost a transcode per viewer for what the player does for free, and
//! drawing styled text needs libass and fonts in every encoder image. `external` (the default)
//! never changes the decision: a bitmap track asked for that way is simply not shown.

use serde::{Deserialize, Serialize};

use super::capabilities::{Capabilities, SubtitleMode};
use crate::model::{AudioStream, DynamicRange, Probe, SubtitleKind, SubtitleTrack};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Method {
    DirectPlay,
    Remux,
    TranscodeAudio,
    Transcode,
}

impl Method {
    pub fn is_hls(self) -> bool {
        self != Method::DirectPlay
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Method::DirectPlay => "direct_play",
            Method::Remux => "remux",
            Method::TranscodeAudio => "transcode_audio",
            Method::Transcode => "transcode",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Reason {
    ContainerNotSupported,
    VideoCodecNotSupported,
    VideoResolutionExceedsLimit,
    VideoBitDepthNotSupported,
    VideoRangeNotSupported,
    BitrateExceedsLimit,
    AudioCodecNotSupported,
    AudioChannelsExceedLimit,
    VideoCodecNotHlsCompatible,
    /// The selected audio track is not the file's default, and the client does not switch
    /// tracks itself (`audio_switch`): a player of the original would play the default one.
    AudioTrackNotDefault,
    /// A bitmap subtitle track is drawn into the picture (`subtitle_mode=burn`): forces
    /// `transcode`.
    SubtitleBurnIn,
}

/// How HLS segments are packaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SegmentFormat {
    Fmp4,
    Ts,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub method: Method,
    pub reasons: Vec<Reason>,
    /// The audio stream index played (None for a file without audio).
    pub audio_track: Option<u32>,
    /// For HLS methods: the segment packaging (fMP4 unless asked otherwise and allowed).
    pub segment_format: Option<SegmentFormat>,
    /// The stream index of the bitmap subtitle track burned into the picture (`transcode`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtitle_burn: Option<u32>,
}

/// Video codecs HLS can carry (h264 in fMP4 or TS; hevc and av1 in fMP4 only).
pub const HLS_VIDEO_CODECS: &[&str] = &["h264", "hevc", "av1"];

/// The selected audio track: the requested index, else the file's default, else the first.
pub fn select_audio<'a>(
    probe: &'a Probe,
    requested: Option<u32>,
) -> Result<Option<&'a AudioStream>, String> {
    match requested {
        Some(i) => probe
            .audio
            .iter()
            .find(|a| a.index == i)
            .map(Some)
            .ok_or_else(|| {
                let have: Vec<String> = probe.audio.iter().map(|a| a.index.to_string()).collect();
                format!(
                    "`audio_track`: the file has no audio stream {i} (audio streams: {})",
                    if have.is_empty() {
                        "none".into()
                    } else {
                        have.join(", ")
                    }
                )
            }),
        None => Ok(probe
            .audio
            .iter()
            .find(|a| a.default)
            .or_else(|| probe.audio.first())),
    }
}

/// The stream index of the track to burn in: `None` unless `mode` is `burn`. A `subtitle` id
/// the media does not have, or a text track asked to be burned, is an error naming the
/// parameter (see the module doc for why text tracks are refused).
pub fn select_burn(
    tracks: &[SubtitleTrack],
    subtitle: Option<&str>,
    mode: SubtitleMode,
) -> Result<Option<u32>, String> {
    let Some(id) = subtitle else {
        return Ok(None);
    };
    let track = tracks.iter().find(|t| t.id == id).ok_or_else(|| {
        let have: Vec<&str> = tracks.iter().map(|t| t.id.as_str()).collect();
        format!(
            "`subtitle`: the media has no subtitle track `{id}` (tracks: {})",
            if have.is_empty() {
                "none".into()
            } else {
                have.join(", ")
            }
        )
    })?;
    if mode == SubtitleMode::External {
        return Ok(None);
    }
    match (track.kind, track.stream_index) {
        (SubtitleKind::Bitmap, Some(index)) => Ok(Some(index)),
        _ => Err(format!(
            "`subtitle_mode`: `burn` is for bitmap tracks (PGS, DVD, DVB); `{id}` is a text \
             track, shown by the player as WebVTT (use `subtitle_mode=external`)"
        )),
    }
}

/// Decides how `probe` plays on a client with `caps`, with `audio` as the selected track and
/// no subtitle burned in ([`decide_with`]).
pub fn decide(
    probe: &Probe,
    caps: &Capabilities,
    audio: Option<&AudioStream>,
    prefer_ts: bool,
) -> Decision {
    decide_with(probe, caps, audio, prefer_ts, None)
}

/// Decides how `probe` plays on a client with `caps`, with `audio` as the selected track and
/// `burn` (a bitmap subtitle stream index, from [`select_burn`]) drawn into the picture.
/// `prefer_ts` asks for TS segments; granted only for h264 (hevc/av1 need fMP4).
// Long because it is the normative decision of SPEC §3 written as the SPEC states it, rule
// after rule, so the two can be read side by side; each rule is a few lines.
pub fn decide_with(
    probe: &Probe,
    caps: &Capabilities,
    audio: Option<&AudioStream>,
    prefer_ts: bool,
    burn: Option<u32>,
) -> Decision {
    let has = |list: &[String], v: &str| list.iter().any(|x| x == v);
    let mut reasons = vec![];

    let container_fits = has(&caps.containers, &probe.container);
    if !container_fits {
        reasons.push(Reason::ContainerNotSupported);
    }

    let mut video_fits = true;
    if let Some(v) = &probe.video {
        let level_ok = !(v.codec == "h264"
            && caps
                .max_h264_level
                .zip(v.level)
                .is_some_and(|(max, lvl)| lvl > max + 1e-9));
        if !has(&caps.video_codecs, &v.codec) || !level_ok {
            reasons.push(Reason::VideoCodecNotSupported);
        }
        // The limits are the screen's: they compare with the picture as shown (a portrait
        // phone clip coded 1920x1080 is 1080 wide).
        let (width, height) = v.displayed_size();
        if caps.max_width.is_some_and(|w| width > w) || caps.max_height.is_some_and(|h| height > h)
        {
            reasons.push(Reason::VideoResolutionExceedsLimit);
        }
        if v.bit_depth > caps.max_video_bit_depth {
            reasons.push(Reason::VideoBitDepthNotSupported);
        }
        // HDR needs an HDR client; Dolby Vision without a compatible base layer (profile 5)
        // needs a Dolby Vision decoder as well.
        let dv_only = v.dolby_vision.is_some_and(|d| d.compatibility == 0);
        if (v.video_range() != DynamicRange::Sdr && !caps.hdr) || (dv_only && !caps.dolby_vision) {
            reasons.push(Reason::VideoRangeNotSupported);
        }
        video_fits = reasons.iter().all(|r| *r == Reason::ContainerNotSupported);
    }
    // The overall bitrate limit is part of "video fits" (SPEC §3).
    if let (Some(max), Some(rate)) = (caps.max_bitrate, probe.bitrate) {
        if rate > max {
            reasons.push(Reason::BitrateExceedsLimit);
            video_fits = false;
        }
    }

    let mut audio_fits = true;
    if let Some(a) = audio {
        if !has(&caps.audio_codecs, &a.codec) {
            reasons.push(Reason::AudioCodecNotSupported);
            audio_fits = false;
        }
        if a.channels > caps.max_audio_channels {
            reasons.push(Reason::AudioChannelsExceedLimit);
            audio_fits = false;
        }
    }

    let mut method = match (video_fits, audio_fits, container_fits) {
        (true, true, true) => Method::DirectPlay,
        (true, true, false) => Method::Remux,
        (true, false, _) => Method::TranscodeAudio,
        (false, _, _) => Method::Transcode,
    };
    // A browser playing the original plays its default audio track, whatever was asked: a
    // non-default track needs HLS (its audio rendition), at least a remux.
    let default_audio = select_audio(probe, None).ok().flatten().map(|d| d.index);
    if audio.is_some_and(|a| default_audio != Some(a.index)) && !caps.audio_switch {
        reasons.push(Reason::AudioTrackNotDefault);
        if method == Method::DirectPlay {
            method = Method::Remux;
        }
    }
    // Drawing into the picture means encoding it (a file without video has nothing to draw on).
    let burn = burn.filter(|_| probe.video.is_some());
    if burn.is_some() {
        reasons.push(Reason::SubtitleBurnIn);
        method = Method::Transcode;
    }
    if matches!(method, Method::Remux | Method::TranscodeAudio) {
        if let Some(v) = &probe.video {
            if !HLS_VIDEO_CODECS.contains(&v.codec.as_str()) {
                reasons.push(Reason::VideoCodecNotHlsCompatible);
                method = Method::Transcode;
            }
        }
    }
    reasons.sort();
    let segment_format = method.is_hls().then(|| {
        // Transcoded video is H.264; copied video keeps its codec.
        let video_codec = if method == Method::Transcode {
            Some("h264")
        } else {
            probe.video.as_ref().map(|v| v.codec.as_str())
        };
        if prefer_ts && video_codec.is_none_or(|c| c == "h264") {
            SegmentFormat::Ts
        } else {
            SegmentFormat::Fmp4
        }
    });
    Decision {
        method,
        reasons,
        audio_track: audio.map(|a| a.index),
        segment_format,
        subtitle_burn: burn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DolbyVision, HdrKind, VideoStream};
    use crate::playback::profiles;
    use Method::*;
    use Reason::*;

    fn video(codec: &str, w: u32, h: u32, depth: u8, hdr: HdrKind) -> VideoStream {
        VideoStream {
            index: 0,
            codec: codec.into(),
            profile: None,
            level: Some(4.0),
            width: w,
            height: h,
            bit_depth: depth,
            pix_fmt: None,
            frame_rate: Some(24.0),
            codec_tag: None,
            color_transfer: None,
            hdr,
            interlaced: false,
            bitrate: None,
            rotation: 0,
            display_width: 0,
            display_height: 0,
            dolby_vision: None,
        }
    }

    fn audio(index: u32, codec: &str, channels: u32, default: bool) -> AudioStream {
        AudioStream {
            index,
            codec: codec.into(),
            profile: None,
            channels,
            channel_layout: None,
            sample_rate: Some(48000),
            bitrate: None,
            language: None,
            default,
        }
    }

    fn probe(container: &str, v: Option<VideoStream>, a: Vec<AudioStream>, bitrate: u64) -> Probe {
        Probe {
            container: container.into(),
            format_name: container.into(),
            duration_seconds: 60.0,
            start_time: 0.0,
            bitrate: Some(bitrate),
            video: v,
            audio: a,
            subtitles: vec![],
            keyframes: vec![0.0],
            notes: vec![],
        }
    }

    fn sdr(codec: &str, w: u32, h: u32) -> Option<VideoStream> {
        Some(video(codec, w, h, 8, HdrKind::Sdr))
    }

    /// H.264/AAC-stereo client, MP4 only, 1080p, 8-bit SDR, 10 Mbit/s.
    fn h264_client() -> Capabilities {
        let mut c = profiles::GENERIC.capabilities();
        c.max_bitrate = Some(10_000_000);
        c
    }

    /// The file: two AAC tracks, English the default, Italian asked for by a browser
    /// that would play the original's default track: HLS, with the reason; an app that switches
    /// tracks itself keeps direct play; the default track plays directly.
    #[test]
    fn a_non_default_audio_track_needs_hls_unless_the_client_switches_tracks() {
        let mut it = audio(2, "aac", 2, false);
        it.language = Some("ita".into());
        let p = probe(
            "mp4",
            sdr("h264", 1280, 720),
            vec![audio(1, "aac", 2, true), it],
            3_000_000,
        );
        let caps = h264_client();
        let italian = select_audio(&p, Some(2)).unwrap();
        let d = decide(&p, &caps, italian, false);
        assert_eq!(
            (d.method, d.reasons.clone(), d.audio_track),
            (Remux, vec![AudioTrackNotDefault], Some(2))
        );
        let mut switching = caps.clone();
        switching.audio_switch = true;
        assert_eq!(decide(&p, &switching, italian, false).method, DirectPlay);
        let english = select_audio(&p, Some(1)).unwrap();
        assert_eq!(decide(&p, &caps, english, false).reasons, vec![]);
        // Already HLS for another reason: the reason is listed, the method unchanged.
        let mut mkv = p.clone();
        mkv.container = "mkv".into();
        let d = decide(&mkv, &caps, italian, false);
        assert_eq!(
            (d.method, d.reasons),
            (Remux, vec![ContainerNotSupported, AudioTrackNotDefault])
        );
    }

    fn track(id: &str, kind: SubtitleKind, stream_index: Option<u32>) -> SubtitleTrack {
        SubtitleTrack {
            id: id.into(),
            language: None,
            name: id.into(),
            codec: match kind {
                SubtitleKind::Bitmap => "hdmv_pgs_subtitle".into(),
                SubtitleKind::Text => "subrip".into(),
            },
            kind,
            source: crate::model::TrackSource::Embedded,
            forced: false,
            default: false,
            stream_index,
            vtt_key: None,
            error: None,
            cues: 0,
        }
    }

    /// `subtitle` + `subtitle_mode`: burn takes a bitmap track's stream index; external never
    /// burns; an unknown id or a text track to burn is an error naming the parameter.
    #[test]
    fn burn_in_is_for_bitmap_tracks() {
        use SubtitleMode::*;
        let tracks = [
            track("s2", SubtitleKind::Text, Some(2)),
            track("s3", SubtitleKind::Bitmap, Some(3)),
            track("xabcdef01", SubtitleKind::Text, None),
        ];
        assert_eq!(select_burn(&tracks, None, External), Ok(None));
        assert_eq!(select_burn(&tracks, Some("s3"), Burn), Ok(Some(3)));
        assert_eq!(select_burn(&tracks, Some("s3"), External), Ok(None));
        assert_eq!(select_burn(&tracks, Some("s2"), External), Ok(None));
        for (id, mode, param) in [
            ("s9", Burn, "`subtitle`"),
            ("s9", External, "`subtitle`"),
            ("s2", Burn, "`subtitle_mode`"),
            ("xabcdef01", Burn, "`subtitle_mode`"),
        ] {
            let e = select_burn(&tracks, Some(id), mode).unwrap_err();
            assert!(e.starts_with(param), "{id} {mode:?}: {e}");
        }
    }

    /// Burn-in forces `transcode` whatever else fits, lists its reason beside every other one,
    /// and is kept in the decision; a file without video has nothing to draw on.
    #[test]
    fn burn_in_forces_transcode_with_every_reason() {
        let caps = h264_client();
        let fits = probe(
            "mp4",
            sdr("h264", 1280, 720),
            vec![audio(1, "aac", 2, true)],
            3_000_000,
        );
        let a = select_audio(&fits, None).unwrap();
        assert_eq!(decide(&fits, &caps, a, false).method, DirectPlay);
        let d = decide_with(&fits, &caps, a, false, Some(3));
        assert_eq!(
            (d.method, d.reasons, d.subtitle_burn, d.segment_format),
            (
                Transcode,
                vec![SubtitleBurnIn],
                Some(3),
                Some(SegmentFormat::Fmp4)
            )
        );
        // TS is granted: the burned video is H.264.
        let d = decide_with(&fits, &caps, a, true, Some(3));
        assert_eq!(d.segment_format, Some(SegmentFormat::Ts));
        let mut mkv = fits.clone();
        mkv.container = "mkv".into();
        mkv.audio = vec![audio(1, "ac3", 6, true)];
        let a = select_audio(&mkv, None).unwrap();
        let d = decide_with(&mkv, &caps, a, false, Some(3));
        assert_eq!(
            (d.method, d.reasons),
            (
                Transcode,
                vec![
                    ContainerNotSupported,
                    AudioCodecNotSupported,
                    AudioChannelsExceedLimit,
                    SubtitleBurnIn
                ]
            )
        );
        let audio_only = probe("m4a", None, vec![audio(1, "aac", 2, true)], 128_000);
        let a = select_audio(&audio_only, None).unwrap();
        let d = decide_with(&audio_only, &caps, a, false, Some(3));
        assert_eq!(
            (d.reasons.contains(&SubtitleBurnIn), d.subtitle_burn),
            (false, None)
        );
    }

    #[test]
    fn decision_table() {
        let stereo_aac = || vec![audio(1, "aac", 2, true)];
        #[rustfmt::skip]
        let cases: Vec<(&str, Probe, Method, Vec<Reason>)> = vec![
            ("compatible mp4", probe("mp4", sdr("h264", 1920, 1080), stereo_aac(), 5_000_000), DirectPlay, vec![]),
            ("mkv needs remux", probe("mkv", sdr("h264", 1280, 720), stereo_aac(), 3_000_000), Remux, vec![ContainerNotSupported]),
            ("ac3 5.1", probe("mp4", sdr("h264", 1280, 720), vec![audio(1, "ac3", 6, true)], 3_000_000), TranscodeAudio, vec![AudioCodecNotSupported, AudioChannelsExceedLimit]),
            ("aac 5.1", probe("mkv", sdr("h264", 1280, 720), vec![audio(1, "aac", 6, true)], 3_000_000), TranscodeAudio, vec![ContainerNotSupported, AudioChannelsExceedLimit]),
            ("eac3 stereo", probe("mp4", sdr("h264", 1280, 720), vec![audio(1, "eac3", 2, true)], 3_000_000), TranscodeAudio, vec![AudioCodecNotSupported]),
            ("hevc 10-bit hdr", probe("mkv", Some(video("hevc", 1920, 1080, 10, HdrKind::Hdr10)), vec![audio(1, "ac3", 6, true)], 8_000_000), Transcode,
                vec![ContainerNotSupported, VideoCodecNotSupported, VideoBitDepthNotSupported, VideoRangeNotSupported, AudioCodecNotSupported, AudioChannelsExceedLimit]),
            ("4k", probe("mp4", sdr("h264", 3840, 2160), stereo_aac(), 9_000_000), Transcode, vec![VideoResolutionExceedsLimit]),
            ("bitrate cap", probe("mp4", sdr("h264", 1920, 1080), stereo_aac(), 25_000_000), Transcode, vec![BitrateExceedsLimit]),
            ("hlg", probe("mp4", Some(video("h264", 1920, 1080, 8, HdrKind::Hlg)), stereo_aac(), 5_000_000), Transcode, vec![VideoRangeNotSupported]),
            ("vp9 webm", probe("webm", sdr("vp9", 640, 360), vec![audio(1, "opus", 2, true)], 1_000_000), Transcode, vec![ContainerNotSupported, VideoCodecNotSupported, AudioCodecNotSupported]),
            ("audio only m4a", probe("m4a", None, stereo_aac(), 128_000), Remux, vec![ContainerNotSupported]),
        ];
        for (name, p, method, reasons) in cases {
            let a = select_audio(&p, None).unwrap();
            let d = decide(&p, &h264_client(), a, false);
            assert_eq!((d.method, d.reasons.clone()), (method, reasons), "{name}");
        }
    }

    #[test]
    fn codecs_hls_cannot_carry_force_transcode() {
        // A VP9 client that needs HLS (container or audio does not fit) cannot get VP9 copied into HLS.
        let mut caps = profiles::by_name("chrome").unwrap().capabilities();
        caps.containers = vec!["mp4".into()];
        let p = probe(
            "webm",
            sdr("vp9", 640, 360),
            vec![audio(1, "opus", 2, true)],
            1_000_000,
        );
        let d = decide(&p, &caps, select_audio(&p, None).unwrap(), false);
        assert_eq!(d.method, Transcode);
        assert_eq!(
            d.reasons,
            vec![ContainerNotSupported, VideoCodecNotHlsCompatible]
        );
        // Audio not fitting has the same effect.
        let mut caps2 = profiles::by_name("chrome").unwrap().capabilities();
        caps2.audio_codecs = vec!["aac".into()];
        let d = decide(&p, &caps2, select_audio(&p, None).unwrap(), false);
        assert_eq!(
            d.reasons,
            vec![AudioCodecNotSupported, VideoCodecNotHlsCompatible]
        );
        assert_eq!(d.method, Transcode);
        // ...while direct play of VP9 in WebM needs no HLS at all.
        let d = decide(
            &p,
            &profiles::by_name("chrome").unwrap().capabilities(),
            select_audio(&p, None).unwrap(),
            false,
        );
        assert_eq!((d.method, d.reasons), (DirectPlay, vec![]));
        // MPEG-4 Part 2 in AVI for a client that has it but not the container: still transcode.
        let mut caps3 = h264_client();
        caps3.video_codecs.push("mpeg4".into());
        let p = probe(
            "avi",
            sdr("mpeg4", 320, 240),
            vec![audio(1, "aac", 2, true)],
            500_000,
        );
        let d = decide(&p, &caps3, select_audio(&p, None).unwrap(), false);
        assert_eq!(
            (d.method, d.reasons),
            (
                Transcode,
                vec![ContainerNotSupported, VideoCodecNotHlsCompatible]
            )
        );
    }

    #[test]
    fn segment_format_follows_hls_carriage_rules() {
        let mut caps = h264_client();
        caps.video_codecs.push("hevc".into());
        caps.max_video_bit_depth = 10;
        let hevc = probe(
            "mkv",
            Some(video("hevc", 1280, 720, 10, HdrKind::Sdr)),
            vec![audio(1, "aac", 2, true)],
            2_000_000,
        );
        let d = decide(&hevc, &caps, select_audio(&hevc, None).unwrap(), true);
        assert_eq!(
            (d.method, d.segment_format),
            (Remux, Some(SegmentFormat::Fmp4)),
            "hevc only in fMP4, even when TS is asked"
        );
        let h264 = probe(
            "mkv",
            sdr("h264", 1280, 720),
            vec![audio(1, "aac", 2, true)],
            2_000_000,
        );
        assert_eq!(
            decide(&h264, &caps, select_audio(&h264, None).unwrap(), true).segment_format,
            Some(SegmentFormat::Ts)
        );
        assert_eq!(
            decide(&h264, &caps, select_audio(&h264, None).unwrap(), false).segment_format,
            Some(SegmentFormat::Fmp4)
        );
        let mp4 = probe(
            "mp4",
            sdr("h264", 1280, 720),
            vec![audio(1, "aac", 2, true)],
            2_000_000,
        );
        assert_eq!(
            decide(&mp4, &caps, select_audio(&mp4, None).unwrap(), false).segment_format,
            None,
            "direct play has no segments"
        );
    }

    #[test]
    fn audio_track_selection() {
        let p = probe(
            "mp4",
            sdr("h264", 1280, 720),
            vec![audio(1, "ac3", 6, false), audio(2, "aac", 2, true)],
            2_000_000,
        );
        assert_eq!(
            select_audio(&p, None).unwrap().unwrap().index,
            2,
            "the default track"
        );
        let d = decide(&p, &h264_client(), select_audio(&p, None).unwrap(), false);
        assert_eq!(d.method, DirectPlay);
        let d = decide(
            &p,
            &h264_client(),
            select_audio(&p, Some(1)).unwrap(),
            false,
        );
        assert_eq!((d.method, d.audio_track), (TranscodeAudio, Some(1)));
        assert!(select_audio(&p, Some(0)).is_err(), "stream 0 is video");
        assert!(select_audio(&p, Some(7)).is_err());
    }

    #[test]
    fn h264_level_above_the_conservative_limit_is_a_codec_reason() {
        let mut v = video("h264", 1920, 1080, 8, HdrKind::Sdr);
        v.level = Some(5.1);
        let p = probe("mp4", Some(v), vec![audio(1, "aac", 2, true)], 5_000_000);
        let d = decide(&p, &h264_client(), select_audio(&p, None).unwrap(), false);
        assert_eq!(
            (d.method, d.reasons),
            (Transcode, vec![VideoCodecNotSupported])
        );
    }

    #[test]
    fn resolution_limits_compare_the_displayed_size() {
        // A portrait phone clip coded 1920x1080, turned 90 or 270 for display: 1080x1920 on
        // screen, so a 1920x1080 screen limit is exceeded (height) though the coded size fits.
        let caps = h264_client();
        for rotation in [90, 270] {
            let mut v = video("h264", 1920, 1080, 8, HdrKind::Sdr);
            v.rotation = rotation;
            let p = probe("mp4", Some(v), vec![audio(1, "aac", 2, true)], 5_000_000);
            let d = decide(&p, &caps, select_audio(&p, None).unwrap(), false);
            assert_eq!(d.reasons, vec![VideoResolutionExceedsLimit], "{rotation}");
        }
        // Upside down (180) keeps its sides; 1080x1920 coded but shown landscape fits a
        // landscape screen.
        for (w, h, rotation) in [(1920, 1080, 180), (1080, 1920, 90), (1080, 1920, 270)] {
            let mut v = video("h264", w, h, 8, HdrKind::Sdr);
            v.rotation = rotation;
            let p = probe("mp4", Some(v), vec![audio(1, "aac", 2, true)], 5_000_000);
            let d = decide(&p, &caps, select_audio(&p, None).unwrap(), false);
            assert_eq!(d.method, DirectPlay, "{w}x{h} turned {rotation}");
        }
        // A portrait screen limit: a coded-portrait file turned landscape no longer fits.
        let mut narrow = caps.clone();
        (narrow.max_width, narrow.max_height) = (Some(1080), Some(1920));
        let mut v = video("h264", 1080, 1920, 8, HdrKind::Sdr);
        v.rotation = 90;
        let p = probe("mp4", Some(v), vec![audio(1, "aac", 2, true)], 5_000_000);
        let d = decide(&p, &narrow, select_audio(&p, None).unwrap(), false);
        assert_eq!(d.reasons, vec![VideoResolutionExceedsLimit]);
    }

    #[test]
    fn phone_hdr_needs_an_hdr_client_unless_its_base_is_sdr() {
        let dv = |profile, compatibility, transfer: &str| {
            let mut v = video("hevc", 1920, 1080, 10, HdrKind::DolbyVision);
            v.color_transfer = Some(transfer.into());
            v.dolby_vision = Some(DolbyVision {
                profile,
                level: 6,
                compatibility,
            });
            v
        };
        let mut hlg = video("hevc", 1920, 1080, 10, HdrKind::Hlg);
        hlg.color_transfer = Some("arib-std-b67".into());
        let mut sdr_client = profiles::by_name("chrome").unwrap().capabilities();
        sdr_client.video_codecs.push("hevc".into());
        sdr_client.containers.push("mov".into());
        let mut hdr_client = sdr_client.clone();
        hdr_client.hdr = true;
        for (name, v, sdr_reasons) in [
            ("hlg", hlg, vec![VideoRangeNotSupported]),
            (
                "dv 8.4",
                dv(8, 4, "arib-std-b67"),
                vec![VideoRangeNotSupported],
            ),
            (
                "dv 8.1",
                dv(8, 1, "smpte2084"),
                vec![VideoRangeNotSupported],
            ),
            ("dv 5", dv(5, 0, "unknown"), vec![VideoRangeNotSupported]),
            // Profile 8.2's base layer is SDR: any HEVC client shows it.
            ("dv 8.2", dv(8, 2, "bt709"), vec![]),
        ] {
            let p = probe("mov", Some(v), vec![audio(1, "aac", 2, true)], 5_000_000);
            let d = decide(&p, &sdr_client, select_audio(&p, None).unwrap(), false);
            assert_eq!(d.reasons, sdr_reasons, "{name} to an SDR client");
            let d = decide(&p, &hdr_client, select_audio(&p, None).unwrap(), false);
            if name == "dv 5" {
                // No compatible base: an HDR client needs a Dolby Vision decoder too.
                assert_eq!(d.reasons, vec![VideoRangeNotSupported], "{name}");
                let mut dv_client = hdr_client.clone();
                dv_client.dolby_vision = true;
                let d = decide(&p, &dv_client, select_audio(&p, None).unwrap(), false);
                assert_eq!(d.method, DirectPlay, "{name} to a Dolby Vision client");
            } else {
                assert_eq!(d.method, DirectPlay, "{name} to an HDR client");
            }
        }
        // Apple's devices say they show all of it.
        for name in ["ios", "safari"] {
            let c = profiles::by_name(name).unwrap().capabilities();
            assert!(
                c.hdr && c.dolby_vision && c.max_video_bit_depth >= 10,
                "{name}"
            );
            assert!(c.video_codecs.iter().any(|v| v == "hevc"), "{name}");
        }
    }
}
