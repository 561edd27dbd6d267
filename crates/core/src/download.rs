//! Offline downloads (SPEC §3 "Downloads for offline playback"), the pure part: which rendition
//! set and which rung a download takes, the content key of the MP4 assembled from it, how far
//! it has come, and the file name it is saved under.
//!
//! A download that the original cannot serve is not a new encode: it is the stream copy of one
//! rung's video segments and the set's audio rendition (the same content-addressed pieces every
//! HLS session of that rung plays) into one faststart MP4. So its rendition set is exactly the
//! one a `transcode` session with the same client limits gets (H.264 High 8-bit SDR rungs,
//! AAC-LC stereo of the default audio track, fMP4): the pieces a viewer already made are the
//! download's, and the download's are the next viewer's. The MP4 itself is keyed by the content
//! keys of the two renditions it copies, so two users (any users) downloading the same rung get
//! one object.

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::hls::ladder::{RenditionSet, VideoRendition, RUNGS};
use crate::playback::decision::{Decision, Method, SegmentFormat};
use crate::segment::{Piece, SegmentId};

/// The values `quality` takes: the names of the ladder's rungs.
pub fn qualities() -> impl Iterator<Item = u32> {
    RUNGS.iter().map(|r| r.name)
}

/// Parses `quality` (`1080`, `720`, `480`, `360`): the highest rung a download may take.
pub fn parse_quality(raw: &str) -> Result<u32> {
    let known: Vec<String> = qualities().map(|q| q.to_string()).collect();
    let q = raw.trim().trim_end_matches('p');
    match q.parse::<u32>() {
        Ok(v) if qualities().any(|n| n == v) => Ok(v),
        _ => Err(Error::invalid(
            "invalid_parameter",
            format!("`quality` must be one of {}, got `{raw}`", known.join(", ")),
        )),
    }
}

/// The decision a download's rendition set is built from when the original does not fit: a
/// `transcode` of `audio_track` (the default track) in fMP4, keeping the reasons that led here.
pub fn download_decision(played: &Decision) -> Decision {
    Decision {
        method: Method::Transcode,
        reasons: played.reasons.clone(),
        audio_track: played.audio_track,
        segment_format: Some(SegmentFormat::Fmp4),
        subtitle_burn: None,
    }
}

/// The rung a download takes: the best of the set's transcoded rungs whose name is at most
/// `quality` (all of them without one); the smallest when every rung is above it (a source
/// smaller than the asked quality gives its own top rung: never upscaled).
pub fn choose_rung(set: &RenditionSet, quality: Option<u32>) -> Option<&VideoRendition> {
    let rungs = || set.video.iter().filter(|v| !v.copy);
    let name = |v: &VideoRendition| v.id.trim_start_matches('v').parse::<u32>().ok();
    let fits = |v: &&VideoRendition| match (quality, name(v)) {
        (None, _) => true,
        (Some(q), Some(n)) => n <= q,
        (Some(_), None) => false,
    };
    rungs().find(fits).or_else(|| rungs().next_back())
}

/// The content key of the download of video rendition `video_id` of `set` with the set's audio:
/// hex SHA-256 of the two renditions' content keys. `None` if the set has no such rendition.
pub fn download_key(set: &RenditionSet, video_id: &str) -> Option<String> {
    let mut h = Sha256::new();
    h.update(b"download\0");
    h.update(set.content_key(video_id)?.as_bytes());
    h.update(b"\0");
    if let Some(a) = &set.audio {
        h.update(set.audio_key(a).as_bytes());
    }
    Some(hex::encode(h.finalize()))
}

/// The identity of the download's MP4: its claim record and its object, like any piece.
pub fn download_id(set: &RenditionSet, video_id: &str) -> Option<SegmentId> {
    Some(SegmentId::new(
        &set.media_id,
        &download_key(set, video_id)?,
        Piece::Download,
        set.format,
    ))
}

/// Every piece the download is assembled from, in order: the video rendition's init and
/// segments, then (if the set has audio) the audio rendition's.
pub fn pieces(set: &RenditionSet, video_id: &str, segments: u32) -> Vec<SegmentId> {
    let mut ids = vec![];
    let renditions = std::iter::once(video_id).chain(set.audio.as_ref().map(|a| a.id.as_str()));
    for r in renditions {
        let pieces = std::iter::once(Piece::Init).chain((0..segments).map(Piece::Media));
        ids.extend(pieces.filter_map(|p| set.segment(r, p)));
    }
    ids
}

/// How far a download has come, 0.0 to 1.0: its pieces made over all of them. The assembly
/// itself (a stream copy) is the last step, so a download whose pieces are all made but whose
/// MP4 is not published yet is 0.99, never 1.0.
pub fn progress(made: usize, total: usize) -> f64 {
    if total == 0 {
        return 0.99;
    }
    let p = (made as f64 / total as f64).clamp(0.0, 1.0);
    ((p * 100.0).floor() / 100.0).min(0.99)
}

/// The name the file is saved under (`Content-Disposition: attachment; filename="…"`): the
/// media's title (or `fallback`), with the rung when it is not the original, in a form every
/// browser and phone takes as it is: ASCII letters, digits, space, `-`, `_`, `.`, `(`, `)`;
/// anything else becomes `_`; at most 100 characters before the extension.
pub fn file_name(title: Option<&str>, fallback: &str, rung: Option<&str>, ext: &str) -> String {
    let base = title
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .unwrap_or(fallback);
    let mut clean: String = base
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | ' ' | '-' | '_' | '.' | '(' | ')' => c,
            _ => '_',
        })
        .take(100)
        .collect();
    let trimmed = clean.trim_matches(|c| c == '.' || c == ' ').to_string();
    clean = if trimmed.is_empty() {
        "download".into()
    } else {
        trimmed
    };
    if let Some(r) = rung {
        clean.push_str(&format!(" ({}p)", r.trim_start_matches('v')));
    }
    let ext: String = ext
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect();
    if ext.is_empty() {
        clean
    } else {
        format!("{clean}.{}", ext.to_ascii_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crate::hls::ladder::{build, ClientLimits, LadderConfig};

    fn transcode_set(limits: ClientLimits) -> RenditionSet {
        let (mut probe, _, _) = fixtures::remux_fixture();
        if let Some(v) = probe.video.as_mut() {
            (v.width, v.height) = (1920, 1080);
        }
        let played = Decision {
            method: Method::Remux,
            reasons: vec![],
            audio_track: probe.audio.first().map(|a| a.index),
            segment_format: Some(SegmentFormat::Ts),
            subtitle_burn: None,
        };
        let d = download_decision(&played);
        build("m1", &probe, &d, &limits, &LadderConfig::default()).unwrap()
    }

    #[test]
    fn quality_is_a_rung_name() {
        for (raw, q) in [("1080", 1080), ("720", 720), (" 480 ", 480), ("360p", 360)] {
            assert_eq!(parse_quality(raw).unwrap(), q, "{raw}");
        }
        for bad in ["", "540", "0", "-720", "720x", "high", "1080.0"] {
            let e = parse_quality(bad).unwrap_err();
            assert!(e.to_string().contains("`quality`"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_download_is_a_transcode_in_fmp4_of_the_played_track() {
        let set = transcode_set(ClientLimits::default());
        assert_eq!(set.method, Method::Transcode);
        assert_eq!(set.format, SegmentFormat::Fmp4);
        assert!(set.video.iter().all(|v| !v.copy && v.codec == "h264"));
        assert_eq!(set.audio.as_ref().map(|a| a.codec.as_str()), Some("aac"));
    }

    #[test]
    fn the_rung_is_the_best_within_quality() {
        let set = transcode_set(ClientLimits::default());
        let id = |q| choose_rung(&set, q).map(|v| v.id.clone());
        assert_eq!(id(None).as_deref(), Some("v1080"));
        assert_eq!(id(Some(1080)).as_deref(), Some("v1080"));
        assert_eq!(id(Some(720)).as_deref(), Some("v720"));
        assert_eq!(id(Some(480)).as_deref(), Some("v480"));
        assert_eq!(id(Some(360)).as_deref(), Some("v360"));
        // The client's own limits shape the ladder first; quality picks within it.
        let small = transcode_set(ClientLimits {
            max_height: Some(500),
            ..ClientLimits::default()
        });
        assert_eq!(
            choose_rung(&small, Some(1080)).map(|v| v.id.as_str()),
            Some("v480")
        );
    }

    #[test]
    fn one_key_per_rung_and_audio_and_the_same_for_everyone() {
        let set = transcode_set(ClientLimits::default());
        let k720 = download_key(&set, "v720").unwrap();
        assert_eq!(k720, download_key(&set, "v720").unwrap(), "stable");
        assert!(crate::segment::is_content_key(&k720));
        assert_ne!(k720, download_key(&set, "v480").unwrap());
        // Not the rendition's own key: the audio is part of it.
        assert_ne!(Some(k720.clone()), set.content_key("v720"));
        let mut no_audio = set.clone();
        no_audio.audio = None;
        assert_ne!(Some(k720.clone()), download_key(&no_audio, "v720"));
        // A set built for other client limits that still has the rung: the same download.
        let capped = transcode_set(ClientLimits {
            max_height: Some(720),
            ..ClientLimits::default()
        });
        assert_eq!(download_key(&capped, "v720"), Some(k720.clone()));
        assert_eq!(download_key(&set, "v9999"), None);
        let id = download_id(&set, "v720").unwrap();
        assert_eq!(id.record_id(), format!("{k720}/download.mp4"));
        assert_eq!(id.object_key(), format!("renditions/{k720}/download.mp4"));
        assert_eq!(id.content_type(), "video/mp4");
    }

    #[test]
    fn pieces_are_video_then_audio_init_first() {
        let set = transcode_set(ClientLimits::default());
        let p = pieces(&set, "v720", 3);
        assert_eq!(p.len(), 8);
        let v = set.content_key("v720").unwrap();
        let a = set.content_key("a").unwrap();
        let names: Vec<String> = p.iter().map(|s| s.record_id()).collect();
        assert_eq!(names[0], format!("{v}/init.mp4"));
        assert_eq!(names[3], format!("{v}/seg_00002.m4s"));
        assert_eq!(names[4], format!("{a}/init.mp4"));
        assert_eq!(names[7], format!("{a}/seg_00002.m4s"));
    }

    #[test]
    fn progress_counts_pieces_and_stops_short_of_done() {
        assert_eq!(progress(0, 10), 0.0);
        assert_eq!(progress(5, 10), 0.5);
        assert_eq!(progress(1, 3), 0.33);
        assert!(progress(10, 10) < 1.0);
        assert!(progress(12, 10) < 1.0);
        assert!(progress(0, 0) < 1.0);
    }

    #[test]
    fn file_names_are_safe() {
        assert_eq!(
            file_name(Some("My Film"), "m1", Some("v720"), "mp4"),
            "My Film (720p).mp4"
        );
        assert_eq!(file_name(None, "m1", None, "mkv"), "m1.mkv");
        assert_eq!(
            file_name(Some("a\"b\r\n;c/../é"), "m", None, "mp4"),
            "a_b___c_..__.mp4"
        );
        assert_eq!(file_name(Some(" .. "), "m", None, "m\"p4"), "download.mp4");
        let long = "x".repeat(500);
        assert_eq!(file_name(Some(&long), "m", None, "mp4").len(), 104);
    }
}
