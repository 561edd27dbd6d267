//! RFC 6381 `CODECS` strings for the master playlist, and the H.264 level of a transcode.
//!
//! Copied streams are described from the probe (ffprobe's `codec_name`, `profile`, `level`;
//! `probe.rs` stores H.264 levels as `level_idc / 10`, HEVC levels as `level_idc / 30` and
//! AV1's `seq_level_idx` as is). ffprobe does not expose the constraint/compatibility bits
//! of the bitstream, so they are the values a conforming stream of that profile carries:
//! see each function. Transcoded video is H.264 High at the level [`h264_level_for`] picks,
//! and the transcoder passes that very level to x264 (`-level`), so the string is exact.

use std::fmt;

use crate::model::DolbyVision;

/// Why a stream cannot be described in a CODECS string (so HLS cannot carry it as a copy).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("HLS cannot carry the video codec `{0}`")]
    VideoCodec(String),
    #[error("HLS cannot carry the audio codec `{0}`")]
    AudioCodec(String),
    #[error("unsupported {codec} profile `{profile}`")]
    Profile {
        codec: &'static str,
        profile: String,
    },
    #[error("{codec} level {level} is out of range")]
    Level { codec: &'static str, level: String },
}

/// An H.264 `level_idc` (e.g. 41 for level 4.1).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct H264Level(pub u8);

impl H264Level {
    pub fn idc(self) -> u8 {
        self.0
    }
    /// The value for x264's `-level` (`"4.1"`, `"3"`).
    pub fn x264_arg(self) -> String {
        self.to_string()
    }
}

impl fmt::Display for H264Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 % 10 {
            0 => write!(f, "{}", self.0 / 10),
            minor => write!(f, "{}.{minor}", self.0 / 10),
        }
    }
}

/// H.264 Table A-1 (level 1b left out): level_idc, MaxMBPS (macroblocks/s), MaxFS
/// (macroblocks), MaxBR (kbit/s, Baseline/Main; High allows 1.25x).
const H264_LEVELS: &[(u8, u64, u64, u64)] = &[
    (10, 1_485, 99, 64),
    (11, 3_000, 396, 192),
    (12, 6_000, 396, 384),
    (13, 11_880, 396, 768),
    (20, 11_880, 396, 2_000),
    (21, 19_800, 792, 4_000),
    (22, 20_250, 1_620, 4_000),
    (30, 40_500, 1_620, 10_000),
    (31, 108_000, 3_600, 14_000),
    (32, 216_000, 5_120, 20_000),
    (40, 245_760, 8_192, 20_000),
    (41, 245_760, 8_192, 50_000),
    (42, 522_240, 8_704, 50_000),
    (50, 589_824, 22_080, 135_000),
    (51, 983_040, 36_864, 240_000),
    (52, 2_073_600, 36_864, 240_000),
    (60, 4_177_920, 139_264, 240_000),
    (61, 8_355_840, 139_264, 480_000),
    (62, 16_711_680, 139_264, 800_000),
];

/// The smallest H.264 level whose limits hold `width`x`height` at `fps` and a peak (VBV
/// maxrate) of `max_bitrate` bits/s in the High profile: frame size, macroblock rate, the
/// frame-dimension bound (each side in macroblocks at most sqrt(8 x MaxFS)) and MaxBR x 1.25.
/// The transcoder passes the result to x264 (`-level`), the master playlist's CODECS says it.
/// None for zero/invalid input or beyond level 6.2.
pub fn h264_level_for(width: u32, height: u32, fps: f64, max_bitrate: u64) -> Option<H264Level> {
    if width == 0 || height == 0 || !fps.is_finite() || fps <= 0.0 {
        return None;
    }
    let (mbw, mbh) = (
        u64::from(width).div_ceil(16),
        u64::from(height).div_ceil(16),
    );
    let fs = mbw * mbh;
    let mbps = fs as f64 * fps;
    H264_LEVELS
        .iter()
        .find(|&&(_, max_mbps, max_fs, max_br)| {
            fs <= max_fs
                && mbw * mbw <= 8 * max_fs
                && mbh * mbh <= 8 * max_fs
                && mbps <= max_mbps as f64 + 1e-6
                && max_bitrate <= max_br * 1250
        })
        .map(|&(idc, ..)| H264Level(idc))
}

/// The CODECS value of transcoded video: H.264 High (profile_idc 100, no constraint flags).
pub fn h264_high(level: H264Level) -> String {
    format!("avc1.6400{:02x}", level.0)
}

/// The CODECS value of a copied video stream (`codec`, `profile`, `level` as ffprobe and
/// `probe.rs` report them, `bit_depth`). Only h264, hevc and av1 can be copied into HLS.
///
/// A missing level is computed from the picture size and frame rate (`fps`, 60 when unknown)
/// with the level tables of the codec, so the string names a level that holds the stream.
pub fn video(
    codec: &str,
    profile: Option<&str>,
    level: Option<f64>,
    width: u32,
    height: u32,
    fps: Option<f64>,
    bit_depth: u8,
) -> Result<String, CodecError> {
    let fps = fps.filter(|f| f.is_finite() && *f > 0.0).unwrap_or(60.0);
    match codec {
        "h264" => avc(profile, level, width, height, fps),
        "hevc" => hevc(profile, level, width, height, fps),
        "av1" => av1(profile, level, bit_depth),
        other => Err(CodecError::VideoCodec(other.to_string())),
    }
}

/// `avc1.PPCCLL`: profile_idc, the constraint-flags byte, level_idc (ISO 14496-15 / RFC 6381).
/// The constraint byte is 00 but for Constrained Baseline (constraint_set1, `40`) and the
/// Intra profiles (constraint_set3, `10`): ffprobe names the profile from exactly these bits.
fn avc(
    profile: Option<&str>,
    level: Option<f64>,
    width: u32,
    height: u32,
    fps: f64,
) -> Result<String, CodecError> {
    let p = profile.unwrap_or("High");
    let (profile_idc, constraints): (u8, u8) = match p {
        "Baseline" => (66, 0x00),
        "Constrained Baseline" => (66, 0x40),
        "Main" => (77, 0x00),
        "Extended" => (88, 0x00),
        "High" => (100, 0x00),
        "High 10" => (110, 0x00),
        "High 10 Intra" => (110, 0x10),
        "High 4:2:2" => (122, 0x00),
        "High 4:2:2 Intra" => (122, 0x10),
        "High 4:4:4" | "High 4:4:4 Predictive" => (244, 0x00),
        "High 4:4:4 Intra" => (244, 0x10),
        "CAVLC 4:4:4" | "CAVLC 4:4:4 Intra" => (44, 0x10),
        other => {
            return Err(CodecError::Profile {
                codec: "h264",
                profile: other.to_string(),
            })
        }
    };
    let level_idc = match level {
        Some(l) => level_idc(l, 10.0, 255).ok_or_else(|| CodecError::Level {
            codec: "h264",
            level: l.to_string(),
        })?,
        None => {
            h264_level_for(width, height, fps, 0)
                .ok_or_else(|| CodecError::Level {
                    codec: "h264",
                    level: format!("for {width}x{height}"),
                })?
                .0
        }
    };
    Ok(format!(
        "avc1.{profile_idc:02x}{constraints:02x}{level_idc:02x}"
    ))
}

/// `hvc1.<space><profile_idc>.<compat>.<tier><level_idc>.<constraints>` (ISO 14496-15 E.3).
/// The compatibility flags are written bit-reversed in hex: Main sets flags 1 and 2 (`6`),
/// Main 10 flag 2 (`4`), Main Still Picture flags 1, 2 and 3 (`e`). ffprobe reports neither the
/// tier nor the constraint flags: Main tier (`L`) and `B0` (progressive, non-packed,
/// frame-only) are assumed. Range-extension and SCC profiles need constraint bytes ffprobe
/// does not give, so they are refused rather than guessed. The transcoder must write the
/// `hvc1` sample entry (`-tag:v hvc1`) when it copies HEVC, to match this string.
fn hevc(
    profile: Option<&str>,
    level: Option<f64>,
    width: u32,
    height: u32,
    fps: f64,
) -> Result<String, CodecError> {
    let (profile_idc, compat) = match profile.unwrap_or("Main") {
        "Main" => (1, "6"),
        "Main 10" => (2, "4"),
        "Main Still Picture" => (3, "e"),
        other => {
            return Err(CodecError::Profile {
                codec: "hevc",
                profile: other.to_string(),
            })
        }
    };
    let level_idc = match level {
        Some(l) => level_idc(l, 30.0, 255).ok_or_else(|| CodecError::Level {
            codec: "hevc",
            level: l.to_string(),
        })?,
        None => hevc_level_for(width, height, fps).ok_or_else(|| CodecError::Level {
            codec: "hevc",
            level: format!("for {width}x{height}"),
        })?,
    };
    Ok(format!("hvc1.{profile_idc}.{compat}.L{level_idc}.B0"))
}

/// HEVC Table A.8 (Main tier): general_level_idc, MaxLumaPs (samples), MaxLumaSr (samples/s).
const HEVC_LEVELS: &[(u8, u64, u64)] = &[
    (30, 36_864, 552_960),
    (60, 122_880, 3_686_400),
    (63, 245_760, 7_372_800),
    (90, 552_960, 16_588_800),
    (93, 983_040, 33_177_600),
    (120, 2_228_224, 66_846_720),
    (123, 2_228_224, 133_693_440),
    (150, 8_912_896, 267_386_880),
    (153, 8_912_896, 534_773_760),
    (156, 8_912_896, 1_069_547_520),
    (180, 35_651_584, 1_069_547_520),
    (183, 35_651_584, 2_139_095_040),
    (186, 35_651_584, 4_278_190_080),
];

fn hevc_level_for(width: u32, height: u32, fps: f64) -> Option<u8> {
    if width == 0 || height == 0 {
        return None;
    }
    let ps = u64::from(width) * u64::from(height);
    let sr = ps as f64 * fps;
    let max_dim = u64::from(width.max(height));
    HEVC_LEVELS
        .iter()
        // Each side at most sqrt(8 x MaxLumaPs).
        .find(|&&(_, max_ps, max_sr)| {
            ps <= max_ps && max_dim * max_dim <= 8 * max_ps && sr <= max_sr as f64 + 1e-6
        })
        .map(|&(idc, ..)| idc)
}

/// `av01.P.LLT.DD` (AV1 ISOBMFF binding, "Codecs Parameter String"): seq_profile, the
/// seq_level_idx of operating point 0 with the tier (`M`, ffprobe does not report the tier)
/// and the bit depth. The optional colour fields are left out (their defaults are then
/// implied). Without a level (ffprobe reports none for seq_level_idx 0, and some demuxers
/// none at all) level 4.0 (`08`) is assumed, which every 1080p AV1 decoder supports.
fn av1(profile: Option<&str>, level: Option<f64>, bit_depth: u8) -> Result<String, CodecError> {
    let seq_profile = match profile.unwrap_or("Main") {
        "Main" => 0,
        "High" => 1,
        "Professional" => 2,
        other => {
            return Err(CodecError::Profile {
                codec: "av1",
                profile: other.to_string(),
            })
        }
    };
    let seq_level_idx = match level {
        Some(l) => level_idc(l, 1.0, 31).ok_or_else(|| CodecError::Level {
            codec: "av1",
            level: l.to_string(),
        })?,
        None => 8,
    };
    let depth = match bit_depth {
        0..=8 => 8,
        9 | 10 => 10,
        _ => 12,
    };
    Ok(format!("av01.{seq_profile}.{seq_level_idx:02}M.{depth:02}"))
}

/// `level * scale` as an integer in `0..=max` (rounded: 4.1 * 10 is 40.99999...).
fn level_idc(level: f64, scale: f64, max: u8) -> Option<u8> {
    let v = (level * scale).round();
    (v.is_finite() && v >= 0.0 && v <= f64::from(max)).then_some(v as u8)
}

/// The CODECS value of an audio stream by ffprobe `codec_name` and `profile`: AAC by its
/// audio object type (LC `mp4a.40.2`, HE-AAC `mp4a.40.5`, HE-AACv2 `mp4a.40.29`; LC when the
/// profile is unknown), MP3 `mp4a.40.34`, AC-3 `ac-3`, E-AC-3 `ec-3`, Opus `Opus`, FLAC `fLaC`.
/// Anything else (vorbis, dts, truehd, pcm, alac) cannot be carried in HLS.
pub fn audio(codec: &str, profile: Option<&str>) -> Result<String, CodecError> {
    Ok(match codec {
        "aac" => {
            let aot = match profile.unwrap_or("LC") {
                "Main" => 1,
                "SSR" => 3,
                "LTP" => 4,
                "HE-AAC" => 5,
                "LD" => 23,
                "HE-AACv2" => 29,
                "ELD" => 39,
                _ => 2,
            };
            format!("mp4a.40.{aot}")
        }
        "mp3" => "mp4a.40.34".into(),
        "ac3" => "ac-3".into(),
        "eac3" => "ec-3".into(),
        "opus" => "Opus".into(),
        "flac" => "fLaC".into(),
        other => return Err(CodecError::AudioCodec(other.to_string())),
    })
}

/// Whether HLS can carry audio `codec` in segments of `format` (TS: AAC, MP3, AC-3, E-AC-3;
/// fMP4 also Opus and FLAC).
pub fn audio_fits_format(codec: &str, format: crate::playback::decision::SegmentFormat) -> bool {
    use crate::playback::decision::SegmentFormat;
    match format {
        SegmentFormat::Ts => matches!(codec, "aac" | "mp3" | "ac3" | "eac3"),
        SegmentFormat::Fmp4 => matches!(codec, "aac" | "mp3" | "ac3" | "eac3" | "opus" | "flac"),
    }
}

/// The AAC-LC CODECS value of transcoded audio.
pub const AAC_LC: &str = "mp4a.40.2";

/// The `SUPPLEMENTAL-CODECS` value of a copied Dolby Vision stream (Apple's HLS authoring
/// spec; Dolby's "Dolby Vision streams within HLS"): the Dolby Vision codec (`dvh1` on HEVC,
/// `dav1` on AV1) with its two-digit profile and level, then the brand that says what the
/// base layer shows without the metadata: `db1p` HDR10, `db2g` SDR, `db4h` HLG. `CODECS` stays
/// the base layer's, so a player without Dolby Vision still plays it. Profile 5 has no
/// compatible base layer (no brand): its segments are written with the `hvc1` sample entry
/// (ffmpeg 5.1's MP4 muxer has no `dvh1`) and the configuration record, so the Dolby Vision
/// codec is named here too.
pub fn dolby_vision_supplemental(codec: &str, dv: &DolbyVision) -> Option<String> {
    let fourcc = match codec {
        "hevc" => "dvh1",
        "av1" => "dav1",
        _ => return None,
    };
    let brand = match dv.compatibility {
        1 | 6 => "/db1p",
        2 => "/db2g",
        4 => "/db4h",
        _ => "",
    };
    Some(format!("{fourcc}.{:02}.{:02}{brand}", dv.profile, dv.level))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dolby_vision_is_named_with_what_its_base_shows() {
        let dv = |profile, level, compatibility| DolbyVision {
            profile,
            level,
            compatibility,
        };
        let s = |codec, d| dolby_vision_supplemental(codec, &d);
        assert_eq!(s("hevc", dv(8, 4, 4)).as_deref(), Some("dvh1.08.04/db4h"));
        assert_eq!(s("hevc", dv(8, 6, 1)).as_deref(), Some("dvh1.08.06/db1p"));
        assert_eq!(s("hevc", dv(8, 7, 2)).as_deref(), Some("dvh1.08.07/db2g"));
        assert_eq!(s("hevc", dv(5, 6, 0)).as_deref(), Some("dvh1.05.06"));
        assert_eq!(s("av1", dv(10, 9, 1)).as_deref(), Some("dav1.10.09/db1p"));
        assert_eq!(s("h264", dv(9, 5, 2)), None);
    }

    fn v(codec: &str, profile: &str, level: Option<f64>) -> Result<String, CodecError> {
        video(codec, Some(profile), level, 1920, 1080, Some(24.0), 8)
    }

    #[test]
    fn h264_copied() {
        assert_eq!(v("h264", "High", Some(4.1)).unwrap(), "avc1.640029");
        assert_eq!(v("h264", "Main", Some(3.0)).unwrap(), "avc1.4d001e");
        assert_eq!(v("h264", "Baseline", Some(3.0)).unwrap(), "avc1.42001e");
        assert_eq!(
            v("h264", "Constrained Baseline", Some(3.1)).unwrap(),
            "avc1.42401f"
        );
        assert_eq!(v("h264", "High 10", Some(5.1)).unwrap(), "avc1.6e0033");
        assert_eq!(v("h264", "High 4:2:2", Some(4.0)).unwrap(), "avc1.7a0028");
        assert_eq!(v("h264", "High", Some(1.3)).unwrap(), "avc1.64000d");
        // No level: computed from 1080p24.
        assert_eq!(
            video("h264", Some("High"), None, 1920, 1080, Some(24.0), 8).unwrap(),
            "avc1.640028"
        );
        assert!(matches!(
            v("h264", "Weird", Some(4.0)),
            Err(CodecError::Profile { .. })
        ));
        assert!(matches!(
            v("h264", "High", Some(-1.0)),
            Err(CodecError::Level { .. })
        ));
        assert!(matches!(
            v("h264", "High", Some(f64::NAN)),
            Err(CodecError::Level { .. })
        ));
    }

    #[test]
    fn hevc_copied() {
        assert_eq!(v("hevc", "Main", Some(4.0)).unwrap(), "hvc1.1.6.L120.B0");
        assert_eq!(v("hevc", "Main 10", Some(3.1)).unwrap(), "hvc1.2.4.L93.B0");
        // probe.rs stores 153 / 30 = 5.1; * 30 must round back to 153.
        assert_eq!(
            v("hevc", "Main 10", Some(153.0 / 30.0)).unwrap(),
            "hvc1.2.4.L153.B0"
        );
        assert_eq!(
            video("hevc", Some("Main"), None, 3840, 2160, Some(60.0), 8).unwrap(),
            "hvc1.1.6.L153.B0"
        );
        assert!(matches!(
            v("hevc", "Rext", Some(4.0)),
            Err(CodecError::Profile { .. })
        ));
    }

    #[test]
    fn av1_copied() {
        assert_eq!(
            video("av1", Some("Main"), Some(8.0), 1920, 1080, None, 8).unwrap(),
            "av01.0.08M.08"
        );
        assert_eq!(
            video("av1", Some("Main"), Some(12.0), 3840, 2160, None, 10).unwrap(),
            "av01.0.12M.10"
        );
        assert_eq!(
            video("av1", Some("Main"), None, 1920, 1080, None, 10).unwrap(),
            "av01.0.08M.10"
        );
        assert_eq!(
            video("av1", Some("High"), Some(9.0), 1920, 1080, None, 8).unwrap(),
            "av01.1.09M.08"
        );
        assert!(video("av1", None, Some(32.0), 1920, 1080, None, 8).is_err());
    }

    #[test]
    fn codecs_hls_cannot_carry() {
        assert_eq!(
            v("vp9", "Profile 0", None),
            Err(CodecError::VideoCodec("vp9".into()))
        );
        assert_eq!(
            v("mpeg4", "Simple Profile", None),
            Err(CodecError::VideoCodec("mpeg4".into()))
        );
        assert_eq!(
            audio("vorbis", None),
            Err(CodecError::AudioCodec("vorbis".into()))
        );
        assert_eq!(
            audio("dts", Some("DTS-HD MA")),
            Err(CodecError::AudioCodec("dts".into()))
        );
    }

    #[test]
    fn audio_strings() {
        assert_eq!(audio("aac", Some("LC")).unwrap(), "mp4a.40.2");
        assert_eq!(audio("aac", None).unwrap(), "mp4a.40.2");
        assert_eq!(audio("aac", Some("HE-AAC")).unwrap(), "mp4a.40.5");
        assert_eq!(audio("aac", Some("HE-AACv2")).unwrap(), "mp4a.40.29");
        assert_eq!(audio("mp3", None).unwrap(), "mp4a.40.34");
        assert_eq!(audio("ac3", None).unwrap(), "ac-3");
        assert_eq!(audio("eac3", None).unwrap(), "ec-3");
        assert_eq!(audio("opus", None).unwrap(), "Opus");
        assert_eq!(audio("flac", None).unwrap(), "fLaC");
        use crate::playback::decision::SegmentFormat::*;
        assert!(
            audio_fits_format("ac3", Ts)
                && !audio_fits_format("opus", Ts)
                && audio_fits_format("opus", Fmp4)
        );
        assert!(!audio_fits_format("vorbis", Fmp4));
    }

    #[test]
    fn h264_level_selection() {
        let l = |w, h, fps, br| h264_level_for(w, h, fps, br).map(|l| l.to_string());
        // 1080p30: 8160 MBs > 5120 (3.2) -> 4.0; at 5.35 Mbit/s still 4.0.
        assert_eq!(l(1920, 1080, 30.0, 5_350_000).as_deref(), Some("4"));
        // 1080p60: 489 600 MB/s > 245 760 -> 4.2.
        assert_eq!(l(1920, 1080, 60.0, 5_350_000).as_deref(), Some("4.2"));
        // 720p30: 3600 MBs, 108 000 MB/s -> exactly 3.1.
        assert_eq!(l(1280, 720, 30.0, 3_000_000).as_deref(), Some("3.1"));
        assert_eq!(l(1280, 720, 60.0, 3_000_000).as_deref(), Some("3.2"));
        // 854x480 @ 30: 54x30 = 1620 MBs, 48 600 MB/s > 40 500 -> 3.1; at 25 fps 3.0.
        assert_eq!(l(854, 480, 30.0, 1_500_000).as_deref(), Some("3.1"));
        assert_eq!(l(854, 480, 25.0, 1_500_000).as_deref(), Some("3"));
        assert_eq!(l(640, 360, 30.0, 900_000).as_deref(), Some("3"));
        // 23.976 fps rounds nothing up by accident.
        assert_eq!(
            l(1920, 1080, 24000.0 / 1001.0, 5_350_000).as_deref(),
            Some("4")
        );
        // The bitrate alone can raise the level: 1080p30 at 30 Mbit/s needs 4.1 (High: 62.5).
        assert_eq!(l(1920, 1080, 30.0, 30_000_000).as_deref(), Some("4.1"));
        // A very wide strip breaks the side bound (sqrt(8 x MaxFS)) long before MaxFS.
        assert_eq!(l(4096, 64, 30.0, 1_000_000).as_deref(), Some("4"));
        assert_eq!(l(0, 1080, 30.0, 0), None);
        assert_eq!(l(1920, 1080, f64::NAN, 0), None);
        assert_eq!(l(16384, 16384, 120.0, 0), None);
        let lvl = h264_level_for(1280, 720, 30.0, 2_996_000).unwrap();
        assert_eq!(
            (lvl.idc(), lvl.x264_arg(), h264_high(lvl)),
            (31, "3.1".to_string(), "avc1.64001f".to_string())
        );
    }
}
